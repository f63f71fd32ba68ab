// The CUDA backend's hand-written kernels, checked without a GPU: the
// backend's own planner (runtime/cuda/plan.h) plans each kernel from
// artifact attributes and tensor shapes, and the very source that NVRTC
// compiles into every module (kernels/cuda/kernels.cuh) runs here as host
// C++ with the planned parameter blocks and grids, against the CPU
// kernels (kernels/cpu). The kernels are grid-stride loops without shared
// memory or synchronisation, so running blocks and threads one after the
// other computes exactly what the GPU computes. (The generated fused
// kernels use warp shuffles and are checked by NVRTC compiles here and by
// the GPU parity tests on a GPU.)
#include <climits>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>

#include "flatbuffers/flatbuffers.h"
#include "gtest/gtest.h"
#include "kernels/cpu/kernels.h"
#include "runtime/cuda/plan.h"
#include "runtime/format/sinter_generated.h"

// ---- The host shim: what a kernel reads of the launch, and the device
// intrinsics kernels.cuh uses that the CUDA headers declare for the device
// only.
struct SinterDim3 {
  unsigned x = 0, y = 0, z = 0;
};
static SinterDim3 blockIdx, threadIdx, gridDim, blockDim;
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }

#include "kernels/cuda/params.h"
// clang-format off
#include "kernels/cuda/kernels.cuh"
// clang-format on

namespace {

namespace rt = sinter::rt;
namespace fmt = sinter::format;
namespace kc = sinter::kernels::cpu;
using Dims = std::vector<int64_t>;

// Entry points by name, taking the tensor pointers and the parameter block.
using Entry = std::function<void(const std::vector<void*>&, const uint8_t*)>;

template <typename P>
P Read(const uint8_t* b) {
  P p;
  std::memcpy(&p, b, sizeof p);
  return p;
}

const std::map<std::string, Entry>& Entries() {
  static const auto* m = [] {
    auto* e = new std::map<std::string, Entry>;
#define COPY(N, T)                                                                      \
  (*e)[#N] = [](const std::vector<void*>& a, const uint8_t* p) {                        \
    N(static_cast<const T*>(a[0]), static_cast<T*>(a[1]), Read<sinter_copy_params>(p)); \
  };
    COPY(sinter_copy_1, unsigned char)
    COPY(sinter_copy_2, unsigned short)
    COPY(sinter_copy_4, unsigned int)
    COPY(sinter_copy_8, unsigned long long)
#define FLOATS(S, T)                                                                       \
  (*e)["sinter_pool_" #S] = [](const std::vector<void*>& a, const uint8_t* p) {            \
    sinter_pool_##S(static_cast<const T*>(a[0]), static_cast<T*>(a[1]),                    \
                    Read<sinter_pool_params>(p));                                          \
  };                                                                                       \
  (*e)["sinter_reduce_" #S] = [](const std::vector<void*>& a, const uint8_t* p) {          \
    sinter_reduce_##S(static_cast<const T*>(a[0]), static_cast<T*>(a[1]),                  \
                      Read<sinter_reduce_params>(p));                                      \
  };                                                                                       \
  (*e)["sinter_batch_norm_" #S] = [](const std::vector<void*>& a, const uint8_t* p) {      \
    sinter_batch_norm_##S(static_cast<const T*>(a[0]), static_cast<const T*>(a[1]),        \
                          static_cast<const T*>(a[2]), static_cast<const T*>(a[3]),        \
                          static_cast<const T*>(a[4]), static_cast<T*>(a[5]),              \
                          Read<sinter_batch_norm_params>(p));                              \
  };                                                                                       \
  (*e)["sinter_embedding_" #S] = [](const std::vector<void*>& a, const uint8_t* p) {       \
    sinter_embedding_##S(static_cast<const T*>(a[0]), static_cast<const long long*>(a[1]), \
                         static_cast<T*>(a[2]), Read<sinter_embedding_params>(p));         \
  };                                                                                       \
  (*e)["sinter_compare_" #S] = [](const std::vector<void*>& a, const uint8_t* p) {         \
    sinter_compare_##S(static_cast<const T*>(a[0]), static_cast<const T*>(a[1]),           \
                       static_cast<unsigned char*>(a[2]), Read<sinter_select_params>(p));  \
  };                                                                                       \
  (*e)["sinter_where_" #S] = [](const std::vector<void*>& a, const uint8_t* p) {           \
    sinter_where_##S(static_cast<const unsigned char*>(a[0]), static_cast<const T*>(a[1]), \
                     static_cast<const T*>(a[2]), static_cast<T*>(a[3]),                   \
                     Read<sinter_select_params>(p));                                       \
  };
    FLOATS(f32, float)
    FLOATS(f16, __half)
