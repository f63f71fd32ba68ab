// The IR text form: exact printing, exact round trip, parse errors with
// positions, and the op table itself.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/graph.h"
#include "ir/op_table.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "runtime/format/kernel_body.h"

namespace sinter::ir {
namespace {

using ::testing::HasSubstr;

TensorType T(DType dtype, std::vector<int64_t> extents) {
  return TensorType{dtype, Shape::Of(extents)};
}

TensorDataPtr F32Data(std::vector<int64_t> shape, std::vector<float> values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(float));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return std::make_shared<TensorData>(T(DType::kF32, shape), std::move(bytes));
}

// Parses, checks the result verifies, and returns it (fails the test if not).
std::unique_ptr<Graph> MustParse(const std::string& text) {
  absl::StatusOr<std::unique_ptr<Graph>> g = Parse(text);
  EXPECT_TRUE(g.ok()) << g.status() << "\n" << text;
  if (!g.ok()) return nullptr;
  absl::Status st = Verify(**g);
  EXPECT_TRUE(st.ok()) << st;
  return std::move(*g);
}

std::string ParseError(const std::string& text) {
  absl::StatusOr<std::unique_ptr<Graph>> g = Parse(text);
  EXPECT_FALSE(g.ok()) << "parsed:\n" << text;
  return g.ok() ? "" : std::string(g.status().message());
}

void ExpectRoundTrip(const Graph& g) {
  std::string text = Print(g);
  std::unique_ptr<Graph> back = MustParse(text);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(Print(*back), text);
}

// A graph with every attribute kind the op table uses, a multi-result op,
// shared constants, locations with escapes, and an input that is an output.
std::unique_ptr<Graph> BuildRichGraph() {
  auto g = std::make_unique<Graph>();
  Value* x = g->AddInput(T(DType::kF32, {1, 3, 8, 8}), "x");
  Value* w = g->AddInput(T(DType::kF32, {4, 3, 3, 3}), "w.0");
  Value* seq = g->AddInput(T(DType::kF32, {5, 2, 3}), "");  // prints as %arg2
  Value* ids = g->AddInput(T(DType::kI64, {2, 7}), "ids");
  Builder b(g.get());
  TensorDataPtr bias = F32Data({4}, {1.0f, 2.0f, -0.5f, 1e-20f});
  Value* c0 = b.Constant(bias);
  b.SetLoc("resnet.py:97");
  Value* conv = *b.Make(OpKind::kConv2d, {x, w, c0},
                        {{"stride", std::vector<int64_t>{1, 1}},
                         {"padding", std::vector<int64_t>{1, 1}},
                         {"dilation", std::vector<int64_t>{1, 1}},
                         {"groups", int64_t{1}}});
  b.SetLoc("we\"ird\\path\nline\t2");
  Value* lr = *b.Make(OpKind::kLeakyRelu, {conv}, {{"slope", 0.1}});
  b.SetLoc("");
  Value* ge = *b.Make(OpKind::kGelu, {lr}, {{"approximate", std::string("tanh \"q\"")}});
  Value* pool = *b.Make(OpKind::kMaxPool2d, {ge},
                        {{"kernel", std::vector<int64_t>{2, 2}},
                         {"stride", std::vector<int64_t>{2, 2}},
                         {"padding", std::vector<int64_t>{0, 0}},
                         {"dilation", std::vector<int64_t>{1, 1}},
                         {"ceil_mode", true}});
  Value* cl = *b.Make(OpKind::kClamp, {pool}, {{"min", -1.5}, {"max", 1e30}});
  Value* sm = *b.Make(OpKind::kSoftmax, {cl}, {{"axis", int64_t{-1}}});
  Value* mean = *b.Make(OpKind::kReduceMean, {sm},
                        {{"axes", std::vector<int64_t>{2, 3}}, {"keepdim", false}});
  Value* c1 = b.Constant(bias);  // the same payload: one blob
  Value* sum = *b.Make(OpKind::kAdd, {mean, c1});
  Value* h0 = b.Constant(F32Data({1, 2, 4}, std::vector<float>(8, 0.25f)));
  Value* wih = b.Constant(F32Data({16, 3}, std::vector<float>(48, 0.5f)));
  Value* whh = b.Constant(F32Data({16, 4}, std::vector<float>(64, -0.5f)));
  TensorDataPtr bvec = F32Data({16}, std::vector<float>(16, 0.0f));
  Value* bih = b.Constant(bvec);
  Value* bhh = b.Constant(bvec);
  Operation* lstm = *b.Create(OpKind::kLstm, {seq, h0, h0, wih, whh, bih, bhh},
                              {{"num_layers", int64_t{1}},
                               {"hidden_size", int64_t{4}},
                               {"batch_first", false},
                               {"bidirectional", false},
                               {"has_biases", true}});
  std::vector<uint8_t> table_bytes(10 * 4 * sizeof(float), 0);
  Value* table = b.Constant(std::make_shared<TensorData>(T(DType::kF32, {10, 4}), table_bytes));
  Value* emb = *b.Make(OpKind::kEmbedding, {table, ids});
  Value* cast = *b.Make(OpKind::kCast, {emb}, {{"to", std::string("f16")}});
  g->AddOutput(sum);
  g->AddOutput(lstm->result(0));
  g->AddOutput(lstm->result(2));
  g->AddOutput(cast);
  g->AddOutput(x);
  return g;
}

TEST(PrinterTest, ExactText) {
  Graph g;
  Value* x = g.AddInput(T(DType::kF32, {4}), "x");
  Builder b(&g);
  TensorDataPtr data = F32Data({4}, {1.0f, 2.0f, 3.0f, 4.0f});
  Value* c = b.Constant(data);
  b.SetLoc("m.py:3");
  Value* add = *b.Make(OpKind::kAdd, {x, c});
  b.SetLoc("");
  Value* c2 = b.Constant(data);
  Value* lr = *b.Make(OpKind::kLeakyRelu, {add}, {{"slope", 0.1}});
  Value* el = *b.Make(OpKind::kElu, {lr}, {{"alpha", 1.0}});
  g.AddOutput(el);
  g.AddOutput(c2);
  const char* kWant =
      "graph @main(%x: f32[4]) {\n"
      "  %0 = const() {value = #0} : f32[4]\n"
      "  %1 = add(%x, %0) : f32[4] loc(\"m.py:3\")\n"
      "  %2 = const() {value = #0} : f32[4]\n"
      "  %3 = leaky_relu(%1) {slope = 0.10000000000000001} : f32[4]\n"
      "  %4 = elu(%3) {alpha = 1.0} : f32[4]\n"
      "  return %4, %2\n"
      "}\n"
      "blobs {\n"
      "  #0 = 0x0000803F000000400000404000008040\n"
      "}\n";
  EXPECT_EQ(Print(g), kWant);
  EXPECT_EQ(Print(g, {.elide_constants = true}),
            "graph @main(%x: f32[4]) {\n"
            "  %0 = const() {value = #elided} : f32[4]\n"
            "  %1 = add(%x, %0) : f32[4] loc(\"m.py:3\")\n"
            "  %2 = const() {value = #elided} : f32[4]\n"
            "  %3 = leaky_relu(%1) {slope = 0.10000000000000001} : f32[4]\n"
            "  %4 = elu(%3) {alpha = 1.0} : f32[4]\n"
            "  return %4, %2\n"
            "}\n");
  ExpectRoundTrip(g);
}

TEST(PrinterTest, EmptyGraphAndNoBlobs) {
  Graph g;
  EXPECT_EQ(Print(g), "graph @main() {\n  return\n}\n");
  ExpectRoundTrip(g);
}

TEST(PrinterTest, InputNamesAreSanitisedAndUnique) {
  Graph g;
  g.AddInput(T(DType::kF32, {1}), "a");
  g.AddInput(T(DType::kF32, {1}), "a");     // duplicate -> arg1
  g.AddInput(T(DType::kF32, {1}), "1bad");  // not an identifier -> arg2
  g.AddInput(T(DType::kF32, {1}), "arg4");  // taken by name before input 4 asks
  g.AddInput(T(DType::kF32, {1}), "");      // arg4 taken -> arg4_1
  g.AddInput(T(DType::kI64, {}), "x.y_z");
  EXPECT_EQ(Print(g),
            "graph @main(%a: f32[1], %arg1: f32[1], %arg2: f32[1], %arg4: f32[1], "
            "%arg4_1: f32[1], %x.y_z: i64[]) {\n  return\n}\n");
  ExpectRoundTrip(g);
}

TEST(PrinterTest, MultiResultAndDynamicTypes) {
  std::unique_ptr<Graph> g = BuildRichGraph();
  ASSERT_TRUE(Verify(*g).ok()) << Verify(*g);
  std::string text = Print(*g);
  EXPECT_THAT(text, HasSubstr("= lstm(%arg2, "));
  EXPECT_THAT(text, HasSubstr(": (f32[5,2,4], f32[1,2,4], f32[1,2,4])\n"));
  EXPECT_THAT(text, HasSubstr("loc(\"we\\\"ird\\\\path\\nline\\t2\")"));
  EXPECT_THAT(text, HasSubstr("{approximate = \"tanh \\\"q\\\"\"}"));
  EXPECT_THAT(text, HasSubstr("{max = 1e+30, min = -1.5}"));
  EXPECT_THAT(text, HasSubstr("{axes = [2, 3], keepdim = false}"));
  EXPECT_THAT(text, HasSubstr("{ceil_mode = true, dilation = [1, 1], kernel = [2, 2]"));
  // bias is shared by two consts, the lstm biases by two others: 6 blobs.
  EXPECT_THAT(text, HasSubstr("  #5 = 0x"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("#6")));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1 + 19 + 1 + 1 + 1 + 6 + 1);
}

