// The CPU backend (runtime/backend.h). Loading:
//  1. native code: per code module, the artifact's shared object for the best
//     instruction-set level this CPU has ("elf-x86_64", "-v3", "-v4"), unless
//     the caller disabled native code (then every program is interpreted);
//  2. each step through the CPU op table (runtime/cpu/op_table.h): the
//     kernel's checks of attributes against recorded shapes, its parameters,
//     and the native functions it calls. A function the kernel does not ask
//     for is refused: an artifact holds nothing a kernel ignores.
// A session owns one arena (the planned activations, then scratch sized for
// the hungriest kernel, since kernels run one at a time) and a thread pool.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "runtime/cpu/native.h"
#include "runtime/cpu/op_table.h"
#include "runtime/model.h"
#include "runtime/thread_pool.h"

namespace sinter::rt {
namespace {

struct AtExtents;

struct CpuStep {
  const OpDef* def = nullptr;
  std::unique_ptr<KernelParams> params;  // null for a step prepared as it runs
  // A step prepared as it runs: its preparation at load at a representative
  // extent, which each run's may share from (PrepareContext::reuse); null
  // when the kernel refused that extent.
  std::unique_ptr<AtExtents> shared;
  // It reads a tensor its run sizes (ops.def kRunExtents): prepared at each
  // run for the run's extents (CpuSession::RunAtExtents).
  bool at_run_extents = false;
};

// "elf-x86_64-v3" -> "x86-64-v3"; "" for a format the CPU does not run.
std::string ElfLevel(const std::string& format) {
  if (format == "elf-x86_64") return "x86-64";
  if (format == "elf-x86_64-v3") return "x86-64-v3";
  if (format == "elf-x86_64-v4") return "x86-64-v4";
  return "";
}

const char* RoleName(CodeRole r) {
  switch (r) {
    case CodeRole::kMain:
      return "main";
    case CodeRole::kPrologue:
      return "prologue";
    case CodeRole::kEpilogue:
      return "epilogue";
  }
  return "?";
}

// A step reading a tensor its run sized, at given extents: its operands'
// descriptions with the dynamic ones' dims from `dims_of` (each at most
// DynamicTensors bounds), its results' from the kernel's run_dims (a result
// of recorded static shape must come out so), and the kernel's own
// load-time check (prepare) against them, which bounds every access as at
// load.
struct AtExtents {
  std::vector<TensorDesc> descs;  // inputs, then outputs
  std::vector<const TensorDesc*> in, out;
  std::unique_ptr<KernelParams> params;
};

// Bounded as DynamicTensors::Resize bounds what it allocates, so a result
// shape no run could hold stops the run before any kernel sees it.
Status SetDims(TensorDesc* d, std::vector<int64_t> dims) {
  int64_t n;
  uint64_t bytes;
  if (!CheckedNumElements(dims, &n) ||
      __builtin_mul_overflow(static_cast<uint64_t>(n), sinter_dtype_size(d->dtype), &bytes) ||
      bytes > (uint64_t{1} << 40)) {
    std::string text;
    for (int64_t e : dims) text += (text.empty() ? "" : ",") + std::to_string(e);
    return Status(SINTER_RESOURCE_EXHAUSTED,
                  StrCat("tensor '", d->name, "': a result of shape [", text, "] is too large"));
  }
  d->dims = std::move(dims);
  d->num_elements = n;
  d->byte_size = bytes;
  return Status::Ok();
}

// `dims_of(t, ctx)`: a dynamic input's dims (a function, not a template, to
// keep one copy of this in the runtime).
using DimsOf = StatusOr<std::vector<int64_t>> (*)(int t, const void* ctx);

Status PrepareAtExtents(const Step& step, const OpDef& def, const std::vector<TensorDesc>& tensors,
                        DimsOf dims_of, const void* ctx, AtExtents* a,
                        const KernelParams* reuse = nullptr) {
  const size_t n_in = step.inputs.size(), n_out = step.outputs.size();
  a->descs.assign(n_in + n_out, TensorDesc{});
  a->in.resize(n_in);
  a->out.resize(n_out);
  for (size_t i = 0; i < n_in; ++i) {
    const int t = step.inputs[i];
    a->descs[i] = tensors[t];
    if (tensors[t].kind == TensorKind::kDynamic) {
      RT_ASSIGN_OR_RETURN(std::vector<int64_t> dims, dims_of(t, ctx));
      RT_RETURN_IF_ERROR(SetDims(&a->descs[i], std::move(dims)));
    }
    a->in[i] = &a->descs[i];
  }
  const Attrs attrs = step.attrs();
  RT_ASSIGN_OR_RETURN(std::vector<Dims> dims, def.run_dims(attrs, a->in));
  if (dims.size() != n_out)
    return Status(SINTER_INTERNAL, "run_dims gave a wrong number of results");
  for (size_t o = 0; o < n_out; ++o) {
    TensorDesc& d = a->descs[n_in + o];
    d = tensors[step.outputs[o]];
    if (d.kind == TensorKind::kDynamic) {
      if (dims[o].size() != d.dims.size())
        return InvalidArgument(
            StrCat("result '", d.name, "' of rank ", dims[o].size(), ", recorded ", d.dims.size()));
      // -1: a size the kernel decides as it runs (nonzero of what the run
      // sized), the result staying as recorded for the kernel to size.
      if (std::find(dims[o].begin(), dims[o].end(), -1) == dims[o].end())
        RT_RETURN_IF_ERROR(SetDims(&d, std::move(dims[o])));
    } else if (dims[o] != d.dims) {
      return InvalidArgument(
          StrCat("result '", d.name, "' of a shape its recorded static dims do not allow"));
    }
    a->out[o] = &d;
  }
  static const std::vector<const NativeCode*> kNoModules;
  NativeFunctions native{&step, &kNoModules};
  PrepareContext pc{attrs, a->in, a->out, &native, &step, nullptr, nullptr};
  pc.run_extents = true;
  pc.reuse = reuse;
  RT_ASSIGN_OR_RETURN(a->params, def.prepare(pc));
  return Status::Ok();
}

// A run-sized tensor's memory in the session's plan for the symbolic
// extent's maximum.
struct RunSizedSlot {
  int tensor;
  uint64_t offset, bytes;
};

// The memory plan of a symbolic extent's run-sized tensors (issue 12): each
// one's shape at the range's maximum, from the model's inputs through every
// step's run_dims, and offsets that share memory between tensors whose lives
// (first write to last read; the model's inputs and outputs the whole run)
// do not meet, placed largest first at the lowest offset that fits, as the
// compiler plans the static arena. A session allocates it once, so a run at
// a new length allocates nothing (a run-sized buffer each, allocated and
// first touched as a length first grew, cost 4-5 ms on the TransformerEncoder
// at 128). A tensor whose shape the data decides (nonzero), or that a step
// reads after one, keeps memory of its own (DynamicTensors::Resize); so does
// one a run makes larger than its maximum's.
std::vector<RunSizedSlot> PlanRunSized(const Model& model, const std::vector<bool>& at_run_extents,
                                       const std::vector<const OpDef*>& defs, uint64_t* total) {
  *total = 0;
  const BatchInfo* batch = model.batch();
  if (batch == nullptr || batch->per_sample) return {};
  const auto& tensors = model.tensors();
  const int n_steps = static_cast<int>(model.steps().size());
  std::vector<std::vector<int64_t>> at_max(tensors.size());
  std::vector<bool> known(tensors.size(), false);
  std::vector<int> first(tensors.size(), -1), last(tensors.size(), -1);
  for (int t : model.inputs()) {
    if (tensors[t].kind != TensorKind::kDynamic) continue;
    at_max[t] = tensors[t].dims;
    for (int64_t& d : at_max[t]) d = d < 0 ? batch->max : d;
    known[t] = true;
    last[t] = n_steps;
  }
  for (int k = 0; k < n_steps; ++k) {
    const Step& step = model.steps()[k];
    for (int t : step.inputs) last[t] = std::max(last[t], k);
    if (!at_run_extents[k]) continue;
    std::vector<TensorDesc> descs(step.inputs.size());
    std::vector<const TensorDesc*> in(step.inputs.size());
    bool all = true;
    for (size_t i = 0; i < in.size(); ++i) {
      const int t = step.inputs[i];
      descs[i] = tensors[t];
      if (tensors[t].kind == TensorKind::kDynamic)
        all = all && known[t] && SetDims(&descs[i], at_max[t]).ok();
      in[i] = &descs[i];
    }
    if (!all) continue;
    // A shape the kernel refuses at the maximum: its runs say so.
    StatusOr<std::vector<Dims>> dims = defs[k]->run_dims(step.attrs(), in);
    if (!dims.ok() || dims.value().size() != step.outputs.size()) continue;
    for (size_t o = 0; o < step.outputs.size(); ++o) {
      const int t = step.outputs[o];
      const Dims& d = dims.value()[o];
      TensorDesc probe = tensors[t];
      if (probe.kind != TensorKind::kDynamic || d.size() != probe.dims.size() ||
          std::find(d.begin(), d.end(), -1) != d.end() || !SetDims(&probe, d).ok())
        continue;
      at_max[t] = d;
      known[t] = true;
      first[t] = k;
      last[t] = std::max(last[t], k);
    }
  }
  for (int t : model.outputs()) last[t] = n_steps;
  std::vector<RunSizedSlot> slots;
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (!known[t]) continue;
    TensorDesc d = tensors[t];
    (void)SetDims(&d, at_max[t]);  // checked above
    const uint64_t bytes = std::max<uint64_t>(
        kArenaAlignment, (d.byte_size + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment);
    slots.push_back({static_cast<int>(t), 0, bytes});
  }
  std::sort(slots.begin(), slots.end(), [](const RunSizedSlot& a, const RunSizedSlot& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.tensor < b.tensor;
  });
  for (size_t i = 0; i < slots.size(); ++i) {
    const int a = slots[i].tensor;
    // The placed tensors alive with it, by offset; the first gap it fits.
    std::vector<std::pair<uint64_t, uint64_t>> taken;
    for (size_t j = 0; j < i; ++j) {
      const int b = slots[j].tensor;
      if (first[a] <= last[b] && first[b] <= last[a])
        taken.emplace_back(slots[j].offset, slots[j].offset + slots[j].bytes);
    }
    std::sort(taken.begin(), taken.end());
    uint64_t at = 0;
    for (const auto& [begin, end] : taken) {
      if (at + slots[i].bytes <= begin) break;
      at = std::max(at, end);
    }
    slots[i].offset = at;
    *total = std::max(*total, at + slots[i].bytes);
  }
  return slots;
}

class CpuModel;

class CpuSession final : public BackendSession {
 public:
  CpuSession(const Model& model, const CpuModel& cm) : model_(model), cm_(cm) {}
  ~CpuSession() override {
    std::free(arena_);
    std::free(run_sized_);
    std::free(run_scratch_);
  }
  Status Init(int num_threads);
  Status SetInput(size_t index, const void* data, size_t bytes) override {
    if (bytes) std::memcpy(TensorData(model_.inputs()[index]), data, bytes);
    return Status::Ok();
  }
  Status Run(std::vector<KernelTime>* profile) override;
  Status SetInputShaped(size_t index, const std::vector<int64_t>& dims, const void* data,
                        size_t bytes) override {
    const int t = model_.inputs()[index];
    RT_ASSIGN_OR_RETURN(void* p, dynamic_.Resize(t, model_.tensors()[t], dims.data(), dims.size()));
    if (bytes) std::memcpy(p, data, bytes);
    return Status::Ok();
  }
  Status RunAtExtents(size_t k, const Step& step, const CpuStep& cs);
  StatusOr<const void*> Output(size_t index) const override {
    return static_cast<const void*>(TensorData(model_.outputs()[index]));
  }
  const std::vector<int64_t>* OutputDims(size_t index) const override {
    return dynamic_.Dims(model_.outputs()[index]);
  }

