// The fake CUDA libraries driven directly (no model): what each check
// catches, with the message it gives, and that the libraries compute what
// the runtime asks of them.
//
//  - Exports: each fake's dynamic symbol table is exactly its table in
//    runtime/cuda/dynlib.h, and the runtime's own loaders accept the fakes.
//  - Negative tests (issue 15, item 4): a launch whose parameter block is
//    one slot off or of the wrong size, device pointers out of range (a
//    copy past an allocation, a kernel reading past its buffer), calls
//    stream capture forbids (a synchronisation, an allocation, a
//    synchronous copy), a leaked allocation, a destroyed handle, launch
//    limits. Each must put its message in the validation log and return an
//    error code.
//  - Graph capture and replay: a captured launch reads its inputs when the
//    graph runs, not when it was captured.
//  - The runtime's own GemmPlan and ConvPlan (runtime/cuda/gemm.cc,
//    conv.cc) on the fakes, against naive row-major references computed
//    here from the GemmDesc / ConvDesc contracts: a wrong transpose, leading
//    dimension, stride, layout, bias or epilogue mapping in the backend
//    shows as wrong numbers; so would picking a tensor-core (TF32) cuDNN
//    engine for f32 without --tf32, which the fake cuDNN computes in TF32.
#include <dlfcn.h>
#include <elf.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/cuda/conv.h"
#include "runtime/cuda/dynlib.h"
#include "runtime/cuda/gemm.h"
#include "tests/cuda_emu/include/sinter_cuda_emu_fp.h"
#include "tests/cuda_emu/launch_args.h"
#include "tests/cuda_fake/fake_cuda.h"

namespace sinter::fake {
namespace {

using ::testing::HasSubstr;

// The runtime's loaders find the fakes (the same objects this test links).
const bool kEnvironment = [] {
  setenv("SINTER_CUDA_DRIVER_LIBRARY", SINTER_FAKE_DRIVER, 1);
  setenv("SINTER_CUBLASLT_LIBRARY", SINTER_FAKE_CUBLASLT, 1);
  setenv("SINTER_CUDNN_LIBRARY", SINTER_FAKE_CUDNN, 1);
  return true;
}();

std::string Errors() { return sinter_fake_cuda_errors(); }

// ---- Exports -------------------------------------------------------------------

// The defined, global function symbols of a shared object's .dynsym.
std::set<std::string> ExportedFunctions(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string elf = ss.str();
  std::set<std::string> out;
  if (elf.size() < sizeof(Elf64_Ehdr)) return out;
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof eh);
  auto section = [&](int i) {
    Elf64_Shdr sh;
    std::memcpy(&sh, elf.data() + eh.e_shoff + static_cast<size_t>(i) * eh.e_shentsize, sizeof sh);
    return sh;
  };
  for (int i = 0; i < eh.e_shnum; ++i) {
    const Elf64_Shdr sh = section(i);
    if (sh.sh_type != SHT_DYNSYM) continue;
    const Elf64_Shdr strtab = section(static_cast<int>(sh.sh_link));
    for (size_t at = 0; at + sizeof(Elf64_Sym) <= sh.sh_size; at += sizeof(Elf64_Sym)) {
      Elf64_Sym sym;
      std::memcpy(&sym, elf.data() + sh.sh_offset + at, sizeof sym);
      const int bind = ELF64_ST_BIND(sym.st_info), type = ELF64_ST_TYPE(sym.st_info);
      if (sym.st_shndx == SHN_UNDEF || type != STT_FUNC || (bind != STB_GLOBAL && bind != STB_WEAK))
        continue;
      out.insert(elf.data() + strtab.sh_offset + sym.st_name);
    }
  }
  return out;
}

#define SINTER_FAKE_STR(x) #x
#define SINTER_FAKE_XSTR(x) SINTER_FAKE_STR(x)
#define SINTER_FAKE_NAME(name) SINTER_FAKE_XSTR(name),

TEST(FakeExports, EachLibraryExportsExactlyTheRuntimeTable) {
  const std::set<std::string> driver = {SINTER_CU_SYMBOLS(SINTER_FAKE_NAME)};
  const std::set<std::string> blas = {SINTER_CUBLASLT_SYMBOLS(SINTER_FAKE_NAME)};
  const std::set<std::string> dnn = {SINTER_CUDNN_SYMBOLS(SINTER_FAKE_NAME)};
  EXPECT_EQ(ExportedFunctions(SINTER_FAKE_DRIVER), driver);
  EXPECT_EQ(ExportedFunctions(SINTER_FAKE_CUBLASLT), blas);
  EXPECT_EQ(ExportedFunctions(SINTER_FAKE_CUDNN), dnn);
  // Versioned names, as cuda.h spells them.
  EXPECT_EQ(driver.count("cuMemAlloc_v2"), 1u);
  EXPECT_EQ(driver.count("cuStreamBeginCapture_v2"), 1u);
}

TEST(FakeExports, TheRuntimeLoadsThem) {
  ASSERT_TRUE(rt::cuda::Driver().ok()) << rt::cuda::Driver().status().message();
  ASSERT_TRUE(rt::cuda::CublasLt().ok()) << rt::cuda::CublasLt().status().message();
  ASSERT_TRUE(rt::cuda::Cudnn().ok()) << rt::cuda::Cudnn().status().message();
}

// ---- The driver -------------------------------------------------------------------

constexpr char kKernels[] = R"(
struct test_params {
  long long n;
  float scale;
  long long pad[5];
};
extern "C" __global__ void scale_add(const float* x, float* y, test_params p) {
  for (long long i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x)
    y[i] = x[i] * p.scale + 1.0f;
}
extern "C" __global__ void __launch_bounds__(64) read_at(const float* x, float* y,
                                                          long long at) {
  if (blockIdx.x == 0 && threadIdx.x == 0) y[0] = x[at];
}
)";

