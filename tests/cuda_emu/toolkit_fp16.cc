// The CUDA toolkit's own host implementations of the f16/bf16 conversions
// (cuda_fp16.hpp, cuda_bf16.hpp compiled for the host), behind plain
// functions so that fp16_test.cc can compare the emulator's shims with them
// without both sets of headers in one translation unit. Built only where
// the toolkit's headers are found.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace sinter::cuda_emu::toolkit {

uint16_t FloatToHalf(float f) { return __half_as_ushort(__float2half_rn(f)); }
uint16_t FloatToHalfRz(float f) { return __half_as_ushort(__float2half_rz(f)); }
float HalfToFloat(uint16_t h) { return __half2float(__ushort_as_half(h)); }
uint16_t FloatToBFloat16(float f) { return __bfloat16_as_ushort(__float2bfloat16_rn(f)); }
uint16_t FloatToBFloat16Rz(float f) { return __bfloat16_as_ushort(__float2bfloat16_rz(f)); }
float BFloat16ToFloat(uint16_t h) { return __bfloat162float(__ushort_as_bfloat16(h)); }

}  // namespace sinter::cuda_emu::toolkit
