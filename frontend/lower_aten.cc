// Lowering of aten:: tensor ops into sinter IR: one row per TorchScript op
// kind. Shape and dtype checks happen in the IR's shape rules (runtime/format/ops.def),
// so a row only maps arguments. In-place variants (`relu_`) share their
// out-of-place row; the importer rebinds the mutated operand.
#include <cctype>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "frontend/importer.h"
#include "frontend/lowering_helpers.h"
#include "ir/shape_rules.h"
#include "ir/status_macros.h"

namespace sinter::frontend {
namespace {

using ir::OpKind;
using K = Val::Kind;

absl::Status Out(Importer& im, tj::Node* n, absl::StatusOr<ir::Value*> v) {
  if (!v.ok()) return v.status();
  im.Set(n, 0, Val::Tensor(*v));
  return absl::OkStatus();
}

template <OpKind Op>
absl::Status Unary(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  return Out(im, n, im.Op(Op, {x}));
}

// add/sub(a, b, alpha): a - alpha * b
template <OpKind Op>
absl::Status Binary(Importer& im, tj::Node* n) {
  const Val& a = im.In(n, 0);
  ir::Value* like = a.is(K::kTensor) ? a.tensor : im.In(n, 1).tensor;
  if (like == nullptr) return im.Error(n, "no tensor operand");
  ASSIGN_OR_RETURN(ir::Value * x, im.TensorOrScalar(n, 0, like));
  ASSIGN_OR_RETURN(ir::Value * y, im.TensorOrScalar(n, 1, like));
  RETURN_IF_ERROR(Promote(im, &x, &y));
  if ((Op == OpKind::kAdd || Op == OpKind::kSub) && im.NumIn(n) == 3) {
    ASSIGN_OR_RETURN(double alpha, im.Float(n, 2));
    if (alpha != 1) {
      ASSIGN_OR_RETURN(y, im.Op(OpKind::kMul, {y, im.Scalar(alpha, like->type().dtype)}));
    }
  }
  if (Op == OpKind::kDiv && im.NumIn(n) == 3 && !im.IsNone(n, 2)) {
    return im.Error(n, "division with a rounding mode is not supported");
  }
  // Tensor division is true division: integers divide as f32.
  if (Op == OpKind::kDiv && !ir::IsFloat(x->type().dtype)) {
    for (ir::Value** v : {&x, &y}) {
      ASSIGN_OR_RETURN(*v, im.Op(OpKind::kCast, {*v}, {{"to", std::string("f32")}}));
    }
  }
  return Out(im, n, im.Op(Op, {x, y}));
}

// rsub(a, b, alpha) = b - alpha * a
absl::Status Rsub(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * a, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * b, im.TensorOrScalar(n, 1, a));
  ASSIGN_OR_RETURN(double alpha, im.Float(n, 2));
  if (alpha != 1) {
    ASSIGN_OR_RETURN(a, im.Op(OpKind::kMul, {a, im.Scalar(alpha, a->type().dtype)}));
  }
  return Out(im, n, im.Op(OpKind::kSub, {b, a}));
}

// The value of a one-element integer constant, if `v` is one.
std::optional<int64_t> IntConstant(const ir::Value* v) {
  const ir::Operation* def = v->def();
  if (def == nullptr || def->kind() != OpKind::kConst) return std::nullopt;
  const ir::TensorData& d = *def->GetTensor("value");
  if (d.type().shape.NumElements().value_or(0) != 1) return std::nullopt;
  switch (d.type().dtype) {
    case ir::DType::kI64:
      return d.data<int64_t>()[0];
    case ir::DType::kI32:
      return d.data<int32_t>()[0];
    case ir::DType::kI8:
      return d.data<int8_t>()[0];
    case ir::DType::kU8:
      return d.data<uint8_t>()[0];
    case ir::DType::kF32:
    case ir::DType::kF16:
    case ir::DType::kBF16:
    case ir::DType::kF64:
    case ir::DType::kBool:
      return std::nullopt;
  }
  return std::nullopt;
}

template <OpKind Op>
absl::Status Compare(Importer& im, tj::Node* n) {
  ir::Value* like = im.In(n, 0).is(K::kTensor) ? im.In(n, 0).tensor : im.In(n, 1).tensor;
  ASSIGN_OR_RETURN(ir::Value * x, im.TensorOrScalar(n, 0, like));
  ASSIGN_OR_RETURN(ir::Value * y, im.TensorOrScalar(n, 1, like));
  RETURN_IF_ERROR(Promote(im, &x, &y));
  const ir::DType dt = x->type().dtype;
  if (!ir::IsFloat(dt) && dt != ir::DType::kBool) {
    // Kernel bodies compare f32 and bool. An integer tensor against an
    // integer constant c with |c| < 2^24 compares exactly in f32: rounding
    // to f32 is monotonic and c and its integer neighbours are exact, so no
    // x on the other side of c rounds onto or past it (`mask == 0`,
    // `ids < vocab`). Two integer tensors stay integer (and are refused by
    // the backends, by name).
    std::optional<int64_t> c = IntConstant(y);
    if (!c) c = IntConstant(x);
    if (c && *c > -(int64_t{1} << 24) && *c < (int64_t{1} << 24)) {
      // The constant side becomes an f32 constant, the tensor side a cast.
      auto f32 = [&](ir::Value* v) -> absl::StatusOr<ir::Value*> {
        if (std::optional<int64_t> k = IntConstant(v); k && v->type().shape.rank() == 0)
          return im.Scalar(static_cast<double>(*k), ir::DType::kF32);
        return im.Op(OpKind::kCast, {v}, {{"to", std::string("f32")}});
      };
      ASSIGN_OR_RETURN(x, f32(x));
      ASSIGN_OR_RETURN(y, f32(y));
    }
  }
  return Out(im, n, im.Op(Op, {x, y}));
}

absl::Status Identity(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  im.Set(n, 0, Val::Tensor(x));
  return absl::OkStatus();
}

// dropout(x, p, train): identity at inference, and in training mode with
// p = 0 (torchvision 0.14's Swin calls F.dropout(attn, p=0.0) without
// training=self.training).
absl::Status Dropout(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(double p, im.Float(n, 1));
  ASSIGN_OR_RETURN(bool train, im.Bool(n, 2));
  if (train && p != 0) return im.Error(n, "dropout in training mode");
  return Identity(im, n);
}

absl::Status Clamp(Importer& im, tj::Node* n, std::optional<double> lo, std::optional<double> hi) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ir::AttributeMap attrs;
  if (lo) attrs["min"] = *lo;
  if (hi) attrs["max"] = *hi;
  return Out(im, n, im.Op(OpKind::kClamp, {x}, std::move(attrs)));
}

absl::StatusOr<std::optional<double>> OptFloat(Importer& im, tj::Node* n, size_t i) {
  if (im.IsNone(n, i)) return std::optional<double>();
  ASSIGN_OR_RETURN(double v, im.Float(n, i));
  return std::optional<double>(v);
}

// Expands a 1- or 2-element int list to 2 (PyTorch's _pair).
absl::StatusOr<std::vector<int64_t>> Pair(Importer& im, tj::Node* n, size_t i) {
  ASSIGN_OR_RETURN(auto v, im.Ints(n, i));
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) return im.Error(n, absl::StrCat("operand ", i, " needs 1 or 2 values"));
  return v;
}

absl::Status Conv(Importer& im, tj::Node* n, size_t stride_at, size_t groups_at) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * w, im.Tensor(n, 1));
  ASSIGN_OR_RETURN(ir::Value * b, im.OptTensor(n, 2));
  if (x->type().shape.rank() != 4) return im.Error(n, "only 2-D convolution is supported");
  ASSIGN_OR_RETURN(auto stride, Pair(im, n, stride_at));
  if (im.In(n, stride_at + 1).is(K::kStr))
    return im.Error(n, "string padding modes are not supported");
  ASSIGN_OR_RETURN(auto pad, Pair(im, n, stride_at + 1));
  ASSIGN_OR_RETURN(auto dil, Pair(im, n, stride_at + 2));
  ASSIGN_OR_RETURN(int64_t groups, im.Int(n, groups_at));
  std::vector<ir::Value*> in{x, w};
  if (b != nullptr) in.push_back(b);
  return Out(im, n,
             im.Op(OpKind::kConv2d, in,
                   {{"stride", stride}, {"padding", pad}, {"dilation", dil}, {"groups", groups}}));
}

absl::Status Reduce(Importer& im, tj::Node* n, OpKind kind, bool has_dims) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  std::vector<int64_t> axes;
  bool keepdim = false;
  if (has_dims && !im.IsNone(n, 1)) {
    ASSIGN_OR_RETURN(axes, im.Ints(n, 1));
    ASSIGN_OR_RETURN(keepdim, im.Bool(n, 2));
  }
  if (axes.empty()) {
    for (int i = 0; i < x->type().shape.rank(); ++i) axes.push_back(i);
  }
  return Out(im, n, ReduceAxes(im, x, kind, axes, keepdim));
}

absl::Status Softmax(Importer& im, tj::Node* n, OpKind kind) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 1));
  return Out(im, n, im.Op(kind, {x}, {{"axis", dim}}));
}

absl::Status LayerNorm(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto shape, im.Ints(n, 1));
  ASSIGN_OR_RETURN(ir::Value * w, im.OptTensor(n, 2));
  ASSIGN_OR_RETURN(ir::Value * b, im.OptTensor(n, 3));
  ASSIGN_OR_RETURN(double eps, im.Float(n, 4));
  return Out(im, n, LayerNormOp(im, x, static_cast<int64_t>(shape.size()), w, b, eps));
}

// group_norm(x[N, C, *], G, weight[C]?, bias[C]?, eps): each image's channels
// in G groups, each group normalised over its channels and positions, then
// weight and bias [C] (either null) per channel. As layer_norm over
// [N, G, C/G * prod(*)] (unit weight, zero bias), then the per-channel affine
// on [N, C, *], which the fusion passes join to the layer_norm kernel.
absl::StatusOr<ir::Value*> GroupNormOp(Importer& im, ir::Value* x, int64_t groups, ir::Value* w,
                                       ir::Value* b, double eps) {
  const std::vector<int64_t> dims = x->type().shape.extents();
  const int64_t c = dims[1];
  int64_t per_group = c / groups;
  for (size_t d = 2; d < dims.size(); ++d) per_group *= dims[d];
  ASSIGN_OR_RETURN(ir::Value * g, ReshapeOp(im, x, {dims[0], groups, per_group}));
  ASSIGN_OR_RETURN(ir::Value * y, LayerNormOp(im, g, 1, nullptr, nullptr, eps));
  ASSIGN_OR_RETURN(y, ReshapeOp(im, y, dims));
  // weight and bias [C] broadcast as [C, 1, ...] against [N, C, *].
  std::vector<int64_t> param(dims.size() - 1, 1);
  param[0] = c;
  if (w != nullptr) {
    ASSIGN_OR_RETURN(ir::Value * wc, ReshapeOp(im, w, param));
    ASSIGN_OR_RETURN(y, im.Op(OpKind::kMul, {y, wc}));
  }
  if (b != nullptr) {
    ASSIGN_OR_RETURN(ir::Value * bc, ReshapeOp(im, b, param));
    ASSIGN_OR_RETURN(y, im.Op(OpKind::kAdd, {y, bc}));
  }
  return y;
}

absl::Status GroupNorm(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t groups, im.Int(n, 1));
  ASSIGN_OR_RETURN(ir::Value * w, im.OptTensor(n, 2));
  ASSIGN_OR_RETURN(ir::Value * b, im.OptTensor(n, 3));
  ASSIGN_OR_RETURN(double eps, im.Float(n, 4));
  const ir::Shape& shape = x->type().shape;
  if (!shape.is_static() || shape.rank() < 2) {
    return im.Error(n,
                    "group_norm input must have static rank >= 2, got " + ir::ToString(x->type()));
  }
  const int64_t c = shape[1].extent();
  if (groups <= 0 || c % groups != 0) {
    return im.Error(n, absl::StrCat("group_norm: ", c, " channels in ", groups, " groups"));
  }
  return Out(im, n, GroupNormOp(im, x, groups, w, b, eps));
}

