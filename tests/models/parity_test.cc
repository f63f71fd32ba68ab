// Parity of sinter against LibTorch on every case of the model manifest
// (tests/models/make_models.py): real TorchScript files scripted from
// torchvision and torch.nn, run by LibTorch for the reference and by sinter
// (import, compile at -O0 and at the default pipeline, load through the C
// API, run on the CPU kernels), each artifact on both CPU execution paths:
// native code for the fused kernels, and their interpreter.
//
// One GoogleTest test per manifest row, registered at start-up from the
// manifest, so ctest lists and runs them one by one.
#include <torch/script.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

#include "codegen/compiler.h"
#include "frontend/plugin_ops.h"
#include "frontend/torchscript.h"
#include "frontend/torchvision_ops.h"
#include "gtest/gtest.h"
#include "sinter/sinter.h"
#include "tests/models/case_options.h"
#include "tests/models/manifest.h"
#include "tests/models/torch_reference.h"

namespace {

using Case = sinter::testing::ModelCase;
using sinter::testing::NoteField;
using sinter::testing::ReadManifest;

sinter_dtype ToSinter(c10::ScalarType t) {
  switch (t) {
    case c10::kLong:
      return SINTER_I64;
    case c10::kInt:
      return SINTER_I32;
    case c10::kBool:
      return SINTER_BOOL;
    default:
      return SINTER_F32;
  }
}

// The case's inputs: torch.randn for floats, torch.randint for integers.
std::vector<at::Tensor> CaseInputs(const Case& c) {
  torch::manual_seed(0);
  std::vector<at::Tensor> tensors;
  for (size_t i = 0; i < c.shapes.size(); ++i) {
    tensors.push_back(c.dtypes[i] == "i64" ? torch::randint(c.int_high, c.shapes[i], torch::kLong)
                                           : torch::randn(c.shapes[i]));
  }
  return tensors;
}

// Imports and compiles a case with the options its note asks for
// (tests/models/case_options.h); the artifact's bytes. `report` receives the
// compile report.
std::string CompileCase(const Case& c, const char* pipeline, const char* layout,
                        sinter::codegen::CompileReport* report = nullptr) {
  sinter::frontend::ImportOptions opts;
  for (size_t i = 0; i < c.shapes.size(); ++i) {
    opts.inputs.push_back(
        {c.shapes[i], c.dtypes[i] == "i64" ? sinter::ir::DType::kI64 : sinter::ir::DType::kF32});
  }
  sinter::testing::AddCaseOptions(c, SINTER_LIB_DIR, &opts);
  auto graph = sinter::frontend::ImportTorchScript(c.file, opts);
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return "";
  sinter::codegen::CompileOptions copts;
  copts.pipeline = pipeline;
  copts.layout = layout;
  auto artifact = sinter::codegen::Compile(**graph, copts, report);
  EXPECT_TRUE(artifact.ok()) << artifact.status();
  return artifact.ok() ? *std::move(artifact) : "";
}

// Runs `model` on `tensors` with a new session of `threads` threads and
// compares every output with LibTorch's `ref` within the case's tolerances.
// Each output's max |diff| goes to `record` (a test property) when given.
void RunAndCompare(sinter_model* model, int threads, const Case& c,
                   const std::vector<at::Tensor>& tensors, const std::vector<at::Tensor>& ref,
                   const std::function<void(size_t, double)>& record = nullptr) {
  sinter_session* session = nullptr;
  sinter_session_options so;
  sinter_session_options_init(&so);
  so.num_threads = threads;
  ASSERT_EQ(sinter_session_create(model, &so, &session), nullptr);
  std::unique_ptr<sinter_session, void (*)(sinter_session*)> hold(session, sinter_session_release);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i];
    std::vector<int64_t> dims = t.sizes().vec();
    sinter_status* st = sinter_session_set_input(session, i, ToSinter(t.scalar_type()), dims.data(),
                                                 dims.size(), t.data_ptr(), t.nbytes());
    ASSERT_EQ(st, nullptr) << sinter_status_get_message(st);
  }
  sinter_status* st = sinter_session_run(session);
  ASSERT_EQ(st, nullptr) << sinter_status_get_message(st);
  ASSERT_EQ(sinter_model_output_count(model), ref.size());
  for (size_t o = 0; o < ref.size(); ++o) {
    at::Tensor r = ref[o].to(torch::kFloat).contiguous();
    sinter_tensor_info info;
    ASSERT_EQ(sinter_model_output_info(model, o, &info), nullptr);
    // The shape this run gave: the recorded one, or where the data decides
    // a size (info dims -1), LibTorch's for these inputs.
    int64_t dims[8];
    size_t rank = 0;
    ASSERT_EQ(sinter_session_output_shape(session, o, dims, 8, &rank), nullptr);
    ASSERT_EQ(std::vector<int64_t>(dims, dims + rank), ref[o].sizes().vec()) << "output " << o;
    ASSERT_EQ(info.rank, rank);
    for (size_t d = 0; d < rank; ++d) {
      if (info.dims[d] != -1) EXPECT_EQ(info.dims[d], dims[d]) << "output " << o << " dim " << d;
    }
    // A dict's tensors are named by their keys: "output named 'out'".
    if (size_t at = c.note.find("output named '"); at != std::string::npos && o == 0) {
      const std::string want = c.note.substr(at + 14, c.note.find('\'', at + 14) - at - 14);
      EXPECT_EQ(std::string(info.name), want);
    }
    const void* data = nullptr;
    size_t bytes = 0;
    ASSERT_EQ(sinter_session_get_output(session, o, &data, &bytes), nullptr);
    ASSERT_EQ(bytes, ref[o].nbytes());
    if (ref[o].scalar_type() != c10::kFloat) {
      EXPECT_EQ(std::memcmp(data, ref[o].data_ptr(), bytes), 0) << "output " << o;
      continue;
    }
    const float* got = static_cast<const float*>(data);
    const float* want = r.data_ptr<float>();
    // A detector's outputs each have their own scale: "output_atol: 0.32,3e-4"
    // (boxes within 1e-3 of a 320-pixel image, scores within 3e-4).
    double atol = c.atol;
    if (std::string per = sinter::testing::NoteField(c, "output_atol"); !per.empty()) {
      std::stringstream list(per);
      std::string item;
      for (size_t k = 0; std::getline(list, item, ','); ++k) {
        if (k == o) atol = std::stod(item);
      }
    }
    double max_abs = 0, max_ref = 0;
    int64_t bad = 0, first_bad = -1;
    for (int64_t i = 0; i < r.numel(); ++i) {
      // NaN and infinities must come out where LibTorch's do (a NaN for a
      // NaN, the same infinity); finite values within the tolerance.
      const bool same_special =
          (std::isnan(got[i]) && std::isnan(want[i])) || (std::isinf(want[i]) && got[i] == want[i]);
      double d = same_special ? 0 : std::fabs(static_cast<double>(got[i]) - want[i]);
      max_abs = std::max(max_abs, std::isnan(d) ? INFINITY : d);
      if (std::isfinite(want[i]))
        max_ref = std::max(max_ref, static_cast<double>(std::fabs(want[i])));
      if (!same_special && !(d <= atol + c.rtol * std::fabs(want[i]))) {
        if (first_bad < 0) first_bad = i;
        ++bad;
      }
    }
    if (record) record(o, max_abs);
    EXPECT_EQ(bad, 0) << c.name << " output " << o << ": " << bad << " of " << r.numel()
                      << " elements outside atol " << atol << " + rtol " << c.rtol
                      << "; max |diff| " << max_abs << ", max |ref| " << max_ref << "; first at "
                      << first_bad << ": got " << (first_bad >= 0 ? got[first_bad] : 0) << " want "
                      << (first_bad >= 0 ? want[first_bad] : 0);
  }
}

