// softmax / log_softmax over an axis other than the last -> transpose that
// axis last, normalise over it, transpose back; for targets whose softmax
// kernels stream contiguous rows only (CUDA: its generated row kernels and
// fused_reduction). PyTorch models normalise over other axes now and then
// (RAFT's convex upsampling mask over dim 2 of [N, 1, 9, 8, 8, H, W]); the
// two transposes cost a copy each way, which the CPU, whose kernel takes any
// axis, does not pay: the pass is in the CUDA pipeline only. Run before
// fusion, so the row op joins its neighbours as a last-axis one.
#include "ir/shape_rules.h"
#include "ir/status_macros.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace sinter::passes {
namespace {

using ir::OpKind;

absl::Status RunSoftmaxLastAxis(ir::Graph& g, PassStats& stats) {
  std::vector<ir::Operation*> todo;
  for (const auto& op : g.ops()) {
    if (op->kind() != OpKind::kSoftmax && op->kind() != OpKind::kLogSoftmax) continue;
    const int64_t rank = op->operand(0)->type().shape.rank();
    ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(op->GetInt("axis"), rank));
    if (axis != rank - 1) todo.push_back(op.get());
  }
  for (ir::Operation* op : todo) {
    const int64_t rank = op->operand(0)->type().shape.rank();
    ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(op->GetInt("axis"), rank));
    // Swapping the axis with the last is its own inverse.
    std::vector<int64_t> perm(static_cast<size_t>(rank));
    for (int64_t i = 0; i < rank; ++i) perm[static_cast<size_t>(i)] = i;
    std::swap(perm[static_cast<size_t>(axis)], perm.back());
    ir::Builder b(&g, g.Position(op));
    b.SetLoc(op->loc());
    ASSIGN_OR_RETURN(ir::Value * t, b.Make(OpKind::kTranspose, {op->operand(0)}, {{"perm", perm}}));
    ASSIGN_OR_RETURN(ir::Value * s, b.Make(op->kind(), {t}, {{"axis", rank - 1}}));
    ASSIGN_OR_RETURN(ir::Value * y, b.Make(OpKind::kTranspose, {s}, {{"perm", perm}}));
    ReplaceOp(op, y);
    ++stats["softmaxes-moved-last"];
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(softmax_last_axis, "softmax-last-axis",
                     "move a softmax's axis last with transposes (row-only targets)",
                     RunSoftmaxLastAxis);

}  // namespace sinter::passes
