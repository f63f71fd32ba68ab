// grid_sample on the CPU: each output point's taps and weights
// (kernels/grid_sample.h, shared with the CUDA kernel) are computed once and
// applied to every channel.
#include "kernels/grid_sample.h"

#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {

void GridSampleF32(const GridSampleShape& s, const float* x, const float* grid, float* y,
                   Parallel* par) {
  const int64_t plane = s.h * s.w, out_plane = s.oh * s.ow;
  // One task per output row of an image.
  ParallelFor(par, s.n * s.oh, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / s.oh, oy = row % s.oh;
      const float* img = x + n * s.c * plane;
      for (int64_t ox = 0; ox < s.ow; ++ox) {
        const float* g = grid + ((n * s.oh + oy) * s.ow + ox) * 2;
        const sinter_sample::Taps t =
            sinter_sample::PointTaps(g[0], g[1], s.h, s.w, static_cast<int>(s.mode),
                                     static_cast<int>(s.padding), s.align_corners);
        float* out = y + n * s.c * out_plane + oy * s.ow + ox;
        for (int64_t c = 0; c < s.c; ++c) {
          const float* p = img + c * plane;
          float v = 0.f;
          for (int k = 0; k < t.count; ++k) {
            if (t.at[k] >= 0) v += p[t.at[k]] * t.weight[k];
          }
          out[c * out_plane] = v;
        }
      }
    }
  });
}

}  // namespace sinter::kernels::cpu