// The CPU execution paths every case runs on: the fused kernels' native code
// (LLVM, what an AVX2 CPU runs) and the interpreter of their descriptions
// (what every other CPU runs, and any load with disable_native_code).
enum class Path { kNative, kInterpreter };

sinter_model* LoadOrNull(const std::string& artifact, Path path = Path::kNative) {
  sinter_model* model = nullptr;
  sinter_model_options mo;
  sinter_model_options_init(&mo);
  mo.disable_native_code = path == Path::kInterpreter;
  sinter_status* st = sinter_model_load_memory(artifact.data(), artifact.size(), &mo, &model);
  EXPECT_EQ(st, nullptr) << sinter_status_get_message(st);
  sinter_status_free(st);
  return model;
}

class ParityTest : public testing::Test {
 public:
  explicit ParityTest(Case c) : c_(std::move(c)) {}

  void TestBody() override {
    if (c_.group == "refused") return TestRefused();
    // A model calling an extension's ops can be read only with it loaded.
    sinter::frontend::ImportOptions extension;
    sinter::testing::AddCaseOptions(c_, SINTER_LIB_DIR, &extension);
    for (const std::string& lib : extension.torch_libraries)
      ASSERT_TRUE(sinter::frontend::LoadTorchLibrary(lib).ok()) << lib;
    // LibTorch's reference of a model with torchvision's ops (detectors)
    // needs them registered, as the compiler does on demand.
    if (c_.note.find("needs torchvision ops") != std::string::npos)
      ASSERT_TRUE(sinter::frontend::LoadTorchvisionOps().ok());
    const std::vector<at::Tensor> tensors = CaseInputs(c_);
    const std::vector<at::Tensor> ref = sinter::testing::TorchForward(c_.file, tensors);
    // The default pipeline with plan-layout's own choice (channels-last for
    // most convolution chains on the CPU), and forced to NCHW, so that both
    // layouts' kernels with their fused epilogues are checked against
    // LibTorch.
    struct Config {
      const char* pipeline;
      const char* layout;
    };
    for (auto [pipeline, layout] :
         {Config{"O0", "auto"}, Config{"default", "auto"}, Config{"default", "nchw"}}) {
      SCOPED_TRACE(std::string("pipeline ") + pipeline + ", layout " + layout);
      const std::string config =
          std::string(pipeline) + (std::string(layout) == "auto" ? "" : std::string("_") + layout);
      sinter::codegen::CompileReport report;
      const std::string artifact = CompileCase(c_, pipeline, layout, &report);
      ASSERT_FALSE(artifact.empty());
      if (c_.group == "plugin") {
        char plugins[64];
        ASSERT_EQ(sinter_artifact_required_plugins(artifact.data(), artifact.size(), plugins,
                                                   sizeof plugins),
                  nullptr);
        EXPECT_EQ(plugins, NoteField(c_, "plugin"));
        EXPECT_EQ(report.kernels_by_op["plugin_op"], 1) << report.ToText();
      }
      if (c_.group == "fallback") {
        // The partition the note promises, and an artifact that says it
        // needs the torch plugin.
        int torch_segments = 0;
        for (const auto& seg : report.partition) torch_segments += seg.backend == "torch";
        EXPECT_EQ(std::to_string(torch_segments), NoteField(c_, "segments")) << report.ToText();
        char plugins[64];
        ASSERT_EQ(sinter_artifact_required_plugins(artifact.data(), artifact.size(), plugins,
                                                   sizeof plugins),
                  nullptr);
        EXPECT_STREQ(plugins, torch_segments > 0 ? "torch" : "");
      }
      // Every artifact on both CPU paths: the same kernel descriptions run
      // as native code and interpreted must both match LibTorch.
      for (Path path : {Path::kNative, Path::kInterpreter}) {
        const bool native = path == Path::kNative;
        SCOPED_TRACE(native ? "native code" : "interpreter");
        sinter_model* model = LoadOrNull(artifact, path);
        ASSERT_NE(model, nullptr);
        if (!native) EXPECT_EQ(sinter_model_native_kernel_count(model), 0u);
        RecordProperty(config + (native ? "_native_kernels" : "_interpreted_kernels"),
                       std::to_string(sinter_model_native_kernel_count(model)));
        // -O0 runs on one thread and the default pipeline on two, so both
        // the serial and the threaded kernel paths are checked.
        RunAndCompare(model, std::string(pipeline) == "O0" ? 1 : 2, c_, tensors, ref,
                      [&](size_t o, double max_abs) {
                        RecordProperty(config + (native ? "_native" : "_interpreter") +
                                           "_max_abs_diff_" + std::to_string(o),
                                       std::to_string(max_abs));
                      });
        const size_t native_kernels = sinter_model_native_kernel_count(model);
        sinter_model_release(model);
        // Without native kernels (-O0 has no fused ones; a CPU below the
        // artifact's level loads none) that run was the interpreter already.
        if (native && native_kernels == 0) break;
      }
    }
  }

