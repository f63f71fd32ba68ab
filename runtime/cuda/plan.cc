// The CUDA backend's kernel plans (see plan.h): the same checks of
// attributes against recorded shapes as the CPU op table, then the launch
// or library call, with parameter blocks laid out as kernels/cuda/params.h.
#include "runtime/cuda/plan.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "kernels/cuda/params.h"
#include "runtime/dims.h"

namespace sinter::rt::cuda {
namespace {

DataType DataTypeOf(sinter_dtype d) {
  return d == SINTER_F16 ? DataType::kF16 : d == SINTER_BF16 ? DataType::kBF16 : DataType::kF32;
}

const char* Suffix(sinter_dtype d) {
  switch (d) {
    case SINTER_F32:
      return "f32";
    case SINTER_F16:
      return "f16";
    case SINTER_BF16:
      return "bf16";
    case SINTER_I64:
      return "i64";
    case SINTER_I32:
      return "i32";
    default:
      return nullptr;
  }
}

template <typename P>
std::vector<uint8_t> Block(const P& p) {
  std::vector<uint8_t> b(sizeof(P));
  std::memcpy(b.data(), &p, sizeof(P));
  return b;
}

Status CopyParams(const Dims& dims, const Dims& in_strides, const Dims& out_strides,
                  int64_t in_offset, int64_t out_offset, sinter_copy_params* p) {
  if (dims.size() > SINTER_CUDA_MAX_RANK)
    return Status(SINTER_UNIMPLEMENTED, "CUDA copies of rank above 8");
  *p = {};
  p->rank = static_cast<long long>(dims.size());
  p->n = Prod(dims, 0, dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    p->dims[i] = dims[i];
    p->in_strides[i] = in_strides[i];
    p->out_strides[i] = out_strides[i];
  }
  p->in_offset = in_offset;
  p->out_offset = out_offset;
  return Status::Ok();
}

// The generated kernel named by attributes `<prefix>_fn`, `_block`, ...
StatusOr<LaunchPlan> Generated(const Attrs& a, const std::string& prefix) {
  auto fn = a.Str(prefix + "_fn");
  if (!fn.ok()) return fn.status();
  auto block = a.Int(prefix + "_block");
  auto items = a.Int(prefix + "_items");
  auto per_sm = a.IntOr(prefix + "_max_blocks_per_sm", 32);
  if (!block.ok() || !items.ok() || !per_sm.ok())
    return DataLoss(StrCat("kernel attributes ", prefix, "_block/_items are missing"));
  if (block.value() < 32 || block.value() > 1024 || items.value() < 0 || per_sm.value() < 1 ||
      per_sm.value() > 64)
    return DataLoss(StrCat(prefix, ": implausible launch"));
  LaunchPlan l;
  l.fn = fn.value();
  l.block = static_cast<int>(block.value());
  l.items = items.value();
  l.max_blocks_per_sm = static_cast<int>(per_sm.value());
  return l;
}

StatusOr<LaunchPlan> Hand(const std::string& fn, int64_t items, std::vector<uint8_t> params) {
  LaunchPlan l;
  l.fn = fn;
  l.items = items;
  l.params = std::move(params);
  return l;
}

Status Plan(const std::vector<TensorDesc>& T, const std::string& op, const Attrs& a,
            const Step& step, bool allow_tf32, StepPlan* sp) {
  auto in = [&](int i) -> const TensorDesc& { return T[step.inputs[i]]; };
  const TensorDesc& out = T[step.outputs.at(0)];
  const size_t n_in = step.inputs.size();
  auto float_storage = [](sinter_dtype d) {
    return d == SINTER_F32 || d == SINTER_F16 || d == SINTER_BF16;
  };
  if (op == "fused_elementwise" || op == "fused_reduction" || op == "softmax" ||
      op == "log_softmax" || op == "layer_norm") {
    sp->kind = Kind::kGenerated;
    auto l = Generated(a, "cuda");
    if (!l.ok()) return l.status();
    sp->launches.push_back(std::move(l.value()));
    return Status::Ok();
  }
  if (op == "conv2d" || op == "linear") {
    if (!float_storage(out.dtype)) return InvalidArgument("float storage expected");
    for (size_t i = 0; i < std::min<size_t>(n_in, 3); ++i)
      if (in(i).dtype != out.dtype) return InvalidArgument("operands of one dtype expected");
    auto act = a.Str("cuda_fused_activation");
    sp->fused_activation = act.ok() ? act.value() : "-";
    if (a.Has("cuda_epilogue_fn")) {
      auto l = Generated(a, "cuda_epilogue");
      if (!l.ok()) return l.status();
      sp->epilogue = std::move(l.value());
    } else if (n_in >= 3 || a.Has("epilogue")) {
      return DataLoss("a bias or epilogue without its CUDA kernel");
    }
    const Activation activation = sp->fused_activation == "relu"        ? Activation::kRelu
                                  : sp->fused_activation == "gelu_tanh" ? Activation::kGelu
                                                                        : Activation::kNone;
    if (op == "conv2d") {
      sp->kind = Kind::kConv;
      if (in(0).dims.size() != 4 || in(1).dims.size() != 4 || out.dims.size() != 4)
        return InvalidArgument("conv2d tensors must be 4-D");
      auto nhwc = ChannelsLast(a);
      if (!nhwc.ok()) return nhwc.status();
      // cuDNN takes logical NCHW / KCRS dims with the layout as strides.
      const Dims x = LogicalNchw(in(0).dims, nhwc.value()),
                 w = LogicalNchw(in(1).dims, nhwc.value());
      auto stride = IntPair(a, "stride", 1), pad = IntPair(a, "padding", 0),
           dil = IntPair(a, "dilation", 1);
      auto groups = a.Int("groups");
      if (!stride.ok() || !pad.ok() || !dil.ok() || !groups.ok())
        return InvalidArgument("conv2d attributes");
      const int64_t g = groups.value();
      if (g <= 0 || x[1] % g != 0 || w[0] % g != 0 || w[1] * g != x[1])
        return InvalidArgument("conv2d groups disagree with the shapes");
      ConvDesc& c = sp->conv;
      c.n = x[0], c.c = x[1], c.h = x[2], c.w = x[3], c.k = w[0], c.r = w[2], c.s = w[3];
      c.groups = g;
      c.stride_h = stride.value()[0], c.stride_w = stride.value()[1];
      c.pad_h = pad.value()[0], c.pad_w = pad.value()[1];
      c.dilation_h = dil.value()[0], c.dilation_w = dil.value()[1];
      c.p = (c.h + 2 * c.pad_h - c.dilation_h * (c.r - 1) - 1) / c.stride_h + 1;
      c.q = (c.w + 2 * c.pad_w - c.dilation_w * (c.s - 1) - 1) / c.stride_w + 1;
      if (out.dims != StoredDims({c.n, c.k, c.p, c.q}, nhwc.value()))
        return InvalidArgument("conv2d output shape");
      c.layout = nhwc.value() ? Layout::kNHWC : Layout::kNCHW;
      if (n_in >= 3 && in(2).dims != Dims{c.k}) return InvalidArgument("conv2d bias shape");
      c.dtype = DataTypeOf(out.dtype);
      c.allow_tf32 = allow_tf32;
      c.bias = n_in >= 3;
      c.activation = activation;
    } else {
      sp->kind = Kind::kLinear;
      const Dims &x = in(0).dims, &w = in(1).dims;
      if (x.empty() || w.size() != 2 || x.back() != w[1]) return InvalidArgument("linear shapes");
      GemmDesc& gd = sp->gemm;
      gd.m = Prod(x, 0, x.size() - 1), gd.k = w[1], gd.n = w[0];
      gd.b_transposed = true;
      Dims want(x.begin(), x.end() - 1);
      want.push_back(w[0]);
      if (out.dims != want) return InvalidArgument("linear output shape");
      if (n_in >= 3 && in(2).dims != Dims{w[0]}) return InvalidArgument("linear bias shape");
      gd.dtype = DataTypeOf(out.dtype);
      gd.allow_tf32 = allow_tf32;
      gd.bias = n_in >= 3;
      gd.activation = activation;
    }
    return Status::Ok();
  }
  if (op == "matmul") {
    sp->kind = Kind::kMatmul;
    const Dims &x = in(0).dims, &y = in(1).dims;
    if (x.size() < 2 || y.size() < 2 || out.dims.size() < 2 || x.back() != y[y.size() - 2])
      return InvalidArgument("matmul shapes");
    GemmDesc& gd = sp->gemm;
    gd.m = x[x.size() - 2], gd.k = x.back(), gd.n = y.back();
    const Dims batch(out.dims.begin(), out.dims.end() - 2);
    gd.batch = Prod(batch, 0, batch.size());
    auto stride = [&](const Dims& d, int64_t mat) -> StatusOr<int64_t> {
      Dims b(d.begin(), d.end() - 2);
      if (b == batch) return mat;
      if (Prod(b, 0, b.size()) == 1) return int64_t{0};
      return Status(SINTER_UNIMPLEMENTED, "matmul with partly broadcast batch dims");
    };
    auto sa = stride(x, gd.m * gd.k), sb = stride(y, gd.k * gd.n);
    if (!sa.ok()) return sa.status();
    if (!sb.ok()) return sb.status();
    gd.stride_a = sa.value(), gd.stride_b = sb.value(), gd.stride_c = gd.m * gd.n;
    Dims want = batch;
    want.push_back(gd.m), want.push_back(gd.n);
    if (out.dims != want) return InvalidArgument("matmul output shape");
    gd.dtype = DataTypeOf(out.dtype);
    gd.allow_tf32 = allow_tf32;
    return Status::Ok();
  }
  const int64_t elem = static_cast<int64_t>(sinter_dtype_size(out.dtype));
  const std::string copy_fn = StrCat("sinter_copy_", elem);
  if (op == "reshape") {
    if (in(0).byte_size != out.byte_size) return InvalidArgument("reshape changes the size");
    sp->kind = Kind::kReshape;
    return Status::Ok();
  }
  if (op == "transpose" || op == "slice" || op == "expand") {
    if (in(0).dtype != out.dtype) return InvalidArgument("copy changes the dtype");
    const Dims& x = in(0).dims;
    Dims dims, strides;
    int64_t offset = 0;
    const Dims xs = Strides(x);
    if (op == "transpose") {
      auto perm = a.Ints("perm");
      if (!perm.ok() || perm.value().size() != x.size()) return InvalidArgument("transpose perm");
      std::vector<char> seen(x.size(), 0);
      for (int64_t p : perm.value()) {
        if (p < 0 || p >= static_cast<int64_t>(x.size()) || seen[p])
          return InvalidArgument("perm is not a permutation");
        seen[p] = 1;
        dims.push_back(x[p]);
        strides.push_back(xs[p]);
      }
    } else if (op == "slice") {
      auto axis = a.Int("axis"), start = a.Int("start"), end = a.Int("end"), stp = a.Int("step");
      if (!axis.ok() || !start.ok() || !end.ok() || !stp.ok())
        return InvalidArgument("slice attributes");
      int64_t ax = axis.value() < 0 ? axis.value() + static_cast<int64_t>(x.size()) : axis.value();
      if (ax < 0 || ax >= static_cast<int64_t>(x.size()) || stp.value() <= 0 || start.value() < 0 ||
          end.value() < start.value() || end.value() > x[ax])
        return InvalidArgument("slice bounds out of range");
      dims = x, strides = xs;
      dims[ax] =
          end.value() == start.value() ? 0 : (end.value() - start.value() - 1) / stp.value() + 1;
      offset = start.value() * xs[ax];
      if (dims[ax] > 1) strides[ax] *= stp.value();
    } else {
      dims = out.dims;
      if (x.size() > dims.size()) return InvalidArgument("expand to a lower rank");
      const Dims xa = Align(x, dims.size());
      strides = Strides(xa);
      for (size_t i = 0; i < dims.size(); ++i) {
        if (xa[i] == 1)
          strides[i] = 0;
        else if (xa[i] != dims[i])
          return InvalidArgument("cannot expand");
      }
    }
    if (dims != out.dims) return InvalidArgument(StrCat(op, " output shape"));
    sinter_copy_params p;
    RT_RETURN_IF_ERROR(CopyParams(dims, strides, Strides(dims), offset, 0, &p));
    auto l = Hand(copy_fn, p.n, Block(p));
    if (!l.ok()) return l.status();
    sp->kind = Kind::kCopy;
    sp->launches.push_back(std::move(l.value()));
    return Status::Ok();
  }
  if (op == "concat") {
    auto axis = a.Int("axis");
    if (!axis.ok()) return axis.status();
    const Dims& y = out.dims;
    int64_t ax = axis.value() < 0 ? axis.value() + static_cast<int64_t>(y.size()) : axis.value();
    if (ax < 0 || ax >= static_cast<int64_t>(y.size())) return InvalidArgument("concat axis");
    const Dims ys = Strides(y);
    int64_t at = 0;
    for (size_t i = 0; i < n_in; ++i) {
      const Dims& x = in(static_cast<int>(i)).dims;
      if (x.size() != y.size() || in(static_cast<int>(i)).dtype != out.dtype)
        return InvalidArgument("concat inputs differ");
      for (size_t d = 0; d < y.size(); ++d)
        if (static_cast<int64_t>(d) != ax && x[d] != y[d]) return InvalidArgument("concat shapes");
      sinter_copy_params p;
      RT_RETURN_IF_ERROR(CopyParams(x, Strides(x), ys, 0, at * ys[ax], &p));
      auto l = Hand(copy_fn, p.n, Block(p));
      if (!l.ok()) return l.status();
      sp->launches.push_back(std::move(l.value()));
      at += x[ax];
    }
    if (at != y[ax]) return InvalidArgument("concat extents do not add up");
    sp->kind = Kind::kConcat;
    return Status::Ok();
  }
  sp->kind = Kind::kHand;
  const char* sfx = Suffix(out.dtype);
  if (op == "max_pool2d" || op == "avg_pool2d" || op == "adaptive_avg_pool2d" ||
      op == "adaptive_max_pool2d") {
    auto nhwc = ChannelsLast(a);
    if (!nhwc.ok()) return nhwc.status();
    const Dims x = LogicalNchw(in(0).dims, nhwc.value()), y = LogicalNchw(out.dims, nhwc.value());
    if (!float_storage(out.dtype) || in(0).dtype != out.dtype || x.size() != 4 || y.size() != 4 ||
        y[0] != x[0] || y[1] != x[1])
      return InvalidArgument("pool shapes");
    sinter_pool_params p{};
    p.n = x[0], p.c = x[1], p.h = x[2], p.w = x[3], p.p = y[2], p.q = y[3];
    p.nhwc = nhwc.value();
    p.kh = p.kw = p.sh = p.sw = p.dh = p.dw = 1;
    p.mode = op.find("max") != std::string::npos ? 0 : 1;
    if (op.rfind("adaptive", 0) == 0) {
      p.adaptive = 1;
      if (x[2] == 0 || x[3] == 0) return InvalidArgument("adaptive pool of an empty input");
    } else {
      auto k2 = IntPair(a, "kernel", 1), s2 = IntPair(a, "stride", 1),
           pd = IntPair(a, "padding", 0);
      if (!k2.ok() || !s2.ok() || !pd.ok()) return InvalidArgument("pool attributes");
      p.kh = k2.value()[0], p.kw = k2.value()[1], p.sh = s2.value()[0], p.sw = s2.value()[1];
      p.ph = pd.value()[0], p.pw = pd.value()[1];
      if (p.mode == 0) {
        auto d2 = IntPair(a, "dilation", 1);
        if (!d2.ok()) return d2.status();
        p.dh = d2.value()[0], p.dw = d2.value()[1];
      } else {
        auto cip = a.Bool("count_include_pad");
        auto div = a.IntOr("divisor", 0);
        if (!cip.ok() || !div.ok()) return InvalidArgument("avg_pool2d attributes");
        p.count_include_pad = cip.value(), p.divisor = div.value();
      }
      if (2 * p.ph > p.kh || 2 * p.pw > p.kw)
        return InvalidArgument("pool padding above half the window");
    }
    auto l = Hand(StrCat("sinter_pool_", sfx), out.num_elements, Block(p));
    if (!l.ok()) return l.status();
    sp->launches.push_back(std::move(l.value()));
    return Status::Ok();
  }
  if (op == "reduce_sum" || op == "reduce_mean" || op == "reduce_max") {
    const Dims& x = in(0).dims;
    if (!float_storage(out.dtype) || in(0).dtype != out.dtype || x.size() > SINTER_CUDA_MAX_RANK)
      return InvalidArgument("reduce dtype or rank");
    auto axes = a.Ints("axes");
    if (!axes.ok()) return axes.status();
    std::vector<char> red(x.size(), 0);
    for (int64_t ax : axes.value()) {
      int64_t v = ax < 0 ? ax + static_cast<int64_t>(x.size()) : ax;
      if (x.empty()) continue;
      if (v < 0 || v >= static_cast<int64_t>(x.size()) || red[v])
        return InvalidArgument("reduce axes");
      red[v] = 1;
    }
    sinter_reduce_params p{};
    const Dims xs = Strides(x);
    int r = 0;
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < x.size(); ++i) {
        if (red[i] != pass) continue;
        p.dims[r] = x[i], p.strides[r] = xs[i], ++r;
      }
      if (pass == 0) p.kept_rank = r;
    }
    p.rank = r;
    p.n_out = out.num_elements;
    p.reduced = 1;
    for (int i = static_cast<int>(p.kept_rank); i < r; ++i) p.reduced *= p.dims[i];
    if (p.n_out * p.reduced != in(0).num_elements) return InvalidArgument("reduce output shape");
    if (p.reduced == 0 && op == "reduce_max" && p.n_out > 0)
      return InvalidArgument("reduce_max over an empty axis");
    p.mode = op == "reduce_sum" ? 0 : op == "reduce_mean" ? 1 : 2;
    auto l = Hand(StrCat("sinter_reduce_", sfx), p.n_out, Block(p));
    if (!l.ok()) return l.status();
    sp->launches.push_back(std::move(l.value()));
    return Status::Ok();
  }
  if (op == "batch_norm") {
    const Dims& x = in(0).dims;
    if (!float_storage(out.dtype) || x.size() < 2 || out.dims != x)
      return InvalidArgument("batch_norm shapes");
    for (int i = 1; i < 5; ++i)
      if (in(i).dims != Dims{x[1]} || in(i).dtype != out.dtype)
        return InvalidArgument("batch_norm parameters");
    auto eps = a.Float("eps");
    if (!eps.ok()) return eps.status();
    sinter_batch_norm_params p{x[0], x[1], Prod(x, 2, x.size()), eps.value()};
    auto l = Hand(StrCat("sinter_batch_norm_", sfx), out.num_elements, Block(p));
    if (!l.ok()) return l.status();
    sp->launches.push_back(std::move(l.value()));
    return Status::Ok();
  }
  if (op == "embedding") {
    const Dims& w = in(0).dims;
    if (!float_storage(out.dtype) || w.size() != 2 || in(1).dtype != SINTER_I64)
      return InvalidArgument("embedding shapes or dtypes");
    Dims want = in(1).dims;
    want.push_back(w[1]);
    if (out.dims != want) return InvalidArgument("embedding output shape");
    sinter_embedding_params p{in(1).num_elements, w[1], w[0]};
    auto l = Hand(StrCat("sinter_embedding_", sfx), out.num_elements, Block(p));
    if (!l.ok()) return l.status();
    sp->launches.push_back(std::move(l.value()));
    return Status::Ok();
  }
  if (op == "cast") {
    if (in(0).dims != out.dims) return InvalidArgument("cast changes the shape");
    if (in(0).dtype == out.dtype) {
      sp->kind = Kind::kReshape;  // a copy
      return Status::Ok();
    }
    const char* from = Suffix(in(0).dtype);
    if (from == nullptr || sfx == nullptr) return Status(SINTER_UNIMPLEMENTED, "CUDA cast dtypes");
    sinter_cast_params p{out.num_elements};
    auto l = Hand(StrCat("sinter_cast_", from, "_", sfx), out.num_elements, Block(p));
    if (!l.ok()) return l.status();
    sp->launches.push_back(std::move(l.value()));
    return Status::Ok();
  }
  const bool compare =
      op == "gt" || op == "ge" || op == "lt" || op == "le" || op == "eq" || op == "ne";
  if (compare || op == "where") {
    const int first = compare ? 0 : 1;  // the value operands
    const sinter_dtype vt = in(first).dtype;
    if (!float_storage(vt) || in(first + 1).dtype != vt)
      return Status(SINTER_UNIMPLEMENTED, StrCat(op, " of ", sinter_dtype_name(vt), " on CUDA"));
    if (compare ? out.dtype != SINTER_BOOL : (in(0).dtype != SINTER_BOOL || out.dtype != vt))
      return InvalidArgument(StrCat(op, " dtypes"));
    const Dims& y = out.dims;
    if (y.size() > SINTER_CUDA_MAX_RANK) return Status(SINTER_UNIMPLEMENTED, "rank above 8");
    sinter_select_params p{};
    p.n = out.num_elements, p.rank = static_cast<long long>(y.size());
    const char* ops[] = {"gt", "ge", "lt", "le", "eq", "ne"};
    for (int i = 0; i < 6; ++i)
      if (op == ops[i]) p.op = i;
    for (size_t d = 0; d < y.size(); ++d) p.dims[d] = y[d];
    for (size_t j = 0; j < n_in && j < 3; ++j) {
      const Dims& x = in(static_cast<int>(j)).dims;
      if (x.size() > y.size()) return InvalidArgument(StrCat(op, " operand of a higher rank"));
      const Dims xa = Align(x, y.size());
      const Dims xs = Strides(xa);
      for (size_t d = 0; d < y.size(); ++d) {
        if (xa[d] != y[d] && xa[d] != 1)
          return InvalidArgument(StrCat(op, " shapes do not broadcast"));
        p.strides[j][d] = xa[d] == 1 ? 0 : xs[d];
      }
    }
    auto l = Hand(StrCat(compare ? "sinter_compare_" : "sinter_where_", Suffix(vt)), p.n, Block(p));
    if (!l.ok()) return l.status();
    sp->launches.push_back(std::move(l.value()));
    return Status::Ok();
  }
  return Status(SINTER_UNIMPLEMENTED, "the CUDA backend has no such kernel");
}

}  // namespace

