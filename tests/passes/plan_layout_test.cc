// Pass tests for plan-layout: which convolution chains move to channels-last
// for which target, where the transposes go, and the chains that must stay
// NCHW.
#include "gtest/gtest.h"
#include "tests/passes/run_passes.h"

namespace sinter {
namespace {

using ::sinter::testing::RunPasses;

constexpr char kCudaTensorCores[] = "plan-layout{target=cuda tensor_cores=1}";

// A residual block, a global pool and a consumer that needs NCHW.
constexpr char kResidual[] = R"(
graph @main(%x: f32[1,8,16,16], %w1: f32[8,8,3,3], %w2: f32[8,8,3,3]) {
  %a = conv2d(%x, %w1) {dilation = [1, 1], groups = 1, padding = [1, 1], stride = [1, 1]} : f32[1,8,16,16]
  %b = relu(%a) : f32[1,8,16,16]
  %c = conv2d(%b, %w2) {dilation = [1, 1], groups = 1, padding = [1, 1], stride = [1, 1]} : f32[1,8,16,16]
  %d = add(%c, %x) : f32[1,8,16,16]
  %e = relu(%d) : f32[1,8,16,16]
  %p = adaptive_avg_pool2d(%e) {output_size = [1, 1]} : f32[1,8,1,1]
  %f = reshape(%p) {shape = [1, 8]} : f32[1,8]
  %s = softmax(%e) {axis = 1} : f32[1,8,16,16]
  return %f, %s
})";

TEST(PlanLayout, ResidualBlockIsOneChannelsLastRegionOnTensorCores) {
  passes::PassManager pm;
  std::string out = RunPasses(kResidual, kCudaTensorCores, true, &pm);
  // One transpose in for %x, shared by the first conv and the residual add;
  // the weights go OIHW -> OHWI; one transpose out for the softmax; the
  // pooled [1,1,1,8] goes back by a reshape, as it keeps the element order.
  EXPECT_CHECKS(out, R"(
CHECK: %0 = transpose(%x) {perm = [0, 2, 3, 1]} : f32[1,16,16,8]
CHECK: transpose(%w1) {perm = [0, 2, 3, 1]} : f32[8,3,3,8]
CHECK: %2 = conv2d(%0, %1) {dilation = [1, 1], groups = 1, layout = "NHWC", padding = [1, 1], stride = [1, 1]} : f32[1,16,16,8]
CHECK-NEXT: relu(%2) : f32[1,16,16,8]
CHECK: conv2d(%3, %4)
CHECK-NEXT: %6 = add(%5, %0) : f32[1,16,16,8]
CHECK-NEXT: %7 = relu(%6) : f32[1,16,16,8]
CHECK-NEXT: %8 = transpose(%7) {perm = [0, 3, 1, 2]} : f32[1,8,16,16]
CHECK-NEXT: adaptive_avg_pool2d(%7) {layout = "NHWC", output_size = [1, 1]} : f32[1,1,1,8]
CHECK-NEXT: reshape(%9) {shape = [1, 8, 1, 1]} : f32[1,8,1,1]
CHECK: softmax(%8) {axis = 1} : f32[1,8,16,16])");
  ASSERT_EQ(pm.records().size(), 1u);
  const passes::PassStats& st = pm.records()[0].stats;
  EXPECT_EQ(st.at("regions-nhwc"), 1);
  EXPECT_EQ(st.at("ops-nhwc"), 6);  // two convs, two relus, the add, the pool
  // %x in and %e out, 8 KB each; the reshape is free.
  EXPECT_EQ(st.at("bytes-transposed"), 16384);
}

TEST(PlanLayout, TheCpuPlansLikeTensorCores) {
  // The CPU's NHWC kernels gain what cuDNN's tensor-core path gains.
  const std::string cuda = RunPasses(kResidual, kCudaTensorCores);
  EXPECT_EQ(RunPasses(kResidual, "plan-layout"), cuda);
  EXPECT_EQ(RunPasses(kResidual, "plan-layout{target=cpu}"), cuda);
}

TEST(PlanLayout, CudaWithoutTensorCoresAndForcedNchwStayNchw) {
  for (const char* pass :
       {"plan-layout{target=cuda tensor_cores=0}", "plan-layout{target=cpu layout=nchw}",
        "plan-layout{target=cuda tensor_cores=1 layout=nchw}"}) {
    SCOPED_TRACE(pass);
    std::string out = RunPasses(kResidual, pass);
    EXPECT_CHECKS(out, R"(
CHECK-NOT: NHWC
CHECK-NOT: transpose
CHECK: return)");
  }
}

TEST(PlanLayout, ALoneConvolutionDoesNotPayForItsTransposes) {
  // Its own input and output would be transposed: as many bytes as cuDNN's
  // internal transposes save, so the cost model keeps NCHW.
  std::string out = RunPasses(R"(
graph @main(%x: f32[1,8,16,16], %w: f32[8,8,3,3]) {
  %a = conv2d(%x, %w) {dilation = [1, 1], groups = 1, padding = [1, 1], stride = [1, 1]} : f32[1,8,16,16]
  %s = softmax(%a) {axis = 1} : f32[1,8,16,16]
  return %s
})",
                              kCudaTensorCores);
  EXPECT_CHECKS(out, R"(
CHECK-NOT: transpose
CHECK: conv2d(%x, %w) {dilation = [1, 1], groups = 1, padding = [1, 1], stride = [1, 1]} : f32[1,8,16,16])");
  // Forced, it moves anyway.
  out = RunPasses(R"(
graph @main(%x: f32[1,8,16,16], %w: f32[8,8,3,3]) {
  %a = conv2d(%x, %w) {dilation = [1, 1], groups = 1, padding = [1, 1], stride = [1, 1]} : f32[1,8,16,16]
  %s = softmax(%a) {axis = 1} : f32[1,8,16,16]
  return %s
})",
                  "plan-layout{layout=nhwc}");
  EXPECT_CHECKS(out, R"(
CHECK: transpose(%x) {perm = [0, 2, 3, 1]}
CHECK: layout = "NHWC"
CHECK: transpose(%2) {perm = [0, 3, 1, 2]}
CHECK: softmax(%3))");
}

