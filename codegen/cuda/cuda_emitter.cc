// CUDA C++ emitter for fused elementwise kernels. The stages:
//  1. Parse the program; align every input to the output rank and collapse
//     adjacent dims that all operands walk the same way, as the CPU plan in
//     runtime/cpu/fused.cc does, so the output becomes a few dims and each
//     input is stride 0 or dense along each of them.
//  2. Classify inputs: scalar (one value, loaded once per thread), dense
//     (the output's own layout, indexed by the element index) or broadcast
//     (offset from the element's coordinates; the collapsed dims and strides
//     are baked in as constants, so the divisions become multiply-shifts).
//  3. Pick the path. 128-bit accesses (4 f32 or 8 f16/bf16 per thread and
//     iteration) when the innermost collapsed dim is a multiple of the
//     vector width: then a vector never straddles a row, and a broadcast
//     input is one vector or one repeated value per vector. With a single
//     collapsed dim (only dense and scalar inputs, the common case) the
//     vector path always applies and a scalar tail takes the remainder.
//     Otherwise scalar accesses. A vector kernel checks its pointers' 16-byte
//     alignment once and falls back to its scalar loop when they are not.
//  4. Write the translation unit: shared helpers (the ops with the CPU
//     kernels' NaN/inf semantics; loads/stores per precision), the program
//     as one inline function of the inputs it uses, and the kernel's
//     grid-stride loop.
#include "codegen/cuda/cuda_emitter.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/format/kernel_body.h"

namespace sinter::codegen::cuda {
namespace {

namespace fmt = sinter::format;

constexpr int kThreadsPerBlock = 256;
constexpr int kMaxInputs = 256;  // kernel parameter space, with room to spare

// Helpers shared by every kernel, include-guarded so that several kernels
// can share one translation unit. Semantics follow kernels/cpu/elementwise.cc:
// relu, clamp and the hard* ops keep NaN (comparisons, not fmaxf), maximum
// and minimum propagate NaN from either side, pow(x, 2) is x * x.
constexpr char kPrelude[] = R"(#ifndef SINTER_CUDA_PRELUDE_
#define SINTER_CUDA_PRELUDE_
#define SINTER_DEVICE __device__ __forceinline__
#define SINTER_INF __int_as_float(0x7f800000)
SINTER_DEVICE float sinter_relu(float x) { return x < 0.f ? 0.f : x; }
SINTER_DEVICE float sinter_sigmoid(float x) { return 1.f / (1.f + expf(-x)); }
SINTER_DEVICE float sinter_silu(float x) { return x / (1.f + expf(-x)); }
SINTER_DEVICE float sinter_gelu(float x) { return x * 0.5f * (1.f + erff(x * 0.707106781186547524f)); }
SINTER_DEVICE float sinter_gelu_tanh(float x) {
  return 0.5f * x * (1.f + tanhf(0.797884560802865355f * (x + 0.044715f * x * x * x)));
}
SINTER_DEVICE float sinter_relu6_of(float t) { t = t < 0.f ? 0.f : t; return t > 6.f ? 6.f : t; }
SINTER_DEVICE float sinter_hardswish(float x) { return x * sinter_relu6_of(x + 3.f) / 6.f; }
SINTER_DEVICE float sinter_hardsigmoid(float x) { return sinter_relu6_of(x + 3.f) / 6.f; }
SINTER_DEVICE float sinter_leaky_relu(float x, float slope) { return x > 0.f ? x : x * slope; }
SINTER_DEVICE float sinter_elu(float x, float alpha) { return x > 0.f ? x : expm1f(x) * alpha; }
SINTER_DEVICE float sinter_clamp(float x, float lo, float hi) {
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}
SINTER_DEVICE float sinter_max(float a, float b) { return a != a || a > b ? a : b; }
SINTER_DEVICE float sinter_min(float a, float b) { return a != a || a < b ? a : b; }
SINTER_DEVICE bool sinter_aligned16(const void* p) {
  return (reinterpret_cast<unsigned long long>(p) & 15ull) == 0ull;
}
#endif  // SINTER_CUDA_PRELUDE_
)";

// Scalar and 128-bit loads/stores, f32 in registers.
constexpr char kF32Access[] = R"(#ifndef SINTER_CUDA_F32_
#define SINTER_CUDA_F32_
SINTER_DEVICE float sinter_ld(const float* p) { return *p; }
SINTER_DEVICE void sinter_st(float* p, float v) { *p = v; }
SINTER_DEVICE void sinter_ldv(const float* p, float (&r)[4]) {
  const float4 t = *reinterpret_cast<const float4*>(p);
  r[0] = t.x, r[1] = t.y, r[2] = t.z, r[3] = t.w;
}
SINTER_DEVICE void sinter_stv(float* p, const float (&v)[4]) {
  *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
}
#endif  // SINTER_CUDA_F32_
)";

constexpr char kF16Access[] = R"(#include <cuda_fp16.h>
#ifndef SINTER_CUDA_F16_
#define SINTER_CUDA_F16_
SINTER_DEVICE float sinter_ld(const __half* p) { return __half2float(*p); }
SINTER_DEVICE void sinter_st(__half* p, float v) { *p = __float2half_rn(v); }
SINTER_DEVICE float sinter_lo_f16(unsigned w) { return __half2float(__ushort_as_half(static_cast<unsigned short>(w))); }
SINTER_DEVICE float sinter_hi_f16(unsigned w) { return __half2float(__ushort_as_half(static_cast<unsigned short>(w >> 16))); }
SINTER_DEVICE unsigned sinter_pack_f16(float lo, float hi) {
  return static_cast<unsigned>(__half_as_ushort(__float2half_rn(lo))) |
         (static_cast<unsigned>(__half_as_ushort(__float2half_rn(hi))) << 16);
}
SINTER_DEVICE void sinter_ldv(const __half* p, float (&r)[8]) {
  const uint4 t = *reinterpret_cast<const uint4*>(p);
  r[0] = sinter_lo_f16(t.x), r[1] = sinter_hi_f16(t.x), r[2] = sinter_lo_f16(t.y), r[3] = sinter_hi_f16(t.y);
  r[4] = sinter_lo_f16(t.z), r[5] = sinter_hi_f16(t.z), r[6] = sinter_lo_f16(t.w), r[7] = sinter_hi_f16(t.w);
}
SINTER_DEVICE void sinter_stv(__half* p, const float (&v)[8]) {
  *reinterpret_cast<uint4*>(p) = make_uint4(sinter_pack_f16(v[0], v[1]), sinter_pack_f16(v[2], v[3]),
                                            sinter_pack_f16(v[4], v[5]), sinter_pack_f16(v[6], v[7]));
}
#endif  // SINTER_CUDA_F16_
)";

