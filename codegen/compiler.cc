#include "codegen/compiler.h"

#include <chrono>
#include <unordered_set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "codegen/artifact_writer.h"
#include "codegen/cuda/cuda_target.h"
#include "codegen/target_support.h"
#include "ir/kernel_body.h"
#include "ir/status_macros.h"
#include "ir/verifier.h"
#include "passes/fusion_util.h"
#include "passes/memory_plan.h"
#include "runtime/format/file.h"
#include "sinter/sinter.h"
#if SINTER_HAVE_LLVM
#include "codegen/cpu/llvm_emitter.h"
#endif

namespace sinter::codegen {
namespace {

std::vector<CompileReport::Segment> Partition(const ir::Graph& graph);

// The op names of a region's body, in order (constants and casts left out
// unless they are all there is).
std::vector<std::string> BodyOps(const ir::Graph& body) {
  std::vector<std::string> ops;
  for (const auto& op : body.ops()) {
    if (op->kind() == ir::OpKind::kConst || op->kind() == ir::OpKind::kCast) continue;
    ops.emplace_back(op->name());
  }
  return ops;
}

// The ops a fused kernel runs, in order; empty for a kernel that runs one op.
std::vector<std::string> KernelOps(const ir::Operation& op) {
  std::vector<std::string> ops;
  auto append = [&](const char* region) {
    if (const ir::Graph* body = op.region(region)) {
      for (std::string& o : BodyOps(*body)) ops.push_back(std::move(o));
    }
  };
  if (op.kind() == ir::OpKind::kFusedElementwise) {
    append("body");
  } else if (op.kind() == ir::OpKind::kFusedReduction) {
    append("prologue");
    ops.push_back(op.GetStr("kind"));
    append("epilogue");
  } else if (op.region("epilogue") != nullptr) {
    ops.push_back(std::string(op.name()));
    append("epilogue");
  }
  return ops.size() > 1 || op.kind() == ir::OpKind::kFusedElementwise ? ops
                                                                      : std::vector<std::string>{};
}

// Why an elementwise op still runs as a kernel of its own.
std::string WhyNotFused(const ir::Graph& g, const ir::Operation& op) {
  for (const ir::Value* v : op.operands()) {
    const ir::Operation* p = v->def();
    if (p == nullptr || p->kind() == ir::OpKind::kConst) continue;
    if (g.IsOutput(v))
      return absl::StrCat("its input from ", std::string(p->name()), " is a graph output");
    if (v->users().size() > 1) {
      return absl::StrCat("its input from ", std::string(p->name()), " is also read by ",
                          v->users().size() - 1, " other op(s)");
    }
    if (v->type().shape != op.result()->type().shape) {
      return absl::StrCat("it broadcasts its input from ", std::string(p->name()),
                          " to a larger shape");
    }
    if (!passes::FlowsInBody(v)) {
      return absl::StrCat("its input from ", std::string(p->name()), " is ",
                          std::string(ir::DTypeName(v->type().dtype)),
                          ", which only a kernel's inputs and result may be");
    }
    if (p->kind() != ir::OpKind::kFusedElementwise && !passes::Fusable(*p) &&
        p->kind() != ir::OpKind::kConv2d && p->kind() != ir::OpKind::kLinear) {
      return absl::StrCat("its producer ", std::string(p->name()), " is not elementwise");
    }
  }
  return "no fusable producer";
}

std::string Dot(const ir::Graph& g) {
  std::string s = "digraph sinter {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n";
  std::map<const ir::Value*, std::string> src;
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    std::string id = absl::StrCat("in", i);
    absl::StrAppend(&s, "  ", id, " [shape=ellipse, label=\"", g.input(i)->name(), "\\n",
                    ir::ToString(g.input(i)->type()), "\"];\n");
    src[g.input(i)] = id;
  }
  int k = 0;
  for (const auto& op : g.ops()) {
    if (op->kind() == ir::OpKind::kConst) continue;
    std::string id = absl::StrCat("k", k++);
    std::string label(op->name());
    if (std::vector<std::string> ops = KernelOps(*op); !ops.empty()) {
      label = absl::StrCat(op->kind() == ir::OpKind::kFusedElementwise ? "fused + " : "fused ",
                           absl::StrJoin(ops, " + "));
    }
    // Library calls blue; what a plugin runs (LibTorch fallback segments,
    // custom ops) orange, labelled with its ops: the partition at a glance.
    bool library = op->info().Has(ir::kLibrary);
    const bool segment = op->kind() == ir::OpKind::kPluginSegment;
    const bool plugin = segment || op->kind() == ir::OpKind::kPluginOp;
    if (plugin) {
      label = absl::StrCat(op->GetStr("plugin"),
                           segment ? " segment: " : " op: ", op->GetStr(segment ? "ops" : "op"));
    }
    absl::StrAppend(&s, "  ", id, " [label=\"", label, "\\n", ir::ToString(op->result()->type()),
                    "\"",
                    plugin    ? ", style=filled, fillcolor=orange"
                    : library ? ", style=filled, fillcolor=lightblue"
                              : "",
                    "];\n");
    for (const ir::Value* v : op->operands()) {
      if (auto it = src.find(v); it != src.end())
        absl::StrAppend(&s, "  ", it->second, " -> ", id, ";\n");
    }
    for (int r = 0; r < op->num_results(); ++r) src[op->result(r)] = id;
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    absl::StrAppend(&s, "  out", i, " [shape=ellipse, label=\"output", i, "\"];\n");
    if (auto it = src.find(g.outputs()[i]); it != src.end())
      absl::StrAppend(&s, "  ", it->second, " -> out", i, ";\n");
  }
  return s + "}\n";
}

// The kernels whose programs become native code: fused elementwise kernels
// (operands broadcast to the result) and conv2d/linear epilogues (the op's
// result as input 0, then the operands after the bias).
absl::Status MakeNativeCode(const ir::Graph& g, const CompileOptions& options, NativeKernels* out,
                            CompileReport* r) {
  std::string cpu = options.cpu;
#if SINTER_HAVE_LLVM
  if (cpu == "auto") cpu = "x86-64-v3";
#else
  if (cpu == "auto") cpu = "none";
  if (cpu != "none") {
    return absl::FailedPreconditionError(
        absl::StrCat("--cpu ", cpu, ": this sinterc was built without LLVM; use --cpu none"));
  }
#endif
  if (cpu == "none") return absl::OkStatus();
#if SINTER_HAVE_LLVM
  std::vector<cpu::CpuKernelSpec> specs;
  std::vector<std::pair<const ir::Operation*, format::CodeRole>> owners;  // per spec
  auto shape = [](const ir::Value* v) { return v->type().shape.extents(); };
  auto add = [&](const ir::Operation* op, format::CodeRole role,
                 std::vector<std::vector<int64_t>> inputs) -> absl::Status {
    ASSIGN_OR_RETURN(format::KernelBody body, ir::LowerBody(*op->region(format::RegionName(role))));
    specs.push_back({absl::StrCat("sinter_k", specs.size()), std::move(body), std::move(inputs),
                     shape(op->result())});
    owners.emplace_back(op, role);
    return absl::OkStatus();
  };
  for (const auto& op : g.ops()) {
    const int n = op->num_operands();
    if (op->kind() == ir::OpKind::kFusedElementwise) {
      std::vector<std::vector<int64_t>> in;
      for (const ir::Value* v : op->operands()) in.push_back(shape(v));
      RETURN_IF_ERROR(add(op.get(), format::CodeRole::Main, std::move(in)));
    } else if (op->kind() == ir::OpKind::kFusedReduction) {
      // Operands: the prologue's `inputs`, layer_norm's weight and bias,
      // then the epilogue's extras (runtime/cpu/fused_reduction.cc).
      const int inputs = static_cast<int>(op->GetInt("inputs"));
      if (op->region("prologue") != nullptr) {
        std::vector<std::vector<int64_t>> in;
        for (int i = 0; i < inputs && i < n; ++i) in.push_back(shape(op->operand(i)));
        RETURN_IF_ERROR(add(op.get(), format::CodeRole::Prologue, std::move(in)));
      }
      if (op->region("epilogue") != nullptr) {
        std::vector<std::vector<int64_t>> in{shape(op->result())};
        format::RowReduction kind;
        const bool affine =
            format::RowReductionByName(op->GetStr("kind"), &kind) && format::InfoOf(kind).affine;
        const int first = inputs + (affine ? 2 : 0);
        for (int i = first; i < n; ++i) in.push_back(shape(op->operand(i)));
        RETURN_IF_ERROR(add(op.get(), format::CodeRole::Epilogue, std::move(in)));
      }
    } else if (op->region("epilogue") != nullptr) {
      // conv2d / linear: the op's result, then the operands after the bias.
      std::vector<std::vector<int64_t>> in{shape(op->result())};
      for (int i = 3; i < n; ++i) in.push_back(shape(op->operand(i)));
      RETURN_IF_ERROR(add(op.get(), format::CodeRole::Epilogue, std::move(in)));
    }
  }
  if (specs.empty()) return absl::OkStatus();
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(cpu::CpuObject object, cpu::CompileCpuKernels(specs, cpu, options.llvm_ir));
  r->native_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  out->level = object.level;
  out->shared_object = std::move(object.shared_object);
  for (size_t i = 0; i < owners.size(); ++i)
    out->code[owners[i].first].push_back({owners[i].second, specs[i].name});
  r->native_level = out->level;
  r->native_kernels = static_cast<int64_t>(specs.size());
  r->native_bytes = static_cast<int64_t>(out->shared_object.size());
#endif
  return absl::OkStatus();
}

int64_t CountOps(const ir::Graph& g) {
  int64_t n = 0;
  for (const auto& op : g.ops()) n += op->kind() != ir::OpKind::kConst;
  return n;
}

}  // namespace

