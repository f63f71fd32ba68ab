// The fake libcudnn (cuDNN 9's backend API): every entry point of
// runtime/cuda/dynlib.h's SINTER_CUDNN_SYMBOLS (and nothing else), with
// cudnn_graph.h's signatures.
//
// It interprets the descriptors as runtime/cuda/conv.cc builds them, and
// checks them as cuDNN would: tensors (data type, dims, strides, unique id,
// alignment, virtual), the convolution, conv_fprop, pointwise ADD / RELU_FWD
// / GELU_APPROX_TANH_FWD operations, the operation graph (one producer per
// tensor, virtual tensors produced and consumed inside it, unique ids), the
// engine heuristics (two engines: one with a TENSOR_CORE numerical note,
// which computes f32 operands in TF32, so a plan that must not use tensor
// cores for f32 shows in the numbers; one without), engine configurations
// the caller creates and the heuristic fills, execution plans with their
// workspace, and variant packs: every non-virtual tensor's pointer present,
// aligned as declared, and inside live device memory for every byte its
// dims and strides reach; the workspace likewise. Setting an attribute a
// descriptor does not have, of the wrong type or count, or after it is
// finalised, is an error, as is anything the runtime does not use (named).
//
// Execution is on the host in f32: the graph's tensors gathered through
// their strides, the convolution as im2col + GEMM per image and group,
// the pointwise ops in graph order, outputs scattered back and rounded to
// their storage type once. It runs on (or is captured into) the stream the
// handle was given by cudnnSetStream.
#include <cudnn_graph.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <vector>

#include "tests/cuda_fake/core.h"
#include "tests/cuda_fake/host_math.h"

