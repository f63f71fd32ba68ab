// Serialises a planned graph into a sinter artifact (runtime/format/).
#ifndef SINTER_CODEGEN_ARTIFACT_WRITER_H_
#define SINTER_CODEGEN_ARTIFACT_WRITER_H_

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

// Every non-const op becomes one kernel step, in graph order; constants
// become aligned segments of the data region (shared payloads stored once).
absl::StatusOr<std::string> WriteArtifact(const ir::Graph& graph, const passes::MemoryPlan& plan,
                                          ArtifactStats* stats = nullptr);

}  // namespace sinter::codegen

#endif  // SINTER_CODEGEN_ARTIFACT_WRITER_H_
