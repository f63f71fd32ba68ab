// The CUDA backend (see backend.h). Loading, in order:
//  1. the driver (dlopen) and the device: ordinal, compute capability, SMs;
//  2. the module: the artifact's cubin for this architecture (or one of the
//     same major version below it), else its PTX if not newer than the GPU,
//     each checked against its CRC-32 before the driver sees it;
//  3. constants: one device allocation, each constant copied once;
//  4. steps: each kernel's attributes and recorded shapes checked, its
//     launch (function, grid, parameter block) or library call described.
// A session then binds tensors to device addresses (arena offsets, the
// model's constants, or the caller's device pointers), makes its library
// plans, and enqueues the steps on its stream, captured once as a graph.
#include "runtime/cuda/backend.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/cuda/params.h"
#include "runtime/attrs.h"
#include "runtime/cuda/conv.h"
#include "runtime/cuda/dynlib.h"
#include "runtime/cuda/gemm.h"
#include "runtime/cuda/plan.h"
#include "runtime/format/file.h"
#include "runtime/format/sinter_generated.h"

namespace sinter::rt::cuda {

bool BackendBuilt() { return true; }

namespace {

using Dims = std::vector<int64_t>;
constexpr size_t kMaxWorkspace = size_t{64} << 20;  // per library call

#define CU_RETURN(api, call)                                      \
  do {                                                            \
    ::sinter::rt::Status _s = CuStatus((api), (api).call, #call); \
    if (!_s.ok()) return _s;                                      \
  } while (0)

// A launch resolved against the loaded module.
struct Launch {
  CUfunction fn = nullptr;
  int block = 256;
  int64_t grid = 0;
  std::vector<uint8_t> params;  // the parameter block passed by value, if any
};

// A kernel's plan (plan.h) with its functions found in the module.
struct CudaStep {
  StepPlan plan;
  std::vector<Launch> launches;
  Launch epilogue;  // fn null: none
};

// Makes a context current on this thread for a scope: every driver call
// acts on the current context, and the caller's own stays as it was.
class ContextScope {
 public:
  ContextScope(const DriverApi& api, CUcontext ctx)
      : api_(api), status_(CuStatus(api, api.cuCtxPushCurrent(ctx), "cuCtxPushCurrent")) {}
  ~ContextScope() {
    CUcontext popped;
    if (status_.ok()) api_.cuCtxPopCurrent(&popped);
  }
  const Status& status() const { return status_; }

 private:
  const DriverApi& api_;
  Status status_;
};

int64_t GridFor(int64_t items, int block, int max_blocks_per_sm, int sms) {
  if (items <= 0) return 0;
  const int64_t want = (items + block - 1) / block;
  return std::min<int64_t>(want, int64_t{sms} * std::max(1, max_blocks_per_sm));
}

}  // namespace

class CudaModel final : public BackendModel {
 public:
  StatusOr<std::unique_ptr<BackendSession>> CreateSession(
      const SessionConfig& config) const override;

  const Model* model = nullptr;
  const DriverApi* api = nullptr;
  CUdevice device = 0;
  CUcontext ctx = nullptr;
  int sms = 1;
  int cc_major = 0, cc_minor = 0;
  std::string name;
  CUmodule module = nullptr;
  CUdeviceptr constants = 0;
  std::vector<CUdeviceptr> constant_ptr;  // per tensor; 0 for non-constants
  std::vector<CudaStep> steps;
  bool allow_tf32 = false;
  bool needs_cudnn = false, needs_cublas = false;

  ~CudaModel() override {
    if (api == nullptr) return;
    api->cuCtxPushCurrent(ctx);
    if (constants) api->cuMemFree(constants);
    if (module) api->cuModuleUnload(module);
    CUcontext popped;
    api->cuCtxPopCurrent(&popped);
    api->cuDevicePrimaryCtxRelease(device);
  }

  StatusOr<CUfunction> Function(const std::string& fn_name) const {
    CUfunction f = nullptr;
    CUresult r = api->cuModuleGetFunction(&f, module, fn_name.c_str());
    if (r != CUDA_SUCCESS)
      return DataLoss(StrCat("the artifact's CUDA module has no function '", fn_name, "'"));
    return f;
  }