absl::StatusOr<std::string> Compile(ir::Graph& graph, const CompileOptions& options,
                                    CompileReport* report) {
  CompileReport local;
  CompileReport& r = report ? *report : local;
  RETURN_IF_ERROR(ir::Verify(graph));
  r.ops_in = CountOps(graph);
  const bool cuda_target = options.target != "cpu";
  const ir::Target target = cuda_target ? ir::Target::kCuda : ir::Target::kCpu;
  cuda::CudaTargetOptions cuda_options;
  CudaCode cuda_code;
  std::string convert;  // the storage precision pass, "" for f32
  if (cuda_target) {
    ASSIGN_OR_RETURN(cuda_options, cuda::ParseCudaTarget(options.target));
    cuda_options.allow_tf32 = options.allow_tf32;
    if (options.precision == "fp16" || options.precision == "f16") {
      convert = "convert-f16";
    } else if (options.precision == "bf16") {
      convert = "convert-bf16";
    } else if (options.precision != "fp32" && options.precision != "f32") {
      return absl::InvalidArgumentError(
          absl::StrCat("precision '", options.precision, "': use fp32, fp16 or bf16"));
    }
    if (options.io_precision != "model" && options.io_precision != "storage") {
      return absl::InvalidArgumentError(
          absl::StrCat("io precision '", options.io_precision, "': use model or storage"));
    }
  } else if (options.precision != "fp32" && options.precision != "f32") {
    return absl::InvalidArgumentError("--precision other than fp32 needs a CUDA target");
  }
  // The target's pipeline: the CUDA one adds the lowerings its backend needs
  // (passes/pass.cc), then the storage precision.
  std::string pipeline = options.pipeline;
  if (cuda_target && (pipeline == "default" || pipeline == "O0"))
    pipeline = pipeline == "O0" ? "cuda-O0" : "cuda";
  passes::PassManager pm(options.pass_options);
  // Tensor cores run fp16 / bf16 storage, and f32 with TF32 allowed.
  const bool tensor_cores = !convert.empty();
  pm.SetDefaultOptions("plan-layout",
                       {{"target", cuda_target ? "cuda" : "cpu"},
                        {"layout", options.layout},
                        {"tensor_cores", tensor_cores || options.allow_tf32 ? "1" : "0"}});
  RETURN_IF_ERROR(pm.AddPipeline(pipeline));
  if (!convert.empty())
    RETURN_IF_ERROR(pm.Add(absl::StrCat(convert, "{io=", options.io_precision, "}")));
  r.pipeline = pm.Spec();
  RETURN_IF_ERROR(pm.Run(graph));
  r.passes = pm.records();
  RETURN_IF_ERROR(CheckTargetSupport(graph, target));
  if (cuda_target) {
    cuda_code.precision = convert.empty() ? "f32" : convert == "convert-f16" ? "f16" : "bf16";
    cuda_code.allow_tf32 = options.allow_tf32;
    r.target = "cuda";
    r.precision = cuda_code.precision;
  }
  ASSIGN_OR_RETURN(passes::MemoryPlan plan, passes::PlanMemory(graph));
  if (static_cast<uint64_t>(plan.arena_bytes) > format::kMaxTensorBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model's activations need an arena of ", plan.arena_bytes,
                     " bytes, more than an artifact may hold (", format::kMaxTensorBytes,
                     "): compile for smaller input shapes"));
  }
  NativeKernels native;
  if (cuda_target) {
    ASSIGN_OR_RETURN(cuda::CudaModule module, cuda::BuildCudaModule(graph, cuda_options));
    for (cuda::CudaImage& im : module.images) {
      r.cuda_images.push_back(im.arch);
      cuda_code.images.push_back({(im.ptx ? "ptx-" : "cubin-") + im.arch, std::move(im.bytes)});
    }
    cuda_code.code = std::move(module.code);
    r.cuda_generated_kernels = module.generated_kernels;
    r.nvrtc_ms = module.nvrtc_ms;
    r.cuda_kernels = std::move(module.usage);
  } else {
    RETURN_IF_ERROR(MakeNativeCode(graph, options, &native, &r));
  }
  ArtifactStats stats;
  ASSIGN_OR_RETURN(std::string artifact,
                   WriteArtifact(graph, plan, &stats, &native, cuda_target ? &cuda_code : nullptr,
                                 options.batch ? &*options.batch : nullptr));
  // The runtime's own verification of what was written (every kernel
  // through its backend's checks, no device needed): nothing compiles that
  // the runtime would refuse.
  if (sinter_status* st = sinter_model_verify_memory(artifact.data(), artifact.size(), nullptr)) {
    const std::string message = sinter_status_get_message(st);
    const sinter_status_code code = sinter_status_get_code(st);
    sinter_status_free(st);
    const std::string what = absl::StrCat("the ", options.target, " runtime cannot run: ", message);
    return code == SINTER_UNIMPLEMENTED || code == SINTER_INVALID_ARGUMENT
               ? absl::UnimplementedError(what)
               : absl::InternalError(
                     absl::StrCat("the artifact written fails verification: ", message));
  }
  r.kernels = stats.kernels;
  r.arena_bytes = plan.arena_bytes;
  if (options.batch) {
    // The arena is one sample's whatever the batch: the runtime runs the
    // plan per sample (ir/batch_analysis.h).
    const ir::BatchSymbol& b = *options.batch;
    std::vector<std::string> ins, outs;
    for (size_t i = 0; i < b.input_axes.size(); ++i)
      if (b.input_axes[i] >= 0) ins.push_back(absl::StrCat(i, ":", b.input_axes[i]));
    for (size_t i = 0; i < b.output_axes.size(); ++i)
      if (b.output_axes[i] >= 0) outs.push_back(absl::StrCat(i, ":", b.output_axes[i]));
    if (b.per_sample) {
      r.batch = absl::StrCat("dynamic batch: ", b.name, " in [", b.min, ", ", b.max,
                             "], run one sample at a time (arena: the same ", plan.arena_bytes,
                             " bytes at every batch); axes of inputs ", absl::StrJoin(ins, ", "),
                             ", of outputs ", absl::StrJoin(outs, ", "));
    } else {
      // The CPU runtime plans the run-sized tensors at the range's maximum
      // as it loads (runtime/cpu/backend.cc PlanRunSized): ask it.
      std::string at_max = "the rest in session memory sized by the run";
      sinter_model_options mo;
      sinter_model_options_init(&mo);
      mo.disable_native_code = 1;
      sinter_model* loaded = nullptr;
      if (options.target == "cpu") {
        if (sinter_status* st =
                sinter_model_load_memory(artifact.data(), artifact.size(), &mo, &loaded)) {
          sinter_status_free(st);
        } else {
          at_max = absl::StrCat(sinter_model_arena_bytes(loaded) - plan.arena_bytes,
                                " bytes more for the rest, planned by each session at ", b.name,
                                " = ", b.max);
          sinter_model_release(loaded);
        }
      }
      r.batch = absl::StrCat("symbolic extent: ", b.name, " in [", b.min, ", ", b.max,
                             "], taken by each kernel reading it at the run's extent (arena: ",
                             plan.arena_bytes, " bytes for what does not depend on ", b.name, "; ",
                             at_max, "); axes of inputs ", absl::StrJoin(ins, ", "));
    }
  }
  std::set<std::string> symbols;
  for (const auto& op : graph.ops()) {
    bool run_sized_operand = false;
    for (const ir::Value* v : op->operands()) run_sized_operand |= !v->type().shape.is_static();
    r.run_extent_kernels += run_sized_operand;
    // A symbol is born where a result has one its operands lack.
    for (int i = 0; i < op->num_results(); ++i) {
      for (const ir::Dim& d : op->result(i)->type().shape.dims()) {
        if (d.is_static()) continue;
        bool inherited = false;
        for (const ir::Value* v : op->operands())
          for (const ir::Dim& e : v->type().shape.dims()) inherited |= e == d;
        if (!inherited && symbols.insert(d.symbol()).second) {
          r.run_sized.push_back(absl::StrCat(d.symbol(), " (", std::string(op->name()),
                                             op->loc().empty() ? "" : " at " + op->loc(), ")"));
        }
      }
    }
  }
  r.intermediate_bytes = plan.intermediate_bytes;
  r.constant_bytes = stats.constant_bytes;
  r.artifact_bytes = stats.file_bytes;
  for (const auto& op : graph.ops()) {
    if (op->kind() == ir::OpKind::kConst) continue;
    ++r.kernels_by_op[std::string(op->name())];
    r.library_calls += op->info().Has(ir::kLibrary);
    if (std::vector<std::string> ops = KernelOps(*op); !ops.empty()) {
      r.fused.push_back({std::string(op->name()), std::move(ops)});
    } else if (passes::Fusable(*op)) {
      r.not_fused.push_back({std::string(op->name()), op->loc(), WhyNotFused(graph, *op)});
    }
  }
  r.dot = Dot(graph);
  r.partition = Partition(graph);
  return artifact;
}

