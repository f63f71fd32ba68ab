#include "tests/runtime/artifact_fixtures.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "codegen/compiler.h"

namespace sinter::testing {
namespace {

using ir::AttributeMap;
using ir::Builder;
using ir::DType;
using ir::OpKind;
using ir::Shape;
using ir::TensorType;
using ir::Value;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "artifact fixture: %s\n", what.c_str());
  std::abort();
}

Value* Make(Builder& b, OpKind kind, const std::vector<Value*>& operands, AttributeMap attrs = {}) {
  auto v = b.Make(kind, operands, std::move(attrs));
  if (!v.ok()) Die(std::string(v.status().message()));
  return *v;
}

Value* ConstF32(Builder& b, const std::vector<int64_t>& dims, uint32_t seed) {
  TensorType type{DType::kF32, Shape::Of(dims)};
  std::vector<float> values = Pattern(*type.shape.NumElements(), seed);
  std::vector<uint8_t> bytes(values.size() * sizeof(float));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return b.Constant(std::make_shared<ir::TensorData>(type, std::move(bytes)));
}

Value* Input(ir::Graph* g, const std::vector<int64_t>& dims, const char* name) {
  return g->AddInput(TensorType{DType::kF32, Shape::Of(dims)}, name);
}

void Output(ir::Graph* g, Value* v, const char* name) {
  v->set_name(name);
  g->AddOutput(v);
}

}  // namespace

