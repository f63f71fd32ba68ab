// Channels-last (NHWC) convolution and pooling, for graphs that plan-layout
// moved to NHWC. Channels are the contiguous dimension, so every inner loop
// runs over channels and vectorises whatever the window:
//  - 1x1, stride 1, no padding: one GEMM per group over all images at once,
//    Y[n*h*w, oc] = X[n*h*w, c] * W[oc, c]^T (B transposed: the weight rows).
//  - depthwise: a direct loop; the weights, transposed once per call into the
//    scratch buffer as [kh*kw, oc], line up with the channels of each tap.
//  - few input channels (the stem), with weights packed at load: directly,
//    tiles of output pixels by channels over the window's taps;
//  - otherwise im2col, where each row is one output pixel's taps (ky, kx, ci)
//    made of whole channel runs, then Y[pixels, ocg] = col * W[ocg, taps]^T.
//    Chunking and the per-image thread split are those of the NCHW kernel.
// The bias is the GEMM's per-column epilogue.
#include <algorithm>

#include "kernels/cpu/internal_conv.h"
#include "kernels/cpu/internal_gemm.h"
#include "kernels/cpu/internal_simd.h"
#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {
namespace internal {
namespace {

constexpr int64_t kGrain = 16384;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Output pixels per im2col chunk: serial GEMMs take ~1 MB of im2col at a
// time, a parallel GEMM needs the whole image to split.
int64_t PixelChunk(const Conv2dShape& s, bool serial) {
  const int64_t n = s.oh * s.ow;
  return serial ? std::min(n, std::max<int64_t>(16, (int64_t{1} << 18) / ColRows(s))) : n;
}
int64_t SlotFloats(const Conv2dShape& s, bool serial) {
  return (ColRows(s) * PixelChunk(s, serial) + 15) / 16 * 16;
}

// Pixels [j0, j1) of one image (x: its first element) and group g into
// col[(j - base) * taps ...]: the taps (ky, kx, ci) of pixel j, zero where
// the tap falls on padding.
void Im2colNhwc(const Conv2dShape& s, const float* x, int64_t g, float* col, int64_t j0, int64_t j1,
                int64_t base) {
  const int64_t cg = s.c / s.groups, taps = ColRows(s);
  for (int64_t j = j0; j < j1; ++j) {
    const int64_t oy = j / s.ow, ox = j % s.ow;
    float* d = col + (j - base) * taps;
    const int64_t ix0 = ox * s.stride_w - s.pad_w;
    // One ungrouped row of undilated taps inside the input is one run of
    // kw * c floats (the stem's 7 x 3 channels: one copy, not seven).
    const bool row_run = s.groups == 1 && s.dil_w == 1 && ix0 >= 0 && ix0 + s.kw <= s.w;
    for (int64_t ky = 0; ky < s.kh; ++ky) {
      const int64_t iy = oy * s.stride_h - s.pad_h + ky * s.dil_h;
      if (row_run && iy >= 0 && iy < s.h) {
        std::copy_n(x + (iy * s.w + ix0) * s.c, s.kw * s.c, d);
        d += s.kw * s.c;
        continue;
      }
      for (int64_t kx = 0; kx < s.kw; ++kx, d += cg) {
        const int64_t ix = ox * s.stride_w - s.pad_w + kx * s.dil_w;
        if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) {
          std::fill(d, d + cg, 0.f);
        } else {
          std::copy_n(x + (iy * s.w + ix) * s.c + g * cg, cg, d);
        }
      }
    }
  }
}

// One image: im2col chunk by chunk, a GEMM per chunk and group. `y_off`: the
// image's offset in the whole output, for `done`.
void ConvImageNhwc(const Conv2dShape& s, const float* x, const float* w, const float* packed,
                   const float* bias, float* y, int64_t y_off, float* col, Parallel* par,
                   const RangeDone* done) {
  const int64_t ocg = s.oc / s.groups, taps = ColRows(s), n = s.oh * s.ow;
  const int64_t chunk = PixelChunk(s, par == nullptr);
  for (int64_t j0 = 0; j0 < n; j0 += chunk) {
    const int64_t jn = std::min(chunk, n - j0);
    for (int64_t g = 0; g < s.groups; ++g) {
      const int64_t tasks = NumTasks(par, taps * jn, kGrain);
      const int64_t per = CeilDiv(jn, tasks);
      ParallelFor(tasks > 1 ? par : nullptr, CeilDiv(jn, per), [&](int64_t t0, int64_t t1) {
        Im2colNhwc(s, x, g, col, j0 + t0 * per, j0 + std::min(jn, t1 * per), j0);
      });
      GemmEpilogue ep;
      ep.bias = bias ? bias + g * ocg : nullptr;
      BlockRanges ranges{done, y_off + j0 * s.oc + g * ocg, s.oc};
      SetBlockRanges(&ep, &ranges);
      if (packed != nullptr) {  // groups == 1
        GemmPackedWeight(jn, ocg, taps, col, taps, packed, y + j0 * s.oc, s.oc, ep, par);
      } else {
        Gemm(jn, ocg, taps, col, taps, w + g * ocg * taps, taps, true, y + j0 * s.oc + g * ocg,
             s.oc, ep, par);
      }
    }
  }
}

// Output columns whose whole window lies inside the input: [*lo, *hi).
SINTER_INLINE void InteriorColumns(const Conv2dShape& s, int64_t* lo, int64_t* hi) {
  const int64_t reach = s.w - 1 - (s.kw - 1) * s.dil_w + s.pad_w;
  *lo = std::min(s.ow, CeilDiv(s.pad_w, s.stride_w));
  *hi = std::max(*lo, std::min(s.ow, reach < 0 ? 0 : reach / s.stride_w + 1));
}

// Ungrouped, with few input channels and a row of taps that fits `off`: the
// stem of every CNN (3 channels, 3x3 to 7x7 windows, stride 2), whose 27- to
// 147-wide im2col rows cost as much to build and pack as to multiply.
constexpr int64_t kDirectMaxChannels = 4, kDirectMaxRowTaps = 64;
bool DirectApplies(const Conv2dShape& s) {
  return PackedWeightsApply(s) && !IsPointwise(s) && s.c <= kDirectMaxChannels &&
         s.kw * s.c <= kDirectMaxRowTaps;
}

// Output rows [r0, r1) (row = image * oh + oy) of such a convolution, from
// the input as it lies and the weights as PackWeight packed them (panels of
// `width` columns, one row of them per tap (ky, kx, ci)): tiles of 6 output
// pixels by 16 channels accumulate, tap by tap, one broadcast input value per
// pixel times the tap's 16 weights: the GEMM micro-kernel's 12 accumulators,
// 2 weight loads and 6 broadcasts per step, without the im2col rows.
// Pixels whose window crosses the left or right edge go one at a time.
SINTER_MULTIVERSION void DirectRowsNhwc(const Conv2dShape& s, const float* x, const float* panels,
                                        int width, const float* bias, float* y, int64_t r0,
                                        int64_t r1, const RangeDone* done) {
  constexpr int kMr = 6;
  const int64_t taps = ColRows(s), row_taps = s.kw * s.c;
  // Input offsets of a tap row's (kx, ci) from the pixel's leftmost tap.
  int64_t off[kDirectMaxRowTaps] = {};
  for (int64_t t = 0; t < row_taps; ++t) off[t] = (t / s.c) * s.dil_w * s.c + t % s.c;
  int64_t lo, hi;
  InteriorColumns(s, &lo, &hi);
  const int64_t pstep = s.stride_w * s.c;  // input distance of adjacent output pixels
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t img = r / s.oh, oy = r % s.oh;
    int64_t ky0, ky1;
    WindowRange(oy * s.stride_h - s.pad_h, s.dil_h, s.h, s.kh, &ky0, &ky1);
    const float* xi = x + img * s.h * s.w * s.c;
    float* yr = y + r * s.ow * s.oc;
    for (int64_t cb = 0; cb < s.oc; cb += 16) {
      // 16 columns of a panel (a 32-wide one holds two such blocks); the
      // panel's columns past oc are zero, so whole vectors load.
      const float* panel = panels + cb / width * taps * width + cb % width;
      const int64_t nc = std::min<int64_t>(16, s.oc - cb);
      V8 b0{}, b1{};
      if (bias != nullptr) {
        b0 = LoadPart(bias + cb, std::min<int64_t>(8, nc));
        if (nc > 8) b1 = LoadPart(bias + cb + 8, nc - 8);
      }
      auto store = [&](int64_t ox, V8 v0, V8 v1) SINTER_LAMBDA {
        float* yp = yr + ox * s.oc + cb;
        if (nc == 16) {
          Store(yp, v0);
          Store(yp + 8, v1);
        } else {
          StorePart(yp, v0, std::min<int64_t>(8, nc));
          if (nc > 8) StorePart(yp + 8, v1, nc - 8);
        }
      };
      for (int64_t ox = 0; ox < s.ow;) {
        const int64_t ix0 = ox * s.stride_w - s.pad_w;
        if (ox >= lo && ox + kMr <= hi) {
          V8 acc[kMr][2];
          for (int i = 0; i < kMr; ++i) {
            acc[i][0] = b0;
            acc[i][1] = b1;
          }
          for (int64_t ky = ky0; ky < ky1; ++ky) {
            const float* xp = xi + ((oy * s.stride_h - s.pad_h + ky * s.dil_h) * s.w + ix0) * s.c;
            const float* wp = panel + ky * row_taps * width;
            for (int64_t t = 0; t < row_taps; ++t) {
              const V8 w0 = Load(wp + t * width), w1 = Load(wp + t * width + 8);
              const float* q = xp + off[t];
#pragma GCC unroll 6
              for (int i = 0; i < kMr; ++i) {
                // A scalar times a vector: one vbroadcastss from memory
                // (Splat builds the vector lane by lane).
                const float a = q[i * pstep];
                acc[i][0] += a * w0;
                acc[i][1] += a * w1;
              }
            }
          }
          for (int i = 0; i < kMr; ++i) store(ox + i, acc[i][0], acc[i][1]);
          ox += kMr;
          continue;
        }
        int64_t kx0, kx1;
        WindowRange(ix0, s.dil_w, s.w, s.kw, &kx0, &kx1);
        V8 a0 = b0, a1 = b1;
        for (int64_t ky = ky0; ky < ky1; ++ky) {
          const float* xp = xi + ((oy * s.stride_h - s.pad_h + ky * s.dil_h) * s.w + ix0) * s.c;
          for (int64_t t = kx0 * s.c; t < kx1 * s.c; ++t) {
            const float* wp = panel + (ky * row_taps + t) * width;
            const float a = xp[off[t]];
            a0 += a * Load(wp);
            a1 += a * Load(wp + 8);
          }
        }
        store(ox, a0, a1);
        ++ox;
      }
    }
    if (done != nullptr) done->fn(done->ctx, r * s.ow * s.oc, (r + 1) * s.ow * s.oc);
  }
}

