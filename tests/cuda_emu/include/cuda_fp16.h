// __half for CUDA C++ compiled on the host by the emulator: the storage type,
// conversions with CUDA's rounding (sinter_cuda_emu_fp.h), the bit casts,
// and the arithmetic and comparison intrinsics in their float-exact form:
// a half op computed in float and rounded once is the correctly rounded half
// result for + - * / (float has more than 2 * 11 + 2 bits), and fma is
// computed in double for the same reason. Operators and implicit
// conversions follow cuda_fp16.hpp, including its __CUDA_NO_HALF_OPERATORS__
// and __CUDA_NO_HALF_CONVERSIONS__ switches.
#ifndef SINTER_CUDA_EMU_CUDA_FP16_H_
#define SINTER_CUDA_EMU_CUDA_FP16_H_

#include "sinter_cuda_emu_fp.h"
#include "vector_types.h"

#ifndef __host__
#define __host__
#endif
#ifndef __device__
#define __device__
#endif

struct __half_raw {
  unsigned short x;
};
struct __half2_raw {
  unsigned short x, y;
};

struct alignas(2) __half {
  unsigned short __x;
  __half() = default;
  constexpr __half(const __half_raw& r) : __x(r.x) {}
  __half& operator=(const __half_raw& r) {
    __x = r.x;
    return *this;
  }
  operator __half_raw() const { return __half_raw{__x}; }
#if !defined(__CUDA_NO_HALF_CONVERSIONS__)
  __half(float f) : __x(sinter_emu_fp::FloatToHalf(f)) {}
  __half(double f) : __x(sinter_emu_fp::FloatToHalf(static_cast<float>(f))) {}
  __half(int v) : __half(static_cast<float>(v)) {}
  __half(unsigned v) : __half(static_cast<float>(v)) {}
  __half(long long v) : __half(static_cast<float>(v)) {}
  __half(unsigned long long v) : __half(static_cast<float>(v)) {}
  __half(short v) : __half(static_cast<float>(v)) {}
  __half(unsigned short v) : __half(static_cast<float>(v)) {}
  operator float() const { return sinter_emu_fp::HalfToFloat(__x); }
#endif
};

struct alignas(4) __half2 {
  __half x, y;
  __half2() = default;
  constexpr __half2(const __half& a, const __half& b) : x(a), y(b) {}
  __half2(const __half2_raw& r) : x(__half_raw{r.x}), y(__half_raw{r.y}) {}
  operator __half2_raw() const { return __half2_raw{x.__x, y.__x}; }
};

typedef __half half;
typedef __half2 half2;

#define CUDART_INF_FP16 __ushort_as_half((unsigned short)0x7C00U)
#define CUDART_NAN_FP16 __ushort_as_half((unsigned short)0x7FFFU)
#define CUDART_MAX_NORMAL_FP16 __ushort_as_half((unsigned short)0x7BFFU)
#define CUDART_ONE_FP16 __ushort_as_half((unsigned short)0x3C00U)
#define CUDART_ZERO_FP16 __ushort_as_half((unsigned short)0x0000U)

inline __half sinter_emu_make_half(unsigned short bits) { return __half(__half_raw{bits}); }

// Bit casts.
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline short __half_as_short(__half h) { return static_cast<short>(h.__x); }
inline __half __ushort_as_half(unsigned short u) { return sinter_emu_make_half(u); }
inline __half __short_as_half(short s) {
  return sinter_emu_make_half(static_cast<unsigned short>(s));
}

// Conversions.
inline float __half2float(__half h) { return sinter_emu_fp::HalfToFloat(h.__x); }
inline __half __float2half(float f) { return sinter_emu_make_half(sinter_emu_fp::FloatToHalf(f)); }
inline __half __float2half_rn(float f) { return __float2half(f); }
inline __half __float2half_rz(float f) {
  return sinter_emu_make_half(sinter_emu_fp::FloatToHalf(f, sinter_emu_fp::kTowardZero));
}
inline __half __float2half_rd(float f) {
  return sinter_emu_make_half(sinter_emu_fp::FloatToHalf(f, sinter_emu_fp::kDown));
}
inline __half __float2half_ru(float f) {
  return sinter_emu_make_half(sinter_emu_fp::FloatToHalf(f, sinter_emu_fp::kUp));
}
inline __half __int2half_rn(int i) { return __float2half(static_cast<float>(i)); }
inline __half __uint2half_rn(unsigned i) { return __float2half(static_cast<float>(i)); }
inline float __low2float(__half2 h) { return __half2float(h.x); }
inline float __high2float(__half2 h) { return __half2float(h.y); }
inline __half __low2half(__half2 h) { return h.x; }
inline __half __high2half(__half2 h) { return h.y; }
inline __half2 __halves2half2(__half a, __half b) { return __half2(a, b); }
inline __half2 __half2half2(__half a) { return __half2(a, a); }
inline __half2 __floats2half2_rn(float a, float b) {
  return __half2(__float2half(a), __float2half(b));
}
inline __half2 __float2half2_rn(float a) { return __floats2half2_rn(a, a); }

