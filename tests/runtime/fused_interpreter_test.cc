// The CPU interpreter of kernel bodies against the compiler's scalar
// reference of the same vocabulary (runtime/format/elementwise.def): every
// row, alone and with constants on either side; comparisons, selects and
// casts with bool, i32 and i64 tensors in and out; bodies that reuse a value,
// leave values dead, or read a broadcast input; and the longest body the
// format accepts, which the interpreter must run (it once refused programs
// of about 30 instructions that native code ran).
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/cast.h"
#include "passes/fusion_util.h"
#include "runtime/cpu/fused.h"
#include "runtime/format/kernel_body.h"
#include "tests/body_program.h"

namespace sinter::rt {
namespace {

namespace fmt = ::sinter::format;
using fmt::BodyInstr;
using fmt::BodyOp;
using fmt::DType;

TensorDesc Desc(std::vector<int64_t> dims, sinter_dtype dtype = SINTER_F32) {
  TensorDesc d;
  d.dims = std::move(dims);
  d.dtype = dtype;
  d.num_elements = 1;
  for (int64_t e : d.dims) d.num_elements *= e;
  d.byte_size = d.num_elements * sinter_dtype_size(dtype);
  return d;
}

// Runs `body` on the interpreter over inputs of `shapes` (f32, or the
// dtypes given) broadcast to `out`; returns the output's bytes.
std::vector<uint8_t> InterpretBytes(const fmt::KernelBody& body,
                                    const std::vector<std::vector<int64_t>>& shapes,
                                    const std::vector<int64_t>& out,
                                    const std::vector<const void*>& data,
                                    std::vector<sinter_dtype> dtypes = {},
                                    sinter_dtype out_dtype = SINTER_F32) {
  dtypes.resize(shapes.size(), SINTER_F32);
  std::vector<TensorDesc> descs;
  for (size_t i = 0; i < shapes.size(); ++i) descs.push_back(Desc(shapes[i], dtypes[i]));
  std::vector<const TensorDesc*> ptrs;
  for (const TensorDesc& d : descs) ptrs.push_back(&d);
  const TensorDesc y = Desc(out, out_dtype);
  StatusOr<FusedProgramPtr> p = PlanFusedProgram(body, ptrs, y);
  EXPECT_TRUE(p.ok()) << fmt::BodyText(body) << ": " << p.status().message();
  if (!p.ok()) return {};
  std::vector<uint8_t> result(y.byte_size);
  RunFusedProgram(*p.value(), data.data(), result.data(), nullptr);
  return result;
}

std::vector<float> Interpret(const fmt::KernelBody& body,
                             const std::vector<std::vector<int64_t>>& shapes,
                             const std::vector<int64_t>& out,
                             const std::vector<std::vector<float>>& data) {
  std::vector<const void*> in;
  for (const auto& d : data) in.push_back(d.data());
  std::vector<uint8_t> bytes = InterpretBytes(body, shapes, out, in);
  std::vector<float> y(bytes.size() / 4);
  if (!bytes.empty()) std::memcpy(y.data(), bytes.data(), bytes.size());
  return y;
}

std::vector<float> Random(int64_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

bool Close(double got, double want, double tol) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= tol * (1 + std::fabs(want));
}

// One instruction of row `op` over arguments (a, b) of f32, with constants
// where `const_first` / `const_second` say.
fmt::KernelBody OneOp(BodyOp op, bool const_first, bool const_second) {
  const fmt::BodyOpInfo& info = fmt::InfoOf(op);
  fmt::KernelBody body;
  body.args = {DType::F32, DType::F32};
  int32_t x = 0, y = 1;
  if (const_first) {
    body.instrs.push_back({BodyOp::kConst, DType::F32, -1, -1, -1, 1.25f});
    x = 2;
  }
  if (const_second) {
    body.instrs.push_back({BodyOp::kConst, DType::F32, -1, -1, -1, 1.75f});
    y = static_cast<int32_t>(1 + body.instrs.size());
    if (const_first) x = 0;
  }
  BodyInstr in{op, info.cls == fmt::BodyClass::kCompare ? DType::BOOL : DType::F32, x};
  if (info.arity >= 2) in.b = y;
  if (op == BodyOp::kLeakyRelu || op == BodyOp::kElu) in.p0 = 0.3f;
  if (op == BodyOp::kClamp) in.p0 = -1.5f, in.p1 = 2.f;
  body.instrs.push_back(in);
  body.result = body.num_values() - 1;
  return body;
}

TEST(FusedInterpreter, EveryVocabularyOpMatchesTheCompilersReference) {
  // Inputs in (0.1, 3) for log, sqrt, pow; in (-3, 3) otherwise.
  // kConst is the vocabulary's last row (elementwise.def).
  for (int k = 0; k <= static_cast<int>(BodyOp::kConst); ++k) {
    const auto op = static_cast<BodyOp>(k);
    const fmt::BodyOpInfo& info = fmt::InfoOf(op);
    SCOPED_TRACE(std::string(info.name));
    if (info.cls == fmt::BodyClass::kSelect || info.cls == fmt::BodyClass::kCast ||
        info.cls == fmt::BodyClass::kConst)
      continue;  // TypedBodies below
    const bool positive =
        op == BodyOp::kLog || op == BodyOp::kSqrt || op == BodyOp::kRsqrt || op == BodyOp::kPow;
    const float lo = positive ? 0.1f : -3.f;
    std::vector<float> a = Random(1000, 1 + k, lo, 3.f), b = Random(1000, 100 + k, lo, 3.f);
    // Some equal pairs, so eq/ne/ge/le see ties.
    for (int i = 0; i < 1000; i += 7) b[i] = a[i];
    // Operand forms: two inputs; a constant second; a constant first.
    std::vector<fmt::KernelBody> bodies = {OneOp(op, false, false)};
    if (info.arity == 2) {
      bodies.push_back(OneOp(op, false, true));
      bodies.push_back(OneOp(op, true, false));
    }
    for (const fmt::KernelBody& body : bodies) {
      SCOPED_TRACE(fmt::BodyText(body));
      std::string error;
      ASSERT_TRUE(fmt::CheckKernelBody(body, &error)) << error;
      const bool boolean = body.result_type() == DType::BOOL;
      std::vector<uint8_t> bytes =
          InterpretBytes(body, {{1000}, {1000}}, {1000}, {a.data(), b.data()}, {},
                         boolean ? SINTER_BOOL : SINTER_F32);
      ASSERT_EQ(bytes.size(), boolean ? 1000u : 4000u);
      for (int i = 0; i < 1000; ++i) {
        const double want = passes::EvalBody(body, {a[i], b[i]});
        if (boolean) {
          ASSERT_EQ(bytes[i], want != 0 ? 1 : 0) << "element " << i << ": " << a[i] << ", " << b[i];
          continue;
        }
        float got;
        std::memcpy(&got, bytes.data() + 4 * i, 4);
        // 1e-5 relative: the kernels' polynomial exp/tanh/erf against libm in
        // double; far below any real mistake (another op, a swapped operand).
        ASSERT_TRUE(Close(got, want, 1e-5)) << "element " << i << ": " << got << " vs " << want;
      }
    }
  }
}

// where, casts and constants, with bool, i32 and i64 tensors in and out:
//   y = mask ? x : f32(idx) * 0.5   stored as f32, bool, u8, i32 and i64
// (kernels/cast.h's rules: NaN and out of range to the type's minimum).
TEST(FusedInterpreter, TypedBodies) {
  const int64_t n = 700;
  std::vector<float> x = Random(n, 11, -3e9f, 3e9f);
  x[0] = NAN;
  x[1] = INFINITY;
  x[2] = -0.f;
  x[3] = 300.7f;
  std::vector<uint8_t> mask(n);
  std::vector<int64_t> idx(n);
  for (int64_t k = 0; k < n; ++k) {
    mask[k] = k % 5 < 3;
    idx[k] = (k - 350) * 3;
  }
  for (DType to : {DType::F32, DType::BOOL, DType::U8, DType::I32, DType::I64}) {
    SCOPED_TRACE(fmt::BodyTypeName(to));
    fmt::KernelBody body;
    body.args = {DType::F32, DType::BOOL, DType::I64};
    body.instrs = {
        {BodyOp::kCast, DType::F32, 2},                  // %3
        {BodyOp::kConst, DType::F32, -1, -1, -1, 0.5f},  // %4
        {BodyOp::kMul, DType::F32, 3, 4},                // %5
        {BodyOp::kWhere, DType::F32, 1, 0, 5},           // %6
    };
    body.result = 6;
    if (to != DType::F32) {
      body.instrs.push_back({BodyOp::kCast, to, 6});
      body.result = 7;
    }
    const sinter_dtype out = static_cast<sinter_dtype>(static_cast<int>(to));
    std::vector<uint8_t> y =
        InterpretBytes(body, {{n}, {n}, {n}}, {n}, {x.data(), mask.data(), idx.data()},
                       {SINTER_F32, SINTER_BOOL, SINTER_I64}, out);
    ASSERT_EQ(y.size(), n * sinter_dtype_size(out));
    for (int64_t k = 0; k < n; ++k) {
      const float v = mask[k] ? x[k] : static_cast<float>(idx[k]) * 0.5f;
      if (to == DType::F32) {
        float got;
        std::memcpy(&got, y.data() + 4 * k, 4);
        ASSERT_TRUE(std::isnan(v) ? std::isnan(got) : got == v) << k;
      } else if (to == DType::BOOL) {
        ASSERT_EQ(y[k], v != 0 ? 1 : 0) << k;
      } else if (to == DType::U8) {
        ASSERT_EQ(y[k], sinter_cast::ToU8(v)) << k;
      } else if (to == DType::I32) {
        int32_t got;
        std::memcpy(&got, y.data() + 4 * k, 4);
        ASSERT_EQ(got, sinter_cast::ToI32(v)) << k << " v=" << v;
      } else {
        int64_t got;
        std::memcpy(&got, y.data() + 8 * k, 8);
        ASSERT_EQ(got, sinter_cast::ToI64(v)) << k << " v=" << v;
      }
    }
  }
  // A body that is only a constant, and one that yields its argument.
  fmt::KernelBody c{{DType::F32}, {{BodyOp::kConst, DType::F32, -1, -1, -1, 2.5f}}, 1};
  std::vector<float> y = Interpret(c, {{9}}, {9}, {x});
  ASSERT_EQ(y.size(), 9u);
  for (float v : y) EXPECT_EQ(v, 2.5f);
  fmt::KernelBody id{{DType::F32}, {}, 0};
  y = Interpret(id, {{3, 1}}, {3, 4}, {{1.f, 2.f, 3.f}});
  EXPECT_EQ(y, (std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}));
}

TEST(FusedInterpreter, RefusesTensorsThatDisagreeWithTheBody) {
  const fmt::KernelBody body = testing::BodyFromProgram("t0 = add $0 $1", 2);
  TensorDesc a = Desc({4}), b = Desc({4}, SINTER_I32), y = Desc({4});
  StatusOr<FusedProgramPtr> p = PlanFusedProgram(body, {&a, &b}, y);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("reads it as f32"), std::string::npos)
      << p.status().message();
  p = PlanFusedProgram(body, {&a}, y);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("2 argument(s)"), std::string::npos) << p.status().message();
}

