// The CUDA-on-host conformance path (issue 15, item 2): every kernel the
// CUDA target generates for every test model runs on the host executor
// (executor.h) with the launch the runtime would make, and its output is
// compared element by element with the CPU backend's execution of the same
// kernel. No GPU needed; the generated kernels' arithmetic, indexing,
// broadcasting, vector paths, warp shuffles, shared memory and barriers are
// all exercised, and every access is checked (memcheck, synccheck,
// racecheck, alignment), so an emitter bug fails here rather than on the
// rare GPU minutes.
//
// For each model of the manifest's "model" and "model_extra" groups (one
// GoogleTest test each, registered at start-up; SINTER_MODELS_DIR overrides
// the models folder):
//  1. Import once, then for each configuration run the pass pipeline exactly
//     as codegen::Compile does for `--target cuda` (the "cuda" pipeline:
//     lower-recurrent, the default passes, wrap-elementwise; plan-layout told the
//     target and whether tensor cores run; then convert-f16/convert-bf16),
//     on a clone of the imported graph. Configurations: storage f32, f16 and
//     bf16, each with layout=nchw and, where the model has convolutions,
//     layout=auto. On CUDA auto chooses NHWC where tensor cores run, so f32's
//     auto is compiled as `--tf32` would (its only NHWC configuration).
//     The "cuda" pipeline rather than the CPU's default one because it is
//     what ships: the LSTM unrolled into gate math, loose elementwise ops
//     wrapped into fused kernels.
//  2. Every generated kernel, as codegen/cuda/cuda_target.h's
//     GeneratedKernels gives it (the very list BuildCudaModule emits and
//     records, so this test cannot drift from the compiler), emitted under
//     BuildCudaModule's names. Identical sources run once per model (ResNet's
//     many identical conv epilogues, and kernels that several configurations
//     share); the new kernels of each configuration are compiled for the host
//     as one module (module.h).
//  3. Each distinct kernel runs with the grid the runtime launches on an H100
//     (CudaLaunch::GridSize(132)) and its block size, on random inputs of the
//     operands' shapes and dtypes (bool masks and integers where a body reads
//     them), every tensor a registered DeviceBuffer (bounds-checked); a
//     conv2d/linear epilogue runs in place on the library call's output, as
//     the runtime runs it. A kernel the executor stops (out of bounds,
//     barrier divergence, shared-memory race, misaligned vector access)
//     fails the test with the executor's report.
//  4. The reference is the CPU runtime: elementwise kernels through its
//     fused-program interpreter (rt::PlanFusedProgram / RunFusedProgram),
//     row reductions (fused_reduction, softmax, log_softmax, layer_norm)
//     through the CPU backend's own fused_reduction kernel
//     (rt::kFusedReductionOp: prologue program, the vectorised row kernels of
//     kernels/cpu, epilogue program). The CPU holds no f16/bf16 tensors, so an
//     f16/bf16 kernel's reference is its body with the storage types widened
//     to f32 (the CUDA kernel converts at loads and stores only and computes
//     in f32 between), run on the same inputs, which f32 holds exactly.
//  5. Prints per model: kernels generated, distinct kernels run, the worst
//     error per precision, seconds.
//
// CI's budget (a 2-core machine): the inputs are the manifest's shapes (the
// kernels that ship), duplicates run once per model, and every output element
// is compared. `ctest -L cuda-emulation` runs it.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "codegen/cuda/cuda_emitter.h"
#include "codegen/cuda/cuda_target.h"
#include "codegen/target_support.h"
#include "flatbuffers/flatbuffers.h"
#include "frontend/torchscript.h"
#include "gtest/gtest.h"
#include "ir/graph.h"
#include "passes/convert_precision.h"
#include "passes/pass.h"
#include "runtime/cpu/fused.h"
#include "runtime/cpu/fused_reduction.h"
#include "runtime/format/kernel_body.h"
#include "runtime/format/sinter_generated.h"
#include "tests/cuda_emu/executor.h"
#include "tests/cuda_emu/include/sinter_cuda_emu_fp.h"
#include "tests/cuda_emu/module.h"
#include "tests/models/cuda_refusal.h"
#include "tests/models/manifest.h"

