// The plugin ABI (include/sinter/sinter_plugin.h) from the runtime's side,
// with a plugin written against the C ABI alone (test_plugin.cc): custom ops
// and segments computing through it, and every way loading or running can
// fail, each a status naming the problem. Runs under the sanitizers in CI.
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "codegen/compiler.h"
#include "gtest/gtest.h"
#include "ir/graph.h"
#include "runtime/format/file.h"
#include "sinter/sinter.h"
#include "tests/runtime/artifact_fixtures.h"

namespace sinter {
namespace {

using testing::CompileOrDie;

struct ModelDeleter {
  void operator()(sinter_model* m) const { sinter_model_release(m); }
};
using ModelPtr = std::unique_ptr<sinter_model, ModelDeleter>;

// Loads `bytes` with plugins looked for in `plugin_dir` only ($SINTER_PLUGIN_PATH
// is cleared, and the runtime library's directory has no "testops").
ModelPtr Load(const std::string& bytes, const std::string& plugin_dir, sinter_status** error) {
  unsetenv("SINTER_PLUGIN_PATH");
  sinter_model_options options;
  sinter_model_options_init(&options);
  options.plugin_path = plugin_dir.c_str();
  sinter_model* m = nullptr;
  *error = sinter_model_load_memory(bytes.data(), bytes.size(), &options, &m);
  return ModelPtr(m);
}

// x f32[2,3] -> plugin_op `op` (a = 2.5, b = 3) -> relu.
std::string OpArtifact(const std::string& op, int64_t abi = 1,
                       const std::string& plugin = "testops") {
  ir::Graph g;
  ir::Value* x = g.AddInput(ir::TensorType{ir::DType::kF32, ir::Shape::Of({2, 3})}, "x");
  ir::Builder b(&g);
  ir::AttributeMap attrs{{"plugin", plugin},
                         {"abi", abi},
                         {"op", op},
                         {"arg_kinds", std::vector<int64_t>{1, 0}},
                         {"int_args", std::vector<int64_t>{3}},
                         {"float_args", std::vector<double>{2.5}},
                         {"result_dtypes", std::string("f32")},
                         {"result_dims", std::vector<int64_t>{2, 2, 3}}};
  absl::StatusOr<ir::Operation*> p = b.Create(ir::OpKind::kPluginOp, {x}, std::move(attrs));
  EXPECT_TRUE(p.ok()) << p.status();
  absl::StatusOr<ir::Value*> y = b.Make(ir::OpKind::kRelu, {(*p)->result(0)});
  g.AddOutput(*y);
  return CompileOrDie(g, "default");
}

// x f32[5] -> exp -> plugin_segment (payload: the float `scale`, or
// `payload_bytes` of it) -> neg.
std::string SegmentArtifact(float scale, size_t payload_bytes = sizeof(float)) {
  ir::Graph g;
  ir::Value* x = g.AddInput(ir::TensorType{ir::DType::kF32, ir::Shape::Of({5})}, "x");
  ir::Builder b(&g);
  std::vector<uint8_t> bytes(payload_bytes);
  std::memcpy(bytes.data(), &scale, std::min(payload_bytes, sizeof scale));
  ir::Value* payload = b.Constant(std::make_shared<ir::TensorData>(
      ir::TensorType{ir::DType::kU8, ir::Shape::Of({static_cast<int64_t>(payload_bytes)})},
      std::move(bytes)));
  absl::StatusOr<ir::Value*> e = b.Make(ir::OpKind::kExp, {x});
  ir::AttributeMap attrs{{"plugin", std::string("testops")},
                         {"abi", int64_t{1}},
                         {"ops", std::string("test::scale x1")},
                         {"result_dtypes", std::string("f32")},
                         {"result_dims", std::vector<int64_t>{1, 5}}};
  absl::StatusOr<ir::Operation*> s =
      b.Create(ir::OpKind::kPluginSegment, {payload, *e}, std::move(attrs));
  EXPECT_TRUE(s.ok()) << s.status();
  absl::StatusOr<ir::Value*> y = b.Make(ir::OpKind::kNeg, {(*s)->result(0)});
  g.AddOutput(*y);
  return CompileOrDie(g, "default");
}

// x f32[5] -> plugin_segment (payload: the float `scale`) in `g`: its result
// is sized by the run (result_dims [1, -1]: x[x > 0] * scale).
ir::Value* DynamicSegment(ir::Graph& g, float scale) {
  ir::Value* x = g.AddInput(ir::TensorType{ir::DType::kF32, ir::Shape::Of({5})}, "x");
  ir::Builder b(&g);
  std::vector<uint8_t> bytes(sizeof scale);
  std::memcpy(bytes.data(), &scale, sizeof scale);
  ir::Value* payload = b.Constant(std::make_shared<ir::TensorData>(
      ir::TensorType{ir::DType::kU8, ir::Shape::Of({4})}, std::move(bytes)));
  ir::AttributeMap attrs{{"plugin", std::string("testops")},
                         {"abi", int64_t{1}},
                         {"ops", std::string("test::positive x1")},
                         {"result_dtypes", std::string("f32")},
                         {"result_dims", std::vector<int64_t>{1, -1}}};
  absl::StatusOr<ir::Operation*> s =
      b.Create(ir::OpKind::kPluginSegment, {payload, x}, std::move(attrs));
  EXPECT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(ir::ToString((*s)->result(0)->type()), "f32[?d0]");
  return (*s)->result(0);
}

// DynamicSegment as the model's output.
std::string DynamicSegmentArtifact(float scale) {
  ir::Graph g;
  g.AddOutput(DynamicSegment(g, scale));
  return CompileOrDie(g, "default");
}

// Runs `model` on `x`; the output, or the run's status in `error`.
std::vector<float> RunModel(sinter_model* model, std::vector<float> x, std::vector<int64_t> dims,
                            std::string* error = nullptr) {
  sinter_session* s = nullptr;
  EXPECT_EQ(sinter_session_create(model, nullptr, &s), nullptr);
  EXPECT_EQ(sinter_session_set_input(s, 0, SINTER_F32, dims.data(), dims.size(), x.data(),
                                     x.size() * sizeof(float)),
            nullptr);
  std::vector<float> y(x.size());
  if (sinter_status* st = sinter_session_run(s)) {
    if (error)
      *error = std::string(sinter_status_code_name(sinter_status_get_code(st))) + ": " +
               sinter_status_get_message(st);
    sinter_status_free(st);
  } else {
    EXPECT_EQ(sinter_session_copy_output(s, 0, y.data(), y.size() * sizeof(float)), nullptr);
  }
  sinter_session_release(s);
  return y;
}

std::string Message(sinter_status* st) {
  std::string m = st ? std::string(sinter_status_code_name(sinter_status_get_code(st))) + ": " +
                           sinter_status_get_message(st)
                     : "OK";
  sinter_status_free(st);
  return m;
}

TEST(PluginOp, ComputesThroughThePlugin) {
  const std::string bytes = OpArtifact("test::axpb");
  sinter_status* st = nullptr;
  ModelPtr model = Load(bytes, TEST_PLUGIN_V1_DIR, &st);
  ASSERT_EQ(st, nullptr) << Message(st);
  EXPECT_STREQ(sinter_model_plugins(model.get()), "testops");
  const std::vector<float> x = {-4, -1, 0, 0.5f, 1, 2};
  const std::vector<float> y = RunModel(model.get(), x, {2, 3});
  for (size_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(y[i], std::max(0.0f, x[i] * 2.5f + 3));
  char names[32];
  ASSERT_EQ(sinter_artifact_required_plugins(bytes.data(), bytes.size(), names, sizeof names),
            nullptr);
  EXPECT_STREQ(names, "testops");
  // Too small a buffer for the list is an error, not a truncation.
  st = sinter_artifact_required_plugins(bytes.data(), bytes.size(), names, 4);
  EXPECT_NE(Message(st).find("INVALID_ARGUMENT"), std::string::npos);
}

TEST(PluginSegment, ComputesThroughThePlugin) {
  sinter_status* st = nullptr;
  ModelPtr model = Load(SegmentArtifact(0.5f), TEST_PLUGIN_V1_DIR, &st);
  ASSERT_EQ(st, nullptr) << Message(st);
  const std::vector<float> x = {-1, 0, 0.25f, 1, 2};
  const std::vector<float> y = RunModel(model.get(), x, {5});
  for (size_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(y[i], -std::exp(x[i]) * 0.5f);
}

TEST(PluginSegment, AnOutputSizedByItsRun) {
  sinter_status* st = nullptr;
  ModelPtr model = Load(DynamicSegmentArtifact(2.0f), TEST_PLUGIN_V1_DIR, &st);
  ASSERT_EQ(st, nullptr) << Message(st);
  sinter_tensor_info info;
  ASSERT_EQ(sinter_model_output_info(model.get(), 0, &info), nullptr);
  ASSERT_EQ(info.rank, 1u);
  EXPECT_EQ(info.dims[0], -1);
  EXPECT_EQ(info.byte_size, 0u);
  sinter_session* raw = nullptr;
  ASSERT_EQ(sinter_session_create(model.get(), nullptr, &raw), nullptr);
  std::unique_ptr<sinter_session, void (*)(sinter_session*)> s(raw, sinter_session_release);
  int64_t dims[1] = {0};
  size_t rank = 9;
  EXPECT_NE(Message(sinter_session_output_shape(s.get(), 0, dims, 1, &rank))
                .find("FAILED_PRECONDITION: no run has completed yet"),
            std::string::npos);
  // One session, runs of different sizes (growing and shrinking, none).
  for (const std::vector<float>& x : std::vector<std::vector<float>>{
           {1, -2, 3, -4, 5}, {-1, -1, -1, -1, -1}, {1, 2, 3, 4, 5}, {0, 7, 0, 0, 0}}) {
    const int64_t five = 5;
    ASSERT_EQ(sinter_session_set_input(s.get(), 0, SINTER_F32, &five, 1, x.data(), 20), nullptr);
    ASSERT_EQ(Message(sinter_session_run(s.get())), "OK");
    std::vector<float> want;
    for (float v : x)
      if (v > 0) want.push_back(v * 2);
    ASSERT_EQ(sinter_session_output_shape(s.get(), 0, dims, 1, &rank), nullptr);
    ASSERT_EQ(rank, 1u);
    EXPECT_EQ(dims[0], static_cast<int64_t>(want.size()));
    const void* data = nullptr;
    size_t bytes = 1;
    ASSERT_EQ(sinter_session_get_output(s.get(), 0, &data, &bytes), nullptr);
    EXPECT_EQ(bytes, want.size() * sizeof(float));
    std::vector<float> got(want.size());
    ASSERT_EQ(sinter_session_copy_output(s.get(), 0, got.data(), bytes), nullptr);
    EXPECT_EQ(got, want);
  }
  // Too little room for the dims is an error, not a truncation.
  EXPECT_NE(
      Message(sinter_session_output_shape(s.get(), 0, dims, 0, &rank)).find("INVALID_ARGUMENT"),
      std::string::npos);
}

TEST(PluginSegment, AResultThePluginSizesWronglyOrNotAtAllIsAnError) {
  for (const auto& [scale, want] :
       std::vector<std::pair<float, std::string>>{{99.0f, "a result of rank 2, expected 1"},
                                                  {98.0f, "the plugin did not write result 0"}}) {
    sinter_status* st = nullptr;
    ModelPtr model = Load(DynamicSegmentArtifact(scale), TEST_PLUGIN_V1_DIR, &st);
    ASSERT_EQ(st, nullptr) << Message(st);
    std::string error;
    RunModel(model.get(), {1, 2, 3, 4, 5}, {5}, &error);
    EXPECT_NE(error.find(want), std::string::npos) << error;
    EXPECT_NE(error.find("(plugin_segment"), std::string::npos) << error;
  }
}

// A compiled kernel that takes the run's extents (neg: ops.def kRunExtents)
// reads what the plugin sized, at each run's size; one that cannot (sort)
// is refused when the graph is built.
TEST(PluginSegment, CompiledKernelsTakeTheExtentsOfAResultSizedByItsRun) {
  ir::Graph g;
  ir::Value* y = DynamicSegment(g, 2.0f);
  ir::Builder b(&g);
  g.AddOutput(*b.Make(ir::OpKind::kNeg, {y}));
  sinter_status* st = nullptr;
  ModelPtr model = Load(CompileOrDie(g, "default"), TEST_PLUGIN_V1_DIR, &st);
  ASSERT_EQ(st, nullptr) << Message(st);
  sinter_session* raw = nullptr;
  ASSERT_EQ(sinter_session_create(model.get(), nullptr, &raw), nullptr);
  std::unique_ptr<sinter_session, void (*)(sinter_session*)> s(raw, sinter_session_release);
  for (const std::vector<float>& x :
       std::vector<std::vector<float>>{{1, -2, 3, -4, 5}, {-1, -1, -1, -1, -1}, {0, 7, 0, 0, 0}}) {
    const int64_t five = 5;
    ASSERT_EQ(sinter_session_set_input(s.get(), 0, SINTER_F32, &five, 1, x.data(), 20), nullptr);
    ASSERT_EQ(Message(sinter_session_run(s.get())), "OK");
    std::vector<float> want;
    for (float v : x)
      if (v > 0) want.push_back(-v * 2);
    int64_t dims[1] = {0};
    size_t rank = 0;
    ASSERT_EQ(sinter_session_output_shape(s.get(), 0, dims, 1, &rank), nullptr);
    ASSERT_EQ(rank, 1u);
    ASSERT_EQ(dims[0], static_cast<int64_t>(want.size()));
    std::vector<float> got(want.size());
    ASSERT_EQ(sinter_session_copy_output(s.get(), 0, got.data(), got.size() * sizeof(float)),
              nullptr);
    EXPECT_EQ(got, want);
  }

  // sort takes no run's extents: its shape rule refuses the operand.
  ir::Graph refused;
  ir::Value* z = DynamicSegment(refused, 1.0f);
  ir::Builder rb(&refused);
  absl::StatusOr<ir::Operation*> sort = rb.Create(
      ir::OpKind::kSort, {z}, {{"axis", int64_t{0}}, {"k", int64_t{1}}, {"descending", false}});
  ASSERT_FALSE(sort.ok());
  EXPECT_NE(std::string(sort.status().message()).find("dynamic dimensions"), std::string::npos)
      << sort.status();
}

TEST(Plugin, MissingIsUnavailableNamingItAndTheOps) {
  sinter_status* st = nullptr;
  ModelPtr model = Load(OpArtifact("test::axpb"), "/nonexistent/plugins", &st);
  EXPECT_EQ(model, nullptr);
  const std::string m = Message(st);
  EXPECT_NE(m.find("UNAVAILABLE"), std::string::npos) << m;
  EXPECT_NE(m.find("the 'testops' plugin (libsinter_plugin_testops.so) is not installed"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("/nonexistent/plugins (no such file)"), std::string::npos) << m;
  EXPECT_NE(m.find("The model needs it to run: test::axpb"), std::string::npos) << m;
}

TEST(Plugin, VerifyingNeedsNoPlugin) {
  const std::string bytes = SegmentArtifact(2.0f);
  unsetenv("SINTER_PLUGIN_PATH");
  EXPECT_EQ(Message(sinter_model_verify_memory(bytes.data(), bytes.size(), nullptr)), "OK");
}

TEST(Plugin, AnotherAbiVersionIsAVersionMismatch) {
  sinter_status* st = nullptr;
  ModelPtr model = Load(OpArtifact("test::axpb"), TEST_PLUGIN_V2_DIR, &st);
  EXPECT_EQ(model, nullptr);
  const std::string m = Message(st);
  EXPECT_NE(m.find("VERSION_MISMATCH"), std::string::npos) << m;
  EXPECT_NE(m.find("does not implement sinter plugin ABI version 1 for 'testops'"),
            std::string::npos)
      << m;
  // An artifact asking for a version this plugin lacks, likewise.
  model = Load(OpArtifact("test::axpb", 7), TEST_PLUGIN_V1_DIR, &st);
  EXPECT_EQ(model, nullptr);
  EXPECT_NE(Message(st).find("ABI version 7"), std::string::npos);
}

TEST(Plugin, ANameThatIsNotAPlainIdentifierIsRefused) {
  // It becomes part of a file name the runtime dlopens.
  for (const std::string name : {"../../tmp/evil", "a/b", "x.so", "sp ace"}) {
    SCOPED_TRACE(name);
    // sinterc writes no such artifact (it verifies what it writes): one with
    // a placeholder of the same length, the name put in, the checksums redone.
    std::string bytes = OpArtifact("test::axpb", 1, std::string(name.size(), 'Q'));
    const size_t at = bytes.find(std::string(name.size(), 'Q'));
    ASSERT_NE(at, std::string::npos);
    bytes.replace(at, name.size(), name);
    format::FileHeader h;
    std::memcpy(&h, bytes.data(), sizeof h);
    h.schema_crc32 = format::Crc32(bytes.data() + h.schema_offset, h.schema_bytes);
    h.header_crc32 = format::Crc32(&h, offsetof(format::FileHeader, header_crc32));
    std::memcpy(bytes.data(), &h, sizeof h);
    const std::string m = Message(sinter_model_verify_memory(bytes.data(), bytes.size(), nullptr));
    EXPECT_NE(m.find("DATA_LOSS"), std::string::npos) << m;
    EXPECT_NE(m.find("a plugin's name is 1 to 64 letters, digits or '_'"), std::string::npos) << m;
    sinter_status* st = nullptr;
    ModelPtr model = Load(bytes, TEST_PLUGIN_V1_DIR, &st);
    EXPECT_EQ(model, nullptr);
    EXPECT_NE(Message(st).find("DATA_LOSS"), std::string::npos);
  }
}

TEST(Plugin, AnOpThePluginLacksIsUnimplemented) {
  sinter_status* st = nullptr;
  ModelPtr model = Load(OpArtifact("test::nope"), TEST_PLUGIN_V1_DIR, &st);
  EXPECT_EQ(model, nullptr);
  const std::string m = Message(st);
  EXPECT_NE(m.find("UNIMPLEMENTED"), std::string::npos) << m;
  EXPECT_NE(m.find("the 'testops' plugin has no op 'test::nope'"), std::string::npos) << m;
}

TEST(Plugin, ARunTheOpFailsIsAnErrorAndTheSessionRunsAgain) {
  sinter_status* st = nullptr;
  ModelPtr model = Load(OpArtifact("test::fail"), TEST_PLUGIN_V1_DIR, &st);
  ASSERT_EQ(st, nullptr) << Message(st);
  for (int i = 0; i < 2; ++i) {
    std::string error;
    RunModel(model.get(), {1, 2, 3, 4, 5, 6}, {2, 3}, &error);
    EXPECT_NE(error.find("INTERNAL"), std::string::npos) << error;
    EXPECT_NE(error.find("(plugin_op"), std::string::npos) << error;
    EXPECT_NE(error.find("test::fail was asked to fail"), std::string::npos) << error;
  }
}

TEST(Plugin, APayloadThePluginRefusesFailsTheLoad) {
  sinter_status* st = nullptr;
  ModelPtr model = Load(SegmentArtifact(1.0f, 3), TEST_PLUGIN_V1_DIR, &st);
  EXPECT_EQ(model, nullptr);
  const std::string m = Message(st);
  EXPECT_NE(m.find("INVALID_ARGUMENT"), std::string::npos) << m;
  EXPECT_NE(m.find("cannot load its segment (test::scale x1): the payload is not one float"),
            std::string::npos)
      << m;
}

TEST(Plugin, APlainModelNeedsNone) {
  ir::Graph g;
  ir::Value* x = g.AddInput(ir::TensorType{ir::DType::kF32, ir::Shape::Of({4})}, "x");
  ir::Builder b(&g);
  g.AddOutput(*b.Make(ir::OpKind::kRelu, {x}));
  const std::string bytes = CompileOrDie(g, "O0");
  char names[8] = "junk";
  ASSERT_EQ(sinter_artifact_required_plugins(bytes.data(), bytes.size(), names, sizeof names),
            nullptr);
  EXPECT_STREQ(names, "");
}

}  // namespace
}  // namespace sinter
