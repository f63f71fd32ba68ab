// Hand-written CUDA kernels for the ops that are not elementwise programs,
// reductions with a generated kernel, or library calls: data movement,
// pooling, plain reductions, unfused batch norm, embedding, grid sampling and
// casts.
// sinterc compiles this file with NVRTC into every CUDA artifact's module,
// next to the generated kernels (codegen/cuda); the runtime fills the
// parameter blocks of kernels/cuda/params.h and launches them.
//
// Every kernel walks its work with a grid-stride loop (any grid is correct;
// the runtime sizes it from the work and the SM count), reads and writes
// storage types (float, __half, __nv_bfloat16) and computes in float.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
// Under NVRTC the module's source has kernels/cast.h and
// kernels/grid_sample.h ahead of this file
// (codegen/cuda/cuda_target.cc); elsewhere it is included.
#if !defined(__CUDACC_RTC__)
#include "kernels/cast.h"
#include "kernels/grid_sample.h"
#endif

#ifndef SINTER_KERNELS_CUDA_KERNELS_CUH_
#define SINTER_KERNELS_CUDA_KERNELS_CUH_

namespace sinter_k {

template <typename T>
__device__ __forceinline__ float ToF(T v) {
  return static_cast<float>(v);
}
template <>
__device__ __forceinline__ float ToF<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float ToF<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
template <typename T>
__device__ __forceinline__ T FromF(float v) {
  return static_cast<T>(v);
}
template <>
__device__ __forceinline__ __half FromF<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromF<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
// Integers: the conversions of kernels/cast.h, not CUDA's saturating cvt, so
// that a cast gives what the CPU gives for NaN and out-of-range values.
template <>
__device__ __forceinline__ long long FromF<long long>(float v) {
  return sinter_cast::FloatToI64(v);
}
template <>
__device__ __forceinline__ int FromF<int>(float v) {
  return sinter_cast::FloatToI32(v);
}

__device__ __forceinline__ long long GridStart() {
  return static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ long long GridStep() {
  return static_cast<long long>(gridDim.x) * blockDim.x;
}

// Element size only matters for a copy, so one kernel per size serves
// every dtype.
template <typename T>
__device__ void Copy(const T* __restrict__ in, T* __restrict__ out, const sinter_copy_params& p) {
  for (long long i = GridStart(); i < p.n; i += GridStep()) {
    long long rest = i, src = p.in_offset, dst = p.out_offset;
    for (int d = static_cast<int>(p.rank) - 1; d >= 0; --d) {
      const long long c = rest % p.dims[d];
      rest /= p.dims[d];
      src += c * p.in_strides[d];
      dst += c * p.out_strides[d];
    }
    out[dst] = in[src];
  }
}

template <typename T>
__device__ void Pool(const T* __restrict__ x, T* __restrict__ y, const sinter_pool_params& p) {
  const long long total = p.n * p.c * p.p * p.q;
  for (long long i = GridStart(); i < total; i += GridStep()) {
    // Output i at (image, channel, op, oq); the input's plane base and the
    // step between neighbouring pixels follow the layout. Channels-last
    // threads of a warp take neighbouring channels: coalesced.
    long long oq, op, base, pix;
    if (p.nhwc) {
      const long long ch = i % p.c, j = i / p.c;
      oq = j % p.q, op = (j / p.q) % p.p;
      base = j / (p.p * p.q) * p.h * p.w * p.c + ch, pix = p.c;
    } else {
      oq = i % p.q, op = (i / p.q) % p.p;
      base = i / (p.p * p.q) * p.h * p.w, pix = 1;
    }
    long long h0, h1, w0, w1;
    if (p.adaptive) {  // PyTorch: start = floor(o * in / out), end = ceil((o + 1) * in / out)
      h0 = op * p.h / p.p, h1 = ((op + 1) * p.h + p.p - 1) / p.p;
      w0 = oq * p.w / p.q, w1 = ((oq + 1) * p.w + p.q - 1) / p.q;
    } else {
      h0 = op * p.sh - p.ph, w0 = oq * p.sw - p.pw;
      h1 = h0 + (p.kh - 1) * p.dh + 1, w1 = w0 + (p.kw - 1) * p.dw + 1;
    }
    const T* plane = x + base;
    float acc = p.mode == 0 ? -__int_as_float(0x7f800000) : 0.f;
    long long count = 0;
    const long long step_h = p.adaptive ? 1 : p.dh, step_w = p.adaptive ? 1 : p.dw;
    for (long long ih = h0; ih < h1; ih += step_h) {
      for (long long iw = w0; iw < w1; iw += step_w) {
        if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
        const float v = ToF(plane[(ih * p.w + iw) * pix]);
        if (p.mode == 0) {
          acc = (v > acc || v != v) ? v : acc;  // NaN propagates, as in PyTorch
        } else {
          acc += v;
        }
        ++count;
      }
    }
    if (p.mode == 1) {
      long long div = count;
      if (p.adaptive) {
        div = (h1 - h0) * (w1 - w0);
      } else if (p.divisor > 0) {
        div = p.divisor;
      } else if (p.count_include_pad) {
        // The window clipped to the padded input, as PyTorch counts it.
        const long long he = h1 < p.h + p.ph ? h1 : p.h + p.ph;
        const long long we = w1 < p.w + p.pw ? w1 : p.w + p.pw;
        div = (he - h0) * (we - w0);
      }
      acc = div > 0 ? acc / static_cast<float>(div) : 0.f;
    }
    y[i] = FromF<T>(acc);
  }
}

template <typename T>
__device__ void Reduce(const T* __restrict__ x, T* __restrict__ y, const sinter_reduce_params& p) {
  const int kept = static_cast<int>(p.kept_rank), rank = static_cast<int>(p.rank);
  for (long long i = GridStart(); i < p.n_out; i += GridStep()) {
    long long base = 0, rest = i;
    for (int d = kept - 1; d >= 0; --d) {
      base += (rest % p.dims[d]) * p.strides[d];
      rest /= p.dims[d];
    }
    float acc = p.mode == 2 ? -__int_as_float(0x7f800000) : 0.f;
    for (long long j = 0; j < p.reduced; ++j) {  // fixed order: deterministic
      long long off = base, r = j;
      for (int d = rank - 1; d >= kept; --d) {
        off += (r % p.dims[d]) * p.strides[d];
        r /= p.dims[d];
      }
      const float v = ToF(x[off]);
      if (p.mode == 2) {
        acc = (v > acc || v != v) ? v : acc;
      } else {
        acc += v;
      }
    }
    if (p.mode == 1) acc /= static_cast<float>(p.reduced);
    y[i] = FromF<T>(acc);
  }
}

template <typename T>
__device__ void BatchNorm(const T* __restrict__ x, const T* __restrict__ mean,
                          const T* __restrict__ var, const T* __restrict__ w,
                          const T* __restrict__ b, T* __restrict__ y,
                          const sinter_batch_norm_params& p) {
  const long long total = p.n * p.c * p.inner;
  for (long long i = GridStart(); i < total; i += GridStep()) {
    const long long c = (i / p.inner) % p.c;
    const float s = ToF(w[c]) * rsqrtf(ToF(var[c]) + static_cast<float>(p.eps));
    y[i] = FromF<T>((ToF(x[i]) - ToF(mean[c])) * s + ToF(b[c]));
  }
}

template <typename T>
__device__ void Embedding(const T* __restrict__ weight, const long long* __restrict__ indices,
                          T* __restrict__ y, const sinter_embedding_params& p) {
  const long long total = p.count * p.dim;
  for (long long i = GridStart(); i < total; i += GridStep()) {
    const long long row = indices[i / p.dim], col = i % p.dim;
    y[i] = row >= 0 && row < p.vocab ? weight[row * p.dim + col]
                                     : FromF<T>(__int_as_float(0x7fc00000));
  }
}

// One thread per output element: its point's taps, then its channel's sum.
template <typename T>
__device__ void GridSample(const T* __restrict__ x, const T* __restrict__ grid, T* __restrict__ y,
                           const sinter_grid_sample_params& p) {
  const long long total = p.n * p.c * p.oh * p.ow, out_plane = p.oh * p.ow;
  for (long long i = GridStart(); i < total; i += GridStep()) {
    const long long point = i % out_plane, nc = i / out_plane, n = nc / p.c;
    const T* g = grid + (n * out_plane + point) * 2;
    const sinter_sample::Taps t =
        sinter_sample::PointTaps(ToF(g[0]), ToF(g[1]), p.h, p.w, static_cast<int>(p.mode),
                                 static_cast<int>(p.padding), p.align_corners != 0);
    const T* plane = x + nc * p.h * p.w;
    float v = 0.f;
    for (int k = 0; k < t.count; ++k) {
      if (t.at[k] >= 0) v += ToF(plane[t.at[k]]) * t.weight[k];
    }
    y[i] = FromF<T>(v);
  }
}

// Offsets of output element i in each of `k` broadcast inputs.
template <int K>
__device__ __forceinline__ void Offsets(long long i, const sinter_select_params& p,
                                        long long (&off)[K]) {
  for (int j = 0; j < K; ++j) off[j] = 0;
  for (int d = static_cast<int>(p.rank) - 1; d >= 0; --d) {
    const long long c = i % p.dims[d];
    i /= p.dims[d];
    for (int j = 0; j < K; ++j) off[j] += c * p.strides[j][d];
  }
}

// NaN compares false except under ne, as in IEEE and PyTorch.
template <typename T>
__device__ void Compare(const T* __restrict__ a, const T* __restrict__ b,
                        unsigned char* __restrict__ y, const sinter_select_params& p) {
  for (long long i = GridStart(); i < p.n; i += GridStep()) {
    long long off[2];
    Offsets<2>(i, p, off);
    const float x = ToF(a[off[0]]), z = ToF(b[off[1]]);
    bool r = false;
    switch (p.op) {
      case 0:
        r = x > z;
        break;
      case 1:
        r = x >= z;
        break;
      case 2:
        r = x < z;
        break;
      case 3:
        r = x <= z;
        break;
      case 4:
        r = x == z;
        break;
      default:
        r = x != z;
        break;
    }
    y[i] = r ? 1 : 0;
  }
}

template <typename T>
__device__ void Where(const unsigned char* __restrict__ c, const T* __restrict__ a,
                      const T* __restrict__ b, T* __restrict__ y, const sinter_select_params& p) {
  for (long long i = GridStart(); i < p.n; i += GridStep()) {
    long long off[3];
    Offsets<3>(i, p, off);
    y[i] = c[off[0]] ? a[off[1]] : b[off[2]];
  }
}

template <typename From, typename To>
__device__ void Cast(const From* __restrict__ x, To* __restrict__ y, const sinter_cast_params& p) {
  for (long long i = GridStart(); i < p.n; i += GridStep()) y[i] = FromF<To>(ToF(x[i]));
}

}  // namespace sinter_k

// Entry points: one per element size (copies) or storage type.
#define SINTER_K_COPY(NAME, T)                                                 \
  extern "C" __global__ void NAME(const T* in, T* out, sinter_copy_params p) { \
    sinter_k::Copy(in, out, p);                                                \
  }
SINTER_K_COPY(sinter_copy_1, unsigned char)
SINTER_K_COPY(sinter_copy_2, unsigned short)
SINTER_K_COPY(sinter_copy_4, unsigned int)
SINTER_K_COPY(sinter_copy_8, unsigned long long)

#define SINTER_K_FLOAT_KERNELS(SUFFIX, T)                                                          \
  extern "C" __global__ void sinter_pool_##SUFFIX(const T* x, T* y, sinter_pool_params p) {        \
    sinter_k::Pool(x, y, p);                                                                       \
  }                                                                                                \
  extern "C" __global__ void sinter_reduce_##SUFFIX(const T* x, T* y, sinter_reduce_params p) {    \
    sinter_k::Reduce(x, y, p);                                                                     \
  }                                                                                                \
  extern "C" __global__ void sinter_batch_norm_##SUFFIX(const T* x, const T* mean, const T* var,   \
                                                        const T* w, const T* b, T* y,              \
                                                        sinter_batch_norm_params p) {              \
    sinter_k::BatchNorm(x, mean, var, w, b, y, p);                                                 \
  }                                                                                                \
  extern "C" __global__ void sinter_embedding_##SUFFIX(const T* w, const long long* idx, T* y,     \
                                                       sinter_embedding_params p) {                \
    sinter_k::Embedding(w, idx, y, p);                                                             \
  }                                                                                                \
  extern "C" __global__ void sinter_grid_sample_##SUFFIX(const T* x, const T* grid, T* y,          \
                                                         sinter_grid_sample_params p) {            \
    sinter_k::GridSample(x, grid, y, p);                                                           \
  }                                                                                                \
  extern "C" __global__ void sinter_compare_##SUFFIX(const T* a, const T* b, unsigned char* y,     \
                                                     sinter_select_params p) {                     \
    sinter_k::Compare(a, b, y, p);                                                                 \
  }                                                                                                \
  extern "C" __global__ void sinter_where_##SUFFIX(const unsigned char* c, const T* a, const T* b, \
                                                   T* y, sinter_select_params p) {                 \
    sinter_k::Where(c, a, b, y, p);                                                                \
  }
SINTER_K_FLOAT_KERNELS(f32, float)
SINTER_K_FLOAT_KERNELS(f16, __half)
SINTER_K_FLOAT_KERNELS(bf16, __nv_bfloat16)

#define SINTER_K_CAST(FROM_NAME, FROM, TO_NAME, TO)                                      \
  extern "C" __global__ void sinter_cast_##FROM_NAME##_##TO_NAME(const FROM* x, TO* y,   \
                                                                 sinter_cast_params p) { \
    sinter_k::Cast<FROM, TO>(x, y, p);                                                   \
  }
SINTER_K_CAST(f32, float, f16, __half)
SINTER_K_CAST(f16, __half, f32, float)
SINTER_K_CAST(f32, float, bf16, __nv_bfloat16)
SINTER_K_CAST(bf16, __nv_bfloat16, f32, float)
SINTER_K_CAST(i64, long long, f32, float)
SINTER_K_CAST(i32, int, f32, float)
SINTER_K_CAST(f32, float, i64, long long)
SINTER_K_CAST(f32, float, i32, int)

#endif  // SINTER_KERNELS_CUDA_KERNELS_CUH_
