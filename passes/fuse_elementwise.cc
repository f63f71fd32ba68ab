// Elementwise fusion: chains and trees of f32 elementwise ops become one
// fused_elementwise op whose `program` attribute is the kernel body.
//
// Legality, per edge producer -> consumer:
//  - the producer's result has exactly one user (the consumer) and is not a
//    graph output: a value something else still needs (a reduction, a second
//    branch) is materialised, and the group ends there;
//  - the consumer's result has the producer's shape: a consumer that
//    broadcasts the producer to a larger shape would recompute the producer
//    per output element, so it starts a new group instead.
// Scalar constants become literals in the program; every other operand from
// outside the group becomes a kernel input, broadcast as the op broadcast it.
#include <unordered_map>

#include "absl/strings/str_cat.h"
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
    if (ProgramOp(*op).empty()) continue;
    std::vector<int> producers;
    for (ir::Value* v : op->operands()) {
      auto it = v->def() ? group_of.find(v->def()) : group_of.end();
      if (it == group_of.end()) continue;
      Group& pg = groups[it->second];
      if (pg.ops.back() != v->def() || v->users().size() != 1 || g.IsOutput(v) ||
          v->type().shape != op->result()->type().shape) {
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
    std::unordered_map<const ir::Value*, std::string> name;
    std::vector<ir::Value*> inputs;
    std::string program;
    auto operand = [&](ir::Value* v) -> std::string {
      if (auto it = name.find(v); it != name.end()) return it->second;
      if (std::optional<float> s = SplatF32(v); s && v->type().shape.rank() == 0) {
        return ProgramNumber(*s);
      }
      std::string nm = absl::StrCat("$", inputs.size());
      inputs.push_back(v);
      name[v] = nm;
      return nm;
    };
    for (size_t k = 0; k < grp.ops.size(); ++k) {
      absl::StrAppend(&program, k ? "; " : "", ProgramLine(*grp.ops[k], k, operand));
      name[grp.ops[k]->result()] = absl::StrCat("t", k);
    }
    if (inputs.empty()) continue;  // all-constant chains are fold-constants' job
    ir::Builder b(&g, g.Position(root));
    b.SetLoc(root->loc());
    auto fused = b.Make(OpKind::kFusedElementwise, inputs, {{"program", program}});
    if (!fused.ok()) return fused.status();
    if ((*fused)->type() != root->result()->type()) continue;  // broadcast changed shape: keep
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
