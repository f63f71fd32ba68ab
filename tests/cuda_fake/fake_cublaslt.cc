// The fake libcublasLt: every entry point of runtime/cuda/dynlib.h's
// SINTER_CUBLASLT_SYMBOLS (and nothing else), with cublasLt.h's signatures.
//
// It implements the column-major matmul D = alpha op(A) op(B) + beta C
// (then bias over D's rows and ReLU or tanh-GELU) on the host in f32, for
// exactly what the runtime uses: f32/f16/bf16 storage, CUBLAS_COMPUTE_32F
// (and _FAST_TF32, rounding f32 operands to TF32 as tensor cores do),
// column order with leading dimensions, strided batches (a stride of 0
// repeats a matrix), transposes, host scalars. Everything else is refused
// with a recorded error naming it.
//
// Checked: attribute sizes and values as cuBLASLt checks them; the shapes
// of the four layouts against the transposes; types and compute type; that
// the algorithm given to cublasLtMatmul came from the heuristic for this
// very problem, with its workspace; every operand pointer inside a live
// device allocation for all the bytes its layout spans, and aligned as the
// preference promised the heuristic; the stream and its capture.
#include <cublasLt.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "tests/cuda_fake/core.h"
#include "tests/cuda_fake/host_math.h"

namespace sinter::fake {
namespace {

constexpr uint64_t kAlgoMagic = 0x51a7e5b1a5ull;
constexpr size_t kAlgoWorkspace = size_t{1} << 20;  // what the first algorithm asks for

struct BlasHandle : Object {};

struct MatmulDesc : Object {
  int32_t compute = CUBLAS_COMPUTE_32F;
  int32_t scale = CUDA_R_32F;
  int32_t transa = CUBLAS_OP_N, transb = CUBLAS_OP_N;
  int32_t pointer_mode = CUBLASLT_POINTER_MODE_HOST;
  uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  int32_t bias_type = -1;
  const void* bias = nullptr;
};

struct Layout : Object {
  int32_t type = CUDA_R_32F;
  int32_t order = CUBLASLT_ORDER_COL;
  uint64_t rows = 0, cols = 0;
  int64_t ld = 0;
  int32_t batch = 1;
  int64_t stride = 0;
};

struct Preference : Object {
  uint64_t max_workspace = 0;
  uint32_t align[4] = {256, 256, 256, 256};  // A, B, C, D
};

cublasStatus_t Bad(cublasStatus_t s, const std::string& m) {
  Fail(m);
  return s;
}

bool StorageOf(int32_t t, Storage* s) {
  switch (t) {
    case CUDA_R_32F:
      *s = Storage::kF32;
      return true;
    case CUDA_R_16F:
      *s = Storage::kF16;
      return true;
    case CUDA_R_16BF:
      *s = Storage::kBF16;
      return true;
    default:  // cudaDataType_t has dozens of rows; sinter stores these three
      return false;
  }
}

template <class T>
bool Take(const void* buf, size_t size, T* out, const char* api, const char* attr) {
  if (buf == nullptr || size != sizeof(T)) {
    Fail(Format("%s(%s): %zu bytes given, the attribute holds %zu", api, attr, size, sizeof(T)));
    return false;
  }
  std::memcpy(out, buf, sizeof(T));
  return true;
}

// A problem as the four layouts and the descriptor describe it.
struct Problem {
  int64_t m = 0, n = 0, k = 0;
  int32_t batch = 1;
  Storage ab = Storage::kF32, cd = Storage::kF32, bias = Storage::kF32;
  bool has_bias = false, relu = false, gelu = false, tf32 = false;
  uint64_t hash = 0;
};

const char* EpilogueName(uint32_t e) {
  switch (e) {
    case CUBLASLT_EPILOGUE_DEFAULT:
      return "DEFAULT";
    case CUBLASLT_EPILOGUE_RELU:
      return "RELU";
    case CUBLASLT_EPILOGUE_BIAS:
      return "BIAS";
    case CUBLASLT_EPILOGUE_RELU_BIAS:
      return "RELU_BIAS";
    case CUBLASLT_EPILOGUE_GELU:
      return "GELU";
    case CUBLASLT_EPILOGUE_GELU_BIAS:
      return "GELU_BIAS";
    default:  // the training epilogues (aux outputs, gradients) are not emulated
      return nullptr;
  }
}

std::string Shape(const Layout& l) {
  return Format("%llux%llu ld %lld batch %d stride %lld", static_cast<unsigned long long>(l.rows),
                static_cast<unsigned long long>(l.cols), static_cast<long long>(l.ld), l.batch,
                static_cast<long long>(l.stride));
}

// Checks the descriptor and layouts against each other; fills *p.
bool Analyze(const char* api, const MatmulDesc& d, const Layout& a, const Layout& b,
             const Layout& c, const Layout& dl, Problem* p) {
  for (const Layout* l : {&a, &b, &c, &dl}) {
    if (l->order != CUBLASLT_ORDER_COL) {
      Fail(Format("%s: %s: order %d is not emulated (column order only)", api, l->label.c_str(),
                  l->order));
      return false;
    }
    if (l->ld < static_cast<int64_t>(l->rows) || l->rows == 0 || l->cols == 0) {
      Fail(Format("%s: %s: %s: the leading dimension must be at least the rows, both non-zero", api,
                  l->label.c_str(), Shape(*l).c_str()));
      return false;
    }
  }
  if (d.compute != CUBLAS_COMPUTE_32F && d.compute != CUBLAS_COMPUTE_32F_FAST_TF32) {
    Fail(Format("%s: compute type %d is not emulated", api, d.compute));
    return false;
  }
  if (d.scale != CUDA_R_32F) {
    Fail(Format("%s: scale type %d with a 32F compute type", api, d.scale));
    return false;
  }
  if (d.pointer_mode != CUBLASLT_POINTER_MODE_HOST) {
    Fail(Format("%s: pointer mode %d is not emulated (host scalars only)", api, d.pointer_mode));
    return false;
  }
  if (!StorageOf(a.type, &p->ab) || a.type != b.type || !StorageOf(c.type, &p->cd) ||
      c.type != dl.type) {
    Fail(
        Format("%s: types A %d, B %d, C %d, D %d: A and B must match, C and D must match, each "
               "32F, 16F or 16BF",
               api, a.type, b.type, c.type, dl.type));
    return false;
  }
  if (p->ab != p->cd && p->cd != Storage::kF32) {
    Fail(Format("%s: %s inputs with %s output", api, StorageName(p->ab), StorageName(p->cd)));
    return false;
  }
  p->tf32 = d.compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  if (p->tf32 && p->ab != Storage::kF32) {
    Fail(Format("%s: CUBLAS_COMPUTE_32F_FAST_TF32 with %s inputs", api, StorageName(p->ab)));
    return false;
  }
  const bool ta = d.transa == CUBLAS_OP_T, tb = d.transb == CUBLAS_OP_T;
  const int64_t am = ta ? a.cols : a.rows, ak = ta ? a.rows : a.cols;
  const int64_t bk = tb ? b.cols : b.rows, bn = tb ? b.rows : b.cols;
  p->m = am, p->k = ak, p->n = bn;
  if (ak != bk || static_cast<int64_t>(c.rows) != am || static_cast<int64_t>(c.cols) != bn ||
      c.rows != dl.rows || c.cols != dl.cols) {
    Fail(
        Format("%s: shapes disagree: op(A) %lldx%lld (A %s%s), op(B) %lldx%lld (B %s%s), C %s, "
               "D %s",
               api, static_cast<long long>(am), static_cast<long long>(ak), Shape(a).c_str(),
               ta ? ", transposed" : "", static_cast<long long>(bk), static_cast<long long>(bn),
               Shape(b).c_str(), tb ? ", transposed" : "", Shape(c).c_str(), Shape(dl).c_str()));
    return false;
  }
  if (a.batch != dl.batch || b.batch != dl.batch || c.batch != dl.batch || dl.batch < 1) {
    Fail(Format("%s: batch counts A %d, B %d, C %d, D %d differ", api, a.batch, b.batch, c.batch,
                dl.batch));
    return false;
  }
  p->batch = dl.batch;
  if (dl.batch > 1 && dl.stride < static_cast<int64_t>(dl.ld * dl.cols)) {
    Fail(Format("%s: D's batch stride %lld overlaps its %llu columns of %lld", api,
                static_cast<long long>(dl.stride), static_cast<unsigned long long>(dl.cols),
                static_cast<long long>(dl.ld)));
    return false;
  }
  if (EpilogueName(d.epilogue) == nullptr) {
    Fail(Format("%s: epilogue %u is not emulated", api, d.epilogue));
    return false;
  }
  p->has_bias = (d.epilogue & CUBLASLT_EPILOGUE_BIAS) == CUBLASLT_EPILOGUE_BIAS;
  p->relu = d.epilogue == CUBLASLT_EPILOGUE_RELU || d.epilogue == CUBLASLT_EPILOGUE_RELU_BIAS;
  p->gelu = d.epilogue == CUBLASLT_EPILOGUE_GELU || d.epilogue == CUBLASLT_EPILOGUE_GELU_BIAS;
  if (p->has_bias) {
    const int32_t bt = d.bias_type == -1 ? dl.type : d.bias_type;
    if (!StorageOf(bt, &p->bias) || bt != dl.type) {
      Fail(Format("%s: bias type %d for a D of type %d (they must match)", api, bt, dl.type));
      return false;
    }
  }
  uint64_t h = 1469598103934665603ull;
  for (int64_t v : {p->m, p->n, p->k, int64_t{p->batch}, int64_t{a.type}, int64_t{c.type},
                    int64_t{d.epilogue}, int64_t{d.transa}, int64_t{d.transb}, int64_t{d.compute},
                    a.ld, b.ld, c.ld, dl.ld, a.stride, b.stride, c.stride, dl.stride})
    h = (h ^ static_cast<uint64_t>(v)) * 1099511628211ull;
  p->hash = h;
  return true;
}

// Bytes a layout spans from its base pointer.
size_t Extent(const Layout& l, Storage t) {
  const uint64_t elems = static_cast<uint64_t>(l.batch - 1) * static_cast<uint64_t>(l.stride) +
                         (l.cols - 1) * static_cast<uint64_t>(l.ld) + l.rows;
  return elems * StorageBytes(t);
}

// One matmul as cublasLtMatmul saw it (the descriptor's values at the call,
// as a captured cuBLASLt kernel keeps them).
struct MatmulWork {
  Problem p;
  bool ta = false, tb = false;
  float alpha = 1, beta = 0;
  const void *a, *b, *c, *bias;
  void* d;
  Layout la, lb, lc, ld;

