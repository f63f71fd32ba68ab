// Elementwise wrapping, for targets that run one kind of elementwise kernel
// (CUDA: every elementwise op is a generated kernel): each op whose target
// strategy in ops.def is LOWERED("wrap-elementwise") and that the fusion
// passes left on its own becomes a fused_elementwise of that one op.
//   relu(x) -> fused_elementwise(x) body(%a) { relu(%a) }
// Scalar constant operands become body constants; an op whose result would
// change type through that (a scalar broadcast to a larger shape) is left
// alone. Run before precision conversion: bodies are built from f32 ops.
#include "ir/status_macros.h"
#include "passes/fusion_util.h"
#include "passes/pass.h"

namespace sinter::passes {
namespace {

using ir::OpKind;

// Does some target lower `op` by this pass (ops.def's strategy columns)?
bool Wrapped(const ir::Operation& op) {
  for (format::Target t : format::kAllTargets) {
    const format::TargetStrategy& s = op.info().strategy(t);
    if (s.kind == format::Strategy::kLowered && s.detail == "wrap-elementwise") return true;
  }
  return false;
}

absl::Status RunWrapElementwise(ir::Graph& g, PassStats& stats) {
  for (auto it = g.ops().begin(); it != g.ops().end();) {
    ir::Operation* op = (it++)->get();
    if (!Wrapped(*op)) continue;
    std::vector<ir::Value*> inputs;
    std::unique_ptr<ir::Graph> body = BodyOf(op, &inputs);
    if (body == nullptr) continue;
    ir::Builder b(&g, g.Position(op));
    b.SetLoc(op->loc());
    ir::RegionList regions;
    regions.push_back({"body", std::move(body)});
    ASSIGN_OR_RETURN(ir::Value * v,
                     b.Make(OpKind::kFusedElementwise, inputs, {}, std::move(regions)));
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
