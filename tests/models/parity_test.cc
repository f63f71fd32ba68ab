// Parity of sinter against LibTorch on every case of the model manifest
// (tests/models/make_models.py): real TorchScript files scripted from
// torchvision and torch.nn, run by LibTorch for the reference and by sinter
// (import, compile at -O0 and at the default pipeline, load through the C
// API, run on the CPU kernels).
//
// One GoogleTest test per manifest row, registered at start-up from the
// manifest, so ctest lists and runs them one by one.
#include <torch/script.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "codegen/compiler.h"
#include "frontend/torchscript.h"
#include "gtest/gtest.h"
#include "sinter/sinter.h"
#include "tests/models/manifest.h"
#include "tests/models/torch_reference.h"

namespace {

using Case = sinter::testing::ModelCase;
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

class ParityTest : public testing::Test {
 public:
  explicit ParityTest(Case c) : c_(std::move(c)) {}

  void TestBody() override {
    if (c_.group == "refused") return TestRefused();
    torch::manual_seed(0);
    std::vector<c10::IValue> inputs;
    std::vector<at::Tensor> tensors;
    for (size_t i = 0; i < c_.shapes.size(); ++i) {
      at::Tensor t = c_.dtypes[i] == "i64" ? torch::randint(c_.int_high, c_.shapes[i], torch::kLong)
                                           : torch::randn(c_.shapes[i]);
      tensors.push_back(t);
      inputs.push_back(t);
    }
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
      sinter::frontend::ImportOptions opts;
      for (size_t i = 0; i < c_.shapes.size(); ++i) {
        opts.inputs.push_back({c_.shapes[i], c_.dtypes[i] == "i64" ? sinter::ir::DType::kI64
                                                                   : sinter::ir::DType::kF32});
      }
      auto graph = sinter::frontend::ImportTorchScript(c_.file, opts);
      ASSERT_TRUE(graph.ok()) << graph.status();
      sinter::codegen::CompileOptions copts;
      copts.pipeline = pipeline;
      copts.layout = layout;
      auto artifact = sinter::codegen::Compile(**graph, copts, nullptr);
      ASSERT_TRUE(artifact.ok()) << artifact.status();

      sinter_model* model = nullptr;
      sinter_status* st =
          sinter_model_load_memory(artifact->data(), artifact->size(), nullptr, &model);
      ASSERT_EQ(st, nullptr) << sinter_status_get_message(st);
      sinter_session* session = nullptr;
      // -O0 runs on one thread and the default pipeline on two, so both the
      // serial and the threaded kernel paths are checked against LibTorch.
      sinter_session_options so{std::string(pipeline) == "O0" ? 1 : 2};
      ASSERT_EQ(sinter_session_create(model, &so, &session), nullptr);
      for (size_t i = 0; i < tensors.size(); ++i) {
        const at::Tensor& t = tensors[i];
        std::vector<int64_t> dims = t.sizes().vec();
        st = sinter_session_set_input(session, i, ToSinter(t.scalar_type()), dims.data(),
                                      dims.size(), t.data_ptr(), t.nbytes());
        ASSERT_EQ(st, nullptr) << sinter_status_get_message(st);
      }
      st = sinter_session_run(session);
      ASSERT_EQ(st, nullptr) << sinter_status_get_message(st);
      ASSERT_EQ(sinter_model_output_count(model), ref.size());
      for (size_t o = 0; o < ref.size(); ++o) {
        at::Tensor r = ref[o].to(torch::kFloat).contiguous();
        sinter_tensor_info info;
        ASSERT_EQ(sinter_model_output_info(model, o, &info), nullptr);
        ASSERT_EQ(std::vector<int64_t>(info.dims, info.dims + info.rank), ref[o].sizes().vec());
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
        double max_abs = 0, max_ref = 0;
        int64_t bad = 0, first_bad = -1;
        for (int64_t i = 0; i < r.numel(); ++i) {
          double d = std::fabs(static_cast<double>(got[i]) - want[i]);
          max_abs = std::max(max_abs, std::isnan(d) ? INFINITY : d);
          max_ref = std::max(max_ref, static_cast<double>(std::fabs(want[i])));
          if (!(d <= c_.atol + c_.rtol * std::fabs(want[i]))) {
            if (first_bad < 0) first_bad = i;
            ++bad;
          }
        }
        RecordProperty(config + "_max_abs_diff_" + std::to_string(o), std::to_string(max_abs));
        EXPECT_EQ(bad, 0) << c_.name << " output " << o << ": " << bad << " of " << r.numel()
                          << " elements outside atol " << c_.atol << " + rtol " << c_.rtol
                          << "; max |diff| " << max_abs << ", max |ref| " << max_ref
                          << "; first at " << first_bad << ": got "
                          << (first_bad >= 0 ? got[first_bad] : 0) << " want "
                          << (first_bad >= 0 ? want[first_bad] : 0);
      }
      sinter_session_release(session);
      sinter_model_release(model);
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

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  std::string models = sinter::testing::ModelsDir(SINTER_DEFAULT_MODELS_DIR);
  for (const Case& c : ReadManifest(models)) {
    testing::RegisterTest(c.group.c_str(), c.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [c]() -> testing::Test* { return new ParityTest(c); });
  }
  return RUN_ALL_TESTS();
}
