// The compile-and-load helper (module.h) on source strings: a compile error
// comes back with the compiler's output, the CUDA emitter's reduction
// prelude runs as generated source, `extern __shared__` works at function
// and namespace scope, a module's own __constant__/__device__ data is
// accessible, and a bug in generated source is reported with its file.
#include "tests/cuda_emu/module.h"

#include <cmath>
#include <cstring>
#include <iostream>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cuda_emu/executor.h"

namespace sinter::cuda_emu {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Module> Compile(const std::string& source) {
  std::string error;
  std::unique_ptr<Module> m = CompileModule(source, CompileOptions{}, &error);
  EXPECT_TRUE(m) << error;
  return m;
}

TEST(Module, CompileErrorsCarryTheCompilerOutput) {
  std::string error;
  const std::unique_ptr<Module> m =
      CompileModule("extern \"C\" __global__ void k(float* x) { x[0] = not_declared_anywhere; }\n",
                    CompileOptions{}, &error);
  EXPECT_FALSE(m);
  EXPECT_THAT(error, HasSubstr("compiling the module failed (exit status 1)"));
  EXPECT_THAT(error, HasSubstr("command: g++ -std=c++17"));
  EXPECT_THAT(error, HasSubstr("module.cu:1:"));
  EXPECT_THAT(error, HasSubstr("not_declared_anywhere"));

  CompileOptions missing;
  missing.compiler = "/nonexistent/c++";
  EXPECT_FALSE(CompileModule("", missing, &error));
  EXPECT_THAT(error, HasSubstr("cannot run the compiler '/nonexistent/c++'"));
}

TEST(Module, RewritesExternShared) {
  EXPECT_EQ(RewriteExternShared("extern __shared__ float buf[];"),
            "SINTER_EMU_EXTERN_SHARED(float, buf);");
  EXPECT_EQ(RewriteExternShared("  extern  __shared__ __align__(16) unsigned char raw [ ] ;"),
            "  SINTER_EMU_EXTERN_SHARED(__align__(16) unsigned char, raw);");
  // Static shared memory and other externs are left alone.
  EXPECT_EQ(RewriteExternShared("__shared__ float a[32]; extern \"C\" int f();"),
            "__shared__ float a[32]; extern \"C\" int f();");
}

// The CUDA emitter's kPrelude (the part the reductions use) and
// kReducePrelude, copied from codegen/cuda/cuda_emitter.cc, with a softmax
// and a row sum shaped like the emitted fused reductions.
constexpr char kReductionSource[] = R"(
#define SINTER_DEVICE __device__ __forceinline__
#define SINTER_INF __int_as_float(0x7f800000)
SINTER_DEVICE float sinter_max(float a, float b) { return a != a || a > b ? a : b; }
// Online softmax state: s = sum of exp(x - m) over the values seen so far.
SINTER_DEVICE void sinter_softmax_merge(float& m, float& s, float m2, float s2) {
  const float mx = sinter_max(m, m2);
  if (mx == -SINTER_INF) return;  // both still empty
  s = s * expf(m - mx) + s2 * expf(m2 - mx);
  m = mx;
}
SINTER_DEVICE void sinter_warp_softmax(float& m, float& s) {
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o);
    const float s2 = __shfl_xor_sync(0xffffffffu, s, o);
    sinter_softmax_merge(m, s, m2, s2);
  }
}
SINTER_DEVICE float sinter_warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
SINTER_DEVICE void sinter_block_softmax(float& m, float& s, float* sh_m, float* sh_s) {
  sinter_warp_softmax(m, s);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) sh_m[warp] = m, sh_s[warp] = s;
  __syncthreads();
  if (warp == 0) {
    m = lane < warps ? sh_m[lane] : -SINTER_INF;
    s = lane < warps ? sh_s[lane] : 0.f;
    sinter_warp_softmax(m, s);
    if (lane == 0) sh_m[0] = m, sh_s[0] = s;
  }
  __syncthreads();
  m = sh_m[0];
  s = sh_s[0];
}
SINTER_DEVICE float sinter_block_sum(float v, float* sh) {
  v = sinter_warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = sinter_warp_sum(lane < warps ? sh[lane] : 0.f);
    if (lane == 0) sh[0] = v;
  }
  __syncthreads();
  return sh[0];
}

