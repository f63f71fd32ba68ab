// The runtime's op table. Each row pairs a load-time check (attributes and
// every recorded shape, so a kernel never reads outside a buffer) with a run
// function that hands raw pointers to kernels/cpu. Rows are grouped by family;
// a family shares its check and run function and differs only in a constant.
#include "runtime/cpu/op_table.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "kernels/cast.h"
#include "runtime/cpu/fused.h"
#include "runtime/cpu/fused_reduction.h"
#include "runtime/cpu/plugin_segment.h"
#include "runtime/dims.h"
#include "runtime/format/kernel_body.h"
#include "runtime/format/sinter_generated.h"

namespace sinter::rt {
namespace kc = kernels::cpu;
namespace {

using ParamsOr = StatusOr<std::unique_ptr<KernelParams>>;

std::string DimsStr(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

Status ExpectDims(const TensorDesc& t, const Dims& want, std::string_view what) {
  if (t.dims != want) {
    return InvalidArgument(
        StrCat(what, " '", t.name, "' has shape ", DimsStr(t.dims), ", expected ", DimsStr(want)));
  }
  return Status::Ok();
}

Status ExpectF32(const PrepareContext& c) {
  for (const TensorDesc* t : c.inputs) {
    if (t->dtype != SINTER_F32)
      return Status(SINTER_UNIMPLEMENTED, StrCat("tensor '", t->name, "': only f32 is supported"));
  }
  for (const TensorDesc* t : c.outputs) {
    if (t->dtype != SINTER_F32)
      return Status(SINTER_UNIMPLEMENTED, StrCat("tensor '", t->name, "': only f32 is supported"));
  }
  return Status::Ok();
}

StatusOr<int64_t> Axis(int64_t axis, size_t rank) {
  int64_t r = static_cast<int64_t>(rank);
  int64_t a = axis < 0 ? axis + r : axis;
  if (a < 0 || a >= std::max<int64_t>(r, 1))
    return InvalidArgument(StrCat("axis ", axis, " out of range"));
  return a;
}

StatusOr<Dims> Broadcast(const Dims& a, const Dims& b) {
  size_t rank = std::max(a.size(), b.size());
  Dims x = Align(a, rank), y = Align(b, rank), out(rank);
  for (size_t i = 0; i < rank; ++i) {
    if (x[i] != y[i] && x[i] != 1 && y[i] != 1) {
      return InvalidArgument(
          StrCat("shapes ", DimsStr(a), " and ", DimsStr(b), " do not broadcast"));
    }
    out[i] = x[i] == 1 ? y[i] : x[i];
  }
  return out;
}

// Dense row-major strides in elements.
// Output extent of a sliding window; 0 when the window does not fit (or its
// dilated extent overflows: a kernel extent can be as large as a tensor).
int64_t WindowOut(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  int64_t reach;
  if (__builtin_mul_overflow(d, k - 1, &reach)) return 0;
  int64_t span = in + 2 * p - reach - 1;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

int64_t NoScratch(const KernelParams&, int) { return 0; }

// ---- Elementwise unary --------------------------------------------------------

struct UnaryParams : KernelParams {
  kc::Unary fn;
  float a = 0, b = 0;
};

template <kc::Unary Fn>
ParamsOr PrepareUnary(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectF32(c));
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], c.inputs[0]->dims, "output"));
  auto p = std::make_unique<UnaryParams>();
  p->fn = Fn;
  if constexpr (Fn == kc::Unary::kLeakyRelu) {
    RT_ASSIGN_OR_RETURN(double s, c.attrs.Float("slope"));
    p->a = static_cast<float>(s);
  } else if constexpr (Fn == kc::Unary::kElu) {
    RT_ASSIGN_OR_RETURN(double s, c.attrs.Float("alpha"));
    p->a = static_cast<float>(s);
  } else if constexpr (Fn == kc::Unary::kClamp) {
    const double inf = std::numeric_limits<double>::infinity();
    RT_ASSIGN_OR_RETURN(double lo, c.attrs.FloatOr("min", -inf));
    RT_ASSIGN_OR_RETURN(double hi, c.attrs.FloatOr("max", inf));
    p->a = static_cast<float>(lo);
    p->b = static_cast<float>(hi);
  } else if constexpr (Fn == kc::Unary::kGeluErf) {
    RT_ASSIGN_OR_RETURN(std::string approx, c.attrs.Str("approximate"));
    if (approx == "tanh")
      p->fn = kc::Unary::kGeluTanh;
    else if (approx != "none")
      return InvalidArgument("gelu approximate must be none or tanh");
  }
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunUnary(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const UnaryParams&>(kp);
  kc::UnaryF32(p.fn, c.in_ptr(0), c.out_ptr(0), c.output(0).num_elements, p.a, p.b, c.par);
}

// ---- Cast ----------------------------------------------------------------------

struct CastParams : KernelParams {
  sinter_dtype from, to;
};

ParamsOr PrepareCast(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], c.inputs[0]->dims, "output"));
  RT_ASSIGN_OR_RETURN(std::string to, c.attrs.Str("to"));
  auto p = std::make_unique<CastParams>();
  p->from = c.inputs[0]->dtype;
  p->to = c.outputs[0]->dtype;
  if (to != sinter_dtype_name(p->to))
    return InvalidArgument("cast target disagrees with output dtype");
  for (sinter_dtype d : {p->from, p->to}) {
    if (d != SINTER_F32 && d != SINTER_I64 && d != SINTER_I32 && d != SINTER_BOOL &&
        d != SINTER_U8) {
      return Status(SINTER_UNIMPLEMENTED, StrCat("cast involving ", sinter_dtype_name(d)));
    }
  }
  return std::unique_ptr<KernelParams>(std::move(p));
}

// An integer element of `p` (i64, i32, u8 or bool) widened to int64.
int64_t LoadInt(const void* p, sinter_dtype d, int64_t i) {
  switch (d) {
    case SINTER_I64:
      return static_cast<const int64_t*>(p)[i];
    case SINTER_I32:
      return static_cast<const int32_t*>(p)[i];
    case SINTER_U8:
    case SINTER_BOOL:
      return static_cast<const uint8_t*>(p)[i];
    case SINTER_F32:
    case SINTER_F16:
    case SINTER_BF16:
    case SINTER_F64:
    case SINTER_I8:
      break;  // not integer sources of this kernel (PrepareCast refused them)
  }
  return 0;
}

// Every value has one result (kernels/cast.h says which): out-of-range and
// non-finite floats never reach a C++ conversion that would be undefined.
// V is the source as read: float, or an integer widened to long long.
template <typename V, typename Load>
void CastElements(sinter_dtype to, Load load, void* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const V v = load(i);
    switch (to) {
      case SINTER_F32:
        static_cast<float*>(y)[i] = static_cast<float>(v);
        break;
      case SINTER_I64:
        static_cast<int64_t*>(y)[i] = sinter_cast::ToI64(v);
        break;
      case SINTER_I32:
        static_cast<int32_t*>(y)[i] = sinter_cast::ToI32(v);
        break;
      case SINTER_BOOL:
        static_cast<uint8_t*>(y)[i] = v != 0;
        break;
      case SINTER_U8:
        static_cast<uint8_t*>(y)[i] = sinter_cast::ToU8(v);
        break;
      case SINTER_F16:
      case SINTER_BF16:
      case SINTER_F64:
      case SINTER_I8:
        return;  // refused by PrepareCast
    }
  }
}

void RunCast(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const CastParams&>(kp);
  const void* x = c.in[0];
  const int64_t n = c.output(0).num_elements;
  if (p.from == SINTER_F32) {
    const float* xf = static_cast<const float*>(x);
    CastElements<float>(
        p.to, [xf](int64_t i) { return xf[i]; }, c.out[0], n);
  } else {
    CastElements<long long>(
        p.to, [&](int64_t i) { return static_cast<long long>(LoadInt(x, p.from, i)); }, c.out[0],
        n);
  }
}

// ---- Elementwise binary and where ---------------------------------------------------

struct BroadcastParams : KernelParams {
  kc::Binary fn;
  int rank;
  Dims a, b, c, y;   // aligned to the output rank
  bool i64 = false;  // binary ops: integer operands (BinaryI64)
};

// Checks that the two inputs broadcast to the recorded output and fills the
// aligned shapes of `p`.
Status PrepareBroadcast2(const PrepareContext& c, BroadcastParams* p) {
  RT_ASSIGN_OR_RETURN(Dims y, Broadcast(c.inputs[0]->dims, c.inputs[1]->dims));
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], y, "output"));
  p->rank = static_cast<int>(y.size());
  p->a = Align(c.inputs[0]->dims, y.size());
  p->b = Align(c.inputs[1]->dims, y.size());
  p->y = y;
  return Status::Ok();
}

// Index arithmetic on i64 tensors (offsets added to top-k indices, as
// detectors' proposal selection does): exact, wrapping as LibTorch's does.
// Small tensors, so one plain broadcasting loop.
void BinaryI64(kc::Binary fn, const int64_t* a, const Dims& ad, const int64_t* b, const Dims& bd,
               int64_t* y, const Dims& yd) {
  const size_t rank = yd.size();
  Dims as(rank, 0), bs(rank, 0);
  for (int64_t i = static_cast<int64_t>(rank) - 1, sa = 1, sb = 1; i >= 0; --i) {
    if (ad[i] != 1) as[i] = sa;
    if (bd[i] != 1) bs[i] = sb;
    sa *= ad[i];
    sb *= bd[i];
  }
  int64_t n = 1;
  for (int64_t e : yd) n *= e;
  Dims idx(rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < rank; ++d) oa += idx[d] * as[d], ob += idx[d] * bs[d];
    const uint64_t x = static_cast<uint64_t>(a[oa]), z = static_cast<uint64_t>(b[ob]);
    int64_t v = static_cast<int64_t>(x + z);
    if (fn == kc::Binary::kSub) v = static_cast<int64_t>(x - z);
    if (fn == kc::Binary::kMul) v = static_cast<int64_t>(x * z);
    if (fn == kc::Binary::kMax) v = std::max(a[oa], b[ob]);
    if (fn == kc::Binary::kMin) v = std::min(a[oa], b[ob]);
    y[i] = v;
    for (size_t d = rank; d-- > 0 && ++idx[d] == yd[d];) idx[d] = 0;
  }
}