struct TestParams {
  long long n;
  float scale;
  long long pad[5];
};

// A minimal image the fake driver accepts as a cubin: an ELF header for
// EM_CUDA, told apart by a tag.
std::string FakeCubin(unsigned tag) {
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_machine = EM_CUDA;
  eh.e_ehsize = sizeof eh;
  eh.e_flags = 90u | (tag << 16);
  return std::string(reinterpret_cast<const char*>(&eh), sizeof eh);
}

void* ModuleSymbol(void* module, const char* name) {
  return static_cast<const cuda_emu::Module*>(module)->Symbol(name);
}

class FakeDriver : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    module_ = cuda_emu::CompileModuleWithArgumentArrays(kKernels, cuda_emu::CompileOptions{},
                                                        nullptr, &error)
                  .release();
    ASSERT_NE(module_, nullptr) << error;
    image_ = new std::string(FakeCubin(1));
    const sinter_fake_cuda_symbols table{&ModuleSymbol, module_};
    ASSERT_EQ(sinter_fake_cuda_register_module(image_->data(), image_->size(), &table, 1, "test"),
              0);
  }

  void SetUp() override {
    ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
    ASSERT_EQ(cuDevicePrimaryCtxRetain(&ctx_, 0), CUDA_SUCCESS);
    ASSERT_EQ(cuCtxPushCurrent(ctx_), CUDA_SUCCESS);
    ASSERT_EQ(cuModuleLoadDataEx(&mod_, image_->data(), 0, nullptr, nullptr), CUDA_SUCCESS);
    ASSERT_EQ(cuModuleGetFunction(&scale_add_, mod_, "scale_add"), CUDA_SUCCESS);
    ASSERT_EQ(cuModuleGetFunction(&read_at_, mod_, "read_at"), CUDA_SUCCESS);
    ASSERT_EQ(cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
    sinter_fake_cuda_clear_errors();
  }

  void TearDown() override {
    cuStreamDestroy(stream_);
    cuModuleUnload(mod_);
    CUcontext c;
    cuCtxPopCurrent(&c);
    cuDevicePrimaryCtxRelease(0);
    sinter_fake_cuda_clear_errors();
  }

  // A device buffer of n floats holding x (or NaN).
  CUdeviceptr Buffer(size_t n, const std::vector<float>& x = {}) {
    CUdeviceptr p = 0;
    EXPECT_EQ(cuMemAlloc(&p, n * sizeof(float)), CUDA_SUCCESS);
    if (!x.empty()) {
      EXPECT_EQ(cuMemcpyHtoD(p, x.data(), x.size() * sizeof(float)), CUDA_SUCCESS);
    }
    return p;
  }
  std::vector<float> Read(CUdeviceptr p, size_t n) {
    std::vector<float> v(n);
    EXPECT_EQ(cuMemcpyDtoHAsync(v.data(), p, n * sizeof(float), stream_), CUDA_SUCCESS);
    EXPECT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
    return v;
  }

  static inline cuda_emu::Module* module_ = nullptr;
  static inline std::string* image_ = nullptr;
  CUcontext ctx_ = nullptr;
  CUmodule mod_ = nullptr;
  CUfunction scale_add_ = nullptr, read_at_ = nullptr;
  CUstream stream_ = nullptr;
};