// grid_sampler(x, grid, interpolation, padding, align_corners), what
// F.grid_sample calls: interpolation 0 bilinear, 1 nearest (2, bicubic, is
// refused); padding 0 zeros, 1 border, 2 reflection. 4-D only.
absl::Status GridSample(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * grid, im.Tensor(n, 1));
  ASSIGN_OR_RETURN(int64_t mode, im.Int(n, 2));
  ASSIGN_OR_RETURN(int64_t padding, im.Int(n, 3));
  ASSIGN_OR_RETURN(bool align_corners, im.Bool(n, 4));
  if (x->type().shape.rank() != 4) return im.Error(n, "only 2-D grid sampling is supported");
  if (mode != 0 && mode != 1)
    return im.Error(n, mode == 2 ? "bicubic grid sampling is not supported"
                                 : absl::StrCat("unknown interpolation mode ", mode));
  if (padding < 0 || padding > 2)
    return im.Error(n, absl::StrCat("unknown padding mode ", padding));
  static constexpr const char* kPadding[] = {"zeros", "border", "reflection"};
  return Out(im, n,
             im.Op(OpKind::kGridSample, {x, grid},
                   {{"mode", std::string(mode == 0 ? "bilinear" : "nearest")},
                    {"padding_mode", std::string(kPadding[padding])},
                    {"align_corners", align_corners}}));
}

// im2col(x[N, C, H, W], kernel, dilation, padding, stride), what F.unfold
// calls: [N, C * kh * kw, L], channel c's patch rows c * kh * kw + i * kw + j
// over the L output positions. Each kernel offset's strided slice of the
// zero-padded input, stacked after the channel axis.
absl::Status Im2col(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto k, Pair(im, n, 1));
  ASSIGN_OR_RETURN(auto d, Pair(im, n, 2));
  ASSIGN_OR_RETURN(auto p, Pair(im, n, 3));
  ASSIGN_OR_RETURN(auto s, Pair(im, n, 4));
  if (x->type().shape.rank() != 4 || !x->type().shape.is_static())
    return im.Error(n, "unfold takes a static [N, C, H, W] input");
  for (int a = 0; a < 2; ++a) {
    if (k[a] <= 0 || d[a] <= 0 || s[a] <= 0 || p[a] < 0)
      return im.Error(n, "unfold: kernel, dilation and stride must be positive, padding >= 0");
  }
  std::vector<int64_t> dims = x->type().shape.extents();
  int64_t out[2];
  for (int a = 0; a < 2; ++a) {
    out[a] = (dims[2 + a] + 2 * p[a] - d[a] * (k[a] - 1) - 1) / s[a] + 1;
    if (out[a] <= 0) return im.Error(n, "unfold: the kernel is larger than the padded input");
  }
  for (int a = 0; a < 2; ++a) {  // zero padding, axis by axis
    if (p[a] == 0) continue;
    std::vector<int64_t> block = x->type().shape.extents();
    block[2 + a] = p[a];
    ir::Value* zeros = Fill(im, block, x->type().dtype, 0.0);
    ASSIGN_OR_RETURN(x, im.Op(OpKind::kConcat, {zeros, x, zeros}, {{"axis", int64_t{2 + a}}}));
  }
  std::vector<ir::Value*> patches;
  for (int64_t i = 0; i < k[0]; ++i) {
    for (int64_t j = 0; j < k[1]; ++j) {
      ASSIGN_OR_RETURN(ir::Value * v,
                       SliceOp(im, x, 2, i * d[0], i * d[0] + (out[0] - 1) * s[0] + 1, s[0]));
      ASSIGN_OR_RETURN(v, SliceOp(im, v, 3, j * d[1], j * d[1] + (out[1] - 1) * s[1] + 1, s[1]));
      ASSIGN_OR_RETURN(v, ReshapeOp(im, v, {dims[0], dims[1], 1, out[0] * out[1]}));
      patches.push_back(v);
    }
  }
  ir::Value* y = patches[0];
  if (patches.size() > 1) {
    ASSIGN_OR_RETURN(y, im.Op(OpKind::kConcat, patches, {{"axis", int64_t{2}}}));
  }
  return Out(im, n, ReshapeOp(im, y, {dims[0], dims[1] * k[0] * k[1], out[0] * out[1]}));
}

// tensor(data, dtype?, device?, requires_grad): a constant from a number or
// a (nested) list of numbers; PyTorch's dtype unless one is given: i64 for
// ints, f32 for floats, bool for bools.
absl::Status TensorFromData(Importer& im, tj::Node* n) {
  const Val& data = im.In(n, 0);
  std::vector<int64_t> shape;
  std::vector<double> values;
  ir::DType dt = ir::DType::kBool;
  auto note = [&dt](const Val& v) {
    if (v.is(K::kFloat)) {
      dt = ir::DType::kF32;
    } else if (v.is(K::kInt) && dt == ir::DType::kBool) {
      dt = ir::DType::kI64;
    }
  };
  // Walks the nesting level by level; each level's lists must agree in length.
  std::vector<const Val*> level{&data};
  while (!level.empty() && (level[0]->is(K::kList) || level[0]->is(K::kTuple))) {
    const size_t len = level[0]->items->size();
    shape.push_back(static_cast<int64_t>(len));
    std::vector<const Val*> next;
    for (const Val* v : level) {
      if (!(v->is(K::kList) || v->is(K::kTuple)) || v->items->size() != len)
        return im.Error(n, "tensor: the nested lists are not rectangular");
      for (const Val& item : *v->items) next.push_back(&item);
    }
    level = std::move(next);
  }
  for (const Val* v : level) {
    if (!v->is_number()) return im.Error(n, "tensor: data must be numbers known at compile time");
    note(*v);
    values.push_back(v->number());
  }
  if (im.NumIn(n) > 1 && !im.IsNone(n, 1)) {
    ASSIGN_OR_RETURN(int64_t code, im.Int(n, 1));
    ASSIGN_OR_RETURN(dt, DTypeFromCode(code));
  }
  if (dt != ir::DType::kF32 && dt != ir::DType::kI64 && dt != ir::DType::kBool)
    return im.Error(n, "tensor: only f32, i64 and bool data");
  ir::TensorType type{dt, ir::Shape::Of(shape)};
  std::vector<uint8_t> bytes(values.size() * ir::DTypeSize(dt));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dt == ir::DType::kF32) {
      const float f = static_cast<float>(values[i]);
      std::memcpy(&bytes[i * 4], &f, 4);
    } else if (dt == ir::DType::kI64) {
      const int64_t v = static_cast<int64_t>(values[i]);
      std::memcpy(&bytes[i * 8], &v, 8);
    } else {
      bytes[i] = values[i] != 0;
    }
  }
  im.Set(n, 0,
         Val::Tensor(im.b().Constant(std::make_shared<ir::TensorData>(type, std::move(bytes)))));
  return absl::OkStatus();
}

absl::Status BatchNorm(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * w, im.OptTensor(n, 1));
  ASSIGN_OR_RETURN(ir::Value * b, im.OptTensor(n, 2));
  ASSIGN_OR_RETURN(ir::Value * mean, im.OptTensor(n, 3));
  ASSIGN_OR_RETURN(ir::Value * var, im.OptTensor(n, 4));
  ASSIGN_OR_RETURN(bool training, im.Bool(n, 5));
  ASSIGN_OR_RETURN(double eps, im.Float(n, 7));
  if (training || mean == nullptr || var == nullptr) {
    return im.Error(n, "batch norm without running statistics (training mode)");
  }
  if (x->type().shape.rank() < 2) return im.Error(n, "batch norm input must have rank >= 2");
  int64_t c = x->type().shape[1].extent();
  if (w == nullptr) w = Fill(im, {c}, x->type().dtype, 1.0);
  if (b == nullptr) b = Fill(im, {c}, x->type().dtype, 0.0);
  return Out(im, n, im.Op(OpKind::kBatchNorm, {x, mean, var, w, b}, {{"eps", eps}}));
}

// instance_norm(x[N, C, *], weight?, bias?, running_mean?, running_var?,
// use_input_stats, momentum, eps, cudnn_enabled): with the instance's own
// statistics (InstanceNorm's default, also at inference), each image's
// channel normalised over its positions: group norm with a group per
// channel. With running statistics it is batch norm, whose arguments have
// the same places.
absl::Status InstanceNorm(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(bool use_input_stats, im.Bool(n, 5));
  if (!use_input_stats) return BatchNorm(im, n);
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * w, im.OptTensor(n, 1));
  ASSIGN_OR_RETURN(ir::Value * b, im.OptTensor(n, 2));
  ASSIGN_OR_RETURN(double eps, im.Float(n, 7));
  const ir::Shape& shape = x->type().shape;
  if (!shape.is_static() || shape.rank() < 3) {
    return im.Error(
        n, "instance_norm input must have static rank >= 3, got " + ir::ToString(x->type()));
  }
  return Out(im, n, GroupNormOp(im, x, shape[1].extent(), w, b, eps));  // a group per channel
}

// A pooling stride: an empty list means the kernel size (PyTorch's default).
absl::StatusOr<std::vector<int64_t>> PoolStride(Importer& im, tj::Node* n, size_t i,
                                                const std::vector<int64_t>& kernel) {
  ASSIGN_OR_RETURN(auto s, im.Ints(n, i));
  if (s.empty()) return kernel;
  if (s.size() == 1) s.push_back(s[0]);
  return s;
}

absl::Status MaxPool(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto k, Pair(im, n, 1));
  ASSIGN_OR_RETURN(auto s, PoolStride(im, n, 2, k));
  ASSIGN_OR_RETURN(auto p, Pair(im, n, 3));
  ASSIGN_OR_RETURN(auto d, Pair(im, n, 4));
  ASSIGN_OR_RETURN(bool ceil, im.Bool(n, 5));
  return Out(
      im, n,
      im.Op(OpKind::kMaxPool2d, {x},
            {{"kernel", k}, {"stride", s}, {"padding", p}, {"dilation", d}, {"ceil_mode", ceil}}));
}

absl::Status AvgPool(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto k, Pair(im, n, 1));
  ASSIGN_OR_RETURN(auto s, PoolStride(im, n, 2, k));
  ASSIGN_OR_RETURN(auto p, Pair(im, n, 3));
  ASSIGN_OR_RETURN(bool ceil, im.Bool(n, 4));
  ASSIGN_OR_RETURN(bool include_pad, im.Bool(n, 5));
  ir::AttributeMap attrs{{"kernel", k},
                         {"stride", s},
                         {"padding", p},
                         {"ceil_mode", ceil},
                         {"count_include_pad", include_pad}};
  if (im.NumIn(n) > 6 && !im.IsNone(n, 6)) {
    ASSIGN_OR_RETURN(int64_t div, im.Int(n, 6));
    attrs["divisor"] = div;
  }
  return Out(im, n, im.Op(OpKind::kAvgPool2d, {x}, std::move(attrs)));
}

template <OpKind Op>
absl::Status AdaptivePool(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto o, Pair(im, n, 1));
  ASSIGN_OR_RETURN(ir::Value * y, im.Op(Op, {x}, {{"output_size", o}}));
  im.Set(n, 0, Val::Tensor(y));
  if (n->outputs().size() > 1) im.Set(n, 1, Val());  // indices: not produced
  return absl::OkStatus();
}

absl::Status Linear(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * w, im.Tensor(n, 1));
  ASSIGN_OR_RETURN(ir::Value * b, im.OptTensor(n, 2));
  std::vector<ir::Value*> in{x, w};
  if (b != nullptr) in.push_back(b);
  return Out(im, n, im.Op(OpKind::kLinear, in));
}

absl::Status Matmul(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * a, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * b, im.Tensor(n, 1));
  return Out(im, n, im.Op(OpKind::kMatmul, {a, b}));
}

// addmm(c, a, b, beta, alpha) = beta * c + alpha * (a @ b); baddbmm alike
absl::Status AddMatmul(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * c, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * a, im.Tensor(n, 1));
  ASSIGN_OR_RETURN(ir::Value * b, im.Tensor(n, 2));
  ASSIGN_OR_RETURN(double beta, im.Float(n, 3));
  ASSIGN_OR_RETURN(double alpha, im.Float(n, 4));
  ASSIGN_OR_RETURN(ir::Value * ab, im.Op(OpKind::kMatmul, {a, b}));
  ir::DType dt = ab->type().dtype;
  if (alpha != 1) {
    ASSIGN_OR_RETURN(ab, im.Op(OpKind::kMul, {ab, im.Scalar(alpha, dt)}));
  }
  if (beta == 0) return Out(im, n, ab);
  if (beta != 1) {
    ASSIGN_OR_RETURN(c, im.Op(OpKind::kMul, {c, im.Scalar(beta, dt)}));
  }
  return Out(im, n, im.Op(OpKind::kAdd, {ab, c}));
}

absl::Status Reshape(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto shape, im.Ints(n, 1));
  return Out(im, n, ReshapeOp(im, x, shape));
}

absl::Status Flatten(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t start, im.Int(n, 1));
  ASSIGN_OR_RETURN(int64_t end, im.Int(n, 2));
  auto dims = x->type().shape.extents();
  int64_t r = static_cast<int64_t>(dims.size());
  if (r == 0) return Out(im, n, ReshapeOp(im, x, {1}));
  if (start < 0) start += r;
  if (end < 0) end += r;
  if (start < 0 || end >= r || start > end) return im.Error(n, "flatten dims out of range");
  std::vector<int64_t> out(dims.begin(), dims.begin() + start);
  int64_t p = 1;
  for (int64_t i = start; i <= end; ++i) p *= dims[i];
  out.push_back(p);
  out.insert(out.end(), dims.begin() + end + 1, dims.end());
  return Out(im, n, ReshapeOp(im, x, out));
}

