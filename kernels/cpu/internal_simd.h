// Private to kernels/cpu: 8-float vectors (GCC vector extensions, lowered to
// AVX2 in the x86-64-v3 clones and to SSE pairs otherwise), function
// multiversioning, and branch-free float math accurate to about 2 ulp so that
// exp-based activations vectorise instead of calling libm per element.
#ifndef SINTER_KERNELS_CPU_INTERNAL_SIMD_H_
#define SINTER_KERNELS_CPU_INTERNAL_SIMD_H_

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/kernels.h"

#define SINTER_INLINE inline __attribute__((always_inline))
// After a lambda's parameter list: inlined into (and compiled for) each clone.
#define SINTER_LAMBDA __attribute__((always_inline))
// Hot loops are compiled twice: for AVX2+FMA machines and for any x86-64; the
// loader picks one (ifunc). Callees they use must be SINTER_INLINE so that
// they are compiled for the clone's target.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(SINTER_NO_MULTIVERSION)
#define SINTER_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SINTER_MULTIVERSION
#endif
// Kernels with a hand-picked AVX-512 variant (512-bit vectors, masked edges)
// compile it with this target and choose it at run time by CPU feature.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(SINTER_NO_MULTIVERSION)
#define SINTER_HAVE_AVX512 1
#define SINTER_TARGET_AVX512 __attribute__((target("arch=x86-64-v4")))
#else
#define SINTER_HAVE_AVX512 0
#define SINTER_TARGET_AVX512
#endif

// Two 8-lane vectors shuffled by eight constant lane indices (0-15): GCC's
// and Clang's builtins differ (Clang builds the fuzz targets, tests/fuzz).
#if defined(__clang__)
#define SINTER_SHUFFLE8(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SINTER_SHUFFLE8(a, b, ...) \
  __builtin_shuffle(a, b, (::sinter::kernels::cpu::internal::I8{__VA_ARGS__}))
#endif

namespace sinter::kernels::cpu::internal {

typedef float V8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));