  bool operator()() const {
    const int64_t M = p.m, N = p.n, K = p.k;
    std::vector<float> at(K * M), bt(N * K), dt(N * M);
    for (int32_t bi = 0; bi < p.batch; ++bi) {
      const int64_t oa = bi * la.stride, ob = bi * lb.stride, oc = bi * lc.stride,
                    od = bi * ld.stride;
      // At[kk][i] = op(A)(i, kk); Bt[j][kk] = op(B)(kk, j); then
      // Dt[j][i] = sum_kk Bt[j][kk] At[kk][i] (row-major GEMM), D(i, j) = Dt[j][i].
      for (int64_t i = 0; i < M; ++i) {
        for (int64_t kk = 0; kk < K; ++kk) {
          const int64_t idx = ta ? kk + i * la.ld : i + kk * la.ld;
          float v = LoadAs(a, p.ab, oa + idx);
          at[kk * M + i] = p.tf32 ? RoundTf32(v) : v;
        }
      }
      for (int64_t j = 0; j < N; ++j) {
        for (int64_t kk = 0; kk < K; ++kk) {
          const int64_t idx = tb ? j + kk * lb.ld : kk + j * lb.ld;
          float v = LoadAs(b, p.ab, ob + idx);
          bt[j * K + kk] = p.tf32 ? RoundTf32(v) : v;
        }
      }
      Gemm(N, M, K, bt.data(), at.data(), dt.data());
      for (int64_t j = 0; j < N; ++j) {
        for (int64_t i = 0; i < M; ++i) {
          float v = alpha * dt[j * M + i];
          if (beta != 0) v += beta * LoadAs(c, p.cd, oc + i + j * lc.ld);
          if (p.has_bias) v += LoadAs(bias, p.bias, i);
          if (p.relu) v = v > 0 ? v : 0;
          if (p.gelu) v = GeluTanh(v);
          StoreAs(d, p.cd, od + i + j * ld.ld, v);
        }
      }
    }
    Count("matmuls");
    return true;
  }
};

}  // namespace
}  // namespace sinter::fake