// bf16 -> f32 is exact as a 16-bit shift; f32 -> bf16 rounds to nearest even.
constexpr char kBF16Access[] = R"(#include <cuda_bf16.h>
#ifndef SINTER_CUDA_BF16_
#define SINTER_CUDA_BF16_
SINTER_DEVICE float sinter_ld(const __nv_bfloat16* p) { return __bfloat162float(*p); }
SINTER_DEVICE void sinter_st(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
SINTER_DEVICE float sinter_lo_bf16(unsigned w) { return __uint_as_float(w << 16); }
SINTER_DEVICE float sinter_hi_bf16(unsigned w) { return __uint_as_float(w & 0xffff0000u); }
SINTER_DEVICE unsigned sinter_pack_bf16(float lo, float hi) {
  return static_cast<unsigned>(__bfloat16_as_ushort(__float2bfloat16_rn(lo))) |
         (static_cast<unsigned>(__bfloat16_as_ushort(__float2bfloat16_rn(hi))) << 16);
}
SINTER_DEVICE void sinter_ldv(const __nv_bfloat16* p, float (&r)[8]) {
  const uint4 t = *reinterpret_cast<const uint4*>(p);
  r[0] = sinter_lo_bf16(t.x), r[1] = sinter_hi_bf16(t.x), r[2] = sinter_lo_bf16(t.y), r[3] = sinter_hi_bf16(t.y);
  r[4] = sinter_lo_bf16(t.z), r[5] = sinter_hi_bf16(t.z), r[6] = sinter_lo_bf16(t.w), r[7] = sinter_hi_bf16(t.w);
}
SINTER_DEVICE void sinter_stv(__nv_bfloat16* p, const float (&v)[8]) {
  *reinterpret_cast<uint4*>(p) = make_uint4(sinter_pack_bf16(v[0], v[1]), sinter_pack_bf16(v[2], v[3]),
                                            sinter_pack_bf16(v[4], v[5]), sinter_pack_bf16(v[6], v[7]));
}
#endif  // SINTER_CUDA_BF16_
)";

// Integer and bool tensors: loads give the f32 of the value, stores follow
// kernels/cast.h (truncation; NaN, infinities and values out of range give
// the type's minimum; uint8 and int8 take the int32 result's low byte; bool
// is != 0).
constexpr char kIntAccess[] = R"(#ifndef SINTER_CUDA_INT_
#define SINTER_CUDA_INT_
SINTER_DEVICE float sinter_ld(const unsigned char* p) { return static_cast<float>(*p); }
SINTER_DEVICE float sinter_ld(const signed char* p) { return static_cast<float>(*p); }
SINTER_DEVICE float sinter_ld(const int* p) { return static_cast<float>(*p); }
SINTER_DEVICE float sinter_ld(const long long* p) { return static_cast<float>(*p); }
SINTER_DEVICE int sinter_f2i32(float v) {
  return (v >= -2147483648.0f && v < 2147483648.0f) ? static_cast<int>(v) : (-2147483647 - 1);
}
SINTER_DEVICE void sinter_st_bool(unsigned char* p, float v) { *p = v != 0.f; }
SINTER_DEVICE void sinter_st_u8(unsigned char* p, float v) {
  *p = static_cast<unsigned char>(static_cast<unsigned>(sinter_f2i32(v)) & 0xffu);
}
SINTER_DEVICE void sinter_st_i8(signed char* p, float v) {
  *p = static_cast<signed char>(static_cast<unsigned>(sinter_f2i32(v)) & 0xffu);
}
SINTER_DEVICE void sinter_st_i32(int* p, float v) { *p = sinter_f2i32(v); }
SINTER_DEVICE void sinter_st_i64(long long* p, float v) {
  *p = (v >= -9223372036854775808.0f && v < 9223372036854775808.0f) ? static_cast<long long>(v)
                                                                     : (-9223372036854775807LL - 1);
}
#endif  // SINTER_CUDA_INT_
)";

// The C type of a tensor of dtype `t` in a kernel's parameters; null for
// f64, which no body holds.
const char* CType(fmt::DType t) {
  switch (t) {
    case fmt::DType::F32:
      return "float";
    case fmt::DType::F16:
      return "__half";
    case fmt::DType::BF16:
      return "__nv_bfloat16";
    case fmt::DType::BOOL:
    case fmt::DType::U8:
      return "unsigned char";
    case fmt::DType::I8:
      return "signed char";
    case fmt::DType::I32:
      return "int";
    case fmt::DType::I64:
      return "long long";
    case fmt::DType::F64:
      return nullptr;
  }
  return nullptr;
}

// The store of f32 lanes into a tensor of dtype `t`.
const char* StoreFn(fmt::DType t) {
  switch (t) {
    case fmt::DType::F32:
    case fmt::DType::F16:
    case fmt::DType::BF16:
      return "sinter_st";
    case fmt::DType::BOOL:
      return "sinter_st_bool";
    case fmt::DType::U8:
      return "sinter_st_u8";
    case fmt::DType::I8:
      return "sinter_st_i8";
    case fmt::DType::I32:
      return "sinter_st_i32";
    case fmt::DType::I64:
      return "sinter_st_i64";
    case fmt::DType::F64:
      break;
  }
  return "";
}

// The float storage a precision names, and back.
fmt::DType StorageOf(Precision p) {
  return p == Precision::kF32   ? fmt::DType::F32
         : p == Precision::kF16 ? fmt::DType::F16
                                : fmt::DType::BF16;
}

