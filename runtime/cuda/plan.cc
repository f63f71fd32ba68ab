// The CUDA backend's kernel plans (see plan.h): the same checks of
// attributes against recorded shapes as the CPU op table, then the launch
// or library call, with parameter blocks laid out as kernels/cuda/params.h.
#include "runtime/cuda/plan.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "kernels/cuda/params.h"
#include "runtime/dims.h"
#include "runtime/format/op_schema.h"

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

// The generated kernel of the step's code for `role` (a function of the
// artifact's CUDA module, with its launch).
StatusOr<LaunchPlan> Generated(const Step& step, CodeRole role) {
  const CodeUse* c = step.Code(role);
  const char* what = role == CodeRole::kEpilogue ? "epilogue" : "kernel";
  if (c == nullptr) return DataLoss(StrCat("the ", what, " has no CUDA function"));
  if (c->block < 32 || c->block > 1024 || c->items < 0 || c->max_blocks_per_sm < 1 ||
      c->max_blocks_per_sm > 64)
    return DataLoss(StrCat("the ", what, " function '", c->symbol, "' has an implausible launch"));
  LaunchPlan l;
  l.fn = c->symbol;
  l.block = c->block;
  l.items = c->items;
  l.max_blocks_per_sm = c->max_blocks_per_sm;
  return l;
}

// What a library call may fuse instead of the generated epilogue: an
// epilogue that applies just relu or tanh-GELU to argument 0, through casts
// only (cuDNN and cuBLASLt have both, and compute them in f32); "-" for any
// other epilogue, "" for none.
std::string FusableActivation(const Step& step) {
  const format::KernelBody* b = step.Body(CodeRole::kEpilogue);
  if (b == nullptr) return "";
  const int32_t n = static_cast<int32_t>(b->args.size());
  auto through_casts = [&](int32_t v) {
    while (v >= n && b->instrs[v - n].op == format::BodyOp::kCast) v = b->instrs[v - n].a;
    return v;
  };
  const int32_t v = through_casts(b->result);
  if (v < n || b->instrs.size() > 3) return "-";
  const format::BodyInstr& in = b->instrs[v - n];
  if (through_casts(in.a) != 0) return "-";
  if (in.op == format::BodyOp::kRelu) return "relu";
  if (in.op == format::BodyOp::kGeluTanh) return "gelu_tanh";
  return "-";
}

// One kernel being planned: its tensors, attributes and code.
struct PlanContext {
  const std::vector<TensorDesc>& T;
  std::string_view op;
  const Attrs& a;
  const Step& step;
  bool allow_tf32;
  int variant;  // the table row's: which op of a family

  const TensorDesc& in(int i) const { return T[step.inputs[i]]; }
  const TensorDesc& out() const { return T[step.outputs[0]]; }
  size_t n_in() const { return step.inputs.size(); }
};

bool FloatStorage(sinter_dtype d) { return d == SINTER_F32 || d == SINTER_F16 || d == SINTER_BF16; }

std::string CopyFn(const PlanContext& c) {
  return StrCat("sinter_copy_", static_cast<int64_t>(sinter_dtype_size(c.out().dtype)));
}

StatusOr<LaunchPlan> Hand(const std::string& fn, int64_t items, std::vector<uint8_t> params) {
  LaunchPlan l;
  l.fn = fn;
  l.items = items;
  l.params = std::move(params);
  return l;
}

// ---- Generated kernels: kernel bodies and row reductions --------------------

Status PlanGenerated(const PlanContext& c, StepPlan* sp) {
  sp->kind = Kind::kGenerated;
  RT_ASSIGN_OR_RETURN(LaunchPlan l, Generated(c.step, CodeRole::kMain));
  sp->launches.push_back(std::move(l));
  return Status::Ok();
}

// ---- Library calls: cuDNN convolution, cuBLASLt GEMM ------------------------

