// Serialises a planned graph into a sinter artifact (runtime/format/).
#ifndef SINTER_CODEGEN_ARTIFACT_WRITER_H_
#define SINTER_CODEGEN_ARTIFACT_WRITER_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "ir/batch_analysis.h"
#include "ir/graph.h"
#include "passes/memory_plan.h"
#include "runtime/format/sinter_generated.h"

namespace sinter::codegen {

struct ArtifactStats {
  int64_t kernels = 0;
  int64_t constant_bytes = 0;
  int64_t file_bytes = 0;
};

// A function of the artifact's code that a kernel calls (format::CodeRef).
struct KernelCode {
  format::CodeRole role = format::CodeRole::Main;
  std::string symbol;
  int block = 0;  // CUDA launches
  int64_t items = 0;
  int max_blocks_per_sm = 0;
};
using KernelCodeMap = std::map<const ir::Operation*, std::vector<KernelCode>>;

// Native CPU code for some kernels (codegen/cpu): the shared object, written
// as the code object "elf-x86_64[-vN]" of module 0, and per op the functions
// that run its programs (Main for fused_elementwise's program, Prologue and
// Epilogue for the others').
struct NativeKernels {
  std::string level;  // "x86-64", "x86-64-v3", "x86-64-v4"
  std::string shared_object;
  KernelCodeMap code;
};

// The CUDA module (codegen/cuda/cuda_target.h) of a CUDA artifact: its
// images as code objects of module 0 ("cubin-sm_90", "ptx-compute_90") and
// per op the generated kernels it launches.
struct CudaCode {
  struct Image {
    std::string format;
    std::string bytes;
  };
  std::vector<Image> images;
  KernelCodeMap code;
  bool allow_tf32 = false;
  std::string precision = "f32";
};

// Every non-const op becomes one kernel step, in graph order; constants
// become aligned segments of the data region (shared payloads stored once),
// and so does the native code when there is any.
absl::StatusOr<std::string> WriteArtifact(const ir::Graph& graph, const passes::MemoryPlan& plan,
                                          ArtifactStats* stats = nullptr,
                                          const NativeKernels* native = nullptr,
                                          const CudaCode* cuda = nullptr,
                                          const ir::BatchSymbol* batch = nullptr);

}  // namespace sinter::codegen

#endif  // SINTER_CODEGEN_ARTIFACT_WRITER_H_