TEST(FusedInterpreter, ReusedDeadAndBroadcastOperands) {
  // t1 reads t0 twice; t2 is dead; $1 is broadcast along the row.
  const fmt::KernelBody body = testing::BodyFromProgram(
      "t0 = add $0 $1; t1 = mul t0 t0; t2 = exp t0; t3 = sub t1 $0; t4 = mul t3 0.5", 2);
  std::vector<float> x = Random(4 * 600, 7, -2, 2), b = Random(4, 8, -2, 2);
  std::vector<float> y = Interpret(body, {{4, 600}, {4, 1}}, {4, 600}, {x, b});
  ASSERT_EQ(y.size(), x.size());
  for (int i = 0; i < 4 * 600; ++i) {
    const double t0 = x[i] + b[i / 600];
    ASSERT_NEAR(y[i], (t0 * t0 - x[i]) * 0.5, 1e-5) << i;
  }
}

TEST(FusedInterpreter, RunsTheLongestBodyTheFormatAccepts) {
  // kMaxBodyInstructions instructions: two constants, then ops alternating
  // two inputs, the constants and the previous value; the interpreter's
  // buffers stay few (slots reused).
  const size_t n = fmt::kMaxBodyInstructions;
  fmt::KernelBody body;
  body.args = {DType::F32, DType::F32};
  body.instrs = {{BodyOp::kConst, DType::F32, -1, -1, -1, 0.5f},
                 {BodyOp::kConst, DType::F32, -1, -1, -1, 0.75f},
                 {BodyOp::kMul, DType::F32, 0, 2}};
  while (body.instrs.size() < n) {
    const size_t k = body.instrs.size();
    const int32_t prev = static_cast<int32_t>(k + 1);
    if (k % 3 == 0) {
      body.instrs.push_back({BodyOp::kAdd, DType::F32, prev, 1});
    } else if (k % 3 == 1) {
      body.instrs.push_back({BodyOp::kTanh, DType::F32, prev});
    } else {
      body.instrs.push_back({BodyOp::kMul, DType::F32, prev, 3});
    }
  }
  body.result = body.num_values() - 1;
  std::string error;
  ASSERT_TRUE(fmt::CheckKernelBody(body, &error)) << error;
  std::vector<float> x = Random(1500, 3, -1, 1), c = Random(1500, 4, -1, 1);
  std::vector<float> y = Interpret(body, {{1500}, {1500}}, {1500}, {x, c});
  ASSERT_EQ(y.size(), x.size());
  for (int i = 0; i < 1500; ++i) {
    double t = x[i] * 0.5;
    for (size_t k = 3; k < n; ++k) t = k % 3 == 0 ? t + c[i] : k % 3 == 1 ? std::tanh(t) : t * 0.75;
    ASSERT_NEAR(y[i], t, 1e-4) << i;
  }
  // One more is the format's limit, for every reader.
  body.instrs.push_back({BodyOp::kRelu, DType::F32, body.result});
  body.result += 1;
  EXPECT_FALSE(fmt::CheckKernelBody(body, &error));
  EXPECT_NE(error.find("too long"), std::string::npos) << error;
}

}  // namespace
}  // namespace sinter::rt