// Bias and epilogue of conv2d / linear: fused into the library call when it
// can, otherwise the generated epilogue kernel.
Status PlanEpilogue(const PlanContext& c, StepPlan* sp, Activation* activation) {
  const TensorDesc& out = c.out();
  if (!FloatStorage(out.dtype)) return InvalidArgument("float storage expected");
  for (size_t i = 0; i < std::min<size_t>(c.n_in(), 3); ++i)
    if (c.in(static_cast<int>(i)).dtype != out.dtype)
      return InvalidArgument("operands of one dtype expected");
  sp->fused_activation = FusableActivation(c.step);
  if (c.step.Code(CodeRole::kEpilogue) != nullptr) {
    RT_ASSIGN_OR_RETURN(sp->epilogue, Generated(c.step, CodeRole::kEpilogue));
  } else if (c.n_in() >= 3 || c.step.Body(CodeRole::kEpilogue) != nullptr) {
    return DataLoss("a bias or epilogue without its CUDA kernel");
  }
  *activation = sp->fused_activation == "relu"        ? Activation::kRelu
                : sp->fused_activation == "gelu_tanh" ? Activation::kGelu
                                                      : Activation::kNone;
  return Status::Ok();
}

Status PlanConv(const PlanContext& c, StepPlan* sp) {
  Activation activation;
  RT_RETURN_IF_ERROR(PlanEpilogue(c, sp, &activation));
  sp->kind = Kind::kConv;
  const TensorDesc& out = c.out();
  if (c.in(0).dims.size() != 4 || c.in(1).dims.size() != 4 || out.dims.size() != 4)
    return InvalidArgument("conv2d tensors must be 4-D");
  RT_ASSIGN_OR_RETURN(bool nhwc, ChannelsLast(c.a));
  // cuDNN takes logical NCHW / KCRS dims with the layout as strides.
  const Dims x = LogicalNchw(c.in(0).dims, nhwc), w = LogicalNchw(c.in(1).dims, nhwc);
  RT_ASSIGN_OR_RETURN(auto stride, IntPair(c.a, "stride", 1));
  RT_ASSIGN_OR_RETURN(auto pad, IntPair(c.a, "padding", 0));
  RT_ASSIGN_OR_RETURN(auto dil, IntPair(c.a, "dilation", 1));
  RT_ASSIGN_OR_RETURN(int64_t g, c.a.Int("groups"));
  if (g <= 0 || x[1] % g != 0 || w[0] % g != 0 || w[1] * g != x[1])
    return InvalidArgument("conv2d groups disagree with the shapes");
  ConvDesc& d = sp->conv;
  d.n = x[0], d.c = x[1], d.h = x[2], d.w = x[3], d.k = w[0], d.r = w[2], d.s = w[3];
  d.groups = g;
  d.stride_h = stride[0], d.stride_w = stride[1];
  d.pad_h = pad[0], d.pad_w = pad[1];
  d.dilation_h = dil[0], d.dilation_w = dil[1];
  d.p = (d.h + 2 * d.pad_h - d.dilation_h * (d.r - 1) - 1) / d.stride_h + 1;
  d.q = (d.w + 2 * d.pad_w - d.dilation_w * (d.s - 1) - 1) / d.stride_w + 1;
  if (out.dims != StoredDims({d.n, d.k, d.p, d.q}, nhwc))
    return InvalidArgument("conv2d output shape");
  d.layout = nhwc ? Layout::kNHWC : Layout::kNCHW;
  if (c.n_in() >= 3 && c.in(2).dims != Dims{d.k}) return InvalidArgument("conv2d bias shape");
  d.dtype = DataTypeOf(out.dtype);
  d.allow_tf32 = c.allow_tf32;
  d.bias = c.n_in() >= 3;
  d.activation = activation;
  return Status::Ok();
}

Status PlanLinear(const PlanContext& c, StepPlan* sp) {
  Activation activation;
  RT_RETURN_IF_ERROR(PlanEpilogue(c, sp, &activation));
  sp->kind = Kind::kLinear;
  const Dims &x = c.in(0).dims, &w = c.in(1).dims;
  if (x.empty() || w.size() != 2 || x.back() != w[1]) return InvalidArgument("linear shapes");
  GemmDesc& gd = sp->gemm;
  gd.m = Prod(x, 0, x.size() - 1), gd.k = w[1], gd.n = w[0];
  gd.b_transposed = true;
  Dims want(x.begin(), x.end() - 1);
  want.push_back(w[0]);
  if (c.out().dims != want) return InvalidArgument("linear output shape");
  if (c.n_in() >= 3 && c.in(2).dims != Dims{w[0]}) return InvalidArgument("linear bias shape");
  gd.dtype = DataTypeOf(c.out().dtype);
  gd.allow_tf32 = c.allow_tf32;
  gd.bias = c.n_in() >= 3;
  gd.activation = activation;
  return Status::Ok();
}