TEST(PlanLayout, ConstantsConcatAndReductionAxesFollowTheLayout) {
  // The conv's region takes the concat and the keepdim reduction (axes
  // renumbered); the weight constant is folded to OHWI; the mul and pool have
  // no convolution and stay NCHW; the add of a rank-1 tensor cannot move.
  std::string out = RunPasses(R"(
graph @main(%x: f32[2,3,8,8], %v: f32[7]) {
  %w = const() {value = #0} : f32[1,3,1,2]
  %s = const() {value = #1} : f32[3,1,1]
  %a = conv2d(%x, %w) {dilation = [1, 1], groups = 1, padding = [0, 0], stride = [1, 1]} : f32[2,1,8,7]
  %k = mul(%a, %s) : f32[2,3,8,7]
  %m = mul(%x, %s) : f32[2,3,8,8]
  %p = max_pool2d(%m) {ceil_mode = false, dilation = [1, 1], kernel = [2, 2], padding = [0, 0], stride = [1, 1]} : f32[2,3,7,7]
  %c = concat(%k, %k) {axis = 1} : f32[2,6,8,7]
  %r = reduce_mean(%c) {axes = [2, -1], keepdim = true} : f32[2,6,1,1]
  %u = add(%c, %v) : f32[2,6,8,7]
  return %r, %p, %u
}
blobs {
  #0 = 0x0000803F000000400000404000008040000000000000803F
  #1 = 0x0000803F0000004000004040
})",
                              "plan-layout{layout=nhwc},fold-constants,canonicalize,dce", false);
  EXPECT_CHECKS(out, R"(
CHECK: %0 = transpose(%x) {perm = [0, 2, 3, 1]} : f32[2,8,8,3]
CHECK: conv2d(%0,
CHECK: layout = "NHWC"
CHECK: : f32[2,8,7,1]
CHECK: mul(
CHECK: : f32[2,8,7,3]
CHECK: mul(%x
CHECK: max_pool2d(
CHECK-NOT: NHWC
CHECK: : f32[2,3,7,7]
CHECK: concat(
CHECK: {axis = 3} : f32[2,8,7,6]
CHECK-NEXT: transpose(
CHECK: {perm = [0, 3, 1, 2]} : f32[2,6,8,7]
CHECK-NEXT: reduce_mean(
CHECK: {axes = [1, 2], keepdim = true} : f32[2,1,1,6]
CHECK-NEXT: reshape(
CHECK: {shape = [2, 6, 1, 1]} : f32[2,6,1,1]
CHECK-NEXT: add(
CHECK: %v) : f32[2,6,8,7]
CHECK: blobs
CHECK: 0x0000803F0000004000004040
CHECK: 0x0000803F000040400000000000000040000080400000803F
CHECK: 0x0000803F0000004000004040)");
}

TEST(PlanLayout, AComputedWeightKeepsItsConvolutionNchw) {
  // The second conv's weight is the first conv's (NHWC) result: that conv
  // stays NCHW, the first still moves, and the weight gets it back in NCHW.
  std::string out = RunPasses(R"(
graph @main(%x: f32[4,4,3,3], %w: f32[4,4,1,1], %y: f32[1,4,8,8]) {
  %a = conv2d(%x, %w) {dilation = [1, 1], groups = 1, padding = [0, 0], stride = [1, 1]} : f32[4,4,3,3]
  %b = relu(%a) : f32[4,4,3,3]
  %c = conv2d(%y, %b) {dilation = [1, 1], groups = 1, padding = [1, 1], stride = [1, 1]} : f32[1,4,8,8]
  return %c
})",
                              "plan-layout{layout=nhwc}");
  EXPECT_CHECKS(out, R"(
CHECK: layout = "NHWC"
CHECK: relu(
CHECK-NEXT: transpose(
CHECK: {perm = [0, 3, 1, 2]} : f32[4,4,3,3]
CHECK-NEXT: conv2d(%y, %4) {dilation = [1, 1], groups = 1, padding = [1, 1], stride = [1, 1]} : f32[1,4,8,8])");
}

TEST(PlanLayout, OptionsAreChecked) {
  passes::PassManager pm;
  EXPECT_EQ(pm.Add("plan-layout{target=gpu}").code(), absl::StatusCode::kOk);  // checked at run
  absl::Status st = pm.Add("dce{x=1}");
  EXPECT_NE(st.message().find("takes no options"), std::string::npos) << st;
  st = pm.Add("plan-layout{layout}");
  EXPECT_NE(st.message().find("is not key=value"), std::string::npos) << st;
  st = pm.Add("plan-layout{layout=nhwc");
  EXPECT_NE(st.message().find("options end with '}'"), std::string::npos) << st;
  auto g = ir::Parse(kResidual);
  ASSERT_TRUE(g.ok());
  st = pm.Run(**g);
  EXPECT_NE(st.message().find("option target=gpu: use target=cpu|cuda"), std::string::npos) << st;
}

}  // namespace
}  // namespace sinter