namespace sinter::cuda_emu {
namespace {

namespace cg = sinter::codegen::cuda;
namespace fmt = sinter::format;
using fmt::DType;

// The grid the runtime launches on an H100 (132 SMs).
constexpr int kSmCount = 132;

// ---- Tolerances ----------------------------------------------------------------
//
// An element passes when |cuda - cpu| <= rtol * |cpu| + atol, or when the
// kernel stored exactly the CPU's f32 value rounded to its storage type.
//
// f32 storage: both sides run the same f32 operations in the same order
// (one SSA body; no FMA contraction in the emulated kernel), so they differ
// only where a transcendental function is implemented differently: the
// kernel calls the host's expf/erff/tanhf/logf/powf (on a GPU its own,
// within 2 ulp), the CPU interpreter and row kernels their vectorised
// approximations (within a few ulp). Bodies chain a few of those, and row
// reductions add the order of the row sums (a warp/shared-memory tree on
// CUDA, SIMD lanes on the CPU: a relative error far below len * 2^-24 on
// the row's statistics). rtol = 2^-16 (128 ulp) bounds that with room,
// while an indexing, broadcasting or synchronisation bug moves elements by
// O(1). atol = 2^-18 covers results that cancel to near zero (x - mean
// before layer_norm's scale and shift, a residual add): their error is
// relative to the operands (magnitude 1-10 here), not to the result. The
// largest error seen, relative to this tolerance, is printed per model
// (at most 0.21 of it on every model, 2026-12).
constexpr double kRtolF32 = 1.0 / 65536;   // 2^-16
constexpr double kAtolF32 = 1.0 / 262144;  // 2^-18
// f16/bf16 storage: the kernel computes in f32 and rounds its result once,
// to nearest even, when it stores it: at most half an ulp, a relative
// 2^-11 (f16, 10 fraction bits) or 2^-8 (bf16, 7), and 2^-25 absolute
// among f16 subnormals, on top of the f32 error above. Most elements equal
// the CPU's value rounded alike; where the two f32 values lie on either
// side of a rounding midpoint they round to neighbours, and the error is
// half an ulp plus their difference: within the bound, but close to it
// (the printed worst ratio is then near 1, and that is the expected case).
constexpr double kRtolF16 = 1.0 / 2048 + kRtolF32;
constexpr double kAtolF16 = 1.0 / (1 << 25) + kAtolF32;
constexpr double kRtolBF16 = 1.0 / 256 + kRtolF32;
constexpr double kAtolBF16 = kAtolF32;

struct Tolerance {
  double rtol, atol;
};
Tolerance ToleranceFor(DType result) {
  switch (result) {
    case DType::F32:
      return {kRtolF32, kAtolF32};
    case DType::F16:
      return {kRtolF16, kAtolF16};
    case DType::BF16:
      return {kRtolBF16, kAtolBF16};
    case DType::F64:
    case DType::I64:
    case DType::I32:
    case DType::I8:
    case DType::U8:
    case DType::BOOL:
      return {0, 0};  // integers and booleans: exact
  }
  return {0, 0};
}

// ---- Tensors ---------------------------------------------------------------------

size_t SizeOf(DType t) {
  switch (t) {
    case DType::F32:
    case DType::I32:
      return 4;
    case DType::F16:
    case DType::BF16:
      return 2;
    case DType::F64:
    case DType::I64:
      return 8;
    case DType::I8:
    case DType::U8:
    case DType::BOOL:
      return 1;
  }
  return 1;
}

sinter_dtype ToSinter(DType t) {
  switch (t) {
    case DType::F32:
      return SINTER_F32;
    case DType::F16:
      return SINTER_F16;
    case DType::BF16:
      return SINTER_BF16;
    case DType::F64:
      return SINTER_F64;
    case DType::I64:
      return SINTER_I64;
    case DType::I32:
      return SINTER_I32;
    case DType::I8:
      return SINTER_I8;
    case DType::U8:
      return SINTER_U8;
    case DType::BOOL:
      return SINTER_BOOL;
  }
  return SINTER_F32;
}

// The dtype the CPU reference holds a tensor of dtype `t` in: f16/bf16
// widen to f32 (exactly); everything else as it is.
DType Widened(DType t) { return t == DType::F16 || t == DType::BF16 ? DType::F32 : t; }

// The body with f16/bf16 storage widened to f32: the same f32 maths, the
// conversions at its edges become casts from f32 to f32 (the identity).
fmt::KernelBody Widen(fmt::KernelBody b) {
  for (DType& t : b.args) t = Widened(t);
  for (fmt::BodyInstr& in : b.instrs) in.type = Widened(in.type);
  return b;
}

int64_t NumElements(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// A host tensor: its bytes as the kernel reads them and, for the CPU
// reference, the same values in the widened dtype.
struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;  // dtype
  std::vector<uint8_t> wide;   // Widened(dtype); empty when the same

  const void* WideData() const { return wide.empty() ? bytes.data() : wide.data(); }
  int64_t size() const { return NumElements(dims); }
};

template <class T>
void Put(std::vector<uint8_t>& bytes, int64_t i, T v) {
  std::memcpy(bytes.data() + i * sizeof(T), &v, sizeof(T));
}
template <class T>
T Get(const std::vector<uint8_t>& bytes, int64_t i) {
  T v;
  std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
  return v;
}

// Random values: floats uniform in [-4, 4) (through the saturating ranges of
// sigmoid/tanh/hardswish, negative arguments for log/sqrt give NaN on both
// sides alike), rounded to the storage type; integers in [-3, 3] ([0, 6]
// for u8), bools half true.
HostTensor RandomTensor(DType t, const std::vector<int64_t>& dims, std::mt19937& rng) {
  HostTensor h;
  h.dtype = t;
  h.dims = dims;
  const int64_t n = h.size();
  h.bytes.resize(n * SizeOf(t));
  if (Widened(t) != t) h.wide.resize(n * sizeof(float));
  std::uniform_real_distribution<float> real(-4.f, 4.f);
  std::uniform_int_distribution<int> integer(-3, 3), bit(0, 1);
  for (int64_t i = 0; i < n; ++i) {
    switch (t) {
      case DType::F32:
        Put<float>(h.bytes, i, real(rng));
        break;
      case DType::F16: {
        const uint16_t b = passes::F32ToF16Bits(real(rng));
        Put<uint16_t>(h.bytes, i, b);
        Put<float>(h.wide, i, sinter_emu_fp::HalfToFloat(b));
        break;
      }
      case DType::BF16: {
        const uint16_t b = passes::F32ToBF16Bits(real(rng));
        Put<uint16_t>(h.bytes, i, b);
        Put<float>(h.wide, i, sinter_emu_fp::BFloat16ToFloat(b));
        break;
      }
      case DType::F64:
        Put<double>(h.bytes, i, real(rng));
        break;
      case DType::I64:
        Put<int64_t>(h.bytes, i, integer(rng));
        break;
      case DType::I32:
        Put<int32_t>(h.bytes, i, integer(rng));
        break;
      case DType::I8:
        Put<int8_t>(h.bytes, i, static_cast<int8_t>(integer(rng)));
        break;
      case DType::U8:
        Put<uint8_t>(h.bytes, i, static_cast<uint8_t>(integer(rng) + 3));
        break;
      case DType::BOOL:
        Put<uint8_t>(h.bytes, i, static_cast<uint8_t>(bit(rng)));
        break;
    }
  }
  return h;
}

// Element i of a tensor of dtype t, as a double (exact for every dtype here).
double ValueAt(const std::vector<uint8_t>& bytes, DType t, int64_t i) {
  switch (t) {
    case DType::F32:
      return Get<float>(bytes, i);
    case DType::F16:
      return sinter_emu_fp::HalfToFloat(Get<uint16_t>(bytes, i));
    case DType::BF16:
      return sinter_emu_fp::BFloat16ToFloat(Get<uint16_t>(bytes, i));
    case DType::F64:
      return Get<double>(bytes, i);
    case DType::I64:
      return static_cast<double>(Get<int64_t>(bytes, i));
    case DType::I32:
      return Get<int32_t>(bytes, i);
    case DType::I8:
      return Get<int8_t>(bytes, i);
    case DType::U8:
    case DType::BOOL:
      return Get<uint8_t>(bytes, i);
  }
  return 0;
}

// An f32 value rounded to float storage `t` as the kernel's store rounds it
// (to nearest even; beyond the largest finite value, infinity).
double RoundTo(DType t, double v) {
  const float f = static_cast<float>(v);
  switch (t) {
    case DType::F16:
      return sinter_emu_fp::HalfToFloat(passes::F32ToF16Bits(f));
    case DType::BF16:
      return sinter_emu_fp::BFloat16ToFloat(passes::F32ToBF16Bits(f));
    case DType::F32:
    case DType::F64:
    case DType::I64:
    case DType::I32:
    case DType::I8:
    case DType::U8:
    case DType::BOOL:
      return v;  // the CPU's result is of the kernel's own dtype
  }
  return v;
}

rt::TensorDesc Desc(const std::string& name, DType t, const std::vector<int64_t>& dims) {
  rt::TensorDesc d;
  d.name = name;
  d.dtype = ToSinter(t);
  d.dims = dims;
  d.num_elements = NumElements(dims);
  d.byte_size = static_cast<uint64_t>(d.num_elements) * SizeOf(t);
  return d;
}

// ---- The CPU reference ---------------------------------------------------------

// The operands' dtypes as the generated kernel reads them: an elementwise
// kernel's are its body's arguments; a reduction's are its prologue's
// arguments (or the storage type for the reduced tensor itself), the storage
// type for layer_norm's weight and bias, then the epilogue's arguments after
// its first (the normalised value).
std::vector<DType> OperandTypes(const cg::GeneratedKernel& k) {
  if (!k.reduction) return k.body.args;
  const DType storage = k.precision == cg::Precision::kF32   ? DType::F32
                        : k.precision == cg::Precision::kF16 ? DType::F16
                                                             : DType::BF16;
  std::vector<DType> types(k.inputs.size(), storage);
  if (k.has_prologue) {
    for (size_t i = 0; i < k.prologue.args.size() && i < types.size(); ++i)
      types[i] = k.prologue.args[i];
  }
  if (k.has_epilogue) {
    const size_t first = types.size() - (k.body.args.size() - 1);
    for (size_t i = 1; i < k.body.args.size(); ++i) types[first + i - 1] = k.body.args[i];
  }
  return types;
}

DType ResultType(const cg::GeneratedKernel& k) {
  if (!k.reduction) return k.body.result_type();
  return k.precision == cg::Precision::kF32   ? DType::F32
         : k.precision == cg::Precision::kF16 ? DType::F16
                                              : DType::BF16;
}

// The CPU's output for the kernel's inputs, in the widened result dtype.
absl::StatusOr<std::vector<uint8_t>> CpuReference(const cg::GeneratedKernel& k,
                                                  const std::vector<HostTensor>& in) {
  std::vector<rt::TensorDesc> descs;
  for (size_t i = 0; i < in.size(); ++i)
    descs.push_back(Desc(absl::StrCat("in", i), Widened(in[i].dtype), in[i].dims));
  std::vector<const rt::TensorDesc*> ptrs;
  for (const rt::TensorDesc& d : descs) ptrs.push_back(&d);
  std::vector<const void*> data;
  for (const HostTensor& t : in) data.push_back(t.WideData());
  const rt::TensorDesc y = Desc("out", Widened(ResultType(k)), k.output);
  std::vector<uint8_t> out(y.byte_size);
  auto error = [](const rt::Status& s) {
    return absl::InternalError(absl::StrCat("the CPU refuses it: ", s.message()));
  };

  if (!k.reduction) {
    rt::StatusOr<rt::FusedProgramPtr> p = rt::PlanFusedProgram(Widen(k.body), ptrs, y);
    if (!p.ok()) return error(p.status());
    rt::RunFusedProgram(*p.value(), data.data(), out.data(), nullptr);
    return out;
  }

  // The CPU backend's fused_reduction kernel, with the attributes and bodies
  // the artifact would give it.
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<fmt::Attr>> attrs;
  attrs.push_back(fmt::CreateAttr(fbb, fbb.CreateString("kind"), fmt::AttrKind::Str, 0, 0,
                                  fbb.CreateString(k.spec.kind)));
  attrs.push_back(fmt::CreateAttr(fbb, fbb.CreateString("axis"), fmt::AttrKind::Int, k.spec.axis));
  attrs.push_back(
      fmt::CreateAttr(fbb, fbb.CreateString("inputs"), fmt::AttrKind::Int, k.spec.prologue_inputs));
  attrs.push_back(
      fmt::CreateAttr(fbb, fbb.CreateString("eps"), fmt::AttrKind::Float, 0, k.spec.eps));
  fbb.Finish(
      fmt::CreateKernel(fbb, fbb.CreateString("fused_reduction"), 0, 0, fbb.CreateVector(attrs)));
  const fmt::Kernel* kernel = flatbuffers::GetRoot<fmt::Kernel>(fbb.GetBufferPointer());
  rt::Step step;
  step.kernel = kernel;
  if (k.has_prologue) step.bodies.push_back({rt::CodeRole::kPrologue, Widen(k.prologue)});
  if (k.has_epilogue) step.bodies.push_back({rt::CodeRole::kEpilogue, Widen(k.body)});
  const rt::Attrs attributes(kernel);
  rt::PrepareContext pc{attributes, ptrs, {&y}, nullptr, &step};
  rt::StatusOr<std::unique_ptr<rt::KernelParams>> params = rt::kFusedReductionOp.prepare(pc);
  if (!params.ok()) return error(params.status());
  if (rt::kFusedReductionOp.scratch_bytes(*params.value(), 1) != 0)
    return absl::InternalError("the CPU's fused_reduction asks for scratch memory");
  std::vector<rt::TensorDesc> tensors = descs;
  tensors.push_back(y);
  for (size_t i = 0; i < descs.size(); ++i) step.inputs.push_back(static_cast<int>(i));
  step.outputs.push_back(static_cast<int>(descs.size()));
  std::vector<void*> in_ptrs;
  for (const void* p : data) in_ptrs.push_back(const_cast<void*>(p));
  void* out_ptr = out.data();
  const rt::RunContext rc{&tensors, &step, in_ptrs.data(), &out_ptr, nullptr, nullptr};
  rt::kFusedReductionOp.run(*params.value(), rc);
  return out;
}

// ---- Launching a generated kernel ----------------------------------------------
//
// Every parameter of a generated kernel is a pointer (inputs, then the
// output), so it is called through a function type of that many void*
// parameters: the host ABI passes every pointer type alike, and the kernel
// lives in a separately compiled module.

constexpr size_t kMaxParams = 32;
using Ptr = void*;

template <size_t... I>
LaunchReport LaunchPointers(void* symbol, const LaunchOptions& o, dim3 grid, dim3 block,
                            const std::vector<void*>& args, std::index_sequence<I...>) {
  using Fn = void (*)(decltype((void)I, Ptr{})...);
  return Launch(o, reinterpret_cast<Fn>(symbol), grid, block, 0, args[I]...);
}
template <size_t N>
LaunchReport LaunchArity(void* symbol, const LaunchOptions& o, dim3 grid, dim3 block,
                         const std::vector<void*>& args) {
  return LaunchPointers(symbol, o, grid, block, args, std::make_index_sequence<N>());
}
template <size_t... N>
constexpr auto LaunchTable(std::index_sequence<N...>) {
  return std::array{&LaunchArity<N>...};
}

LaunchReport LaunchKernel(void* symbol, const LaunchOptions& o, dim3 grid, dim3 block,
                          const std::vector<void*>& args) {
  static constexpr auto kTable = LaunchTable(std::make_index_sequence<kMaxParams + 1>());
  return kTable.at(args.size())(symbol, o, grid, block, args);
}

// ---- The test ------------------------------------------------------------------

struct Config {
  cg::Precision precision;
  std::string layout;  // "nchw" or "auto"
  std::string Name() const { return absl::StrCat(cg::PrecisionName(precision), "/", layout); }
};

// The passes codegen::Compile runs for `--target cuda --precision P
// --layout L` (with --tf32 for f32 and layout auto), then its target check.
absl::Status CudaPipeline(ir::Graph& g, const Config& c) {
  passes::PassManager pm;
  const bool f32 = c.precision == cg::Precision::kF32;
  const bool tensor_cores = !f32 || c.layout == "auto";
  pm.SetDefaultOptions(
      "plan-layout",
      {{"target", "cuda"}, {"layout", c.layout}, {"tensor_cores", tensor_cores ? "1" : "0"}});
  if (absl::Status s = pm.AddPipeline("cuda"); !s.ok()) return s;
  if (!f32) {
    const char* pass = c.precision == cg::Precision::kF16 ? "convert-f16" : "convert-bf16";
    if (absl::Status s = pm.Add(absl::StrCat(pass, "{io=model}")); !s.ok()) return s;
  }
  if (absl::Status s = pm.Run(g); !s.ok()) return s;
  return codegen::CheckTargetSupport(g, ir::Target::kCuda);
}

// A distinct kernel of the model and what running it found.
struct Distinct {
  cg::GeneratedKernel gen;
  cg::CudaKernel kernel;
  std::string config;
};

// The worst error of one precision: the largest |cuda - cpu| / (rtol * |cpu|
// + atol) (1 = at the tolerance), with the element it was found at.
struct Worst {
  double ratio = 0, abs = 0, ref = 0, got = 0;
  int kernels = 0;
  std::string where;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

class CudaHostModelTest : public ::testing::Test {
 public:
  explicit CudaHostModelTest(testing::ModelCase c) : c_(std::move(c)) {}

