// The CUDA target: support check, elementwise wrapping and the module build
// (see cuda_target.h). The module build's stages:
//  1. per op, the generated kernel it needs (fused programs, reductions, the
//     bias + epilogue of conv2d/linear), deduplicated by source so that
//     identical kernels of a model (ResNet's many conv + add + relu of one
//     shape) compile once;
//  2. one translation unit: kernels/cuda/params.h, kernels/cuda/kernels.cuh,
//     then the generated kernels;
//  3. NVRTC: a cubin per architecture, PTX of the newest.
#include "codegen/cuda/cuda_target.h"

#include <chrono>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "codegen/cuda/embedded_kernels.h"
#include "codegen/cuda/nvrtc.h"
#include "ir/shape_rules.h"
#include "ir/status_macros.h"
#include "passes/fusion_util.h"

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

// Why the CUDA backend cannot run `op`, or "" when it can.
std::string Unsupported(const ir::Operation& op) {
  std::string why;
  for (int i = 0; i < op.num_operands(); ++i) {
    if (!op.operand(i)->type().shape.is_static()) return "dynamic shapes";
  }
  const ir::DType out = op.num_results() ? op.result()->type().dtype : ir::DType::kF32;
  switch (op.kind()) {
    case OpKind::kConst:
    case OpKind::kReshape:
    case OpKind::kTranspose:
    case OpKind::kConcat:
    case OpKind::kSlice:
    case OpKind::kExpand:
      return "";
    case OpKind::kFusedElementwise:
    case OpKind::kFusedReduction:
    case OpKind::kLayerNorm:
    case OpKind::kConv2d:
    case OpKind::kLinear:
    case OpKind::kMaxPool2d:
    case OpKind::kAvgPool2d:
    case OpKind::kAdaptiveAvgPool2d:
    case OpKind::kAdaptiveMaxPool2d:
    case OpKind::kReduceSum:
    case OpKind::kReduceMean:
    case OpKind::kReduceMax:
    case OpKind::kBatchNorm:
      return IsFloatStorage(out) ? "" : "a non-float result";
    case OpKind::kSoftmax:
    case OpKind::kLogSoftmax: {
      const int64_t rank = op.operand(0)->type().shape.rank();
      const int64_t axis = op.GetInt("axis");
      if (axis != rank - 1 && axis != -1) return "softmax over an axis other than the last";
      return IsFloatStorage(out) ? "" : "a non-float result";
    }
    case OpKind::kMatmul:
      return MatmulSupported(op, &why) ? "" : why;
    case OpKind::kGt:
    case OpKind::kGe:
    case OpKind::kLt:
    case OpKind::kLe:
    case OpKind::kEq:
    case OpKind::kNe:
      return IsFloatStorage(op.operand(0)->type().dtype) ? "" : "a comparison of non-floats";
    case OpKind::kWhere:
      return IsFloatStorage(out) ? "" : "where of non-float values";
    case OpKind::kEmbedding:
      return op.operand(1)->type().dtype == ir::DType::kI64 && IsFloatStorage(out)
                 ? ""
                 : "embedding other than float weights and i64 indices";
    case OpKind::kCast:
      return HasCast(op.operand(0)->type().dtype, out)
                 ? ""
                 : absl::StrCat("cast from ",
                                std::string(ir::DTypeName(op.operand(0)->type().dtype)), " to ",
                                std::string(ir::DTypeName(out)));
    default:  // elementwise ops were wrapped into fused_elementwise already
      return "no CUDA kernel";
  }
}

// The fused program of a conv2d/linear with its bias as $1:
//   bias only:        t0 = add $0 $1
//   bias + epilogue:  t0 = add $0 $1; <epilogue with $0 -> t0 (the epilogue's
//                     $0 is the biased result, as on the CPU), $k -> $k+1 for
//                     k >= 1, tK -> tK+1>
// so one generated kernel applies what cuDNN/cuBLASLt could not fuse.
}  // namespace