template <kc::Binary Fn>
ParamsOr PrepareBinary(const PrepareContext& c) {
  auto p = std::make_unique<BroadcastParams>();
  p->fn = Fn;
  p->i64 = Fn != kc::Binary::kDiv && Fn != kc::Binary::kPow;
  for (const TensorDesc* t : c.inputs) p->i64 &= t->dtype == SINTER_I64;
  p->i64 &= c.outputs[0]->dtype == SINTER_I64;
  if (!p->i64) RT_RETURN_IF_ERROR(ExpectF32(c));
  RT_RETURN_IF_ERROR(PrepareBroadcast2(c, p.get()));
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunBinary(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const BroadcastParams&>(kp);
  if (p.i64) {
    BinaryI64(p.fn, c.in_ptr<int64_t>(0), p.a, c.in_ptr<int64_t>(1), p.b, c.out_ptr<int64_t>(0),
              p.y);
    return;
  }
  kc::BinaryF32(p.fn, c.in_ptr(0), p.a.data(), c.in_ptr(1), p.b.data(), c.out_ptr(0), p.y.data(),
                p.rank, c.par);
}

// Comparisons and where run as a kernel body of one instruction (the op's
// row of runtime/format/elementwise.def) through the fused-kernel
// interpreter: one broadcasting loop and one set of maths for a standalone
// op and a fused one, typed as bodies are (f32 or bool operands).
struct BodyOpParams : KernelParams {
  FusedProgramPtr program;
};

ParamsOr PrepareBodyOp(const PrepareContext& c) {
  format::BodyOp op;
  if (!format::BodyOpByName(c.step->schema->name, &op))
    return Status(SINTER_INTERNAL, "no vocabulary row for this op");
  format::KernelBody body;
  for (const TensorDesc* t : c.inputs) body.args.push_back(static_cast<format::DType>(t->dtype));
  format::BodyInstr in{op, static_cast<format::DType>(c.outputs[0]->dtype)};
  int32_t* operand[3] = {&in.a, &in.b, &in.c};
  for (size_t i = 0; i < c.inputs.size() && i < 3; ++i) *operand[i] = static_cast<int32_t>(i);
  body.instrs.push_back(in);
  body.result = static_cast<int32_t>(c.inputs.size());
  std::string error;
  if (!format::CheckKernelBody(body, &error)) {
    return Status(SINTER_UNIMPLEMENTED, StrCat(c.step->schema->name, " of these dtypes: ", error));
  }
  auto p = std::make_unique<BodyOpParams>();
  RT_ASSIGN_OR_RETURN(p->program, PlanFusedProgram(body, c.inputs, *c.outputs[0]));
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunBodyOp(const KernelParams& kp, const RunContext& c) {
  RunFusedProgram(*static_cast<const BodyOpParams&>(kp).program, c.in, c.out[0], c.par);
}

// ---- Reductions and normalisations ----------------------------------------------------

struct RowParams : KernelParams {
  int64_t outer = 1, axis = 1, inner = 1;
  kc::Reduce fn = kc::Reduce::kSum;
  bool log = false;
  float eps = 0;
};

// Reduced axes must be one contiguous run: [outer, axis, inner].
// The axes a reduction of x reduces (one flag per dim), checked.
StatusOr<std::vector<char>> ReducedAxes(const Attrs& attrs, const Dims& x) {
  RT_ASSIGN_OR_RETURN(Dims axes, attrs.Ints("axes"));
  std::vector<char> red(x.size(), 0);
  for (int64_t a : axes) {
    RT_ASSIGN_OR_RETURN(int64_t ax, Axis(a, x.size()));
    if (x.empty()) continue;  // a scalar reduces over its one implicit axis, as in the IR
    if (red[ax]) return InvalidArgument("repeated reduction axis");
    red[ax] = 1;
  }
  return red;
}

// The result's dims: x's unreduced ones, and 1 for each reduced with keepdim.
StatusOr<Dims> ReducedDims(const Attrs& attrs, const Dims& x) {
  RT_ASSIGN_OR_RETURN(std::vector<char> red, ReducedAxes(attrs, x));
  RT_ASSIGN_OR_RETURN(bool keepdim, attrs.Bool("keepdim"));
  Dims y;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!red[i]) y.push_back(x[i]);
    if (red[i] && keepdim) y.push_back(1);
  }
  return y;
}

StatusOr<std::vector<Dims>> ReduceRunDims(const Attrs& attrs,
                                          const std::vector<const TensorDesc*>& in) {
  RT_ASSIGN_OR_RETURN(Dims y, ReducedDims(attrs, in[0]->dims));
  return std::vector<Dims>{y};
}

template <kc::Reduce Fn>
ParamsOr PrepareReduce(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectF32(c));
  const Dims& x = c.inputs[0]->dims;
  RT_ASSIGN_OR_RETURN(std::vector<char> red, ReducedAxes(c.attrs, x));
  RT_ASSIGN_OR_RETURN(Dims y, ReducedDims(c.attrs, x));
  auto p = std::make_unique<RowParams>();
  p->fn = Fn;
  int first = -1, last = -1;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!red[i]) continue;
    if (first < 0) first = static_cast<int>(i);
    if (last >= 0 && last != static_cast<int>(i) - 1)
      return Status(SINTER_UNIMPLEMENTED, "reduction axes must be contiguous");
    last = static_cast<int>(i);
  }
  if (first < 0) {
    p->outer = Prod(x, 0, x.size());
  } else {
    p->outer = Prod(x, 0, first);
    p->axis = Prod(x, first, last + 1);
    p->inner = Prod(x, last + 1, x.size());
  }
  if (Fn == kc::Reduce::kMax && p->axis == 0) return InvalidArgument("max over an empty axis");
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], y, "output"));
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunReduce(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const RowParams&>(kp);
  kc::ReduceF32(p.fn, c.in_ptr(0), c.out_ptr(0), p.outer, p.axis, p.inner, c.par);
}

template <bool Log>
ParamsOr PrepareSoftmax(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectF32(c));
  const Dims& x = c.inputs[0]->dims;
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], x, "output"));
  RT_ASSIGN_OR_RETURN(int64_t a, c.attrs.Int("axis"));
  RT_ASSIGN_OR_RETURN(int64_t axis, Axis(a, x.size()));
  auto p = std::make_unique<RowParams>();
  p->outer = Prod(x, 0, axis);
  p->axis = x.empty() ? 1 : x[axis];
  p->inner = Prod(x, axis + 1, x.size());
  p->log = Log;
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunSoftmax(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const RowParams&>(kp);
  kc::SoftmaxF32(c.in_ptr(0), c.out_ptr(0), p.outer, p.axis, p.inner, p.log, c.par);
}

ParamsOr PrepareLayerNorm(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectF32(c));
  const Dims& x = c.inputs[0]->dims;
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], x, "output"));
  RT_ASSIGN_OR_RETURN(int64_t a, c.attrs.Int("axis"));
  RT_ASSIGN_OR_RETURN(int64_t axis, Axis(a, x.size()));
  RT_ASSIGN_OR_RETURN(double eps, c.attrs.Float("eps"));
  Dims tail(x.begin() + axis, x.end());
  RT_RETURN_IF_ERROR(ExpectDims(*c.inputs[1], tail, "layer_norm weight"));
  RT_RETURN_IF_ERROR(ExpectDims(*c.inputs[2], tail, "layer_norm bias"));
  auto p = std::make_unique<RowParams>();
  p->outer = Prod(x, 0, axis);
  p->inner = Prod(x, axis, x.size());
  p->eps = static_cast<float>(eps);
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunLayerNorm(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const RowParams&>(kp);
  kc::LayerNormF32(c.in_ptr(0), c.in_ptr(1), c.in_ptr(2), c.out_ptr(0), p.outer, p.inner, p.eps,
                   c.par);
}

ParamsOr PrepareBatchNorm(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectF32(c));
  const Dims& x = c.inputs[0]->dims;
  if (x.size() < 2) return InvalidArgument("batch_norm input must have rank >= 2");
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], x, "output"));
  for (int i = 1; i < 5; ++i)
    RT_RETURN_IF_ERROR(ExpectDims(*c.inputs[i], {x[1]}, "batch_norm parameter"));
  RT_ASSIGN_OR_RETURN(double eps, c.attrs.Float("eps"));
  auto p = std::make_unique<RowParams>();
  p->outer = x[0];
  p->axis = x[1];
  p->inner = Prod(x, 2, x.size());
  p->eps = static_cast<float>(eps);
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunBatchNorm(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const RowParams&>(kp);
  kc::BatchNormF32(c.in_ptr(0), c.in_ptr(1), c.in_ptr(2), c.in_ptr(3), c.in_ptr(4), c.out_ptr(0),
                   p.outer, p.axis, p.inner, p.eps, c.par);
}

// ---- Epilogues -------------------------------------------------------------------------

// conv2d and linear may carry a fused elementwise epilogue: operands are then
// (x, w, bias, extra...) and the body reads the op's result as argument 0 and
// the extra operands after it. It runs in place on the output.
struct Epilogue {
  FusedProgramPtr program;
  size_t first_extra = 0;
};

Status PrepareEpilogue(const PrepareContext& c, Epilogue* e) {
  const format::KernelBody* body = c.step ? c.step->Body(CodeRole::kEpilogue) : nullptr;
  if (body == nullptr) {
    if (c.inputs.size() > 3) return InvalidArgument("extra operands without an epilogue");
    return Status::Ok();
  }
  if (c.inputs.size() < 3) return InvalidArgument("an epilogue needs an explicit bias operand");
  std::vector<const TensorDesc*> in{c.outputs[0]};
  in.insert(in.end(), c.inputs.begin() + 3, c.inputs.end());
  e->first_extra = 3;
  RT_ASSIGN_OR_RETURN(NativeFusedFn native, FindNative(c, CodeRole::kEpilogue));
  RT_ASSIGN_OR_RETURN(e->program, PlanFusedProgram(*body, in, *c.outputs[0], native));
  return Status::Ok();
}

// One run's epilogue operands. The conv / GEMM kernel hands each range of the
// output to it as soon as the range is final, so the program runs while the
// range is still in cache instead of in a second pass over the output.
struct EpilogueRun {
  const FusedProgram* program = nullptr;
  std::vector<const void*> in;
  float* out = nullptr;
  kc::RangeDone done;
};

