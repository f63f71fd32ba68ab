// Storage precision for the CUDA target: every f32 tensor of the graph
// (constants and activations) is stored as f16 or bf16; kernels still
// compute in f32 (fused programs, softmax and normalisation statistics,
// GEMM/convolution accumulation). The graph's inputs and outputs keep the
// model's dtype: a cast follows each f32 input and precedes each f32
// output, so callers hand over and read back f32.
#ifndef SINTER_PASSES_CONVERT_PRECISION_H_
#define SINTER_PASSES_CONVERT_PRECISION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "ir/graph.h"

namespace sinter::passes {

// `to` is kF16 or kBF16 (kF32 is a no-op). Constants are rounded to
// nearest even once, at compile time. `converted` (optional) counts the
// values whose dtype changed. With `convert_io`, f32 inputs and outputs
// take the new dtype too (no casts): callers then hand over and read back
// f16/bf16 (sinterc --io-precision storage).
absl::Status ConvertPrecision(ir::Graph& g, ir::DType to, int64_t* converted = nullptr,
                              bool convert_io = false);

// f32 -> f16 / bf16 bits, round to nearest even; NaN stays NaN, overflow
// goes to infinity (IEEE semantics, as the GPU's __float2half_rn).
uint16_t F32ToF16Bits(float f);
uint16_t F32ToBF16Bits(float f);

}  // namespace sinter::passes

#endif  // SINTER_PASSES_CONVERT_PRECISION_H_
