// Memory planning: gives every tensor that lives in the activation arena an
// offset, so one allocation per session holds them all.
#ifndef SINTER_PASSES_MEMORY_PLAN_H_
#define SINTER_PASSES_MEMORY_PLAN_H_

#include <cstdint>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace sinter::passes {

inline constexpr int64_t kArenaAlignment = 64;

struct MemoryPlan {
  std::unordered_map<const ir::Value*, int64_t> offsets;  // arena tensors only
  int64_t arena_bytes = 0;
  // Sum of every arena tensor's size: what a planner-less runtime would need.
  int64_t intermediate_bytes = 0;
};

absl::StatusOr<MemoryPlan> PlanMemory(const ir::Graph& graph);

}  // namespace sinter::passes

#endif  // SINTER_PASSES_MEMORY_PLAN_H_