  StatusOr<Launch> Resolve(const LaunchPlan& p) const {
    auto f = Function(p.fn);
    if (!f.ok()) return f.status();
    Launch l;
    l.fn = f.value();
    l.block = p.block;
    l.grid = GridFor(p.items, p.block, p.max_blocks_per_sm, sms);
    l.params = p.params;
    return l;
  }
};

namespace {

// The architecture number of a CUDA image format ("cubin-sm_90" -> 90,
// "ptx-compute_90" -> 90, with *ptx set), or -1 for another format.
int ImageArch(const std::string& format, bool* ptx) {
  int v = -1;
  if (format.rfind("cubin-sm_", 0) == 0) {
    *ptx = false;
    v = std::atoi(format.c_str() + 9);
  } else if (format.rfind("ptx-compute_", 0) == 0) {
    *ptx = true;
    v = std::atoi(format.c_str() + 12);
  }
  return v > 0 ? v : -1;
}

// Picks the image for a device of compute capability major.minor: the exact
// cubin, else the newest cubin of the same major not above it (SASS runs on
// later minors of its major), else the newest PTX not above the device.
StatusOr<const CodeObject*> PickImage(const Model& model, int major, int minor) {
  const CodeObject *best = nullptr, *ptx = nullptr;
  int best_v = -1, ptx_v = -1;
  std::string have;
  const int dev = major * 10 + minor;
  for (const CodeObject& o : model.code_objects()) {
    have += (have.empty() ? "" : ", ") + o.format;
    bool is_ptx = false;
    const int v = ImageArch(o.format, &is_ptx);
    if (is_ptx) {
      if (v <= dev && v > ptx_v) ptx = &o, ptx_v = v;
    } else if (v / 10 == major && v <= dev && v > best_v) {
      best = &o, best_v = v;
    }
  }
  if (best != nullptr) return best;
  if (ptx != nullptr) return ptx;
  return Status(SINTER_UNIMPLEMENTED, StrCat("the artifact has CUDA code for [", have,
                                             "], none of which runs on this GPU (sm_", dev,
                                             "); compile it with sinterc --target cuda:sm_", dev));
}

// Plans every step (plan.h): the checks that need no device.
StatusOr<std::vector<StepPlan>> PlanSteps(const Model& model, bool allow_tf32) {
  std::vector<StepPlan> plans;
  for (size_t k = 0; k < model.steps().size(); ++k) {
    const Step& step = model.steps()[k];
    auto plan =
        PlanStep(model.tensors(), std::string(step.schema->name), step.attrs(), step, allow_tf32);
    if (!plan.ok()) {
      return plan.status().WithContext(StrCat("kernel ", k, " (", step.schema->name,
                                              step.loc.empty() ? "" : " at " + step.loc,
                                              ") on CUDA"));
    }
    plans.push_back(std::move(plan.value()));
  }
  return plans;
}

}  // namespace

StatusOr<std::unique_ptr<BackendModel>> LoadCuda(const Model& model, const LoadContext& ctx) {
  // 0. Device code: one module of CUDA images (their ranges and CRCs were
  // checked by the loader before any driver call, so a damaged artifact is
  // DATA_LOSS on every machine, GPU or not), and every step planned.
  if (model.code_objects().empty()) return DataLoss("a CUDA artifact with no CUDA device code");
  for (const TensorDesc& t : model.tensors()) {
    if (t.kind == TensorKind::kDynamic)
      return Status(SINTER_UNIMPLEMENTED,
                    StrCat("tensor '", t.name,
                           "' has a data-dependent size, which the CUDA backend "
                           "does not run yet"));
  }
  for (const CodeObject& o : model.code_objects()) {
    bool ptx = false;
    if (ImageArch(o.format, &ptx) < 0)
      return Status(SINTER_UNIMPLEMENTED,
                    StrCat("code object format '", o.format, "' is not one the CUDA backend runs"));
    if (o.module != 0) return Status(SINTER_UNIMPLEMENTED, "CUDA artifacts have one code module");
  }
  const bool allow_tf32 = ctx.schema->cuda_tf32();
  auto plans = PlanSteps(model, allow_tf32);
  if (!plans.ok()) return plans.status();
  if (ctx.options->verify_only) return std::unique_ptr<BackendModel>();
  const int device = ctx.options->cuda_device;
  // 1. Driver and device.
  auto driver = Driver();
  if (!driver.ok()) return driver.status();  // names the library and says why it is needed
  const DriverApi& api = *driver.value();
  int count = 0;
  CU_RETURN(api, cuDeviceGetCount(&count));
  if (device < 0 || device >= count) {
    return Status(SINTER_UNAVAILABLE,
                  StrCat("CUDA device ", device, " requested; this machine has ", count));
  }
  auto m = std::make_unique<CudaModel>();
  CU_RETURN(api, cuDeviceGet(&m->device, device));
  CU_RETURN(api, cuDevicePrimaryCtxRetain(&m->ctx, m->device));
  m->api = &api;  // from here on the destructor releases the context
  ContextScope scope(api, m->ctx);
  RT_RETURN_IF_ERROR(scope.status());
  char name[256] = {};
  CU_RETURN(api, cuDeviceGetName(name, sizeof name - 1, m->device));
  m->name = name;
  CU_RETURN(api, cuDeviceGetAttribute(&m->cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                      m->device));
  CU_RETURN(api, cuDeviceGetAttribute(&m->cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                      m->device));
  CU_RETURN(api,
            cuDeviceGetAttribute(&m->sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, m->device));
  m->allow_tf32 = allow_tf32;
  m->model = &model;

  // 2. The module (every image was checked against its CRC by the loader).
  auto image = PickImage(model, m->cc_major, m->cc_minor);
  if (!image.ok()) return image.status();
  std::string bytes(reinterpret_cast<const char*>(image.value()->data), image.value()->size);
  bool is_ptx = false;
  ImageArch(image.value()->format, &is_ptx);
  if (is_ptx) bytes.push_back('\0');  // the driver reads PTX as a C string
  char log[4096] = {};
  CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void* vals[] = {log, reinterpret_cast<void*>(static_cast<uintptr_t>(sizeof log - 1))};
  CUresult r = api.cuModuleLoadDataEx(&m->module, bytes.data(), 2, opts, vals);
  if (r != CUDA_SUCCESS) {
    return CuStatus(api, r, "cuModuleLoadDataEx")
        .WithContext(StrCat("loading the CUDA module ", image.value()->format, " (", log, ")"));
  }

  // 3. Constants: one allocation, each tensor at an aligned offset.
  const auto& T = model.tensors();
  m->constant_ptr.assign(T.size(), 0);
  uint64_t total = 0;
  std::vector<uint64_t> at(T.size(), 0);
  for (size_t i = 0; i < T.size(); ++i) {
    if (T[i].kind != TensorKind::kConstant) continue;
    at[i] = total;
    total += (T[i].byte_size + 255) / 256 * 256;
  }
  if (total > 0) {
    CU_RETURN(api, cuMemAlloc(&m->constants, total));
    for (size_t i = 0; i < T.size(); ++i) {
      if (T[i].kind != TensorKind::kConstant) continue;
      m->constant_ptr[i] = m->constants + at[i];
      if (T[i].byte_size)
        CU_RETURN(api, cuMemcpyHtoD(m->constant_ptr[i], T[i].constant, T[i].byte_size));
    }
  }

  // 4. Steps: the plans made above, their functions found in the module.
  m->steps.resize(model.steps().size());
  for (size_t k = 0; k < model.steps().size(); ++k) {
    const Step& step = model.steps()[k];
    auto where = [&] {
      return StrCat("kernel ", k, " (", step.schema->name,
                    step.loc.empty() ? "" : " at " + step.loc, ") on CUDA");
    };
    CudaStep& cs = m->steps[k];
    cs.plan = std::move(plans.value()[k]);
    for (const LaunchPlan& lp : cs.plan.launches) {
      auto l = m->Resolve(lp);
      if (!l.ok()) return l.status().WithContext(where());
      cs.launches.push_back(std::move(l.value()));
    }
    if (!cs.plan.epilogue.fn.empty()) {
      auto l = m->Resolve(cs.plan.epilogue);
      if (!l.ok()) return l.status().WithContext(where());
      cs.epilogue = std::move(l.value());
    }
    m->needs_cudnn |= cs.plan.kind == Kind::kConv;
    m->needs_cublas |= cs.plan.kind == Kind::kLinear || cs.plan.kind == Kind::kMatmul;
  }
  return std::unique_ptr<BackendModel>(std::move(m));
}

class CudaSession final : public BackendSession {
 public:
  Status SetInput(size_t index, const void* data, size_t bytes) override;
  Status BindInputDevice(size_t index, void* device_ptr, size_t bytes) override;
  Status BindOutputDevice(size_t index, void* device_ptr, size_t bytes) override;
  Status Run(std::vector<KernelTime>* profile) override;
  StatusOr<const void*> Output(size_t index) const override {
    if (bound_out[index])
      return Status(SINTER_FAILED_PRECONDITION,
                    StrCat("output ", index, " is bound to device memory: read it there"));
    return static_cast<const void*>(pinned + out_at[index]);
  }

