// Winograd F(4x4, 3x3) for channels-last 3x3 stride-1 convolutions.
//
// Each 4x4 block of output (a tile) is computed from the 6x6 block of input
// around it with 36 multiplications per (input, output) channel pair instead
// of 144: V = Bᵀ d B (input transform), M = U ⊙ V summed over input channels
// (36 GEMMs, one per element of the 6x6 transformed tile, their B packed
// once), Y = Aᵀ M A
// (output transform). U = G g Gᵀ, the transformed weights, is computed once
// when the model loads (Conv2dPrepareWeightsF32), never per run.
//
// The work is cut into chunks of whole tile rows of one image, each done by
// one thread with its own V and M buffers (sized to stay near L2) and serial
// GEMMs, so threads share nothing but the weights and the output rows they
// finish are handed to the epilogue at once. Channels are contiguous, so
// both transforms run eight channels at a time.
//
// Error: the transforms use the points 0, ±1, ±2, ∞ and scale partial sums
// by up to 8 and 1/24; measured against the convolution in double on
// uniform [-1, 1) data, the error stays below 4.4e-6 of the sum of the
// terms' magnitudes (kernels_test's shapes and ResNet's 56x56x64 and
// 14x14x256), well inside the parity suite's tolerances.
#include <algorithm>
#include <vector>

#include "kernels/cpu/internal_conv.h"
#include "kernels/cpu/internal_gemm.h"
#include "kernels/cpu/internal_simd.h"
#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu::internal {
namespace {

constexpr int64_t kTile = 4, kIn = 6, kElems = kIn * kIn;
// Floats of V plus M per chunk (4 MB). Measured on a Zen 4 core (1 MB L2):
// a quarter of this ran 14x14x256 layers 1.5x slower, as their 36 GEMMs
// then had 4 to 12 rows each and each re-read all of U; larger chunks
// gain nothing.
constexpr int64_t kChunkFloats = int64_t{1} << 20;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Geometry {
  int64_t th, tw;       // tile rows and columns of one image
  int64_t chunk_rows;   // tile rows per chunk
  int64_t chunks;       // over all images
  int64_t slot_floats;  // one thread's V and M
  int64_t slots;        // V and M buffers in the scratch
  // Too few tiles to give each thread its own chunk (a 14x14 image has 16):
  // one chunk at a time, the threads splitting its transforms by tile rows
  // and its 36 GEMMs between them.
  bool split_elements = false;
};

// Rows of the GEMMs below which splitting an image's tile rows between
// threads costs more than the three barriers of split_elements (14x14x256
// at 2 threads: 8-row GEMMs scaled 1.44x, not 1.9x).
constexpr int64_t kMinSplitTiles = 32;

Geometry Plan(const Conv2dShape& s, int threads) {
  Geometry g;
  g.th = CeilDiv(s.oh, kTile);
  g.tw = CeilDiv(s.ow, kTile);
  const int64_t row_floats = g.tw * kElems * (s.c + s.oc);
  int64_t per_image = CeilDiv(g.th, std::clamp<int64_t>(kChunkFloats / row_floats, 1, g.th));
  // Enough chunks to keep every thread busy, unless they would be too small.
  if (threads > 1 && s.n * per_image < threads) {
    const int64_t split = std::min(g.th, CeilDiv(threads, s.n));
    if (CeilDiv(g.th, split) * g.tw >= kMinSplitTiles) {
      per_image = split;
    } else {
      g.split_elements = true;
    }
  }
  // Chunks of equal height: a short last one would make GEMMs of few rows.
  g.chunk_rows = CeilDiv(g.th, per_image);
  g.chunks = s.n * CeilDiv(g.th, g.chunk_rows);
  g.slot_floats = (g.chunk_rows * row_floats + 15) / 16 * 16;
  g.slots = g.split_elements ? 1 : std::min<int64_t>(std::max(threads, 1), g.chunks);
  return g;
}

// Bᵀ d for six values (a column or a row of the 6x6 tile).
template <class T>
SINTER_INLINE void InputTransform6(const T (&d)[6], T (&t)[6]) {
  t[0] = 4.f * d[0] - 5.f * d[2] + d[4];
  t[1] = -4.f * (d[1] + d[2]) + d[3] + d[4];
  t[2] = 4.f * (d[1] - d[2]) - d[3] + d[4];
  t[3] = 2.f * (d[3] - d[1]) - d[2] + d[4];
  t[4] = 2.f * (d[1] - d[3]) - d[2] + d[4];
  t[5] = 4.f * d[1] - 5.f * d[3] + d[5];
}

// Aᵀ m for six values.
template <class T>
SINTER_INLINE void OutputTransform6(const T (&m)[6], T (&o)[4]) {
  const T a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
  o[0] = m[0] + a + c;
  o[1] = b + 2.f * d;
  o[2] = a + 4.f * c;
  o[3] = b + 8.f * d + m[5];
}

// V[e][t][c] for the tiles of tile rows [ty0, ty1) of image `img`, channels
// eight at a time; taps outside the input are zero. The chunk V belongs to
// starts at tile row `base` and has `tiles` tiles.
SINTER_MULTIVERSION void InputTiles(const Conv2dShape& s, const Geometry& g, const float* x,
                                    int64_t img, int64_t ty0, int64_t ty1, int64_t base,
                                    int64_t tiles, float* v) {
  const int64_t estride = tiles * s.c;
  const float* xi = x + img * s.h * s.w * s.c;
  for (int64_t ty = ty0; ty < ty1; ++ty) {
    for (int64_t tx = 0; tx < g.tw; ++tx) {
      const int64_t t = (ty - base) * g.tw + tx;
      const int64_t iy0 = ty * kTile - s.pad_h, ix0 = tx * kTile - s.pad_w;
      const bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + kIn <= s.h && ix0 + kIn <= s.w;
      for (int64_t c = 0; c < s.c; c += 8) {
        const int64_t nc = std::min<int64_t>(8, s.c - c);
        V8 d[kIn][kIn];
        for (int i = 0; i < kIn; ++i) {
          const int64_t iy = iy0 + i;
          for (int j = 0; j < kIn; ++j) {
            const int64_t ix = ix0 + j;
            if (!inside && (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w)) {
              d[i][j] = V8{};
              continue;
            }
            const float* p = xi + (iy * s.w + ix) * s.c + c;
            d[i][j] = nc == 8 ? Load(p) : LoadPart(p, nc);
          }
        }
        V8 w[kIn][kIn];  // Bᵀ d: columns
#pragma GCC unroll 6
        for (int j = 0; j < kIn; ++j) {
          V8 col[6] = {d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j]}, out[6];
          InputTransform6(col, out);
#pragma GCC unroll 6
          for (int i = 0; i < kIn; ++i) w[i][j] = out[i];
        }
        float* dst = v + t * s.c + c;
#pragma GCC unroll 6
        for (int i = 0; i < kIn; ++i) {  // (Bᵀ d) B: rows
          V8 out[6];
          InputTransform6(w[i], out);
#pragma GCC unroll 6
          for (int j = 0; j < kIn; ++j) {
            float* q = dst + (i * kIn + j) * estride;
            if (nc == 8) {
              Store(q, out[j]);
            } else {
              StorePart(q, out[j], nc);
            }
          }
        }
      }
    }
  }
}

