// CUDA emitter and NVRTC: hand-written kernel bodies covering every row of
// the vocabulary, the broadcast patterns the models produce, odd sizes, all
// three float storages and mixed dtypes (bool masks, integer inputs and
// results) are emitted, checked for the path they should take, and compiled
// with NVRTC for sm_80 and sm_90 (no GPU needed). Without NVRTC the compile
// tests skip with the loader's reason.
#include <chrono>
#include <map>

#include "absl/strings/str_cat.h"
#include "codegen/cuda/cuda_emitter.h"
#include "codegen/cuda/nvrtc.h"
#include "gtest/gtest.h"
#include "tests/body_program.h"

namespace sinter::codegen::cuda {
namespace {

using Shapes = std::vector<std::vector<int64_t>>;
using sinter::testing::BodyFromProgram;

format::DType StorageOf(Precision p) {
  return p == Precision::kF32   ? format::DType::F32
         : p == Precision::kF16 ? format::DType::F16
                                : format::DType::BF16;
}

// A program (tests/body_program.h) over float storage `p`.
absl::StatusOr<CudaKernel> Emit(const std::string& name, const std::string& program,
                                const Shapes& inputs, const std::vector<int64_t>& output,
                                Precision p) {
  return EmitFusedKernel(name,
                         BodyFromProgram(program, static_cast<int>(inputs.size()), StorageOf(p)),
                         inputs, output);
}

#define SKIP_WITHOUT_NVRTC()                                           \
  do {                                                                 \
    absl::StatusOr<std::pair<int, int>> v = NvrtcVersion();            \
    if (!v.ok()) GTEST_SKIP() << "NVRTC not loadable: " << v.status(); \
  } while (0)

// Every op of the fused program set, in one chain over three inputs.
constexpr char kAllOps[] =
    "t0 = relu $0; t1 = sigmoid t0; t2 = tanh t1; t3 = exp t2; t4 = log t3; t5 = sqrt t4; "
    "t6 = rsqrt t5; t7 = neg t6; t8 = abs t7; t9 = erf t8; t10 = reciprocal t9; t11 = silu t10; "
    "t12 = gelu t11; t13 = gelu_tanh t12; t14 = hardswish t13; t15 = hardsigmoid t14; "
    "t16 = leaky_relu t15 0.01; t17 = elu t16 1; t18 = clamp t17 -inf 6; t19 = clamp t18 0 inf; "
    "t20 = add t19 $1; t21 = sub t20 $2; t22 = mul t21 2.5; t23 = div t22 $1; t24 = pow t23 2; "
    "t25 = pow t24 $2; t26 = maximum t25 $0; t27 = minimum t26 -0.001; t28 = gt t27 $1; "
    "t29 = ge t27 0.5; t30 = lt t27 $0; t31 = le t27 $2; t32 = eq t28 t29; t33 = ne t30 t31; "
    "t34 = eq t32 t33; t35 = where t34 t27 $0; t36 = ne t35 1; t37 = where t36 t35 -inf";

struct Case {
  std::string name, program;
  Shapes inputs;
  std::vector<int64_t> output;
  // Expected plan per precision: f32, then f16 and bf16.
  std::string plan_f32, plan_16;
};

// Broadcast patterns and sizes. Plans: the collapsed iteration space and
// whether 128-bit vectors (4 f32 / 8 f16) apply.
std::vector<Case> Cases() {
  return {
      {"all_ops_same_shape",
       kAllOps,
       {{2, 3, 8, 8}, {2, 3, 8, 8}, {2, 3, 8, 8}},
       {2, 3, 8, 8},
       "[384] vector4",
       "[384] vector8"},
      {"all_ops_scalars",
       kAllOps,
       {{2, 3, 8, 8}, {}, {1}},
       {2, 3, 8, 8},
       "[384] vector4",
       "[384] vector8"},
      {"all_ops_per_channel",
       kAllOps,
       {{2, 16, 7, 8}, {16, 1, 1}, {1, 16, 1, 1}},
       {2, 16, 7, 8},
       "[2,16,56] vector4",
       "[2,16,56] vector8"},
      {"all_ops_odd",
       kAllOps,
       {{3, 5, 7}, {3, 5, 7}, {}},
       {3, 5, 7},
       "[105] vector4+tail",
       "[105] vector8+tail"},
      {"per_channel_odd",
       "t0 = mul $0 $1; t1 = add t0 $2; t2 = relu t1",
       {{2, 16, 7, 7}, {16, 1, 1}, {16, 1, 1}},
       {2, 16, 7, 7},
       "[2,16,49] scalar",
       "[2,16,49] scalar"},
      {"row_vector",
       "t0 = add $0 $1; t1 = gelu t0",
       {{4, 6, 12}, {12}},
       {4, 6, 12},
       "[24,12] vector4",
       "[24,12] scalar"},
      {"row_vector_odd",
       "t0 = add $0 $1; t1 = gelu t0",
       {{4, 6, 10}, {10}},
       {4, 6, 10},
       "[24,10] scalar",
       "[24,10] scalar"},
      {"column",
       "t0 = sub $0 $1; t1 = exp t0",
       {{5, 16}, {5, 1}},
       {5, 16},
       "[5,16] vector4",
       "[5,16] vector8"},
      {"outer_product",
       "t0 = mul $0 $1",
       {{3, 1}, {1, 8}},
       {3, 8},
       "[3,8] vector4",
       "[3,8] vector8"},
      {"epilogue_residual",
       "t0 = add $0 $1; t1 = relu t0",
       {{1, 64, 28, 28}, {1, 64, 28, 28}},
       {1, 64, 28, 28},
       "[50176] vector4",
       "[50176] vector8"},
      {"se_scale",
       "t0 = sigmoid $1; t1 = mul $0 t0",
       {{1, 32, 14, 14}, {1, 32, 1, 1}},
       {1, 32, 14, 14},
       "[32,196] vector4",
       "[32,196] scalar"},
      {"unused_input", "t0 = hardswish $1", {{7}, {7}}, {7}, "[7] vector4+tail", "[7] scalar"},
      {"one_element", "t0 = clamp $0 -1 1", {{1, 1, 1}}, {1, 1, 1}, "[1] scalar", "[1] scalar"},
      {"tiny",
       "t0 = maximum $0 $1; t1 = minimum t0 3",
       {{3}, {3}},
       {3},
       "[3] scalar",
       "[3] scalar"},
      {"empty", "t0 = relu $0", {{0, 4}}, {0, 4}, "[0] scalar", "[0] scalar"},
      {"constants_only",
       "t0 = add 1 2; t1 = pow t0 0.5",
       {{2, 2}},
       {2, 2},
       "[4] vector4",
       "[4] scalar"},
      {"wide_index",
       "t0 = add $0 $1",
       {{3, int64_t{1} << 30}, {3, 1}},
       {3, int64_t{1} << 30},
       "[3,1073741824] vector4",
       "[3,1073741824] vector8"},
  };
}

const Precision kPrecisions[] = {Precision::kF32, Precision::kF16, Precision::kBF16};

std::string KernelName(const Case& c, Precision p) {
  return absl::StrCat(c.name, "_", PrecisionName(p));
}

TEST(CudaEmitter, PlansAndPaths) {
  for (const Case& c : Cases()) {
    for (Precision p : kPrecisions) {
      SCOPED_TRACE(KernelName(c, p));
      absl::StatusOr<CudaKernel> k = Emit(KernelName(c, p), c.program, c.inputs, c.output, p);
      ASSERT_TRUE(k.ok()) << k.status();
      const std::string& want = p == Precision::kF32 ? c.plan_f32 : c.plan_16;
      EXPECT_EQ(k->plan, want);
      const bool vector = want.find("vector") != std::string::npos;
      const std::string access = p == Precision::kF32 ? "float4" : "uint4";
      // The 128-bit helpers are always in the prelude; the kernel uses them
      // only on the vector path, behind an alignment check.
      EXPECT_NE(k->source.find(access), std::string::npos);
      EXPECT_EQ(k->source.find("sinter_ldv(in") != std::string::npos ||
                    k->source.find("sinter_stv(out") != std::string::npos,
                vector);
      EXPECT_EQ(k->source.find("sinter_aligned16(out)") != std::string::npos, vector);
      EXPECT_EQ(k->launch.vector_width, vector ? (p == Precision::kF32 ? 4 : 8) : 1);
      EXPECT_NE(k->source.find(absl::StrCat("extern \"C\" __global__ void __launch_bounds__(256) ",
                                            k->name, "(")),
                std::string::npos);
      EXPECT_EQ(k->num_inputs, static_cast<int>(c.inputs.size()));
    }
  }
}

TEST(CudaEmitter, Details) {
  // Dense inputs may alias the output (epilogues run in place): no
  // __restrict__ there; broadcast ones get it.
  auto k = Emit("k", "t0 = add $0 $1", {{4, 8}, {8}}, {4, 8}, Precision::kF32);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_NE(k->source.find("const float* in0"), std::string::npos);
  EXPECT_NE(k->source.find("const float* __restrict__ in1"), std::string::npos);
  // Constants read back exactly; infinite clamp bounds; x ** 2 is x * x.
  // (f16 storage: t0 is the argument's cast to f32, t1 the constant.)
  k = Emit("k", "t0 = mul $0 0.1; t1 = clamp t0 -inf 6; t2 = pow t1 2", {{5}}, {5},
           Precision::kF16);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_NE(k->source.find("const float t0 = x0;"), std::string::npos) << k->source;
  EXPECT_NE(k->source.find("const float t1 = 0.100000001f;"), std::string::npos) << k->source;
  EXPECT_NE(k->source.find("sinter_clamp(t2, (-SINTER_INF), 6.0f)"), std::string::npos);
  EXPECT_NE(k->source.find("t3 * t3"), std::string::npos);
  EXPECT_NE(k->source.find("#include <cuda_fp16.h>"), std::string::npos);
  // Past 2^31 elements the indices are 64-bit.
  k = Emit("k", "t0 = relu $0", {{3, int64_t{1} << 30}}, {3, int64_t{1} << 30}, Precision::kF32);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_NE(k->source.find("unsigned long long i"), std::string::npos);
}

TEST(CudaEmitter, Launch) {
  auto k = Emit("k", "t0 = relu $0", {{1 << 20}}, {1 << 20}, Precision::kF32);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->launch.threads_per_block, 256);
  EXPECT_EQ(k->launch.elements_per_thread, 4);
  EXPECT_EQ(k->launch.work_items, (1 << 20) / 4);
  EXPECT_EQ(k->launch.GridSize(1000), (1 << 20) / 4 / 256);             // 1024 blocks
  EXPECT_EQ(k->launch.GridSize(10), 10 * k->launch.max_blocks_per_sm);  // capped
  k = Emit("k", "t0 = relu $0", {{1001}}, {1001}, Precision::kF32);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->launch.work_items, 250);
  EXPECT_EQ(k->launch.GridSize(132), 1);
  k = Emit("k", "t0 = relu $0", {{0}}, {0}, Precision::kF32);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->launch.GridSize(132), 0);
}

