// Tests of the CPU kernels against naive double-precision loops written here,
// on odd shapes and edge cases, serially and through a std::thread Parallel
// (threaded results must equal serial ones).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "kernels/cpu/internal_gemm.h"
#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

// Fork-join over std::threads, chunks handed out from an atomic counter.
class ThreadParallel : public Parallel {
 public:
  explicit ThreadParallel(int n) : n_(n) {}
  int num_threads() const override { return n_; }
  void For(int64_t n, Fn fn, void* ctx) override {
    std::atomic<int64_t> next{0};
    const int64_t chunk = std::max<int64_t>(1, n / (4 * n_));
    auto run = [&] {
      for (;;) {
        int64_t b = next.fetch_add(chunk);
        if (b >= n) return;
        fn(b, std::min(n, b + chunk), ctx);
      }
    };
    std::vector<std::thread> threads;
    for (int i = 1; i < n_; ++i) threads.emplace_back(run);
    run();
    for (std::thread& t : threads) t.join();
  }

 private:
  int n_;
};

std::vector<float> Random(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// 64-byte aligned scratch memory (null when empty).
struct Scratch {
  explicit Scratch(int64_t bytes)
      : p(bytes > 0 ? std::aligned_alloc(64, static_cast<size_t>((bytes + 63) / 64 * 64))
                    : nullptr) {}
  ~Scratch() { std::free(p); }
  void* p;
};

bool BothNan(double a, double b) { return std::isnan(a) && std::isnan(b); }

// |got - want| <= atol + rtol * scale (scale = |want| unless given).
void ExpectClose(const std::vector<float>& got, const std::vector<double>& want, double rtol,
                 double atol, const std::string& what, const std::vector<double>* scale = nullptr) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if (BothNan(g, w) || g == w) continue;
    const double s = scale ? (*scale)[i] : std::fabs(w);
    if (std::isnan(g) || std::isnan(w) || !(std::fabs(g - w) <= atol + rtol * s)) {
      if (++bad <= 5) ADD_FAILURE() << what << " [" << i << "]: got " << g << " want " << w;
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

void ExpectSame(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  if (a.empty()) return;  // memcmp must not see the null data() of an empty vector
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << what;
}

// ---- Unary -----------------------------------------------------------------------------

double UnaryRef(Unary op, double x, double a, double b) {
  switch (op) {
    case Unary::kRelu:
      return x < 0 ? 0 : x;
    case Unary::kSigmoid:
      return 1 / (1 + std::exp(-x));
    case Unary::kTanh:
      return std::tanh(x);
    case Unary::kExp:
      return std::exp(x);
    case Unary::kLog:
      return std::log(x);
    case Unary::kSqrt:
      return std::sqrt(x);
    case Unary::kRsqrt:
      return 1 / std::sqrt(x);
    case Unary::kNeg:
      return -x;
    case Unary::kAbs:
      return std::fabs(x);
    case Unary::kErf:
      return std::erf(x);
    case Unary::kReciprocal:
      return 1 / x;
    case Unary::kSilu:
      return x / (1 + std::exp(-x));
    case Unary::kGeluErf:
      return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Unary::kGeluTanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Unary::kHardswish:
      return x * std::min(std::max(x + 3, 0.0), 6.0) / 6;
    case Unary::kHardsigmoid:
      return std::min(std::max(x + 3, 0.0), 6.0) / 6;
    case Unary::kLeakyRelu:
      return x > 0 ? x : a * x;
    case Unary::kElu:
      return x > 0 ? x : a * std::expm1(x);
    case Unary::kClamp:
      return std::isnan(x) ? x : std::min(std::max(x, a), b);
  }
  return 0;
}

std::vector<float> UnaryInputs(Unary op, int64_t n) {
  std::vector<float> x = Random(n, 7, -9.f, 9.f);
  const bool positive = op == Unary::kLog || op == Unary::kSqrt || op == Unary::kRsqrt;
  for (size_t i = 0; i < x.size(); ++i) {
    if (positive) x[i] = std::fabs(x[i]) * (i % 3 == 0 ? 1e-3f : 10.f) + 1e-20f;
    if (i % 5 == 1) x[i] *= 1e-3f;  // near zero
    if (i % 7 == 2) x[i] *= 1e-6f;
  }
  const float specials[] = {0.f,   -0.f,  kInf, -kInf, kNan,   80.f,    -80.f, 1e-30f, -1e-30f,
                            88.5f, -87.f, 3.5f, -3.f,  0.625f, -0.624f, 1.f,   4.f,    -4.5f};
  for (size_t i = 0; i < std::size(specials) && i < x.size(); ++i)
    x[i * 13 % x.size()] = specials[i];
  return x;
}

TEST(Unary, MatchesReference) {
  const struct {
    Unary op;
    float a, b;
  } cases[] = {
      {Unary::kRelu, 0, 0},         {Unary::kSigmoid, 0, 0},       {Unary::kTanh, 0, 0},
      {Unary::kExp, 0, 0},          {Unary::kLog, 0, 0},           {Unary::kSqrt, 0, 0},
      {Unary::kRsqrt, 0, 0},        {Unary::kNeg, 0, 0},           {Unary::kAbs, 0, 0},
      {Unary::kErf, 0, 0},          {Unary::kReciprocal, 0, 0},    {Unary::kSilu, 0, 0},
      {Unary::kGeluErf, 0, 0},      {Unary::kGeluTanh, 0, 0},      {Unary::kHardswish, 0, 0},
      {Unary::kHardsigmoid, 0, 0},  {Unary::kLeakyRelu, 0.01f, 0}, {Unary::kElu, 1.3f, 0},
      {Unary::kClamp, -0.5f, 0.7f}, {Unary::kClamp, -kInf, 2.f},   {Unary::kClamp, -1.f, kInf}};
  for (int64_t n : {1, 7, 8, 9, 1003}) {
    for (const auto& c : cases) {
      std::vector<float> x = UnaryInputs(c.op, n), y(x.size());
      UnaryF32(c.op, x.data(), y.data(), n, c.a, c.b, nullptr);
      std::vector<double> want(x.size());
      for (size_t i = 0; i < x.size(); ++i) want[i] = UnaryRef(c.op, x[i], c.a, c.b);
      ExpectClose(y, want, 1e-5, 1e-6,
                  "unary op " + std::to_string(static_cast<int>(c.op)) + " n=" + std::to_string(n));
      // In place.
      std::vector<float> z = x;
      UnaryF32(c.op, z.data(), z.data(), n, c.a, c.b, nullptr);
      EXPECT_EQ(0, std::memcmp(z.data(), y.data(), y.size() * 4)) << static_cast<int>(c.op);
    }
  }
}

TEST(Unary, DenormalAndOverflowEdges) {
  std::vector<float> x = {-88.f, -95.f, -104.f, -200.f, 88.7f, 88.8f, 100.f};
  std::vector<float> y(x.size());
  UnaryF32(Unary::kExp, x.data(), y.data(), x.size(), 0, 0, nullptr);
  for (size_t i = 0; i < x.size(); ++i) {
    double want = std::exp(static_cast<double>(x[i]));
    if (want > std::numeric_limits<float>::max()) {
      EXPECT_EQ(y[i], kInf) << x[i];
    } else {
      EXPECT_NEAR(y[i], want, 1e-5 * want + 1e-44) << x[i];
    }
  }
}

TEST(Unary, ThreadedEqualsSerial) {
  const int64_t n = 100003;
  std::vector<float> x = Random(n, 3, -5, 5), a(n), b(n);
  for (int threads : {2, 3, 4}) {
    ThreadParallel par(threads);
    for (Unary op : {Unary::kGeluErf, Unary::kSigmoid, Unary::kRelu}) {
      UnaryF32(op, x.data(), a.data(), n, 0, 0, nullptr);
      UnaryF32(op, x.data(), b.data(), n, 0, 0, &par);
      ExpectSame(a, b, "threaded unary");
    }
  }
}

// ---- Binary and where -------------------------------------------------------------------

double BinaryRef(Binary op, double a, double b) {
  switch (op) {
    case Binary::kAdd:
      return a + b;
    case Binary::kSub:
      return a - b;
    case Binary::kMul:
      return a * b;
    case Binary::kDiv:
      return a / b;
    case Binary::kPow:
      return std::pow(a, b);
    case Binary::kMax:
      return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
    case Binary::kMin:
      return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
  }
  return 0;
}

int64_t Numel(const std::vector<int64_t>& d) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  return n;
}

// Offset into a dense tensor of dims `d` (broadcast dims read index 0) for
// the output multi-index of flat output index i.
int64_t BroadcastOffset(const std::vector<int64_t>& d, const std::vector<int64_t>& y, int64_t i) {
  int64_t off = 0, stride = 1;
  for (int k = static_cast<int>(y.size()) - 1; k >= 0; --k) {
    int64_t idx = i % y[k];
    i /= y[k];
    if (d[k] != 1) off += idx * stride;
    stride *= d[k];
  }
  return off;
}

struct BinCase {
  std::vector<int64_t> a, b, y;
};

TEST(Binary, BroadcastingMatchesReference) {
  const BinCase cases[] = {
      {{3, 5, 7}, {3, 5, 7}, {3, 5, 7}},
      {{2, 3, 4, 5}, {1, 3, 1, 1}, {2, 3, 4, 5}},
      {{4, 1, 6}, {1, 5, 1}, {4, 5, 6}},
      {{1, 1, 4}, {2, 3, 4}, {2, 3, 4}},  // lower-rank a aligned to the output
      {{2, 3, 4}, {1, 1, 1}, {2, 3, 4}},  // scalar b
      {{1, 1}, {1, 1}, {1, 1}},
      {{}, {}, {}},  // rank 0
      {{64, 1000}, {64, 1}, {64, 1000}},
      {{3, 40000}, {1, 40000}, {3, 40000}},
      {{5, 1, 1, 9}, {1, 7, 1, 9}, {5, 7, 1, 9}},
      {{2, 1}, {1, 33}, {2, 33}},
  };
  ThreadParallel par(3);
  for (const BinCase& c : cases) {
    for (Binary op : {Binary::kAdd, Binary::kSub, Binary::kMul, Binary::kDiv, Binary::kPow,
                      Binary::kMax, Binary::kMin}) {
      std::vector<float> a = Random(Numel(c.a), 11), b = Random(Numel(c.b), 12);
      if (op == Binary::kPow) {
        for (float& v : a) v = std::fabs(v) * 3 + 0.1f;
        for (float& v : b) v *= 2.5f;
      }
      if (op == Binary::kMax || op == Binary::kMin) {
        if (a.size() > 3) a[3] = kNan;
        if (b.size() > 1) b[1] = kNan;
      }
      if (op == Binary::kDiv) {
        for (float& v : b) v = v < 0 ? v - 0.1f : v + 0.1f;
      }
      const int64_t n = Numel(c.y);
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) {
        want[i] = BinaryRef(op, a[BroadcastOffset(c.a, c.y, i)], b[BroadcastOffset(c.b, c.y, i)]);
      }
      const int rank = static_cast<int>(c.y.size());
      std::vector<float> y(n), yt(n);
      BinaryF32(op, a.data(), c.a.data(), b.data(), c.b.data(), y.data(), c.y.data(), rank,
                nullptr);
      ExpectClose(y, want, 1e-6, 0, "binary " + std::to_string(static_cast<int>(op)));
      BinaryF32(op, a.data(), c.a.data(), b.data(), c.b.data(), yt.data(), c.y.data(), rank, &par);
      ExpectSame(y, yt, "threaded binary");
      if (c.a == c.y) {  // in place
        std::vector<float> z = a;
        BinaryF32(op, z.data(), c.a.data(), b.data(), c.b.data(), z.data(), c.y.data(), rank, &par);
        ExpectSame(y, z, "in-place binary");
      }
    }
  }
}