#define CAST(F, FT, T, TT)                                                             \
  (*e)["sinter_cast_" #F "_" #T] = [](const std::vector<void*>& a, const uint8_t* p) { \
    sinter_cast_##F##_##T(static_cast<const FT*>(a[0]), static_cast<TT*>(a[1]),        \
                          Read<sinter_cast_params>(p));                                \
  };
    CAST(f32, float, f16, __half)
    CAST(f16, __half, f32, float)
    CAST(f32, float, bf16, __nv_bfloat16)
    CAST(bf16, __nv_bfloat16, f32, float)
    CAST(i64, long long, f32, float)
    CAST(i32, int, f32, float)
    CAST(f32, float, i64, long long)
    CAST(f32, float, i32, int)
    return e;
  }();
  return *m;
}

// Runs a planned launch the way the GPU would: every block of the grid the
// backend computes for an H100-sized device (132 SMs), every thread.
void Emulate(const rt::cuda::LaunchPlan& l, const std::vector<void*>& ptrs) {
  auto it = Entries().find(l.fn);
  ASSERT_NE(it, Entries().end()) << "no host entry for " << l.fn;
  const int64_t want = (l.items + l.block - 1) / l.block;
  const int64_t grid = std::min<int64_t>(want, int64_t{132} * l.max_blocks_per_sm);
  gridDim.x = static_cast<unsigned>(grid);
  blockDim.x = static_cast<unsigned>(l.block);
  for (int64_t b = 0; b < grid; ++b) {
    blockIdx.x = static_cast<unsigned>(b);
    for (int t = 0; t < l.block; ++t) {
      threadIdx.x = static_cast<unsigned>(t);
      it->second(ptrs, l.params.data());
    }
  }
}

// One kernel of an artifact, with its attributes.
class KernelDef {
 public:
  KernelDef& Int(const char* n, int64_t v) { return Add(n, fmt::AttrKind::Int, v, 0, {}); }
  KernelDef& Bool(const char* n, bool v) { return Add(n, fmt::AttrKind::Bool, v, 0, {}); }
  KernelDef& Float(const char* n, double v) { return Add(n, fmt::AttrKind::Float, 0, v, {}); }
  KernelDef& Ints(const char* n, Dims v) { return Add(n, fmt::AttrKind::Ints, 0, 0, v); }
  KernelDef& Str(const char* n, const char* v) {
    attrs_.push_back(
        fmt::CreateAttr(b_, b_.CreateString(n), fmt::AttrKind::Str, 0, 0, b_.CreateString(v), 0));
    return *this;
  }
  const fmt::Kernel* Finish(const std::string& op) {
    auto k = fmt::CreateKernel(b_, b_.CreateString(op), 0, 0, b_.CreateVector(attrs_));
    b_.Finish(k);
    return flatbuffers::GetRoot<fmt::Kernel>(b_.GetBufferPointer());
  }