  void TestRefused() {
    sinter::frontend::ImportOptions opts;
    for (const auto& s : c_.shapes) opts.inputs.push_back({s, sinter::ir::DType::kF32});
    auto graph = sinter::frontend::ImportTorchScript(c_.file, opts);
    ASSERT_FALSE(graph.ok());
    EXPECT_EQ(graph.status().code(), absl::StatusCode::kUnimplemented);
    // The manifest's note says which op the message must name: "expect: OP ...".
    size_t at = c_.note.find("expect: ");
    ASSERT_NE(at, std::string::npos) << "refused case without 'expect: OP' in its note";
    std::string op = c_.note.substr(at + 8);
    op = op.substr(0, op.find(' '));
    EXPECT_NE(std::string(graph.status().message()).find(op), std::string::npos) << graph.status();
  }

 private:
  Case c_;
};

// One artifact for every batch (issue 12): the case compiled once with its
// leading dimension a dynamic batch (`--input-shape batch=1..16,...` on each
// input that has the case's batch), then run at batch 1, 3 and 8, each
// against LibTorch at that batch.
class DynamicBatchTest : public testing::Test {
 public:
  explicit DynamicBatchTest(Case c) : c_(std::move(c)) {}

  void TestBody() override {
    sinter::frontend::ImportOptions opts;
    for (size_t i = 0; i < c_.shapes.size(); ++i) {
      sinter::frontend::InputSpec spec{
          c_.shapes[i], c_.dtypes[i] == "i64" ? sinter::ir::DType::kI64 : sinter::ir::DType::kF32};
      if (!c_.shapes[i].empty() && c_.shapes[i][0] == c_.shapes[0][0]) spec.batch_axis = 0;
      opts.inputs.push_back(spec);
    }
    opts.batch_min = 1;
    opts.batch_max = 16;
    sinter::testing::AddCaseOptions(c_, SINTER_LIB_DIR, &opts);
    sinter::ir::BatchSymbol batch;
    auto graph = sinter::frontend::ImportTorchScript(c_.file, opts, nullptr, &batch);
    ASSERT_TRUE(graph.ok()) << graph.status();
    // bert_padding_tail leaves row 0 unpadded and derives the others' lengths
    // from their ids (ids[1:]): its samples are not alike, so running them
    // one at a time would be wrong; the batch becomes a symbolic extent
    // instead (ids[1:] is ?batch-1 rows), every kernel taking the run's.
    EXPECT_EQ(batch.per_sample, c_.name != "bert_padding_tail");
    sinter::codegen::CompileOptions copts;
    copts.batch = batch;
    auto artifact = sinter::codegen::Compile(**graph, copts, nullptr);
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    sinter_model* model = LoadOrNull(*artifact);
    ASSERT_NE(model, nullptr);
    std::unique_ptr<sinter_model, void (*)(sinter_model*)> hold(model, sinter_model_release);
    sinter_tensor_info info;
    ASSERT_EQ(sinter_model_input_info(model, 0, &info), nullptr);
    EXPECT_EQ(info.dims[0], -1);
    const char* symbol = nullptr;
    int64_t lo = 0, hi = 0;
    ASSERT_EQ(sinter_model_dim_range(model, 0, 0, 0, &symbol, &lo, &hi), nullptr);
    EXPECT_STREQ(symbol, "batch");
    EXPECT_EQ(lo, 1);
    EXPECT_EQ(hi, 16);
    for (int64_t n : {1, 3, 8}) {
      SCOPED_TRACE("batch " + std::to_string(n));
      Case at = c_;
      for (size_t i = 0; i < at.shapes.size(); ++i)
        if (opts.inputs[i].batch_axis == 0) at.shapes[i][0] = n;
      const std::vector<at::Tensor> tensors = CaseInputs(at);
      const std::vector<at::Tensor> ref = sinter::testing::TorchForward(c_.file, tensors);
      RunAndCompare(model, 2, at, tensors, ref);
    }
  }