// Y = Aᵀ M A (+ bias) for the same tiles, written where they lie inside the
// output.
SINTER_MULTIVERSION void OutputTiles(const Conv2dShape& s, const Geometry& g, const float* m,
                                     const float* bias, int64_t img, int64_t ty0, int64_t ty1,
                                     int64_t base, int64_t tiles, float* y) {
  const int64_t estride = tiles * s.oc;
  float* yi = y + img * s.oh * s.ow * s.oc;
  for (int64_t ty = ty0; ty < ty1; ++ty) {
    for (int64_t tx = 0; tx < g.tw; ++tx) {
      const int64_t t = (ty - base) * g.tw + tx;
      const int64_t rows = std::min(kTile, s.oh - ty * kTile);
      const int64_t cols = std::min(kTile, s.ow - tx * kTile);
      for (int64_t o = 0; o < s.oc; o += 8) {
        const int64_t no = std::min<int64_t>(8, s.oc - o);
        const float* src = m + t * s.oc + o;
        V8 w[4][kIn];  // Aᵀ M: columns
#pragma GCC unroll 6
        for (int j = 0; j < kIn; ++j) {
          V8 col[6], out[4];
#pragma GCC unroll 6
          for (int i = 0; i < kIn; ++i) {
            const float* q = src + (i * kIn + j) * estride;
            col[i] = no == 8 ? Load(q) : LoadPart(q, no);
          }
          OutputTransform6(col, out);
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) w[i][j] = out[i];
        }
        const V8 b = bias == nullptr ? V8{} : no == 8 ? Load(bias + o) : LoadPart(bias + o, no);
        for (int64_t i = 0; i < rows; ++i) {
          V8 out[4];
          OutputTransform6(w[i], out);
          float* yr = yi + ((ty * kTile + i) * s.ow + tx * kTile) * s.oc + o;
          for (int64_t j = 0; j < cols; ++j) {
            if (no == 8) {
              Store(yr + j * s.oc, out[j] + b);
            } else {
              StorePart(yr + j * s.oc, out[j] + b, no);
            }
          }
        }
      }
    }
  }
}

}  // namespace

bool WinogradApplies(const Conv2dShape& s) {
  // Below 8x8 outputs the tiles are mostly padding and the GEMMs too short
  // to beat the direct kernel (7x7x512: no gain); under 16 channels on
  // either side the transforms cost more than the products they save
  // (9x9, 10 -> 12 channels: 0.55x).
  return s.nhwc && s.groups == 1 && s.kh == 3 && s.kw == 3 && s.stride_h == 1 && s.stride_w == 1 &&
         s.dil_h == 1 && s.dil_w == 1 && s.oh >= 8 && s.ow >= 8 && s.c >= 16 && s.oc >= 16;
}

// The prepared weights: per element e of the 6x6 tile, U_e [c, oc] as
// PackWeight packs it.
int64_t PackedStride(const Conv2dShape& s) { return PackedWeightFloats(s.c, s.oc); }

