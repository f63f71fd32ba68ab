// Elementwise kernels: unary activations, broadcasting binary ops and where.
// Broadcasting first drops extent-1 output dims and merges dims that every
// operand walks contiguously, so most calls become a few long rows whose
// operands are either dense (stride 1) or one repeated value (stride 0).
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/internal_simd.h"
#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {
namespace {

using namespace internal;

constexpr int kMaxRank = 64;
constexpr int64_t kGrain = 16384;  // elements per parallel task

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// y = f(x) 8 floats at a time; the tail goes through a zero-padded vector
// in the same loop, so f is expanded once.
template <class F>
SINTER_INLINE void Map(const float* x, float* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; i += 8) {
    const bool full = n - i >= 8;
    V8 v = f(full ? Load(x + i) : LoadPart(x + i, n - i));
    full ? Store(y + i, v) : StorePart(y + i, v, n - i);
  }
}

SINTER_MULTIVERSION void UnaryRange(Unary op, const float* x, float* y, int64_t n, float a,
                                    float b) {
  switch (op) {
    case Unary::kRelu:  // keeps NaN, like clamp_min
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA { return v < 0.f ? V8{} : v; });
    case Unary::kSigmoid:
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA { return Sigmoid(v); });
    case Unary::kTanh:
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA { return Tanh(v); });
    case Unary::kExp:
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA { return Exp(v); });
    case Unary::kLog:
      for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]);
      return;
    case Unary::kSqrt:
      for (int64_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]);
      return;
    case Unary::kRsqrt:
      for (int64_t i = 0; i < n; ++i) y[i] = 1.f / std::sqrt(x[i]);
      return;
    case Unary::kNeg:
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA { return -v; });
    case Unary::kAbs:
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA { return Abs(v); });
    case Unary::kErf:
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA { return Erf(v); });
    case Unary::kReciprocal:
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA { return 1.f / v; });
    case Unary::kSilu:
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA { return v / (1.f + Exp(-v)); });
    case Unary::kGeluErf:
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA {
        return v * 0.5f * (1.f + Erf(v * 0.707106781186547524f));
      });
    case Unary::kGeluTanh:
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA {
        V8 inner = 0.797884560802865355f * (v + 0.044715f * v * v * v);
        return 0.5f * v * (1.f + Tanh(inner));
      });
    case Unary::kHardswish:
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA {
        V8 t = v + 3.f;
        t = t < 0.f ? V8{} : t;
        t = t > 6.f ? Splat(6.f) : t;
        return v * t / 6.f;
      });
    case Unary::kHardsigmoid:
      return Map(x, y, n, [](V8 v) SINTER_LAMBDA {
        V8 t = v + 3.f;
        t = t < 0.f ? V8{} : t;
        t = t > 6.f ? Splat(6.f) : t;
        return t / 6.f;
      });
    case Unary::kLeakyRelu:
      return Map(x, y, n, [a](V8 v) SINTER_LAMBDA { return v > 0.f ? v : v * a; });
    case Unary::kElu:
      return Map(x, y, n, [a](V8 v) SINTER_LAMBDA { return v > 0.f ? v : Expm1(v) * a; });
    case Unary::kClamp:
      return Map(x, y, n, [a, b](V8 v) SINTER_LAMBDA {
        v = v < a ? Splat(a) : v;
        return v > b ? Splat(b) : v;
      });
  }
}

// ---- Broadcasting ------------------------------------------------------------

// Output dims (innermost first) and each operand's strides, after dropping
// extent-1 dims and merging dims all operands traverse contiguously.
struct Plan {
  int rank = 0;
  int64_t dims[kMaxRank];
  int64_t st[3][kMaxRank];
  int64_t total = 1;
};

