// The emulator's __half and __nv_bfloat16 (include/cuda_fp16.h,
// include/cuda_bf16.h) against exact expectations: bit patterns worked out
// by hand, every 16-bit value round-tripped, round-to-nearest-even checked
// against an independent nearest-value search, half arithmetic rounded once,
// and, where the CUDA toolkit's headers are installed, its own host
// implementation over a sweep of float bit patterns.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "tests/cuda_emu/include/cuda_bf16.h"
#include "tests/cuda_emu/include/cuda_fp16.h"

#ifdef SINTER_HAVE_TOOLKIT_FP16
namespace sinter::cuda_emu::toolkit {
uint16_t FloatToHalf(float f);
uint16_t FloatToHalfRz(float f);
float HalfToFloat(uint16_t h);
uint16_t FloatToBFloat16(float f);
uint16_t FloatToBFloat16Rz(float f);
float BFloat16ToFloat(uint16_t h);
}  // namespace sinter::cuda_emu::toolkit
#endif

namespace sinter::cuda_emu {
namespace {

float F(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t U(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
uint16_t H(float f) { return __half_as_ushort(__float2half_rn(f)); }
uint16_t B(float f) { return __bfloat16_as_ushort(__float2bfloat16_rn(f)); }

// The value of a finite half, from its fields (independent of the shim).
double HalfValue(uint16_t h) {
  const int e = h >> 10 & 0x1f, m = h & 0x3ff;
  const double mag = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return h & 0x8000 ? -mag : mag;
}

// Round to nearest even by search: the finite halves are ordered by their
// bit patterns, so bisect for the neighbours of |d| and pick.
uint16_t NearestHalf(double d) {
  const uint16_t sign = std::signbit(d) ? 0x8000 : 0;
  const double a = std::fabs(d);
  if (a >= 65520.0) return sign | 0x7c00;  // past 65504 + half an ulp
  uint16_t lo = 0, hi = 0x7bff;
  while (lo < hi) {  // the largest pattern with value <= a
    const uint16_t mid = static_cast<uint16_t>((lo + hi + 1) / 2);
    if (HalfValue(mid) <= a) {
      lo = mid;
    } else {
      hi = static_cast<uint16_t>(mid - 1);
    }
  }
  if (HalfValue(lo) == a || lo == 0x7bff) return sign | lo;
  const double down = a - HalfValue(lo), up = HalfValue(static_cast<uint16_t>(lo + 1)) - a;
  const bool take_up = up < down || (up == down && (lo & 1));
  return sign | static_cast<uint16_t>(lo + (take_up ? 1 : 0));
}

TEST(Half, KnownBitPatterns) {
  EXPECT_EQ(H(1.f / 3.f), 0x3555);
  EXPECT_EQ(H(65504.f), 0x7bff);
  EXPECT_EQ(H(65519.996f), 0x7bff);
  EXPECT_EQ(H(65520.f), 0x7c00);  // ties to even: the even neighbour is infinity
  EXPECT_EQ(H(1e10f), 0x7c00);
  EXPECT_EQ(H(-1e10f), 0xfc00);
  EXPECT_EQ(H(F(0x33800000)), 0x0001);  // 2^-24
  EXPECT_EQ(H(F(0x33000000)), 0x0000);  // 2^-25: tie, even is zero
  EXPECT_EQ(H(F(0x33400000)), 0x0001);  // 1.5 * 2^-25
  EXPECT_EQ(H(F(0x387fc000)), 0x03ff);  // largest subnormal
  EXPECT_EQ(H(F(0x387fe000)), 0x0400);  // rounds up into the smallest normal
  EXPECT_EQ(H(1.f + 1.f / 2048), 0x3c00);
  EXPECT_EQ(H(1.f + 3.f / 2048), 0x3c02);
  EXPECT_EQ(H(F(0x00000001)), 0x0000);  // float subnormal
  EXPECT_EQ(H(-0.f), 0x8000);
  EXPECT_EQ(H(F(0x7fc00000)), 0x7fff);  // canonical NaN
  EXPECT_EQ(H(F(0xffbfffff)), 0x7fff);
  // The other rounding modes.
  EXPECT_EQ(__half_as_ushort(__float2half_rz(65520.f)), 0x7bff);
  EXPECT_EQ(__half_as_ushort(__float2half_rz(1e10f)), 0x7bff);
  EXPECT_EQ(__half_as_ushort(__float2half_ru(F(0x00000001))), 0x0001);
  EXPECT_EQ(__half_as_ushort(__float2half_rd(F(0x80000001))), 0x8001);
  EXPECT_EQ(__half_as_ushort(__float2half_rd(1.f + 1.f / 4096)), 0x3c00);
  EXPECT_EQ(__half_as_ushort(__float2half_ru(1.f + 1.f / 4096)), 0x3c01);
  EXPECT_EQ(__half_as_ushort(__float2half_ru(-1e10f)), 0xfbff);
}

TEST(Half, EveryHalfWidensExactlyAndComesBack) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = __half2float(__ushort_as_half(static_cast<uint16_t>(h)));
    const bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
    if (nan) {
      EXPECT_EQ(U(f), 0x7fffffffu) << h;  // the toolkit's canonical NaN
      EXPECT_EQ(H(f), 0x7fff);
      continue;
    }
    if ((h & 0x7fff) != 0x7c00) {
      ASSERT_EQ(f, HalfValue(static_cast<uint16_t>(h))) << h;
    }
    ASSERT_EQ(H(f), h) << h;
  }
}

TEST(Half, RoundsToNearestEvenOverAFloatSweep) {
  // Every 4099th float pattern plus the neighbourhoods of every half
  // midpoint in the normal range.
  std::vector<uint32_t> samples;
  for (uint64_t u = 0; u <= 0xffffffffu; u += 4099) samples.push_back(static_cast<uint32_t>(u));
  for (uint32_t h = 0; h < 0x7bff; h += 7) {
    const double mid =
        (HalfValue(static_cast<uint16_t>(h)) + HalfValue(static_cast<uint16_t>(h + 1))) / 2;
    const uint32_t m = U(static_cast<float>(mid));
    for (uint32_t d = 0; d < 3; ++d) samples.insert(samples.end(), {m - d, m + d, m | 0x80000000u});
  }
  for (uint32_t u : samples) {
    const float f = F(u);
    if (std::isnan(f)) continue;
    ASSERT_EQ(H(f), std::isinf(f) ? (u >> 16 & 0x8000) | 0x7c00 : NearestHalf(f)) << std::hex << u;
  }
}

TEST(Half, ArithmeticRoundsOnce) {
  uint32_t state = 12345;
  auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return static_cast<uint16_t>(state >> 16);
  };
  for (int i = 0; i < 20000; ++i) {
    const uint16_t a = next(), b = next(), c = next();
    if (((a | b | c) & 0x7c00) == 0x7c00) continue;  // finite operands only
    const __half ha = __ushort_as_half(a), hb = __ushort_as_half(b), hc = __ushort_as_half(c);
    const double x = HalfValue(a), y = HalfValue(b), z = HalfValue(c);
    ASSERT_EQ(__half_as_ushort(__hadd(ha, hb)), NearestHalf(x + y)) << a << " + " << b;
    ASSERT_EQ(__half_as_ushort(__hmul(ha, hb)), NearestHalf(x * y)) << a << " * " << b;
    ASSERT_EQ(__half_as_ushort(__hfma(ha, hb, hc)), NearestHalf(x * y + z))
        << a << " * " << b << " + " << c;
  }
}

TEST(BFloat16, KnownBitPatterns) {
  EXPECT_EQ(B(1.f / 3.f), 0x3eab);
  EXPECT_EQ(B(F(0x3f808000)), 0x3f80);  // tie, down to even
  EXPECT_EQ(B(F(0x3f818000)), 0x3f82);  // tie, up to even
  EXPECT_EQ(B(F(0x3f808001)), 0x3f81);
  EXPECT_EQ(B(F(0x7f7fffff)), 0x7f80);  // the largest float rounds to infinity
  EXPECT_EQ(B(F(0x7f7f7fff)), 0x7f7f);
  EXPECT_EQ(B(F(0x00018000)), 0x0002);  // subnormals round like normals
  EXPECT_EQ(B(F(0x80008000)), 0x8000);  // tie to even (zero), sign kept
  EXPECT_EQ(B(F(0xff800000)), 0xff80);
  EXPECT_EQ(B(F(0x7f800001)), 0x7fff);  // canonical NaN
  EXPECT_EQ(__bfloat16_as_ushort(__float2bfloat16_rz(F(0x7f7fffff))), 0x7f7f);
  EXPECT_EQ(__bfloat16_as_ushort(__float2bfloat16_ru(F(0x3f800001))), 0x3f81);
  EXPECT_EQ(__bfloat16_as_ushort(__float2bfloat16_rd(F(0xbf800001))), 0xbf81);
}

TEST(BFloat16, WideningIsTheShiftAndRoundTrips) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const float f = __bfloat162float(__ushort_as_bfloat16(static_cast<uint16_t>(b)));
    ASSERT_EQ(U(f), b << 16);
    const bool nan = (b & 0x7f80) == 0x7f80 && (b & 0x7f);
    ASSERT_EQ(B(f), nan ? 0x7fff : b) << b;
  }
}

#ifdef SINTER_HAVE_TOOLKIT_FP16
TEST(Toolkit, ConversionsMatchCudaHostCode) {
  for (uint64_t u = 0; u <= 0xffffffffu; u += 251) {
    const float f = F(static_cast<uint32_t>(u));
    ASSERT_EQ(H(f), toolkit::FloatToHalf(f)) << std::hex << u;
    ASSERT_EQ(__half_as_ushort(__float2half_rz(f)), toolkit::FloatToHalfRz(f)) << std::hex << u;
    ASSERT_EQ(B(f), toolkit::FloatToBFloat16(f)) << std::hex << u;
    ASSERT_EQ(__bfloat16_as_ushort(__float2bfloat16_rz(f)), toolkit::FloatToBFloat16Rz(f))
        << std::hex << u;
  }
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const auto s = static_cast<uint16_t>(h);
    ASSERT_EQ(U(__half2float(__ushort_as_half(s))), U(toolkit::HalfToFloat(s))) << h;
    ASSERT_EQ(U(__bfloat162float(__ushort_as_bfloat16(s))), U(toolkit::BFloat16ToFloat(s))) << h;
  }
}
#endif

}  // namespace
}  // namespace sinter::cuda_emu
