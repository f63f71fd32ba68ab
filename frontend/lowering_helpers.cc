#include "frontend/lowering_helpers.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "ir/shape_rules.h"
#include "ir/status_macros.h"

namespace sinter::frontend {

using ir::OpKind;

ir::Value* Fill(Importer& im, const std::vector<int64_t>& shape, ir::DType dtype, double value) {
  ir::TensorType type{dtype, ir::Shape::Of(shape)};
  int64_t n = type.shape.NumElements().value_or(0);
  std::vector<uint8_t> bytes(n * ir::DTypeSize(dtype));
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case ir::DType::kF32: {
        float v = static_cast<float>(value);
        std::memcpy(&bytes[i * 4], &v, 4);
        break;
      }
      case ir::DType::kI64: {
        int64_t v = static_cast<int64_t>(value);
        std::memcpy(&bytes[i * 8], &v, 8);
        break;
      }
      case ir::DType::kI32: {
        int32_t v = static_cast<int32_t>(value);
        std::memcpy(&bytes[i * 4], &v, 4);
        break;
      }
      case ir::DType::kBool:
      case ir::DType::kU8:
        bytes[i] = value != 0;
        break;
      default:
        break;  // other dtypes: zeros
    }
  }
  return im.b().Constant(std::make_shared<ir::TensorData>(type, std::move(bytes)));
}

absl::StatusOr<ir::DType> DTypeFromCode(int64_t code) {
  switch (code) {
    case 0:
      return ir::DType::kU8;
    case 1:
      return ir::DType::kI8;
    case 3:
      return ir::DType::kI32;
    case 4:
      return ir::DType::kI64;
    case 5:
      return ir::DType::kF16;
    case 6:
      return ir::DType::kF32;
    case 7:
      return ir::DType::kF32;  // float64 runs as float32 (see FromIValue)
    case 11:
      return ir::DType::kBool;
    case 15:
      return ir::DType::kBF16;
  }
  return absl::UnimplementedError(absl::StrCat("PyTorch dtype code ", code));
}

namespace {}  // namespace

int Category(ir::DType d) {
  if (d == ir::DType::kBool) return 0;
  return ir::IsFloat(d) ? 2 : 1;
}

absl::Status Promote(Importer& im, ir::Value** a, ir::Value** b) {
  const ir::DType da = (*a)->type().dtype, db = (*b)->type().dtype;
  if (da == db) return absl::OkStatus();
  const bool sa = (*a)->type().shape.rank() == 0, sb = (*b)->type().shape.rank() == 0;
  const int ca = Category(da), cb = Category(db);
  ir::DType to;
  if (ca != cb) {
    // The higher category; a scalar of it over a tensor takes its default
    // dtype (f32, i64).
    const bool a_high = ca > cb;
    const ir::DType high = a_high ? da : db;
    const bool high_scalar = a_high ? (sa && !sb) : (sb && !sa);
    to = !high_scalar ? high : std::max(ca, cb) == 2 ? ir::DType::kF32 : ir::DType::kI64;
  } else if (sa != sb) {
    to = sa ? db : da;  // the tensor's dtype wins over a scalar's
  } else {
    // The wider; f16 with bf16 (neither holds the other) meet at f32.
    const int64_t za = ir::DTypeSize(da), zb = ir::DTypeSize(db);
    to = za == zb ? (ca == 2 ? ir::DType::kF32 : ir::DType::kI64) : (za > zb ? da : db);
  }
  auto cast = [&](ir::Value** v) -> absl::Status {
    if ((*v)->type().dtype == to) return absl::OkStatus();
    ASSIGN_OR_RETURN(*v, im.Op(ir::OpKind::kCast, {*v}, {{"to", std::string(ir::DTypeName(to))}}));
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(cast(a));
  return cast(b);
}

absl::StatusOr<ir::Value*> ReshapeOp(Importer& im, ir::Value* x,
                                     const std::vector<int64_t>& shape) {
  if (x->type().shape.is_static() && x->type().shape.extents() == shape) return x;
  return im.Op(OpKind::kReshape, {x}, {{"shape", shape}});
}

absl::StatusOr<ir::Value*> TransposeOp(Importer& im, ir::Value* x, int64_t a, int64_t b) {
  int64_t r = x->type().shape.rank();
  ASSIGN_OR_RETURN(a, ir::NormalizeAxis(a, r));
  ASSIGN_OR_RETURN(b, ir::NormalizeAxis(b, r));
  if (a == b) return x;
  std::vector<int64_t> perm(r);
  for (int64_t i = 0; i < r; ++i) perm[i] = i;
  std::swap(perm[a], perm[b]);
  return im.Op(OpKind::kTranspose, {x}, {{"perm", perm}});
}

std::pair<int64_t, int64_t> ClampSlice(int64_t start, int64_t end, int64_t size) {
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, start, size);
  return {start, end};
}

