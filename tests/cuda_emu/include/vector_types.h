// CUDA's vector types (float4, uint4, int2, ...) with the toolkit's sizes and
// alignments, so that a 128-bit access through float4* or uint4* needs the
// 16-byte alignment it needs on a GPU (the UBSan alignment check of the
// emulator reports it otherwise), and their make_* functions. uint3 and dim3
// come from the executor's ABI header.
#ifndef SINTER_CUDA_EMU_VECTOR_TYPES_H_
#define SINTER_CUDA_EMU_VECTOR_TYPES_H_

#include "sinter_cuda_emu_abi.h"

#define SINTER_EMU_VEC1(N, T, A) \
  struct alignas(A) N {          \
    T x;                         \
  };                             \
  inline N make_##N(T x) { return N{x}; }
#define SINTER_EMU_VEC2(N, T, A) \
  struct alignas(A) N {          \
    T x, y;                      \
  };                             \
  inline N make_##N(T x, T y) { return N{x, y}; }
#define SINTER_EMU_VEC3(N, T, A) \
  struct alignas(A) N {          \
    T x, y, z;                   \
  };                             \
  inline N make_##N(T x, T y, T z) { return N{x, y, z}; }
#define SINTER_EMU_VEC4(N, T, A) \
  struct alignas(A) N {          \
    T x, y, z, w;                \
  };                             \
  inline N make_##N(T x, T y, T z, T w) { return N{x, y, z, w}; }
#define SINTER_EMU_VECS(P, T, A1, A2, A4) \
  SINTER_EMU_VEC1(P##1, T, A1)            \
  SINTER_EMU_VEC2(P##2, T, A2)            \
  SINTER_EMU_VEC3(P##3, T, A1)            \
  SINTER_EMU_VEC4(P##4, T, A4)

SINTER_EMU_VECS(char, signed char, 1, 2, 4)
SINTER_EMU_VECS(uchar, unsigned char, 1, 2, 4)
SINTER_EMU_VECS(short, short, 2, 4, 8)
SINTER_EMU_VECS(ushort, unsigned short, 2, 4, 8)
SINTER_EMU_VECS(int, int, 4, 8, 16)
SINTER_EMU_VEC1(uint1, unsigned int, 4)
SINTER_EMU_VEC2(uint2, unsigned int, 8)
SINTER_EMU_VEC4(uint4, unsigned int, 16)
inline uint3 make_uint3(unsigned int x, unsigned int y, unsigned int z) { return uint3{x, y, z}; }
SINTER_EMU_VECS(long, long, 8, 16, 16)
SINTER_EMU_VECS(ulong, unsigned long, 8, 16, 16)
SINTER_EMU_VECS(longlong, long long, 8, 16, 16)
SINTER_EMU_VECS(ulonglong, unsigned long long, 8, 16, 16)
SINTER_EMU_VECS(float, float, 4, 8, 16)
SINTER_EMU_VECS(double, double, 8, 16, 16)

#undef SINTER_EMU_VECS
#undef SINTER_EMU_VEC1
#undef SINTER_EMU_VEC2
#undef SINTER_EMU_VEC3
#undef SINTER_EMU_VEC4

#endif  // SINTER_CUDA_EMU_VECTOR_TYPES_H_
