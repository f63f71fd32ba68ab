// Resource usage of compiled CUDA kernels without a GPU: ptxas's verbose
// report parsed from NVRTC's log, the occupancy calculator on each
// architecture's limits, and real emitted kernels (an elementwise body, a
// block softmax) compiled for sm_80 and sm_90: no spills, full occupancy;
// the hand-written kernels likewise; and BuildCudaModule's usage table,
// which `sinterc --report` prints.
#include <set>
#include "absl/strings/str_cat.h"

#include "codegen/cuda/cuda_emitter.h"
#include "codegen/cuda/cuda_target.h"
#include "codegen/cuda/embedded_kernels.h"
#include "codegen/cuda/nvrtc.h"
#include "codegen/cuda/resources.h"
#include "gtest/gtest.h"
#include "ir/parser.h"
#include "kernels/cuda/params.h"
#include "tests/body_program.h"

namespace sinter::codegen::cuda {
namespace {

TEST(PtxasReport, ParsesEveryEntryFunctionAndKeepsOtherLines) {
  const std::string log =
      "ptxas info    : 0 bytes gmem\n"
      "ptxas info    : Compiling entry function 'k' for 'sm_90'\n"
      "ptxas info    : Function properties for k\n"
      "ptxas         .     16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\n"
      "ptxas info    : Used 10 registers, used 1 barriers, 256 bytes smem\n"
      "ptxas info    : Compile time = 16.652 ms\n"
      "sinter_module.cu(3): warning #177-D: variable \"t\" was declared but never referenced\n"
      "ptxas info    : Compiling entry function 'sinter_g1' for 'sm_90'\n"
      "ptxas info    : Function properties for sinter_g1\n"
      "ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
      "ptxas info    : Used 40 registers, used 0 barriers\n";
  std::string rest;
  const std::vector<KernelResources> r = ParsePtxasReport(log, &rest);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].kernel, "k");
  EXPECT_EQ(r[0].arch, "sm_90");
  EXPECT_EQ(r[0].registers, 10);
  EXPECT_EQ(r[0].barriers, 1);
  EXPECT_EQ(r[0].shared_bytes, 256);
  EXPECT_EQ(r[0].stack_bytes, 16);
  EXPECT_EQ(r[0].spill_store_bytes, 8);
  EXPECT_EQ(r[0].spill_load_bytes, 4);
  EXPECT_EQ(r[1].kernel, "sinter_g1");
  EXPECT_EQ(r[1].registers, 40);
  EXPECT_EQ(r[1].shared_bytes, 0);
  EXPECT_EQ(rest,
            "sinter_module.cu(3): warning #177-D: variable \"t\" was declared but never "
            "referenced");
}

TEST(Occupancy, TheCalculatorsLimits) {
  const SmLimits* sm90 = FindSmLimits("sm_90");
  const SmLimits* sm86 = FindSmLimits("sm_86");
  const SmLimits* sm80 = FindSmLimits("sm_80");
  ASSERT_TRUE(sm90 && sm86 && sm80);
  EXPECT_EQ(FindSmLimits("sm_42"), nullptr);
  EXPECT_EQ(FindSmLimits("compute_90"), nullptr);
  KernelResources r;
  r.registers = 10;
  // 8 blocks of 8 warps fill an sm_90's 64 warps.
  Occupancy o = ComputeOccupancy(r, 256, 0, *sm90);
  EXPECT_EQ(o.blocks_per_sm, 8);
  EXPECT_EQ(o.fraction, 1.0);
  EXPECT_EQ(o.limiter, "threads");
  // 64-thread blocks stop at 32 blocks: 64 of 64 warps; an sm_86 at 16
  // blocks: 32 of its 48 warps.
  o = ComputeOccupancy(r, 64, 0, *sm90);
  EXPECT_EQ(o.blocks_per_sm, 32);
  EXPECT_EQ(o.fraction, 1.0);
  o = ComputeOccupancy(r, 64, 0, *sm86);
  EXPECT_EQ(o.blocks_per_sm, 16);
  EXPECT_EQ(o.limiter, "blocks");
  EXPECT_NEAR(o.fraction, 32.0 / 48, 1e-12);
  // 255 registers: 8160 per warp, 8192 allocated, 8 warps per SM.
  r.registers = 255;
  o = ComputeOccupancy(r, 256, 0, *sm90);
  EXPECT_EQ(o.blocks_per_sm, 1);
  EXPECT_EQ(o.limiter, "registers");
  EXPECT_EQ(o.fraction, 8.0 / 64);
  // 48 KiB of shared memory (+1 KiB reserved) per block: 3 fit in 164 KiB.
  r.registers = 32;
  r.shared_bytes = 48 * 1024;
  o = ComputeOccupancy(r, 256, 0, *sm80);
  EXPECT_EQ(o.blocks_per_sm, 3);
  EXPECT_EQ(o.limiter, "shared memory");
  // More than a block may have: nothing runs.
  o = ComputeOccupancy(r, 256, 200 * 1024, *sm80);
  EXPECT_EQ(o.blocks_per_sm, 0);
}

