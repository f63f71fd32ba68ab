// 2-D pooling on NCHW planes. Fixed-window pools run row by row: each output
// row starts at the identity and every in-bounds kernel tap updates the
// stretch of outputs it reaches, so the inner loops have no bounds checks and
// vectorise for stride 1.
#include <algorithm>

#include "kernels/cpu/internal_conv.h"
#include "kernels/cpu/internal_simd.h"
#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {
namespace {

using namespace internal;

constexpr int64_t kGrain = 16384;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Runs body(p0, p1) over `planes` output planes of `work` elements each.
template <class Body>
void ForPlanes(Parallel* par, int64_t planes, int64_t work, Body body) {
  const int64_t tasks = NumTasks(par, planes * work, kGrain);
  const int64_t per = CeilDiv(planes, tasks);
  ParallelFor(tasks > 1 ? par : nullptr, CeilDiv(planes, per),
              [&](int64_t t0, int64_t t1) { body(t0 * per, std::min(planes, t1 * per)); });
}

SINTER_MULTIVERSION void MaxPoolPlanes(const Pool2dShape& s, const float* x, float* y, int64_t p0,
                                       int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* xp = x + p * s.h * s.w;
    for (int64_t oy = 0; oy < s.oh; ++oy) {
      float* yr = y + (p * s.oh + oy) * s.ow;
      std::fill(yr, yr + s.ow, -kInf);
      for (int64_t ky = 0; ky < s.kh; ++ky) {
        const int64_t iy = oy * s.stride_h - s.pad_h + ky * s.dil_h;
        if (iy < 0 || iy >= s.h) continue;
        const float* xr = xp + iy * s.w;
        for (int64_t kx = 0; kx < s.kw; ++kx) {
          const int64_t off = kx * s.dil_w - s.pad_w;
          int64_t lo, hi;
          WindowRange(off, s.stride_w, s.w, s.ow, &lo, &hi);
          int64_t ox = lo;
          if (s.stride_w == 1) {
            for (; ox + 8 <= hi; ox += 8) {
              Store(yr + ox, MaxNan(Load(xr + ox + off), Load(yr + ox)));
            }
          }
          for (; ox < hi; ++ox) yr[ox] = MaxNan(xr[ox * s.stride_w + off], yr[ox]);
        }
      }
    }
  }
}

SINTER_MULTIVERSION void AvgPoolPlanes(const Pool2dShape& s, bool count_include_pad,
                                       int64_t divisor, const float* x, float* y, int64_t p0,
                                       int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* xp = x + p * s.h * s.w;
    for (int64_t oy = 0; oy < s.oh; ++oy) {
      float* yr = y + (p * s.oh + oy) * s.ow;
      std::fill(yr, yr + s.ow, 0.f);
      // PyTorch's window: clipped to the padded input for the divisor with
      // count_include_pad, to the input for the sum.
      const int64_t h0 = oy * s.stride_h - s.pad_h, h1 = std::min(h0 + s.kh, s.h + s.pad_h);
      const int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h1, s.h);
      for (int64_t iy = hs; iy < he; ++iy) {
        const float* xr = xp + iy * s.w;
        for (int64_t kx = 0; kx < s.kw; ++kx) {
          const int64_t off = kx - s.pad_w;
          int64_t lo, hi;
          WindowRange(off, s.stride_w, s.w, s.ow, &lo, &hi);
          int64_t ox = lo;
          if (s.stride_w == 1) {
            for (; ox + 8 <= hi; ox += 8) Store(yr + ox, Load(yr + ox) + Load(xr + ox + off));
          }
          for (; ox < hi; ++ox) yr[ox] += xr[ox * s.stride_w + off];
        }
      }
      for (int64_t ox = 0; ox < s.ow; ++ox) {
        const int64_t w0 = ox * s.stride_w - s.pad_w, w1 = std::min(w0 + s.kw, s.w + s.pad_w);
        const int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w1, s.w);
        if (he <= hs || we <= ws) {
          yr[ox] = 0.f;
          continue;
        }
        int64_t d = divisor > 0         ? divisor
                    : count_include_pad ? (h1 - h0) * (w1 - w0)
                                        : (he - hs) * (we - ws);
        yr[ox] /= static_cast<float>(d);
      }
    }
  }
}

// Adaptive windows: start = floor(i * in / out), end = ceil((i + 1) * in / out).
SINTER_INLINE int64_t Start(int64_t i, int64_t in, int64_t out) { return i * in / out; }
SINTER_INLINE int64_t End(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

SINTER_MULTIVERSION void AdaptivePlanes(bool max, const float* x, float* y, int64_t h, int64_t w,
                                        int64_t oh, int64_t ow, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* xp = x + p * h * w;
    float* yp = y + p * oh * ow;
    if (oh == 1 && ow == 1) {  // global pooling
      yp[0] = max ? MaxRow(xp, h * w)
                  : static_cast<float>(SumRow(xp, h * w) / static_cast<double>(h * w));
      continue;
    }
    for (int64_t oy = 0; oy < oh; ++oy) {
      const int64_t hs = Start(oy, h, oh), he = End(oy, h, oh);
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t ws = Start(ox, w, ow), we = End(ox, w, ow);
        float acc = max ? -kInf : 0.f;
        for (int64_t iy = hs; iy < he; ++iy) {
          const float* xr = xp + iy * w;
          if (max) {
            for (int64_t ix = ws; ix < we; ++ix) acc = MaxNan(xr[ix], acc);
          } else {
            for (int64_t ix = ws; ix < we; ++ix) acc += xr[ix];
          }
        }
        yp[oy * ow + ox] = max ? acc : acc / static_cast<float>((he - hs) * (we - ws));
      }
    }
  }
}

}  // namespace

void MaxPool2dF32(const Pool2dShape& s, const float* x, float* y, Parallel* par) {
  if (s.nhwc) return MaxPool2dNhwcF32(s, x, y, par);
  ForPlanes(par, s.n * s.c, s.oh * s.ow * s.kh * s.kw,
            [&](int64_t p0, int64_t p1) { MaxPoolPlanes(s, x, y, p0, p1); });
}

void AvgPool2dF32(const Pool2dShape& s, bool count_include_pad, int64_t divisor, const float* x,
                  float* y, Parallel* par) {
  if (s.nhwc) return AvgPool2dNhwcF32(s, count_include_pad, divisor, x, y, par);
  ForPlanes(par, s.n * s.c, s.oh * s.ow * s.kh * s.kw, [&](int64_t p0, int64_t p1) {
    AvgPoolPlanes(s, count_include_pad, divisor, x, y, p0, p1);
  });
}

void AdaptiveAvgPool2dF32(const float* x, float* y, int64_t nc, int64_t h, int64_t w, int64_t oh,
                          int64_t ow, Parallel* par) {
  ForPlanes(par, nc, h * w,
            [&](int64_t p0, int64_t p1) { AdaptivePlanes(false, x, y, h, w, oh, ow, p0, p1); });
}

void AdaptiveMaxPool2dF32(const float* x, float* y, int64_t nc, int64_t h, int64_t w, int64_t oh,
                          int64_t ow, Parallel* par) {
  ForPlanes(par, nc, h * w,
            [&](int64_t p0, int64_t p1) { AdaptivePlanes(true, x, y, h, w, oh, ow, p0, p1); });
}

}  // namespace sinter::kernels::cpu
