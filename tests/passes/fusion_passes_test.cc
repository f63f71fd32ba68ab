// Pass tests for fuse-reduction and matmul-to-linear: text IR in, passes,
// FileCheck-style checks out, the cases that must not fuse included.
#include "gtest/gtest.h"
#include "tests/passes/run_passes.h"

namespace sinter {
namespace {

using ::sinter::testing::RunPasses;

constexpr char kFuse[] = "fuse-elementwise,fuse-epilogue,fuse-reduction,dce";

TEST(FuseReduction, SoftmaxTakesScaleAndMaskAsPrologue) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[2,4,8], %mask: f32[4,8]) {
  %s = const() {value = #0} : f32[]
  %a = mul(%x, %s) : f32[2,4,8]
  %b = add(%a, %mask) : f32[2,4,8]
  %p = softmax(%b) {axis = -1} : f32[2,4,8]
  return %p
}
blobs {
  #0 = 0x0000003E
})",
                              kFuse);
  EXPECT_CHECKS(out, R"(
CHECK: fused_reduction(%x, %mask) {axis = -1, inputs = 2, kind = "softmax"} : f32[2,4,8] prologue(%arg0: f32[], %arg1: f32[]) {
CHECK-NEXT: %0 = const() {value = 0.125} : f32[]
CHECK-NEXT: %1 = mul(%arg0, %0) : f32[]
CHECK-NEXT: %2 = add(%1, %arg1) : f32[]
CHECK-NEXT: yield %2
CHECK-NOT: fused_elementwise
CHECK-NOT: softmax(
CHECK: return %0)");
}

TEST(FuseReduction, LayerNormTakesResidualAddAndActivation) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[3,16], %r: f32[3,16], %w: f32[16], %b: f32[16]) {
  %h = add(%x, %r) : f32[3,16]
  %n = layer_norm(%h, %w, %b) {axis = 1, eps = 1e-05} : f32[3,16]
  %y = gelu(%n) {approximate = "none"} : f32[3,16]
  return %y
})",
                              kFuse);
  EXPECT_CHECKS(out, R"(
CHECK: fused_reduction(%x, %r, %w, %b) {axis = 1, eps = 1.0000000000000001e-05, inputs = 2, kind = "layer_norm"} : f32[3,16] prologue(%arg0: f32[], %arg1: f32[]) {
CHECK-NEXT: add(%arg0, %arg1)
CHECK-NEXT: yield
CHECK-NEXT: } epilogue(%arg0: f32[]) {
CHECK-NEXT: gelu(%arg0) {approximate = "none"}
CHECK-NOT: layer_norm(
CHECK-NOT: gelu(
CHECK: return %0)");
}

TEST(FuseReduction, EpilogueWithOperandsRunsWhereTheConsumerRan) {
  // The epilogue's operand %z is defined after the layer_norm: the fused op
  // must be placed after it.
  std::string out = RunPasses(R"(
graph @main(%x: f32[3,16], %w: f32[16], %b: f32[16], %q: f32[3,16]) {
  %n = layer_norm(%x, %w, %b) {axis = -1, eps = 1e-05} : f32[3,16]
  %z = exp(%q) : f32[3,16]
  %y = mul(%n, %z) : f32[3,16]
  return %y
})",
                              "fuse-reduction,dce");
  EXPECT_CHECKS(out, R"(
CHECK: %0 = exp(%q)
CHECK-NEXT: fused_reduction(%x, %w, %b, %0) {axis = -1, eps = 1.0000000000000001e-05, inputs = 1, kind = "layer_norm"} : f32[3,16] epilogue(%arg0: f32[], %arg1: f32[]) {
CHECK-NEXT: mul(%arg0, %arg1))");
}

TEST(FuseReduction, LogSoftmaxTakesADivision) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[5,10]) {
  %t = const() {value = #0} : f32[]
  %a = div(%x, %t) : f32[5,10]
  %p = log_softmax(%a) {axis = 1} : f32[5,10]
  return %p
}
blobs {
  #0 = 0x00000040
})",
                              kFuse);
  EXPECT_CHECKS(out, R"(
CHECK: fused_reduction(%x) {axis = 1, inputs = 1, kind = "log_softmax"} : f32[5,10] prologue(%arg0: f32[]) {
CHECK-NEXT: %0 = const() {value = 2.0} : f32[]
CHECK-NEXT: div(%arg0, %0))");
}