absl::Status Permute(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto perm, im.Ints(n, 1));
  int64_t r = x->type().shape.rank();
  for (int64_t& p : perm) p = p < 0 ? p + r : p;
  return Out(im, n, im.Op(OpKind::kTranspose, {x}, {{"perm", perm}}));
}

absl::Status Transpose(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  int64_t r = x->type().shape.rank();
  int64_t a = r - 2, b = r - 1;  // t()
  if (im.NumIn(n) == 3) {
    ASSIGN_OR_RETURN(a, im.Int(n, 1));
    ASSIGN_OR_RETURN(b, im.Int(n, 2));
  }
  if (r < 2) return Identity(im, n);
  return Out(im, n, TransposeOp(im, x, a, b));
}

absl::Status Unsqueeze(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t d, im.Int(n, 1));
  auto dims = x->type().shape.extents();
  int64_t r = static_cast<int64_t>(dims.size());
  if (d < 0) d += r + 1;
  if (d < 0 || d > r) return im.Error(n, "unsqueeze dim out of range");
  dims.insert(dims.begin() + d, 1);
  return Out(im, n, ReshapeOp(im, x, dims));
}

absl::Status Squeeze(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  auto dims = x->type().shape.extents();
  int64_t r = static_cast<int64_t>(dims.size());
  std::vector<int64_t> out;
  if (im.NumIn(n) == 1) {
    for (int64_t e : dims)
      if (e != 1) out.push_back(e);
  } else {
    ASSIGN_OR_RETURN(int64_t d, im.Int(n, 1));
    if (d < 0) d += r;
    for (int64_t i = 0; i < r; ++i)
      if (i != d || dims[i] != 1) out.push_back(dims[i]);
  }
  return Out(im, n, ReshapeOp(im, x, out));
}

absl::StatusOr<std::vector<ir::Value*>> TensorList(Importer& im, tj::Node* n, size_t i) {
  const Val& l = im.In(n, i);
  if (!l.is(K::kList) && !l.is(K::kTuple)) return im.Error(n, "expected a list of tensors");
  std::vector<ir::Value*> out;
  for (const Val& v : *l.items) {
    if (!v.is(K::kTensor)) return im.Error(n, "expected a list of tensors");
    out.push_back(v.tensor);
  }
  if (out.empty()) return im.Error(n, "empty tensor list");
  return out;
}

// A concat; along a dim some operand has sized by the run, the result's
// extent there is a new symbol (the sum the run gives).
absl::StatusOr<ir::Value*> ConcatOp(Importer& im, const std::vector<ir::Value*>& xs, int64_t dim) {
  ir::AttributeMap attrs{{"axis", dim}};
  for (const ir::Value* x : xs) {
    const int rank = x->type().shape.rank();
    const int64_t axis = dim < 0 ? dim + rank : dim;
    if (axis >= 0 && axis < rank && !x->type().shape[static_cast<int>(axis)].is_static()) {
      attrs["size"] = im.NewSizeSymbol();
      break;
    }
  }
  return im.Op(OpKind::kConcat, xs, std::move(attrs));
}

absl::Status Cat(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(auto xs, TensorList(im, n, 0));
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 1));
  if (xs.size() == 1) return Out(im, n, xs[0]);
  return Out(im, n, ConcatOp(im, xs, dim));
}

absl::Status Stack(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(auto xs, TensorList(im, n, 0));
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 1));
  int64_t r = xs[0]->type().shape.rank();
  if (dim < 0) dim += r + 1;
  for (ir::Value*& x : xs) {
    auto dims = x->type().shape.extents();
    dims.insert(dims.begin() + dim, 1);
    ASSIGN_OR_RETURN(x, ReshapeOp(im, x, dims));
  }
  return Out(im, n, ConcatOp(im, xs, dim));
}

// x[start:end:step] along dim, Python bounds (None, negative, past the end)
absl::Status Slice(Importer& im, tj::Node* n) {
  const Val& src = im.In(n, 0);
  if (src.is(K::kList) || src.is(K::kTuple)) {  // list slicing
    const int64_t size = static_cast<int64_t>(src.items->size());
    ASSIGN_OR_RETURN(int64_t step, im.Int(n, 3));
    if (step == 0) return im.Error(n, "slice step cannot be zero");
    // Python's bounds (PySlice_AdjustIndices): a negative step walks down
    // from the last item (`l[::-1]` reverses) and stops before `end`.
    std::optional<int64_t> start, end;
    if (!im.IsNone(n, 1)) {
      ASSIGN_OR_RETURN(start, im.Int(n, 1));
    }
    if (!im.IsNone(n, 2)) {
      ASSIGN_OR_RETURN(end, im.Int(n, 2));
    }
    std::vector<Val> items;
    if (step > 0) {
      auto [b, e] = ClampSlice(start.value_or(0), end.value_or(size), size);
      for (int64_t i = b; i < e; i += step) items.push_back((*src.items)[i]);
    } else {
      auto adjust = [size](int64_t v) {
        if (v < 0) v += size;
        return std::clamp<int64_t>(v, -1, size - 1);
      };
      const int64_t b = start ? adjust(*start) : size - 1, e = end ? adjust(*end) : -1;
      for (int64_t i = b; i > e; i += step) items.push_back((*src.items)[i]);
    }
    im.Set(n, 0, Val::Seq(K::kList, std::move(items)));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 1));
  int64_t start = 0, end = INT64_MAX;
  if (!im.IsNone(n, 2)) {
    ASSIGN_OR_RETURN(start, im.Int(n, 2));
  }
  if (!im.IsNone(n, 3)) {
    ASSIGN_OR_RETURN(end, im.Int(n, 3));
  }
  ASSIGN_OR_RETURN(int64_t step, im.Int(n, 4));
  return Out(im, n, SliceOp(im, x, dim, start, end, step));
}

// x.narrow(dim, start, length) = x[..., start:start + length, ...]; a
// negative start counts from the end (a tensor start is refused).
absl::Status Narrow(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 1));
  ASSIGN_OR_RETURN(int64_t start, im.Int(n, 2));
  ASSIGN_OR_RETURN(int64_t length, im.Int(n, 3));
  ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(dim, x->type().shape.rank()));
  const int64_t size = x->type().shape.extents()[axis];
  if (start < 0) start += size;
  if (start < 0 || length < 0 || start + length > size)
    return im.Error(n, absl::StrCat("narrow(", dim, ", ", start, ", ", length,
                                    ") is out of range for a dim of ", size));
  return Out(im, n, SliceOp(im, x, axis, start, start + length, 1));
}

// x.select(dim, i) = x[..., i, ...] with that dim removed
absl::Status Select(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 1));
  ASSIGN_OR_RETURN(int64_t i, im.Int(n, 2));
  return Out(im, n, SelectOp(im, x, dim, i));
}

absl::Status SetList(Importer& im, tj::Node* n, absl::StatusOr<std::vector<ir::Value*>> parts) {
  if (!parts.ok()) return parts.status();
  std::vector<Val> items;
  for (ir::Value* v : *parts) items.push_back(Val::Tensor(v));
  im.Set(n, 0, Val::Seq(K::kList, std::move(items)));
  return absl::OkStatus();
}

absl::Status Chunk(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t chunks, im.Int(n, 1));
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 2));
  ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(dim, x->type().shape.rank()));
  int64_t extent = x->type().shape[static_cast<int>(axis)].extent();
  if (chunks <= 0) return im.Error(n, "chunk count must be positive");
  int64_t size = (extent + chunks - 1) / chunks;
  return SetList(im, n, SplitOp(im, x, axis, size));
}

absl::Status Split(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 2));
  ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(dim, x->type().shape.rank()));
  if (im.In(n, 1).is(K::kInt)) return SetList(im, n, SplitOp(im, x, axis, im.In(n, 1).i));
  ASSIGN_OR_RETURN(auto sizes, im.Ints(n, 1));
  std::vector<ir::Value*> parts;
  int64_t at = 0;
  for (int64_t s : sizes) {
    ASSIGN_OR_RETURN(ir::Value * p, SliceOp(im, x, axis, at, at + s, 1));
    parts.push_back(p);
    at += s;
  }
  return SetList(im, n, parts);
}

// tensor_split(x, sections: int | indices: int[], dim): `sections` parts
// whose sizes differ by at most one (the first ones larger), or the parts
// between the given indices.
absl::Status TensorSplit(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 2));
  ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(dim, x->type().shape.rank()));
  const int64_t extent = x->type().shape[static_cast<int>(axis)].extent();
  std::vector<int64_t> cuts;
  if (im.In(n, 1).is(K::kInt)) {
    const int64_t sections = im.In(n, 1).i;
    if (sections <= 0) return im.Error(n, "tensor_split needs a positive number of sections");
    for (int64_t i = 1, at = 0; i < sections; ++i) {
      at += extent / sections + (i - 1 < extent % sections ? 1 : 0);
      cuts.push_back(at);
    }
  } else {
    ASSIGN_OR_RETURN(cuts, im.Ints(n, 1));
  }
  std::vector<ir::Value*> parts;
  int64_t at = 0;
  cuts.push_back(extent);
  for (int64_t cut : cuts) {
    // Python slice bounds: negative from the end, clamped, never backwards.
    auto [b, e] = ClampSlice(at, cut, extent);
    e = std::max(b, e);
    ASSIGN_OR_RETURN(ir::Value * p, SliceOp(im, x, axis, b, e, 1));
    parts.push_back(p);
    at = cut;
  }
  return SetList(im, n, parts);
}

absl::Status Unbind(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 1));
  ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(dim, x->type().shape.rank()));
  std::vector<ir::Value*> parts;
  for (int64_t i = 0; i < x->type().shape[static_cast<int>(axis)].extent(); ++i) {
    ASSIGN_OR_RETURN(ir::Value * p, SelectOp(im, x, axis, i));
    parts.push_back(p);
  }
  return SetList(im, n, parts);
}

absl::Status Expand(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto shape, im.Ints(n, 1));
  auto dims = x->type().shape.extents();
  size_t lead = shape.size() - std::min(shape.size(), dims.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1 && i >= lead) shape[i] = dims[i - lead];
  }
  if (shape == dims) return Out(im, n, x);
  return Out(im, n, im.Op(OpKind::kExpand, {x}, {{"shape", shape}}));
}

absl::Status ExpandAs(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * y, im.Tensor(n, 1));
  if (x->type().shape == y->type().shape) return Out(im, n, x);
  return Out(im, n, im.Op(OpKind::kExpand, {x}, {{"shape", y->type().shape.extents()}}));
}

absl::StatusOr<ir::Value*> AsBool(Importer& im, ir::Value* x);

absl::Status Where(Importer& im, tj::Node* n) {
  if (im.NumIn(n) == 1) return WhereIndices(im, n);
  if (im.NumIn(n) != 3) return im.Error(n, "where takes a condition and two values, or one");
  ASSIGN_OR_RETURN(ir::Value * c, im.Tensor(n, 0));
  ir::Value* like = im.In(n, 1).is(K::kTensor)   ? im.In(n, 1).tensor
                    : im.In(n, 2).is(K::kTensor) ? im.In(n, 2).tensor
                                                 : nullptr;
  if (like == nullptr) {
    // Two numbers: PyTorch's result is f32 (the default float dtype) when
    // either is a float, else i64 (bools: bool).
    const Val &x = im.In(n, 1), &y = im.In(n, 2);
    if (!x.is_number() || !y.is_number())
      return im.Error(n, "where() needs tensor or number branches");
    const ir::DType t = x.is(K::kFloat) || y.is(K::kFloat) ? ir::DType::kF32
                        : x.is(K::kBool) && y.is(K::kBool) ? ir::DType::kBool
                                                           : ir::DType::kI64;
    like = im.Scalar(0, t);
  }
  ASSIGN_OR_RETURN(ir::Value * a, im.TensorOrScalar(n, 1, like));
  ASSIGN_OR_RETURN(ir::Value * b, im.TensorOrScalar(n, 2, like));
  RETURN_IF_ERROR(Promote(im, &a, &b));
  ASSIGN_OR_RETURN(c, AsBool(im, c));
  return Out(im, n, im.Op(OpKind::kWhere, {c, a, b}));
}

// masked_fill(x, mask, v) = where(mask, v, x)
absl::Status MaskedFill(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * m, im.Tensor(n, 1));
  ASSIGN_OR_RETURN(ir::Value * v, im.TensorOrScalar(n, 2, x));
  return Out(im, n, im.Op(OpKind::kWhere, {m, v, x}));
}

