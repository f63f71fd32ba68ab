// The CUDA target: what its backend requires of each op, and the module build
// (see cuda_target.h). The module build's stages:
//  1. per op, the generated kernel it needs (fused programs, reductions, the
//     bias + epilogue of conv2d/linear: GeneratedKernels, which the host
//     conformance test tests/cuda_emu/models_test.cc runs too, so that it
//     tests exactly what ships), deduplicated by source so that
//     identical kernels of a model (ResNet's many conv + add + relu of one
//     shape) compile once;
//  2. one translation unit: kernels/cuda/params.h, kernels/cast.h,
//     kernels/grid_sample.h,
//     kernels/cuda/kernels.cuh,
//     then the generated kernels;
//  3. NVRTC: a cubin per architecture, PTX of the newest.
#include "codegen/cuda/cuda_target.h"

#include <chrono>
#include <map>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "codegen/cuda/embedded_kernels.h"
#include "codegen/cuda/nvrtc.h"
#include "ir/kernel_body.h"
#include "ir/shape_rules.h"
#include "ir/status_macros.h"
#include "kernels/cuda/params.h"

namespace sinter::codegen::cuda {
namespace {

using ir::OpKind;

std::vector<int64_t> Extents(const ir::Value* v) { return v->type().shape.extents(); }

// Storage precision of a float value; the graph's dtypes say it.
absl::StatusOr<Precision> PrecisionOf(const ir::Value* v) {
  switch (v->type().dtype) {
    case ir::DType::kF32:
      return Precision::kF32;
    case ir::DType::kF16:
      return Precision::kF16;
    case ir::DType::kBF16:
      return Precision::kBF16;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("CUDA kernels store f32, f16 or bf16, not ", ir::ToString(v->type())));
  }
}

bool IsFloatStorage(ir::DType d) {
  return d == ir::DType::kF32 || d == ir::DType::kF16 || d == ir::DType::kBF16;
}

// The casts kernels/cuda/kernels.cuh has.
bool HasCast(ir::DType from, ir::DType to) {
  using D = ir::DType;
  static const std::set<std::pair<D, D>> kCasts = {
      {D::kF32, D::kF16}, {D::kF16, D::kF32}, {D::kF32, D::kBF16}, {D::kBF16, D::kF32},
      {D::kI64, D::kF32}, {D::kI32, D::kF32}, {D::kF32, D::kI64},  {D::kF32, D::kI32}};
  return from == to || kCasts.count({from, to}) != 0;
}

// Matmul operands the batched cuBLASLt call can express: rank >= 2, and each
// operand's batch dims either equal to the broadcast batch or all ones.
bool MatmulSupported(const ir::Operation& op, std::string* why) {
  const auto a = Extents(op.operand(0)), b = Extents(op.operand(1));
  if (a.size() < 2 || b.size() < 2) {
    *why = "matmul of a vector";
    return false;
  }
  const auto out = Extents(op.result());
  const std::vector<int64_t> batch(out.begin(), out.end() - 2);
  for (const auto* s : {&a, &b}) {
    std::vector<int64_t> bs(s->begin(), s->end() - 2);
    int64_t n = 1;
    for (int64_t e : bs) n *= e;
    bool full = bs.size() == batch.size() && bs == batch;
    if (!full && n != 1) {
      *why = "matmul with partly broadcast batch dims";
      return false;
    }
  }
  return true;
}

std::string SoftmaxRule(const ir::Operation& op) {
  const int64_t rank = op.operand(0)->type().shape.rank();
  const int64_t axis = op.GetInt("axis");
  if (axis != rank - 1 && axis != -1) return "softmax over an axis other than the last";
  return IsFloatStorage(op.result()->type().dtype) ? "" : "a non-float result";
}

std::string CompareRule(const ir::Operation& op) {
  return IsFloatStorage(op.operand(0)->type().dtype) ? "" : "a comparison of non-floats";
}

std::string FloatResult(const ir::Operation& op) {
  return IsFloatStorage(op.result()->type().dtype) ? "" : "a non-float result";
}

}  // namespace

