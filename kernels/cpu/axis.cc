// Kernels along one axis: running sums, gather and sort/topk. None of them
// is on a hot path of the models sinter targets (position ids, a detector's
// top-k), so they are plain loops written for exactness: the same order of
// additions as PyTorch's CPU cumsum, and a comparison that is a strict weak
// order even with NaN.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {
namespace {

template <typename T>
void Cumsum(const T* x, T* y, int64_t outer, int64_t len, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o) {
    const T* xo = x + o * len * inner;
    T* yo = y + o * len * inner;
    for (int64_t i = 0; i < inner; ++i) {
      T acc = 0;
      for (int64_t j = 0; j < len; ++j) {
        if constexpr (std::is_integral_v<T>) {
          // Wraps instead of overflowing (undefined for signed integers).
          acc =
              static_cast<T>(static_cast<uint64_t>(acc) + static_cast<uint64_t>(xo[j * inner + i]));
        } else {
          acc += xo[j * inner + i];
        }
        yo[j * inner + i] = acc;
      }
    }
  }
}

template <typename T>
T Missing() {
  if constexpr (std::is_integral_v<T>) {
    return std::numeric_limits<T>::min();
  } else {
    return std::numeric_limits<T>::quiet_NaN();
  }
}

template <typename T>
void Gather(const T* x, const int64_t* index, T* y, const GatherShape& s) {
  int64_t n = 1;
  for (int d = 0; d < s.rank; ++d) n *= s.out_dims[d];
  if (n == 0) return;
  // x's row-major strides.
  int64_t xs[64];
  int64_t st = 1;
  for (int d = s.rank - 1; d >= 0; --d) {
    xs[d] = st;
    st *= s.x_dims[d];
  }
  int64_t c[64] = {};
  const int64_t len = s.x_dims[s.axis];
  for (int64_t e = 0; e < n; ++e) {
    const int64_t at = index[e];
    if (at < 0 || at >= len) {
      y[e] = Missing<T>();
    } else {
      int64_t off = 0;
      for (int d = 0; d < s.rank; ++d) off += (d == s.axis ? at : c[d]) * xs[d];
      y[e] = x[off];
    }
    for (int d = s.rank - 1; d >= 0 && ++c[d] == s.out_dims[d]; --d) c[d] = 0;
  }
}

// a before b in ascending order: NaN above every number, ties by index.
template <typename T>
bool Less(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
  }
  return a < b;
}

template <typename T>
void Sort(const T* x, T* values, int64_t* indices, int64_t outer, int64_t len, int64_t inner,
          int64_t k, bool descending, int64_t* order) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const T* row = x + o * len * inner + i;
      auto at = [&](int64_t j) { return row[j * inner]; };
      for (int64_t j = 0; j < len; ++j) order[j] = j;
      // Index order breaks ties, so partial and full sorts agree with a
      // stable sort.
      auto before = [&](int64_t a, int64_t b) {
        const T va = at(a), vb = at(b);
        if (descending ? Less(vb, va) : Less(va, vb)) return true;
        if (descending ? Less(va, vb) : Less(vb, va)) return false;
        return a < b;
      };
      std::partial_sort(order, order + k, order + len, before);
      T* v = values + o * k * inner + i;
      int64_t* ix = indices + o * k * inner + i;
      for (int64_t j = 0; j < k; ++j) {
        v[j * inner] = at(order[j]);
        ix[j * inner] = order[j];
      }
    }
  }
}

}  // namespace

void CumsumF32(const float* x, float* y, int64_t outer, int64_t len, int64_t inner) {
  Cumsum(x, y, outer, len, inner);
}
void CumsumI64(const int64_t* x, int64_t* y, int64_t outer, int64_t len, int64_t inner) {
  Cumsum(x, y, outer, len, inner);
}
void GatherF32(const float* x, const int64_t* index, float* y, const GatherShape& s) {
  Gather(x, index, y, s);
}
void GatherI64(const int64_t* x, const int64_t* index, int64_t* y, const GatherShape& s) {
  Gather(x, index, y, s);
}
void SortF32(const float* x, float* values, int64_t* indices, int64_t outer, int64_t len,
             int64_t inner, int64_t k, bool descending, int64_t* scratch) {
  Sort(x, values, indices, outer, len, inner, k, descending, scratch);
}
void SortI64(const int64_t* x, int64_t* values, int64_t* indices, int64_t outer, int64_t len,
             int64_t inner, int64_t k, bool descending, int64_t* scratch) {
  Sort(x, values, indices, outer, len, inner, k, descending, scratch);
}

}  // namespace sinter::kernels::cpu