extern "C" __global__ void __launch_bounds__(256) softmax_rows(const float* x, float* y,
                                                               float* sums, unsigned rows,
                                                               unsigned len) {
  __shared__ float sh_a[32], sh_b[32];
  for (unsigned row = blockIdx.x; row < rows; row += gridDim.x) {
    const unsigned base = row * len;
    float m = -SINTER_INF, s = 0.f, acc = 0.f;
    for (unsigned j = threadIdx.x; j < len; j += blockDim.x) {
      sinter_softmax_merge(m, s, x[base + j], 1.f);
      acc += x[base + j];
    }
    sinter_block_softmax(m, s, sh_a, sh_b);
    const float total = sinter_block_sum(acc, sh_a);
    const float inv = 1.f / s;
    for (unsigned j = threadIdx.x; j < len; j += blockDim.x) y[base + j] = expf(x[base + j] - m) * inv;
    if (threadIdx.x == 0) sums[row] = total;
  }
}
)";

TEST(Module, EmitterReductionPreludeRuns) {
  const std::unique_ptr<Module> m = Compile(kReductionSource);
  ASSERT_TRUE(m);
  auto* k = m->Kernel<void(const float*, float*, float*, unsigned, unsigned)>("softmax_rows");
  ASSERT_NE(k, nullptr);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-8.f, 8.f);
  // Row lengths below, at and above the block size; the emitter's block
  // sizes; fewer blocks than rows (grid-stride over rows).
  for (const auto& [rows, len, block, grid] :
       std::vector<std::tuple<unsigned, unsigned, unsigned, unsigned>>{
           {6, 50, 64, 6}, {9, 128, 128, 4}, {5, 1000, 256, 2}, {3, 1, 64, 3}}) {
    std::vector<float> x(rows * len);
    for (float& v : x) v = dist(rng);
    DeviceBuffer<float> dx(x, "x"), dy(x.size(), "y"), dsums(rows, "sums");
    const LaunchReport r =
        Launch(k, dim3(grid), dim3(block), 0, dx.get(), dy.get(), dsums.get(), rows, len);
    ASSERT_TRUE(r.ok()) << r.message;
    const std::vector<float> y = dy.ToHost(), sums = dsums.ToHost();
    for (unsigned row = 0; row < rows; ++row) {
      double mx = -INFINITY, z = 0, total = 0;
      for (unsigned j = 0; j < len; ++j) mx = std::max<double>(mx, x[row * len + j]);
      for (unsigned j = 0; j < len; ++j)
        z += std::exp(x[row * len + j] - mx), total += x[row * len + j];
      // float accumulation over at most 1000 terms: relative 1e-5 on
      // probabilities, 1e-6 * len * max|x| on the sum.
      EXPECT_NEAR(sums[row], total, 1e-6 * len * 8) << "row " << row;
      for (unsigned j = 0; j < len; ++j) {
        const double want = std::exp(x[row * len + j] - mx) / z;
        ASSERT_NEAR(y[row * len + j], want, 1e-5 * want + 1e-12) << "row " << row << " col " << j;
      }
    }
  }
}

constexpr char kDynamicSource[] = R"(
extern __shared__ __align__(16) unsigned char raw[];
extern "C" __global__ void reverse(const float* in, float* out, int* same_base) {
  extern __shared__ float buf[];
  const unsigned t = threadIdx.x, n = blockDim.x;
  buf[t] = in[blockIdx.x * n + t];
  __syncthreads();
  out[blockIdx.x * n + t] = buf[n - 1 - t];
  if (t == 0) same_base[blockIdx.x] = reinterpret_cast<void*>(raw) == reinterpret_cast<void*>(buf);
}
)";