TEST_F(FakeDriver, LaunchRunsTheHostKernel) {
  std::vector<float> x(1000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  CUdeviceptr dx = Buffer(x.size(), x), dy = Buffer(x.size());
  TestParams p{static_cast<long long>(x.size()), 2.0f, {}};
  void* args[] = {&dx, &dy, &p};
  const uint64_t launches = sinter_fake_cuda_counter("launches");
  ASSERT_EQ(cuLaunchKernel(scale_add_, 3, 1, 1, 128, 1, 1, 0, stream_, args, nullptr), CUDA_SUCCESS)
      << Errors();
  const std::vector<float> y = Read(dy, x.size());
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(y[i], 2.0f * i + 1.0f) << i;
  EXPECT_EQ(sinter_fake_cuda_counter("launches"), launches + 1);
  // The same with the packed parameter buffer of `extra`.
  struct {
    CUdeviceptr x, y;
    TestParams p;
  } packed{dx, dy, {static_cast<long long>(x.size()), 3.0f, {}}};
  size_t size = sizeof packed;
  void* extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE, &size,
                   CU_LAUNCH_PARAM_END};
  ASSERT_EQ(cuLaunchKernel(scale_add_, 2, 1, 1, 256, 1, 1, 0, stream_, nullptr, extra),
            CUDA_SUCCESS)
      << Errors();
  EXPECT_EQ(Read(dy, 4)[3], 10.0f);
  EXPECT_EQ(sinter_fake_cuda_error_count(), 0u) << Errors();
  cuMemFree(dx);
  cuMemFree(dy);
  EXPECT_EQ(sinter_fake_cuda_live_count(), 3u) << sinter_fake_cuda_live();  // ctx, module, stream
}