 private:
  KernelDef& Add(const char* n, fmt::AttrKind kind, int64_t i, double f, const Dims& ints) {
    attrs_.push_back(fmt::CreateAttr(b_, b_.CreateString(n), kind, i, f, 0,
                                     kind == fmt::AttrKind::Ints ? b_.CreateVector(ints) : 0));
    return *this;
  }
  flatbuffers::FlatBufferBuilder b_;
  std::vector<flatbuffers::Offset<fmt::Attr>> attrs_;
};

rt::TensorDesc Desc(Dims dims, sinter_dtype dtype = SINTER_F32) {
  rt::TensorDesc d;
  d.dims = std::move(dims);
  d.dtype = dtype;
  d.num_elements = 1;
  for (int64_t e : d.dims) d.num_elements *= e;
  d.byte_size = d.num_elements * sinter_dtype_size(dtype);
  return d;
}

std::vector<float> Random(int64_t n, int seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// Plans `op` over tensors 0..k-1 (inputs) and k (output) and runs it.
struct Case {
  std::vector<rt::TensorDesc> tensors;
  rt::Step step;
  rt::StatusOr<rt::cuda::StepPlan> plan = rt::Status(SINTER_INTERNAL, "not planned");

  Case(std::vector<rt::TensorDesc> inputs, rt::TensorDesc output) {
    tensors = std::move(inputs);
    for (size_t i = 0; i < tensors.size(); ++i) step.inputs.push_back(static_cast<int>(i));
    step.outputs = {static_cast<int>(tensors.size())};
    tensors.push_back(std::move(output));
  }
  void Plan(const std::string& op, KernelDef& k) {
    plan = rt::cuda::PlanStep(tensors, op, rt::Attrs(k.Finish(op)), step, false);
  }
  // Runs every launch of the plan: launch i reads input i for concat,
  // otherwise all inputs; the output is last.
  void Run(const std::vector<void*>& in, void* out) {
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    const auto& p = plan.value();
    if (p.kind == rt::cuda::Kind::kConcat) {
      for (size_t i = 0; i < p.launches.size(); ++i) Emulate(p.launches[i], {in[i], out});
      return;
    }
    ASSERT_EQ(p.launches.size(), 1u);
    std::vector<void*> ptrs = in;
    ptrs.push_back(out);
    Emulate(p.launches[0], ptrs);
  }
};

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, float tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * std::max(1.0f, std::fabs(want[i]))) << "element " << i;
}

TEST(CudaHostKernels, TransposeMatchesStridedCopy) {
  const Dims x{2, 3, 4, 5};
  Case c({Desc(x)}, Desc({5, 2, 4, 3}));
  KernelDef k;
  c.Plan("transpose", k.Ints("perm", {3, 0, 2, 1}));
  std::vector<float> in = Random(120, 1), out(120), ref(120);
  c.Run({in.data()}, out.data());
  const int64_t strides[] = {1, 60, 5, 20};
  const int64_t dims[] = {5, 2, 4, 3};
  kc::StridedCopy(in.data(), strides, ref.data(), dims, 4, 4, nullptr);
  EXPECT_EQ(out, ref);
}

TEST(CudaHostKernels, SliceWithStepAndExpand) {
  std::vector<float> in = Random(6 * 10, 2);
  {
    Case c({Desc({6, 10})}, Desc({6, 3}));
    KernelDef k;
    c.Plan("slice", k.Int("axis", 1).Int("start", 1).Int("end", 9).Int("step", 3));
    std::vector<float> out(18);
    c.Run({in.data()}, out.data());
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 3; ++j) EXPECT_EQ(out[i * 3 + j], in[i * 10 + 1 + 3 * j]);
  }
  {
    Case c({Desc({1, 10})}, Desc({4, 3, 10}));
    KernelDef k;
    c.Plan("expand", k.Ints("shape", {4, 3, 10}));
    std::vector<float> out(120);
    c.Run({in.data()}, out.data());
    for (int i = 0; i < 120; ++i) EXPECT_EQ(out[i], in[i % 10]);
  }
}

