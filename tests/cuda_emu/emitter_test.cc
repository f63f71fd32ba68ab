// Real CUDA emitter output (codegen/cuda/cuda_emitter.h) run on the host
// executor: a fused elementwise kernel (relu(a * b)) in f32 and f16 on the
// vector path with a scalar tail and with a broadcast input, a fused softmax
// and a layer_norm, each against a loop here; then the same sources with one
// bug each put in by hand (a misaligned vector load, a missing barrier, an
// off-by-one row loop), which must fail. Kept apart from the other tests and
// small: the emitter's input is being restructured, and only the helpers in
// the first section below depend on it.
#include <cmath>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "codegen/cuda/cuda_emitter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cuda_emu/executor.h"
#include "tests/cuda_emu/include/sinter_cuda_emu_fp.h"
#include "tests/cuda_emu/module.h"

namespace sinter::cuda_emu {
namespace {

namespace cg = sinter::codegen::cuda;
namespace fmt = sinter::format;

// ---- The emitter's input (the part that changes with its API) -----------------

// relu(a * b) over tensors of dtype t: f32 math, converting at the edges.
fmt::KernelBody MulRelu(fmt::DType t) {
  fmt::KernelBody body;
  body.args = {t, t};
  auto push = [&](fmt::BodyOp op, fmt::DType type, int32_t a, int32_t b) {
    fmt::BodyInstr in;
    in.op = op, in.type = type, in.a = a, in.b = b;
    body.instrs.push_back(in);
    return body.num_values() - 1;
  };
  int32_t x = 0, y = 1;
  if (t != fmt::DType::F32) {
    x = push(fmt::BodyOp::kCast, fmt::DType::F32, 0, -1);
    y = push(fmt::BodyOp::kCast, fmt::DType::F32, 1, -1);
  }
  const int32_t prod = push(fmt::BodyOp::kMul, fmt::DType::F32, x, y);
  int32_t r = push(fmt::BodyOp::kRelu, fmt::DType::F32, prod, -1);
  if (t != fmt::DType::F32) r = push(fmt::BodyOp::kCast, t, r, -1);
  body.result = r;
  return body;
}

cg::CudaKernel EmitMulRelu(fmt::DType t, const std::vector<std::vector<int64_t>>& inputs,
                           const std::vector<int64_t>& output) {
  auto k = cg::EmitFusedKernel("mul_relu", MulRelu(t), inputs, output);
  EXPECT_TRUE(k.ok()) << k.status();
  return k.ok() ? *k : cg::CudaKernel{};
}

cg::CudaKernel EmitRowKernel(const std::string& kind, const std::vector<std::vector<int64_t>>& in,
                             const std::vector<int64_t>& out) {
  cg::FusedReductionSpec spec;
  spec.kind = kind;
  spec.axis = -1;
  spec.eps = 1e-5f;
  auto k = cg::EmitFusedReductionKernel(kind, spec, in, out, cg::Precision::kF32);
  EXPECT_TRUE(k.ok()) << k.status();
  return k.ok() ? *k : cg::CudaKernel{};
}

// ---- Running emitted kernels ----------------------------------------------------

constexpr int kSmCount = 132;  // an H100: the grid the runtime would launch

std::unique_ptr<Module> Compile(const std::string& source) {
  std::string error;
  std::unique_ptr<Module> m = CompileModule(source, CompileOptions{}, &error);
  EXPECT_TRUE(m) << error;
  return m;
}

// Launches `k` (from `source`, its own or a mutated copy) with the launch
// the emitter planned.
template <class... A>
LaunchReport RunEmitted(const cg::CudaKernel& k, const std::string& source, A... args) {
  const std::unique_ptr<Module> m = Compile(source);
  if (!m) return LaunchReport{ErrorKind::kTrap, k.name, {}, {}, 0, 0, "did not compile"};
  auto* fn = m->Kernel<void(A...)>(k.name);
  EXPECT_NE(fn, nullptr) << k.name;
  if (!fn) return LaunchReport{ErrorKind::kTrap, k.name, {}, {}, 0, 0, "no entry point"};
  const auto grid = static_cast<unsigned>(k.launch.GridSize(kSmCount));
  return Launch(fn, dim3(grid), dim3(k.launch.threads_per_block), 0, args...);
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << "the emitted source no longer contains: " << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

std::vector<float> Random(size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(EmittedKernels, MulReluF32) {
  // 1003: 250 float4 vectors and a 3-element scalar tail; 100003: 98 blocks.
  for (const int64_t n : {int64_t{1003}, int64_t{100003}}) {
    const cg::CudaKernel k = EmitMulRelu(fmt::DType::F32, {{n}, {n}}, {n});
    const std::vector<float> a = Random(n, -2, 2, 1), b = Random(n, -2, 2, 2);
    DeviceBuffer<float> da(a, "in0"), db(b, "in1"), out(n, "out");
    const LaunchReport r = RunEmitted(k, k.source, static_cast<const float*>(da.get()),
                                      static_cast<const float*>(db.get()), out.get());
    ASSERT_TRUE(r.ok()) << r.message;
    const std::vector<float> got = out.ToHost();
    for (int64_t i = 0; i < n; ++i) {
      const float p = a[i] * b[i];
      ASSERT_EQ(got[i], p < 0.f ? 0.f : p) << i;  // the same float ops: exact
    }
  }
}

// Operands 4 bytes off a 16-byte boundary, as device pointers a caller
// hands to sinter_session_set_input_device/_output_device may be: the kernel
// must see it and take the scalar path (a float4 access there is what the
// executor reports as misaligned, and a real GPU as a fault).
TEST(EmittedKernels, MulReluF32OnUnalignedOperands) {
  const int64_t n = 1003;
  const cg::CudaKernel k = EmitMulRelu(fmt::DType::F32, {{n}, {n}}, {n});
  ASSERT_GT(k.launch.vector_width, 1);  // the vector path exists, and is skipped
  const std::vector<float> a = Random(n + 1, -2, 2, 5), b = Random(n, -2, 2, 6);
  DeviceBuffer<float> da(a, "in0"), db(b, "in1"), out(n + 1, "out");
  const LaunchReport r = RunEmitted(k, k.source, static_cast<const float*>(da.get() + 1),
                                    static_cast<const float*>(db.get()), out.get() + 1);
  ASSERT_TRUE(r.ok()) << r.message;
  const std::vector<float> got = out.ToHost();
  for (int64_t i = 0; i < n; ++i) {
    const float p = a[i + 1] * b[i];
    ASSERT_EQ(got[i + 1], p < 0.f ? 0.f : p) << i;
  }
}

TEST(EmittedKernels, MulReluF16WithABroadcastInput) {
  const int64_t rows = 4, cols = 1000;  // a [rows, cols], b [cols]: vector8 rows
  const cg::CudaKernel k = EmitMulRelu(fmt::DType::F16, {{rows, cols}, {cols}}, {rows, cols});
  std::vector<uint16_t> a(rows * cols), b(cols);
  const std::vector<float> fa = Random(a.size(), -3, 3, 3), fb = Random(b.size(), -3, 3, 4);
  for (size_t i = 0; i < a.size(); ++i) a[i] = sinter_emu_fp::FloatToHalf(fa[i]);
  for (size_t i = 0; i < b.size(); ++i) b[i] = sinter_emu_fp::FloatToHalf(fb[i]);
  DeviceBuffer<uint16_t> da(a, "in0"), db(b, "in1"), out(a.size(), "out");
  const LaunchReport r =
      RunEmitted(k, k.source, static_cast<const void*>(da.get()),
                 static_cast<const void*>(db.get()), static_cast<void*>(out.get()));
  ASSERT_TRUE(r.ok()) << r.message;
  const std::vector<uint16_t> got = out.ToHost();
  for (int64_t i = 0; i < rows * cols; ++i) {
    const float p = sinter_emu_fp::HalfToFloat(a[i]) * sinter_emu_fp::HalfToFloat(b[i % cols]);
    ASSERT_EQ(got[i], sinter_emu_fp::FloatToHalf(p < 0.f ? 0.f : p)) << i;
  }
}

// Softmax and layer_norm rows in double, for the tolerances below.
std::vector<double> RowReference(const std::string& kind, const std::vector<float>& x,
                                 const std::vector<float>& w, const std::vector<float>& b,
                                 int64_t rows, int64_t len) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = &x[r * len];
    if (kind == "softmax") {
      double mx = -INFINITY, z = 0;
      for (int64_t j = 0; j < len; ++j) mx = std::max<double>(mx, row[j]);
      for (int64_t j = 0; j < len; ++j) z += std::exp(row[j] - mx);
      for (int64_t j = 0; j < len; ++j) y[r * len + j] = std::exp(row[j] - mx) / z;
    } else {
      double mean = 0, var = 0;
      for (int64_t j = 0; j < len; ++j) mean += row[j];
      mean /= len;
      for (int64_t j = 0; j < len; ++j) var += (row[j] - mean) * (row[j] - mean);
      const double rstd = 1 / std::sqrt(var / len + 1e-5);
      for (int64_t j = 0; j < len; ++j) y[r * len + j] = (row[j] - mean) * rstd * w[j] + b[j];
    }
  }
  return y;
}

TEST(EmittedKernels, SoftmaxAndLayerNormRows) {
  // Rows shorter than, about and longer than the block (64/128/256 threads).
  for (const int64_t len : {int64_t{50}, int64_t{300}, int64_t{777}}) {
    const int64_t rows = 7;
    const std::vector<float> x = Random(rows * len, -6, 6, 5), w = Random(len, 0.5f, 1.5f, 6),
                             bias = Random(len, -1, 1, 7);
    DeviceBuffer<float> dx(x, "x"), dw(w, "weight"), db(bias, "bias"), out(x.size(), "out");
    for (const std::string kind : {"softmax", "layer_norm"}) {
      const bool norm = kind == "layer_norm";
      const cg::CudaKernel k = norm ? EmitRowKernel(kind, {{rows, len}, {len}, {len}}, {rows, len})
                                    : EmitRowKernel(kind, {{rows, len}}, {rows, len});
      const LaunchReport r =
          norm ? RunEmitted(k, k.source, static_cast<const float*>(dx.get()),
                            static_cast<const float*>(dw.get()),
                            static_cast<const float*>(db.get()), out.get())
               : RunEmitted(k, k.source, static_cast<const float*>(dx.get()), out.get());
      ASSERT_TRUE(r.ok()) << kind << ": " << r.message;
      const std::vector<double> want = RowReference(kind, x, w, bias, rows, len);
      const std::vector<float> got = out.ToHost();
      // f32 accumulation over at most 777 terms (relative error below
      // len * 2^-24 ~ 5e-5) and expf/rsqrtf within a few ulps.
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-4 * std::fabs(want[i]) + (norm ? 1e-4 : 1e-7))
            << kind << " len " << len << " element " << i;
      }
    }
  }
}