// The access helpers a kernel over tensors of these dtypes needs.
std::string AccessPreludes(const std::vector<fmt::DType>& types) {
  bool f32 = false, f16 = false, bf16 = false, ints = false;
  for (fmt::DType t : types) {
    f32 |= t == fmt::DType::F32;
    f16 |= t == fmt::DType::F16;
    bf16 |= t == fmt::DType::BF16;
    ints |= t != fmt::DType::F32 && t != fmt::DType::F16 && t != fmt::DType::BF16;
  }
  return absl::StrCat(f32 ? kF32Access : "", f16 ? kF16Access : "", bf16 ? kBF16Access : "",
                      ints ? kIntAccess : "");
}

enum class InputKind { kUnused, kScalar, kDense, kBroadcast };

// The iteration space after stage 1 and each input's role in it.
struct Plan {
  std::vector<int64_t> dims;                  // collapsed, outermost first
  std::vector<std::vector<int64_t>> strides;  // [input][dim], elements
  std::vector<InputKind> kinds;
  std::vector<int64_t> input_elements;
  int64_t n = 1;
};

bool IsIdentifier(const std::string& s) {
  if (s.empty() || s.size() > 200 || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

std::string ShapeText(const std::vector<int64_t>& s) {
  return absl::StrCat("[", absl::StrJoin(s, ","), "]");
}

absl::Status MakePlan(const std::vector<std::vector<int64_t>>& inputs,
                      const std::vector<int64_t>& y, const std::vector<bool>& used, Plan* p) {
  // Stage 1 is the kernel description every backend shares.
  fmt::FusedSpace space;
  std::string error;
  if (!fmt::PlanFusedSpace(inputs, y, &space, &error)) {
    std::vector<std::string> shapes;
    for (const auto& d : inputs) shapes.push_back(ShapeText(d));
    return absl::InvalidArgumentError(absl::StrCat(error, " (inputs ", absl::StrJoin(shapes, " "),
                                                   ", output ", ShapeText(y), ")"));
  }
  p->n = space.num_elements;
  for (const std::vector<int64_t>& d : inputs) {
    int64_t e = 1;
    for (int64_t v : d) e *= v;  // no overflow: each input broadcasts to y
    p->input_elements.push_back(e);
  }
  p->dims = std::move(space.dims);
  p->strides = std::move(space.strides);
  const std::vector<std::vector<int64_t>>& cs = p->strides;
  // Stage 2: classify against the output's own (collapsed) strides.
  const size_t r = p->dims.size();
  std::vector<int64_t> dense(r, 1);
  for (size_t d = r - 1; d > 0; --d) dense[d - 1] = dense[d] * p->dims[d];
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<int64_t>& s = cs[i];
    if (!used[i]) {
      p->kinds.push_back(InputKind::kUnused);
    } else if (std::all_of(s.begin(), s.end(), [](int64_t v) { return v == 0; })) {
      p->kinds.push_back(InputKind::kScalar);
    } else if (s == dense) {
      p->kinds.push_back(InputKind::kDense);
    } else {
      p->kinds.push_back(InputKind::kBroadcast);
    }
  }
  return absl::OkStatus();
}

// A float as a CUDA literal that reads back to the same value.
std::string Float(float v) {
  if (std::isinf(v)) return v > 0 ? "SINTER_INF" : "(-SINTER_INF)";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  s += "f";
  return std::signbit(v) ? "(" + s + ")" : s;
}

// x ** 2 (variance, L2 norms) is exact as x * x, as on the CPU: a pow whose
// exponent is the constant 2.
bool Square(const fmt::KernelBody& body, const fmt::BodyInstr& in) {
  const int32_t n = static_cast<int32_t>(body.args.size());
  return in.op == fmt::BodyOp::kPow && in.b >= n &&
         body.instrs[in.b - n].op == fmt::BodyOp::kConst && body.instrs[in.b - n].p0 == 2.f;
}

// One instruction as a CUDA expression of its operands (f32 lanes, bool as
// 0 or 1). A switch over elementwise.def without a default.
std::string Expr(const fmt::KernelBody& body, const fmt::BodyInstr& in, const std::string& a,
                 const std::string& b, const std::string& c) {
  auto boolean = [](const std::string& cond) { return absl::StrCat("((", cond, ") ? 1.f : 0.f)"); };
  switch (in.op) {
    case fmt::BodyOp::kRelu:
      return absl::StrCat("sinter_relu(", a, ")");
    case fmt::BodyOp::kSigmoid:
      return absl::StrCat("sinter_sigmoid(", a, ")");
    case fmt::BodyOp::kTanh:
      return absl::StrCat("tanhf(", a, ")");
    case fmt::BodyOp::kExp:
      return absl::StrCat("expf(", a, ")");
    case fmt::BodyOp::kLog:
      return absl::StrCat("logf(", a, ")");
    case fmt::BodyOp::kSqrt:
      return absl::StrCat("sqrtf(", a, ")");
    case fmt::BodyOp::kRsqrt:
      return absl::StrCat("rsqrtf(", a, ")");
    case fmt::BodyOp::kNeg:
      return absl::StrCat("-", a);
    case fmt::BodyOp::kAbs:
      return absl::StrCat("fabsf(", a, ")");
    case fmt::BodyOp::kErf:
      return absl::StrCat("erff(", a, ")");
    case fmt::BodyOp::kReciprocal:
      return absl::StrCat("1.f / ", a);
    case fmt::BodyOp::kSilu:
      return absl::StrCat("sinter_silu(", a, ")");
    case fmt::BodyOp::kGelu:
      return absl::StrCat("sinter_gelu(", a, ")");
    case fmt::BodyOp::kGeluTanh:
      return absl::StrCat("sinter_gelu_tanh(", a, ")");
    case fmt::BodyOp::kHardswish:
      return absl::StrCat("sinter_hardswish(", a, ")");
    case fmt::BodyOp::kHardsigmoid:
      return absl::StrCat("sinter_hardsigmoid(", a, ")");
    case fmt::BodyOp::kLeakyRelu:
      return absl::StrCat("sinter_leaky_relu(", a, ", ", Float(in.p0), ")");
    case fmt::BodyOp::kElu:
      return absl::StrCat("sinter_elu(", a, ", ", Float(in.p0), ")");
    case fmt::BodyOp::kClamp:
      return absl::StrCat("sinter_clamp(", a, ", ", Float(in.p0), ", ", Float(in.p1), ")");
    case fmt::BodyOp::kAdd:
      return absl::StrCat(a, " + ", b);
    case fmt::BodyOp::kSub:
      return absl::StrCat(a, " - ", b);
    case fmt::BodyOp::kMul:
      return absl::StrCat(a, " * ", b);
    case fmt::BodyOp::kDiv:
      return absl::StrCat(a, " / ", b);
    case fmt::BodyOp::kPow:
      return Square(body, in) ? absl::StrCat(a, " * ", a) : absl::StrCat("powf(", a, ", ", b, ")");
    case fmt::BodyOp::kMaximum:
      return absl::StrCat("sinter_max(", a, ", ", b, ")");
    case fmt::BodyOp::kMinimum:
      return absl::StrCat("sinter_min(", a, ", ", b, ")");
#define SINTER_EW_COMPARE(Id, name, Op) \
  case fmt::BodyOp::k##Id:              \
    return boolean(absl::StrCat(a, " " #Op " ", b));
#include "runtime/format/elementwise.def"
    case fmt::BodyOp::kWhere:
      return absl::StrCat("(", a, " != 0.f ? ", b, " : ", c, ")");
    case fmt::BodyOp::kCast:  // between f32 lanes only a cast to bool computes
      return in.type == fmt::DType::BOOL ? boolean(absl::StrCat(a, " != 0.f")) : a;
    case fmt::BodyOp::kConst:
      return Float(in.p0);
  }
  return "0.f";
}

// The body as `SINTER_DEVICE float NAME_body(float x0, ...)` over the used
// arguments (each loaded as the f32 of its value).
std::string Body(const std::string& name, const fmt::KernelBody& body,
                 const std::vector<bool>& used) {
  std::vector<std::string> params;
  for (size_t i = 0; i < used.size(); ++i) {
    if (used[i]) params.push_back(absl::StrCat("float x", i));
  }
  std::string s =
      absl::StrCat("SINTER_DEVICE float ", name, "_body(", absl::StrJoin(params, ", "), ") {\n");
  const int32_t n = static_cast<int32_t>(body.args.size());
  auto ref = [&](int32_t v) -> std::string {
    if (v < 0) return "";
    return v < n ? absl::StrCat("x", v) : absl::StrCat("t", v - n);
  };
  // Only what the result needs: NVRTC warns of unused values (a pow's
  // exponent 2, dead instructions).
  std::vector<bool> live(body.num_values(), false);
  live[body.result] = true;
  for (int32_t v = body.num_values() - 1; v >= n; --v) {
    if (!live[v]) continue;
    const fmt::BodyInstr& in = body.instrs[v - n];
    for (int32_t o : {in.a, Square(body, in) ? -1 : in.b, in.c})
      if (o >= 0) live[o] = true;
  }
  for (size_t k = 0; k < body.instrs.size(); ++k) {
    if (!live[n + k]) continue;
    const fmt::BodyInstr& in = body.instrs[k];
    absl::StrAppend(&s, "  const float t", k, " = ",
                    Expr(body, in, ref(in.a), ref(in.b), ref(in.c)), ";\n");
  }
  absl::StrAppend(&s, "  return ", ref(body.result), ";\n}\n");
  return s;
}

// Emits the kernel's statements; `idx` is the index type and `u` its literal suffix.
class KernelWriter {
 public:
  KernelWriter(const std::string& name, const Plan& plan, Precision p, std::string idx,
               std::string u, std::string store)
      : name_(name), plan_(plan), idx_(std::move(idx)), u_(std::move(u)), store_(std::move(store)) {
    vw_ = p == Precision::kF32 ? 4 : 8;
  }

  int vector_width() const { return vw_; }
  std::string C(int64_t v) const { return absl::StrCat(v, u_); }

  // `const idx oK = ...` for every broadcast input, from the element index
  // `i` (coordinates innermost first; only those some input needs).
  std::string Offsets(const std::string& ind) const {
    const std::vector<int64_t>& dims = plan_.dims;
    const int r = static_cast<int>(dims.size());
    std::vector<bool> need(r, false);
    bool any = false;
    for (size_t i = 0; i < plan_.kinds.size(); ++i) {
      if (plan_.kinds[i] != InputKind::kBroadcast) continue;
      any = true;
      for (int d = 0; d < r; ++d) need[d] = need[d] || plan_.strides[i][d] != 0;
    }
    if (!any) return "";
    int outer = 0;
    while (!need[outer]) ++outer;
    // Dims no input needs fold into one division by their product.
    std::string s = absl::StrCat(ind, idx_, " q = i;\n");
    int64_t pending = 1;
    for (int d = r - 1; d >= outer; --d) {
      if (need[d]) {
        if (pending > 1) absl::StrAppend(&s, ind, "q /= ", C(pending), ";\n");
        pending = 1;
        absl::StrAppend(&s, ind, "const ", idx_, " c", d, " = ",
                        d == 0 ? std::string("q") : absl::StrCat("q % ", C(dims[d])), ";\n");
      }
      pending *= dims[d];
    }
    for (size_t i = 0; i < plan_.kinds.size(); ++i) {
      if (plan_.kinds[i] != InputKind::kBroadcast) continue;
      std::vector<std::string> terms;
      for (int d = 0; d < r; ++d) {
        const int64_t st = plan_.strides[i][d];
        if (st == 1) terms.push_back(absl::StrCat("c", d));
        if (st > 1) terms.push_back(absl::StrCat("c", d, " * ", C(st)));
      }
      absl::StrAppend(&s, ind, "const ", idx_, " o", i, " = ", absl::StrJoin(terms, " + "), ";\n");
    }
    return s;
  }

  // Loads for one scalar-path element and the body call writing out[i].
  std::string ScalarStep(const std::string& ind) const {
    std::string s = Offsets(ind);
    std::vector<std::string> args;
    for (size_t i = 0; i < plan_.kinds.size(); ++i) {
      switch (plan_.kinds[i]) {
        case InputKind::kUnused:
          break;
        case InputKind::kScalar:
          args.push_back(absl::StrCat("s", i));
          break;
        case InputKind::kDense:
          args.push_back(absl::StrCat("sinter_ld(in", i, " + i)"));
          break;
        case InputKind::kBroadcast:
          args.push_back(absl::StrCat("sinter_ld(in", i, " + o", i, ")"));
          break;
      }
    }
    absl::StrAppend(&s, ind, store_, "(out + i, ", name_, "_body(", absl::StrJoin(args, ", "),
                    "));\n");
    return s;
  }

  // Loads for one vector of vw_ elements starting at i, the body per lane,
  // one vector store.
  std::string VectorStep(const std::string& ind) const {
    std::string s = Offsets(ind);
    std::vector<std::string> args;
    for (size_t i = 0; i < plan_.kinds.size(); ++i) {
      const InputKind k = plan_.kinds[i];
      if (k == InputKind::kUnused) continue;
      if (k == InputKind::kScalar) {
        args.push_back(absl::StrCat("s", i));
      } else if (k == InputKind::kBroadcast && plan_.strides[i].back() == 0) {
        absl::StrAppend(&s, ind, "const float b", i, " = sinter_ld(in", i, " + o", i, ");\n");
        args.push_back(absl::StrCat("b", i));
      } else {
        absl::StrAppend(&s, ind, "float v", i, "[", vw_, "];\n", ind, "sinter_ldv(in", i, " + ",
                        k == InputKind::kDense ? "i" : absl::StrCat("o", i), ", v", i, ");\n");
        args.push_back(absl::StrCat("v", i, "[k]"));
      }
    }
    absl::StrAppend(&s, ind, "float y[", vw_, "];\n", ind, "#pragma unroll\n", ind,
                    "for (int k = 0; k < ", vw_, "; ++k) y[k] = ", name_, "_body(",
                    absl::StrJoin(args, ", "), ");\n", ind, "sinter_stv(out + i, y);\n");
    return s;
  }

  // Pointers read or written with 128-bit accesses.
  std::vector<std::string> VectorPointers() const {
    std::vector<std::string> ptrs;
    for (size_t i = 0; i < plan_.kinds.size(); ++i) {
      const InputKind k = plan_.kinds[i];
      if (k == InputKind::kDense || (k == InputKind::kBroadcast && plan_.strides[i].back() != 0))
        ptrs.push_back(absl::StrCat("in", i));
    }
    ptrs.push_back("out");
    return ptrs;
  }

 private:
  const std::string& name_;
  const Plan& plan_;
  std::string idx_, u_, store_;
  int vw_ = 4;
};

}  // namespace

const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kF32:
      return "f32";
    case Precision::kF16:
      return "f16";
    case Precision::kBF16:
      return "bf16";
  }
  return "?";
}