// Binds `r` to this run; the callback for the kernel, or null without an
// epilogue.
const kc::RangeDone* BindEpilogue(const Epilogue& e, const RunContext& c, EpilogueRun* r) {
  if (!e.program) return nullptr;
  r->program = e.program.get();
  r->out = c.out_ptr(0);
  r->in.assign(1, r->out);
  for (size_t i = e.first_extra; i < c.step->inputs.size(); ++i) r->in.push_back(c.in[i]);
  r->done.fn = [](void* ctx, int64_t begin, int64_t end) {
    const auto* r = static_cast<const EpilogueRun*>(ctx);
    RunFusedProgramRange(*r->program, r->in.data(), r->out, begin, end);
  };
  r->done.ctx = r;
  return &r->done;
}

// ---- Convolution and pooling ---------------------------------------------------------

// Weights a kernel prepares once at load (packed for the GEMM, Winograd's
// transform) instead of per run; null when it uses them as stored.
using PreparedWeights = std::unique_ptr<float, void (*)(void*)>;

// `floats` floats made by fill(dst) from constant operand `input`, which the
// kernel then never reads (the loader releases its pages). Null when the
// operand is not a constant, the model is only verified, or the memory is
// not there: the kernel then works from the weights as stored, slower, to
// the same answer.
template <typename Fill>
PreparedWeights PrepareWeights(const PrepareContext& c, int input, int64_t floats, Fill&& fill) {
  PreparedWeights p(nullptr, &std::free);
  const TensorDesc& w = *c.inputs[input];
  if (floats <= 0 || w.kind != TensorKind::kConstant || w.constant == nullptr ||
      (c.options != nullptr && c.options->verify_only)) {
    return p;
  }
  p.reset(static_cast<float*>(
      std::aligned_alloc(64, (static_cast<size_t>(floats) * 4 + 63) / 64 * 64)));
  if (p == nullptr) return p;
  fill(reinterpret_cast<const float*>(w.constant), p.get());
  if (c.unread_inputs != nullptr) c.unread_inputs->push_back(input);
  return p;
}

// A constant bias copied next to its kernel's prepared weights, so that a
// run reads nothing of the artifact there: touching a few bytes of a mapped
// file maps its neighbours back too (the weights just released: ResNet-50's
// resident memory grew by 51 MB at the first run).
PreparedWeights PrepareBias(const PrepareContext& c, int input, bool weights_prepared) {
  if (!weights_prepared || static_cast<int>(c.inputs.size()) <= input)
    return PreparedWeights(nullptr, &std::free);
  return PrepareWeights(c, input, c.inputs[input]->num_elements, [&](const float* b, float* dst) {
    std::memcpy(dst, b, static_cast<size_t>(c.inputs[input]->num_elements) * sizeof(float));
  });
}

// The bias a kernel runs with: its copy, else the operand, else none.
const float* BiasOf(const float* copy, const RunContext& c, int input) {
  if (copy != nullptr) return copy;
  return static_cast<int>(c.step->inputs.size()) > input ? c.in_ptr(input) : nullptr;
}

struct ConvParams : KernelParams {
  kc::Conv2dShape s;
  Epilogue epilogue;
  PreparedWeights prepared{nullptr, &std::free}, bias{nullptr, &std::free};
};

ParamsOr PrepareConv2d(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectF32(c));
  if (c.inputs[0]->dims.size() != 4 || c.inputs[1]->dims.size() != 4)
    return InvalidArgument("conv2d input and weight must be 4-D");
  RT_ASSIGN_OR_RETURN(bool nhwc, ChannelsLast(c.attrs));
  const Dims x = LogicalNchw(c.inputs[0]->dims, nhwc), w = LogicalNchw(c.inputs[1]->dims, nhwc);
  RT_ASSIGN_OR_RETURN(auto stride, IntPair(c.attrs, "stride", 1));
  RT_ASSIGN_OR_RETURN(auto pad, IntPair(c.attrs, "padding", 0));
  RT_ASSIGN_OR_RETURN(auto dil, IntPair(c.attrs, "dilation", 1));
  RT_ASSIGN_OR_RETURN(int64_t groups, c.attrs.Int("groups"));
  int64_t channels;
  if (groups <= 0 || x[1] % groups != 0 || w[0] % groups != 0 ||
      __builtin_mul_overflow(w[1], groups, &channels) || channels != x[1]) {
    return InvalidArgument(StrCat("conv2d input ", DimsStr(x), " and weight ", DimsStr(w),
                                  " disagree for groups=", groups));
  }
  if (c.inputs.size() >= 3) RT_RETURN_IF_ERROR(ExpectDims(*c.inputs[2], {w[0]}, "conv2d bias"));
  auto p = std::make_unique<ConvParams>();
  p->s = kc::Conv2dShape{x[0],
                         x[1],
                         x[2],
                         x[3],
                         w[0],
                         w[2],
                         w[3],
                         WindowOut(x[2], w[2], stride[0], pad[0], dil[0], false),
                         WindowOut(x[3], w[3], stride[1], pad[1], dil[1], false),
                         stride[0],
                         stride[1],
                         pad[0],
                         pad[1],
                         dil[0],
                         dil[1],
                         groups,
                         nhwc};
  if (p->s.oh <= 0 || p->s.ow <= 0) return InvalidArgument("conv2d input smaller than its kernel");
  RT_RETURN_IF_ERROR(
      ExpectDims(*c.outputs[0], StoredDims({x[0], w[0], p->s.oh, p->s.ow}, nhwc), "output"));
  RT_RETURN_IF_ERROR(PrepareEpilogue(c, &p->epilogue));
  p->prepared = PrepareWeights(
      c, 1, kc::Conv2dPreparedWeightFloats(p->s),
      [&](const float* w, float* dst) { kc::Conv2dPrepareWeightsF32(p->s, w, dst); });
  p->bias = PrepareBias(c, 2, p->prepared != nullptr);
  return std::unique_ptr<KernelParams>(std::move(p));
}

int64_t ConvScratch(const KernelParams& kp, int threads) {
  // The im2col buffer is weight-rows x output-pixels; both factors are bounded
  // by tensors, their product is not. Refuse (-1) what int64 cannot hold.
  const kc::Conv2dShape& s = static_cast<const ConvParams&>(kp).s;
  int64_t bytes = 4 * 64;  // floats, plus headroom for the kernel's rounding
  for (int64_t f : {s.c / s.groups, s.kh, s.kw, s.oh, s.ow, int64_t{threads}}) {
    if (__builtin_mul_overflow(bytes, f, &bytes)) return -1;
  }
  return kc::Conv2dScratchBytes(s, threads);
}

void RunConv2d(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const ConvParams&>(kp);
  EpilogueRun ep;
  kc::Conv2dF32(p.s, c.in_ptr(0), c.in_ptr(1), BiasOf(p.bias.get(), c, 2), c.out_ptr(0), c.scratch,
                c.par, BindEpilogue(p.epilogue, c, &ep), p.prepared.get());
}

struct PoolParams : KernelParams {
  kc::Pool2dShape s;
  bool count_include_pad = true;
  int64_t divisor = 0;
};

template <bool Max>
ParamsOr PreparePool(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectF32(c));
  if (c.inputs[0]->dims.size() != 4) return InvalidArgument("pool input must be 4-D");
  RT_ASSIGN_OR_RETURN(bool nhwc, ChannelsLast(c.attrs));
  const Dims x = LogicalNchw(c.inputs[0]->dims, nhwc);
  RT_ASSIGN_OR_RETURN(auto k, IntPair(c.attrs, "kernel", 1));
  RT_ASSIGN_OR_RETURN(auto s, IntPair(c.attrs, "stride", 1));
  RT_ASSIGN_OR_RETURN(auto pad, IntPair(c.attrs, "padding", 0));
  std::array<int64_t, 2> dil{1, 1};
  RT_ASSIGN_OR_RETURN(bool ceil_mode, c.attrs.Bool("ceil_mode"));
  auto p = std::make_unique<PoolParams>();
  if constexpr (Max) {
    RT_ASSIGN_OR_RETURN(dil, IntPair(c.attrs, "dilation", 1));
  } else {
    RT_ASSIGN_OR_RETURN(p->count_include_pad, c.attrs.Bool("count_include_pad"));
    RT_ASSIGN_OR_RETURN(p->divisor, c.attrs.IntOr("divisor", 0));
  }
  if (2 * pad[0] > k[0] || 2 * pad[1] > k[1])
    return InvalidArgument("pool padding above half the window");
  p->s = kc::Pool2dShape{x[0],
                         x[1],
                         x[2],
                         x[3],
                         WindowOut(x[2], k[0], s[0], pad[0], dil[0], ceil_mode),
                         WindowOut(x[3], k[1], s[1], pad[1], dil[1], ceil_mode),
                         k[0],
                         k[1],
                         s[0],
                         s[1],
                         pad[0],
                         pad[1],
                         dil[0],
                         dil[1],
                         nhwc};
  if (p->s.oh <= 0 || p->s.ow <= 0) return InvalidArgument("pool input smaller than its window");
  RT_RETURN_IF_ERROR(
      ExpectDims(*c.outputs[0], StoredDims({x[0], x[1], p->s.oh, p->s.ow}, nhwc), "output"));
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunMaxPool(const KernelParams& kp, const RunContext& c) {
  kc::MaxPool2dF32(static_cast<const PoolParams&>(kp).s, c.in_ptr(0), c.out_ptr(0), c.par);
}

void RunAvgPool(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const PoolParams&>(kp);
  kc::AvgPool2dF32(p.s, p.count_include_pad, p.divisor, c.in_ptr(0), c.out_ptr(0), c.par);
}

ParamsOr PrepareAdaptivePool(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectF32(c));
  if (c.inputs[0]->dims.size() != 4) return InvalidArgument("adaptive pool input must be 4-D");
  RT_ASSIGN_OR_RETURN(bool nhwc, ChannelsLast(c.attrs));
  const Dims x = LogicalNchw(c.inputs[0]->dims, nhwc);
  RT_ASSIGN_OR_RETURN(auto o, IntPair(c.attrs, "output_size", 1));
  if (x[2] == 0 || x[3] == 0) return InvalidArgument("adaptive pool of an empty input");
  RT_RETURN_IF_ERROR(
      ExpectDims(*c.outputs[0], StoredDims({x[0], x[1], o[0], o[1]}, nhwc), "output"));
  auto p = std::make_unique<PoolParams>();
  p->s.n = nhwc ? x[0] : x[0] * x[1];  // NCHW: planes
  p->s.c = x[1];
  p->s.h = x[2];
  p->s.w = x[3];
  p->s.oh = o[0];
  p->s.ow = o[1];
  p->s.nhwc = nhwc;
  return std::unique_ptr<KernelParams>(std::move(p));
}