// zeros/ones/full(size, [value,] dtype, ...): a constant
absl::Status Full(Importer& im, tj::Node* n, double value, size_t dtype_at) {
  ASSIGN_OR_RETURN(auto size, im.Ints(n, 0));
  ir::DType dt = ir::DType::kF32;
  if (!im.IsNone(n, dtype_at)) {
    ASSIGN_OR_RETURN(int64_t code, im.Int(n, dtype_at));
    ASSIGN_OR_RETURN(dt, DTypeFromCode(code));
  }
  return Out(im, n, Fill(im, size, dt, value));
}

absl::Status FullLike(Importer& im, tj::Node* n, double value, size_t dtype_at) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ir::DType dt = x->type().dtype;
  if (!im.IsNone(n, dtype_at)) {
    ASSIGN_OR_RETURN(int64_t code, im.Int(n, dtype_at));
    ASSIGN_OR_RETURN(dt, DTypeFromCode(code));
  }
  return Out(im, n, Fill(im, x->type().shape.extents(), dt, value));
}

// x.to(dtype) / x.to(device, dtype) / x.to(other): a cast or nothing
absl::Status To(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  std::optional<ir::DType> dt;
  const Val& a1 = im.In(n, 1);
  if (a1.is(K::kTensor)) {
    dt = a1.tensor->type().dtype;
  } else if (a1.is(K::kInt)) {
    ASSIGN_OR_RETURN(dt, DTypeFromCode(a1.i));
  } else if (im.NumIn(n) > 2 && im.In(n, 2).is(K::kInt) && (a1.is(K::kDevice) || a1.is(K::kNone))) {
    ASSIGN_OR_RETURN(dt, DTypeFromCode(im.In(n, 2).i));
  }
  if (!dt || *dt == x->type().dtype) return Out(im, n, x);
  return Out(im, n, im.Op(OpKind::kCast, {x}, {{"to", std::string(ir::DTypeName(*dt))}}));
}

absl::Status Embedding(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * w, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * idx, im.Tensor(n, 1));
  return Out(im, n, im.Op(OpKind::kEmbedding, {w, idx}));
}

// repeat(self, repeats): x tiled; as expand over an interleaved
// [r0, d0, r1, d1, ...] view, then merged to [r0*d0, r1*d1, ...].
absl::Status Repeat(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto reps, im.Ints(n, 1));
  std::vector<int64_t> d = x->type().shape.extents();
  if (reps.size() < d.size())
    return im.Error(n, "repeat needs at least as many repeats as the tensor has dims");
  d.insert(d.begin(), reps.size() - d.size(), 1);
  std::vector<int64_t> split, wide, out;
  for (size_t i = 0; i < d.size(); ++i) {
    if (reps[i] < 0) return im.Error(n, "repeat counts must not be negative");
    split.insert(split.end(), {1, d[i]});
    wide.insert(wide.end(), {reps[i], d[i]});
    out.push_back(reps[i] * d[i]);
  }
  ASSIGN_OR_RETURN(ir::Value * v, ReshapeOp(im, x, split));
  ASSIGN_OR_RETURN(v, im.Op(OpKind::kExpand, {v}, {{"shape", wide}}));
  return Out(im, n, ReshapeOp(im, v, out));
}

// meshgrid(tensors, indexing="ij"|"xy"): each 1-d tensor reshaped onto its
// own dim and expanded to the grid; "xy" swaps the first two dims' roles.
absl::Status Meshgrid(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(auto ts, TensorList(im, n, 0));
  std::string indexing = "ij";
  if (im.NumIn(n) > 1 && im.In(n, 1).is(K::kStr)) indexing = im.In(n, 1).s;
  if (indexing != "ij" && indexing != "xy")
    return im.Error(n, "meshgrid indexing must be 'ij' or 'xy', got '" + indexing + "'");
  const size_t r = ts.size();
  std::vector<int64_t> grid(r);
  std::vector<size_t> dim_of(r);
  for (size_t i = 0; i < r; ++i) {
    if (ts[i]->type().shape.rank() > 1) return im.Error(n, "meshgrid of a tensor of rank > 1");
    dim_of[i] = indexing == "xy" && r >= 2 && i < 2 ? 1 - i : i;
    int64_t len = 1;
    for (int64_t e : ts[i]->type().shape.extents()) len *= e;
    grid[dim_of[i]] = len;
  }
  std::vector<Val> out;
  for (size_t i = 0; i < r; ++i) {
    std::vector<int64_t> shape(r, 1);
    shape[dim_of[i]] = grid[dim_of[i]];
    ASSIGN_OR_RETURN(ir::Value * v, ReshapeOp(im, ts[i], shape));
    ASSIGN_OR_RETURN(v, im.Op(OpKind::kExpand, {v}, {{"shape", grid}}));
    out.push_back(Val::Tensor(v));
  }
  im.Set(n, 0, Val::Seq(K::kList, std::move(out)));
  return absl::OkStatus();
}

// einsum(equation, tensors): contractions as transposes, reshapes, batched
// matmuls and sums. Operands are folded left to right; each pair is put in
// [batch, kept, contracted] order so one matmul does the work. Not
// supported: "...", a label repeated within one operand (diagonals).
namespace einsum {

struct Term {
  ir::Value* v;
  std::string labels;  // one per dim
};

absl::StatusOr<Term> Permute(Importer& im, Term t, const std::string& to) {
  if (t.labels == to) return t;
  std::vector<int64_t> perm;
  for (char c : to) perm.push_back(static_cast<int64_t>(t.labels.find(c)));
  ASSIGN_OR_RETURN(t.v, im.Op(OpKind::kTranspose, {t.v}, {{"perm", perm}}));
  t.labels = to;
  return t;
}

// Sums out the labels of `t` not in `keep`.
absl::StatusOr<Term> SumOut(Importer& im, Term t, const std::string& keep) {
  std::vector<int64_t> axes;
  std::string left;
  for (size_t i = 0; i < t.labels.size(); ++i) {
    if (keep.find(t.labels[i]) == std::string::npos)
      axes.push_back(static_cast<int64_t>(i));
    else
      left += t.labels[i];
  }
  if (axes.empty()) return t;
  ASSIGN_OR_RETURN(t.v, ReduceAxes(im, t.v, OpKind::kReduceSum, axes, false));
  t.labels = left;
  return t;
}

absl::StatusOr<Term> Contract(Importer& im, Term a, Term b, const std::string& keep,
                              std::map<char, int64_t>& size) {
  ASSIGN_OR_RETURN(a, SumOut(im, a, keep + b.labels));
  ASSIGN_OR_RETURN(b, SumOut(im, b, keep + a.labels));
  std::string batch, left, right, inner;
  for (char c : a.labels) {
    const bool in_b = b.labels.find(c) != std::string::npos;
    const bool kept = keep.find(c) != std::string::npos;
    (in_b ? (kept ? batch : inner) : left) += c;
  }
  for (char c : b.labels)
    if (a.labels.find(c) == std::string::npos) right += c;
  auto prod = [&](const std::string& ls) {
    int64_t p = 1;
    for (char c : ls) p *= size[c];
    return p;
  };
  ASSIGN_OR_RETURN(a, Permute(im, a, batch + left + inner));
  ASSIGN_OR_RETURN(b, Permute(im, b, batch + inner + right));
  ASSIGN_OR_RETURN(ir::Value * av, ReshapeOp(im, a.v, {prod(batch), prod(left), prod(inner)}));
  ASSIGN_OR_RETURN(ir::Value * bv, ReshapeOp(im, b.v, {prod(batch), prod(inner), prod(right)}));
  ASSIGN_OR_RETURN(ir::Value * y, im.Op(OpKind::kMatmul, {av, bv}));
  std::vector<int64_t> dims;
  for (char c : batch + left + right) dims.push_back(size[c]);
  ASSIGN_OR_RETURN(y, ReshapeOp(im, y, dims));
  return Term{y, batch + left + right};
}

}  // namespace einsum

absl::Status Einsum(Importer& im, tj::Node* n) {
  if (!im.In(n, 0).is(K::kStr)) return im.Error(n, "einsum needs a constant equation");
  std::string eq;
  for (char c : im.In(n, 0).s)
    if (c != ' ') eq += c;
  ASSIGN_OR_RETURN(auto ts, TensorList(im, n, 1));
  if (eq.find('.') != std::string::npos)
    return im.Error(n, "einsum with '...' is not supported: '" + eq + "'");
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> ins;
  for (size_t at = 0;;) {
    const size_t comma = lhs.find(',', at);
    ins.push_back(lhs.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  if (ins.size() != ts.size())
    return im.Error(n, absl::StrCat("einsum '", eq, "' names ", ins.size(), " operands, ",
                                    ts.size(), " given"));
  std::map<char, int64_t> size;
  std::map<char, int> count;
  for (size_t i = 0; i < ins.size(); ++i) {
    const std::vector<int64_t> d = ts[i]->type().shape.extents();
    if (ins[i].size() != d.size())
      return im.Error(n, absl::StrCat("einsum operand ", i, " has ", d.size(), " dims, '", ins[i],
                                      "' names ", ins[i].size()));
    for (size_t k = 0; k < d.size(); ++k) {
      const char c = ins[i][k];
      if (!std::isalpha(static_cast<unsigned char>(c)))
        return im.Error(n, "einsum: bad label in '" + eq + "'");
      if (ins[i].find(c) != k)
        return im.Error(n,
                        "einsum with a label repeated in one operand (a diagonal) is not "
                        "supported: '" +
                            eq + "'");
      if (size.count(c) && size[c] != d[k])
        return im.Error(n, absl::StrCat("einsum: label '", std::string(1, c), "' is ", size[c],
                                        " and ", d[k], " (broadcasting is not supported)"));
      size[c] = d[k];
      ++count[c];
    }
  }
  std::string out;
  if (arrow != std::string::npos) {
    out = eq.substr(arrow + 2);
  } else {
    for (const auto& [c, k] : count)  // implicit: the labels seen once, alphabetically
      if (k == 1) out += c;
  }
  for (char c : out)
    if (!size.count(c)) return im.Error(n, "einsum output label not in any operand: '" + eq + "'");
  einsum::Term acc{ts[0], ins[0]};
  for (size_t i = 1; i < ts.size(); ++i) {
    std::string keep = out;  // what the output or a later operand needs
    for (size_t j = i + 1; j < ins.size(); ++j) keep += ins[j];
    ASSIGN_OR_RETURN(acc, einsum::Contract(im, acc, einsum::Term{ts[i], ins[i]}, keep, size));
  }
  ASSIGN_OR_RETURN(acc, einsum::SumOut(im, acc, out));
  ASSIGN_OR_RETURN(acc, einsum::Permute(im, acc, out));
  return Out(im, n, acc.v);
}

// cumsum(self, dim, *, dtype=None): integers and bool add up in i64, as
// PyTorch promotes them; a dtype given casts first.
absl::Status Cumsum(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 1));
  ir::DType dt = ir::IsFloat(x->type().dtype) ? x->type().dtype : ir::DType::kI64;
  if (im.NumIn(n) > 2 && !im.IsNone(n, 2)) {
    ASSIGN_OR_RETURN(int64_t code, im.Int(n, 2));
    ASSIGN_OR_RETURN(dt, DTypeFromCode(code));
  }
  if (dt != x->type().dtype) {
    ASSIGN_OR_RETURN(x, im.Op(OpKind::kCast, {x}, {{"to", std::string(ir::DTypeName(dt))}}));
  }
  return Out(im, n, im.Op(OpKind::kCumsum, {x}, {{"axis", dim}}));
}

// gather(self, dim, index, *, sparse_grad=False)
absl::Status Gather(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 1));
  ASSIGN_OR_RETURN(ir::Value * index, im.Tensor(n, 2));
  return Out(im, n, im.Op(OpKind::kGather, {x, index}, {{"axis", dim}}));
}

// sort(self, dim=-1, descending=False), sort.stable(self, *, stable, dim=-1,
// descending=False), argsort (the same, indices only) and topk(self, k,
// dim=-1, largest=True, sorted=True): one `sort` op, stable, with k.
// topk's unsorted form returns the same elements sorted.
absl::Status Sort(Importer& im, tj::Node* n, bool topk, bool indices_only) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  int64_t k = -1, dim = -1;
  bool descending = false;
  if (topk) {
    ASSIGN_OR_RETURN(k, im.Int(n, 1));
    ASSIGN_OR_RETURN(dim, im.Int(n, 2));
    ASSIGN_OR_RETURN(descending, im.Bool(n, 3));
  } else {
    // The stable overloads put `stable` (a bool or None) before dim.
    const size_t at = im.In(n, 1).is(K::kInt) ? 1 : 2;
    ASSIGN_OR_RETURN(dim, im.Int(n, at));
    ASSIGN_OR_RETURN(descending, im.Bool(n, at + 1));
  }
  const int rank = x->type().shape.rank();
  if (rank == 0) {
    return im.Error(n, "sort/topk of a 0-d tensor");
  }
  ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(dim, rank));
  const int64_t len = x->type().shape[static_cast<int>(axis)].extent();
  if (!topk) k = len;
  if (k < 0 || k > len) return im.Error(n, absl::StrCat("topk k = ", k, " outside [0, ", len, "]"));
  ASSIGN_OR_RETURN(
      ir::Operation * op,
      im.b().Create(OpKind::kSort, {x}, {{"axis", axis}, {"k", k}, {"descending", descending}}));
  if (indices_only) return Out(im, n, op->result(1));
  for (int i = 0; i < 2; ++i) im.Set(n, i, Val::Tensor(op->result(i)));
  return absl::OkStatus();
}