bool MakePlan(int rank, const int64_t* y_dims, const int64_t* const* in_dims, int count, Plan* p) {
  if (rank < 0 || rank > kMaxRank) return false;
  int64_t full[3][kMaxRank], s[3] = {1, 1, 1};
  for (int d = rank - 1; d >= 0; --d) {
    for (int o = 0; o < count; ++o) {
      full[o][d] = in_dims[o][d] == 1 ? 0 : s[o];
      s[o] *= in_dims[o][d];
    }
  }
  for (int d = rank - 1; d >= 0; --d) {
    p->total *= y_dims[d];
    if (y_dims[d] == 1) continue;
    int r = p->rank;
    bool merge = r > 0;
    for (int o = 0; o < count && merge; ++o) merge = full[o][d] == p->st[o][r - 1] * p->dims[r - 1];
    if (merge) {
      p->dims[r - 1] *= y_dims[d];
      continue;
    }
    p->dims[r] = y_dims[d];
    for (int o = 0; o < count; ++o) p->st[o][r] = full[o][d];
    p->rank = r + 1;
  }
  if (p->rank == 0) {  // a single element
    p->rank = 1;
    p->dims[0] = 1;
    for (int o = 0; o < count; ++o) p->st[o][0] = 0;
  }
  return true;
}

// Walks output rows [r0, r1) (a row = the innermost dim), calling
// row(offsets..., y offset) with each operand's offset at the row start.
template <class RowFn>
SINTER_INLINE void ForRows(const Plan& p, int count, int64_t r0, int64_t r1, RowFn row) {
  int64_t idx[kMaxRank], off[3] = {0, 0, 0};
  int64_t rest = r0;
  for (int d = 1; d < p.rank; ++d) {
    idx[d] = rest % p.dims[d];
    rest /= p.dims[d];
    for (int o = 0; o < count; ++o) off[o] += idx[d] * p.st[o][d];
  }
  for (int64_t r = r0; r < r1; ++r) {
    row(off, r * p.dims[0]);
    for (int d = 1; d < p.rank; ++d) {
      for (int o = 0; o < count; ++o) off[o] += p.st[o][d];
      if (++idx[d] < p.dims[d]) break;
      for (int o = 0; o < count; ++o) off[o] -= idx[d] * p.st[o][d];
      idx[d] = 0;
    }
  }
}

struct AddOp {
  static SINTER_INLINE V8 V(V8 a, V8 b) { return a + b; }
};
struct SubOp {
  static SINTER_INLINE V8 V(V8 a, V8 b) { return a - b; }
};
struct MulOp {
  static SINTER_INLINE V8 V(V8 a, V8 b) { return a * b; }
};
struct DivOp {
  static SINTER_INLINE V8 V(V8 a, V8 b) { return a / b; }
};
struct MaxOp {
  static SINTER_INLINE V8 V(V8 a, V8 b) { return MaxNan(a, b); }
};
struct MinOp {
  static SINTER_INLINE V8 V(V8 a, V8 b) { return MinNan(a, b); }
};
struct PowOp {
  static SINTER_INLINE V8 V(V8 a, V8 b) {
    V8 r;
    for (int i = 0; i < 8; ++i) r[i] = std::pow(a[i], b[i]);
    return r;
  }
};

// y[i] = op(a[i * sa], b[i * sb]) for i < n, strides 0 or 1.
template <class Op>
SINTER_INLINE void Row(const float* a, bool sa, const float* b, bool sb, float* y, int64_t n) {
  const V8 as = Splat(*a), bs = Splat(*b);
  for (int64_t i = 0; i < n; i += 8) {
    const bool full = n - i >= 8;
    V8 av = !sa ? as : full ? Load(a + i) : LoadPart(a + i, n - i);
    V8 bv = !sb ? bs : full ? Load(b + i) : LoadPart(b + i, n - i);
    V8 v = Op::V(av, bv);
    full ? Store(y + i, v) : StorePart(y + i, v, n - i);
  }
}

template <class Op>
SINTER_INLINE void BinaryTask(const Plan& p, const float* a, const float* b, float* y, int64_t r0,
                              int64_t r1, int64_t c0, int64_t c1) {
  const bool sa = p.st[0][0] != 0, sb = p.st[1][0] != 0;
  ForRows(p, 2, r0, r1, [&](const int64_t* off, int64_t yo) SINTER_LAMBDA {
    Row<Op>(a + off[0] + (sa ? c0 : 0), sa, b + off[1] + (sb ? c0 : 0), sb, y + yo + c0, c1 - c0);
  });
}