std::string EpilogueWithBias(const std::string& epilogue) {
  std::string out = "t0 = add $0 $1";
  if (epilogue.empty()) return out;
  for (absl::string_view instr : absl::StrSplit(epilogue, ';', absl::SkipWhitespace())) {
    std::vector<std::string> tokens;
    for (absl::string_view tok : absl::StrSplit(instr, ' ', absl::SkipEmpty())) {
      int64_t k;
      if (tok.size() > 1 && tok[0] == '$' && absl::SimpleAtoi(tok.substr(1), &k)) {
        // The epilogue's $0 is the result with its bias: the add's t0.
        tokens.push_back(k == 0 ? std::string("t0") : absl::StrCat("$", k + 1));
      } else if (tok.size() > 1 && tok[0] == 't' && absl::SimpleAtoi(tok.substr(1), &k)) {
        tokens.push_back(absl::StrCat("t", k + 1));
      } else {
        tokens.emplace_back(tok);
      }
    }
    absl::StrAppend(&out, "; ", absl::StrJoin(tokens, " "));
  }
  return out;
}

namespace {

// What a library call may fuse instead of the generated epilogue: an
// epilogue of just relu or tanh-GELU (cuDNN and cuBLASLt have both).
std::string FusableActivation(const ir::Operation& op) {
  if (!op.HasAttr("epilogue")) return "";
  const std::string& e = op.GetStr("epilogue");
  if (e == "t0 = relu $0") return "relu";
  if (e == "t0 = gelu_tanh $0") return "gelu_tanh";
  return "-";  // something else: no library fusion of the epilogue
}

}  // namespace

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

absl::Status CheckCudaSupport(const ir::Graph& g) {
  struct Seen {
    int count = 0;
    std::string first_loc, why;
  };
  std::map<std::string, Seen> bad;
  for (const auto& op : g.ops()) {
    std::string why = Unsupported(*op);
    if (why.empty()) continue;
    Seen& s = bad[std::string(op->name())];
    if (s.count++ == 0) s.first_loc = op->loc(), s.why = why;
  }
  if (bad.empty()) return absl::OkStatus();
  std::vector<std::string> parts;
  for (const auto& [name, s] : bad) {
    parts.push_back(absl::StrCat(name, " x", s.count, " (", s.why, ")",
                                 s.first_loc.empty() ? "" : ", first at " + s.first_loc));
  }
  return absl::UnimplementedError(
      absl::StrCat("the CUDA target cannot run: ", absl::StrJoin(parts, "; ")));
}

