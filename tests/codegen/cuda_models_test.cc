// Every fused kernel of every test model compiles for the GPU: each model of
// the manifest's "model" and "model_extra" groups (tests/models/make_models.py)
// is imported and compiled with the default pipeline; the graph is converted
// to f16 storage as the CUDA target converts it (convert-f16: bodies load f16
// and compute f32), and each fused_elementwise op, each fused_reduction and
// each conv2d/linear epilogue is emitted as CUDA C++ (in f32 too for one
// model) and compiled with NVRTC for sm_80 and sm_90. No GPU needed; a kernel
// that does not emit or compile fails the test with NVRTC's log.
//
// Each compiled kernel's resources (ptxas's report, codegen/cuda/resources.h)
// are held to two bounds on both architectures: no byte spilled to local
// memory, and an occupancy, at the block size the kernel is launched with,
// of at least kMinOccupancy. Generated kernels are memory-bound streams
// (elementwise chains, row reductions), whose bandwidth on Ampere and Hopper
// needs many resident warps to cover DRAM latency; below half of the SM's
// warps, a register-hungry body (a long fused chain) is the usual cause and
// the fusion pass should split it instead.
//
// One GoogleTest test per model, registered from the manifest at start-up
// (SINTER_MODELS_DIR overrides the models folder).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "codegen/compiler.h"
#include "codegen/cuda/cuda_emitter.h"
#include "codegen/cuda/nvrtc.h"
#include "codegen/cuda/resources.h"
#include "frontend/torchscript.h"
#include "gtest/gtest.h"
#include "ir/kernel_body.h"
#include "passes/convert_precision.h"
#include "tests/models/manifest.h"

namespace {

namespace cuda = sinter::codegen::cuda;
using sinter::ir::OpKind;

// The model whose kernels are also compiled in f32.
constexpr char kF32Model[] = "mobilenet_v3_large";
constexpr const char* kArchs[] = {"sm_80", "sm_90"};
constexpr double kMinOccupancy = 0.5;

using Case = sinter::testing::ModelCase;
using sinter::testing::ReadManifest;

// A fused kernel of the compiled graph: its bodies and the shapes it reads.
struct Fused {
  std::string what;                 // "fused_elementwise at loc" / "conv2d epilogue at loc"
  sinter::format::KernelBody body;  // the elementwise kernel's or the epilogue's
  std::vector<std::vector<int64_t>> inputs;
  std::vector<int64_t> output;
  bool reduction = false;  // a fused_reduction: `spec` (and `prologue`) instead
  cuda::FusedReductionSpec spec;
  sinter::format::KernelBody prologue;
  bool has_prologue = false, has_epilogue = false;
};

// Fused elementwise ops and conv2d/linear epilogues. An epilogue's input 0
// is the op's own result, then the operands after the bias.
std::vector<Fused> FusedKernels(const sinter::ir::Graph& g, std::string* error) {
  std::vector<Fused> out;
  auto lower = [&](const sinter::ir::Graph* region, sinter::format::KernelBody* body) {
    auto b = sinter::ir::LowerBody(*region);
    if (!b.ok()) {
      *error += std::string(b.status().message()) + "\n";
      return false;
    }
    *body = *std::move(b);
    return true;
  };
  for (const auto& op : g.ops()) {
    Fused f;
    int first = 0;
    if (op->kind() == OpKind::kFusedElementwise) {
      f.what = "fused_elementwise";
      if (!lower(op->region("body"), &f.body)) continue;
    } else if ((op->kind() == OpKind::kConv2d || op->kind() == OpKind::kLinear) &&
               op->region("epilogue") != nullptr) {
      f.what = std::string(op->name()) + " epilogue";
      if (!lower(op->region("epilogue"), &f.body)) continue;
      f.inputs.push_back(op->result()->type().shape.extents());
      first = 3;
    } else if (op->kind() == OpKind::kFusedReduction) {
      f.what = "fused_reduction " + op->GetStr("kind");
      f.reduction = true;
      f.spec.kind = op->GetStr("kind");
      f.spec.axis = op->GetInt("axis");
      f.spec.eps = op->HasAttr("eps") ? static_cast<float>(op->GetFloat("eps")) : 0.f;
      f.spec.prologue_inputs = static_cast<int>(op->GetInt("inputs"));
      if (op->region("prologue") != nullptr) {
        f.has_prologue = lower(op->region("prologue"), &f.prologue);
      }
      if (op->region("epilogue") != nullptr) {
        f.has_epilogue = lower(op->region("epilogue"), &f.body);
      }
    } else {
      continue;
    }
    f.what += " at " + op->loc();
    for (int i = first; i < op->num_operands(); ++i)
      f.inputs.push_back(op->operand(i)->type().shape.extents());
    f.output = op->result()->type().shape.extents();
    out.push_back(std::move(f));
  }
  return out;
}

class CudaModelTest : public testing::Test {
 public:
  explicit CudaModelTest(Case c) : c_(std::move(c)) {}