TEST(Module, ExternSharedAtFunctionAndNamespaceScope) {
  const std::unique_ptr<Module> m = Compile(kDynamicSource);
  ASSERT_TRUE(m);
  auto* k = m->Kernel<void(const float*, float*, int*)>("reverse");
  ASSERT_NE(k, nullptr);
  const unsigned blocks = 3, n = 160;
  std::vector<float> in(blocks * n);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  DeviceBuffer<float> din(in, "in"), out(in.size(), "out");
  DeviceBuffer<int> same(blocks, "same");
  const LaunchReport r =
      Launch(k, dim3(blocks), dim3(n), n * sizeof(float), din.get(), out.get(), same.get());
  ASSERT_TRUE(r.ok()) << r.message;
  const std::vector<float> got = out.ToHost();
  for (unsigned b = 0; b < blocks; ++b) {
    for (unsigned t = 0; t < n; ++t) ASSERT_EQ(got[b * n + t], in[b * n + n - 1 - t]);
  }
  EXPECT_EQ(same.ToHost(), (std::vector<int>{1, 1, 1}));
  // One float short of what the kernel uses: the last thread's store fails.
  const LaunchReport small =
      Launch(k, dim3(blocks), dim3(n), (n - 1) * sizeof(float), din.get(), out.get(), same.get());
  EXPECT_EQ(small.kind, ErrorKind::kSharedOutOfBounds) << small.message;
  EXPECT_EQ(small.thread.x, n - 1);
}

constexpr char kModuleDataSource[] = R"(
__constant__ float kScale[4] = {1.f, 2.f, 3.f, 4.f};
__device__ unsigned calls;
static const char kName[] = "sinter";
extern "C" __global__ void scaled(const float* in, float* out, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    out[i] = in[i] * kScale[i % 4] + kName[i % 6];
  atomicAdd(&calls, 1u);
}
extern "C" unsigned calls_so_far() { return calls; }
)";

TEST(Module, ModuleGlobalsAreValidMemory) {
  const std::unique_ptr<Module> m = Compile(kModuleDataSource);
  ASSERT_TRUE(m);
  auto* k = m->Kernel<void(const float*, float*, int)>("scaled");
  auto* calls = m->Kernel<unsigned()>("calls_so_far");
  ASSERT_TRUE(k && calls);
  const int n = 100;
  std::vector<float> in(n, 1.f);
  DeviceBuffer<float> din(in, "in"), out(n, "out");
  const LaunchReport r = Launch(k, dim3(2), dim3(32), 0, din.get(), out.get(), n);
  ASSERT_TRUE(r.ok()) << r.message;
  const std::vector<float> got = out.ToHost();
  for (int i = 0; i < n; ++i) ASSERT_EQ(got[i], static_cast<float>(i % 4 + 1 + "sinter"[i % 6]));
  EXPECT_EQ(calls(), 64u);
}

// kF16Access's 128-bit load from a pointer that is not 16-byte aligned: the
// report names the generated file and line.
constexpr char kMisalignedSource[] = R"(#include <cuda_fp16.h>
extern "C" __global__ void widen(const __half* in, float* out) {
  const uint4 t = *reinterpret_cast<const uint4*>(in + 8 * threadIdx.x);
  out[threadIdx.x] = __half2float(__ushort_as_half(static_cast<unsigned short>(t.x)));
}
)";

TEST(Module, MisalignedLoadInGeneratedSource) {
  const std::unique_ptr<Module> m = Compile(kMisalignedSource);
  ASSERT_TRUE(m);
  auto* k = m->Kernel<void(const void*, float*)>("widen");
  ASSERT_NE(k, nullptr);
  DeviceBuffer<unsigned short> in(std::vector<unsigned short>(8 * 33, 0x3c00), "in");
  DeviceBuffer<float> out(32, "out");
  ASSERT_TRUE(Launch(k, dim3(1), dim3(32), 0, in.get(), out.get()).ok());
  EXPECT_EQ(out.ToHost(), std::vector<float>(32, 1.f));
  const LaunchReport r = Launch(k, dim3(1), dim3(32), 0, in.get() + 1, out.get());
  std::cout << "[report] " << r.message << "\n";
  EXPECT_EQ(r.kind, ErrorKind::kMisalignedAccess);
  EXPECT_THAT(r.message, HasSubstr("of type 'const struct uint4', which needs 16-byte alignment "
                                   "(address % 16 = 2), at module.cu:3:"));
}

}  // namespace
}  // namespace sinter::cuda_emu