TEST(Binary, PowSquareIsExact) {
  std::vector<int64_t> ad = {3, 5}, bd = {1, 1};
  std::vector<float> a = Random(15, 5, -4, 4), b = {2.f}, y(15);
  BinaryF32(Binary::kPow, a.data(), ad.data(), b.data(), bd.data(), y.data(), ad.data(), 2,
            nullptr);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(y[i], a[i] * a[i]);
}

TEST(Where, BroadcastingMatchesReference) {
  const std::vector<int64_t> cd = {2, 1, 4}, ad = {1, 3, 4}, bd = {2, 3, 1}, yd = {2, 3, 4};
  std::vector<uint8_t> cond(Numel(cd));
  for (size_t i = 0; i < cond.size(); ++i) cond[i] = (i * 7 + 3) % 3 == 0;
  std::vector<float> a = Random(Numel(ad), 1), b = Random(Numel(bd), 2), y(Numel(yd));
  WhereF32(cond.data(), cd.data(), a.data(), ad.data(), b.data(), bd.data(), y.data(), yd.data(),
           3);
  for (int64_t i = 0; i < Numel(yd); ++i) {
    float want = cond[BroadcastOffset(cd, yd, i)] ? a[BroadcastOffset(ad, yd, i)]
                                                  : b[BroadcastOffset(bd, yd, i)];
    EXPECT_EQ(y[i], want) << i;
  }
}

// ---- Reductions and normalisations ----------------------------------------------------------

TEST(Reduce, MatchesReference) {
  const int64_t shapes[][3] = {{3, 17, 1},     {2, 5, 9},    {7, 1, 5}, {4, 300, 33},
                               {1, 100003, 1}, {2, 4099, 1}, {5, 0, 1}, {1, 3, 70000}};
  ThreadParallel par(3);
  for (const auto& s : shapes) {
    const int64_t outer = s[0], axis = s[1], inner = s[2];
    std::vector<float> x = Random(outer * axis * inner, 21, -2, 3);
    if (x.size() > 40) x[37] = kNan;
    for (Reduce op : {Reduce::kSum, Reduce::kMean, Reduce::kMax}) {
      std::vector<double> want(outer * inner), mag(outer * inner);
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          double acc = op == Reduce::kMax ? -INFINITY : 0, m = 0;
          bool nan = false;
          for (int64_t a = 0; a < axis; ++a) {
            double v = x[(o * axis + a) * inner + i];
            nan = nan || std::isnan(v);
            acc = op == Reduce::kMax ? std::max(acc, v) : acc + v;
            m += std::fabs(v);
          }
          if (op == Reduce::kMean) acc /= static_cast<double>(axis), m /= axis;
          want[o * inner + i] = nan ? NAN : acc;
          mag[o * inner + i] = std::isnan(m) ? 0 : m;
        }
      }
      std::vector<float> y(outer * inner), yt(outer * inner);
      const std::string what = "reduce " + std::to_string(static_cast<int>(op)) + " " +
                               std::to_string(outer) + "x" + std::to_string(axis) + "x" +
                               std::to_string(inner);
      ReduceF32(op, x.data(), y.data(), outer, axis, inner, nullptr);
      ExpectClose(y, want, 1e-6, 1e-6, what, op == Reduce::kMax ? nullptr : &mag);
      ReduceF32(op, x.data(), yt.data(), outer, axis, inner, &par);
      ExpectClose(yt, want, 1e-6, 1e-6, what + " threaded", op == Reduce::kMax ? nullptr : &mag);
    }
  }
}

TEST(Softmax, MatchesReference) {
  const int64_t shapes[][3] = {{3, 17, 1},    {2, 9, 5}, {4, 1000, 1},
                               {2, 300, 300}, {1, 1, 1}, {3, 7, 300}};
  ThreadParallel par(2);
  for (const auto& s : shapes) {
    const int64_t outer = s[0], axis = s[1], inner = s[2];
    std::vector<float> x = Random(outer * axis * inner, 5, -10, 10);
    // Large values must not overflow; -inf entries get probability 0.
    for (size_t i = 0; i < x.size(); i += 11) x[i] += 1000.f;
    if (axis > 2) x[inner] = -kInf;
    for (bool log : {false, true}) {
      std::vector<double> want(x.size());
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          auto at = [&](int64_t a) { return (o * axis + a) * inner + i; };
          double mx = -INFINITY, sum = 0;
          for (int64_t a = 0; a < axis; ++a) mx = std::max<double>(mx, x[at(a)]);
          for (int64_t a = 0; a < axis; ++a) sum += std::exp(x[at(a)] - mx);
          for (int64_t a = 0; a < axis; ++a) {
            want[at(a)] = log ? x[at(a)] - mx - std::log(sum) : std::exp(x[at(a)] - mx) / sum;
          }
        }
      }
      std::vector<float> y(x.size()), yt(x.size());
      SoftmaxF32(x.data(), y.data(), outer, axis, inner, log, nullptr);
      ExpectClose(y, want, 1e-5, 1e-6, log ? "log_softmax" : "softmax");
      SoftmaxF32(x.data(), yt.data(), outer, axis, inner, log, &par);
      ExpectSame(y, yt, "threaded softmax");
    }
  }
}

