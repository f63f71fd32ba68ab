// ConvPlan over cuDNN 9's backend API. Create builds, in order:
//   1. tensors: x, w, y (and bias), plus float virtual tensors between the
//      fused operations; dims always NCHW / KCRS, strides the memory layout;
//   2. the operations: conv_fprop (x, w -> y or a virtual t1), then
//      pointwise add (t1, bias -> ...) and pointwise activation (... -> y);
//   3. the operation graph, and the engine configurations cuDNN's
//      heuristics suggest (mode A, then the fallback list), filtered for
//      numerics;
//   4. an execution plan from the first configuration that finalises
//      within the workspace limit.
// Every descriptor is owned by a Desc, so an error at any step frees all.
// Run only builds a variant pack (uids -> pointers) and executes the plan.
#include "runtime/cuda/conv.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace sinter::rt::cuda {
namespace {

// cuDNN checks that every non-virtual tensor's pointer has this alignment
// at execution; sinter's arena places tensors at 64-byte offsets.
constexpr int64_t kAlignment = 16;

// Unique ids of the tensors in the graph; the variant pack names the
// non-virtual ones.
enum Uid : int64_t { kX = 1, kW, kY, kBias, kConvOut, kBiasOut };

// One backend descriptor, destroyed with its owner.
class Desc {
 public:
  Desc() = default;
  Desc(const CudnnApi* api, cudnnBackendDescriptor_t d) : api_(api), d_(d) {}
  Desc(Desc&& o) noexcept : api_(o.api_), d_(std::exchange(o.d_, nullptr)) {}
  Desc& operator=(Desc&& o) noexcept {
    std::swap(api_, o.api_);
    std::swap(d_, o.d_);
    return *this;
  }
  ~Desc() {
    if (d_ != nullptr) api_->cudnnBackendDestroyDescriptor(d_);
  }
  cudnnBackendDescriptor_t get() const { return d_; }
  // cudnnBackendSetAttribute wants the address of the handle it stores.
  const cudnnBackendDescriptor_t* ptr() const { return &d_; }