// The largest (or smallest) element along `dim` (none: of the flattened
// tensor) and its first index: a sort with k = 1. The smallest of a float
// tensor is the largest of its negation, so that NaN wins both ways as in
// PyTorch (min and argmin propagate NaN too); integers sort ascending.
absl::StatusOr<std::pair<ir::Value*, ir::Value*>> Extreme(Importer& im, ir::Value* x,
                                                          std::optional<int64_t> dim, bool keepdim,
                                                          bool largest) {
  std::vector<int64_t> shape = x->type().shape.extents();
  if (!dim) {
    int64_t total = 1;
    for (int64_t e : shape) total *= e;
    ASSIGN_OR_RETURN(x, ReshapeOp(im, x, {total}));
    shape = {total};
    dim = 0;
    if (keepdim) return absl::InvalidArgumentError("keepdim without dim");
  }
  if (shape.empty()) {
    ASSIGN_OR_RETURN(x, ReshapeOp(im, x, {1}));
    shape = {1};
  }
  ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(*dim, static_cast<int64_t>(shape.size())));
  if (shape[axis] == 0) return absl::InvalidArgumentError("max/min of an empty dimension");
  const bool negate = !largest && ir::IsFloat(x->type().dtype);
  if (negate) {
    ASSIGN_OR_RETURN(x, im.Op(OpKind::kNeg, {x}));
  }
  ASSIGN_OR_RETURN(
      ir::Operation * op,
      im.b().Create(OpKind::kSort, {x},
                    {{"axis", axis}, {"k", int64_t{1}}, {"descending", largest || negate}}));
  ir::Value* values = op->result(0);
  ir::Value* indices = op->result(1);
  if (negate) {
    ASSIGN_OR_RETURN(values, im.Op(OpKind::kNeg, {values}));
  }
  if (!keepdim) {
    shape.erase(shape.begin() + axis);
    ASSIGN_OR_RETURN(values, ReshapeOp(im, values, shape));
    ASSIGN_OR_RETURN(indices, ReshapeOp(im, indices, shape));
  }
  return std::make_pair(values, indices);
}

// max(self), max(self, other), max(self, dim, keepdim=False) -> (values,
// indices); min likewise.
absl::Status MaxMin(Importer& im, tj::Node* n, bool largest) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  if (im.NumIn(n) == 1) {
    ASSIGN_OR_RETURN(auto r, Extreme(im, x, std::nullopt, false, largest));
    return Out(im, n, ReshapeOp(im, r.first, {}));
  }
  if (im.In(n, 1).is(K::kTensor)) {
    ASSIGN_OR_RETURN(ir::Value * y, im.Tensor(n, 1));
    return Out(im, n, im.Op(largest ? OpKind::kMaximum : OpKind::kMinimum, {x, y}));
  }
  ASSIGN_OR_RETURN(int64_t dim, im.Int(n, 1));
  bool keepdim = false;
  if (im.NumIn(n) > 2) {
    ASSIGN_OR_RETURN(keepdim, im.Bool(n, 2));
  }
  auto r = Extreme(im, x, dim, keepdim, largest);
  if (!r.ok()) return im.Error(n, std::string(r.status().message()));
  im.Set(n, 0, Val::Tensor(r->first));
  im.Set(n, 1, Val::Tensor(r->second));
  return absl::OkStatus();
}

// argmax(self, dim=None, keepdim=False); argmin likewise.
absl::Status ArgMaxMin(Importer& im, tj::Node* n, bool largest) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  std::optional<int64_t> dim;
  if (im.NumIn(n) > 1 && !im.IsNone(n, 1)) {
    ASSIGN_OR_RETURN(int64_t d, im.Int(n, 1));
    dim = d;
  }
  bool keepdim = false;
  if (im.NumIn(n) > 2) {
    ASSIGN_OR_RETURN(keepdim, im.Bool(n, 2));
  }
  if (!dim) keepdim = false;  // PyTorch ignores keepdim without a dim here
  auto r = Extreme(im, x, dim, keepdim, largest);
  if (!r.ok()) return im.Error(n, std::string(r.status().message()));
  if (!dim) return Out(im, n, ReshapeOp(im, r->second, {}));
  return Out(im, n, r->second);
}

// lstm(x, [h0, c0], params, has_biases, num_layers, dropout, train,
//      bidirectional, batch_first) -> (y, h_n, c_n)
absl::Status Lstm(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto hx, TensorList(im, n, 1));
  ASSIGN_OR_RETURN(auto params, TensorList(im, n, 2));
  ASSIGN_OR_RETURN(bool has_biases, im.Bool(n, 3));
  ASSIGN_OR_RETURN(int64_t layers, im.Int(n, 4));
  ASSIGN_OR_RETURN(bool train, im.Bool(n, 6));
  ASSIGN_OR_RETURN(bool bidir, im.Bool(n, 7));
  ASSIGN_OR_RETURN(bool batch_first, im.Bool(n, 8));
  if (hx.size() != 2) return im.Error(n, "lstm expects (h0, c0)");
  if (train) return im.Error(n, "lstm in training mode");
  if (params.empty() || params[1]->type().shape.rank() != 2)
    return im.Error(n, "unexpected lstm weights");
  int64_t hidden = params[1]->type().shape[1].extent();
  std::vector<ir::Value*> in{x, hx[0], hx[1]};
  in.insert(in.end(), params.begin(), params.end());
  ASSIGN_OR_RETURN(ir::Operation * op, im.b().Create(OpKind::kLstm, in,
                                                     {{"num_layers", layers},
                                                      {"hidden_size", hidden},
                                                      {"batch_first", batch_first},
                                                      {"bidirectional", bidir},
                                                      {"has_biases", has_biases}}));
  for (int i = 0; i < 3; ++i) im.Set(n, i, Val::Tensor(op->result(i)));
  return absl::OkStatus();
}

// softplus(x, beta, threshold) = log(1 + exp(beta x)) / beta, as the stable
// (relu(z) + log(1 + exp(-|z|))) / beta with z = beta x: ops that fuse into
// one kernel on every backend. PyTorch returns x itself where z > threshold.
// There this form exceeds x by log(1 + exp(-z)) / beta, less than half an f32
// ulp of x when threshold >= 15 (the default is 20), so the select is emitted
// only for smaller thresholds, where the two differ visibly.
absl::StatusOr<ir::Value*> SoftplusOf(Importer& im, tj::Node* n, ir::Value* x, double beta,
                                      double threshold) {
  if (!(beta > 0)) return im.Error(n, "softplus needs beta > 0");
  const ir::DType dt = x->type().dtype;
  ir::Value* z = x;
  if (beta != 1) {
    ASSIGN_OR_RETURN(z, im.Op(OpKind::kMul, {x, im.Scalar(beta, dt)}));
  }
  ASSIGN_OR_RETURN(ir::Value * pos, im.Op(OpKind::kRelu, {z}));
  ASSIGN_OR_RETURN(ir::Value * a, im.Op(OpKind::kAbs, {z}));
  ASSIGN_OR_RETURN(ir::Value * na, im.Op(OpKind::kNeg, {a}));
  ASSIGN_OR_RETURN(ir::Value * e, im.Op(OpKind::kExp, {na}));
  ASSIGN_OR_RETURN(ir::Value * e1, im.Op(OpKind::kAdd, {e, im.Scalar(1, dt)}));
  ASSIGN_OR_RETURN(ir::Value * l, im.Op(OpKind::kLog, {e1}));
  ASSIGN_OR_RETURN(ir::Value * y, im.Op(OpKind::kAdd, {pos, l}));
  if (beta != 1) {
    ASSIGN_OR_RETURN(y, im.Op(OpKind::kDiv, {y, im.Scalar(beta, dt)}));
  }
  if (threshold < 15) {
    ASSIGN_OR_RETURN(ir::Value * above, im.Op(OpKind::kGt, {z, im.Scalar(threshold, dt)}));
    ASSIGN_OR_RETURN(y, im.Op(OpKind::kWhere, {above, x, y}));
  }
  return y;
}

absl::Status Softplus(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(double beta, im.Float(n, 1));
  ASSIGN_OR_RETURN(double threshold, im.Float(n, 2));
  return Out(im, n, SoftplusOf(im, n, x, beta, threshold));
}

// mish(x) = x * tanh(softplus(x)), softplus at PyTorch's beta 1 and
// threshold 20: one fused kernel of existing ops.
absl::Status Mish(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * sp, SoftplusOf(im, n, x, 1, 20));
  ASSIGN_OR_RETURN(ir::Value * t, im.Op(OpKind::kTanh, {sp}));
  return Out(im, n, im.Op(OpKind::kMul, {x, t}));
}

// tril/triu(x, diagonal): where(mask, x, 0) over the last two dims, the mask
// a constant of the static [rows, cols] shape (keep column j of row i when
// j - i <= diagonal for tril, >= diagonal for triu).
template <bool kLower>
absl::Status Triangle(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t diagonal, im.Int(n, 1));
  const ir::Shape& shape = x->type().shape;
  if (shape.rank() < 2) return im.Error(n, "tril/triu need a tensor of at least 2 dims");
  const ir::Dim& row_dim = shape[shape.rank() - 2];
  const ir::Dim& col_dim = shape[shape.rank() - 1];
  if (!row_dim.is_static() || !col_dim.is_static()) {
    return im.Error(n, "tril/triu need static matrix dims");
  }
  const int64_t rows = row_dim.extent(), cols = col_dim.extent();
  std::vector<uint8_t> mask(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j)
      mask[i * cols + j] = kLower ? j - i <= diagonal : j - i >= diagonal;
  }
  ir::Value* m = im.b().Constant(std::make_shared<ir::TensorData>(
      ir::TensorType{ir::DType::kBool, ir::Shape::Of({rows, cols})}, std::move(mask)));
  return Out(im, n, im.Op(OpKind::kWhere, {m, x, im.Scalar(0, x->type().dtype)}));
}

// arange(end) / arange(start, end[, step]) with dtype: a constant, its size
// known at compile time (positions of a sequence of static length).
absl::Status Arange(Importer& im, tj::Node* n) {
  // Schemas: arange(end, dtype, layout, device, pin_memory), arange(start,
  // end, <4>), arange(start, end, step, <4>): 1 to 3 numbers, then the dtype
  // (a ScalarType code or None) and three options.
  if (im.NumIn(n) < 5 || im.NumIn(n) > 7) return im.Error(n, "arange with an unknown schema");
  const size_t count_nums = im.NumIn(n) - 4;
  std::vector<double> nums;
  bool floating = false;
  for (size_t i = 0; i < count_nums; ++i) {
    const Val& v = im.In(n, i);
    if (!v.is_number()) return im.Error(n, "arange needs compile-time bounds");
    floating = floating || v.is(K::kFloat);
    nums.push_back(v.number());
  }
  const size_t i = count_nums;  // the dtype
  if (nums.empty()) return im.Error(n, "arange needs compile-time bounds");
  double start = 0, end = nums[0], step = 1;
  if (nums.size() >= 2) start = nums[0], end = nums[1];
  if (nums.size() == 3) step = nums[2];
  if (step == 0) return im.Error(n, "arange with step 0");
  ir::DType dt = floating ? ir::DType::kF32 : ir::DType::kI64;
  if (i < im.NumIn(n) && im.In(n, i).is(K::kInt)) {
    ASSIGN_OR_RETURN(dt, DTypeFromCode(im.In(n, i).i));
  }
  const double count_d = std::ceil((end - start) / step);
  if (!(count_d >= 0) || count_d > (1 << 28)) return im.Error(n, "arange of an implausible size");
  const int64_t count = static_cast<int64_t>(count_d);
  std::vector<uint8_t> bytes(static_cast<size_t>(count * ir::DTypeSize(dt)));
  for (int64_t k = 0; k < count; ++k) {
    const double v = start + static_cast<double>(k) * step;
    if (dt == ir::DType::kI64) {
      const int64_t x = static_cast<int64_t>(v);
      std::memcpy(&bytes[k * 8], &x, 8);
    } else if (dt == ir::DType::kI32) {
      const int32_t x = static_cast<int32_t>(v);
      std::memcpy(&bytes[k * 4], &x, 4);
    } else if (dt == ir::DType::kF32) {
      const float x = static_cast<float>(v);
      std::memcpy(&bytes[k * 4], &x, 4);
    } else {
      return im.Error(n, absl::StrCat("arange of dtype ", std::string(ir::DTypeName(dt))));
    }
  }
  return Out(im, n,
             im.b().Constant(std::make_shared<ir::TensorData>(
                 ir::TensorType{dt, ir::Shape::Of({count})}, std::move(bytes))));
}

