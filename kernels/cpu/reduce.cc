// Reductions and normalisations over [outer, axis, inner] views. Row sums
// use SumRow (float lanes per block, double across blocks); column sums
// accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/internal_simd.h"
#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {
namespace {

using namespace internal;

constexpr int64_t kGrain = 16384;  // elements per parallel task
constexpr int64_t kTile = 256;     // inner columns reduced together

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Sum of (x - m)^2.
SINTER_INLINE double SqDevRow(const float* x, int64_t n, float m) {
  double total = 0;
  for (int64_t b = 0; b < n; b += 4096) {
    const int64_t e = std::min(n, b + 4096);
    V8 a0{}, a1{};
    int64_t i = b;
    for (; i + 16 <= e; i += 16) {
      V8 d0 = Load(x + i) - m, d1 = Load(x + i + 8) - m;
      a0 += d0 * d0, a1 += d1 * d1;
    }
    for (; i + 8 <= e; i += 8) {
      V8 d = Load(x + i) - m;
      a0 += d * d;
    }
    float tail = 0.f;
    for (; i < e; ++i) tail += (x[i] - m) * (x[i] - m);
    total += HSum(a0 + a1) + tail;
  }
  return total;
}

// Rows [r0, r1) of a contiguous [rows, axis] reduction.
SINTER_MULTIVERSION void ReduceRows(Reduce op, const float* x, float* y, int64_t axis, int64_t r0,
                                    int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * axis;
    if (op == Reduce::kMax) {
      y[r] = MaxRow(row, axis);
    } else {
      double s = SumRow(row, axis);
      y[r] = static_cast<float>(op == Reduce::kMean ? s / static_cast<double>(axis) : s);
    }
  }
}

// y[i] for i in [i0, i1) of one [axis, inner] slice.
SINTER_MULTIVERSION void ReduceCols(Reduce op, const float* x, float* y, int64_t axis,
                                    int64_t inner, int64_t i0, int64_t i1) {
  for (int64_t t = i0; t < i1; t += kTile) {
    const int64_t w = std::min(kTile, i1 - t);
    if (op == Reduce::kMax) {
      float m[kTile];
      std::fill(m, m + w, -kInf);
      for (int64_t a = 0; a < axis; ++a) {
        const float* r = x + a * inner + t;
        for (int64_t i = 0; i < w; ++i) m[i] = MaxNan(r[i], m[i]);
      }
      std::copy(m, m + w, y + t);
      continue;
    }
    double s[kTile] = {};
    for (int64_t a = 0; a < axis; ++a) {
      const float* r = x + a * inner + t;
      for (int64_t i = 0; i < w; ++i) s[i] += r[i];
    }
    const double scale = op == Reduce::kMean ? 1.0 / static_cast<double>(axis) : 1.0;
    for (int64_t i = 0; i < w; ++i) y[t + i] = static_cast<float>(s[i] * scale);
  }
}

// Softmax of rows [r0, r1) of a contiguous [rows, axis] tensor.
SINTER_MULTIVERSION void SoftmaxRows(const float* x, float* y, int64_t axis, bool log, int64_t r0,
                                     int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * axis;
    float* yr = y + r * axis;
    const float mx = MaxRow(xr, axis);
    V8 s0{}, s1{};
    int64_t i = 0;
    for (; i + 8 <= axis; i += 8) {
      V8 e = Exp(Load(xr + i) - mx);
      if (!log) Store(yr + i, e);
      s0 += e;
    }
    if (i < axis) {
      V8 e = Exp(LoadPart(xr + i, axis - i) - mx);
      if (!log) StorePart(yr + i, e, axis - i);
      for (int64_t l = 0; l < axis - i; ++l) s1[l] = e[l];
    }
    const float sum = HSum(s0 + s1);
    if (log) {
      // (x - max) - log(sum): exact subtraction first, unlike x - (max + log(sum)).
      const float ls = std::log(sum);
      for (i = 0; i + 8 <= axis; i += 8) Store(yr + i, (Load(xr + i) - mx) - ls);
      for (; i < axis; ++i) yr[i] = (xr[i] - mx) - ls;
    } else {
      const float inv = 1.f / sum;
      for (i = 0; i + 8 <= axis; i += 8) Store(yr + i, Load(yr + i) * inv);
      for (; i < axis; ++i) yr[i] *= inv;
    }
  }
}