TEST(CudaEmitter, Errors) {
  // A body that fails the description's check: an op out of the vocabulary,
  // an operand that is not an earlier value.
  format::KernelBody body = BodyFromProgram("t0 = relu $0; t1 = exp t0", 1);
  body.instrs[1].op = static_cast<format::BodyOp>(200);
  auto k = EmitFusedKernel("k", body, {{4}}, {4});
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(k.status().message().find("unknown op"), std::string::npos) << k.status();
  body = BodyFromProgram("t0 = relu $0; t1 = exp t0", 1);
  body.instrs[1].a = 2;
  k = EmitFusedKernel("k", body, {{4}}, {4});
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("not an earlier value"), std::string::npos) << k.status();
  // Arguments and inputs disagree.
  k = EmitFusedKernel("k", BodyFromProgram("t0 = add $0 $1", 2), {{4}}, {4});
  EXPECT_FALSE(k.ok());
  k = Emit("k", "t0 = add $0 $1", {{4}, {3}}, {4}, Precision::kF32);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("does not broadcast"), std::string::npos) << k.status();
  k = Emit("k", "t0 = relu $0", {{2, 4}}, {4}, Precision::kF32);
  EXPECT_FALSE(k.ok());
  k = Emit("1bad-name", "t0 = relu $0", {{4}}, {4}, Precision::kF32);
  EXPECT_FALSE(k.ok());
  k = Emit("k", "t0 = relu $0", {{-1}}, {-1}, Precision::kF32);
  EXPECT_FALSE(k.ok());
}

