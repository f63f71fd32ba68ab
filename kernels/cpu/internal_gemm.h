// Private to kernels/cpu: the GEMM entry point behind GemmF32 with the
// epilogues convolution and LSTM need (per-row bias, accumulate into C).
#ifndef SINTER_KERNELS_CPU_INTERNAL_GEMM_H_
#define SINTER_KERNELS_CPU_INTERNAL_GEMM_H_

#include <cstdint>

#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu::internal {

struct GemmEpilogue {
  const float* bias = nullptr;  // bias[n], or bias[m] when bias_per_row
  bool bias_per_row = false;
  bool accumulate = false;  // C += A * op(B) instead of C = A * op(B)
};

// C[m, n] (=|+=) A[m, k] * op(B) + bias. Must not be called from inside a
// Parallel::For chunk with a non-null `par` (the pool is not reentrant).
void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
          bool b_transposed, float* c, int64_t ldc, const GemmEpilogue& ep, Parallel* par);

}  // namespace sinter::kernels::cpu::internal

#endif  // SINTER_KERNELS_CPU_INTERNAL_GEMM_H_
