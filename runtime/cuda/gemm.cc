// GemmPlan: one cuBLASLt matmul descriptor, three layouts and the
// heuristic's algorithm, made once; Run is a single cublasLtMatmul.
//
// Row-major to column-major. A row-major [r x c] matrix with row stride c
// is, byte for byte, a column-major [c x r] matrix with leading dimension c:
// its transpose. So sinter's C = A * op(B) is, read column-major,
// C^T = op(B)^T * A^T, and cuBLASLt is given the operands swapped:
//
//   cuBLASLt   sinter   column-major shape       ld   op
//   A          B        [n x k]                  n    N    (B is [k x n])
//                       [k x n]                  k    T    (b_transposed: B is [n x k])
//   B          A        [k x m]                  k    N
//   C, D       C        [n x m]                  n
//
// for a cuBLASLt problem with M = n, N = m, K = k. cuBLASLt's bias epilogue
// adds a vector over D's rows, broadcast along its columns: D's rows are
// sinter's n, so bias[n] is added to every row of sinter's C, as wanted.
#include "runtime/cuda/gemm.h"

#include <limits>

namespace sinter::rt::cuda {
namespace {

Status Unimplemented(const std::string& m) { return Status(SINTER_UNIMPLEMENTED, m); }

// Alignment promised to the heuristic for every operand's base pointer.
// cuBLASLt assumes 256 bytes unless told, and may then pick a kernel that
// fails on a less aligned pointer; sinter's arena places tensors at 64-byte
// offsets, and 16 bytes (one 128-bit load) is what the fast kernels need.
constexpr uint32_t kMinAlignment = 16;

cudaDataType_t CudaType(DataType t) {
  switch (t) {
    case DataType::kF32:
      return CUDA_R_32F;
    case DataType::kF16:
      return CUDA_R_16F;
    case DataType::kBF16:
      return CUDA_R_16BF;
  }
  return CUDA_R_32F;
}

const char* TypeName(DataType t) {
  switch (t) {
    case DataType::kF32:
      return "f32";
    case DataType::kF16:
      return "f16";
    case DataType::kBF16:
      return "bf16";
  }
  return "?";
}

cublasLtEpilogue_t Epilogue(bool bias, Activation act) {
  switch (act) {
    case Activation::kNone:
      return bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    case Activation::kRelu:
      return bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    case Activation::kGelu:
      return bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

const char* ActivationName(Activation act) {
  switch (act) {
    case Activation::kNone:
      return "";
    case Activation::kRelu:
      return " + relu";
    case Activation::kGelu:
      return " + gelu";
  }
  return "";
}

std::string Describe(const GemmDesc& d) {
  return StrCat("gemm ", TypeName(d.dtype), " batch ", d.batch, " [", d.m, " x ", d.k, "] * [",
                d.b_transposed ? StrCat(d.n, " x ", d.k, "]^T") : StrCat(d.k, " x ", d.n, "]"),
                d.bias ? " + bias" : "", ActivationName(d.activation));
}

Status Validate(const GemmDesc& d) {
  if (d.m <= 0 || d.n <= 0 || d.k <= 0 || d.batch <= 0) {
    return InvalidArgument(StrCat(Describe(d), ": m, n, k and batch must be positive"));
  }
  if (d.batch > std::numeric_limits<int32_t>::max()) {
    return InvalidArgument(StrCat(Describe(d), ": batch exceeds cuBLASLt's int32 batch count"));
  }
  if (d.stride_a < 0 || d.stride_b < 0 || d.stride_c < 0) {
    return InvalidArgument(StrCat(Describe(d), ": negative batch stride"));
  }
  // Broadcast inputs are fine; outputs of different batches must not overlap.
  if (d.batch > 1 && d.stride_c < d.m * d.n) {
    return InvalidArgument(StrCat(Describe(d), ": stride_c ", d.stride_c, " overlaps the ", d.m,
                                  " x ", d.n, " outputs"));
  }
  return Status::Ok();
}

template <typename T>
Status SetDesc(const CublasLtApi& api, cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t a,
               const T& v, const char* what) {
  return CublasStatus(api, api.cublasLtMatmulDescSetAttribute(desc, a, &v, sizeof(v)), what);
}

template <typename T>
Status SetLayout(const CublasLtApi& api, cublasLtMatrixLayout_t layout,
                 cublasLtMatrixLayoutAttribute_t a, const T& v, const char* what) {
  return CublasStatus(api, api.cublasLtMatrixLayoutSetAttribute(layout, a, &v, sizeof(v)), what);
}

template <typename T>
Status SetPref(const CublasLtApi& api, cublasLtMatmulPreference_t pref,
               cublasLtMatmulPreferenceAttributes_t a, const T& v, const char* what) {
  return CublasStatus(api, api.cublasLtMatmulPreferenceSetAttribute(pref, a, &v, sizeof(v)), what);
}

}  // namespace

struct GemmPlan::Impl {
  const CublasLtApi* api = nullptr;
  cublasLtHandle_t handle = nullptr;
  // Run sets the bias pointer on `desc` before each call, so a plan serves
  // one thread at a time (sinter runs a session's kernels on one thread).
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;  // cuBLASLt's A, B, C (= D)
  cublasLtMatmulAlgo_t algo = {};
  size_t workspace = 0;
  bool bias = false;
  float alpha = 1.0f;

  ~Impl() {
    if (c != nullptr) api->cublasLtMatrixLayoutDestroy(c);
    if (b != nullptr) api->cublasLtMatrixLayoutDestroy(b);
    if (a != nullptr) api->cublasLtMatrixLayoutDestroy(a);
    if (desc != nullptr) api->cublasLtMatmulDescDestroy(desc);
  }

  Status MakeLayout(cublasLtMatrixLayout_t* out, cudaDataType_t type, int64_t rows, int64_t cols,
                    int64_t ld, int64_t batch, int64_t stride) {
    RT_RETURN_IF_ERROR(CublasStatus(*api,
                                    api->cublasLtMatrixLayoutCreate(out, type, rows, cols, ld),
                                    "cublasLtMatrixLayoutCreate"));
    if (batch == 1) return Status::Ok();
    RT_RETURN_IF_ERROR(SetLayout(*api, *out, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                 static_cast<int32_t>(batch),
                                 "CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT"));
    return SetLayout(*api, *out, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, stride,
                     "CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET");
  }
};

StatusOr<std::unique_ptr<GemmPlan>> GemmPlan::Create(const CublasLtApi& api,
                                                     cublasLtHandle_t handle, const GemmDesc& desc,
                                                     size_t max_workspace) {
  RT_RETURN_IF_ERROR(Validate(desc));
  const std::string what = Describe(desc);
  auto impl = std::make_unique<Impl>();
  impl->api = &api;
  impl->handle = handle;
  impl->bias = desc.bias;
  impl->alpha = desc.alpha;

  // A batch that repeats B over dense A and C is one GEMM with batch * m
  // rows (a linear layer over [batch, m, k]): one larger problem, and no
  // reliance on a zero batch stride.
  int64_t m = desc.m, batch = desc.batch;
  if (batch > 1 && desc.stride_b == 0 && desc.stride_a == desc.m * desc.k &&
      desc.stride_c == desc.m * desc.n) {
    m *= batch;
    batch = 1;
  }

  const cudaDataType_t type = CudaType(desc.dtype);
  const cublasComputeType_t compute = desc.dtype == DataType::kF32 && desc.allow_tf32
                                          ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F;
  auto ctx = [&what](const Status& s) { return s.WithContext(what); };
  RT_RETURN_IF_ERROR(
      ctx(CublasStatus(api, api.cublasLtMatmulDescCreate(&impl->desc, compute, CUDA_R_32F),
                       "cublasLtMatmulDescCreate")));
  const int32_t op_a = desc.b_transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int32_t op_b = CUBLAS_OP_N;
  const int32_t pointer_mode = CUBLASLT_POINTER_MODE_HOST;
  const uint32_t epilogue = Epilogue(desc.bias, desc.activation);
  RT_RETURN_IF_ERROR(ctx(
      SetDesc(api, impl->desc, CUBLASLT_MATMUL_DESC_TRANSA, op_a, "CUBLASLT_MATMUL_DESC_TRANSA")));
  RT_RETURN_IF_ERROR(ctx(
      SetDesc(api, impl->desc, CUBLASLT_MATMUL_DESC_TRANSB, op_b, "CUBLASLT_MATMUL_DESC_TRANSB")));
  RT_RETURN_IF_ERROR(ctx(SetDesc(api, impl->desc, CUBLASLT_MATMUL_DESC_POINTER_MODE, pointer_mode,
                                 "CUBLASLT_MATMUL_DESC_POINTER_MODE")));
  RT_RETURN_IF_ERROR(ctx(SetDesc(api, impl->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue,
                                 "CUBLASLT_MATMUL_DESC_EPILOGUE")));
  if (desc.bias) {
    const int32_t bias_type = type;
    RT_RETURN_IF_ERROR(ctx(SetDesc(api, impl->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, bias_type,
                                   "CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE")));
    // The heuristic reads the bias pointer's alignment without
    // dereferencing it; until Run sets the real one, stand in an address
    // with exactly kMinAlignment so the algorithm works with any bias
    // that aligned.
    const void* placeholder = reinterpret_cast<const void*>(uintptr_t{kMinAlignment});
    RT_RETURN_IF_ERROR(ctx(SetDesc(api, impl->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, placeholder,
                                   "CUBLASLT_MATMUL_DESC_BIAS_POINTER")));
  }

  // The table in the banner: cuBLASLt's A is sinter's B, its B is sinter's A.
  if (desc.b_transposed) {
    RT_RETURN_IF_ERROR(
        ctx(impl->MakeLayout(&impl->a, type, desc.k, desc.n, desc.k, batch, desc.stride_b)));
  } else {
    RT_RETURN_IF_ERROR(
        ctx(impl->MakeLayout(&impl->a, type, desc.n, desc.k, desc.n, batch, desc.stride_b)));
  }
  RT_RETURN_IF_ERROR(
      ctx(impl->MakeLayout(&impl->b, type, desc.k, m, desc.k, batch, desc.stride_a)));
  RT_RETURN_IF_ERROR(
      ctx(impl->MakeLayout(&impl->c, type, desc.n, m, desc.n, batch, desc.stride_c)));

  // The preference lives only as long as the heuristic query.
  cublasLtMatmulPreference_t pref = nullptr;
  RT_RETURN_IF_ERROR(ctx(CublasStatus(api, api.cublasLtMatmulPreferenceCreate(&pref),
                                      "cublasLtMatmulPreferenceCreate")));
  struct PrefGuard {
    const CublasLtApi& api;
    cublasLtMatmulPreference_t p;
    ~PrefGuard() { api.cublasLtMatmulPreferenceDestroy(p); }
  } guard{api, pref};
  const uint64_t ws = max_workspace;
  RT_RETURN_IF_ERROR(ctx(SetPref(api, pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ws,
                                 "CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES")));
  for (auto a :
       {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES}) {
    RT_RETURN_IF_ERROR(
        ctx(SetPref(api, pref, a, kMinAlignment, "CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*_BYTES")));
  }

  constexpr int kRequested = 8;
  cublasLtMatmulHeuristicResult_t results[kRequested] = {};
  int returned = 0;
  cublasStatus_t r = api.cublasLtMatmulAlgoGetHeuristic(
      handle, impl->desc, impl->a, impl->b, impl->c, impl->c, pref, kRequested, results, &returned);
  // NOT_SUPPORTED is the heuristic's "no algorithm for this problem".
  if (r != CUBLAS_STATUS_SUCCESS && r != CUBLAS_STATUS_NOT_SUPPORTED) {
    return ctx(CublasStatus(api, r, "cublasLtMatmulAlgoGetHeuristic"));
  }
  for (int i = 0; r == CUBLAS_STATUS_SUCCESS && i < returned; ++i) {
    if (results[i].state != CUBLAS_STATUS_SUCCESS || results[i].workspaceSize > max_workspace) {
      continue;
    }
    impl->algo = results[i].algo;
    impl->workspace = results[i].workspaceSize;
    std::unique_ptr<GemmPlan> plan(new GemmPlan());
    plan->impl_ = std::move(impl);
    return plan;
  }
  return Unimplemented(StrCat("cuBLASLt has no algorithm for ", what, " within ", max_workspace,
                              " bytes of workspace"));
}

GemmPlan::~GemmPlan() = default;

size_t GemmPlan::workspace_bytes() const { return impl_->workspace; }

Status GemmPlan::Run(CUstream stream, const void* a, const void* b, const void* bias, void* c,
                     void* workspace) const {
  const CublasLtApi& api = *impl_->api;
  if (impl_->bias) {
    RT_RETURN_IF_ERROR(
        CublasStatus(api,
                     api.cublasLtMatmulDescSetAttribute(
                         impl_->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
                     "cublasLtMatmulDescSetAttribute(CUBLASLT_MATMUL_DESC_BIAS_POINTER)"));
  }
  const float beta = 0.0f;
  // Operands swapped as the banner explains; C is both C (ignored, beta 0)
  // and D.
  return CublasStatus(api,
                      api.cublasLtMatmul(impl_->handle, impl_->desc, &impl_->alpha, b, impl_->a, a,
                                         impl_->b, &beta, c, impl_->c, c, impl_->c, &impl_->algo,
                                         workspace, impl_->workspace, stream),
                      "cublasLtMatmul");
}

}  // namespace sinter::rt::cuda