template <bool Max>
void RunAdaptivePool(const KernelParams& kp, const RunContext& c) {
  const auto& s = static_cast<const PoolParams&>(kp).s;
  if (s.nhwc) return kc::AdaptivePool2dNhwcF32(Max, s, c.in_ptr(0), c.out_ptr(0), c.par);
  (Max ? kc::AdaptiveMaxPool2dF32 : kc::AdaptiveAvgPool2dF32)(c.in_ptr(0), c.out_ptr(0), s.n, s.h,
                                                              s.w, s.oh, s.ow, c.par);
}

struct GridSampleParams : KernelParams {
  kc::GridSampleShape s;
};

ParamsOr PrepareGridSample(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectF32(c));
  const Dims &x = c.inputs[0]->dims, &g = c.inputs[1]->dims;
  if (x.size() != 4 || g.size() != 4 || g[3] != 2 || g[0] != x[0]) {
    return InvalidArgument(StrCat("grid_sample input ", DimsStr(x), " and grid ", DimsStr(g),
                                  " are not [N,C,H,W] and [N,OH,OW,2]"));
  }
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], {x[0], x[1], g[1], g[2]}, "output"));
  RT_ASSIGN_OR_RETURN(std::string mode, c.attrs.Str("mode"));
  RT_ASSIGN_OR_RETURN(std::string padding, c.attrs.Str("padding_mode"));
  RT_ASSIGN_OR_RETURN(bool align_corners, c.attrs.Bool("align_corners"));
  auto p = std::make_unique<GridSampleParams>();
  if (mode == "bilinear") {
    p->s.mode = kc::SampleMode::kBilinear;
  } else if (mode == "nearest") {
    p->s.mode = kc::SampleMode::kNearest;
  } else {
    return InvalidArgument(StrCat("grid_sample mode '", mode, "'"));
  }
  if (padding == "zeros") {
    p->s.padding = kc::SamplePadding::kZeros;
  } else if (padding == "border") {
    p->s.padding = kc::SamplePadding::kBorder;
  } else if (padding == "reflection") {
    p->s.padding = kc::SamplePadding::kReflection;
  } else {
    return InvalidArgument(StrCat("grid_sample padding_mode '", padding, "'"));
  }
  p->s.n = x[0];
  p->s.c = x[1];
  p->s.h = x[2];
  p->s.w = x[3];
  p->s.oh = g[1];
  p->s.ow = g[2];
  p->s.align_corners = align_corners;
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunGridSample(const KernelParams& kp, const RunContext& c) {
  kc::GridSampleF32(static_cast<const GridSampleParams&>(kp).s, c.in_ptr(0), c.in_ptr(1),
                    c.out_ptr(0), c.par);
}

struct RoiAlignParams : KernelParams {
  kc::RoiAlignShape s;
};

ParamsOr PrepareRoiAlign(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectF32(c));
  const Dims &x = c.inputs[0]->dims, &r = c.inputs[1]->dims;
  if (x.size() != 4 || r.size() != 2 || r[1] != 5) {
    return InvalidArgument(StrCat("roi_align input ", DimsStr(x), " and rois ", DimsStr(r),
                                  " are not [N,C,H,W] and [K,5]"));
  }
  auto p = std::make_unique<RoiAlignParams>();
  RT_ASSIGN_OR_RETURN(p->s.ph, c.attrs.Int("pooled_height"));
  RT_ASSIGN_OR_RETURN(p->s.pw, c.attrs.Int("pooled_width"));
  RT_ASSIGN_OR_RETURN(double scale, c.attrs.Float("spatial_scale"));
  RT_ASSIGN_OR_RETURN(p->s.sampling_ratio, c.attrs.Int("sampling_ratio"));
  RT_ASSIGN_OR_RETURN(p->s.aligned, c.attrs.Bool("aligned"));
  if (p->s.ph < 1 || p->s.pw < 1 || p->s.ph > (1 << 16) || p->s.pw > (1 << 16))
    return InvalidArgument(StrCat("roi_align output size ", p->s.ph, "x", p->s.pw));
  // A grid of samples per bin the artifact fixes: bounded, so that a run
  // costs what its shapes declare (torchvision's models use 0 or 2).
  if (p->s.sampling_ratio > 64)
    return InvalidArgument(StrCat("roi_align sampling_ratio ", p->s.sampling_ratio));
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], {r[0], x[1], p->s.ph, p->s.pw}, "output"));
  p->s.n = x[0];
  p->s.c = x[1];
  p->s.h = x[2];
  p->s.w = x[3];
  p->s.k = r[0];
  p->s.spatial_scale = static_cast<float>(scale);
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunRoiAlign(const KernelParams& kp, const RunContext& c) {
  kc::RoiAlignF32(static_cast<const RoiAlignParams&>(kp).s, c.in_ptr(0), c.in_ptr(1), c.out_ptr(0),
                  c.par);
}

// ---- GEMM ------------------------------------------------------------------------------

struct LinearParams : KernelParams {
  int64_t m, n, k;
  Epilogue epilogue;
  // Shared: a step prepared at each run's extents takes them from its
  // load-time preparation (PrepareContext::reuse).
  std::shared_ptr<float> packed, bias;
};

ParamsOr PrepareLinear(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectF32(c));
  const Dims &x = c.inputs[0]->dims, &w = c.inputs[1]->dims;
  if (w.size() != 2 || x.empty() || x.back() != w[1]) {
    return InvalidArgument(
        StrCat("linear input ", DimsStr(x), " does not match weight ", DimsStr(w)));
  }
  if (c.inputs.size() >= 3) RT_RETURN_IF_ERROR(ExpectDims(*c.inputs[2], {w[0]}, "linear bias"));
  Dims y = x;
  y.back() = w[0];
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], y, "output"));
  auto p = std::make_unique<LinearParams>();
  p->m = Prod(x, 0, x.size() - 1);
  p->n = w[0];
  p->k = w[1];
  RT_RETURN_IF_ERROR(PrepareEpilogue(c, &p->epilogue));
  // The packing does not depend on the rows, only whether there are enough
  // of them to use it.
  const auto* reuse = static_cast<const LinearParams*>(c.reuse);
  if (reuse != nullptr && reuse->packed != nullptr && reuse->n == p->n && reuse->k == p->k &&
      kc::GemmPackedWeightFloats(p->m, p->n, p->k) > 0) {
    p->packed = reuse->packed;
    p->bias = reuse->bias;
  } else {
    p->packed = PrepareWeights(
        c, 1, kc::GemmPackedWeightFloats(p->m, p->n, p->k),
        [&](const float* w, float* dst) { kc::GemmPackWeightF32(p->n, p->k, w, p->k, true, dst); });
    p->bias = PrepareBias(c, 2, p->packed != nullptr);
  }
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunLinear(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const LinearParams&>(kp);
  EpilogueRun ep;
  const float* bias = BiasOf(p.bias.get(), c, 2);
  if (p.packed != nullptr) {
    return kc::GemmPackedF32(p.m, p.n, p.k, c.in_ptr(0), p.k, p.packed.get(), bias, c.out_ptr(0),
                             p.n, c.par, BindEpilogue(p.epilogue, c, &ep));
  }
  kc::GemmF32(p.m, p.n, p.k, c.in_ptr(0), p.k, c.in_ptr(1), p.k, /*b_transposed=*/true, bias,
              c.out_ptr(0), p.n, c.par, BindEpilogue(p.epilogue, c, &ep));
}

struct MatmulParams : KernelParams {
  int64_t m, n, k;
  Dims batch, a_batch, b_batch;  // aligned batch dims
};

ParamsOr PrepareMatmul(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectF32(c));
  Dims a = c.inputs[0]->dims, b = c.inputs[1]->dims;
  if (a.empty() || b.empty()) return InvalidArgument("matmul operands must have rank >= 1");
  bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  if (a.back() != b[b.size() - 2]) return InvalidArgument("matmul inner dimensions differ");
  Dims ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  RT_ASSIGN_OR_RETURN(Dims batch, Broadcast(ab, bb));
  auto p = std::make_unique<MatmulParams>();
  p->m = a[a.size() - 2];
  p->k = a.back();
  p->n = b.back();
  p->batch = batch;
  p->a_batch = Align(ab, batch.size());
  p->b_batch = Align(bb, batch.size());
  Dims y = batch;
  if (!a_vec) y.push_back(p->m);
  if (!b_vec) y.push_back(p->n);
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], y, "output"));
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunMatmul(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const MatmulParams&>(kp);
  const int64_t batches = Prod(p.batch, 0, p.batch.size());
  const int rank = static_cast<int>(p.batch.size());
  Dims idx(rank, 0);
  for (int64_t i = 0; i < batches; ++i) {
    int64_t ao = 0, bo = 0, as = 1, bs = 1;
    for (int d = rank - 1; d >= 0; --d) {
      ao += (p.a_batch[d] == 1 ? 0 : idx[d]) * as;
      bo += (p.b_batch[d] == 1 ? 0 : idx[d]) * bs;
      as *= p.a_batch[d];
      bs *= p.b_batch[d];
    }
    kc::GemmF32(p.m, p.n, p.k, c.in_ptr(0) + ao * p.m * p.k, p.k, c.in_ptr(1) + bo * p.k * p.n, p.n,
                false, nullptr, c.out_ptr(0) + i * p.m * p.n, p.n, c.par);
    for (int d = rank - 1; d >= 0 && ++idx[d] == p.batch[d]; --d) idx[d] = 0;
  }
}

// ---- Embedding and LSTM --------------------------------------------------------------------

Status ExpectDType(const TensorDesc& t, sinter_dtype want, const char* what);

struct EmbeddingParams : KernelParams {
  int elem = 4;
  uint64_t fill = 0;  // an out-of-range index's element, its bytes
};

ParamsOr PrepareEmbedding(const PrepareContext& c) {
  const Dims &w = c.inputs[0]->dims, &i = c.inputs[1]->dims;
  if (c.inputs[1]->dtype != SINTER_I64 || w.size() != 2) {
    return InvalidArgument("embedding needs a [V,D] table and i64 indices");
  }
  RT_RETURN_IF_ERROR(ExpectDType(*c.outputs[0], c.inputs[0]->dtype, "embedding output"));
  Dims y = i;
  y.push_back(w[1]);
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], y, "output"));
  auto p = std::make_unique<EmbeddingParams>();
  p->elem = static_cast<int>(sinter_dtype_size(c.inputs[0]->dtype));
  // Out-of-range indices give NaN rows (as on CUDA; kernels/cpu/kernels.h),
  // the lowest integer, or zeros.
  switch (c.inputs[0]->dtype) {
    case SINTER_F32:
      p->fill = 0x7fc00000u;
      break;
    case SINTER_F64:
      p->fill = 0x7ff8000000000000u;
      break;
    case SINTER_F16:
      p->fill = 0x7e00u;
      break;
    case SINTER_BF16:
      p->fill = 0x7fc0u;
      break;
    case SINTER_I64:
      p->fill = uint64_t{1} << 63;
      break;
    case SINTER_I32:
      p->fill = uint64_t{1} << 31;
      break;
    case SINTER_I8:
    case SINTER_U8:
    case SINTER_BOOL:
      break;
  }
  return std::unique_ptr<KernelParams>(std::move(p));
}