// Arithmetic, rounded once from the exact (float or double) result.
inline __half __hadd(__half a, __half b) { return __float2half(__half2float(a) + __half2float(b)); }
inline __half __hsub(__half a, __half b) { return __float2half(__half2float(a) - __half2float(b)); }
inline __half __hmul(__half a, __half b) { return __float2half(__half2float(a) * __half2float(b)); }
inline __half __hdiv(__half a, __half b) { return __float2half(__half2float(a) / __half2float(b)); }
inline __half __hneg(__half a) { return sinter_emu_make_half(a.__x ^ 0x8000u); }
inline __half __habs(__half a) { return sinter_emu_make_half(a.__x & 0x7fffu); }
inline __half __hfma(__half a, __half b, __half c) {
  return __float2half(sinter_emu_fp::RoundToOddFloat(
      static_cast<double>(__half2float(a)) * __half2float(b) + __half2float(c)));
}
inline bool __hisnan(__half a) { return (a.__x & 0x7fffu) > 0x7c00u; }
inline int __hisinf(__half a) { return a.__x == 0x7c00u ? 1 : a.__x == 0xfc00u ? -1 : 0; }
inline bool __heq(__half a, __half b) { return __half2float(a) == __half2float(b); }
inline bool __hne(__half a, __half b) {
  return !__hisnan(a) && !__hisnan(b) && __half2float(a) != __half2float(b);
}
inline bool __hlt(__half a, __half b) { return __half2float(a) < __half2float(b); }
inline bool __hle(__half a, __half b) { return __half2float(a) <= __half2float(b); }
inline bool __hgt(__half a, __half b) { return __half2float(a) > __half2float(b); }
inline bool __hge(__half a, __half b) { return __half2float(a) >= __half2float(b); }
inline __half __hmax(__half a, __half b) {
  if (__hisnan(a)) return __hisnan(b) ? CUDART_NAN_FP16 : b;
  if (__hisnan(b)) return a;
  return __half2float(a) >= __half2float(b) ? a : b;
}
inline __half __hmin(__half a, __half b) {
  if (__hisnan(a)) return __hisnan(b) ? CUDART_NAN_FP16 : b;
  if (__hisnan(b)) return a;
  return __half2float(a) <= __half2float(b) ? a : b;
}
inline __half2 __hadd2(__half2 a, __half2 b) { return __half2(__hadd(a.x, b.x), __hadd(a.y, b.y)); }
inline __half2 __hsub2(__half2 a, __half2 b) { return __half2(__hsub(a.x, b.x), __hsub(a.y, b.y)); }
inline __half2 __hmul2(__half2 a, __half2 b) { return __half2(__hmul(a.x, b.x), __hmul(a.y, b.y)); }
inline __half2 __hfma2(__half2 a, __half2 b, __half2 c) {
  return __half2(__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y));
}
inline float2 __half22float2(__half2 h) { return make_float2(__low2float(h), __high2float(h)); }
inline __half2 __float22half2_rn(float2 f) { return __floats2half2_rn(f.x, f.y); }

#if !defined(__CUDA_NO_HALF_OPERATORS__)
inline __half operator+(const __half& a, const __half& b) { return __hadd(a, b); }
inline __half operator-(const __half& a, const __half& b) { return __hsub(a, b); }
inline __half operator*(const __half& a, const __half& b) { return __hmul(a, b); }
inline __half operator/(const __half& a, const __half& b) { return __hdiv(a, b); }
inline __half operator-(const __half& a) { return __hneg(a); }
inline __half operator+(const __half& a) { return a; }
inline __half& operator+=(__half& a, const __half& b) { return a = __hadd(a, b); }
inline __half& operator-=(__half& a, const __half& b) { return a = __hsub(a, b); }
inline __half& operator*=(__half& a, const __half& b) { return a = __hmul(a, b); }
inline __half& operator/=(__half& a, const __half& b) { return a = __hdiv(a, b); }
inline bool operator==(const __half& a, const __half& b) { return __heq(a, b); }
inline bool operator!=(const __half& a, const __half& b) { return __hne(a, b); }
inline bool operator<(const __half& a, const __half& b) { return __hlt(a, b); }
inline bool operator<=(const __half& a, const __half& b) { return __hle(a, b); }
inline bool operator>(const __half& a, const __half& b) { return __hgt(a, b); }
inline bool operator>=(const __half& a, const __half& b) { return __hge(a, b); }
#endif

#endif  // SINTER_CUDA_EMU_CUDA_FP16_H_