TEST(LayerNorm, MatchesReference) {
  const int64_t shapes[][2] = {{5, 33}, {3, 1024}, {1, 7}, {40, 1000}};
  ThreadParallel par(3);
  for (const auto& s : shapes) {
    const int64_t outer = s[0], inner = s[1];
    std::vector<float> x = Random(outer * inner, 8, 99, 101);  // large mean
    std::vector<float> w = Random(inner, 9), b = Random(inner, 10);
    for (bool affine : {true, false}) {
      std::vector<double> want(x.size());
      for (int64_t o = 0; o < outer; ++o) {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < inner; ++i) mean += x[o * inner + i];
        mean /= inner;
        for (int64_t i = 0; i < inner; ++i) var += std::pow(x[o * inner + i] - mean, 2);
        var /= inner;
        for (int64_t i = 0; i < inner; ++i) {
          double v = (x[o * inner + i] - mean) / std::sqrt(var + 1e-5);
          want[o * inner + i] = affine ? v * w[i] + b[i] : v;
        }
      }
      std::vector<float> y(x.size()), yt(x.size());
      const float* wp = affine ? w.data() : nullptr;
      const float* bp = affine ? b.data() : nullptr;
      LayerNormF32(x.data(), wp, bp, y.data(), outer, inner, 1e-5f, nullptr);
      // x is ~100 +- 1, so float input rounding alone is ~1e-5 of a unit.
      ExpectClose(y, want, 1e-4, 1e-4, "layer_norm");
      LayerNormF32(x.data(), wp, bp, yt.data(), outer, inner, 1e-5f, &par);
      ExpectSame(y, yt, "threaded layer_norm");
    }
  }
}

TEST(BatchNorm, MatchesReferenceInPlace) {
  const int64_t n = 2, c = 3, sp = 17;
  std::vector<float> x = Random(n * c * sp, 1), mean = Random(c, 2), var = Random(c, 3, 0.1f, 2.f);
  std::vector<float> w = Random(c, 4), b = Random(c, 5);
  for (bool affine : {true, false}) {
    std::vector<double> want(x.size());
    for (int64_t i = 0; i < n * c * sp; ++i) {
      int64_t ch = i / sp % c;
      double v = (x[i] - mean[ch]) / std::sqrt(var[ch] + 1e-5);
      want[i] = affine ? v * w[ch] + b[ch] : v;
    }
    std::vector<float> y = x;
    BatchNormF32(y.data(), mean.data(), var.data(), affine ? w.data() : nullptr,
                 affine ? b.data() : nullptr, y.data(), n, c, sp, 1e-5f, nullptr);
    ExpectClose(y, want, 1e-5, 1e-6, "batch_norm");
  }
}

// ---- GEMM ------------------------------------------------------------------------------

// Runs `body` on each GEMM micro-kernel this CPU can run: AVX2 (forced), then
// AVX-512 when the CPU has it; restores the default choice.
template <typename Body>
void ForEachGemmPath(Body&& body) {
  for (auto path : {internal::GemmPath::kAvx2, internal::GemmPath::kAvx512}) {
    if (!internal::SetGemmPath(path)) continue;
    SCOPED_TRACE(path == internal::GemmPath::kAvx2 ? "AVX2 GEMM" : "AVX-512 GEMM");
    body();
  }
  internal::SetGemmPath(internal::GemmPath::kDefault);
}

// A RangeDone that doubles each element it is handed and counts the visits,
// so an element seen twice, never, or before its final value was stored
// shows up against a run without it.
struct RangeCheck {
  RangeCheck(float* y, int64_t n) : y(y), seen(static_cast<size_t>(n)) {}
  static void Fn(void* ctx, int64_t begin, int64_t end) {
    auto* r = static_cast<RangeCheck*>(ctx);
    for (int64_t i = begin; i < end; ++i) {
      r->seen[i].fetch_add(1);
      r->y[i] *= 2.f;
    }
  }
  // `plain`: the output without a callback; `visited(i)`: whether element i
  // belongs to the output (false for the padding of a strided C).
  template <typename Visited>
  void Expect(const std::vector<float>& plain, Visited&& visited, const std::string& what) {
    int bad = 0;
    for (size_t i = 0; i < plain.size(); ++i) {
      const bool in = visited(static_cast<int64_t>(i));
      const float want = in ? plain[i] * 2.f : plain[i];
      if (seen[i].load() != (in ? 1 : 0) || std::memcmp(&y[i], &want, sizeof want) != 0) {
        if (++bad <= 5) {
          ADD_FAILURE() << what << " [" << i << "]: seen " << seen[i].load() << " times, got "
                        << y[i] << " want " << want;
        }
      }
    }
    EXPECT_EQ(bad, 0) << what;
  }
  float* y;
  std::vector<std::atomic<int>> seen;
  RangeDone done{&Fn, this};
};

void CheckGemm(int64_t m, int64_t n, int64_t k, bool bt, bool bias, int64_t pad, Parallel* par) {
  const int64_t lda = k + pad, ldb = (bt ? k : n) + pad, ldc = n + pad;
  std::vector<float> a = Random(m * lda, 1), b = Random((bt ? n : k) * ldb, 2);
  std::vector<float> bv = Random(n, 3), c(m * ldc, 123.f);
  GemmF32(m, n, k, a.data(), lda, b.data(), ldb, bt, bias ? bv.data() : nullptr, c.data(), ldc,
          par);
  std::vector<float> got;
  std::vector<double> want, mag;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      if (j >= n) {  // padding columns are left alone
        EXPECT_EQ(c[i * ldc + j], 123.f);
        continue;
      }
      double s = bias ? bv[j] : 0, g = std::fabs(s);
      for (int64_t p = 0; p < k; ++p) {
        double t = static_cast<double>(a[i * lda + p]) * (bt ? b[j * ldb + p] : b[p * ldb + j]);
        s += t;
        g += std::fabs(t);
      }
      got.push_back(c[i * ldc + j]);
      want.push_back(s);
      mag.push_back(g);
    }
  }
  ExpectClose(got, want, 1e-5, 1e-6,
              "gemm m=" + std::to_string(m) + " n=" + std::to_string(n) +
                  " k=" + std::to_string(k) + " bt=" + std::to_string(bt),
              &mag);
}

TEST(Gemm, MatchesReference) {
  const int64_t shapes[][3] = {
      {1, 1, 1},    {5, 7, 3},    {6, 16, 1},    {7, 17, 33},  {13, 50, 300},   {145, 37, 513},
      {1, 100, 64}, {3, 33, 17},  {4, 1000, 70}, {2, 9, 1},    {200, 300, 260}, {12, 5, 9},
      {1, 1, 1000}, {300, 1, 20}, {6, 1100, 40}, {25, 33, 31}, {100, 600, 300}, {13, 49, 520}};
  ForEachGemmPath([&] {
    for (const auto& s : shapes) {
      for (bool bt : {false, true}) {
        CheckGemm(s[0], s[1], s[2], bt, true, 0, nullptr);
        CheckGemm(s[0], s[1], s[2], bt, false, 3, nullptr);
      }
    }
  });
}

TEST(Gemm, EmptyK) {
  std::vector<float> bias = {1, 2, 3}, c(6, 9.f);
  GemmF32(2, 3, 0, nullptr, 0, nullptr, 3, false, bias.data(), c.data(), 3, nullptr);
  EXPECT_EQ(c, (std::vector<float>{1, 2, 3, 1, 2, 3}));
  GemmF32(2, 3, 0, nullptr, 0, nullptr, 3, true, nullptr, c.data(), 3, nullptr);
  EXPECT_EQ(c, std::vector<float>(6, 0.f));
}

TEST(Gemm, ThreadedEqualsSerial) {
  ForEachGemmPath([] {
    const int64_t shapes[][3] = {{300, 500, 270}, {2, 3000, 200}, {64, 3136, 64}, {150, 40, 600}};
    for (const auto& s : shapes) {
      const int64_t m = s[0], n = s[1], k = s[2];
      for (bool bt : {false, true}) {
        std::vector<float> a = Random(m * k, 1), b = Random(k * n, 2), bias = Random(n, 3);
        std::vector<float> c1(m * n), c2(m * n);
        GemmF32(m, n, k, a.data(), k, b.data(), bt ? k : n, bt, bias.data(), c1.data(), n, nullptr);
        for (int threads : {2, 4}) {
          ThreadParallel par(threads);
          GemmF32(m, n, k, a.data(), k, b.data(), bt ? k : n, bt, bias.data(), c2.data(), n, &par);
          ExpectSame(c1, c2, "threaded gemm");
        }
        CheckGemm(m, n, k, bt, true, 0, nullptr);
      }
    }
  });
}

