// Pass tests: text IR in, one pipeline of passes, FileCheck-style checks out.
#include <map>

#include "gtest/gtest.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/memory_plan.h"
#include "passes/pass.h"
#include "tests/passes/run_passes.h"

namespace sinter {
namespace {

using ::sinter::testing::RunPasses;

TEST(Dce, RemovesUnusedChains) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[4]) {
  %a = relu(%x) : f32[4]
  %b = sigmoid(%a) : f32[4]
  %c = tanh(%x) : f32[4]
  return %c
})",
                              "dce");
  EXPECT_CHECKS(out, R"(
CHECK-NOT: relu
CHECK-NOT: sigmoid
CHECK: tanh(%x)
CHECK-NEXT: return %0)");
}

TEST(Canonicalize, RemovesNoOpsAndFoldsReshapeChains) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[2,6]) {
  %one = const() {value = #0} : f32[]
  %a = mul(%x, %one) : f32[2,6]
  %b = reshape(%a) {shape = [3, 4]} : f32[3,4]
  %c = reshape(%b) {shape = [12]} : f32[12]
  %d = transpose(%x) {perm = [0, 1]} : f32[2,6]
  %e = reshape(%d) {shape = [2, 6]} : f32[2,6]
  return %c, %e
}
blobs {
  #0 = 0x0000803F
})",
                              "canonicalize,dce");
  EXPECT_CHECKS(out, R"(
CHECK-NOT: mul
CHECK-NOT: transpose
CHECK: reshape(%x) {shape = [12]} : f32[12]
CHECK-NEXT: return %0, %x)");
}

TEST(Canonicalize, KeepsRealArithmetic) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[4]) {
  %two = const() {value = #0} : f32[]
  %a = mul(%x, %two) : f32[4]
  return %a
}
blobs {
  #0 = 0x00000040
})",
                              "canonicalize");
  EXPECT_CHECKS(out, "CHECK: mul(%x, %0)");
}

TEST(Cse, MergesIdenticalOpsOnly) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[4]) {
  %a = relu(%x) : f32[4]
  %b = relu(%x) : f32[4]
  %c = leaky_relu(%x) {slope = 0.1} : f32[4]
  %d = leaky_relu(%x) {slope = 0.2} : f32[4]
  %e = add(%a, %b) : f32[4]
  %f = add(%c, %d) : f32[4]
  return %e, %f
})",
                              "cse");
  EXPECT_CHECKS(out, R"(
CHECK: %0 = relu(%x)
CHECK-NOT: relu
CHECK: leaky_relu(%x) {slope = 0.10000000000000001}
CHECK-NEXT: leaky_relu(%x) {slope = 0.20000000000000001}
CHECK-NEXT: add(%0, %0))");
}