 private:
  void* TensorData(int t) const {
    const TensorDesc& d = model_.tensors()[t];
    if (d.kind == TensorKind::kConstant) return const_cast<uint8_t*>(d.constant);
    if (d.kind == TensorKind::kDynamic) return dynamic_.Data(t);
    return arena_ + d.arena_offset;
  }

  const Model& model_;
  const CpuModel& cm_;
  uint8_t* arena_ = nullptr;
  uint8_t* run_sized_ = nullptr;  // CpuModel::run_sized(), once per session
  uint64_t scratch_offset_ = 0;
  std::unique_ptr<ThreadPool> pool_;
  int num_threads_ = 1;
  DynamicTensors dynamic_;
  // Scratch of the steps prepared as they run, sized by the largest so far.
  void* run_scratch_ = nullptr;
  uint64_t run_scratch_bytes_ = 0;
  // Per step prepared as it runs: its preparation for the last extents it
  // ran at (a run at the same shapes as the last reuses it: a sequence
  // model served at one length packs its weights once).
  struct Prepared {
    std::vector<std::vector<int64_t>> key;  // the dynamic operands' dims
    std::unique_ptr<AtExtents> at;
  };
  std::vector<Prepared> prepared_;
  std::vector<void*> run_in_, run_out_;  // a run-extent step's data pointers
};

class CpuModel final : public BackendModel {
 public:
  static StatusOr<std::unique_ptr<BackendModel>> Load(const Model& model, const LoadContext& ctx);