TEST(Gemm, RangeDoneSeesEachFinalElementOnce) {
  // Small M (row updates, dot products), several K slices, M blocks and N
  // chunks, with a strided C whose padding must not be seen.
  const int64_t shapes[][3] = {{3, 100, 50}, {1, 37, 600}, {200, 300, 600}, {40, 1100, 70}};
  ForEachGemmPath([&] {
    for (const auto& s : shapes) {
      const int64_t m = s[0], n = s[1], k = s[2], ldc = n + 5;
      for (bool bt : {false, true}) {
        std::vector<float> a = Random(m * k, 1), b = Random(k * n, 2), bias = Random(n, 3);
        for (int threads : {1, 2, 3}) {
          ThreadParallel pool(threads);
          Parallel* par = threads > 1 ? &pool : nullptr;
          std::vector<float> plain(m * ldc, 5.f), y(m * ldc, 5.f);
          GemmF32(m, n, k, a.data(), k, b.data(), bt ? k : n, bt, bias.data(), plain.data(), ldc,
                  par);
          RangeCheck check(y.data(), m * ldc);
          GemmF32(m, n, k, a.data(), k, b.data(), bt ? k : n, bt, bias.data(), y.data(), ldc, par,
                  &check.done);
          check.Expect(
              plain, [&](int64_t i) { return i % ldc < n; },
              "gemm m=" + std::to_string(m) + " n=" + std::to_string(n) +
                  " k=" + std::to_string(k) + " bt=" + std::to_string(bt) +
                  " threads=" + std::to_string(threads));
        }
      }
    }
  });
}

TEST(Gemm, PackedWeightsGiveTheSameProduct) {
  // B packed once (PackWeight's panels, at the GEMM path's width) must give
  // exactly what packing per call gives: same tiles, same order of sums.
  // Shapes: edge tiles in M and N, several K slices, N chunks.
  const int64_t shapes[][3] = {{5, 7, 3}, {13, 33, 300}, {128, 256, 256}, {49, 520, 70}};
  ForEachGemmPath([&] {
    for (const auto& sh : shapes) {
      const int64_t m = sh[0], n = sh[1], k = sh[2];
      for (bool bt : {false, true}) {
        std::vector<float> a = Random(m * k, 1), b = Random(k * n, 2), bias = Random(n, 3);
        const int64_t ldb = bt ? k : n;
        std::vector<float> packed(static_cast<size_t>(GemmPackedWeightFloats(m, n, k)));
        ASSERT_FALSE(packed.empty());
        GemmPackWeightF32(n, k, b.data(), ldb, bt, packed.data());
        for (int threads : {1, 2, 3}) {
          ThreadParallel pool(threads);
          Parallel* par = threads > 1 ? &pool : nullptr;
          std::vector<float> want(m * n), got(m * n, 7.f);
          GemmF32(m, n, k, a.data(), k, b.data(), ldb, bt, bias.data(), want.data(), n, par);
          RangeCheck check(got.data(), m * n);
          GemmPackedF32(m, n, k, a.data(), k, packed.data(), bias.data(), got.data(), n, par,
                        &check.done);
          check.Expect(
              want, [](int64_t) { return true; },
              "packed m=" + std::to_string(m) + " n=" + std::to_string(n) +
                  " k=" + std::to_string(k) + " bt=" + std::to_string(bt) +
                  " threads=" + std::to_string(threads));
        }
      }
    }
  });
  // Products of at most 4 rows stream B as it lies: nothing to pack.
  EXPECT_EQ(GemmPackedWeightFloats(4, 100, 100), 0);
}

// ---- Convolution -------------------------------------------------------------------------

