// The CUDA target end to end, for every test model (the manifest's "model"
// and "model_extra" groups): sinterc's path (passes, precision conversion, the CUDA module
// compiled by NVRTC for sm_90 with PTX) produces an artifact, and the
// runtime either refuses it with SINTER_UNAVAILABLE naming the missing
// driver (no GPU: the normal test run) or, on a GPU machine, runs it and
// matches the CPU build of the same model and PyTorch (LibTorch on the CPU)
// (GPU parity):
//   f32 (TF32 off) within 1e-3 relative to the output's scale, of both, as
//     the issue asks; cuDNN/cuBLASLt reassociate sums, so bit equality is not
//     expected;
//   f16 / bf16 within 3e-2 / 6e-2 of the output's scale: weights and
//     activations are rounded to 11 / 8 significant bits at every layer
//     (2^-11 and 2^-8 relative per rounding), accumulated over ~50 layers of
//     ResNet-50 with fp32 accumulation inside each.
// The LSTM runs on CUDA unrolled (passes/lower_lstm.cc); the unrolled graph
// matches the CPU's LSTM kernel here, and an op the CUDA backend lacks is
// refused with a message naming it.
#include <cmath>
#include <cstdio>
#include <random>

#include "codegen/compiler.h"
#include "codegen/cuda/cuda_target.h"
#include "codegen/cuda/nvrtc.h"
#include "codegen/target_support.h"
#include "frontend/torchscript.h"
#include "gtest/gtest.h"
#include "ir/parser.h"
#include "ir/status_macros.h"
#include "passes/pass.h"
#include "sinter/sinter.h"
#include "tests/body_program.h"
#include "tests/models/cuda_refusal.h"
#include "tests/models/manifest.h"
#include "tests/models/torch_reference.h"

namespace {

using Case = sinter::testing::ModelCase;

struct Outputs {
  std::vector<std::vector<float>> values;
};

// Runs an artifact on inputs; returns the status code (0 = OK) and message.
sinter_status_code RunArtifact(const std::string& artifact,
                               const std::vector<std::vector<float>>& in,
                               const std::vector<std::vector<int64_t>>& in_i64, const Case& c,
                               Outputs* out, std::string* message) {
  sinter_model* model = nullptr;
  sinter_status* st = sinter_model_load_memory(artifact.data(), artifact.size(), nullptr, &model);
  if (st != nullptr) {
    const sinter_status_code code = sinter_status_get_code(st);
    *message = sinter_status_get_message(st);
    sinter_status_free(st);
    return code;
  }
  sinter_session* session = nullptr;
  st = sinter_session_create(model, nullptr, &session);
  for (size_t i = 0; st == nullptr && i < c.shapes.size(); ++i) {
    const bool i64 = c.dtypes[i] == "i64";
    st = sinter_session_set_input(session, i, i64 ? SINTER_I64 : SINTER_F32, c.shapes[i].data(),
                                  c.shapes[i].size(),
                                  i64 ? static_cast<const void*>(in_i64[i].data()) : in[i].data(),
                                  i64 ? in_i64[i].size() * 8 : in[i].size() * 4);
  }
  if (st == nullptr) st = sinter_session_run(session);
  for (size_t o = 0; st == nullptr && o < sinter_model_output_count(model); ++o) {
    sinter_tensor_info info;
    st = sinter_model_output_info(model, o, &info);
    if (st != nullptr) break;
    out->values.emplace_back(info.byte_size / 4);
    st = sinter_session_copy_output(session, o, out->values.back().data(), info.byte_size);
  }
  sinter_status_code code = SINTER_OK;
  if (st != nullptr) {
    code = sinter_status_get_code(st);
    *message = sinter_status_get_message(st);
    sinter_status_free(st);
  }
  sinter_session_release(session);
  sinter_model_release(model);
  return code;
}

class CudaTargetTest : public testing::Test {
 public:
  explicit CudaTargetTest(Case c) : c_(std::move(c)) {}

