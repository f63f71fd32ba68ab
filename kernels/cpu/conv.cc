// 2-D convolution, NCHW, three strategies:
//  - 1x1, stride 1, no padding: per image and group one GEMM on the input as
//    it lies, Y[oc, hw] = W[oc, c] * X[c, hw].
//  - depthwise (groups == c, each output channel reads one input channel): a
//    direct kernel; interior outputs 8 at a time (3x3 weights held in
//    registers), borders a checked scalar loop.
//  - otherwise im2col of one image and group into the scratch buffer, then a
//    GEMM with the weights, Y[ocg, hw] = W[ocg, cg*kh*kw] * col[cg*kh*kw, hw].
//    Serial GEMMs take the output positions in chunks, so the scratch stays
//    about 1 MB and the chunk is still in cache when the GEMM packs it.
// The bias is the GEMM's per-row epilogue; the caller's `done` runs on each
// block of output as the GEMM (or the depthwise plane loop) finishes it. With a batch of at least
// as many images as threads, each thread takes whole images (its own scratch slice, serial GEMMs),
// which needs no synchronisation; otherwise one image at a time with the GEMM and im2col parallel
// inside (scratch: the whole im2col).
#include <algorithm>

#include "kernels/cpu/internal_conv.h"
#include "kernels/cpu/internal_gemm.h"
#include "kernels/cpu/internal_simd.h"
#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {
namespace {

using namespace internal;

// Output columns per im2col chunk: a serial GEMM takes the image in chunks
// whose im2col (~1 MB) is still in cache when the GEMM packs it; a parallel
// GEMM needs the whole image to split.
int64_t ColChunk(const Conv2dShape& s, bool serial) {
  const int64_t n = s.oh * s.ow;
  if (!serial) return n;
  return std::min(n, std::max<int64_t>(64, (int64_t{1} << 18) / ColRows(s) / 16 * 16));
}
int64_t SlotFloats(const Conv2dShape& s, bool serial) {
  return (ColRows(s) * ColChunk(s, serial) + 15) / 16 * 16;
}

// Input (one image, one group) -> col[r, j - j0] for rows r0 .. r1 of
// cg * kh * kw and output positions j0 .. j1 of oh * ow; row stride j1 - j0.
void Im2col(const Conv2dShape& s, const float* x, float* col, int64_t j0, int64_t j1, int64_t r0,
            int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t ci = r / (s.kh * s.kw), ky = r / s.kw % s.kh, kx = r % s.kw;
    const float* xc = x + ci * s.h * s.w;
    const int64_t off = kx * s.dil_w - s.pad_w;
    int64_t lo, hi;
    WindowRange(off, s.stride_w, s.w, s.ow, &lo, &hi);
    for (int64_t j = j0; j < j1;) {
      // Output row oy, columns a .. e, into d[0 .. e - a].
      const int64_t oy = j / s.ow, a = j % s.ow, e = std::min(s.ow, a + (j1 - j));
      float* d = col + r * (j1 - j0) + (j - j0);
      const int64_t iy = oy * s.stride_h - s.pad_h + ky * s.dil_h;
      j += e - a;
      if (iy < 0 || iy >= s.h) {
        std::fill(d, d + (e - a), 0.f);
        continue;
      }
      const float* xr = xc + iy * s.w;
      const int64_t l = std::clamp(lo, a, e), h = std::clamp(hi, l, e);
      std::fill(d, d + (l - a), 0.f);
      if (s.stride_w == 1) {
        std::copy(xr + l + off, xr + h + off, d + (l - a));
      } else {
        for (int64_t ox = l; ox < h; ++ox) d[ox - a] = xr[ox * s.stride_w + off];
      }
      std::fill(d + (h - a), d + (e - a), 0.f);
    }
  }
}

// 8 floats at src[0], src[stride], ..., without reading past src[7 * stride].
template <int kStride>
SINTER_INLINE V8 LoadStrided(const float* src, int64_t stride) {
  if constexpr (kStride == 1) {
    return Load(src);
  } else if constexpr (kStride == 2) {
    return SINTER_SHUFFLE8(Load(src), Load(src + 7), 0, 2, 4, 6, 9, 11, 13, 15);
  } else {
    V8 v;
    for (int l = 0; l < 8; ++l) v[l] = src[l * stride];
    return v;
  }
}