int64_t OutSize(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode = false) {
  int64_t num = in + 2 * p - d * (k - 1) - 1;
  int64_t out = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

Conv2dShape MakeConv(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oc, int64_t kh, int64_t kw,
                     int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                     int64_t groups) {
  return Conv2dShape{
      n,  c,  h,  w,  oc, kh, kw,    OutSize(h, kh, sh, ph, dh), OutSize(w, kw, sw, pw, dw),
      sh, sw, ph, pw, dh, dw, groups};
}

std::vector<float> RunConv(const Conv2dShape& s, const std::vector<float>& x,
                           const std::vector<float>& w, const float* bias, Parallel* par,
                           const std::vector<float>* prepared = nullptr) {
  std::vector<float> y(s.n * s.oc * s.oh * s.ow, 77.f);
  Scratch scratch(Conv2dScratchBytes(s, par ? par->num_threads() : 1));
  Conv2dF32(s, x.data(), w.data(), bias, y.data(), scratch.p, par, nullptr,
            prepared != nullptr ? prepared->data() : nullptr);
  return y;
}

// The weights as the convolution's faster algorithm wants them (Winograd's
// for NHWC 3x3 stride 1); empty when it has none.
std::vector<float> Prepared(const Conv2dShape& s, const std::vector<float>& w) {
  std::vector<float> p(static_cast<size_t>(Conv2dPreparedWeightFloats(s)));
  if (!p.empty()) Conv2dPrepareWeightsF32(s, w.data(), p.data());
  return p;
}

// A dense 4-D tensor of dims d, with its dims reordered by perm (as
// transpose does): {0, 2, 3, 1} takes NCHW to NHWC and OIHW to OHWI.
std::vector<float> Permute4(const std::vector<float>& x, const std::array<int64_t, 4>& d,
                            const std::array<int, 4>& perm) {
  const std::array<int64_t, 4> st{d[1] * d[2] * d[3], d[2] * d[3], d[3], 1};
  const std::array<int64_t, 4> od{d[perm[0]], d[perm[1]], d[perm[2]], d[perm[3]]};
  std::vector<float> y;
  y.reserve(x.size());
  for (int64_t a = 0; a < od[0]; ++a)
    for (int64_t b = 0; b < od[1]; ++b)
      for (int64_t c = 0; c < od[2]; ++c)
        for (int64_t e = 0; e < od[3]; ++e)
          y.push_back(x[a * st[perm[0]] + b * st[perm[1]] + c * st[perm[2]] + e * st[perm[3]]]);
  return y;
}
constexpr std::array<int, 4> kToNhwc{0, 2, 3, 1}, kToNchw{0, 3, 1, 2};

// The same convolution with every tensor stored channels-last.
struct NhwcConv {
  explicit NhwcConv(const Conv2dShape& nchw) : s(nchw) { s.nhwc = true; }
  std::vector<float> Input(const std::vector<float>& x) const {
    return Permute4(x, {s.n, s.c, s.h, s.w}, kToNhwc);
  }
  std::vector<float> Weight(const std::vector<float>& w) const {
    return Permute4(w, {s.oc, s.c / s.groups, s.kh, s.kw}, kToNhwc);
  }
  std::vector<float> OutputToNchw(const std::vector<float>& y) const {
    return Permute4(y, {s.n, s.oh, s.ow, s.oc}, kToNchw);
  }
  Conv2dShape s;
};

void CheckConv(const Conv2dShape& s, const std::string& what) {
  const int64_t cg = s.c / s.groups, ocg = s.oc / s.groups;
  std::vector<float> x = Random(s.n * s.c * s.h * s.w, 31), w = Random(s.oc * cg * s.kh * s.kw, 32);
  std::vector<float> bias = Random(s.oc, 33);
  for (bool with_bias : {true, false}) {
    std::vector<double> want, mag;
    for (int64_t img = 0; img < s.n; ++img) {
      for (int64_t o = 0; o < s.oc; ++o) {
        const int64_t g = o / ocg;
        for (int64_t oy = 0; oy < s.oh; ++oy) {
          for (int64_t ox = 0; ox < s.ow; ++ox) {
            double acc = with_bias ? bias[o] : 0, m = std::fabs(acc);
            for (int64_t ci = 0; ci < cg; ++ci) {
              for (int64_t ky = 0; ky < s.kh; ++ky) {
                for (int64_t kx = 0; kx < s.kw; ++kx) {
                  int64_t iy = oy * s.stride_h - s.pad_h + ky * s.dil_h;
                  int64_t ix = ox * s.stride_w - s.pad_w + kx * s.dil_w;
                  if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                  double t =
                      static_cast<double>(x[((img * s.c + g * cg + ci) * s.h + iy) * s.w + ix]) *
                      w[((o * cg + ci) * s.kh + ky) * s.kw + kx];
                  acc += t;
                  m += std::fabs(t);
                }
              }
            }
            want.push_back(acc);
            mag.push_back(m);
          }
        }
      }
    }
    const float* b = with_bias ? bias.data() : nullptr;
    std::vector<float> y = RunConv(s, x, w, b, nullptr);
    ExpectClose(y, want, 1e-5, 1e-6, what, &mag);
    for (int threads : {2, 3}) {
      ThreadParallel par(threads);
      ExpectSame(y, RunConv(s, x, w, b, &par), what + " threaded");
    }
    // Channels-last: the same values, laid out NHWC.
    const NhwcConv nhwc(s);
    const std::vector<float> xn = nhwc.Input(x), wn = nhwc.Weight(w);
    std::vector<float> yn = RunConv(nhwc.s, xn, wn, b, nullptr);
    ExpectClose(nhwc.OutputToNchw(yn), want, 1e-5, 1e-6, what + " NHWC", &mag);
    for (int threads : {2, 3}) {
      ThreadParallel par(threads);
      ExpectSame(yn, RunConv(nhwc.s, xn, wn, b, &par), what + " NHWC threaded");
    }
    // Channels-last with prepared weights: packed once for the GEMM, or
    // Winograd F(4x4, 3x3)'s, whose transforms add rounding, a few 1e-6 of
    // the terms' magnitude (at most 4.4e-6 measured over these shapes);
    // threads change only which thread computes a tile, never how.
    const std::vector<float> prepared = Prepared(nhwc.s, wn);
    if (prepared.empty()) continue;
    std::vector<float> yw = RunConv(nhwc.s, xn, wn, b, nullptr, &prepared);
    ExpectClose(nhwc.OutputToNchw(yw), want, 1e-5, 1e-6, what + " prepared weights", &mag);
    for (int threads : {2, 3}) {
      ThreadParallel par(threads);
      ExpectSame(yw, RunConv(nhwc.s, xn, wn, b, &par, &prepared),
                 what + " prepared weights threaded");
    }
  }
}

TEST(Conv2d, MatchesReference) {
  ForEachGemmPath([] {
    // n, c, h, w, oc, kh, kw, stride h/w, pad h/w, dilation h/w, groups
    CheckConv(MakeConv(2, 16, 7, 7, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1), "pointwise");
    CheckConv(MakeConv(4, 8, 5, 6, 10, 1, 1, 1, 1, 0, 0, 1, 1, 2), "pointwise groups");
    CheckConv(MakeConv(1, 64, 14, 14, 70, 1, 1, 1, 1, 0, 0, 1, 1, 1), "pointwise large");
    CheckConv(MakeConv(1, 3, 11, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1), "3x3 pad");
    CheckConv(MakeConv(2, 4, 13, 9, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1), "3x3 stride 2");
    CheckConv(MakeConv(1, 5, 12, 10, 7, 3, 3, 1, 1, 2, 2, 2, 2, 1), "3x3 dilation 2");
    CheckConv(MakeConv(3, 6, 9, 11, 4, 5, 3, 1, 2, 2, 1, 1, 1, 1), "5x3 mixed");
    CheckConv(MakeConv(2, 4, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2), "groups 2");
    CheckConv(MakeConv(1, 32, 6, 6, 64, 3, 3, 1, 1, 1, 1, 1, 1, 8), "groups 8");
    CheckConv(MakeConv(2, 6, 9, 9, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1), "1x1 stride 2");
    CheckConv(MakeConv(1, 3, 32, 32, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1), "7x7 stride 2");
    CheckConv(MakeConv(4, 20, 10, 10, 30, 3, 3, 1, 1, 1, 1, 1, 1, 1), "batch 4 (image slots)");
    // Few input channels: the direct kernel with prepared weights (tiles of
    // 6 pixels inside the input, single pixels at the edges, 16-channel
    // blocks with a partial last one).
    CheckConv(MakeConv(2, 3, 23, 29, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1), "stem 3x3 stride 2");
    CheckConv(MakeConv(1, 3, 30, 27, 40, 7, 7, 2, 2, 3, 3, 1, 1, 1), "stem 7x7 stride 2, 40 out");
    CheckConv(MakeConv(1, 2, 17, 26, 19, 3, 3, 1, 1, 2, 1, 2, 2, 1), "direct dilation 2");
    CheckConv(MakeConv(2, 4, 9, 31, 7, 5, 4, 1, 3, 0, 2, 1, 1, 1), "direct 5x4 stride 3");
    CheckConv(MakeConv(1, 1, 9, 9, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1), "single input channel");
    // Serial GEMMs take im2col in chunks of output positions (here < oh * ow).
    CheckConv(MakeConv(1, 64, 20, 20, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), "chunked im2col");
    CheckConv(MakeConv(3, 128, 30, 30, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1), "chunked im2col stride 2");
    CheckConv(MakeConv(1, 128, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 2), "chunked im2col groups");
    CheckConv(MakeConv(2, 8, 20, 21, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8), "depthwise 3x3");
    CheckConv(MakeConv(1, 8, 21, 30, 8, 3, 3, 2, 2, 1, 1, 1, 1, 8), "depthwise stride 2");
    CheckConv(MakeConv(1, 4, 19, 40, 4, 5, 5, 1, 3, 2, 2, 1, 1, 4), "depthwise 5x5 stride 3");
    CheckConv(MakeConv(2, 8, 16, 17, 16, 3, 3, 1, 1, 2, 2, 2, 2, 8), "depthwise x2 dilation 2");
    CheckConv(MakeConv(1, 6, 3, 4, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6), "depthwise tiny");
    // Four pixels at a time where the window lies inside (NHWC), with a
    // channel tail, dilation, stride, and images too narrow for a block.
    CheckConv(MakeConv(1, 12, 17, 23, 12, 5, 5, 1, 1, 4, 4, 2, 2, 12), "depthwise 5x5 dilation 2");
    CheckConv(MakeConv(2, 24, 15, 19, 24, 5, 5, 2, 2, 2, 2, 1, 1, 24), "depthwise 5x5 stride 2");
    CheckConv(MakeConv(1, 16, 7, 7, 16, 5, 5, 1, 1, 2, 2, 1, 1, 16), "depthwise 5x5 on 7x7");
    // Winograd in NHWC: whole and partial 4x4 tiles, channel counts not a
    // multiple of 8, no padding, uneven padding, several images, 256
    // channels (several K slices); threads take whole images, or split one
    // image's tile rows (40x36), or its GEMMs when it has few tiles (26x26).
    CheckConv(MakeConv(1, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1), "Winograd whole tiles");
    CheckConv(MakeConv(2, 20, 13, 11, 27, 3, 3, 1, 1, 1, 1, 1, 1, 1), "Winograd partial tiles");
    CheckConv(MakeConv(1, 33, 14, 19, 17, 3, 3, 1, 1, 0, 0, 1, 1, 1), "Winograd no padding");
    CheckConv(MakeConv(3, 16, 10, 12, 40, 3, 3, 1, 1, 2, 0, 1, 1, 1), "Winograd uneven padding");
    CheckConv(MakeConv(1, 256, 26, 26, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1), "Winograd 256 channels");
    CheckConv(MakeConv(1, 16, 40, 36, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1), "Winograd rows per thread");
  });
}

TEST(Conv2d, RangeDoneSeesEachFinalElementOnce) {
  const std::pair<Conv2dShape, const char*> convs[] = {
      {MakeConv(2, 16, 7, 7, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1), "pointwise"},
      {MakeConv(4, 8, 5, 6, 10, 1, 1, 1, 1, 0, 0, 1, 1, 2), "pointwise groups"},
      {MakeConv(1, 64, 14, 14, 70, 1, 1, 1, 1, 0, 0, 1, 1, 1), "pointwise large"},
      {MakeConv(1, 300, 9, 9, 20, 1, 1, 1, 1, 0, 0, 1, 1, 1), "pointwise K slices"},
      {MakeConv(1, 3, 11, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1), "3x3 pad"},
      {MakeConv(4, 20, 10, 10, 30, 3, 3, 1, 1, 1, 1, 1, 1, 1), "batch 4 (image slots)"},
      {MakeConv(3, 20, 10, 10, 30, 3, 3, 2, 2, 1, 1, 1, 1, 1), "batch 3"},
      {MakeConv(1, 64, 20, 20, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), "chunked im2col"},
      {MakeConv(1, 128, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 2), "chunked im2col groups"},
      {MakeConv(2, 8, 20, 21, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8), "depthwise 3x3"},
      {MakeConv(2, 8, 16, 17, 16, 3, 3, 1, 1, 2, 2, 2, 2, 8), "depthwise x2 dilation 2"},
      {MakeConv(2, 20, 13, 11, 27, 3, 3, 1, 1, 1, 1, 1, 1, 1), "Winograd partial tiles"},
      {MakeConv(1, 256, 26, 26, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1), "Winograd 256 channels"},
      {MakeConv(1, 16, 40, 36, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1), "Winograd rows per thread"}};
  ForEachGemmPath([&] {
    for (const auto& [s, what] : convs) {
      std::vector<float> x = Random(s.n * s.c * s.h * s.w, 31);
      std::vector<float> w = Random(s.oc * s.c / s.groups * s.kh * s.kw, 32),
                         bias = Random(s.oc, 33);
      const NhwcConv nhwc(s);
      for (bool channels_last : {false, true}) {
        const Conv2dShape& cs = channels_last ? nhwc.s : s;
        const std::vector<float> xs = channels_last ? nhwc.Input(x) : x;
        const std::vector<float> ws = channels_last ? nhwc.Weight(w) : w;
        for (int threads : {1, 2, 3}) {
          ThreadParallel pool(threads);
          Parallel* par = threads > 1 ? &pool : nullptr;
          const std::vector<float> plain = RunConv(cs, xs, ws, bias.data(), par);
          std::vector<float> y(plain.size(), 77.f);
          Scratch scratch(Conv2dScratchBytes(cs, threads));
          RangeCheck check(y.data(), static_cast<int64_t>(y.size()));
          Conv2dF32(cs, xs.data(), ws.data(), bias.data(), y.data(), scratch.p, par, &check.done);
          check.Expect(
              plain, [](int64_t) { return true; },
              std::string(what) + (channels_last ? " NHWC" : "") +
                  " threads=" + std::to_string(threads));
          const std::vector<float> prepared =
              channels_last ? Prepared(cs, ws) : std::vector<float>{};
          if (prepared.empty()) continue;
          const std::vector<float> wino = RunConv(cs, xs, ws, bias.data(), par, &prepared);
          std::vector<float> yw(plain.size(), 77.f);
          RangeCheck wcheck(yw.data(), static_cast<int64_t>(yw.size()));
          Conv2dF32(cs, xs.data(), ws.data(), bias.data(), yw.data(), scratch.p, par, &wcheck.done,
                    prepared.data());
          wcheck.Expect(
              wino, [](int64_t) { return true; },
              std::string(what) + " prepared weights threads=" + std::to_string(threads));
        }
      }
    }
  });
}

// ---- Pooling -------------------------------------------------------------------------------

Pool2dShape MakePool(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t s, int64_t p,
                     int64_t d, bool ceil_mode) {
  return Pool2dShape{
      n, c, h, w, OutSize(h, k, s, p, d, ceil_mode), OutSize(w, k, s, p, d, ceil_mode), k, k, s, s,
      p, p, d, d};
}

TEST(Pool, MaxPoolMatchesReference) {
  const Pool2dShape shapes[] = {
      MakePool(2, 3, 9, 11, 3, 2, 1, 1, false),  MakePool(2, 3, 9, 11, 3, 2, 1, 1, true),
      MakePool(1, 2, 10, 12, 3, 1, 1, 2, false), MakePool(1, 2, 8, 8, 2, 2, 0, 1, false),
      MakePool(1, 3, 30, 41, 3, 1, 1, 1, false), MakePool(1, 1, 6, 7, 4, 3, 2, 1, true)};
  ThreadParallel par(2);
  for (const Pool2dShape& s : shapes) {
    std::vector<float> x = Random(s.n * s.c * s.h * s.w, 3);
    x[5] = kNan;
    std::vector<double> want;
    for (int64_t p = 0; p < s.n * s.c; ++p) {
      for (int64_t oy = 0; oy < s.oh; ++oy) {
        for (int64_t ox = 0; ox < s.ow; ++ox) {
          double m = -INFINITY;
          for (int64_t ky = 0; ky < s.kh; ++ky) {
            for (int64_t kx = 0; kx < s.kw; ++kx) {
              int64_t iy = oy * s.stride_h - s.pad_h + ky * s.dil_h;
              int64_t ix = ox * s.stride_w - s.pad_w + kx * s.dil_w;
              if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
              double v = x[(p * s.h + iy) * s.w + ix];
              m = std::isnan(v) || std::isnan(m) ? NAN : std::max(m, v);
            }
          }
          want.push_back(m);
        }
      }
    }
    std::vector<float> y(want.size()), yt(want.size());
    MaxPool2dF32(s, x.data(), y.data(), nullptr);
    ExpectClose(y, want, 0, 0, "max_pool");
    MaxPool2dF32(s, x.data(), yt.data(), &par);
    ExpectSame(y, yt, "threaded max_pool");
  }
}

TEST(Pool, AvgPoolMatchesReference) {
  const Pool2dShape shapes[] = {
      MakePool(2, 3, 9, 11, 3, 2, 1, 1, false),  MakePool(2, 3, 9, 11, 3, 2, 1, 1, true),
      MakePool(1, 2, 8, 8, 2, 2, 0, 1, false),   MakePool(1, 2, 7, 7, 3, 2, 1, 1, true),
      MakePool(1, 3, 30, 41, 3, 1, 1, 1, false), MakePool(1, 1, 6, 7, 4, 3, 2, 1, true),
      MakePool(1, 1, 5, 5, 2, 2, 1, 1, true)};
  for (const Pool2dShape& s : shapes) {
    std::vector<float> x = Random(s.n * s.c * s.h * s.w, 3);
    for (bool include_pad : {true, false}) {
      for (int64_t divisor : {0, 5}) {
        std::vector<double> want;
        for (int64_t p = 0; p < s.n * s.c; ++p) {
          for (int64_t oy = 0; oy < s.oh; ++oy) {
            for (int64_t ox = 0; ox < s.ow; ++ox) {
              // PyTorch's avg_pool2d window rules.
              int64_t h0 = oy * s.stride_h - s.pad_h, w0 = ox * s.stride_w - s.pad_w;
              int64_t h1 = std::min(h0 + s.kh, s.h + s.pad_h),
                      w1 = std::min(w0 + s.kw, s.w + s.pad_w);
              int64_t pool = (h1 - h0) * (w1 - w0);
              h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
              h1 = std::min(h1, s.h), w1 = std::min(w1, s.w);
              double sum = 0;
              for (int64_t iy = h0; iy < h1; ++iy) {
                for (int64_t ix = w0; ix < w1; ++ix) sum += x[(p * s.h + iy) * s.w + ix];
              }
              int64_t div = divisor > 0 ? divisor : include_pad ? pool : (h1 - h0) * (w1 - w0);
              want.push_back(h0 >= h1 || w0 >= w1 ? 0 : sum / div);
            }
          }
        }
        std::vector<float> y(want.size());
        AvgPool2dF32(s, include_pad, divisor, x.data(), y.data(), nullptr);
        ExpectClose(y, want, 1e-5, 1e-6, "avg_pool");
      }
    }
  }
}

TEST(Pool, AdaptiveMatchesReference) {
  const int64_t shapes[][4] = {
      {7, 9, 3, 4}, {10, 10, 1, 1}, {5, 5, 5, 5}, {4, 6, 8, 9}, {13, 7, 2, 3}};
  ThreadParallel par(2);
  for (const auto& sh : shapes) {
    const int64_t nc = 6, h = sh[0], w = sh[1], oh = sh[2], ow = sh[3];
    std::vector<float> x = Random(nc * h * w, 4);
    for (bool max : {false, true}) {
      std::vector<double> want;
      for (int64_t p = 0; p < nc; ++p) {
        for (int64_t oy = 0; oy < oh; ++oy) {
          for (int64_t ox = 0; ox < ow; ++ox) {
            int64_t hs = oy * h / oh, he = ((oy + 1) * h + oh - 1) / oh;
            int64_t ws = ox * w / ow, we = ((ox + 1) * w + ow - 1) / ow;
            double acc = max ? -INFINITY : 0;
            for (int64_t iy = hs; iy < he; ++iy) {
              for (int64_t ix = ws; ix < we; ++ix) {
                double v = x[(p * h + iy) * w + ix];
                acc = max ? std::max(acc, v) : acc + v;
              }
            }
            want.push_back(max ? acc : acc / ((he - hs) * (we - ws)));
          }
        }
      }
      std::vector<float> y(want.size()), yt(want.size());
      (max ? AdaptiveMaxPool2dF32 : AdaptiveAvgPool2dF32)(x.data(), y.data(), nc, h, w, oh, ow,
                                                          nullptr);
      ExpectClose(y, want, 1e-5, 1e-6, max ? "adaptive_max" : "adaptive_avg");
      (max ? AdaptiveMaxPool2dF32 : AdaptiveAvgPool2dF32)(x.data(), yt.data(), nc, h, w, oh, ow,
                                                          &par);
      ExpectSame(y, yt, "threaded adaptive pool");
    }
  }
}

// ---- Data movement ---------------------------------------------------------------------------

// Reference strided copy over bytes.
std::vector<uint8_t> CopyRef(const uint8_t* x, const std::vector<int64_t>& strides,
                             const std::vector<int64_t>& dims, int64_t elem) {
  std::vector<uint8_t> y(Numel(dims) * elem);
  for (int64_t i = 0; i < Numel(dims); ++i) {
    int64_t rest = i, off = 0;
    for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
      off += rest % dims[d] * strides[d];
      rest /= dims[d];
    }
    std::memcpy(&y[i * elem], x + off * elem, elem);
  }
  return y;
}