TEST(Occupancy, EmittedKernelsCompileWithoutSpillsAtFullOccupancy) {
  if (!NvrtcVersion().ok()) GTEST_SKIP() << "NVRTC not loadable: " << NvrtcVersion().status();
  auto ew = EmitFusedKernel(
      "ew", sinter::testing::BodyFromProgram("t0 = mul $0 $1; t1 = gelu t0", 2, format::DType::F16),
      {{64, 128}, {128}}, {64, 128});
  ASSERT_TRUE(ew.ok()) << ew.status();
  FusedReductionSpec spec{"softmax", -1, 0, 1};
  auto sm = EmitFusedReductionKernel("row", spec, {{64, 1000}}, {64, 1000}, Precision::kF32);
  ASSERT_TRUE(sm.ok()) << sm.status();
  for (const char* arch : {"sm_80", "sm_90"}) {
    SCOPED_TRACE(arch);
    auto bin = CompileCuda(ew->source + sm->source, "both", arch, false);
    ASSERT_TRUE(bin.ok()) << bin.status();
    EXPECT_EQ(bin->log, "");
    ASSERT_EQ(bin->resources.size(), 2u);
    for (const KernelResources& r : bin->resources) {
      SCOPED_TRACE(r.kernel);
      EXPECT_EQ(r.arch, arch);
      EXPECT_GT(r.registers, 0);
      EXPECT_EQ(r.spill_store_bytes + r.spill_load_bytes, 0);
      const int threads =
          r.kernel == "ew" ? ew->launch.threads_per_block : sm->launch.threads_per_block;
      const Occupancy o = ComputeOccupancy(r, threads, 0, *FindSmLimits(arch));
      EXPECT_EQ(o.fraction, 1.0) << o.limiter << ", " << r.registers << " registers";
    }
  }
}

// The hand-written kernels (kernels/cuda/kernels.cuh, every dtype
// instantiation), compiled as BuildCudaModule compiles them, at the block
// size the runtime launches them with: nothing spills, and each keeps at
// least half of the SM's warps resident (grid-stride loops over global
// memory: latency is hidden by resident warps, as for generated kernels).
TEST(Occupancy, HandWrittenKernelsDoNotSpill) {
  if (!NvrtcVersion().ok()) GTEST_SKIP() << "NVRTC not loadable: " << NvrtcVersion().status();
  const std::string source =
      absl::StrCat(kCudaParamsH, "\n", kCastH, "\n", kGridSampleH, "\n", kCudaKernelsCuh, "\n");
  for (const char* arch : {"sm_80", "sm_90"}) {
    SCOPED_TRACE(arch);
    auto bin = CompileCuda(source, "hand_written", arch, false);
    ASSERT_TRUE(bin.ok()) << bin.status();
    // Copies, pools, reductions, batch norm, embedding, compares, wheres
    // and casts, in every dtype: dozens of entry functions.
    EXPECT_GT(bin->resources.size(), 20u);
    for (const KernelResources& r : bin->resources) {
      SCOPED_TRACE(r.kernel);
      EXPECT_EQ(r.spill_store_bytes + r.spill_load_bytes, 0) << r.registers << " registers";
      const Occupancy o = ComputeOccupancy(r, SINTER_CUDA_HAND_BLOCK, 0, *FindSmLimits(arch));
      EXPECT_GE(o.fraction, 0.5) << o.limiter << ", " << r.registers << " registers";
    }
  }
}

// The module the CUDA target builds reports every entry function on every
// real architecture (never the PTX-only one), generated kernels at their own
// block size and hand-written ones at SINTER_CUDA_HAND_BLOCK.
TEST(Occupancy, ModuleUsageCoversEveryKernelAndArch) {
  if (!NvrtcVersion().ok()) GTEST_SKIP() << "NVRTC not loadable: " << NvrtcVersion().status();
  auto g = ir::Parse(R"(
graph @main(%x: f32[4,1000]) {
  %p = softmax(%x) {axis = -1} : f32[4,1000]
  return %p
})");
  ASSERT_TRUE(g.ok()) << g.status();
  CudaTargetOptions options;
  options.archs = {"sm_80", "sm_90"};
  auto m = BuildCudaModule(**g, options);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->generated_kernels, 1);
  int generated = 0, hand = 0;
  std::set<std::string> archs;
  for (const KernelUsage& u : m->usage) {
    archs.insert(u.resources.arch);
    if (u.generated) {
      ++generated;
      EXPECT_EQ(u.resources.kernel, "sinter_g0");
      EXPECT_EQ(u.threads_per_block, m->code.begin()->second.at(0).block);
    } else {
      ++hand;
      EXPECT_EQ(u.threads_per_block, SINTER_CUDA_HAND_BLOCK);
    }
    EXPECT_GT(u.occupancy.blocks_per_sm, 0) << u.resources.kernel;
  }
  EXPECT_EQ(generated, 2);  // once per architecture
  EXPECT_GT(hand, 40);
  EXPECT_EQ(archs, (std::set<std::string>{"sm_80", "sm_90"}));
}

}  // namespace
}  // namespace sinter::codegen::cuda