// A tensor as bool: itself when bool, else x != 0 (PyTorch's truthiness).
absl::StatusOr<ir::Value*> AsBool(Importer& im, ir::Value* x) {
  if (x->type().dtype == ir::DType::kBool) return x;
  return im.Op(OpKind::kNe, {x, im.Scalar(0, x->type().dtype)});
}

// x.is_nested: whether x is a nested tensor (see NestedFromMask).
absl::Status IsNested(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  im.Set(n, 0, Val::Bool(im.NestedPadding(x) != nullptr));
  return absl::OkStatus();
}

// logical_not(x) = (x as bool) == false; and/or as selects; xor as !=.
absl::Status LogicalNot(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * b, AsBool(im, x));
  return Out(im, n, im.Op(OpKind::kEq, {b, im.Scalar(0, ir::DType::kBool)}));
}

// The bitwise ops (&, |, ^, ~) on bool tensors are the logical ones; on
// integer tensors they would need integer kernels sinter does not have.
absl::Status RequireBool(Importer& im, tj::Node* n) {
  for (size_t i = 0; i < im.NumIn(n); ++i) {
    const Val& v = im.In(n, i);
    if (v.is(K::kTensor) && v.tensor->type().dtype != ir::DType::kBool)
      return im.Error(n, "bitwise operations on non-bool tensors are not supported");
  }
  return absl::OkStatus();
}

template <int kWhich, bool kBitwise = false>  // 0 and, 1 or, 2 xor
absl::Status Logical(Importer& im, tj::Node* n) {
  if (kBitwise) RETURN_IF_ERROR(RequireBool(im, n));
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * y, im.TensorOrScalar(n, 1, x));
  ASSIGN_OR_RETURN(ir::Value * a, AsBool(im, x));
  ASSIGN_OR_RETURN(ir::Value * b, AsBool(im, y));
  if (kWhich == 2) return Out(im, n, im.Op(OpKind::kNe, {a, b}));
  ir::Value* c = im.Scalar(kWhich == 1 ? 1 : 0, ir::DType::kBool);
  return Out(im, n,
             kWhich == 1 ? im.Op(OpKind::kWhere, {a, c, b}) : im.Op(OpKind::kWhere, {a, b, c}));
}

// norm(x, p, dims, keepdim) = (sum |x|^p)^(1/p); p = 2 as sqrt(sum x*x).
absl::Status Norm(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  double p = 2;
  if (im.NumIn(n) > 1 && !im.IsNone(n, 1)) {
    ASSIGN_OR_RETURN(p, im.Float(n, 1));
  }
  std::vector<int64_t> axes;
  bool keepdim = false;
  if (im.NumIn(n) > 2 && !im.IsNone(n, 2)) {
    ASSIGN_OR_RETURN(axes, im.Ints(n, 2));
    ASSIGN_OR_RETURN(keepdim, im.Bool(n, 3));
  }
  if (im.NumIn(n) > 4 && !im.IsNone(n, 4)) return im.Error(n, "norm with a dtype");
  if (axes.empty()) {
    for (int i = 0; i < x->type().shape.rank(); ++i) axes.push_back(i);
  }
  if (!(p > 0) || std::isinf(p)) return im.Error(n, "norm: only finite p > 0");
  const ir::DType dt = x->type().dtype;
  ir::Value* pw;
  if (p == 2) {
    ASSIGN_OR_RETURN(pw, im.Op(OpKind::kMul, {x, x}));
  } else {
    ASSIGN_OR_RETURN(ir::Value * a, im.Op(OpKind::kAbs, {x}));
    ASSIGN_OR_RETURN(
        pw, p == 1 ? absl::StatusOr<ir::Value*>(a) : im.Op(OpKind::kPow, {a, im.Scalar(p, dt)}));
  }
  ASSIGN_OR_RETURN(ir::Value * s, ReduceAxes(im, pw, OpKind::kReduceSum, axes, keepdim));
  if (p == 1) return Out(im, n, s);
  if (p == 2) return Out(im, n, im.Op(OpKind::kSqrt, {s}));
  return Out(im, n, im.Op(OpKind::kPow, {s, im.Scalar(1 / p, dt)}));
}

// roll(x, shifts, dims): per dim, the last `shift` elements move to the
// front, as two slices concatenated; without dims over the flattened tensor.
absl::Status Roll(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto shifts, im.Ints(n, 1));
  ASSIGN_OR_RETURN(auto dims, im.Ints(n, 2));
  const std::vector<int64_t> shape = x->type().shape.extents();
  ir::Value* y = x;
  if (dims.empty()) {
    if (shifts.size() != 1) return im.Error(n, "roll without dims takes one shift");
    int64_t total = 1;
    for (int64_t e : shape) total *= e;
    ASSIGN_OR_RETURN(y, ReshapeOp(im, x, {total}));
    dims = {0};
  }
  if (shifts.size() != dims.size()) return im.Error(n, "roll: shifts and dims differ in length");
  for (size_t k = 0; k < dims.size(); ++k) {
    ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(dims[k], y->type().shape.rank()));
    const int64_t len = y->type().shape[static_cast<int>(axis)].extent();
    if (len == 0) continue;
    const int64_t s = ((shifts[k] % len) + len) % len;
    if (s == 0) continue;
    ASSIGN_OR_RETURN(ir::Value * tail, SliceOp(im, y, axis, len - s, len, 1));
    ASSIGN_OR_RETURN(ir::Value * head, SliceOp(im, y, axis, 0, len - s, 1));
    ASSIGN_OR_RETURN(y, im.Op(OpKind::kConcat, {tail, head}, {{"axis", axis}}));
  }
  if (y->type().shape.extents() != shape) return Out(im, n, ReshapeOp(im, y, shape));
  return Out(im, n, y);
}

// pad / constant_pad_nd(x, pads[, mode, value]): pads pair up from the last
// dim backwards (left, right). Constant: the value's blocks concatenated
// around x; replicate: the edge slice expanded; reflect: the mirrored slices
// one by one (pads are small). A negative pad crops.
absl::Status Pad(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto pads, im.Ints(n, 1));
  std::string mode = "constant";
  double value = 0;
  const std::string kind = n->kind().toQualString();
  if (kind == "aten::constant_pad_nd") {
    if (im.NumIn(n) > 2 && !im.IsNone(n, 2)) {
      ASSIGN_OR_RETURN(value, im.Float(n, 2));
    }
  } else {
    if (im.NumIn(n) > 2 && im.In(n, 2).is(K::kStr)) mode = im.In(n, 2).s;
    if (im.NumIn(n) > 3 && !im.IsNone(n, 3)) {
      ASSIGN_OR_RETURN(value, im.Float(n, 3));
    }
  }
  if (mode != "constant" && mode != "reflect" && mode != "replicate")
    return im.Error(n, absl::StrCat("pad mode '", mode, "' is not supported"));
  const int rank = x->type().shape.rank();
  if (pads.size() % 2 != 0 || static_cast<int>(pads.size()) / 2 > rank)
    return im.Error(n, "pad: pads must pair up over at most the tensor's dims");
  ir::Value* y = x;
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const int64_t axis = rank - 1 - static_cast<int64_t>(k);
    int64_t left = pads[2 * k], right = pads[2 * k + 1];
    int64_t len = y->type().shape[static_cast<int>(axis)].extent();
    // Crops first.
    if (left < 0 || right < 0) {
      const int64_t b = left < 0 ? -left : 0, e = right < 0 ? len + right : len;
      if (e < b) return im.Error(n, "pad crops more than the tensor holds");
      ASSIGN_OR_RETURN(y, SliceOp(im, y, axis, b, e, 1));
      left = std::max<int64_t>(left, 0);
      right = std::max<int64_t>(right, 0);
      len = e - b;
    }
    if (left == 0 && right == 0) continue;
    if (mode == "reflect" && (left >= len || right >= len))
      return im.Error(n, "reflect padding must be smaller than the dim");
    if (mode != "constant" && len == 0) return im.Error(n, "padding an empty dim");
    std::vector<ir::Value*> parts;
    auto block = [&](int64_t width, bool front) -> absl::Status {
      if (width == 0) return absl::OkStatus();
      std::vector<int64_t> shape = y->type().shape.extents();
      shape[axis] = width;
      if (mode == "constant") {
        parts.push_back(Fill(im, shape, y->type().dtype, value));
      } else if (mode == "replicate") {
        ASSIGN_OR_RETURN(ir::Value * edge,
                         SliceOp(im, y, axis, front ? 0 : len - 1, front ? 1 : len, 1));
        ASSIGN_OR_RETURN(ir::Value * e, im.Op(OpKind::kExpand, {edge}, {{"shape", shape}}));
        parts.push_back(e);
      } else {  // reflect: x[w], ..., x[1] in front; x[len-2], ..., x[len-1-w] behind
        for (int64_t j = 0; j < width; ++j) {
          const int64_t at = front ? width - j : len - 2 - j;
          ASSIGN_OR_RETURN(ir::Value * s, SliceOp(im, y, axis, at, at + 1, 1));
          parts.push_back(s);
        }
      }
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(block(left, true));
    parts.push_back(y);
    RETURN_IF_ERROR(block(right, false));
    ASSIGN_OR_RETURN(y, im.Op(OpKind::kConcat, parts, {{"axis", axis}}));
  }
  return Out(im, n, y);
}

// The values the in-place writers leave in their target (the importer
// rebinds the target, and carries the write through views to their base):
// copy_(self, src) is src cast to self's dtype and broadcast to its shape;
// fill_(self, v) and zero_(self) a constant of self's type.
absl::Status Copy(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * self, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * src, im.TensorOrScalar(n, 1, self));
  const ir::TensorType& t = self->type();
  if (src->type().dtype != t.dtype) {
    ASSIGN_OR_RETURN(src,
                     im.Op(OpKind::kCast, {src}, {{"to", std::string(ir::DTypeName(t.dtype))}}));
  }
  if (src->type().shape != t.shape) {
    ASSIGN_OR_RETURN(src, im.Op(OpKind::kExpand, {src}, {{"shape", t.shape.extents()}}));
  }
  return Out(im, n, src);
}

absl::Status FillValue(Importer& im, tj::Node* n, std::optional<double> value) {
  ASSIGN_OR_RETURN(ir::Value * self, im.Tensor(n, 0));
  if (!value) {
    const Val& v = im.In(n, 1);
    if (v.is(K::kTensor)) return Copy(im, n);
    ASSIGN_OR_RETURN(double x, im.Float(n, 1));
    value = x;
  }
  return Out(im, n, Fill(im, self->type().shape.extents(), self->type().dtype, *value));
}

// new_zeros/new_ones/new_full(self, size[, value], dtype, ...): a constant of
// self's dtype unless one is given.
absl::Status NewFull(Importer& im, tj::Node* n, std::optional<double> value) {
  ASSIGN_OR_RETURN(ir::Value * self, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(auto size, im.Ints(n, 1));
  size_t dtype_at = 2;
  if (!value) {
    ASSIGN_OR_RETURN(double v, im.Float(n, 2));
    value = v;
    dtype_at = 3;
  }
  ir::DType dt = self->type().dtype;
  if (im.NumIn(n) > dtype_at && !im.IsNone(n, dtype_at)) {
    ASSIGN_OR_RETURN(int64_t code, im.Int(n, dtype_at));
    ASSIGN_OR_RETURN(dt, DTypeFromCode(code));
  }
  return Out(im, n, Fill(im, size, dt, *value));
}

// x gathered along `dim` by integer tensor `idx` (in range): the dim moved
// to the front and the rest flattened, so embedding's kernel copies whole
// rows; the index's dims take the gathered dim's place, as in PyTorch.
absl::StatusOr<ir::Value*> GatherAxis(Importer& im, ir::Value* x, int64_t dim, ir::Value* idx) {
  const std::vector<int64_t> shape = x->type().shape.extents();
  const int64_t rank = static_cast<int64_t>(shape.size());
  ir::Value* t = x;
  if (dim != 0) {
    std::vector<int64_t> perm{dim};
    for (int64_t d = 0; d < rank; ++d)
      if (d != dim) perm.push_back(d);
    ASSIGN_OR_RETURN(t, im.Op(OpKind::kTranspose, {x}, {{"perm", perm}}));
  }
  int64_t rest = 1;
  for (int64_t d = 0; d < rank; ++d)
    if (d != dim) rest *= shape[d];
  ASSIGN_OR_RETURN(ir::Value * table, ReshapeOp(im, t, {shape[dim], rest}));
  ASSIGN_OR_RETURN(ir::Value * rows, im.Op(OpKind::kEmbedding, {table, idx}));
  // [idx..., rest] -> [idx..., the other dims] -> the index's dims at `dim`.
  std::vector<int64_t> out = idx->type().shape.extents();
  const int64_t k = static_cast<int64_t>(out.size());
  for (int64_t d = 0; d < rank; ++d)
    if (d != dim) out.push_back(shape[d]);
  ASSIGN_OR_RETURN(ir::Value * y, ReshapeOp(im, rows, out));
  if (dim == 0) return y;
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < dim; ++d) perm.push_back(k + d);
  for (int64_t d = 0; d < k; ++d) perm.push_back(d);
  for (int64_t d = k + dim; d < k + rank - 1; ++d) perm.push_back(d);
  return im.Op(OpKind::kTranspose, {y}, {{"perm", perm}});
}

