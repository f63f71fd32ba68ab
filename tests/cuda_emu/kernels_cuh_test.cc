// The hand-written CUDA kernels (kernels/cuda/kernels.cuh) on the executor:
// copies (a transpose), a reduction, f16 max pooling, bf16 casts, embedding
// with an index outside the table, and a broadcast where, each against a
// loop here; grid_sample against the CPU kernel; every access checked. Shows the emulation accepts
// what NVRTC compiles into every module.
#include <cmath>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/params.h"
#include "tests/cuda_emu/executor.h"

// kernels.cuh's entry points; 16-bit floats travel as their bits.
extern "C" {
void sinter_copy_4(const unsigned* in, unsigned* out, sinter_copy_params p);
void sinter_reduce_f32(const float* x, float* y, sinter_reduce_params p);
void sinter_pool_f16(const unsigned short* x, unsigned short* y, sinter_pool_params p);
void sinter_cast_f32_bf16(const float* x, unsigned short* y, sinter_cast_params p);
void sinter_cast_bf16_f32(const unsigned short* x, float* y, sinter_cast_params p);
void sinter_embedding_f32(const float* w, const long long* idx, float* y,
                          sinter_embedding_params p);
void sinter_where_f32(const unsigned char* c, const float* a, const float* b, float* y,
                      sinter_select_params p);
void sinter_grid_sample_f32(const float* x, const float* grid, float* y,
                            sinter_grid_sample_params p);
}

namespace sinter::cuda_emu {
namespace {

const dim3 kGrid(3), kBlock(64);  // fewer threads than elements: grid-stride loops

TEST(KernelsCuh, CopyTransposes) {
  const int rows = 7, cols = 13;
  std::vector<unsigned> in(rows * cols);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<unsigned>(i * 2654435761u);
  DeviceBuffer<unsigned> din(in, "in"), out(in.size(), "out");
  sinter_copy_params p{};
  p.rank = 2, p.n = rows * cols;
  p.dims[0] = cols, p.dims[1] = rows;  // walk the output [cols, rows]
  p.in_strides[0] = 1, p.in_strides[1] = cols;
  p.out_strides[0] = rows, p.out_strides[1] = 1;
  const LaunchReport r = Launch(&sinter_copy_4, kGrid, kBlock, 0, din.get(), out.get(), p);
  ASSERT_TRUE(r.ok()) << r.message;
  const std::vector<unsigned> got = out.ToHost();
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) ASSERT_EQ(got[j * rows + i], in[i * cols + j]);
  }
  // An output offset the buffer has no room for: the last element lands
  // one past its end.
  p.out_offset = 1;
  const LaunchReport bad = Launch(&sinter_copy_4, kGrid, kBlock, 0, din.get(), out.get(), p);
  EXPECT_EQ(bad.kind, ErrorKind::kGlobalOutOfBounds) << bad.message;
  EXPECT_EQ(bad.address, reinterpret_cast<uint64_t>(out.get() + rows * cols));
}

TEST(KernelsCuh, ReduceSumsTheLastAxis) {
  const int outer = 5, inner = 33;
  std::vector<float> x(outer * inner);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) - 8.f;
  DeviceBuffer<float> dx(x, "x"), y(outer, "y");
  sinter_reduce_params p{};
  p.n_out = outer, p.rank = 2, p.kept_rank = 1, p.reduced = inner, p.mode = 0;
  p.dims[0] = outer, p.dims[1] = inner;
  p.strides[0] = inner, p.strides[1] = 1;
  const LaunchReport r = Launch(&sinter_reduce_f32, kGrid, kBlock, 0, dx.get(), y.get(), p);
  ASSERT_TRUE(r.ok()) << r.message;
  const std::vector<float> got = y.ToHost();
  for (int o = 0; o < outer; ++o) {
    float want = 0;
    for (int j = 0; j < inner; ++j) want += x[o * inner + j];
    EXPECT_EQ(got[o], want) << o;  // small integers: exact
  }
}