TEST(StridedCopy, MatchesReference) {
  struct Case {
    std::vector<int64_t> strides, dims;
  };
  // Input is a dense [2, 3, 4, 5] buffer (strides 60, 20, 5, 1) in all cases.
  const Case cases[] = {
      {{60, 20, 5, 1}, {2, 3, 4, 5}},  // plain copy
      {{1, 60, 20, 5}, {5, 2, 3, 4}},  // transpose (3, 0, 1, 2)
      {{20, 5, 1}, {3, 4, 5}},         // slice of the first image
      {{60, 0, 5, 1}, {2, 7, 4, 5}},   // expand
      {{60, 40, 5, 2}, {2, 2, 4, 3}},  // strided slice
      {{}, {}},                        // rank 0
      {{5, 1}, {1, 5}},                // extent-1 dim
      {{-5, 1}, {4, 5}},               // negative stride (flip), offset below
      {{60, 5, 1, 20}, {2, 4, 5, 3}},  // NCHW -> NHWC: short rows over a contiguous dim
      {{1, 20}, {20, 3}},              // ... of one image
  };
  for (int64_t elem : {1, 2, 4, 8, 3}) {
    std::vector<uint8_t> x(120 * elem);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(i * 37 + 1);
    for (const Case& c : cases) {
      const uint8_t* base = x.data();
      if (!c.strides.empty() && c.strides[0] < 0) base += 15 * elem;
      std::vector<uint8_t> want = CopyRef(base, c.strides, c.dims, elem), y(want.size());
      StridedCopy(base, c.strides.data(), y.data(), c.dims.data(), static_cast<int>(c.dims.size()),
                  elem, nullptr);
      EXPECT_EQ(y, want) << "elem " << elem << " rank " << c.dims.size();
    }
  }
  // Large transposes through threads.
  const std::vector<int64_t> dims = {300, 700}, strides = {1, 300};
  std::vector<float> x = Random(300 * 700, 9), y1(x.size()), y2(x.size());
  ThreadParallel par(3);
  StridedCopy(x.data(), strides.data(), y1.data(), dims.data(), 2, 4, nullptr);
  StridedCopy(x.data(), strides.data(), y2.data(), dims.data(), 2, 4, &par);
  ExpectSame(y1, y2, "threaded strided copy");
  EXPECT_EQ(y1[1 * 700 + 2], x[2 * 300 + 1]);
  // NCHW -> NHWC of two 3-channel images: threads start mid-row.
  const std::vector<int64_t> nhwc = {2, 250, 301, 3}, nhwc_st = {3 * 250 * 301, 301, 1, 250 * 301};
  std::vector<float> img = Random(2 * 3 * 250 * 301, 10), z1(img.size()), z2(img.size());
  StridedCopy(img.data(), nhwc_st.data(), z1.data(), nhwc.data(), 4, 4, nullptr);
  StridedCopy(img.data(), nhwc_st.data(), z2.data(), nhwc.data(), 4, 4, &par);
  ExpectSame(z1, z2, "threaded NCHW -> NHWC");
  const auto* bytes = reinterpret_cast<const uint8_t*>(img.data());
  std::vector<uint8_t> want = CopyRef(bytes, nhwc_st, nhwc, 4);
  EXPECT_EQ(std::memcmp(want.data(), z1.data(), want.size()), 0);
}