  StatusOr<std::unique_ptr<BackendSession>> CreateSession(
      const SessionConfig& config) const override {
    auto s = std::make_unique<CpuSession>(*model_, *this);
    RT_RETURN_IF_ERROR(s->Init(config.num_threads));
    return std::unique_ptr<BackendSession>(std::move(s));
  }
  int native_kernels() const override { return native_kernels_; }
  uint64_t run_sized_bytes() const override { return run_sized_bytes_; }
  const std::vector<CpuStep>& steps() const { return steps_; }
  const std::vector<RunSizedSlot>& run_sized() const { return run_sized_; }

 private:
  const Model* model_ = nullptr;
  // Before steps_: their parameters hold pointers into this code, so it must
  // be unloaded after them.
  std::vector<std::unique_ptr<NativeCode>> native_;
  std::vector<const NativeCode*> modules_;  // per module id, null: not loaded
  std::vector<CpuStep> steps_;
  int native_kernels_ = 0;
  std::vector<RunSizedSlot> run_sized_;  // PlanRunSized
  uint64_t run_sized_bytes_ = 0;
};

StatusOr<std::unique_ptr<BackendModel>> CpuModel::Load(const Model& model, const LoadContext& ctx) {
  auto cm = std::make_unique<CpuModel>();
  cm->model_ = &model;
  // 1. Native code: per module, the best level this CPU runs.
  std::vector<const CodeObject*> best;
  std::vector<int> best_rank;
  for (const CodeObject& o : model.code_objects()) {
    const std::string level = ElfLevel(o.format);
    if (level.empty()) {
      return Status(SINTER_UNIMPLEMENTED,
                    StrCat("code object format '", o.format, "' is not one the CPU backend runs"));
    }
    if (static_cast<size_t>(o.module) >= best.size()) {
      best.resize(o.module + 1, nullptr);
      best_rank.resize(o.module + 1, -1);
    }
    const int rank = level == "x86-64" ? 0 : level == "x86-64-v3" ? 1 : 2;
    if (ctx.options->allow_native_code && !ctx.options->verify_only && CpuSupportsLevel(level) &&
        rank > best_rank[o.module]) {
      best[o.module] = &o;
      best_rank[o.module] = rank;
    }
  }
  cm->modules_.assign(best.size(), nullptr);
  for (size_t m = 0; m < best.size(); ++m) {
    if (best[m] == nullptr) continue;
    auto code = NativeCode::Load(best[m]->data, best[m]->size);
    if (!code.ok()) return code.status();
    cm->modules_[m] = code.value().get();
    cm->native_.push_back(std::move(code.value()));
  }
  // 2. Steps.
  const auto& tensors = model.tensors();
  cm->steps_.resize(model.steps().size());
  for (size_t k = 0; k < model.steps().size(); ++k) {
    const Step& step = model.steps()[k];
    auto where = [&] {
      return StrCat("kernel ", k, " (", step.schema->name,
                    step.loc.empty() ? "" : " at " + step.loc, ")");
    };
    CpuStep& cs = cm->steps_[k];
    cs.def = FindOp(step.schema->name);
    if (cs.def == nullptr)
      return Status(SINTER_UNIMPLEMENTED, StrCat(where(), ": the CPU backend has no such kernel"));
    for (int t : step.inputs) cs.at_run_extents |= tensors[t].kind == TensorKind::kDynamic;
    if (cs.at_run_extents) {
      // The loader admitted it (its schema's kRunExtents); its shapes are
      // known only as it runs, so it is prepared then, and has no native
      // code (compiled for shapes fixed in advance).
      if (cs.def->run_dims == nullptr) {
        return Status(SINTER_UNIMPLEMENTED,
                      StrCat(where(), ": the CPU kernel cannot take the run's extents"));
      }
      if (!step.code.empty())
        return DataLoss(StrCat(where(), ": native code for a kernel sized as it runs"));
      // Its checks that do not depend on the run (dtypes, ranks, attributes,
      // static dims) run now, with every size the data decides 0 and then 1:
      // an artifact that fails both (a dtype the kernel lacks, a result of
      // the wrong rank or static dims) is refused at load. One extent alone
      // could refuse what runs (max over an empty axis; a reshape 1 does not
      // divide).
      struct Probe {
        const std::vector<TensorDesc>* tensors;
        int64_t extent;
      };
      Status st;
      // 64: a representative extent, large enough for what kernels prepare
      // only for many rows (packed weights), kept to be shared.
      for (int64_t extent : {0, 1, 64}) {
        if (extent == 64 && ctx.options->verify_only) continue;
        auto probe = std::make_unique<AtExtents>();
        const Probe at{&tensors, extent};
        Status at_extent = PrepareAtExtents(
            step, *cs.def, tensors,
            [](int t, const void* ctx) -> StatusOr<std::vector<int64_t>> {
              const auto& p = *static_cast<const Probe*>(ctx);
              std::vector<int64_t> dims = (*p.tensors)[t].dims;
              for (int64_t& d : dims) d = d < 0 ? p.extent : d;
              return dims;
            },
            &at, probe.get());
        if (extent == 64) {
          if (at_extent.ok()) cs.shared = std::move(probe);
        } else if (!st.ok() || extent == 0) {
          st = at_extent;
        }
      }
      if (!st.ok()) return st.WithContext(where());
      continue;
    }
    const Attrs attrs = step.attrs();
    NativeFunctions native{&step, &cm->modules_};
    std::vector<int> unread;
    PrepareContext pc{attrs, {}, {}, &native, &step, ctx.options, &unread};
    for (int t : step.inputs) pc.inputs.push_back(&tensors[t]);
    for (int t : step.outputs) pc.outputs.push_back(&tensors[t]);
    auto params = cs.def->prepare(pc);
    if (!params.ok()) return params.status().WithContext(where());
    cs.params = std::move(params.value());
    // Weights the kernel holds a prepared copy of go back to the system at
    // once, before the next kernel prepares its own: ResNet-50's would
    // otherwise be resident twice at load (Winograd's 3x3 ones five times).
    // Another kernel reading one reads it from the file again.
    for (int i : unread) model.ReleaseConstant(step.inputs[i]);
    for (const CodeUse& u : step.code) {
      if (!(native.roles_asked & (1u << static_cast<unsigned>(u.role)))) {
        return DataLoss(StrCat(where(), ": a function ('", u.symbol, "') for its ",
                               RoleName(u.role), ", which the kernel does not run"));
      }
    }
    cm->native_kernels_ += native.found > 0;
  }
  std::vector<bool> at_run_extents;
  std::vector<const OpDef*> defs;
  for (const CpuStep& cs : cm->steps_) {
    at_run_extents.push_back(cs.at_run_extents);
    defs.push_back(cs.def);
  }
  cm->run_sized_ = PlanRunSized(model, at_run_extents, defs, &cm->run_sized_bytes_);
  return std::unique_ptr<BackendModel>(std::move(cm));
}

Status CpuSession::Init(int num_threads) {
  if (num_threads == 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  // Scratch sits after the planned arena; kernels run one at a time, so one
  // region sized for the hungriest kernel serves them all.
  num_threads_ = num_threads;
  uint64_t scratch = 0;
  for (const CpuStep& step : cm_.steps()) {
    if (step.at_run_extents) continue;
    int64_t b = step.def->scratch_bytes(*step.params, num_threads);
    if (b < 0) return InvalidArgument("kernel scratch size overflows");
    scratch = std::max<uint64_t>(scratch, static_cast<uint64_t>(b));
  }
  scratch_offset_ =
      (model_.arena_bytes() + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  const uint64_t total =
      scratch_offset_ + (scratch + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  if (total > 0) {
    arena_ = static_cast<uint8_t*>(std::aligned_alloc(kArenaAlignment, total));
    if (arena_ == nullptr) {
      return Status(SINTER_RESOURCE_EXHAUSTED, StrCat("cannot allocate a ", total, "-byte arena"));
    }
  }
  if (cm_.run_sized_bytes() > 0) {
    run_sized_ = static_cast<uint8_t*>(std::aligned_alloc(kArenaAlignment, cm_.run_sized_bytes()));
    if (run_sized_ == nullptr) {
      return Status(SINTER_RESOURCE_EXHAUSTED,
                    StrCat("cannot allocate a ", cm_.run_sized_bytes(),
                           "-byte plan for the symbolic extent's maximum"));
    }
    for (const RunSizedSlot& s : cm_.run_sized())
      dynamic_.Plan(s.tensor, run_sized_ + s.offset, s.bytes);
  }
  auto pool = ThreadPool::Create(num_threads);
  if (!pool.ok()) return pool.status();
  pool_ = std::move(pool.value());
  return Status::Ok();
}

Status CpuSession::Run(std::vector<KernelTime>* profile) {
  std::vector<void*> in, out;
  const auto& tensors = model_.tensors();
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = profile ? Clock::now() : Clock::time_point();
  auto us = [&](Clock::time_point t) {
    return std::chrono::duration<double, std::micro>(t - start).count();
  };
  if (profile) profile->assign(model_.steps().size(), {});
  for (size_t k = 0; k < model_.steps().size(); ++k) {
    const Step& step = model_.steps()[k];
    const CpuStep& cs = cm_.steps()[k];
    if (cs.at_run_extents) {
      const Clock::time_point t0 = profile ? Clock::now() : Clock::time_point();
      if (Status st = RunAtExtents(k, step, cs); !st.ok()) {
        return st.WithContext(StrCat("kernel ", k, " (", step.schema->name,
                                     step.loc.empty() ? "" : " at " + step.loc, ")"));
      }
      if (profile) (*profile)[k] = {us(t0), us(Clock::now()) - us(t0)};
      continue;
    }
    in.clear();
    out.clear();
    for (int t : step.inputs) in.push_back(TensorData(t));
    for (int t : step.outputs) out.push_back(TensorData(t));
    RunContext ctx{&tensors,    &step,    in.data(), out.data(), arena_ + scratch_offset_,
                   pool_.get(), &dynamic_};
    const Clock::time_point t0 = profile ? Clock::now() : Clock::time_point();
    if (cs.def->run_fallible != nullptr) {
      if (Status st = cs.def->run_fallible(*cs.params, ctx); !st.ok()) {
        return st.WithContext(StrCat("kernel ", k, " (", step.schema->name,
                                     step.loc.empty() ? "" : " at " + step.loc, ")"));
      }
    } else {
      cs.def->run(*cs.params, ctx);
    }
    if (profile) (*profile)[k] = {us(t0), us(Clock::now()) - us(t0)};
  }
  return Status::Ok();
}

// The run: the step prepared at this run's extents, session memory for its
// results the run sizes (DynamicTensors::Resize checks them against the
// recorded static dims and bounds them), scratch, and the kernel. A shape
// the run makes impossible (a reshape its count does not divide) stops it.
Status CpuSession::RunAtExtents(size_t k, const Step& step, const CpuStep& cs) {
  const auto& tensors = model_.tensors();
  if (prepared_.size() != model_.steps().size()) prepared_.resize(model_.steps().size());
  Prepared& prep = prepared_[k];
  // The last preparation serves while the dynamic operands' dims are the
  // same (compared in place: no allocation on a run at the same shapes).
  bool same = prep.at != nullptr;
  size_t j = 0;
  for (int t : step.inputs) {
    if (tensors[t].kind != TensorKind::kDynamic) continue;
    const std::vector<int64_t>* dims = dynamic_.Dims(t);
    if (dims == nullptr)
      return Status(SINTER_INTERNAL, StrCat("tensor ", t, " read before its run sized it"));
    same = same && j < prep.key.size() && prep.key[j] == *dims;
    ++j;
  }
  if (!same) {
    std::vector<std::vector<int64_t>> key;
    for (int t : step.inputs)
      if (tensors[t].kind == TensorKind::kDynamic) key.push_back(*dynamic_.Dims(t));
    prep.at = nullptr;
    auto fresh = std::make_unique<AtExtents>();
    RT_RETURN_IF_ERROR(PrepareAtExtents(
        step, *cs.def, tensors,
        [](int t, const void* ctx) -> StatusOr<std::vector<int64_t>> {
          return *static_cast<const DynamicTensors*>(ctx)->Dims(t);  // checked above
        },
        &dynamic_, fresh.get(), cs.shared ? cs.shared->params.get() : nullptr));
    prep.at = std::move(fresh);
    prep.key = std::move(key);
  }
  const AtExtents& a = *prep.at;
  std::vector<void*>& in = run_in_;
  std::vector<void*>& out = run_out_;
  in.resize(step.inputs.size());
  out.resize(step.outputs.size());
  for (size_t i = 0; i < in.size(); ++i) in[i] = TensorData(step.inputs[i]);
  for (size_t o = 0; o < out.size(); ++o) {
    const int t = step.outputs[o];
    const TensorDesc& d = *a.out[o];
    if (std::find(d.dims.begin(), d.dims.end(), -1) != d.dims.end()) {
      out[o] = nullptr;  // the kernel sizes it (DynamicTensors::Resize) as it runs
    } else if (tensors[t].kind == TensorKind::kDynamic) {
      RT_ASSIGN_OR_RETURN(out[o], dynamic_.Resize(t, tensors[t], d.dims.data(), d.dims.size()));
    } else {
      out[o] = TensorData(t);
    }
  }
  const int64_t scratch = cs.def->scratch_bytes(*a.params, num_threads_);
  if (scratch < 0) return InvalidArgument("kernel scratch size overflows");
  // Never null, even for none: kernels may form pointers into it.
  if (static_cast<uint64_t>(scratch) > run_scratch_bytes_ || run_scratch_ == nullptr) {
    const uint64_t cap =
        std::max<uint64_t>(kArenaAlignment, (static_cast<uint64_t>(scratch) + kArenaAlignment - 1) /
                                                kArenaAlignment * kArenaAlignment);
    void* fresh = std::aligned_alloc(kArenaAlignment, cap);
    if (fresh == nullptr)
      return Status(SINTER_RESOURCE_EXHAUSTED, StrCat("cannot allocate ", cap, " scratch bytes"));
    std::free(run_scratch_);
    run_scratch_ = fresh;
    run_scratch_bytes_ = cap;
  }
  RunContext ctx{&tensors, &step, in.data(), out.data(), run_scratch_, pool_.get(), &dynamic_};
  ctx.run_inputs = a.in.data();
  ctx.run_outputs = a.out.data();
  if (cs.def->run_fallible != nullptr) return cs.def->run_fallible(*a.params, ctx);
  cs.def->run(*a.params, ctx);
  return Status::Ok();
}

}  // namespace

DynamicTensors::~DynamicTensors() {
  for (auto& [t, b] : buffers_)
    if (b.owned) std::free(b.data);
}

void DynamicTensors::Plan(int t, void* data, uint64_t capacity) {
  buffers_.emplace_back(t, Buffer{data, capacity, {}, false, false});
}

void* DynamicTensors::Data(int t) const {
  for (const auto& [id, b] : buffers_)
    if (id == t) return b.data;
  return nullptr;
}

const std::vector<int64_t>* DynamicTensors::Dims(int t) const {
  for (const auto& [id, b] : buffers_)
    if (id == t) return b.sized ? &b.dims : nullptr;
  return nullptr;
}

StatusOr<void*> DynamicTensors::Resize(int t, const TensorDesc& desc, const int64_t* dims,
                                       size_t rank) {
  // The same shape as its last run: its memory as it is (checked then).
  for (auto& [id, buf] : buffers_) {
    if (id == t && buf.sized && buf.dims.size() == rank &&
        (rank == 0 || std::equal(dims, dims + rank, buf.dims.begin())))
      return buf.data;
  }
  std::vector<int64_t> shape(dims, dims + rank);
  auto text = [&] {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
  };
  if (desc.kind != TensorKind::kDynamic || rank != desc.dims.size() || (rank > 0 && !dims))
    return InvalidArgument(StrCat("output '", desc.name, "': a result of rank ", rank,
                                  ", expected ", desc.dims.size()));
  for (size_t i = 0; i < rank; ++i) {
    if (dims[i] < 0 || (desc.dims[i] >= 0 && dims[i] != desc.dims[i])) {
      return InvalidArgument(StrCat("output '", desc.name, "': a result of shape ", text(),
                                    ", which its recorded "
                                    "static dimensions do not allow"));
    }
  }
  int64_t n;
  uint64_t bytes;
  if (!CheckedNumElements(shape, &n) ||
      __builtin_mul_overflow(static_cast<uint64_t>(n), sinter_dtype_size(desc.dtype), &bytes) ||
      bytes > (uint64_t{1} << 40)) {
    return Status(SINTER_RESOURCE_EXHAUSTED,
                  StrCat("output '", desc.name, "': a result of shape ", text(), " is too large"));
  }
  Buffer* b = nullptr;
  for (auto& [id, buf] : buffers_)
    if (id == t) b = &buf;
  if (b == nullptr) b = &buffers_.emplace_back(t, Buffer{}).second;
  if (bytes > b->capacity || b->data == nullptr) {
    const uint64_t cap = std::max<uint64_t>(
        kArenaAlignment, (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment);
    void* fresh = std::aligned_alloc(kArenaAlignment, cap);
    if (fresh == nullptr) {
      return Status(SINTER_RESOURCE_EXHAUSTED,
                    StrCat("output '", desc.name, "': cannot allocate ", bytes, " bytes"));
    }
    if (b->owned) std::free(b->data);
    b->data = fresh;
    b->capacity = cap;
    b->owned = true;
  }
  b->dims = std::move(shape);
  b->sized = true;
  return b->data;
}

const Backend& CpuBackend() {
  static const Backend b{"cpu", &CpuModel::Load, &CpuOpNames};
  return b;
}

}  // namespace sinter::rt
