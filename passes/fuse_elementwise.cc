// Elementwise fusion: chains and trees of elementwise ops (the rows of the
// kernel-body vocabulary: f32 maths, comparisons, selects and casts) become
// one fused_elementwise op whose `body` region holds them, cloned as scalar
// ops over the kernel's inputs.
//
// Legality, per edge producer -> consumer:
//  - the producer's result has exactly one user (the consumer) and is not a
//    graph output: a value something else still needs (a reduction, a second
//    branch) is materialised, and the group ends there;
//  - the consumer's result has the producer's shape: a consumer that
//    broadcasts the producer to a larger shape would recompute the producer
//    per output element, so it starts a new group instead;
//  - the value is f32 or bool: a value of another type (a cast to i64, say)
//    may only be a body's result, so the group ends there.
// Scalar constants become body constants; every other operand from outside
// the group becomes a kernel input, broadcast as the op broadcast it.
#include <unordered_map>

#include "passes/fusion_util.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace sinter::passes {
namespace {

using ir::OpKind;

struct Group {
  std::vector<ir::Operation*> ops;  // in graph order; back() is the root
  bool dead = false;
};

absl::Status RunFuseElementwise(ir::Graph& g, PassStats& stats) {
  std::vector<Group> groups;
  std::unordered_map<const ir::Operation*, int> group_of;
  for (const auto& owned : g.ops()) {
    ir::Operation* op = owned.get();
    if (!Fusable(*op)) continue;
    std::vector<int> producers;
    for (ir::Value* v : op->operands()) {
      auto it = v->def() ? group_of.find(v->def()) : group_of.end();
      if (it == group_of.end()) continue;
      Group& pg = groups[it->second];
      if (pg.ops.back() != v->def() || v->users().size() != 1 || g.IsOutput(v) ||
          v->type().shape != op->result()->type().shape || !FlowsInBody(v)) {
        continue;
      }
      if (std::find(producers.begin(), producers.end(), it->second) == producers.end()) {
        producers.push_back(it->second);
      }
    }
    int target;
    if (producers.empty()) {
      target = static_cast<int>(groups.size());
      groups.emplace_back();
    } else {
      // Merge every producer group into the first; graph order is kept by
      // sorting members later.
      target = producers[0];
      for (size_t i = 1; i < producers.size(); ++i) {
        for (ir::Operation* m : groups[producers[i]].ops) {
          groups[target].ops.push_back(m);
          group_of[m] = target;
        }
        groups[producers[i]].dead = true;
      }
    }
    groups[target].ops.push_back(op);
    group_of[op] = target;
  }

  // Graph order of ops, to sort merged groups.
  std::unordered_map<const ir::Operation*, int64_t> order;
  int64_t n = 0;
  for (const auto& op : g.ops()) order[op.get()] = n++;

  for (Group& grp : groups) {
    if (grp.dead || grp.ops.size() < 2) continue;
    std::sort(grp.ops.begin(), grp.ops.end(),
              [&](const ir::Operation* a, const ir::Operation* b) { return order[a] < order[b]; });
    ir::Operation* root = grp.ops.back();
    ir::BodyBuilder bb;
    absl::StatusOr<ir::Value*> y;
    for (ir::Operation* op : grp.ops) {
      y = bb.Clone(*op);
      if (!y.ok()) return y.status();
    }
    if (bb.inputs().empty()) continue;  // all-constant chains are fold-constants' job
    const std::vector<ir::Value*> inputs = bb.inputs();
    ir::RegionList regions;
    regions.push_back({"body", bb.Finish(*y)});
    ir::Builder b(&g, g.Position(root));
    b.SetLoc(root->loc());
    auto fused = b.Make(OpKind::kFusedElementwise, inputs, {}, std::move(regions));
    if (!fused.ok()) return fused.status();
    if ((*fused)->type() != root->result()->type()) {  // broadcast changed shape: keep
      g.Erase((*fused)->def());
      continue;
    }
    root->result()->ReplaceAllUsesWith(*fused);
    for (auto it = grp.ops.rbegin(); it != grp.ops.rend(); ++it) g.Erase(*it);
    ++stats["fused-kernels"];
    stats["ops-fused"] += static_cast<int64_t>(grp.ops.size());
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(fuse_elementwise, "fuse-elementwise",
                     "fuse chains of elementwise ops into one kernel", RunFuseElementwise);

}  // namespace sinter::passes