TEST(Embedding, LooksUpRowsAndGivesNaNRowsForBadIndices) {
  std::vector<float> w = Random(10 * 3, 1), y(4 * 3);
  std::vector<int64_t> idx = {3, 0, 9, 3};
  EmbeddingF32(w.data(), 10, 3, idx.data(), 4, y.data());
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_EQ(y[i * 3 + j], w[idx[i] * 3 + j]);
  }
  for (int64_t bad : {int64_t{10}, int64_t{-1}}) {
    idx[2] = bad;
    EmbeddingF32(w.data(), 10, 3, idx.data(), 4, y.data());
    for (int j = 0; j < 3; ++j) {
      EXPECT_TRUE(std::isnan(y[2 * 3 + j])) << bad;
      EXPECT_EQ(y[1 * 3 + j], w[0 * 3 + j]) << "rows in range are still looked up";
    }
  }
}

// Reflection padding of a grid far outside the image (or not a number) is
// defined: a value in range or NaN, never an out-of-range read (the
// artifact fuzzer found a float-to-int cast of 1e30 here under UBSan).
TEST(GridSample, ReflectionOfFarAndNaNPoints) {
  const std::vector<float> x = Random(1 * 1 * 3 * 4, 7);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> grid = {1e30f, -1e30f, 3e9f, 0.25f, nan, 0.5f, -7.5f, 11.0f};
  for (bool align : {false, true}) {
    std::vector<float> y(4);
    const GridSampleShape s{1,    1, 3, 4, 1, 4, SampleMode::kBilinear, SamplePadding::kReflection,
                            align};
    GridSampleF32(s, x.data(), grid.data(), y.data(), nullptr);
    for (float v : y) EXPECT_TRUE(std::isnan(v) || std::fabs(v) <= 10.0f) << v;
  }
}

// ---- Sizes the data decides, detection -----------------------------------------------

// Nonzero is "not +-0" for floats of every width (the sign bit alone is
// zero; NaN and the smallest subnormal are not) and "any bit" for integers.
TEST(Nonzero, FloatsOfEveryWidthAndIntegers) {
  const uint16_t f16[] = {0x0000, 0x8000, 0x7e00, 0x0001, 0xbc00};  // 0 -0 NaN tiny -1
  EXPECT_EQ(CountNonzero(f16, 5, 2, true), 3);
  const uint32_t f32[] = {0x80000000u, 0x7fc00000u, 0x00000000u};
  EXPECT_EQ(CountNonzero(f32, 3, 4, true), 1);
  const uint64_t f64[] = {0x8000000000000000ull, 0x3ff0000000000000ull};
  EXPECT_EQ(CountNonzero(f64, 2, 8, true), 1);
  const int64_t i64[] = {0, INT64_MIN, -1, 0};
  EXPECT_EQ(CountNonzero(i64, 4, 8, false), 2);
  const uint8_t b[] = {1, 0, 0, 1, 1, 0};
  const int64_t dims[] = {2, 3};
  int64_t idx[6 * 2];
  ASSERT_EQ(NonzeroIndices(b, dims, 2, 1, false, idx), 3);
  EXPECT_EQ(std::vector<int64_t>(idx, idx + 6), (std::vector<int64_t>{0, 0, 1, 0, 1, 1}));
  const float rows[] = {1, 2, 3, 4, 5, 6};
  const uint8_t row_mask[] = {1, 0, 1};
  float picked[6];
  ASSERT_EQ(MaskedSelectRows(rows, row_mask, 3, 2 * sizeof(float), picked), 2);
  EXPECT_EQ(std::vector<float>(picked, picked + 4), (std::vector<float>{1, 2, 5, 6}));
}

// Greedy suppression by descending score (ties keep index order): box 1
// overlaps box 0 by IoU 0.6 and goes at 0.5, stays at 0.7.
TEST(Nms, SuppressesByDescendingScore) {
  const float boxes[] = {0, 0, 10, 10, 0, 2.5f, 10, 12.5f, 20, 20, 30, 30, 20, 20, 30, 30};
  const float scores[] = {0.5f, 0.9f, 0.3f, 0.3f};
  std::vector<int64_t> keep(4);
  std::vector<uint8_t> scratch(static_cast<size_t>(NmsScratchBytes(4)));
  ASSERT_EQ(NmsF32(boxes, scores, 4, 0.5, keep.data(), scratch.data()), 2);
  EXPECT_EQ(keep[0], 1);
  EXPECT_EQ(keep[1], 2);
  ASSERT_EQ(NmsF32(boxes, scores, 4, 0.7, keep.data(), scratch.data()), 3);
  EXPECT_EQ(keep, (std::vector<int64_t>{1, 0, 2, 0}));
}

// One bin covering a constant image averages to the constant; a batch
// index outside the batch gives NaN.
TEST(RoiAlign, AveragesSamplesAndRefusesBadBatchIndices) {
  std::vector<float> x(2 * 1 * 4 * 4, 3.0f), y(2);
  for (int i = 16; i < 32; ++i) x[i] = 7.0f;
  const float rois[] = {1, 0.5f, 0.5f, 2.5f, 2.5f, 2, 0, 0, 1, 1};
  const RoiAlignShape s{2, 1, 4, 4, 2, 1, 1, 1.0f, 2, false};
  RoiAlignF32(s, x.data(), rois, y.data(), nullptr);
  EXPECT_FLOAT_EQ(y[0], 7.0f);
  EXPECT_TRUE(std::isnan(y[1]));
  // Boxes no image holds: NaN, inverted (aligned: nothing sampled, 0 as in
  // torchvision), astronomically large (samples capped at the map's extent):
  // bounded work, no index made from NaN.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float odd[] = {0, nan, 0, 1, 1, 0, 3, 3, 1, 1, 0, 0, 0, 1e30f, 1e30f};
  std::vector<float> y2(3 * 4, -1.0f);
  RoiAlignF32({2, 1, 4, 4, 3, 2, 2, 1.0f, -1, true}, x.data(), odd, y2.data(), nullptr);
  for (float v : y2) EXPECT_EQ(v, 0.0f);
}