// Typed bodies: a bool mask and an i64 index read through casts, a bool and
// an i32 result. Each tensor gets its C type and its conversion; mixed
// dtypes take the scalar path.
format::KernelBody MaskedBody() {
  using format::BodyInstr;
  using format::BodyOp;
  using format::DType;
  format::KernelBody b;
  b.args = {DType::F32, DType::BOOL, DType::I64};
  b.instrs = {
      {BodyOp::kCast, DType::F32, 2},    // %3 = f32(index)
      {BodyOp::kAdd, DType::F32, 0, 3},  // %4 = x + index
      {BodyOp::kConst, DType::F32, -1, -1, -1, -1e9f},
      {BodyOp::kWhere, DType::F32, 1, 4, 5},  // %6 = mask ? %4 : -1e9
      {BodyOp::kCast, DType::I32, 6},         // %7 = i32(%6)
  };
  b.result = 7;
  return b;
}

TEST(CudaEmitter, TypedBodies) {
  auto k = EmitFusedKernel("typed", MaskedBody(), {{4, 8}, {4, 8}, {8}}, {4, 8});
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_NE(k->source.find("const float* in0"), std::string::npos) << k->source;
  EXPECT_NE(k->source.find("const unsigned char* in1"), std::string::npos);
  EXPECT_NE(k->source.find("const long long* __restrict__ in2"), std::string::npos);
  EXPECT_NE(k->source.find("int* out"), std::string::npos);
  EXPECT_NE(k->source.find("sinter_st_i32(out + i"), std::string::npos);
  EXPECT_NE(k->source.find("(x1 != 0.f ? t1 : t2)"), std::string::npos) << k->source;
  EXPECT_EQ(k->launch.vector_width, 1);
  // A comparison stored as bool.
  k = EmitFusedKernel("cmp", BodyFromProgram("t0 = gt $0 $1", 2), {{16}, {16}}, {16});
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_NE(k->source.find("unsigned char* out"), std::string::npos);
  EXPECT_NE(k->source.find("sinter_st_bool(out + i"), std::string::npos);
  EXPECT_NE(k->source.find("((x0 > x1) ? 1.f : 0.f)"), std::string::npos) << k->source;
}

