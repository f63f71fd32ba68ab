// Detection ops on the CPU: roi_align and nms, with torchvision's arithmetic
// (its CPU kernels' order of operations, in f32), so that boxes and pooled
// features match LibTorch to the last bits where the compiler keeps them.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {
namespace {

// One bilinear sample: four taps (offsets in the plane) and their weights;
// all weights 0 for a point outside [-1, size] (torchvision's rule).
struct Sample {
  int64_t at[4] = {0, 0, 0, 0};
  float w[4] = {0.f, 0.f, 0.f, 0.f};
};

Sample Bilinear(int64_t height, int64_t width, float y, float x) {
  Sample s;
  // Written so that NaN lands here too (never cast to an index).
  if (!(y >= -1.0 && y <= height && x >= -1.0 && x <= width)) return s;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x), y_high, x_high;
  if (y_low >= height - 1) {
    y_high = y_low = height - 1;
    y = static_cast<float>(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= width - 1) {
    x_high = x_low = width - 1;
    x = static_cast<float>(x_low);
  } else {
    x_high = x_low + 1;
  }
  const float ly = y - y_low, lx = x - x_low, hy = 1.f - ly, hx = 1.f - lx;
  s.at[0] = y_low * width + x_low;
  s.at[1] = y_low * width + x_high;
  s.at[2] = y_high * width + x_low;
  s.at[3] = y_high * width + x_high;
  s.w[0] = hy * hx;
  s.w[1] = hy * lx;
  s.w[2] = ly * hx;
  s.w[3] = ly * lx;
  return s;
}

}  // namespace

void RoiAlignF32(const RoiAlignShape& s, const float* x, const float* rois, float* y,
                 Parallel* par) {
  const int64_t plane = s.h * s.w, out_plane = s.ph * s.pw;
  ParallelFor(par, s.k, [&](int64_t begin, int64_t end) {
    std::vector<Sample> samples;
    for (int64_t r = begin; r < end; ++r) {
      const float* roi = rois + r * 5;
      float* out = y + r * s.c * out_plane;
      const float batch = roi[0];
      if (!(batch >= 0.f && batch < static_cast<float>(s.n))) {
        // No image to read (torchvision does not check): NaN, never a
        // plausible value.
        std::fill(out, out + s.c * out_plane, std::numeric_limits<float>::quiet_NaN());
        continue;
      }
      const float offset = s.aligned ? 0.5f : 0.f;
      const float start_w = roi[1] * s.spatial_scale - offset;
      const float start_h = roi[2] * s.spatial_scale - offset;
      const float end_w = roi[3] * s.spatial_scale - offset;
      const float end_h = roi[4] * s.spatial_scale - offset;
      float roi_w = end_w - start_w, roi_h = end_h - start_h;
      if (!s.aligned) {
        roi_w = std::max(roi_w, 1.f);
        roi_h = std::max(roi_h, 1.f);
      }
      const float bin_h = roi_h / static_cast<float>(s.ph),
                  bin_w = roi_w / static_cast<float>(s.pw);
      // Samples per bin: the ratio given, else as many as the bin is pixels
      // (at most the map's extent, which a box clipped to the image never
      // exceeds: a huge or NaN box costs what the shapes do, not more).
      auto adaptive = [](float extent, int64_t bins, int64_t cap) -> int64_t {
        const float g = std::ceil(extent / static_cast<float>(bins));
        // An empty or inverted box (aligned) samples nothing, as torchvision.
        return !(g >= 1.f) ? 0 : g > static_cast<float>(cap) ? cap : static_cast<int64_t>(g);
      };
      const int64_t grid_h = s.sampling_ratio > 0 ? s.sampling_ratio : adaptive(roi_h, s.ph, s.h);
      const int64_t grid_w = s.sampling_ratio > 0 ? s.sampling_ratio : adaptive(roi_w, s.pw, s.w);
      const float count = static_cast<float>(std::max<int64_t>(grid_h * grid_w, 1));
      const float* img = x + static_cast<int64_t>(batch) * s.c * plane;
      for (int64_t ph = 0; ph < s.ph; ++ph) {
        for (int64_t pw = 0; pw < s.pw; ++pw) {
          // The bin's samples, then each channel's mean of them.
          samples.clear();
          for (int64_t iy = 0; iy < grid_h; ++iy) {
            const float yy = start_h + ph * bin_h +
                             static_cast<float>(iy + .5f) * bin_h / static_cast<float>(grid_h);
            for (int64_t ix = 0; ix < grid_w; ++ix) {
              const float xx = start_w + pw * bin_w +
                               static_cast<float>(ix + .5f) * bin_w / static_cast<float>(grid_w);
              samples.push_back(Bilinear(s.h, s.w, yy, xx));
            }
          }
          for (int64_t c = 0; c < s.c; ++c) {
            const float* p = img + c * plane;
            float v = 0.f;
            for (const Sample& t : samples) {
              v += t.w[0] * p[t.at[0]] + t.w[1] * p[t.at[1]] + t.w[2] * p[t.at[2]] +
                   t.w[3] * p[t.at[3]];
            }
            out[c * out_plane + ph * s.pw + pw] = v / count;
          }
        }
      }
    }
  });
}

int64_t NmsF32(const float* boxes, const float* scores, int64_t n, double iou_threshold,
               int64_t* keep, void* scratch) {
  if (n <= 0) return 0;  // no boxes: the scratch may be empty (null)
  auto* order = static_cast<int64_t*>(scratch);
  auto* sort_scratch = order + n;
  auto* areas = reinterpret_cast<float*>(sort_scratch + n);  // the sorted scores first
  auto* suppressed = reinterpret_cast<uint8_t*>(areas + n);
  // Descending and stable, NaN first: torch.sort(descending=True,
  // stable=True), which torchvision's kernel calls; sort's own kernel.
  SortF32(scores, areas, order, 1, n, 1, n, /*descending=*/true, sort_scratch);
  for (int64_t i = 0; i < n; ++i) {
    const float* b = boxes + i * 4;
    areas[i] = (b[2] - b[0]) * (b[3] - b[1]);
  }
  std::memset(suppressed, 0, static_cast<size_t>(n));
  int64_t kept = 0;
  for (int64_t oi = 0; oi < n; ++oi) {
    const int64_t i = order[oi];
    if (suppressed[i]) continue;
    keep[kept++] = i;
    const float* bi = boxes + i * 4;
    for (int64_t oj = oi + 1; oj < n; ++oj) {
      const int64_t j = order[oj];
      if (suppressed[j]) continue;
      const float* bj = boxes + j * 4;
      const float w = std::max(0.f, std::min(bi[2], bj[2]) - std::max(bi[0], bj[0]));
      const float h = std::max(0.f, std::min(bi[3], bj[3]) - std::max(bi[1], bj[1]));
      const float inter = w * h;
      const float iou = inter / (areas[i] + areas[j] - inter);
      if (iou > iou_threshold) suppressed[j] = 1;
    }
  }
  return kept;
}

int64_t NmsScratchBytes(int64_t n) {
  return n * static_cast<int64_t>(2 * sizeof(int64_t) + sizeof(float) + 1);
}

}  // namespace sinter::kernels::cpu
