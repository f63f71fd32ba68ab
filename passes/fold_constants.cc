// Constant folding: evaluates at compile time the ops whose operands are all
// constants (weight reshapes and transposes, the slices that split packed
// attention weights, arithmetic on parameters), so they cost nothing at run
// time. Only data movement, cheap f32/bool elementwise math, exact integer
// arithmetic and casts with the runtime's rules are folded; a fold never changes results beyond
// what the runtime kernel would compute.
#include <cmath>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "ir/shape_rules.h"
#include "kernels/cast.h"
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

// f32 and bool: the kernel-body vocabulary's element types (comparisons
// give bool, `where` takes it).
bool F32OrBool(ir::DType t) { return t == ir::DType::kF32 || t == ir::DType::kBool; }
bool AllF32OrBool(const ir::Operation& op) {
  for (const ir::Value* v : op.operands())
    if (!F32OrBool(v->type().dtype)) return false;
  return F32OrBool(op.result()->type().dtype);
}

// What a fold sees: the op, its constant operands, and the result to fill
// (zeroed, of the result type's bytes).
struct Folding {
  const ir::Operation& op;
  std::vector<const ir::TensorData*> in;
  std::vector<int64_t> dims;  // of the result
  int64_t n = 0, esize = 0;   // result elements, element bytes
  std::vector<uint8_t>& result;
};
using FoldFn = bool (*)(const Folding& f);

// reshape(const) -> const with the new shape
bool FoldReshape(const Folding& f) {
  f.result = f.in[0]->bytes();
  return true;
}

