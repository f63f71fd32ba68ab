// Hand-written CUDA kernels for executor_test.cc, compiled as emulated CUDA
// (see sinter_cuda_emu_kernels() in CMakeLists.txt): grid-stride loops,
// every warp collective, a shared-memory block reduction, dynamic shared
// memory, atomics, 16-byte vector accesses, f16/bf16 conversions, and one
// kernel per bug the executor must report.
#undef NDEBUG  // emu_assert_fails needs assert() in every build type
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "tests/cuda_emu/test_kernels.h"

extern "C" __global__ void emu_axpy(const float* x, float* y, float a, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    y[i] = a * x[i] + y[i];
}

extern "C" __global__ void emu_coords(unsigned* out) {
  const unsigned block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const unsigned thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  unsigned* o = out + (block * blockDim.x * blockDim.y * blockDim.z + thread) * 12;
  const uint3 v[4] = {threadIdx, blockIdx, blockDim, gridDim};
  for (int k = 0; k < 4; ++k) o[3 * k] = v[k].x, o[3 * k + 1] = v[k].y, o[3 * k + 2] = v[k].z;
}

template <class T>
__device__ void Shuffles(const T* in, T* out, int src, int delta, int width) {
  const unsigned t = threadIdx.x;
  const T v = in[t];
  out[t * 4 + 0] = __shfl_sync(0xffffffffu, v, src, width);
  out[t * 4 + 1] = __shfl_up_sync(0xffffffffu, v, delta, width);
  out[t * 4 + 2] = __shfl_down_sync(0xffffffffu, v, delta, width);
  out[t * 4 + 3] = __shfl_xor_sync(0xffffffffu, v, delta, width);
}
extern "C" __global__ void emu_shuffles(const int* in, int* out, int src, int delta, int width) {
  Shuffles(in, out, src, delta, width);
}
extern "C" __global__ void emu_shuffles64(const long long* in, long long* out, int src, int delta,
                                          int width) {
  Shuffles(in, out, src, delta, width);
}

extern "C" __global__ void emu_votes(const int* pred, unsigned* out, unsigned mask) {
  const unsigned t = threadIdx.x, lane = t & 31;
  unsigned* o = out + t * 8;
  const int p = pred[t];
  if (mask >> lane & 1) {
    o[0] = __ballot_sync(mask, p);
    o[1] = __any_sync(mask, p);
    o[2] = __all_sync(mask, p);
    o[3] = __match_any_sync(mask, p);
    o[4] = __reduce_add_sync(mask, static_cast<unsigned>(p));
    o[5] = static_cast<unsigned>(__reduce_min_sync(mask, p - 5));
    __syncwarp(mask);
  } else {
    for (int k = 0; k < 6; ++k) o[k] = 0;
  }
  o[6] = __activemask();
  o[7] = static_cast<unsigned>(__syncthreads_count(p));
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <bool kSecondBarrier>
__device__ void BlockSum(const float* x, float* out, int rows, int len) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  for (int row = blockIdx.x; row < rows; row += gridDim.x) {
    float v = 0.f;
    for (int j = threadIdx.x; j < len; j += blockDim.x) v += x[row * len + j];
    v = WarpSum(v);
    __syncthreads();  // the previous row's readers of partial[0] come first
    if (lane == 0) partial[warp] = v;
    if (kSecondBarrier) __syncthreads();
    if (warp == 0) {
      v = WarpSum(lane < warps ? partial[lane] : 0.f);
      if (lane == 0) partial[0] = v;
    }
    __syncthreads();
    if (threadIdx.x == 0) out[row] = partial[0];
  }
}
extern "C" __global__ void emu_block_sum(const float* x, float* out, int rows, int len) {
  BlockSum<true>(x, out, rows, len);
}
extern "C" __global__ void emu_block_sum_missing_barrier(const float* x, float* out, int rows,
                                                         int len) {
  BlockSum<false>(x, out, rows, len);
}

extern "C" __global__ void emu_dynamic_reverse(const int* in, int* out) {
  SINTER_EMU_EXTERN_SHARED(int, buf);  // extern __shared__ int buf[]; in a .cu file
  const unsigned t = threadIdx.x, n = blockDim.x, base = blockIdx.x * n;
  buf[t] = in[base + t];
  __syncthreads();
  out[base + t] = buf[n - 1 - t];
}

extern "C" __global__ void emu_histogram(const int* in, int n, unsigned* hist, int bins) {
  __shared__ unsigned local[1024];
  if (static_cast<int>(threadIdx.x) < bins) local[threadIdx.x] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    atomicAdd(&local[in[i]], 1u);
  __syncthreads();
  if (static_cast<int>(threadIdx.x) < bins) atomicAdd(&hist[threadIdx.x], local[threadIdx.x]);
}