absl::StatusOr<ir::Value*> SliceOp(Importer& im, ir::Value* x, int64_t dim, int64_t start,
                                   int64_t end, int64_t step) {
  ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(dim, x->type().shape.rank()));
  if (step <= 0) return absl::InvalidArgumentError("slice step must be positive");
  if (const ir::Dim& d = x->type().shape[static_cast<int>(axis)]; !d.is_static()) {
    // Along a size the data decides the kernel clamps the bounds to the
    // run's extent (Python's rule for bounds from the start); the result's
    // extent is a new symbol.
    if (start < 0 || end < 0) {
      return absl::UnimplementedError(absl::StrCat(
          "a slice counting from the end of a dim whose size the data decides (", d.symbol(), ")"));
    }
    if (start == 0 && end == INT64_MAX && step == 1) return x;
    return im.Op(OpKind::kSlice, {x},
                 {{"axis", axis},
                  {"start", start},
                  {"end", std::max(start, end)},
                  {"step", step},
                  {"size", im.NewSizeSymbol()}});
  }
  int64_t size = x->type().shape[static_cast<int>(axis)].extent();
  auto [b, e] = ClampSlice(start, end, size);
  if (b == 0 && e == size && step == 1) return x;
  return im.Op(OpKind::kSlice, {x}, {{"axis", axis}, {"start", b}, {"end", e}, {"step", step}});
}

absl::StatusOr<ir::Value*> SelectOp(Importer& im, ir::Value* x, int64_t dim, int64_t index) {
  ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(dim, x->type().shape.rank()));
  auto dims = x->type().shape.extents();
  if (index < 0) index += dims[axis];
  if (index < 0 || index >= dims[axis]) {
    return absl::InvalidArgumentError(
        absl::StrCat("index ", index, " out of range for extent ", dims[axis]));
  }
  ASSIGN_OR_RETURN(ir::Value * s, SliceOp(im, x, axis, index, index + 1, 1));
  dims.erase(dims.begin() + axis);
  return ReshapeOp(im, s, dims);
}

absl::StatusOr<std::vector<ir::Value*>> SplitOp(Importer& im, ir::Value* x, int64_t axis,
                                                int64_t size) {
  if (size <= 0) return absl::InvalidArgumentError("split size must be positive");
  int64_t extent = x->type().shape[static_cast<int>(axis)].extent();
  std::vector<ir::Value*> parts;
  for (int64_t at = 0; at < extent; at += size) {
    ASSIGN_OR_RETURN(ir::Value * p, SliceOp(im, x, axis, at, std::min(extent, at + size), 1));
    parts.push_back(p);
  }
  return parts;
}

absl::StatusOr<ir::Value*> ReduceAxes(Importer& im, ir::Value* x, ir::OpKind kind,
                                      std::vector<int64_t> axes, bool keepdim) {
  int64_t r = x->type().shape.rank();
  for (int64_t& a : axes) {
    ASSIGN_OR_RETURN(a, ir::NormalizeAxis(a, r));
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  bool contiguous =
      axes.empty() || axes.back() - axes.front() + 1 == static_cast<int64_t>(axes.size());
  if (contiguous) return im.Op(kind, {x}, {{"axes", axes}, {"keepdim", keepdim}});
  // Sum, mean (equal-size groups) and max are separable: one axis at a time.
  ir::Value* y = x;
  for (int64_t a : axes) {
    ASSIGN_OR_RETURN(y, im.Op(kind, {y}, {{"axes", std::vector<int64_t>{a}}, {"keepdim", true}}));
  }
  if (keepdim) return y;
  std::vector<int64_t> dims;
  auto ext = x->type().shape.extents();
  for (int64_t i = 0; i < r; ++i) {
    if (!std::binary_search(axes.begin(), axes.end(), i)) dims.push_back(ext[i]);
  }
  return ReshapeOp(im, y, dims);
}

absl::StatusOr<ir::Value*> LayerNormOp(Importer& im, ir::Value* x, int64_t normalized_rank,
                                       ir::Value* w, ir::Value* b, double eps) {
  auto dims = x->type().shape.extents();
  int64_t r = static_cast<int64_t>(dims.size());
  if (normalized_rank < 1 || normalized_rank > r)
    return absl::InvalidArgumentError("bad normalized_shape");
  std::vector<int64_t> tail(dims.end() - normalized_rank, dims.end());
  if (w == nullptr) w = Fill(im, tail, x->type().dtype, 1.0);
  if (b == nullptr) b = Fill(im, tail, x->type().dtype, 0.0);
  return im.Op(OpKind::kLayerNorm, {x, w, b}, {{"axis", r - normalized_rank}, {"eps", eps}});
}

}  // namespace sinter::frontend
