// Conversions between sinter's dtypes with one defined result for every
// value, shared by the CPU cast kernel (runtime/cpu/op_table.cc) and the CUDA
// cast kernels (kernels/cuda/kernels.cuh, compiled by NVRTC and, in the
// tests, on the host). C++ leaves a float-to-integer conversion out of the
// target's range undefined, and x86 (cvtt*) and CUDA (cvt.rzi, which
// saturates) disagree on it; sinter computes what LibTorch computes on x86,
// everywhere:
//   float -> int64 / int32: truncation toward zero; NaN, infinities and values
//     outside the target's range give its minimum (INT64_MIN / INT32_MIN,
//     x86's "integer indefinite"): 1e10 -> int32 is -2147483648.
//   float -> uint8: the int32 conversion, then its low 8 bits: 300 -> 44,
//     -1 -> 255, 1e10 -> 0, NaN -> 0.
//   integer -> narrower integer: the low bits (two's complement wrap):
//     int64 2^40 + 5 -> int32 5, int64 -1 -> uint8 255.
//   anything -> bool: v != 0 (NaN is true). integer -> float: nearest.
// Checked against LibTorch 1.13 on x86 in tests/runtime/cast_test.cc.
#ifndef SINTER_KERNELS_CAST_H_
#define SINTER_KERNELS_CAST_H_

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define SINTER_CAST_FN __host__ __device__ __forceinline__
#else
#define SINTER_CAST_FN inline
#endif

namespace sinter_cast {

// Every float in [-2^63, 2^63) truncates into int64; 2^63 itself does not.
SINTER_CAST_FN long long FloatToI64(float v) {
  return (v >= -9223372036854775808.0f && v < 9223372036854775808.0f)
             ? static_cast<long long>(v)
             : (-9223372036854775807LL - 1);
}
SINTER_CAST_FN int FloatToI32(float v) {
  return (v >= -2147483648.0f && v < 2147483648.0f) ? static_cast<int>(v) : (-2147483647 - 1);
}
SINTER_CAST_FN unsigned char FloatToU8(float v) {
  return static_cast<unsigned char>(static_cast<unsigned>(FloatToI32(v)) & 0xffu);
}
SINTER_CAST_FN int IntToI32(long long v) {
  return static_cast<int>(static_cast<unsigned>(static_cast<unsigned long long>(v) & 0xffffffffu));
}
SINTER_CAST_FN unsigned char IntToU8(long long v) {
  return static_cast<unsigned char>(static_cast<unsigned long long>(v) & 0xffu);
}

// The same rules overloaded by source (float, or an integer widened to
// long long), for code generic over the source type.
SINTER_CAST_FN long long ToI64(float v) { return FloatToI64(v); }
SINTER_CAST_FN long long ToI64(long long v) { return v; }
SINTER_CAST_FN int ToI32(float v) { return FloatToI32(v); }
SINTER_CAST_FN int ToI32(long long v) { return IntToI32(v); }
SINTER_CAST_FN unsigned char ToU8(float v) { return FloatToU8(v); }
SINTER_CAST_FN unsigned char ToU8(long long v) { return IntToU8(v); }

}  // namespace sinter_cast

#endif  // SINTER_KERNELS_CAST_H_
