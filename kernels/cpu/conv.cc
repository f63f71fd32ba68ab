// 2-D convolution, NCHW, three strategies:
//  - 1x1, stride 1, no padding: per image and group one GEMM on the input as
//    it lies, Y[oc, hw] = W[oc, c] * X[c, hw].
//  - depthwise (groups == c, each output channel reads one input channel): a
//    direct kernel; interior outputs take 8 at a time with every tap in
//    registers, borders a checked scalar loop.
//  - otherwise im2col of one image and group into the scratch buffer, then a
//    GEMM with the weights, Y[ocg, hw] = W[ocg, cg*kh*kw] * col[cg*kh*kw, hw].
// The bias is the GEMM's per-row epilogue. With a batch of at least as many
// images as threads, each thread takes whole images (its own scratch slice,
// serial GEMMs), which needs no synchronisation; otherwise one image at a
// time with the GEMM and im2col parallel inside.
#include <algorithm>

#include "kernels/cpu/internal_gemm.h"
#include "kernels/cpu/internal_simd.h"
#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {
namespace {

using namespace internal;

constexpr int64_t kSlotBudget = int64_t{64} << 20;  // bytes of per-thread im2col buffers

bool IsPointwise(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 &&
         s.pad_w == 0;
}
bool IsDepthwise(const Conv2dShape& s) { return s.groups == s.c && s.oc % s.c == 0; }
int64_t ColBytes(const Conv2dShape& s) {
  return (s.c / s.groups * s.kh * s.kw * s.oh * s.ow * 4 + 63) / 64 * 64;
}
// Images processed concurrently, each with its own im2col buffer.
int64_t Slots(const Conv2dShape& s, int threads) {
  if (threads <= 1 || s.n < threads) return 1;
  if (!IsPointwise(s) && ColBytes(s) * threads > kSlotBudget) return 1;
  return threads;
}

// Input (one image, one group) -> col[cg * kh * kw, oh * ow], rows r0 .. r1.
void Im2col(const Conv2dShape& s, const float* x, float* col, int64_t r0, int64_t r1) {
  const int64_t n = s.oh * s.ow;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t ci = r / (s.kh * s.kw), ky = r / s.kw % s.kh, kx = r % s.kw;
    const float* xc = x + ci * s.h * s.w;
    const int64_t off = kx * s.dil_w - s.pad_w;
    int64_t lo, hi;
    WindowRange(off, s.stride_w, s.w, s.ow, &lo, &hi);
    for (int64_t oy = 0; oy < s.oh; ++oy) {
      float* d = col + r * n + oy * s.ow;
      const int64_t iy = oy * s.stride_h - s.pad_h + ky * s.dil_h;
      if (iy < 0 || iy >= s.h) {
        std::fill(d, d + s.ow, 0.f);
        continue;
      }
      const float* xr = xc + iy * s.w;
      std::fill(d, d + lo, 0.f);
      if (s.stride_w == 1) {
        std::copy(xr + lo + off, xr + hi + off, d + lo);
      } else {
        for (int64_t ox = lo; ox < hi; ++ox) d[ox] = xr[ox * s.stride_w + off];
      }
      std::fill(d + hi, d + s.ow, 0.f);
    }
  }
}

// 8 floats at src[0], src[stride], ..., without reading past src[7 * stride].
SINTER_INLINE V8 LoadStrided(const float* src, int64_t stride) {
  if (stride == 1) return Load(src);
  if (stride == 2) {
    typedef int32_t M __attribute__((vector_size(32)));
    return __builtin_shuffle(Load(src), LoadPart(src + 8, 7), M{0, 2, 4, 6, 8, 10, 12, 14});
  }
  V8 v;
  for (int l = 0; l < 8; ++l) v[l] = src[l * stride];
  return v;
}

