// The CUDA backend (see backend.h). Loading, in order:
//  1. the driver (dlopen) and the device: ordinal, compute capability, SMs;
//  2. the module: the artifact's cubin for this architecture (or one of the
//     same major version below it), else its PTX if not newer than the GPU,
//     each checked against its CRC-32 before the driver sees it;
//  3. constants: one device allocation, each constant copied once;
//  4. steps: each kernel's attributes and recorded shapes checked, its
//     launch (function, grid, parameter block) or library call described.
// A session then binds tensors to device addresses (arena offsets, the
// model's constants, or the caller's device pointers), makes its library
// plans, and enqueues the steps on its stream, captured once as a graph.
#include "runtime/cuda/backend.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/cuda/params.h"
#include "runtime/cpu/op_table.h"  // Attrs
#include "runtime/cuda/conv.h"
#include "runtime/cuda/dynlib.h"
#include "runtime/cuda/gemm.h"
#include "runtime/format/file.h"
#include "runtime/format/sinter_generated.h"

namespace sinter::rt::cuda {

bool BackendBuilt() { return true; }

namespace {

using Dims = std::vector<int64_t>;
constexpr size_t kMaxWorkspace = size_t{64} << 20;  // per library call

#define CU_RETURN(api, call)                                      \
  do {                                                            \
    ::sinter::rt::Status _s = CuStatus((api), (api).call, #call); \
    if (!_s.ok()) return _s;                                      \
  } while (0)

enum class Kind {
  kGenerated,  // fused_elementwise, fused_reduction, softmax, log_softmax, layer_norm
  kConv,
  kLinear,
  kMatmul,
  kCopy,    // transpose, slice, expand: one strided copy
  kConcat,  // one strided copy per input
  kReshape,
  kHand,  // pool, reduce, batch_norm, embedding, cast: one launch with a parameter block
};

struct Launch {
  CUfunction fn = nullptr;
  int block = 256;
  int64_t grid = 0;
  std::vector<uint8_t> params;  // the parameter block passed by value, if any
};

struct StepPlan {
  Kind kind = Kind::kGenerated;
  std::vector<Launch> launches;  // kGenerated/kHand: 1; kCopy: 1; kConcat: one per input
  Launch epilogue;               // conv/linear: bias + epilogue kernel (fn null if none)
  std::string fused_activation;  // conv/linear: "", "relu", "gelu_tanh", "-"
  ConvDesc conv;
  GemmDesc gemm;
};

int64_t GridFor(int64_t items, int block, int max_blocks_per_sm, int sms) {
  if (items <= 0) return 0;
  const int64_t want = (items + block - 1) / block;
  return std::min<int64_t>(want, int64_t{sms} * std::max(1, max_blocks_per_sm));
}

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

Dims Strides(const Dims& d) {
  Dims s(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * d[i + 1];
  return s;
}

int64_t Prod(const Dims& d, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t i = b; i < e && i < d.size(); ++i) p *= d[i];
  return p;
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

StatusOr<std::array<int64_t, 2>> Pair(const Attrs& a, std::string_view name, int64_t min) {
  auto v = a.Ints(name);
  if (!v.ok()) return v.status();
  const Dims& d = v.value();
  if (d.size() != 2 || d[0] < min || d[1] < min || d[0] > (1 << 20) || d[1] > (1 << 20))
    return InvalidArgument(
        StrCat("attribute '", std::string(name), "' must be two values >= ", min));
  return std::array<int64_t, 2>{d[0], d[1]};
}

}  // namespace

class CudaModel {
 public:
  const DriverApi* api = nullptr;
  CUdevice device = 0;
  CUcontext ctx = nullptr;
  int sms = 1;
  int cc_major = 0, cc_minor = 0;
  std::string name;
  CUmodule module = nullptr;
  CUdeviceptr constants = 0;
  std::vector<CUdeviceptr> constant_ptr;  // per tensor; 0 for non-constants
  std::vector<StepPlan> steps;
  bool allow_tf32 = false;
  bool needs_cudnn = false, needs_cublas = false;

  ~CudaModel() {
    if (api == nullptr) return;
    api->cuCtxPushCurrent(ctx);
    if (constants) api->cuMemFree(constants);
    if (module) api->cuModuleUnload(module);
    CUcontext popped;
    api->cuCtxPopCurrent(&popped);
    api->cuDevicePrimaryCtxRelease(device);
  }

  StatusOr<CUfunction> Function(const std::string& fn_name) const {
    CUfunction f = nullptr;
    CUresult r = api->cuModuleGetFunction(&f, module, fn_name.c_str());
    if (r != CUDA_SUCCESS)
      return DataLoss(StrCat("the artifact's CUDA module has no function '", fn_name, "'"));
    return f;
  }

  // The generated kernel named by attributes `<prefix>_fn`, `_block`, ...
  StatusOr<Launch> Generated(const Attrs& a, const std::string& prefix) const {
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
    Launch l;
    auto f = Function(fn.value());
    if (!f.ok()) return f.status();
    l.fn = f.value();
    l.block = static_cast<int>(block.value());
    l.grid = GridFor(items.value(), l.block, static_cast<int>(per_sm.value()), sms);
    return l;
  }

  StatusOr<Launch> Hand(const std::string& fn_name, int64_t items,
                        std::vector<uint8_t> params) const {
    auto f = Function(fn_name);
    if (!f.ok()) return f.status();
    Launch l;
    l.fn = f.value();
    l.grid = GridFor(items, l.block, 32, sms);
    l.params = std::move(params);
    return l;
  }

  Status Prepare(const Model& model, const format::Kernel& k, const Step& step, StepPlan* sp);
};

namespace {

// Picks the image for a device of compute capability major.minor: the exact
// cubin, else the newest cubin of the same major not above it (SASS runs on
// later minors of its major), else the newest PTX not above the device.
StatusOr<const format::CudaImage*> PickImage(const format::Model& fm, int major, int minor) {
  const format::CudaImage *best = nullptr, *ptx = nullptr;
  int best_v = -1, ptx_v = -1;
  std::string have;
  const int dev = major * 10 + minor;
  if (fm.cuda_images() != nullptr) {
    for (const format::CudaImage* im : *fm.cuda_images()) {
      if (im->arch() == nullptr) continue;
      const std::string arch = im->arch()->str();
      have += (have.empty() ? "" : ", ") + arch;
      const size_t us = arch.find('_');
      if (us == std::string::npos) continue;
      int v = std::atoi(arch.c_str() + us + 1);
      if (im->ptx()) {
        if (v <= dev && v > ptx_v) ptx = im, ptx_v = v;
      } else if (v / 10 == major && v <= dev && v > best_v) {
        best = im, best_v = v;
      }
    }
  }
  if (best != nullptr) return best;
  if (ptx != nullptr) return ptx;
  return Status(SINTER_UNIMPLEMENTED,
                StrCat("the artifact has CUDA code for [", have,
                       "], none of which runs on this "
                       "GPU (sm_",
                       dev, "); compile it with sinterc --target cuda:sm_", dev));
}

}  // namespace

Status CudaModel::Prepare(const Model& model, const format::Kernel& k, const Step& step,
                          StepPlan* sp) {
  const auto& T = model.tensors();
  const std::string op = k.op()->str();
  Attrs a(&k);
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
      needs_cudnn = true;
      sp->kind = Kind::kConv;
      const Dims &x = in(0).dims, &w = in(1).dims;
      if (x.size() != 4 || w.size() != 4 || out.dims.size() != 4)
        return InvalidArgument("conv2d tensors must be 4-D");
      auto stride = Pair(a, "stride", 1), pad = Pair(a, "padding", 0), dil = Pair(a, "dilation", 1);
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
      if (out.dims != Dims{c.n, c.k, c.p, c.q}) return InvalidArgument("conv2d output shape");
      if (n_in >= 3 && in(2).dims != Dims{c.k}) return InvalidArgument("conv2d bias shape");
      c.dtype = DataTypeOf(out.dtype);
      c.allow_tf32 = allow_tf32;
      c.bias = n_in >= 3;
      c.activation = activation;
    } else {
      needs_cublas = true;
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
    needs_cublas = true;
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
      Dims xa(dims.size() - x.size(), 1);
      xa.insert(xa.end(), x.begin(), x.end());
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
    const Dims& x = in(0).dims;
    if (!float_storage(out.dtype) || in(0).dtype != out.dtype || x.size() != 4 ||
        out.dims.size() != 4 || out.dims[0] != x[0] || out.dims[1] != x[1])
      return InvalidArgument("pool shapes");
    sinter_pool_params p{};
    p.n = x[0], p.c = x[1], p.h = x[2], p.w = x[3], p.p = out.dims[2], p.q = out.dims[3];
    p.kh = p.kw = p.sh = p.sw = p.dh = p.dw = 1;
    p.mode = op.find("max") != std::string::npos ? 0 : 1;
    if (op.rfind("adaptive", 0) == 0) {
      p.adaptive = 1;
      if (x[2] == 0 || x[3] == 0) return InvalidArgument("adaptive pool of an empty input");
    } else {
      auto k2 = Pair(a, "kernel", 1), s2 = Pair(a, "stride", 1), pd = Pair(a, "padding", 0);
      if (!k2.ok() || !s2.ok() || !pd.ok()) return InvalidArgument("pool attributes");
      p.kh = k2.value()[0], p.kw = k2.value()[1], p.sh = s2.value()[0], p.sw = s2.value()[1];
      p.ph = pd.value()[0], p.pw = pd.value()[1];
      if (p.mode == 0) {
        auto d2 = Pair(a, "dilation", 1);
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
  return Status(SINTER_UNIMPLEMENTED, "the CUDA backend has no such kernel");
}

StatusOr<CudaModel*> LoadModel(const Model& model, const format::Model& fm, const uint8_t* data,
                               uint64_t data_bytes, int device) {
  // 0. Device code: present, in range and intact, before any driver call, so
  // a damaged artifact is DATA_LOSS on every machine, GPU or not.
  const auto* segments = fm.segments();
  if (fm.cuda_images() == nullptr || fm.cuda_images()->size() == 0)
    return DataLoss("a CUDA artifact with no CUDA device code");
  for (const format::CudaImage* im : *fm.cuda_images()) {
    const int seg = im->segment();
    if (segments == nullptr || seg < 0 || static_cast<size_t>(seg) >= segments->size())
      return DataLoss(StrCat("CUDA image segment ", seg, " out of range"));
    const format::Segment* sg = segments->Get(seg);
    if (sg->offset() > data_bytes || sg->size() > data_bytes - sg->offset())
      return DataLoss("CUDA image does not fit the data region");
    if (format::Crc32(data + sg->offset(), sg->size()) != im->crc32())
      return DataLoss("CUDA image checksum mismatch: the file is damaged");
  }
  // 1. Driver and device.
  auto driver = Driver();
  if (!driver.ok()) return driver.status();  // names the library and says why it is needed
  const DriverApi& api = *driver.value();
  int count = 0;
  CU_RETURN(api, cuDeviceGetCount(&count));
  if (device < 0 || device >= count) {
    return Status(SINTER_UNAVAILABLE,
                  StrCat("CUDA device ", device, " requested; this machine has ", count));
  }
  auto m = std::make_unique<CudaModel>();
  CU_RETURN(api, cuDeviceGet(&m->device, device));
  CU_RETURN(api, cuDevicePrimaryCtxRetain(&m->ctx, m->device));
  m->api = &api;  // from here on the destructor releases the context
  CU_RETURN(api, cuCtxPushCurrent(m->ctx));
  struct Pop {
    const DriverApi& api;
    ~Pop() {
      CUcontext c;
      api.cuCtxPopCurrent(&c);
    }
  } pop{api};
  char name[256] = {};
  CU_RETURN(api, cuDeviceGetName(name, sizeof name - 1, m->device));
  m->name = name;
  CU_RETURN(api, cuDeviceGetAttribute(&m->cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                      m->device));
  CU_RETURN(api, cuDeviceGetAttribute(&m->cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                      m->device));
  CU_RETURN(api,
            cuDeviceGetAttribute(&m->sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, m->device));
  m->allow_tf32 = fm.cuda_tf32();

  // 2. The module (every image was checked against its CRC above).
  auto image = PickImage(fm, m->cc_major, m->cc_minor);
  if (!image.ok()) return image.status();
  const format::Segment* s = fm.segments()->Get(image.value()->segment());
  std::string bytes(reinterpret_cast<const char*>(data + s->offset()), s->size());
  if (image.value()->ptx()) bytes.push_back('\0');  // the driver reads PTX as a C string
  char log[4096] = {};
  CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void* vals[] = {log, reinterpret_cast<void*>(static_cast<uintptr_t>(sizeof log - 1))};
  CUresult r = api.cuModuleLoadDataEx(&m->module, bytes.data(), 2, opts, vals);
  if (r != CUDA_SUCCESS) {
    return CuStatus(api, r, "cuModuleLoadDataEx")
        .WithContext(
            StrCat("loading the CUDA module for ", image.value()->arch()->str(), " (", log, ")"));
  }

  // 3. Constants: one allocation, each tensor at an aligned offset.
  const auto& T = model.tensors();
  m->constant_ptr.assign(T.size(), 0);
  uint64_t total = 0;
  std::vector<uint64_t> at(T.size(), 0);
  for (size_t i = 0; i < T.size(); ++i) {
    if (T[i].kind != TensorKind::kConstant) continue;
    at[i] = total;
    total += (T[i].byte_size + 255) / 256 * 256;
  }
  if (total > 0) {
    CU_RETURN(api, cuMemAlloc(&m->constants, total));
    for (size_t i = 0; i < T.size(); ++i) {
      if (T[i].kind != TensorKind::kConstant) continue;
      m->constant_ptr[i] = m->constants + at[i];
      if (T[i].byte_size)
        CU_RETURN(api, cuMemcpyHtoD(m->constant_ptr[i], T[i].constant, T[i].byte_size));
    }
  }

  // 4. Steps.
  const auto* kernels = fm.kernels();
  m->steps.resize(model.steps().size());
  for (size_t k = 0; k < model.steps().size(); ++k) {
    const Step& step = model.steps()[k];
    const format::Kernel* kd = kernels->Get(static_cast<flatbuffers::uoffset_t>(k));
    Status st = m->Prepare(model, *kd, step, &m->steps[k]);
    if (!st.ok()) {
      return st.WithContext(StrCat("kernel ", k, " (", kd->op()->str(),
                                   step.loc.empty() ? "" : " at " + step.loc, ") on CUDA"));
    }
  }
  return m.release();
}

void DestroyModel(CudaModel* m) { delete m; }
std::string DeviceName(const CudaModel& m) {
  return StrCat(m.name, " (sm_", m.cc_major * 10 + m.cc_minor, ", ", m.sms, " SMs)");
}

class CudaSession {
 public:
  const Model* model = nullptr;
  const CudaModel* cm = nullptr;
  const DriverApi* api = nullptr;
  CUstream stream = nullptr;
  CUdeviceptr arena = 0, workspace = 0;
  size_t workspace_bytes = 0;
  cublasLtHandle_t blas = nullptr;
  const CublasLtApi* blas_api = nullptr;
  cudnnHandle_t dnn = nullptr;
  const CudnnApi* dnn_api = nullptr;
  // Per step: the library plan, and whether it fused bias + activation.
  std::vector<std::unique_ptr<GemmPlan>> gemm;
  std::vector<std::unique_ptr<ConvPlan>> conv;
  std::vector<char> fused;
  // Host staging (pinned): inputs, then outputs, each at an aligned offset.
  uint8_t* pinned = nullptr;
  std::vector<uint64_t> in_at, out_at;
  std::vector<CUdeviceptr> bound_in, bound_out;  // caller device pointers, 0: none
  std::vector<char> input_set;
  bool use_graph = true;
  CUgraph graph = nullptr;
  CUgraphExec exec = nullptr;
  std::vector<CUdeviceptr> graph_in, graph_out;  // pointers the graph was captured with
  CUevent* events = nullptr;
  size_t num_events = 0;

  ~CudaSession() {
    if (api == nullptr) return;
    api->cuCtxPushCurrent(cm->ctx);
    if (stream) api->cuStreamSynchronize(stream);
    gemm.clear();
    conv.clear();
    if (exec) api->cuGraphExecDestroy(exec);
    if (graph) api->cuGraphDestroy(graph);
    for (size_t i = 0; i < num_events; ++i) api->cuEventDestroy(events[i]);
    delete[] events;
    if (dnn) dnn_api->cudnnDestroy(dnn);
    if (blas) blas_api->cublasLtDestroy(blas);
    if (pinned) api->cuMemFreeHost(pinned);
    if (workspace) api->cuMemFree(workspace);
    if (arena) api->cuMemFree(arena);
    if (stream) api->cuStreamDestroy(stream);
    CUcontext c;
    api->cuCtxPopCurrent(&c);
  }

  CUdeviceptr Ptr(int t) const {
    const TensorDesc& d = model->tensors()[t];
    if (d.kind == TensorKind::kConstant) return cm->constant_ptr[t];
    for (size_t i = 0; i < model->inputs().size(); ++i)
      if (model->inputs()[i] == t && bound_in[i]) return bound_in[i];
    for (size_t i = 0; i < model->outputs().size(); ++i)
      if (model->outputs()[i] == t && bound_out[i]) return bound_out[i];
    return arena + d.arena_offset;
  }

  Status Launch(const struct Launch& l, std::vector<CUdeviceptr>& ptrs) const {
    if (l.grid == 0) return Status::Ok();
    std::vector<void*> args;
    for (CUdeviceptr& p : ptrs) args.push_back(&p);
    if (!l.params.empty()) args.push_back(const_cast<uint8_t*>(l.params.data()));
    CU_RETURN(*api, cuLaunchKernel(l.fn, static_cast<unsigned>(l.grid), 1, 1, l.block, 1, 1, 0,
                                   stream, args.data(), nullptr));
    return Status::Ok();
  }

  Status Enqueue(size_t k) const {
    const Step& step = model->steps()[k];
    const StepPlan& sp = cm->steps[k];
    std::vector<CUdeviceptr> ptrs;
    for (int t : step.inputs) ptrs.push_back(Ptr(t));
    const CUdeviceptr out = Ptr(step.outputs[0]);
    switch (sp.kind) {
      case Kind::kGenerated:
      case Kind::kHand:
        ptrs.push_back(out);
        return Launch(sp.launches[0], ptrs);
      case Kind::kCopy: {
        std::vector<CUdeviceptr> io{ptrs[0], out};
        return Launch(sp.launches[0], io);
      }
      case Kind::kConcat:
        for (size_t i = 0; i < sp.launches.size(); ++i) {
          std::vector<CUdeviceptr> io{ptrs[i], out};
          RT_RETURN_IF_ERROR(Launch(sp.launches[i], io));
        }
        return Status::Ok();
      case Kind::kReshape:
        if (ptrs[0] != out && model->tensors()[step.outputs[0]].byte_size) {
          CU_RETURN(*api, cuMemcpyDtoDAsync(out, ptrs[0],
                                            model->tensors()[step.outputs[0]].byte_size, stream));
        }
        return Status::Ok();
      case Kind::kConv:
      case Kind::kLinear:
      case Kind::kMatmul: {
        const void* bias = ptrs.size() >= 3 ? reinterpret_cast<const void*>(ptrs[2]) : nullptr;
        auto dp = [](CUdeviceptr p) { return reinterpret_cast<void*>(p); };
        if (sp.kind == Kind::kConv) {
          RT_RETURN_IF_ERROR(
              conv[k]->Run(dnn, dp(ptrs[0]), dp(ptrs[1]), bias, dp(out), dp(workspace)));
        } else {
          RT_RETURN_IF_ERROR(
              gemm[k]->Run(stream, dp(ptrs[0]), dp(ptrs[1]), bias, dp(out), dp(workspace)));
        }
        if (!fused[k] && sp.epilogue.fn != nullptr) {
          // The epilogue kernel: the library's output (in place), then the
          // bias and the extra operands, then the output.
          std::vector<CUdeviceptr> io{out};
          for (size_t i = 2; i < ptrs.size(); ++i) io.push_back(ptrs[i]);
          io.push_back(out);
          return Launch(sp.epilogue, io);
        }
        return Status::Ok();
      }
    }
    return Status::Ok();
  }
};

StatusOr<CudaSession*> CreateSession(const Model& model, const CudaModel& cm,
                                     const SessionOptions& options) {
  auto s = std::make_unique<CudaSession>();
  const DriverApi& api = *cm.api;
  s->model = &model;
  s->cm = &cm;
  CU_RETURN(api, cuCtxPushCurrent(cm.ctx));
  s->api = &api;  // the destructor pops nothing it did not push
  struct Pop {
    const DriverApi& api;
    ~Pop() {
      CUcontext c;
      api.cuCtxPopCurrent(&c);
    }
  } pop{api};
  s->use_graph = options.use_graph;
  CU_RETURN(api, cuStreamCreate(&s->stream, CU_STREAM_NON_BLOCKING));
  if (model.arena_bytes() > 0) CU_RETURN(api, cuMemAlloc(&s->arena, model.arena_bytes()));
  const size_t n = model.steps().size();
  s->gemm.resize(n);
  s->conv.resize(n);
  s->fused.assign(n, 0);
  if (cm.needs_cublas) {
    auto lib = CublasLt();
    if (!lib.ok()) return lib.status().WithContext("this model's GEMMs need cuBLASLt");
    s->blas_api = lib.value();
    RT_RETURN_IF_ERROR(
        CublasStatus(*s->blas_api, s->blas_api->cublasLtCreate(&s->blas), "cublasLtCreate"));
  }
  if (cm.needs_cudnn) {
    auto lib = Cudnn();
    if (!lib.ok()) return lib.status().WithContext("this model's convolutions need cuDNN");
    s->dnn_api = lib.value();
    RT_RETURN_IF_ERROR(CudnnStatus(*s->dnn_api, s->dnn_api->cudnnCreate(&s->dnn), "cudnnCreate"));
    RT_RETURN_IF_ERROR(CudnnStatus(
        *s->dnn_api, s->dnn_api->cudnnSetStream(s->dnn, reinterpret_cast<cudaStream_t>(s->stream)),
        "cudnnSetStream"));
  }
  // Library plans: with bias and activation fused where the step allows and
  // the library has an algorithm; otherwise plain, with the epilogue kernel.
  for (size_t k = 0; k < n; ++k) {
    const StepPlan& sp = cm.steps[k];
    if (sp.kind != Kind::kConv && sp.kind != Kind::kLinear && sp.kind != Kind::kMatmul) continue;
    const bool try_fused = sp.kind != Kind::kMatmul && sp.fused_activation != "-" &&
                           (sp.conv.bias || sp.gemm.bias || sp.fused_activation != "");
    const std::string where = StrCat("kernel ", k, " (", model.steps()[k].label, ")");
    for (int attempt = try_fused ? 0 : 1; attempt < 2; ++attempt) {
      Status st;
      if (sp.kind == Kind::kConv) {
        ConvDesc d = sp.conv;
        if (attempt == 1) d.bias = false, d.activation = Activation::kNone;
        auto plan = ConvPlan::Create(*s->dnn_api, s->dnn, d, kMaxWorkspace);
        if (plan.ok()) s->conv[k] = std::move(plan.value());
        st = plan.status();
      } else {
        GemmDesc d = sp.gemm;
        if (attempt == 1) d.bias = false, d.activation = Activation::kNone;
        auto plan = GemmPlan::Create(*s->blas_api, s->blas, d, kMaxWorkspace);
        if (plan.ok()) s->gemm[k] = std::move(plan.value());
        st = plan.status();
      }
      if (st.ok()) {
        s->fused[k] = attempt == 0;
        break;
      }
      if (attempt == 1 || st.code() != SINTER_UNIMPLEMENTED) return st.WithContext(where);
    }
    if (!s->fused[k] && sp.epilogue.fn == nullptr && (sp.conv.bias || sp.gemm.bias))
      return Status(SINTER_INTERNAL, where + ": no way to apply the bias");
    const size_t ws = s->conv[k] ? s->conv[k]->workspace_bytes() : s->gemm[k]->workspace_bytes();
    s->workspace_bytes = std::max(s->workspace_bytes, ws);
  }
  if (s->workspace_bytes) CU_RETURN(api, cuMemAlloc(&s->workspace, s->workspace_bytes));
  // Pinned staging.
  uint64_t total = 0;
  const auto& T = model.tensors();
  for (int t : model.inputs()) s->in_at.push_back(total), total += (T[t].byte_size + 63) / 64 * 64;
  for (int t : model.outputs())
    s->out_at.push_back(total), total += (T[t].byte_size + 63) / 64 * 64;
  if (total) {
    void* p = nullptr;
    CU_RETURN(api, cuMemHostAlloc(&p, total, 0));
    s->pinned = static_cast<uint8_t*>(p);
  }
  s->bound_in.assign(model.inputs().size(), 0);
  s->bound_out.assign(model.outputs().size(), 0);
  s->input_set.assign(model.inputs().size(), 0);
  s->num_events = n + 1;
  s->events = new CUevent[s->num_events]();
  for (size_t i = 0; i < s->num_events; ++i)
    CU_RETURN(api, cuEventCreate(&s->events[i], CU_EVENT_DEFAULT));
  return s.release();
}

void DestroySession(CudaSession* s) { delete s; }

Status SetInput(CudaSession& s, size_t index, const void* data, size_t bytes) {
  if (bytes) std::memcpy(s.pinned + s.in_at[index], data, bytes);
  s.bound_in[index] = 0;
  s.input_set[index] = 1;
  return Status::Ok();
}

Status BindInputDevice(CudaSession& s, size_t index, void* device_ptr, size_t bytes) {
  const TensorDesc& d = s.model->tensors()[s.model->inputs()[index]];
  if (bytes != d.byte_size)
    return InvalidArgument(
        StrCat("input '", d.name, "': ", bytes, " bytes, expected ", d.byte_size));
  s.bound_in[index] = reinterpret_cast<CUdeviceptr>(device_ptr);
  s.input_set[index] = device_ptr != nullptr;
  return Status::Ok();
}

Status BindOutputDevice(CudaSession& s, size_t index, void* device_ptr, size_t bytes) {
  const TensorDesc& d = s.model->tensors()[s.model->outputs()[index]];
  if (device_ptr != nullptr && bytes != d.byte_size)
    return InvalidArgument(
        StrCat("output '", d.name, "': ", bytes, " bytes, expected ", d.byte_size));
  s.bound_out[index] = reinterpret_cast<CUdeviceptr>(device_ptr);
  return Status::Ok();
}

Status Run(CudaSession& s, bool profiling, std::vector<std::pair<double, double>>* times) {
  const DriverApi& api = *s.api;
  for (size_t i = 0; i < s.input_set.size(); ++i) {
    if (!s.input_set[i])
      return Status(
          SINTER_FAILED_PRECONDITION,
          StrCat("input ", i, " '", s.model->tensors()[s.model->inputs()[i]].name, "' is not set"));
  }
  CU_RETURN(api, cuCtxPushCurrent(s.cm->ctx));
  struct Pop {
    const DriverApi& api;
    ~Pop() {
      CUcontext c;
      api.cuCtxPopCurrent(&c);
    }
  } pop{api};
  const auto& T = s.model->tensors();
  for (size_t i = 0; i < s.model->inputs().size(); ++i) {
    const int t = s.model->inputs()[i];
    if (s.bound_in[i] == 0 && T[t].byte_size)
      CU_RETURN(api, cuMemcpyHtoDAsync(s.arena + T[t].arena_offset, s.pinned + s.in_at[i],
                                       T[t].byte_size, s.stream));
  }
  const size_t n = s.model->steps().size();
  if (profiling) {
    // Events between kernels: no graph, so each kernel's time is its own.
    CU_RETURN(api, cuEventRecord(s.events[0], s.stream));
    for (size_t k = 0; k < n; ++k) {
      RT_RETURN_IF_ERROR(s.Enqueue(k).WithContext(StrCat("kernel ", k)));
      CU_RETURN(api, cuEventRecord(s.events[k + 1], s.stream));
    }
  } else if (s.use_graph) {
    if (s.exec == nullptr || s.graph_in != s.bound_in || s.graph_out != s.bound_out) {
      if (s.exec) api.cuGraphExecDestroy(s.exec), s.exec = nullptr;
      if (s.graph) api.cuGraphDestroy(s.graph), s.graph = nullptr;
      CU_RETURN(api, cuStreamBeginCapture(s.stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
      Status st;
      for (size_t k = 0; k < n && st.ok(); ++k) st = s.Enqueue(k).WithContext(StrCat("kernel ", k));
      CUgraph g = nullptr;
      CUresult end = api.cuStreamEndCapture(s.stream, &g);
      RT_RETURN_IF_ERROR(st);
      RT_RETURN_IF_ERROR(CuStatus(api, end, "cuStreamEndCapture"));
      s.graph = g;
      CU_RETURN(api, cuGraphInstantiateWithFlags(&s.exec, s.graph, 0));
      s.graph_in = s.bound_in;
      s.graph_out = s.bound_out;
    }
    CU_RETURN(api, cuGraphLaunch(s.exec, s.stream));
  } else {
    for (size_t k = 0; k < n; ++k)
      RT_RETURN_IF_ERROR(s.Enqueue(k).WithContext(StrCat("kernel ", k)));
  }
  for (size_t i = 0; i < s.model->outputs().size(); ++i) {
    const int t = s.model->outputs()[i];
    if (s.bound_out[i] == 0 && T[t].byte_size)
      CU_RETURN(api, cuMemcpyDtoHAsync(s.pinned + s.out_at[i], s.Ptr(t), T[t].byte_size, s.stream));
  }
  CU_RETURN(api, cuStreamSynchronize(s.stream));
  if (profiling && times != nullptr) {
    times->assign(n, {0.0, 0.0});
    for (size_t k = 0; k < n; ++k) {
      float start = 0, dur = 0;
      CU_RETURN(api, cuEventElapsedTime(&start, s.events[0], s.events[k]));
      CU_RETURN(api, cuEventElapsedTime(&dur, s.events[k], s.events[k + 1]));
      (*times)[k] = {start * 1000.0, dur * 1000.0};
    }
  }
  return Status::Ok();
}

const void* OutputHost(const CudaSession& s, size_t index) {
  return s.bound_out[index] ? nullptr : s.pinned + s.out_at[index];
}

}  // namespace sinter::rt::cuda
