// grid_sample's per-point arithmetic, as ATen's grid_sampler_2d computes it
// in f32 (its unnormalisation, padding rules and bilinear weights, in the
// same order), shared by the CPU kernel (kernels/cpu/sample.cc) and the CUDA
// kernel (kernels/cuda/kernels.cuh, compiled by NVRTC and, in the tests, on
// the host), so that both read the same points with the same weights.
#ifndef SINTER_KERNELS_GRID_SAMPLE_H_
#define SINTER_KERNELS_GRID_SAMPLE_H_

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define SINTER_SAMPLE_FN __host__ __device__ __forceinline__
#else
#include <math.h>
#define SINTER_SAMPLE_FN inline
#endif

namespace sinter_sample {

// The op's modes, as the kernels' parameter blocks carry them.
enum Mode { kBilinear = 0, kNearest = 1 };
enum Padding { kZeros = 0, kBorder = 1, kReflection = 2 };

SINTER_SAMPLE_FN bool Finite(float v) { return v - v == 0.f; }  // false for inf and NaN

// [-1, 1] to pixel coordinates: the corners at the extreme pixels' centres
// (align_corners) or at their outer edges.
SINTER_SAMPLE_FN float Unnormalize(float coord, long long size, bool align_corners) {
  return align_corners ? ((coord + 1.f) / 2.f) * static_cast<float>(size - 1)
                       : ((coord + 1.f) * static_cast<float>(size) - 1.f) / 2.f;
}

SINTER_SAMPLE_FN float Clip(float coord, long long size) {
  return fminf(static_cast<float>(size - 1), fmaxf(coord, 0.f));
}

// Reflects `in` into [twice_low / 2, twice_high / 2] (bounds doubled so that
// half-pixel bounds stay integers).
SINTER_SAMPLE_FN float Reflect(float in, long long twice_low, long long twice_high) {
  if (twice_low == twice_high) return 0.f;
  const float lo = static_cast<float>(twice_low) / 2.f;
  const float span = static_cast<float>(twice_high - twice_low) / 2.f;
  in = fabsf(in - lo);
  const float extra = fmodf(in, span);
  // The parity of the flips, in float: casting a huge or NaN quotient to an
  // integer is undefined (a grid of 1e30 is an input like any other).
  const float flips = floorf(in / span);
  return fmodf(flips, 2.f) == 0.f ? extra + lo : span - extra + lo;
}

SINTER_SAMPLE_FN float SourceIndex(float coord, long long size, int padding, bool align_corners) {
  coord = Unnormalize(coord, size, align_corners);
  if (padding == kBorder) return Clip(coord, size);
  if (padding == kReflection) {
    coord = align_corners ? Reflect(coord, 0, 2 * (size - 1)) : Reflect(coord, -1, 2 * size - 1);
    return Clip(coord, size);
  }
  return coord;
}

// Pixel (fy, fx) (integral values) as an offset into an h x w plane, or -1
// outside it.
SINTER_SAMPLE_FN long long Offset(float fy, float fx, long long h, long long w) {
  if (!Finite(fx) || !Finite(fy) || fx < 0.f || fy < 0.f || fx >= static_cast<float>(w) ||
      fy >= static_cast<float>(h))
    return -1;
  return static_cast<long long>(fy) * w + static_cast<long long>(fx);
}

// The pixels one grid point reads, as offsets y * w + x into a plane (-1:
// outside the image, read as zero), and their weights: four for bilinear,
// in the order nw, ne, sw, se; one for nearest (round half to even).
struct Taps {
  long long at[4];
  float weight[4];
  int count;
};

SINTER_SAMPLE_FN Taps PointTaps(float gx, float gy, long long h, long long w, int mode, int padding,
                                bool align_corners) {
  const float ix = SourceIndex(gx, w, padding, align_corners);
  const float iy = SourceIndex(gy, h, padding, align_corners);
  Taps t;
  if (mode == kNearest) {
    t.count = 1;
    t.at[0] = Offset(nearbyintf(iy), nearbyintf(ix), h, w);
    t.weight[0] = 1.f;
    return t;
  }
  const float x0 = floorf(ix), y0 = floorf(iy), x1 = x0 + 1.f, y1 = y0 + 1.f;
  t.count = 4;
  t.at[0] = Offset(y0, x0, h, w);
  t.at[1] = Offset(y0, x1, h, w);
  t.at[2] = Offset(y1, x0, h, w);
  t.at[3] = Offset(y1, x1, h, w);
  t.weight[0] = (x1 - ix) * (y1 - iy);
  t.weight[1] = (ix - x0) * (y1 - iy);
  t.weight[2] = (x1 - ix) * (iy - y0);
  t.weight[3] = (ix - x0) * (iy - y0);
  return t;
}

}  // namespace sinter_sample

#endif  // SINTER_KERNELS_GRID_SAMPLE_H_
