// The dynamic-batch check (ir/batch_analysis.h) on pairs of text-IR graphs:
// a model at batch 1 and the same model at batch 3, as the frontend would
// import them. Each refusal names the op and why.
#include "ir/batch_analysis.h"

#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/parser.h"

namespace sinter::ir {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<std::vector<int>> Check(const std::string& unit, const std::string& probe,
                                       const std::vector<int>& axes) {
  auto u = Parse(unit);
  auto p = Parse(probe);
  EXPECT_TRUE(u.ok()) << u.status();
  EXPECT_TRUE(p.ok()) << p.status();
  if (!u.ok() || !p.ok()) return absl::InternalError("parse");
  return CheckSeparableBatch(**u, **p, axes, 3);
}

// `B` in the template becomes 1 and 3, `K` (twice the batch) 2 and 6.
std::pair<std::string, std::string> AtBoth(const std::string& text) {
  std::string u = text, p = text;
  for (auto [c, at1, at3] : {std::tuple{'B', "1", "3"}, std::tuple{'K', "2", "6"}}) {
    for (size_t at; (at = u.find(c)) != std::string::npos;) u.replace(at, 1, at1);
    for (size_t at; (at = p.find(c)) != std::string::npos;) p.replace(at, 1, at3);
  }
  return {u, p};
}

absl::StatusOr<std::vector<int>> CheckBoth(const std::string& text, const std::vector<int>& axes) {
  auto [u, p] = AtBoth(text);
  return Check(u, p, axes);
}

// The check refuses `text` (a CheckBoth template), saying `want`.
void ExpectRefused(const std::string& text, const std::vector<int>& axes, const std::string& want) {
  auto r = CheckBoth(text, axes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(want));
}

TEST(BatchAnalysisTest, PerSampleOpsGiveEachOutputsAxis) {
  auto r = CheckBoth(
      "graph @m(%x: f32[B,2,2], %w: f32[5,4], %s: f32[4]) {\n"
      "  %r = reshape(%x) {shape = [B,4]} : f32[B,4]\n"
      "  %a = add(%r, %s) : f32[B,4]\n"
      "  %l = linear(%a, %w) : f32[B,5]\n"
      "  %sm = softmax(%l) {axis = -1} : f32[B,5]\n"
      "  %t = transpose(%sm) {perm = [1, 0]} : f32[5,B]\n"
      "  %c = concat(%t, %t) {axis = 0} : f32[10,B]\n"
      "  return %sm, %c, %w\n"
      "}\n",
      {0, -1, -1});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<int>{0, 1, -1}));
}

TEST(BatchAnalysisTest, OpsThatMixSamplesAreRefusedByName) {
  struct Case {
    const char* op;
    const char* want;
  };
  for (const Case& c : {
           Case{"%y = softmax(%x) {axis = 0} : f32[B,4]", "'softmax' at a.py:7 normalises along"},
           Case{"%y = reduce_sum(%x) {axes = [0], keepdim = true} : f32[1,4]",
                "'reduce_sum' at a.py:7 drops the batch axis"},
           Case{"%y = cumsum(%x) {axis = 0} : f32[B,4]", "'cumsum' at a.py:7 sums along"},
           Case{"%y = slice(%x) {axis = 0, start = 0, end = 1, step = 1} : f32[1,4]",
                "'slice' at a.py:7 drops the batch axis"},
           Case{"%y = reshape(%x) {shape = [4,B]} : f32[4,B]",
                "'reshape' at a.py:7 moves elements across the batch axis"},
           Case{"%y = concat(%x, %x) {axis = 0} : f32[K,4]",
                "'concat' at a.py:7 changes the extent of"},
           Case{"%y = nonzero(%x) {size = \"n0\"} : i64[?n0,2]",
                "'nonzero' at a.py:7 drops the batch axis"},
       }) {
    SCOPED_TRACE(c.op);
    std::string text =
        std::string("graph @m(%x: f32[B,4]) {\n  ") + c.op + " loc(\"a.py:7\")\n  return %y\n}\n";
    ExpectRefused(text, {0}, c.want);
  }
}

TEST(BatchAnalysisTest, ABatchFoldedIntoAnAxisStaysPerSample) {
  // Attention's q.view(L, B * heads, d): sample b holds rows [2b, 2b + 2).
  auto r = CheckBoth(
      "graph @m(%x: f32[B,2,4]) {\n"
      "  %f = reshape(%x) {shape = [K, 4]} : f32[K,4]\n"
      "  %s = softmax(%f) {axis = 1} : f32[K,4]\n"
      "  %y = reshape(%s) {shape = [B, 2, 4]} : f32[B,2,4]\n"
      "  return %y\n"
      "}\n",
      {0});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, std::vector<int>{0});
  // As the minor factor (attention's view(L * B, E) of [L, B, E]), and back.
  r = CheckBoth(
      "graph @m(%x: f32[B,2,4]) {\n"
      "  %t = transpose(%x) {perm = [1, 0, 2]} : f32[2,B,4]\n"
      "  %f = reshape(%t) {shape = [K, 4]} : f32[K,4]\n"
      "  %n = neg(%f) : f32[K,4]\n"
      "  %u = reshape(%n) {shape = [2, B, 4]} : f32[2,B,4]\n"
      "  %y = transpose(%u) {perm = [1, 0, 2]} : f32[B,2,4]\n"
      "  return %y\n"
      "}\n",
      {0});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, std::vector<int>{0});
  // A reshape that puts parts of two samples in one row.
  ExpectRefused(
      "graph @m(%x: f32[B,4]) {\n"
      "  %t = transpose(%x) {perm = [1, 0]} : f32[4,B]\n"
      "  %f = reshape(%t) {shape = [K, 2]} : f32[K,2]\n"
      "  return %f\n"
      "}\n",
      {0}, "'reshape' moves elements across the batch axis");
  // A folded batch cannot leave the model: its output must have the batch alone.
  ExpectRefused(
      "graph @m(%x: f32[B,2,4]) {\n"
      "  %f = reshape(%x) {shape = [K, 4]} : f32[K,4]\n"
      "  return %f\n"
      "}\n",
      {0}, "output 0 has the batch folded");
}