TEST(RoundTripTest, RichGraph) {
  std::unique_ptr<Graph> g = BuildRichGraph();
  ExpectRoundTrip(*g);
  // Shared payloads stay shared after parsing.
  std::unique_ptr<Graph> back = MustParse(Print(*g));
  std::vector<const TensorData*> consts;
  for (const auto& op : back->ops()) {
    if (op->kind() == OpKind::kConst) consts.push_back(op->GetTensor("value").get());
  }
  ASSERT_GE(consts.size(), 3u);
  EXPECT_EQ(consts[0], consts[1]);
  EXPECT_EQ(back->input(0)->name(), "x");
  EXPECT_EQ(back->input(2)->name(), "arg2");
  EXPECT_EQ(back->outputs().back(), back->input(0));
}

TEST(RoundTripTest, CloneRoundTrips) {
  std::unique_ptr<Graph> g = BuildRichGraph();
  EXPECT_EQ(Print(*g->Clone()), Print(*g));
}

TEST(RoundTripTest, FloatsExact) {
  const double kValues[] = {0.1,
                            -0.0,
                            1.0,
                            -2.5,
                            1e300,
                            -1e-300,
                            5e-324,
                            2.2250738585072014e-308,
                            std::numeric_limits<double>::max(),
                            std::numeric_limits<double>::lowest(),
                            123456789012345678.0,
                            1.0 / 3.0,
                            std::numeric_limits<double>::infinity(),
                            -std::numeric_limits<double>::infinity(),
                            std::numeric_limits<double>::quiet_NaN()};
  for (double v : kValues) {
    Graph g;
    Value* x = g.AddInput(T(DType::kF32, {2}), "x");
    Builder b(&g);
    g.AddOutput(*b.Make(OpKind::kLeakyRelu, {x}, {{"slope", v}}));
    std::string text = Print(g);
    std::unique_ptr<Graph> back = MustParse(text);
    ASSERT_NE(back, nullptr);
    double got = back->ops().front()->GetFloat("slope");
    if (std::isnan(v)) {
      EXPECT_TRUE(std::isnan(got));
    } else {
      EXPECT_EQ(std::memcmp(&got, &v, sizeof(double)), 0) << text;
    }
    EXPECT_EQ(Print(*back), text);
  }
  EXPECT_EQ(FormatFloat(3.0), "3.0");
  EXPECT_EQ(FormatFloat(-0.0), "-0.0");
  EXPECT_EQ(FormatFloat(1e20), "1e+20");
  EXPECT_EQ(FormatFloat(std::numeric_limits<double>::infinity()), "inf");
}