std::vector<float> Pattern(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = seed * 2654435761u + 12345u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;  // LCG; the top 24 bits are uniform enough
    x = static_cast<float>(s >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
  return v;
}

std::string CompileOrDie(ir::Graph& graph, const std::string& pipeline) {
  codegen::CompileOptions options;
  options.pipeline = pipeline;
  codegen::CompileReport report;
  auto artifact = codegen::Compile(graph, options, &report);
  if (!artifact.ok()) Die("compile failed: " + std::string(artifact.status().message()));
  return *std::move(artifact);
}

void BuildConvResidual(ir::Graph* g) {
  Builder b(g);
  Value* x = Input(g, {1, 3, 8, 8}, "x");
  Value* w = ConstF32(b, {3, 3, 3, 3}, kConvWeightSeed);
  Value* bias = ConstF32(b, {3}, kConvBiasSeed);
  Value* conv = Make(b, OpKind::kConv2d, {x, w, bias},
                     {{"stride", std::vector<int64_t>{1, 1}},
                      {"padding", std::vector<int64_t>{1, 1}},
                      {"dilation", std::vector<int64_t>{1, 1}},
                      {"groups", int64_t{1}}});
  Value* relu = Make(b, OpKind::kRelu, {conv});
  Value* res = Make(b, OpKind::kAdd, {relu, x});
  Value* mean = Make(b, OpKind::kReduceMean, {res},
                     {{"axes", std::vector<int64_t>{2, 3}}, {"keepdim", false}});
  Output(g, mean, "out");
}

void BuildLinearSoftmax(ir::Graph* g) {
  Builder b(g);
  Value* x = Input(g, {4, 16}, "x");
  Value* w = ConstF32(b, {10, 16}, kLinearWeightSeed);
  Value* bias = ConstF32(b, {10}, kLinearBiasSeed);
  Value* lin = Make(b, OpKind::kLinear, {x, w, bias});
  Value* sm = Make(b, OpKind::kSoftmax, {lin}, {{"axis", int64_t{-1}}});
  Output(g, sm, "probs");
}

void BuildMovementChain(ir::Graph* g) {
  Builder b(g);
  Value* a = Input(g, {2, 3, 4}, "a");
  Value* c = Input(g, {2, 5, 4}, "b");
  Value* cat = Make(b, OpKind::kConcat, {a, c}, {{"axis", int64_t{1}}});
  Value* sl = Make(
      b, OpKind::kSlice, {cat},
      {{"axis", int64_t{1}}, {"start", int64_t{1}}, {"end", int64_t{7}}, {"step", int64_t{2}}});
  Value* tr = Make(b, OpKind::kTranspose, {sl}, {{"perm", std::vector<int64_t>{2, 0, 1}}});
  Value* rs = Make(b, OpKind::kReshape, {tr}, {{"shape", std::vector<int64_t>{8, -1}}});
  Output(g, rs, "y");
}

void BuildTwoOutputs(ir::Graph* g) {
  Builder b(g);
  Value* x = Input(g, {3, 5}, "x");
  Value* y = Input(g, {5}, "y");
  Value* sum = Make(b, OpKind::kAdd, {x, y});
  Value* th = Make(b, OpKind::kTanh, {x});
  Value* mx =
      Make(b, OpKind::kReduceMax, {th}, {{"axes", std::vector<int64_t>{0}}, {"keepdim", false}});
  Output(g, sum, "sum");
  Output(g, mx, "colmax");
}

void BuildWideNet(ir::Graph* g) {
  Builder b(g);
  Value* x = Input(g, {2, 8, 32, 32}, "x");
  Value* w = ConstF32(b, {16, 8, 3, 3}, 41);
  Value* conv = Make(b, OpKind::kConv2d, {x, w},
                     {{"stride", std::vector<int64_t>{1, 1}},
                      {"padding", std::vector<int64_t>{1, 1}},
                      {"dilation", std::vector<int64_t>{1, 1}},
                      {"groups", int64_t{1}}});
  Value* relu = Make(b, OpKind::kRelu, {conv});
  Value* mean = Make(b, OpKind::kReduceMean, {relu},
                     {{"axes", std::vector<int64_t>{2, 3}}, {"keepdim", false}});
  Value* w2 = ConstF32(b, {32, 16}, 42);
  Value* lin = Make(b, OpKind::kLinear, {mean, w2});
  Value* sm = Make(b, OpKind::kSoftmax, {lin}, {{"axis", int64_t{1}}});
  Output(g, sm, "p");
}

void BuildLongChain(ir::Graph* g, int links) {
  Builder b(g);
  Value* x = Input(g, {3, 700}, "x");
  Value* bias = ConstF32(b, {700}, 43);  // a broadcast operand, filled per chunk
  Value* y = x;
  for (int i = 0; i < links; ++i) {
    // One link, every value used once (what fuse-elementwise chains):
    // y = tanh(y * 0.9 + bias * 0.1) * 0.5 - bias * 0.05 + x * 0.01.
    Value* t = Make(b, OpKind::kMul, {y, b.ScalarF32(0.9f)});
    t = Make(b, OpKind::kAdd, {t, Make(b, OpKind::kMul, {bias, b.ScalarF32(0.1f)})});
    t = Make(b, OpKind::kTanh, {t});
    t = Make(b, OpKind::kMul, {t, b.ScalarF32(0.5f)});
    t = Make(b, OpKind::kSub, {t, Make(b, OpKind::kMul, {bias, b.ScalarF32(0.05f)})});
    y = Make(b, OpKind::kAdd, {t, Make(b, OpKind::kMul, {x, b.ScalarF32(0.01f)})});
  }
  Output(g, y, "y");
}

void BuildScaledTanh(ir::Graph* g, float scale) {
  Builder b(g);
  Value* x = Input(g, {64, 64}, "x");
  Value* th = Make(b, OpKind::kTanh, {Make(b, OpKind::kMul, {x, b.ScalarF32(scale)})});
  Output(g, Make(b, OpKind::kAdd, {th, x}), "y");
}

void BuildSmallConv(ir::Graph* g) {
  Builder b(g);
  Value* x = Input(g, {1, 2, 5, 5}, "x");
  Value* w = ConstF32(b, {2, 2, 3, 3}, kSmallConvWeightSeed);
  Value* conv = Make(b, OpKind::kConv2d, {x, w},
                     {{"stride", std::vector<int64_t>{1, 1}},
                      {"padding", std::vector<int64_t>{0, 0}},
                      {"dilation", std::vector<int64_t>{1, 1}},
                      {"groups", int64_t{1}}});
  Value* relu = Make(b, OpKind::kRelu, {conv});
  Value* sum =
      Make(b, OpKind::kReduceSum, {relu}, {{"axes", std::vector<int64_t>{1}}, {"keepdim", true}});
  Output(g, sum, "y");
}

std::string DynamicBatchArtifact() {
  ir::Graph g;
  Builder b(&g);
  Value* a = Input(&g, {1, 4}, "a");
  Value* x = Input(&g, {2, 1, 4}, "b");
  Value* c = Input(&g, {3}, "c");
  Output(&g, Make(b, OpKind::kAdd, {a, x}), "sum");
  Output(&g, Make(b, OpKind::kTanh, {a}), "t");
  Output(&g, Make(b, OpKind::kAdd, {c, c}), "twice_c");
  codegen::CompileOptions options;
  options.batch = ir::BatchSymbol{"batch", 1, 8, {0, 1, -1}, {1, 0, -1}};
  auto artifact = codegen::Compile(g, options, nullptr);
  if (!artifact.ok()) Die("compile failed: " + std::string(artifact.status().message()));
  return *std::move(artifact);
}

}  // namespace sinter::testing