 private:
  const CudnnApi* api_ = nullptr;
  cudnnBackendDescriptor_t d_ = nullptr;
};

// One cudnnBackendSetAttribute call; `label` is the attribute's name for
// messages.
struct Attr {
  cudnnBackendAttributeName_t name;
  cudnnBackendAttributeType_t type;
  int64_t count;
  const void* value;
  const char* label;
};
#define SINTER_ATTR(name, type, count, value) \
  Attr { name, type, count, value, #name }

// A failed cuDNN call; NOT_SUPPORTED (any of its sub-codes) becomes
// Unimplemented, so callers can tell "cuDNN cannot do this graph" from a
// real error.
Status Check(const CudnnApi& api, cudnnStatus_t r, const std::string& what) {
  Status st = CudnnStatus(api, r, what.c_str());
  if (!st.ok() && CUDNN_STATUS_CATEGORY(r) == CUDNN_STATUS_NOT_SUPPORTED) {
    return Status(SINTER_UNIMPLEMENTED, st.message());
  }
  return st;
}

StatusOr<Desc> Make(const CudnnApi& api, cudnnBackendDescriptorType_t type, const char* what) {
  cudnnBackendDescriptor_t d = nullptr;
  RT_RETURN_IF_ERROR(Check(api, api.cudnnBackendCreateDescriptor(type, &d),
                           StrCat("cudnnBackendCreateDescriptor(", what, ")")));
  return Desc(&api, d);
}

Status SetAll(const CudnnApi& api, const Desc& d, const char* what,
              std::initializer_list<Attr> attrs) {
  for (const Attr& a : attrs) {
    RT_RETURN_IF_ERROR(
        Check(api, api.cudnnBackendSetAttribute(d.get(), a.name, a.type, a.count, a.value),
              StrCat("cudnnBackendSetAttribute(", what, ", ", a.label, ")")));
  }
  return Status::Ok();
}

Status Finalize(const CudnnApi& api, const Desc& d, const char* what) {
  return Check(api, api.cudnnBackendFinalize(d.get()), StrCat("cudnnBackendFinalize(", what, ")"));
}

StatusOr<Desc> Build(const CudnnApi& api, cudnnBackendDescriptorType_t type, const char* what,
                     std::initializer_list<Attr> attrs) {
  RT_ASSIGN_OR_RETURN(Desc d, Make(api, type, what));
  RT_RETURN_IF_ERROR(SetAll(api, d, what, attrs));
  RT_RETURN_IF_ERROR(Finalize(api, d, what));
  return d;
}

using Dims = std::array<int64_t, 4>;

// Strides of a logical [n, c, h, w] tensor stored as `layout`.
Dims Strides(Layout layout, const Dims& d) {
  if (layout == Layout::kNHWC) return {d[1] * d[2] * d[3], 1, d[3] * d[1], d[1]};
  return {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1};
}

StatusOr<Desc> Tensor(const CudnnApi& api, const char* what, int64_t uid, cudnnDataType_t type,
                      const Dims& dims, Layout layout, bool is_virtual) {
  const Dims strides = Strides(layout, dims);
  return Build(api, CUDNN_BACKEND_TENSOR_DESCRIPTOR, what,
               {SINTER_ATTR(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type),
                SINTER_ATTR(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data()),
                SINTER_ATTR(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data()),
                SINTER_ATTR(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid),
                SINTER_ATTR(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &kAlignment),
                SINTER_ATTR(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual)});
}

// A pointwise operation y = mode(x[, b]) computed in float.
StatusOr<Desc> Pointwise(const CudnnApi& api, const char* what, cudnnPointwiseMode_t mode,
                         const Desc& x, const Desc* b, const Desc& y, std::vector<Desc>* keep) {
  const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
  RT_ASSIGN_OR_RETURN(
      Desc pw,
      Build(api, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, what,
            {SINTER_ATTR(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode),
             SINTER_ATTR(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec)}));
  RT_ASSIGN_OR_RETURN(Desc op, Make(api, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, what));
  RT_RETURN_IF_ERROR(SetAll(
      api, op, what,
      {SINTER_ATTR(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                   pw.ptr()),
       SINTER_ATTR(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, x.ptr()),
       SINTER_ATTR(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                   y.ptr())}));
  if (b != nullptr) {
    RT_RETURN_IF_ERROR(SetAll(api, op, what,
                              {SINTER_ATTR(CUDNN_ATTR_OPERATION_POINTWISE_BDESC,
                                           CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, b->ptr())}));
  }
  RT_RETURN_IF_ERROR(Finalize(api, op, what));
  keep->push_back(std::move(pw));
  return op;
}

// The engine behind a configuration, and whether its numerics and build
// suit this plan. f32 without allow_tf32 must not run on tensor cores (for
// f32 data they compute in TF32): the compute type alone does not stop
// cuDNN, so engines noted TENSOR_CORE are dropped, as PyTorch does. Engines
// that down-convert their inputs are dropped for every dtype. Runtime-
// compiled engines (NVRTC, seconds at session creation) are kept, but
// tried after the precompiled ones.
struct Candidate {
  Desc cfg;
  bool runtime_compiled = false;
};

StatusOr<bool> Suitable(const CudnnApi& api, const Desc& cfg, bool no_tensor_cores,
                        bool* runtime_compiled) {
  RT_ASSIGN_OR_RETURN(Desc engine, Make(api, CUDNN_BACKEND_ENGINE_DESCRIPTOR, "engine"));
  int64_t n = 0;
  cudnnBackendDescriptor_t e = engine.get();
  RT_RETURN_IF_ERROR(Check(api,
                           api.cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE,
                                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &e),
                           "cudnnBackendGetAttribute(CUDNN_ATTR_ENGINECFG_ENGINE)"));
  cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  RT_RETURN_IF_ERROR(Check(
      api,
      api.cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                   CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, notes),
      "cudnnBackendGetAttribute(CUDNN_ATTR_ENGINE_NUMERICAL_NOTE)"));
  for (int64_t i = 0; i < n && i < CUDNN_NUMERICAL_NOTE_TYPE_COUNT; ++i) {
    if (notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) return false;
    if (no_tensor_cores && notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE) return false;
  }
  cudnnBackendBehaviorNote_t behavior[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
  RT_RETURN_IF_ERROR(Check(
      api,
      api.cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                   CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &n, behavior),
      "cudnnBackendGetAttribute(CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE)"));
  *runtime_compiled = false;
  for (int64_t i = 0; i < n && i < CUDNN_BEHAVIOR_NOTE_TYPE_COUNT; ++i) {
    if (behavior[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) *runtime_compiled = true;
  }
  return true;
}

// Appends the configurations heuristic `mode` suggests for `graph`. A mode
// that cannot handle the graph adds none and notes why in `*why`.
Status Suggest(const CudnnApi& api, const Desc& graph, cudnnBackendHeurMode_t mode,
               bool no_tensor_cores, std::vector<Candidate>* out, std::string* why) {
  const char* what = mode == CUDNN_HEUR_MODE_A ? "heuristics mode A" : "heuristics fallback";
  StatusOr<Desc> heur =
      Build(api, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, what,
            {SINTER_ATTR(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                         graph.ptr()),
             SINTER_ATTR(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode)});
  if (!heur.ok()) {
    if (heur.status().code() != SINTER_UNIMPLEMENTED) return heur.status();
    *why += StrCat("; ", heur.status().message());
    return Status::Ok();
  }
  int64_t count = 0;
  RT_RETURN_IF_ERROR(
      Check(api,
            api.cudnnBackendGetAttribute(heur.value().get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr),
            StrCat("cudnnBackendGetAttribute(", what, ", CUDNN_ATTR_ENGINEHEUR_RESULTS count)")));
  // cuDNN fills configuration descriptors the caller has created.
  std::vector<Desc> cfgs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < count; ++i) {
    RT_ASSIGN_OR_RETURN(Desc cfg, Make(api, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config"));
    raw.push_back(cfg.get());
    cfgs.push_back(std::move(cfg));
  }
  int64_t returned = 0;
  RT_RETURN_IF_ERROR(Check(
      api,
      api.cudnnBackendGetAttribute(heur.value().get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &returned, raw.data()),
      StrCat("cudnnBackendGetAttribute(", what, ", CUDNN_ATTR_ENGINEHEUR_RESULTS)")));
  int64_t dropped = 0;
  for (int64_t i = 0; i < returned && i < count; ++i) {
    bool runtime_compiled = false;
    StatusOr<bool> ok = Suitable(api, cfgs[i], no_tensor_cores, &runtime_compiled);
    // An engine whose notes cannot be read is skipped: its numerics are
    // unknown.
    if (!ok.ok() || !ok.value()) {
      ++dropped;
      continue;
    }
    out->push_back(Candidate{std::move(cfgs[i]), runtime_compiled});
  }
  if (dropped > 0) *why += StrCat("; ", what, " dropped ", dropped, " for their numerics");
  return Status::Ok();
}

cudnnDataType_t CudnnType(DataType t) {
  switch (t) {
    case DataType::kF32:
      return CUDNN_DATA_FLOAT;
    case DataType::kF16:
      return CUDNN_DATA_HALF;
    case DataType::kBF16:
      return CUDNN_DATA_BFLOAT16;
  }
  return CUDNN_DATA_FLOAT;
}

std::string Describe(const ConvDesc& d) {
  const char* type = d.dtype == DataType::kF32 ? "f32" : d.dtype == DataType::kF16 ? "f16" : "bf16";
  std::string s = StrCat(
      "conv_fprop ", type, d.layout == Layout::kNHWC ? " NHWC" : " NCHW", " x[", d.n, ",", d.c, ",",
      d.h, ",", d.w, "] w[", d.k, ",", d.c / std::max<int64_t>(d.groups, 1), ",", d.r, ",", d.s,
      "] y[", d.n, ",", d.k, ",", d.p, ",", d.q, "] stride ", d.stride_h, "x", d.stride_w, " pad ",
      d.pad_h, "x", d.pad_w, " dilation ", d.dilation_h, "x", d.dilation_w, " groups ", d.groups);
  if (d.bias) s += " + bias";
  if (d.activation == Activation::kRelu) s += " + relu";
  if (d.activation == Activation::kGelu) s += " + gelu_tanh";
  return s;
}

Status Validate(const ConvDesc& d) {
  const std::string what = Describe(d);
  if (d.n <= 0 || d.c <= 0 || d.h <= 0 || d.w <= 0 || d.k <= 0 || d.r <= 0 || d.s <= 0) {
    return InvalidArgument(what + ": every extent must be positive");
  }
  if (d.groups <= 0 || d.c % d.groups != 0 || d.k % d.groups != 0) {
    return InvalidArgument(what + ": groups must divide c and k");
  }
  if (d.stride_h <= 0 || d.stride_w <= 0 || d.dilation_h <= 0 || d.dilation_w <= 0 || d.pad_h < 0 ||
      d.pad_w < 0) {
    return InvalidArgument(what + ": strides and dilations must be positive, pads non-negative");
  }
  // The last window start that fits in the padded input, per axis.
  const int64_t span_h = d.h + 2 * d.pad_h - d.dilation_h * (d.r - 1) - 1;
  const int64_t span_w = d.w + 2 * d.pad_w - d.dilation_w * (d.s - 1) - 1;
  if (span_h < 0 || span_w < 0) {
    return InvalidArgument(what + ": the dilated window is larger than the padded input");
  }
  const int64_t p = span_h / d.stride_h + 1;
  const int64_t q = span_w / d.stride_w + 1;
  if (p != d.p || q != d.q) {
    return InvalidArgument(StrCat(what, ": output ", d.p, "x", d.q, " does not match the ", p, "x",
                                  q, " the shapes give"));
  }
  return Status::Ok();
}

}  // namespace

struct ConvPlan::Impl {
  const CudnnApi* api = nullptr;
  Desc plan;
  // Everything the plan was built from, kept while it lives (cuDNN's own
  // frontend holds the same references).
  std::vector<Desc> keep;
  size_t workspace = 0;
  bool bias = false;