TEST(RoundTripTest, FloatsListAttributePrints) {
  // No op in the table has a floats attribute yet; the printer still prints
  // one, and the parser reads the list before the schema rejects it.
  Graph g;
  Value* x = g.AddInput(T(DType::kF32, {2}), "x");
  g.CreateOp(g.ops().end(), OpKind::kRelu, {x},
             {{"scales", std::vector<double>{1.0, 2.5, -1e-07}}, {"no", std::vector<double>{}}},
             {x->type()});
  std::string text = Print(g);
  EXPECT_THAT(text, HasSubstr("{no = [], scales = [1.0, 2.5, -9.9999999999999995e-08]}"));
  EXPECT_THAT(ParseError(text), HasSubstr("2:8: relu: unknown attribute 'no'"));
}

TEST(ParserTest, CommentsWhitespaceAndNames) {
  const char* kText = R"(// a model
graph @resnet ( %input : f32 [ 1 , 4 ] ,%w:f32[3,4] )   // inputs
{
  %h = linear(%input, %w) : f32[1,3]   // named result
  %relu.out=relu(%h){}:f32[1,3]loc("a.py:1")
  %7 = softmax(%relu.out) {axis = -1} // trailing
     : f32[1,3]
  %e = clamp(%7) {min = 0} : f32[1,3]   // int spelling widened to float
  %r = reduce_sum(%e) {axes = [], keepdim = true} : f32[1,3]
  return %r, %h
}
// nothing after the graph but this comment
)";
  std::unique_ptr<Graph> g = MustParse(kText);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(Print(*g),
            "graph @main(%input: f32[1,4], %w: f32[3,4]) {\n"
            "  %0 = linear(%input, %w) : f32[1,3]\n"
            "  %1 = relu(%0) : f32[1,3] loc(\"a.py:1\")\n"
            "  %2 = softmax(%1) {axis = -1} : f32[1,3]\n"
            "  %3 = clamp(%2) {min = 0.0} : f32[1,3]\n"
            "  %4 = reduce_sum(%3) {axes = [], keepdim = true} : f32[1,3]\n"
            "  return %4, %0\n"
            "}\n");
  ExpectRoundTrip(*g);
}

