// Constant folding: evaluates at compile time the ops whose operands are all
// constants (weight reshapes and transposes, the slices that split packed
// attention weights, arithmetic on parameters), so they cost nothing at run
// time. Only data movement and cheap f32 elementwise math are folded; a fold
// never changes results beyond what the runtime kernel would compute.
#include <cmath>
#include <cstring>
#include <optional>

#include "ir/shape_rules.h"
#include "passes/fusion_util.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace sinter::passes {
namespace {

using ir::OpKind;

constexpr int64_t kMaxFoldBytes = int64_t{1} << 28;

std::vector<int64_t> Strides(const std::vector<int64_t>& d) {
  std::vector<int64_t> s(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * d[i + 1];
  return s;
}

// Element offset in an operand of dims `in` (aligned right, 1s broadcast) for
// the output multi-index `idx`.
int64_t BroadcastOffset(const std::vector<int64_t>& idx, const std::vector<int64_t>& in) {
  size_t lead = idx.size() - in.size();
  int64_t off = 0, stride = 1;
  for (int i = static_cast<int>(in.size()) - 1; i >= 0; --i) {
    if (in[i] != 1) off += idx[i + lead] * stride;
    stride *= in[i];
  }
  return off;
}

void Next(std::vector<int64_t>& idx, const std::vector<int64_t>& dims) {
  for (int d = static_cast<int>(dims.size()) - 1; d >= 0 && ++idx[d] == dims[d]; --d) idx[d] = 0;
}

bool AllF32(const ir::Operation& op) {
  for (const ir::Value* v : op.operands())
    if (v->type().dtype != ir::DType::kF32) return false;
  return true;
}

// Computes the folded payload of `op`, or null when it is not foldable.
std::shared_ptr<ir::TensorData> Fold(const ir::Operation& op) {
  const ir::TensorType& out = op.result()->type();
  std::optional<int64_t> bytes = out.ByteSize();
  if (!bytes || *bytes > kMaxFoldBytes || op.num_results() != 1) return nullptr;
  std::vector<const ir::TensorData*> in;
  for (const ir::Value* v : op.operands()) {
    if (const ir::TensorData* d = ConstData(v))
      in.push_back(d);
    else
      return nullptr;
  }
  if (in.empty()) return nullptr;
  const std::vector<int64_t> dims = out.shape.extents();
  const int64_t n = out.shape.NumElements().value_or(0);
  const int64_t esize = ir::DTypeSize(out.dtype);
  std::vector<uint8_t> result(static_cast<size_t>(*bytes));
  const OpKind k = op.kind();
  if (k == OpKind::kReshape) {
    // reshape(const) -> const with the new shape
    result = in[0]->bytes();
  } else if (k == OpKind::kTranspose || k == OpKind::kSlice || k == OpKind::kExpand) {
    // transpose / slice / expand (const) -> const, by a strided gather
    std::vector<int64_t> src = in[0]->type().shape.extents();
    std::vector<int64_t> ss = Strides(src), strides(dims.size(), 0);
    int64_t base = 0;
    if (k == OpKind::kTranspose) {
      const auto& perm = op.GetInts("perm");
      for (size_t i = 0; i < perm.size(); ++i) strides[i] = ss[perm[i]];
    } else if (k == OpKind::kSlice) {
      int64_t axis = op.GetInt("axis");
      if (axis < 0) axis += static_cast<int64_t>(src.size());
      strides = ss;
      base = op.GetInt("start") * ss[axis];
      strides[axis] *= op.GetInt("step");
    } else {
      size_t lead = dims.size() - src.size();
      for (size_t i = 0; i < src.size(); ++i) strides[i + lead] = src[i] == 1 ? 0 : ss[i];
    }
    std::vector<int64_t> idx(dims.size(), 0);
    for (int64_t i = 0; i < n; ++i, Next(idx, dims)) {
      int64_t off = base;
      for (size_t d = 0; d < dims.size(); ++d) off += idx[d] * strides[d];
      std::memcpy(&result[i * esize], &in[0]->bytes()[off * esize], esize);
    }
  } else if (k == OpKind::kConcat) {
    // concat(consts) -> const
    int64_t axis = op.GetInt("axis");
    if (axis < 0) axis += static_cast<int64_t>(dims.size());
    int64_t outer = 1, inner = esize;
    for (int64_t i = 0; i < axis; ++i) outer *= dims[i];
    for (size_t i = axis + 1; i < dims.size(); ++i) inner *= dims[i];
    int64_t row = dims[axis] * inner, at = 0;
    for (const ir::TensorData* d : in) {
      int64_t chunk = d->type().shape[static_cast<int>(axis)].extent() * inner;
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(&result[o * row + at], &d->bytes()[o * chunk], chunk);
      at += chunk;
    }
  } else if (Fusable(op) && out.dtype == ir::DType::kF32 && AllF32(op)) {
    // f32 elementwise maths on consts -> const, by the vocabulary's
    // reference (the op as a one-instruction body over its operands).
    ir::BodyBuilder bb;
    for (ir::Value* v : op.operands()) bb.Read(v, /*inline_scalars=*/false);
    absl::StatusOr<ir::Value*> r = bb.Clone(op);
    if (!r.ok()) return nullptr;
    const std::vector<ir::Value*> args = bb.inputs();
    absl::StatusOr<format::KernelBody> body = ir::LowerBody(*bb.Finish(*r));
    if (!body.ok()) return nullptr;
    float* y = reinterpret_cast<float*>(result.data());
    std::vector<const ir::TensorData*> data;
    std::vector<std::vector<int64_t>> shapes;
    for (ir::Value* v : args) {
      data.push_back(ConstData(v));
      shapes.push_back(v->type().shape.extents());
    }
    std::vector<double> x(args.size());
    std::vector<int64_t> idx(dims.size(), 0);
    for (int64_t i = 0; i < n; ++i, Next(idx, dims)) {
      for (size_t j = 0; j < args.size(); ++j)
        x[j] = data[j]->data<float>()[BroadcastOffset(idx, shapes[j])];
      y[i] = static_cast<float>(EvalBody(*body, x));
    }
  } else {
    return nullptr;
  }
  return std::make_shared<ir::TensorData>(out, std::move(result));
}

absl::Status RunFoldConstants(ir::Graph& g, PassStats& stats) {
  for (auto it = g.ops().begin(); it != g.ops().end();) {
    ir::Operation* op = (it++)->get();
    if (op->kind() == OpKind::kConst) continue;
    std::shared_ptr<ir::TensorData> folded = Fold(*op);
    if (!folded) continue;
    ir::Builder b(&g, g.Position(op));
    b.SetLoc(op->loc());
    ReplaceOp(op, b.Constant(std::move(folded)));
    ++stats["ops-folded"];
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(fold_constants, "fold-constants",
                     "evaluate ops whose operands are all constants", RunFoldConstants);

}  // namespace sinter::passes