// A parameter block passed one slot early (a pointer missing): the block's
// first bytes land in a pointer parameter.
TEST_F(FakeDriver, WrongParameterBlockIsRefused) {
  CUdeviceptr dx = Buffer(16), dy = Buffer(16);
  TestParams p{16, 2.0f, {}};
  void* one_slot_early[] = {&dx, &p, &p};
  EXPECT_EQ(cuLaunchKernel(scale_add_, 1, 1, 1, 32, 1, 1, 0, stream_, one_slot_early, nullptr),
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_THAT(Errors(), HasSubstr("cuLaunchKernel: kernel scale_add(pointer, pointer, 56-byte "
                                  "value): parameter 1 is a pointer, but its value 0x10 is in "
                                  "no live device allocation"))
      << Errors();
  std::printf("[message] %s", Errors().c_str());
  sinter_fake_cuda_clear_errors();
  // A packed buffer 8 bytes short (a parameter struct of the wrong size).
  std::vector<unsigned char> buffer(16 + sizeof(TestParams) - 8);
  std::memcpy(buffer.data(), &dx, 8);
  std::memcpy(buffer.data() + 8, &dy, 8);
  size_t size = buffer.size();
  void* extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, buffer.data(), CU_LAUNCH_PARAM_BUFFER_SIZE,
                   &size, CU_LAUNCH_PARAM_END};
  EXPECT_EQ(cuLaunchKernel(scale_add_, 1, 1, 1, 32, 1, 1, 0, stream_, nullptr, extra),
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_THAT(Errors(), HasSubstr("cuLaunchKernel: scale_add: a parameter buffer of 64 bytes; "
                                  "its 3 parameters take 72"))
      << Errors();
  std::printf("[message] %s", Errors().c_str());
  cuMemFree(dx);
  cuMemFree(dy);
}

TEST_F(FakeDriver, LaunchLimits) {
  CUdeviceptr dx = Buffer(16), dy = Buffer(16);
  TestParams p{16, 2.0f, {}};
  void* args[] = {&dx, &dy, &p};
  EXPECT_EQ(cuLaunchKernel(scale_add_, 1, 1, 1, 2048, 1, 1, 0, stream_, args, nullptr),
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_THAT(Errors(), HasSubstr("block (2048, 1, 1) = 2048 threads: CUDA allows at most 1024"));
  EXPECT_EQ(cuLaunchKernel(scale_add_, 1, 70000, 1, 32, 1, 1, 0, stream_, args, nullptr),
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_THAT(Errors(), HasSubstr("grid (1, 70000, 1) beyond (2^31-1, 65535, 65535)"));
  long long at = 0;
  void* read_args[] = {&dx, &dy, &at};
  EXPECT_EQ(cuLaunchKernel(read_at_, 1, 1, 1, 128, 1, 1, 0, stream_, read_args, nullptr),
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_THAT(Errors(), HasSubstr("cuLaunchKernel: read_at: a block of 128 threads; the kernel "
                                  "was compiled with __launch_bounds__(64)"));
  EXPECT_EQ(cuLaunchKernel(scale_add_, 1, 1, 1, 32, 1, 1, 64 << 10, stream_, args, nullptr),
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_THAT(Errors(), HasSubstr("65536 bytes of dynamic shared memory; the kernel allows 49152 "
                                  "(more needs cuFuncSetAttribute"));
  sinter_fake_cuda_clear_errors();
  ASSERT_EQ(
      cuFuncSetAttribute(scale_add_, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 64 << 10),
      CUDA_SUCCESS);
  EXPECT_EQ(cuLaunchKernel(scale_add_, 1, 1, 1, 32, 1, 1, 64 << 10, stream_, args, nullptr),
            CUDA_SUCCESS)
      << Errors();
  cuMemFree(dx);
  cuMemFree(dy);
}

TEST_F(FakeDriver, OutOfRangeDevicePointers) {
  CUdeviceptr dx = Buffer(256), dy = Buffer(4);
  std::vector<float> host(260, 1.0f);
  // A copy 16 bytes past the end of a 1024-byte allocation.
  EXPECT_EQ(cuMemcpyHtoD(dx, host.data(), 260 * sizeof(float)), CUDA_ERROR_INVALID_VALUE);
  EXPECT_THAT(Errors(), HasSubstr("cuMemcpyHtoD: destination: bytes [0, 1040) of cuMemAlloc"));
  EXPECT_THAT(Errors(), HasSubstr("(1024 bytes): 16 past its end"));
  std::printf("[message] %s", Errors().c_str());
  sinter_fake_cuda_clear_errors();
  // A pointer into no allocation.
  EXPECT_EQ(cuMemcpyDtoDAsync(dy, dx + (1 << 20), 4, stream_), CUDA_ERROR_INVALID_VALUE);
  EXPECT_THAT(Errors(), HasSubstr("source"));
  EXPECT_THAT(Errors(), HasSubstr("is in no live device allocation"));
  sinter_fake_cuda_clear_errors();
  // A kernel reading one element past its buffer: the executor's memcheck.
  long long at = 256;
  void* args[] = {&dx, &dy, &at};
  EXPECT_EQ(cuLaunchKernel(read_at_, 1, 1, 1, 32, 1, 1, 0, stream_, args, nullptr),
            CUDA_ERROR_LAUNCH_FAILED);
  EXPECT_THAT(Errors(), HasSubstr("kernel read_at<<<1, 32, 0>>>: "));
  EXPECT_THAT(Errors(), HasSubstr("out-of-bounds"));
  std::printf("[message] %s", Errors().c_str());
  cuMemFree(dx);
  cuMemFree(dy);
}

TEST_F(FakeDriver, CallsCaptureForbids) {
  CUdeviceptr dx = Buffer(16);
  ASSERT_EQ(cuStreamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), CUDA_SUCCESS);
  EXPECT_EQ(cuStreamSynchronize(stream_), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  EXPECT_THAT(Errors(), HasSubstr("cuStreamSynchronize: on cuStreamCreate #"));
  EXPECT_THAT(Errors(), HasSubstr("while it is being captured into a graph: not allowed during "
                                  "stream capture"));
  std::printf("[message] %s", Errors().c_str());
  CUgraph g = nullptr;
  EXPECT_EQ(cuStreamEndCapture(stream_, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  EXPECT_EQ(g, nullptr);
  sinter_fake_cuda_clear_errors();

  ASSERT_EQ(cuStreamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), CUDA_SUCCESS);
  CUdeviceptr p = 0;
  EXPECT_EQ(cuMemAlloc(&p, 64), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  EXPECT_THAT(Errors(), HasSubstr("cuMemAlloc: called while cuStreamCreate #"));
  EXPECT_THAT(Errors(), HasSubstr("(thread-local mode): a call stream capture does not allow"));
  float h[16] = {};
  EXPECT_EQ(cuMemcpyHtoD(dx, h, sizeof h), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  EXPECT_THAT(Errors(), HasSubstr("cuMemcpyHtoD: called while"));
  // Pageable host memory in a captured copy.
  EXPECT_EQ(cuMemcpyHtoDAsync(dx, h, sizeof h, stream_), CUDA_ERROR_INVALID_VALUE);
  EXPECT_THAT(Errors(), HasSubstr("is pageable host memory, which a captured copy cannot use"));
  std::printf("[message] %s", Errors().c_str());
  EXPECT_EQ(cuStreamEndCapture(stream_, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  cuMemFree(dx);
}

TEST_F(FakeDriver, GraphReplaysReadCurrentMemory) {
  const size_t n = 64;
  CUdeviceptr dx = Buffer(n), dy = Buffer(n);
  void* pinned = nullptr;
  ASSERT_EQ(cuMemHostAlloc(&pinned, n * sizeof(float), 0), CUDA_SUCCESS);
  auto* in = static_cast<float*>(pinned);
  TestParams p{static_cast<long long>(n), 2.0f, {}};
  void* args[] = {&dx, &dy, &p};
  ASSERT_EQ(cuStreamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), CUDA_SUCCESS);
  ASSERT_EQ(cuMemcpyHtoDAsync(dx, pinned, n * sizeof(float), stream_), CUDA_SUCCESS);
  ASSERT_EQ(cuLaunchKernel(scale_add_, 1, 1, 1, 64, 1, 1, 0, stream_, args, nullptr), CUDA_SUCCESS);
  p.scale = 100.0f;  // the launch copied the parameters when it was captured
  CUgraph g = nullptr;
  ASSERT_EQ(cuStreamEndCapture(stream_, &g), CUDA_SUCCESS) << Errors();
  CUgraphExec exec = nullptr;
  ASSERT_EQ(cuGraphInstantiateWithFlags(&exec, g, 0), CUDA_SUCCESS);
  for (float v : {1.0f, 5.0f}) {
    for (size_t i = 0; i < n; ++i) in[i] = v;
    ASSERT_EQ(cuGraphLaunch(exec, stream_), CUDA_SUCCESS) << Errors();
    EXPECT_EQ(Read(dy, n)[n - 1], 2.0f * v + 1.0f);
  }
  EXPECT_EQ(sinter_fake_cuda_error_count(), 0u) << Errors();
  cuGraphExecDestroy(exec);
  cuGraphDestroy(g);
  cuMemFreeHost(pinned);
  cuMemFree(dx);
  cuMemFree(dy);
}

TEST_F(FakeDriver, LeaksAndDestroyedHandles) {
  const size_t live = sinter_fake_cuda_live_count();
  CUdeviceptr p = Buffer(100);
  EXPECT_EQ(sinter_fake_cuda_live_count(), live + 1);
  EXPECT_THAT(sinter_fake_cuda_live(), HasSubstr("device memory 0x"));
  EXPECT_THAT(sinter_fake_cuda_live(), HasSubstr(": cuMemAlloc #"));
  EXPECT_THAT(sinter_fake_cuda_live(), HasSubstr(" (400 bytes)"));
  std::printf("[live] %s", sinter_fake_cuda_live());
  EXPECT_EQ(cuMemFree(p), CUDA_SUCCESS);
  EXPECT_EQ(sinter_fake_cuda_live_count(), live);
  // Freed twice.
  EXPECT_EQ(cuMemFree(p), CUDA_ERROR_INVALID_VALUE);
  EXPECT_THAT(Errors(), HasSubstr("is no live device allocation (freed twice, or never "
                                  "allocated)"));
  sinter_fake_cuda_clear_errors();
  // A destroyed stream used again.
  CUstream s = nullptr;
  ASSERT_EQ(cuStreamCreate(&s, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamDestroy(s), CUDA_SUCCESS);
  EXPECT_EQ(cuStreamSynchronize(s), CUDA_ERROR_INVALID_HANDLE);
  EXPECT_THAT(Errors(), HasSubstr("cuStreamSynchronize: CUstream 0x"));
  EXPECT_THAT(Errors(), HasSubstr("was already destroyed"));
  std::printf("[message] %s", Errors().c_str());
  sinter_fake_cuda_clear_errors();
  // A call with no current context.
  CUcontext c;
  ASSERT_EQ(cuCtxPopCurrent(&c), CUDA_SUCCESS);
  EXPECT_EQ(cuMemAlloc(&p, 4), CUDA_ERROR_INVALID_CONTEXT);
  EXPECT_THAT(Errors(), HasSubstr("cuMemAlloc: no current context on this thread"));
  ASSERT_EQ(cuCtxPushCurrent(c), CUDA_SUCCESS);
}

// ---- cuBLASLt and cuDNN through the runtime's plans ------------------------------------

using rt::cuda::Activation;
using rt::cuda::DataType;

uint16_t ToBits(DataType t, float v) {
  return t == DataType::kF16 ? sinter_emu_fp::FloatToHalf(v) : sinter_emu_fp::FloatToBFloat16(v);
}
float FromBits(DataType t, uint16_t b) {
  return t == DataType::kF16 ? sinter_emu_fp::HalfToFloat(b) : sinter_emu_fp::BFloat16ToFloat(b);
}

// Host values held as the dtype stores them (rounded), and their bytes.
struct HostTensor {
  DataType t;
  std::vector<float> v;  // exactly representable in t
  std::vector<unsigned char> Bytes() const {
    std::vector<unsigned char> b(v.size() * (t == DataType::kF32 ? 4 : 2));
    for (size_t i = 0; i < v.size(); ++i) {
      if (t == DataType::kF32) {
        std::memcpy(b.data() + 4 * i, &v[i], 4);
      } else {
        const uint16_t h = ToBits(t, v[i]);
        std::memcpy(b.data() + 2 * i, &h, 2);
      }
    }
    return b;
  }
};

HostTensor Random(DataType t, size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  HostTensor h{t, std::vector<float>(n)};
  for (float& x : h.v) x = t == DataType::kF32 ? u(rng) : FromBits(t, ToBits(t, u(rng)));
  return h;
}

float Activate(Activation a, double v) {
  switch (a) {
    case Activation::kNone:
      return static_cast<float>(v);
    case Activation::kRelu:
      return v > 0 ? static_cast<float>(v) : 0.0f;
    case Activation::kGelu:
      return static_cast<float>(0.5 * v *
                                (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
  }
  return 0;
}

class FakeLibraries : public FakeDriver {
 protected:
  void SetUp() override {
    FakeDriver::SetUp();
    auto blas = rt::cuda::CublasLt();
    auto dnn = rt::cuda::Cudnn();
    ASSERT_TRUE(blas.ok() && dnn.ok());
    blas_ = blas.value();
    dnn_ = dnn.value();
    ASSERT_EQ(blas_->cublasLtCreate(&blas_handle_), CUBLAS_STATUS_SUCCESS) << Errors();
    ASSERT_EQ(dnn_->cudnnCreate(&dnn_handle_), CUDNN_STATUS_SUCCESS) << Errors();
    ASSERT_EQ(dnn_->cudnnSetStream(dnn_handle_, reinterpret_cast<cudaStream_t>(stream_)),
              CUDNN_STATUS_SUCCESS);
  }
  void TearDown() override {
    dnn_->cudnnDestroy(dnn_handle_);
    blas_->cublasLtDestroy(blas_handle_);
    FakeDriver::TearDown();
  }

  CUdeviceptr Upload(const HostTensor& h) {
    const std::vector<unsigned char> b = h.Bytes();
    CUdeviceptr p = 0;
    EXPECT_EQ(cuMemAlloc(&p, std::max<size_t>(b.size(), 1)), CUDA_SUCCESS);
    if (!b.empty()) {
      EXPECT_EQ(cuMemcpyHtoD(p, b.data(), b.size()), CUDA_SUCCESS);
    }
    allocations_.push_back(p);
    return p;
  }
  CUdeviceptr Alloc(size_t bytes) {
    CUdeviceptr p = 0;
    EXPECT_EQ(cuMemAlloc(&p, std::max<size_t>(bytes, 1)), CUDA_SUCCESS);
    allocations_.push_back(p);
    return p;
  }
  std::vector<float> Download(CUdeviceptr p, DataType t, size_t n) {
    std::vector<unsigned char> b(n * (t == DataType::kF32 ? 4 : 2));
    EXPECT_EQ(cuMemcpyDtoHAsync(b.data(), p, b.size(), stream_), CUDA_SUCCESS);
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) {
      if (t == DataType::kF32) {
        std::memcpy(&v[i], b.data() + 4 * i, 4);
      } else {
        uint16_t h;
        std::memcpy(&h, b.data() + 2 * i, 2);
        v[i] = FromBits(t, h);
      }
    }
    return v;
  }
  void FreeAll() {
    for (CUdeviceptr p : allocations_) cuMemFree(p);
    allocations_.clear();
  }

  // Largest |got - want| / (atol + rtol |want|).
  static double WorstRatio(const std::vector<float>& got, const std::vector<double>& want,
                           double rtol, double atol) {
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, std::fabs(got[i] - want[i]) / (atol + rtol * std::fabs(want[i])));
    return worst;
  }
  static void Tolerance(DataType t, bool tf32, double* rtol, double* atol) {
    *rtol = *atol = t == DataType::kF32   ? (tf32 ? 1e-2 : 1e-5)
                    : t == DataType::kF16 ? 2e-3
                                          : 1.6e-2;
  }

  const rt::cuda::CublasLtApi* blas_ = nullptr;
  const rt::cuda::CudnnApi* dnn_ = nullptr;
  cublasLtHandle_t blas_handle_ = nullptr;
  cudnnHandle_t dnn_handle_ = nullptr;
  std::vector<CUdeviceptr> allocations_;
};

TEST_F(FakeLibraries, RuntimeGemmPlansMatchTheirContract) {
  std::vector<rt::cuda::GemmDesc> cases;
  auto gemm = [](int64_t m, int64_t n, int64_t k) {
    rt::cuda::GemmDesc d;
    d.m = m, d.n = n, d.k = k;
    d.stride_a = m * k, d.stride_b = k * n, d.stride_c = m * n;
    return d;
  };
  for (DataType dt : {DataType::kF32, DataType::kF16, DataType::kBF16}) {
    for (Activation a : {Activation::kNone, Activation::kRelu, Activation::kGelu}) {
      rt::cuda::GemmDesc d = gemm(7, 13, 19);
      d.dtype = dt;
      d.activation = a;
      d.bias = a != Activation::kNone;
      d.b_transposed = dt != DataType::kF16;  // a linear layer's weight
      cases.push_back(d);
    }
  }
  rt::cuda::GemmDesc folded = gemm(5, 6, 7);  // [3, 5, 7] x [7, 6]: one GEMM of 15 rows
  folded.batch = 3, folded.stride_b = 0, folded.b_transposed = true, folded.bias = true;
  cases.push_back(folded);
  rt::cuda::GemmDesc batched = gemm(4, 6, 8);  // attention's batched matmul
  batched.batch = 5;
  cases.push_back(batched);
  rt::cuda::GemmDesc broadcast_a = batched;  // A repeated over the batch
  broadcast_a.stride_a = 0;
  cases.push_back(broadcast_a);
  rt::cuda::GemmDesc tf32 = gemm(9, 9, 64);
  tf32.allow_tf32 = true;
  cases.push_back(tf32);

  std::mt19937 rng(7);
  for (const rt::cuda::GemmDesc& d : cases) {
    SCOPED_TRACE(::testing::Message()
                 << "dtype " << static_cast<int>(d.dtype) << " batch " << d.batch << " m " << d.m
                 << " bias " << d.bias << " act " << static_cast<int>(d.activation) << " bT "
                 << d.b_transposed << " stride_a " << d.stride_a);
    auto plan = rt::cuda::GemmPlan::Create(*blas_, blas_handle_, d, 64 << 20);
    ASSERT_TRUE(plan.ok()) << plan.status().message() << "\n" << Errors();
    const size_t na = (d.batch - 1) * d.stride_a + d.m * d.k;
    const size_t nb = (d.batch - 1) * d.stride_b + d.k * d.n;
    const HostTensor a = Random(d.dtype, na, rng), b = Random(d.dtype, nb, rng),
                     bias = Random(d.dtype, d.n, rng);
    const CUdeviceptr da = Upload(a), db = Upload(b), dbias = Upload(bias);
    const CUdeviceptr dc = Alloc(d.batch * d.m * d.n * (d.dtype == DataType::kF32 ? 4 : 2));
    const CUdeviceptr ws = Alloc(plan.value()->workspace_bytes());
    auto vp = [](CUdeviceptr p) { return reinterpret_cast<void*>(p); };
    rt::Status st =
        plan.value()->Run(stream_, vp(da), vp(db), d.bias ? vp(dbias) : nullptr, vp(dc), vp(ws));
    ASSERT_TRUE(st.ok()) << st.message() << "\n" << Errors();
    std::vector<double> want(d.batch * d.m * d.n);
    for (int64_t bi = 0; bi < d.batch; ++bi) {
      for (int64_t i = 0; i < d.m; ++i) {
        for (int64_t j = 0; j < d.n; ++j) {
          double acc = 0;
          for (int64_t kk = 0; kk < d.k; ++kk) {
            const double av = a.v[bi * d.stride_a + i * d.k + kk];
            const double bv = d.b_transposed ? b.v[bi * d.stride_b + j * d.k + kk]
                                             : b.v[bi * d.stride_b + kk * d.n + j];
            acc += av * bv;
          }
          if (d.bias) acc += bias.v[j];
          want[(bi * d.m + i) * d.n + j] = Activate(d.activation, acc);
        }
      }
    }
    double rtol, atol;
    Tolerance(d.dtype, d.allow_tf32, &rtol, &atol);
    const double worst = WorstRatio(Download(dc, d.dtype, want.size()), want, rtol, atol);
    EXPECT_LE(worst, 1.0);
    EXPECT_EQ(sinter_fake_cuda_error_count(), 0u) << Errors();
    FreeAll();
  }
  EXPECT_GT(sinter_fake_cuda_counter("matmuls"), 0u);
}

TEST_F(FakeLibraries, RuntimeConvPlansMatchTheirContract) {
  using rt::cuda::Layout;
  std::vector<rt::cuda::ConvDesc> cases;
  auto conv = [](int64_t n, int64_t c, int64_t hw, int64_t k, int64_t rs, int64_t stride,
                 int64_t pad, int64_t dil, int64_t groups) {
    rt::cuda::ConvDesc d;
    d.n = n, d.c = c, d.h = hw, d.w = hw + 1, d.k = k, d.r = rs, d.s = rs;
    d.groups = groups, d.stride_h = d.stride_w = stride, d.pad_h = d.pad_w = pad;
    d.dilation_h = d.dilation_w = dil;
    d.p = (d.h + 2 * pad - dil * (rs - 1) - 1) / stride + 1;
    d.q = (d.w + 2 * pad - dil * (rs - 1) - 1) / stride + 1;
    return d;
  };
  for (Layout l : {Layout::kNCHW, Layout::kNHWC}) {
    for (DataType dt : {DataType::kF32, DataType::kF16, DataType::kBF16}) {
      rt::cuda::ConvDesc d = conv(2, 6, 7, 8, 3, 1, 1, 1, 1);
      d.layout = l, d.dtype = dt, d.bias = true, d.activation = Activation::kRelu;
      cases.push_back(d);
      rt::cuda::ConvDesc g = conv(1, 8, 9, 4, 3, 2, 1, 1, 2);  // groups, stride 2
      g.layout = l, g.dtype = dt, g.bias = dt != DataType::kBF16, g.activation = Activation::kGelu;
      cases.push_back(g);
      rt::cuda::ConvDesc dw = conv(1, 5, 8, 5, 3, 1, 2, 2, 5);  // depthwise, dilation 2
      dw.layout = l, dw.dtype = dt;
      cases.push_back(dw);
    }
  }
  rt::cuda::ConvDesc tf32 = conv(1, 16, 6, 8, 1, 1, 0, 1, 1);  // 1x1, TF32 allowed
  tf32.allow_tf32 = true, tf32.bias = true;
  cases.push_back(tf32);

  std::mt19937 rng(11);
  for (const rt::cuda::ConvDesc& d : cases) {
    SCOPED_TRACE(::testing::Message()
                 << (d.layout == Layout::kNHWC ? "NHWC" : "NCHW") << " dtype "
                 << static_cast<int>(d.dtype) << " groups " << d.groups << " stride " << d.stride_h
                 << " dilation " << d.dilation_h << " bias " << d.bias << " act "
                 << static_cast<int>(d.activation) << " tf32 " << d.allow_tf32);
    auto plan = rt::cuda::ConvPlan::Create(*dnn_, dnn_handle_, d, 64 << 20);
    ASSERT_TRUE(plan.ok()) << plan.status().message() << "\n" << Errors();
    const int64_t cg = d.c / d.groups, kg = d.k / d.groups;
    const HostTensor x = Random(d.dtype, d.n * d.c * d.h * d.w, rng);
    const HostTensor w = Random(d.dtype, d.k * cg * d.r * d.s, rng);
    const HostTensor bias = Random(d.dtype, d.k, rng);
    const CUdeviceptr dx = Upload(x), dw = Upload(w), dbias = Upload(bias);
    const size_t ny = d.n * d.k * d.p * d.q;
    const CUdeviceptr dy = Alloc(ny * (d.dtype == DataType::kF32 ? 4 : 2));
    const CUdeviceptr ws = Alloc(plan.value()->workspace_bytes());
    auto vp = [](CUdeviceptr p) { return reinterpret_cast<void*>(p); };
    rt::Status st = plan.value()->Run(dnn_handle_, vp(dx), vp(dw), d.bias ? vp(dbias) : nullptr,
                                      vp(dy), vp(ws));
    ASSERT_TRUE(st.ok()) << st.message() << "\n" << Errors();
    const bool nhwc = d.layout == Layout::kNHWC;
    auto xi = [&](int64_t n, int64_t c, int64_t h, int64_t ww) {
      return nhwc ? ((n * d.h + h) * d.w + ww) * d.c + c : ((n * d.c + c) * d.h + h) * d.w + ww;
    };
    auto wi = [&](int64_t k, int64_t c, int64_t r, int64_t s) {
      return nhwc ? ((k * d.r + r) * d.s + s) * cg + c : ((k * cg + c) * d.r + r) * d.s + s;
    };
    auto yi = [&](int64_t n, int64_t k, int64_t p, int64_t q) {
      return nhwc ? ((n * d.p + p) * d.q + q) * d.k + k : ((n * d.k + k) * d.p + p) * d.q + q;
    };
    std::vector<double> want(ny);
    for (int64_t n = 0; n < d.n; ++n)
      for (int64_t k = 0; k < d.k; ++k)
        for (int64_t p = 0; p < d.p; ++p)
          for (int64_t q = 0; q < d.q; ++q) {
            double acc = 0;
            const int64_t g = k / kg;
            for (int64_t c = 0; c < cg; ++c)
              for (int64_t r = 0; r < d.r; ++r)
                for (int64_t s = 0; s < d.s; ++s) {
                  const int64_t h = p * d.stride_h - d.pad_h + r * d.dilation_h;
                  const int64_t ww = q * d.stride_w - d.pad_w + s * d.dilation_w;
                  if (h < 0 || h >= d.h || ww < 0 || ww >= d.w) continue;
                  acc += double{x.v[xi(n, g * cg + c, h, ww)]} * w.v[wi(k, c, r, s)];
                }
            if (d.bias) acc += bias.v[k];
            want[yi(n, k, p, q)] = Activate(d.activation, acc);
          }
    double rtol, atol;
    Tolerance(d.dtype, d.allow_tf32, &rtol, &atol);
    EXPECT_LE(WorstRatio(Download(dy, d.dtype, ny), want, rtol, atol), 1.0);
    EXPECT_EQ(sinter_fake_cuda_error_count(), 0u) << Errors();
    FreeAll();
  }
  EXPECT_GT(sinter_fake_cuda_counter("convolutions"), 0u);
}

}  // namespace
}  // namespace sinter::fake