  ~Impl() {
    plan = Desc();
    while (!keep.empty()) keep.pop_back();  // newest first
  }
};

StatusOr<std::unique_ptr<ConvPlan>> ConvPlan::Create(const CudnnApi& api, cudnnHandle_t handle,
                                                     const ConvDesc& desc, size_t max_workspace) {
  RT_RETURN_IF_ERROR(Validate(desc));
  auto impl = std::make_unique<Impl>();
  impl->api = &api;
  impl->bias = desc.bias;
  Status st = [&]() -> Status {
    // 1. Tensors. Groups are implied: cuDNN reads them as x's C over w's C.
    const cudnnDataType_t type = CudnnType(desc.dtype);
    const Dims x_dims = {desc.n, desc.c, desc.h, desc.w};
    const Dims w_dims = {desc.k, desc.c / desc.groups, desc.r, desc.s};
    const Dims y_dims = {desc.n, desc.k, desc.p, desc.q};
    const bool fused = desc.bias || desc.activation != Activation::kNone;
    const bool act = desc.activation != Activation::kNone;
    RT_ASSIGN_OR_RETURN(Desc x, Tensor(api, "tensor x", kX, type, x_dims, desc.layout, false));
    RT_ASSIGN_OR_RETURN(Desc w, Tensor(api, "tensor w", kW, type, w_dims, desc.layout, false));
    RT_ASSIGN_OR_RETURN(Desc y, Tensor(api, "tensor y", kY, type, y_dims, desc.layout, false));
    // Between fused operations the values stay in float, never in memory.
    Desc bias, conv_out, bias_out;
    if (desc.bias) {
      RT_ASSIGN_OR_RETURN(
          bias, Tensor(api, "tensor bias", kBias, type, {1, desc.k, 1, 1}, desc.layout, false));
    }
    if (fused) {
      RT_ASSIGN_OR_RETURN(conv_out, Tensor(api, "virtual conv output", kConvOut, CUDNN_DATA_FLOAT,
                                           y_dims, desc.layout, true));
    }
    if (desc.bias && act) {
      RT_ASSIGN_OR_RETURN(bias_out, Tensor(api, "virtual bias output", kBiasOut, CUDNN_DATA_FLOAT,
                                           y_dims, desc.layout, true));
    }

    // 2. Operations. Padding is symmetric (pre = post), as PyTorch's.
    const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    const int64_t spatial = 2;
    const int64_t pads[2] = {desc.pad_h, desc.pad_w};
    const int64_t strides[2] = {desc.stride_h, desc.stride_w};
    const int64_t dilations[2] = {desc.dilation_h, desc.dilation_w};
    RT_ASSIGN_OR_RETURN(
        Desc conv,
        Build(api, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, "convolution",
              {SINTER_ATTR(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp),
               SINTER_ATTR(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode),
               SINTER_ATTR(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial),
               SINTER_ATTR(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pads),
               SINTER_ATTR(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pads),
               SINTER_ATTR(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, strides),
               SINTER_ATTR(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dilations)}));
    // y = alpha * conv(x, w) + beta * y: alpha and beta are float for every
    // data type but double.
    const float alpha = 1.0f, beta = 0.0f;
    const Desc& conv_y = fused ? conv_out : y;
    RT_ASSIGN_OR_RETURN(
        Desc conv_op,
        Build(api, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, "conv_fprop",
              {SINTER_ATTR(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                           CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, x.ptr()),
               SINTER_ATTR(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                           CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, w.ptr()),
               SINTER_ATTR(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                           CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, conv_y.ptr()),
               SINTER_ATTR(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                           CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, conv.ptr()),
               SINTER_ATTR(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1,
                           &alpha),
               SINTER_ATTR(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1,
                           &beta)}));
    std::vector<Desc> pointwise;  // the pointwise descriptors behind the ops below
    Desc add_op, act_op;
    if (desc.bias) {
      // bias is [1, k, 1, 1]: cuDNN broadcasts it over n, p and q.
      RT_ASSIGN_OR_RETURN(add_op, Pointwise(api, "bias add", CUDNN_POINTWISE_ADD, conv_out, &bias,
                                            act ? bias_out : y, &pointwise));
    }
    if (act) {
      // cuBLASLt's GELU epilogue is the tanh approximation; cuDNN's matches.
      const cudnnPointwiseMode_t pw = desc.activation == Activation::kRelu
                                          ? CUDNN_POINTWISE_RELU_FWD
                                          : CUDNN_POINTWISE_GELU_APPROX_TANH_FWD;
      RT_ASSIGN_OR_RETURN(act_op, Pointwise(api, "activation", pw, desc.bias ? bias_out : conv_out,
                                            nullptr, y, &pointwise));
    }

    // 3. The operation graph.
    std::vector<cudnnBackendDescriptor_t> ops = {conv_op.get()};
    if (desc.bias) ops.push_back(add_op.get());
    if (act) ops.push_back(act_op.get());
    RT_ASSIGN_OR_RETURN(
        Desc graph,
        Build(api, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph",
              {SINTER_ATTR(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                           static_cast<int64_t>(ops.size()), ops.data()),
               // Deprecated since device properties arrived (9.8) but still
               // honoured, and the only way to name the device before them.
               SINTER_ATTR(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle)}));

    // 4. Heuristics, then the first configuration that finalises in budget.
    const bool no_tensor_cores = desc.dtype == DataType::kF32 && !desc.allow_tf32;
    std::string why, last;  // heuristics that failed; the last plan that did not fit
    size_t tried = 0;
    for (cudnnBackendHeurMode_t heur_mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
      std::vector<Candidate> cands;
      RT_RETURN_IF_ERROR(Suggest(api, graph, heur_mode, no_tensor_cores, &cands, &why));
      std::stable_partition(cands.begin(), cands.end(),
                            [](const Candidate& c) { return !c.runtime_compiled; });
      for (Candidate& cand : cands) {
        ++tried;
        StatusOr<Desc> plan =
            Build(api, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, "execution plan",
                  {SINTER_ATTR(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, cand.cfg.ptr()),
                   SINTER_ATTR(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle)});
        if (!plan.ok()) {
          last = plan.status().message();
          continue;
        }
        int64_t ws = 0, n = 0;
        Status got = Check(api,
                           api.cudnnBackendGetAttribute(plan.value().get(),
                                                        CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                        CUDNN_TYPE_INT64, 1, &n, &ws),
                           "cudnnBackendGetAttribute(CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE)");
        if (!got.ok() || ws < 0 || static_cast<uint64_t>(ws) > max_workspace) {
          last = got.ok() ? StrCat("needs ", ws, " bytes of workspace") : got.message();
          continue;
        }
        impl->plan = std::move(plan.value());
        impl->workspace = static_cast<size_t>(ws);
        for (Desc* d : {&x, &w, &y, &bias, &conv_out, &bias_out, &conv, &conv_op, &add_op, &act_op,
                        &graph, &cand.cfg}) {
          if (d->get() != nullptr) impl->keep.push_back(std::move(*d));
        }
        for (Desc& d : pointwise) impl->keep.push_back(std::move(d));
        return Status::Ok();
      }
    }
    return Status(
        SINTER_UNIMPLEMENTED,
        StrCat("cuDNN has no engine for this graph within ", max_workspace, " bytes of workspace (",
               tried, " configurations tried", why, last.empty() ? "" : "; last: " + last, ")"));
  }();
  if (!st.ok()) return st.WithContext(Describe(desc));
  std::unique_ptr<ConvPlan> plan(new ConvPlan());
  plan->impl_ = std::move(impl);
  return plan;
}

ConvPlan::~ConvPlan() = default;

size_t ConvPlan::workspace_bytes() const { return impl_->workspace; }

Status ConvPlan::Run(cudnnHandle_t handle, const void* x, const void* w, const void* bias, void* y,
                     void* workspace) const {
  const CudnnApi& api = *impl_->api;
  // The variant pack only binds pointers; building one per call costs a few
  // host calls and keeps Run free of shared mutable state.
  const int64_t uids[4] = {kX, kW, kY, kBias};
  void* ptrs[4] = {const_cast<void*>(x), const_cast<void*>(w), y, const_cast<void*>(bias)};
  const int64_t n = impl_->bias ? 4 : 3;
  RT_ASSIGN_OR_RETURN(
      Desc pack,
      Build(api, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack",
            {SINTER_ATTR(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids),
             SINTER_ATTR(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs),
             SINTER_ATTR(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace)}));
  return Check(api, api.cudnnBackendExecute(handle, impl_->plan.get(), pack.get()),
               "cudnnBackendExecute");
}

}  // namespace sinter::rt::cuda
