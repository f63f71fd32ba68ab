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

struct CpuStep {
  const OpDef* def = nullptr;
  std::unique_ptr<KernelParams> params;
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

class CpuModel;

class CpuSession final : public BackendSession {
 public:
  CpuSession(const Model& model, const CpuModel& cm) : model_(model), cm_(cm) {}
  ~CpuSession() override { std::free(arena_); }
  Status Init(int num_threads);
  Status SetInput(size_t index, const void* data, size_t bytes) override {
    if (bytes) std::memcpy(TensorData(model_.inputs()[index]), data, bytes);
    return Status::Ok();
  }
  Status Run(std::vector<KernelTime>* profile) override;
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
  uint64_t scratch_offset_ = 0;
  std::unique_ptr<ThreadPool> pool_;
  DynamicTensors dynamic_;
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
  const std::vector<CpuStep>& steps() const { return steps_; }

 private:
  const Model* model_ = nullptr;
  // Before steps_: their parameters hold pointers into this code, so it must
  // be unloaded after them.
  std::vector<std::unique_ptr<NativeCode>> native_;
  std::vector<const NativeCode*> modules_;  // per module id, null: not loaded
  std::vector<CpuStep> steps_;
  int native_kernels_ = 0;
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
  return std::unique_ptr<BackendModel>(std::move(cm));
}

Status CpuSession::Init(int num_threads) {
  if (num_threads == 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  // Scratch sits after the planned arena; kernels run one at a time, so one
  // region sized for the hungriest kernel serves them all.
  uint64_t scratch = 0;
  for (const CpuStep& step : cm_.steps()) {
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

}  // namespace

DynamicTensors::~DynamicTensors() {
  for (auto& [t, b] : buffers_) std::free(b.data);
}

void* DynamicTensors::Data(int t) const {
  for (const auto& [id, b] : buffers_)
    if (id == t) return b.data;
  return nullptr;
}

const std::vector<int64_t>* DynamicTensors::Dims(int t) const {
  for (const auto& [id, b] : buffers_)
    if (id == t) return &b.dims;
  return nullptr;
}

StatusOr<void*> DynamicTensors::Resize(int t, const TensorDesc& desc, const int64_t* dims,
                                       size_t rank) {
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
    std::free(b->data);
    b->data = fresh;
    b->capacity = cap;
  }
  b->dims = std::move(shape);
  return b->data;
}

const Backend& CpuBackend() {
  static const Backend b{"cpu", &CpuModel::Load, &CpuOpNames};
  return b;
}

}  // namespace sinter::rt
