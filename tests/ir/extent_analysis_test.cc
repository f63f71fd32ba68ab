// The symbolic-extent analysis (ir/extent_analysis.h) on pairs of text-IR
// graphs: a model at seq = 11 and the same model at seq = 13, as the
// frontend would import them. The symbolic graph it makes, and each refusal
// naming the op and why.
#include "ir/extent_analysis.h"

#include <cmath>
#include <cstring>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/status_macros.h"

namespace sinter::ir {
namespace {

using ::testing::HasSubstr;

// In the template, `S` becomes 11 and 13, `R` (S - 1) 10 and 12, `K`
// (2 * S) 22 and 26, `T` (S + 1) 12 and 14, `H` (S // 2 + 1) 6 and 7; the
// graph at 11 is rewritten and printed.
absl::StatusOr<std::string> Symbolize(const std::string& text) {
  std::string u = text, p = text;
  for (auto [c, a, b] :
       {std::tuple{'S', "11", "13"}, std::tuple{'R', "10", "12"}, std::tuple{'K', "22", "26"},
        std::tuple{'T', "12", "14"}, std::tuple{'H', "6", "7"}}) {
    for (size_t at; (at = u.find(c)) != std::string::npos;) u.replace(at, 1, a);
    for (size_t at; (at = p.find(c)) != std::string::npos;) p.replace(at, 1, b);
  }
  auto g1 = Parse(u);
  auto g2 = Parse(p);
  EXPECT_TRUE(g1.ok()) << g1.status();
  EXPECT_TRUE(g2.ok()) << g2.status();
  if (!g1.ok() || !g2.ok()) return absl::InternalError("parse");
  if (absl::Status st = SymbolizeExtent(g1->get(), **g2, "seq", 11, 13); !st.ok()) return st;
  return Print(**g1);
}

void ExpectRefused(const std::string& text, const std::string& want) {
  auto r = Symbolize(text);
  ASSERT_FALSE(r.ok()) << *r;
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("symbol 'seq': "));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(want));
}

// Attention over the sequence: the dims that follow it become the symbol,
// the reshapes' targets take it at their -1, and every type is re-derived
// from the shape rules over the symbol.
TEST(ExtentAnalysisTest, AttentionOverTheSequence) {
  auto r = Symbolize(
      "graph @m(%x: f32[1,S,8], %w: f32[8,8]) {\n"
      "  %q = linear(%x, %w) : f32[1,S,8]\n"
      "  %h = reshape(%q) {shape = [1, S, 2, 4]} : f32[1,S,2,4]\n"
      "  %t = transpose(%h) {perm = [0, 2, 1, 3]} : f32[1,2,S,4]\n"
      "  %k = transpose(%t) {perm = [0, 1, 3, 2]} : f32[1,2,4,S]\n"
      "  %a = matmul(%t, %k) : f32[1,2,S,S]\n"
      "  %p = softmax(%a) {axis = -1} : f32[1,2,S,S]\n"
      "  %o = matmul(%p, %t) : f32[1,2,S,4]\n"
      "  %b = transpose(%o) {perm = [0, 2, 1, 3]} : f32[1,S,2,4]\n"
      "  %y = reshape(%b) {shape = [1, S, 8]} : f32[1,S,8]\n"
      "  return %y\n"
      "}\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, HasSubstr("%x: f32[1,?seq,8]"));
  EXPECT_THAT(*r, HasSubstr("{shape = [1, -1, 2, 4]} : f32[1,?seq,2,4]"));
  EXPECT_THAT(*r, HasSubstr("matmul(%2, %3) : f32[1,2,?seq,?seq]"));
  EXPECT_THAT(*r, HasSubstr("{shape = [1, -1, 8]} : f32[1,?seq,8]"));
  // The rewritten graph is ordinary text IR: it parses back to itself.
  auto again = Parse(*r);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Print(**again), *r);
}