// Output rows [r0, r1) (row = image * oh + oy) of a depthwise convolution
// with weights wt[tap * oc + o]. One channel multiplier: pixel by pixel,
// 8 channels at a time accumulated in a register over the taps inside the
// input; the pixel's taps stay in L1 across its channel blocks. (Channel
// blocks outermost, with the weights in registers, streamed each input row
// again per block: 3-9x slower at 112x112.)
SINTER_MULTIVERSION void DepthwiseRowsNhwc(const Conv2dShape& s, const float* x, const float* wt,
                                           const float* bias, float* y, int64_t r0, int64_t r1,
                                           const RangeDone* done) {
  const int64_t mult = s.oc / s.c, taps = s.kh * s.kw;
  // The taps' input offsets from a pixel's top-left tap (windows up to 8x8).
  constexpr int64_t kMaxTaps = 64;
  const bool blocked = taps <= kMaxTaps;
  int64_t off[kMaxTaps] = {};
  for (int64_t t = 0; blocked && t < taps; ++t)
    off[t] = ((t / s.kw) * s.dil_h * s.w + (t % s.kw) * s.dil_w) * s.c;
  const bool full3 = s.kh == 3 && s.kw == 3;
  int64_t lo, hi;
  InteriorColumns(s, &lo, &hi);
  const int64_t pstep = s.stride_w * s.c;  // input distance of adjacent output pixels
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t img = r / s.oh, oy = r % s.oh;
    int64_t ky0, ky1;
    WindowRange(oy * s.stride_h - s.pad_h, s.dil_h, s.h, s.kh, &ky0, &ky1);
    // Row of input that tap row 0 reads (may lie above the image: only
    // ky >= ky0 are dereferenced).
    const float* xr = x + (img * s.h + oy * s.stride_h - s.pad_h) * s.w * s.c;
    float* yr = y + r * s.ow * s.oc;
    if (mult == 1) {
      // Channels [o, oc) of output pixel ox, whatever its window.
      auto pixel = [&](int64_t ox, int64_t o) SINTER_LAMBDA {
        const int64_t ix0 = ox * s.stride_w - s.pad_w;
        int64_t kx0, kx1;
        WindowRange(ix0, s.dil_w, s.w, s.kw, &kx0, &kx1);
        const float* xp = xr + ix0 * s.c;
        float* yp = yr + ox * s.oc;
        if (full3 && ky0 == 0 && ky1 == 3 && kx0 == 0 && kx1 == 3) {  // all nine taps
          for (; o + 8 <= s.oc; o += 8) {
            V8 acc = bias == nullptr ? V8{} : Load(bias + o);
#pragma GCC unroll 9
            for (int t = 0; t < 9; ++t) acc += Load(xp + off[t] + o) * Load(wt + t * s.oc + o);
            Store(yp + o, acc);
          }
        }
        for (; o + 8 <= s.oc; o += 8) {
          V8 acc = bias == nullptr ? V8{} : Load(bias + o);
          for (int64_t ky = ky0; ky < ky1; ++ky) {
            for (int64_t kx = kx0; kx < kx1; ++kx) {
              acc += Load(xp + (ky * s.dil_h * s.w + kx * s.dil_w) * s.c + o) *
                     Load(wt + (ky * s.kw + kx) * s.oc + o);
            }
          }
          Store(yp + o, acc);
        }
        if (o < s.oc) {
          const int64_t n = s.oc - o;
          V8 acc = bias == nullptr ? V8{} : LoadPart(bias + o, n);
          for (int64_t ky = ky0; ky < ky1; ++ky) {
            for (int64_t kx = kx0; kx < kx1; ++kx) {
              acc += LoadPart(xp + (ky * s.dil_h * s.w + kx * s.dil_w) * s.c + o, n) *
                     LoadPart(wt + (ky * s.kw + kx) * s.oc + o, n);
            }
          }
          StorePart(yp + o, acc, n);
        }
      };
      const bool rows_inside = blocked && ky0 == 0 && ky1 == s.kh;
      for (int64_t ox = 0; ox < s.ow;) {
        if (!rows_inside || ox < lo || ox + 4 > hi) {
          pixel(ox++, 0);
          continue;
        }
        // Four pixels whose windows lie inside, eight channels at a time:
        // each tap's weights loaded once for the four (one load per FMA
        // and a quarter, not two: the loads bounded the kernel at a sixth
        // of the FMA peak).
        const float* xp = xr + (ox * s.stride_w - s.pad_w) * s.c;
        float* yp = yr + ox * s.oc;
        int64_t o = 0;
        for (; o + 8 <= s.oc; o += 8) {
          const V8 b = bias == nullptr ? V8{} : Load(bias + o);
          V8 a0 = b, a1 = b, a2 = b, a3 = b;
          for (int64_t t = 0; t < taps; ++t) {
            const V8 wv = Load(wt + t * s.oc + o);
            const float* q = xp + off[t] + o;
            a0 += Load(q) * wv;
            a1 += Load(q + pstep) * wv;
            a2 += Load(q + 2 * pstep) * wv;
            a3 += Load(q + 3 * pstep) * wv;
          }
          Store(yp + o, a0);
          Store(yp + s.oc + o, a1);
          Store(yp + 2 * s.oc + o, a2);
          Store(yp + 3 * s.oc + o, a3);
        }
        if (o < s.oc) {
          for (int64_t p = 0; p < 4; ++p) pixel(ox + p, o);
        }
        ox += 4;
      }
    } else {
      for (int64_t ox = 0; ox < s.ow; ++ox) {
        const int64_t ix0 = ox * s.stride_w - s.pad_w;
        int64_t kx0, kx1;
        WindowRange(ix0, s.dil_w, s.w, s.kw, &kx0, &kx1);
        for (int64_t o = 0; o < s.oc; ++o) {
          float acc = bias != nullptr ? bias[o] : 0.f;
          for (int64_t ky = ky0; ky < ky1; ++ky) {
            for (int64_t kx = kx0; kx < kx1; ++kx) {
              acc += xr[(ky * s.dil_h * s.w + ix0 + kx * s.dil_w) * s.c + o / mult] *
                     wt[(ky * s.kw + kx) * s.oc + o];
            }
          }
          yr[ox * s.oc + o] = acc;
        }
      }
    }
    if (done != nullptr) done->fn(done->ctx, r * s.ow * s.oc, (r + 1) * s.ow * s.oc);
  }
}