TEST(Nvrtc, CompilesTypedBodies) {
  SKIP_WITHOUT_NVRTC();
  std::string all;
  for (const auto& [name, kernel] :
       {std::pair{"typed", EmitFusedKernel("typed", MaskedBody(), {{4, 8}, {4, 8}, {8}}, {4, 8})},
        std::pair{"cmp", EmitFusedKernel("cmp", BodyFromProgram("t0 = gt $0 $1", 2), {{16}, {16}},
                                         {16})}}) {
    ASSERT_TRUE(kernel.ok()) << name << ": " << kernel.status();
    absl::StatusOr<CompiledKernel> bin = CompileCuda(kernel->source, name, "sm_90", false);
    ASSERT_TRUE(bin.ok()) << bin.status() << "\n" << kernel->source;
    EXPECT_EQ(bin->log, "") << "NVRTC warnings for\n" << kernel->source;
    all += kernel->source;
  }
  ASSERT_TRUE(CompileCuda(all, "typed_all", "sm_80", false).ok());
}

TEST(Nvrtc, CompilesEveryCaseForSm80AndSm90) {
  SKIP_WITHOUT_NVRTC();
  int compiled = 0;
  const auto start = std::chrono::steady_clock::now();
  for (Precision p : kPrecisions) {
    // Each kernel on its own for sm_90, and all of one precision as one
    // translation unit (the include guards make that legal) for sm_80.
    std::string all;
    std::vector<std::string> names;
    for (const Case& c : Cases()) {
      absl::StatusOr<CudaKernel> k = Emit(KernelName(c, p), c.program, c.inputs, c.output, p);
      ASSERT_TRUE(k.ok()) << k.status();
      absl::StatusOr<CompiledKernel> bin = CompileCuda(k->source, k->name, "sm_90", false);
      ASSERT_TRUE(bin.ok()) << bin.status() << "\n" << k->source;
      EXPECT_FALSE(bin->cubin.empty());
      EXPECT_TRUE(bin->ptx.empty());
      EXPECT_EQ(bin->log, "") << "NVRTC warnings for\n" << k->source;
      ++compiled;
      all += k->source;
      names.push_back(k->name);
    }
    SCOPED_TRACE(absl::StrCat(PrecisionName(p), " sm_80, one translation unit"));
    absl::StatusOr<CompiledKernel> bin =
        CompileCuda(all, absl::StrCat("cases_", PrecisionName(p)), "sm_80", false);
    ASSERT_TRUE(bin.ok()) << bin.status();
    const std::string elf(bin->cubin.begin(), bin->cubin.end());
    EXPECT_EQ(elf.compare(0, 4, "\177ELF"), 0);
    for (const std::string& name : names) EXPECT_NE(elf.find(name), std::string::npos) << name;
    compiled += static_cast<int>(names.size());
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("kernels_compiled", compiled);
  std::printf("compiled %d kernels with NVRTC in %.1f s\n", compiled, s);
}

TEST(Nvrtc, PtxForForwardCompatibility) {
  SKIP_WITHOUT_NVRTC();
  auto k = Emit("fwd", "t0 = gelu_tanh $0", {{64}}, {64}, Precision::kBF16);
  ASSERT_TRUE(k.ok()) << k.status();
  absl::StatusOr<CompiledKernel> bin = CompileCuda(k->source, k->name, "sm_90", true);
  ASSERT_TRUE(bin.ok()) << bin.status();
  EXPECT_FALSE(bin->cubin.empty());
  EXPECT_NE(bin->ptx.find(".target sm_90"), std::string::npos);
  EXPECT_NE(bin->ptx.find(".entry fwd("), std::string::npos);
  // A virtual arch gives PTX only.
  bin = CompileCuda(k->source, k->name, "compute_90", false);
  ASSERT_TRUE(bin.ok()) << bin.status();
  EXPECT_TRUE(bin->cubin.empty());
  EXPECT_NE(bin->ptx.find(".entry fwd("), std::string::npos);
}

TEST(Nvrtc, Errors) {
  SKIP_WITHOUT_NVRTC();
  // A compile error carries NVRTC's log.
  absl::StatusOr<CompiledKernel> bin = CompileCuda(
      "extern \"C\" __global__ void k() { undeclared_thing(); }", "broken", "sm_90", false);
  ASSERT_FALSE(bin.ok());
  EXPECT_EQ(bin.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bin.status().message().find("undeclared_thing"), std::string::npos) << bin.status();
  EXPECT_NE(bin.status().message().find("broken.cu"), std::string::npos) << bin.status();
  // Malformed arch names never reach NVRTC.
  for (const char* arch : {"90", "sm90", "sm_", "sm_9", "sm_90x", "compute_", "sm_90; rm"}) {
    bin = CompileCuda("", "empty", arch, false);
    ASSERT_FALSE(bin.ok()) << arch;
    EXPECT_EQ(bin.status().code(), absl::StatusCode::kInvalidArgument) << arch;
  }
}

// ---- Fused reductions

// A reduction case: its spec's bodies written as programs (prologue over the
// prologue's inputs, epilogue over the normalised value and the extras).
struct ReductionCase {
  const char* name;
  std::string kind;
  int64_t axis;
  float eps;
  int prologue_inputs;
  std::string prologue, epilogue;
  Shapes inputs;
  std::vector<int64_t> output;
};

// The case's spec, its bodies kept in *bodies (f32 math over `p` storage:
// prologue arguments load the storage, the epilogue's first is f32, its
// result the storage).
FusedReductionSpec SpecOf(const ReductionCase& c, Precision p, format::KernelBody (*bodies)[2]) {
  FusedReductionSpec spec{c.kind, c.axis, c.eps, c.prologue_inputs};
  if (!c.prologue.empty()) {
    (*bodies)[0] = BodyFromProgram(c.prologue, c.prologue_inputs, StorageOf(p));
    // The prologue yields f32: drop the storage cast.
    if (p != Precision::kF32) {
      (*bodies)[0].result = (*bodies)[0].instrs.back().a;
      (*bodies)[0].instrs.pop_back();
    }
    spec.prologue = &(*bodies)[0];
  }
  if (!c.epilogue.empty()) {
    const int extras =
        static_cast<int>(c.inputs.size()) - c.prologue_inputs - (c.kind == "layer_norm" ? 2 : 0);
    format::KernelBody& e = (*bodies)[1];
    e = BodyFromProgram(c.epilogue, 1 + extras, StorageOf(p));
    if (p != Precision::kF32) {
      // Argument 0 is the normalised f32 value, not storage.
      e.args[0] = format::DType::F32;
    }
    spec.epilogue = &e;
  }
  return spec;
}

std::vector<ReductionCase> ReductionCases() {
  return {
      // Attention: scale and a [S,S] mask broadcast over batch and heads.
      {"softmax_scale_mask",
       "softmax",
       -1,
       0,
       2,
       "t0 = mul $0 0.125; t1 = add t0 $1",
       "",
       {{2, 4, 128, 128}, {128, 128}},
       {2, 4, 128, 128}},
      {"softmax_plain", "softmax", 1, 0, 1, "", "", {{7, 1000}}, {7, 1000}},
      {"log_softmax_div", "log_softmax", -1, 0, 1, "t0 = div $0 2", "", {{3, 33}}, {3, 33}},
      // Residual add, layer_norm over two dims, activation times a row vector.
      {"layer_norm_residual_epilogue",
       "layer_norm",
       1,
       1e-5f,
       2,
       "t0 = add $0 $1",
       "t0 = relu $0; t1 = mul t0 $1",
       {{50, 3, 33}, {50, 3, 33}, {3, 33}, {3, 33}, {3, 33}},
       {50, 3, 33}},
      {"layer_norm_plain",
       "layer_norm",
       -1,
       1e-5f,
       1,
       "",
       "",
       {{128, 256}, {256}, {256}},
       {128, 256}},
  };
}

TEST(CudaReductionEmitter, PlanAndLaunch) {
  format::KernelBody bodies[2];
  const ReductionCase c = ReductionCases()[0];
  auto k = EmitFusedReductionKernel("k", SpecOf(c, Precision::kF32, &bodies), c.inputs, c.output,
                                    Precision::kF32);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->plan, "[1024,128] softmax block-per-row");
  EXPECT_EQ(k->launch.threads_per_block, 64);
  EXPECT_EQ(k->launch.GridSize(132), 1024);  // one block per row
  EXPECT_EQ(k->launch.GridSize(2), 64);      // capped; the loop over rows does the rest
  // Deterministic: no atomics, shuffles and shared memory only.
  EXPECT_EQ(k->source.find("atomic"), std::string::npos);
  EXPECT_NE(k->source.find("__shfl_xor_sync"), std::string::npos);
  // The mask is indexed by its broadcast offset, the scores densely.
  EXPECT_NE(k->source.find("sinter_ld(in1 + ((i / 1u % 128u) * 1u + (i / 128u % 128u) * 128u))"),
            std::string::npos)
      << k->source;
  EXPECT_NE(k->source.find("sinter_ld(in0 + (i))"), std::string::npos);
}