  void TestBody() override {
    const auto start = std::chrono::steady_clock::now();
    frontend::ImportOptions opts;
    for (size_t i = 0; i < c_.shapes.size(); ++i)
      opts.inputs.push_back(
          {c_.shapes[i], c_.dtypes[i] == "i64" ? ir::DType::kI64 : ir::DType::kF32});
    absl::StatusOr<std::unique_ptr<ir::Graph>> graph = frontend::ImportTorchScript(c_.file, opts);
    ASSERT_TRUE(graph.ok()) << graph.status();
    bool convolutions = false;
    for (const auto& op : (*graph)->ops()) convolutions |= op->kind() == ir::OpKind::kConv2d;

    std::vector<Config> configs;
    for (cg::Precision p : {cg::Precision::kF32, cg::Precision::kF16, cg::Precision::kBF16}) {
      configs.push_back({p, "nchw"});
      if (convolutions) configs.push_back({p, "auto"});
    }
    std::map<std::string, int> index_of;  // kernel source (emitted as "sinter_gX") -> distinct
    std::vector<Distinct> distinct;
    std::map<std::string, Worst> worst;  // per precision
    int generated = 0, launched = 0, failures = 0;
    std::string layouts;  // NHWC convolutions per configuration
    double compile_s = 0, run_s = 0, reference_s = 0;
    for (const Config& config : configs) {
      SCOPED_TRACE(config.Name());
      std::unique_ptr<ir::Graph> g = (*graph)->Clone();
      const absl::Status compiled = CudaPipeline(*g, config);
      if (sinter::testing::RefusedByOpTable(compiled))
        GTEST_SKIP() << "the op table refuses it on CUDA: " << compiled.message();
      ASSERT_TRUE(compiled.ok()) << config.Name() << ": " << compiled;
      int convs = 0, nhwc = 0;
      for (const auto& op : g->ops()) {
        if (op->kind() != ir::OpKind::kConv2d) continue;
        ++convs;
        nhwc += op->HasAttr("layout") && op->GetStr("layout") == "NHWC";
      }
      if (convs > 0) absl::StrAppend(&layouts, " ", config.Name(), " ", nhwc, "/", convs);
      // Every generated kernel, as BuildCudaModule emits it.
      std::string source;
      const size_t first = distinct.size();
      for (const auto& op : g->ops()) {
        absl::StatusOr<std::vector<cg::GeneratedKernel>> kernels = cg::GeneratedKernels(*op);
        ASSERT_TRUE(kernels.ok()) << kernels.status();
        for (cg::GeneratedKernel& gk : *kernels) {
          ++generated;
          absl::StatusOr<cg::CudaKernel> probe = gk.Emit("sinter_gX");
          ASSERT_TRUE(probe.ok()) << gk.what << ": " << probe.status();
          auto [it, fresh] = index_of.emplace(probe->source, static_cast<int>(distinct.size()));
          if (!fresh) continue;
          absl::StatusOr<cg::CudaKernel> k = gk.Emit(absl::StrCat("sinter_g", it->second));
          ASSERT_TRUE(k.ok()) << gk.what << ": " << k.status();
          absl::StrAppend(&source, k->source, "\n");
          distinct.push_back({std::move(gk), *std::move(k), config.Name()});
        }
      }
      if (distinct.size() == first) continue;
      auto t0 = std::chrono::steady_clock::now();
      std::string error;
      const std::unique_ptr<Module> module = CompileModule(source, CompileOptions{}, &error);
      ASSERT_TRUE(module) << config.Name() << ": the kernels do not compile for the host:\n"
                          << error.substr(0, 20000);
      compile_s += Seconds(t0);
      for (size_t d = first; d < distinct.size(); ++d) {
        const Distinct& k = distinct[d];
        Worst& w = worst[cg::PrecisionName(config.precision)];
        bool ok = false;
        Run(*module, k, static_cast<unsigned>(d), &w, &run_s, &reference_s, &launched, &ok);
        // Each failing kernel reports (so that one run shows what a broken
        // emitter breaks), up to a few per model.
        if (!ok && ++failures == kMaxFailures)
          FAIL() << "stopping after " << kMaxFailures << " failing kernels";
      }
    }

    std::string errors;
    for (const auto& [p, w] : worst) {
      absl::StrAppend(&errors, " ", p, " ", absl::StrFormat("%.3g", w.ratio), " (abs ",
                      absl::StrFormat("%.3g", w.abs), ", ", w.kernels, " kernels)");
    }
    std::printf(
        "%s: %d generated kernels in %zu configurations, %zu distinct, %d run; worst error / "
        "tolerance:%s; compile %.1f s, run %.1f s, CPU %.1f s, total %.1f s\n",
        c_.name.c_str(), generated, configs.size(), distinct.size(), launched, errors.c_str(),
        compile_s, run_s, reference_s, Seconds(start));
    if (!layouts.empty()) std::printf("  NHWC convolutions:%s\n", layouts.c_str());
    for (const auto& [p, w] : worst) {
      if (!w.where.empty())
        std::printf("  worst %s: %s: cuda %.9g, cpu %.9g\n", p.c_str(), w.where.c_str(), w.got,
                    w.ref);
    }
    RecordProperty("generated_kernels", generated);
    RecordProperty("distinct_kernels", static_cast<int>(distinct.size()));
  }

