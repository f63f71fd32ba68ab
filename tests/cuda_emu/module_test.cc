// The compile-and-load helper (module.h) on source strings: a compile error
// comes back with the compiler's output, `extern __shared__` works at
// function and namespace scope, a module's own __constant__/__device__ data
// is accessible, and a bug in generated source is reported with its file.
// (The emitter's reduction helpers run in emitter_test.cc.)
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