extern "C" __global__ void emu_scale_float4(const float* in, float* out, int n) {
  for (int v = blockIdx.x * blockDim.x + threadIdx.x; v < n / 4; v += gridDim.x * blockDim.x) {
    const float4 t = reinterpret_cast<const float4*>(in)[v];
    reinterpret_cast<float4*>(out)[v] = make_float4(2 * t.x, 2 * t.y, 2 * t.z, 2 * t.w);
  }
}

extern "C" __global__ void emu_to_half(const float* in, unsigned short* bits, float* back, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const __half h = __float2half_rn(in[i]);
    bits[i] = __half_as_ushort(h);
    back[i] = __half2float(h);
  }
}

extern "C" __global__ void emu_to_bfloat16(const float* in, unsigned short* bits, float* back,
                                           int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const __nv_bfloat16 h = __float2bfloat16_rn(in[i]);
    bits[i] = __bfloat16_as_ushort(h);
    back[i] = __bfloat162float(h);
  }
}

// kF16Access's pattern: 8 halves in a uint4, unpacked, doubled, repacked.
extern "C" __global__ void emu_half_vector(const unsigned short* in, unsigned short* out, int n) {
  const __half* x = reinterpret_cast<const __half*>(in);
  __half* y = reinterpret_cast<__half*>(out);
  for (int v = blockIdx.x * blockDim.x + threadIdx.x; v < n / 8; v += gridDim.x * blockDim.x) {
    const uint4 t = *reinterpret_cast<const uint4*>(x + v * 8);
    const unsigned w[4] = {t.x, t.y, t.z, t.w};
    unsigned r[4];
    for (int k = 0; k < 4; ++k) {
      const float lo = __half2float(__ushort_as_half(static_cast<unsigned short>(w[k])));
      const float hi = __half2float(__ushort_as_half(static_cast<unsigned short>(w[k] >> 16)));
      r[k] = static_cast<unsigned>(__half_as_ushort(__float2half_rn(2.f * lo))) |
             static_cast<unsigned>(__half_as_ushort(__float2half_rn(2.f * hi))) << 16;
    }
    *reinterpret_cast<uint4*>(y + v * 8) = make_uint4(r[0], r[1], r[2], r[3]);
  }
}

// ---- One bug each ----------------------------------------------------------

extern "C" __global__ void emu_barrier_in_branch(int* out) {
  if (threadIdx.x < 16) __syncthreads();
  out[threadIdx.x] = threadIdx.x;
}

extern "C" __global__ void emu_barrier_two_sites(int* out) {
  if (threadIdx.x < 16) {
    out[threadIdx.x] = 1;
    __syncthreads();
  } else {
    out[threadIdx.x] = 2;
    __syncthreads();
  }
}

extern "C" __global__ void emu_read_past_end(const float* in, float* out, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    out[i] = in[i + 1];  // off by one
}

extern "C" __global__ void emu_write_past_end(float* out, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i <= n; i += gridDim.x * blockDim.x)
    out[i] = 1.f;  // <= n
}

extern "C" __global__ void emu_misaligned_float4(const float* in, float* out) {
  const float4 t = *reinterpret_cast<const float4*>(in + 1 + 4 * threadIdx.x);
  out[threadIdx.x] = t.x + t.y + t.z + t.w;
}

extern "C" __global__ void emu_shuffle_mask_omits_caller(int* out) {
  out[threadIdx.x] = __shfl_sync(0x0000ffffu, static_cast<int>(threadIdx.x), 0);
}

extern "C" __global__ void emu_shuffle_lane_exits(int* out) {
  if ((threadIdx.x & 31) >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, static_cast<int>(threadIdx.x), 1);
}

extern "C" __global__ void emu_shared_past_dynamic(int* out) {
  SINTER_EMU_EXTERN_SHARED(int, buf);
  buf[threadIdx.x] = 1;
  __syncthreads();
  out[threadIdx.x] = buf[threadIdx.x + 1];  // the last thread reads past the launch's size
}

extern "C" __global__ void emu_uninitialized_shared(int* out) {
  __shared__ int slots[64];
  if (threadIdx.x < 32) slots[threadIdx.x] = 1;
  __syncthreads();
  out[threadIdx.x] = slots[threadIdx.x];
}

extern "C" __global__ void emu_assert_fails(int* out) {
  assert(threadIdx.x != 5);
  out[threadIdx.x] = 1;
}

__device__ __attribute__((noinline)) int Recurse(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  return depth <= 0 ? pad[0] : Recurse(depth - 1) + pad[0];
}
extern "C" __global__ void emu_deep_recursion(int* out, int depth) {
  out[threadIdx.x] = Recurse(depth);
}