// x[idx] with one integer index tensor (advanced indexing along one dim,
// the other entries None): a table lookup, the indexed dim moved to the
// front and the rest flattened, so embedding's kernel gathers whole rows
// (an index still out of range after Python's wrap of negative ones gives a
// row of NaN, as embedding documents; LibTorch raises). A bool mask over
// the leading dims selects a number of rows the data decides (MaskIndex).
absl::Status Index(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  const Val& list = im.In(n, 1);
  if (!list.is(K::kList) && !list.is(K::kTuple)) return im.Error(n, "expected a list of indices");
  int64_t dim = -1;
  ir::Value* idx = nullptr;
  for (size_t i = 0; i < list.items->size(); ++i) {
    const Val& v = (*list.items)[i];
    if (v.is(K::kNone)) continue;
    if (!v.is(K::kTensor) || idx != nullptr)
      return im.Error(n, "indexing by more than one tensor is not supported");
    idx = v.tensor;
    dim = static_cast<int64_t>(i);
  }
  if (idx == nullptr) return Out(im, n, x);
  if (idx->type().dtype == ir::DType::kBool || idx->type().dtype == ir::DType::kU8) {
    if (dim != 0) return im.Error(n, "indexing by a mask after other dims is not supported");
    return MaskIndex(im, n, x, idx);
  }
  if (idx->type().dtype != ir::DType::kI64 && idx->type().dtype != ir::DType::kI32) {
    return im.Error(n, "index tensors must be integer");
  }
  if (!x->type().shape.is_static() || !idx->type().shape.is_static())
    return Out(im, n, RunSizedIndex(im, n, x, dim, idx));
  std::vector<int64_t> shape = x->type().shape.extents();
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (dim >= rank) return im.Error(n, "too many indices");
  if (const ir::Operation* def = idx->def(); def != nullptr && def->kind() == OpKind::kConst) {
    // A constant index (a buffer, like Swin's relative position index):
    // wrapped here, as i64.
    const ir::TensorData& d = *def->GetTensor("value");
    const size_t count = static_cast<size_t>(d.type().shape.NumElements().value_or(0));
    std::vector<int64_t> wrapped(count);
    for (size_t i = 0; i < count; ++i) {
      int64_t v = idx->type().dtype == ir::DType::kI64 ? d.data<int64_t>()[i]
                                                       : int64_t{d.data<int32_t>()[i]};
      wrapped[i] = v < 0 ? v + shape[dim] : v;
    }
    std::vector<uint8_t> bytes(count * sizeof(int64_t));
    if (count != 0) std::memcpy(bytes.data(), wrapped.data(), bytes.size());
    idx = im.b().Constant(std::make_shared<ir::TensorData>(
        ir::TensorType{ir::DType::kI64, idx->type().shape}, std::move(bytes)));
  } else if (idx->type().dtype != ir::DType::kI64) {
    return im.Error(n, "an int32 index tensor computed at run time (lookups take int64)");
  } else if (shape[dim] < (int64_t{1} << 24)) {
    // Python's negative indices count from the end: idx < 0 ? idx + size :
    // idx, in f32 (kernel bodies compute in f32 and bool): exact for indices
    // in range, and rounding keeps one out of range out of range while the
    // size is below 2^24. Folded away when the index is a constant.
    auto cast = [&](ir::Value* v, ir::DType to) {
      return im.Op(OpKind::kCast, {v}, {{"to", std::string(ir::DTypeName(to))}});
    };
    const ir::DType it = idx->type().dtype;
    ASSIGN_OR_RETURN(ir::Value * f, cast(idx, ir::DType::kF32));
    ASSIGN_OR_RETURN(ir::Value * neg, im.Op(OpKind::kLt, {f, Fill(im, {}, ir::DType::kF32, 0)}));
    ASSIGN_OR_RETURN(
        ir::Value * wrapped,
        im.Op(OpKind::kAdd, {f, Fill(im, {}, ir::DType::kF32, static_cast<double>(shape[dim]))}));
    ASSIGN_OR_RETURN(ir::Value * w, im.Op(OpKind::kWhere, {neg, wrapped, f}));
    ASSIGN_OR_RETURN(idx, cast(w, it));
  }
  return Out(im, n, GatherAxis(im, x, dim, idx));
}

// Resampling along H and W (the last two dims of NCHW) for upsample_*2d:
// nearest as whole-row gathers (exact: nothing but copies), an integer
// factor as broadcast copies, bilinear as two matmuls with constant
// interpolation matrices, out = Ah · x · Awᵀ. Each matrix row holds the two
// lerp weights PyTorch computes (in float, with its index rules), so the
// result is PyTorch's up to the order of two additions; the matmuls run on
// the GEMM kernels every backend has, and an upsample is a small part of
// any model that has one.
struct Resample {
  bool bilinear = false;
  bool align_corners = false;
  std::vector<int64_t> size;                  // output H, W
  std::vector<std::optional<double>> scales;  // the user's scale factors, if given
};

// PyTorch's area_pixel_compute_scale and nearest-neighbour scale: the
// user's factor when given, the size ratio otherwise.
float SourceScale(int64_t in, int64_t out, bool align_corners, std::optional<double> scale) {
  if (align_corners) return out > 1 ? static_cast<float>(in - 1) / (out - 1) : 0.0f;
  if (scale && *scale > 0) return static_cast<float>(1.0 / *scale);
  return static_cast<float>(in) / out;
}

absl::StatusOr<ir::Value*> ResampleAxis(Importer& im, ir::Value* x, int64_t axis, const Resample& r,
                                        int64_t out, std::optional<double> scale) {
  const std::vector<int64_t> shape = x->type().shape.extents();
  const int64_t in = shape[axis];
  if (out == in && !scale) return x;
  const float s = SourceScale(in, out, r.align_corners, scale);
  if (!r.bilinear) {
    if (out % in == 0 && !scale) {
      // An integer factor k: each element k times, [.., in, 1, ..] broadcast
      // to [.., in, k, ..] and merged.
      std::vector<int64_t> split = shape, wide = shape, merged = shape;
      split.insert(split.begin() + axis + 1, 1);
      wide.insert(wide.begin() + axis + 1, out / in);
      merged[axis] = out;
      ASSIGN_OR_RETURN(ir::Value * y, ReshapeOp(im, x, split));
      ASSIGN_OR_RETURN(y, im.Op(OpKind::kExpand, {y}, {{"shape", wide}}));
      return ReshapeOp(im, y, merged);
    }
    // PyTorch's nearest_idx: min(floor(dst * scale), in - 1), in float.
    std::vector<int64_t> idx(out);
    for (int64_t d = 0; d < out; ++d)
      idx[d] = std::min(static_cast<int64_t>(std::floor(static_cast<float>(d) * s)), in - 1);
    std::vector<uint8_t> bytes(out * sizeof(int64_t));
    std::memcpy(bytes.data(), idx.data(), bytes.size());
    ir::Value* table = im.b().Constant(std::make_shared<ir::TensorData>(
        ir::TensorType{ir::DType::kI64, ir::Shape::Of({out})}, std::move(bytes)));
    return GatherAxis(im, x, axis, table);
  }
  // Bilinear: row d of the [out, in] matrix has weight l0 at i0 and l1 at
  // i1 (PyTorch's compute_source_index_and_lambda).
  std::vector<float> m(out * in, 0.0f);
  for (int64_t d = 0; d < out; ++d) {
    float real = r.align_corners ? s * d : std::max(s * (d + 0.5f) - 0.5f, 0.0f);
    int64_t i0 = std::min(static_cast<int64_t>(real), in - 1);
    int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
    float l1 = std::min(std::max(real - i0, 0.0f), 1.0f);
    m[d * in + i0] += 1.0f - l1;
    m[d * in + i1] += l1;
  }
  const bool last = axis == static_cast<int64_t>(shape.size()) - 1;
  // Along the last dim x · Mᵀ ([.., in] @ [in, out]); along the one before,
  // M · x ([out, in] @ [.., in, w]).
  std::vector<float> data = m;
  ir::Shape mshape = ir::Shape::Of({out, in});
  if (last) {
    for (int64_t d = 0; d < out; ++d)
      for (int64_t i = 0; i < in; ++i) data[i * out + d] = m[d * in + i];
    mshape = ir::Shape::Of({in, out});
  }
  std::vector<uint8_t> bytes(data.size() * sizeof(float));
  std::memcpy(bytes.data(), data.data(), bytes.size());
  ir::Value* w = im.b().Constant(
      std::make_shared<ir::TensorData>(ir::TensorType{ir::DType::kF32, mshape}, std::move(bytes)));
  return last ? im.Op(OpKind::kMatmul, {x, w}) : im.Op(OpKind::kMatmul, {w, x});
}

// upsample_{nearest,bilinear}2d, both overloads: (input, output_size,
// [align_corners,] scales_h, scales_w) and the .vec one (input,
// output_size?, [align_corners,] scale_factors?).
absl::Status Upsample2d(Importer& im, tj::Node* n, bool bilinear) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  if (x->type().shape.rank() != 4) return im.Error(n, "expected a 4-d (NCHW) input");
  if (x->type().dtype != ir::DType::kF32) return im.Error(n, "only f32 is resampled");
  Resample r;
  r.bilinear = bilinear;
  size_t at = 2;
  if (bilinear) {
    ASSIGN_OR_RETURN(r.align_corners, im.Bool(n, 2));
    at = 3;
  }
  const std::vector<int64_t> shape = x->type().shape.extents();
  const bool vec = im.NumIn(n) == at + 1;
  r.scales = {std::nullopt, std::nullopt};
  if (vec) {
    if (!im.IsNone(n, at)) {
      const Val& f = im.In(n, at);
      if (!f.is(K::kList) || f.items->size() != 2 || !(*f.items)[0].is_number() ||
          !(*f.items)[1].is_number())
        return im.Error(n, "expected two scale factors");
      r.scales = {(*f.items)[0].number(), (*f.items)[1].number()};
    }
  } else {
    for (size_t i = 0; i < 2; ++i) {
      if (!im.IsNone(n, at + i)) {
        ASSIGN_OR_RETURN(double f, im.Float(n, at + i));
        r.scales[i] = f;
      }
    }
  }
  if (!im.IsNone(n, 1)) {
    ASSIGN_OR_RETURN(r.size, im.Ints(n, 1));
    if (r.size.size() != 2) return im.Error(n, "expected an output size of two dims");
    if (vec) r.scales = {std::nullopt, std::nullopt};  // size wins; scales are not passed on
  } else {
    if (!r.scales[0]) return im.Error(n, "neither an output size nor scale factors");
    for (size_t i = 0; i < 2; ++i)
      r.size.push_back(static_cast<int64_t>(std::floor(shape[2 + i] * *r.scales[i])));
  }
  if (r.size[0] <= 0 || r.size[1] <= 0) return im.Error(n, "an empty output size");
  ASSIGN_OR_RETURN(ir::Value * y, ResampleAxis(im, x, 3, r, r.size[1], r.scales[1]));
  return Out(im, n, ResampleAxis(im, y, 2, r, r.size[0], r.scales[0]));
}

