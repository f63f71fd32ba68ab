// Blocked single-precision GEMM.
//
// C is cut into tasks of (some M blocks of MC rows) x (NC columns), so threads
// share no packed data and need no barrier. Per task and KC slice of K, the
// B chunk (KC x NC) is packed into NR-column panels and each A block
// (MC x KC) into MR-row micro-panels, both in thread-local buffers; a
// register-blocked micro-kernel then computes MR x NR tiles of C. Two tile
// shapes, one picked per process from the CPU's features:
//  - AVX-512 (x86-64-v4): 12x32 tiles, 24 zmm accumulators, the A values
//    broadcast from memory inside the FMAs. Each A micro-panel (12 x 256,
//    12 KB) stays in L1 while it sweeps every B panel of the chunk
//    (256 x 512 floats, 512 KB, in L2).
//  - AVX2 (x86-64-v3; plain x86-64 compiles the same source): 6x16 tiles, 12
//    ymm accumulators; each B panel (16 KB) stays in L1 while the A block
//    (~150 KB, L2) sweeps it.
// The bias and accumulate epilogues are applied when the first K slice is
// stored; the block callback runs once a block's last K slice is stored, so
// the caller's epilogue finds the block still in cache.
// Products with at most 4 rows (nn.Linear at small batch, LSTM steps) are
// GEMV-like: packing B would cost as much as the product, so they stream B
// once with dot products (B transposed) or row updates (B plain).
#include <algorithm>
#include <atomic>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/internal_gemm.h"
#include "kernels/cpu/internal_simd.h"
#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {
namespace internal {
namespace {

// Tile shapes and cache blocking of the two micro-kernels.
struct Avx2Shape {
  using V = V8;
  static constexpr int kMr = 6, kNr = 16;
  static constexpr int64_t kKc = 256, kMc = 144, kNc = 256;
  static constexpr bool kAPanelOuter = false;  // B panel in L1, A block in L2
};
#if SINTER_HAVE_AVX512
typedef float V16 __attribute__((vector_size(64)));
struct Avx512Shape {
  using V = V16;
  static constexpr int kMr = 12, kNr = 32;
  static constexpr int64_t kKc = 256, kMc = 96, kNc = 512;
  static constexpr bool kAPanelOuter = true;  // A micro-panel in L1, B chunk in L2
};
constexpr int64_t kPackFloats = std::max((Avx2Shape::kMc + Avx2Shape::kNc) * Avx2Shape::kKc,
                                         (Avx512Shape::kMc + Avx512Shape::kNc) * Avx512Shape::kKc);
#else
constexpr int64_t kPackFloats = (Avx2Shape::kMc + Avx2Shape::kNc) * Avx2Shape::kKc;
#endif

template <class V>
constexpr int kLanes = static_cast<int>(sizeof(V) / sizeof(float));

SINTER_INLINE V8 LoadV(const float* p, V8*) { return Load(p); }
SINTER_INLINE void StoreV(float* p, V8 v) { Store(p, v); }
SINTER_INLINE V8 LoadPartV(const float* p, int n, V8*) { return LoadPart(p, n); }
SINTER_INLINE void StorePartV(float* p, V8 v, int n) { StorePart(p, v, n); }
#if SINTER_HAVE_AVX512
// Plain vector code (no intrinsics): these inline into templates compiled
// for the default target before they reach the AVX-512 function.
SINTER_INLINE V16 LoadV(const float* p, V16*) {
  V16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
SINTER_INLINE void StoreV(float* p, V16 v) { std::memcpy(p, &v, sizeof v); }
SINTER_INLINE V16 LoadPartV(const float* p, int n, V16*) {
  V16 v{};
  std::memcpy(&v, p, static_cast<size_t>(n) * sizeof(float));
  return v;
}
SINTER_INLINE void StorePartV(float* p, V16 v, int n) {
  std::memcpy(p, &v, static_cast<size_t>(n) * sizeof(float));
}
#endif

struct Args {
  int64_t m, n, k;
  const float* a;
  int64_t lda;
  const float* b;
  int64_t ldb;
  bool bt;
  float* c;
  int64_t ldc;
  GemmEpilogue ep;
  // Non-null: B already packed in full-K panels of the micro-kernel's width
  // (GemmPackB), read in place instead of packed per K slice.
  const float* bp = nullptr;
};

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t RoundUp(int64_t a, int64_t b) { return CeilDiv(a, b) * b; }

void BlockDone(const Args& g, int64_t row0, int64_t rows, int64_t col0, int64_t cols) {
  if (g.ep.block != nullptr) g.ep.block(g.ep.block_ctx, row0, rows, col0, cols);
}

// Stores MR x (kNv vectors) accumulators into C[row.., col..] (mr x nr
// valid), adding C's old value when add_c and the bias when `first`.
template <class S, int kNv>
SINTER_INLINE void StoreTile(typename S::V (&acc)[S::kMr][kNv], const Args& g, int64_t row,
                             int64_t col, int mr, int nr, bool first) {
  using V = typename S::V;
  constexpr int kW = kLanes<V>, kCols = kNv * kW;
  V* tag = nullptr;  // selects the LoadV overload
  const bool add_c = !first || g.ep.accumulate;
  if (first && g.ep.bias != nullptr) {
    if (g.ep.bias_per_row) {
      for (int r = 0; r < mr; ++r) {
        const float bv = g.ep.bias[row + r];
#pragma GCC unroll 4
        for (int h = 0; h < kNv; ++h) acc[r][h] += bv;
      }
    } else {
      V bv[kNv];
#pragma GCC unroll 4
      for (int h = 0; h < kNv; ++h) {
        const int cols = std::min(kW, nr - h * kW);
        bv[h] = cols == kW ? LoadV(g.ep.bias + col + h * kW, tag)
                : cols > 0 ? LoadPartV(g.ep.bias + col + h * kW, cols, tag)
                           : V{};
      }
#pragma GCC unroll 16
      for (int r = 0; r < S::kMr; ++r) {
#pragma GCC unroll 4
        for (int h = 0; h < kNv; ++h) acc[r][h] += bv[h];
      }
    }
  }
  float* c = g.c + row * g.ldc + col;
  if (mr == S::kMr && nr == kCols) {
#pragma GCC unroll 16
    for (int r = 0; r < S::kMr; ++r) {
      float* cr = c + r * g.ldc;
#pragma GCC unroll 4
      for (int h = 0; h < kNv; ++h) {
        if (add_c) acc[r][h] += LoadV(cr + h * kW, tag);
        StoreV(cr + h * kW, acc[r][h]);
      }
    }
    return;
  }
  for (int r = 0; r < mr; ++r) {
    float* cr = c + r * g.ldc;
    for (int h = 0; h < kNv; ++h) {
      const int cols = std::min(kW, nr - kW * h);
      if (cols <= 0) break;
      V v = acc[r][h];
      if (add_c) v += LoadPartV(cr + kW * h, cols, tag);
      StorePartV(cr + kW * h, v, cols);
    }
  }
}

// r[i][j] -> r[j][i]: an 8x8 block transposed in registers.
SINTER_INLINE void Transpose8(V8 (&r)[8]) {
  V8 t[8], u[8];
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {
    t[i] = SINTER_SHUFFLE8(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = SINTER_SHUFFLE8(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
#pragma GCC unroll 2
  for (int i = 0; i < 8; i += 4) {
    u[i] = SINTER_SHUFFLE8(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 1] = SINTER_SHUFFLE8(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[i + 2] = SINTER_SHUFFLE8(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 3] = SINTER_SHUFFLE8(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    r[j] = SINTER_SHUFFLE8(u[j], u[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[j + 4] = SINTER_SHUFFLE8(u[j], u[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

// A[mc, kc] -> micro-panels of MR rows, k-major, zero-padded to whole panels.
// Whole panels go 4 rows x 8 k at a time through a register transpose: the
// weights are packed once per N chunk, which costs as much as the product
// when N is small (7x7 images) unless it runs at vector speed.
template <int kMr>
SINTER_INLINE void PackA(const float* a, int64_t lda, int64_t mc, int64_t kc, float* dst) {
  typedef float V4 __attribute__((vector_size(16)));
  for (int64_t i = 0; i < mc; i += kMr, dst += kMr * kc) {
    const float* s = a + i * lda;
    if (mc - i >= kMr) {
      int64_t p = 0;
      if constexpr (kMr % 4 == 0) {
        for (; p + 8 <= kc; p += 8) {
#pragma GCC unroll 4
          for (int r = 0; r < kMr; r += 4) {
            const float* q = s + r * lda + p;
            V8 r0 = Load(q), r1 = Load(q + lda), r2 = Load(q + 2 * lda), r3 = Load(q + 3 * lda);
            V8 t0 = SINTER_SHUFFLE8(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13);
            V8 t1 = SINTER_SHUFFLE8(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
            V8 t2 = SINTER_SHUFFLE8(r2, r3, 0, 8, 1, 9, 4, 12, 5, 13);
            V8 t3 = SINTER_SHUFFLE8(r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
            // u_j holds k = p + j in its low half and k = p + j + 4 in its high half.
            V8 u[4] = {SINTER_SHUFFLE8(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13),
                       SINTER_SHUFFLE8(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15),
                       SINTER_SHUFFLE8(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13),
                       SINTER_SHUFFLE8(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15)};
            float* d = dst + p * kMr + r;
#pragma GCC unroll 4
            for (int j = 0; j < 4; ++j) {
              V4 lo = {u[j][0], u[j][1], u[j][2], u[j][3]},
                 hi = {u[j][4], u[j][5], u[j][6], u[j][7]};
              std::memcpy(d + j * kMr, &lo, sizeof lo);
              std::memcpy(d + (j + 4) * kMr, &hi, sizeof hi);
            }
          }
        }
      } else if constexpr (kMr < 8) {
        // The AVX2 tile's 6 rows: an 8x8 transpose with two zero rows, the
        // first kMr lanes of each column stored (scalar copies ran at a tenth
        // of this, and NHWC convolutions pack their activations here).
        for (; p + 8 <= kc; p += 8) {
          V8 r[8];
#pragma GCC unroll 8
          for (int q = 0; q < 8; ++q) r[q] = q < kMr ? Load(s + q * lda + p) : V8{};
          Transpose8(r);
#pragma GCC unroll 8
          for (int j = 0; j < 8; ++j) std::memcpy(dst + (p + j) * kMr, &r[j], kMr * sizeof(float));
        }
      }
      for (; p < kc; ++p) {
#pragma GCC unroll 16
        for (int r = 0; r < kMr; ++r) dst[p * kMr + r] = s[r * lda + p];
      }
    } else {
      int64_t mr = mc - i;
      for (int64_t p = 0; p < kc; ++p) {
        for (int r = 0; r < kMr; ++r) dst[p * kMr + r] = r < mr ? s[r * lda + p] : 0.f;
      }
    }
  }
}

// B[p0 .. p0+kc, j0 .. j0+nc] (B stored [k, n]) -> kc x NR panels, one after
// another, zero-padded columns. Row by row: long contiguous reads, as B rows
// can be far apart (im2col of a large image).
template <int kNr>
SINTER_INLINE void PackBPlain(const Args& g, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                              float* bpack) {
  const int64_t full = nc / kNr * kNr;
  for (int64_t p = 0; p < kc; ++p) {
    const float* src = g.b + (p0 + p) * g.ldb + j0;
    float* dst = bpack + p * kNr;
    for (int64_t j = 0; j < full; j += kNr) {
#pragma GCC unroll 4
      for (int v = 0; v < kNr; v += 8) Store(dst + j * kc + v, Load(src + j + v));
    }
    if (full < nc) {
      for (int64_t j = 0; j < kNr; ++j) dst[full * kc + j] = full + j < nc ? src[full + j] : 0.f;
    }
  }
}

// B^T[p0 .. p0+kc, j0 .. j0+nr] (B stored [n, k]) -> kc x NR panel,
// zero-padded columns; 8x8 blocks are transposed in registers.
template <int kNr>
SINTER_INLINE void PackBTransposed(const Args& g, int64_t p0, int64_t kc, int64_t j0, int64_t nr,
                                   float* dst) {
  const float* s = g.b + j0 * g.ldb + p0;
  for (int64_t jb = 0; jb < kNr; jb += 8) {
    const float* rows[8];
    for (int q = 0; q < 8; ++q) rows[q] = jb + q < nr ? s + (jb + q) * g.ldb : nullptr;
    int64_t p = 0;
    if (jb + 8 <= nr) {
      for (; p + 8 <= kc; p += 8) {
        V8 r[8];
#pragma GCC unroll 8
        for (int q = 0; q < 8; ++q) r[q] = Load(rows[q] + p);
        Transpose8(r);
        float* d = dst + p * kNr + jb;
#pragma GCC unroll 8
        for (int q = 0; q < 8; ++q) Store(d + q * kNr, r[q]);
      }
    }
    for (; p < kc; ++p) {
      for (int q = 0; q < 8; ++q) dst[p * kNr + jb + q] = rows[q] ? rows[q][p] : 0.f;
    }
  }
}

// C tile [row.., col..] (mr x nr) from a packed A micro-panel and B panel,
// over the panel's first kNv vectors of columns: all of them, or half for a
// last panel half empty (a C of 24 or 40 columns would otherwise spend a
// fifth to a quarter of its FMAs on zeros).
template <class S, int kNv = S::kNr / kLanes<typename S::V>>
SINTER_INLINE void Micro(int64_t kc, const float* __restrict a, const float* __restrict b,
                         const Args& g, int64_t row, int64_t col, int mr, int nr, bool first) {
  using V = typename S::V;
  constexpr int kW = kLanes<V>;
  V* tag = nullptr;
  // kc >= 1: the first step initialises the accumulators. (Zero-filling
  // them instead compiled to a rep stos of the stack copy that the partial
  // tile path indexes: 6% of a large GEMM.)
  V acc[S::kMr][kNv];
  {
    V bv[kNv];
#pragma GCC unroll 4
    for (int h = 0; h < kNv; ++h) bv[h] = LoadV(b + h * kW, tag);
#pragma GCC unroll 16
    for (int r = 0; r < S::kMr; ++r) {
#pragma GCC unroll 4
      for (int h = 0; h < kNv; ++h) acc[r][h] = a[r] * bv[h];
    }
    a += S::kMr;
    b += S::kNr;
  }
  // The C tile is read back after the K loop (bias, accumulate): fetching it
  // now hides the miss behind kc iterations of FMAs.
  if (!first || g.ep.accumulate) {
    float* c = g.c + row * g.ldc + col;
    for (int r = 0; r < mr; ++r) {
      __builtin_prefetch(c + r * g.ldc, 1);
      __builtin_prefetch(c + r * g.ldc + S::kNr - 1, 1);
    }
  }
  for (int64_t p = 1; p < kc; ++p) {
    V bv[kNv];
#pragma GCC unroll 4
    for (int h = 0; h < kNv; ++h) bv[h] = LoadV(b + h * kW, tag);
#pragma GCC unroll 16
    for (int r = 0; r < S::kMr; ++r) {
      const float av = a[r];
#pragma GCC unroll 4
      for (int h = 0; h < kNv; ++h) acc[r][h] += av * bv[h];
    }
    a += S::kMr;
    b += S::kNr;
  }
  StoreTile<S, kNv>(acc, g, row, col, mr, nr, first);
}

// Micro with the half-width variant for a last panel of at most half its
// columns.
template <class S>
SINTER_INLINE void MicroAny(int64_t kc, const float* __restrict a, const float* __restrict b,
                            const Args& g, int64_t row, int64_t col, int mr, int nr, bool first) {
  constexpr int kNv = S::kNr / kLanes<typename S::V>;
  if constexpr (kNv % 2 == 0) {
    if (nr <= S::kNr / 2) return Micro<S, kNv / 2>(kc, a, b, g, row, col, mr, nr, first);
  }
  Micro<S>(kc, a, b, g, row, col, mr, nr, first);
}

// One task: C[i0 .. i1, j0 .. j0+nc] over all of K, in M blocks of mc rows.
// Per K slice the B chunk is packed once and reused by every M block.
template <class S>
SINTER_INLINE void TileImpl(const Args& g, int64_t i0, int64_t i1, int64_t mc, int64_t j0,
                            int64_t nc, float* apack, float* bpack) {
  constexpr int kMr = S::kMr, kNr = S::kNr;
  for (int64_t p0 = 0; p0 < g.k; p0 += S::kKc) {
    const int64_t kc = std::min(S::kKc, g.k - p0);
    const bool first = p0 == 0, last = p0 + kc == g.k;
    // The chunk's panels at rows p0 .. p0+kc: column j's panel starts at
    // bchunk + j * bstride.
    const float* bchunk = g.bp != nullptr ? g.bp + (j0 / kNr * g.k + p0) * kNr : bpack;
    const int64_t bstride = g.bp != nullptr ? g.k : kc;
    if (g.bp == nullptr && g.bt) {
      for (int64_t j = 0; j < nc; j += kNr) {
        PackBTransposed<kNr>(g, p0, kc, j0 + j, std::min<int64_t>(kNr, nc - j), bpack + j * kc);
      }
    } else if (g.bp == nullptr) {
      PackBPlain<kNr>(g, p0, kc, j0, nc, bpack);
    }
    for (int64_t ib = i0; ib < i1; ib += mc) {
      const int64_t mb = std::min(mc, i1 - ib);
      PackA<kMr>(g.a + ib * g.lda + p0, g.lda, mb, kc, apack);
      if constexpr (S::kAPanelOuter) {
        for (int64_t i = 0; i < mb; i += kMr) {
          const int mr = static_cast<int>(std::min<int64_t>(kMr, mb - i));
          for (int64_t j = 0; j < nc; j += kNr) {
            const int nr = static_cast<int>(std::min<int64_t>(kNr, nc - j));
            MicroAny<S>(kc, apack + i * kc, bchunk + j * bstride, g, ib + i, j0 + j, mr, nr, first);
          }
        }
      } else {
        for (int64_t j = 0; j < nc; j += kNr) {
          const int nr = static_cast<int>(std::min<int64_t>(kNr, nc - j));
          for (int64_t i = 0; i < mb; i += kMr) {
            const int mr = static_cast<int>(std::min<int64_t>(kMr, mb - i));
            MicroAny<S>(kc, apack + i * kc, bchunk + j * bstride, g, ib + i, j0 + j, mr, nr, first);
          }
        }
      }
      if (last) BlockDone(g, ib, mb, j0, nc);
    }
  }
}

using TileFn = void (*)(const Args& g, int64_t i0, int64_t i1, int64_t mc, int64_t j0, int64_t nc,
                        float* apack, float* bpack);

SINTER_MULTIVERSION void TileAvx2(const Args& g, int64_t i0, int64_t i1, int64_t mc, int64_t j0,
                                  int64_t nc, float* apack, float* bpack) {
  TileImpl<Avx2Shape>(g, i0, i1, mc, j0, nc, apack, bpack);
}
#if SINTER_HAVE_AVX512
SINTER_TARGET_AVX512 void TileAvx512(const Args& g, int64_t i0, int64_t i1, int64_t mc, int64_t j0,
                                     int64_t nc, float* apack, float* bpack) {
  TileImpl<Avx512Shape>(g, i0, i1, mc, j0, nc, apack, bpack);
}
#endif

// All MR (<= 4) rows of C, columns j0 .. j1, with B stored [k, n]: row
// updates over 128-column chunks, so B is read in contiguous runs.
template <int MR>
SINTER_INLINE void SmallRowsPlain(const Args& g, int64_t j0, int64_t j1) {
  constexpr int64_t kW = 128;
  alignas(32) float acc[MR][kW];
  for (int64_t j = j0; j < j1; j += kW) {
    const int64_t w = std::min(kW, j1 - j), wv = w / 8 * 8;
    for (int r = 0; r < MR; ++r) std::fill(acc[r], acc[r] + w, 0.f);
    for (int64_t p = 0; p < g.k; ++p) {
      const float* b = g.b + p * g.ldb + j;
      float av[MR];
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) av[r] = g.a[r * g.lda + p];
      for (int64_t v = 0; v < wv; v += 8) {
        V8 bv = Load(b + v);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) Store(acc[r] + v, Load(acc[r] + v) + av[r] * bv);
      }
      for (int64_t v = wv; v < w; ++v) {
        for (int r = 0; r < MR; ++r) acc[r][v] += av[r] * b[v];
      }
    }
    for (int r = 0; r < MR; ++r) {
      float* c = g.c + r * g.ldc + j;
      for (int64_t v = 0; v < w; ++v) {
        float x = acc[r][v] + (g.ep.bias ? g.ep.bias[g.ep.bias_per_row ? r : j + v] : 0.f);
        c[v] = g.ep.accumulate ? c[v] + x : x;
      }
    }
  }
}

// Rows i0 .. i0+MR of C (MR <= 2), columns j .. j+nj (nj <= 4), B stored
// [n, k]: dot products.
template <int MR>
SINTER_INLINE void SmallDots(const Args& g, int64_t i0, int64_t j, int nj) {
  const float* a[MR];
  const float* b[4];
  for (int r = 0; r < MR; ++r) a[r] = g.a + (i0 + r) * g.lda;
  for (int q = 0; q < 4; ++q) b[q] = g.b + (j + std::min(q, nj - 1)) * g.ldb;
  V8 acc[MR][4] = {};
  int64_t p = 0;
  for (; p + 8 <= g.k; p += 8) {
    V8 bv[4] = {Load(b[0] + p), Load(b[1] + p), Load(b[2] + p), Load(b[3] + p)};
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      V8 av = Load(a[r] + p);
#pragma GCC unroll 8
      for (int q = 0; q < 4; ++q) acc[r][q] += av * bv[q];
    }
  }
  if (p < g.k) {
    int64_t rem = g.k - p;
    V8 bv[4] = {LoadPart(b[0] + p, rem), LoadPart(b[1] + p, rem), LoadPart(b[2] + p, rem),
                LoadPart(b[3] + p, rem)};
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      V8 av = LoadPart(a[r] + p, rem);
#pragma GCC unroll 8
      for (int q = 0; q < 4; ++q) acc[r][q] += av * bv[q];
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* c = g.c + (i0 + r) * g.ldc + j;
    for (int q = 0; q < nj; ++q) {
      float v = HSum(acc[r][q]);
      if (g.ep.bias) v += g.ep.bias[g.ep.bias_per_row ? i0 + r : j + q];
      c[q] = g.ep.accumulate ? c[q] + v : v;
    }
  }
}

// All m (<= 4) rows of C, columns j0 .. j1.
SINTER_MULTIVERSION void SmallM(const Args& g, int64_t j0, int64_t j1) {
  if (!g.bt) {
    switch (g.m) {
      case 1:
        return SmallRowsPlain<1>(g, j0, j1);
      case 2:
        return SmallRowsPlain<2>(g, j0, j1);
      case 3:
        return SmallRowsPlain<3>(g, j0, j1);
      default:
        return SmallRowsPlain<4>(g, j0, j1);
    }
  }
  for (int64_t j = j0; j < j1; j += 4) {
    int nj = static_cast<int>(std::min<int64_t>(4, j1 - j));
    int64_t i = 0;
    for (; i + 2 <= g.m; i += 2) SmallDots<2>(g, i, j, nj);
    if (i < g.m) SmallDots<1>(g, i, j, nj);
  }
}

// Used only if the packing buffer cannot be allocated.
void NaiveTile(const Args& g, int64_t i0, int64_t mc, int64_t j0, int64_t nc) {
  for (int64_t i = i0; i < i0 + mc; ++i) {
    for (int64_t j = j0; j < j0 + nc; ++j) {
      float s = 0.f;
      for (int64_t p = 0; p < g.k; ++p) {
        s += g.a[i * g.lda + p] * (g.bt ? g.b[j * g.ldb + p] : g.b[p * g.ldb + j]);
      }
      if (g.ep.bias) s += g.ep.bias[g.ep.bias_per_row ? i : j];
      float& c = g.c[i * g.ldc + j];
      c = g.ep.accumulate ? c + s : s;
    }
  }
  BlockDone(g, i0, mc, j0, nc);
}

// The calling thread's packing buffers (A block, then B chunk), allocated
// once per thread: about 1 MB with the AVX-512 blocking.
float* ThreadPackBuffer() {
  struct Buffer {
    float* p = static_cast<float*>(std::aligned_alloc(64, kPackFloats * sizeof(float)));
    ~Buffer() { std::free(p); }
  };
  static thread_local Buffer buffer;
  return buffer.p;
}

// The product with more than 4 rows, cut into tasks of S's blocking.
template <class S>
void Blocked(const Args& g, TileFn tile, int threads, Parallel* p) {
  const int64_t m = g.m, n = g.n;
  const int64_t mblocks = CeilDiv(m, S::kMc);
  const int64_t mc = RoundUp(CeilDiv(m, mblocks), S::kMr);
  int64_t nchunks = CeilDiv(n, S::kNc);
  if (threads > 1 && mblocks * nchunks < 4 * threads) {
    nchunks = std::max(nchunks, std::min(CeilDiv(n, 64), CeilDiv(4 * threads, mblocks)));
  }
  const int64_t nc = RoundUp(CeilDiv(n, nchunks), S::kNr);
  nchunks = CeilDiv(n, nc);
  // A task is a group of M blocks times one N chunk: all M blocks when
  // serial (B packed once), fewer when threads need the tasks.
  const int64_t group =
      threads > 1 ? std::clamp<int64_t>(mblocks * nchunks / (4 * threads), 1, mblocks) : mblocks;
  const int64_t mgroups = CeilDiv(mblocks, group);
  ParallelFor(p, mgroups * nchunks, [&](int64_t t0, int64_t t1) {
    float* buf = ThreadPackBuffer();
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i0 = t / nchunks * group * mc, j0 = t % nchunks * nc;
      const int64_t i1 = std::min(m, i0 + group * mc), tn = std::min(nc, n - j0);
      if (buf != nullptr) {
        tile(g, i0, i1, mc, j0, tn, buf, buf + S::kMc * S::kKc);
      } else {
        NaiveTile(g, i0, i1 - i0, j0, tn);
      }
    }
  });
}

// Threads worth a product: products under 2^18 multiply-adds run serially.
int GemmThreads(int64_t m, int64_t n, int64_t k, Parallel* par) {
  return par != nullptr && static_cast<double>(m) * n * k >= (1 << 18) ? par->num_threads() : 1;
}

// -1: not decided yet; then 0 (AVX2 / plain) or 1 (AVX-512).
std::atomic<int> g_avx512{-1};

bool CpuHasAvx512() {
#if SINTER_HAVE_AVX512
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

#if SINTER_HAVE_AVX512
// AMD's family 19h (Zen 4) runs each 512-bit FMA as two 256-bit halves: the
// same peak as AVX2, and its 12x32 tiles measured 5-25% slower than the
// 6x16 ones on every ResNet-50 convolution shape (less of each tile stays
// in L1). Later AMD cores and Intel's have full-width units.
bool HalfWidthAvx512() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
  const bool amd = ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163;  // AuthenticAMD
  if (!amd || !__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const unsigned base = (eax >> 8) & 0xf;
  return base + (base == 0xf ? (eax >> 20) & 0xff : 0) == 0x19;
}

bool UseAvx512() {
  int v = g_avx512.load(std::memory_order_relaxed);
  if (v < 0) {
    // SINTER_NO_AVX512=1 measures or debugs the AVX2 path on an AVX-512 CPU.
    const char* off = std::getenv("SINTER_NO_AVX512");
    v = CpuHasAvx512() && !HalfWidthAvx512() && !(off != nullptr && off[0] != '\0' && off[0] != '0')
            ? 1
            : 0;
    g_avx512.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}
#endif

}  // namespace

void BlockRangesFn(void* ctx, int64_t row0, int64_t rows, int64_t col0, int64_t cols) {
  const auto* r = static_cast<const BlockRanges*>(ctx);
  const int64_t first = r->base + row0 * r->ldc + col0;
  if (cols == r->ldc) return r->done->fn(r->done->ctx, first, first + rows * cols);
  for (int64_t i = 0; i < rows; ++i) {
    r->done->fn(r->done->ctx, first + i * r->ldc, first + i * r->ldc + cols);
  }
}

bool SetGemmPath(GemmPath path) {
  switch (path) {
    case GemmPath::kDefault:
      g_avx512.store(-1, std::memory_order_relaxed);
      return true;
    case GemmPath::kAvx2:
      g_avx512.store(0, std::memory_order_relaxed);
      return true;
    case GemmPath::kAvx512:
      if (!CpuHasAvx512()) return false;
      g_avx512.store(1, std::memory_order_relaxed);
      return true;
  }
  return false;
}

void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
          bool b_transposed, float* c, int64_t ldc, const GemmEpilogue& ep, Parallel* par) {
  if (m <= 0 || n <= 0) return;
  const Args g{m, n, k, a, lda, b, ldb, b_transposed, c, ldc, ep};
  if (k <= 0) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        float v = ep.bias ? ep.bias[ep.bias_per_row ? i : j] : 0.f;
        c[i * ldc + j] = ep.accumulate ? c[i * ldc + j] + v : v;
      }
    }
    BlockDone(g, 0, m, 0, n);
    return;
  }
  const int threads = GemmThreads(m, n, k, par);
  Parallel* p = threads > 1 ? par : nullptr;
  if (m <= 4) {
    int64_t tasks = threads > 1 ? std::min<int64_t>(CeilDiv(n, 64), 4 * threads) : 1;
    int64_t chunk = RoundUp(CeilDiv(n, tasks), 16);
    ParallelFor(p, CeilDiv(n, chunk), [&](int64_t t0, int64_t t1) {
      const int64_t j0 = t0 * chunk, j1 = std::min(n, t1 * chunk);
      SmallM(g, j0, j1);
      BlockDone(g, 0, m, j0, j1 - j0);
    });
    return;
  }
#if SINTER_HAVE_AVX512
  // 32-column tiles waste lanes on a narrow C (the 16 or 100 outputs of a
  // 4x4 or 10x10 image): such products keep the 16-column tiles, which run
  // as fast per useful lane on CPUs that split 512-bit FMAs in two.
  if (UseAvx512() && RoundUp(n, Avx512Shape::kNr) * 8 <= RoundUp(n, Avx2Shape::kNr) * 9) {
    return Blocked<Avx512Shape>(g, &TileAvx512, threads, p);
  }
#endif
  Blocked<Avx2Shape>(g, &TileAvx2, threads, p);
}

int GemmPackedWidth() {
#if SINTER_HAVE_AVX512
  if (UseAvx512()) return Avx512Shape::kNr;
#endif
  return Avx2Shape::kNr;
}

int64_t GemmPackedBFloats(int64_t k, int64_t n, int width) { return RoundUp(n, width) * k; }

void GemmPackB(int64_t k, int64_t n, const float* b, int64_t ldb, bool b_transposed, int width,
               float* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += width) {
    for (int64_t p = 0; p < k; ++p) {
      for (int64_t q = 0; q < width; ++q) {
        const int64_t j = j0 + q;
        *dst++ = j >= n ? 0.f : b_transposed ? b[j * ldb + p] : b[p * ldb + j];
      }
    }
  }
}

void GemmPacked(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bp,
                int width, float* c, int64_t ldc, const GemmEpilogue& ep, Parallel* par) {
  if (m <= 0 || n <= 0 || k <= 0) return Gemm(m, n, k, a, lda, nullptr, 0, false, c, ldc, ep, par);
  Args g{m, n, k, a, lda, nullptr, 0, false, c, ldc, ep};
  g.bp = bp;
  const int threads = GemmThreads(m, n, k, par);
  Parallel* p = threads > 1 ? par : nullptr;
#if SINTER_HAVE_AVX512
  if (width == Avx512Shape::kNr) return Blocked<Avx512Shape>(g, &TileAvx512, threads, p);
#endif
  Blocked<Avx2Shape>(g, &TileAvx2, threads, p);
}

namespace {
constexpr int64_t kPackedHeader = 16;  // floats: keeps the panels 64-byte aligned
}  // namespace

int64_t PackedWeightFloats(int64_t k, int64_t n) {
  return kPackedHeader + GemmPackedBFloats(k, n, 32);
}

void PackWeight(int64_t k, int64_t n, const float* b, int64_t ldb, bool transposed, float* dst) {
  const int32_t width = GemmPackedWidth();
  std::fill(dst, dst + kPackedHeader, 0.f);
  std::memcpy(dst, &width, sizeof width);
  GemmPackB(k, n, b, ldb, transposed, width, dst + kPackedHeader);
}

const float* PackedWeightPanels(const float* packed, int* width) {
  int32_t w;
  std::memcpy(&w, packed, sizeof w);
  *width = w;
  return packed + kPackedHeader;
}

void GemmPackedWeight(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                      const float* packed, float* c, int64_t ldc, const GemmEpilogue& ep,
                      Parallel* par) {
  int width;
  const float* panels = PackedWeightPanels(packed, &width);
  GemmPacked(m, n, k, a, lda, panels, width, c, ldc, ep, par);
}

}  // namespace internal

void GemmF32(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
             int64_t ldb, bool b_transposed, const float* bias, float* c, int64_t ldc,
             Parallel* par, const RangeDone* done) {
  internal::GemmEpilogue ep;
  ep.bias = bias;
  internal::BlockRanges ranges{done, 0, ldc};
  internal::SetBlockRanges(&ep, &ranges);
  internal::Gemm(m, n, k, a, lda, b, ldb, b_transposed, c, ldc, ep, par);
}

int64_t GemmPackedWeightFloats(int64_t m, int64_t n, int64_t k) {
  return m > 4 && n > 0 && k > 0 ? internal::PackedWeightFloats(k, n) : 0;
}

void GemmPackWeightF32(int64_t n, int64_t k, const float* b, int64_t ldb, bool b_transposed,
                       float* packed) {
  internal::PackWeight(k, n, b, ldb, b_transposed, packed);
}

void GemmPackedF32(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                   const float* packed, const float* bias, float* c, int64_t ldc, Parallel* par,
                   const RangeDone* done) {
  internal::GemmEpilogue ep;
  ep.bias = bias;
  internal::BlockRanges ranges{done, 0, ldc};
  internal::SetBlockRanges(&ep, &ranges);
  internal::GemmPackedWeight(m, n, k, a, lda, packed, c, ldc, ep, par);
}

}  // namespace sinter::kernels::cpu