TEST(CudaHostKernels, ConcatOnAMiddleAxis) {
  std::vector<float> a = Random(2 * 3 * 4, 3), b = Random(2 * 5 * 4, 4), out(2 * 8 * 4);
  Case c({Desc({2, 3, 4}), Desc({2, 5, 4})}, Desc({2, 8, 4}));
  KernelDef k;
  c.Plan("concat", k.Int("axis", 1));
  c.Run({a.data(), b.data()}, out.data());
  for (int n = 0; n < 2; ++n)
    for (int r = 0; r < 8; ++r)
      for (int j = 0; j < 4; ++j) {
        const float want = r < 3 ? a[(n * 3 + r) * 4 + j] : b[(n * 5 + r - 3) * 4 + j];
        EXPECT_EQ(out[(n * 8 + r) * 4 + j], want);
      }
}

TEST(CudaHostKernels, MaxPoolLikeTheResNetStem) {
  const Dims x{2, 3, 15, 15};
  Case c({Desc(x)}, Desc({2, 3, 8, 8}));
  KernelDef k;
  c.Plan("max_pool2d", k.Ints("kernel", {3, 3})
                           .Ints("stride", {2, 2})
                           .Ints("padding", {1, 1})
                           .Ints("dilation", {1, 1})
                           .Bool("ceil_mode", false));
  std::vector<float> in = Random(2 * 3 * 225, 5), out(2 * 3 * 64), ref(2 * 3 * 64);
  c.Run({in.data()}, out.data());
  kc::MaxPool2dF32({2, 3, 15, 15, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1}, in.data(), ref.data(), nullptr);
  EXPECT_EQ(out, ref);
}

TEST(CudaHostKernels, AvgPoolCountsPaddingAsPyTorchDoes) {
  // ceil_mode leaves the last window hanging past the padded input.
  for (bool include_pad : {true, false}) {
    SCOPED_TRACE(include_pad);
    Case c({Desc({1, 2, 7, 7})}, Desc({1, 2, 4, 4}));
    KernelDef k;
    c.Plan("avg_pool2d", k.Ints("kernel", {3, 3})
                             .Ints("stride", {2, 2})
                             .Ints("padding", {1, 1})
                             .Bool("ceil_mode", true)
                             .Bool("count_include_pad", include_pad));
    std::vector<float> in = Random(98, 6), out(32), ref(32);
    c.Run({in.data()}, out.data());
    kc::AvgPool2dF32({1, 2, 7, 7, 4, 4, 3, 3, 2, 2, 1, 1, 1, 1}, include_pad, 0, in.data(),
                     ref.data(), nullptr);
    ExpectNear(out, ref, 1e-6f);
  }
}

TEST(CudaHostKernels, AdaptivePoolsOfUnevenWindows) {
  for (const char* op : {"adaptive_avg_pool2d", "adaptive_max_pool2d"}) {
    SCOPED_TRACE(op);
    Case c({Desc({2, 4, 7, 5})}, Desc({2, 4, 3, 2}));
    KernelDef k;
    c.Plan(op, k.Ints("output_size", {3, 2}));
    std::vector<float> in = Random(2 * 4 * 35, 7), out(48), ref(48);
    c.Run({in.data()}, out.data());
    (std::string(op).find("max") != std::string::npos
         ? kc::AdaptiveMaxPool2dF32
         : kc::AdaptiveAvgPool2dF32)(in.data(), ref.data(), 8, 7, 5, 3, 2, nullptr);
    ExpectNear(out, ref, 1e-6f);
  }
}

// [n, c, h, w] stored NCHW -> the same tensor stored NHWC.
std::vector<float> ToNhwc(const std::vector<float>& x, const Dims& d) {
  std::vector<float> y(x.size());
  for (int64_t n = 0; n < d[0]; ++n)
    for (int64_t c = 0; c < d[1]; ++c)
      for (int64_t i = 0; i < d[2] * d[3]; ++i)
        y[(n * d[2] * d[3] + i) * d[1] + c] = x[(n * d[1] + c) * d[2] * d[3] + i];
  return y;
}