// A mask input with the symbol on both axes, unsqueezed: the reshape's two
// entries that follow it take x's two symbolic axes (`from`).
TEST(ExtentAnalysisTest, ReshapeKeepingTwoSymbolicDimsWhole) {
  auto r = Symbolize(
      "graph @m(%m: f32[S,S]) {\n"
      "  %u = reshape(%m) {shape = [1, S, S]} : f32[1,S,S]\n"
      "  return %u\n"
      "}\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, HasSubstr("{from = [0, 1], shape = [1, -1, -1]} : f32[1,?seq,?seq]"));
}

// x[:, -1] as the frontend imports it at each length (a slice [S-1:S]):
// bounds counting from the end, the result one long at every length.
TEST(ExtentAnalysisTest, SliceOfTheLastStepCountsFromTheEnd) {
  auto r = Symbolize(
      "graph @m(%x: f32[1,S,8]) {\n"
      "  %l = slice(%x) {axis = 1, end = S, start = R, step = 1} : f32[1,1,8]\n"
      "  %y = reshape(%l) {shape = [1, 8]} : f32[1,8]\n"
      "  return %y\n"
      "}\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, HasSubstr("end = 9223372036854775807, start = -1, step = 1} : f32[1,1,8]"));
}

TEST(ExtentAnalysisTest, ConstantBuiltFromTheSymbolIsRefused) {
  ExpectRefused(
      "graph @m(%x: f32[1,S,8]) {\n"
      "  %c = const() {value = S.0} : f32[]\n"
      "  %y = mul(%x, %c) : f32[1,S,8]\n"
      "  return %y\n"
      "}\n",
      "'const' is a constant built from seq");
}

// A multiple of the extent: a concat of two sequences along it, and
// nn.MultiheadAttention's view(T * B, E) and back (view(T, B, E)), whose
// reshapes' -1 take ?seq*2 and ?seq.
TEST(ExtentAnalysisTest, MultiplesOfTheSymbol) {
  auto r = Symbolize(
      "graph @m(%x: f32[1,S,8], %w: f32[8,8]) {\n"
      "  %y = concat(%x, %x) {axis = 1} : f32[1,K,8]\n"
      "  %t = reshape(%y) {shape = [S, 2, 8]} : f32[S,2,8]\n"
      "  %f = reshape(%t) {shape = [K, 8]} : f32[K,8]\n"
      "  %l = linear(%f, %w) : f32[K,8]\n"
      "  %b = reshape(%l) {shape = [S, 2, 8]} : f32[S,2,8]\n"
      "  return %b\n"
      "}\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, HasSubstr("concat(%x, %x) {axis = 1} : f32[1,?seq*2,8]"));
  EXPECT_THAT(*r, HasSubstr("{shape = [-1, 8]} : f32[?seq*2,8]"));
  EXPECT_THAT(*r, HasSubstr("linear(%2, %w) : f32[?seq*2,8]"));
  EXPECT_THAT(*r, HasSubstr("{shape = [-1, 2, 8]} : f32[?seq,2,8]"));
  auto again = Parse(*r);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Print(**again), *r);
}

// A class token before the sequence (S + 1), the sequence after it again
// (x[:, 1:]), all but its last step (x[:, :-1]): sums with the symbol.
TEST(ExtentAnalysisTest, ClassTokenAndShiftedSequence) {
  auto r = Symbolize(
      "graph @m(%x: f32[1,S,8], %c: f32[1,1,8]) {\n"
      "  %y = concat(%c, %x) {axis = 1} : f32[1,T,8]\n"
      "  %h = reshape(%y) {shape = [1, T, 2, 4]} : f32[1,T,2,4]\n"
      "  %f = reshape(%h) {shape = [1, T, 8]} : f32[1,T,8]\n"
      "  %s = slice(%f) {axis = 1, end = T, start = 1, step = 1} : f32[1,S,8]\n"
      "  %p = slice(%s) {axis = 1, end = R, start = 0, step = 1} : f32[1,R,8]\n"
      "  return %p\n"
      "}\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, HasSubstr("concat(%c, %x) {axis = 1} : f32[1,?seq+1,8]"));
  EXPECT_THAT(*r, HasSubstr("{shape = [1, -1, 2, 4]} : f32[1,?seq+1,2,4]"));
  EXPECT_THAT(*r, HasSubstr("start = 1, step = 1} : f32[1,?seq,8]"));
  EXPECT_THAT(*r, HasSubstr("end = -1, start = 0, step = 1} : f32[1,?seq-1,8]"));
  auto again = Parse(*r);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Print(**again), *r);
}

// What is not k * S + c (every other step: 6 at 11, 7 at 13) is refused,
// naming the op.
TEST(ExtentAnalysisTest, ArithmeticOnTheSymbolIsRefused) {
  ExpectRefused(
      "graph @m(%x: f32[1,S,8]) {\n"
      "  %y = slice(%x) {axis = 1, end = S, start = 0, step = 2} : f32[1,H,8]\n"
      "  return %y\n"
      "}\n",
      "result 0 of 'slice' is f32[1,6,8] at seq = 11 but f32[1,7,8] at 13: its dim 1 is "
      "computed from seq other than as k * seq + c");
}

TEST(ExtentAnalysisTest, SliceNotCountingFromTheEndIsRefused) {
  ExpectRefused(
      "graph @m(%x: f32[1,S,16]) {\n"
      "  %y = slice(%x) {axis = 2, end = S, start = 0, step = 1} : f32[1,S,S]\n"
      "  return %y\n"
      "}\n",
      "'slice' has a bound computed from seq on another axis");
}

// An op whose kernel cannot take the run's extent: the shape rules over the
// symbol refuse it, named.
TEST(ExtentAnalysisTest, OpWithoutARuleOverTheSymbolIsRefused) {
  ExpectRefused(
      "graph @m(%x: f32[1,S,8]) {\n"
      "  %y = cumsum(%x) {axis = 1} : f32[1,S,8]\n"
      "  return %y\n"
      "}\n",
      "cumsum");
}

// A constant of [n, n] f32 values f(i, j) for a graph at length n: the
// model `graph @m(%x: f32[1,n,n]) { %c = const : f32[n,n]; %y = add(%x, %c) }`.
std::string WithConstant(int64_t n, float (*f)(int64_t, int64_t, int64_t)) {
  std::string hex;
  static const char* digits = "0123456789ABCDEF";
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const float v = f(i, j, n);
      unsigned char bytes[4];
      std::memcpy(bytes, &v, 4);
      for (unsigned char c : bytes) hex += {digits[c >> 4], digits[c & 15]};
    }
  }
  const std::string e = std::to_string(n);
  return "graph @m(%x: f32[1," + e + "," + e + "]) {\n  %c = const() {value = #0} : f32[" + e +
         "," + e + "]\n  %y = add(%x, %c) : f32[1," + e + "," + e +
         "]\n  return %y\n}\nblobs {\n  #0 = 0x" + hex + "\n}\n";
}