const std::unordered_map<std::string, Lowering>& Table() {
  static const auto* table = new std::unordered_map<std::string, Lowering>{
      {"aten::relu", &Unary<OpKind::kRelu>},
      {"aten::sigmoid", &Unary<OpKind::kSigmoid>},
      {"aten::tanh", &Unary<OpKind::kTanh>},
      {"aten::exp", &Unary<OpKind::kExp>},
      {"aten::log", &Unary<OpKind::kLog>},
      {"aten::sqrt", &Unary<OpKind::kSqrt>},
      {"aten::rsqrt", &Unary<OpKind::kRsqrt>},
      {"aten::neg", &Unary<OpKind::kNeg>},
      {"aten::abs", &Unary<OpKind::kAbs>},
      {"aten::erf", &Unary<OpKind::kErf>},
      {"aten::reciprocal", &Unary<OpKind::kReciprocal>},
      {"aten::silu", &Unary<OpKind::kSilu>},
      {"aten::hardswish", &Unary<OpKind::kHardswish>},
      {"aten::hardsigmoid", &Unary<OpKind::kHardsigmoid>},
      {"aten::softplus", &Softplus},
      {"aten::mish", &Mish},
      {"aten::arange", &Arange},
      {"aten::logical_not", &LogicalNot},
      {"aten::logical_and", &Logical<0>},
      {"aten::logical_or", &Logical<1>},
      {"aten::logical_xor", &Logical<2>},
      {"aten::__and__", &Logical<0, true>},
      {"aten::bitwise_and", &Logical<0, true>},
      {"aten::__or__", &Logical<1, true>},
      {"aten::bitwise_or", &Logical<1, true>},
      {"aten::__xor__", &Logical<2, true>},
      {"aten::bitwise_xor", &Logical<2, true>},
      {"aten::bitwise_not",
       [](Importer& im, tj::Node* n) -> absl::Status {
         RETURN_IF_ERROR(RequireBool(im, n));
         return LogicalNot(im, n);
       }},
      {"aten::norm", &Norm},
      {"aten::linalg_vector_norm", &Norm},
      {"aten::roll", &Roll},
      {"aten::copy", &Copy},
      {"aten::new_zeros", [](Importer& im, tj::Node* n) { return NewFull(im, n, 0.0); }},
      {"aten::new_ones", [](Importer& im, tj::Node* n) { return NewFull(im, n, 1.0); }},
      {"aten::new_full", [](Importer& im, tj::Node* n) { return NewFull(im, n, std::nullopt); }},
      {"aten::index", &Index},
      {"aten::upsample_nearest2d",
       [](Importer& im, tj::Node* n) { return Upsample2d(im, n, false); }},
      {"aten::upsample_bilinear2d",
       [](Importer& im, tj::Node* n) { return Upsample2d(im, n, true); }},
      {"aten::fill", [](Importer& im, tj::Node* n) { return FillValue(im, n, std::nullopt); }},
      {"aten::zero", [](Importer& im, tj::Node* n) { return FillValue(im, n, 0.0); }},
      {"aten::pad", &Pad},
      {"aten::constant_pad_nd", &Pad},
      // TransformerEncoder checks that the padding mask is left-aligned (the
      // padding at the end of each sequence, as tokenizers pad) before it
      // takes its nested-tensor path, which outputs zeros at the padded
      // positions. The mask is only known at run time: sinter takes the
      // nested path, which computes the same as the standard one at every
      // position that is not padding, and zeros where LibTorch puts them for
      // left-aligned masks (for any other mask LibTorch leaves the values it
      // computed for the padded queries there).
      {"aten::_nested_tensor_from_mask_left_aligned",
       [](Importer& im, tj::Node* n) -> absl::Status {
         im.Set(n, 0, Val::Bool(true));
         return absl::OkStatus();
       }},
      {"aten::_nested_tensor_from_mask", &NestedFromMask},
      {"prim::is_nested", &IsNested},
      {"aten::is_nested", &IsNested},
      {"aten::to_padded_tensor", &ToPaddedTensor},
      {"aten::gelu",
       [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
         std::string approx = im.NumIn(n) > 1 && im.In(n, 1).is(K::kStr) ? im.In(n, 1).s : "none";
         return Out(im, n, im.Op(OpKind::kGelu, {x}, {{"approximate", approx}}));
       }},
      {"aten::leaky_relu",
       [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
         ASSIGN_OR_RETURN(double slope, im.Float(n, 1));
         return Out(im, n, im.Op(OpKind::kLeakyRelu, {x}, {{"slope", slope}}));
       }},
      {"aten::elu",
       [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
         ASSIGN_OR_RETURN(double alpha, im.Float(n, 1));
         ASSIGN_OR_RETURN(double scale, im.Float(n, 2));
         ASSIGN_OR_RETURN(double input_scale, im.Float(n, 3));
         if (scale != 1 || input_scale != 1) return im.Error(n, "elu with scale is not supported");
         return Out(im, n, im.Op(OpKind::kElu, {x}, {{"alpha", alpha}}));
       }},
      {"aten::hardtanh",
       [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(double lo, im.Float(n, 1));
         ASSIGN_OR_RETURN(double hi, im.Float(n, 2));
         return Clamp(im, n, lo, hi);
       }},
      {"aten::relu6", [](Importer& im, tj::Node* n) { return Clamp(im, n, 0.0, 6.0); }},
      {"aten::clamp",
       [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(auto lo, OptFloat(im, n, 1));
         ASSIGN_OR_RETURN(auto hi, OptFloat(im, n, 2));
         return Clamp(im, n, lo, hi);
       }},
      {"aten::clamp_min",
       [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(double lo, im.Float(n, 1));
         return Clamp(im, n, lo, std::nullopt);
       }},
      {"aten::clamp_max",
       [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(double hi, im.Float(n, 1));
         return Clamp(im, n, std::nullopt, hi);
       }},
      {"aten::add", &Binary<OpKind::kAdd>},
      {"aten::sub", &Binary<OpKind::kSub>},
      {"aten::mul", &Binary<OpKind::kMul>},
      {"aten::div", &Binary<OpKind::kDiv>},
      {"aten::pow", &Binary<OpKind::kPow>},
      {"aten::maximum", &Binary<OpKind::kMaximum>},
      {"aten::minimum", &Binary<OpKind::kMinimum>},
      {"aten::rsub", &Rsub},
      {"aten::gt", &Compare<OpKind::kGt>},
      {"aten::ge", &Compare<OpKind::kGe>},
      {"aten::lt", &Compare<OpKind::kLt>},
      {"aten::le", &Compare<OpKind::kLe>},
      {"aten::eq", &Compare<OpKind::kEq>},
      {"aten::ne", &Compare<OpKind::kNe>},
      {"aten::where", &Where},
      {"aten::tril", &Triangle<true>},
      {"aten::triu", &Triangle<false>},
      {"aten::masked_fill", &MaskedFill},
      {"aten::dropout", &Dropout},
      {"aten::feature_dropout", &Dropout},
      {"aten::alpha_dropout", &Dropout},
      {"aten::contiguous", &Identity},
      {"aten::detach", &Identity},
      {"aten::clone", &Identity},
      {"aten::conv2d", [](Importer& im, tj::Node* n) { return Conv(im, n, 3, 6); }},
      {"aten::_convolution",
       [](Importer& im, tj::Node* n) -> absl::
                                         Status {
                                           ASSIGN_OR_RETURN(bool transposed, im.Bool(n, 6));
                                           if (transposed)
                                             return im.Error(
                                                 n, "transposed convolution is not supported");
                                           return Conv(im, n, 3, 8);
                                         }},
      {"aten::batch_norm", &BatchNorm},
      {"aten::layer_norm", &LayerNorm},
      {"aten::group_norm", &GroupNorm},
      {"aten::softmax", [](Importer& im, tj::Node* n) { return Softmax(im, n, OpKind::kSoftmax); }},
      {"aten::log_softmax",
       [](Importer& im, tj::Node* n) { return Softmax(im, n, OpKind::kLogSoftmax); }},
      {"aten::mean",
       [](Importer& im,
          tj::Node* n) { return Reduce(im, n, OpKind::kReduceMean, im.NumIn(n) > 2); }},
      {"aten::sum", [](Importer& im,
                       tj::Node* n) { return Reduce(im, n, OpKind::kReduceSum, im.NumIn(n) > 2); }},
      {"aten::amax",
       [](Importer& im, tj::Node* n) { return Reduce(im, n, OpKind::kReduceMax, true); }},
      {"aten::max_pool2d", &MaxPool},
      {"aten::avg_pool2d", &AvgPool},
      {"aten::adaptive_avg_pool2d", &AdaptivePool<OpKind::kAdaptiveAvgPool2d>},
      {"aten::adaptive_max_pool2d", &AdaptivePool<OpKind::kAdaptiveMaxPool2d>},
      {"aten::linear", &Linear},
      {"aten::matmul", &Matmul},
      {"aten::mm", &Matmul},
      {"aten::bmm", &Matmul},
      {"aten::addmm", &AddMatmul},
      {"aten::baddbmm", &AddMatmul},
      {"aten::reshape", &Reshape},
      {"aten::view", &Reshape},
      {"aten::flatten", &Flatten},
      {"aten::permute", &Permute},
      {"aten::transpose", &Transpose},
      {"aten::t", &Transpose},
      {"aten::unsqueeze", &Unsqueeze},
      {"aten::squeeze", &Squeeze},
      {"aten::cat", &Cat},
      {"aten::concat", &Cat},
      {"aten::stack", &Stack},
      {"aten::slice", &Slice},
      {"aten::narrow", &Narrow},
      {"aten::select", &Select},
      {"aten::chunk", &Chunk},
      {"aten::split", &Split},
      {"aten::split_with_sizes", &Split},
      {"aten::unbind", &Unbind},
      {"aten::expand", &Expand},
      {"aten::expand_as", &ExpandAs},
      {"aten::zeros", [](Importer& im, tj::Node* n) { return Full(im, n, 0.0, 1); }},
      {"aten::ones", [](Importer& im, tj::Node* n) { return Full(im, n, 1.0, 1); }},
      {"aten::full",
       [](Importer& im, tj::Node* n) -> absl::
                                         Status {
                                           ASSIGN_OR_RETURN(double v, im.Float(n, 1));
                                           return Full(im, n, v, 2);
                                         }},
      {"aten::zeros_like", [](Importer& im, tj::Node* n) { return FullLike(im, n, 0.0, 1); }},
      {"aten::ones_like", [](Importer& im, tj::Node* n) { return FullLike(im, n, 1.0, 1); }},
      // full_like(x, value, dtype, ...): torchvision's RoI format fills a
      // column with each image's index.
      {"aten::full_like",
       [](Importer& im, tj::Node* n) -> absl::
                                         Status {
                                           ASSIGN_OR_RETURN(double v, im.Float(n, 1));
                                           return FullLike(im, n, v, 2);
                                         }},
      {"aten::to", &To},
      {"aten::type_as",
       [](Importer& im,
          tj::Node* n) -> absl::
                           Status {
                             ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
                             ASSIGN_OR_RETURN(ir::Value * y, im.Tensor(n, 1));
                             if (x->type().dtype == y->type().dtype) return Out(im, n, x);
                             return Out(
                                 im, n,
                                 im.Op(OpKind::kCast, {x},
                                       {{"to", std::string(ir::DTypeName(y->type().dtype))}}));
                           }},
      {"aten::embedding", &Embedding},
      {"aten::cumsum", &Cumsum},
      {"aten::meshgrid", &Meshgrid},
      {"aten::einsum", &Einsum},
      {"aten::repeat", &Repeat},
      {"aten::gather", &Gather},
      {"aten::sort", [](Importer& im, tj::Node* n) { return Sort(im, n, false, false); }},
      {"aten::argsort", [](Importer& im, tj::Node* n) { return Sort(im, n, false, true); }},
      {"aten::topk", [](Importer& im, tj::Node* n) { return Sort(im, n, true, false); }},
      {"aten::max", [](Importer& im, tj::Node* n) { return MaxMin(im, n, true); }},
      {"aten::min", [](Importer& im, tj::Node* n) { return MaxMin(im, n, false); }},
      {"aten::argmax", [](Importer& im, tj::Node* n) { return ArgMaxMin(im, n, true); }},
      {"aten::argmin", [](Importer& im, tj::Node* n) { return ArgMaxMin(im, n, false); }},
      {"aten::lstm", &Lstm},
      {"aten::gru", &LowerGru},
      {"aten::_transformer_encoder_layer_fwd", &LowerTransformerEncoderLayer},
      {"aten::_native_multi_head_attention", &LowerNativeMultiHeadAttention},
      {"aten::tensor_split", &TensorSplit},
      {"aten::instance_norm", &InstanceNorm},
      {"aten::tensor", &TensorFromData},
      {"aten::grid_sampler", &GridSample},
      {"aten::grid_sampler_2d", &GridSample},
      {"aten::im2col", &Im2col},
  };
  return *table;
}

}  // namespace

const std::unordered_map<std::string, Lowering>& AtenLowerings() {
  // The rows above, and those of the files that lower families of ops.
  static const auto* all = [] {
    auto* t = new std::unordered_map<std::string, Lowering>(Table());
    AddVolumetricLowerings(*t);
    AddRunSizedLowerings(*t);
    AddDetectionLowerings(*t);
    return t;
  }();
  return *all;
}

}  // namespace sinter::frontend