// Softmax over `axis` of columns [i0, i1) of one [axis, inner] slice.
SINTER_MULTIVERSION void SoftmaxCols(const float* x, float* y, int64_t axis, int64_t inner,
                                     bool log, int64_t i0, int64_t i1) {
  for (int64_t t = i0; t < i1; t += kTile) {
    const int64_t w = std::min(kTile, i1 - t);
    alignas(32) float mx[kTile], sum[kTile];
    std::fill(mx, mx + w, -kInf);
    std::fill(sum, sum + w, 0.f);
    for (int64_t a = 0; a < axis; ++a) {
      const float* r = x + a * inner + t;
      for (int64_t i = 0; i < w; ++i) mx[i] = MaxNan(r[i], mx[i]);
    }
    for (int64_t a = 0; a < axis; ++a) {
      const float* r = x + a * inner + t;
      float* o = y + a * inner + t;
      int64_t i = 0;
      for (; i + 8 <= w; i += 8) {
        V8 e = Exp(Load(r + i) - Load(mx + i));
        if (!log) Store(o + i, e);
        Store(sum + i, Load(sum + i) + e);
      }
      if (i < w) {
        V8 e = Exp(LoadPart(r + i, w - i) - LoadPart(mx + i, w - i));
        if (!log) StorePart(o + i, e, w - i);
        StorePart(sum + i, LoadPart(sum + i, w - i) + e, w - i);
      }
    }
    if (log) {
      for (int64_t i = 0; i < w; ++i) sum[i] = std::log(sum[i]);
      for (int64_t a = 0; a < axis; ++a) {
        const float* r = x + a * inner + t;
        float* o = y + a * inner + t;
        for (int64_t i = 0; i < w; ++i) o[i] = (r[i] - mx[i]) - sum[i];
      }
    } else {
      for (int64_t i = 0; i < w; ++i) sum[i] = 1.f / sum[i];
      for (int64_t a = 0; a < axis; ++a) {
        float* o = y + a * inner + t;
        for (int64_t i = 0; i < w; ++i) o[i] *= sum[i];
      }
    }
  }
}

// Runs fn(outer index, inner begin, inner end) over [outer, inner] in
// parallel tasks of about kGrain * (elements per item) work.
template <class Fn>
void ForSlices(Parallel* par, int64_t outer, int64_t inner, int64_t axis, Fn fn) {
  const int64_t tasks = NumTasks(par, outer * inner * axis, kGrain);
  if (tasks <= 1) {
    for (int64_t o = 0; o < outer; ++o) fn(o, int64_t{0}, inner);
    return;
  }
  const int64_t splits = outer >= tasks ? 1 : std::min(CeilDiv(inner, 8), CeilDiv(tasks, outer));
  const int64_t cw = CeilDiv(CeilDiv(inner, splits), 8) * 8, per = CeilDiv(inner, cw);
  ParallelFor(par, outer * per, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t o = t / per, c = t % per * cw;
      fn(o, c, std::min(inner, c + cw));
    }
  });
}

// Rows [r0, r1) of layer norm.
SINTER_MULTIVERSION void LayerNormRows(const float* x, const float* w, const float* b, float* y,
                                       int64_t inner, float eps, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * inner;
    float* yr = y + r * inner;
    const float mean = static_cast<float>(SumRow(xr, inner) / static_cast<double>(inner));
    const double var = SqDevRow(xr, inner, mean) / static_cast<double>(inner);
    const float rstd = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    int64_t i = 0;
    for (; i + 8 <= inner; i += 8) {
      V8 v = (Load(xr + i) - mean) * rstd;
      if (w) v *= Load(w + i);
      if (b) v += Load(b + i);
      Store(yr + i, v);
    }
    for (; i < inner; ++i) {
      float v = (xr[i] - mean) * rstd;
      if (w) v *= w[i];
      if (b) v += b[i];
      yr[i] = v;
    }
  }
}

// Planes [p0, p1) of [n * c, spatial]: y = x * alpha + beta with, as in
// PyTorch's inference path, alpha = weight / sqrt(var + eps) and
// beta = bias - mean * alpha.
SINTER_MULTIVERSION void BatchNormPlanes(const float* x, const float* mean, const float* var,
                                         const float* weight, const float* bias, float* y,
                                         int64_t c, int64_t spatial, float eps, int64_t p0,
                                         int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t ch = p % c;
    const float inv = 1.f / std::sqrt(var[ch] + eps);
    const float alpha = weight ? weight[ch] * inv : inv;
    const float beta = (bias ? bias[ch] : 0.f) - mean[ch] * alpha;
    const float* xp = x + p * spatial;
    float* yp = y + p * spatial;
    int64_t i = 0;
    for (; i + 8 <= spatial; i += 8) Store(yp + i, Load(xp + i) * alpha + beta);
    for (; i < spatial; ++i) yp[i] = xp[i] * alpha + beta;
  }
}

}  // namespace

