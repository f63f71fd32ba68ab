// Volumetric (video) ops as 2-D ops over frames: conv3d, max/avg_pool3d and
// adaptive_avg/max_pool3d on [N, C, T, H, W] (torchvision's video models).
//
// Why no conv3d kernel of its own: a 3-D convolution is a sum over the
// kernel's kT temporal taps of 2-D convolutions, each over the frames that
// tap reads with the tap's [K, C, kH, kW] slice of the weight. Lowered that
// way, every backend runs it with the convolution kernels it already tunes
// (packed NCHW/NHWC kernels and Winograd on the CPU, cuDNN on CUDA), the sum
// becomes the residual-add epilogue of the next tap's convolution
// (fuse-epilogue), and no new op needs a row, a reference kernel and a
// kernel per target. The cost is a strided copy of the frames per tap and a
// transpose on each side ([N, C, T, H, W] <-> [N, T, C, H, W]), small beside
// the convolutions. Pooling is separable the same way: the 2-D pool over each
// frame, then the temporal window over the pooled frames.
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "frontend/lowering_helpers.h"
#include "ir/status_macros.h"

namespace sinter::frontend {
namespace {

using ir::OpKind;

// Expands a 1- or 3-element int list to 3 (PyTorch's _triple).
absl::StatusOr<std::vector<int64_t>> Triple(Importer& im, tj::Node* n, size_t i) {
  ASSIGN_OR_RETURN(auto v, im.Ints(n, i));
  if (v.size() == 1) v = {v[0], v[0], v[0]};
  if (v.size() != 3) return im.Error(n, absl::StrCat("operand ", i, " needs 1 or 3 values"));
  return v;
}

// A pool's stride (operand 2): empty means the kernel (PyTorch's default).
absl::StatusOr<std::vector<int64_t>> PoolStride3(Importer& im, tj::Node* n,
                                                 const std::vector<int64_t>& kernel) {
  ASSIGN_OR_RETURN(auto s, im.Ints(n, 2));
  if (s.empty()) return kernel;
  if (s.size() == 1) s = {s[0], s[0], s[0]};
  if (s.size() != 3) return im.Error(n, "operand 2 needs 0, 1 or 3 values");
  return s;
}

// `acc` op `v`, or `v` when `acc` is null: the running sum or maximum of a
// temporal window's taps.
absl::StatusOr<ir::Value*> Accumulate(Importer& im, OpKind op, ir::Value* acc, ir::Value* v) {
  if (acc == nullptr) return v;
  return im.Op(op, {acc, v});
}

// The input as [N, C, T, H, W] with static extents.
absl::StatusOr<ir::Value*> Video(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  const ir::Shape& s = x->type().shape;
  if (s.rank() != 5 || !s.is_static()) {
    return im.Error(
        n, absl::StrCat("expects a static [N, C, T, H, W] input, got ", ir::ToString(x->type())));
  }
  return x;
}

// [N, C, T, ...] <-> [N, T, C, ...] (the permutation is its own inverse).
absl::StatusOr<ir::Value*> SwapTimeAndChannels(Importer& im, ir::Value* x) {
  return TransposeOp(im, x, 1, 2);
}

// Pads the time axis (1) of [N, T, C, H, W] with `left` and `right` frames
// of `value`.
absl::StatusOr<ir::Value*> PadFrames(Importer& im, ir::Value* x, int64_t left, int64_t right,
                                     double value) {
  if (left == 0 && right == 0) return x;
  std::vector<ir::Value*> parts;
  auto block = [&](int64_t frames) {
    if (frames == 0) return;
    std::vector<int64_t> shape = x->type().shape.extents();
    shape[1] = frames;
    parts.push_back(Fill(im, shape, x->type().dtype, value));
  };
  block(left);
  parts.push_back(x);
  block(right);
  return im.Op(OpKind::kConcat, parts, {{"axis", int64_t{1}}});
}

// Frames start, start + step, ... (`count` of them) of [N, T, ...].
absl::StatusOr<ir::Value*> Frames(Importer& im, ir::Value* x, int64_t start, int64_t count,
                                  int64_t step) {
  return SliceOp(im, x, 1, start, start + (count - 1) * step + 1, step);
}

// [N, T, ...] <-> [N * T, ...]: frames as images of a batch and back.
absl::StatusOr<ir::Value*> FoldFrames(Importer& im, ir::Value* x) {
  std::vector<int64_t> d = x->type().shape.extents();
  d[1] *= d[0];
  d.erase(d.begin());
  return ReshapeOp(im, x, d);
}
absl::StatusOr<ir::Value*> UnfoldFrames(Importer& im, ir::Value* x, int64_t n) {
  std::vector<int64_t> d = x->type().shape.extents();
  d[0] /= n;
  d.insert(d.begin(), n);
  return ReshapeOp(im, x, d);
}

// PyTorch's pooling output extent along one axis (pooling_output_shape).
int64_t PoolExtent(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
  const int64_t span = in + 2 * p - d * (k - 1) - 1;
  int64_t out = (ceil ? (span + s - 1) / s : span / s) + 1;
  if (ceil && (out - 1) * s >= in + p) --out;
  return out;
}

// Checks one temporal window's parameters as PyTorch does before pooling.
absl::Status CheckTemporal(Importer& im, tj::Node* n, int64_t t, int64_t k, int64_t s, int64_t p,
                           int64_t d) {
  if (k <= 0 || s <= 0 || d <= 0 || p < 0)
    return im.Error(n, "temporal kernel, stride and dilation must be positive, padding >= 0");
  if (p > k / 2) return im.Error(n, "temporal padding must be at most half the kernel");
  if (t + 2 * p < d * (k - 1) + 1)
    return im.Error(n, absl::StrCat("the temporal kernel spans ", d * (k - 1) + 1,
                                    " frames, more than the ", t + 2 * p, " padded frames"));
  return absl::OkStatus();
}

absl::Status Conv3d(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, Video(im, n));
  ASSIGN_OR_RETURN(ir::Value * w, im.Tensor(n, 1));
  ASSIGN_OR_RETURN(ir::Value * b, im.OptTensor(n, 2));
  if (w->type().shape.rank() != 5 || !w->type().shape.is_static())
    return im.Error(n, "conv3d weight must be a static [K, C/groups, kT, kH, kW] tensor");
  ASSIGN_OR_RETURN(auto stride, Triple(im, n, 3));
  if (im.In(n, 4).is(Val::Kind::kStr)) return im.Error(n, "string padding modes are not supported");
  ASSIGN_OR_RETURN(auto pad, Triple(im, n, 4));
  ASSIGN_OR_RETURN(auto dil, Triple(im, n, 5));
  ASSIGN_OR_RETURN(int64_t groups, im.Int(n, 6));
  const std::vector<int64_t> xd = x->type().shape.extents(), wd = w->type().shape.extents();
  const int64_t batch = xd[0], frames = xd[2], taps = wd[2];
  if (stride[0] <= 0 || dil[0] <= 0 || pad[0] < 0)
    return im.Error(n, "temporal stride and dilation must be positive, padding >= 0");
  const int64_t padded = frames + 2 * pad[0], span = dil[0] * (taps - 1) + 1;
  if (padded < span) {
    return im.Error(n, absl::StrCat("the kernel spans ", span, " frames, more than the ", padded,
                                    " padded frames"));
  }
  const int64_t out_frames = (padded - span) / stride[0] + 1;
  ASSIGN_OR_RETURN(ir::Value * xt, SwapTimeAndChannels(im, x));
  ASSIGN_OR_RETURN(xt, PadFrames(im, xt, pad[0], pad[0], 0.0));
  const ir::AttributeMap attrs{{"stride", std::vector<int64_t>{stride[1], stride[2]}},
                               {"padding", std::vector<int64_t>{pad[1], pad[2]}},
                               {"dilation", std::vector<int64_t>{dil[1], dil[2]}},
                               {"groups", groups}};
  ir::Value* sum = nullptr;
  for (int64_t tap = 0; tap < taps; ++tap) {
    ASSIGN_OR_RETURN(ir::Value * f, Frames(im, xt, tap * dil[0], out_frames, stride[0]));
    ASSIGN_OR_RETURN(f, FoldFrames(im, f));
    ASSIGN_OR_RETURN(ir::Value * wk, SelectOp(im, w, 2, tap));
    std::vector<ir::Value*> in{f, wk};
    if (tap == 0 && b != nullptr) in.push_back(b);
    ASSIGN_OR_RETURN(ir::Value * y, im.Op(OpKind::kConv2d, in, attrs));
    ASSIGN_OR_RETURN(sum, Accumulate(im, OpKind::kAdd, sum, y));
  }
  ASSIGN_OR_RETURN(ir::Value * y, UnfoldFrames(im, sum, batch));
  ASSIGN_OR_RETURN(y, SwapTimeAndChannels(im, y));
  im.Set(n, 0, Val::Tensor(y));
  return absl::OkStatus();
}

// The 2-D pool `pool2d` applied to every frame of [N, C, T, H, W], giving
// [N, T, C, H', W'].
template <typename Pool2d>
absl::StatusOr<ir::Value*> PoolFrames(Importer& im, ir::Value* x, Pool2d pool2d) {
  ASSIGN_OR_RETURN(ir::Value * xt, SwapTimeAndChannels(im, x));
  ASSIGN_OR_RETURN(ir::Value * f, FoldFrames(im, xt));
  ASSIGN_OR_RETURN(ir::Value * y, pool2d(f));
  return UnfoldFrames(im, y, x->type().shape[0].extent());
}

absl::Status Finish(Importer& im, tj::Node* n, absl::StatusOr<ir::Value*> frames_first) {
  if (!frames_first.ok()) return frames_first.status();
  ASSIGN_OR_RETURN(ir::Value * y, SwapTimeAndChannels(im, *frames_first));
  im.Set(n, 0, Val::Tensor(y));
  for (size_t i = 1; i < n->outputs().size(); ++i) im.Set(n, i, Val());  // indices: not produced
  return absl::OkStatus();
}

// max_pool3d(x, kernel, stride, padding, dilation, ceil_mode): max is
// separable, so the frame's 2-D max pool, then the elementwise maximum of the
// kT strided frame slices; padding frames are -inf, as PyTorch's padding is.
absl::Status MaxPool3d(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, Video(im, n));
  ASSIGN_OR_RETURN(auto k, Triple(im, n, 1));
  ASSIGN_OR_RETURN(auto s, PoolStride3(im, n, k));
  ASSIGN_OR_RETURN(auto p, Triple(im, n, 3));
  ASSIGN_OR_RETURN(auto d, Triple(im, n, 4));
  ASSIGN_OR_RETURN(bool ceil, im.Bool(n, 5));
  const int64_t frames = x->type().shape[2].extent();
  RETURN_IF_ERROR(CheckTemporal(im, n, frames, k[0], s[0], p[0], d[0]));
  ASSIGN_OR_RETURN(ir::Value * y, PoolFrames(im, x, [&](ir::Value* f) {
                     return im.Op(OpKind::kMaxPool2d, {f},
                                  {{"kernel", std::vector<int64_t>{k[1], k[2]}},
                                   {"stride", std::vector<int64_t>{s[1], s[2]}},
                                   {"padding", std::vector<int64_t>{p[1], p[2]}},
                                   {"dilation", std::vector<int64_t>{d[1], d[2]}},
                                   {"ceil_mode", ceil}});
                   }));
  const int64_t out = PoolExtent(frames, k[0], s[0], p[0], d[0], ceil);
  if (k[0] == 1 && s[0] == 1 && p[0] == 0) return Finish(im, n, y);
  // Enough frames on the right for the last window (ceil mode may reach past
  // the padding; PyTorch ignores what lies beyond the input there).
  const int64_t right =
      std::max<int64_t>(0, (out - 1) * s[0] + d[0] * (k[0] - 1) + 1 - p[0] - frames);
  ASSIGN_OR_RETURN(y, PadFrames(im, y, p[0], right, -std::numeric_limits<double>::infinity()));
  ir::Value* m = nullptr;
  for (int64_t tap = 0; tap < k[0]; ++tap) {
    ASSIGN_OR_RETURN(ir::Value * f, Frames(im, y, tap * d[0], out, s[0]));
    ASSIGN_OR_RETURN(m, Accumulate(im, OpKind::kMaximum, m, f));
  }
  return Finish(im, n, m);
}