Status PlanMatmul(const PlanContext& c, StepPlan* sp) {
  sp->kind = Kind::kMatmul;
  const Dims &x = c.in(0).dims, &y = c.in(1).dims, &o = c.out().dims;
  if (x.size() < 2 || y.size() < 2 || o.size() < 2 || x.back() != y[y.size() - 2])
    return InvalidArgument("matmul shapes");
  GemmDesc& gd = sp->gemm;
  gd.m = x[x.size() - 2], gd.k = x.back(), gd.n = y.back();
  const Dims batch(o.begin(), o.end() - 2);
  gd.batch = Prod(batch, 0, batch.size());
  auto stride = [&](const Dims& d, int64_t mat) -> StatusOr<int64_t> {
    Dims b(d.begin(), d.end() - 2);
    if (b == batch) return mat;
    if (Prod(b, 0, b.size()) == 1) return int64_t{0};
    return Status(SINTER_UNIMPLEMENTED, "matmul with partly broadcast batch dims");
  };
  RT_ASSIGN_OR_RETURN(gd.stride_a, stride(x, gd.m * gd.k));
  RT_ASSIGN_OR_RETURN(gd.stride_b, stride(y, gd.k * gd.n));
  gd.stride_c = gd.m * gd.n;
  Dims want = batch;
  want.push_back(gd.m), want.push_back(gd.n);
  if (o != want) return InvalidArgument("matmul output shape");
  gd.dtype = DataTypeOf(c.out().dtype);
  gd.allow_tf32 = c.allow_tf32;
  return Status::Ok();
}

// ---- Data movement -----------------------------------------------------------

Status PlanReshape(const PlanContext& c, StepPlan* sp) {
  if (c.in(0).byte_size != c.out().byte_size) return InvalidArgument("reshape changes the size");
  sp->kind = Kind::kReshape;
  return Status::Ok();
}

// One strided copy of the input (dims, strides, offset) into the dense output.
Status PlanStridedCopy(const PlanContext& c, const Dims& dims, const Dims& strides, int64_t offset,
                       StepPlan* sp) {
  if (c.in(0).dtype != c.out().dtype) return InvalidArgument("copy changes the dtype");
  if (dims != c.out().dims) return InvalidArgument(StrCat(c.op, " output shape"));
  sinter_copy_params p;
  RT_RETURN_IF_ERROR(CopyParams(dims, strides, Strides(dims), offset, 0, &p));
  RT_ASSIGN_OR_RETURN(LaunchPlan l, Hand(CopyFn(c), p.n, Block(p)));
  sp->kind = Kind::kCopy;
  sp->launches.push_back(std::move(l));
  return Status::Ok();
}

Status PlanTranspose(const PlanContext& c, StepPlan* sp) {
  const Dims& x = c.in(0).dims;
  const Dims xs = Strides(x);
  RT_ASSIGN_OR_RETURN(Dims perm, c.a.Ints("perm"));
  if (perm.size() != x.size()) return InvalidArgument("transpose perm");
  Dims dims, strides;
  std::vector<char> seen(x.size(), 0);
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(x.size()) || seen[p])
      return InvalidArgument("perm is not a permutation");
    seen[p] = 1;
    dims.push_back(x[p]);
    strides.push_back(xs[p]);
  }
  return PlanStridedCopy(c, dims, strides, 0, sp);
}