void ReduceF32(Reduce op, const float* x, float* y, int64_t outer, int64_t axis, int64_t inner,
               Parallel* par) {
  if (outer <= 0 || inner <= 0) return;
  if (inner == 1) {
    const int64_t tasks = NumTasks(par, outer * axis, kGrain);
    if (tasks > 1 && outer < tasks && op != Reduce::kMax && axis >= 2 * kGrain) {
      // Few long rows: partial sums of row pieces, combined in double.
      const int64_t pieces = std::min<int64_t>(CeilDiv(tasks, outer), 64);
      const int64_t pw = CeilDiv(axis, pieces);
      double part[64];
      for (int64_t r = 0; r < outer; ++r) {
        const float* row = x + r * axis;
        ParallelFor(par, pieces, [&](int64_t t0, int64_t t1) {
          for (int64_t t = t0; t < t1; ++t) {
            int64_t b = std::min(axis, t * pw), e = std::min(axis, b + pw);
            part[t] = SumRow(row + b, e - b);
          }
        });
        double s = 0;
        for (int64_t t = 0; t < pieces; ++t) s += part[t];
        y[r] = static_cast<float>(op == Reduce::kMean ? s / static_cast<double>(axis) : s);
      }
      return;
    }
    const int64_t per = CeilDiv(outer, tasks);
    ParallelFor(tasks > 1 ? par : nullptr, CeilDiv(outer, per), [&](int64_t t0, int64_t t1) {
      ReduceRows(op, x, y, axis, t0 * per, std::min(outer, t1 * per));
    });
    return;
  }
  ForSlices(par, outer, inner, axis, [&](int64_t o, int64_t i0, int64_t i1) {
    ReduceCols(op, x + o * axis * inner, y + o * inner, axis, inner, i0, i1);
  });
}

void SoftmaxF32(const float* x, float* y, int64_t outer, int64_t axis, int64_t inner, bool log,
                Parallel* par) {
  if (outer <= 0 || inner <= 0 || axis <= 0) return;
  if (inner == 1) {
    const int64_t tasks = NumTasks(par, outer * axis, kGrain);
    const int64_t per = CeilDiv(outer, tasks);
    ParallelFor(tasks > 1 ? par : nullptr, CeilDiv(outer, per), [&](int64_t t0, int64_t t1) {
      SoftmaxRows(x, y, axis, log, t0 * per, std::min(outer, t1 * per));
    });
    return;
  }
  ForSlices(par, outer, inner, axis, [&](int64_t o, int64_t i0, int64_t i1) {
    SoftmaxCols(x + o * axis * inner, y + o * axis * inner, axis, inner, log, i0, i1);
  });
}

void LayerNormF32(const float* x, const float* weight, const float* bias, float* y, int64_t outer,
                  int64_t inner, float eps, Parallel* par) {
  if (outer <= 0 || inner <= 0) return;
  const int64_t tasks = NumTasks(par, outer * inner, kGrain);
  const int64_t per = CeilDiv(outer, tasks);
  ParallelFor(tasks > 1 ? par : nullptr, CeilDiv(outer, per), [&](int64_t t0, int64_t t1) {
    LayerNormRows(x, weight, bias, y, inner, eps, t0 * per, std::min(outer, t1 * per));
  });
}

void BatchNormF32(const float* x, const float* mean, const float* var, const float* weight,
                  const float* bias, float* y, int64_t n, int64_t c, int64_t spatial, float eps,
                  Parallel* par) {
  if (n <= 0 || c <= 0 || spatial <= 0) return;
  const int64_t planes = n * c;
  const int64_t tasks = NumTasks(par, planes * spatial, kGrain);
  const int64_t per = CeilDiv(planes, tasks);
  ParallelFor(tasks > 1 ? par : nullptr, CeilDiv(planes, per), [&](int64_t t0, int64_t t1) {
    BatchNormPlanes(x, mean, var, weight, bias, y, c, spatial, eps, t0 * per,
                    std::min(planes, t1 * per));
  });
}

}  // namespace sinter::kernels::cpu