StatusOr<std::vector<Dims>> EmbeddingRunDims(const Attrs&,
                                             const std::vector<const TensorDesc*>& in) {
  if (in[0]->dims.size() != 2) return InvalidArgument("embedding needs a [V,D] table");
  Dims y = in[1]->dims;
  y.push_back(in[0]->dims[1]);
  return std::vector<Dims>{y};
}

void RunEmbedding(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const EmbeddingParams&>(kp);
  const Dims& w = c.input(0).dims;
  kc::EmbeddingRows(c.in[0], w[0], w[1] * p.elem, c.in_ptr<int64_t>(1), c.input(1).num_elements,
                    &p.fill, p.elem, c.out[0]);
}

// ---- Along one axis: cumsum, gather, sort -----------------------------------------

struct AxisParams : KernelParams {
  int64_t outer = 1, len = 1, inner = 1, k = 0;
  int axis = 0;
  bool i64 = false, descending = false;
};

// The axis attribute against `x`, and x as [outer, len, inner] around it.
StatusOr<std::unique_ptr<AxisParams>> AxisView(const PrepareContext& c, const TensorDesc& x) {
  if (x.dims.empty() || x.dims.size() > 64)
    return InvalidArgument(StrCat("tensor '", x.name, "' must have rank 1 to 64"));
  if (x.dtype != SINTER_F32 && x.dtype != SINTER_I64) {
    return Status(SINTER_UNIMPLEMENTED, StrCat("tensor '", x.name, "': only f32 and i64"));
  }
  RT_ASSIGN_OR_RETURN(int64_t a, c.attrs.Int("axis"));
  RT_ASSIGN_OR_RETURN(int64_t axis, Axis(a, x.dims.size()));
  auto p = std::make_unique<AxisParams>();
  p->axis = static_cast<int>(axis);
  p->outer = Prod(x.dims, 0, axis);
  p->len = x.dims[axis];
  p->inner = Prod(x.dims, axis + 1, x.dims.size());
  p->i64 = x.dtype == SINTER_I64;
  return p;
}

Status ExpectDType(const TensorDesc& t, sinter_dtype want, const char* what) {
  if (t.dtype != want) return InvalidArgument(StrCat(what, " '", t.name, "' has the wrong dtype"));
  return Status::Ok();
}

ParamsOr PrepareCumsum(const PrepareContext& c) {
  RT_ASSIGN_OR_RETURN(auto p, AxisView(c, *c.inputs[0]));
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], c.inputs[0]->dims, "output"));
  RT_RETURN_IF_ERROR(ExpectDType(*c.outputs[0], c.inputs[0]->dtype, "output"));
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunCumsum(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const AxisParams&>(kp);
  if (p.i64) {
    kc::CumsumI64(c.in_ptr<int64_t>(0), c.out_ptr<int64_t>(0), p.outer, p.len, p.inner);
  } else {
    kc::CumsumF32(c.in_ptr(0), c.out_ptr(0), p.outer, p.len, p.inner);
  }
}

ParamsOr PrepareGather(const PrepareContext& c) {
  const TensorDesc &x = *c.inputs[0], &idx = *c.inputs[1];
  RT_ASSIGN_OR_RETURN(auto p, AxisView(c, x));
  RT_RETURN_IF_ERROR(ExpectDType(idx, SINTER_I64, "gather index"));
  if (idx.dims.size() != x.dims.size())
    return InvalidArgument("gather index and data differ in rank");
  for (size_t d = 0; d < x.dims.size(); ++d) {
    if (static_cast<int>(d) != p->axis && idx.dims[d] > x.dims[d])
      return InvalidArgument(
          StrCat("gather index ", DimsStr(idx.dims), " exceeds data ", DimsStr(x.dims)));
  }
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], idx.dims, "output"));
  RT_RETURN_IF_ERROR(ExpectDType(*c.outputs[0], x.dtype, "output"));
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunGather(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const AxisParams&>(kp);
  const kc::GatherShape s{c.input(1).dims.data(), c.input(0).dims.data(),
                          static_cast<int>(c.input(0).dims.size()), p.axis};
  if (p.i64) {
    kc::GatherI64(c.in_ptr<int64_t>(0), c.in_ptr<int64_t>(1), c.out_ptr<int64_t>(0), s);
  } else {
    kc::GatherF32(c.in_ptr(0), c.in_ptr<int64_t>(1), c.out_ptr(0), s);
  }
}

ParamsOr PrepareSort(const PrepareContext& c) {
  const TensorDesc& x = *c.inputs[0];
  RT_ASSIGN_OR_RETURN(auto p, AxisView(c, x));
  RT_ASSIGN_OR_RETURN(p->k, c.attrs.Int("k"));
  RT_ASSIGN_OR_RETURN(p->descending, c.attrs.Bool("descending"));
  if (p->k < 0 || p->k > p->len)
    return InvalidArgument(StrCat("sort k = ", p->k, " outside [0, ", p->len, "]"));
  Dims y = x.dims;
  y[p->axis] = p->k;
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], y, "sort values"));
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[1], y, "sort indices"));
  RT_RETURN_IF_ERROR(ExpectDType(*c.outputs[0], x.dtype, "sort values"));
  RT_RETURN_IF_ERROR(ExpectDType(*c.outputs[1], SINTER_I64, "sort indices"));
  return std::unique_ptr<KernelParams>(std::move(p));
}

int64_t SortScratch(const KernelParams& kp, int) {
  return static_cast<const AxisParams&>(kp).len * static_cast<int64_t>(sizeof(int64_t));
}

void RunSort(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const AxisParams&>(kp);
  auto* order = static_cast<int64_t*>(c.scratch);
  if (p.i64) {
    kc::SortI64(c.in_ptr<int64_t>(0), c.out_ptr<int64_t>(0), c.out_ptr<int64_t>(1), p.outer, p.len,
                p.inner, p.k, p.descending, order);
  } else {
    kc::SortF32(c.in_ptr(0), c.out_ptr(0), c.out_ptr<int64_t>(1), p.outer, p.len, p.inner, p.k,
                p.descending, order);
  }
}

struct RecurrentParams : KernelParams {
  kc::RecurrentShape s;
};

// lstm (4 gates; states h and c) and gru (3 gates; state h): x, the states,
// then per layer and direction w_ih [G*H, in], w_hh [G*H, H] and, with
// biases, b_ih and b_hh [G*H]; results y and the last states.
// One function for both (not a template per op: the runtime stays small).
ParamsOr PrepareRecurrent(const PrepareContext& c, int64_t gates, int states) {
  const char* name = gates == 4 ? "lstm" : "gru";
  RT_RETURN_IF_ERROR(ExpectF32(c));
  auto p = std::make_unique<RecurrentParams>();
  RT_ASSIGN_OR_RETURN(int64_t layers, c.attrs.Int("num_layers"));
  RT_ASSIGN_OR_RETURN(int64_t hidden, c.attrs.Int("hidden_size"));
  RT_ASSIGN_OR_RETURN(bool bf, c.attrs.Bool("batch_first"));
  RT_ASSIGN_OR_RETURN(bool bidir, c.attrs.Bool("bidirectional"));
  RT_ASSIGN_OR_RETURN(bool bias, c.attrs.Bool("has_biases"));
  const Dims& x = c.inputs[0]->dims;
  if (x.size() != 3 || layers <= 0 || layers > 64 || hidden <= 0 || hidden > (int64_t{1} << 32))
    return InvalidArgument(StrCat("bad ", name, " shape"));
  const int64_t dirs = bidir ? 2 : 1, per = bias ? 4 : 2, gated = gates * hidden;
  if (static_cast<int64_t>(c.inputs.size()) != 1 + states + layers * dirs * per) {
    return InvalidArgument(StrCat(name, " weight count disagrees with its attributes"));
  }
  p->s =
      kc::RecurrentShape{bf ? x[1] : x[0], bf ? x[0] : x[1], x[2], hidden, layers, bidir, bf, bias};
  Dims state{layers * dirs, p->s.batch, hidden};
  for (int i = 1; i <= states; ++i)
    RT_RETURN_IF_ERROR(ExpectDims(*c.inputs[i], state, StrCat(name, i == 1 ? " h0" : " c0")));
  for (int64_t l = 0; l < layers; ++l) {
    for (int64_t d = 0; d < dirs; ++d) {
      size_t base = 1 + states + (l * dirs + d) * per;
      int64_t in = l == 0 ? x[2] : hidden * dirs;
      RT_RETURN_IF_ERROR(ExpectDims(*c.inputs[base], {gated, in}, StrCat(name, " w_ih")));
      RT_RETURN_IF_ERROR(ExpectDims(*c.inputs[base + 1], {gated, hidden}, StrCat(name, " w_hh")));
      if (bias) {
        RT_RETURN_IF_ERROR(ExpectDims(*c.inputs[base + 2], {gated}, StrCat(name, " b_ih")));
        RT_RETURN_IF_ERROR(ExpectDims(*c.inputs[base + 3], {gated}, StrCat(name, " b_hh")));
      }
    }
  }
  Dims y =
      bf ? Dims{p->s.batch, p->s.seq, hidden * dirs} : Dims{p->s.seq, p->s.batch, hidden * dirs};
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], y, StrCat(name, " output")));
  for (int i = 1; i <= states; ++i)
    RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[i], state, StrCat(name, i == 1 ? " h_n" : " c_n")));
  return std::unique_ptr<KernelParams>(std::move(p));
}

ParamsOr PrepareLstm(const PrepareContext& c) { return PrepareRecurrent(c, 4, 2); }
ParamsOr PrepareGru(const PrepareContext& c) { return PrepareRecurrent(c, 3, 1); }

int64_t LstmScratch(const KernelParams& kp, int) {
  return kc::LstmScratchBytes(static_cast<const RecurrentParams&>(kp).s);
}

