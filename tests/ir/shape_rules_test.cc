// Shape rules through Builder::Create, against PyTorch's shapes.
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/extent_analysis.h"
#include "ir/graph.h"
#include "ir/shape_rules.h"

namespace sinter::ir {
namespace {

using ::testing::HasSubstr;
using Ints = std::vector<int64_t>;

TensorType T(DType dtype, Ints extents) { return TensorType{dtype, Shape::Of(extents)}; }
TensorType F(Ints extents) { return T(DType::kF32, std::move(extents)); }

// Result types of `kind` on fresh inputs of the given types, or the error.
absl::StatusOr<std::vector<TensorType>> Infer(OpKind kind, const std::vector<TensorType>& inputs,
                                              AttributeMap attrs = {}) {
  Graph g;
  std::vector<Value*> operands;
  for (const TensorType& t : inputs) operands.push_back(g.AddInput(t, ""));
  Builder b(&g);
  absl::StatusOr<Operation*> op = b.Create(kind, operands, std::move(attrs));
  if (!op.ok()) return op.status();
  std::vector<TensorType> out;
  for (int i = 0; i < (*op)->num_results(); ++i) out.push_back((*op)->result(i)->type());
  return out;
}

TensorType InferOne(OpKind kind, const std::vector<TensorType>& inputs, AttributeMap attrs = {}) {
  absl::StatusOr<std::vector<TensorType>> r = Infer(kind, inputs, std::move(attrs));
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok() || r->size() != 1) return TensorType{};
  return (*r)[0];
}

std::string InferError(OpKind kind, const std::vector<TensorType>& inputs,
                       AttributeMap attrs = {}) {
  absl::StatusOr<std::vector<TensorType>> r = Infer(kind, inputs, std::move(attrs));
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : std::string(r.status().message());
}

AttributeMap Conv(Ints stride, Ints pad, Ints dil, int64_t groups) {
  return {{"stride", stride}, {"padding", pad}, {"dilation", dil}, {"groups", groups}};
}

AttributeMap MaxPool(Ints k, Ints s, Ints p, bool ceil) {
  return {
      {"kernel", k}, {"stride", s}, {"padding", p}, {"dilation", Ints{1, 1}}, {"ceil_mode", ceil}};
}

TEST(ShapeRulesTest, Conv2d) {
  EXPECT_EQ(InferOne(OpKind::kConv2d, {F({1, 3, 224, 224}), F({64, 3, 7, 7})},
                     Conv({2, 2}, {3, 3}, {1, 1}, 1)),
            F({1, 64, 112, 112}));
  // groups=2, stride 2, dilation 2 (torch: [1, 8, 4, 4]).
  EXPECT_EQ(InferOne(OpKind::kConv2d, {F({1, 4, 10, 10}), F({8, 2, 3, 3}), F({8})},
                     Conv({2, 2}, {1, 1}, {2, 2}, 2)),
            F({1, 8, 4, 4}));
  // Depthwise.
  EXPECT_EQ(InferOne(OpKind::kConv2d, {F({2, 32, 56, 56}), F({32, 1, 3, 3})},
                     Conv({1, 1}, {1, 1}, {1, 1}, 32)),
            F({2, 32, 56, 56}));
  EXPECT_THAT(InferError(OpKind::kConv2d, {F({1, 4, 10, 10}), F({8, 3, 3, 3})},
                         Conv({1, 1}, {0, 0}, {1, 1}, 2)),
              HasSubstr("disagree for groups=2"));
  EXPECT_THAT(InferError(OpKind::kConv2d, {F({1, 4, 2, 2}), F({8, 4, 3, 3})},
                         Conv({1, 1}, {0, 0}, {1, 1}, 1)),
              HasSubstr("too small"));
  EXPECT_THAT(InferError(OpKind::kConv2d, {F({1, 4, 8, 8}), F({8, 4, 3, 3}), F({7})},
                         Conv({1, 1}, {0, 0}, {1, 1}, 1)),
              HasSubstr("bias"));
  // Huge attributes are an error, not an overflow.
  EXPECT_FALSE(Infer(OpKind::kConv2d, {F({1, 4, 8, 8}), F({8, 4, 3, 3})},
                     Conv({1, 1}, {INT64_MAX, 0}, {1, 1}, 1))
                   .ok());
}

TEST(ShapeRulesTest, PoolCeilMode) {
  // torch: floor [1,1,2,2], ceil [1,1,3,3].
  EXPECT_EQ(InferOne(OpKind::kMaxPool2d, {F({1, 1, 5, 5})}, MaxPool({2, 2}, {2, 2}, {0, 0}, false)),
            F({1, 1, 2, 2}));
  EXPECT_EQ(InferOne(OpKind::kMaxPool2d, {F({1, 1, 5, 5})}, MaxPool({2, 2}, {2, 2}, {0, 0}, true)),
            F({1, 1, 3, 3}));
  // The last window would start in the right padding: dropped (torch: 2).
  EXPECT_EQ(InferOne(OpKind::kMaxPool2d, {F({1, 1, 6, 6})}, MaxPool({2, 2}, {4, 4}, {1, 1}, true)),
            F({1, 1, 2, 2}));
  EXPECT_EQ(InferOne(OpKind::kAvgPool2d, {F({1, 3, 7, 7})},
                     {{"kernel", Ints{3, 3}},
                      {"stride", Ints{2, 2}},
                      {"padding", Ints{1, 1}},
                      {"ceil_mode", true},
                      {"count_include_pad", false}}),
            F({1, 3, 4, 4}));
  EXPECT_THAT(
      InferError(OpKind::kMaxPool2d, {F({1, 1, 6, 6})}, MaxPool({2, 2}, {2, 2}, {2, 2}, false)),
      HasSubstr("bad pooling window"));
  EXPECT_EQ(
      InferOne(OpKind::kAdaptiveAvgPool2d, {F({2, 512, 7, 7})}, {{"output_size", Ints{1, 1}}}),
      F({2, 512, 1, 1}));
  EXPECT_EQ(WindowOutput(INT64_MAX, 1, 1, INT64_MAX, 1, true), 0);  // would overflow: no result
}

TEST(ShapeRulesTest, MatmulBroadcasting) {
  EXPECT_EQ(InferOne(OpKind::kMatmul, {F({2, 1, 3, 4}), F({5, 4, 6})}), F({2, 5, 3, 6}));
  EXPECT_EQ(InferOne(OpKind::kMatmul, {F({4}), F({3, 4, 5})}), F({3, 5}));
  EXPECT_EQ(InferOne(OpKind::kMatmul, {F({3, 4}), F({4})}), F({3}));
  EXPECT_EQ(InferOne(OpKind::kMatmul, {F({4}), F({4})}), F({}));
  EXPECT_THAT(InferError(OpKind::kMatmul, {F({3, 4}), F({5, 6})}), HasSubstr("inner dims differ"));
  EXPECT_THAT(InferError(OpKind::kMatmul, {F({2, 3, 4}), F({3, 4, 5})}),
              HasSubstr("do not broadcast"));
  EXPECT_THAT(InferError(OpKind::kMatmul, {F({3, 4}), T(DType::kF16, {4, 5})}),
              HasSubstr("dtypes differ"));
  EXPECT_EQ(InferOne(OpKind::kLinear, {F({8, 16, 32}), F({10, 32}), F({10})}), F({8, 16, 10}));
}

TEST(ShapeRulesTest, ReshapeWithMinusOne) {
  EXPECT_EQ(InferOne(OpKind::kReshape, {F({2, 3, 4})}, {{"shape", Ints{-1, 4}}}), F({6, 4}));
  EXPECT_EQ(InferOne(OpKind::kReshape, {F({2, 3, 4})}, {{"shape", Ints{24}}}), F({24}));
  EXPECT_EQ(InferOne(OpKind::kReshape, {F({0, 4})}, {{"shape", Ints{-1, 2}}}), F({0, 2}));
  // -1 next to a 0 could be anything (torch refuses too).
  EXPECT_THAT(InferError(OpKind::kReshape, {F({0, 4})}, {{"shape", Ints{2, 0, -1}}}),
              HasSubstr("cannot infer -1"));
  EXPECT_THAT(InferError(OpKind::kReshape, {F({2, 3, 4})}, {{"shape", Ints{-1, 5}}}),
              HasSubstr("cannot infer -1"));
  EXPECT_THAT(InferError(OpKind::kReshape, {F({2, 3, 4})}, {{"shape", Ints{-1, -1}}}),
              HasSubstr("bad reshape target"));
  EXPECT_THAT(InferError(OpKind::kReshape, {F({2, 3, 4})}, {{"shape", Ints{5, 5}}}),
              HasSubstr("cannot reshape"));
}

TEST(ShapeRulesTest, Concat) {
  EXPECT_EQ(InferOne(OpKind::kConcat, {F({2, 3}), F({2, 5}), F({2, 1})}, {{"axis", int64_t{1}}}),
            F({2, 9}));
  EXPECT_EQ(InferOne(OpKind::kConcat, {F({2, 3}), F({4, 3})}, {{"axis", int64_t{-2}}}), F({6, 3}));
  EXPECT_THAT(InferError(OpKind::kConcat, {F({2, 3}), F({4, 3})}, {{"axis", int64_t{1}}}),
              HasSubstr("concat operand 1 is [4,3], expected [2,3]"));
  EXPECT_THAT(InferError(OpKind::kConcat, {F({2, 3}), F({2, 3})}, {{"axis", int64_t{2}}}),
              HasSubstr("axis 2 out of range"));
  EXPECT_THAT(InferError(OpKind::kConcat, {F({}), F({})}, {{"axis", int64_t{0}}}),
              HasSubstr("scalars"));
}

TEST(ShapeRulesTest, Slice) {
  auto slice = [](int64_t axis, int64_t start, int64_t end, int64_t step) {
    return AttributeMap{{"axis", axis}, {"start", start}, {"end", end}, {"step", step}};
  };
  EXPECT_EQ(InferOne(OpKind::kSlice, {F({4, 10})}, slice(1, 1, 8, 3)), F({4, 3}));
  EXPECT_EQ(InferOne(OpKind::kSlice, {F({4, 10})}, slice(-1, 0, 10, 1)), F({4, 10}));
  EXPECT_EQ(InferOne(OpKind::kSlice, {F({4, 10})}, slice(0, 2, 2, 1)), F({0, 10}));
  EXPECT_EQ(InferOne(OpKind::kSlice, {F({4, 10})}, slice(1, 1, 10, INT64_MAX)), F({4, 1}));
  EXPECT_THAT(InferError(OpKind::kSlice, {F({4, 10})}, slice(1, 0, 11, 1)),
              HasSubstr("out of range"));
  EXPECT_THAT(InferError(OpKind::kSlice, {F({4, 10})}, slice(1, 0, 5, 0)),
              HasSubstr("out of range"));
  EXPECT_THAT(InferError(OpKind::kSlice, {F({})}, slice(0, 0, 0, 1)), HasSubstr("scalar"));
}

TEST(ShapeRulesTest, Broadcast) {
  EXPECT_EQ(InferOne(OpKind::kAdd, {F({8, 1, 6, 1}), F({7, 1, 5})}), F({8, 7, 6, 5}));
  EXPECT_EQ(InferOne(OpKind::kMul, {F({}), F({3})}), F({3}));
  EXPECT_THAT(InferError(OpKind::kAdd, {F({2, 3}), F({4, 3})}),
              HasSubstr("shapes [2,3] and [4,3] do not broadcast"));
  EXPECT_THAT(InferError(OpKind::kSub, {F({3}), T(DType::kI64, {3})}), HasSubstr("dtypes differ"));
  EXPECT_EQ(InferOne(OpKind::kWhere, {T(DType::kBool, {2, 1}), F({3}), F({1})}), F({2, 3}));
  EXPECT_EQ(InferOne(OpKind::kExpand, {F({3, 1})}, {{"shape", Ints{2, 3, 4}}}), F({2, 3, 4}));
  EXPECT_THAT(InferError(OpKind::kExpand, {F({1})}, {{"shape", Ints{-5}}}), HasSubstr("negative"));
}

TEST(ShapeRulesTest, GridSample) {
  const AttributeMap a{{"mode", std::string("bilinear")},
                       {"padding_mode", std::string("zeros")},
                       {"align_corners", false}};
  EXPECT_EQ(InferOne(OpKind::kGridSample, {F({2, 3, 8, 9}), F({2, 5, 4, 2})}, a), F({2, 3, 5, 4}));
  // f16 storage after convert-f16: the result keeps it.
  EXPECT_EQ(InferOne(OpKind::kGridSample,
                     {T(DType::kF16, {1, 1, 4, 4}), T(DType::kF16, {1, 2, 2, 2})}, a),
            T(DType::kF16, {1, 1, 2, 2}));
  EXPECT_THAT(InferError(OpKind::kGridSample, {F({2, 3, 8, 9}), F({1, 5, 4, 2})}, a),
              HasSubstr("grid [N,OH,OW,2]"));
  EXPECT_THAT(InferError(OpKind::kGridSample, {F({2, 3, 8, 9}), F({2, 5, 4, 3})}, a),
              HasSubstr("grid [N,OH,OW,2]"));
  EXPECT_THAT(InferError(OpKind::kGridSample, {F({2, 3, 8, 9}), T(DType::kF16, {2, 5, 4, 2})}, a),
              HasSubstr("same dtype"));
  AttributeMap bicubic = a;
  bicubic["mode"] = std::string("bicubic");
  EXPECT_THAT(InferError(OpKind::kGridSample, {F({2, 3, 8, 9}), F({2, 5, 4, 2})}, bicubic),
              HasSubstr("mode 'bicubic'"));
  AttributeMap wrap = a;
  wrap["padding_mode"] = std::string("wrap");
  EXPECT_THAT(InferError(OpKind::kGridSample, {F({2, 3, 8, 9}), F({2, 5, 4, 2})}, wrap),
              HasSubstr("padding_mode 'wrap'"));
}

// The sizes the data decides: the leading dim is the op's `size` symbol.
TEST(ShapeRulesTest, SizesTheRunDecides) {
  const AttributeMap n0{{"size", std::string("n0")}};
  const TensorType idx{DType::kI64, Shape({Dim::Symbol("n0"), Dim::Static(3)})};
  EXPECT_EQ(InferOne(OpKind::kNonzero, {F({2, 3, 4})}, n0), idx);
  EXPECT_EQ(InferOne(OpKind::kNonzero, {T(DType::kBool, {2, 3, 4})}, n0), idx);
  EXPECT_EQ(InferOne(OpKind::kMaskedSelect, {F({2, 3, 4}), T(DType::kBool, {2, 3})}, n0),
            (TensorType{DType::kF32, Shape({Dim::Symbol("n0"), Dim::Static(4)})}));
  EXPECT_EQ(InferOne(OpKind::kMaskedSelect, {T(DType::kI64, {5}), T(DType::kBool, {5})}, n0),
            (TensorType{DType::kI64, Shape({Dim::Symbol("n0")})}));
  EXPECT_THAT(InferError(OpKind::kMaskedSelect, {F({2, 3, 4}), T(DType::kBool, {3})}, n0),
              HasSubstr("is not the leading dims"));
  EXPECT_THAT(InferError(OpKind::kMaskedSelect, {F({2, 3}), F({2, 3})}, n0),
              HasSubstr("mask must be bool"));
  EXPECT_THAT(InferError(OpKind::kNonzero, {F({2})}, {{"size", std::string("2x")}}),
              HasSubstr("not a symbol name"));
  const AttributeMap nms{{"iou_threshold", 0.5}, {"size", std::string("n1")}};
  EXPECT_EQ(InferOne(OpKind::kNms, {F({7, 4}), F({7})}, nms),
            (TensorType{DType::kI64, Shape({Dim::Symbol("n1")})}));
  EXPECT_THAT(InferError(OpKind::kNms, {F({7, 4}), F({6})}, nms),
              HasSubstr("nms takes f32 boxes [K,4] and scores [K]"));
}

// Ops taking the run's extents carry the symbol: embedding's rows follow
// its indices, a reshape's -1 stands for the symbolic dim, a slice along it
// makes the symbol `size` names.
TEST(ShapeRulesTest, RunExtentsCarryTheSymbol) {
  const Dim n0 = Dim::Symbol("n0");
  const TensorType idx{DType::kI64, Shape({n0})};
  EXPECT_EQ(InferOne(OpKind::kEmbedding, {F({7, 4}), idx}),
            (TensorType{DType::kF32, Shape({n0, Dim::Static(4)})}));
  EXPECT_EQ(InferOne(OpKind::kEmbedding, {T(DType::kI64, {7, 1}), idx}),
            (TensorType{DType::kI64, Shape({n0, Dim::Static(1)})}));
  const TensorType rows{DType::kF32, Shape({n0, Dim::Static(6)})};
  EXPECT_EQ(InferOne(OpKind::kReshape, {rows}, {{"shape", Ints{-1, 3, 2}}}),
            (TensorType{DType::kF32, Shape({n0, Dim::Static(3), Dim::Static(2)})}));
  EXPECT_EQ(InferOne(OpKind::kReshape, {TensorType{DType::kF32, Shape({n0, Dim::Static(1)})}},
                     {{"shape", Ints{-1}}}),
            (TensorType{DType::kF32, Shape({n0})}));
  // [n0,6] -> [-1] is 6 * n0 (?n0*6), and back by thirds to [?n0*2, 3]; a
  // -1 that is no whole multiple of n0 (6 / 4), or none, is refused.
  const Dim n0x6 = Dim::Symbol("n0", 6);
  EXPECT_EQ(InferOne(OpKind::kReshape, {rows}, {{"shape", Ints{-1}}}),
            (TensorType{DType::kF32, Shape({n0x6})}));
  EXPECT_EQ(InferOne(OpKind::kReshape, {TensorType{DType::kF32, Shape({n0x6})}},
                     {{"shape", Ints{-1, 3}}}),
            (TensorType{DType::kF32, Shape({Dim::Symbol("n0", 2), Dim::Static(3)})}));
  EXPECT_THAT(InferError(OpKind::kReshape, {rows}, {{"shape", Ints{-1, 4}}}),
              HasSubstr("only its -1 may stand for a multiple of the symbolic dim"));
  EXPECT_THAT(InferError(OpKind::kReshape, {rows}, {{"shape", Ints{3, 2}}}),
              HasSubstr("only its -1 may stand for a multiple of the symbolic dim"));
  AttributeMap head{{"axis", int64_t{0}},
                    {"start", int64_t{0}},
                    {"end", int64_t{100}},
                    {"step", int64_t{1}},
                    {"size", std::string("n1")}};
  EXPECT_EQ(InferOne(OpKind::kSlice, {rows}, head),
            (TensorType{DType::kF32, Shape({Dim::Symbol("n1"), Dim::Static(6)})}));
  AttributeMap cols{
      {"axis", int64_t{1}}, {"start", int64_t{2}}, {"end", int64_t{6}}, {"step", int64_t{2}}};
  EXPECT_EQ(InferOne(OpKind::kSlice, {rows}, cols),
            (TensorType{DType::kF32, Shape({n0, Dim::Static(2)})}));
  cols["end"] = int64_t{7};
  EXPECT_THAT(InferError(OpKind::kSlice, {rows}, cols), HasSubstr("out of range"));
  head.erase("size");
  EXPECT_THAT(InferError(OpKind::kSlice, {rows}, head), HasSubstr("needs the symbol `size`"));
  // concat: off the axis the symbols agree; along it a new symbol.
  EXPECT_EQ(InferOne(OpKind::kConcat, {rows, rows}, {{"axis", int64_t{1}}}),
            (TensorType{DType::kF32, Shape({n0, Dim::Static(12)})}));
  EXPECT_EQ(InferOne(OpKind::kConcat, {rows, F({2, 6})},
                     {{"axis", int64_t{0}}, {"size", std::string("n2")}}),
            (TensorType{DType::kF32, Shape({Dim::Symbol("n2"), Dim::Static(6)})}));
  // Without one, the sum: n0 + 2 rows; n0 + n0 + 2, 2 * n0 + 2.
  EXPECT_EQ(InferOne(OpKind::kConcat, {rows, F({2, 6})}, {{"axis", int64_t{0}}}),
            (TensorType{DType::kF32, Shape({Dim::Symbol("n0", 1, 2), Dim::Static(6)})}));
  EXPECT_EQ(InferOne(OpKind::kConcat, {rows, F({2, 6}), rows}, {{"axis", int64_t{0}}}),
            (TensorType{DType::kF32, Shape({Dim::Symbol("n0", 2, 2), Dim::Static(6)})}));
  const TensorType other{DType::kF32, Shape({Dim::Symbol("n9"), Dim::Static(6)})};
  EXPECT_THAT(InferError(OpKind::kConcat, {rows, other}, {{"axis", int64_t{0}}}),
              HasSubstr("needs the symbol `size`"));
  // x[0:1] of ?n0+1 (a class token's row): static, within its least extent
  // (n0 = 1); x[0:3] of it is not.
  const TensorType tokens{DType::kF32, Shape({Dim::Symbol("n0", 1, 1), Dim::Static(6)})};
  AttributeMap first{
      {"axis", int64_t{0}}, {"start", int64_t{0}}, {"end", int64_t{1}}, {"step", int64_t{1}}};
  EXPECT_EQ(InferOne(OpKind::kSlice, {tokens}, first), F({1, 6}));
  first["end"] = int64_t{3};
  EXPECT_THAT(InferError(OpKind::kSlice, {tokens}, first), HasSubstr("needs the symbol `size`"));
  // x[1:] and x[2:-1] of a symbolic dim: n0 - 1 and n0 - 3 long.
  AttributeMap tail{
      {"axis", int64_t{0}}, {"start", int64_t{1}}, {"end", kSliceToEnd}, {"step", int64_t{1}}};
  EXPECT_EQ(InferOne(OpKind::kSlice, {rows}, tail),
            (TensorType{DType::kF32, Shape({Dim::Symbol("n0", 1, -1), Dim::Static(6)})}));
  tail["start"] = int64_t{2};
  tail["end"] = int64_t{-1};
  EXPECT_EQ(InferOne(OpKind::kSlice, {rows}, tail),
            (TensorType{DType::kF32, Shape({Dim::Symbol("n0", 1, -3), Dim::Static(6)})}));
  EXPECT_THAT(InferError(OpKind::kConcat, {rows, F({2, 6})}, {{"axis", int64_t{1}}}),
              HasSubstr("expected f32[?n0,6] off axis 1"));
  // Reductions: a reduced symbolic dim goes, a kept one stays.
  EXPECT_EQ(InferOne(OpKind::kReduceSum, {rows}, {{"axes", Ints{1}}, {"keepdim", false}}),
            (TensorType{DType::kF32, Shape({n0})}));
  EXPECT_EQ(InferOne(OpKind::kReduceMax, {rows}, {{"axes", Ints{0}}, {"keepdim", true}}),
            F({1, 6}));
  // Elementwise ops broadcast a symbol against itself or 1 only.
  EXPECT_EQ(InferOne(OpKind::kMul, {rows, F({6})}), rows);
  EXPECT_THAT(InferError(OpKind::kAdd, {rows, F({3, 6})}),
              HasSubstr("broadcast only if the run's sizes agree"));
  EXPECT_THAT(
      InferError(OpKind::kAdd,
                 {rows, TensorType{DType::kF32, Shape({Dim::Symbol("n9"), Dim::Static(6)})}}),
      HasSubstr("broadcast only if the run's sizes agree"));
  // Ops that do not take the run's extents refuse a symbolic operand.
  EXPECT_THAT(InferError(OpKind::kSort, {rows},
                         {{"axis", int64_t{0}}, {"k", int64_t{1}}, {"descending", false}}),
              HasSubstr("dynamic dimensions"));
}

// A symbolic extent (a sequence; ir/extent_analysis.h): linear's rows,
// matmul's dims compared as dims, the LSTM's steps, and slices counting
// from the end of the symbolic dim (x[-k:] is k long; x[0:] the symbol).
TEST(ShapeRulesTest, SymbolicExtentThroughGemmsAndRecurrence) {
  const Dim seq = Dim::Symbol("seq");
  auto S = [&](std::vector<Dim> d) { return TensorType{DType::kF32, Shape(std::move(d))}; };
  const Dim one = Dim::Static(1), four = Dim::Static(4), eight = Dim::Static(8);
  EXPECT_EQ(InferOne(OpKind::kLinear, {S({one, seq, eight}), F({4, 8}), F({4})}),
            S({one, seq, four}));
  EXPECT_THAT(InferError(OpKind::kLinear, {S({one, eight, seq}), F({4, 8})}),
              HasSubstr("does not match weight"));
  EXPECT_EQ(InferOne(OpKind::kMatmul, {S({one, seq, eight}), S({one, eight, seq})}),
            S({one, seq, seq}));
  EXPECT_EQ(InferOne(OpKind::kMatmul, {S({seq, eight}), F({8, 4})}), S({seq, four}));
  EXPECT_THAT(InferError(OpKind::kMatmul, {S({one, seq, eight}), S({one, seq, eight})}),
              HasSubstr("matmul inner dims differ"));
  const AttributeMap lstm{{"num_layers", int64_t{1}},
                          {"hidden_size", int64_t{2}},
                          {"batch_first", true},
                          {"bidirectional", false},
                          {"has_biases", false}};
  const std::vector<TensorType> in{S({one, seq, four}), F({1, 1, 2}), F({1, 1, 2}), F({8, 4}),
                                   F({8, 2})};
  absl::StatusOr<std::vector<TensorType>> r = Infer(OpKind::kLstm, in, lstm);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0], S({one, seq, Dim::Static(2)}));
  EXPECT_EQ((*r)[1], F({1, 1, 2}));
  AttributeMap last{
      {"axis", int64_t{1}}, {"start", int64_t{-1}}, {"end", kSliceToEnd}, {"step", int64_t{1}}};
  EXPECT_EQ(InferOne(OpKind::kSlice, {S({one, seq, eight})}, last), F({1, 1, 8}));
  last["start"] = int64_t{-3};
  last["step"] = int64_t{2};
  EXPECT_EQ(InferOne(OpKind::kSlice, {S({one, seq, eight})}, last), F({1, 2, 8}));
  AttributeMap whole{
      {"axis", int64_t{1}}, {"start", int64_t{0}}, {"end", kSliceToEnd}, {"step", int64_t{1}}};
  EXPECT_EQ(InferOne(OpKind::kSlice, {S({one, seq, eight})}, whole), S({one, seq, eight}));
  // A reshape keeping several symbolic dims whole: each -1 takes the axis
  // `from` names; static dims regroup only between them.
  AttributeMap unsqueeze{{"shape", Ints{1, -1, -1}}, {"from", Ints{0, 1}}};
  EXPECT_EQ(InferOne(OpKind::kReshape, {S({seq, seq})}, unsqueeze), S({one, seq, seq}));
  AttributeMap regroup{{"shape", Ints{-1, 2, 4, -1}}, {"from", Ints{0, 2}}};
  EXPECT_EQ(InferOne(OpKind::kReshape, {S({seq, eight, seq})}, regroup),
            S({seq, Dim::Static(2), four, seq}));
  regroup["shape"] = Ints{-1, 4, -1, 2};
  EXPECT_THAT(InferError(OpKind::kReshape, {S({seq, eight, seq})}, regroup),
              HasSubstr("moves elements across a dim sized by the run"));
  AttributeMap short_from{{"shape", Ints{1, -1, -1}}, {"from", Ints{0}}};
  EXPECT_THAT(InferError(OpKind::kReshape, {S({seq, seq})}, short_from), HasSubstr("does not fit"));
  // slice_like: a static table's first rows, as many as the symbol has.
  const AttributeMap like{{"axis", int64_t{0}}, {"like_axis", int64_t{1}}};
  EXPECT_EQ(InferOne(OpKind::kSliceLike, {F({16, 8}), S({one, seq, eight})}, like),
            S({seq, eight}));
  EXPECT_EQ(InferOne(OpKind::kSliceLike, {F({16, 8}), F({1, 5, 8})}, like), F({5, 8}));
  EXPECT_THAT(InferError(OpKind::kSliceLike, {F({4, 8}), F({1, 5, 8})}, like),
              HasSubstr("slice_like of 5 rows"));
  EXPECT_THAT(InferError(OpKind::kSliceLike, {S({seq, eight}), S({one, seq, eight})}, like),
              HasSubstr("slice_like of a dim sized by the run"));
  // Negative bounds stay out of range on a static dim.
  last["axis"] = int64_t{2};
  EXPECT_THAT(InferError(OpKind::kSlice, {S({one, seq, eight})}, last), HasSubstr("out of range"));
}