TEST(CudaReductionEmitter, Errors) {
  const ReductionCase c = ReductionCases()[3];
  auto bad = [&](FusedReductionSpec spec, Shapes in, std::vector<int64_t> out) {
    return !EmitFusedReductionKernel("k", spec, in, out, Precision::kF32).ok();
  };
  format::KernelBody bodies[2];
  const FusedReductionSpec good = SpecOf(c, Precision::kF32, &bodies);
  FusedReductionSpec spec = good;
  spec.kind = "max";
  EXPECT_TRUE(bad(spec, c.inputs, c.output));
  format::KernelBody three = BodyFromProgram("t0 = add $0 $2", 3);  // 3 arguments for 2 inputs
  spec = good;
  spec.prologue = &three;
  EXPECT_TRUE(bad(spec, c.inputs, c.output));
  spec = good;
  spec.epilogue = nullptr;
  EXPECT_TRUE(bad(spec, c.inputs, c.output));  // operands left over
  Shapes in = c.inputs;
  in[2] = {99};
  EXPECT_TRUE(bad(good, in, c.output));  // weight shape
  in = c.inputs;
  in[4] = {2, 33};
  EXPECT_TRUE(bad(good, in, c.output));                      // epilogue operand does not broadcast
  EXPECT_TRUE(bad({"softmax", 0, 0, 1}, {{4, 8}}, {4, 8}));  // leading axis
  EXPECT_FALSE(
      EmitFusedReductionKernel("not an identifier", good, c.inputs, c.output, Precision::kF32)
          .ok());
}