// Pooling rows [r0, r1) (row = image * oh + oy): the window of each output
// pixel accumulated across its channels. mode 0 max, 1 average, 2 adaptive
// max, 3 adaptive average.
SINTER_MULTIVERSION void PoolRowsNhwc(const Pool2dShape& s, int mode, bool count_include_pad,
                                      int64_t divisor, const float* x, float* y, int64_t r0,
                                      int64_t r1) {
  const bool max = mode == 0 || mode == 2, adaptive = mode >= 2;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t img = r / s.oh, oy = r % s.oh;
    for (int64_t ox = 0; ox < s.ow; ++ox) {
      float* __restrict yp = y + (r * s.ow + ox) * s.c;
      std::fill(yp, yp + s.c, max ? -kInf : 0.f);
      // Taps iy = h0 + i * dh for iy in [hs, he) (likewise x); the divisor
      // as PyTorch counts it.
      int64_t h0, h1, w0, w1, dh = 1, dw = 1, count;
      if (adaptive) {  // start = floor(o * in / out), end = ceil((o + 1) * in / out)
        h0 = oy * s.h / s.oh, h1 = ((oy + 1) * s.h + s.oh - 1) / s.oh;
        w0 = ox * s.w / s.ow, w1 = ((ox + 1) * s.w + s.ow - 1) / s.ow;
        count = (h1 - h0) * (w1 - w0);
      } else if (max) {
        h0 = oy * s.stride_h - s.pad_h, h1 = h0 + (s.kh - 1) * s.dil_h + 1, dh = s.dil_h;
        w0 = ox * s.stride_w - s.pad_w, w1 = w0 + (s.kw - 1) * s.dil_w + 1, dw = s.dil_w;
        count = 1;
      } else {  // clipped to the padded input for the divisor, to the input for the sum
        h0 = oy * s.stride_h - s.pad_h, h1 = std::min(h0 + s.kh, s.h + s.pad_h);
        w0 = ox * s.stride_w - s.pad_w, w1 = std::min(w0 + s.kw, s.w + s.pad_w);
        const int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h1, s.h);
        const int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w1, s.w);
        count = he <= hs || we <= ws ? 0
                : divisor > 0        ? divisor
                : count_include_pad  ? (h1 - h0) * (w1 - w0)
                                     : (he - hs) * (we - ws);
      }
      for (int64_t iy = h0; iy < h1; iy += dh) {
        if (iy < 0 || iy >= s.h) continue;
        for (int64_t ix = w0; ix < w1; ix += dw) {
          if (ix < 0 || ix >= s.w) continue;
          const float* __restrict xp = x + ((img * s.h + iy) * s.w + ix) * s.c;
          if (max) {
            for (int64_t c = 0; c < s.c; ++c) yp[c] = MaxNan(xp[c], yp[c]);
          } else {
            for (int64_t c = 0; c < s.c; ++c) yp[c] += xp[c];
          }
        }
      }
      if (!max) {
        const float inv = count > 0 ? 1.f / static_cast<float>(count) : 0.f;
        for (int64_t c = 0; c < s.c; ++c) yp[c] = count > 0 ? yp[c] * inv : 0.f;
      }
    }
  }
}