TEST(ParserTest, DynamicDimsAndHexCase) {
  std::unique_ptr<Graph> g = MustParse(
      "graph @main(%x: f32[?N,4]) {\n"
      "  %0 = relu(%x) : f32[?N,4]\n"
      "  %1 = const() {value = #7} : i32[2]\n"
      "  return %0, %1\n"
      "}\n"
      "blobs {\n"
      "  #7 = 0xabcdef0102030405\n"
      "}\n");
  ASSERT_NE(g, nullptr);
  EXPECT_THAT(Print(*g), HasSubstr("  #0 = 0xABCDEF0102030405\n"));
  EXPECT_THAT(Print(*g), HasSubstr("%0 = relu(%x) : f32[?N,4]"));
  ExpectRoundTrip(*g);
  // A multiple of a symbol (?N*4: a symbolic dim merged with a static one),
  // and what is not one.
  std::unique_ptr<Graph> m = MustParse(
      "graph @main(%x: f32[?N,4]) {\n"
      "  %0 = reshape(%x) {shape = [-1]} : f32[?N*4]\n"
      "  return %0\n"
      "}\n");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->ops().back()->result(0)->type().shape[0], Dim::Symbol("N", 4));
  ExpectRoundTrip(*m);
  EXPECT_THAT(ParseError("graph @main(%x: f32[?N*0]) {\n  return %x\n}\n"),
              HasSubstr("expected a positive multiple after '*'"));
  // Sums with it: ?N+1 (a class token before N), ?N*2+2, ?N-1.
  std::unique_ptr<Graph> sums = MustParse(
      "graph @main(%x: f32[?N,4], %c: f32[1,4]) {\n"
      "  %0 = concat(%c, %x) {axis = 0} : f32[?N+1,4]\n"
      "  %1 = concat(%0, %0) {axis = 0} : f32[?N*2+2,4]\n"
      "  %2 = slice(%x) {axis = 0, end = 9223372036854775807, start = 1, step = 1} : f32[?N-1,4]\n"
      "  return %1, %2\n"
      "}\n");
  ASSERT_NE(sums, nullptr);
  EXPECT_EQ(sums->outputs()[0]->type().shape[0], Dim::Symbol("N", 2, 2));
  EXPECT_EQ(sums->outputs()[1]->type().shape[0], Dim::Symbol("N", 1, -1));
  ExpectRoundTrip(*sums);
  EXPECT_THAT(ParseError("graph @main(%x: f32[?N+]) {\n  return %x\n}\n"),
              HasSubstr("expected a number after '+'"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[?N,4]) {\n"
                         "  %0 = reshape(%x) {shape = [-1]} : f32[?N*2]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("f32[?N*4]"));
}

// A fallback segment's results of data-dependent size: result_dims -(k+1)
// is the symbol `dk`; the text form round-trips, a declared type that
// disagrees with the rule is an error, and -1 is refused on a plugin_op
// (only a segment sizes results as it runs).
TEST(ParserTest, DataDependentSegmentResultsRoundTrip) {
  const std::string text =
      "graph @main(%x: f32[5]) {\n"
      "  %0 = const() {value = #0} : u8[1]\n"
      "  %1, %2 = plugin_segment(%0, %x) {abi = 1, ops = \"aten::nonzero x1\", plugin = "
      "\"torch\", result_dims = [2, -1, -2, 1, 5], result_dtypes = \"i64,f32\"} : (i64[?d0,?d1], "
      "f32[5])\n"
      "  return %1 as \"idx\", %2 as \"dense\"\n"
      "}\n"
      "blobs {\n"
      "  #0 = 0x00\n"
      "}\n";
  std::unique_ptr<Graph> g = MustParse(text);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(Print(*g), text);
  ExpectRoundTrip(*g);
  std::string wrong = text;
  wrong.replace(wrong.find("i64[?d0,?d1]"), 12, "i64[?d0,?d7]");
  EXPECT_FALSE(Parse(wrong).ok() && Verify(**Parse(wrong)).ok());
  EXPECT_THAT(ParseError("graph @main(%x: f32[2,3]) {\n"
                         "  %0 = plugin_op(%x) {abi = 1, arg_kinds = [], float_args = [], "
                         "int_args = [], op = \"my::op\", plugin = \"p\", result_dims = [1, -1], "
                         "result_dtypes = \"f32\"} : f32[?d0]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("negative dimension"));
}

// The names a model's outputs carry (a dict's keys) print as `as "name"` and
// parse back; naming some outputs but not all is an error.
TEST(ParserTest, OutputNamesRoundTrip) {
  std::unique_ptr<Graph> g = MustParse(
      "graph @main(%x: f32[4]) {\n"
      "  %0 = relu(%x) : f32[4]\n"
      "  return %0 as \"out\", %x as \"aux \\\"raw\\\"\"\n"
      "}\n");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->output_names(), (std::vector<std::string>{"out", "aux \"raw\""}));
  ExpectRoundTrip(*g);
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = relu(%x) : f32[4]\n"
                         "  return %0 as \"out\", %x\n"
                         "}\n"),
              HasSubstr("name every output with 'as' or none"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  return %x as out\n"
                         "}\n"),
              HasSubstr("an output name (a string) after 'as'"));
}

