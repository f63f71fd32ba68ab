// Data movement: a generic strided copy (transpose, expand, slice all reduce
// to it) and embedding lookup. The copy drops extent-1 dims and merges dims
// the input walks contiguously, so slices and concatenation pieces become a
// few memcpy rows and transposes one strided gather per output row.
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/internal_simd.h"
#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {
namespace {

constexpr int kMaxRank = 64;

// y[i] = x[i * stride] for elements of kSize bytes (memcpy of a constant
// size compiles to one move).
template <int kSize>
void GatherRow(const char* x, int64_t stride, char* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) std::memcpy(y + i * kSize, x + i * stride * kSize, kSize);
}

// Copies output rows [r0, r1), a row being the innermost merged dim.
void CopyRows(const char* x, char* y, const int64_t* dims, const int64_t* st, int rank,
              int64_t elem, int64_t r0, int64_t r1) {
  int64_t idx[kMaxRank], off = 0, rest = r0;
  for (int d = 1; d < rank; ++d) {
    idx[d] = rest % dims[d];
    rest /= dims[d];
    off += idx[d] * st[d];
  }
  const int64_t n = dims[0], s0 = st[0];
  // Short gathered rows over a contiguous next dim (NCHW -> NHWC of an
  // image's 3 channels: 50176 rows of 3): the loops swapped, each of the n
  // source runs read contiguously along that dim; row by row, the loop
  // control cost more than the three moves.
  if (elem == 4 && n <= 16 && s0 != 1 && rank >= 2 && st[1] == 1) {
    for (int64_t r = r0; r < r1;) {
      const int64_t seg = std::min(dims[1] - idx[1], r1 - r);
      const uint32_t* src = reinterpret_cast<const uint32_t*>(x) + off;
      uint32_t* dst = reinterpret_cast<uint32_t*>(y) + r * n;
      for (int64_t j = 0; j < n; ++j) {
        const uint32_t* sj = src + j * s0;
        for (int64_t i = 0; i < seg; ++i) dst[i * n + j] = sj[i];
      }
      r += seg;
      off += seg;
      idx[1] += seg;
      if (idx[1] < dims[1]) continue;
      off -= idx[1];
      idx[1] = 0;
      for (int d = 2; d < rank; ++d) {
        off += st[d];
        if (++idx[d] < dims[d]) break;
        off -= idx[d] * st[d];
        idx[d] = 0;
      }
    }
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    const char* src = x + off * elem;
    char* dst = y + r * n * elem;
    if (s0 == 1) {
      std::memcpy(dst, src, static_cast<size_t>(n * elem));
    } else if (elem == 4) {
      GatherRow<4>(src, s0, dst, n);
    } else if (elem == 8) {
      GatherRow<8>(src, s0, dst, n);
    } else if (elem == 2) {
      GatherRow<2>(src, s0, dst, n);
    } else if (elem == 1) {
      GatherRow<1>(src, s0, dst, n);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(dst + i * elem, src + i * s0 * elem, static_cast<size_t>(elem));
      }
    }
    for (int d = 1; d < rank; ++d) {
      off += st[d];
      if (++idx[d] < dims[d]) break;
      off -= idx[d] * st[d];
      idx[d] = 0;
    }
  }
}

}  // namespace