Status PlanSlice(const PlanContext& c, StepPlan* sp) {
  const Dims& x = c.in(0).dims;
  RT_ASSIGN_OR_RETURN(int64_t axis, c.a.Int("axis"));
  RT_ASSIGN_OR_RETURN(int64_t start, c.a.Int("start"));
  RT_ASSIGN_OR_RETURN(int64_t end, c.a.Int("end"));
  RT_ASSIGN_OR_RETURN(int64_t step, c.a.Int("step"));
  const int64_t ax = axis < 0 ? axis + static_cast<int64_t>(x.size()) : axis;
  if (ax < 0 || ax >= static_cast<int64_t>(x.size()) || step <= 0 || start < 0 || end < start ||
      end > x[ax])
    return InvalidArgument("slice bounds out of range");
  Dims dims = x, strides = Strides(x);
  dims[ax] = end == start ? 0 : (end - start - 1) / step + 1;
  const int64_t offset = start * strides[ax];
  if (dims[ax] > 1) strides[ax] *= step;
  return PlanStridedCopy(c, dims, strides, offset, sp);
}

Status PlanExpand(const PlanContext& c, StepPlan* sp) {
  const Dims& x = c.in(0).dims;
  const Dims& dims = c.out().dims;
  if (x.size() > dims.size()) return InvalidArgument("expand to a lower rank");
  const Dims xa = Align(x, dims.size());
  Dims strides = Strides(xa);
  for (size_t i = 0; i < dims.size(); ++i) {
    if (xa[i] == 1)
      strides[i] = 0;
    else if (xa[i] != dims[i])
      return InvalidArgument("cannot expand");
  }
  return PlanStridedCopy(c, dims, strides, 0, sp);
}

Status PlanConcat(const PlanContext& c, StepPlan* sp) {
  RT_ASSIGN_OR_RETURN(int64_t axis, c.a.Int("axis"));
  const Dims& y = c.out().dims;
  const int64_t ax = axis < 0 ? axis + static_cast<int64_t>(y.size()) : axis;
  if (ax < 0 || ax >= static_cast<int64_t>(y.size())) return InvalidArgument("concat axis");
  const Dims ys = Strides(y);
  int64_t at = 0;
  for (size_t i = 0; i < c.n_in(); ++i) {
    const TensorDesc& t = c.in(static_cast<int>(i));
    const Dims& x = t.dims;
    if (x.size() != y.size() || t.dtype != c.out().dtype)
      return InvalidArgument("concat inputs differ");
    for (size_t d = 0; d < y.size(); ++d)
      if (static_cast<int64_t>(d) != ax && x[d] != y[d]) return InvalidArgument("concat shapes");
    sinter_copy_params p;
    RT_RETURN_IF_ERROR(CopyParams(x, Strides(x), ys, 0, at * ys[ax], &p));
    RT_ASSIGN_OR_RETURN(LaunchPlan l, Hand(CopyFn(c), p.n, Block(p)));
    sp->launches.push_back(std::move(l));
    at += x[ax];
  }
  if (at != y[ax]) return InvalidArgument("concat extents do not add up");
  sp->kind = Kind::kConcat;
  return Status::Ok();
}

// ---- Hand-written kernels (kernels/cuda) -------------------------------------

// variant: bit 0 average (else max), bit 1 adaptive.
Status PlanPool(const PlanContext& c, StepPlan* sp) {
  sp->kind = Kind::kHand;
  const TensorDesc& out = c.out();
  RT_ASSIGN_OR_RETURN(bool nhwc, ChannelsLast(c.a));
  const Dims x = LogicalNchw(c.in(0).dims, nhwc), y = LogicalNchw(out.dims, nhwc);
  if (!FloatStorage(out.dtype) || c.in(0).dtype != out.dtype || x.size() != 4 || y.size() != 4 ||
      y[0] != x[0] || y[1] != x[1])
    return InvalidArgument("pool shapes");
  sinter_pool_params p{};
  p.n = x[0], p.c = x[1], p.h = x[2], p.w = x[3], p.p = y[2], p.q = y[3];
  p.nhwc = nhwc;
  p.kh = p.kw = p.sh = p.sw = p.dh = p.dw = 1;
  p.mode = c.variant & 1;
  if (c.variant & 2) {
    p.adaptive = 1;
    if (x[2] == 0 || x[3] == 0) return InvalidArgument("adaptive pool of an empty input");
  } else {
    RT_ASSIGN_OR_RETURN(auto k2, IntPair(c.a, "kernel", 1));
    RT_ASSIGN_OR_RETURN(auto s2, IntPair(c.a, "stride", 1));
    RT_ASSIGN_OR_RETURN(auto pd, IntPair(c.a, "padding", 0));
    p.kh = k2[0], p.kw = k2[1], p.sh = s2[0], p.sw = s2[1];
    p.ph = pd[0], p.pw = pd[1];
    if (p.mode == 0) {
      RT_ASSIGN_OR_RETURN(auto d2, IntPair(c.a, "dilation", 1));
      p.dh = d2[0], p.dw = d2[1];
    } else {
      RT_ASSIGN_OR_RETURN(bool cip, c.a.Bool("count_include_pad"));
      RT_ASSIGN_OR_RETURN(int64_t div, c.a.IntOr("divisor", 0));
      p.count_include_pad = cip, p.divisor = div;
    }
    if (2 * p.ph > p.kh || 2 * p.pw > p.kw)
      return InvalidArgument("pool padding above half the window");
  }
  RT_ASSIGN_OR_RETURN(LaunchPlan l,
                      Hand(StrCat("sinter_pool_", Suffix(out.dtype)), out.num_elements, Block(p)));
  sp->launches.push_back(std::move(l));
  return Status::Ok();
}