// What the backend's row of each op requires (ops.def says which ops the
// CUDA target runs at all); ops not listed require nothing more.
std::string CudaConstraint(const ir::Operation& op) {
  using Rule = std::string (*)(const ir::Operation&);
  static const auto* rules = new std::map<OpKind, Rule>{
      // (fused_elementwise: any body; the emitter holds every dtype a
      // body may, and the body's own check ran.)
      {OpKind::kFusedReduction, FloatResult},
      {OpKind::kLayerNorm, FloatResult},
      {OpKind::kConv2d, FloatResult},
      {OpKind::kLinear, FloatResult},
      {OpKind::kMaxPool2d, FloatResult},
      {OpKind::kAvgPool2d, FloatResult},
      {OpKind::kAdaptiveAvgPool2d, FloatResult},
      {OpKind::kAdaptiveMaxPool2d, FloatResult},
      {OpKind::kGridSample, FloatResult},
      {OpKind::kReduceSum, FloatResult},
      {OpKind::kReduceMean, FloatResult},
      {OpKind::kReduceMax, FloatResult},
      {OpKind::kBatchNorm, FloatResult},
      {OpKind::kWhere,
       [](const ir::Operation& op) -> std::string {
         return FloatResult(op).empty() ? "" : "where of non-float values";
       }},
      {OpKind::kSoftmax, SoftmaxRule},
      {OpKind::kLogSoftmax, SoftmaxRule},
      {OpKind::kMatmul,
       [](const ir::Operation& op) {
         std::string why;
         return MatmulSupported(op, &why) ? std::string() : why;
       }},
      {OpKind::kGt, CompareRule},
      {OpKind::kGe, CompareRule},
      {OpKind::kLt, CompareRule},
      {OpKind::kLe, CompareRule},
      {OpKind::kEq, CompareRule},
      {OpKind::kNe, CompareRule},
      {OpKind::kEmbedding,
       [](const ir::Operation& op) -> std::string {
         return op.operand(1)->type().dtype == ir::DType::kI64 && FloatResult(op).empty()
                    ? ""
                    : "embedding other than float weights and i64 indices";
       }},
      {OpKind::kCast,
       [](const ir::Operation& op) -> std::string {
         const ir::DType from = op.operand(0)->type().dtype, to = op.result()->type().dtype;
         return HasCast(from, to) ? ""
                                  : absl::StrCat("cast from ", std::string(ir::DTypeName(from)),
                                                 " to ", std::string(ir::DTypeName(to)));
       }},
  };
  auto it = rules->find(op.kind());
  return it == rules->end() ? "" : it->second(op);
}

namespace {

// The body of a conv2d/linear's generated kernel, with its bias as argument 1:
//   bias only:        add(%0, %1)
//   bias + epilogue:  add(%0, %1), then the epilogue with its argument 0 the
//                     biased result (as on the CPU) and its other arguments
//                     shifted by one;
// so one generated kernel applies what cuDNN/cuBLASLt could not fuse. The
// add is f32, its operands cast from their storage; the epilogue's own cast
// of its argument 0 then reads f32, which is the identity.
}  // namespace

format::KernelBody EpilogueWithBias(const format::KernelBody* epilogue, format::DType storage,
                                    format::DType bias) {
  using format::BodyInstr;
  using format::BodyOp;
  using format::DType;
  format::KernelBody b;
  b.args = {storage, bias};
  if (epilogue != nullptr)
    b.args.insert(b.args.end(), epilogue->args.begin() + 1, epilogue->args.end());
  auto next = [&] { return static_cast<int32_t>(b.args.size() + b.instrs.size()); };
  auto f32 = [&](int32_t v, DType t) {
    if (t == DType::F32) return v;
    b.instrs.push_back(BodyInstr{BodyOp::kCast, DType::F32, v});
    return next() - 1;
  };
  const int32_t x = f32(0, storage), y = f32(1, bias);
  b.instrs.push_back(BodyInstr{BodyOp::kAdd, DType::F32, x, y});
  const int32_t sum = next() - 1;
  if (epilogue == nullptr) {
    b.result = storage == DType::F32 ? sum : next();
    if (storage != DType::F32) b.instrs.push_back(BodyInstr{BodyOp::kCast, storage, sum});
    return b;
  }
  // Epilogue values: argument 0 -> sum, argument k -> k + 1, instruction j
  // -> the j-th appended.
  const int32_t n = static_cast<int32_t>(epilogue->args.size());
  const int32_t first = next();
  auto map = [&](int32_t v) -> int32_t {
    if (v < 0) return v;
    if (v == 0) return sum;
    return v < n ? v + 1 : first + (v - n);
  };
  for (BodyInstr in : epilogue->instrs) {
    in.a = map(in.a);
    in.b = map(in.b);
    in.c = map(in.c);
    b.instrs.push_back(in);
  }
  b.result = map(epilogue->result);
  return b;
}