 private:
  Case c_;
};

// One artifact for every sequence length (issue 12): the case compiled
// once with its sequence axis a symbolic extent (`seq=1..max`), which the
// per-sample batch cannot run (attention and the recurrence mix along it),
// then run at 7, max / 2, max and 1 in one session, each against LibTorch
// at that length; a length outside the range and a wrong static dim are
// refused through the C API naming them.
class DynamicSeqTest : public testing::Test {
 public:
  explicit DynamicSeqTest(Case c) : c_(std::move(c)) {}

  void TestBody() override {
    sinter::frontend::ImportOptions opts;
    auto dtype_of = [&](size_t i) {
      return c_.dtypes[i] == "i64" ? sinter::ir::DType::kI64 : sinter::ir::DType::kF32;
    };
    for (size_t i = 0; i < c_.shapes.size(); ++i)
      opts.inputs.push_back({c_.shapes[i], dtype_of(i)});
    std::vector<std::vector<int>> axes;
    ASSERT_TRUE(sinter::testing::SeqOptions(c_, &opts, &axes)) << c_.note;
    ASSERT_FALSE(axes[0].empty()) << "input 0 carries no symbol: " << c_.note;
    const int axis = axes[0][0];
    const int64_t max = opts.batch_max;
    sinter::ir::BatchSymbol seq;
    auto graph = sinter::frontend::ImportTorchScript(c_.file, opts, nullptr, &seq);
    ASSERT_TRUE(graph.ok()) << graph.status();
    EXPECT_FALSE(seq.per_sample);
    sinter::codegen::CompileOptions copts;
    copts.batch = seq;
    sinter::codegen::CompileReport report;
    auto artifact = sinter::codegen::Compile(**graph, copts, &report);
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    EXPECT_NE(report.batch.find("symbolic extent: seq in [1, " + std::to_string(max) + "]"),
              std::string::npos)
        << report.batch;
    sinter_model* model = LoadOrNull(*artifact);
    ASSERT_NE(model, nullptr);
    std::unique_ptr<sinter_model, void (*)(sinter_model*)> hold(model, sinter_model_release);
    for (size_t i = 0; i < axes.size(); ++i) {
      sinter_tensor_info info;
      ASSERT_EQ(sinter_model_input_info(model, i, &info), nullptr);
      for (int a : axes[i]) EXPECT_EQ(info.dims[a], -1) << "input " << i << " axis " << a;
    }
    const char* symbol = nullptr;
    int64_t lo = 0, hi = 0;
    ASSERT_EQ(sinter_model_dim_range(model, 0, 0, axis, &symbol, &lo, &hi), nullptr);
    EXPECT_STREQ(symbol, "seq");
    EXPECT_EQ(lo, 1);
    EXPECT_EQ(hi, max);
    for (int64_t n : {int64_t{7}, max / 2, max, int64_t{1}}) {
      SCOPED_TRACE("seq " + std::to_string(n));
      Case at = c_;
      for (size_t i = 0; i < axes.size(); ++i)
        for (int a : axes[i]) at.shapes[i][a] = n;
      const std::vector<at::Tensor> tensors = CaseInputs(at);
      const std::vector<at::Tensor> ref = sinter::testing::TorchForward(c_.file, tensors);
      RunAndCompare(model, 2, at, tensors, ref);
    }
    sinter_session* session = nullptr;
    ASSERT_EQ(sinter_session_create(model, nullptr, &session), nullptr);
    std::unique_ptr<sinter_session, void (*)(sinter_session*)> hold_session(session,
                                                                            sinter_session_release);
    auto refused = [&](std::vector<int64_t> dims, const std::string& want, size_t input = 0) {
      const sinter_dtype dt = dtype_of(input) == sinter::ir::DType::kI64 ? SINTER_I64 : SINTER_F32;
      int64_t n = 1;
      for (int64_t d : dims) n *= d;
      std::vector<uint8_t> data(static_cast<size_t>(n) * sinter_dtype_size(dt));
      sinter_status* st = sinter_session_set_input(session, input, dt, dims.data(), dims.size(),
                                                   data.data(), data.size());
      ASSERT_NE(st, nullptr);
      EXPECT_EQ(sinter_status_get_code(st), SINTER_INVALID_ARGUMENT);
      EXPECT_NE(std::string(sinter_status_get_message(st)).find(want), std::string::npos)
          << sinter_status_get_message(st);
      sinter_status_free(st);
    };
    std::vector<int64_t> dims = c_.shapes[0];
    for (int a : axes[0]) dims[a] = max + 1;
    refused(dims, "seq = " + std::to_string(max + 1) + " is outside its range [1, " +
                      std::to_string(max) + "]");
    for (int a : axes[0]) dims[a] = 5;
    dims[axis == 0 ? 1 : 0] += 1;  // a static dim
    refused(dims, "expected [");
    // An input with the symbol on two axes (an attention mask) given two
    // lengths.
    for (size_t i = 0; i < axes.size(); ++i) {
      if (axes[i].size() < 2) continue;
      std::vector<int64_t> mask = c_.shapes[i];
      mask[axes[i][0]] = 5;
      mask[axes[i][1]] = 6;
      refused(mask,
              "seq is 5 on axis " + std::to_string(axes[i][0]) + " but 6 on axis " +
                  std::to_string(axes[i][1]),
              i);
    }
  }

