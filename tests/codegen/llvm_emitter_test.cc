// The LLVM CPU code generator: every fused op, compiled for every
// instruction-set level this machine can run, against double-precision
// references (special values included); broadcasting; arbitrary [begin, end)
// splits; in-place runs; and a shared object that needs nothing from outside.
#include <dlfcn.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "codegen/cpu/llvm_emitter.h"
#include "gtest/gtest.h"
#include "kernels/cast.h"
#include "tests/body_program.h"

namespace sinter::codegen::cpu {
namespace {

using Fn = void (*)(const void* const*, void*, int64_t, int64_t);

// A kernel spec from a program (tests/body_program.h) over f32 inputs.
CpuKernelSpec Spec(const std::string& name, const std::string& program,
                   std::vector<std::vector<int64_t>> inputs, std::vector<int64_t> output) {
  const int n = static_cast<int>(inputs.size());
  return {name, sinter::testing::BodyFromProgram(program, n), std::move(inputs), std::move(output)};
}
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

// A compiled object, loaded from a private temporary file.
class Loaded {
 public:
  explicit Loaded(const std::string& so) {
    char path[] = "/tmp/sinter-llvm-test-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return;
    path_ = path;
    if (write(fd, so.data(), so.size()) != static_cast<ssize_t>(so.size())) path_.clear();
    close(fd);
    if (!path_.empty()) handle_ = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
  }
  ~Loaded() {
    if (handle_ != nullptr) dlclose(handle_);
    if (!path_.empty()) std::remove(path_.c_str());
  }
  Fn Find(const std::string& name) const {
    return handle_ ? reinterpret_cast<Fn>(dlsym(handle_, name.c_str())) : nullptr;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* handle_ = nullptr;
};

bool HostRuns(const std::string& level) {
  __builtin_cpu_init();
  if (level == "x86-64") return true;
  bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (level == "x86-64-v3") return v3;
  return v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

std::vector<std::string> Levels() {
  std::vector<std::string> out;
  for (const char* l : {"x86-64", "x86-64-v3", "x86-64-v4"}) {
    if (HostRuns(l)) out.push_back(l);
  }
  return out;
}

// Values that exercise every branch of the polynomials, special values, and
// a ramp; 61 of them, so vectors of 4, 8 and 16 all leave a masked tail.
std::vector<float> Values() {
  std::vector<float> v = {-100.f, -88.5f, -20.f,  -5.5f, -4.f, -1.f,  -0.7f, -0.3f, -1e-3f,
                          -0.f,   0.f,    1e-40f, 1e-3f, 0.3f, 0.62f, 0.63f, 0.7f,  1.f,
                          2.5f,   4.f,    10.f,   50.f,  88.f, 100.f, kInf,  -kInf, kNan};
  for (int i = 0; v.size() < 61; ++i) v.push_back(-6.f + 0.37f * i);
  return v;
}

bool Close(float got, double want, double rel) {
  const float w = static_cast<float>(want);
  if (std::isnan(w)) return std::isnan(got);
  if (std::isinf(w)) return got == w;
  return std::fabs(got - w) <= 1e-6 + rel * std::fabs(w);
}

struct UnaryCase {
  const char* program;  // over $0
  std::function<double(double)> ref;
  double rel = 2e-6;
};

double Sigmoid(double x) { return 1 / (1 + std::exp(-x)); }
double Clamp(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

const std::vector<UnaryCase>& UnaryCases() {
  static const std::vector<UnaryCase> cases = {
      {"t0 = relu $0", [](double x) { return x < 0 ? 0 : x; }},
      {"t0 = sigmoid $0", Sigmoid},
      {"t0 = tanh $0", [](double x) { return std::tanh(x); }},
      {"t0 = exp $0", [](double x) { return std::exp(x); }},
      {"t0 = log $0", [](double x) { return std::log(x); }},
      {"t0 = sqrt $0", [](double x) { return std::sqrt(x); }},
      {"t0 = rsqrt $0", [](double x) { return 1 / std::sqrt(x); }},
      {"t0 = neg $0", [](double x) { return -x; }},
      {"t0 = abs $0", [](double x) { return std::fabs(x); }},
      {"t0 = erf $0", [](double x) { return std::erf(x); }},
      {"t0 = reciprocal $0", [](double x) { return 1 / x; }},
      {"t0 = silu $0", [](double x) { return x * Sigmoid(x); }},
      {"t0 = gelu $0", [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {"t0 = gelu_tanh $0",
       [](double x) {
         return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
       }},
      {"t0 = hardswish $0", [](double x) { return x * Clamp(x + 3, 0, 6) / 6; }},
      {"t0 = hardsigmoid $0", [](double x) { return Clamp(x + 3, 0, 6) / 6; }},
      {"t0 = leaky_relu $0 0.01", [](double x) { return x > 0 ? x : 0.01 * x; }},
      {"t0 = elu $0 1.5", [](double x) { return x > 0 ? x : 1.5 * std::expm1(x); }},
      {"t0 = clamp $0 0 6", [](double x) { return std::isnan(x) ? x : Clamp(x, 0, 6); }},
      {"t0 = clamp $0 -inf 1", [](double x) { return std::isnan(x) ? x : std::min(x, 1.0); }},
      {"t0 = pow $0 2", [](double x) { return x * x; }},
      {"t0 = pow $0 3", [](double x) { return x * x * x; }},
      {"t0 = pow $0 -1", [](double x) { return 1 / x; }},
      {"t0 = pow $0 0.5", [](double x) { return std::pow(x, 0.5); }, 1e-5},
      {"t0 = pow $0 -2.5", [](double x) { return std::pow(x, -2.5); }, 1e-5},
      {"t0 = mul $0 0.5; t1 = add t0 1; t2 = tanh t1; t3 = mul t2 $0",
       [](double x) { return std::tanh(x * 0.5 + 1) * x; }},
  };
  return cases;
}

TEST(LlvmEmitter, EveryUnaryOpOnEveryLevel) {
  const std::vector<float> x = Values();
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<CpuKernelSpec> specs;
  for (size_t i = 0; i < UnaryCases().size(); ++i) {
    specs.push_back(Spec("u" + std::to_string(i), UnaryCases()[i].program, {{n}}, {n}));
  }
  for (const std::string& level : Levels()) {
    SCOPED_TRACE(level);
    auto object = CompileCpuKernels(specs, level);
    ASSERT_TRUE(object.ok()) << object.status();
    EXPECT_EQ(object->level, level);
    Loaded so(object->shared_object);
    for (size_t i = 0; i < specs.size(); ++i) {
      const UnaryCase& c = UnaryCases()[i];
      SCOPED_TRACE(c.program);
      Fn fn = so.Find(specs[i].name);
      ASSERT_NE(fn, nullptr);
      std::vector<float> y(n, -7.f);
      const void* in[] = {x.data()};
      fn(in, y.data(), 0, n);
      for (int64_t k = 0; k < n; ++k) {
        EXPECT_TRUE(Close(y[k], c.ref(x[k]), c.rel))
            << "x=" << x[k] << " got " << y[k] << " want " << c.ref(x[k]);
      }
    }
  }
}

TEST(LlvmEmitter, BinaryOpsWithVectorOperands) {
  const std::vector<float> v = Values();
  // Every pair of a subset, as two dense inputs.
  std::vector<float> a, b;
  for (float p : v) {
    for (float q : {-3.f, -2.3f, -1.f, 0.f, 0.5f, 1.f, 2.f, 3.f, 1.7f, kInf, kNan}) {
      a.push_back(p);
      b.push_back(q);
    }
  }
  const int64_t n = static_cast<int64_t>(a.size());
  struct Case {
    const char* op;
    std::function<double(double, double)> ref;
  };
  const std::vector<Case> cases = {
      {"add", [](double p, double q) { return p + q; }},
      {"sub", [](double p, double q) { return p - q; }},
      {"mul", [](double p, double q) { return p * q; }},
      {"div", [](double p, double q) { return p / q; }},
      {"pow", [](double p, double q) { return std::pow(p, q); }},
      {"maximum",
       [](double p, double q) { return std::isnan(p) || std::isnan(q) ? NAN : std::max(p, q); }},
      {"minimum",
       [](double p, double q) { return std::isnan(p) || std::isnan(q) ? NAN : std::min(p, q); }},
  };
  std::vector<CpuKernelSpec> specs;
  for (const Case& c : cases)
    specs.push_back(Spec(c.op, std::string("t0 = ") + c.op + " $0 $1", {{n}, {n}}, {n}));
  for (const std::string& level : Levels()) {
    SCOPED_TRACE(level);
    auto object = CompileCpuKernels(specs, level);
    ASSERT_TRUE(object.ok()) << object.status();
    Loaded so(object->shared_object);
    for (const Case& c : cases) {
      SCOPED_TRACE(c.op);
      Fn fn = so.Find(c.op);
      ASSERT_NE(fn, nullptr);
      std::vector<float> y(n);
      const void* in[] = {a.data(), b.data()};
      fn(in, y.data(), 0, n);
      for (int64_t k = 0; k < n; ++k) {
        const double want = c.ref(a[k], b[k]);
        // Large |b log a| magnifies pow's error in log a.
        EXPECT_TRUE(Close(y[k], want, std::string(c.op) == "pow" ? 2e-5 : 1e-6))
            << a[k] << " " << c.op << " " << b[k] << " got " << y[k] << " want " << want;
      }
    }
  }
}

// y = x * s + r over broadcast shapes, every split of the range into two
// calls, and in place (y aliases x).
TEST(LlvmEmitter, BroadcastsSplitsAndInPlace) {
  struct Shapes {
    std::vector<int64_t> x, s, r, y;
  };
  const std::vector<Shapes> shapes = {
      {{2, 3, 5, 7}, {3, 1, 1}, {1}, {2, 3, 5, 7}},     // per-channel scale, scalar
      {{2, 3, 5, 7}, {7}, {2, 1, 5, 1}, {2, 3, 5, 7}},  // last dim, mixed
      {{4, 1, 9}, {1, 6, 1}, {9}, {4, 6, 9}},           // x broadcast too
      {{1}, {1}, {1}, {1}},                             // one element
      {{3, 17}, {3, 1}, {3, 17}, {3, 17}},              // rows shorter than a vector
      {{2, 0, 3}, {3}, {1}, {2, 0, 3}},                 // empty
  };
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-2, 2);
  auto fill = [&](const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t e : shape) n *= e;
    std::vector<float> v(n);
    for (float& f : v) f = dist(rng);
    return v;
  };
  std::vector<CpuKernelSpec> specs;
  for (size_t i = 0; i < shapes.size(); ++i) {
    specs.push_back(Spec("k" + std::to_string(i), "t0 = mul $0 $1; t1 = add t0 $2",
                         {shapes[i].x, shapes[i].s, shapes[i].r}, shapes[i].y));
  }
  for (const std::string& level : Levels()) {
    SCOPED_TRACE(level);
    auto object = CompileCpuKernels(specs, level);
    ASSERT_TRUE(object.ok()) << object.status();
    Loaded so(object->shared_object);
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Shapes& sh = shapes[i];
      Fn fn = so.Find(specs[i].name);
      ASSERT_NE(fn, nullptr);
      std::vector<float> x = fill(sh.x), s = fill(sh.s), r = fill(sh.r);
      const int64_t n = static_cast<int64_t>(fill(sh.y).size());
      // Reference: NumPy broadcasting by index arithmetic.
      std::vector<float> want(n);
      const int rank = static_cast<int>(sh.y.size());
      auto index = [&](const std::vector<int64_t>& shape, int64_t flat) {
        int64_t idx = 0, stride = 1;
        for (int d = rank - 1, k = static_cast<int>(shape.size()) - 1; d >= 0; --d, --k) {
          const int64_t c = flat % sh.y[d];
          flat /= sh.y[d];
          if (k >= 0) {
            if (shape[k] != 1) idx += c * stride;
            stride *= shape[k];
          }
        }
        return idx;
      };
      for (int64_t k = 0; k < n; ++k)
        want[k] = x[index(sh.x, k)] * s[index(sh.s, k)] + r[index(sh.r, k)];
      const void* in[] = {x.data(), s.data(), r.data()};
      for (int64_t split = 0; split <= n; split += std::max<int64_t>(1, n / 13)) {
        std::vector<float> y(n, kNan);
        fn(in, y.data(), 0, split);
        fn(in, y.data(), split, n);
        for (int64_t k = 0; k < n; ++k)
          ASSERT_NEAR(y[k], want[k], 1e-5) << "shape " << i << " split " << split << " at " << k;
      }
      if (sh.x == sh.y) {
        std::vector<float> xi = x;
        const void* in_place[] = {xi.data(), s.data(), r.data()};
        fn(in_place, xi.data(), 0, n);
        for (int64_t k = 0; k < n; ++k) ASSERT_NEAR(xi[k], want[k], 1e-5);
      }
    }
  }
}

// Comparisons, selects and casts, with a bool mask, an i64 and an i32 input
// and every result dtype the CPU holds; casts by kernels/cast.h's rules
// (NaN and out-of-range to the type's minimum, uint8 as int32's low byte).
TEST(LlvmEmitter, TypedBodies) {
  using format::BodyInstr;
  using format::BodyOp;
  using format::DType;
  const std::vector<float> x = Values();
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> mask(n);
  std::vector<int64_t> idx(n);
  std::vector<int32_t> small(n);
  for (int64_t k = 0; k < n; ++k) {
    mask[k] = (k % 3) == 0;
    idx[k] = (k - 30) * 1000003;
    small[k] = static_cast<int32_t>(k) - 7;
  }
  // y = mask ? x * 1e9 : f32(idx) + f32(small), then cast to `to`.
  auto body = [](DType to) {
    format::KernelBody b;
    b.args = {DType::F32, DType::BOOL, DType::I64, DType::I32};
    b.instrs = {
        {BodyOp::kConst, DType::F32, -1, -1, -1, 1e9f},  // %4
        {BodyOp::kMul, DType::F32, 0, 4},                // %5
        {BodyOp::kCast, DType::F32, 2},                  // %6
        {BodyOp::kCast, DType::F32, 3},                  // %7
        {BodyOp::kAdd, DType::F32, 6, 7},                // %8
        {BodyOp::kWhere, DType::F32, 1, 5, 8},           // %9
        {BodyOp::kCast, to, 9},                          // %10
    };
    b.result = 10;
    return b;
  };
  const DType kinds[] = {DType::F32, DType::BOOL, DType::U8, DType::I32, DType::I64};
  std::vector<CpuKernelSpec> specs;
  for (DType t : kinds) {
    specs.push_back(
        {"c" + std::string(format::BodyTypeName(t)), body(t), {{n}, {n}, {n}, {n}}, {n}});
  }
  // And a comparison stored as bool: x > 0.5 != mask.
  specs.push_back({"cmp",
                   format::KernelBody{{DType::F32, DType::BOOL},
                                      {{BodyOp::kConst, DType::F32, -1, -1, -1, 0.5f},
                                       {BodyOp::kGt, DType::BOOL, 0, 2},
                                       {BodyOp::kNe, DType::BOOL, 3, 1}},
                                      4},
                   {{n}, {n}},
                   {n}});
  for (const std::string& level : Levels()) {
    SCOPED_TRACE(level);
    auto object = CompileCpuKernels(specs, level);
    ASSERT_TRUE(object.ok()) << object.status();
    Loaded so(object->shared_object);
    const void* in[] = {x.data(), mask.data(), idx.data(), small.data()};
    for (size_t s = 0; s < std::size(kinds); ++s) {
      const DType t = kinds[s];
      SCOPED_TRACE(format::BodyTypeName(t));
      Fn fn = so.Find(specs[s].name);
      ASSERT_NE(fn, nullptr);
      std::vector<uint8_t> y(n * 8, 0xAB);
      fn(in, y.data(), 0, n);
      for (int64_t k = 0; k < n; ++k) {
        const float v =
            mask[k] ? x[k] * 1e9f : static_cast<float>(idx[k]) + static_cast<float>(small[k]);
        switch (t) {
          case DType::F32:
            EXPECT_TRUE(Close(reinterpret_cast<float*>(y.data())[k], v, 1e-6)) << k;
            break;
          case DType::BOOL:
            EXPECT_EQ(y[k], v != 0 ? 1 : 0) << k << " v=" << v;
            break;
          case DType::U8:
            EXPECT_EQ(y[k], sinter_cast::ToU8(v)) << k << " v=" << v;
            break;
          case DType::I32:
            EXPECT_EQ(reinterpret_cast<int32_t*>(y.data())[k], sinter_cast::ToI32(v)) << k;
            break;
          case DType::I64:
            EXPECT_EQ(reinterpret_cast<int64_t*>(y.data())[k], sinter_cast::ToI64(v)) << k;
            break;
          case DType::F16:
          case DType::BF16:
          case DType::F64:
          case DType::I8:
            FAIL() << "not a CPU dtype";
        }
      }
    }
    Fn cmp = so.Find("cmp");
    ASSERT_NE(cmp, nullptr);
    std::vector<uint8_t> y(n, 0xAB);
    cmp(in, y.data(), 0, n);
    for (int64_t k = 0; k < n; ++k) EXPECT_EQ(y[k], (x[k] > 0.5f) != (mask[k] != 0)) << k;
  }
}

TEST(LlvmEmitter, SharedObjectIsSelfContained) {
  auto object = CompileCpuKernels(
      {Spec("f", "t0 = gelu $0; t1 = pow t0 $1; t2 = log t1; t3 = erf t2", {{64}, {64}}, {64})},
      "x86-64-v3");
  ASSERT_TRUE(object.ok()) << object.status();
  Loaded so(object->shared_object);
  ASSERT_FALSE(so.path().empty());
  FILE* p = popen(("readelf -dW --dyn-syms " + so.path() + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  if (out.find("not found") != std::string::npos) GTEST_SKIP() << "no readelf: " << out;
  EXPECT_EQ(out.find("(NEEDED)"), std::string::npos) << out;
  // Symbol 0 is the null symbol; any other undefined symbol would be an
  // external reference.
  int undefined = 0;
  for (size_t at = out.find(" UND "); at != std::string::npos; at = out.find(" UND ", at + 1))
    ++undefined;
  EXPECT_LE(undefined, 1) << out;
  EXPECT_NE(out.find(" f\n"), std::string::npos) << out;
}

TEST(LlvmEmitter, RejectsBadInput) {
  CpuKernelSpec bad = Spec("f", "t0 = relu $0", {{4}}, {4});
  bad.body.instrs[0].op = static_cast<format::BodyOp>(250);
  EXPECT_FALSE(CompileCpuKernels({bad}, "x86-64").ok());
  EXPECT_FALSE(CompileCpuKernels({Spec("f", "t0 = relu $0", {{3}}, {4})}, "x86-64").ok());
  // f16 tensors: no CPU code for them.
  auto f16 = CompileCpuKernels(
      {{"f", sinter::testing::BodyFromProgram("t0 = relu $0", 1, format::DType::F16), {{4}}, {4}}},
      "x86-64");
  ASSERT_FALSE(f16.ok());
  EXPECT_NE(f16.status().message().find("no CPU code for f16"), std::string::npos) << f16.status();
  auto bad_cpu = CompileCpuKernels({Spec("f", "t0 = relu $0", {{4}}, {4})}, "pentium");
  ASSERT_FALSE(bad_cpu.ok());
  EXPECT_NE(bad_cpu.status().message().find("unknown --cpu 'pentium'"), std::string::npos);
}

TEST(LlvmEmitter, NativeResolvesToARunnableLevel) {
  auto level = ResolveCpuLevel("native");
  ASSERT_TRUE(level.ok());
  EXPECT_TRUE(HostRuns(*level)) << *level;
}

}  // namespace
}  // namespace sinter::codegen::cpu
