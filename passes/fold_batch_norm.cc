// Folds inference batch norm into the convolution before it:
//   batch_norm(conv2d(x, w, b), mean, var, gamma, beta)
//     -> conv2d(x, w * s, (b - mean) * s + beta),  s = gamma / sqrt(var + eps)
// per output channel, when the conv result feeds only the batch norm and all
// parameters are constants. Computed in double, rounded once to f32.
#include <cmath>

#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace sinter::passes {
namespace {

using ir::OpKind;

const float* F32(const ir::Value* v) {
  const ir::TensorData* d = ConstData(v);
  return d != nullptr && d->type().dtype == ir::DType::kF32 ? d->data<float>() : nullptr;
}

absl::Status RunFoldBatchNorm(ir::Graph& g, PassStats& stats) {
  for (auto it = g.ops().begin(); it != g.ops().end();) {
    ir::Operation* bn = (it++)->get();
    if (bn->kind() != OpKind::kBatchNorm) continue;
    ir::Operation* conv = bn->operand(0)->def();
    if (conv == nullptr || conv->kind() != OpKind::kConv2d || conv->result()->users().size() != 1 ||
        g.IsOutput(conv->result())) {
      continue;
    }
    const float *w = F32(conv->operand(1)), *mean = F32(bn->operand(1)), *var = F32(bn->operand(2)),
                *gamma = F32(bn->operand(3)), *beta = F32(bn->operand(4));
    const float* bias = conv->num_operands() == 3 ? F32(conv->operand(2)) : nullptr;
    if (!w || !mean || !var || !gamma || !beta || (conv->num_operands() == 3 && !bias)) continue;
    const ir::TensorType& wt = conv->operand(1)->type();
    const int64_t oc = wt.shape[0].extent();
    const int64_t per = wt.shape.NumElements().value_or(0) / oc;
    const double eps = bn->GetFloat("eps");
    std::vector<uint8_t> wb(wt.ByteSize().value_or(0)), bb(oc * sizeof(float));
    float* nw = reinterpret_cast<float*>(wb.data());
    float* nb = reinterpret_cast<float*>(bb.data());
    for (int64_t c = 0; c < oc; ++c) {
      double s = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
      for (int64_t i = 0; i < per; ++i) nw[c * per + i] = static_cast<float>(w[c * per + i] * s);
      nb[c] = static_cast<float>(((bias ? bias[c] : 0.0) - mean[c]) * s + beta[c]);
    }
    ir::Builder b(&g, g.Position(conv));
    b.SetLoc(conv->loc());
    ir::Value* new_w = b.Constant(std::make_shared<ir::TensorData>(wt, std::move(wb)));
    ir::Value* new_b = b.Constant(std::make_shared<ir::TensorData>(
        ir::TensorType{ir::DType::kF32, ir::Shape::Of({oc})}, std::move(bb)));
    auto folded = b.Make(OpKind::kConv2d, {conv->operand(0), new_w, new_b}, conv->attrs());
    if (!folded.ok()) return folded.status();
    ReplaceOp(bn, *folded);
    g.Erase(conv);
    ++stats["batch-norms-folded"];
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(fold_batch_norm, "fold-batch-norm",
                     "fold inference batch norm into the preceding convolution", RunFoldBatchNorm);

}  // namespace sinter::passes