int64_t GruScratch(const KernelParams& kp, int) {
  return kc::GruScratchBytes(static_cast<const RecurrentParams&>(kp).s);
}

// The weights' pointers, after x and `states` states.
std::vector<const float*> RecurrentWeights(const RunContext& c, size_t states) {
  std::vector<const float*> w;
  for (size_t i = 1 + states; i < c.step->inputs.size(); ++i)
    w.push_back(c.in_ptr(static_cast<int>(i)));
  return w;
}

void RunLstm(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const RecurrentParams&>(kp);
  kc::LstmF32(p.s, c.in_ptr(0), c.in_ptr(1), c.in_ptr(2), RecurrentWeights(c, 2).data(),
              c.out_ptr(0), c.out_ptr(1), c.out_ptr(2), c.scratch, c.par);
}

void RunGru(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const RecurrentParams&>(kp);
  kc::GruF32(p.s, c.in_ptr(0), c.in_ptr(1), RecurrentWeights(c, 1).data(), c.out_ptr(0),
             c.out_ptr(1), c.scratch, c.par);
}

// ---- Sizes the data decides: nonzero, masked_select ----------------------------------
//
// Their result is a model output the session sizes as the kernel runs
// (TensorKind::kDynamic, leading dim -1): count, size, then write.

struct RunSizedParams : KernelParams {
  int elem_bytes = 0;
  bool is_float = false;
  int64_t rows = 0, row_bytes = 0;  // masked_select: x as [rows, row]
};

bool FloatDType(sinter_dtype t) {
  return t == SINTER_F32 || t == SINTER_F16 || t == SINTER_BF16 || t == SINTER_F64;
}

// The result: sized by the run, its leading dim -1 and the rest `rest`.
Status ExpectRunSized(const TensorDesc& y, const Dims& rest, sinter_dtype dtype, const char* op) {
  Dims want{-1};
  want.insert(want.end(), rest.begin(), rest.end());
  if (y.kind != TensorKind::kDynamic || y.dims != want) {
    return InvalidArgument(StrCat(op, " result '", y.name, "' must be sized by the run as ",
                                  DimsStr(want), ", recorded ", DimsStr(y.dims)));
  }
  return ExpectDType(y, dtype, op);
}

ParamsOr PrepareNonzero(const PrepareContext& c) {
  const TensorDesc& x = *c.inputs[0];
  RT_RETURN_IF_ERROR(
      ExpectRunSized(*c.outputs[0], {static_cast<int64_t>(x.dims.size())}, SINTER_I64, "nonzero"));
  auto p = std::make_unique<RunSizedParams>();
  p->elem_bytes = static_cast<int>(sinter_dtype_size(x.dtype));
  p->is_float = FloatDType(x.dtype);
  return std::unique_ptr<KernelParams>(std::move(p));
}

Status RunNonzero(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const RunSizedParams&>(kp);
  const TensorDesc& x = c.input(0);
  const int64_t count = kc::CountNonzero(c.in[0], x.num_elements, p.elem_bytes, p.is_float);
  const int64_t dims[2] = {count, static_cast<int64_t>(x.dims.size())};
  RT_ASSIGN_OR_RETURN(void* y, c.dynamic->Resize(c.step->outputs[0], c.output(0), dims, 2));
  kc::NonzeroIndices(c.in[0], x.dims.data(), static_cast<int>(x.dims.size()), p.elem_bytes,
                     p.is_float, static_cast<int64_t*>(y));
  return Status::Ok();
}

ParamsOr PrepareMaskedSelect(const PrepareContext& c) {
  const TensorDesc &x = *c.inputs[0], &mask = *c.inputs[1];
  RT_RETURN_IF_ERROR(ExpectDType(mask, SINTER_BOOL, "masked_select mask"));
  if (mask.dims.empty() || mask.dims.size() > x.dims.size() ||
      !std::equal(mask.dims.begin(), mask.dims.end(), x.dims.begin())) {
    return InvalidArgument(StrCat("masked_select mask ", DimsStr(mask.dims),
                                  " is not the leading dims of x ", DimsStr(x.dims)));
  }
  const Dims rest(x.dims.begin() + static_cast<std::ptrdiff_t>(mask.dims.size()), x.dims.end());
  RT_RETURN_IF_ERROR(ExpectRunSized(*c.outputs[0], rest, x.dtype, "masked_select"));
  auto p = std::make_unique<RunSizedParams>();
  p->rows = mask.num_elements;
  p->row_bytes = static_cast<int64_t>(sinter_dtype_size(x.dtype)) * Prod(rest, 0, rest.size());
  return std::unique_ptr<KernelParams>(std::move(p));
}

// At the run's extents (of x sized by the run): the count is the kernel's.
StatusOr<std::vector<Dims>> NonzeroRunDims(const Attrs&, const std::vector<const TensorDesc*>& in) {
  return std::vector<Dims>{{-1, static_cast<int64_t>(in[0]->dims.size())}};
}

StatusOr<std::vector<Dims>> MaskedSelectRunDims(const Attrs&,
                                                const std::vector<const TensorDesc*>& in) {
  const Dims &x = in[0]->dims, &mask = in[1]->dims;
  if (mask.size() > x.size()) return InvalidArgument("masked_select mask of a higher rank");
  Dims y{-1};
  y.insert(y.end(), x.begin() + static_cast<std::ptrdiff_t>(mask.size()), x.end());
  return std::vector<Dims>{y};
}

StatusOr<std::vector<Dims>> NmsRunDims(const Attrs&, const std::vector<const TensorDesc*>&) {
  return std::vector<Dims>{{-1}};
}

struct NmsParams : KernelParams {
  int64_t n = 0;
  double iou = 0;
};

ParamsOr PrepareNms(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(ExpectDType(*c.inputs[0], SINTER_F32, "nms boxes"));
  RT_RETURN_IF_ERROR(ExpectDType(*c.inputs[1], SINTER_F32, "nms scores"));
  const Dims &b = c.inputs[0]->dims, &s = c.inputs[1]->dims;
  if (b.size() != 2 || b[1] != 4 || s.size() != 1 || s[0] != b[0]) {
    return InvalidArgument(
        StrCat("nms boxes ", DimsStr(b), " and scores ", DimsStr(s), " are not [K,4] and [K]"));
  }
  RT_RETURN_IF_ERROR(ExpectRunSized(*c.outputs[0], {}, SINTER_I64, "nms"));
  auto p = std::make_unique<NmsParams>();
  p->n = b[0];
  RT_ASSIGN_OR_RETURN(p->iou, c.attrs.Float("iou_threshold"));
  return std::unique_ptr<KernelParams>(std::move(p));
}

// The kept indices first (n of them at most), then NmsF32's own.
int64_t NmsScratch(const KernelParams& kp, int) {
  const int64_t n = static_cast<const NmsParams&>(kp).n;
  return n * static_cast<int64_t>(sizeof(int64_t)) + kc::NmsScratchBytes(n);
}

Status RunNms(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const NmsParams&>(kp);
  auto* keep = static_cast<int64_t*>(c.scratch);
  const int64_t kept = kc::NmsF32(c.in_ptr(0), c.in_ptr(1), p.n, p.iou, keep, keep + p.n);
  RT_ASSIGN_OR_RETURN(void* y, c.dynamic->Resize(c.step->outputs[0], c.output(0), &kept, 1));
  std::memcpy(y, keep, static_cast<size_t>(kept) * sizeof(int64_t));
  return Status::Ok();
}

Status RunMaskedSelect(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const RunSizedParams&>(kp);
  const auto* mask = c.in_ptr<uint8_t>(1);
  Dims dims = c.output(0).dims;
  dims[0] = kc::CountNonzero(mask, p.rows, 1, false);
  RT_ASSIGN_OR_RETURN(void* y,
                      c.dynamic->Resize(c.step->outputs[0], c.output(0), dims.data(), dims.size()));
  kc::MaskedSelectRows(c.in[0], mask, p.rows, p.row_bytes, y);
  return Status::Ok();
}

// ---- Data movement ---------------------------------------------------------------------------

struct CopyParams : KernelParams {
  Dims strides, dims;  // strided read of the input into the dense output
  int64_t offset = 0;  // elements
  int64_t elem = 4;
  // concat: per-input extent along the axis, and the outer/inner split.
  Dims extents;
  int64_t outer = 1, inner = 1;
};

Status SameDType(const PrepareContext& c) {
  for (const TensorDesc* t : c.inputs) {
    if (t->dtype != c.outputs[0]->dtype) return InvalidArgument("input and output dtypes differ");
  }
  return Status::Ok();
}

// `shape` with its one -1 resolved for `elements`, as the IR's shape rule
// made it.
StatusOr<Dims> ReshapeTarget(const Attrs& attrs, int64_t elements);

// The target of a reshape of x (dims `x`): with `from`, each -1 takes the
// extent of the axis of x it names (several dims sized by the run kept
// whole); otherwise one -1 inferred. The element count is checked by the
// callers.
StatusOr<Dims> ReshapeOf(const Attrs& attrs, const Dims& x, int64_t elements) {
  if (!attrs.Has("from")) return ReshapeTarget(attrs, elements);
  RT_ASSIGN_OR_RETURN(Dims shape, attrs.Ints("shape"));
  RT_ASSIGN_OR_RETURN(Dims from, attrs.Ints("from"));
  size_t k = 0;
  for (int64_t& e : shape) {
    if (e != -1) continue;
    if (k >= from.size() || from[k] < 0 || from[k] >= static_cast<int64_t>(x.size()))
      return InvalidArgument(StrCat("reshape: from ", DimsStr(from), " does not fit the target"));
    e = x[from[k++]];
  }
  if (k != from.size())
    return InvalidArgument(StrCat("reshape: from ", DimsStr(from), " does not fit the target"));
  int64_t n;
  if (!CheckedNumElements(shape, &n) || n != elements)
    return InvalidArgument(StrCat("cannot reshape ", DimsStr(x), " to ", DimsStr(shape)));
  return shape;
}

StatusOr<Dims> ReshapeTarget(const Attrs& attrs, int64_t elements) {
  RT_ASSIGN_OR_RETURN(Dims shape, attrs.Ints("shape"));
  int64_t known = 1;
  int infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1 && infer_at < 0) {
      infer_at = static_cast<int>(i);
    } else if (shape[i] < 0 || __builtin_mul_overflow(known, shape[i], &known)) {
      return InvalidArgument(StrCat("bad reshape target ", DimsStr(shape)));
    }
  }
  if (infer_at >= 0) {
    if (known == 0 || elements % known != 0)
      return InvalidArgument(StrCat("cannot infer -1 in reshape target ", DimsStr(shape)));
    shape[infer_at] = elements / known;
  }
  return shape;
}