// Every pool channels-last (layout "NHWC", as plan-layout makes them for
// CUDA) equals the NCHW pool, transposed; so does the CPU's NHWC kernel.
TEST(CudaHostKernels, ChannelsLastPoolsEqualTheNchwPools) {
  const Dims x{2, 5, 9, 7};
  const std::vector<float> in = Random(2 * 5 * 9 * 7, 11), in_nhwc = ToNhwc(in, x);
  struct PoolCase {
    const char* op;
    Dims out;
    kc::Pool2dShape s;
  };
  const PoolCase cases[] = {
      {"max_pool2d", {2, 5, 4, 4}, {2, 5, 9, 7, 4, 4, 3, 3, 2, 2, 1, 1, 2, 1}},
      {"avg_pool2d", {2, 5, 5, 4}, {2, 5, 9, 7, 5, 4, 3, 3, 2, 2, 1, 1, 1, 1}},
      {"adaptive_avg_pool2d", {2, 5, 4, 3}, {2, 5, 9, 7, 4, 3}},
      {"adaptive_max_pool2d", {2, 5, 1, 1}, {2, 5, 9, 7, 1, 1}},
  };
  for (const PoolCase& pc : cases) {
    SCOPED_TRACE(pc.op);
    const std::string op = pc.op;
    const int64_t n_out = pc.out[0] * pc.out[1] * pc.out[2] * pc.out[3];
    std::vector<float> ref(n_out), cpu(n_out), out(n_out);
    KernelDef k;
    if (op == "max_pool2d") {
      k.Ints("kernel", {3, 3}).Ints("stride", {2, 2}).Ints("padding", {1, 1});
      k.Ints("dilation", {2, 1}).Bool("ceil_mode", false);
      kc::MaxPool2dF32(pc.s, in.data(), ref.data(), nullptr);
    } else if (op == "avg_pool2d") {
      k.Ints("kernel", {3, 3}).Ints("stride", {2, 2}).Ints("padding", {1, 1});
      k.Bool("ceil_mode", true).Bool("count_include_pad", true);
      kc::AvgPool2dF32(pc.s, true, 0, in.data(), ref.data(), nullptr);
    } else {
      k.Ints("output_size", {pc.out[2], pc.out[3]});
      (op == "adaptive_max_pool2d" ? kc::AdaptiveMaxPool2dF32 : kc::AdaptiveAvgPool2dF32)(
          in.data(), ref.data(), x[0] * x[1], x[2], x[3], pc.out[2], pc.out[3], nullptr);
    }
    k.Str("layout", "NHWC");
    Case c({Desc({x[0], x[2], x[3], x[1]})}, Desc({pc.out[0], pc.out[2], pc.out[3], pc.out[1]}));
    c.Plan(pc.op, k);
    c.Run({const_cast<float*>(in_nhwc.data())}, out.data());
    kc::Pool2dShape s = pc.s;
    s.nhwc = true;
    if (op == "max_pool2d") {
      kc::MaxPool2dF32(s, in_nhwc.data(), cpu.data(), nullptr);
    } else if (op == "avg_pool2d") {
      kc::AvgPool2dF32(s, true, 0, in_nhwc.data(), cpu.data(), nullptr);
    } else {
      kc::AdaptivePool2dNhwcF32(op == "adaptive_max_pool2d", s, in_nhwc.data(), cpu.data(),
                                nullptr);
    }
    const std::vector<float> want = ToNhwc(ref, pc.out);
    ExpectNear(out, want, 1e-6f);
    ExpectNear(cpu, want, 1e-6f);
  }
}