TEST(FoldConstants, FoldsMovementAndArithmeticOnConstants) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[3,2]) {
  %w = const() {value = #0} : f32[2,3]
  %t = transpose(%w) {perm = [1, 0]} : f32[3,2]
  %s = slice(%t) {axis = 0, end = 3, start = 1, step = 1} : f32[2,2]
  %y = add(%x, %t) : f32[3,2]
  return %y, %s
}
blobs {
  #0 = 0x0000803F0000004000004040000080400000A0400000C040
})",
                              "fold-constants,dce");
  EXPECT_CHECKS(out, R"(
CHECK-NOT: transpose
CHECK-NOT: slice
CHECK: const() {value = #elided} : f32[3,2]
CHECK: add(%x, %0))");
  // The transpose of [[1,2,3],[4,5,6]] is [[1,4],[2,5],[3,6]].
  auto g = ir::Parse(R"(
graph @main() {
  %w = const() {value = #0} : f32[2,3]
  %t = transpose(%w) {perm = [1, 0]} : f32[3,2]
  return %t
}
blobs {
  #0 = 0x0000803F0000004000004040000080400000A0400000C040
})");
  ASSERT_TRUE(g.ok());
  passes::PassManager pm;
  ASSERT_TRUE(pm.Add("fold-constants").ok());
  ASSERT_TRUE(pm.Add("dce").ok());
  ASSERT_TRUE(pm.Run(**g).ok());
  EXPECT_CHECKS(ir::Print(**g), "CHECK: #0 = 0x0000803F00008040000000400000A040000040400000C040");
}

// Index arithmetic done in float on constants (MViT's relative position
// tables: a comparison, a where and a cast back to i64) folds, with the
// runtime's cast rules: truncation toward zero, NaN and out-of-range floats
// to INT64_MIN (kernels/cast.h).
TEST(FoldConstants, FoldsFloatIndexArithmeticAndCastsToIntegers) {
  auto g = ir::Parse(R"(
graph @main() {
  %c = const() {value = #0} : f32[4]
  %z = const() {value = 0.0} : f32[]
  %m = lt(%c, %z) : bool[4]
  %ten = const() {value = 10.0} : f32[]
  %a = add(%c, %ten) : f32[4]
  %w = where(%m, %a, %c) : f32[4]
  %i = cast(%w) {to = "i64"} : i64[4]
  return %i, %m
}
blobs {
  #0 = 0x0000C0BFCDCC2C400000C07FEC78AD60
})");
  ASSERT_TRUE(g.ok()) << g.status();
  passes::PassManager pm;
  ASSERT_TRUE(pm.Add("fold-constants").ok());
  ASSERT_TRUE(pm.Add("dce").ok());
  ASSERT_TRUE(pm.Run(**g).ok());
  // [-1.5, 2.7, NaN, 1e20] -> where(<0, +10) = [8.5, 2.7, NaN, 1e20]
  // -> i64 [8, 2, INT64_MIN, INT64_MIN]; the mask [1, 0, 0, 0].
  const std::string out = ir::Print(**g);
  EXPECT_CHECKS(out, R"(
CHECK-NOT: cast(
CHECK-NOT: where(
CHECK-NOT: lt(
CHECK: %0 = const() {value = #0} : bool[4]
CHECK: %1 = const() {value = #1} : i64[4]
CHECK: #0 = 0x01000000
CHECK: #1 = 0x0800000000000000020000000000000000000000000000800000000000000080)");
}

TEST(SoftmaxLastAxis, MovesTheAxisLastAndBack) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[2,3,4]) {
  %a = softmax(%x) {axis = 1} : f32[2,3,4]
  %b = log_softmax(%x) {axis = -1} : f32[2,3,4]
  return %a, %b
})",
                              "softmax-last-axis");
  EXPECT_CHECKS(out, R"(
CHECK: %0 = transpose(%x) {perm = [0, 2, 1]} : f32[2,4,3]
CHECK-NEXT: %1 = softmax(%0) {axis = 2} : f32[2,4,3]
CHECK-NEXT: %2 = transpose(%1) {perm = [0, 2, 1]} : f32[2,3,4]
CHECK-NEXT: log_softmax(%x) {axis = -1}
CHECK: return %2)");
}

TEST(FoldConstants, LeavesOpsWithRuntimeOperands) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[4]) {
  %a = neg(%x) : f32[4]
  return %a
})",
                              "fold-constants");
  EXPECT_CHECKS(out, "CHECK: neg(%x)");
}

