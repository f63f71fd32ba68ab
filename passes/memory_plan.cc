// Memory planner.
//
// Stages:
//  1. Lifetimes. Walk the ops in execution order; a value lives from the op
//     that defines it to its last reader. Graph inputs live for the whole run
//     (a caller sets them once and may run many times), graph outputs from
//     their definition to the end (the caller reads them afterwards).
//     Constants are not planned: they stay in the artifact's data region.
//  2. In-place reuse. An op with the kInPlace trait (ops.def: the
//     elementwise ops whose kernels read each element before they write it)
//     may write its result over its first operand when that operand dies at
//     this op, has the result's type, and is not a graph input (the caller
//     may rerun with it) or output. The two values then become one interval, so chains of such
//     kernels walk one buffer, which stays in cache.
//  3. Placement, greedy by size (Pisarchyk & Lee, "Efficient Memory
//     Management for Deep Neural Net Inference", the TFLite arena planner):
//     take values largest first and put each at the lowest 64-byte-aligned
//     offset that does not overlap any already placed value whose lifetime
//     intersects its own. Large tensors placed first leave small gaps the
//     small ones fill.
//  4. The arena is the highest end offset.
// Cost is O(n * p) for n values and p values placed so far; for the models we
// compile (hundreds of values) that is far below the rest of compilation.
#include "passes/memory_plan.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sinter::passes {
namespace {

struct Interval {
  const ir::Value* value;
  int64_t size;
  int first, last;
  int64_t offset = -1;
  int alias_of = -1;  // index of the interval whose bytes this value reuses
};

// Operand 0 of `op` can be overwritten by its result (see stage 2).
bool WritesOverOperand0(const ir::Operation& op) {
  return op.info().Has(ir::kInPlace) && op.num_operands() > 0 && op.num_results() == 1 &&
         op.operand(0)->type() == op.result()->type();
}

int64_t Align(int64_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

}  // namespace

absl::StatusOr<MemoryPlan> PlanMemory(const ir::Graph& graph) {
  std::vector<Interval> items;
  std::unordered_map<const ir::Value*, size_t> index;
  const int end = static_cast<int>(graph.num_ops());
  auto add = [&](const ir::Value* v, int first) -> absl::Status {
    // A value whose size its run decides (nonzero's, what an op taking the
    // run's extents makes of it) lives in memory of the session, sized as
    // the kernel writing it runs, not in the arena.
    // So does an input of a symbolic extent (ir/extent_analysis.h).
    if (!v->type().shape.is_static()) return absl::OkStatus();
    std::optional<int64_t> bytes = v->type().ByteSize();
    if (!bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot plan memory for ", ir::ToString(v->type()), ": dynamic or too large"));
    }
    index[v] = items.size();
    items.push_back({v, Align(*bytes), first, first});
    return absl::OkStatus();
  };
  for (const auto& in : graph.inputs()) {
    absl::Status st = add(in.get(), -1);
    if (!st.ok()) return st;
    if (auto it = index.find(in.get()); it != index.end()) items[it->second].last = end;
  }
  int t = 0;
  for (const auto& op : graph.ops()) {
    for (ir::Value* v : op->operands()) {
      auto it = index.find(v);
      if (it != index.end()) items[it->second].last = std::max(items[it->second].last, t);
    }
    if (op->kind() != ir::OpKind::kConst) {
      for (int r = 0; r < op->num_results(); ++r) {
        absl::Status st = add(op->result(r), t);
        if (!st.ok()) return st;
      }
    }
    ++t;
  }
  for (const ir::Value* v : graph.outputs()) {
    auto it = index.find(v);
    if (it != index.end()) items[it->second].last = end;
  }

  // Stage 2: in-place reuse, in execution order so chains collapse onto
  // their first buffer.
  auto root = [&](size_t i) {
    while (items[i].alias_of >= 0) i = items[i].alias_of;
    return i;
  };
  t = 0;
  for (const auto& op : graph.ops()) {
    if (WritesOverOperand0(*op)) {
      auto in = index.find(op->operand(0));
      auto out = index.find(op->result());
      if (in != index.end() && out != index.end() && items[in->second].first >= 0 &&
          items[in->second].last == t && !graph.IsOutput(op->operand(0))) {
        const size_t r = root(in->second);
        items[out->second].alias_of = static_cast<int>(r);
        items[r].last = std::max(items[r].last, items[out->second].last);
      }
    }
    ++t;
  }

  MemoryPlan plan;
  std::vector<Interval*> order;
  for (Interval& i : items) {
    plan.intermediate_bytes += i.size;
    if (i.alias_of < 0) order.push_back(&i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const Interval* a, const Interval* b) { return a->size > b->size; });
  std::vector<Interval*> placed;
  std::vector<std::pair<int64_t, int64_t>> busy;  // [begin, end) of conflicting placed values
  for (Interval* cur : order) {
    busy.clear();
    for (const Interval* p : placed) {
      if (p->first <= cur->last && cur->first <= p->last)
        busy.push_back({p->offset, p->offset + p->size});
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [b, e] : busy) {
      if (b - offset >= cur->size) break;  // fits in the gap before this one
      offset = std::max(offset, e);
    }
    cur->offset = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + cur->size);
    placed.push_back(cur);
  }
  for (const Interval& i : items) plan.offsets[i.value] = items[root(&i - items.data())].offset;
  return plan;
}

}  // namespace sinter::passes