uint16_t HalfOfSmallInt(int v) {  // |v| < 2048: exact in f16
  if (v == 0) return 0;
  const uint16_t sign = v < 0 ? 0x8000 : 0;
  unsigned m = static_cast<unsigned>(std::abs(v));
  int e = 0;
  while (m >= 2048) m >>= 1, ++e;
  while (m < 1024) m <<= 1, --e;
  return static_cast<uint16_t>(sign | (e + 25) << 10 | (m & 0x3ff));
}

TEST(KernelsCuh, HalfMaxPooling) {
  const int c = 3, h = 6, w = 8;  // 2x2 windows, stride 2, NCHW
  std::vector<int> v(c * h * w);
  std::vector<unsigned short> x(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<int>((i * 37) % 101) - 50, x[i] = HalfOfSmallInt(v[i]);
  DeviceBuffer<unsigned short> dx(x, "x"), y(c * (h / 2) * (w / 2), "y");
  sinter_pool_params p{};
  p.n = 1, p.c = c, p.h = h, p.w = w, p.p = h / 2, p.q = w / 2;
  p.kh = p.kw = 2, p.sh = p.sw = 2, p.dh = p.dw = 1, p.mode = 0;
  const LaunchReport r = Launch(&sinter_pool_f16, kGrid, kBlock, 0, dx.get(), y.get(), p);
  ASSERT_TRUE(r.ok()) << r.message;
  const std::vector<unsigned short> got = y.ToHost();
  for (int ch = 0; ch < c; ++ch) {
    for (int i = 0; i < h / 2; ++i) {
      for (int j = 0; j < w / 2; ++j) {
        int m = -1000;
        for (int di = 0; di < 2; ++di) {
          for (int dj = 0; dj < 2; ++dj) m = std::max(m, v[(ch * h + 2 * i + di) * w + 2 * j + dj]);
        }
        ASSERT_EQ(got[(ch * (h / 2) + i) * (w / 2) + j], HalfOfSmallInt(m));
      }
    }
  }
}

TEST(KernelsCuh, BFloat16CastsRoundToNearestEven) {
  const std::vector<uint32_t> bits = {0x3f808000u, 0x3f818000u, 0x3eaaaaabu, 0x7f7fffffu,
                                      0x00000001u, 0xbf800001u, 0x7fc00000u};
  const std::vector<uint16_t> want = {0x3f80, 0x3f82, 0x3eab, 0x7f80, 0x0000, 0xbf80, 0x7fff};
  std::vector<float> x(bits.size());
  std::memcpy(x.data(), bits.data(), bits.size() * 4);
  DeviceBuffer<float> dx(x, "x"), back(x.size(), "back");
  DeviceBuffer<unsigned short> y(x.size(), "y");
  const sinter_cast_params p{static_cast<long long>(x.size())};
  ASSERT_TRUE(Launch(&sinter_cast_f32_bf16, kGrid, kBlock, 0, dx.get(), y.get(), p).ok());
  const std::vector<unsigned short> got = y.ToHost();
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(got[i], want[i]) << i;
  ASSERT_TRUE(Launch(&sinter_cast_bf16_f32, kGrid, kBlock, 0, y.get(), back.get(), p).ok());
  const std::vector<float> wide = back.ToHost();
  for (size_t i = 0; i < x.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &wide[i], 4);
    EXPECT_EQ(u, static_cast<uint32_t>(want[i]) << 16) << i;
  }
}

TEST(KernelsCuh, EmbeddingGivesNaNOutsideTheTable) {
  const int vocab = 10, dim = 6;
  std::vector<float> w(vocab * dim);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i);
  const std::vector<long long> idx = {3, 0, 9, 10, -1, 4};
  DeviceBuffer<float> dw(w, "weight"), y(idx.size() * dim, "y");
  DeviceBuffer<long long> di(idx, "indices");
  const sinter_embedding_params p{static_cast<long long>(idx.size()), dim, vocab};
  const LaunchReport r =
      Launch(&sinter_embedding_f32, kGrid, kBlock, 0, dw.get(), di.get(), y.get(), p);
  ASSERT_TRUE(r.ok()) << r.message;
  const std::vector<float> got = y.ToHost();
  for (size_t i = 0; i < idx.size(); ++i) {
    for (int j = 0; j < dim; ++j) {
      if (idx[i] >= 0 && idx[i] < vocab) {
        ASSERT_EQ(got[i * dim + j], w[idx[i] * dim + j]);
      } else {
        ASSERT_TRUE(std::isnan(got[i * dim + j])) << "row " << i;
      }
    }
  }
}