TEST(ShapeRulesTest, RoiAlign) {
  const AttributeMap a{{"pooled_height", int64_t{3}},
                       {"pooled_width", int64_t{4}},
                       {"spatial_scale", 0.25},
                       {"sampling_ratio", int64_t{-1}},
                       {"aligned", true}};
  EXPECT_EQ(InferOne(OpKind::kRoiAlign, {F({2, 8, 16, 16}), F({5, 5})}, a), F({5, 8, 3, 4}));
  EXPECT_THAT(InferError(OpKind::kRoiAlign, {F({2, 8, 16, 16}), F({5, 4})}, a),
              HasSubstr("rois [K,5]"));
  AttributeMap empty = a;
  empty["pooled_width"] = int64_t{0};
  EXPECT_THAT(InferError(OpKind::kRoiAlign, {F({2, 8, 16, 16}), F({5, 5})}, empty),
              HasSubstr("output size 3x0"));
}

TEST(ShapeRulesTest, ReductionsAndMisc) {
  AttributeMap keep{{"axes", Ints{1, -1}}, {"keepdim", true}};
  EXPECT_EQ(InferOne(OpKind::kReduceSum, {F({2, 3, 4})}, keep), F({2, 1, 1}));
  EXPECT_EQ(InferOne(OpKind::kReduceMax, {F({2, 3, 4})}, {{"axes", Ints{0}}, {"keepdim", false}}),
            F({3, 4}));
  EXPECT_THAT(
      InferError(OpKind::kReduceSum, {F({2, 3})}, {{"axes", Ints{1, -1}}, {"keepdim", false}}),
      HasSubstr("repeated"));
  // A scalar reduces over its implicit axis (this used to write out of bounds).
  EXPECT_EQ(InferOne(OpKind::kReduceSum, {F({})}, {{"axes", Ints{0}}, {"keepdim", false}}), F({}));
  EXPECT_EQ(InferOne(OpKind::kTranspose, {F({2, 3, 4})}, {{"perm", Ints{2, 0, 1}}}), F({4, 2, 3}));
  EXPECT_EQ(InferOne(OpKind::kCast, {F({2})}, {{"to", std::string("i64")}}), T(DType::kI64, {2}));
  EXPECT_EQ(InferOne(OpKind::kEmbedding, {F({100, 16}), T(DType::kI64, {2, 5})}), F({2, 5, 16}));
  EXPECT_EQ(InferOne(OpKind::kLayerNorm, {F({2, 5, 8}), F({8}), F({8})},
                     {{"axis", int64_t{-1}}, {"eps", 1e-5}}),
            F({2, 5, 8}));
  EXPECT_EQ(InferOne(OpKind::kBatchNorm, {F({2, 3, 4, 4}), F({3}), F({3}), F({3}), F({3})},
                     {{"eps", 1e-5}}),
            F({2, 3, 4, 4}));
}

