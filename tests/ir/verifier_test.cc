// The verifier on graphs broken the ways passes break them. Broken ops are
// made with Graph::CreateOp, which (unlike Builder) checks nothing.
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace sinter::ir {
namespace {

using ::testing::HasSubstr;

TensorType T(DType dtype, std::vector<int64_t> extents) {
  return TensorType{dtype, Shape::Of(extents)};
}

std::string VerifyError(const Graph& g) {
  absl::Status st = Verify(g);
  EXPECT_FALSE(st.ok());
  return std::string(st.message());
}

// x -> relu -> neg, both outputs.
struct Chain {
  Graph g;
  Value* x;
  Operation* relu;
  Operation* neg;
  Chain() {
    x = g.AddInput(T(DType::kF32, {2, 3}), "x");
    Builder b(&g);
    relu = *b.Create(OpKind::kRelu, {x});
    neg = *b.Create(OpKind::kNeg, {relu->result()});
    g.AddOutput(neg->result());
  }
};

TEST(VerifierTest, AcceptsBuiltGraphs) {
  Chain c;
  EXPECT_TRUE(Verify(c.g).ok()) << Verify(c.g);
  Graph empty;
  EXPECT_TRUE(Verify(empty).ok());
}

TEST(VerifierTest, UseBeforeDef) {
  Chain c;
  // An op at the front reading the relu that comes after it.
  c.g.CreateOp(c.g.ops().begin(), OpKind::kExp, {c.relu->result()}, {}, {T(DType::kF32, {2, 3})});
  EXPECT_EQ(VerifyError(c.g), "op %0 = exp: operand 0 (%1) is used before its definition");
}

TEST(VerifierTest, SelfUse) {
  Graph g;
  Value* x = g.AddInput(T(DType::kF32, {2}), "x");
  Operation* op = g.CreateOp(g.ops().end(), OpKind::kAdd, {x, x}, {}, {T(DType::kF32, {2})});
  op->SetOperand(1, op->result());
  EXPECT_EQ(VerifyError(g), "op %0 = add: operand 1 (%0) is used before its definition");
}

TEST(VerifierTest, OperandCount) {
  Chain c;
  c.g.CreateOp(c.g.ops().end(), OpKind::kAdd, {c.x}, {}, {T(DType::kF32, {2, 3})});
  EXPECT_EQ(VerifyError(c.g), "op %2 = add: expected 2 operands, got 1");

  Graph g;
  Value* x = g.AddInput(T(DType::kF32, {1, 1, 4, 4}), "x");
  g.CreateOp(g.ops().end(), OpKind::kEmbedding, {x, x, x}, {}, {x->type()});
  EXPECT_EQ(VerifyError(g), "op %0 = embedding: expected 2 operands, got 3");

  Graph l;
  Value* y = l.AddInput(T(DType::kF32, {1, 1, 4}), "y");
  l.CreateOp(l.ops().end(), OpKind::kLstm, {y, y}, {}, {y->type(), y->type(), y->type()});
  EXPECT_EQ(VerifyError(l), "op %0, %1, %2 = lstm: expected at least 5 operands, got 2");
}

TEST(VerifierTest, MissingUnknownAndWrongKindAttributes) {
  {
    Chain c;
    Operation* sm =
        c.g.CreateOp(c.g.ops().end(), OpKind::kSoftmax, {c.x}, {}, {T(DType::kF32, {2, 3})});
    sm->set_loc("model.py:12");
    EXPECT_EQ(VerifyError(c.g), "op %2 = softmax (model.py:12): missing attribute 'axis' (int)");
  }
  {
    Chain c;
    c.relu->mutable_attrs()["foo"] = int64_t{1};
    EXPECT_EQ(VerifyError(c.g), "op %0 = relu: unknown attribute 'foo'");
  }
  {
    Chain c;
    c.g.CreateOp(c.g.ops().end(), OpKind::kSoftmax, {c.x}, {{"axis", 1.0}},
                 {T(DType::kF32, {2, 3})});
    EXPECT_EQ(VerifyError(c.g), "op %2 = softmax: attribute 'axis' must be int, got float");
  }
}

TEST(VerifierTest, WrongRecordedResultType) {
  Graph g;
  Value* x = g.AddInput(T(DType::kF32, {1, 3, 8, 8}), "x");
  Value* w = g.AddInput(T(DType::kF32, {4, 3, 3, 3}), "w");
  Builder b(&g);
  b.SetLoc("resnet.py:97");
  Operation* conv = *b.Create(OpKind::kConv2d, {x, w},
                              {{"stride", std::vector<int64_t>{1, 1}},
                               {"padding", std::vector<int64_t>{1, 1}},
                               {"dilation", std::vector<int64_t>{1, 1}},
                               {"groups", int64_t{1}}});
  g.AddOutput(conv->result());
  ASSERT_TRUE(Verify(g).ok());
  conv->result()->set_type(T(DType::kF32, {1, 4, 9, 9}));
  EXPECT_EQ(VerifyError(g),
            "op %0 = conv2d (resnet.py:97): result type f32[1,4,9,9] does not match inferred "
            "f32[1,4,8,8]");
  conv->result()->set_type(T(DType::kF16, {1, 4, 8, 8}));
  EXPECT_THAT(VerifyError(g), HasSubstr("result type f16[1,4,8,8] does not match"));
}

TEST(VerifierTest, WrongResultOfMultiResultOp) {
  absl::StatusOr<std::unique_ptr<Graph>> g = Parse(R"(
graph @main(%x: f32[5,2,3], %h: f32[1,2,4], %wi: f32[16,3], %wh: f32[16,4]) {
  %y, %hn, %cn = lstm(%x, %h, %h, %wi, %wh) {batch_first = false, bidirectional = false,
      has_biases = false, hidden_size = 4, num_layers = 1} : (f32[5,2,4], f32[1,2,4], f32[1,2,4])
  return %y, %cn
}
)");
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(Verify(**g).ok());
  (*g)->ops().front()->result(2)->set_type(T(DType::kF32, {2, 2, 4}));
  EXPECT_EQ(VerifyError(**g),
            "op %0, %1, %2 = lstm: result 2 type f32[2,2,4] does not match inferred f32[1,2,4]");
}

TEST(VerifierTest, ShapeRuleFailure) {
  Chain c;
  Value* y = c.g.AddInput(T(DType::kF32, {4, 3}), "y");
  c.g.CreateOp(c.g.ops().end(), OpKind::kAdd, {c.x, y}, {}, {T(DType::kF32, {2, 3})});
  EXPECT_EQ(VerifyError(c.g), "op %2 = add: shapes [2,3] and [4,3] do not broadcast");
}

TEST(VerifierTest, DanglingOutput) {
  Chain c;
  Chain other;
  c.g.AddOutput(other.relu->result());
  EXPECT_EQ(VerifyError(c.g), "graph output 1 is not a value of this graph");
  c.g.SetOutput(1, nullptr);
  EXPECT_EQ(VerifyError(c.g), "graph output 1 is not a value of this graph");
}

TEST(VerifierTest, OperandFromErasedOp) {
  Chain c;
  // Erasing an op that still has users leaves them reading a dead value.
  c.g.Erase(c.relu);
  EXPECT_EQ(VerifyError(c.g), "op %0 = neg: operand 0 is not a value of this graph");
}

TEST(VerifierTest, OperandFromAnotherGraph) {
  Chain c;
  Chain other;
  c.neg->SetOperand(0, other.x);
  EXPECT_EQ(VerifyError(c.g), "op %1 = neg: operand 0 is not a value of this graph");
}

TEST(VerifierTest, UseListsMustMatchOperands) {
  // A user list that names an op of another graph.
  Chain c;
  Chain other;
  other.relu->SetOperand(0, c.x);  // c.x now lists other.relu as a user
  EXPECT_EQ(VerifyError(c.g), "value %x lists a user that is not in the graph");
}

TEST(VerifierTest, OutputNamesMatchOutputs) {
  Chain c;
  c.g.SetOutputNames({"a", "b"});
  EXPECT_EQ(VerifyError(c.g), "graph has 1 outputs but 2 output names");
  c.g.SetOutputNames({"a"});
  EXPECT_TRUE(Verify(c.g).ok());
}

TEST(VerifierTest, ConstPayloadMustMatchType) {
  Graph g;
  auto data = std::make_shared<TensorData>(T(DType::kF32, {2}), std::vector<uint8_t>(4));
  g.CreateOp(g.ops().end(), OpKind::kConst, {}, {{"value", data}}, {T(DType::kF32, {2})});
  EXPECT_EQ(VerifyError(g), "op %0 = const: const payload of 4 bytes does not match f32[2]");
  Graph n;
  n.CreateOp(n.ops().end(), OpKind::kConst, {}, {{"value", TensorDataPtr()}},
             {T(DType::kF32, {2})});
  EXPECT_EQ(VerifyError(n), "op %0 = const: const without data");
}

TEST(VerifierTest, TypesMustBePrintable) {
  {
    Graph g;
    g.AddInput(T(DType::kF32, {2, -1}), "x");
    EXPECT_EQ(VerifyError(g), "graph input %x type f32[2,-1] has a negative dimension");
  }
  {
    Graph g;
    g.AddInput(TensorType{DType::kF32, Shape({Dim::Symbol("N-1")})}, "x");
    EXPECT_EQ(VerifyError(g), "graph input %x type f32[?N-1] has an invalid symbol name");
  }
  {
    // Expanding to more bytes than int64 holds: the rule allows it, the
    // verifier does not (the text form could not carry it back).
    Graph g;
    Value* x = g.AddInput(T(DType::kF32, {1}), "x");
    Builder b(&g);
    Operation* e = *b.Create(OpKind::kExpand, {x},
                             {{"shape", std::vector<int64_t>{1 << 30, 1 << 30, 1 << 30}}});
    g.AddOutput(e->result());
    EXPECT_EQ(VerifyError(g),
              "op %0 = expand: result type f32[1073741824,1073741824,1073741824] is too large");
  }
}

// Fused programs are checked by the parser the runtime loads them with: an
// unknown instruction or an operand past the op's inputs is refused here,
// where the pass that wrote it can be found, not when an artifact loads. The
// text parser infers types through the same rules, so text with such a
// program is refused at its line.
std::string ParseError(const std::string& text) {
  absl::StatusOr<std::unique_ptr<Graph>> g = Parse(text);
  EXPECT_FALSE(g.ok());
  return g.ok() ? std::string() : std::string(g.status().message());
}

TEST(VerifierTest, KernelBodiesAreCheckedAsTheRuntimeChecksThem) {
  const char* ok = R"(graph @main(%x: f32[2,8], %y: f32[2,8]) {
  %0 = fused_elementwise(%x, %y) : f32[2,8] body(%arg0: f32[], %arg1: f32[]) {
    %0 = add(%arg0, %arg1) : f32[]
    %1 = relu(%0) : f32[]
    yield %1
  }
  return %0
}
)";
  absl::StatusOr<std::unique_ptr<Graph>> g = Parse(ok);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(Verify(**g).ok()) << Verify(**g);
  EXPECT_EQ(Print(**g), ok);

  // An op outside the vocabulary, a tensor value, a type rule of the
  // description (add reads f32 only), arguments that disagree with the
  // operands: each named, at the op's position.
  EXPECT_THAT(ParseError(R"(graph @main(%x: f32[2,8]) {
  %0 = fused_elementwise(%x) : f32[2,8] body(%a: f32[]) {
    %0 = reduce_sum(%a) {axes = [], keepdim = false} : f32[]
    yield %0
  }
  return %0
})"),
              HasSubstr("2:8: fused_elementwise: body: body op %0 = reduce_sum: not an op of the "
                        "kernel-body vocabulary"));
  EXPECT_THAT(ParseError(R"(graph @main(%x: f32[2,8]) {
  %0 = fused_elementwise(%x) : f32[2,8] body(%a: f32[2]) {
    %0 = relu(%a) : f32[2]
    yield %0
  }
  return %0
})"),
              HasSubstr("body: body argument %a is f32[2], not a scalar"));
  EXPECT_THAT(ParseError(R"(graph @main(%x: i64[2,8]) {
  %0 = fused_elementwise(%x) : i64[2,8] body(%a: i64[]) {
    %0 = add(%a, %a) : i64[]
    yield %0
  }
  return %0
})"),
              HasSubstr("body: kernel body: instruction 0: add takes (f32, f32) -> f32, got (i64, "
                        "i64) -> i64"));
  EXPECT_THAT(ParseError(R"(graph @main(%x: f32[2,8], %y: f32[2,8]) {
  %0 = fused_elementwise(%x, %y) : f32[2,8] body(%a: f32[]) {
    %0 = relu(%a) : f32[]
    yield %0
  }
  return %0
})"),
              HasSubstr("body has 1 argument(s), the op gives it 2"));
  EXPECT_THAT(ParseError(R"(graph @main(%x: f32[2,8]) {
  %0 = fused_elementwise(%x) : f32[2,8] body(%a: f16[]) {
    %0 = cast(%a) {to = "f32"} : f32[]
    yield %0
  }
  return %0
})"),
              HasSubstr("body argument 0 is f16[], the op gives it f32"));
  EXPECT_THAT(ParseError(R"(graph @main(%x: f32[2,8]) {
  %0 = fused_elementwise(%x) : f32[2,8]
  return %0
})"),
              HasSubstr("2:8: fused_elementwise: missing region 'body'"));

  // Built by a pass: a region that reads a value of the enclosing graph (a
  // body is isolated), and a region the op does not have.
  Graph built;
  Value* x = built.AddInput(T(DType::kF32, {2, 8}), "x");
  auto body = std::make_unique<Graph>();
  Value* a = body->AddInput(T(DType::kF32, {}), "a");
  Operation* r = body->CreateOp(body->ops().end(), OpKind::kAdd, {a, x}, {}, {T(DType::kF32, {})});
  body->AddOutput(r->result());
  RegionList regions;
  regions.push_back({"body", std::move(body)});
  Operation* fused = built.CreateOp(built.ops().end(), OpKind::kFusedElementwise, {x}, {},
                                    {x->type()}, std::move(regions));
  EXPECT_EQ(VerifyError(built),
            "op %0 = fused_elementwise: region 'body': op %0 = add: operand 1 is not a value of "
            "this graph");
  fused->SetRegion("prologue", fused->TakeRegion("body"));
  EXPECT_EQ(VerifyError(built), "op %0 = fused_elementwise: unknown region 'prologue'");
}