  absl::StatusOr<std::string> CompileFor(const std::string& target, const std::string& precision,
                                         sinter::codegen::CompileReport* report,
                                         bool unroll_recurrent = false) {
    sinter::frontend::ImportOptions opts;
    for (size_t i = 0; i < c_.shapes.size(); ++i) {
      opts.inputs.push_back({c_.shapes[i], c_.dtypes[i] == "i64" ? sinter::ir::DType::kI64
                                                                 : sinter::ir::DType::kF32});
    }
    auto graph = sinter::frontend::ImportTorchScript(c_.file, opts);
    if (!graph.ok()) return graph.status();
    if (unroll_recurrent) {
      sinter::passes::PassManager pm;
      RETURN_IF_ERROR(pm.Add("lower-recurrent"));
      RETURN_IF_ERROR(pm.Run(**graph));
    }
    sinter::codegen::CompileOptions copts;
    copts.target = target;
    copts.precision = precision;
    if (target == "cpu") copts.cpu = "none";
    return sinter::codegen::Compile(**graph, copts, report);
  }

  void TestBody() override {
    if (c_.name == "lstm" || c_.name == "gru_tagger" || c_.name == "op_gru")
      CheckUnrolledRecurrentOnCpu();
    if (!sinter::codegen::cuda::NvrtcVersion().ok())
      GTEST_SKIP() << "NVRTC not loadable: " << sinter::codegen::cuda::NvrtcVersion().status();
    sinter::codegen::CompileReport report;
    auto cuda = CompileFor("cuda:sm_90", "fp16", &report);
    if (!cuda.ok() && sinter::testing::RefusedByOpTable(cuda.status()))
      GTEST_SKIP() << "the op table refuses it on CUDA: " << cuda.status().message();
    ASSERT_TRUE(cuda.ok()) << cuda.status();
    EXPECT_EQ(report.target, "cuda");
    EXPECT_EQ(report.precision, "f16");
    EXPECT_EQ(report.cuda_images, (std::vector<std::string>{"sm_90", "compute_90"}));
    std::printf("%s: %lld kernels, %lld generated, artifact %lld bytes, NVRTC %.0f ms\n",
                c_.name.c_str(), static_cast<long long>(report.kernels),
                static_cast<long long>(report.cuda_generated_kernels),
                static_cast<long long>(report.artifact_bytes), report.nvrtc_ms);

    std::vector<std::vector<float>> in;
    std::vector<std::vector<int64_t>> in_i64;
    MakeInputs(&in, &in_i64);
    Outputs gpu;
    std::string message;
    const sinter_status_code code = RunArtifact(*cuda, in, in_i64, c_, &gpu, &message);
    if (code == SINTER_UNAVAILABLE) {
      EXPECT_NE(message.find("CUDA"), std::string::npos) << message;
      GTEST_SKIP() << "no GPU here: the f16 artifact compiled and was refused cleanly (" << message
                   << "); GPU parity not run";
    }
    ASSERT_EQ(code, SINTER_OK) << message;

    // A GPU is present: parity of every precision against the CPU build.
    auto cpu = CompileFor("cpu", "fp32", nullptr);
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    Outputs ref;
    ASSERT_EQ(RunArtifact(*cpu, in, in_i64, c_, &ref, &message), SINTER_OK) << message;
    Check("f16", gpu, ref, 3e-2);
    // And against PyTorch itself (LibTorch on the CPU, same inputs).
    Outputs torch_ref;
    {
      std::vector<at::Tensor> inputs;
      for (size_t i = 0; i < c_.shapes.size(); ++i) {
        inputs.push_back(
            c_.dtypes[i] == "i64"
                ? torch::from_blob(in_i64[i].data(), c_.shapes[i], torch::kLong).clone()
                : torch::from_blob(in[i].data(), c_.shapes[i], torch::kFloat).clone());
      }
      for (const at::Tensor& t : sinter::testing::TorchForward(c_.file, inputs)) {
        const at::Tensor f = t.to(torch::kFloat).contiguous();
        torch_ref.values.emplace_back(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
      }
    }
    for (const auto& [precision, tol] :
         {std::pair<const char*, double>{"fp32", 1e-3}, {"bf16", 6e-2}}) {
      auto art = CompileFor("cuda:sm_90", precision, nullptr);
      ASSERT_TRUE(art.ok()) << art.status();
      Outputs o;
      ASSERT_EQ(RunArtifact(*art, in, in_i64, c_, &o, &message), SINTER_OK) << message;
      Check(precision, o, ref, tol);
      // The issue's bar: f32 (TF32 off) within 1e-3 of PyTorch.
      if (std::string(precision) == "fp32") Check("fp32 vs PyTorch", o, torch_ref, 1e-3);
    }
  }

 private:
  // Deterministic inputs.
  void MakeInputs(std::vector<std::vector<float>>* in, std::vector<std::vector<int64_t>>* in_i64) {
    std::mt19937 rng(7);
    in->assign(c_.shapes.size(), {});
    in_i64->assign(c_.shapes.size(), {});
    for (size_t i = 0; i < c_.shapes.size(); ++i) {
      int64_t n = 1;
      for (int64_t d : c_.shapes[i]) n *= d;
      std::normal_distribution<float> normal;
      std::uniform_int_distribution<int64_t> ints(0, std::max<int64_t>(c_.int_high - 1, 0));
      for (int64_t j = 0; j < n; ++j) {
        if (c_.dtypes[i] == "i64") {
          (*in_i64)[i].push_back(ints(rng));
        } else {
          (*in)[i].push_back(normal(rng));
        }
      }
    }
  }

  // The unrolled LSTM or GRU (what CUDA runs) against the CPU's kernel, both
  // on the CPU runtime in f32: the same arithmetic in another order.
  void CheckUnrolledRecurrentOnCpu() {
    std::vector<std::vector<float>> in;
    std::vector<std::vector<int64_t>> in_i64;
    MakeInputs(&in, &in_i64);
    sinter::codegen::CompileReport report;
    auto unrolled = CompileFor("cpu", "fp32", &report, /*unroll_recurrent=*/true);
    ASSERT_TRUE(unrolled.ok()) << unrolled.status();
    EXPECT_EQ(report.kernels_by_op.count("lstm"), 0u);
    EXPECT_EQ(report.kernels_by_op.count("gru"), 0u);
    sinter::codegen::CompileReport kernel_report;
    auto kernel = CompileFor("cpu", "fp32", &kernel_report);
    EXPECT_EQ(kernel_report.kernels_by_op.count(c_.name == "lstm" ? "lstm" : "gru"), 1u);
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    Outputs a, b;
    std::string message;
    ASSERT_EQ(RunArtifact(*unrolled, in, in_i64, c_, &a, &message), SINTER_OK) << message;
    ASSERT_EQ(RunArtifact(*kernel, in, in_i64, c_, &b, &message), SINTER_OK) << message;
    Check("unrolled recurrence on cpu", a, b, 1e-5);
  }

  void Check(const char* what, const Outputs& got, const Outputs& ref, double tol) {
    ASSERT_EQ(got.values.size(), ref.values.size()) << what;
    for (size_t o = 0; o < ref.values.size(); ++o) {
      ASSERT_EQ(got.values[o].size(), ref.values[o].size()) << what;
      double scale = 1e-6, worst = 0;
      for (float v : ref.values[o]) scale = std::max(scale, std::fabs(static_cast<double>(v)));
      for (size_t i = 0; i < ref.values[o].size(); ++i) {
        const double d = std::fabs(static_cast<double>(got.values[o][i]) - ref.values[o][i]);
        worst = std::max(worst, std::isnan(d) ? INFINITY : d);
      }
      EXPECT_LE(worst, tol * scale) << c_.name << " " << what << " output " << o << ": max |diff| "
                                    << worst << " against scale " << scale;
      std::printf("%s %s output %zu: max |diff| %.3g (scale %.3g)\n", c_.name.c_str(), what, o,
                  worst, scale);
    }
  }

  Case c_;
};

// The fallback epilogue of a conv/linear: the bias first, then the epilogue
// on the biased value, exactly as the CPU applies it.
TEST(CudaEpilogue, BiasComesFirstAndFeedsTheEpilogue) {
  namespace cuda = sinter::codegen::cuda;
  namespace fmt = sinter::format;
  using sinter::testing::BodyFromProgram;
  auto same = [](const fmt::KernelBody& got, const fmt::KernelBody& want) {
    std::string error;
    EXPECT_TRUE(fmt::CheckKernelBody(got, &error)) << error;
    EXPECT_EQ(got.args, want.args);
    EXPECT_EQ(fmt::BodyText(got), fmt::BodyText(want));
  };
  const fmt::DType f32 = fmt::DType::F32;
  same(cuda::EpilogueWithBias(nullptr, f32, f32), BodyFromProgram("t0 = add $0 $1", 2));
  fmt::KernelBody e = BodyFromProgram("t0 = relu $0", 1);
  same(cuda::EpilogueWithBias(&e, f32, f32), BodyFromProgram("t0 = add $0 $1; t1 = relu t0", 2));
  e = BodyFromProgram("t0 = add $0 $1; t1 = relu t0", 2);
  same(cuda::EpilogueWithBias(&e, f32, f32),
       BodyFromProgram("t0 = add $0 $1; t1 = add t0 $2; t2 = relu t1", 3));
  e = BodyFromProgram("t0 = mul $0 0.5; t1 = clamp t0 0 6", 1);
  same(cuda::EpilogueWithBias(&e, f32, f32),
       BodyFromProgram("t0 = add $0 $1; t1 = mul t0 0.5; t2 = clamp t1 0 6", 2));
  // f16 storage: the bias add is f32 over casts of both, the epilogue's own
  // cast of its argument 0 then reads f32, and the result is stored f16.
  e = BodyFromProgram("t0 = relu $0", 1, fmt::DType::F16);
  const fmt::KernelBody b = cuda::EpilogueWithBias(&e, fmt::DType::F16, fmt::DType::F16);
  std::string error;
  ASSERT_TRUE(fmt::CheckKernelBody(b, &error)) << error;
  EXPECT_EQ(b.args, (std::vector<fmt::DType>{fmt::DType::F16, fmt::DType::F16}));
  EXPECT_EQ(b.result_type(), fmt::DType::F16);
  EXPECT_EQ(fmt::BodyOpsText(b), "add + relu + cast");
}

// Ops the CUDA backend has no kernel for are listed in one message.
TEST(CudaSupport, ListsEveryOpItCannotRun) {
  auto g = sinter::ir::Parse(R"(
graph @main(%x: f32[4], %i: i64[4], %j: i64[4]) {
  %a = add(%i, %j) : i64[4]
  %b = gt(%a, %j) : bool[4]
  %c = where(%b, %x, %x) : f32[4]
  %d = add(%a, %i) : i64[4]
  return %c, %d
})");
  ASSERT_TRUE(g.ok()) << g.status();
  absl::Status st = sinter::codegen::CheckTargetSupport(**g, sinter::ir::Target::kCuda);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(std::string(st.message())
                .find("add x2 (wrap-elementwise did not lower it (operands i64[4], i64[4]))"),
            std::string::npos)
      << st;
  EXPECT_NE(std::string(st.message()).find("gt x1 (a comparison of non-floats)"), std::string::npos)
      << st;
  EXPECT_EQ(std::string(st.message()).find("where"), std::string::npos) << st;
}

// The sizes the data decides and roi_align have no CUDA kernels: the
// compile stops, naming them (ops.def's REFUSED reasons).
TEST(CudaSupport, RefusesSizesTheRunDecides) {
  auto g = sinter::ir::Parse(R"(
graph @main(%x: f32[4,3], %m: bool[4], %b: f32[4,4], %s: f32[4], %i: f32[1,3,8,8], %r: f32[4,5]) {
  %a = nonzero(%x) {size = "n0"} : i64[?n0,2]
  %c = masked_select(%x, %m) {size = "n1"} : f32[?n1,3]
  %k = nms(%b, %s) {iou_threshold = 0.5, size = "n2"} : i64[?n2]
  %p = roi_align(%i, %r) {pooled_height = 2, pooled_width = 2, spatial_scale = 0.5, sampling_ratio = 2, aligned = false} : f32[4,3,2,2]
  return %a, %c, %k, %p
})");
  ASSERT_TRUE(g.ok()) << g.status();
  absl::Status st = sinter::codegen::CheckTargetSupport(**g, sinter::ir::Target::kCuda);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented);
  for (const char* want : {"nonzero x1 (sizes the data decides run on the CPU target only)",
                           "masked_select x1 (sizes the data decides", "nms x1 (sizes the data",
                           "roi_align x1 (roi_align has no CUDA kernel yet)"}) {
    EXPECT_NE(std::string(st.message()).find(want), std::string::npos) << st;
  }
  EXPECT_TRUE(sinter::codegen::CheckTargetSupport(**g, sinter::ir::Target::kCpu).ok());
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const std::string models = sinter::testing::ModelsDir(SINTER_DEFAULT_MODELS_DIR);
  for (const Case& c : sinter::testing::ReadManifest(models)) {
    if (c.group != "model" && c.group != "model_extra") continue;
    testing::RegisterTest("CudaTarget", c.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [c]() -> testing::Test* { return new CudaTargetTest(c); });
  }
  return RUN_ALL_TESTS();
}