TEST(ParserTest, ErrorsCarryPositions) {
  // The spec's example: a missing ')' after the operands.
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = relu(%x)  : f32[4]\n"
                         "  %1 = add(%x, %0 : f32[4]\n"
                         "  return %1\n"
                         "}\n"),
              HasSubstr("3:19: expected ')' after operands, found ':'"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = relu(%x) : f32[4]\n"
                         "  %1 = conv3d(%x) : f32[4]\n"
                         "  return %1\n"
                         "}\n"),
              HasSubstr("3:8: unknown op 'conv3d'"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = relu(%y) : f32[4]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("2:13: undefined value %y"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = relu(%x) : f32[4]\n"
                         "  return %1\n"
                         "}\n"),
              HasSubstr("3:10: undefined value %1"));
  // Use before definition is an undefined value too.
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = relu(%1) : f32[4]\n"
                         "  %1 = relu(%x) : f32[4]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("2:13: undefined value %1"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = relu(%x) : f32[4]\n"
                         "  %0 = relu(%x) : f32[4]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("3:3: redefinition of %0 (first defined at 2:3)"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = relu(%x) : f32[5]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("2:19: result type f32[5] does not match inferred f32[4]"));
  EXPECT_THAT(ParseError("graph @main(%x: f33[4]) {\n  return\n}\n"),
              HasSubstr("1:17: unknown dtype 'f33'"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[-4]) {\n  return\n}\n"),
              HasSubstr("1:21: dimension must not be negative"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[99999999999999999999]) {\n  return\n}\n"),
              HasSubstr("1:21: integer 99999999999999999999 out of range"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4611686018427387904,4]) {\n  return\n}\n"),
              HasSubstr("1:17: type f32[4611686018427387904,4] is too large"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = relu(%x) loc(\"a.py) : f32[4]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("2:17: expected ':' before result types, found 'loc'"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = relu(%x) : f32[4] loc(\"a.py)\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("2:30: unterminated string"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = softmax(%x) {axis = 0, axis = 0} : f32[4]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("2:31: duplicate attribute 'axis'"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = softmax(%x) {axis = 1.5} : f32[4]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("2:8: softmax: attribute 'axis' must be int, got float"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = softmax(%x) {axis = 1.5e999} : f32[4]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("2:28: number 1.5e999 is out of range for a double"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = add(%x) : f32[4]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("2:8: 'add' expects 2 operand(s), found 1"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = lstm(%x, %x, %x, %x) {} : f32[4]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("2:3: 'lstm' has 3 result(s), 1 named"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n"
                         "  %0 = relu(%x) : f32[4]\n"
                         "  return %0\n"
                         "}\n"
                         "extra"),
              HasSubstr("5:1: expected end of input, found 'extra'"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n  %0 = relu(%x) : f32[4]\n"),
              HasSubstr("3:1: expected an op or 'return', found end of input"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n  %0 = relu(%x) : f32[4] $\n"),
              HasSubstr("2:26: unexpected '$'"));
  EXPECT_THAT(ParseError("graph @main(%x: f32[4]) {\n  %0 = gelu(%x) {approximate = \"\\q\"} "
                         ": f32[4]\n  return %0\n}\n"),
              HasSubstr("2:34: unknown escape in string"));
  EXPECT_THAT(ParseError("grph @main() {\n  return\n}\n"),
              HasSubstr("1:1: expected 'graph', found 'grph'"));
  EXPECT_THAT(ParseError(std::string("graph @main() {\n  return\n}\n\0", 28)),
              HasSubstr("4:1: unexpected byte 0x00"));
  EXPECT_THAT(ParseError(""), HasSubstr("1:1: expected 'graph', found end of input"));
}

TEST(ParserTest, BlobErrors) {
  const char* kHead =
      "graph @main() {\n"
      "  %0 = const() {value = #0} : f32[2]\n"
      "  return %0\n"
      "}\n";
  EXPECT_THAT(ParseError(kHead), HasSubstr("2:25: blob #0 is not defined in the blobs section"));
  EXPECT_THAT(ParseError(std::string(kHead) + "blobs {\n  #0 = 0x0000803F\n}\n"),
              HasSubstr("2:25: blob #0 has 4 bytes but f32[2] needs 8"));
  EXPECT_THAT(ParseError(std::string(kHead) + "blobs {\n  #0 = 0x0000803F0\n}\n"),
              HasSubstr("6:8: odd number of hex digits"));
  EXPECT_THAT(ParseError(std::string(kHead) + "blobs {\n  #0 = 0x0000803G\n}\n"),
              HasSubstr("6:17: invalid hex digit 'G'"));
  EXPECT_THAT(
      ParseError(std::string(kHead) + "blobs {\n  #0 = 0x0000803F0000803F\n  #0 = 0x00\n}\n"),
      HasSubstr("7:3: redefinition of blob #0"));
  EXPECT_THAT(ParseError("graph @main() {\n"
                         "  %0 = const() {value = #elided} : f32[2]\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("2:25: constant data was elided"));
  EXPECT_THAT(ParseError("graph @main() {\n"
                         "  %0 = const() {value = #0} : f32[?N]\n"
                         "  return %0\n"
                         "}\nblobs {\n  #0 = 0x\n}\n"),
              HasSubstr("2:25: constant type f32[?N] is not static"));
  EXPECT_THAT(ParseError("graph @main() {\n"
                         "  %0 = const() {value = #0} : f32[1]\n"
                         "  %1 = const() {value = #0} : i32[1]\n"
                         "  return %0, %1\n"
                         "}\nblobs {\n  #0 = 0x00000000\n}\n"),
              HasSubstr("3:25: blob #0 is read as both f32[1] and i32[1]"));
  // An empty tensor has an empty blob, and unused blobs are dropped.
  std::unique_ptr<Graph> g = MustParse(
      "graph @main() {\n"
      "  %0 = const() {value = #3} : f32[0,2]\n"
      "  return %0\n"
      "}\nblobs {\n  #3 = 0x\n  #9 = 0x00\n}\n");
  ASSERT_NE(g, nullptr);
  EXPECT_THAT(Print(*g), HasSubstr("blobs {\n  #0 = 0x\n}\n"));
  ExpectRoundTrip(*g);
}

TEST(ParserTest, ShapeRuleErrorsNameTheOp) {
  EXPECT_THAT(ParseError("graph @main(%x: f32[1,3,8,8], %w: f32[4,2,3,3]) {\n"
                         "  %0 = conv2d(%x, %w) {dilation = [1, 1], groups = 1, padding = [1, 1], "
                         "stride = [1, 1]} : f32[1,4,8,8] loc(\"m.py:9\")\n"
                         "  return %0\n"
                         "}\n"),
              HasSubstr("2:8: conv2d at m.py:9: input [1,3,8,8] and weight [4,2,3,3] disagree "
                        "for groups=1"));
}

// Every op's row: unique names, lookup agrees, schema strings well formed.
TEST(OpTableTest, EveryRowIsWellFormed) {
  struct RawRow {
    const char* name;
    const char* schema;
  };
  static const RawRow kRaw[] = {
#define OP(ENUM, NAME, MIN_IN, MAX_IN, RESULTS, TRAITS, ATTRS, RULE, CPU, CUDA) {NAME, ATTRS},
#include "runtime/format/ops.def"
#undef OP
  };
  const std::vector<OpInfo>& ops = AllOps();
  ASSERT_EQ(ops.size(), std::size(kRaw));
  std::set<std::string_view> names;
  const std::set<std::string_view> kKinds = {"int",  "float",  "bool",  "str",
                                             "ints", "floats", "tensor"};
  for (size_t i = 0; i < ops.size(); ++i) {
    const OpInfo& info = ops[i];
    SCOPED_TRACE(std::string(info.name));
    EXPECT_EQ(static_cast<size_t>(info.kind), i);
    EXPECT_TRUE(IsIdentifier(info.name));
    EXPECT_TRUE(names.insert(info.name).second) << "duplicate op name";
    EXPECT_EQ(LookupOp(info.name), info.kind);
    EXPECT_EQ(&GetOpInfo(info.kind), &info);
    EXPECT_GE(info.min_operands, 0);
    EXPECT_TRUE(info.max_operands == -1 || info.max_operands >= info.min_operands);
    EXPECT_TRUE(info.num_results >= 1 || info.num_results == -1);  // -1: one or more
    EXPECT_NE(info.infer, nullptr);
    // The raw schema: `name:kind[?]` items that agree with the parsed specs,
    // attributes and regions (kind `region`, named by an artifact role).
    std::vector<std::string> items = absl::StrSplit(kRaw[i].schema, ' ', absl::SkipEmpty());
    ASSERT_EQ(items.size(), info.attrs.size() + info.regions.size());
    std::set<std::string_view> attr_names;
    size_t attr = 0, region = 0;
    for (size_t j = 0; j < items.size(); ++j) {
      std::string_view item = items[j];
      size_t colon = item.find(':');
      ASSERT_NE(colon, std::string_view::npos) << item;
      std::string_view name = item.substr(0, colon), kind = item.substr(colon + 1);
      bool optional = !kind.empty() && kind.back() == '?';
      if (optional) kind.remove_suffix(1);
      EXPECT_TRUE(IsIdentifier(name)) << item;
      EXPECT_TRUE(attr_names.insert(name).second) << "duplicate attribute " << name;
      if (kind == "region") {
        ASSERT_LT(region, info.regions.size());
        format::CodeRole role;
        EXPECT_TRUE(format::RegionRole(name, &role)) << "region '" << name << "' has no role";
        EXPECT_EQ(info.regions[region].name, name);
        EXPECT_EQ(info.regions[region].optional, optional);
        EXPECT_FALSE(LookupOp(name).has_value()) << "a region named like an op: " << name;
        ++region;
        continue;
      }
      EXPECT_TRUE(kKinds.count(kind)) << "unknown attribute kind in '" << item << "'";
      ASSERT_LT(attr, info.attrs.size());
      EXPECT_EQ(info.attrs[attr].name, name);
      EXPECT_EQ(AttrKindName(info.attrs[attr].kind), kind);
      EXPECT_EQ(info.attrs[attr].optional, optional);
      ++attr;
    }
  }
  EXPECT_EQ(LookupOp("no_such_op"), std::nullopt);
}

}  // namespace
}  // namespace sinter::ir