// avg_pool3d(x, kernel, stride, padding, ceil_mode, count_include_pad,
// divisor_override): PyTorch divides each window's sum by the product of its
// per-axis lengths (clipped to the padded input, or to the input without
// count_include_pad), so the average is separable too: the frame's 2-D
// average, then the temporal window's sum times a per-output-frame constant.
absl::Status AvgPool3d(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, Video(im, n));
  ASSIGN_OR_RETURN(auto k, Triple(im, n, 1));
  ASSIGN_OR_RETURN(auto s, PoolStride3(im, n, k));
  ASSIGN_OR_RETURN(auto p, Triple(im, n, 3));
  ASSIGN_OR_RETURN(bool ceil, im.Bool(n, 4));
  ASSIGN_OR_RETURN(bool include_pad, im.Bool(n, 5));
  std::optional<int64_t> divisor;
  if (im.NumIn(n) > 6 && !im.IsNone(n, 6)) {
    ASSIGN_OR_RETURN(int64_t dv, im.Int(n, 6));
    if (dv == 0) return im.Error(n, "divisor_override must be non-zero");
    divisor = dv;
  }
  const int64_t frames = x->type().shape[2].extent();
  RETURN_IF_ERROR(CheckTemporal(im, n, frames, k[0], s[0], p[0], 1));
  ir::AttributeMap attrs{{"kernel", std::vector<int64_t>{k[1], k[2]}},
                         {"stride", std::vector<int64_t>{s[1], s[2]}},
                         {"padding", std::vector<int64_t>{p[1], p[2]}},
                         {"ceil_mode", ceil},
                         {"count_include_pad", include_pad}};
  // With an override the frames are summed (divisor 1) and the total divided
  // once at the end.
  if (divisor) attrs["divisor"] = int64_t{1};
  ASSIGN_OR_RETURN(ir::Value * y, PoolFrames(im, x, [&](ir::Value* f) {
                     return im.Op(OpKind::kAvgPool2d, {f}, attrs);
                   }));
  const int64_t out = PoolExtent(frames, k[0], s[0], p[0], 1, ceil);
  if (k[0] == 1 && s[0] == 1 && p[0] == 0 && !divisor) return Finish(im, n, y);
  const int64_t right = std::max<int64_t>(0, (out - 1) * s[0] + k[0] - p[0] - frames);
  ASSIGN_OR_RETURN(y, PadFrames(im, y, p[0], right, 0.0));
  ir::Value* sum = nullptr;
  for (int64_t tap = 0; tap < k[0]; ++tap) {
    ASSIGN_OR_RETURN(ir::Value * f, Frames(im, y, tap, out, s[0]));
    ASSIGN_OR_RETURN(sum, Accumulate(im, OpKind::kAdd, sum, f));
  }
  // 1 / (the window's temporal length) per output frame, as [1, T', 1, 1, 1].
  ir::TensorType type{ir::DType::kF32, ir::Shape::Of({1, out, 1, 1, 1})};
  std::vector<float> inv(static_cast<size_t>(out));
  for (int64_t t = 0; t < out; ++t) {
    int64_t begin = t * s[0] - p[0], end = std::min(begin + k[0], frames + p[0]);
    if (!include_pad) {
      begin = std::max<int64_t>(begin, 0);
      end = std::min(end, frames);
    }
    inv[static_cast<size_t>(t)] =
        divisor ? 1.0f / static_cast<float>(*divisor) : 1.0f / static_cast<float>(end - begin);
  }
  std::vector<uint8_t> bytes(inv.size() * sizeof(float));
  std::memcpy(bytes.data(), inv.data(), bytes.size());
  ir::Value* c = im.b().Constant(std::make_shared<ir::TensorData>(type, std::move(bytes)));
  if (x->type().dtype != ir::DType::kF32) {
    ASSIGN_OR_RETURN(
        c, im.Op(OpKind::kCast, {c}, {{"to", std::string(ir::DTypeName(x->type().dtype))}}));
  }
  return Finish(im, n, im.Op(OpKind::kMul, {sum, c}));
}

