// Elementwise wrapping, for targets that run one kind of elementwise kernel
// (CUDA: every elementwise op is a generated kernel, ops.def's
// LOWERED("wrap-elementwise")): each f32 elementwise op the fusion passes left
// on its own becomes a fused_elementwise of that one op.
//   relu(x) -> fused_elementwise(x) {program = "t0 = relu $0"}
// Scalar constant operands become literals; an op whose result would change
// type through that (a scalar broadcast to a larger shape) is left alone.
// Run before precision conversion: programs are built from f32 ops.
#include "ir/status_macros.h"
#include "passes/fusion_util.h"
#include "passes/pass.h"

namespace sinter::passes {
namespace {

using ir::OpKind;

absl::Status RunWrapElementwise(ir::Graph& g, PassStats& stats) {
  for (auto it = g.ops().begin(); it != g.ops().end();) {
    ir::Operation* op = (it++)->get();
    if (op->kind() == OpKind::kFusedElementwise) continue;
    std::string program;
    std::vector<ir::Value*> inputs;
    if (!ProgramOf(op, &program, &inputs)) continue;
    ir::Builder b(&g, g.Position(op));
    b.SetLoc(op->loc());
    ASSIGN_OR_RETURN(ir::Value * v,
                     b.Make(OpKind::kFusedElementwise, inputs, {{"program", program}}));
    if (v->type() != op->result()->type()) {
      g.Erase(v->def());
      continue;
    }
    op->result()->ReplaceAllUsesWith(v);
    for (size_t o = 0; o < g.outputs().size(); ++o)
      if (g.outputs()[o] == op->result()) g.SetOutput(static_cast<int>(o), v);
    g.Erase(op);
    ++stats["ops-wrapped"];
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(wrap_elementwise, "wrap-elementwise",
                     "make each elementwise op left unfused a fused_elementwise of one op",
                     RunWrapElementwise);

}  // namespace sinter::passes