TEST(CudaHostKernels, ReductionsOverContiguousAndSplitAxes) {
  std::vector<float> in = Random(3 * 4 * 5 * 6, 8);
  {  // mean over the spatial axes, as a global average pool
    Case c({Desc({3, 4, 5, 6})}, Desc({3, 4, 1, 1}));
    KernelDef k;
    c.Plan("reduce_mean", k.Ints("axes", {2, 3}).Bool("keepdim", true));
    std::vector<float> out(12), ref(12);
    c.Run({in.data()}, out.data());
    kc::ReduceF32(kc::Reduce::kMean, in.data(), ref.data(), 12, 30, 1, nullptr);
    ExpectNear(out, ref, 1e-6f);
  }
  {  // max over axes 1 and 3 (not adjacent: the CPU table refuses it; compare to a loop)
    Case c({Desc({3, 4, 5, 6})}, Desc({3, 5}));
    KernelDef k;
    c.Plan("reduce_max", k.Ints("axes", {1, -1}).Bool("keepdim", false));
    std::vector<float> out(15);
    c.Run({in.data()}, out.data());
    for (int a = 0; a < 3; ++a)
      for (int cc = 0; cc < 5; ++cc) {
        float m = -INFINITY;
        for (int b = 0; b < 4; ++b)
          for (int d = 0; d < 6; ++d) m = std::max(m, in[((a * 4 + b) * 5 + cc) * 6 + d]);
        EXPECT_EQ(out[a * 5 + cc], m);
      }
  }
  {  // sum over the leading axis
    Case c({Desc({3, 4, 5, 6})}, Desc({4, 5, 6}));
    KernelDef k;
    c.Plan("reduce_sum", k.Ints("axes", {0}).Bool("keepdim", false));
    std::vector<float> out(120), ref(120);
    c.Run({in.data()}, out.data());
    kc::ReduceF32(kc::Reduce::kSum, in.data(), ref.data(), 1, 3, 120, nullptr);
    ExpectNear(out, ref, 1e-6f);
  }
}

TEST(CudaHostKernels, BatchNormAndEmbedding) {
  std::vector<float> x = Random(2 * 3 * 10, 9), mean = Random(3, 10), var(3), w = Random(3, 11),
                     b = Random(3, 12), out(60), ref(60);
  for (int i = 0; i < 3; ++i) var[i] = 0.5f + i;
  Case c({Desc({2, 3, 10}), Desc({3}), Desc({3}), Desc({3}), Desc({3})}, Desc({2, 3, 10}));
  KernelDef k;
  c.Plan("batch_norm", k.Float("eps", 1e-5));
  c.Run({x.data(), mean.data(), var.data(), w.data(), b.data()}, out.data());
  kc::BatchNormF32(x.data(), mean.data(), var.data(), w.data(), b.data(), ref.data(), 2, 3, 10,
                   1e-5f, nullptr);
  ExpectNear(out, ref, 1e-5f);

  std::vector<float> table = Random(7 * 4, 13), rows(3 * 4), want(3 * 4);
  std::vector<int64_t> ids = {6, 0, 3};
  Case e({Desc({7, 4}), Desc({3}, SINTER_I64)}, Desc({3, 4}));
  KernelDef ek;
  e.Plan("embedding", ek);
  e.Run({table.data(), ids.data()}, rows.data());
  kc::EmbeddingF32(table.data(), 7, 4, ids.data(), 3, want.data());
  EXPECT_EQ(rows, want);

  // Out of range (either side): one documented behaviour on both backends,
  // a NaN row, and the rows in range still looked up.
  ids = {7, 2, -1};
  e.Run({table.data(), ids.data()}, rows.data());
  kc::EmbeddingF32(table.data(), 7, 4, ids.data(), 3, want.data());
  for (int64_t r : {0, 2}) {
    for (int j = 0; j < 4; ++j) {
      EXPECT_TRUE(std::isnan(rows[r * 4 + j])) << "CUDA row " << r;
      EXPECT_TRUE(std::isnan(want[r * 4 + j])) << "CPU row " << r;
    }
  }
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(rows[4 + j], table[2 * 4 + j]);
    EXPECT_EQ(want[4 + j], table[2 * 4 + j]);
  }
}

