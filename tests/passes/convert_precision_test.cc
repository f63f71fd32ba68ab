// convert-f16 / convert-bf16: text IR in, the pass, checks out; and the
// rounding of the f32 -> f16/bf16 conversions the pass applies to weights.
#include <cmath>
#include <cstring>

#include "gtest/gtest.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/convert_precision.h"
#include "passes/pass.h"
#include "tests/passes/filecheck.h"

namespace sinter {
namespace {

std::string RunPass(const std::string& text, const std::string& pass) {
  auto g = ir::Parse(text);
  EXPECT_TRUE(g.ok()) << g.status();
  if (!g.ok()) return "";
  passes::PassManager pm;  // verifies after the pass
  EXPECT_TRUE(pm.Add(pass).ok());
  absl::Status st = pm.Run(**g);
  EXPECT_TRUE(st.ok()) << st;
  return ir::Print(**g);
}

constexpr char kGraph[] = R"(
graph @main(%x: f32[2,4], %ids: i64[2]) {
  %w = const() {value = #0} : f32[4]
  %a = fused_elementwise(%x, %w) : f32[2,4] body(%p: f32[], %q: f32[]) {
    %m = mul(%p, %q) : f32[]
    %r = relu(%m) : f32[]
    yield %r
  }
  %s = softmax(%a) {axis = -1} : f32[2,4]
  return %s, %ids
}
blobs {
  #0 = 0x0000803F0000004000004040ABAAAA3E
})";

// f32 storage -> f16, casts at the edges; the i64 input is left alone. The
// fused kernel's body reads its f16 arguments through casts to f32 and casts
// its result to f16: the maths in between stays f32.
TEST(ConvertPrecision, F16StorageWithCastsAtTheEdges) {
  const std::string out = RunPass(kGraph, "convert-f16");
  EXPECT_EQ(testing::FileCheck(out, R"(
CHECK: cast(%x) {to = "f16"} : f16[2,4]
CHECK: const() {value = #0} : f16[4]
CHECK: fused_elementwise(%0, %1) : f16[2,4] body(%p: f16[], %q: f16[]) {
CHECK-DAG: = cast(%p) {to = "f32"} : f32[]
CHECK-DAG: = cast(%q) {to = "f32"} : f32[]
CHECK: = mul(
CHECK-NEXT: %[[R:[0-9]+]] = relu({{.*}} : f32[]
CHECK-NEXT: %[[Y:[0-9]+]] = cast(%[[R]]) {to = "f16"} : f16[]
CHECK-NEXT: yield %[[Y]]
CHECK: softmax(
CHECK: {axis = -1} : f16[2,4]
CHECK: {to = "f32"} : f32[2,4]
CHECK: , %ids
CHECK: #0 = 0x003C004000425535)"),
            "")
      << out;
}

// bf16 keeps the f32 exponent: 1/3 (0x3EAAAAAB) rounds to 0x3EAB.
TEST(ConvertPrecision, BF16RoundsConstants) {
  const std::string out = RunPass(kGraph, "convert-bf16");
  EXPECT_EQ(testing::FileCheck(out, R"(
CHECK: const() {value = #0} : bf16[4]
CHECK: #0 = 0x803F00404040AB3E)"),
            "")
      << out;
}

// With the inputs and outputs converted too, there are no casts in the graph
// (the kernel body's are its own).
TEST(ConvertPrecision, StorageIoHasNoCasts) {
  auto g = ir::Parse(kGraph);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(passes::ConvertPrecision(**g, ir::DType::kF16, nullptr, true).ok());
  const std::string out = ir::Print(**g);
  EXPECT_EQ(testing::FileCheck(out, R"(
CHECK: %x: f16[2,4], %ids: i64[2]
CHECK-NOT: cast(%x)
CHECK: yield
CHECK-NOT: cast(
CHECK: return)"),
            "")
      << out;
}

TEST(ConvertPrecision, RoundsToNearestEven) {
  auto f16 = [](float f) { return passes::F32ToF16Bits(f); };
  EXPECT_EQ(f16(1.0f), 0x3c00);
  EXPECT_EQ(f16(-2.0f), 0xc000);
  EXPECT_EQ(f16(65504.0f), 0x7bff);
  EXPECT_EQ(f16(65520.0f), 0x7c00);         // halfway to the next: rounds to infinity
  EXPECT_EQ(f16(1.0f + 0x1p-11f), 0x3c00);  // tie, even stays
  EXPECT_EQ(f16(1.0f + 0x3p-11f), 0x3c02);  // tie, odd rounds up
  EXPECT_EQ(f16(0x1p-24f), 0x0001);         // smallest subnormal
  EXPECT_EQ(f16(0x1p-25f), 0x0000);         // tie with zero rounds to even zero
  EXPECT_EQ(f16(0x1.8p-24f), 0x0002);       // 1.5 units: tie rounds to even 2
  EXPECT_EQ(f16(0x1.ffcp-15f), 0x0400);     // subnormal rounding into the smallest normal
  EXPECT_EQ(f16(INFINITY), 0x7c00);
  EXPECT_EQ(f16(NAN) & 0x7c00, 0x7c00);
  EXPECT_NE(f16(NAN) & 0x03ff, 0);
  auto bf16 = [](float f) { return passes::F32ToBF16Bits(f); };
  EXPECT_EQ(bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16(1.0f + 0x1p-8f), 0x3f80);  // tie, even stays
  EXPECT_EQ(bf16(1.0f + 0x3p-8f), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(bf16(3.4028235e38f), 0x7f80);   // max float rounds to infinity
  EXPECT_NE(bf16(NAN) & 0x007f, 0);
}

}  // namespace
}  // namespace sinter
