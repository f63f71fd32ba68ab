// The CUDA library layer on any machine: the driver's absence is a clear
// Unavailable, every driver entry point resolves against the toolkit's stub
// libcuda.so, cuBLASLt and cuDNN load with usable versions, statuses name
// their codes, and the GEMM and convolution plans get every descriptor
// attribute accepted up to the first step that needs a GPU (a null handle
// stops them there), which checks attribute types and sizes without one.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "runtime/cuda/conv.h"
#include "runtime/cuda/dynlib.h"
#include "runtime/cuda/gemm.h"

namespace sinter::rt::cuda {
namespace {

using ::testing::HasSubstr;

// The toolkit's stub libcuda.so, or "" when there is none.
std::string StubDriver() {
  std::vector<std::string> dirs;
  if (const char* home = std::getenv("CUDA_HOME")) dirs.push_back(home);
  dirs.push_back("/usr/local/cuda");
  for (const std::string& d : dirs) {
    for (const char* sub : {"/lib64/stubs/libcuda.so", "/lib/stubs/libcuda.so"}) {
      std::string p = d + sub;
      if (FILE* f = std::fopen(p.c_str(), "rb")) {
        std::fclose(f);
        return p;
      }
    }
  }
  return "";
}

TEST(DriverTest, AbsentOrUnusableDriverIsUnavailable) {
  StatusOr<const DriverApi*> api = Driver();
  if (api.ok()) GTEST_SKIP() << "a CUDA driver and device are present";
  EXPECT_EQ(api.status().code(), SINTER_UNAVAILABLE);
  const std::string& m = api.status().message();
  if (m.find("cuInit") != std::string::npos) {
    // libcuda.so.1 loaded, but there is no usable device.
    EXPECT_THAT(m, HasSubstr("CUDA driver unusable: cuInit: CUDA_ERROR_")) << m;
  } else {
    EXPECT_THAT(m, HasSubstr("CUDA driver not found (libcuda.so.1: ")) << m;
    EXPECT_THAT(m, HasSubstr("needs an NVIDIA GPU and driver")) << m;
  }
  // Cached: the same answer again.
  EXPECT_EQ(Driver().status().message(), m);
}

TEST(DriverTest, EveryEntryPointResolvesInTheToolkitStub) {
  const std::string stub = StubDriver();
  if (stub.empty()) GTEST_SKIP() << "no stubs/libcuda.so under $CUDA_HOME or /usr/local/cuda";
  DriverApi api;
  Status st = ResolveDriverSymbols(stub, &api);
  ASSERT_TRUE(st.ok()) << st.message();
#define SINTER_EXPECT_SET(name) EXPECT_NE(api.name, nullptr) << #name;
  SINTER_CU_SYMBOLS(SINTER_EXPECT_SET)
#undef SINTER_EXPECT_SET
  // The stub refuses to initialise; CuStatus still names the call, and
  // falls back to the number where the stub cannot name the code.
  EXPECT_NE(api.cuInit(0), CUDA_SUCCESS);
  Status oom = CuStatus(api, CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc");
  EXPECT_EQ(oom.code(), SINTER_RESOURCE_EXHAUSTED);
  EXPECT_EQ(oom.message().rfind("cuMemAlloc: ", 0), 0u) << oom.message();
  EXPECT_EQ(CuStatus(api, CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel").code(), SINTER_INTERNAL);
  EXPECT_TRUE(CuStatus(api, CUDA_SUCCESS, "cuInit").ok());
}

TEST(DriverTest, MissingLibraryOrEntryPointsAreNamed) {
  DriverApi api;
  Status missing = ResolveDriverSymbols("/nonexistent/libcuda.so.1", &api);
  EXPECT_EQ(missing.code(), SINTER_UNAVAILABLE);
  EXPECT_THAT(missing.message(), HasSubstr("/nonexistent/libcuda.so.1")) << missing.message();
  // libm loads but has none of the driver's names.
  Status lacks = ResolveDriverSymbols("libm.so.6", &api);
  EXPECT_EQ(lacks.code(), SINTER_UNAVAILABLE);
  EXPECT_THAT(lacks.message(), HasSubstr("lacks cuInit, cuDriverGetVersion")) << lacks.message();
  EXPECT_THAT(lacks.message(), HasSubstr("cuMemAlloc_v2")) << lacks.message();
}

TEST(CublasLtTest, LoadsWithAPlausibleVersion) {
  StatusOr<const CublasLtApi*> api = CublasLt();
  if (!api.ok()) GTEST_SKIP() << api.status().message();
  EXPECT_GE(api.value()->cublasLtGetVersion(), 120000u);
  EXPECT_LT(api.value()->cublasLtGetVersion(), 200000u);
}

TEST(CublasLtTest, StatusNamesTheCode) {
  StatusOr<const CublasLtApi*> api = CublasLt();
  if (!api.ok()) GTEST_SKIP() << api.status().message();
  Status st = CublasStatus(*api.value(), CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmul");
  EXPECT_EQ(st.code(), SINTER_INTERNAL);
  EXPECT_THAT(st.message(), HasSubstr("cublasLtMatmul: CUBLAS_STATUS_NOT_SUPPORTED ("))
      << st.message();
  EXPECT_EQ(CublasStatus(*api.value(), CUBLAS_STATUS_ALLOC_FAILED, "x").code(),
            SINTER_RESOURCE_EXHAUSTED);
  EXPECT_TRUE(CublasStatus(*api.value(), CUBLAS_STATUS_SUCCESS, "x").ok());
}

TEST(CudnnTest, LoadsWithVersion9) {
  StatusOr<const CudnnApi*> api = Cudnn();
  if (!api.ok()) GTEST_SKIP() << api.status().message();
  EXPECT_GE(api.value()->cudnnGetVersion(), 90000u);
  EXPECT_LT(api.value()->cudnnGetVersion(), 100000u);
}

TEST(CudnnTest, StatusNamesTheCode) {
  StatusOr<const CudnnApi*> api = Cudnn();
  if (!api.ok()) GTEST_SKIP() << api.status().message();
  Status st = CudnnStatus(*api.value(), CUDNN_STATUS_BAD_PARAM, "cudnnBackendFinalize");
  EXPECT_EQ(st.code(), SINTER_INTERNAL);
  EXPECT_THAT(st.message(), HasSubstr("cudnnBackendFinalize: CUDNN_STATUS_BAD_PARAM"))
      << st.message();
  EXPECT_EQ(
      CudnnStatus(*api.value(), CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED, "x").code(),
      SINTER_RESOURCE_EXHAUSTED);
  EXPECT_TRUE(CudnnStatus(*api.value(), CUDNN_STATUS_SUCCESS, "x").ok());
}

GemmDesc Gemm(int64_t m, int64_t n, int64_t k) {
  GemmDesc d;
  d.m = m;
  d.n = n;
  d.k = k;
  return d;
}

TEST(GemmPlanTest, RejectsBadDescriptions) {
  const CublasLtApi none{};  // never called: validation comes first
  GemmDesc zero = Gemm(0, 4, 4);
  EXPECT_EQ(GemmPlan::Create(none, nullptr, zero, 0).status().code(), SINTER_INVALID_ARGUMENT);
  GemmDesc overlap = Gemm(4, 4, 4);
  overlap.batch = 2;
  overlap.stride_a = 16;
  overlap.stride_c = 8;  // < m * n
  StatusOr<std::unique_ptr<GemmPlan>> p = GemmPlan::Create(none, nullptr, overlap, 0);
  EXPECT_EQ(p.status().code(), SINTER_INVALID_ARGUMENT);
  EXPECT_THAT(p.status().message(), HasSubstr("stride_c 8 overlaps")) << p.status().message();
  GemmDesc negative = Gemm(4, 4, 4);
  negative.stride_b = -1;
  EXPECT_EQ(GemmPlan::Create(none, nullptr, negative, 0).status().code(), SINTER_INVALID_ARGUMENT);
}

// Every variant's descriptors, layouts and preferences are accepted (a
// wrong attribute size or value fails its SetAttribute), so the first
// failure is the heuristic's refusal of the null handle.
TEST(GemmPlanTest, AttributesAcceptedUpToTheHeuristic) {
  StatusOr<const CublasLtApi*> api = CublasLt();
  if (!api.ok()) GTEST_SKIP() << api.status().message();
  std::vector<GemmDesc> descs;
  for (DataType t : {DataType::kF32, DataType::kF16, DataType::kBF16}) {
    for (Activation act : {Activation::kNone, Activation::kRelu, Activation::kGelu}) {
      for (bool bias : {false, true}) {
        GemmDesc d = Gemm(8, 16, 32);
        d.dtype = t;
        d.activation = act;
        d.bias = bias;
        d.allow_tf32 = true;
        descs.push_back(d);
      }
    }
  }
  GemmDesc batched = Gemm(8, 16, 32);
  batched.batch = 3;
  batched.stride_a = 8 * 32;
  batched.stride_b = 0;  // broadcast B over strided A: folded into one GEMM
  batched.stride_c = 8 * 16;
  descs.push_back(batched);
  batched.stride_a = 0;  // broadcast A: a real strided batch with a zero stride
  batched.stride_b = 32 * 16;
  batched.b_transposed = true;
  descs.push_back(batched);
  for (const GemmDesc& d : descs) {
    StatusOr<std::unique_ptr<GemmPlan>> plan = GemmPlan::Create(*api.value(), nullptr, d, 1 << 20);
    ASSERT_FALSE(plan.ok());
    EXPECT_THAT(plan.status().message(), HasSubstr("cublasLtMatmulAlgoGetHeuristic: "))
        << plan.status().message();
  }
}

ConvDesc Conv3x3() {
  ConvDesc d;
  d.n = 2;
  d.c = 8;
  d.h = d.w = 10;
  d.k = 16;
  d.r = d.s = 3;
  d.pad_h = d.pad_w = 1;
  d.p = d.q = 10;
  return d;
}

TEST(ConvPlanTest, RejectsBadDescriptions) {
  const CudnnApi none{};  // never called: validation comes first
  ConvDesc wrong_output = Conv3x3();
  wrong_output.p = 9;
  StatusOr<std::unique_ptr<ConvPlan>> p = ConvPlan::Create(none, nullptr, wrong_output, 0);
  EXPECT_EQ(p.status().code(), SINTER_INVALID_ARGUMENT);
  EXPECT_THAT(p.status().message(), HasSubstr("output 9x10 does not match the 10x10"))
      << p.status().message();
  ConvDesc groups = Conv3x3();
  groups.groups = 3;
  EXPECT_EQ(ConvPlan::Create(none, nullptr, groups, 0).status().code(), SINTER_INVALID_ARGUMENT);
  // A 5-wide dilated-by-2 window (9 wide) over an unpadded 8-wide input.
  ConvDesc too_wide = Conv3x3();
  too_wide.h = too_wide.w = 8;
  too_wide.pad_h = too_wide.pad_w = 0;
  too_wide.r = too_wide.s = 5;
  too_wide.dilation_h = too_wide.dilation_w = 2;
  too_wide.p = too_wide.q = 1;
  p = ConvPlan::Create(none, nullptr, too_wide, 0);
  EXPECT_EQ(p.status().code(), SINTER_INVALID_ARGUMENT);
  EXPECT_THAT(p.status().message(), HasSubstr("larger than the padded input"))
      << p.status().message();
}

// Tensors, the convolution, the fused pointwise operations and their
// operation descriptors all finalise without a GPU; the null handle is
// refused by the operation graph, the first descriptor that needs one.
TEST(ConvPlanTest, DescriptorsFinalizeUpToTheOperationGraph) {
  StatusOr<const CudnnApi*> api = Cudnn();
  if (!api.ok()) GTEST_SKIP() << api.status().message();
  std::vector<ConvDesc> descs;
  for (DataType t : {DataType::kF32, DataType::kF16, DataType::kBF16}) {
    for (Layout layout : {Layout::kNCHW, Layout::kNHWC}) {
      for (Activation act : {Activation::kNone, Activation::kRelu, Activation::kGelu}) {
        for (bool bias : {false, true}) {
          ConvDesc d = Conv3x3();
          d.dtype = t;
          d.layout = layout;
          d.activation = act;
          d.bias = bias;
          descs.push_back(d);
        }
      }
    }
  }
  ConvDesc grouped = Conv3x3();
  grouped.groups = 4;
  grouped.stride_h = grouped.stride_w = 2;
  grouped.dilation_h = 2;
  grouped.p = 4;  // (10 + 2 - 2 * 2 - 1) / 2 + 1
  grouped.q = 5;
  descs.push_back(grouped);
  for (const ConvDesc& d : descs) {
    StatusOr<std::unique_ptr<ConvPlan>> plan = ConvPlan::Create(*api.value(), nullptr, d, 1 << 20);
    ASSERT_FALSE(plan.ok());
    EXPECT_THAT(plan.status().message(), HasSubstr("(operation graph")) << plan.status().message();
  }
}

}  // namespace
}  // namespace sinter::rt::cuda