void PoolNhwc(const Pool2dShape& s, int mode, bool count_include_pad, int64_t divisor,
              const float* x, float* y, Parallel* par) {
  const int64_t rows = s.n * s.oh;
  const int64_t window = mode >= 2 ? CeilDiv(s.h, s.oh) * CeilDiv(s.w, s.ow) : s.kh * s.kw;
  const int64_t tasks = NumTasks(par, rows * s.ow * s.c * window, kGrain);
  const int64_t per = CeilDiv(rows, tasks);
  ParallelFor(tasks > 1 ? par : nullptr, CeilDiv(rows, per), [&](int64_t t0, int64_t t1) {
    PoolRowsNhwc(s, mode, count_include_pad, divisor, x, y, t0 * per, std::min(rows, t1 * per));
  });
}

}  // namespace

void DepthwiseWeightsNhwc(const Conv2dShape& s, const float* w, float* wt) {
  const int64_t taps = s.kh * s.kw;
  for (int64_t o = 0; o < s.oc; ++o) {
    for (int64_t t = 0; t < taps; ++t) wt[t * s.oc + o] = w[o * taps + t];
  }
}

int64_t Conv2dNhwcScratchBytes(const Conv2dShape& s, int num_threads) {
  if (IsDepthwise(s)) return (s.kh * s.kw * s.oc + 16) * 4;
  if (IsPointwise(s)) return 0;
  const int64_t slots = Slots(s, num_threads);
  const int64_t direct = slots * SlotFloats(s, num_threads <= 1 || slots > 1) * 4;
  return WinogradApplies(s) ? std::max(direct, WinogradScratchBytes(s, num_threads)) : direct;
}

