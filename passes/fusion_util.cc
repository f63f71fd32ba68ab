#include "passes/fusion_util.h"

#include "ir/status_macros.h"

namespace sinter::passes {

using ir::OpKind;

bool Fusable(const ir::Operation& op) {
  return ir::IsBodyOp(op) && op.result()->type().shape.is_static();
}

bool FlowsInBody(const ir::Value* v) {
  return v->type().dtype == ir::DType::kF32 || v->type().dtype == ir::DType::kBool;
}

std::unique_ptr<ir::Graph> BodyOver(ir::Operation* user, ir::Value* produced,
                                    std::vector<ir::Value*>* extra) {
  if (user->kind() != OpKind::kFusedElementwise && !Fusable(*user)) return nullptr;
  ir::BodyBuilder bb;
  bb.Read(produced, /*inline_scalars=*/false);  // argument 0
  absl::StatusOr<ir::Value*> y;
  if (user->kind() == OpKind::kFusedElementwise) {
    std::vector<ir::Value*> args;
    for (ir::Value* v : user->operands()) args.push_back(bb.Read(v));
    y = bb.Inline(*user->region("body"), args);
  } else {
    y = bb.Clone(*user);
  }
  if (!y.ok()) return nullptr;
  extra->insert(extra->end(), bb.inputs().begin() + 1, bb.inputs().end());
  return bb.Finish(*y);
}

std::unique_ptr<ir::Graph> BodyOf(ir::Operation* op, std::vector<ir::Value*>* inputs) {
  inputs->clear();
  if (op->kind() == OpKind::kFusedElementwise) {
    *inputs = op->operands();
    return op->region("body")->Clone();
  }
  if (!Fusable(*op)) return nullptr;
  ir::BodyBuilder bb;
  absl::StatusOr<ir::Value*> y = bb.Clone(*op);
  if (!y.ok() || bb.inputs().empty()) return nullptr;
  *inputs = bb.inputs();
  return bb.Finish(*y);
}

}  // namespace sinter::passes
