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
  // When set, called once per block of C, with every element of C in exactly
  // one block, as soon as the block holds its final value (all of K, bias and
  // accumulate applied) and before other blocks' work moves it out of cache;
  // possibly from pool threads, concurrently on disjoint blocks.
  void (*block)(void* ctx, int64_t row0, int64_t rows, int64_t col0, int64_t cols) = nullptr;
  void* block_ctx = nullptr;
};

// C[m, n] (=|+=) A[m, k] * op(B) + bias. Must not be called from inside a
// Parallel::For chunk with a non-null `par` (the pool is not reentrant).
void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
          bool b_transposed, float* c, int64_t ldc, const GemmEpilogue& ep, Parallel* par);

// B packed once for many products (weights): panels of `width` columns
// (GemmPackedWidth(): the micro-kernel's, 16 or 32), each k x width floats,
// k-major, columns past n zero. GemmPacked computes what Gemm does with that
// B, without packing it; `width` must be what the B was packed with.
int GemmPackedWidth();
int64_t GemmPackedBFloats(int64_t k, int64_t n, int width);
void GemmPackB(int64_t k, int64_t n, const float* b, int64_t ldb, bool b_transposed, int width,
               float* dst);
void GemmPacked(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bp,
                int width, float* c, int64_t ldc, const GemmEpilogue& ep, Parallel* par);

// A weight matrix B (k x n; stored [n, k] when transposed) packed once: a
// 16-float header holding the panel width it was packed with (the kernels
// choose theirs per process, and a test may switch), then GemmPackB's panels,
// sized for the widest panels so the size does not depend on the choice.
int64_t PackedWeightFloats(int64_t k, int64_t n);
void PackWeight(int64_t k, int64_t n, const float* b, int64_t ldb, bool transposed, float* dst);
// The panels of a PackWeight result and the width they were packed with.
const float* PackedWeightPanels(const float* packed, int* width);
// C = A * B (+ epilogue) with B from PackWeight.
void GemmPackedWeight(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                      const float* packed, float* c, int64_t ldc, const GemmEpilogue& ep,
                      Parallel* par);

// Turns GemmEpilogue::block calls into RangeDone calls for a C whose element
// (i, j) lies at offset base + i * ldc + j of the caller's output: one range
// per row of the block, or one for the block when it spans whole rows.
struct BlockRanges {
  const RangeDone* done;
  int64_t base, ldc;
};
void BlockRangesFn(void* ctx, int64_t row0, int64_t rows, int64_t col0, int64_t cols);
// Sets ep's block callback to `r` when r->done is non-null.
inline void SetBlockRanges(GemmEpilogue* ep, BlockRanges* r) {
  if (r->done == nullptr || r->done->fn == nullptr) return;
  ep->block = &BlockRangesFn;
  ep->block_ctx = r;
}

// Which micro-kernel the blocked GEMM uses. kDefault: AVX-512 when the CPU
// has it at full width (not AMD Zen 4) and the environment variable
// SINTER_NO_AVX512 is unset or 0, else
// AVX2 (or plain x86-64). For tests and measurements; returns whether the
// path asked for is now in use (false for kAvx512 on a CPU without it, the
// choice then unchanged). Not to be called while GEMMs run.
enum class GemmPath { kDefault, kAvx2, kAvx512 };
bool SetGemmPath(GemmPath path);

}  // namespace sinter::kernels::cpu::internal

#endif  // SINTER_KERNELS_CPU_INTERNAL_GEMM_H_