absl::Status SymbolizeConstant(float (*f)(int64_t, int64_t, int64_t), std::string* printed) {
  auto g1 = Parse(WithConstant(11, f));
  auto g2 = Parse(WithConstant(13, f));
  auto g3 = Parse(WithConstant(16, f));
  if (!g1.ok() || !g2.ok() || !g3.ok()) return absl::InternalError("parse");
  RETURN_IF_ERROR(SymbolizeExtent(g1->get(), **g2, "seq", 11, 13, g3->get(), 16));
  *printed = Print(**g1);
  return absl::OkStatus();
}

// A causal mask (0 on and below the diagonal, -inf above), as
// torch.tril(ones(T, T)) filled becomes at each length: the leading block
// of its value at the maximum, which the rewrite cuts to the run's length
// along both axes by the extent of the input's.
TEST(ExtentAnalysisTest, ConstantThatGrowsWithTheLengthIsCutFromItsLongest) {
  std::string printed;
  absl::Status st = SymbolizeConstant(
      [](int64_t i, int64_t j, int64_t) { return j <= i ? 0.0f : -INFINITY; }, &printed);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_THAT(printed, HasSubstr("const() {value = #0} : f32[16,16]"));
  EXPECT_THAT(printed, HasSubstr("slice_like(%0, %x) {axis = 0, like_axis = 1} : f32[?seq,16]"));
  EXPECT_THAT(printed, HasSubstr("slice_like(%1, %x) {axis = 1, like_axis = 1} : f32[?seq,?seq]"));
  EXPECT_THAT(printed, HasSubstr("add(%x, %2) : f32[1,?seq,?seq]"));
}

// Values that depend on the length itself (i / n): no block of the longest.
TEST(ExtentAnalysisTest, ConstantScaledByTheLengthIsRefused) {
  std::string printed;
  absl::Status st = SymbolizeConstant(
      [](int64_t i, int64_t j, int64_t n) { return static_cast<float>(i + j) / n; }, &printed);
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("is a constant built from seq (an arange or a mask of its size) that "
                        "differs with it, not as the leading block of its value at seq = 16"));
}

// A program that depends on the length (an op only at one of them).
TEST(ExtentAnalysisTest, ProgramThatDependsOnTheLengthIsRefused) {
  auto g1 = Parse(
      "graph @m(%x: f32[1,11,8]) {\n"
      "  %y = relu(%x) : f32[1,11,8]\n"
      "  return %y\n"
      "}\n");
  auto g2 = Parse(
      "graph @m(%x: f32[1,13,8]) {\n"
      "  %y = neg(%x) : f32[1,13,8]\n"
      "  return %y\n"
      "}\n");
  ASSERT_TRUE(g1.ok() && g2.ok());
  absl::Status st = SymbolizeExtent(g1->get(), **g2, "seq", 11, 13);
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("'neg' is not the op the model gives at seq = 11"));
}

}  // namespace
}  // namespace sinter::ir