 private:
  Case c_;
};

// Several real models with native code loaded at once, run interleaved and
// released in an order that frees a middle one first, then loaded again:
// each must run its own native kernels and match LibTorch (issue: the
// second model once ran the first one's code).
class SeveralModelsTest : public testing::Test {
 public:
  explicit SeveralModelsTest(std::vector<Case> cases) : cases_(std::move(cases)) {}

  void TestBody() override {
    std::vector<std::string> artifacts;
    std::vector<std::vector<at::Tensor>> inputs, refs;
    for (const Case& c : cases_) {
      artifacts.push_back(CompileCase(c, "default", "auto"));
      ASSERT_FALSE(artifacts.back().empty()) << c.name;
      inputs.push_back(CaseInputs(c));
      refs.push_back(sinter::testing::TorchForward(c.file, inputs.back()));
    }
    std::vector<sinter_model*> live;
    for (const std::string& a : artifacts) {
      live.push_back(LoadOrNull(a));
      ASSERT_NE(live.back(), nullptr);
      EXPECT_GT(sinter_model_native_kernel_count(live.back()), 0u)
          << cases_[live.size() - 1].name << " runs no native code: this test checks nothing";
    }
    auto check_all = [&] {
      for (size_t k = 0; k < live.size(); ++k) {
        if (live[k] == nullptr) continue;
        SCOPED_TRACE(cases_[k].name);
        RunAndCompare(live[k], 1, cases_[k], inputs[k], refs[k]);
      }
    };
    check_all();
    for (size_t k : {size_t{1}, size_t{0}, size_t{2}}) {
      sinter_model_release(live[k]);
      live[k] = nullptr;
      check_all();
    }
    for (size_t k : {size_t{2}, size_t{0}, size_t{1}}) {
      live[k] = LoadOrNull(artifacts[k]);
      ASSERT_NE(live[k], nullptr);
      check_all();
    }
    for (sinter_model* m : live) sinter_model_release(m);
  }