namespace {

// The partition report: runs of sinter kernels between plugin segments, with
// what crosses each boundary (Torch-TensorRT's partition summary).
std::vector<CompileReport::Segment> Partition(const ir::Graph& graph) {
  std::vector<CompileReport::Segment> out;
  auto by_plugin = [](const ir::Operation& op) {
    return op.kind() == ir::OpKind::kPluginSegment || op.kind() == ir::OpKind::kPluginOp;
  };
  bool any = false;
  for (const auto& op : graph.ops()) any |= by_plugin(*op);
  if (!any) return out;
  std::vector<std::vector<const ir::Operation*>> groups;
  bool last_plugin = true;
  for (const auto& op : graph.ops()) {
    if (op->kind() == ir::OpKind::kConst) continue;
    const bool plugin = by_plugin(*op);
    if (plugin || last_plugin || groups.empty()) groups.emplace_back();
    groups.back().push_back(op.get());
    last_plugin = plugin;
  }
  const std::unordered_set<const ir::Value*> graph_outputs(graph.outputs().begin(),
                                                           graph.outputs().end());
  for (const auto& g : groups) {
    CompileReport::Segment seg;
    const bool segment = g.front()->kind() == ir::OpKind::kPluginSegment;
    const bool plugin = by_plugin(*g.front());
    seg.backend = plugin ? g.front()->GetStr("plugin") : "sinter";
    seg.loc = g.front()->loc();
    std::unordered_set<const ir::Operation*> members(g.begin(), g.end());
    std::unordered_set<const ir::Value*> seen;
    for (const ir::Operation* op : g) {
      if (plugin && !segment) {
        ++seg.ops[op->GetStr("op")];
      } else if (plugin) {
        for (absl::string_view item : absl::StrSplit(op->GetStr("ops"), ", ", absl::SkipEmpty())) {
          const size_t x = item.rfind(" x");
          int64_t count = 1;
          if (x == absl::string_view::npos || !absl::SimpleAtoi(item.substr(x + 2), &count))
            count = 1;
          seg.ops[std::string(item.substr(0, x))] += count;
        }
      } else {
        ++seg.ops[std::string(op->name())];
      }
      ++seg.kernels;
      for (int i = segment ? 1 : 0; i < op->num_operands(); ++i) {
        const ir::Value* v = op->operand(i);
        const ir::Operation* def = v->def();
        if ((def != nullptr && (members.count(def) || def->kind() == ir::OpKind::kConst)) ||
            !seen.insert(v).second)
          continue;
        ++seg.inputs;
        seg.input_bytes += v->type().ByteSize().value_or(0);
      }
      for (int r = 0; r < op->num_results(); ++r) {
        const ir::Value* v = op->result(r);
        bool outside = graph_outputs.count(v) != 0;
        for (const ir::Operation* u : v->users()) outside |= members.count(u) == 0;
        if (!outside) continue;
        ++seg.outputs;
        seg.output_bytes += v->type().ByteSize().value_or(0);
        seg.data_dependent_outputs += !v->type().shape.is_static();
      }
    }
    out.push_back(std::move(seg));
  }
  return out;
}

std::string PartitionText(const std::vector<CompileReport::Segment>& partition,
                          const std::string& advice) {
  if (partition.empty()) return "";
  int64_t plugin_segments = 0, in = 0, out = 0;
  for (const auto& s : partition) {
    if (s.backend == "sinter") continue;
    ++plugin_segments;
    in += s.input_bytes;
    out += s.output_bytes;
  }
  std::string s = absl::StrCat("partition: ", partition.size(), " segments, ", plugin_segments,
                               " run by plugins; ", in, " bytes into them and ", out,
                               " bytes out per inference\n");
  for (size_t i = 0; i < partition.size(); ++i) {
    const auto& p = partition[i];
    std::vector<std::string> ops;
    for (const auto& [op, n] : p.ops) ops.push_back(absl::StrCat(op, " x", n));
    absl::StrAppend(&s, "  ", i, ": ", p.backend,
                    p.backend == "sinter"  ? ""
                    : p.backend == "torch" ? " (fallback)"
                                           : " (plugin op)",
                    p.loc.empty() ? "" : " at " + p.loc, ", ",
                    p.backend == "sinter" ? absl::StrCat(p.kernels, " kernels: ") : "",
                    absl::StrJoin(ops, ", "), "; in: ", p.inputs, " tensor(s), ", p.input_bytes,
                    " bytes; out: ", p.outputs, " tensor(s), ", p.output_bytes, " bytes",
                    p.data_dependent_outputs == 0
                        ? ""
                        : absl::StrCat(" (", p.data_dependent_outputs, " sized by the run)"),
                    "\n");
  }
  s += advice;
  return s;
}

// The CUDA module's kernels as ptxas reports them, one line per kernel and
// architecture, then the worst case: what a reader checks first is whether
// anything spills and which kernel has the lowest occupancy.
std::string CudaKernelTable(const std::vector<cuda::KernelUsage>& kernels) {
  if (kernels.empty()) return "";
  std::string s = absl::StrFormat(
      "cuda kernels (ptxas; occupancy at the launch's block size):\n  %-28s %-6s %4s %6s %5s "
      "%6s %5s  %s\n",
      "kernel", "arch", "regs", "smem", "stack", "spills", "block", "occupancy");
  int spilling = 0;
  const cuda::KernelUsage* lowest = nullptr;
  for (const cuda::KernelUsage& u : kernels) {
    const cuda::KernelResources& k = u.resources;
    const int64_t spills = k.spill_store_bytes + k.spill_load_bytes;
    spilling += spills > 0;
    if (lowest == nullptr || u.occupancy.fraction < lowest->occupancy.fraction) lowest = &u;
    absl::StrAppend(
        &s, absl::StrFormat("  %-28s %-6s %4d %6d %5d %6d %5d  %.0f%% (%s)\n", k.kernel, k.arch,
                            k.registers, k.shared_bytes, k.stack_bytes, spills, u.threads_per_block,
                            100 * u.occupancy.fraction, u.occupancy.limiter));
  }
  absl::StrAppend(&s, "cuda kernels spilling: ", spilling, "; lowest occupancy ",
                  absl::StrFormat("%.0f%%", 100 * lowest->occupancy.fraction), " (",
                  lowest->resources.kernel, " on ", lowest->resources.arch, ", limited by ",
                  lowest->occupancy.limiter, ")\n");
  return s;
}

}  // namespace