// grid_sample reads image n at grid n's points: both batched on N, or the
// grid shared only when neither is.
TEST(BatchAnalysisTest, GridSamplePairsImageAndGridPerSample) {
  auto r = CheckBoth(
      "graph @m(%x: f32[B,2,4,4], %g: f32[B,3,3,2]) {\n"
      "  %y = grid_sample(%x, %g) {align_corners = false, mode = \"bilinear\", "
      "padding_mode = \"zeros\"} : f32[B,2,3,3]\n"
      "  return %y\n"
      "}\n",
      {0, 0});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<int>{0}));
  // Samples side by side in the channel axis, read at one grid per sample:
  // the image's batch is on C, not N.
  ExpectRefused(
      "graph @m(%x: f32[1,B,4,4], %g: f32[1,3,3,2]) {\n"
      "  %y = grid_sample(%x, %g) {align_corners = false, mode = \"bilinear\", "
      "padding_mode = \"zeros\"} : f32[1,B,3,3]\n"
      "  return %y\n"
      "}\n",
      {1, -1}, "'grid_sample' reads one sample's image at another's grid");
}

TEST(BatchAnalysisTest, ContractingTheBatchAxisIsRefused) {
  ExpectRefused(
      "graph @m(%x: f32[B,4]) {\n"
      "  %t = transpose(%x) {perm = [1, 0]} : f32[4,B]\n"
      "  %g = matmul(%t, %x) : f32[4,4]\n"
      "  return %g\n"
      "}\n",
      {0}, "'matmul' drops the batch axis");
}

TEST(BatchAnalysisTest, TheBatchSizeAsANumberIsRefused) {
  // `x * x.size(0)` folded: the constant differs between the two imports.
  ExpectRefused(
      "graph @m(%x: f32[B,4]) {\n"
      "  %y = clamp(%x) {max = B.0} : f32[B,4] loc(\"a.py:3\")\n"
      "  return %y\n"
      "}\n",
      {0}, "'clamp' at a.py:3 has attribute 'max' computed from the batch size");
}

TEST(BatchAnalysisTest, ABatchedConstantMustRepeatOneSample) {
  // zeros(B, 2), as a recurrent layer's initial state: per sample the same.
  const char* zeros =
      "graph @m(%x: f32[B,2]) {\n"
      "  %z = const() {value = #0} : f32[B,2]\n"
      "  %y = add(%x, %z) : f32[B,2]\n"
      "  return %y\n"
      "}\n";
  std::string u = zeros, p = zeros;
  u.replace(u.find('B'), 1, "1");
  u.replace(u.find('B'), 1, "1");
  u.replace(u.find('B'), 1, "1");
  p.replace(p.find('B'), 1, "3");
  p.replace(p.find('B'), 1, "3");
  p.replace(p.find('B'), 1, "3");
  auto r =
      Check(u + "blobs {\n  #0 = 0x0000803F00000040\n}\n",
            p + "blobs {\n  #0 = 0x0000803F000000400000803F000000400000803F00000040\n}\n", {0});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, std::vector<int>{0});
  // arange(B): sample 1 would see 1, not 0.
  r = Check(u + "blobs {\n  #0 = 0x0000000000000000\n}\n",
            p + "blobs {\n  #0 = 0x00000000000000000000803F0000803F0000004000000040\n}\n", {0});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("a constant that differs between"));
}

TEST(BatchAnalysisTest, AnExpandThatIsNoOpAtBatchOneIsAccepted) {
  // cls_token.expand(B, -1): the frontend leaves it out at batch 1.
  auto r = Check(
      "graph @m(%x: f32[1,2], %c: f32[1,2]) {\n"
      "  %y = add(%x, %c) : f32[1,2]\n"
      "  return %y\n"
      "}\n",
      "graph @m(%x: f32[3,2], %c: f32[1,2]) {\n"
      "  %e = expand(%c) {shape = [3, 2]} : f32[3,2]\n"
      "  %y = add(%x, %e) : f32[3,2]\n"
      "  return %y\n"
      "}\n",
      {0, -1});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, std::vector<int>{0});
}

TEST(BatchAnalysisTest, AProgramThatSpecialCasesBatchOneIsRefused) {
  // `if x.size(0) == 1: x = x * 2`: an op only the batch-1 import has.
  auto r = Check(
      "graph @m(%x: f32[1,2]) {\n"
      "  %y = relu(%x) : f32[1,2]\n"
      "  %z = neg(%y) : f32[1,2] loc(\"a.py:9\")\n"
      "  return %z\n"
      "}\n",
      "graph @m(%x: f32[3,2]) {\n"
      "  %y = relu(%x) : f32[3,2]\n"
      "  return %y\n"
      "}\n",
      {0});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("'neg' at a.py:9 is in the program only at batch 1"));
}

}  // namespace
}  // namespace sinter::ir