TEST(FuseReduction, AttentionScaleMovesThroughTheMatmul) {
  // before: softmax(matmul(mul(q, 0.125), k))
  // after:  fused_reduction(matmul(q, k)) prologue(%a) { mul(%a, 0.125) }
  std::string out = RunPasses(R"(
graph @main(%q: f32[2,8,4], %k: f32[2,4,8]) {
  %s = const() {value = #0} : f32[]
  %a = mul(%q, %s) : f32[2,8,4]
  %m = matmul(%a, %k) : f32[2,8,8]
  %p = softmax(%m) {axis = -1} : f32[2,8,8]
  return %p
}
blobs {
  #0 = 0x0000003E
})",
                              kFuse);
  EXPECT_CHECKS(out, R"(
CHECK-NOT: mul(
CHECK: %0 = matmul(%q, %k)
CHECK-NEXT: fused_reduction(%0) {axis = -1, inputs = 1, kind = "softmax"} : f32[2,8,8] prologue(%arg0: f32[]) {
CHECK-NEXT: %0 = const() {value = 0.125} : f32[]
CHECK-NEXT: mul(%arg0, %0))");
}

TEST(FuseReduction, KeepsAPrologueValueALaterOpStillNeeds) {
  // %h feeds this layer_norm and the next residual add (as in a transformer
  // block): it is materialised, so the add stays a kernel of its own.
  std::string out = RunPasses(R"(
graph @main(%x: f32[3,16], %r: f32[3,16], %w: f32[16], %b: f32[16]) {
  %h = add(%x, %r) : f32[3,16]
  %n = layer_norm(%h, %w, %b) {axis = 1, eps = 1e-05} : f32[3,16]
  %m = layer_norm(%n, %w, %b) {axis = 1, eps = 1e-05} : f32[3,16]
  %s = add(%h, %m) : f32[3,16]
  return %s
})",
                              "fuse-reduction,dce");
  EXPECT_CHECKS(out, R"(
CHECK: %0 = add(%x, %r)
CHECK-NEXT: layer_norm(%0, %w, %b)
CHECK-NEXT: fused_reduction(%1, %w, %b, %0) {axis = 1, {{.*}}} : f32[3,16] epilogue(%arg0: f32[], %arg1: f32[]) {
CHECK-NEXT: add(%arg1, %arg0))");
}

TEST(FuseReduction, RefusesAcrossAnInPlaceOp) {
  // relu may run in place on %x between the add and the layer_norm; moving
  // the add's read of %x past it is refused.
  std::string out = RunPasses(R"(
graph @main(%x: f32[3,16], %r: f32[3,16], %w: f32[16], %b: f32[16]) {
  %h = add(%x, %r) : f32[3,16]
  %z = relu(%x) : f32[3,16]
  %n = layer_norm(%h, %w, %b) {axis = 1, eps = 1e-05} : f32[3,16]
  return %n, %z
})",
                              "fuse-reduction,dce");
  EXPECT_CHECKS(out, R"(
CHECK: %0 = add(%x, %r)
CHECK-NEXT: relu(%x)
CHECK-NEXT: layer_norm(%0, %w, %b)
CHECK-NOT: fused_reduction)");
  // The same with a fused_elementwise, which the memory planner may run over
  // its operand 0.
  out = RunPasses(R"(
graph @main(%x: f32[3,16], %r: f32[3,16], %w: f32[16], %b: f32[16]) {
  %h = add(%x, %r) : f32[3,16]
  %z = fused_elementwise(%x) : f32[3,16] body(%a: f32[]) {
    %e = exp(%a) : f32[]
    %n = neg(%e) : f32[]
    yield %n
  }
  %n = layer_norm(%h, %w, %b) {axis = 1, eps = 1e-05} : f32[3,16]
  return %n, %z
})",
                  "fuse-reduction,dce");
  EXPECT_CHECKS(out, R"(
CHECK: %0 = add(%x, %r)
CHECK-NEXT: fused_elementwise(%x)
CHECK: yield
CHECK-NEXT: }
CHECK-NEXT: layer_norm(%0, %w, %b)
CHECK-NOT: fused_reduction)");
}

TEST(FuseReduction, DoesNotDuplicateAnExpensiveProducer) {
  // erf(%x) feeds the softmax and another op: fusing it as the prologue would
  // compute it twice. The epilogue still fuses.
  std::string out = RunPasses(R"(
graph @main(%x: f32[4,32]) {
  %two = const() {value = #0} : f32[]
  %e = erf(%x) : f32[4,32]
  %p = softmax(%e) {axis = -1} : f32[4,32]
  %y = mul(%p, %two) : f32[4,32]
  %z = add(%e, %y) : f32[4,32]
  return %z
}
blobs {
  #0 = 0x00000040
})",
                              "fuse-reduction,dce");
  EXPECT_CHECKS(out, R"(
CHECK: %0 = erf(%x)
CHECK-NEXT: %1 = fused_reduction(%0) {axis = -1, inputs = 1, kind = "softmax"} : f32[4,32] epilogue(%arg0: f32[]) {
CHECK-NEXT: %0 = const() {value = 2.0} : f32[]
CHECK-NEXT: mul(%arg0, %0)
CHECK-NEXT: yield
CHECK-NEXT: }
CHECK-NEXT: add(%0, %1))");
}

TEST(FuseReduction, LeavesOtherAxesAndGraphOutputs) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[4,8], %w: f32[8], %b: f32[8]) {
  %a = exp(%x) : f32[4,8]
  %p = softmax(%a) {axis = 0} : f32[4,8]
  %n = layer_norm(%x, %w, %b) {axis = 1, eps = 1e-05} : f32[4,8]
  %y = relu(%n) : f32[4,8]
  return %p, %n, %y
})",
                              "fuse-reduction,dce");
  EXPECT_CHECKS(out, R"(
CHECK: softmax(%0) {axis = 0}
CHECK: layer_norm(%x, %w, %b)
CHECK: relu(
CHECK-NOT: fused_reduction)");
}