// Every mode, padding and corner rule, at points inside and outside the
// image: the same taps and weights as the CPU kernel (kernels/grid_sample.h
// serves both), so the same values.
TEST(KernelsCuh, GridSampleMatchesTheCpuKernel) {
  const long long n = 2, c = 3, h = 5, w = 7, oh = 4, ow = 6;
  std::vector<float> x(n * c * h * w), grid(n * oh * ow * 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
  for (size_t i = 0; i < grid.size(); ++i) grid[i] = 1.4f * std::cos(0.91f * static_cast<float>(i));
  DeviceBuffer<float> dx(x, "x"), dg(grid, "grid");
  for (long long mode : {0, 1}) {
    for (long long padding : {0, 1, 2}) {
      for (long long corners : {0, 1}) {
        SCOPED_TRACE(testing::Message()
                     << "mode " << mode << " padding " << padding << " align_corners " << corners);
        DeviceBuffer<float> y(n * c * oh * ow, "y");
        const sinter_grid_sample_params p{n, c, h, w, oh, ow, mode, padding, corners};
        const LaunchReport r =
            Launch(&sinter_grid_sample_f32, kGrid, kBlock, 0, dx.get(), dg.get(), y.get(), p);
        ASSERT_TRUE(r.ok()) << r.message;
        const kernels::cpu::GridSampleShape s{n,
                                              c,
                                              h,
                                              w,
                                              oh,
                                              ow,
                                              static_cast<kernels::cpu::SampleMode>(mode),
                                              static_cast<kernels::cpu::SamplePadding>(padding),
                                              corners != 0};
        std::vector<float> want(n * c * oh * ow);
        kernels::cpu::GridSampleF32(s, x.data(), grid.data(), want.data(), nullptr);
        const std::vector<float> got = y.ToHost();
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_NEAR(got[i], want[i], 1e-6f * (1.f + std::fabs(want[i]))) << "element " << i;
      }
    }
  }
}

TEST(KernelsCuh, WhereBroadcasts) {
  const int rows = 4, cols = 9;  // cond [rows, cols], a [cols], b [rows, 1]
  std::vector<unsigned char> cond(rows * cols);
  std::vector<float> a(cols), b(rows);
  for (size_t i = 0; i < cond.size(); ++i) cond[i] = (i * 7) % 3 == 0;
  for (int j = 0; j < cols; ++j) a[j] = 100.f + j;
  for (int i = 0; i < rows; ++i) b[i] = -1.f - i;
  DeviceBuffer<unsigned char> dc(cond, "cond");
  DeviceBuffer<float> da(a, "a"), db(b, "b"), y(rows * cols, "y");
  sinter_select_params p{};
  p.n = rows * cols, p.rank = 2;
  p.dims[0] = rows, p.dims[1] = cols;
  p.strides[0][0] = cols, p.strides[0][1] = 1;
  p.strides[1][0] = 0, p.strides[1][1] = 1;
  p.strides[2][0] = 1, p.strides[2][1] = 0;
  const LaunchReport r =
      Launch(&sinter_where_f32, kGrid, kBlock, 0, dc.get(), da.get(), db.get(), y.get(), p);
  ASSERT_TRUE(r.ok()) << r.message;
  const std::vector<float> got = y.ToHost();
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) ASSERT_EQ(got[i * cols + j], cond[i * cols + j] ? a[j] : b[i]);
  }
  // A stride that walks `a` as if it were [rows, cols]: caught at its first
  // element past the 9 floats.
  p.strides[1][0] = cols;
  const LaunchReport bad =
      Launch(&sinter_where_f32, kGrid, kBlock, 0, dc.get(), da.get(), db.get(), y.get(), p);
  EXPECT_EQ(bad.kind, ErrorKind::kGlobalOutOfBounds) << bad.message;
  EXPECT_EQ(bad.address, reinterpret_cast<uint64_t>(da.get() + cols));
}

}  // namespace
}  // namespace sinter::cuda_emu
