// GEMM with bias: a matmul by a constant [K,N] matrix becomes the `linear`
// op, whose weight is [N,K] (transposed here, once, at compile time), and a
// bias add right after it becomes linear's bias:
//   add(matmul(x, W[K,N]), b[N]) -> linear(x, transpose(W), b)
// linear is the GEMM the backends call with fused epilogues; fuse-epilogue,
// later in the pipeline, then adds the activation or residual after it.
// Only when W has no other user: a shared weight would otherwise be stored
// twice, once per layout.
#include <cstring>

#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace sinter::passes {
namespace {

using ir::OpKind;

// W[K,N] as [N,K].
ir::TensorDataPtr Transposed(const ir::TensorData& w, int64_t k, int64_t n) {
  std::vector<uint8_t> bytes(w.bytes().size());
  const float* src = w.data<float>();
  float* dst = reinterpret_cast<float*>(bytes.data());
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j) dst[j * k + i] = src[i * n + j];
  }
  return std::make_shared<ir::TensorData>(ir::TensorType{ir::DType::kF32, ir::Shape::Of({n, k})},
                                          std::move(bytes));
}

// The bias operand of `add` when it adds a constant [N] (or [1,...,1,N])
// vector to `mm`, else null.
const ir::TensorData* BiasOf(ir::Operation* add, ir::Value* mm, int64_t n) {
  if (add->kind() != OpKind::kAdd || add->result()->type() != mm->type()) return nullptr;
  ir::Value* other = add->operand(0) == mm ? add->operand(1) : add->operand(0);
  if (other == mm) return nullptr;
  const ir::TensorData* d = ConstData(other);
  if (d == nullptr || d->type().dtype != ir::DType::kF32) return nullptr;
  const std::vector<int64_t> e = d->type().shape.extents();
  if (e.empty() || e.back() != n || static_cast<int64_t>(d->bytes().size()) != n * 4) {
    return nullptr;
  }
  return d;
}

absl::Status RunMatmulToLinear(ir::Graph& g, PassStats& stats) {
  for (auto it = g.ops().begin(); it != g.ops().end();) {
    ir::Operation* mm = (it++)->get();
    if (mm->kind() != OpKind::kMatmul) continue;
    ir::Value* x = mm->operand(0);
    ir::Value* w = mm->operand(1);
    const ir::TensorData* wd = ConstData(w);
    // A rank-1 x would make matmul drop a dim that linear keeps: leave it.
    if (wd == nullptr || wd->type().dtype != ir::DType::kF32 || w->type().shape.rank() != 2 ||
        x->type().shape.rank() < 2 || x->type().dtype != ir::DType::kF32 ||
        w->users().size() != 1) {
      continue;
    }
    const std::vector<int64_t> kn = w->type().shape.extents();
    ir::Value* r = mm->result();
    ir::Builder b(&g, g.Position(mm));
    b.SetLoc(mm->loc());
    std::vector<ir::Value*> operands{x, b.Constant(Transposed(*wd, kn[0], kn[1]))};

    // The bias add, when it is the only user.
    ir::Operation* add = r->users().size() == 1 && !g.IsOutput(r) ? r->users()[0] : nullptr;
    const ir::TensorData* bias = add ? BiasOf(add, r, kn[1]) : nullptr;
    if (bias != nullptr) {
      operands.push_back(b.Constant(std::make_shared<ir::TensorData>(
          ir::TensorType{ir::DType::kF32, ir::Shape::Of({kn[1]})}, bias->bytes())));
    }
    auto linear = b.Make(OpKind::kLinear, operands);
    if (!linear.ok()) return linear.status();
    if ((*linear)->type() != r->type()) {
      return absl::InternalError("linear from matmul changed the result type");
    }
    if (bias != nullptr) {
      // `it` may point at the add: step past it before erasing.
      if (it != g.ops().end() && it->get() == add) ++it;
      ReplaceOp(add, *linear);
      ++stats["biases-fused"];
    } else {
      r->ReplaceAllUsesWith(*linear);
    }
    g.Erase(mm);
    ++stats["matmuls-to-linear"];
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(matmul_to_linear, "matmul-to-linear",
                     "matmul by a constant matrix (+ bias add) -> linear", RunMatmulToLinear);

}  // namespace sinter::passes