ParamsOr PrepareReshape(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(SameDType(c));
  if (c.outputs[0]->num_elements != c.inputs[0]->num_elements) {
    return InvalidArgument("reshape changes the element count");
  }
  RT_ASSIGN_OR_RETURN(Dims shape, ReshapeOf(c.attrs, c.inputs[0]->dims, c.inputs[0]->num_elements));
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], shape, "output"));
  return std::unique_ptr<KernelParams>(std::make_unique<CopyParams>());
}

StatusOr<std::vector<Dims>> ReshapeRunDims(const Attrs& attrs,
                                           const std::vector<const TensorDesc*>& in) {
  RT_ASSIGN_OR_RETURN(Dims shape, ReshapeOf(attrs, in[0]->dims, in[0]->num_elements));
  return std::vector<Dims>{shape};
}

// An empty tensor may have no storage at all (a null pointer), which memmove
// and memcpy must never see, even for 0 bytes.
void RunReshape(const KernelParams&, const RunContext& c) {
  const uint64_t bytes = c.output(0).byte_size;
  if (bytes > 0 && c.out[0] != c.in[0]) std::memmove(c.out[0], c.in[0], bytes);
}

ParamsOr PrepareTranspose(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(SameDType(c));
  RT_ASSIGN_OR_RETURN(Dims perm, c.attrs.Ints("perm"));
  const Dims& x = c.inputs[0]->dims;
  if (perm.size() != x.size()) return InvalidArgument("perm rank differs from input rank");
  std::vector<char> seen(x.size(), 0);
  auto p = std::make_unique<CopyParams>();
  Dims in_strides = Strides(x);
  for (int64_t a : perm) {
    if (a < 0 || a >= static_cast<int64_t>(x.size()) || seen[a])
      return InvalidArgument("perm is not a permutation");
    seen[a] = 1;
    p->dims.push_back(x[a]);
    p->strides.push_back(in_strides[a]);
  }
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], p->dims, "output"));
  p->elem = static_cast<int64_t>(sinter_dtype_size(c.outputs[0]->dtype));
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunStrided(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const CopyParams&>(kp);
  kc::StridedCopy(static_cast<const uint8_t*>(c.in[0]) + p.offset * p.elem, p.strides.data(),
                  c.out[0], p.dims.data(), static_cast<int>(p.dims.size()), p.elem, c.par);
}

struct SliceBounds {
  int64_t axis = 0, start = 0, end = 0, step = 1;
  int64_t extent() const { return end == start ? 0 : (end - start - 1) / step + 1; }
};

// The slice's attributes, checked against x's dims; with `clamp` (x sized by
// the run) the bounds are clamped to x's extent first, as Python's are.
StatusOr<SliceBounds> SliceOf(const Attrs& attrs, const Dims& x, bool clamp) {
  SliceBounds b;
  RT_ASSIGN_OR_RETURN(int64_t a, attrs.Int("axis"));
  RT_ASSIGN_OR_RETURN(b.axis, Axis(a, x.size()));
  RT_ASSIGN_OR_RETURN(b.start, attrs.Int("start"));
  RT_ASSIGN_OR_RETURN(b.end, attrs.Int("end"));
  RT_ASSIGN_OR_RETURN(b.step, attrs.Int("step"));
  // A negative bound counts from the end (a slice over a symbolic extent,
  // ir/extent_analysis.h); then both clamp to [0, extent], and an end
  // before the start is an empty slice, as Python's.
  if (clamp && !x.empty() && b.step > 0 && b.start > INT64_MIN / 2 && b.end > INT64_MIN / 2) {
    const int64_t n = x[b.axis];
    auto norm = [n](int64_t v) { return std::min(v < 0 ? std::max<int64_t>(v + n, 0) : v, n); };
    b.start = norm(b.start);
    b.end = std::max(norm(b.end), b.start);
  }
  if (x.empty() || b.step <= 0 || b.start < 0 || b.end < b.start || b.end > x[b.axis]) {
    return InvalidArgument("slice bounds out of range");
  }
  return b;
}

ParamsOr PrepareSlice(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(SameDType(c));
  const Dims& x = c.inputs[0]->dims;
  RT_ASSIGN_OR_RETURN(SliceBounds b, SliceOf(c.attrs, x, c.run_extents));
  auto p = std::make_unique<CopyParams>();
  p->dims = x;
  p->dims[b.axis] = b.extent();  // no overflow for huge steps
  p->strides = Strides(x);
  p->offset = b.start * p->strides[b.axis];
  // A step is only taken between two outputs, and then stays inside the input.
  if (p->dims[b.axis] > 1) p->strides[b.axis] *= b.step;
  p->elem = static_cast<int64_t>(sinter_dtype_size(c.outputs[0]->dtype));
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], p->dims, "output"));
  return std::unique_ptr<KernelParams>(std::move(p));
}

StatusOr<std::vector<Dims>> SliceRunDims(const Attrs& attrs,
                                         const std::vector<const TensorDesc*>& in) {
  RT_ASSIGN_OR_RETURN(SliceBounds b, SliceOf(attrs, in[0]->dims, /*clamp=*/true));
  Dims y = in[0]->dims;
  y[b.axis] = b.extent();
  return std::vector<Dims>{y};
}

// slice_like: x[0 : like's extent along like_axis] along axis, a strided
// copy as slice's.
StatusOr<SliceBounds> SliceLikeOf(const Attrs& attrs, const Dims& x, const Dims& like) {
  SliceBounds b;
  RT_ASSIGN_OR_RETURN(int64_t a, attrs.Int("axis"));
  RT_ASSIGN_OR_RETURN(b.axis, Axis(a, x.size()));
  RT_ASSIGN_OR_RETURN(int64_t la, attrs.Int("like_axis"));
  RT_ASSIGN_OR_RETURN(int64_t like_axis, Axis(la, like.size()));
  b.end = like[like_axis];
  if (b.end > x[b.axis]) {
    return InvalidArgument(StrCat("slice_like of ", b.end, " rows from ", DimsStr(x),
                                  " along axis ", b.axis, ": the run is longer than the table"));
  }
  return b;
}

ParamsOr PrepareSliceLike(const PrepareContext& c) {
  if (c.inputs[0]->dtype != c.outputs[0]->dtype)
    return InvalidArgument("slice_like result of another dtype");
  const Dims& x = c.inputs[0]->dims;
  RT_ASSIGN_OR_RETURN(SliceBounds b, SliceLikeOf(c.attrs, x, c.inputs[1]->dims));
  auto p = std::make_unique<CopyParams>();
  p->dims = x;
  p->dims[b.axis] = b.end;
  p->strides = Strides(x);
  p->elem = static_cast<int64_t>(sinter_dtype_size(c.outputs[0]->dtype));
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], p->dims, "output"));
  return std::unique_ptr<KernelParams>(std::move(p));
}

StatusOr<std::vector<Dims>> SliceLikeRunDims(const Attrs& attrs,
                                             const std::vector<const TensorDesc*>& in) {
  RT_ASSIGN_OR_RETURN(SliceBounds b, SliceLikeOf(attrs, in[0]->dims, in[1]->dims));
  Dims y = in[0]->dims;
  y[b.axis] = b.end;
  return std::vector<Dims>{y};
}

ParamsOr PrepareExpand(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(SameDType(c));
  RT_ASSIGN_OR_RETURN(Dims shape, c.attrs.Ints("shape"));
  const Dims& x = c.inputs[0]->dims;
  RT_ASSIGN_OR_RETURN(Dims y, Broadcast(x, shape));
  if (y != shape)
    return InvalidArgument(StrCat("cannot expand ", DimsStr(x), " to ", DimsStr(shape)));
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], y, "output"));
  auto p = std::make_unique<CopyParams>();
  Dims xa = Align(x, y.size()), s = Strides(xa);
  for (size_t i = 0; i < y.size(); ++i) {
    if (xa[i] == 1) s[i] = 0;
  }
  p->dims = y;
  p->strides = s;
  p->elem = static_cast<int64_t>(sinter_dtype_size(c.outputs[0]->dtype));
  return std::unique_ptr<KernelParams>(std::move(p));
}

// The operands' extents along the axis summed (PrepareConcat checks the rest).
StatusOr<std::vector<Dims>> ConcatRunDims(const Attrs& attrs,
                                          const std::vector<const TensorDesc*>& in) {
  Dims y = in[0]->dims;
  RT_ASSIGN_OR_RETURN(int64_t a, attrs.Int("axis"));
  RT_ASSIGN_OR_RETURN(int64_t axis, Axis(a, y.size()));
  if (y.empty()) return InvalidArgument("concat of scalars");
  for (size_t i = 1; i < in.size(); ++i) {
    if (in[i]->dims.size() != y.size()) return InvalidArgument("concat inputs differ in rank");
    if (__builtin_add_overflow(y[axis], in[i]->dims[axis], &y[axis]))
      return InvalidArgument("concat extent overflows");
  }
  return std::vector<Dims>{y};
}

ParamsOr PrepareConcat(const PrepareContext& c) {
  RT_RETURN_IF_ERROR(SameDType(c));
  const Dims& x0 = c.inputs[0]->dims;
  RT_ASSIGN_OR_RETURN(int64_t a, c.attrs.Int("axis"));
  RT_ASSIGN_OR_RETURN(int64_t axis, Axis(a, x0.size()));
  if (x0.empty()) return InvalidArgument("concat of scalars");
  auto p = std::make_unique<CopyParams>();
  Dims y = x0;
  y[axis] = 0;
  for (const TensorDesc* t : c.inputs) {
    if (t->dims.size() != x0.size()) return InvalidArgument("concat inputs differ in rank");
    for (size_t d = 0; d < x0.size(); ++d) {
      if (static_cast<int64_t>(d) != axis && t->dims[d] != x0[d])
        return InvalidArgument("concat inputs differ in shape");
    }
    if (__builtin_add_overflow(y[axis], t->dims[axis], &y[axis]))
      return InvalidArgument("concat extent overflows");
    p->extents.push_back(t->dims[axis]);
  }
  RT_RETURN_IF_ERROR(ExpectDims(*c.outputs[0], y, "output"));
  p->outer = Prod(x0, 0, axis);
  p->inner = Prod(x0, axis + 1, x0.size());
  p->elem = static_cast<int64_t>(sinter_dtype_size(c.outputs[0]->dtype));
  return std::unique_ptr<KernelParams>(std::move(p));
}