// One depthwise output plane. kStride / kK: the horizontal stride and the
// kernel size when known at compile time (0: read from s).
template <int kStride, int kK>
SINTER_INLINE void DepthwisePlane(const Conv2dShape& s, const float* xp, const float* wp, float b,
                                  float* yp, int64_t in_lo, int64_t in_hi) {
  const int64_t sw = kStride ? kStride : s.stride_w, kw = kK ? kK : s.kw;
  V8 wv[9];  // 3x3 weights, splatted once per plane
  if constexpr (kK == 3) {
    for (int i = 0; i < 9; ++i) wv[i] = Splat(wp[i]);
  }
  for (int64_t oy = 0; oy < s.oh; ++oy) {
    float* yr = yp + oy * s.ow;
    const int64_t iy0 = oy * s.stride_h - s.pad_h;
    int64_t ky0, ky1;  // taps inside the input
    WindowRange(iy0, s.dil_h, s.h, s.kh, &ky0, &ky1);
    const bool all3 = kK == 3 && ky0 == 0 && ky1 == 3;
    const float* r0 = xp + iy0 * s.w - s.pad_w;
    // Outputs ox .. ox+7, all inside the input row.
    auto vec = [&](int64_t ox) SINTER_LAMBDA {
      const int64_t o = ox * sw;
      V8 acc = Splat(b);
      if (all3) {  // all nine taps, weights in registers
        const float *r1 = r0 + s.dil_h * s.w, *r2 = r1 + s.dil_h * s.w;
        const int64_t d = s.dil_w;
        acc += wv[0] * LoadStrided<kStride>(r0 + o, sw);
        acc += wv[1] * LoadStrided<kStride>(r0 + o + d, sw);
        acc += wv[2] * LoadStrided<kStride>(r0 + o + 2 * d, sw);
        acc += wv[3] * LoadStrided<kStride>(r1 + o, sw);
        acc += wv[4] * LoadStrided<kStride>(r1 + o + d, sw);
        acc += wv[5] * LoadStrided<kStride>(r1 + o + 2 * d, sw);
        acc += wv[6] * LoadStrided<kStride>(r2 + o, sw);
        acc += wv[7] * LoadStrided<kStride>(r2 + o + d, sw);
        acc += wv[8] * LoadStrided<kStride>(r2 + o + 2 * d, sw);
      } else {
        for (int64_t ky = ky0; ky < ky1; ++ky) {
          const float* xr = r0 + ky * s.dil_h * s.w + o;
          const float* wr = wp + ky * kw;
          for (int64_t kx = 0; kx < kw; ++kx) {
            acc += wr[kx] * LoadStrided<kStride>(xr + kx * s.dil_w, sw);
          }
        }
      }
      Store(yr + ox, acc);
    };
    int64_t ox = in_lo;
    if (in_hi - in_lo >= 8) {
      for (; ox + 8 <= in_hi; ox += 8) vec(ox);
      if (ox < in_hi) vec(in_hi - 8), ox = in_hi;  // overlaps: same values again
    }
    // Borders and the tail, with bounds checks.
    for (int64_t q = 0; q < s.ow; ++q) {
      if (q == in_lo) q = ox;
      if (q >= s.ow) break;
      float acc = b;
      for (int64_t ky = ky0; ky < ky1; ++ky) {
        const float* xr = xp + (iy0 + ky * s.dil_h) * s.w;
        for (int64_t kx = 0; kx < kw; ++kx) {
          const int64_t ix = q * sw - s.pad_w + kx * s.dil_w;
          if (ix >= 0 && ix < s.w) acc += wp[ky * kw + kx] * xr[ix];
        }
      }
      yr[q] = acc;
    }
  }
}

// Output planes [p0, p1) of a depthwise conv (plane = image * oc + channel),
// each handed to `done` as soon as it is written.
SINTER_MULTIVERSION void DepthwisePlanes(const Conv2dShape& s, const float* x, const float* w,
                                         const float* bias, float* y, int64_t p0, int64_t p1,
                                         const RangeDone* done) {
  const int64_t mult = s.oc / s.c;
  // Output columns whose taps all lie inside the input row.
  int64_t in_lo = 0, in_hi = s.ow;
  for (int64_t kx = 0; kx < s.kw; ++kx) {
    int64_t lo, hi;
    WindowRange(kx * s.dil_w - s.pad_w, s.stride_w, s.w, s.ow, &lo, &hi);
    in_lo = std::max(in_lo, lo);
    in_hi = std::min(in_hi, hi);
  }
  if (in_hi < in_lo) in_hi = in_lo;
  const bool k3 = s.kh == 3 && s.kw == 3;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t img = p / s.oc, o = p % s.oc;
    const float* xp = x + (img * s.c + o / mult) * s.h * s.w;
    const float* wp = w + o * s.kh * s.kw;
    const float b = bias ? bias[o] : 0.f;
    float* yp = y + p * s.oh * s.ow;
    if (s.stride_w == 1) {
      k3 ? DepthwisePlane<1, 3>(s, xp, wp, b, yp, in_lo, in_hi)
         : DepthwisePlane<1, 0>(s, xp, wp, b, yp, in_lo, in_hi);
    } else if (s.stride_w == 2) {
      k3 ? DepthwisePlane<2, 3>(s, xp, wp, b, yp, in_lo, in_hi)
         : DepthwisePlane<2, 0>(s, xp, wp, b, yp, in_lo, in_hi);
    } else {
      DepthwisePlane<0, 0>(s, xp, wp, b, yp, in_lo, in_hi);
    }
    if (done != nullptr) done->fn(done->ctx, p * s.oh * s.ow, (p + 1) * s.oh * s.ow);
  }
}

