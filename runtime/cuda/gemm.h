// GEMM through cuBLASLt: row-major problems (sinter's layout) mapped onto
// cuBLASLt's column-major ones, with bias and activation epilogues where
// cuBLASLt has them, and the algorithm picked by cuBLASLt's heuristic once
// when the plan is made (at session creation), then reused every run.
#ifndef SINTER_RUNTIME_CUDA_GEMM_H_
#define SINTER_RUNTIME_CUDA_GEMM_H_

#include <cstdint>
#include <memory>

#include "runtime/cuda/dynlib.h"

namespace sinter::rt::cuda {

enum class DataType { kF32, kF16, kBF16 };
enum class Activation { kNone, kRelu, kGelu /* tanh approximation, as cuBLASLt's */ };

// For b in [0, batch): C_b[m x n] = A_b[m x k] * op(B_b) (+ bias[n]) then the
// activation. All matrices row-major and dense. B_b is [k x n], or with
// b_transposed [n x k] (a linear layer's weight [N, K]). stride_* is the
// element distance between consecutive batch matrices; 0 repeats the same
// matrix for every b (broadcast). A, B, C and bias share `dtype`;
// accumulation is fp32 (TF32 tensor cores for f32 only with allow_tf32).
struct GemmDesc {
  int64_t m = 0, n = 0, k = 0;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  bool b_transposed = false;
  DataType dtype = DataType::kF32;
  bool allow_tf32 = false;
  bool bias = false;
  Activation activation = Activation::kNone;
  float alpha = 1.0f;  // C = alpha * A * op(B) (+ bias)
};

class GemmPlan {
 public:
  // Builds the descriptors and asks cuBLASLt's heuristic for the best
  // algorithm that needs at most `max_workspace` bytes. InvalidArgument for
  // a bad description, Unimplemented when no algorithm supports it (e.g. an
  // epilogue cuBLASLt lacks for this dtype), so the caller can fall back.
  static StatusOr<std::unique_ptr<GemmPlan>> Create(const CublasLtApi& api, cublasLtHandle_t handle,
                                                    const GemmDesc& desc, size_t max_workspace);
  ~GemmPlan();
  GemmPlan(const GemmPlan&) = delete;
  GemmPlan& operator=(const GemmPlan&) = delete;

  // Bytes of workspace the chosen algorithm needs (<= max_workspace).
  size_t workspace_bytes() const;
  // Enqueues the GEMM on `stream`. `bias` is ignored unless desc.bias.
  // Capturable into a CUDA graph (no allocation, no synchronisation).
  // Every pointer must be 16-byte aligned (the heuristic was told so). Not
  // reentrant: Run sets the bias pointer on the plan's cuBLASLt descriptor,
  // so one thread at a time per plan. The plan keeps `handle` from Create,
  // which must outlive it.
  Status Run(CUstream stream, const void* a, const void* b, const void* bias, void* c,
             void* workspace) const;

 private:
  GemmPlan() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sinter::rt::cuda

#endif  // SINTER_RUNTIME_CUDA_GEMM_H_
