// Conversions between float and the 16-bit float formats with CUDA's
// results, in integer arithmetic only (so that they are exact on any host,
// whatever its FPU flags): round to nearest even (and the other three IEEE
// modes) from float, exact widening to float, overflow to infinity (or to
// the largest finite value where the mode rounds toward zero), subnormals
// kept, and the canonical NaN 0x7fff that cvt.rn.f16.f32 / cvt.rn.bf16.f32
// and the toolkit's host code produce. half -> float turns any NaN into
// 0x7fffffff as the toolkit's host code does; bf16 -> float is the 16-bit
// shift, payload and all.
#ifndef SINTER_CUDA_EMU_FP_H_
#define SINTER_CUDA_EMU_FP_H_

#include <string.h>

namespace sinter_emu_fp {

enum Round { kNearestEven, kTowardZero, kDown, kUp };

inline unsigned FloatBits(float f) {
  unsigned u;
  memcpy(&u, &f, sizeof u);
  return u;
}
inline float BitsFloat(unsigned u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

// Whether a value with discarded bits `rem` (of `half` = the weight of the
// first discarded bit, so rem < 2 * half) rounds its magnitude up.
inline bool RoundsUp(Round r, bool negative, unsigned long long rem, unsigned long long half,
                     unsigned kept) {
  if (rem == 0) return false;
  switch (r) {
    case kNearestEven:
      return rem > half || (rem == half && (kept & 1u));
    case kTowardZero:
      return false;
    case kDown:
      return negative;
    case kUp:
      return !negative;
  }
  return false;
}

inline unsigned short FloatToHalf(float f, Round r = kNearestEven) {
  const unsigned u = FloatBits(f);
  const bool neg = (u >> 31) != 0;
  const unsigned short sign = neg ? 0x8000u : 0u;
  const unsigned a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return 0x7fffu;            // NaN: canonical
  if (a == 0x7f800000u) return sign | 0x7c00u;    // infinity
  const int e = static_cast<int>(a >> 23) - 127;  // unbiased; -127 for float subnormals
  if (e > 15) {                                   // beyond the largest finite half
    const bool to_inf = r == kNearestEven || (r == kUp && !neg) || (r == kDown && neg);
    return sign | (to_inf ? 0x7c00u : 0x7bffu);
  }
  // Significand with its implicit bit (float subnormals are far below the
  // half range: treat them as their exponent's normals, they round the same).
  const unsigned long long m = (a & 0x7fffffu) | (e == -127 ? 0u : 0x800000u);
  // Bits to drop: 13 for a normal half, more below 2^-14 (half subnormals).
  int shift = 13 + (e < -14 ? -14 - e : 0);
  if (shift > 40) shift = 40;  // all of m is discarded (and below half an ulp)
  const unsigned kept = static_cast<unsigned>(m >> shift);
  const unsigned long long rem = m & ((1ull << shift) - 1);
  unsigned bits = e < -14 ? kept : (static_cast<unsigned>(e + 15) << 10) | (kept & 0x3ffu);
  // A carry runs into the exponent: the largest subnormal becomes the
  // smallest normal, 65504 + half an ulp becomes infinity.
  if (RoundsUp(r, neg, rem, 1ull << (shift - 1), kept)) ++bits;
  if (bits >= 0x7c00u && !(r == kNearestEven || (r == kUp && !neg) || (r == kDown && neg)))
    bits = 0x7bffu;
  return static_cast<unsigned short>(sign | bits);
}

inline float HalfToFloat(unsigned short h) {
  const unsigned sign = static_cast<unsigned>(h & 0x8000u) << 16;
  const unsigned e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1f) return BitsFloat(m ? 0x7fffffffu : sign | 0x7f800000u);
  if (e == 0) {
    if (m == 0) return BitsFloat(sign);
    int shift = 0;  // normalise the subnormal
    unsigned mm = m;
    while (!(mm & 0x400u)) mm <<= 1, ++shift;
    return BitsFloat(sign | static_cast<unsigned>(127 - 14 - shift) << 23 | (mm & 0x3ffu) << 13);
  }
  return BitsFloat(sign | (e + 112) << 23 | m << 13);
}

inline unsigned short FloatToBFloat16(float f, Round r = kNearestEven) {
  const unsigned u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;  // NaN: canonical
  const bool neg = (u >> 31) != 0;
  const unsigned kept = u >> 16;
  unsigned bits = kept;
  // Infinity stays; the largest finite value rounds up into infinity
  // (nearest, or toward the sign's infinity) as the mantissa carry does.
  if ((u & 0x7fffffffu) != 0x7f800000u && RoundsUp(r, neg, u & 0xffffu, 0x8000u, kept)) ++bits;
  return static_cast<unsigned short>(bits);
}

// `d` rounded to float toward zero with the last bit set when inexact
// ("round to odd"): rounding that float again to a format of at most 22 bits
// gives the correctly rounded value of d, so a half or bf16 fma can be
// computed exactly in double and rounded once.
inline float RoundToOddFloat(double d) {
  float f = static_cast<float>(d);
  if (f != f || static_cast<double>(f) == d) return f;
  if (f == 0.f) return BitsFloat((d < 0 ? 0x80000000u : 0u) | 1u);
  unsigned u = FloatBits(f);
  if (f > 0.f ? static_cast<double>(f) > d : static_cast<double>(f) < d) --u;  // toward zero
  return BitsFloat(u | 1u);
}

inline float BFloat16ToFloat(unsigned short b) { return BitsFloat(static_cast<unsigned>(b) << 16); }

}  // namespace sinter_emu_fp

#endif  // SINTER_CUDA_EMU_FP_H_