 private:
  std::vector<Case> cases_;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  std::string models = sinter::testing::ModelsDir(SINTER_DEFAULT_MODELS_DIR);
  const std::vector<Case> cases = ReadManifest(models);
  // A missing or truncated manifest must fail, not pass with no tests: the
  // script writes 4 model groups; hold the suite to a floor of real models
  // and single-op cases.
  size_t n_models = 0, n_ops = 0;
  for (const Case& c : cases) {
    n_models += c.group == "model" || c.group == "model_extra";
    n_ops += c.group == "op";
  }
  testing::RegisterTest("Manifest", "HasEveryGroup", nullptr, nullptr, __FILE__, __LINE__,
                        [=]() -> testing::Test* {
                          struct T : testing::Test {
                            size_t models, ops;
                            std::string dir;
                            T(size_t m, size_t o, std::string d) : models(m), ops(o), dir(d) {}
                            void TestBody() override {
                              EXPECT_GE(models, 18u) << "manifest in " << dir;
                              EXPECT_GE(ops, 100u) << "manifest in " << dir;
                            }
                          };
                          return new T(n_models, n_ops, models);
                        });
  std::vector<Case> several;
  for (const char* name : {"mobilenet_v2", "transformer", "squeezenet1_1"}) {
    for (const Case& c : cases)
      if (c.name == name) several.push_back(c);
  }
  if (several.size() == 3) {
    testing::RegisterTest("SeveralModels", "EachRunsItsOwnNativeCode", nullptr, nullptr, __FILE__,
                          __LINE__,
                          [several]() -> testing::Test* { return new SeveralModelsTest(several); });
  }
  for (const Case& c : cases) {
    testing::RegisterTest(c.group.c_str(), c.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [c]() -> testing::Test* { return new ParityTest(c); });
  }
  for (const Case& c : cases) {
    if (sinter::testing::NoteField(c, "seq").empty()) continue;
    testing::RegisterTest("dynamic_seq", c.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [c]() -> testing::Test* { return new DynamicSeqTest(c); });
  }
  for (const Case& c : cases) {
    if (c.group != "model") continue;
    testing::RegisterTest("dynamic_batch", c.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [c]() -> testing::Test* { return new DynamicBatchTest(c); });
  }
  return RUN_ALL_TESTS();
}
