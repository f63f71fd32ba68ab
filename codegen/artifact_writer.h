// Serialises a planned graph into a sinter artifact (runtime/format/).
#ifndef SINTER_CODEGEN_ARTIFACT_WRITER_H_
#define SINTER_CODEGEN_ARTIFACT_WRITER_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "passes/memory_plan.h"

namespace sinter::codegen {

struct ArtifactStats {
  int64_t kernels = 0;
  int64_t constant_bytes = 0;
  int64_t file_bytes = 0;
};

// Native CPU code for some kernels (codegen/cpu): the shared object and, per
// op, the functions that run its programs, as (attribute, symbol) pairs: the
// attribute names the program it replaces (`native` for fused_elementwise's
// program, `epilogue_native` and `prologue_native` for the others').
struct NativeKernels {
  std::string level;
  std::string shared_object;
  std::map<const ir::Operation*, std::vector<std::pair<std::string, std::string>>> symbols;
};

// The CUDA module (codegen/cuda/cuda_target.h) of a CUDA artifact.
struct CudaCode {
  struct Image {
    std::string arch;
    bool ptx = false;
    std::string bytes;
  };
  std::vector<Image> images;
  std::map<const ir::Operation*, std::vector<std::pair<std::string, ir::Attribute>>> attrs;
  bool allow_tf32 = false;
  std::string precision = "f32";
};

// Every non-const op becomes one kernel step, in graph order; constants
// become aligned segments of the data region (shared payloads stored once),
// and so does the native code when there is any.
absl::StatusOr<std::string> WriteArtifact(const ir::Graph& graph, const passes::MemoryPlan& plan,
                                          ArtifactStats* stats = nullptr,
                                          const NativeKernels* native = nullptr,
                                          const CudaCode* cuda = nullptr);

}  // namespace sinter::codegen

#endif  // SINTER_CODEGEN_ARTIFACT_WRITER_H_