void RunConcat(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const CopyParams&>(kp);
  int64_t total = 0;
  for (int64_t e : p.extents) total += e;
  const int64_t row = total * p.inner * p.elem;
  int64_t at = 0;
  for (size_t i = 0; i < p.extents.size(); ++i) {
    const int64_t chunk = p.extents[i] * p.inner * p.elem;
    if (chunk == 0) continue;  // an empty input: maybe no storage (see RunReshape)
    const uint8_t* src = static_cast<const uint8_t*>(c.in[i]);
    uint8_t* dst = static_cast<uint8_t*>(c.out[0]) + at;
    for (int64_t o = 0; o < p.outer; ++o) std::memcpy(dst + o * row, src + o * chunk, chunk);
    at += chunk;
  }
}

// ---- The table ---------------------------------------------------------------------------------

// Elementwise ops at the run's extents (ops.def kRunExtents): the result
// has the operand's shape, or all operands' broadcast.
StatusOr<std::vector<Dims>> SameRunDims(const Attrs&, const std::vector<const TensorDesc*>& in) {
  return std::vector<Dims>{in[0]->dims};
}

StatusOr<std::vector<Dims>> BroadcastRunDims(const Attrs&,
                                             const std::vector<const TensorDesc*>& in) {
  Dims y = in[0]->dims;
  for (size_t i = 1; i < in.size(); ++i) {
    RT_ASSIGN_OR_RETURN(y, Broadcast(y, in[i]->dims));
  }
  return std::vector<Dims>{y};
}

// Linear, matmul, transpose and the LSTM at the run's extents (a symbolic
// sequence, ir/extent_analysis.h): the results' dims as their prepare
// expects them, which then checks every operand against them.
StatusOr<std::vector<Dims>> LinearRunDims(const Attrs&, const std::vector<const TensorDesc*>& in) {
  Dims y = in[0]->dims;
  if (y.empty() || in[1]->dims.size() != 2) return InvalidArgument("bad linear operands");
  y.back() = in[1]->dims[0];
  return std::vector<Dims>{y};
}

StatusOr<std::vector<Dims>> MatmulRunDims(const Attrs&, const std::vector<const TensorDesc*>& in) {
  Dims a = in[0]->dims, b = in[1]->dims;
  if (a.empty() || b.empty()) return InvalidArgument("matmul operands must have rank >= 1");
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  RT_ASSIGN_OR_RETURN(Dims y,
                      Broadcast(Dims(a.begin(), a.end() - 2), Dims(b.begin(), b.end() - 2)));
  if (!a_vec) y.push_back(a[a.size() - 2]);
  if (!b_vec) y.push_back(b.back());
  return std::vector<Dims>{y};
}

StatusOr<std::vector<Dims>> TransposeRunDims(const Attrs& attrs,
                                             const std::vector<const TensorDesc*>& in) {
  RT_ASSIGN_OR_RETURN(Dims perm, attrs.Ints("perm"));
  const Dims& x = in[0]->dims;
  Dims y;
  for (int64_t a : perm) {
    if (a < 0 || a >= static_cast<int64_t>(x.size())) return InvalidArgument("bad perm");
    y.push_back(x[a]);
  }
  return std::vector<Dims>{y};
}

// lstm and gru: y of the run's steps, the states as given.
template <int kStates>
StatusOr<std::vector<Dims>> RecurrentRunDims(const Attrs& attrs,
                                             const std::vector<const TensorDesc*>& in) {
  RT_ASSIGN_OR_RETURN(int64_t hidden, attrs.Int("hidden_size"));
  RT_ASSIGN_OR_RETURN(bool bidir, attrs.Bool("bidirectional"));
  Dims y = in[0]->dims;
  if (y.size() != 3 || in.size() < 1 + kStates) return InvalidArgument("bad recurrent input");
  y[2] = hidden * (bidir ? 2 : 1);
  std::vector<Dims> out{y};
  for (int i = 1; i <= kStates; ++i) out.push_back(in[i]->dims);
  return out;
}

#define UNARY(NAME, FN) \
  { NAME, &PrepareUnary<kc::Unary::FN>, &NoScratch, &RunUnary, nullptr, &SameRunDims }
#define BINARY(NAME, FN) \
  { NAME, &PrepareBinary<kc::Binary::FN>, &NoScratch, &RunBinary, nullptr, &BroadcastRunDims }
#define BODY_OP(NAME) \
  { NAME, &PrepareBodyOp, &NoScratch, &RunBodyOp, nullptr, &BroadcastRunDims }

const OpDef kOps[] = {
    UNARY("relu", kRelu),
    UNARY("sigmoid", kSigmoid),
    UNARY("tanh", kTanh),
    UNARY("exp", kExp),
    UNARY("log", kLog),
    UNARY("sqrt", kSqrt),
    UNARY("rsqrt", kRsqrt),
    UNARY("neg", kNeg),
    UNARY("abs", kAbs),
    UNARY("erf", kErf),
    UNARY("reciprocal", kReciprocal),
    UNARY("silu", kSilu),
    UNARY("gelu", kGeluErf),
    UNARY("hardswish", kHardswish),
    UNARY("hardsigmoid", kHardsigmoid),
    UNARY("leaky_relu", kLeakyRelu),
    UNARY("elu", kElu),
    UNARY("clamp", kClamp),
    {"cast", &PrepareCast, &NoScratch, &RunCast, nullptr, &SameRunDims},
    BINARY("add", kAdd),
    BINARY("sub", kSub),
    BINARY("mul", kMul),
    BINARY("div", kDiv),
    BINARY("pow", kPow),
    BINARY("maximum", kMax),
    BINARY("minimum", kMin),
    BODY_OP("where"),
    BODY_OP("gt"),
    BODY_OP("ge"),
    BODY_OP("lt"),
    BODY_OP("le"),
    BODY_OP("eq"),
    BODY_OP("ne"),
    {"reduce_sum", &PrepareReduce<kc::Reduce::kSum>, &NoScratch, &RunReduce, nullptr,
     &ReduceRunDims},
    {"reduce_mean", &PrepareReduce<kc::Reduce::kMean>, &NoScratch, &RunReduce, nullptr,
     &ReduceRunDims},
    {"reduce_max", &PrepareReduce<kc::Reduce::kMax>, &NoScratch, &RunReduce, nullptr,
     &ReduceRunDims},
    {"softmax", &PrepareSoftmax<false>, &NoScratch, &RunSoftmax, nullptr, &SameRunDims},
    {"log_softmax", &PrepareSoftmax<true>, &NoScratch, &RunSoftmax, nullptr, &SameRunDims},
    {"layer_norm", &PrepareLayerNorm, &NoScratch, &RunLayerNorm, nullptr, &SameRunDims},
    {"batch_norm", &PrepareBatchNorm, &NoScratch, &RunBatchNorm},
    {"conv2d", &PrepareConv2d, &ConvScratch, &RunConv2d},
    {"max_pool2d", &PreparePool<true>, &NoScratch, &RunMaxPool},
    {"avg_pool2d", &PreparePool<false>, &NoScratch, &RunAvgPool},
    {"adaptive_avg_pool2d", &PrepareAdaptivePool, &NoScratch, &RunAdaptivePool<false>},
    {"adaptive_max_pool2d", &PrepareAdaptivePool, &NoScratch, &RunAdaptivePool<true>},
    {"linear", &PrepareLinear, &NoScratch, &RunLinear, nullptr, &LinearRunDims},
    {"matmul", &PrepareMatmul, &NoScratch, &RunMatmul, nullptr, &MatmulRunDims},
    {"embedding", &PrepareEmbedding, &NoScratch, &RunEmbedding, nullptr, &EmbeddingRunDims},
    {"lstm", &PrepareLstm, &LstmScratch, &RunLstm, nullptr, &RecurrentRunDims<2>},
    {"gru", &PrepareGru, &GruScratch, &RunGru, nullptr, &RecurrentRunDims<1>},
    {"cumsum", &PrepareCumsum, &NoScratch, &RunCumsum},
    {"gather", &PrepareGather, &NoScratch, &RunGather},
    {"grid_sample", &PrepareGridSample, &NoScratch, &RunGridSample},
    {"roi_align", &PrepareRoiAlign, &NoScratch, &RunRoiAlign},
    {"nms", &PrepareNms, &NmsScratch, nullptr, &RunNms, &NmsRunDims},
    {"sort", &PrepareSort, &SortScratch, &RunSort},
    {"nonzero", &PrepareNonzero, &NoScratch, nullptr, &RunNonzero, &NonzeroRunDims},
    {"masked_select", &PrepareMaskedSelect, &NoScratch, nullptr, &RunMaskedSelect,
     &MaskedSelectRunDims},
    {"reshape", &PrepareReshape, &NoScratch, &RunReshape, nullptr, &ReshapeRunDims},
    {"transpose", &PrepareTranspose, &NoScratch, &RunStrided, nullptr, &TransposeRunDims},
    {"slice", &PrepareSlice, &NoScratch, &RunStrided, nullptr, &SliceRunDims},
    {"slice_like", &PrepareSliceLike, &NoScratch, &RunStrided, nullptr, &SliceLikeRunDims},
    {"expand", &PrepareExpand, &NoScratch, &RunStrided},
    {"concat", &PrepareConcat, &NoScratch, &RunConcat, nullptr, &ConcatRunDims},
};

}  // namespace

const OpDef* FindOp(std::string_view name) {
  static const auto* index = [] {
    auto* m = new std::unordered_map<std::string_view, const OpDef*>();
    for (const OpDef& op : kOps) (*m)[op.name] = &op;
    (*m)[kFusedElementwiseOp.name] = &kFusedElementwiseOp;
    (*m)[kFusedReductionOp.name] = &kFusedReductionOp;
    (*m)[kPluginSegmentOp.name] = &kPluginSegmentOp;
    (*m)[kPluginOpOp.name] = &kPluginOpOp;
    return m;
  }();
  auto it = index->find(name);
  return it == index->end() ? nullptr : it->second;
}

std::vector<std::string_view> CpuOpNames() {
  std::vector<std::string_view> names;
  for (const OpDef& op : kOps) names.push_back(op.name);
  names.push_back(kFusedElementwiseOp.name);
  names.push_back(kFusedReductionOp.name);
  names.push_back(kPluginSegmentOp.name);
  names.push_back(kPluginOpOp.name);
  return names;
}

}  // namespace sinter::rt