  const Model* model = nullptr;
  const CudaModel* cm = nullptr;
  const DriverApi* api = nullptr;
  CUstream stream = nullptr;
  CUdeviceptr arena = 0, workspace = 0;
  size_t workspace_bytes = 0;
  cublasLtHandle_t blas = nullptr;
  const CublasLtApi* blas_api = nullptr;
  cudnnHandle_t dnn = nullptr;
  const CudnnApi* dnn_api = nullptr;
  // Per step: the library plan, and whether it fused bias + activation.
  std::vector<std::unique_ptr<GemmPlan>> gemm;
  std::vector<std::unique_ptr<ConvPlan>> conv;
  std::vector<char> fused;
  // Host staging (pinned): inputs, then outputs, each at an aligned offset.
  uint8_t* pinned = nullptr;
  std::vector<uint64_t> in_at, out_at;
  std::vector<CUdeviceptr> bound_in, bound_out;  // caller device pointers, 0: none
  bool use_graph = true;
  int64_t runs = 0;  // completed runs; the first is eager, later ones replay a graph
  CUgraph graph = nullptr;
  CUgraphExec exec = nullptr;
  std::vector<CUdeviceptr> graph_in, graph_out;  // pointers the graph was captured with
  CUevent* events = nullptr;
  size_t num_events = 0;