int64_t WinogradWeightFloats(const Conv2dShape& s) { return kElems * PackedStride(s); }

void WinogradWeights(const Conv2dShape& s, const float* w, float* prepared) {
  std::vector<float> u(static_cast<size_t>(kElems * s.c * s.oc));
  // G (6x3) of the points 0, ±1, ±2, ∞, applied in double: U is computed
  // once, so its rounding is the only one it adds.
  static constexpr double kG[6][3] = {{1.0 / 4, 0, 0},
                                      {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                      {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                      {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                      {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                      {0, 0, 1}};
  for (int64_t o = 0; o < s.oc; ++o) {
    for (int64_t c = 0; c < s.c; ++c) {
      double g[3][3], gg[6][3];
      for (int ky = 0; ky < 3; ++ky) {
        for (int kx = 0; kx < 3; ++kx) g[ky][kx] = w[((o * 3 + ky) * 3 + kx) * s.c + c];
      }
      for (int i = 0; i < 6; ++i) {
        for (int kx = 0; kx < 3; ++kx) {
          gg[i][kx] = kG[i][0] * g[0][kx] + kG[i][1] * g[1][kx] + kG[i][2] * g[2][kx];
        }
      }
      // U[e][c][o]: each element's GEMM reads B plain, [c, oc].
      for (int i = 0; i < 6; ++i) {
        for (int j = 0; j < 6; ++j) {
          const double v = gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2];
          u[((i * 6 + j) * s.c + c) * s.oc + o] = static_cast<float>(v);
        }
      }
    }
  }
  for (int64_t e = 0; e < kElems; ++e) {
    PackWeight(s.c, s.oc, u.data() + e * s.c * s.oc, s.oc, false, prepared + e * PackedStride(s));
  }
}

int64_t WinogradScratchBytes(const Conv2dShape& s, int num_threads) {
  const Geometry g = Plan(s, num_threads);
  return g.slots * g.slot_floats * 4;
}

void WinogradConvNhwc(const Conv2dShape& s, const float* x, const float* prepared,
                      const float* bias, float* y, void* scratch, Parallel* par,
                      const RangeDone* done) {
  const int threads = par != nullptr ? par->num_threads() : 1;
  const Geometry g = Plan(s, threads);
  const int64_t per_image = CeilDiv(g.th, g.chunk_rows);
  // Chunk `chunk` with V at v, its GEMMs' elements [e0, e1) and tile rows
  // [r0, r1) of its transforms (phase 0: input, 1: products, 2: output).
  auto phase = [&](int step, int64_t chunk, float* v, int64_t b, int64_t e) {
    const int64_t img = chunk / per_image;
    const int64_t ty0 = chunk % per_image * g.chunk_rows;
    const int64_t ty1 = std::min(g.th, ty0 + g.chunk_rows);
    const int64_t tiles = (ty1 - ty0) * g.tw;
    float* m = v + kElems * tiles * s.c;
    if (step == 0) return InputTiles(s, g, x, img, ty0 + b, ty0 + e, ty0, tiles, v);
    if (step == 1) {
      for (int64_t el = b; el < e; ++el) {
        GemmPackedWeight(tiles, s.oc, s.c, v + el * tiles * s.c, s.c,
                         prepared + el * PackedStride(s), m + el * tiles * s.oc, s.oc,
                         GemmEpilogue{}, nullptr);
      }
      return;
    }
    OutputTiles(s, g, m, bias, img, ty0 + b, ty0 + e, ty0, tiles, y);
    if (done != nullptr) {
      const int64_t row = s.ow * s.oc, r0 = img * s.oh + (ty0 + b) * kTile;
      const int64_t r1 = img * s.oh + std::min(s.oh, (ty0 + e) * kTile);
      done->fn(done->ctx, r0 * row, r1 * row);
    }
  };
  float* v = static_cast<float*>(scratch);
  if (g.split_elements) {
    for (int64_t chunk = 0; chunk < g.chunks; ++chunk) {
      const int64_t rows = std::min(g.chunk_rows, g.th - chunk % per_image * g.chunk_rows);
      ParallelFor(par, rows, [&](int64_t b, int64_t e) { phase(0, chunk, v, b, e); });
      ParallelFor(par, kElems, [&](int64_t b, int64_t e) { phase(1, chunk, v, b, e); });
      ParallelFor(par, rows, [&](int64_t b, int64_t e) { phase(2, chunk, v, b, e); });
    }
    return;
  }
  const int64_t slots = g.slots;
  ParallelFor(slots > 1 ? par : nullptr, slots, [&](int64_t s0, int64_t s1) {
    for (int64_t slot = s0; slot < s1; ++slot) {
      for (int64_t chunk = slot; chunk < g.chunks; chunk += slots) {
        const int64_t rows = std::min(g.chunk_rows, g.th - chunk % per_image * g.chunk_rows);
        float* sv = v + slot * g.slot_floats;
        for (int step = 0; step < 3; ++step) phase(step, chunk, sv, 0, step == 1 ? kElems : rows);
      }
    }
  });
}

}  // namespace sinter::kernels::cpu::internal