int64_t CudaLaunch::GridSize(int sm_count) const {
  if (work_items <= 0) return 0;
  const int64_t blocks = (work_items + threads_per_block - 1) / threads_per_block;
  return std::min<int64_t>(blocks, int64_t{std::max(1, sm_count)} * max_blocks_per_sm);
}

absl::StatusOr<CudaKernel> EmitFusedKernel(const std::string& name, const fmt::KernelBody& body,
                                           const std::vector<std::vector<int64_t>>& input_shapes,
                                           const std::vector<int64_t>& output_shape) {
  if (!IsIdentifier(name))
    return absl::InvalidArgumentError("CUDA kernel name '" + name + "' is not a C identifier");
  if (input_shapes.size() > kMaxInputs)
    return absl::InvalidArgumentError(absl::StrCat(
        "fused kernel ", name, " has ", input_shapes.size(), " inputs, more than ", kMaxInputs));
  std::string error;
  if (!fmt::CheckKernelBody(body, &error))
    return absl::InvalidArgumentError(absl::StrCat("fused kernel ", name, ": ", error));
  if (body.args.size() != input_shapes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("fused kernel ", name, ": the body takes ",
                                                   body.args.size(), " arguments for ",
                                                   input_shapes.size(), " inputs"));
  }
  std::vector<fmt::DType> types = body.args;
  types.push_back(body.result_type());
  for (fmt::DType t : types) {
    if (CType(t) == nullptr)
      return absl::InvalidArgumentError(
          absl::StrCat("fused kernel ", name, ": ", std::string(fmt::BodyTypeName(t)), " tensors"));
  }
  const std::vector<bool> used = fmt::UsedArguments(body);
  Plan plan;
  if (absl::Status s = MakePlan(input_shapes, output_shape, used, &plan); !s.ok())
    return absl::InvalidArgumentError(absl::StrCat("fused kernel ", name, ": ", s.message()));

  // The vector path needs one float storage for the output and every input
  // it reads 128 bits at a time; kernels mixing dtypes take the scalar path.
  const fmt::DType out_type = body.result_type();
  bool uniform =
      out_type == fmt::DType::F32 || out_type == fmt::DType::F16 || out_type == fmt::DType::BF16;
  for (size_t i = 0; i < plan.kinds.size(); ++i) {
    if (plan.kinds[i] != InputKind::kUnused && plan.kinds[i] != InputKind::kScalar &&
        body.args[i] != out_type)
      uniform = false;
  }
  const Precision p = out_type == fmt::DType::F16    ? Precision::kF16
                      : out_type == fmt::DType::BF16 ? Precision::kBF16
                                                     : Precision::kF32;

  // 32-bit indices (cheap division by the baked-in dims) unless the tensor
  // needs more; every offset is below n.
  const int64_t n = plan.n;
  const bool wide = n > (int64_t{1} << 31) - 1;
  KernelWriter w(name, plan, p, wide ? "unsigned long long" : "unsigned", wide ? "ull" : "u",
                 StoreFn(out_type));
  const int vw = w.vector_width();
  const int64_t row = plan.dims.back();
  // One collapsed dim: vectors plus a scalar tail. Several: vectors when a
  // row holds whole vectors (then also n is a multiple of vw).
  const bool single = plan.dims.size() == 1;
  const bool vector = uniform && n > 0 && (single ? n >= vw : row % vw == 0);
  const int64_t nv = vector ? n / vw : 0;
  const bool tail = vector && nv * vw != n;

  CudaKernel k;
  k.name = name;
  k.num_inputs = static_cast<int>(input_shapes.size());
  k.precision = p;
  k.launch.threads_per_block = kThreadsPerBlock;
  k.launch.vector_width = vector ? vw : 1;
  k.launch.elements_per_thread = k.launch.vector_width;
  k.launch.num_elements = n;
  k.launch.work_items = vector ? std::max(nv, n - nv * vw) : n;
  k.plan = absl::StrCat(ShapeText(plan.dims), vector ? absl::StrCat(" vector", vw) : " scalar",
                        tail ? "+tail" : "");

  std::string& s = k.source;
  // Header: what the kernel computes, for anyone reading a dump or an NVRTC log.
  std::string text = fmt::BodyText(body);
  for (char& c : text) {
    if (c < 0x20 || c > 0x7e || c == '\\') c = ' ';
  }
  std::vector<std::string> in_text;
  for (size_t i = 0; i < input_shapes.size(); ++i) {
    const char* kind[] = {"unused", "scalar", "dense", "broadcast"};
    in_text.push_back(
        absl::StrCat(ShapeText(input_shapes[i]), " ", kind[static_cast<int>(plan.kinds[i])]));
  }
  absl::StrAppend(&s, "// sinter fused kernel ", name, " (", PrecisionName(p), "): ", text, "\n",
                  "// inputs: ", absl::StrJoin(in_text, ", "), " -> output ",
                  ShapeText(output_shape), "\n// plan: ", k.plan, ", ", k.launch.threads_per_block,
                  " threads per block, grid-stride loop\n");
  absl::StrAppend(&s, kPrelude, AccessPreludes(types));
  absl::StrAppend(&s, Body(name, body, used));

  // Parameters. __restrict__ (read-only cache) only on inputs smaller than
  // the output: an input of the output's size may be the output itself.
  std::vector<std::string> params;
  for (size_t i = 0; i < input_shapes.size(); ++i) {
    const bool restrict = plan.kinds[i] != InputKind::kUnused && plan.input_elements[i] < n;
    params.push_back(
        absl::StrCat("const ", CType(body.args[i]), "* ", restrict ? "__restrict__ " : "",
                     plan.kinds[i] == InputKind::kUnused ? "/*unused*/ " : "", "in", i));
  }
  params.push_back(absl::StrCat(CType(out_type), "* out"));
  absl::StrAppend(&s, "extern \"C\" __global__ void __launch_bounds__(", kThreadsPerBlock, ") ",
                  name, "(", absl::StrJoin(params, ", "), ") {\n");
  if (n > 0) {
    const std::string idx = wide ? "unsigned long long" : "unsigned";
    absl::StrAppend(&s, "  const ", idx, " tid = static_cast<", idx,
                    ">(blockIdx.x) * blockDim.x + threadIdx.x;\n", "  const ", idx,
                    " step = static_cast<", idx, ">(gridDim.x) * blockDim.x;\n");
    for (size_t i = 0; i < plan.kinds.size(); ++i) {
      if (plan.kinds[i] == InputKind::kScalar)
        absl::StrAppend(&s, "  const float s", i, " = sinter_ld(in", i, ");\n");
    }
    if (vector) {
      std::vector<std::string> aligned;
      for (const std::string& ptr : w.VectorPointers())
        aligned.push_back(absl::StrCat("sinter_aligned16(", ptr, ")"));
      absl::StrAppend(&s, "  if (", absl::StrJoin(aligned, " && "), ") {\n", "    for (", idx,
                      " v = tid; v < ", w.C(nv), "; v += step) {\n", "      const ", idx,
                      " i = v * ", w.C(vw), ";\n", w.VectorStep("      "), "    }\n");
      if (tail) {
        absl::StrAppend(&s, "    for (", idx, " i = ", w.C(nv * vw), " + tid; i < ", w.C(n),
                        "; i += step) {\n", w.ScalarStep("      "), "    }\n");
      }
      absl::StrAppend(&s, "    return;\n  }\n");
    }
    absl::StrAppend(&s, "  for (", idx, " i = tid; i < ", w.C(n), "; i += step) {\n",
                    w.ScalarStep("    "), "  }\n");
  }
  absl::StrAppend(&s, "}\n");
  return k;
}