  ~CudaSession() override {
    if (api == nullptr) return;
    api->cuCtxPushCurrent(cm->ctx);
    if (stream) api->cuStreamSynchronize(stream);
    gemm.clear();
    conv.clear();
    if (exec) api->cuGraphExecDestroy(exec);
    if (graph) api->cuGraphDestroy(graph);
    // Only the events that were made: when CreateSession's cuEventCreate
    // fails part-way, the rest of the array is null, and the driver
    // refuses a null event (found by the fake driver, tests/cuda_fake).
    for (size_t i = 0; i < num_events; ++i)
      if (events[i] != nullptr) api->cuEventDestroy(events[i]);
    delete[] events;
    if (dnn) dnn_api->cudnnDestroy(dnn);
    if (blas) blas_api->cublasLtDestroy(blas);
    if (pinned) api->cuMemFreeHost(pinned);
    if (workspace) api->cuMemFree(workspace);
    if (arena) api->cuMemFree(arena);
    if (stream) api->cuStreamDestroy(stream);
    CUcontext c;
    api->cuCtxPopCurrent(&c);
  }

  // Where tensor t lives on the device: a constant's upload, the caller's
  // memory for a bound input, or for an output that a step writes (the
  // kernels then write the caller's memory directly), else the arena.
  CUdeviceptr Ptr(int t) const {
    const TensorDesc& d = model->tensors()[t];
    if (d.kind == TensorKind::kConstant) return cm->constant_ptr[t];
    if (d.kind == TensorKind::kInput) {
      for (size_t i = 0; i < model->inputs().size(); ++i)
        if (model->inputs()[i] == t && bound_in[i]) return bound_in[i];
      return arena + d.arena_offset;
    }
    for (size_t i = 0; i < model->outputs().size(); ++i)
      if (model->outputs()[i] == t && bound_out[i]) return bound_out[i];
    return arena + d.arena_offset;
  }