  void TestBody() override {
    const auto start = std::chrono::steady_clock::now();
    sinter::frontend::ImportOptions opts;
    for (size_t i = 0; i < c_.shapes.size(); ++i) {
      opts.inputs.push_back({c_.shapes[i], c_.dtypes[i] == "i64" ? sinter::ir::DType::kI64
                                                                 : sinter::ir::DType::kF32});
    }
    auto graph = sinter::frontend::ImportTorchScript(c_.file, opts);
    ASSERT_TRUE(graph.ok()) << graph.status();
    sinter::codegen::CompileOptions copts;  // the default pipeline
    auto artifact = sinter::codegen::Compile(**graph, copts, nullptr);
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    const double import_s = Seconds(start);

    std::vector<cuda::Precision> precisions = {cuda::Precision::kF16};
    if (c_.name == kF32Model) precisions.push_back(cuda::Precision::kF32);
    for (cuda::Precision p : precisions) {
      SCOPED_TRACE(cuda::PrecisionName(p));
      const auto t0 = std::chrono::steady_clock::now();
      // The graph in the kernel's storage, as the CUDA target converts it.
      std::unique_ptr<sinter::ir::Graph> converted = (*graph)->Clone();
      if (p == cuda::Precision::kF16) {
        ASSERT_TRUE(
            sinter::passes::ConvertPrecision(*converted, sinter::ir::DType::kF16, nullptr, false)
                .ok());
      }
      std::string error;
      std::vector<Fused> kernels = FusedKernels(*converted, &error);
      ASSERT_TRUE(error.empty()) << error;
      int epilogues = 0, reductions = 0;
      for (Fused& f : kernels) {
        reductions += f.reduction;
        epilogues += !f.reduction && f.what.find("epilogue") != std::string::npos;
        f.spec.prologue = f.has_prologue ? &f.prologue : nullptr;
        f.spec.epilogue = f.has_epilogue ? &f.body : nullptr;
      }
      // Identical kernels (same program and shapes) compile once: the name
      // is the same for all, so the source is the cache key.
      struct Distinct {
        const Fused* f;
        int threads;  // per block, as launched
      };
      std::map<std::string, Distinct> distinct;
      int vector = 0;
      for (const Fused& f : kernels) {
        absl::StatusOr<cuda::CudaKernel> k =
            f.reduction
                ? cuda::EmitFusedReductionKernel("sinter_fused", f.spec, f.inputs, f.output, p)
                : cuda::EmitFusedKernel("sinter_fused", f.body, f.inputs, f.output);
        ASSERT_TRUE(k.ok()) << f.what << ": " << k.status();
        vector += k->launch.vector_width > 1;
        distinct.emplace(k->source, Distinct{&f, k->launch.threads_per_block});
      }
      // Emitting needs no NVRTC; compiling does.
      absl::StatusOr<std::pair<int, int>> version = cuda::NvrtcVersion();
      if (!version.ok()) {
        GTEST_SKIP() << kernels.size() << " kernels emitted; NVRTC not loadable, so not compiled: "
                     << version.status();
      }
      int64_t cubin_bytes = 0;
      double lowest = 1;
      int max_registers = 0;
      for (const auto& [source, d] : distinct) {
        const Fused* f = d.f;
        for (const char* arch : kArchs) {
          absl::StatusOr<cuda::CompiledKernel> bin =
              cuda::CompileCuda(source, "sinter_fused", arch, false);
          ASSERT_TRUE(bin.ok()) << f->what << ": " << bin.status() << "\n" << source;
          ASSERT_FALSE(bin->cubin.empty()) << f->what;
          EXPECT_EQ(bin->log, "") << f->what << ": NVRTC warnings";
          cubin_bytes += static_cast<int64_t>(bin->cubin.size());
          ASSERT_EQ(bin->resources.size(), 1u) << f->what << " on " << arch;
          const cuda::KernelResources& r = bin->resources[0];
          EXPECT_EQ(r.spill_store_bytes + r.spill_load_bytes, 0)
              << f->what << " on " << arch << " spills (" << r.registers << " registers)\n"
              << source;
          const int threads = d.threads;
          const cuda::Occupancy o =
              cuda::ComputeOccupancy(r, threads, 0, *cuda::FindSmLimits(arch));
          EXPECT_GE(o.fraction, kMinOccupancy)
              << f->what << " on " << arch << ": " << o.warps_per_sm
              << " resident warps, limited by " << o.limiter << " (" << r.registers
              << " registers, " << r.shared_bytes << " bytes of shared memory, " << threads
              << " threads per block)";
          lowest = std::min(lowest, o.fraction);
          max_registers = std::max(max_registers, r.registers);
        }
      }
      const std::string prefix = cuda::PrecisionName(p);
      RecordProperty(prefix + "_kernels", static_cast<int>(kernels.size()));
      RecordProperty(prefix + "_distinct_compiled", static_cast<int>(distinct.size()));
      std::printf(
          "%s %s: %zu fused kernels (%zu fused_elementwise, %d epilogues, %d fused_reduction; "
          "%d on the 128-bit vector path), %zu distinct compiled for sm_80 and sm_90 with NVRTC "
          "%d.%d: %lld cubin bytes, at most %d registers, no spills, lowest occupancy %.0f%%, "
          "NVRTC %.1f s (import and sinter compile %.1f s)\n",
          c_.name.c_str(), prefix.c_str(), kernels.size(), kernels.size() - epilogues - reductions,
          epilogues, reductions, vector, distinct.size(), version->first, version->second,
          static_cast<long long>(cubin_bytes), max_registers, 100 * lowest, Seconds(t0), import_s);
    }
  }

 private:
  static double Seconds(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
  }

  Case c_;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const std::string models = sinter::testing::ModelsDir(SINTER_DEFAULT_MODELS_DIR);
  for (const Case& c : ReadManifest(models)) {
    if (c.group != "model" && c.group != "model_extra") continue;
    testing::RegisterTest("CudaModels", c.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [c]() -> testing::Test* { return new CudaModelTest(c); });
  }
  return RUN_ALL_TESTS();
}