// transpose / slice / expand (const) -> const, by a strided gather
bool FoldGather(const Folding& f) {
  const ir::Operation& op = f.op;
  const std::vector<int64_t>& dims = f.dims;
  std::vector<int64_t> src = f.in[0]->type().shape.extents();
  std::vector<int64_t> ss = Strides(src), strides(dims.size(), 0);
  int64_t base = 0;
  if (op.kind() == OpKind::kTranspose) {
    const auto& perm = op.GetInts("perm");
    for (size_t i = 0; i < perm.size(); ++i) strides[i] = ss[perm[i]];
  } else if (op.kind() == OpKind::kSlice) {
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
  for (int64_t i = 0; i < f.n; ++i, Next(idx, dims)) {
    int64_t off = base;
    for (size_t d = 0; d < dims.size(); ++d) off += idx[d] * strides[d];
    std::memcpy(&f.result[i * f.esize], &f.in[0]->bytes()[off * f.esize], f.esize);
  }
  return true;
}

// concat(consts) -> const
bool FoldConcat(const Folding& f) {
  int64_t axis = f.op.GetInt("axis");
  if (axis < 0) axis += static_cast<int64_t>(f.dims.size());
  int64_t outer = 1, inner = f.esize;
  for (int64_t i = 0; i < axis; ++i) outer *= f.dims[i];
  for (size_t i = axis + 1; i < f.dims.size(); ++i) inner *= f.dims[i];
  int64_t row = f.dims[axis] * inner, at = 0;
  for (const ir::TensorData* d : f.in) {
    int64_t chunk = d->type().shape[static_cast<int>(axis)].extent() * inner;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(&f.result[o * row + at], &d->bytes()[o * chunk], chunk);
    at += chunk;
  }
  return true;
}

// f32 elementwise maths on consts -> const, by the vocabulary's reference
// (the op as a one-instruction body over its operands).
bool FoldElementwise(const Folding& f) {
  ir::BodyBuilder bb;
  for (ir::Value* v : f.op.operands()) bb.Read(v, /*inline_scalars=*/false);
  absl::StatusOr<ir::Value*> r = bb.Clone(f.op);
  if (!r.ok()) return false;
  const std::vector<ir::Value*> args = bb.inputs();
  absl::StatusOr<format::KernelBody> body = ir::LowerBody(*bb.Finish(*r));
  if (!body.ok()) return false;
  const bool bool_out = f.op.result()->type().dtype == ir::DType::kBool;
  float* y = reinterpret_cast<float*>(f.result.data());
  std::vector<const ir::TensorData*> data;
  std::vector<std::vector<int64_t>> shapes;
  for (ir::Value* v : args) {
    data.push_back(ConstData(v));
    shapes.push_back(v->type().shape.extents());
  }
  std::vector<double> x(args.size());
  std::vector<int64_t> idx(f.dims.size(), 0);
  for (int64_t i = 0; i < f.n; ++i, Next(idx, f.dims)) {
    for (size_t j = 0; j < args.size(); ++j) {
      const int64_t at = BroadcastOffset(idx, shapes[j]);
      x[j] = data[j]->type().dtype == ir::DType::kBool
                 ? (data[j]->data<uint8_t>()[at] != 0 ? 1.0 : 0.0)
                 : static_cast<double>(data[j]->data<float>()[at]);
    }
    const double v = EvalBody(*body, x);
    if (bool_out) {
      f.result[i] = v != 0;
    } else {
      y[i] = static_cast<float>(v);
    }
  }
  return true;
}

// Integer and bool elements, read and written as int64 (exact for every
// integer dtype of the IR).
int64_t LoadInt(const ir::TensorData& d, int64_t i) {
  switch (d.type().dtype) {
    case ir::DType::kI64:
      return d.data<int64_t>()[i];
    case ir::DType::kI32:
      return d.data<int32_t>()[i];
    case ir::DType::kI8:
      return d.data<int8_t>()[i];
    case ir::DType::kU8:
      return d.data<uint8_t>()[i];
    case ir::DType::kBool:
      return d.data<uint8_t>()[i] != 0;
    case ir::DType::kF32:
    case ir::DType::kF16:
    case ir::DType::kBF16:
    case ir::DType::kF64:
      break;
  }
  return 0;
}

bool IsIntegral(ir::DType t) {
  return !ir::IsFloat(t);  // the integers and bool
}

// Stores `v` into element `i` of a result of dtype `t`, wrapping as a
// two's-complement integer of its width does (as LibTorch's integer
// arithmetic does); f32 takes the nearest float.
void StoreInt(std::vector<uint8_t>& out, ir::DType t, int64_t i, int64_t v) {
  switch (t) {
    case ir::DType::kI64:
      reinterpret_cast<int64_t*>(out.data())[i] = v;
      return;
    case ir::DType::kI32:
      reinterpret_cast<int32_t*>(out.data())[i] = static_cast<int32_t>(static_cast<uint32_t>(v));
      return;
    case ir::DType::kI8:
      reinterpret_cast<int8_t*>(out.data())[i] = static_cast<int8_t>(static_cast<uint8_t>(v));
      return;
    case ir::DType::kU8:
      out[i] = static_cast<uint8_t>(v);
      return;
    case ir::DType::kBool:
      out[i] = v != 0;
      return;
    case ir::DType::kF32:
      reinterpret_cast<float*>(out.data())[i] = static_cast<float>(v);
      return;
    case ir::DType::kF16:
    case ir::DType::kBF16:
    case ir::DType::kF64:
      return;
  }
}

// Integer (and bool) arithmetic on constants: shape and index arithmetic
// (anchor grids, strides) that has no run-time kernel on the CPU, exact.
// Casts from integers to integers, bool or f32 too (a cast from f32 to an
// integer is FoldFloatToInt's, with the runtime kernel's rounding).
bool FoldInteger(const Folding& f) {
  const ir::Operation& op = f.op;
  const ir::DType out = op.result()->type().dtype;
  std::vector<std::vector<int64_t>> shapes;
  for (const ir::TensorData* d : f.in) shapes.push_back(d->type().shape.extents());
  std::vector<int64_t> idx(f.dims.size(), 0);
  for (int64_t i = 0; i < f.n; ++i, Next(idx, f.dims)) {
    const int64_t a = LoadInt(*f.in[0], BroadcastOffset(idx, shapes[0]));
    const int64_t b = f.in.size() > 1 ? LoadInt(*f.in[1], BroadcastOffset(idx, shapes[1])) : 0;
    // Unsigned arithmetic: wraps like LibTorch's, with no signed overflow.
    const uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
    const OpKind k = op.kind();
    int64_t v = a;  // cast
    if (k == OpKind::kAdd) v = static_cast<int64_t>(ua + ub);
    if (k == OpKind::kSub) v = static_cast<int64_t>(ua - ub);
    if (k == OpKind::kMul) v = static_cast<int64_t>(ua * ub);
    if (k == OpKind::kNeg) v = static_cast<int64_t>(uint64_t{0} - ua);
    if (k == OpKind::kMaximum) v = std::max(a, b);
    if (k == OpKind::kMinimum) v = std::min(a, b);
    StoreInt(f.result, out, i, v);
  }
  return true;
}

// cast(f32 const) -> integer const, with the conversion rules the runtime's
// cast kernels share (kernels/cast.h), so the fold gives what the kernel
// would: index arithmetic done in float (relative position tables) folds.
bool FoldFloatToInt(const Folding& f) {
  const ir::DType out = f.op.result()->type().dtype;
  const float* x = f.in[0]->data<float>();
  for (int64_t i = 0; i < f.n; ++i) {
    switch (out) {
      case ir::DType::kI64:
        StoreInt(f.result, out, i, sinter_cast::FloatToI64(x[i]));
        break;
      case ir::DType::kI32:
        StoreInt(f.result, out, i, sinter_cast::FloatToI32(x[i]));
        break;
      case ir::DType::kU8:
        StoreInt(f.result, out, i, sinter_cast::FloatToU8(x[i]));
        break;
      case ir::DType::kBool:
        StoreInt(f.result, out, i, x[i] != 0);  // NaN is true
        break;
      case ir::DType::kI8:  // no kernel casts f32 to i8: leave it
      case ir::DType::kF32:
      case ir::DType::kF16:
      case ir::DType::kBF16:
      case ir::DType::kF64:
        return false;
    }
  }
  return true;
}

bool IntegerFoldable(const ir::Operation& op) {
  for (const ir::Value* v : op.operands())
    if (!IsIntegral(v->type().dtype)) return false;
  const ir::DType out = op.result()->type().dtype;
  const OpKind k = op.kind();
  if (k == OpKind::kCast) return IsIntegral(out) || out == ir::DType::kF32;
  if (k != OpKind::kAdd && k != OpKind::kSub && k != OpKind::kMul && k != OpKind::kNeg &&
      k != OpKind::kMaximum && k != OpKind::kMinimum)
    return false;
  // Same dtype in and out, as the frontend's promotion makes them.
  for (const ir::Value* v : op.operands())
    if (v->type().dtype != out) return false;
  return out != ir::DType::kBool;
}

// The fold column of the op table, registered here next to the folds (TVM's
// per-op attribute maps): the movement ops fold by moving bytes, and every op
// of the kernel-body vocabulary over f32 folds through the vocabulary's
// reference. Any other op stays (folding must not change a result beyond
// what the runtime's kernel computes, and must stay cheap).
FoldFn FoldOf(const ir::Operation& op) {
  static const auto* table = new std::unordered_map<OpKind, FoldFn>{
      {OpKind::kReshape, &FoldReshape}, {OpKind::kTranspose, &FoldGather},
      {OpKind::kSlice, &FoldGather},    {OpKind::kExpand, &FoldGather},
      {OpKind::kConcat, &FoldConcat},
  };
  if (auto it = table->find(op.kind()); it != table->end()) return it->second;
  if (Fusable(op) && AllF32OrBool(op)) return &FoldElementwise;
  if (IntegerFoldable(op)) return &FoldInteger;
  if (op.kind() == OpKind::kCast && op.operand(0)->type().dtype == ir::DType::kF32 &&
      IsIntegral(op.result()->type().dtype))
    return &FoldFloatToInt;
  return nullptr;
}

// Computes the folded payload of `op`, or null when it is not foldable.
std::shared_ptr<ir::TensorData> Fold(const ir::Operation& op) {
  const ir::TensorType& out = op.result()->type();
  std::optional<int64_t> bytes = out.ByteSize();
  if (!bytes || *bytes > kMaxFoldBytes || op.num_results() != 1) return nullptr;
  const FoldFn fold = FoldOf(op);
  if (fold == nullptr) return nullptr;
  std::vector<uint8_t> result(static_cast<size_t>(*bytes));
  Folding f{
      op,    {}, out.shape.extents(), out.shape.NumElements().value_or(0), ir::DTypeSize(out.dtype),
      result};
  for (const ir::Value* v : op.operands()) {
    const ir::TensorData* d = ConstData(v);
    if (d == nullptr) return nullptr;
    f.in.push_back(d);
  }
  if (f.in.empty() || !fold(f)) return nullptr;
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