// Output planes [p0, p1) of a depthwise conv (plane = image * oc + channel).
SINTER_MULTIVERSION void DepthwisePlanes(const Conv2dShape& s, const float* x, const float* w,
                                         const float* bias, float* y, int64_t p0, int64_t p1) {
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
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t img = p / s.oc, o = p % s.oc;
    const float* xp = x + (img * s.c + o / mult) * s.h * s.w;
    const float* wp = w + o * s.kh * s.kw;
    const float b = bias ? bias[o] : 0.f;
    for (int64_t oy = 0; oy < s.oh; ++oy) {
      float* yr = y + (p * s.oh + oy) * s.ow;
      const int64_t iy0 = oy * s.stride_h - s.pad_h;
      int64_t ox = in_lo;
      for (; ox + 8 <= in_hi; ox += 8) {
        V8 acc = Splat(b);
        for (int64_t ky = 0; ky < s.kh; ++ky) {
          const int64_t iy = iy0 + ky * s.dil_h;
          if (iy < 0 || iy >= s.h) continue;
          const float* xr = xp + iy * s.w + ox * s.stride_w - s.pad_w;
          const float* wr = wp + ky * s.kw;
          for (int64_t kx = 0; kx < s.kw; ++kx) {
            acc += wr[kx] * LoadStrided(xr + kx * s.dil_w, s.stride_w);
          }
        }
        Store(yr + ox, acc);
      }
      // Borders and the tail, with bounds checks.
      for (int64_t q = 0; q < s.ow; ++q) {
        if (q == in_lo) q = ox;
        if (q >= s.ow) break;
        float acc = b;
        for (int64_t ky = 0; ky < s.kh; ++ky) {
          const int64_t iy = iy0 + ky * s.dil_h;
          if (iy < 0 || iy >= s.h) continue;
          for (int64_t kx = 0; kx < s.kw; ++kx) {
            const int64_t ix = q * s.stride_w - s.pad_w + kx * s.dil_w;
            if (ix >= 0 && ix < s.w) acc += wp[ky * s.kw + kx] * xp[iy * s.w + ix];
          }
        }
        yr[q] = acc;
      }
    }
  }
}

// One image through im2col (unless pointwise) and a GEMM per group.
void ConvImage(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
               float* col, Parallel* par) {
  const int64_t cg = s.c / s.groups, ocg = s.oc / s.groups, k = cg * s.kh * s.kw;
  const int64_t n = s.oh * s.ow;
  for (int64_t g = 0; g < s.groups; ++g) {
    const float* xg = x + g * cg * s.h * s.w;
    const float* b = xg;
    if (!IsPointwise(s)) {
      const int64_t tasks = NumTasks(par, k * n, 16384);
      const int64_t per = (k + tasks - 1) / tasks;
      ParallelFor(tasks > 1 ? par : nullptr, (k + per - 1) / per, [&](int64_t t0, int64_t t1) {
        Im2col(s, xg, col, t0 * per, std::min(k, t1 * per));
      });
      b = col;
    }
    GemmEpilogue ep;
    ep.bias = bias ? bias + g * ocg : nullptr;
    ep.bias_per_row = true;
    Gemm(ocg, n, k, w + g * ocg * k, k, b, n, false, y + g * ocg * n, n, ep, par);
  }
}

}  // namespace

int64_t Conv2dScratchBytes(const Conv2dShape& s, int num_threads) {
  if (IsDepthwise(s) || IsPointwise(s)) return 0;
  return ColBytes(s) * Slots(s, num_threads);
}

void Conv2dF32(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
               void* scratch, Parallel* par) {
  if (s.n <= 0 || s.oc <= 0 || s.oh <= 0 || s.ow <= 0) return;
  const int threads = par ? par->num_threads() : 1;
  if (IsDepthwise(s)) {
    const int64_t planes = s.n * s.oc;
    const int64_t tasks = NumTasks(par, planes * s.oh * s.ow * s.kh * s.kw, 16384);
    const int64_t per = (planes + tasks - 1) / tasks;
    ParallelFor(tasks > 1 ? par : nullptr, (planes + per - 1) / per, [&](int64_t t0, int64_t t1) {
      DepthwisePlanes(s, x, w, bias, y, t0 * per, std::min(planes, t1 * per));
    });
    return;
  }
  const int64_t in_size = s.c * s.h * s.w, out_size = s.oc * s.oh * s.ow;
  const int64_t col_floats = IsPointwise(s) ? 0 : ColBytes(s) / 4;
  float* col = static_cast<float*>(scratch);
  const int64_t slots = Slots(s, threads);
  if (slots > 1) {
    ParallelFor(par, slots, [&](int64_t t0, int64_t t1) {
      for (int64_t slot = t0; slot < t1; ++slot) {
        for (int64_t img = slot; img < s.n; img += slots) {
          ConvImage(s, x + img * in_size, w, bias, y + img * out_size, col + slot * col_floats,
                    nullptr);
        }
      }
    });
    return;
  }
  for (int64_t img = 0; img < s.n; ++img) {
    ConvImage(s, x + img * in_size, w, bias, y + img * out_size, col, par);
  }
}

}  // namespace sinter::kernels::cpu
