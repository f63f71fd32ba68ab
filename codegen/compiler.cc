#include "codegen/compiler.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "codegen/artifact_writer.h"
#include "ir/status_macros.h"
#include "ir/verifier.h"
#include "passes/memory_plan.h"

namespace sinter::codegen {
namespace {

int64_t CountOps(const ir::Graph& g) {
  int64_t n = 0;
  for (const auto& op : g.ops()) n += op->kind() != ir::OpKind::kConst;
  return n;
}

}  // namespace

absl::StatusOr<std::string> Compile(ir::Graph& graph, const CompileOptions& options,
                                    CompileReport* report) {
  CompileReport local;
  CompileReport& r = report ? *report : local;
  RETURN_IF_ERROR(ir::Verify(graph));
  r.ops_in = CountOps(graph);
  passes::PassManager pm(options.pass_options);
  RETURN_IF_ERROR(pm.AddPipeline(options.pipeline));
  RETURN_IF_ERROR(pm.Run(graph));
  r.passes = pm.records();
  ASSIGN_OR_RETURN(passes::MemoryPlan plan, passes::PlanMemory(graph));
  ArtifactStats stats;
  ASSIGN_OR_RETURN(std::string artifact, WriteArtifact(graph, plan, &stats));
  r.kernels = stats.kernels;
  r.arena_bytes = plan.arena_bytes;
  r.intermediate_bytes = plan.intermediate_bytes;
  r.constant_bytes = stats.constant_bytes;
  r.artifact_bytes = stats.file_bytes;
  for (const auto& op : graph.ops()) {
    if (op->kind() == ir::OpKind::kConst) continue;
    ++r.kernels_by_op[std::string(op->name())];
    r.library_calls += op->info().Has(ir::kLibrary);
  }
  return artifact;
}

std::string CompileReport::ToText() const {
  std::string s = absl::StrFormat(
      "ops in: %d\nkernels per inference: %d (library calls: %d)\n"
      "arena: %d bytes (%.1f%% of %d bytes of intermediates)\nconstants: %d bytes\nartifact: %d "
      "bytes\n",
      ops_in, kernels, library_calls, arena_bytes,
      intermediate_bytes ? 100.0 * arena_bytes / intermediate_bytes : 0.0, intermediate_bytes,
      constant_bytes, artifact_bytes);
  s += "kernels by op:";
  for (const auto& [op, n] : kernels_by_op) absl::StrAppend(&s, " ", op, "=", n);
  s += "\n";
  return s;
}

std::string CompileReport::ToJson() const {
  std::string by_op;
  for (const auto& [op, n] : kernels_by_op) {
    absl::StrAppend(&by_op, by_op.empty() ? "" : ", ", "\"", op, "\": ", n);
  }
  std::string passes_json;
  for (const auto& p : passes) {
    absl::StrAppend(&passes_json, passes_json.empty() ? "" : ", ",
                    absl::StrFormat("{\"name\": \"%s\", \"ms\": %.3f}", p.name, p.millis));
  }
  return absl::StrFormat(
      "{\"ops_in\": %d, \"kernels\": %d, \"library_calls\": %d, \"arena_bytes\": %d, "
      "\"intermediate_bytes\": %d, \"constant_bytes\": %d, \"artifact_bytes\": %d, "
      "\"kernels_by_op\": {%s}, \"passes\": [%s]}",
      ops_in, kernels, library_calls, arena_bytes, intermediate_bytes, constant_bytes,
      artifact_bytes, by_op, passes_json);
}

}  // namespace sinter::codegen
