// Inference batch norm that fold-batch-norm could not fold into a
// convolution (it follows a concat or an activation, as in DenseNet) becomes
// an affine map with constant per-channel scale and shift:
//   batch_norm(x, mean, var, gamma, beta)
//     -> add(mul(x, s), t),  s = gamma / sqrt(var + eps),  t = beta - mean * s
// with s and t shaped [C, 1, ...] so that they broadcast along axis 1.
// Elementwise fusion then runs it together with the activation after it, and
// plan-layout can carry it into a channels-last region (the batch_norm op
// itself is NCHW only). Computed in double, rounded once to f32.
#include <cmath>

#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace sinter::passes {
namespace {

using ir::OpKind;

absl::Status RunLowerBatchNorm(ir::Graph& g, PassStats& stats) {
  for (auto it = g.ops().begin(); it != g.ops().end();) {
    ir::Operation* bn = (it++)->get();
    if (bn->kind() != OpKind::kBatchNorm) continue;
    const ir::TensorType& xt = bn->operand(0)->type();
    if (xt.dtype != ir::DType::kF32 || xt.shape.rank() < 2 || !xt.shape.is_static()) continue;
    const float* p[4];
    bool constant = true;
    for (int i = 0; i < 4; ++i) {
      const ir::TensorData* d = ConstData(bn->operand(i + 1));
      constant = constant && d != nullptr && d->type().dtype == ir::DType::kF32;
      p[i] = constant ? d->data<float>() : nullptr;
    }
    if (!constant) continue;
    const float *mean = p[0], *var = p[1], *gamma = p[2], *beta = p[3];
    const int64_t c = xt.shape[1].extent();
    const double eps = bn->GetFloat("eps");
    std::vector<uint8_t> sb(c * sizeof(float)), tb(c * sizeof(float));
    float* s = reinterpret_cast<float*>(sb.data());
    float* t = reinterpret_cast<float*>(tb.data());
    for (int64_t i = 0; i < c; ++i) {
      const double scale = gamma[i] / std::sqrt(static_cast<double>(var[i]) + eps);
      s[i] = static_cast<float>(scale);
      t[i] = static_cast<float>(beta[i] - mean[i] * scale);
    }
    std::vector<int64_t> dims(xt.shape.rank() - 1, 1);
    dims[0] = c;
    const ir::TensorType pt{ir::DType::kF32, ir::Shape::Of(dims)};
    ir::Builder b(&g, g.Position(bn));
    b.SetLoc(bn->loc());
    ir::Value* sv = b.Constant(std::make_shared<ir::TensorData>(pt, std::move(sb)));
    ir::Value* tv = b.Constant(std::make_shared<ir::TensorData>(pt, std::move(tb)));
    auto scaled = b.Make(OpKind::kMul, {bn->operand(0), sv});
    if (!scaled.ok()) return scaled.status();
    auto shifted = b.Make(OpKind::kAdd, {*scaled, tv});
    if (!shifted.ok()) return shifted.status();
    ReplaceOp(bn, *shifted);
    ++stats["batch-norms-lowered"];
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(lower_batch_norm, "lower-batch-norm",
                     "turn a batch norm with constant parameters into mul and add",
                     RunLowerBatchNorm);

}  // namespace sinter::passes