// The emitter's own reduction helpers (warp and block softmax, block sums)
// under a kernel of this test's making: row lengths below, at and above the
// block size, several block sizes, fewer blocks than rows, and a softmax and
// a sum sharing the block's shared memory.
constexpr char kSoftmaxRowsKernel[] = R"(
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

TEST(EmittedKernels, ReductionPreludeOnOddGeometries) {
  const std::unique_ptr<Module> m = Compile(cg::ReductionPrelude() + kSoftmaxRowsKernel);
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

// ---- A deliberately broken emitter fails ------------------------------------------

TEST(BrokenEmitter, MisalignedVectorLoad) {
  const int64_t n = 1024;
  const cg::CudaKernel k = EmitMulRelu(fmt::DType::F32, {{n}, {n}}, {n});
  DeviceBuffer<float> da(std::vector<float>(n + 4, 1.f), "in0"),
      db(std::vector<float>(n, 1.f), "in1"), out(n, "out");
  const std::string broken = Replace(k.source, "sinter_ldv(in0 + i,", "sinter_ldv(in0 + i + 1,");
  const LaunchReport r = RunEmitted(k, broken, static_cast<const float*>(da.get()),
                                    static_cast<const float*>(db.get()), out.get());
  std::cout << "[report] " << r.message << "\n";
  EXPECT_EQ(r.kind, ErrorKind::kMisalignedAccess);
  EXPECT_THAT(r.message, ::testing::HasSubstr("type 'const struct float4', which needs 16-byte "
                                              "alignment (address % 16 = 4)"));
}

TEST(BrokenEmitter, MissingBarrierInTheBlockSoftmax) {
  const int64_t rows = 3, len = 512;
  const cg::CudaKernel k = EmitRowKernel("softmax", {{rows, len}}, {rows, len});
  DeviceBuffer<float> dx(Random(rows * len, -1, 1, 8), "x"), out(rows * len, "out");
  const std::string broken = Replace(k.source,
                                     "  if (lane == 0) sh_m[warp] = m, sh_s[warp] = s;\n"
                                     "  __syncthreads();\n",
                                     "  if (lane == 0) sh_m[warp] = m, sh_s[warp] = s;\n");
  const LaunchReport r = RunEmitted(k, broken, static_cast<const float*>(dx.get()), out.get());
  std::cout << "[report] " << r.message << "\n";
  EXPECT_TRUE(r.kind == ErrorKind::kUninitializedShared || r.kind == ErrorKind::kSharedRace)
      << r.message;
}

TEST(BrokenEmitter, OffByOneRowLoop) {
  const int64_t rows = 5, len = 300;
  const cg::CudaKernel k = EmitRowKernel("softmax", {{rows, len}}, {rows, len});
  DeviceBuffer<float> dx(Random(rows * len, -1, 1, 9), "x"), out(rows * len, "out");
  std::string broken = k.source;
  // Every sweep over the row, `j < 300u` -> `j <= 300u`.
  for (size_t at; (at = broken.find("j < 300u")) != std::string::npos;)
    broken.replace(at, 8, "j <= 300u");
  ASSERT_NE(broken, k.source);
  const LaunchReport r = RunEmitted(k, broken, static_cast<const float*>(dx.get()), out.get());
  std::cout << "[report] " << r.message << "\n";
  EXPECT_EQ(r.kind, ErrorKind::kGlobalOutOfBounds);
  EXPECT_THAT(r.message, ::testing::HasSubstr("0 bytes after the end of buffer 'x'"));
  EXPECT_EQ(r.block.x, rows - 1);  // the last row's block reads past the tensor
}

}  // namespace
}  // namespace sinter::cuda_emu