 private:
  static constexpr int kMaxFailures = 5;

  // Runs distinct kernel `d` on the executor and compares it with the CPU;
  // *ok when it ran and every element is within the tolerance.
  void Run(const Module& module, const Distinct& k, unsigned d, Worst* worst, double* run_s,
           double* reference_s, int* launched, bool* ok) {
    const cg::GeneratedKernel& gk = k.gen;
    const std::string label =
        absl::StrCat(k.kernel.name, " (", gk.what, ", ", k.config, ", ", k.kernel.plan, ")");
    SCOPED_TRACE(label);
    const int64_t grid = k.kernel.launch.GridSize(kSmCount);
    if (grid == 0) {  // an empty output: the runtime launches nothing
      *ok = true;
      return;
    }
    void* symbol = module.Symbol(k.kernel.name);
    ASSERT_NE(symbol, nullptr) << "the module has no " << k.kernel.name;
    const std::vector<DType> types = OperandTypes(gk);
    ASSERT_EQ(types.size(), gk.inputs.size());
    ASSERT_LE(types.size() + 1, kMaxParams) << "more parameters than this test launches";
    std::mt19937 rng(1234567u + d);
    std::vector<HostTensor> in;
    for (size_t i = 0; i < types.size(); ++i)
      in.push_back(RandomTensor(types[i], gk.inputs[i], rng));
    std::vector<std::unique_ptr<DeviceBuffer<uint8_t>>> buffers;
    std::vector<void*> args;
    for (size_t i = 0; i < in.size(); ++i) {
      buffers.push_back(
          std::make_unique<DeviceBuffer<uint8_t>>(in[i].bytes, absl::StrCat("in", i)));
      args.push_back(buffers.back()->get());
    }
    // A conv2d/linear epilogue runs in place on the library's output (the
    // runtime's CUDA backend passes that buffer as input 0 and as `out`).
    const DType result = ResultType(gk);
    const int64_t n = NumElements(gk.output);
    const bool in_place = gk.role == format::CodeRole::Epilogue;
    if (in_place) {
      ASSERT_EQ(in[0].dtype, result);
      ASSERT_EQ(in[0].dims, gk.output);
      args.push_back(args[0]);
    } else {
      buffers.push_back(std::make_unique<DeviceBuffer<uint8_t>>(n * SizeOf(result), "out"));
      args.push_back(buffers.back()->get());
    }
    LaunchOptions o;
    o.name = label;
    auto t0 = std::chrono::steady_clock::now();
    const LaunchReport r =
        LaunchKernel(symbol, o, dim3(static_cast<unsigned>(grid)),
                     dim3(static_cast<unsigned>(k.kernel.launch.threads_per_block)), args);
    *run_s += Seconds(t0);
    ASSERT_TRUE(r.ok()) << "the executor stopped the kernel: " << r.message;
    ++*launched;
    const std::vector<uint8_t> got(static_cast<uint8_t*>(args.back()),
                                   static_cast<uint8_t*>(args.back()) + n * SizeOf(result));

    t0 = std::chrono::steady_clock::now();
    absl::StatusOr<std::vector<uint8_t>> want = CpuReference(gk, in);
    *reference_s += Seconds(t0);
    ASSERT_TRUE(want.ok()) << want.status();
    const Tolerance tol = ToleranceFor(result);
    const DType wide = Widened(result);
    int64_t bad = 0;
    std::string first_bad;
    for (int64_t i = 0; i < n; ++i) {
      const double g = ValueAt(got, result, i), w = ValueAt(*want, wide, i);
      if (std::isnan(g) && std::isnan(w)) continue;
      if (g == w || g == RoundTo(result, w)) continue;  // equal infinities too
      const double diff = std::fabs(g - w), limit = tol.rtol * std::fabs(w) + tol.atol;
      // NaN against a number, or any difference where exactness is due: inf.
      const double ratio = limit > 0 && !std::isnan(diff) ? diff / limit : INFINITY;
      if (ratio > 1 && bad++ == 0)
        first_bad = absl::StrFormat("element %d: cuda %.9g, cpu %.9g", i, g, w);
      if (ratio > worst->ratio)
        *worst = Worst{ratio, diff, w, g, worst->kernels, absl::StrCat(label, " element ", i)};
    }
    ++worst->kernels;
    *ok = bad == 0;
    EXPECT_EQ(bad, 0) << bad << " of " << n << " elements beyond the tolerance (rtol " << tol.rtol
                      << ", atol " << tol.atol << "); first: " << first_bad;
  }

  testing::ModelCase c_;
};

}  // namespace
}  // namespace sinter::cuda_emu

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const std::string models = sinter::testing::ModelsDir(SINTER_DEFAULT_MODELS_DIR);
  for (const sinter::testing::ModelCase& c : sinter::testing::ReadManifest(models)) {
    if (c.group != "model" && c.group != "model_extra") continue;
    ::testing::RegisterTest(
        "CudaHostModels", c.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
        [c]() -> ::testing::Test* { return new sinter::cuda_emu::CudaHostModelTest(c); });
  }
  return RUN_ALL_TESTS();
}