void StridedCopy(const void* x, const int64_t* x_strides, void* y, const int64_t* y_dims, int rank,
                 int64_t elem_bytes, Parallel* par) {
  if (rank < 0 || rank > kMaxRank || elem_bytes <= 0) return;
  int64_t dims[kMaxRank + 1], st[kMaxRank + 1], total = 1;
  int r = 0;
  for (int d = rank - 1; d >= 0; --d) {
    total *= y_dims[d];
    if (y_dims[d] == 1) continue;
    if (r > 0 && x_strides[d] == st[r - 1] * dims[r - 1]) {
      dims[r - 1] *= y_dims[d];
      continue;
    }
    dims[r] = y_dims[d];
    st[r] = x_strides[d];
    ++r;
  }
  if (total <= 0) return;
  if (r == 0) dims[0] = 1, st[0] = 1, r = 1;
  const char* xs = static_cast<const char*>(x);
  char* ys = static_cast<char*>(y);
  const int64_t rows = total / dims[0];
  const int64_t tasks =
      internal::NumTasks(par, total * elem_bytes, int64_t{256} << 10, int64_t{256} << 10);
  if (tasks <= 1 || rows == 1) return CopyRows(xs, ys, dims, st, r, elem_bytes, 0, rows);
  const int64_t per = (rows + tasks - 1) / tasks;
  ParallelFor(par, (rows + per - 1) / per, [&](int64_t t0, int64_t t1) {
    CopyRows(xs, ys, dims, st, r, elem_bytes, t0 * per, std::min(rows, t1 * per));
  });
}

void EmbeddingRows(const void* table, int64_t vocab, int64_t row_bytes, const int64_t* indices,
                   int64_t count, const void* fill, int elem_bytes, void* y) {
  const auto* t = static_cast<const uint8_t*>(table);
  auto* out = static_cast<uint8_t*>(y);
  for (int64_t i = 0; i < count; ++i) {
    uint8_t* row = out + i * row_bytes;
    if (indices[i] < 0 || indices[i] >= vocab) {
      for (int64_t b = 0; b < row_bytes; b += elem_bytes)
        std::memcpy(row + b, fill, static_cast<size_t>(elem_bytes));
    } else {
      std::memcpy(row, t + indices[i] * row_bytes, static_cast<size_t>(row_bytes));
    }
  }
}

void EmbeddingF32(const float* weight, int64_t vocab, int64_t dim, const int64_t* indices,
                  int64_t count, float* y) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EmbeddingRows(weight, vocab, dim * static_cast<int64_t>(sizeof(float)), indices, count, &nan,
                sizeof(float), y);
}

namespace {

// Element i's bits, the sign bit cleared for floats: nonzero exactly when
// PyTorch's `x != 0` holds.
inline uint64_t Bits(const uint8_t* x, int64_t i, int elem_bytes, bool is_float) {
  uint64_t v = 0;
  std::memcpy(&v, x + i * elem_bytes, static_cast<size_t>(elem_bytes));  // little-endian
  if (is_float) v &= ~(uint64_t{1} << (8 * elem_bytes - 1));
  return v;
}

}  // namespace

int64_t CountNonzero(const void* x, int64_t n, int elem_bytes, bool is_float) {
  const auto* p = static_cast<const uint8_t*>(x);
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += Bits(p, i, elem_bytes, is_float) != 0;
  return count;
}

int64_t NonzeroIndices(const void* x, const int64_t* dims, int rank, int elem_bytes, bool is_float,
                       int64_t* y) {
  const auto* p = static_cast<const uint8_t*>(x);
  int64_t n = 1;
  for (int d = 0; d < rank; ++d) n *= dims[d];
  std::vector<int64_t> at(static_cast<size_t>(rank), 0);  // coordinates of element i
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (Bits(p, i, elem_bytes, is_float) != 0) {
      std::copy(at.begin(), at.end(), y + count * rank);
      ++count;
    }
    for (int d = rank - 1; d >= 0 && ++at[d] == dims[d]; --d) at[d] = 0;
  }
  return count;
}

int64_t MaskedSelectRows(const void* x, const uint8_t* mask, int64_t rows, int64_t row_bytes,
                         void* y) {
  const auto* src = static_cast<const uint8_t*>(x);
  auto* dst = static_cast<uint8_t*>(y);
  int64_t count = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (mask[r] == 0) continue;
    std::memcpy(dst + count * row_bytes, src + r * row_bytes, static_cast<size_t>(row_bytes));
    ++count;
  }
  return count;
}

}  // namespace sinter::kernels::cpu