TEST(FuseReduction, IsInTheDefaultPipelineOnly) {
  auto o0 = passes::Pipeline("O0");
  auto dflt = passes::Pipeline("default");
  ASSERT_TRUE(o0.ok() && dflt.ok());
  EXPECT_EQ(std::count(o0->begin(), o0->end(), "fuse-reduction"), 0);
  EXPECT_EQ(std::count(dflt->begin(), dflt->end(), "fuse-reduction"), 1);
  EXPECT_EQ(std::count(dflt->begin(), dflt->end(), "matmul-to-linear"), 1);
}

TEST(FusedReductionOp, VerifierChecksTheOperandLayout) {
  // layer_norm weight of the wrong extent.
  auto g = ir::Parse(R"(
graph @main(%x: f32[3,16], %w: f32[8], %b: f32[16]) {
  %n = fused_reduction(%x, %w, %b) {axis = 1, eps = 1e-05, inputs = 1, kind = "layer_norm"} : f32[3,16]
  return %n
})");
  EXPECT_FALSE(g.ok());
  // Extra operands without an epilogue.
  g = ir::Parse(R"(
graph @main(%x: f32[3,16], %y: f32[3,16]) {
  %n = fused_reduction(%x, %y) {axis = 1, inputs = 1, kind = "softmax"} : f32[3,16]
  return %n
})");
  EXPECT_FALSE(g.ok());
  // Softmax over a leading axis.
  g = ir::Parse(R"(
graph @main(%x: f32[3,16]) {
  %n = fused_reduction(%x) {axis = 0, inputs = 1, kind = "softmax"} : f32[3,16]
  return %n
})");
  EXPECT_FALSE(g.ok());
}

// ---- matmul-to-linear

constexpr char kMatmulBias[] = R"(
graph @main(%x: f32[4,3]) {
  %w = const() {value = #0} : f32[3,2]
  %b = const() {value = #1} : f32[2]
  %m = matmul(%x, %w) : f32[4,2]
  %a = add(%m, %b) : f32[4,2]
  %y = relu(%a) : f32[4,2]
  return %y EXTRA
}
blobs {
  #0 = 0x0000803F0000004000004040000080400000A0400000C040
  #1 = 0x0000803F00000040
})";

TEST(MatmulToLinear, TransposesTheWeightAndTakesTheBias) {
  std::string text = kMatmulBias;
  text.replace(text.find(" EXTRA"), 6, "");
  std::string out = RunPasses(text, "matmul-to-linear,dce", /*elide_constants=*/false);
  // [[1,2],[3,4],[5,6]] becomes [[1,3,5],[2,4,6]].
  EXPECT_CHECKS(out, R"(
CHECK: const() {value = #0} : f32[2,3]
CHECK: const() {value = #1} : f32[2]
CHECK: linear(%x, %0, %1) : f32[4,2]
CHECK-NOT: matmul
CHECK-NOT: add(
CHECK: relu(%2)
CHECK: #0 = 0x0000803F000040400000A04000000040000080400000C040
CHECK: #1 = 0x0000803F00000040)");
  // With fuse-epilogue after it, the activation joins the GEMM.
  out = RunPasses(text, "matmul-to-linear,fuse-epilogue,dce");
  EXPECT_CHECKS(out, R"(
CHECK: linear(%x, %0, %1) : f32[4,2] epilogue(%arg0: f32[]) {
CHECK-NEXT: relu(%arg0)
CHECK-NEXT: yield
CHECK-NEXT: }
CHECK-NEXT: return)");
}

TEST(MatmulToLinear, KeepsTheAddWhenTheProductIsNeeded) {
  std::string text = kMatmulBias;
  text.replace(text.find(" EXTRA"), 6, ", %m");
  std::string out = RunPasses(text, "matmul-to-linear,dce");
  EXPECT_CHECKS(out, R"(
CHECK: %2 = linear(%x, %1) : f32[4,2]
CHECK-NEXT: add(%2, %0))");
}

TEST(MatmulToLinear, LeavesRuntimeAndSharedWeights) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[4,3], %v: f32[3,2]) {
  %w = const() {value = #0} : f32[3,2]
  %m = matmul(%x, %w) : f32[4,2]
  %n = matmul(%x, %w) : f32[4,2]
  %k = matmul(%x, %v) : f32[4,2]
  return %m, %n, %k
}
blobs {
  #0 = 0x000000000000000000000000000000000000000000000000
})",
                              "matmul-to-linear,dce");
  EXPECT_CHECKS(out, R"(
CHECK: matmul(%x, %0)
CHECK-NEXT: matmul(%x, %0)
CHECK-NEXT: matmul(%x, %v)
CHECK-NOT: linear)");
}

}  // namespace
}  // namespace sinter