// ---- Fused reductions -------------------------------------------------------
//
// One block per row. Softmax merges (max, sum of exp) pairs online in one
// sweep; layer_norm takes the mean, then the variance around it, then writes.
// Each sweep recomputes the prologue from the inputs rather than keeping it
// in `out`, so f16/bf16 storage never rounds the logits and `out` is written
// once. Reductions are warp shuffles (xor butterflies) and one shared-memory
// step across warps, always in the same order: no atomics, same bits every
// run.

namespace {

constexpr char kReducePrelude[] = R"(#ifndef SINTER_CUDA_REDUCE_
#define SINTER_CUDA_REDUCE_
// Online softmax state: s = sum of exp(x - m) over the values seen so far.
SINTER_DEVICE void sinter_softmax_merge(float& m, float& s, float m2, float s2) {
  const float mx = sinter_max(m, m2);
  if (mx == -SINTER_INF) return;  // both still empty
  s = s * expf(m - mx) + s2 * expf(m2 - mx);
  m = mx;
}
SINTER_DEVICE void sinter_warp_softmax(float& m, float& s) {
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o);
    const float s2 = __shfl_xor_sync(0xffffffffu, s, o);
    sinter_softmax_merge(m, s, m2, s2);
  }
}
SINTER_DEVICE float sinter_warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
// Block-wide reductions; every thread gets the result. The first barrier
// keeps a previous reduction's readers ahead of this one's writers.
SINTER_DEVICE void sinter_block_softmax(float& m, float& s, float* sh_m, float* sh_s) {
  sinter_warp_softmax(m, s);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) sh_m[warp] = m, sh_s[warp] = s;
  __syncthreads();
  if (warp == 0) {
    m = lane < warps ? sh_m[lane] : -SINTER_INF;
    s = lane < warps ? sh_s[lane] : 0.f;
    sinter_warp_softmax(m, s);
    if (lane == 0) sh_m[0] = m, sh_s[0] = s;
  }
  __syncthreads();
  m = sh_m[0];
  s = sh_s[0];
}
SINTER_DEVICE float sinter_block_sum(float v, float* sh) {
  v = sinter_warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = sinter_warp_sum(lane < warps ? sh[lane] : 0.f);
    if (lane == 0) sh[0] = v;
  }
  __syncthreads();
  return sh[0];
}
#endif  // SINTER_CUDA_REDUCE_
)";

}  // namespace

