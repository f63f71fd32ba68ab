// Shape arithmetic shared by the backends' load-time checks (the CPU op
// table and the CUDA plans): dense strides, products, broadcast alignment.
// Callers have bounded the extents (Model::Verify), so products fit int64.
#ifndef SINTER_RUNTIME_DIMS_H_
#define SINTER_RUNTIME_DIMS_H_

#include <cstdint>
#include <vector>

namespace sinter::rt {

using Dims = std::vector<int64_t>;

// Product of d[b, e).
inline int64_t Prod(const Dims& d, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t i = b; i < e && i < d.size(); ++i) p *= d[i];
  return p;
}

// Row-major element strides of a dense tensor of dims `d`.
inline Dims Strides(const Dims& d) {
  Dims s(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * d[i + 1];
  return s;
}

// Dims of `d` right-aligned to `rank` with leading 1s (NumPy broadcasting).
inline Dims Align(const Dims& d, size_t rank) {
  Dims out(rank - d.size(), 1);
  out.insert(out.end(), d.begin(), d.end());
  return out;
}

// A 4-D conv / pool tensor's logical NCHW (OIHW) dims from its stored dims:
// those themselves, or reordered from channels-last NHWC (OHWI).
inline Dims LogicalNchw(const Dims& d, bool nhwc) {
  return nhwc && d.size() == 4 ? Dims{d[0], d[3], d[1], d[2]} : d;
}
// The inverse: stored dims of logical NCHW dims.
inline Dims StoredDims(const Dims& d, bool nhwc) {
  return nhwc && d.size() == 4 ? Dims{d[0], d[2], d[3], d[1]} : d;
}

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_DIMS_H_