TEST(Nvrtc, CompilesEveryReductionCase) {
  SKIP_WITHOUT_NVRTC();
  for (Precision p : {Precision::kF32, Precision::kF16, Precision::kBF16}) {
    std::string all;
    for (const ReductionCase& c : ReductionCases()) {
      const std::string name = absl::StrCat(c.name, "_", PrecisionName(p));
      format::KernelBody bodies[2];
      absl::StatusOr<CudaKernel> k =
          EmitFusedReductionKernel(name, SpecOf(c, p, &bodies), c.inputs, c.output, p);
      ASSERT_TRUE(k.ok()) << k.status();
      absl::StatusOr<CompiledKernel> bin = CompileCuda(k->source, k->name, "sm_90", false);
      ASSERT_TRUE(bin.ok()) << bin.status() << "\n" << k->source;
      EXPECT_FALSE(bin->cubin.empty());
      EXPECT_EQ(bin->log, "") << "NVRTC warnings for\n" << k->source;
      all += k->source;
    }
    // With the elementwise kernels' helpers in one translation unit too.
    absl::StatusOr<CudaKernel> ew =
        Emit(absl::StrCat("ew_", PrecisionName(p)), "t0 = relu $0", {{8}}, {8}, p);
    ASSERT_TRUE(ew.ok());
    absl::StatusOr<CompiledKernel> bin = CompileCuda(
        all + ew->source, absl::StrCat("reductions_", PrecisionName(p)), "sm_80", false);
    ASSERT_TRUE(bin.ok()) << bin.status();
  }
}

}  // namespace
}  // namespace sinter::codegen::cuda