std::string ReductionPrelude() { return std::string(kPrelude) + kReducePrelude; }

namespace {

// The element offset of an operand of shape `d` at the output's flat index
// `i`, NumPy-broadcast to `y`; error when it does not broadcast.
absl::StatusOr<std::string> OffsetExpr(const std::vector<int64_t>& d, const std::vector<int64_t>& y,
                                       const std::string& u) {
  if (d.size() > y.size())
    return absl::InvalidArgumentError(ShapeText(d) + " has a higher rank than the output");
  if (d == y) return std::string("i");
  std::string expr;
  int64_t stride = 1, inner = 1;
  for (size_t k = 0; k < y.size(); ++k) {
    const size_t od = y.size() - 1 - k;
    const int64_t e = k < d.size() ? d[d.size() - 1 - k] : 1;
    if (e != y[od] && e != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(ShapeText(d), " does not broadcast to the output ", ShapeText(y)));
    }
    if (e != 1) {
      absl::StrAppend(&expr, expr.empty() ? "" : " + ", "(i / ", inner, u, " % ", e, u, ") * ",
                      stride, u);
      stride *= e;
    }
    inner *= y[od];
  }
  return expr.empty() ? std::string("0") : expr;
}

}  // namespace

absl::StatusOr<CudaKernel> EmitFusedReductionKernel(
    const std::string& name, const FusedReductionSpec& spec,
    const std::vector<std::vector<int64_t>>& input_shapes, const std::vector<int64_t>& output_shape,
    Precision p) {
  auto error = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat("fused reduction ", name, ": ", parts...));
  };
  if (!IsIdentifier(name))
    return absl::InvalidArgumentError("CUDA kernel name '" + name + "' is not a C identifier");
  fmt::RowReduction kind;
  if (!fmt::RowReductionByName(spec.kind, &kind)) return error("unknown kind '", spec.kind, "'");
  const bool norm = fmt::InfoOf(kind).affine;
  const int num = static_cast<int>(input_shapes.size());
  if (num > kMaxInputs) return error(num, " operands, more than ", kMaxInputs);
  const std::vector<int64_t>& y = output_shape;
  const int64_t rank = static_cast<int64_t>(y.size());
  int64_t rows = 1, len = 1;
  for (int64_t e : y) {
    if (e < 0) return error("negative output extent ", ShapeText(y));
  }
  const int64_t axis = spec.axis < 0 ? spec.axis + rank : spec.axis;
  if (rank == 0 || axis < 0 || axis >= rank) return error("axis out of range for ", ShapeText(y));
  if (fmt::InfoOf(kind).last_axis && axis != rank - 1)
    return error(spec.kind, " runs over the last axis only");
  for (int64_t d = 0; d < rank; ++d) {
    int64_t& acc = d < axis ? rows : len;
    if (__builtin_mul_overflow(acc, y[d], &acc)) return error("output is too large");
  }
  int64_t n = 0;
  if (__builtin_mul_overflow(rows, len, &n)) return error("output is too large");
  const int pin = spec.prologue_inputs;
  if (pin < 1 || pin + (norm ? 2 : 0) > num) return error(pin, " prologue inputs of ", num);
  const int first_extra = pin + (norm ? 2 : 0);
  if (spec.prologue == nullptr && (pin != 1 || input_shapes[0] != y))
    return error("without a prologue, one input of the output's shape");
  if (spec.epilogue == nullptr && first_extra != num) return error("operands need an epilogue");
  if (norm) {
    const std::vector<int64_t> tail(y.begin() + axis, y.end());
    for (int i = pin; i < pin + 2; ++i) {
      if (input_shapes[i] != tail)
        return error("layer_norm weight/bias ", ShapeText(input_shapes[i]),
                     " != ", ShapeText(tail));
    }
  }

  const bool wide = n > (int64_t{1} << 31) - 1;
  const std::string idx = wide ? "unsigned long long" : "unsigned", u = wide ? "ull" : "u";
  const char* type = CType(StorageOf(p));
  // Fewer threads for short rows: a block of 256 over 64 elements idles.
  const int threads = len <= 128 ? 64 : len <= 512 ? 128 : 256;

  CudaKernel k;
  k.name = name;
  k.num_inputs = num;
  k.precision = p;
  k.launch.threads_per_block = threads;
  k.launch.num_elements = n;
  k.launch.work_items = n > 0 ? rows * threads : 0;
  k.plan = absl::StrCat(ShapeText({rows, len}), " ", spec.kind, " block-per-row");
  std::string& s = k.source;
  std::string text =
      absl::StrCat(spec.kind, " prologue: ", spec.prologue ? fmt::BodyText(*spec.prologue) : "none",
                   " epilogue: ", spec.epilogue ? fmt::BodyText(*spec.epilogue) : "none");
  for (char& c : text) {
    if (c < 0x20 || c > 0x7e || c == '\\') c = ' ';
  }
  // Each operand's dtype: the storage, except what the bodies read, which is
  // of the body's argument type (a bool mask, an index).
  const fmt::DType storage = StorageOf(p);
  std::vector<fmt::DType> types(num, storage);
  for (int i = 0; spec.prologue != nullptr && i < pin; ++i) {
    if (static_cast<size_t>(i) < spec.prologue->args.size()) types[i] = spec.prologue->args[i];
  }
  for (int i = first_extra; spec.epilogue != nullptr && i < num; ++i) {
    const size_t arg = static_cast<size_t>(i - first_extra + 1);
    if (arg < spec.epilogue->args.size()) types[i] = spec.epilogue->args[arg];
  }
  std::vector<fmt::DType> all_types = types;
  all_types.push_back(storage);
  for (fmt::DType t : all_types) {
    if (CType(t) == nullptr) return error(std::string(fmt::BodyTypeName(t)), " operands");
  }
  absl::StrAppend(&s, "// sinter fused reduction ", name, " (", PrecisionName(p), "): ", text,
                  "\n// plan: ", k.plan, ", ", threads, " threads per block\n", kPrelude,
                  AccessPreludes(all_types), kReducePrelude);

  // `NAME_x(i, in...)`: the reduced tensor at flat index i.
  std::vector<std::string> params, args;
  for (int i = 0; i < num; ++i) {
    params.push_back(absl::StrCat("const ", CType(types[i]), "* in", i));
    args.push_back(absl::StrCat("in", i));
  }
  const std::string all_params = absl::StrJoin(params, ", "), all_args = absl::StrJoin(args, ", ");
  // A program's body over operands [from, from + count) ($0 = `first` when
  // given), and the call that loads them at index i.
  auto program = [&](const std::string& suffix, const fmt::KernelBody& body, int count, int from,
                     const std::string& first, std::string* call) -> absl::Status {
    std::string why;
    if (!fmt::CheckKernelBody(body, &why)) return error(suffix, ": ", why);
    if (static_cast<int>(body.args.size()) != count)
      return error(suffix, " takes ", body.args.size(), " arguments, the kernel gives it ", count);
    const std::vector<bool> used = fmt::UsedArguments(body);
    absl::StrAppend(&s, Body(absl::StrCat(name, "_", suffix), body, used));
    std::vector<std::string> loads;
    for (int j = 0; j < count; ++j) {
      if (!used[j]) continue;
      if (j == 0 && !first.empty()) {
        loads.push_back(first);
        continue;
      }
      const int op = from + j - (first.empty() ? 0 : 1);
      auto off = OffsetExpr(input_shapes[op], y, u);
      if (!off.ok()) return error("operand ", op, " ", off.status().message());
      loads.push_back(absl::StrCat("sinter_ld(in", op, " + (", *off, "))"));
    }
    *call = absl::StrCat(name, "_", suffix, "_body(", absl::StrJoin(loads, ", "), ")");
    return absl::OkStatus();
  };
  std::string value = "sinter_ld(in0 + i)";
  if (spec.prologue != nullptr) {
    if (absl::Status st = program("pro", *spec.prologue, pin, 0, "", &value); !st.ok()) return st;
  }
  absl::StrAppend(&s, "SINTER_DEVICE float ", name, "_x(", idx, " i, ", all_params, ") { return ",
                  value, "; }\n");
  std::string result = "v";
  if (spec.epilogue != nullptr) {
    if (absl::Status st =
            program("epi", *spec.epilogue, num - first_extra + 1, first_extra, "v", &result);
        !st.ok()) {
      return st;
    }
  }
  absl::StrAppend(&s, "SINTER_DEVICE float ", name, "_y(float v, ", idx, " i, ", all_params,
                  ") { return ", result, "; }\n");

  absl::StrAppend(&s, "extern \"C\" __global__ void __launch_bounds__(", threads, ") ", name, "(",
                  all_params, ", ", type, "* out) {\n");
  if (n > 0) {
    const std::string x = absl::StrCat(name, "_x(i, ", all_args, ")");
    const std::string loop =
        absl::StrCat("    for (", idx, " j = threadIdx.x; j < ", len, u,
                     "; j += blockDim.x) {\n      const ", idx, " i = base + j;\n");
    absl::StrAppend(&s, "  __shared__ float sh_a[32]", norm ? "" : ", sh_b[32]", ";\n", "  for (",
                    idx, " row = blockIdx.x; row < ", rows, u, "; row += gridDim.x) {\n",
                    "    const ", idx, " base = row * ", len, u, ";\n");
    // The row's statistics, then the normalised value of element j.
    std::string normalised;
    auto softmax_stats = [&] {
      absl::StrAppend(&s, "    float m = -SINTER_INF, sum = 0.f;\n", loop,
                      "      sinter_softmax_merge(m, sum, ", x, ", 1.f);\n    }\n",
                      "    sinter_block_softmax(m, sum, sh_a, sh_b);\n");
    };
    switch (kind) {
      case fmt::RowReduction::kSoftmax:
        softmax_stats();
        absl::StrAppend(&s, "    const float inv = 1.f / sum;\n");
        normalised = absl::StrCat("expf(", x, " - m) * inv");
        break;
      case fmt::RowReduction::kLogSoftmax:
        softmax_stats();
        absl::StrAppend(&s, "    const float lse = logf(sum);\n");
        normalised = absl::StrCat("(", x, " - m) - lse");
        break;
      case fmt::RowReduction::kLayerNorm:
        absl::StrAppend(&s, "    float acc = 0.f;\n", loop, "      acc += ", x, ";\n    }\n",
                        "    const float mean = sinter_block_sum(acc, sh_a) / ",
                        Float(static_cast<float>(len)), ";\n    acc = 0.f;\n", loop,
                        "      const float d = ", x, " - mean;\n      acc += d * d;\n    }\n",
                        "    const float rstd = rsqrtf(sinter_block_sum(acc, sh_a) / ",
                        Float(static_cast<float>(len)), " + ", Float(spec.eps), ");\n");
        normalised = absl::StrCat("(", x, " - mean) * rstd * sinter_ld(in", pin,
                                  " + j) + sinter_ld(in", pin + 1, " + j)");
        break;
    }
    absl::StrAppend(&s, loop, "      const float v = ", normalised, ";\n",
                    "      sinter_st(out + i, ", name, "_y(v, i, ", all_args, "));\n    }\n  }\n");
  }
  absl::StrAppend(&s, "}\n");
  return k;
}

}  // namespace sinter::codegen::cuda