// One image through im2col (unless pointwise) and a GEMM per group, in
// chunks of output positions when the GEMMs are serial (par == null).
// `y_off`: offset of this image's output in the whole output, for `done`.
void ConvImage(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
               int64_t y_off, float* col, Parallel* par, const RangeDone* done) {
  const int64_t cg = s.c / s.groups, ocg = s.oc / s.groups, k = ColRows(s);
  const int64_t n = s.oh * s.ow, chunk = IsPointwise(s) ? n : ColChunk(s, par == nullptr);
  for (int64_t j0 = 0; j0 < n; j0 += chunk) {
    const int64_t jn = std::min(chunk, n - j0);
    for (int64_t g = 0; g < s.groups; ++g) {
      const float* xg = x + g * cg * s.h * s.w;
      const float* b = xg;
      if (!IsPointwise(s)) {
        const int64_t tasks = NumTasks(par, k * jn, 16384);
        const int64_t per = (k + tasks - 1) / tasks;
        ParallelFor(tasks > 1 ? par : nullptr, (k + per - 1) / per, [&](int64_t t0, int64_t t1) {
          Im2col(s, xg, col, j0, j0 + jn, t0 * per, std::min(k, t1 * per));
        });
        b = col;
      }
      GemmEpilogue ep;
      ep.bias = bias ? bias + g * ocg : nullptr;
      ep.bias_per_row = true;
      BlockRanges ranges{done, y_off + g * ocg * n + j0, n};
      SetBlockRanges(&ep, &ranges);
      Gemm(ocg, jn, k, w + g * ocg * k, k, b, b == col ? jn : n, false, y + g * ocg * n + j0, n, ep,
           par);
    }
  }
}

}  // namespace

int64_t Conv2dScratchBytes(const Conv2dShape& s, int num_threads) {
  if (s.nhwc) return internal::Conv2dNhwcScratchBytes(s, num_threads);
  if (IsDepthwise(s) || IsPointwise(s)) return 0;
  const int64_t slots = Slots(s, num_threads);
  return slots * SlotFloats(s, num_threads <= 1 || slots > 1) * 4;
}

int64_t Conv2dPreparedWeightFloats(const Conv2dShape& s) {
  if (internal::WinogradApplies(s)) return internal::WinogradWeightFloats(s);
  if (internal::PackedWeightsApply(s)) return internal::PackedWeightFloats(ColRows(s), s.oc);
  if (s.nhwc && IsDepthwise(s)) return s.kh * s.kw * s.oc;
  return 0;
}

void Conv2dPrepareWeightsF32(const Conv2dShape& s, const float* w, float* prepared) {
  if (internal::WinogradApplies(s)) return internal::WinogradWeights(s, w, prepared);
  // Channels-last weights [oc, kh, kw, c] are the GEMM's B transposed.
  if (internal::PackedWeightsApply(s))
    internal::PackWeight(ColRows(s), s.oc, w, ColRows(s), true, prepared);
  if (s.nhwc && IsDepthwise(s)) internal::DepthwiseWeightsNhwc(s, w, prepared);
}

void Conv2dF32(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
               void* scratch, Parallel* par, const RangeDone* done, const float* prepared) {
  if (s.nhwc) return internal::Conv2dNhwcF32(s, x, w, bias, y, scratch, par, done, prepared);
  if (done != nullptr && done->fn == nullptr) done = nullptr;
  if (s.n <= 0 || s.oc <= 0 || s.oh <= 0 || s.ow <= 0) return;
  if (IsDepthwise(s)) {
    const int64_t planes = s.n * s.oc;
    const int64_t tasks = NumTasks(par, planes * s.oh * s.ow * s.kh * s.kw, 16384);
    const int64_t per = (planes + tasks - 1) / tasks;
    ParallelFor(tasks > 1 ? par : nullptr, (planes + per - 1) / per, [&](int64_t t0, int64_t t1) {
      DepthwisePlanes(s, x, w, bias, y, t0 * per, std::min(planes, t1 * per), done);
    });
    return;
  }
  const int64_t in_size = s.c * s.h * s.w, out_size = s.oc * s.oh * s.ow;
  ForEachImage(s, par, static_cast<float*>(scratch), IsPointwise(s) ? 0 : SlotFloats(s, true),
               [&](int64_t img, float* col, Parallel* image_par) {
                 ConvImage(s, x + img * in_size, w, bias, y + img * out_size, img * out_size, col,
                           image_par, done);
               });
}

}  // namespace sinter::kernels::cpu