constexpr char kConvBn[] = R"(
graph @main(%x: f32[1,1,3,3]) {
  %w = const() {value = #0} : f32[2,1,1,1]
  %m = const() {value = #1} : f32[2]
  %v = const() {value = #2} : f32[2]
  %g = const() {value = #3} : f32[2]
  %b = const() {value = #1} : f32[2]
  %c = conv2d(%x, %w) {dilation = [1, 1], groups = 1, padding = [0, 0], stride = [1, 1]} : f32[1,2,3,3]
  %n = batch_norm(%c, %m, %v, %g, %b) {eps = 0.0} : f32[1,2,3,3]
  return %n EXTRA
}
blobs {
  #0 = 0x0000803F00000040
  #1 = 0x000000000000803F
  #2 = 0x0000803F00008040
  #3 = 0x0000803F0000803F
})";

TEST(FoldBatchNorm, FoldsIntoConv) {
  std::string text = kConvBn;
  text.replace(text.find(" EXTRA"), 6, "");
  std::string out = RunPasses(text, "fold-batch-norm,dce");
  EXPECT_CHECKS(out, R"(
CHECK-NOT: batch_norm
CHECK: conv2d(%x, %0, %1))");
}

TEST(FoldBatchNorm, DoesNotFoldWhenConvHasAnotherUser) {
  std::string text = kConvBn;
  text.replace(text.find(" EXTRA"), 6, ", %c");
  std::string out = RunPasses(text, "fold-batch-norm,dce");
  EXPECT_CHECKS(out, R"(
CHECK: conv2d
CHECK: batch_norm)");
}

TEST(LowerBatchNorm, TheUnfoldableOneBecomesMulAndAdd) {
  // The conv has a second user, so the batch norm stays; with eps 0, mean
  // [0, 1], var [1, 4], gamma [1, 1], beta [0, 1]: scale [1, 0.5], shift
  // [0, 0.5], shaped [2, 1, 1] for axis 1.
  std::string text = kConvBn;
  text.replace(text.find(" EXTRA"), 6, ", %c");
  std::string out = RunPasses(text, "fold-batch-norm,lower-batch-norm,dce", false);
  EXPECT_CHECKS(out, R"(
CHECK: %1 = conv2d(%x, %0)
CHECK: %2 = const() {value = #1} : f32[2,1,1]
CHECK: %3 = const() {value = #2} : f32[2,1,1]
CHECK: %4 = mul(%1, %2) : f32[1,2,3,3]
CHECK: %5 = add(%4, %3) : f32[1,2,3,3]
CHECK-NOT: batch_norm
CHECK: return %5, %1
CHECK: #1 = 0x0000803F0000003F
CHECK: #2 = 0x000000000000003F)");
}

TEST(FuseElementwise, FusesChainsWithScalarLiterals) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[2,8], %y: f32[2,8], %b: f32[8]) {
  %three = const() {value = #0} : f32[]
  %a = add(%x, %y) : f32[2,8]
  %c = add(%a, %b) : f32[2,8]
  %d = mul(%c, %three) : f32[2,8]
  %e = clamp(%d) {max = 6.0, min = 0.0} : f32[2,8]
  return %e
}
blobs {
  #0 = 0x00004040
})",
                              "fuse-elementwise,dce");
  EXPECT_CHECKS(out, R"(
CHECK: %0 = fused_elementwise(%x, %y, %b) : f32[2,8] body(%arg0: f32[], %arg1: f32[], %arg2: f32[]) {
CHECK-NEXT: %0 = add(%arg0, %arg1) : f32[]
CHECK-NEXT: %1 = add(%0, %arg2) : f32[]
CHECK-NEXT: %2 = const() {value = 3.0} : f32[]
CHECK-NEXT: %3 = mul(%1, %2) : f32[]
CHECK-NEXT: %4 = clamp(%3) {max = 6.0, min = 0.0} : f32[]
CHECK-NEXT: yield %4
CHECK-NEXT: }
CHECK-NEXT: return %0)");
}

TEST(FuseElementwise, StopsAtValuesOthersStillNeed) {
  // %a feeds both the fused chain and a reduction: it is materialised.
  std::string out = RunPasses(R"(
graph @main(%x: f32[4,8]) {
  %a = exp(%x) : f32[4,8]
  %b = neg(%a) : f32[4,8]
  %c = relu(%b) : f32[4,8]
  %s = reduce_sum(%a) {axes = [1], keepdim = true} : f32[4,1]
  return %c, %s
})",
                              "fuse-elementwise,dce");
  EXPECT_CHECKS(out, R"(
CHECK: %0 = exp(%x)
CHECK: fused_elementwise(%0) : f32[4,8] body(%arg0: f32[]) {
CHECK-NEXT: neg(%arg0)
CHECK-NEXT: relu(%0)
CHECK: reduce_sum(%0))");
}

TEST(FuseElementwise, DoesNotDuplicateAProducerThroughBroadcast) {
  // exp(%v) is [8]; the add broadcasts it to [64,8]: fusing would compute
  // the exp 64 times, so the exp stays a kernel of its own.
  std::string out = RunPasses(R"(
graph @main(%v: f32[8], %x: f32[64,8]) {
  %e = exp(%v) : f32[8]
  %a = add(%x, %e) : f32[64,8]
  %r = relu(%a) : f32[64,8]
  return %r
})",
                              "fuse-elementwise,dce");
  EXPECT_CHECKS(out, R"(
CHECK: %0 = exp(%v)
CHECK: fused_elementwise(%x, %0) : f32[64,8] body(%arg0: f32[], %arg1: f32[]) {
CHECK-NEXT: add(%arg0, %arg1)
CHECK-NEXT: relu(%0))");
}

TEST(FuseElementwise, KeepsGraphOutputsMaterialised) {
  std::string out = RunPasses(R"(
graph @main(%x: f32[4]) {
  %a = exp(%x) : f32[4]
  %b = neg(%a) : f32[4]
  return %a, %b
})",
                              "fuse-elementwise,dce");
  EXPECT_CHECKS(out, R"(
CHECK: exp(%x)
CHECK: neg(%0)
CHECK-NOT: fused_elementwise)");
}

constexpr char kConvAddRelu[] = R"(
graph @main(%x: f32[1,2,4,4], %r: f32[1,2,4,4]) {
  %w = const() {value = #0} : f32[2,2,1,1]
  %c = conv2d(%x, %w) {dilation = [1, 1], groups = 1, padding = [0, 0], stride = [1, 1]} : f32[1,2,4,4]
  %a = add(%c, %r) : f32[1,2,4,4]
  %y = relu(%a) : f32[1,2,4,4]
  return %y EXTRA
}
blobs {
  #0 = 0x0000803F000000000000000000008040
})";

TEST(FuseEpilogue, ResidualAddAndActivationRunInTheConv) {
  std::string text = kConvAddRelu;
  text.replace(text.find(" EXTRA"), 6, "");
  std::string out = RunPasses(text, "fuse-elementwise,fuse-epilogue,dce");
  EXPECT_CHECKS(out, R"(
CHECK: conv2d(%x, %0, %1, %r) {dilation = [1, 1], {{.*}} epilogue(%arg0: f32[], %arg1: f32[]) {
CHECK-NEXT: add(%arg0, %arg1)
CHECK-NEXT: relu(%0)
CHECK-NOT: fused_elementwise
CHECK-NOT: relu(
CHECK: return %2)");
}

TEST(FuseEpilogue, LeavesConvOutputsOthersNeed) {
  std::string text = kConvAddRelu;
  text.replace(text.find(" EXTRA"), 6, ", %c");
  std::string out = RunPasses(text, "fuse-elementwise,fuse-epilogue,dce");
  EXPECT_CHECKS(out, R"(
CHECK: conv2d(%x, %0) {dilation = [1, 1], groups = 1
CHECK-NOT: epilogue
CHECK: fused_elementwise(%1, %r))");
}

TEST(MemoryPlan, ReusesMemoryAndKeepsLiveValuesApart) {
  // softmax has no kInPlace trait (its kernel reads a row after writing it):
  // each op's input and output stay apart.
  auto g = ir::Parse(R"(
graph @main(%x: f32[1024]) {
  %a = softmax(%x) {axis = 0} : f32[1024]
  %b = log_softmax(%a) {axis = 0} : f32[1024]
  %c = softmax(%b) {axis = 0} : f32[1024]
  %d = log_softmax(%c) {axis = 0} : f32[1024]
  return %d
})");
  ASSERT_TRUE(g.ok());
  auto plan = passes::PlanMemory(**g);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->intermediate_bytes, 5 * 4096);
  // x (live throughout) + two alternating buffers + d: a chain needs 3-4
  // buffers, never 5.
  EXPECT_LE(plan->arena_bytes, 4 * 4096);
  std::vector<const ir::Value*> vals{(*g)->input(0)};
  for (const auto& op : (*g)->ops()) vals.push_back(op->result());
  // Each op's input and output must not overlap; the input x never does.
  for (size_t i = 1; i < vals.size(); ++i) {
    int64_t a = plan->offsets.at(vals[i - 1]), b = plan->offsets.at(vals[i]);
    EXPECT_TRUE(a + 4096 <= b || b + 4096 <= a) << i;
    int64_t x = plan->offsets.at(vals[0]);
    EXPECT_TRUE(x + 4096 <= b || b + 4096 <= x) << i;
  }
}

TEST(MemoryPlan, FusedKernelsWriteOverOperandsThatDieThere) {
  auto g = ir::Parse(R"(
graph @main(%x: f32[1024], %y: f32[1024]) {
  %a = fused_elementwise(%x, %y) : f32[1024] body(%p: f32[], %q: f32[]) {
    %r = add(%p, %q) : f32[]
    yield %r
  }
  %b = fused_elementwise(%a) : f32[1024] body(%p: f32[]) {
    %r = relu(%p) : f32[]
    yield %r
  }
  %c = fused_elementwise(%b, %y) : f32[1024] body(%p: f32[], %q: f32[]) {
    %r = mul(%p, %q) : f32[]
    yield %r
  }
  %d = fused_elementwise(%c) : f32[1024] body(%p: f32[]) {
    %r = tanh(%p) : f32[]
    yield %r
  }
  %e = add(%c, %d) : f32[1024]
  %f = fused_elementwise(%e) : f32[1024] body(%p: f32[]) {
    %r = neg(%p) : f32[]
    yield %r
  }
  return %f
})");
  ASSERT_TRUE(g.ok()) << g.status();
  auto plan = passes::PlanMemory(**g);
  ASSERT_TRUE(plan.ok());
  std::map<std::string, int64_t> at;  // by result, in op order: a b c d e f
  std::string name = "a";
  for (const auto& op : (*g)->ops()) at[name] = plan->offsets.at(op->result()), ++name[0];
  const int64_t x = plan->offsets.at((*g)->input(0));
  EXPECT_NE(at["a"], x);        // x is a graph input: the caller may run again
  EXPECT_EQ(at["b"], at["a"]);  // a dies at b
  EXPECT_EQ(at["c"], at["a"]);  // and b at c: the chain walks one buffer
  EXPECT_NE(at["d"], at["c"]);  // c is still read by e
  EXPECT_EQ(at["f"], at["e"]);  // e dies at f; the output may take its bytes
  EXPECT_EQ(plan->intermediate_bytes, 8 * 4096);
}

// Unfused elementwise ops with the kInPlace trait (ops.def) walk one buffer
// too, as fused kernels do; cast, which has no such trait, does not.
TEST(MemoryPlan, InPlaceOpsByTrait) {
  auto g = ir::Parse(R"(
graph @main(%x: f32[1024]) {
  %a = softmax(%x) {axis = 0} : f32[1024]
  %b = relu(%a) : f32[1024]
  %c = tanh(%b) : f32[1024]
  %d = cast(%c) {to = "i32"} : i32[1024]
  return %d
})");
  ASSERT_TRUE(g.ok()) << g.status();
  auto plan = passes::PlanMemory(**g);
  ASSERT_TRUE(plan.ok());
  std::vector<int64_t> at;
  for (const auto& op : (*g)->ops()) at.push_back(plan->offsets.at(op->result()));
  EXPECT_EQ(at[1], at[0]);  // relu over the softmax
  EXPECT_EQ(at[2], at[1]);  // tanh over the relu
  EXPECT_NE(at[3], at[2]);  // cast: not in place
}

TEST(Pipelines, AreKnownAndVerified) {
  EXPECT_TRUE(passes::Pipeline("O0").ok());
  EXPECT_TRUE(passes::Pipeline("default").ok());
  EXPECT_TRUE(passes::Pipeline("cuda").ok());
  EXPECT_TRUE(passes::Pipeline("cuda-O0").ok());
  EXPECT_FALSE(passes::Pipeline("O9").ok());
  passes::PassManager pm;
  absl::Status st = pm.Add("no-such-pass");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find("dce"), std::string::npos) << "lists the known passes";
}

// Sizes the data decides through the default pipeline: every pass keeps
// the symbols (the manager verifies after each), elementwise ops on them stay
// unfused (their kernels take the run's extents; fused ones do not yet) while
// the static ones around still fuse, and the memory plan leaves every
// symbolic value out of the arena.
TEST(RunSized, SymbolsSurviveTheDefaultPipelineAndStayOutOfTheArena) {
  const std::string text = R"(graph @main(%b: f32[8,4], %s: f32[8]) {
  %0 = const() {value = 0.0} : f32[]
  %1 = const() {value = 2.0} : f32[]
  %2 = mul(%s, %1) : f32[8]
  %3 = relu(%2) : f32[8]
  %4 = gt(%3, %0) : bool[8]
  %5 = masked_select(%b, %4) {size = "n0"} : f32[?n0,4]
  %6 = masked_select(%3, %4) {size = "n0"} : f32[?n0]
  %7 = nms(%5, %6) {iou_threshold = 0.5, size = "n1"} : i64[?n1]
  %8 = slice(%7) {axis = 0, end = 3, size = "n2", start = 0, step = 1} : i64[?n2]
  %9 = embedding(%5, %8) : f32[?n2,4]
  %10 = mul(%9, %1) : f32[?n2,4]
  %11 = relu(%10) : f32[?n2,4]
  %12 = reduce_sum(%11) {axes = [1], keepdim = false} : f32[?n2]
  %13 = reshape(%12) {shape = [-1, 1]} : f32[?n2,1]
  %14 = concat(%13, %13) {axis = 1} : f32[?n2,2]
  return %14, %8
}
)";
  auto parsed = ir::Parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(ir::Print(**parsed), text);  // the text form round-trips
  const std::string out =
      RunPasses(text,
                "dce,fold-constants,cse,canonicalize,fold-batch-norm,lower-batch-norm,plan-layout,"
                "fold-constants,canonicalize,cse,matmul-to-linear,fuse-elementwise,fuse-epilogue,"
                "fuse-reduction,dce");
  EXPECT_CHECKS(out, R"(CHECK: fused_elementwise(
CHECK: masked_select({{.*}}) {size = "n0"} : f32[?n0,4]
CHECK: masked_select({{.*}}) {size = "n0"} : f32[?n0]
CHECK: nms({{.*}} : i64[?n1]
CHECK: slice({{.*}} : i64[?n2]
CHECK: embedding({{.*}} : f32[?n2,4]
CHECK-NEXT: mul({{.*}} : f32[?n2,4]
CHECK-NEXT: relu({{.*}} : f32[?n2,4]
CHECK-NEXT: reduce_sum({{.*}} : f32[?n2]
CHECK-NEXT: reshape({{.*}} : f32[?n2,1]
CHECK-NEXT: concat({{.*}} : f32[?n2,2]
CHECK-NOT: fused_elementwise)");
  auto g = ir::Parse(out);
  ASSERT_TRUE(g.ok()) << g.status();
  auto plan = passes::PlanMemory(**g);
  ASSERT_TRUE(plan.ok()) << plan.status();
  int static_values = 0;
  for (const auto& op : (*g)->ops()) {
    for (int r = 0; r < op->num_results(); ++r) {
      const ir::Value* v = op->result(r);
      if (op->kind() == ir::OpKind::kConst) continue;
      EXPECT_EQ(plan->offsets.count(v) != 0, v->type().shape.is_static())
          << ir::ToString(v->type());
      static_values += v->type().shape.is_static();
    }
  }
  EXPECT_EQ(static_values, 2);  // the fused scale-and-relu and the mask
}

}  // namespace
}  // namespace sinter
