// The fakes' arithmetic (host_math.h): conversions through the host executor's own
// CUDA-rounding helpers, so library outputs round exactly as kernel stores do.
#include "tests/cuda_fake/host_math.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tests/cuda_emu/include/sinter_cuda_emu_fp.h"

namespace sinter::fake {

size_t StorageBytes(Storage t) {
  switch (t) {
    case Storage::kF32:
      return 4;
    case Storage::kF16:
    case Storage::kBF16:
      return 2;
  }
  return 4;
}

const char* StorageName(Storage t) {
  switch (t) {
    case Storage::kF32:
      return "f32";
    case Storage::kF16:
      return "f16";
    case Storage::kBF16:
      return "bf16";
  }
  return "?";
}

float LoadAs(const void* base, Storage t, int64_t i) {
  switch (t) {
    case Storage::kF32: {
      float v;
      std::memcpy(&v, static_cast<const char*>(base) + i * 4, 4);
      return v;
    }
    case Storage::kF16: {
      unsigned short h;
      std::memcpy(&h, static_cast<const char*>(base) + i * 2, 2);
      return sinter_emu_fp::HalfToFloat(h);
    }
    case Storage::kBF16: {
      unsigned short h;
      std::memcpy(&h, static_cast<const char*>(base) + i * 2, 2);
      return sinter_emu_fp::BFloat16ToFloat(h);
    }
  }
  return 0;
}

void StoreAs(void* base, Storage t, int64_t i, float v) {
  switch (t) {
    case Storage::kF32:
      std::memcpy(static_cast<char*>(base) + i * 4, &v, 4);
      return;
    case Storage::kF16: {
      const unsigned short h = sinter_emu_fp::FloatToHalf(v);
      std::memcpy(static_cast<char*>(base) + i * 2, &h, 2);
      return;
    }
    case Storage::kBF16: {
      const unsigned short h = sinter_emu_fp::FloatToBFloat16(v);
      std::memcpy(static_cast<char*>(base) + i * 2, &h, 2);
      return;
    }
  }
}

float RoundTf32(float v) {
  if (!std::isfinite(v)) return v;
  unsigned u;
  std::memcpy(&u, &v, 4);
  const unsigned lsb = (u >> 13) & 1;
  u = (u + 0xfff + lsb) & ~0x1fffu;
  std::memcpy(&v, &u, 4);
  return v;
}

float GeluTanh(float x) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

namespace {

// Four rows of C at a time against one block of B: each row of B is loaded
// once for four multiply-adds.
__attribute__((target_clones("avx2", "default"))) void GemmBlock(int64_t m, int64_t n, int64_t k,
                                                                 const float* a, const float* b,
                                                                 float* c, int64_t k0, int64_t k1,
                                                                 int64_t j0, int64_t j1) {
  const int64_t w = j1 - j0;
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    float* c0 = c + (i + 0) * n + j0;
    float* c1 = c + (i + 1) * n + j0;
    float* c2 = c + (i + 2) * n + j0;
    float* c3 = c + (i + 3) * n + j0;
    for (int64_t kk = k0; kk < k1; ++kk) {
      const float a0 = a[(i + 0) * k + kk], a1 = a[(i + 1) * k + kk];
      const float a2 = a[(i + 2) * k + kk], a3 = a[(i + 3) * k + kk];
      const float* __restrict__ br = b + kk * n + j0;
      for (int64_t j = 0; j < w; ++j) {
        const float bv = br[j];
        c0[j] += a0 * bv;
        c1[j] += a1 * bv;
        c2[j] += a2 * bv;
        c3[j] += a3 * bv;
      }
    }
  }
  for (; i < m; ++i) {
    float* ci = c + i * n + j0;
    for (int64_t kk = k0; kk < k1; ++kk) {
      const float av = a[i * k + kk];
      const float* __restrict__ br = b + kk * n + j0;
      for (int64_t j = 0; j < w; ++j) ci[j] += av * br[j];
    }
  }
}

}  // namespace

void Gemm(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
  std::fill(c, c + m * n, 0.0f);
  constexpr int64_t kKBlock = 256, kNBlock = 512;
  for (int64_t k0 = 0; k0 < k; k0 += kKBlock) {
    for (int64_t j0 = 0; j0 < n; j0 += kNBlock) {
      GemmBlock(m, n, k, a, b, c, k0, std::min(k, k0 + kKBlock), j0, std::min(n, j0 + kNBlock));
    }
  }
}

}  // namespace sinter::fake