// variant: the reduce mode of sinter_reduce_params (0 sum, 1 mean, 2 max).
Status PlanReduce(const PlanContext& c, StepPlan* sp) {
  sp->kind = Kind::kHand;
  const TensorDesc& out = c.out();
  const Dims& x = c.in(0).dims;
  if (!FloatStorage(out.dtype) || c.in(0).dtype != out.dtype || x.size() > SINTER_CUDA_MAX_RANK)
    return InvalidArgument("reduce dtype or rank");
  RT_ASSIGN_OR_RETURN(Dims axes, c.a.Ints("axes"));
  std::vector<char> red(x.size(), 0);
  for (int64_t ax : axes) {
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
  if (p.n_out * p.reduced != c.in(0).num_elements) return InvalidArgument("reduce output shape");
  p.mode = c.variant;
  if (p.reduced == 0 && p.mode == 2 && p.n_out > 0)
    return InvalidArgument("reduce_max over an empty axis");
  RT_ASSIGN_OR_RETURN(LaunchPlan l,
                      Hand(StrCat("sinter_reduce_", Suffix(out.dtype)), p.n_out, Block(p)));
  sp->launches.push_back(std::move(l));
  return Status::Ok();
}

Status PlanBatchNorm(const PlanContext& c, StepPlan* sp) {
  sp->kind = Kind::kHand;
  const TensorDesc& out = c.out();
  const Dims& x = c.in(0).dims;
  if (!FloatStorage(out.dtype) || x.size() < 2 || out.dims != x)
    return InvalidArgument("batch_norm shapes");
  for (int i = 1; i < 5; ++i)
    if (c.in(i).dims != Dims{x[1]} || c.in(i).dtype != out.dtype)
      return InvalidArgument("batch_norm parameters");
  RT_ASSIGN_OR_RETURN(double eps, c.a.Float("eps"));
  sinter_batch_norm_params p{x[0], x[1], Prod(x, 2, x.size()), eps};
  RT_ASSIGN_OR_RETURN(LaunchPlan l, Hand(StrCat("sinter_batch_norm_", Suffix(out.dtype)),
                                         out.num_elements, Block(p)));
  sp->launches.push_back(std::move(l));
  return Status::Ok();
}

Status PlanEmbedding(const PlanContext& c, StepPlan* sp) {
  sp->kind = Kind::kHand;
  const TensorDesc& out = c.out();
  const Dims& w = c.in(0).dims;
  if (!FloatStorage(out.dtype) || w.size() != 2 || c.in(1).dtype != SINTER_I64)
    return InvalidArgument("embedding shapes or dtypes");
  Dims want = c.in(1).dims;
  want.push_back(w[1]);
  if (out.dims != want) return InvalidArgument("embedding output shape");
  sinter_embedding_params p{c.in(1).num_elements, w[1], w[0]};
  RT_ASSIGN_OR_RETURN(LaunchPlan l, Hand(StrCat("sinter_embedding_", Suffix(out.dtype)),
                                         out.num_elements, Block(p)));
  sp->launches.push_back(std::move(l));
  return Status::Ok();
}

Status PlanGridSample(const PlanContext& c, StepPlan* sp) {
  sp->kind = Kind::kHand;
  const TensorDesc& out = c.out();
  const Dims &x = c.in(0).dims, &g = c.in(1).dims;
  if (!FloatStorage(out.dtype) || c.in(0).dtype != out.dtype || c.in(1).dtype != out.dtype ||
      x.size() != 4 || g.size() != 4 || g[3] != 2 || g[0] != x[0] ||
      out.dims != Dims{x[0], x[1], g[1], g[2]})
    return InvalidArgument("grid_sample shapes or dtypes");
  RT_ASSIGN_OR_RETURN(std::string mode, c.a.Str("mode"));
  RT_ASSIGN_OR_RETURN(std::string padding, c.a.Str("padding_mode"));
  RT_ASSIGN_OR_RETURN(bool align_corners, c.a.Bool("align_corners"));
  sinter_grid_sample_params p{x[0], x[1], x[2], x[3], g[1], g[2], 0, 0, align_corners ? 1 : 0};
  if (mode == "nearest") {
    p.mode = 1;
  } else if (mode != "bilinear") {
    return InvalidArgument(StrCat("grid_sample mode '", mode, "'"));
  }
  if (padding == "border") {
    p.padding = 1;
  } else if (padding == "reflection") {
    p.padding = 2;
  } else if (padding != "zeros") {
    return InvalidArgument(StrCat("grid_sample padding_mode '", padding, "'"));
  }
  RT_ASSIGN_OR_RETURN(LaunchPlan l, Hand(StrCat("sinter_grid_sample_", Suffix(out.dtype)),
                                         out.num_elements, Block(p)));
  sp->launches.push_back(std::move(l));
  return Status::Ok();
}

Status PlanCast(const PlanContext& c, StepPlan* sp) {
  const TensorDesc& out = c.out();
  if (c.in(0).dims != out.dims) return InvalidArgument("cast changes the shape");
  if (c.in(0).dtype == out.dtype) {
    sp->kind = Kind::kReshape;  // a copy
    return Status::Ok();
  }
  sp->kind = Kind::kHand;
  const char *from = Suffix(c.in(0).dtype), *to = Suffix(out.dtype);
  if (from == nullptr || to == nullptr) return Status(SINTER_UNIMPLEMENTED, "CUDA cast dtypes");
  sinter_cast_params p{out.num_elements};
  RT_ASSIGN_OR_RETURN(LaunchPlan l,
                      Hand(StrCat("sinter_cast_", from, "_", to), out.num_elements, Block(p)));
  sp->launches.push_back(std::move(l));
  return Status::Ok();
}

// Comparisons (variant: the op of sinter_select_params, 0 gt ... 5 ne) and
// where (variant -1): one broadcasting select kernel.
Status PlanSelect(const PlanContext& c, StepPlan* sp) {
  sp->kind = Kind::kHand;
  const bool compare = c.variant >= 0;
  const TensorDesc& out = c.out();
  const int first = compare ? 0 : 1;  // the value operands
  const sinter_dtype vt = c.in(first).dtype;
  if (!FloatStorage(vt) || c.in(first + 1).dtype != vt)
    return Status(SINTER_UNIMPLEMENTED, StrCat(c.op, " of ", sinter_dtype_name(vt), " on CUDA"));
  if (compare ? out.dtype != SINTER_BOOL : (c.in(0).dtype != SINTER_BOOL || out.dtype != vt))
    return InvalidArgument(StrCat(c.op, " dtypes"));
  const Dims& y = out.dims;
  if (y.size() > SINTER_CUDA_MAX_RANK) return Status(SINTER_UNIMPLEMENTED, "rank above 8");
  sinter_select_params p{};
  p.n = out.num_elements, p.rank = static_cast<long long>(y.size());
  p.op = compare ? c.variant : 0;
  for (size_t d = 0; d < y.size(); ++d) p.dims[d] = y[d];
  for (size_t j = 0; j < c.n_in() && j < 3; ++j) {
    const Dims& x = c.in(static_cast<int>(j)).dims;
    if (x.size() > y.size()) return InvalidArgument(StrCat(c.op, " operand of a higher rank"));
    const Dims xa = Align(x, y.size());
    const Dims xs = Strides(xa);
    for (size_t d = 0; d < y.size(); ++d) {
      if (xa[d] != y[d] && xa[d] != 1)
        return InvalidArgument(StrCat(c.op, " shapes do not broadcast"));
      p.strides[j][d] = xa[d] == 1 ? 0 : xs[d];
    }
  }
  RT_ASSIGN_OR_RETURN(
      LaunchPlan l,
      Hand(StrCat(compare ? "sinter_compare_" : "sinter_where_", Suffix(vt)), p.n, Block(p)));
  sp->launches.push_back(std::move(l));
  return Status::Ok();
}

// ---- The table: every op ops.def's cuda column runs (kernel, generated,
// library); the completeness test holds the two to each other. ------------------

struct PlanRow {
  std::string_view op;
  Status (*plan)(const PlanContext&, StepPlan*);
  int variant;
};

constexpr PlanRow kPlans[] = {
    {"fused_elementwise", PlanGenerated, 0},
    {"fused_reduction", PlanGenerated, 0},
    {"softmax", PlanGenerated, 0},
    {"log_softmax", PlanGenerated, 0},
    {"layer_norm", PlanGenerated, 0},
    {"conv2d", PlanConv, 0},
    {"linear", PlanLinear, 0},
    {"matmul", PlanMatmul, 0},
    {"reshape", PlanReshape, 0},
    {"transpose", PlanTranspose, 0},
    {"slice", PlanSlice, 0},
    {"expand", PlanExpand, 0},
    {"concat", PlanConcat, 0},
    {"max_pool2d", PlanPool, 0},
    {"avg_pool2d", PlanPool, 1},
    {"adaptive_max_pool2d", PlanPool, 2},
    {"adaptive_avg_pool2d", PlanPool, 3},
    {"reduce_sum", PlanReduce, 0},
    {"reduce_mean", PlanReduce, 1},
    {"reduce_max", PlanReduce, 2},
    {"batch_norm", PlanBatchNorm, 0},
    {"embedding", PlanEmbedding, 0},
    {"grid_sample", PlanGridSample, 0},
    {"cast", PlanCast, 0},
    {"gt", PlanSelect, 0},
    {"ge", PlanSelect, 1},
    {"lt", PlanSelect, 2},
    {"le", PlanSelect, 3},
    {"eq", PlanSelect, 4},
    {"ne", PlanSelect, 5},
    {"where", PlanSelect, -1},
};

const PlanRow* FindPlan(std::string_view op) {
  for (const PlanRow& r : kPlans)
    if (r.op == op) return &r;
  return nullptr;
}

}  // namespace