std::string CompileReport::ToText() const {
  std::string s = absl::StrFormat(
      "ops in: %d\nkernels per inference: %d (library calls: %d)\n"
      "arena: %d bytes (%.1f%% of %d bytes of intermediates)\nconstants: %d bytes\nartifact: %d "
      "bytes\n",
      ops_in, kernels, library_calls, arena_bytes,
      intermediate_bytes ? 100.0 * arena_bytes / intermediate_bytes : 0.0, intermediate_bytes,
      constant_bytes, artifact_bytes);
  if (!batch.empty()) absl::StrAppend(&s, batch, "\n");
  if (!run_sized.empty()) {
    absl::StrAppend(&s, "sizes the data decides: ", absl::StrJoin(run_sized, ", "), "; ",
                    run_extent_kernels,
                    " kernels prepared at the run's extents, their results in session memory\n");
  }
  if (target == "cuda") {
    absl::StrAppend(&s, "target: cuda (", absl::StrJoin(cuda_images, ", "), "), storage ",
                    precision, ", ", cuda_generated_kernels, " distinct generated kernels, NVRTC ",
                    absl::StrFormat("%.0f", nvrtc_ms), " ms\n");
    s += CudaKernelTable(cuda_kernels);
  } else if (native_level.empty()) {
    s += "native code: none (fused kernels are interpreted)\n";
  } else {
    absl::StrAppend(&s, "native code: ", native_kernels, " kernels for ", native_level, ", ",
                    native_bytes, " bytes, ", absl::StrFormat("%.0f", native_ms), " ms\n");
  }
  absl::StrAppend(&s, "passes: ", pipeline, "\n");
  s += "kernels by op:";
  for (const auto& [op, n] : kernels_by_op) absl::StrAppend(&s, " ", op, "=", n);
  s += "\n";
  absl::StrAppend(&s, "fused kernels: ", fused.size(), "\n");
  std::map<std::string, int> patterns;
  for (const Fused& f : fused) ++patterns[absl::StrJoin(f.ops, " + ")];
  for (const auto& [p, n] : patterns) absl::StrAppend(&s, "  ", n, " x ", p, "\n");
  s += PartitionText(partition, partition_advice);
  if (!not_fused.empty()) {
    absl::StrAppend(&s, "elementwise ops not fused: ", not_fused.size(), "\n");
    for (const NotFused& nf : not_fused) {
      absl::StrAppend(&s, "  ", nf.op, nf.loc.empty() ? "" : " (" + nf.loc + ")", ": ", nf.reason,
                      "\n");
    }
  }
  return s;
}