absl::Status WrapElementwise(ir::Graph& g) {
  for (auto it = g.ops().begin(); it != g.ops().end();) {
    ir::Operation* op = (it++)->get();
    if (op->kind() == OpKind::kFusedElementwise || passes::ProgramOp(*op).empty()) continue;
    std::string program;
    std::vector<ir::Value*> inputs;
    if (!passes::ProgramOf(op, &program, &inputs)) continue;
    ir::Builder b(&g, g.Position(op));
    b.SetLoc(op->loc());
    ASSIGN_OR_RETURN(ir::Value * v,
                     b.Make(OpKind::kFusedElementwise, inputs, {{"program", program}}));
    // The fused op's broadcast must give the same type (scalars became literals).
    if (v->type() != op->result()->type()) {
      g.Erase(v->def());
      continue;
    }
    op->result()->ReplaceAllUsesWith(v);
    for (size_t o = 0; o < g.outputs().size(); ++o)
      if (g.outputs()[o] == op->result()) g.SetOutput(static_cast<int>(o), v);
    g.Erase(op);
  }
  return absl::OkStatus();
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
  auto record = [&](const ir::Operation* op, const std::string& prefix, const CudaKernel& k) {
    auto& a = m.attrs[op];
    a.emplace_back(prefix + "_fn", ir::Attribute(k.name));
    a.emplace_back(prefix + "_block",
                   ir::Attribute(static_cast<int64_t>(k.launch.threads_per_block)));
    a.emplace_back(prefix + "_items", ir::Attribute(k.launch.work_items));
    a.emplace_back(prefix + "_max_blocks_per_sm",
                   ir::Attribute(static_cast<int64_t>(k.launch.max_blocks_per_sm)));
  };

  for (const auto& op : g.ops()) {
    const std::string what =
        absl::StrCat(std::string(op->name()), op->loc().empty() ? "" : " at " + op->loc());
    const int n = op->num_operands();
    std::vector<std::vector<int64_t>> shapes;
    for (const ir::Value* v : op->operands()) shapes.push_back(Extents(v));
    const std::vector<int64_t> out =
        op->num_results() ? Extents(op->result()) : std::vector<int64_t>{};
    switch (op->kind()) {
      case OpKind::kFusedElementwise: {
        ASSIGN_OR_RETURN(Precision p, PrecisionOf(op->result()));
        ASSIGN_OR_RETURN(CudaKernel k, add(what, [&](const std::string& name) {
                           return EmitFusedKernel(name, op->GetStr("program"), shapes, out, p);
                         }));
        record(op.get(), "cuda", k);
        break;
      }
      case OpKind::kFusedReduction:
      case OpKind::kSoftmax:
      case OpKind::kLogSoftmax:
      case OpKind::kLayerNorm: {
        ASSIGN_OR_RETURN(Precision p, PrecisionOf(op->result()));
        FusedReductionSpec spec;
        if (op->kind() == OpKind::kFusedReduction) {
          spec.kind = op->GetStr("kind");
          spec.prologue_inputs = static_cast<int>(op->GetInt("inputs"));
          if (op->HasAttr("prologue")) spec.prologue = op->GetStr("prologue");
          if (op->HasAttr("epilogue")) spec.epilogue = op->GetStr("epilogue");
        } else {
          spec.kind = std::string(op->name());
        }
        spec.axis = op->GetInt("axis");
        if (op->HasAttr("eps")) spec.eps = static_cast<float>(op->GetFloat("eps"));
        ASSIGN_OR_RETURN(CudaKernel k, add(what, [&](const std::string& name) {
                           return EmitFusedReductionKernel(name, spec, shapes, out, p);
                         }));
        record(op.get(), "cuda", k);
        break;
      }
      case OpKind::kConv2d:
      case OpKind::kLinear: {
        const bool has_epilogue = op->HasAttr("epilogue");
        const bool has_bias = n >= 3;
        m.attrs[op.get()].emplace_back("cuda_fused_activation",
                                       ir::Attribute(has_epilogue ? FusableActivation(*op) : ""));
        if (!has_bias && !has_epilogue) break;
        ASSIGN_OR_RETURN(Precision p, PrecisionOf(op->result()));
        std::string program;
        std::vector<std::vector<int64_t>> in{out};
        if (has_bias) {
          program = EpilogueWithBias(has_epilogue ? op->GetStr("epilogue") : "");
          std::vector<int64_t> bias = shapes[2];
          // Per channel: NCHW's dim 1; channels-last (and linear) the last
          // dim, where the [K] bias broadcasts as it is.
          ASSIGN_OR_RETURN(bool nhwc, ir::ChannelsLast(*op));
          if (op->kind() == OpKind::kConv2d && !nhwc) bias = {1, bias.at(0), 1, 1};
          in.push_back(bias);
        } else {
          program = op->GetStr("epilogue");
        }
        for (int i = 3; i < n; ++i) in.push_back(shapes[i]);
        ASSIGN_OR_RETURN(CudaKernel k, add(what + " epilogue", [&](const std::string& name) {
                           return EmitFusedKernel(name, program, in, out, p);
                         }));
        record(op.get(), "cuda_epilogue", k);
        break;
      }
      default:
        break;  // hand-written kernels or library calls: nothing generated
    }
  }

  m.source =
      absl::StrCat("// sinter CUDA module: hand-written kernels, then ", m.generated_kernels,
                   " generated kernels\n", kCudaParamsH, "\n", kCudaKernelsCuh, "\n", generated);
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < options.archs.size(); ++i) {
    const std::string& arch = options.archs[i];
    const bool ptx = options.ptx && i + 1 == options.archs.size();
    ASSIGN_OR_RETURN(CompiledKernel bin, CompileCuda(m.source, "sinter_module.cu", arch, ptx));
    m.images.push_back({arch, false, std::string(bin.cubin.begin(), bin.cubin.end())});
    if (ptx) m.images.push_back({"compute_" + arch.substr(3), true, bin.ptx});
  }
  m.nvrtc_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return m;
}

}  // namespace sinter::codegen::cuda