TEST(CudaHostKernels, F16StorageRoundTripsAndPoolsInF32) {
  const int64_t n = 2 * 3 * 15 * 15;
  std::vector<float> in = Random(n, 14), back(n);
  std::vector<uint16_t> half(n);
  Case to({Desc({2, 3, 15, 15})}, Desc({2, 3, 15, 15}, SINTER_F16));
  KernelDef k1;
  to.Plan("cast", k1);
  to.Run({in.data()}, half.data());
  Case from({Desc({2, 3, 15, 15}, SINTER_F16)}, Desc({2, 3, 15, 15}));
  KernelDef k2;
  from.Plan("cast", k2);
  from.Run({half.data()}, back.data());
  ExpectNear(back, in, 1.0f / 2048);  // f16 keeps 11 significant bits

  // Max pool on f16 storage equals the f32 pool of the rounded input.
  std::vector<uint16_t> pooled(2 * 3 * 64);
  Case pool({Desc({2, 3, 15, 15}, SINTER_F16)}, Desc({2, 3, 8, 8}, SINTER_F16));
  KernelDef k3;
  pool.Plan("max_pool2d", k3.Ints("kernel", {3, 3})
                              .Ints("stride", {2, 2})
                              .Ints("padding", {1, 1})
                              .Ints("dilation", {1, 1})
                              .Bool("ceil_mode", false));
  pool.Run({half.data()}, pooled.data());
  std::vector<float> ref(2 * 3 * 64), pooled_f(2 * 3 * 64);
  kc::MaxPool2dF32({2, 3, 15, 15, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1}, back.data(), ref.data(), nullptr);
  Case up({Desc({2, 3, 8, 8}, SINTER_F16)}, Desc({2, 3, 8, 8}));
  KernelDef k4;
  up.Plan("cast", k4);
  up.Run({pooled.data()}, pooled_f.data());
  EXPECT_EQ(pooled_f, ref);
}

// Float-to-integer casts of NaN, infinities and out-of-range values give what
// LibTorch 1.13 gives on x86 (kernels/cast.h), not CUDA's saturating cvt: the
// expected values are LibTorch's, from torch.tensor(values).to(torch.int32 /
// torch.int64). (The CPU kernel is checked against LibTorch by the parity
// case op_cast_out_of_range.)
TEST(CudaHostKernels, CastsOfNanAndOutOfRangeFloatsMatchLibTorch) {
  const float nan = std::nanf(""), inf = INFINITY;
  std::vector<float> in = {300.f, -1.f,   255.9f, -0.5f,        nan,           inf,     -inf,
                           1e10f, -1e10f, 3e9f,   2147483647.f, -2147483648.f, 9.3e18f, -9.3e18f};
  const int64_t n = static_cast<int64_t>(in.size());
  const int32_t i32min = INT32_MIN;
  const int64_t i64min = INT64_MIN;
  const std::vector<int32_t> want32 = {300,    -1,     255,    0,      i32min, i32min, i32min,
                                       i32min, i32min, i32min, i32min, i32min, i32min, i32min};
  const std::vector<int64_t> want64 = {
      300,         -1,           255,        0,          i64min,      i64min, i64min,
      10000000000, -10000000000, 3000000000, 2147483648, -2147483648, i64min, i64min};
  std::vector<int32_t> got32(n);
  std::vector<int64_t> got64(n);
  Case c32({Desc({n})}, Desc({n}, SINTER_I32));
  KernelDef k32;
  c32.Plan("cast", k32);
  c32.Run({in.data()}, got32.data());
  EXPECT_EQ(got32, want32);
  Case c64({Desc({n})}, Desc({n}, SINTER_I64));
  KernelDef k64;
  c64.Plan("cast", k64);
  c64.Run({in.data()}, got64.data());
  EXPECT_EQ(got64, want64);

  // Back to float: nearest (2^40 + 5 is not a float).
  std::vector<float> back(2);
  const std::vector<int64_t> big = {(int64_t{1} << 40) + 5, INT64_MAX};
  Case f({Desc({2}, SINTER_I64)}, Desc({2}));
  KernelDef kf;
  f.Plan("cast", kf);
  f.Run({const_cast<int64_t*>(big.data())}, back.data());
  EXPECT_EQ(back, (std::vector<float>{1099511627776.f, 9.223372036854775808e18f}));
}