SINTER_INLINE V8 Splat(float x) { return V8{x, x, x, x, x, x, x, x}; }
SINTER_INLINE V8 Load(const float* p) {
  V8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
SINTER_INLINE void Store(float* p, V8 v) { std::memcpy(p, &v, sizeof v); }
// Loads/stores n < 8 floats; the other lanes are zero.
SINTER_INLINE V8 LoadPart(const float* p, int64_t n) {
  V8 v{};
  std::memcpy(&v, p, static_cast<size_t>(n) * sizeof(float));
  return v;
}
SINTER_INLINE void StorePart(float* p, V8 v, int64_t n) {
  std::memcpy(p, &v, static_cast<size_t>(n) * sizeof(float));
}
SINTER_INLINE float HSum(V8 v) {
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}
SINTER_INLINE V8 Abs(V8 x) { return (V8)((I8)x & 0x7fffffff); }
// Lane-wise max/min that propagate NaN from either side (torch.maximum).
SINTER_INLINE V8 MaxNan(V8 a, V8 b) { return (a != a) | (a > b) ? a : b; }
SINTER_INLINE V8 MinNan(V8 a, V8 b) { return (a != a) | (a < b) ? a : b; }
SINTER_INLINE float MaxNan(float a, float b) { return a != a || a > b ? a : b; }
SINTER_INLINE float MinNan(float a, float b) { return a != a || a < b ? a : b; }

// exp: Cephes range reduction and polynomial; 2^n applied as two factors so
// that results down to the denormal range and up to overflow are right.
SINTER_INLINE V8 Exp(V8 x) {
  V8 xc = x >= -104.f ? x : Splat(-104.f);  // also maps NaN to -104
  xc = xc <= 89.f ? xc : Splat(89.f);
  V8 n = xc * 1.44269504088896341f;
  n = (n + 12582912.f) - 12582912.f;  // round to nearest integer
  V8 r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  V8 p = Splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.f;
  I8 ni = __builtin_convertvector(n, I8);
  I8 h = ni >> 1;
  V8 s1 = (V8)((h + 127) << 23), s2 = (V8)((ni - h + 127) << 23);
  V8 y = p * s1 * s2;
  return x == x ? y : x;
}

// expm1 without cancellation near 0 (for ELU).
SINTER_INLINE V8 Expm1(V8 x) {
  V8 p = Splat(1.f / 40320);
  p = p * x + 1.f / 5040;
  p = p * x + 1.f / 720;
  p = p * x + 1.f / 120;
  p = p * x + 1.f / 24;
  p = p * x + 1.f / 6;
  p = p * x + 0.5f;
  p = (p * x) * x + x;
  return Abs(x) < 0.5f ? p : Exp(x) - 1.f;
}

SINTER_INLINE V8 Sigmoid(V8 x) { return 1.f / (1.f + Exp(-x)); }

// tanh: Cephes odd polynomial below 0.625, 1 - 2 / (exp(2|x|) + 1) above.
SINTER_INLINE V8 Tanh(V8 x) {
  V8 z = x * x;
  V8 p = Splat(-5.70498872745e-3f);
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  p = p * z * x + x;
  V8 ax = Abs(x);
  V8 big = 1.f - 2.f / (Exp(ax + ax) + 1.f);
  big = (V8)((I8)big | ((I8)x & (int32_t)0x80000000));
  return ax < 0.625f ? p : big;
}

// erf: x * P(x^2) below 1, 1 - exp(-x^2) * Q(1/x) on [1, 4], +-1 beyond
// (least-squares fits, max relative error 2e-7).
SINTER_INLINE V8 Erf(V8 x) {
  V8 ax = Abs(x), z = x * x;
  V8 p = Splat(-5.667994846e-4f);
  p = p * z + 4.927420057e-3f;
  p = p * z - 2.672089450e-2f;
  p = p * z + 1.128057912e-1f;
  p = p * z - 3.761239052e-1f;
  p = p * z + 1.128379107f;
  p = p * x;
  V8 xc = ax <= 4.f ? ax : Splat(4.f);
  xc = xc >= 1.f ? xc : Splat(1.f);
  V8 t = 1.f / xc;
  V8 q = Splat(-1.8135669148e-2f);
  q = q * t + 1.2200977554e-1f;
  q = q * t - 3.5671499617e-1f;
  q = q * t + 5.7823489996e-1f;
  q = q * t - 5.0725479161e-1f;
  q = q * t + 5.1414856850e-2f;
  q = q * t + 5.5767554517e-1f;
  q = q * t + 3.5397445727e-4f;
  V8 big = 1.f - Exp(-(xc * xc)) * q;
  big = (V8)((I8)big | ((I8)x & (int32_t)0x80000000));
  V8 y = ax < 1.f ? p : big;
  return x == x ? y : x;
}

// Sum of n floats: 8 lanes x 4 in float over blocks of 4096 elements, the
// block sums in double; close to PyTorch's cascade sums at vector speed.
SINTER_INLINE double SumRow(const float* x, int64_t n) {
  double total = 0;
  for (int64_t b = 0; b < n; b += 4096) {
    const int64_t e = std::min(n, b + 4096);
    V8 a0{}, a1{}, a2{}, a3{};
    int64_t i = b;
    for (; i + 32 <= e; i += 32) {
      a0 += Load(x + i), a1 += Load(x + i + 8), a2 += Load(x + i + 16), a3 += Load(x + i + 24);
    }
    for (; i + 8 <= e; i += 8) a0 += Load(x + i);
    if (i < e) a1 += LoadPart(x + i, e - i);
    total += HSum((a0 + a1) + (a2 + a3));
  }
  return total;
}

constexpr float kInf = __builtin_inff();

// Max of n floats (-inf when empty); NaN wins, like torch.max.
SINTER_INLINE float MaxRow(const float* x, int64_t n) {
  V8 m0 = Splat(-kInf), m1 = m0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) m0 = MaxNan(Load(x + i), m0), m1 = MaxNan(Load(x + i + 8), m1);
  for (; i + 8 <= n; i += 8) m0 = MaxNan(Load(x + i), m0);
  float m = -kInf;
  for (; i < n; ++i) m = MaxNan(x[i], m);
  V8 v = MaxNan(m0, m1);
  for (int l = 0; l < 8; ++l) m = MaxNan(v[l], m);
  return m;
}

// [lo, hi): the outputs o < out whose input o * stride + off lies in [0, in).
SINTER_INLINE void WindowRange(int64_t off, int64_t stride, int64_t in, int64_t out, int64_t* lo,
                               int64_t* hi) {
  int64_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
  int64_t h = in - 1 - off < 0 ? 0 : (in - 1 - off) / stride + 1;
  *lo = l < out ? l : out;
  *hi = h < out ? h : out;
  if (*hi < *lo) *hi = *lo;
}

// Splits the output work of `n` items into tasks of about `grain` items for
// ParallelFor; 1 task (serial) when the whole is below `serial_below`.
inline int64_t NumTasks(Parallel* par, int64_t n, int64_t grain, int64_t serial_below = 32768) {
  if (par == nullptr || par->num_threads() <= 1 || n < serial_below) return 1;
  int64_t t = (n + grain - 1) / grain;
  return t < 1 ? 1 : t;
}

// `floats` rounded up to a multiple of 16 (64 bytes): scratch regions laid
// out one after another stay cache-line aligned.
inline int64_t Align16(int64_t floats) { return (floats + 15) / 16 * 16; }

}  // namespace sinter::kernels::cpu::internal

#endif  // SINTER_KERNELS_CPU_INTERNAL_SIMD_H_
