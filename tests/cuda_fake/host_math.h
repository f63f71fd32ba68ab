// The arithmetic behind the fake cuBLASLt and cuDNN: storage types read
// and written as CUDA rounds them (f16/bf16 to nearest even, through the
// host executor's own conversions), TF32 input rounding, tanh-GELU, and an
// f32 GEMM fast enough for whole models on a CI machine. Accumulation is
// f32 in k order, as the libraries' f32-compute kernels (up to order).
#ifndef SINTER_TESTS_CUDA_FAKE_HOST_MATH_H_
#define SINTER_TESTS_CUDA_FAKE_HOST_MATH_H_

#include <cstddef>
#include <cstdint>

namespace sinter::fake {

enum class Storage { kF32, kF16, kBF16 };
size_t StorageBytes(Storage t);
const char* StorageName(Storage t);
float LoadAs(const void* base, Storage t, int64_t index);
void StoreAs(void* base, Storage t, int64_t index, float v);

// f32 rounded to TF32 (10 fraction bits, to nearest even), as tensor cores
// read f32 operands.
float RoundTf32(float v);
// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))): cuBLASLt's GELU
// epilogue and cuDNN's GELU_APPROX_TANH.
float GeluTanh(float x);

// C[m x n] = A[m x k] * B[k x n], all row-major and dense.
void Gemm(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c);

}  // namespace sinter::fake

#endif  // SINTER_TESTS_CUDA_FAKE_HOST_MATH_H_