StatusOr<StepPlan> PlanStep(const std::vector<TensorDesc>& tensors, const std::string& op,
                            const Attrs& attrs, const Step& step, bool allow_tf32) {
  if (step.outputs.size() != 1) return DataLoss("CUDA kernels have one output");
  for (int t : step.inputs)
    if (t < 0 || static_cast<size_t>(t) >= tensors.size()) return DataLoss("bad tensor index");
  if (step.outputs[0] < 0 || static_cast<size_t>(step.outputs[0]) >= tensors.size())
    return DataLoss("bad tensor index");
  // Operand counts the plans below index without checking.
  size_t need = 1;
  if (op == "conv2d" || op == "linear" || op == "matmul" || op == "embedding" || op == "gt" ||
      op == "ge" || op == "lt" || op == "le" || op == "eq" || op == "ne")
    need = 2;
  if (op == "where") need = 3;
  if (op == "layer_norm") need = 3;
  if (op == "batch_norm") need = 5;
  if (step.inputs.size() < need)
    return DataLoss(StrCat(op, " needs ", need, " inputs, has ", step.inputs.size()));
  StepPlan sp;
  RT_RETURN_IF_ERROR(Plan(tensors, op, attrs, step, allow_tf32, &sp));
  // cuBLASLt and cuDNN take no empty reduction; an empty output needs no call.
  const bool library =
      sp.kind == Kind::kConv || sp.kind == Kind::kLinear || sp.kind == Kind::kMatmul;
  if (library && tensors[step.outputs[0]].num_elements > 0 &&
      tensors[step.inputs[0]].num_elements == 0) {
    return Status(SINTER_UNIMPLEMENTED, StrCat(op, " with an empty reduction on CUDA"));
  }
  return sp;
}

}  // namespace sinter::rt::cuda