namespace sinter::fake {
namespace {

constexpr int64_t kEngineWorkspace[2] = {64 << 10, 256 << 10};

thread_local std::string t_last_error;

cudnnStatus_t Bad(cudnnStatus_t s, const std::string& m) {
  Fail(m);
  t_last_error = m;
  return s;
}

struct DnnHandle : Object {
  CUstream stream = nullptr;
};

struct Attr {
  cudnnBackendAttributeType_t type;
  int64_t count = 0;
  std::vector<unsigned char> bytes;
};

// A tensor of a graph, as the program keeps it.
struct TensorInfo {
  int64_t uid = 0;
  Storage storage = Storage::kF32;
  bool is_virtual = false;
  int64_t alignment = 0;
  std::array<int64_t, 4> dims{}, strides{};
  int64_t Elements() const { return dims[0] * dims[1] * dims[2] * dims[3]; }
  // Bytes from the base pointer to one past the farthest element.
  int64_t Extent() const {
    int64_t last = 0;
    for (int i = 0; i < 4; ++i) last += (dims[i] - 1) * strides[i];
    return (last + 1) * static_cast<int64_t>(StorageBytes(storage));
  }
};

enum class OpKind { kConv, kAdd, kRelu, kGelu };

struct ProgramOp {
  OpKind kind = OpKind::kConv;
  int x = -1, b = -1, y = -1;  // tensor indices (b: conv's w, or pointwise's second input)
  int64_t pad[2] = {0, 0}, stride[2] = {1, 1}, dilation[2] = {1, 1};
  float alpha = 1, beta = 0;
};

// What an execution plan runs: the graph's tensors and operations in order.
struct Program {
  std::vector<TensorInfo> tensors;
  std::vector<ProgramOp> ops;
  int engine = 1;
  int64_t workspace = 0;
  std::string what;
};

struct Descriptor : Object {
  cudnnBackendDescriptorType_t type;
  bool finalized = false;
  std::map<cudnnBackendAttributeName_t, Attr> attrs;
  // Derived when finalised (or filled by the heuristic).
  TensorInfo tensor;
  cudnnDataType_t data_type = CUDNN_DATA_FLOAT;
  cudnnPointwiseMode_t pw_mode = CUDNN_POINTWISE_ADD;
  std::shared_ptr<Program> program;  // graph, heuristic results, configs, engines, plans
  int engine = -1;                   // engine configs and engines
  int64_t workspace = 0;             // plans
  std::vector<int> engines;          // heuristic results
};

const char* TypeName(cudnnBackendDescriptorType_t t) {
  switch (t) {
    case CUDNN_BACKEND_TENSOR_DESCRIPTOR:
      return "TENSOR";
    case CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR:
      return "CONVOLUTION";
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR:
      return "OPERATION_CONVOLUTION_FORWARD";
    case CUDNN_BACKEND_POINTWISE_DESCRIPTOR:
      return "POINTWISE";
    case CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR:
      return "OPERATION_POINTWISE";
    case CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR:
      return "OPERATIONGRAPH";
    case CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR:
      return "ENGINEHEUR";
    case CUDNN_BACKEND_ENGINECFG_DESCRIPTOR:
      return "ENGINECFG";
    case CUDNN_BACKEND_ENGINE_DESCRIPTOR:
      return "ENGINE";
    case CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR:
      return "EXECUTION_PLAN";
    case CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR:
      return "VARIANT_PACK";
    default:  // some forty descriptor types; the rest are not emulated
      return nullptr;
  }
}

size_t ElementBytes(cudnnBackendAttributeType_t t) {
  switch (t) {
    case CUDNN_TYPE_HANDLE:
      return sizeof(cudnnHandle_t);
    case CUDNN_TYPE_DATA_TYPE:
      return sizeof(cudnnDataType_t);
    case CUDNN_TYPE_BOOLEAN:
      return sizeof(bool);
    case CUDNN_TYPE_INT64:
      return sizeof(int64_t);
    case CUDNN_TYPE_FLOAT:
      return sizeof(float);
    case CUDNN_TYPE_DOUBLE:
      return sizeof(double);
    case CUDNN_TYPE_VOID_PTR:
      return sizeof(void*);
    case CUDNN_TYPE_CONVOLUTION_MODE:
      return sizeof(cudnnConvolutionMode_t);
    case CUDNN_TYPE_HEUR_MODE:
      return sizeof(cudnnBackendHeurMode_t);
    case CUDNN_TYPE_NUMERICAL_NOTE:
      return sizeof(cudnnBackendNumericalNote_t);
    case CUDNN_TYPE_POINTWISE_MODE:
      return sizeof(cudnnPointwiseMode_t);
    case CUDNN_TYPE_BACKEND_DESCRIPTOR:
      return sizeof(cudnnBackendDescriptor_t);
    case CUDNN_TYPE_BEHAVIOR_NOTE:
      return sizeof(cudnnBackendBehaviorNote_t);
    default:  // attribute types sinter never passes
      return 0;
  }
}

// The attributes each descriptor type takes from the caller: (name, type,
// fewest, most elements). FLOAT alpha/beta also take DOUBLE.
struct AttrRule {
  cudnnBackendDescriptorType_t desc;
  cudnnBackendAttributeName_t name;
  cudnnBackendAttributeType_t type;
  int64_t min, max;
  const char* label;
};
#define RULE(d, n, t, lo, hi) \
  { CUDNN_BACKEND_##d, CUDNN_ATTR_##n, CUDNN_TYPE_##t, lo, hi, #n }
constexpr AttrRule kRules[] = {
    RULE(TENSOR_DESCRIPTOR, TENSOR_DATA_TYPE, DATA_TYPE, 1, 1),
    RULE(TENSOR_DESCRIPTOR, TENSOR_DIMENSIONS, INT64, 1, 8),
    RULE(TENSOR_DESCRIPTOR, TENSOR_STRIDES, INT64, 1, 8),
    RULE(TENSOR_DESCRIPTOR, TENSOR_UNIQUE_ID, INT64, 1, 1),
    RULE(TENSOR_DESCRIPTOR, TENSOR_BYTE_ALIGNMENT, INT64, 1, 1),
    RULE(TENSOR_DESCRIPTOR, TENSOR_IS_VIRTUAL, BOOLEAN, 1, 1),
    RULE(CONVOLUTION_DESCRIPTOR, CONVOLUTION_COMP_TYPE, DATA_TYPE, 1, 1),
    RULE(CONVOLUTION_DESCRIPTOR, CONVOLUTION_CONV_MODE, CONVOLUTION_MODE, 1, 1),
    RULE(CONVOLUTION_DESCRIPTOR, CONVOLUTION_SPATIAL_DIMS, INT64, 1, 1),
    RULE(CONVOLUTION_DESCRIPTOR, CONVOLUTION_PRE_PADDINGS, INT64, 1, 3),
    RULE(CONVOLUTION_DESCRIPTOR, CONVOLUTION_POST_PADDINGS, INT64, 1, 3),
    RULE(CONVOLUTION_DESCRIPTOR, CONVOLUTION_FILTER_STRIDES, INT64, 1, 3),
    RULE(CONVOLUTION_DESCRIPTOR, CONVOLUTION_DILATIONS, INT64, 1, 3),
    RULE(OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, OPERATION_CONVOLUTION_FORWARD_X,
         BACKEND_DESCRIPTOR, 1, 1),
    RULE(OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, OPERATION_CONVOLUTION_FORWARD_W,
         BACKEND_DESCRIPTOR, 1, 1),
    RULE(OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, OPERATION_CONVOLUTION_FORWARD_Y,
         BACKEND_DESCRIPTOR, 1, 1),
    RULE(OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
         BACKEND_DESCRIPTOR, 1, 1),
    RULE(OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, OPERATION_CONVOLUTION_FORWARD_ALPHA, FLOAT, 1,
         1),
    RULE(OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, OPERATION_CONVOLUTION_FORWARD_BETA, FLOAT, 1, 1),
    RULE(POINTWISE_DESCRIPTOR, POINTWISE_MODE, POINTWISE_MODE, 1, 1),
    RULE(POINTWISE_DESCRIPTOR, POINTWISE_MATH_PREC, DATA_TYPE, 1, 1),
    RULE(OPERATION_POINTWISE_DESCRIPTOR, OPERATION_POINTWISE_PW_DESCRIPTOR, BACKEND_DESCRIPTOR, 1,
         1),
    RULE(OPERATION_POINTWISE_DESCRIPTOR, OPERATION_POINTWISE_XDESC, BACKEND_DESCRIPTOR, 1, 1),
    RULE(OPERATION_POINTWISE_DESCRIPTOR, OPERATION_POINTWISE_BDESC, BACKEND_DESCRIPTOR, 1, 1),
    RULE(OPERATION_POINTWISE_DESCRIPTOR, OPERATION_POINTWISE_YDESC, BACKEND_DESCRIPTOR, 1, 1),
    RULE(OPERATIONGRAPH_DESCRIPTOR, OPERATIONGRAPH_OPS, BACKEND_DESCRIPTOR, 1, 64),
    RULE(OPERATIONGRAPH_DESCRIPTOR, OPERATIONGRAPH_HANDLE, HANDLE, 1, 1),
    RULE(ENGINEHEUR_DESCRIPTOR, ENGINEHEUR_OPERATION_GRAPH, BACKEND_DESCRIPTOR, 1, 1),
    RULE(ENGINEHEUR_DESCRIPTOR, ENGINEHEUR_MODE, HEUR_MODE, 1, 1),
    RULE(EXECUTION_PLAN_DESCRIPTOR, EXECUTION_PLAN_ENGINE_CONFIG, BACKEND_DESCRIPTOR, 1, 1),
    RULE(EXECUTION_PLAN_DESCRIPTOR, EXECUTION_PLAN_HANDLE, HANDLE, 1, 1),
    RULE(VARIANT_PACK_DESCRIPTOR, VARIANT_PACK_UNIQUE_IDS, INT64, 0, 64),
    RULE(VARIANT_PACK_DESCRIPTOR, VARIANT_PACK_DATA_POINTERS, VOID_PTR, 0, 64),
    RULE(VARIANT_PACK_DESCRIPTOR, VARIANT_PACK_WORKSPACE, VOID_PTR, 1, 1),
};
#undef RULE

const AttrRule* FindRule(cudnnBackendDescriptorType_t d, cudnnBackendAttributeName_t n) {
  for (const AttrRule& r : kRules)
    if (r.desc == d && r.name == n) return &r;
  return nullptr;
}

const char* AttrLabel(cudnnBackendAttributeName_t n) {
  for (const AttrRule& r : kRules)
    if (r.name == n) return r.label;
  return "?";
}

std::string Name(const Descriptor& d) {
  return Format("%s descriptor (%s)", TypeName(d.type), d.label.c_str());
}

Descriptor* FindDesc(const void* h, const char* api) {
  return Find<Descriptor>(h, Kind::kDnnDescriptor, api);
}

template <class T>
T Scalar(const Descriptor& d, cudnnBackendAttributeName_t n, T fallback) {
  auto it = d.attrs.find(n);
  if (it == d.attrs.end() || it->second.count < 1) return fallback;
  T v;
  std::memcpy(&v, it->second.bytes.data(), sizeof v);
  return v;
}

template <class T>
std::vector<T> Array(const Descriptor& d, cudnnBackendAttributeName_t n) {
  std::vector<T> v;
  auto it = d.attrs.find(n);
  if (it == d.attrs.end()) return v;
  v.resize(static_cast<size_t>(it->second.count));
  if (!v.empty()) std::memcpy(v.data(), it->second.bytes.data(), v.size() * sizeof(T));
  return v;
}

bool Has(const Descriptor& d, cudnnBackendAttributeName_t n) { return d.attrs.count(n) != 0; }

// The descriptor an attribute refers to: live, of `type`, finalised.
Descriptor* Ref(const Descriptor& d, cudnnBackendAttributeName_t n,
                cudnnBackendDescriptorType_t type, const char* api, int64_t i = 0) {
  auto refs = Array<cudnnBackendDescriptor_t>(d, n);
  if (static_cast<int64_t>(refs.size()) <= i) {
    Bad(CUDNN_STATUS_BAD_PARAM, Format("%s: %s lacks %s", api, Name(d).c_str(), AttrLabel(n)));
    return nullptr;
  }
  Descriptor* r = FindDesc(refs[i], api);
  if (r == nullptr) return nullptr;
  if (r->type != type) {
    Bad(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE,
        Format("%s: %s of %s is a %s, not a %s", api, AttrLabel(n), Name(d).c_str(),
               Name(*r).c_str(), TypeName(type)));
    return nullptr;
  }
  if (!r->finalized) {
    Bad(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED,
        Format("%s: %s of %s (%s) is not finalized", api, AttrLabel(n), Name(d).c_str(),
               Name(*r).c_str()));
    return nullptr;
  }
  return r;
}

bool StorageOf(cudnnDataType_t t, Storage* s) {
  switch (t) {
    case CUDNN_DATA_FLOAT:
      *s = Storage::kF32;
      return true;
    case CUDNN_DATA_HALF:
      *s = Storage::kF16;
      return true;
    case CUDNN_DATA_BFLOAT16:
      *s = Storage::kBF16;
      return true;
    default:  // int8, fp8, double, ...: not what sinter stores
      return false;
  }
}

std::string Dims(const TensorInfo& t) {
  return Format("uid %lld %s [%lld,%lld,%lld,%lld] strides [%lld,%lld,%lld,%lld]%s",
                static_cast<long long>(t.uid), StorageName(t.storage),
                static_cast<long long>(t.dims[0]), static_cast<long long>(t.dims[1]),
                static_cast<long long>(t.dims[2]), static_cast<long long>(t.dims[3]),
                static_cast<long long>(t.strides[0]), static_cast<long long>(t.strides[1]),
                static_cast<long long>(t.strides[2]), static_cast<long long>(t.strides[3]),
                t.is_virtual ? " virtual" : "");
}

// ---- Finalisation, per descriptor type ------------------------------------------------

cudnnStatus_t FinalizeTensor(Descriptor& d, const char* api) {
  for (cudnnBackendAttributeName_t n :
       {CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_ATTR_TENSOR_STRIDES,
        CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT}) {
    if (!Has(d, n))
      return Bad(CUDNN_STATUS_BAD_PARAM,
                 Format("%s: %s lacks %s", api, Name(d).c_str(), AttrLabel(n)));
  }
  const auto dims = Array<int64_t>(d, CUDNN_ATTR_TENSOR_DIMENSIONS);
  const auto strides = Array<int64_t>(d, CUDNN_ATTR_TENSOR_STRIDES);
  if (dims.size() != strides.size())
    return Bad(CUDNN_STATUS_BAD_PARAM, Format("%s: %s: %zu dims, %zu strides", api, Name(d).c_str(),
                                              dims.size(), strides.size()));
  if (dims.size() != 4)
    return Bad(CUDNN_STATUS_NOT_SUPPORTED,
               Format("%s: %s: %zu-D tensors are not emulated (4-D only)", api, Name(d).c_str(),
                      dims.size()));
  TensorInfo& t = d.tensor;
  const auto type = Scalar<cudnnDataType_t>(d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_DATA_FLOAT);
  if (!StorageOf(type, &t.storage))
    return Bad(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE,
               Format("%s: %s: data type %d is not emulated", api, Name(d).c_str(), type));
  d.data_type = type;
  t.uid = Scalar<int64_t>(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, 0);
  t.alignment = Scalar<int64_t>(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, 0);
  t.is_virtual = Scalar<bool>(d, CUDNN_ATTR_TENSOR_IS_VIRTUAL, false);
  for (int i = 0; i < 4; ++i) {
    t.dims[i] = dims[i];
    t.strides[i] = strides[i];
    if (dims[i] <= 0 || strides[i] <= 0)
      return Bad(CUDNN_STATUS_BAD_PARAM,
                 Format("%s: %s: dims and strides must be positive", api, Dims(t).c_str()));
  }
  if (t.alignment <= 0 || (t.alignment & (t.alignment - 1)) != 0 ||
      t.alignment < static_cast<int64_t>(StorageBytes(t.storage)))
    return Bad(CUDNN_STATUS_BAD_PARAM, Format("%s: %s: byte alignment %lld", api, Dims(t).c_str(),
                                              static_cast<long long>(t.alignment)));
  // No two elements at one address: sort the dims by stride, each stride
  // must pass over the dims inside it.
  std::array<int, 4> order = {0, 1, 2, 3};
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return t.strides[a] != t.strides[b] ? t.strides[a] < t.strides[b] : t.dims[a] < t.dims[b];
  });
  int64_t span = 1;
  for (int i : order) {
    if (t.dims[i] == 1) continue;
    if (t.strides[i] < span)
      return Bad(CUDNN_STATUS_BAD_PARAM,
                 Format("%s: %s: the strides make elements overlap", api, Dims(t).c_str()));
    span = t.strides[i] * t.dims[i];
  }
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t FinalizeConvolution(Descriptor& d, const char* api) {
  for (cudnnBackendAttributeName_t n :
       {CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_ATTR_CONVOLUTION_CONV_MODE,
        CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS,
        CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES,
        CUDNN_ATTR_CONVOLUTION_DILATIONS}) {
    if (!Has(d, n))
      return Bad(CUDNN_STATUS_BAD_PARAM,
                 Format("%s: %s lacks %s", api, Name(d).c_str(), AttrLabel(n)));
  }
  const int64_t spatial = Scalar<int64_t>(d, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, 0);
  if (spatial != 2)
    return Bad(CUDNN_STATUS_NOT_SUPPORTED, Format("%s: %lld spatial dims are not emulated (2 only)",
                                                  api, static_cast<long long>(spatial)));
  for (cudnnBackendAttributeName_t n :
       {CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS,
        CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_ATTR_CONVOLUTION_DILATIONS}) {
    const auto v = Array<int64_t>(d, n);
    if (static_cast<int64_t>(v.size()) != spatial)
      return Bad(CUDNN_STATUS_BAD_PARAM,
                 Format("%s: %s has %zu values for %lld spatial dims", api, AttrLabel(n), v.size(),
                        static_cast<long long>(spatial)));
    const bool positive =
        n == CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES || n == CUDNN_ATTR_CONVOLUTION_DILATIONS;
    for (int64_t x : v) {
      if (positive ? x <= 0 : x < 0)
        return Bad(CUDNN_STATUS_BAD_PARAM,
                   Format("%s: %s value %lld", api, AttrLabel(n), static_cast<long long>(x)));
    }
  }
  if (Array<int64_t>(d, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS) !=
      Array<int64_t>(d, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS))
    return Bad(CUDNN_STATUS_NOT_SUPPORTED, Format("%s: asymmetric padding is not emulated", api));
  if (Scalar<cudnnConvolutionMode_t>(d, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_CONVOLUTION) !=
      CUDNN_CROSS_CORRELATION)
    return Bad(CUDNN_STATUS_NOT_SUPPORTED,
               Format("%s: CUDNN_CONVOLUTION (flipped filters) is not emulated", api));
  if (Scalar<cudnnDataType_t>(d, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_DATA_HALF) !=
      CUDNN_DATA_FLOAT)
    return Bad(CUDNN_STATUS_NOT_SUPPORTED,
               Format("%s: a compute type other than CUDNN_DATA_FLOAT is not emulated", api));
  return CUDNN_STATUS_SUCCESS;
}

float FloatScalar(const Descriptor& d, cudnnBackendAttributeName_t n, float fallback) {
  auto it = d.attrs.find(n);
  if (it == d.attrs.end()) return fallback;
  if (it->second.type == CUDNN_TYPE_DOUBLE) {
    double v;
    std::memcpy(&v, it->second.bytes.data(), sizeof v);
    return static_cast<float>(v);
  }
  float v;
  std::memcpy(&v, it->second.bytes.data(), sizeof v);
  return v;
}

cudnnStatus_t FinalizeConvForward(Descriptor& d, const char* api) {
  Descriptor* x =
      Ref(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_BACKEND_TENSOR_DESCRIPTOR, api);
  Descriptor* w =
      x ? Ref(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_BACKEND_TENSOR_DESCRIPTOR, api)
        : nullptr;
  Descriptor* y =
      w ? Ref(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_BACKEND_TENSOR_DESCRIPTOR, api)
        : nullptr;
  Descriptor* c = y ? Ref(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                          CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, api)
                    : nullptr;
  if (c == nullptr) return CUDNN_STATUS_BAD_PARAM;
  const TensorInfo &X = x->tensor, &W = w->tensor, &Y = y->tensor;
  const auto pad = Array<int64_t>(*c, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS);
  const auto str = Array<int64_t>(*c, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES);
  const auto dil = Array<int64_t>(*c, CUDNN_ATTR_CONVOLUTION_DILATIONS);
  std::string why;
  if (X.dims[1] % W.dims[1] != 0) {
    why = "x's channels are not a multiple of w's";
  } else if (W.dims[0] % (X.dims[1] / W.dims[1]) != 0) {
    why = "w's outputs are not a multiple of the groups";
  } else if (Y.dims[0] != X.dims[0] || Y.dims[1] != W.dims[0]) {
    why = "y's batch or channels";
  } else {
    for (int i = 0; i < 2; ++i) {
      const int64_t span = X.dims[2 + i] + 2 * pad[i] - dil[i] * (W.dims[2 + i] - 1) - 1;
      const int64_t out = span < 0 ? 0 : span / str[i] + 1;
      if (out != Y.dims[2 + i])
        why = Format(
            "y's spatial dim %d is %lld; the convolution gives "
            "%lld",
            i, static_cast<long long>(Y.dims[2 + i]), static_cast<long long>(out));
    }
  }
  if (!why.empty())
    return Bad(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
               Format("%s: conv_fprop x %s, w %s, y %s: %s", api, Dims(X).c_str(), Dims(W).c_str(),
                      Dims(Y).c_str(), why.c_str()));
  if (X.storage != W.storage)
    return Bad(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE,
               Format("%s: conv_fprop x is %s, w is %s", api, StorageName(X.storage),
                      StorageName(W.storage)));
  if (X.is_virtual || W.is_virtual)
    return Bad(CUDNN_STATUS_NOT_SUPPORTED,
               Format("%s: a virtual conv_fprop input is not emulated", api));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t FinalizePointwise(Descriptor& d, const char* api) {
  if (!Has(d, CUDNN_ATTR_POINTWISE_MODE))
    return Bad(CUDNN_STATUS_BAD_PARAM, Format("%s: %s lacks its mode", api, Name(d).c_str()));
  d.pw_mode = Scalar<cudnnPointwiseMode_t>(d, CUDNN_ATTR_POINTWISE_MODE, CUDNN_POINTWISE_ADD);
  if (d.pw_mode != CUDNN_POINTWISE_ADD && d.pw_mode != CUDNN_POINTWISE_RELU_FWD &&
      d.pw_mode != CUDNN_POINTWISE_GELU_APPROX_TANH_FWD)
    return Bad(CUDNN_STATUS_NOT_SUPPORTED,
               Format("%s: pointwise mode %d is not emulated (ADD, RELU_FWD, "
                      "GELU_APPROX_TANH_FWD)",
                      api, static_cast<int>(d.pw_mode)));
  if (Scalar<cudnnDataType_t>(d, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_DATA_FLOAT) !=
      CUDNN_DATA_FLOAT)
    return Bad(CUDNN_STATUS_NOT_SUPPORTED,
               Format("%s: pointwise math precision other than FLOAT is not emulated", api));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t FinalizePointwiseOp(Descriptor& d, const char* api) {
  Descriptor* pw =
      Ref(d, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, api);
  Descriptor* x =
      pw ? Ref(d, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_BACKEND_TENSOR_DESCRIPTOR, api)
         : nullptr;
  Descriptor* y =
      x ? Ref(d, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_BACKEND_TENSOR_DESCRIPTOR, api)
        : nullptr;
  if (y == nullptr) return CUDNN_STATUS_BAD_PARAM;
  const bool binary = pw->pw_mode == CUDNN_POINTWISE_ADD;
  const bool has_b = Has(d, CUDNN_ATTR_OPERATION_POINTWISE_BDESC);
  if (binary != has_b)
    return Bad(CUDNN_STATUS_BAD_PARAM,
               Format("%s: pointwise mode %d %s a BDESC", api, static_cast<int>(pw->pw_mode),
                      binary ? "needs" : "takes no"));
  if (x->tensor.dims != y->tensor.dims)
    return Bad(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
               Format("%s: pointwise x %s and y %s differ", api, Dims(x->tensor).c_str(),
                      Dims(y->tensor).c_str()));
  if (has_b) {
    Descriptor* b =
        Ref(d, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_BACKEND_TENSOR_DESCRIPTOR, api);
    if (b == nullptr) return CUDNN_STATUS_BAD_PARAM;
    for (int i = 0; i < 4; ++i) {
      if (b->tensor.dims[i] != 1 && b->tensor.dims[i] != y->tensor.dims[i])
        return Bad(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
                   Format("%s: pointwise b %s does not broadcast to y %s", api,
                          Dims(b->tensor).c_str(), Dims(y->tensor).c_str()));
    }
  }
  return CUDNN_STATUS_SUCCESS;
}

// The graph's program: operations in dependency order, every tensor once
// (by unique id), virtual tensors produced and consumed inside the graph.
cudnnStatus_t FinalizeGraph(Descriptor& d, const char* api) {
  auto handles = Array<cudnnHandle_t>(d, CUDNN_ATTR_OPERATIONGRAPH_HANDLE);
  if (handles.empty() || Find<DnnHandle>(handles[0], Kind::kDnnHandle, api) == nullptr)
    return Bad(CUDNN_STATUS_BAD_PARAM, Format("%s: the operation graph needs a live handle", api));
  auto ops = Array<cudnnBackendDescriptor_t>(d, CUDNN_ATTR_OPERATIONGRAPH_OPS);
  auto prog = std::make_shared<Program>();
  std::map<int64_t, const Descriptor*> by_uid;
  auto tensor = [&](const Descriptor* t, int* index) -> cudnnStatus_t {
    if (t == nullptr) return CUDNN_STATUS_BAD_PARAM;  // Ref recorded why
    auto [it, fresh] = by_uid.emplace(t->tensor.uid, t);
    if (!fresh && it->second != t)
      return Bad(CUDNN_STATUS_BAD_PARAM, Format("%s: two tensors with unique id %lld (%s and %s)",
                                                api, static_cast<long long>(t->tensor.uid),
                                                it->second->label.c_str(), t->label.c_str()));
    for (size_t i = 0; i < prog->tensors.size(); ++i) {
      if (prog->tensors[i].uid == t->tensor.uid) {
        *index = static_cast<int>(i);
        return CUDNN_STATUS_SUCCESS;
      }
    }
    prog->tensors.push_back(t->tensor);
    *index = static_cast<int>(prog->tensors.size() - 1);
    return CUDNN_STATUS_SUCCESS;
  };
  std::vector<ProgramOp> unordered;
  for (size_t i = 0; i < ops.size(); ++i) {
    Descriptor* op = FindDesc(ops[i], api);
    if (op == nullptr) return CUDNN_STATUS_BAD_PARAM;
    if (!op->finalized)
      return Bad(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED,
                 Format("%s: operation %zu (%s) is not finalized", api, i, Name(*op).c_str()));
    ProgramOp p;
    cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
    if (op->type == CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR) {
      p.kind = OpKind::kConv;
      Descriptor* c = Ref(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                          CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, api);
      if (c == nullptr) return CUDNN_STATUS_BAD_PARAM;
      const auto pad = Array<int64_t>(*c, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS);
      const auto str = Array<int64_t>(*c, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES);
      const auto dil = Array<int64_t>(*c, CUDNN_ATTR_CONVOLUTION_DILATIONS);
      for (int k = 0; k < 2; ++k) p.pad[k] = pad[k], p.stride[k] = str[k], p.dilation[k] = dil[k];
      p.alpha = FloatScalar(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, 1.0f);
      p.beta = FloatScalar(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, 0.0f);
      st = tensor(Ref(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                      CUDNN_BACKEND_TENSOR_DESCRIPTOR, api),
                  &p.x);
      if (st == CUDNN_STATUS_SUCCESS)
        st = tensor(Ref(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                        CUDNN_BACKEND_TENSOR_DESCRIPTOR, api),
                    &p.b);
      if (st == CUDNN_STATUS_SUCCESS)
        st = tensor(Ref(*op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                        CUDNN_BACKEND_TENSOR_DESCRIPTOR, api),
                    &p.y);
    } else if (op->type == CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR) {
      Descriptor* pw = Ref(*op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
                           CUDNN_BACKEND_POINTWISE_DESCRIPTOR, api);
      if (pw == nullptr) return CUDNN_STATUS_BAD_PARAM;
      p.kind = pw->pw_mode == CUDNN_POINTWISE_ADD        ? OpKind::kAdd
               : pw->pw_mode == CUDNN_POINTWISE_RELU_FWD ? OpKind::kRelu
                                                         : OpKind::kGelu;
      st = tensor(
          Ref(*op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_BACKEND_TENSOR_DESCRIPTOR, api),
          &p.x);
      if (st == CUDNN_STATUS_SUCCESS && Has(*op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC))
        st = tensor(
            Ref(*op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_BACKEND_TENSOR_DESCRIPTOR, api),
            &p.b);
      if (st == CUDNN_STATUS_SUCCESS)
        st = tensor(
            Ref(*op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_BACKEND_TENSOR_DESCRIPTOR, api),
            &p.y);
    } else {
      return Bad(
          CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN,
          Format("%s: operation %zu is a %s, which is not emulated", api, i, Name(*op).c_str()));
    }
    if (st != CUDNN_STATUS_SUCCESS) return st;
    unordered.push_back(p);
  }
  // One producer per tensor; inputs of the graph are not virtual; virtual
  // tensors are produced and consumed.
  const size_t nt = prog->tensors.size();
  std::vector<int> producer(nt, -1), uses(nt, 0);
  for (size_t i = 0; i < unordered.size(); ++i) {
    const ProgramOp& p = unordered[i];
    if (producer[p.y] >= 0)
      return Bad(CUDNN_STATUS_BAD_PARAM, Format("%s: tensor %s is written by two operations", api,
                                                Dims(prog->tensors[p.y]).c_str()));
    producer[p.y] = static_cast<int>(i);
    ++uses[p.x];
    if (p.b >= 0) ++uses[p.b];
  }
  for (size_t t = 0; t < nt; ++t) {
    const TensorInfo& ti = prog->tensors[t];
    if (ti.is_virtual && (producer[t] < 0 || uses[t] == 0))
      return Bad(CUDNN_STATUS_BAD_PARAM,
                 Format("%s: virtual tensor %s is %s", api, Dims(ti).c_str(),
                        producer[t] < 0 ? "never produced" : "never consumed"));
    if (ti.is_virtual && ti.storage != Storage::kF32)
      return Bad(CUDNN_STATUS_NOT_SUPPORTED,
                 Format("%s: virtual tensor %s is not FLOAT", api, Dims(ti).c_str()));
  }
  // Dependency order (ops whose inputs are ready first).
  std::vector<char> done(unordered.size(), 0), ready(nt, 0);
  for (size_t t = 0; t < nt; ++t) ready[t] = producer[t] < 0;
  while (prog->ops.size() < unordered.size()) {
    bool progress = false;
    for (size_t i = 0; i < unordered.size(); ++i) {
      const ProgramOp& p = unordered[i];
      if (done[i] || !ready[p.x] || (p.b >= 0 && !ready[p.b])) continue;
      prog->ops.push_back(p);
      ready[p.y] = 1;
      done[i] = 1;
      progress = true;
    }
    if (!progress) return Bad(CUDNN_STATUS_BAD_PARAM, Format("%s: the graph has a cycle", api));
  }
  int convs = 0;
  for (const ProgramOp& p : prog->ops) convs += p.kind == OpKind::kConv;
  if (convs != 1 || prog->ops[0].kind != OpKind::kConv)
    return Bad(CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN,
               Format("%s: %d convolutions; the emulated pattern is one conv_fprop followed by "
                      "pointwise operations",
                      api, convs));
  const TensorInfo& x = prog->tensors[prog->ops[0].x];
  const TensorInfo& w = prog->tensors[prog->ops[0].b];
  const TensorInfo& y = prog->tensors[prog->ops.back().y];
  prog->what = Format(
      "conv_fprop %s x[%lld,%lld,%lld,%lld] w[%lld,%lld,%lld,%lld]%s", StorageName(x.storage),
      static_cast<long long>(x.dims[0]), static_cast<long long>(x.dims[1]),
      static_cast<long long>(x.dims[2]), static_cast<long long>(x.dims[3]),
      static_cast<long long>(w.dims[0]), static_cast<long long>(w.dims[1]),
      static_cast<long long>(w.dims[2]), static_cast<long long>(w.dims[3]),
      prog->ops.size() > 1 ? Format(" + %zu pointwise", prog->ops.size() - 1).c_str() : "");
  (void)y;
  d.program = prog;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t FinalizeHeuristic(Descriptor& d, const char* api) {
  Descriptor* g =
      Ref(d, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, api);
  if (g == nullptr) return CUDNN_STATUS_BAD_PARAM;
  if (!Has(d, CUDNN_ATTR_ENGINEHEUR_MODE))
    return Bad(CUDNN_STATUS_BAD_PARAM, Format("%s: the heuristic lacks its mode", api));
  const auto mode =
      Scalar<cudnnBackendHeurMode_t>(d, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_HEUR_MODE_A);
  d.program = g->program;
  // A test's switch: no engine for fused graphs (as on versions or
  // architectures without them); not a violation.
  if (g->program->ops.size() > 1 && Flag("cudnn_fusion") == 0) {
    t_last_error = "no engine supports this fused graph (the fake's cudnn_fusion switch is off)";
    return CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN;
  }
  switch (mode) {
    case CUDNN_HEUR_MODE_A:
    case CUDNN_HEUR_MODE_B:
    case CUDNN_HEUR_MODE_INSTANT:
      d.engines = {0, 1};
      break;
    case CUDNN_HEUR_MODE_FALLBACK:
      d.engines = {1};
      break;
    default:  // not one of cudnnBackendHeurMode_t's values
      return Bad(CUDNN_STATUS_BAD_PARAM,
                 Format("%s: heuristic mode %d", api, static_cast<int>(mode)));
  }
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t FinalizePlan(Descriptor& d, const char* api) {
  if (ForbiddenInCapture("cudnnBackendFinalize(EXECUTION_PLAN)")) return CUDNN_STATUS_NOT_SUPPORTED;
  Descriptor* cfg =
      Ref(d, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, api);
  if (cfg == nullptr) return CUDNN_STATUS_BAD_PARAM;
  auto handles = Array<cudnnHandle_t>(d, CUDNN_ATTR_EXECUTION_PLAN_HANDLE);
  if (handles.empty() || Find<DnnHandle>(handles[0], Kind::kDnnHandle, api) == nullptr)
    return Bad(CUDNN_STATUS_BAD_PARAM, Format("%s: the execution plan needs a live handle", api));
  auto prog = std::make_shared<Program>(*cfg->program);
  prog->engine = cfg->engine;
  prog->workspace = kEngineWorkspace[cfg->engine];
  d.program = prog;
  d.workspace = prog->workspace;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t FinalizePack(Descriptor& d, const char* api) {
  const auto uids = Array<int64_t>(d, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS);
  const auto ptrs = Array<void*>(d, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS);
  if (uids.size() != ptrs.size())
    return Bad(CUDNN_STATUS_BAD_PARAM,
               Format("%s: %zu unique ids and %zu data pointers", api, uids.size(), ptrs.size()));
  return CUDNN_STATUS_SUCCESS;
}

// ---- Execution ----------------------------------------------------------------------

struct ConvWork {
  std::shared_ptr<const Program> prog;
  std::vector<void*> ptr;  // per tensor; null for virtual ones

  // The tensor as dense f32 in logical (NCHW) order.
  std::vector<float> Gather(int t) const {
    const TensorInfo& ti = prog->tensors[t];
    std::vector<float> v(ti.Elements());
    int64_t i = 0;
    for (int64_t a = 0; a < ti.dims[0]; ++a)
      for (int64_t b = 0; b < ti.dims[1]; ++b)
        for (int64_t c = 0; c < ti.dims[2]; ++c)
          for (int64_t d = 0; d < ti.dims[3]; ++d)
            v[i++] = LoadAs(
                ptr[t], ti.storage,
                a * ti.strides[0] + b * ti.strides[1] + c * ti.strides[2] + d * ti.strides[3]);
    return v;
  }
  void Scatter(int t, const std::vector<float>& v) const {
    const TensorInfo& ti = prog->tensors[t];
    int64_t i = 0;
    for (int64_t a = 0; a < ti.dims[0]; ++a)
      for (int64_t b = 0; b < ti.dims[1]; ++b)
        for (int64_t c = 0; c < ti.dims[2]; ++c)
          for (int64_t d = 0; d < ti.dims[3]; ++d)
            StoreAs(ptr[t], ti.storage,
                    a * ti.strides[0] + b * ti.strides[1] + c * ti.strides[2] + d * ti.strides[3],
                    v[i++]);
  }

  std::vector<float> Conv(const ProgramOp& op) const {
    const TensorInfo &X = prog->tensors[op.x], &W = prog->tensors[op.b], &Y = prog->tensors[op.y];
    std::vector<float> x = Gather(op.x), w = Gather(op.b);
    // The tensor-core engine reads f32 operands as TF32.
    if (prog->engine == 0 && X.storage == Storage::kF32) {
      for (float& v : x) v = RoundTf32(v);
      for (float& v : w) v = RoundTf32(v);
    }
    const int64_t N = X.dims[0], C = X.dims[1], H = X.dims[2], Wd = X.dims[3];
    const int64_t K = W.dims[0], Cg = W.dims[1], R = W.dims[2], S = W.dims[3];
    const int64_t P = Y.dims[2], Q = Y.dims[3];
    const int64_t G = C / Cg, Kg = K / G, crs = Cg * R * S;
    std::vector<float> out(N * K * P * Q);
    // Output pixels per im2col chunk: at most ~4M floats of columns.
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(P * Q, (int64_t{4} << 20) / crs));
    std::vector<float> col(crs * chunk), res(Kg * chunk);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t g = 0; g < G; ++g) {
        for (int64_t p0 = 0; p0 < P * Q; p0 += chunk) {
          const int64_t cols = std::min(chunk, P * Q - p0);
          for (int64_t c = 0; c < Cg; ++c) {
            const float* xc = x.data() + ((n * C) + g * Cg + c) * H * Wd;
            for (int64_t r = 0; r < R; ++r) {
              for (int64_t s = 0; s < S; ++s) {
                float* row = col.data() + ((c * R + r) * S + s) * cols;
                for (int64_t j = 0; j < cols; ++j) {
                  const int64_t p = (p0 + j) / Q, q = (p0 + j) % Q;
                  const int64_t h = p * op.stride[0] - op.pad[0] + r * op.dilation[0];
                  const int64_t ww = q * op.stride[1] - op.pad[1] + s * op.dilation[1];
                  row[j] = h >= 0 && h < H && ww >= 0 && ww < Wd ? xc[h * Wd + ww] : 0.0f;
                }
              }
            }
          }
          Gemm(Kg, cols, crs, w.data() + g * Kg * crs, col.data(), res.data());
          for (int64_t k = 0; k < Kg; ++k) {
            float* o = out.data() + ((n * K) + g * Kg + k) * P * Q + p0;
            const float* rr = res.data() + k * cols;
            for (int64_t j = 0; j < cols; ++j) o[j] = rr[j];
          }
        }
      }
    }
    if (op.alpha != 1.0f || op.beta != 0.0f) {
      std::vector<float> old;
      if (op.beta != 0.0f) old = Gather(op.y);
      for (size_t i = 0; i < out.size(); ++i)
        out[i] = op.alpha * out[i] + (op.beta != 0.0f ? op.beta * old[i] : 0.0f);
    }
    return out;
  }

  bool operator()() const {
    // Tensors gathered or computed so far, by index. (No std::map of std
    // types here: its instantiation would be exported, libstdc++'s
    // namespace having default visibility.)
    std::vector<std::vector<float>> value(prog->tensors.size());
    std::vector<char> have(prog->tensors.size(), 0);
    auto get = [&](int t) -> const std::vector<float>& {
      if (!have[t]) value[t] = Gather(t), have[t] = 1;
      return value[t];
    };
    for (const ProgramOp& op : prog->ops) {
      std::vector<float> y;
      switch (op.kind) {
        case OpKind::kConv:
          y = Conv(op);
          break;
        case OpKind::kAdd: {
          const std::vector<float>& x = get(op.x);
          const std::vector<float>& b = get(op.b);
          const TensorInfo &Y = prog->tensors[op.y], &B = prog->tensors[op.b];
          y.resize(x.size());
          int64_t i = 0;
          for (int64_t d0 = 0; d0 < Y.dims[0]; ++d0)
            for (int64_t d1 = 0; d1 < Y.dims[1]; ++d1)
              for (int64_t d2 = 0; d2 < Y.dims[2]; ++d2)
                for (int64_t d3 = 0; d3 < Y.dims[3]; ++d3, ++i) {
                  const int64_t bi =
                      (((B.dims[0] == 1 ? 0 : d0) * B.dims[1] + (B.dims[1] == 1 ? 0 : d1)) *
                           B.dims[2] +
                       (B.dims[2] == 1 ? 0 : d2)) *
                          B.dims[3] +
                      (B.dims[3] == 1 ? 0 : d3);
                  y[i] = x[i] + b[bi];
                }
          break;
        }
        case OpKind::kRelu:
          y = get(op.x);
          for (float& v : y) v = v > 0 ? v : 0;
          break;
        case OpKind::kGelu:
          y = get(op.x);
          for (float& v : y) v = GeluTanh(v);
          break;
      }
      if (!prog->tensors[op.y].is_virtual) Scatter(op.y, y);
      value[op.y] = std::move(y);
      have[op.y] = 1;
    }
    Count("convolutions");
    return true;
  }
};

}  // namespace
}  // namespace sinter::fake

using namespace sinter::fake;  // NOLINT: the entry points below are the C ABI

SINTER_FAKE_EXPORT size_t cudnnGetVersion(void) { return 90800; }

SINTER_FAKE_EXPORT const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
    case CUDNN_STATUS_SUCCESS:
      return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED:
      return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM:
      return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER:
      return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER:
      return "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER";
    case CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED:
      return "CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED";
    case CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND:
      return "CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND";
    case CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH:
      return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
    case CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE:
      return "CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE";
    case CUDNN_STATUS_NOT_SUPPORTED:
      return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN:
      return "CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN";
    case CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE:
      return "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE";
    case CUDNN_STATUS_EXECUTION_FAILED:
      return "CUDNN_STATUS_EXECUTION_FAILED";
    case CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED:
      return "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED";
    default:  // cudnnStatus_t has ~50 codes; these are the ones this fake returns
      return "CUDNN_STATUS_UNKNOWN (fake)";
  }
}

