// Dead-code elimination: removes ops none of whose results is used or is a
// graph output. One reverse sweep suffices because ops are in topological
// order: by the time an op is visited, all its users have been.
#include "passes/pass.h"

namespace sinter::passes {
namespace {

absl::Status RunDce(ir::Graph& g, PassStats& stats) {
  auto& ops = g.ops();
  for (auto it = ops.end(); it != ops.begin();) {
    --it;
    ir::Operation* op = it->get();
    bool live = false;
    for (int r = 0; r < op->num_results() && !live; ++r) {
      live = op->result(r)->has_users() || g.IsOutput(op->result(r));
    }
    if (live) continue;
    auto next = std::next(it);
    g.Erase(op);
    it = next;
    ++stats["ops-removed"];
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(dce, "dce", "remove ops whose results are unused", RunDce);

}  // namespace sinter::passes