  Status Launch(const struct Launch& l, std::vector<CUdeviceptr>& ptrs) const {
    if (l.grid == 0) return Status::Ok();
    std::vector<void*> args;
    for (CUdeviceptr& p : ptrs) args.push_back(&p);
    if (!l.params.empty()) args.push_back(const_cast<uint8_t*>(l.params.data()));
    CU_RETURN(*api, cuLaunchKernel(l.fn, static_cast<unsigned>(l.grid), 1, 1, l.block, 1, 1, 0,
                                   stream, args.data(), nullptr));
    return Status::Ok();
  }

  Status Enqueue(size_t k) const {
    const Step& step = model->steps()[k];
    const CudaStep& cs = cm->steps[k];
    const StepPlan& sp = cs.plan;
    std::vector<CUdeviceptr> ptrs;
    for (int t : step.inputs) ptrs.push_back(Ptr(t));
    const CUdeviceptr out = Ptr(step.outputs[0]);
    switch (sp.kind) {
      case Kind::kGenerated:
      case Kind::kHand:
        ptrs.push_back(out);
        return Launch(cs.launches[0], ptrs);
      case Kind::kCopy: {
        std::vector<CUdeviceptr> io{ptrs[0], out};
        return Launch(cs.launches[0], io);
      }
      case Kind::kConcat:
        for (size_t i = 0; i < cs.launches.size(); ++i) {
          std::vector<CUdeviceptr> io{ptrs[i], out};
          RT_RETURN_IF_ERROR(Launch(cs.launches[i], io));
        }
        return Status::Ok();
      case Kind::kReshape:
        if (ptrs[0] != out && model->tensors()[step.outputs[0]].byte_size) {
          CU_RETURN(*api, cuMemcpyDtoDAsync(out, ptrs[0],
                                            model->tensors()[step.outputs[0]].byte_size, stream));
        }
        return Status::Ok();
      case Kind::kConv:
      case Kind::kLinear:
      case Kind::kMatmul: {
        if (!conv[k] && !gemm[k]) return Status::Ok();  // an empty output
        const void* bias = ptrs.size() >= 3 ? reinterpret_cast<const void*>(ptrs[2]) : nullptr;
        auto dp = [](CUdeviceptr p) { return reinterpret_cast<void*>(p); };
        if (sp.kind == Kind::kConv) {
          RT_RETURN_IF_ERROR(
              conv[k]->Run(dnn, dp(ptrs[0]), dp(ptrs[1]), bias, dp(out), dp(workspace)));
        } else {
          RT_RETURN_IF_ERROR(
              gemm[k]->Run(stream, dp(ptrs[0]), dp(ptrs[1]), bias, dp(out), dp(workspace)));
        }
        if (!fused[k] && cs.epilogue.fn != nullptr) {
          // The epilogue kernel: the library's output (in place), then the
          // bias and the extra operands, then the output.
          std::vector<CUdeviceptr> io{out};
          for (size_t i = 2; i < ptrs.size(); ++i) io.push_back(ptrs[i]);
          io.push_back(out);
          return Launch(cs.epilogue, io);
        }
        return Status::Ok();
      }
    }
    return Status::Ok();
  }
};

StatusOr<std::unique_ptr<BackendSession>> CudaModel::CreateSession(
    const SessionConfig& config) const {
  auto s = std::make_unique<CudaSession>();
  const CudaModel& cm = *this;
  const Model& model = *this->model;
  const DriverApi& api = *cm.api;
  s->model = &model;
  s->cm = &cm;
  ContextScope scope(api, cm.ctx);
  RT_RETURN_IF_ERROR(scope.status());
  s->api = &api;
  s->use_graph = config.use_cuda_graph;
  CU_RETURN(api, cuStreamCreate(&s->stream, CU_STREAM_NON_BLOCKING));
  if (model.arena_bytes() > 0) CU_RETURN(api, cuMemAlloc(&s->arena, model.arena_bytes()));
  const size_t n = model.steps().size();
  s->gemm.resize(n);
  s->conv.resize(n);
  s->fused.assign(n, 0);
  if (cm.needs_cublas) {
    auto lib = CublasLt();
    if (!lib.ok()) return lib.status().WithContext("this model's GEMMs need cuBLASLt");
    s->blas_api = lib.value();
    RT_RETURN_IF_ERROR(
        CublasStatus(*s->blas_api, s->blas_api->cublasLtCreate(&s->blas), "cublasLtCreate"));
  }
  if (cm.needs_cudnn) {
    auto lib = Cudnn();
    if (!lib.ok()) return lib.status().WithContext("this model's convolutions need cuDNN");
    s->dnn_api = lib.value();
    RT_RETURN_IF_ERROR(CudnnStatus(*s->dnn_api, s->dnn_api->cudnnCreate(&s->dnn), "cudnnCreate"));
    RT_RETURN_IF_ERROR(CudnnStatus(
        *s->dnn_api, s->dnn_api->cudnnSetStream(s->dnn, reinterpret_cast<cudaStream_t>(s->stream)),
        "cudnnSetStream"));
  }
  // Library plans: with bias and activation fused where the step allows and
  // the library has an algorithm; otherwise plain, with the epilogue kernel.
  for (size_t k = 0; k < n; ++k) {
    const CudaStep& cs = cm.steps[k];
    const StepPlan& sp = cs.plan;
    if (sp.kind != Kind::kConv && sp.kind != Kind::kLinear && sp.kind != Kind::kMatmul) continue;
    if (model.tensors()[model.steps()[k].outputs[0]].num_elements == 0) continue;  // nothing to do
    const bool try_fused = sp.kind != Kind::kMatmul && sp.fused_activation != "-" &&
                           (sp.conv.bias || sp.gemm.bias || sp.fused_activation != "");
    const std::string where = StrCat("kernel ", k, " (", model.steps()[k].label, ")");
    for (int attempt = try_fused ? 0 : 1; attempt < 2; ++attempt) {
      Status st;
      if (sp.kind == Kind::kConv) {
        ConvDesc d = sp.conv;
        if (attempt == 1) d.bias = false, d.activation = Activation::kNone;
        auto plan = ConvPlan::Create(*s->dnn_api, s->dnn, d, kMaxWorkspace);
        if (plan.ok()) s->conv[k] = std::move(plan.value());
        st = plan.status();
      } else {
        GemmDesc d = sp.gemm;
        if (attempt == 1) d.bias = false, d.activation = Activation::kNone;
        auto plan = GemmPlan::Create(*s->blas_api, s->blas, d, kMaxWorkspace);
        if (plan.ok()) s->gemm[k] = std::move(plan.value());
        st = plan.status();
      }
      if (st.ok()) {
        s->fused[k] = attempt == 0;
        break;
      }
      if (attempt == 1) return st.WithContext(where);  // any failure of the fused plan falls back
    }
    if (!s->fused[k] && cs.epilogue.fn == nullptr && (sp.conv.bias || sp.gemm.bias))
      return Status(SINTER_INTERNAL, where + ": no way to apply the bias");
    const size_t ws = s->conv[k] ? s->conv[k]->workspace_bytes() : s->gemm[k]->workspace_bytes();
    s->workspace_bytes = std::max(s->workspace_bytes, ws);
  }
  if (s->workspace_bytes) CU_RETURN(api, cuMemAlloc(&s->workspace, s->workspace_bytes));
  // Pinned staging.
  uint64_t total = 0;
  const auto& T = model.tensors();
  for (int t : model.inputs()) s->in_at.push_back(total), total += (T[t].byte_size + 63) / 64 * 64;
  for (int t : model.outputs())
    s->out_at.push_back(total), total += (T[t].byte_size + 63) / 64 * 64;
  if (total) {
    void* p = nullptr;
    CU_RETURN(api, cuMemHostAlloc(&p, total, 0));
    s->pinned = static_cast<uint8_t*>(p);
  }
  s->bound_in.assign(model.inputs().size(), 0);
  s->bound_out.assign(model.outputs().size(), 0);
  s->num_events = n + 1;
  s->events = new CUevent[s->num_events]();
  for (size_t i = 0; i < s->num_events; ++i)
    CU_RETURN(api, cuEventCreate(&s->events[i], CU_EVENT_DEFAULT));
  return std::unique_ptr<BackendSession>(std::move(s));
}

Status CudaSession::SetInput(size_t index, const void* data, size_t bytes) {
  if (bytes) std::memcpy(pinned + in_at[index], data, bytes);
  bound_in[index] = 0;
  return Status::Ok();
}

// Library calls were promised 16-byte aligned operands (gemm.cc, conv.cc),
// and the generated kernels' vector paths want it too.
Status CheckDevicePointer(const TensorDesc& d, const char* what, void* p, size_t bytes) {
  if (p == nullptr) return Status::Ok();  // unbinds
  if (bytes != d.byte_size) {
    return InvalidArgument(
        StrCat(what, " '", d.name, "': ", bytes, " bytes given, expected ", d.byte_size));
  }
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0)
    return InvalidArgument(StrCat(what, " '", d.name, "': device pointer not 16-byte aligned"));
  return Status::Ok();
}

Status CudaSession::BindInputDevice(size_t index, void* device_ptr, size_t bytes) {
  RT_RETURN_IF_ERROR(
      CheckDevicePointer(model->tensors()[model->inputs()[index]], "input", device_ptr, bytes));
  bound_in[index] = reinterpret_cast<CUdeviceptr>(device_ptr);
  return Status::Ok();
}

Status CudaSession::BindOutputDevice(size_t index, void* device_ptr, size_t bytes) {
  RT_RETURN_IF_ERROR(
      CheckDevicePointer(model->tensors()[model->outputs()[index]], "output", device_ptr, bytes));
  bound_out[index] = reinterpret_cast<CUdeviceptr>(device_ptr);
  return Status::Ok();
}

namespace {

// Runs every step on the stream, kernel by kernel.
Status EnqueueAll(const CudaSession& s) {
  for (size_t k = 0; k < s.model->steps().size(); ++k)
    RT_RETURN_IF_ERROR(s.Enqueue(k).WithContext(StrCat("kernel ", k)));
  return Status::Ok();
}

// Captures every step as a graph and instantiates it. On failure nothing is
// left behind (no graph, the stream out of capture mode).
Status Capture(CudaSession& s) {
  const DriverApi& api = *s.api;
  CU_RETURN(api, cuStreamBeginCapture(s.stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
  Status st = EnqueueAll(s);
  CUgraph g = nullptr;
  const CUresult end = api.cuStreamEndCapture(s.stream, &g);
  if (st.ok()) st = CuStatus(api, end, "cuStreamEndCapture");
  if (st.ok())
    st = CuStatus(api, api.cuGraphInstantiateWithFlags(&s.exec, g, 0), "cuGraphInstantiate");
  if (!st.ok()) {
    if (g != nullptr) api.cuGraphDestroy(g);
    s.exec = nullptr;
    return st;
  }
  s.graph = g;
  s.graph_in = s.bound_in;
  s.graph_out = s.bound_out;
  return Status::Ok();
}

Status RunSteps(CudaSession& s, bool profiling) {
  const DriverApi& api = *s.api;
  const size_t n = s.model->steps().size();
  if (profiling) {
    // Events between kernels: no graph, so each kernel's time is its own.
    CU_RETURN(api, cuEventRecord(s.events[0], s.stream));
    for (size_t k = 0; k < n; ++k) {
      RT_RETURN_IF_ERROR(s.Enqueue(k).WithContext(StrCat("kernel ", k)));
      CU_RETURN(api, cuEventRecord(s.events[k + 1], s.stream));
    }
    return Status::Ok();
  }
  // The first run is eager: libraries do their lazy first-use work
  // (allocations, module loads) outside of a capture, where it is legal.
  if (!s.use_graph || s.runs == 0) return EnqueueAll(s);
  if (s.exec != nullptr && (s.graph_in != s.bound_in || s.graph_out != s.bound_out)) {
    api.cuGraphExecDestroy(s.exec), s.exec = nullptr;
    api.cuGraphDestroy(s.graph), s.graph = nullptr;
  }
  if (s.exec == nullptr && !Capture(s).ok()) {
    // Something in the plan cannot be captured: run eagerly from now on
    // (slower, still correct) rather than fail every run.
    s.use_graph = false;
    return EnqueueAll(s);
  }
  CU_RETURN(api, cuGraphLaunch(s.exec, s.stream));
  return Status::Ok();
}

}  // namespace

Status CudaSession::Run(std::vector<KernelTime>* times) {
  CudaSession& s = *this;
  const bool profiling = times != nullptr;
  const DriverApi& api = *s.api;
  ContextScope scope(api, s.cm->ctx);
  RT_RETURN_IF_ERROR(scope.status());
  const auto& T = s.model->tensors();
  Status st;
  for (size_t i = 0; i < s.model->inputs().size() && st.ok(); ++i) {
    const int t = s.model->inputs()[i];
    if (s.bound_in[i] == 0 && T[t].byte_size) {
      st = CuStatus(api,
                    api.cuMemcpyHtoDAsync(s.arena + T[t].arena_offset, s.pinned + s.in_at[i],
                                          T[t].byte_size, s.stream),
                    "cuMemcpyHtoDAsync");
    }
  }
  if (st.ok()) st = RunSteps(s, profiling);
  // Outputs: to pinned staging, or to the caller's device memory when the
  // kernels did not write it there already (an output that is an input or
  // a constant, or one tensor listed as two outputs).
  for (size_t i = 0; i < s.model->outputs().size() && st.ok(); ++i) {
    const int t = s.model->outputs()[i];
    if (T[t].byte_size == 0) continue;
    if (s.bound_out[i] == 0) {
      st = CuStatus(
          api, api.cuMemcpyDtoHAsync(s.pinned + s.out_at[i], s.Ptr(t), T[t].byte_size, s.stream),
          "cuMemcpyDtoHAsync");
    } else if (s.Ptr(t) != s.bound_out[i]) {
      st = CuStatus(api, api.cuMemcpyDtoDAsync(s.bound_out[i], s.Ptr(t), T[t].byte_size, s.stream),
                    "cuMemcpyDtoDAsync");
    }
  }
  // Always wait, also after an error: nothing may still be reading the
  // staging buffers when the caller sets the next inputs.
  const Status sync = CuStatus(api, api.cuStreamSynchronize(s.stream), "cuStreamSynchronize");
  RT_RETURN_IF_ERROR(st);
  RT_RETURN_IF_ERROR(sync);
  ++s.runs;
  if (profiling) {
    const size_t n = s.model->steps().size();
    times->assign(n, {});
    for (size_t k = 0; k < n; ++k) {
      float start = 0, dur = 0;
      CU_RETURN(api, cuEventElapsedTime(&start, s.events[0], s.events[k]));
      CU_RETURN(api, cuEventElapsedTime(&dur, s.events[k], s.events[k + 1]));
      (*times)[k] = {start * 1000.0, dur * 1000.0};
    }
  }
  return Status::Ok();
}

std::vector<std::string_view> CudaOps() { return PlannedOps(); }

}  // namespace sinter::rt::cuda

namespace sinter::rt {

const Backend& CudaBackend() {
  static const Backend b{"cuda", &cuda::LoadCuda, &cuda::CudaOps};
  return b;
}

}  // namespace sinter::rt
