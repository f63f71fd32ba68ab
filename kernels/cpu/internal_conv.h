// Private to kernels/cpu: what the NCHW kernels (conv.cc, pool.cc) and the
// channels-last ones (nhwc.cc) share: the convolution strategy tests and
// work split, and the NHWC entry points behind the public functions.
#ifndef SINTER_KERNELS_CPU_INTERNAL_CONV_H_
#define SINTER_KERNELS_CPU_INTERNAL_CONV_H_

#include <cstdint>

#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu::internal {

// 1x1, stride 1, no padding: a GEMM on the input as it lies.
inline bool IsPointwise(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 &&
         s.pad_w == 0;
}
// Each output channel reads one input channel.
inline bool IsDepthwise(const Conv2dShape& s) { return s.groups == s.c && s.oc % s.c == 0; }
// The GEMM's inner dimension: taps of one output value.
inline int64_t ColRows(const Conv2dShape& s) { return s.c / s.groups * s.kh * s.kw; }
// Channels-last, ungrouped, not depthwise: one GEMM against the weights as
// they lie ([oc, taps]), which can therefore be packed once (PackWeight).
inline bool PackedWeightsApply(const Conv2dShape& s) {
  return s.nhwc && s.groups == 1 && !IsDepthwise(s);
}
// Images processed concurrently, each by one thread with serial GEMMs and its
// own im2col buffer; 1 means one image at a time with parallel GEMMs.
inline int64_t Slots(const Conv2dShape& s, int threads) {
  return threads > 1 && s.n >= threads ? threads : 1;
}

// Runs image(img, col, image_par) for every image of a convolution. With at
// least as many images as threads, each thread takes whole images with its
// own `slot_floats` of the scratch `col` and serial GEMMs (image_par null);
// otherwise one image at a time on the whole scratch, with the pool inside
// (a one-thread pool counts as serial: the scratch was sized for that).
template <class ImageFn>
void ForEachImage(const Conv2dShape& s, Parallel* par, float* col, int64_t slot_floats,
                  ImageFn&& image) {
  const int threads = par ? par->num_threads() : 1;
  const int64_t slots = Slots(s, threads);
  if (slots > 1) {
    ParallelFor(par, slots, [&](int64_t t0, int64_t t1) {
      for (int64_t slot = t0; slot < t1; ++slot) {
        for (int64_t img = slot; img < s.n; img += slots)
          image(img, col + slot * slot_floats, static_cast<Parallel*>(nullptr));
      }
    });
    return;
  }
  for (int64_t img = 0; img < s.n; ++img) image(img, col, threads > 1 ? par : nullptr);
}

// The channels-last kernels behind Conv2dF32 / Conv2dScratchBytes (nhwc.cc).
int64_t Conv2dNhwcScratchBytes(const Conv2dShape& s, int num_threads);
void Conv2dNhwcF32(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                   float* y, void* scratch, Parallel* par, const RangeDone* done,
                   const float* prepared);
// A channels-last depthwise convolution's weights [oc, kh, kw, 1] tap-major,
// wt[tap * oc + o], so that a tap's weights line up with the channels.
void DepthwiseWeightsNhwc(const Conv2dShape& s, const float* w, float* wt);
// ... and behind MaxPool2dF32 / AvgPool2dF32 (pool.cc).
void MaxPool2dNhwcF32(const Pool2dShape& s, const float* x, float* y, Parallel* par);
void AvgPool2dNhwcF32(const Pool2dShape& s, bool count_include_pad, int64_t divisor, const float* x,
                      float* y, Parallel* par);

// Winograd F(4x4, 3x3) for channels-last 3x3 stride-1 convolutions
// (winograd.cc): whether it runs `s`, the transformed weights it takes
// (WinogradWeightFloats floats from weights [oc, 3, 3, c]), its scratch.
bool WinogradApplies(const Conv2dShape& s);
int64_t WinogradWeightFloats(const Conv2dShape& s);
void WinogradWeights(const Conv2dShape& s, const float* w, float* u);
int64_t WinogradScratchBytes(const Conv2dShape& s, int num_threads);
void WinogradConvNhwc(const Conv2dShape& s, const float* x, const float* prepared,
                      const float* bias, float* y, void* scratch, Parallel* par,
                      const RangeDone* done);

}  // namespace sinter::kernels::cpu::internal

#endif  // SINTER_KERNELS_CPU_INTERNAL_CONV_H_