std::vector<std::string_view> PlannedOps() {
  std::vector<std::string_view> ops;
  for (const PlanRow& r : kPlans) ops.push_back(r.op);
  return ops;
}

StatusOr<StepPlan> PlanStep(const std::vector<TensorDesc>& tensors, const std::string& op,
                            const Attrs& attrs, const Step& step, bool allow_tf32) {
  if (step.outputs.size() != 1) return DataLoss("CUDA kernels have one output");
  for (int t : step.inputs)
    if (t < 0 || static_cast<size_t>(t) >= tensors.size()) return DataLoss("bad tensor index");
  if (step.outputs[0] < 0 || static_cast<size_t>(step.outputs[0]) >= tensors.size())
    return DataLoss("bad tensor index");
  const PlanRow* row = FindPlan(op);
  if (row == nullptr) return Status(SINTER_UNIMPLEMENTED, "the CUDA backend has no such kernel");
  // The operand counts the plans index without checking: the op schema's.
  const format::OpSchema* schema = format::FindOpSchema(op);
  if (schema == nullptr || static_cast<int>(step.inputs.size()) < schema->min_operands)
    return DataLoss(StrCat(op, " needs ", schema ? schema->min_operands : 0, " inputs, has ",
                           step.inputs.size()));
  StepPlan sp;
  const PlanContext ctx{tensors, op, attrs, step, allow_tf32, row->variant};
  RT_RETURN_IF_ERROR(row->plan(ctx, &sp));
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