using namespace sinter::fake;  // NOLINT: the entry points below are the C ABI

SINTER_FAKE_EXPORT size_t cublasLtGetVersion(void) { return 130000; }

SINTER_FAKE_EXPORT const char* cublasLtGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR:
      return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

SINTER_FAKE_EXPORT const char* cublasLtGetStatusString(cublasStatus_t status) {
  return status == CUBLAS_STATUS_SUCCESS ? "success" : "see the fake cuBLASLt's validation log";
}

SINTER_FAKE_EXPORT cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  auto lock = Lock();
  if (!HaveContext("cublasLtCreate")) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (ForbiddenInCapture("cublasLtCreate")) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (handle == nullptr) return Bad(CUBLAS_STATUS_INVALID_VALUE, "cublasLtCreate: a null handle");
  if (InjectFailure("cublasLtCreate")) return CUBLAS_STATUS_ALLOC_FAILED;
  *handle = static_cast<cublasLtHandle_t>(
      AddObject(std::make_unique<BlasHandle>(), Kind::kBlasHandle, "cublasLtCreate"));
  return CUBLAS_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  auto lock = Lock();
  if (ForbiddenInCapture("cublasLtDestroy")) return CUBLAS_STATUS_NOT_SUPPORTED;
  Object* h = FindObject(handle, Kind::kBlasHandle, "cublasLtDestroy");
  if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  Kill(h);
  return CUBLAS_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc,
                                                           cublasComputeType_t compute,
                                                           cudaDataType_t scale) {
  auto lock = Lock();
  if (desc == nullptr) return Bad(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatmulDescCreate: null");
  if (InjectFailure("cublasLtMatmulDescCreate")) return CUBLAS_STATUS_ALLOC_FAILED;
  auto d = std::make_unique<MatmulDesc>();
  d->compute = compute;
  d->scale = scale;
  static uint64_t n = 0;
  *desc = static_cast<cublasLtMatmulDesc_t>(
      AddObject(std::move(d), Kind::kBlasMatmulDesc,
                Format("cublasLtMatmulDescCreate #%llu", static_cast<unsigned long long>(++n))));
  return CUBLAS_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  auto lock = Lock();
  Object* d = FindObject(desc, Kind::kBlasMatmulDesc, "cublasLtMatmulDescDestroy");
  if (d == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  Kill(d);
  return CUBLAS_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cublasStatus_t cublasLtMatmulDescSetAttribute(
    cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const void* buf, size_t size) {
  auto lock = Lock();
  const char* api = "cublasLtMatmulDescSetAttribute";
  auto* d = Find<MatmulDesc>(desc, Kind::kBlasMatmulDesc, api);
  if (d == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  bool ok = false;
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA:
    case CUBLASLT_MATMUL_DESC_TRANSB: {
      int32_t v;
      ok = Take(buf, size, &v, api, attr == CUBLASLT_MATMUL_DESC_TRANSA ? "TRANSA" : "TRANSB");
      if (ok && v != CUBLAS_OP_N && v != CUBLAS_OP_T)
        return Bad(CUBLAS_STATUS_INVALID_VALUE, Format("%s: transpose %d (N or T)", api, v));
      if (ok) (attr == CUBLASLT_MATMUL_DESC_TRANSA ? d->transa : d->transb) = v;
      break;
    }
    case CUBLASLT_MATMUL_DESC_POINTER_MODE:
      ok = Take(buf, size, &d->pointer_mode, api, "POINTER_MODE");
      break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE:
      ok = Take(buf, size, &d->epilogue, api, "EPILOGUE");
      if (ok && EpilogueName(d->epilogue) == nullptr)
        return Bad(CUBLAS_STATUS_NOT_SUPPORTED,
                   Format("%s: epilogue %u is not emulated", api, d->epilogue));
      break;
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE:
      ok = Take(buf, size, &d->bias_type, api, "BIAS_DATA_TYPE");
      break;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
      ok = Take(buf, size, &d->bias, api, "BIAS_POINTER");
      break;
    default:  // about forty attributes; the rest are not emulated
      return Bad(CUBLAS_STATUS_NOT_SUPPORTED,
                 Format("%s: attribute %d is not emulated", api, static_cast<int>(attr)));
  }
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

SINTER_FAKE_EXPORT cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout,
                                                             cudaDataType type, uint64_t rows,
                                                             uint64_t cols, int64_t ld) {
  auto lock = Lock();
  if (layout == nullptr)
    return Bad(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatrixLayoutCreate: null");
  if (InjectFailure("cublasLtMatrixLayoutCreate")) return CUBLAS_STATUS_ALLOC_FAILED;
  auto l = std::make_unique<Layout>();
  l->type = type;
  l->rows = rows;
  l->cols = cols;
  l->ld = ld;
  static uint64_t n = 0;
  *layout = static_cast<cublasLtMatrixLayout_t>(
      AddObject(std::move(l), Kind::kBlasLayout,
                Format("cublasLtMatrixLayoutCreate #%llu (%llux%llu ld %lld)",
                       static_cast<unsigned long long>(++n), static_cast<unsigned long long>(rows),
                       static_cast<unsigned long long>(cols), static_cast<long long>(ld))));
  return CUBLAS_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  auto lock = Lock();
  Object* l = FindObject(layout, Kind::kBlasLayout, "cublasLtMatrixLayoutDestroy");
  if (l == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  Kill(l);
  return CUBLAS_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cublasStatus_t cublasLtMatrixLayoutSetAttribute(
    cublasLtMatrixLayout_t layout, cublasLtMatrixLayoutAttribute_t attr, const void* buf,
    size_t size) {
  auto lock = Lock();
  const char* api = "cublasLtMatrixLayoutSetAttribute";
  auto* l = Find<Layout>(layout, Kind::kBlasLayout, api);
  if (l == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  bool ok = false;
  switch (attr) {
    case CUBLASLT_MATRIX_LAYOUT_ORDER:
      ok = Take(buf, size, &l->order, api, "ORDER");
      break;
    case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT:
      ok = Take(buf, size, &l->batch, api, "BATCH_COUNT");
      if (ok && l->batch < 1)
        return Bad(CUBLAS_STATUS_INVALID_VALUE, Format("%s: batch count %d", api, l->batch));
      break;
    case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET:
      ok = Take(buf, size, &l->stride, api, "STRIDED_BATCH_OFFSET");
      break;
    default:  // type, rows, cols and ld come from Create; the rest are not emulated
      return Bad(CUBLAS_STATUS_NOT_SUPPORTED,
                 Format("%s: attribute %d is not emulated", api, static_cast<int>(attr)));
  }
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

SINTER_FAKE_EXPORT cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  auto lock = Lock();
  if (pref == nullptr) return Bad(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatmulPreferenceCreate");
  if (InjectFailure("cublasLtMatmulPreferenceCreate")) return CUBLAS_STATUS_ALLOC_FAILED;
  *pref = static_cast<cublasLtMatmulPreference_t>(AddObject(
      std::make_unique<Preference>(), Kind::kBlasPreference, "cublasLtMatmulPreferenceCreate"));
  return CUBLAS_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  auto lock = Lock();
  Object* p = FindObject(pref, Kind::kBlasPreference, "cublasLtMatmulPreferenceDestroy");
  if (p == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  Kill(p);
  return CUBLAS_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cublasStatus_t cublasLtMatmulPreferenceSetAttribute(
    cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
    size_t size) {
  auto lock = Lock();
  const char* api = "cublasLtMatmulPreferenceSetAttribute";
  auto* p = Find<Preference>(pref, Kind::kBlasPreference, api);
  if (p == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  bool ok = false;
  switch (attr) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
      ok = Take(buf, size, &p->max_workspace, api, "MAX_WORKSPACE_BYTES");
      break;
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: {
      const int i = attr - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES;
      ok = Take(buf, size, &p->align[i], api, "MIN_ALIGNMENT_*_BYTES");
      if (ok && (p->align[i] == 0 || (p->align[i] & (p->align[i] - 1)) != 0))
        return Bad(CUBLAS_STATUS_INVALID_VALUE,
                   Format("%s: alignment %u is not a power of 2", api, p->align[i]));
      break;
    }
    default:  // the other preferences are not emulated
      return Bad(CUBLAS_STATUS_NOT_SUPPORTED,
                 Format("%s: attribute %d is not emulated", api, static_cast<int>(attr)));
  }
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

namespace {

// The alignment a pointer value has (its lowest set bit), capped at 256.
uint32_t AlignmentOf(uintptr_t p) {
  uint32_t a = 1;
  while (a < 256 && p % (a * 2) == 0) a *= 2;
  return a;
}

}  // namespace

SINTER_FAKE_EXPORT cublasStatus_t cublasLtMatmulAlgoGetHeuristic(
    cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
    cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
    cublasLtMatmulPreference_t pref, int requested, cublasLtMatmulHeuristicResult_t results[],
    int* returned) {
  auto lock = Lock();
  const char* api = "cublasLtMatmulAlgoGetHeuristic";
  if (FindObject(handle, Kind::kBlasHandle, api) == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  auto* md = Find<MatmulDesc>(desc, Kind::kBlasMatmulDesc, api);
  auto* la = Find<Layout>(a, Kind::kBlasLayout, api);
  auto* lb = Find<Layout>(b, Kind::kBlasLayout, api);
  auto* lc = Find<Layout>(c, Kind::kBlasLayout, api);
  auto* ld = Find<Layout>(d, Kind::kBlasLayout, api);
  auto* p = Find<Preference>(pref, Kind::kBlasPreference, api);
  if (!md || !la || !lb || !lc || !ld || !p) return CUBLAS_STATUS_INVALID_VALUE;
  if (requested < 1 || results == nullptr || returned == nullptr)
    return Bad(CUBLAS_STATUS_INVALID_VALUE, Format("%s: %d results requested", api, requested));
  Problem prob;
  if (!Analyze(api, *md, *la, *lb, *lc, *ld, &prob)) return CUBLAS_STATUS_NOT_SUPPORTED;
  // A test's switch: no algorithm for an epilogue (as for a dtype or
  // epilogue a cuBLASLt version lacks); not a violation.
  if (md->epilogue != CUBLASLT_EPILOGUE_DEFAULT && Flag("cublaslt_epilogues") == 0) {
    *returned = 0;
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  // The algorithms' alignment: what the preference promises (the bias's
  // from the pointer the descriptor holds now).
  uint32_t align = std::min({p->align[0], p->align[1], p->align[2], p->align[3]});
  if (prob.has_bias) align = std::min(align, AlignmentOf(reinterpret_cast<uintptr_t>(md->bias)));
  // Two algorithms: one with a workspace (when the preference allows it),
  // one without.
  int n = 0;
  for (size_t ws : {kAlgoWorkspace, size_t{0}}) {
    if (ws > p->max_workspace || n >= requested) continue;
    cublasLtMatmulHeuristicResult_t& r = results[n];
    std::memset(&r, 0, sizeof r);
    r.algo.data[0] = kAlgoMagic;
    r.algo.data[1] = prob.hash;
    r.algo.data[2] = static_cast<uint64_t>(n);
    r.algo.data[3] = ws;
    r.algo.data[4] = align;
    r.workspaceSize = ws;
    r.state = CUBLAS_STATUS_SUCCESS;
    r.wavesCount = 1.0f;
    ++n;
  }
  *returned = n;
  return CUBLAS_STATUS_SUCCESS;
}

SINTER_FAKE_EXPORT cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                                 const void* alpha, const void* A,
                                                 cublasLtMatrixLayout_t a, const void* B,
                                                 cublasLtMatrixLayout_t b, const void* beta,
                                                 const void* C, cublasLtMatrixLayout_t c, void* D,
                                                 cublasLtMatrixLayout_t d,
                                                 const cublasLtMatmulAlgo_t* algo, void* workspace,
                                                 size_t workspace_bytes, cudaStream_t stream) {
  auto lock = Lock();
  const char* api = "cublasLtMatmul";
  if (!HaveContext(api)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (FindObject(handle, Kind::kBlasHandle, api) == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  auto* md = Find<MatmulDesc>(desc, Kind::kBlasMatmulDesc, api);
  auto* la = Find<Layout>(a, Kind::kBlasLayout, api);
  auto* lb = Find<Layout>(b, Kind::kBlasLayout, api);
  auto* lc = Find<Layout>(c, Kind::kBlasLayout, api);
  auto* ld = Find<Layout>(d, Kind::kBlasLayout, api);
  if (!md || !la || !lb || !lc || !ld) return CUBLAS_STATUS_INVALID_VALUE;
  Stream* s = nullptr;
  if (!FindStream(reinterpret_cast<CUstream>(stream), api, &s)) return CUBLAS_STATUS_INVALID_VALUE;
  Problem prob;
  if (!Analyze(api, *md, *la, *lb, *lc, *ld, &prob)) return CUBLAS_STATUS_NOT_SUPPORTED;
  std::string what =
      Format("%s %lldx%lldx%lld batch %d", StorageName(prob.ab), static_cast<long long>(prob.m),
             static_cast<long long>(prob.n), static_cast<long long>(prob.k), prob.batch);
  if (algo == nullptr || algo->data[0] != kAlgoMagic) {
    return Bad(CUBLAS_STATUS_INVALID_VALUE,
               Format("%s: %s: the algorithm is not one cublasLtMatmulAlgoGetHeuristic returned",
                      api, what.c_str()));
  }
  if (algo->data[1] != prob.hash) {
    return Bad(CUBLAS_STATUS_INVALID_VALUE,
               Format("%s: %s: the algorithm was chosen for another problem (the descriptor or "
                      "a layout changed since cublasLtMatmulAlgoGetHeuristic)",
                      api, what.c_str()));
  }
  const size_t need = algo->data[3];
  if (workspace_bytes < need) {
    return Bad(CUBLAS_STATUS_INVALID_VALUE,
               Format("%s: %s: %zu bytes of workspace given, the algorithm needs %zu", api,
                      what.c_str(), workspace_bytes, need));
  }
  if (alpha == nullptr || beta == nullptr)
    return Bad(CUBLAS_STATUS_INVALID_VALUE, Format("%s: null alpha or beta", api));
  MatmulWork w;
  w.p = prob;
  w.ta = md->transa == CUBLAS_OP_T;
  w.tb = md->transb == CUBLAS_OP_T;
  std::memcpy(&w.alpha, alpha, sizeof(float));
  std::memcpy(&w.beta, beta, sizeof(float));
  w.a = A, w.b = B, w.c = C, w.d = D, w.bias = md->bias;
  w.la = *la, w.lb = *lb, w.lc = *lc, w.ld = *ld;
  // Operands: inside live device memory for every byte their layouts span,
  // and as aligned as the heuristic was promised.
  const uint32_t align = static_cast<uint32_t>(algo->data[4]);
  bool ok = true;
  auto operand = [&](const void* ptr, size_t bytes, const char* name) {
    const auto p = reinterpret_cast<uintptr_t>(ptr);
    if (!CheckRange(p, bytes, true, api, Format("%s: %s", what.c_str(), name))) {
      ok = false;
    } else if (p % align != 0) {
      Fail(Format("%s: %s: %s %s is not %u-byte aligned, as the algorithm was chosen for", api,
                  what.c_str(), name, Hex(p).c_str(), align));
      ok = false;
    }
  };
  operand(A, Extent(*la, prob.ab), "A");
  operand(B, Extent(*lb, prob.ab), "B");
  if (w.beta != 0) operand(C, Extent(*lc, prob.cd), "C");
  operand(D, Extent(*ld, prob.cd), "D");
  if (prob.has_bias) operand(md->bias, prob.m * StorageBytes(prob.bias), "bias");
  if (C == D && (lc->rows != ld->rows || lc->ld != ld->ld || lc->stride != ld->stride)) {
    Fail(Format("%s: %s: C and D are one buffer with different layouts", api, what.c_str()));
    ok = false;
  }
  if (need > 0 && !CheckRange(reinterpret_cast<uintptr_t>(workspace), need, true, api,
                              Format("%s: workspace", what.c_str())))
    ok = false;
  if (!ok) return CUBLAS_STATUS_INVALID_VALUE;
  Work work;
  work.what = "cublasLtMatmul " + what;
  work.run = w;
  const CUresult r = Submit(s, std::move(work), api);
  return r == CUDA_SUCCESS               ? CUBLAS_STATUS_SUCCESS
         : r == CUDA_ERROR_LAUNCH_FAILED ? CUBLAS_STATUS_EXECUTION_FAILED
                                         : CUBLAS_STATUS_NOT_SUPPORTED;
}