SINTER_MULTIVERSION void BinaryRange(Binary op, const Plan& p, const float* a, const float* b,
                                     float* y, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  switch (op) {
    case Binary::kAdd:
      return BinaryTask<AddOp>(p, a, b, y, r0, r1, c0, c1);
    case Binary::kSub:
      return BinaryTask<SubOp>(p, a, b, y, r0, r1, c0, c1);
    case Binary::kMul:
      return BinaryTask<MulOp>(p, a, b, y, r0, r1, c0, c1);
    case Binary::kDiv:
      return BinaryTask<DivOp>(p, a, b, y, r0, r1, c0, c1);
    case Binary::kPow:
      return BinaryTask<PowOp>(p, a, b, y, r0, r1, c0, c1);
    case Binary::kMax:
      return BinaryTask<MaxOp>(p, a, b, y, r0, r1, c0, c1);
    case Binary::kMin:
      return BinaryTask<MinOp>(p, a, b, y, r0, r1, c0, c1);
  }
}

}  // namespace

void UnaryF32(Unary op, const float* x, float* y, int64_t n, float a, float b, Parallel* par) {
  if (n <= 0) return;
  const int64_t tasks = NumTasks(par, n, kGrain);
  const int64_t chunk = CeilDiv(CeilDiv(n, tasks), 8) * 8;
  ParallelFor(tasks > 1 ? par : nullptr, CeilDiv(n, chunk), [&](int64_t t0, int64_t t1) {
    int64_t i0 = t0 * chunk, i1 = std::min(n, t1 * chunk);
    UnaryRange(op, x + i0, y + i0, i1 - i0, a, b);
  });
}

void BinaryF32(Binary op, const float* a, const int64_t* a_dims, const float* b,
               const int64_t* b_dims, float* y, const int64_t* y_dims, int rank, Parallel* par) {
  Plan p;
  const int64_t* in[2] = {a_dims, b_dims};
  if (!MakePlan(rank, y_dims, in, 2, &p) || p.total <= 0) return;
  // x ** 2 (variance, L2 norms) is common and exact as x * x, as in PyTorch.
  if (op == Binary::kPow &&
      std::all_of(p.st[1], p.st[1] + p.rank, [](int64_t s) { return s == 0; }) && *b == 2.f) {
    op = Binary::kMul;
    b = a;
    std::copy_n(p.st[0], p.rank, p.st[1]);
  }
  const int64_t len = p.dims[0], rows = p.total / len;
  const int64_t tasks = NumTasks(par, p.total, kGrain);
  if (tasks <= 1) return BinaryRange(op, p, a, b, y, 0, rows, 0, len);
  if (rows >= tasks) {
    const int64_t per = CeilDiv(rows, tasks);
    ParallelFor(par, CeilDiv(rows, per), [&](int64_t t0, int64_t t1) {
      BinaryRange(op, p, a, b, y, t0 * per, std::min(rows, t1 * per), 0, len);
    });
    return;
  }
  // Few long rows: split each row into column chunks.
  const int64_t cchunks = CeilDiv(tasks, rows), cw = CeilDiv(CeilDiv(len, cchunks), 8) * 8;
  const int64_t per_row = CeilDiv(len, cw);
  ParallelFor(par, rows * per_row, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t r = t / per_row, c0 = t % per_row * cw;
      BinaryRange(op, p, a, b, y, r, r + 1, c0, std::min(len, c0 + cw));
    }
  });
}

void WhereF32(const uint8_t* cond, const int64_t* c_dims, const float* a, const int64_t* a_dims,
              const float* b, const int64_t* b_dims, float* y, const int64_t* y_dims, int rank) {
  Plan p;
  const int64_t* in[3] = {c_dims, a_dims, b_dims};
  if (!MakePlan(rank, y_dims, in, 3, &p) || p.total <= 0) return;
  const int64_t len = p.dims[0], sc = p.st[0][0], sa = p.st[1][0], sb = p.st[2][0];
  ForRows(p, 3, 0, p.total / len, [&](const int64_t* off, int64_t yo) {
    const uint8_t* c = cond + off[0];
    const float *av = a + off[1], *bv = b + off[2];
    for (int64_t i = 0; i < len; ++i) y[yo + i] = c[i * sc] ? av[i * sa] : bv[i * sb];
  });
}

}  // namespace sinter::kernels::cpu