// adaptive_{avg,max}_pool3d(x, output_size): per axis, output cell i covers
// [floor(i * in / out), ceil((i + 1) * in / out)); the frame's 2-D adaptive
// pool, then each output frame's reduction over its frames.
template <OpKind Pool2d, OpKind Reduce>
absl::Status AdaptivePool3d(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, Video(im, n));
  ASSIGN_OR_RETURN(auto o, Triple(im, n, 1));
  const int64_t frames = x->type().shape[2].extent();
  if (o[0] <= 0) return im.Error(n, "output size must be positive");
  ASSIGN_OR_RETURN(ir::Value * y, PoolFrames(im, x, [&](ir::Value* f) {
                     return im.Op(Pool2d, {f}, {{"output_size", std::vector<int64_t>{o[1], o[2]}}});
                   }));
  if (o[0] == frames) return Finish(im, n, y);
  std::vector<ir::Value*> parts;
  for (int64_t i = 0; i < o[0]; ++i) {
    const int64_t begin = i * frames / o[0], end = ((i + 1) * frames + o[0] - 1) / o[0];
    ASSIGN_OR_RETURN(ir::Value * f, SliceOp(im, y, 1, begin, end, 1));
    ASSIGN_OR_RETURN(f, im.Op(Reduce, {f}, {{"axes", std::vector<int64_t>{1}}, {"keepdim", true}}));
    parts.push_back(f);
  }
  if (parts.size() == 1) return Finish(im, n, parts[0]);
  return Finish(im, n, im.Op(OpKind::kConcat, parts, {{"axis", int64_t{1}}}));
}

}  // namespace

void AddVolumetricLowerings(std::unordered_map<std::string, Lowering>& table) {
  table.emplace("aten::conv3d", &Conv3d);
  table.emplace("aten::max_pool3d", &MaxPool3d);
  table.emplace("aten::avg_pool3d", &AvgPool3d);
  table.emplace("aten::adaptive_avg_pool3d",
                &AdaptivePool3d<OpKind::kAdaptiveAvgPool2d, OpKind::kReduceMean>);
  table.emplace("aten::adaptive_max_pool3d",
                &AdaptivePool3d<OpKind::kAdaptiveMaxPool2d, OpKind::kReduceMax>);
}

}  // namespace sinter::frontend
