// The CPU interpreter of fused kernels against the compiler's scalar
// reference of the same vocabulary (runtime/format/elementwise.def): every
// op, alone and with constants on either side; programs that reuse a temp,
// leave temps dead, or read a broadcast input; and the longest program the
// format accepts, which the interpreter must run (it once refused programs
// of about 30 instructions that native code ran).
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "passes/fusion_util.h"
#include "runtime/cpu/fused.h"
#include "runtime/format/fused_program.h"

namespace sinter::rt {
namespace {

namespace fmt = ::sinter::format;

TensorDesc Desc(std::vector<int64_t> dims) {
  TensorDesc d;
  d.dims = std::move(dims);
  d.num_elements = 1;
  for (int64_t e : d.dims) d.num_elements *= e;
  d.byte_size = d.num_elements * 4;
  return d;
}

// Runs `text` on the interpreter over inputs of `shapes` broadcast to `out`.
std::vector<float> Interpret(const std::string& text,
                             const std::vector<std::vector<int64_t>>& shapes,
                             const std::vector<int64_t>& out,
                             const std::vector<std::vector<float>>& data) {
  std::vector<TensorDesc> descs;
  for (const auto& s : shapes) descs.push_back(Desc(s));
  std::vector<const TensorDesc*> ptrs;
  for (const TensorDesc& d : descs) ptrs.push_back(&d);
  const TensorDesc y = Desc(out);
  StatusOr<FusedProgramPtr> p = PlanFusedProgram(text, ptrs, y);
  EXPECT_TRUE(p.ok()) << text << ": " << p.status().message();
  if (!p.ok()) return {};
  std::vector<const float*> in;
  for (const auto& d : data) in.push_back(d.data());
  std::vector<float> result(y.num_elements);
  RunFusedProgram(*p.value(), in.data(), result.data(), nullptr);
  return result;
}

std::vector<float> Random(int64_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// The compiler's reference for one instruction (passes/eval_elementwise.cc).
double Reference(const fmt::FusedInstr& in, double a, double b) {
  passes::ProgramInstr p{in.op, {in.p0, in.p1}};
  return passes::EvalProgramInstr(p, a, b);
}

bool Close(double got, double want, double tol) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= tol * (1 + std::fabs(want));
}

TEST(FusedInterpreter, EveryVocabularyOpMatchesTheCompilersReference) {
  // Inputs in (0.1, 3) for log, sqrt, pow; in (-3, 3) otherwise.
  for (int k = 0; k <= static_cast<int>(fmt::FusedOp::kMinimum); ++k) {
    const auto op = static_cast<fmt::FusedOp>(k);
    const fmt::FusedOpInfo& info = fmt::InfoOf(op);
    SCOPED_TRACE(std::string(info.name));
    const bool positive = op == fmt::FusedOp::kLog || op == fmt::FusedOp::kSqrt ||
                          op == fmt::FusedOp::kRsqrt || op == fmt::FusedOp::kPow;
    const float lo = positive ? 0.1f : -3.f;
    std::vector<float> a = Random(1000, 1 + k, lo, 3.f), b = Random(1000, 100 + k, lo, 3.f);
    std::string params;
    if (op == fmt::FusedOp::kLeakyRelu || op == fmt::FusedOp::kElu) params = " 0.3";
    if (op == fmt::FusedOp::kClamp) params = " -1.5 2";
    // Operand forms: two inputs; a constant second; a constant first.
    std::vector<std::string> texts = {
        absl::StrCat("t0 = ", std::string(info.name), info.binary ? " $0 $1" : " $0", params)};
    if (info.binary) {
      texts.push_back(absl::StrCat("t0 = ", std::string(info.name), " $0 1.75"));
      texts.push_back(absl::StrCat("t0 = ", std::string(info.name), " 1.25 $0"));
    }
    for (const std::string& text : texts) {
      SCOPED_TRACE(text);
      std::vector<fmt::FusedInstr> prog;
      std::string error;
      ASSERT_TRUE(fmt::ParseFusedProgram(text, 2, &prog, &error)) << error;
      std::vector<float> y = Interpret(text, {{1000}, {1000}}, {1000}, {a, b});
      ASSERT_EQ(y.size(), 1000u);
      const fmt::FusedInstr& in = prog[0];
      for (int i = 0; i < 1000; ++i) {
        auto value = [&](const fmt::FusedRef& r) -> double {
          if (r.kind == fmt::FusedRef::kConst) return r.value;
          return r.index == 0 ? a[i] : b[i];
        };
        const double want = Reference(in, value(in.a), info.binary ? value(in.b) : 0);
        // 1e-5 relative: the kernels' polynomial exp/tanh/erf against libm in
        // double; far below any real mistake (another op, a swapped operand).
        ASSERT_TRUE(Close(y[i], want, 1e-5)) << "element " << i << ": " << y[i] << " vs " << want;
      }
    }
  }
}

TEST(FusedInterpreter, ReusedDeadAndBroadcastOperands) {
  // t1 reads t0 twice; t2 is dead; $1 is broadcast along the row.
  const std::string text =
      "t0 = add $0 $1; t1 = mul t0 t0; t2 = exp t0; t3 = sub t1 $0; t4 = mul t3 0.5";
  std::vector<float> x = Random(4 * 600, 7, -2, 2), b = Random(4, 8, -2, 2);
  std::vector<float> y = Interpret(text, {{4, 600}, {4, 1}}, {4, 600}, {x, b});
  ASSERT_EQ(y.size(), x.size());
  for (int i = 0; i < 4 * 600; ++i) {
    const double t0 = x[i] + b[i / 600];
    ASSERT_NEAR(y[i], (t0 * t0 - x[i]) * 0.5, 1e-5) << i;
  }
}

TEST(FusedInterpreter, RunsTheLongestProgramTheFormatAccepts) {
  // kMaxFusedInstructions instructions alternating two inputs, a constant and
  // a temp from far back; the interpreter's buffers stay few (slots reused).
  std::string text;
  const size_t n = fmt::kMaxFusedInstructions;
  for (size_t k = 0; k < n; ++k) {
    std::string line;
    if (k == 0) {
      line = "t0 = mul $0 0.5";
    } else if (k % 3 == 0) {
      line = absl::StrCat("t", k, " = add t", k - 1, " $1");
    } else if (k % 3 == 1) {
      line = absl::StrCat("t", k, " = tanh t", k - 1);
    } else {
      line = absl::StrCat("t", k, " = mul t", k - 1, " 0.75");
    }
    absl::StrAppend(&text, k ? "; " : "", line);
  }
  std::vector<float> x = Random(1500, 3, -1, 1), c = Random(1500, 4, -1, 1);
  std::vector<float> y = Interpret(text, {{1500}, {1500}}, {1500}, {x, c});
  ASSERT_EQ(y.size(), x.size());
  for (int i = 0; i < 1500; ++i) {
    double t = x[i] * 0.5;
    for (size_t k = 1; k < n; ++k) t = k % 3 == 0 ? t + c[i] : k % 3 == 1 ? std::tanh(t) : t * 0.75;
    ASSERT_NEAR(y[i], t, 1e-4) << i;
  }
  // One more is the format's limit, for every reader.
  std::vector<fmt::FusedInstr> prog;
  std::string error;
  EXPECT_FALSE(
      fmt::ParseFusedProgram(absl::StrCat(text, "; t", n, " = relu t", n - 1), 2, &prog, &error));
  EXPECT_NE(error.find("too long"), std::string::npos) << error;
}

}  // namespace
}  // namespace sinter::rt