TEST(ShapeRulesTest, Lstm) {
  AttributeMap attrs{{"num_layers", int64_t{2}},
                     {"hidden_size", int64_t{4}},
                     {"batch_first", true},
                     {"bidirectional", true},
                     {"has_biases", false}};
  // x [B=2, T=5, I=3]; per layer and direction: w_ih, w_hh.
  std::vector<TensorType> in{F({2, 5, 3}), F({4, 2, 4}), F({4, 2, 4})};
  for (int d = 0; d < 2; ++d) in.insert(in.end(), {F({16, 3}), F({16, 4})});
  for (int d = 0; d < 2; ++d) in.insert(in.end(), {F({16, 8}), F({16, 4})});
  absl::StatusOr<std::vector<TensorType>> r = Infer(OpKind::kLstm, in, attrs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<TensorType>{F({2, 5, 8}), F({4, 2, 4}), F({4, 2, 4})}));
  // A num_layers whose operand count wraps around int64 must not pass.
  attrs["num_layers"] = int64_t{(int64_t{1} << 62) + 1};
  attrs["bidirectional"] = false;
  attrs["has_biases"] = true;
  std::vector<TensorType> seven{F({2, 5, 3}), F({1, 2, 4}), F({1, 2, 4}), F({16, 3}),
                                F({16, 4}),   F({16}),      F({16})};
  EXPECT_THAT(InferError(OpKind::kLstm, seven, attrs), HasSubstr("bad lstm sizes"));
}