void Conv2dNhwcF32(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                   float* y, void* scratch, Parallel* par, const RangeDone* done,
                   const float* prepared) {
  if (done != nullptr && done->fn == nullptr) done = nullptr;
  if (s.n <= 0 || s.oc <= 0 || s.oh <= 0 || s.ow <= 0) return;
  if (prepared != nullptr && WinogradApplies(s)) {
    return WinogradConvNhwc(s, x, prepared, bias, y, scratch, par, done);
  }
  const int64_t ocg = s.oc / s.groups, cg = s.c / s.groups;
  if (IsDepthwise(s)) {
    const int64_t taps = s.kh * s.kw, rows = s.n * s.oh;
    // The weights tap-major (DepthwiseWeightsNhwc): prepared once, or here.
    const float* wt = prepared;
    if (wt == nullptr) {
      DepthwiseWeightsNhwc(s, w, static_cast<float*>(scratch));
      wt = static_cast<float*>(scratch);
    }
    const int64_t tasks = NumTasks(par, rows * s.ow * s.oc * taps, kGrain);
    const int64_t per = CeilDiv(rows, tasks);
    ParallelFor(tasks > 1 ? par : nullptr, CeilDiv(rows, per), [&](int64_t t0, int64_t t1) {
      DepthwiseRowsNhwc(s, x, wt, bias, y, t0 * per, std::min(rows, t1 * per), done);
    });
    return;
  }
  // Weights packed once (PackedWeightsApply), else packed per call.
  const float* packed = prepared != nullptr && PackedWeightsApply(s) ? prepared : nullptr;
  if (packed != nullptr && DirectApplies(s)) {
    int width;
    const float* panels = PackedWeightPanels(packed, &width);
    const int64_t rows = s.n * s.oh;
    const int64_t tasks = NumTasks(par, rows * s.ow * s.oc * ColRows(s), kGrain);
    const int64_t per = CeilDiv(rows, tasks);
    ParallelFor(tasks > 1 ? par : nullptr, CeilDiv(rows, per), [&](int64_t t0, int64_t t1) {
      DirectRowsNhwc(s, x, panels, width, bias, y, t0 * per, std::min(rows, t1 * per), done);
    });
    return;
  }
  if (IsPointwise(s) && packed != nullptr) {
    GemmEpilogue ep;
    ep.bias = bias;
    BlockRanges ranges{done, 0, s.oc};
    SetBlockRanges(&ep, &ranges);
    return GemmPackedWeight(s.n * s.h * s.w, s.oc, s.c, x, s.c, packed, y, s.oc, ep, par);
  }
  if (IsPointwise(s)) {
    for (int64_t g = 0; g < s.groups; ++g) {
      GemmEpilogue ep;
      ep.bias = bias ? bias + g * ocg : nullptr;
      BlockRanges ranges{done, g * ocg, s.oc};
      SetBlockRanges(&ep, &ranges);
      Gemm(s.n * s.h * s.w, ocg, cg, x + g * cg, s.c, w + g * ocg * cg, cg, true, y + g * ocg, s.oc,
           ep, par);
    }
    return;
  }
  const int64_t in_size = s.h * s.w * s.c, out_size = s.oh * s.ow * s.oc;
  ForEachImage(s, par, static_cast<float*>(scratch), SlotFloats(s, true),
               [&](int64_t img, float* col, Parallel* image_par) {
                 ConvImageNhwc(s, x + img * in_size, w, packed, bias, y + img * out_size,
                               img * out_size, col, image_par, done);
               });
}

void MaxPool2dNhwcF32(const Pool2dShape& s, const float* x, float* y, Parallel* par) {
  PoolNhwc(s, 0, false, 0, x, y, par);
}

void AvgPool2dNhwcF32(const Pool2dShape& s, bool count_include_pad, int64_t divisor, const float* x,
                      float* y, Parallel* par) {
  PoolNhwc(s, 1, count_include_pad, divisor, x, y, par);
}

}  // namespace internal

void AdaptivePool2dNhwcF32(bool max, const Pool2dShape& s, const float* x, float* y,
                           Parallel* par) {
  internal::PoolNhwc(s, max ? 2 : 3, false, 0, x, y, par);
}

}  // namespace sinter::kernels::cpu