absl::StatusOr<CudaTargetOptions> ParseCudaTarget(const std::string& target) {
  CudaTargetOptions o;
  if (target == "cuda") return o;
  if (target.rfind("cuda:", 0) != 0)
    return absl::InvalidArgumentError(absl::StrCat("unknown target '", target, "'"));
  o.archs.clear();
  const std::string list = target.substr(5);
  for (absl::string_view a : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    int v = 0;
    absl::string_view digits = a.substr(a.rfind('_') + 1);
    if (a.substr(0, 3) != "sm_" || !absl::SimpleAtoi(digits, &v) || v < 75 || v > 200) {
      return absl::InvalidArgumentError(
          absl::StrCat("target '", target, "': '", a, "' is not an architecture like sm_90"));
    }
    o.archs.emplace_back(a);
  }
  if (o.archs.empty()) return absl::InvalidArgumentError("target 'cuda:' names no architecture");
  return o;
}

absl::StatusOr<CudaKernel> GeneratedKernel::Emit(const std::string& name) const {
  if (!reduction) return EmitFusedKernel(name, body, inputs, output);
  FusedReductionSpec s = spec;
  s.prologue = has_prologue ? &prologue : nullptr;
  s.epilogue = has_epilogue ? &body : nullptr;
  return EmitFusedReductionKernel(name, s, inputs, output, precision);
}

absl::StatusOr<std::vector<GeneratedKernel>> GeneratedKernels(const ir::Operation& op) {
  std::vector<GeneratedKernel> out;
  const std::string what =
      absl::StrCat(std::string(op.name()), op.loc().empty() ? "" : " at " + op.loc());
  const int n = op.num_operands();
  std::vector<std::vector<int64_t>> shapes;
  for (const ir::Value* v : op.operands()) shapes.push_back(Extents(v));
  const std::vector<int64_t> y = op.num_results() ? Extents(op.result()) : std::vector<int64_t>{};
  // What the compiler generates for an op: its body (the op table's
  // GENERATED strategy), or the epilogue of a library call. Hand-written
  // kernels and plain library calls need nothing here.
  const OpKind kind = op.kind();
  if (kind == OpKind::kFusedElementwise) {
    GeneratedKernel k;
    k.what = what;
    ASSIGN_OR_RETURN(k.body, ir::LowerBody(*op.region("body")));
    k.inputs = std::move(shapes);
    k.output = y;
    out.push_back(std::move(k));
  } else if (kind == OpKind::kFusedReduction || kind == OpKind::kSoftmax ||
             kind == OpKind::kLogSoftmax || kind == OpKind::kLayerNorm) {
    GeneratedKernel k;
    k.what = what;
    k.reduction = true;
    ASSIGN_OR_RETURN(k.precision, PrecisionOf(op.result()));
    if (kind == OpKind::kFusedReduction) {
      k.spec.kind = op.GetStr("kind");
      k.spec.prologue_inputs = static_cast<int>(op.GetInt("inputs"));
      if (const ir::Graph* r = op.region("prologue")) {
        ASSIGN_OR_RETURN(k.prologue, ir::LowerBody(*r));
        k.has_prologue = true;
      }
      if (const ir::Graph* r = op.region("epilogue")) {
        ASSIGN_OR_RETURN(k.body, ir::LowerBody(*r));
        k.has_epilogue = true;
      }
    } else {
      k.spec.kind = std::string(op.name());
    }
    k.spec.axis = op.GetInt("axis");
    if (op.HasAttr("eps")) k.spec.eps = static_cast<float>(op.GetFloat("eps"));
    k.inputs = std::move(shapes);
    k.output = y;
    out.push_back(std::move(k));
  } else if (kind == OpKind::kConv2d || kind == OpKind::kLinear) {
    const ir::Graph* region = op.region("epilogue");
    const bool has_bias = n >= 3;
    if (!has_bias && region == nullptr) return out;
    GeneratedKernel k;
    k.role = format::CodeRole::Epilogue;
    k.what = what + " epilogue";
    format::KernelBody epilogue;
    if (region != nullptr) {
      ASSIGN_OR_RETURN(epilogue, ir::LowerBody(*region));
    }
    k.inputs = {y};
    if (has_bias) {
      k.body =
          EpilogueWithBias(region ? &epilogue : nullptr, ir::ToFormat(op.result()->type().dtype),
                           ir::ToFormat(op.operand(2)->type().dtype));
      std::vector<int64_t> bias = shapes[2];
      // Per channel: NCHW's dim 1; channels-last (and linear) the last
      // dim, where the [K] bias broadcasts as it is.
      ASSIGN_OR_RETURN(bool nhwc, ir::ChannelsLast(op));
      if (kind == OpKind::kConv2d && !nhwc) bias = {1, bias.at(0), 1, 1};
      k.inputs.push_back(bias);
    } else {
      k.body = std::move(epilogue);
    }
    for (int i = 3; i < n; ++i) k.inputs.push_back(shapes[i]);
    k.output = y;
    out.push_back(std::move(k));
  }
  return out;
}