// gru: three gates, one state; the sequence may be the run's.
TEST(ShapeRulesTest, Gru) {
  AttributeMap attrs{{"num_layers", int64_t{2}},
                     {"hidden_size", int64_t{4}},
                     {"batch_first", false},
                     {"bidirectional", true},
                     {"has_biases", true}};
  // x [T=5, B=2, I=3]; per layer and direction: w_ih, w_hh, b_ih, b_hh.
  std::vector<TensorType> in{F({5, 2, 3}), F({4, 2, 4})};
  for (int d = 0; d < 2; ++d) in.insert(in.end(), {F({12, 3}), F({12, 4}), F({12}), F({12})});
  for (int d = 0; d < 2; ++d) in.insert(in.end(), {F({12, 8}), F({12, 4}), F({12}), F({12})});
  absl::StatusOr<std::vector<TensorType>> r = Infer(OpKind::kGru, in, attrs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<TensorType>{F({5, 2, 8}), F({4, 2, 4})}));
  const Dim seq = Dim::Symbol("seq");
  in[0] = TensorType{DType::kF32, Shape({seq, Dim::Static(2), Dim::Static(3)})};
  r = Infer(OpKind::kGru, in, attrs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0], (TensorType{DType::kF32, Shape({seq, Dim::Static(2), Dim::Static(8)})}));
  // An LSTM's gate count (16 rows) is not a GRU's.
  in[2] = F({16, 3});
  EXPECT_THAT(InferError(OpKind::kGru, in, attrs),
              HasSubstr("gru weight 2 is [16,3], expected [12,3]"));
  in.pop_back();
  EXPECT_THAT(InferError(OpKind::kGru, in, attrs), HasSubstr("gru expects 18 operands, got 17"));
}

}  // namespace
}  // namespace sinter::ir