// ---- LSTM and GRU -------------------------------------------------------------------

struct RecurrentRun {
  std::vector<float> y, hn, cn;  // cn: the LSTM's only
};

RecurrentRun RunRecurrent(bool gru, const RecurrentShape& s, const std::vector<float>& x,
                          const float* h0, const float* c0,
                          const std::vector<std::vector<float>>& weights, Parallel* par) {
  const int64_t dirs = s.bidirectional ? 2 : 1;
  std::vector<const float*> w;
  for (const auto& v : weights) w.push_back(v.data());
  RecurrentRun r{std::vector<float>(s.seq * s.batch * dirs * s.hidden),
                 std::vector<float>(s.layers * dirs * s.batch * s.hidden),
                 std::vector<float>(gru ? 0 : s.layers * dirs * s.batch * s.hidden)};
  Scratch scratch(gru ? GruScratchBytes(s) : LstmScratchBytes(s));
  if (gru) {
    GruF32(s, x.data(), h0, w.data(), r.y.data(), r.hn.data(), scratch.p, par);
  } else {
    LstmF32(s, x.data(), h0, c0, w.data(), r.y.data(), r.hn.data(), r.cn.data(), scratch.p, par);
  }
  return r;
}

// Against a double-precision reference of PyTorch's formulas, single- and
// multi-threaded (the threaded runs must be bit-identical).
void CheckRecurrent(bool gru, const RecurrentShape& s, bool with_state) {
  const int64_t dirs = s.bidirectional ? 2 : 1, H = s.hidden, per = s.has_biases ? 4 : 2;
  const int64_t G = gru ? 3 : 4;
  const std::string what = gru ? "gru" : "lstm";
  std::vector<float> x = Random(s.seq * s.batch * s.input, 1);
  std::vector<float> h0 = Random(s.layers * dirs * s.batch * H, 2);
  std::vector<float> c0 = Random(s.layers * dirs * s.batch * H, 3);
  std::vector<std::vector<float>> weights;
  uint32_t seed = 10;
  for (int64_t l = 0; l < s.layers; ++l) {
    for (int64_t d = 0; d < dirs; ++d) {
      int64_t in = l == 0 ? s.input : dirs * H;
      weights.push_back(Random(G * H * in, seed++, -0.5f, 0.5f));
      weights.push_back(Random(G * H * H, seed++, -0.5f, 0.5f));
      if (s.has_biases) {
        weights.push_back(Random(G * H, seed++, -0.5f, 0.5f));
        weights.push_back(Random(G * H, seed++, -0.5f, 0.5f));
      }
    }
  }
  // Reference: layer outputs in [t][b][dirs * H] order.
  auto xrow = [&](int64_t t, int64_t b) { return s.batch_first ? b * s.seq + t : t * s.batch + b; };
  std::vector<double> in_seq(s.seq * s.batch * s.input);
  for (int64_t t = 0; t < s.seq; ++t) {
    for (int64_t b = 0; b < s.batch; ++b) {
      for (int64_t i = 0; i < s.input; ++i) {
        in_seq[(t * s.batch + b) * s.input + i] = x[xrow(t, b) * s.input + i];
      }
    }
  }
  int64_t in_w = s.input;
  std::vector<double> hn(h0.size()), cn(c0.size()), out;
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  for (int64_t l = 0; l < s.layers; ++l) {
    out.assign(s.seq * s.batch * dirs * H, 0);
    for (int64_t d = 0; d < dirs; ++d) {
      const int64_t idx = l * dirs + d;
      const auto* w = &weights[idx * per];
      std::vector<double> h(s.batch * H), c(s.batch * H);
      for (int64_t i = 0; i < s.batch * H; ++i) {
        h[i] = with_state ? h0[idx * s.batch * H + i] : 0;
        c[i] = with_state ? c0[idx * s.batch * H + i] : 0;
      }
      for (int64_t step = 0; step < s.seq; ++step) {
        const int64_t t = d == 0 ? step : s.seq - 1 - step;
        std::vector<double> hnew(s.batch * H);
        for (int64_t b = 0; b < s.batch; ++b) {
          // The input's and the state's parts of each gate, apart.
          std::vector<double> gi(G * H), gh(G * H);
          for (int64_t j = 0; j < G * H; ++j) {
            gi[j] = s.has_biases ? w[2][j] : 0;
            gh[j] = s.has_biases ? w[3][j] : 0;
            for (int64_t i = 0; i < in_w; ++i) {
              gi[j] += w[0][j * in_w + i] * in_seq[(t * s.batch + b) * in_w + i];
            }
            for (int64_t i = 0; i < H; ++i) gh[j] += w[1][j * H + i] * h[b * H + i];
          }
          for (int64_t j = 0; j < H; ++j) {
            if (gru) {
              const double r = sig(gi[j] + gh[j]), z = sig(gi[H + j] + gh[H + j]);
              const double n = std::tanh(gi[2 * H + j] + r * gh[2 * H + j]);
              hnew[b * H + j] = (1 - z) * n + z * h[b * H + j];
            } else {
              auto g = [&](int64_t k) { return gi[k] + gh[k]; };
              double ig = sig(g(j)), fg = sig(g(H + j)), gg = std::tanh(g(2 * H + j)),
                     og = sig(g(3 * H + j));
              c[b * H + j] = fg * c[b * H + j] + ig * gg;
              hnew[b * H + j] = og * std::tanh(c[b * H + j]);
            }
            out[(t * s.batch + b) * dirs * H + d * H + j] = hnew[b * H + j];
          }
        }
        h = hnew;
      }
      for (int64_t i = 0; i < s.batch * H; ++i) {
        hn[idx * s.batch * H + i] = h[i];
        cn[idx * s.batch * H + i] = c[i];
      }
    }
    in_seq = out;
    in_w = dirs * H;
  }
  std::vector<double> want_y(out.size());
  for (int64_t t = 0; t < s.seq; ++t) {
    for (int64_t b = 0; b < s.batch; ++b) {
      for (int64_t j = 0; j < dirs * H; ++j) {
        want_y[xrow(t, b) * dirs * H + j] = out[(t * s.batch + b) * dirs * H + j];
      }
    }
  }
  const float* h0p = with_state ? h0.data() : nullptr;
  const float* c0p = with_state ? c0.data() : nullptr;
  RecurrentRun r = RunRecurrent(gru, s, x, h0p, c0p, weights, nullptr);
  ExpectClose(r.y, want_y, 1e-4, 2e-5, what + " y");
  ExpectClose(r.hn, hn, 1e-4, 2e-5, what + " h_n");
  if (!gru) ExpectClose(r.cn, cn, 1e-4, 2e-5, "lstm c_n");
  for (int threads : {2, 4}) {
    ThreadParallel par(threads);
    RecurrentRun t = RunRecurrent(gru, s, x, h0p, c0p, weights, &par);
    ExpectSame(r.y, t.y, "threaded " + what + " y");
    ExpectSame(r.hn, t.hn, "threaded " + what + " h_n");
    if (!gru) ExpectSame(r.cn, t.cn, "threaded lstm c_n");
  }
}

TEST(Lstm, MatchesReference) {
  // seq, batch, input, hidden, layers, bidirectional, batch_first, has_biases
  CheckRecurrent(false, {5, 3, 7, 6, 2, true, true, true}, true);
  CheckRecurrent(false, {4, 1, 3, 9, 1, false, false, false}, true);
  CheckRecurrent(false, {6, 5, 4, 17, 3, true, false, true}, true);    // batch > 4: packed GEMMs
  CheckRecurrent(false, {3, 2, 5, 8, 2, false, true, true}, false);    // zero initial state
  CheckRecurrent(false, {9, 2, 100, 192, 1, true, true, true}, true);  // threaded GEMMs
}

TEST(Gru, MatchesReference) {
  CheckRecurrent(true, {5, 3, 7, 6, 2, true, true, true}, true);
  CheckRecurrent(true, {4, 1, 3, 9, 1, false, false, false}, true);
  CheckRecurrent(true, {6, 5, 4, 17, 3, true, false, true}, true);
  CheckRecurrent(true, {3, 2, 5, 8, 2, false, true, true}, false);
  CheckRecurrent(true, {9, 2, 100, 192, 1, true, true, true}, true);
  CheckRecurrent(true, {1, 1, 4, 3, 1, true, true, true}, true);  // one step
}

}  // namespace
}  // namespace sinter::kernels::cpu