std::string CompileReport::ToJson() const {
  std::string by_op;
  for (const auto& [op, n] : kernels_by_op) {
    absl::StrAppend(&by_op, by_op.empty() ? "" : ", ", "\"", op, "\": ", n);
  }
  std::string passes_json;
  for (const auto& p : passes) {
    absl::StrAppend(&passes_json, passes_json.empty() ? "" : ", ",
                    absl::StrFormat("{\"name\": \"%s\", \"ms\": %.3f}", p.name, p.millis));
  }
  auto quote = [](const std::string& x) {
    std::string q = "\"";
    for (char c : x) {
      if (c == '\n')
        q += "\\n";
      else
        q += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
    }
    return q + "\"";
  };
  std::string fused_json, not_fused_json;
  for (const Fused& f : fused) {
    std::vector<std::string> ops;
    for (const std::string& o : f.ops) ops.push_back(quote(o));
    absl::StrAppend(&fused_json, fused_json.empty() ? "" : ", ", "{\"kernel\": ", quote(f.kernel),
                    ", \"ops\": [", absl::StrJoin(ops, ", "), "]}");
  }
  for (const NotFused& nf : not_fused) {
    absl::StrAppend(&not_fused_json, not_fused_json.empty() ? "" : ", ", "{\"op\": ", quote(nf.op),
                    ", \"loc\": ", quote(nf.loc), ", \"reason\": ", quote(nf.reason), "}");
  }
  std::string cuda_json;
  for (const cuda::KernelUsage& u : cuda_kernels) {
    const cuda::KernelResources& k = u.resources;
    absl::StrAppend(
        &cuda_json, cuda_json.empty() ? "" : ", ",
        absl::StrFormat(
            "{\"kernel\": %s, \"arch\": %s, \"generated\": %s, \"registers\": %d, "
            "\"shared_bytes\": %d, \"stack_bytes\": %d, \"spill_store_bytes\": %d, "
            "\"spill_load_bytes\": %d, \"threads_per_block\": %d, \"blocks_per_sm\": %d, "
            "\"occupancy\": %.4f, \"limiter\": %s}",
            quote(k.kernel), quote(k.arch), u.generated ? "true" : "false", k.registers,
            k.shared_bytes, k.stack_bytes, k.spill_store_bytes, k.spill_load_bytes,
            u.threads_per_block, u.occupancy.blocks_per_sm, u.occupancy.fraction,
            quote(u.occupancy.limiter)));
  }
  std::string partition_json;
  for (const Segment& p : partition) {
    std::string ops;
    for (const auto& [op, n] : p.ops)
      absl::StrAppend(&ops, ops.empty() ? "" : ", ", quote(op), ": ", n);
    absl::StrAppend(
        &partition_json, partition_json.empty() ? "" : ", ",
        absl::StrFormat("{\"backend\": %s, \"loc\": %s, \"kernels\": %d, \"ops\": {%s}, "
                        "\"inputs\": %d, \"input_bytes\": %d, \"outputs\": %d, "
                        "\"output_bytes\": %d, \"data_dependent_outputs\": %d}",
                        quote(p.backend), quote(p.loc), p.kernels, ops, p.inputs, p.input_bytes,
                        p.outputs, p.output_bytes, p.data_dependent_outputs));
  }
  return absl::StrFormat(
      "{\"partition\": [%s], \"partition_advice\": %s, \"ops_in\": %d, \"kernels\": %d, "
      "\"library_calls\": %d, \"arena_bytes\": %d, "
      "\"intermediate_bytes\": %d, \"constant_bytes\": %d, \"artifact_bytes\": %d, "
      "\"native_level\": \"%s\", \"native_kernels\": %d, \"native_bytes\": %d, "
      "\"native_ms\": %.1f, \"target\": \"%s\", \"precision\": \"%s\", "
      "\"cuda_generated_kernels\": %d, \"nvrtc_ms\": %.1f, \"cuda_kernels\": [%s], "
      "\"kernels_by_op\": {%s}, \"fused_kernels\": [%s], \"not_fused\": [%s], \"passes\": [%s], "
      "\"pipeline\": %s, \"batch\": %s, \"run_sized\": [%s], \"run_extent_kernels\": %d}",
      partition_json, quote(partition_advice), ops_in, kernels, library_calls, arena_bytes,
      intermediate_bytes, constant_bytes, artifact_bytes, native_level, native_kernels,
      native_bytes, native_ms, target, precision, cuda_generated_kernels, nvrtc_ms, cuda_json,
      by_op, fused_json, not_fused_json, passes_json, quote(pipeline), quote(batch),
      absl::StrJoin(run_sized, ", ",
                    [&](std::string* out, const std::string& r) { out->append(quote(r)); }),
      run_extent_kernels);
}

}  // namespace sinter::codegen