absl::StatusOr<CudaModule> BuildCudaModule(const ir::Graph& g, const CudaTargetOptions& options) {
  CudaModule m;
  std::map<std::string, std::string> name_of;  // source emitted as "sinter_gX" -> its name
  std::string generated;
  // Emits (or finds) the kernel and returns its name and launch.
  auto add = [&](const std::string& what, auto emit) -> absl::StatusOr<CudaKernel> {
    absl::StatusOr<CudaKernel> probe = emit("sinter_gX");
    if (!probe.ok())
      return absl::Status(probe.status().code(),
                          what + ": " + std::string(probe.status().message()));
    auto [it, fresh] = name_of.emplace(probe->source, "");
    if (fresh) {
      it->second = absl::StrCat("sinter_g", m.generated_kernels++);
      ASSIGN_OR_RETURN(CudaKernel k, emit(it->second));
      absl::StrAppend(&generated, k.source, "\n");
    }
    probe->name = it->second;
    return probe;
  };
  std::map<std::string, int> block_of;  // generated kernel -> threads per block
  auto record = [&](const ir::Operation* op, format::CodeRole role, const CudaKernel& k) {
    m.code[op].push_back({role, k.name, k.launch.threads_per_block, k.launch.work_items,
                          k.launch.max_blocks_per_sm});
    block_of[k.name] = k.launch.threads_per_block;
  };

  for (const auto& op : g.ops()) {
    ASSIGN_OR_RETURN(std::vector<GeneratedKernel> kernels, GeneratedKernels(*op));
    for (const GeneratedKernel& gk : kernels) {
      ASSIGN_OR_RETURN(CudaKernel k,
                       add(gk.what, [&](const std::string& name) { return gk.Emit(name); }));
      record(op.get(), gk.role, k);
    }
  }

  m.source = absl::StrCat("// sinter CUDA module: hand-written kernels, then ", m.generated_kernels,
                          " generated kernels\n", kCudaParamsH, "\n", kCastH, "\n", kGridSampleH,
                          "\n", kCudaKernelsCuh, "\n", generated);
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < options.archs.size(); ++i) {
    const std::string& arch = options.archs[i];
    const bool ptx = options.ptx && i + 1 == options.archs.size();
    ASSIGN_OR_RETURN(CompiledKernel bin, CompileCuda(m.source, "sinter_module.cu", arch, ptx));
    m.images.push_back({arch, false, std::string(bin.cubin.begin(), bin.cubin.end())});
    if (ptx) m.images.push_back({"compute_" + arch.substr(3), true, bin.ptx});
    const SmLimits* sm = FindSmLimits(arch);
    for (KernelResources& r : bin.resources) {
      KernelUsage u;
      auto it = block_of.find(r.kernel);
      u.generated = it != block_of.end();
      u.threads_per_block = u.generated ? it->second : SINTER_CUDA_HAND_BLOCK;
      // An architecture the limits table lacks still reports its resources.
      if (sm != nullptr) u.occupancy = ComputeOccupancy(r, u.threads_per_block, 0, *sm);
      u.resources = std::move(r);
      m.usage.push_back(std::move(u));
    }
  }
  m.nvrtc_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return m;
}

}  // namespace sinter::codegen::cuda