TEST(VerifierTest, EpilogueAndPrologueBodiesOverTheirOperands) {
  // layer_norm's operands: x, w, b, then one epilogue input (the epilogue's
  // argument 1; argument 0 is the normalised value).
  const char* ln = R"(graph @main(%x: f32[3,16], %w: f32[16], %b: f32[16], %r: f32[3,16]) {
  %0 = fused_reduction(%x, %w, %b, %r) {axis = -1, eps = 1.0000000000000001e-05, inputs = 1, kind = "layer_norm"} : f32[3,16] epilogue(%arg0: f32[], %arg1: f32[]) {
    %0 = mul(%arg0, %arg1) : f32[]
    yield %0
  }
  return %0
}
)";
  absl::StatusOr<std::unique_ptr<Graph>> g = Parse(ln);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(Verify(**g).ok()) << Verify(**g);
  EXPECT_EQ(Print(**g), ln);
  EXPECT_THAT(ParseError(R"(graph @main(%x: f32[3,16], %w: f32[16], %b: f32[16], %r: f32[3,16]) {
  %0 = fused_reduction(%x, %w, %b, %r) {axis = -1, eps = 1e-05, inputs = 1, kind = "layer_norm"} : f32[3,16] epilogue(%a: f32[]) {
    yield %a
  }
  return %0
})"),
              HasSubstr("2:8: fused_reduction: epilogue has 1 argument(s), the op gives it 2"));
  // A prologue yields the reduced element, f32.
  EXPECT_THAT(ParseError(R"(graph @main(%x: f32[2,8], %m: f32[2,8]) {
  %0 = fused_reduction(%x, %m) {axis = -1, inputs = 2, kind = "softmax"} : f32[2,8] prologue(%a: f32[], %b: f32[]) {
    %0 = gt(%a, %b) : bool[]
    yield %0
  }
  return %0
})"),
              HasSubstr("prologue yields bool, the op needs f32"));
  EXPECT_THAT(
      ParseError(R"(graph @main(%x: f32[1,3,8,8], %w: f32[4,3,3,3], %b: f32[4], %r: f32[1,4,8,8]) {
  %0 = conv2d(%x, %w, %b, %r) {dilation = [1, 1], groups = 1, padding = [1, 1], stride = [1, 1]} : f32[1,4,8,8] epilogue(%a: f32[], %c: f32[], %d: f32[]) {
    %0 = add(%a, %d) : f32[]
    yield %0
  }
  return %0
})"),
      HasSubstr("2:8: conv2d: epilogue has 3 argument(s), the op gives it 2"));
}

}  // namespace
}  // namespace sinter::ir