// An attention mask the way masked_fill lowers it: where(gt(scores, t), scores, fill),
// every operand broadcast differently.
TEST(CudaHostKernels, CompareAndWhereBroadcast) {
  std::vector<float> scores = Random(2 * 3 * 4, 15), thr = Random(4, 16), fill = {-1e9f};
  std::vector<uint8_t> mask(24);
  Case c({Desc({2, 3, 4}), Desc({4})}, Desc({2, 3, 4}, SINTER_BOOL));
  KernelDef k;
  c.Plan("gt", k);
  c.Run({scores.data(), thr.data()}, mask.data());
  for (int i = 0; i < 24; ++i) ASSERT_EQ(mask[i], scores[i] > thr[i % 4] ? 1 : 0) << i;
  std::vector<float> out(24);
  Case w({Desc({2, 3, 4}, SINTER_BOOL), Desc({2, 3, 4}), Desc({})}, Desc({2, 3, 4}));
  KernelDef wk;
  w.Plan("where", wk);
  w.Run({mask.data(), scores.data(), fill.data()}, out.data());
  for (int i = 0; i < 24; ++i) ASSERT_EQ(out[i], mask[i] ? scores[i] : -1e9f) << i;
  // NaN compares false but under ne.
  std::vector<float> nan = {NAN}, one = {1.f};
  uint8_t r = 7;
  for (const char* op : {"gt", "eq", "ne"}) {
    Case n({Desc({1}), Desc({1})}, Desc({1}, SINTER_BOOL));
    KernelDef nk;
    n.Plan(op, nk);
    n.Run({nan.data(), one.data()}, &r);
    EXPECT_EQ(r, std::string(op) == "ne" ? 1 : 0) << op;
  }
}

TEST(CudaHostKernels, PlannerRefusesWhatDoesNotFit) {
  {
    Case c({Desc({2, 3})}, Desc({3, 2}));
    KernelDef k;
    c.Plan("transpose", k.Ints("perm", {0, 0}));
    EXPECT_EQ(c.plan.status().code(), SINTER_INVALID_ARGUMENT);
  }
  {
    Case c({Desc({2, 3}), Desc({3})}, Desc({2, 3}));
    KernelDef k;
    c.Plan("batch_norm", k.Float("eps", 1e-5));
    EXPECT_EQ(c.plan.status().code(), SINTER_DATA_LOSS) << c.plan.status().message();
  }
  {
    Case c({Desc({2, 3}), Desc({2, 4})}, Desc({2, 8}));
    KernelDef k;
    c.Plan("concat", k.Int("axis", 1));
    EXPECT_EQ(c.plan.status().code(), SINTER_INVALID_ARGUMENT);
  }
  {  // comparisons of integers have no CUDA kernel
    Case c({Desc({2}, SINTER_I64), Desc({2}, SINTER_I64)}, Desc({2}, SINTER_BOOL));
    KernelDef k;
    c.Plan("gt", k);
    EXPECT_EQ(c.plan.status().code(), SINTER_UNIMPLEMENTED);
  }
  {
    Case c({Desc({2, 3})}, Desc({2, 3}));
    KernelDef k;
    c.Plan("lstm", k);
    EXPECT_EQ(c.plan.status().code(), SINTER_UNIMPLEMENTED);
  }
  {  // a generated kernel whose launch attributes are missing
    Case c({Desc({2, 3})}, Desc({2, 3}));
    KernelDef k;
    c.Plan("fused_elementwise", k);
    EXPECT_FALSE(c.plan.ok());
  }
}

}  // namespace