SINTER_FAKE_EXPORT void cudnnGetLastErrorString(char* message, size_t max_size) {
  if (message == nullptr || max_size == 0) return;
  std::strncpy(message, t_last_error.c_str(), max_size);
  message[max_size - 1] = '\0';
  t_last_error.clear();
}

SINTER_FAKE_EXPORT cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
  auto lock = Lock();
  if (!HaveContext("cudnnCreate")) return CUDNN_STATUS_NOT_INITIALIZED;
  if (ForbiddenInCapture("cudnnCreate")) return CUDNN_STATUS_NOT_SUPPORTED;
  if (handle == nullptr) return Bad(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "cudnnCreate: null");
  if (InjectFailure("cudnnCreate")) return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
  *handle = static_cast<cudnnHandle_t>(
      AddObject(std::make_unique<DnnHandle>(), Kind::kDnnHandle, "cudnnCreate"));
  return CUDNN_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  auto lock = Lock();
  if (ForbiddenInCapture("cudnnDestroy")) return CUDNN_STATUS_NOT_SUPPORTED;
  Object* h = FindObject(handle, Kind::kDnnHandle, "cudnnDestroy");
  if (h == nullptr) return CUDNN_STATUS_BAD_PARAM;
  Kill(h);
  return CUDNN_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  auto lock = Lock();
  auto* h = Find<DnnHandle>(handle, Kind::kDnnHandle, "cudnnSetStream");
  if (h == nullptr) return CUDNN_STATUS_BAD_PARAM;
  Stream* s = nullptr;
  if (!FindStream(reinterpret_cast<CUstream>(stream), "cudnnSetStream", &s))
    return CUDNN_STATUS_BAD_PARAM;
  h->stream = reinterpret_cast<CUstream>(stream);
  return CUDNN_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cudnnStatus_t cudnnBackendCreateDescriptor(cudnnBackendDescriptorType_t type,
                                                              cudnnBackendDescriptor_t* desc) {
  auto lock = Lock();
  if (desc == nullptr)
    return Bad(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "cudnnBackendCreateDescriptor: null");
  if (TypeName(type) == nullptr)
    return Bad(CUDNN_STATUS_NOT_SUPPORTED,
               Format("cudnnBackendCreateDescriptor: descriptor type %d is not emulated",
                      static_cast<int>(type)));
  if (InjectFailure("cudnnBackendCreateDescriptor"))
    return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
  auto d = std::make_unique<Descriptor>();
  d->type = type;
  static uint64_t n = 0;
  *desc = AddObject(std::move(d), Kind::kDnnDescriptor,
                    Format("cudnnBackendCreateDescriptor(%s) #%llu", TypeName(type),
                           static_cast<unsigned long long>(++n)));
  return CUDNN_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cudnnStatus_t cudnnBackendDestroyDescriptor(cudnnBackendDescriptor_t desc) {
  auto lock = Lock();
  Descriptor* d = FindDesc(desc, "cudnnBackendDestroyDescriptor");
  if (d == nullptr) return CUDNN_STATUS_BAD_PARAM;
  d->program.reset();
  Kill(d);
  return CUDNN_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cudnnStatus_t cudnnBackendSetAttribute(cudnnBackendDescriptor_t desc,
                                                          cudnnBackendAttributeName_t name,
                                                          cudnnBackendAttributeType_t type,
                                                          int64_t count, const void* elements) {
  auto lock = Lock();
  const char* api = "cudnnBackendSetAttribute";
  Descriptor* d = FindDesc(desc, api);
  if (d == nullptr) return CUDNN_STATUS_BAD_PARAM;
  const AttrRule* rule = FindRule(d->type, name);
  if (rule == nullptr)
    return Bad(CUDNN_STATUS_NOT_SUPPORTED,
               Format("%s: %s has no attribute %d that this fake knows (%s)", api, Name(*d).c_str(),
                      static_cast<int>(name), AttrLabel(name)));
  if (d->finalized)
    return Bad(CUDNN_STATUS_BAD_PARAM,
               Format("%s(%s): %s is already finalized", api, rule->label, Name(*d).c_str()));
  const bool float_or_double = rule->type == CUDNN_TYPE_FLOAT && type == CUDNN_TYPE_DOUBLE;
  if (type != rule->type && !float_or_double)
    return Bad(CUDNN_STATUS_BAD_PARAM,
               Format("%s(%s): attribute type %d, expected %d", api, rule->label,
                      static_cast<int>(type), static_cast<int>(rule->type)));
  if (count < rule->min || count > rule->max)
    return Bad(CUDNN_STATUS_BAD_PARAM,
               Format("%s(%s): %lld elements, expected %lld to %lld", api, rule->label,
                      static_cast<long long>(count), static_cast<long long>(rule->min),
                      static_cast<long long>(rule->max)));
  if (count > 0 && elements == nullptr)
    return Bad(CUDNN_STATUS_BAD_PARAM_NULL_POINTER,
               Format("%s(%s): a null array", api, rule->label));
  Attr a;
  a.type = type;
  a.count = count;
  a.bytes.assign(static_cast<const unsigned char*>(elements),
                 static_cast<const unsigned char*>(elements) + count * ElementBytes(type));
  if (type == CUDNN_TYPE_BACKEND_DESCRIPTOR) {
    for (int64_t i = 0; i < count; ++i) {
      if (FindDesc(static_cast<const cudnnBackendDescriptor_t*>(elements)[i], api) == nullptr)
        return CUDNN_STATUS_BAD_PARAM;
    }
  }
  d->attrs[name] = std::move(a);
  return CUDNN_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cudnnStatus_t cudnnBackendFinalize(cudnnBackendDescriptor_t desc) {
  auto lock = Lock();
  const char* api = "cudnnBackendFinalize";
  Descriptor* d = FindDesc(desc, api);
  if (d == nullptr) return CUDNN_STATUS_BAD_PARAM;
  if (d->finalized)
    return Bad(CUDNN_STATUS_BAD_PARAM,
               Format("%s: %s is already finalized", api, Name(*d).c_str()));
  cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
  switch (d->type) {
    case CUDNN_BACKEND_TENSOR_DESCRIPTOR:
      st = FinalizeTensor(*d, api);
      break;
    case CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR:
      st = FinalizeConvolution(*d, api);
      break;
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR:
      st = FinalizeConvForward(*d, api);
      break;
    case CUDNN_BACKEND_POINTWISE_DESCRIPTOR:
      st = FinalizePointwise(*d, api);
      break;
    case CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR:
      st = FinalizePointwiseOp(*d, api);
      break;
    case CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR:
      st = FinalizeGraph(*d, api);
      break;
    case CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR:
      st = FinalizeHeuristic(*d, api);
      break;
    case CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR:
      st = FinalizePlan(*d, api);
      break;
    case CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR:
      st = FinalizePack(*d, api);
      break;
    default:  // engines and configurations come finalised from the heuristic
      st = Bad(CUDNN_STATUS_NOT_SUPPORTED,
               Format("%s: finalizing a %s descriptor is not emulated", api, Name(*d).c_str()));
  }
  if (st == CUDNN_STATUS_SUCCESS) d->finalized = true;
  return st;
}

SINTER_FAKE_EXPORT cudnnStatus_t cudnnBackendGetAttribute(cudnnBackendDescriptor_t const desc,
                                                          cudnnBackendAttributeName_t name,
                                                          cudnnBackendAttributeType_t type,
                                                          int64_t requested, int64_t* count,
                                                          void* elements) {
  auto lock = Lock();
  const char* api = "cudnnBackendGetAttribute";
  Descriptor* d = FindDesc(desc, api);
  if (d == nullptr) return CUDNN_STATUS_BAD_PARAM;
  if (!d->finalized)
    return Bad(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED,
               Format("%s: %s is not finalized", api, Name(*d).c_str()));
  if (count == nullptr)
    return Bad(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, Format("%s: null count", api));
  if (requested > 0 && elements == nullptr)
    return Bad(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, Format("%s: null array", api));
  auto want = [&](cudnnBackendDescriptorType_t dt, cudnnBackendAttributeType_t at) {
    if (d->type != dt || type != at) {
      Bad(CUDNN_STATUS_BAD_PARAM,
          Format("%s: attribute %d of type %d from %s is not emulated", api, static_cast<int>(name),
                 static_cast<int>(type), Name(*d).c_str()));
      return false;
    }
    return true;
  };
  // Fills caller-created descriptors of `dt` (live, not finalized).
  auto fill = [&](int64_t i, cudnnBackendDescriptorType_t dt, int engine) -> bool {
    Descriptor* out = FindDesc(static_cast<cudnnBackendDescriptor_t*>(elements)[i], api);
    if (out == nullptr) return false;
    if (out->type != dt) {
      Bad(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE,
          Format("%s: element %lld is a %s, not a %s", api, static_cast<long long>(i),
                 Name(*out).c_str(), TypeName(dt)));
      return false;
    }
    out->program = d->program;
    out->engine = engine;
    out->finalized = true;
    return true;
  };
  switch (name) {
    case CUDNN_ATTR_ENGINEHEUR_RESULTS: {
      if (!want(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR))
        return CUDNN_STATUS_BAD_PARAM;
      const int64_t n = std::min<int64_t>(requested, d->engines.size());
      for (int64_t i = 0; i < n; ++i) {
        if (!fill(i, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, d->engines[i]))
          return CUDNN_STATUS_BAD_PARAM;
      }
      *count = requested == 0 ? static_cast<int64_t>(d->engines.size()) : n;
      return CUDNN_STATUS_SUCCESS;
    }
    case CUDNN_ATTR_ENGINECFG_ENGINE:
      if (!want(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR))
        return CUDNN_STATUS_BAD_PARAM;
      if (requested < 1) {
        *count = 1;
        return CUDNN_STATUS_SUCCESS;
      }
      if (!fill(0, CUDNN_BACKEND_ENGINE_DESCRIPTOR, d->engine)) return CUDNN_STATUS_BAD_PARAM;
      *count = 1;
      return CUDNN_STATUS_SUCCESS;
    case CUDNN_ATTR_ENGINE_NUMERICAL_NOTE: {
      if (!want(CUDNN_BACKEND_ENGINE_DESCRIPTOR, CUDNN_TYPE_NUMERICAL_NOTE))
        return CUDNN_STATUS_BAD_PARAM;
      // Engine 0 runs on tensor cores; engine 1 has no notes.
      *count = d->engine == 0 ? 1 : 0;
      if (*count > 0 && requested > 0)
        static_cast<cudnnBackendNumericalNote_t*>(elements)[0] = CUDNN_NUMERICAL_NOTE_TENSOR_CORE;
      return CUDNN_STATUS_SUCCESS;
    }
    case CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE:
      if (!want(CUDNN_BACKEND_ENGINE_DESCRIPTOR, CUDNN_TYPE_BEHAVIOR_NOTE))
        return CUDNN_STATUS_BAD_PARAM;
      *count = 0;
      return CUDNN_STATUS_SUCCESS;
    case CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE:
      if (!want(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, CUDNN_TYPE_INT64))
        return CUDNN_STATUS_BAD_PARAM;
      *count = 1;
      if (requested > 0) *static_cast<int64_t*>(elements) = d->workspace;
      return CUDNN_STATUS_SUCCESS;
    default:  // the other readable attributes are not emulated
      return Bad(CUDNN_STATUS_NOT_SUPPORTED,
                 Format("%s: reading attribute %d of %s is not emulated", api,
                        static_cast<int>(name), Name(*d).c_str()));
  }
}

SINTER_FAKE_EXPORT cudnnStatus_t cudnnBackendExecute(cudnnHandle_t handle,
                                                     cudnnBackendDescriptor_t plan,
                                                     cudnnBackendDescriptor_t pack) {
  auto lock = Lock();
  const char* api = "cudnnBackendExecute";
  if (!HaveContext(api)) return CUDNN_STATUS_NOT_INITIALIZED;
  auto* h = Find<DnnHandle>(handle, Kind::kDnnHandle, api);
  Descriptor* p = FindDesc(plan, api);
  Descriptor* vp = FindDesc(pack, api);
  if (h == nullptr || p == nullptr || vp == nullptr) return CUDNN_STATUS_BAD_PARAM;
  if (p->type != CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR || !p->finalized ||
      vp->type != CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR || !vp->finalized)
    return Bad(CUDNN_STATUS_BAD_PARAM,
               Format("%s: needs a finalized execution plan and variant pack (got %s, %s)", api,
                      Name(*p).c_str(), Name(*vp).c_str()));
  Stream* s = nullptr;
  if (!FindStream(h->stream, api, &s)) return CUDNN_STATUS_BAD_PARAM;
  const Program& prog = *p->program;
  const auto uids = Array<int64_t>(*vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS);
  const auto ptrs = Array<void*>(*vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS);
  const auto ws = Array<void*>(*vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE);
  ConvWork w;
  w.prog = p->program;
  w.ptr.assign(prog.tensors.size(), nullptr);
  bool ok = true;
  for (size_t i = 0; i < uids.size(); ++i) {
    bool known = false;
    for (size_t t = 0; t < prog.tensors.size(); ++t) {
      const TensorInfo& ti = prog.tensors[t];
      if (ti.uid != uids[i]) continue;
      known = true;
      if (ti.is_virtual) {
        Fail(Format("%s: %s: the variant pack binds virtual tensor %s", api, prog.what.c_str(),
                    Dims(ti).c_str()));
        ok = false;
      } else if (w.ptr[t] != nullptr) {
        Fail(Format("%s: %s: unique id %lld bound twice", api, prog.what.c_str(),
                    static_cast<long long>(ti.uid)));
        ok = false;
      }
      w.ptr[t] = ptrs[i];
    }
    if (!known) {
      Fail(Format("%s: %s: the variant pack binds unique id %lld, which the graph lacks", api,
                  prog.what.c_str(), static_cast<long long>(uids[i])));
      ok = false;
    }
  }
  for (size_t t = 0; t < prog.tensors.size(); ++t) {
    const TensorInfo& ti = prog.tensors[t];
    if (ti.is_virtual) continue;
    const auto ptr = reinterpret_cast<uintptr_t>(w.ptr[t]);
    if (ptr == 0) {
      Fail(Format("%s: %s: tensor %s has no pointer in the variant pack", api, prog.what.c_str(),
                  Dims(ti).c_str()));
      ok = false;
    } else if (ptr % ti.alignment != 0) {
      Fail(Format("%s: %s: tensor %s at %s is not %lld-byte aligned as declared", api,
                  prog.what.c_str(), Dims(ti).c_str(), Hex(ptr).c_str(),
                  static_cast<long long>(ti.alignment)));
      ok = false;
    } else if (!CheckRange(ptr, ti.Extent(), true, api,
                           Format("%s: tensor %s", prog.what.c_str(), Dims(ti).c_str()))) {
      ok = false;
    }
  }
  if (prog.workspace > 0) {
    const auto wp = ws.empty() ? 0 : reinterpret_cast<uintptr_t>(ws[0]);
    if (!CheckRange(wp, prog.workspace, true, api,
                    Format("%s: workspace of %lld bytes", prog.what.c_str(),
                           static_cast<long long>(prog.workspace))))
      ok = false;
  }
  if (!ok) return CUDNN_STATUS_BAD_PARAM;
  Work work;
  work.what = "cudnnBackendExecute " + prog.what;
  work.run = w;
  const CUresult r = Submit(s, std::move(work), api);
  return r == CUDA_SUCCESS               ? CUDNN_STATUS_SUCCESS
         : r == CUDA_ERROR_LAUNCH_FAILED ? CUDNN_STATUS_EXECUTION_FAILED
                                         : CUDNN_STATUS_NOT_SUPPORTED;
}
