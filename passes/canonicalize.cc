// Canonicalisation: local rewrites that remove no-op data movement and
// identity arithmetic, so later passes see fewer, simpler ops.
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace sinter::passes {
namespace {

using ir::OpKind;

// Returns the value that replaces `op`, or null when no pattern applies.
ir::Value* Simplify(ir::Operation* op) {
  ir::Value* x = op->num_operands() > 0 ? op->operand(0) : nullptr;
  const ir::TensorType& out = op->result()->type();
  const OpKind k = op->kind();
  // A movement op of one operand that keeps its operand's type moves nothing
  // (reshape to the same shape, expand without broadcast, a slice keeping
  // everything, concat of one tensor), except a transpose that permutes.
  if ((op->info().traits & ir::kMovement) && op->num_operands() == 1) {
    if (k == OpKind::kTranspose) {
      const auto& perm = op->GetInts("perm");
      for (size_t i = 0; i < perm.size(); ++i) {
        if (perm[i] != static_cast<int64_t>(i)) return nullptr;
      }
    }
    return x->type() == out ? x : nullptr;
  }
  // add(x, 0) -> x, sub(x, 0) -> x
  if (k == OpKind::kAdd || k == OpKind::kSub)
    return SplatF32(op->operand(1)) == 0.0f && op->operand(0)->type() == out ? x : nullptr;
  // mul(x, 1) -> x, div(x, 1) -> x
  if (k == OpKind::kMul || k == OpKind::kDiv)
    return SplatF32(op->operand(1)) == 1.0f && op->operand(0)->type() == out ? x : nullptr;
  // clamp(x) without bounds -> x
  if (k == OpKind::kClamp) return !op->HasAttr("min") && !op->HasAttr("max") ? x : nullptr;
  return nullptr;
}

// reshape(reshape(x)) -> reshape(x): the inner reshape is left for DCE.
bool FoldReshapeChain(ir::Operation* op) {
  if (op->kind() != OpKind::kReshape) return false;
  ir::Operation* inner = op->operand(0)->def();
  if (inner == nullptr || inner->kind() != OpKind::kReshape) return false;
  op->SetOperand(0, inner->operand(0));
  return true;
}

absl::Status RunCanonicalize(ir::Graph& g, PassStats& stats) {
  for (auto it = g.ops().begin(); it != g.ops().end();) {
    ir::Operation* op = (it++)->get();
    if (op->kind() == OpKind::kConst) continue;
    if (FoldReshapeChain(op)) ++stats["reshape-chains"];
    if (ir::Value* v = Simplify(op)) {
      ReplaceOp(op, v);
      ++stats["ops-removed"];
    }
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(canonicalize, "canonicalize", "remove no-op movement and identity arithmetic",
                     RunCanonicalize);

}  // namespace sinter::passes
