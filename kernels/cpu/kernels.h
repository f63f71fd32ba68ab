// CPU kernels for the sinter runtime: plain functions on raw float buffers
// with explicit shapes. They know nothing of the IR or the artifact; the
// runtime's op table (runtime/cpu/) checks shapes and attributes before
// calling them, so kernels may assume valid, non-overlapping arguments unless
// a comment says the call may run in place.
//
// All tensors are dense, row-major (NCHW for images). `Parallel` lets the
// runtime's thread pool split work; a null pointer runs serially.
#ifndef SINTER_KERNELS_CPU_KERNELS_H_
#define SINTER_KERNELS_CPU_KERNELS_H_

#include <cstdint>

namespace sinter::kernels::cpu {

// Splits [0, n) into chunks and runs fn(begin, end, ctx) on each, possibly
// concurrently; returns when all chunks are done.
class Parallel {
 public:
  using Fn = void (*)(int64_t begin, int64_t end, void* ctx);
  virtual ~Parallel() = default;
  virtual int num_threads() const = 0;
  virtual void For(int64_t n, Fn fn, void* ctx) = 0;
};

// Runs `body(begin, end)` over [0, n) through `par` (serially when null).
template <typename Body>
void ParallelFor(Parallel* par, int64_t n, Body&& body) {
  if (par == nullptr || n <= 1 || par->num_threads() <= 1) {
    if (n > 0) body(int64_t{0}, n);
    return;
  }
  par->For(
      n, [](int64_t b, int64_t e, void* ctx) { (*static_cast<Body*>(ctx))(b, e); },
      static_cast<void*>(&body));
}

// ---- Elementwise ----------------------------------------------------------

// One line per group of related ops, not one per op.
// clang-format off
enum class Unary : int {
  kRelu, kSigmoid, kTanh, kExp, kLog, kSqrt, kRsqrt, kNeg, kAbs, kErf, kReciprocal,
  kSilu, kGeluErf, kGeluTanh, kHardswish, kHardsigmoid, kLeakyRelu /* a = slope */,
  kElu /* a = alpha */, kClamp /* a = min, b = max (use +-inf when absent) */
};
// clang-format on
// y[i] = f(x[i]); y may equal x (in place).
void UnaryF32(Unary op, const float* x, float* y, int64_t n, float a, float b, Parallel* par);

enum class Binary : int { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin };
// Broadcasting binary op. Shapes are given already aligned to the output rank
// (`rank` dims each; a broadcast dim has extent 1). y may equal a when a has
// the output's shape (in place).
void BinaryF32(Binary op, const float* a, const int64_t* a_dims, const float* b,
               const int64_t* b_dims, float* y, const int64_t* y_dims, int rank, Parallel* par);

// where(cond, a, b) with broadcasting, shapes aligned to the output rank.
void WhereF32(const uint8_t* cond, const int64_t* c_dims, const float* a, const int64_t* a_dims,
              const float* b, const int64_t* b_dims, float* y, const int64_t* y_dims, int rank);

// ---- Reductions and normalisations -----------------------------------------

enum class Reduce : int { kSum, kMean, kMax };
// Views the input as [outer, axis, inner] (reduced axes made contiguous by the
// caller) and reduces the middle: y[outer, inner].
void ReduceF32(Reduce op, const float* x, float* y, int64_t outer, int64_t axis, int64_t inner,
               Parallel* par);
// Softmax / log-softmax over the middle of [outer, axis, inner].
void SoftmaxF32(const float* x, float* y, int64_t outer, int64_t axis, int64_t inner, bool log,
                Parallel* par);
// Layer norm over the trailing `inner` elements of each of `outer` rows.
void LayerNormF32(const float* x, const float* weight, const float* bias, float* y, int64_t outer,
                  int64_t inner, float eps, Parallel* par);
// Inference batch norm on [n, c, spatial]; y may equal x.
void BatchNormF32(const float* x, const float* mean, const float* var, const float* weight,
                  const float* bias, float* y, int64_t n, int64_t c, int64_t spatial, float eps,
                  Parallel* par);

// ---- Convolution, pooling, GEMM ----------------------------------------------

// Called on output elements [begin, end) (offsets from the output pointer)
// once they hold their final values: every element exactly once, while the
// range is still in cache, possibly from pool threads on disjoint ranges. It
// lets the caller apply an elementwise epilogue without a second pass over
// the output; it may rewrite the range in place.
struct RangeDone {
  void (*fn)(void* ctx, int64_t begin, int64_t end) = nullptr;
  void* ctx = nullptr;
};

// Extents are logical (PyTorch's NCHW); `nhwc` says the tensors are stored
// channels-last: x [n, h, w, c], weight [oc, kh, kw, c / groups], y [n, oh, ow, oc].
struct Conv2dShape {
  int64_t n, c, h, w;  // input
  int64_t oc, kh, kw;  // weight [oc, c / groups, kh, kw]
  int64_t oh, ow;      // output
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  bool nhwc = false;
};
// Bytes of scratch memory Conv2dF32 needs (im2col / packing buffers), with
// or without prepared weights.
int64_t Conv2dScratchBytes(const Conv2dShape& s, int num_threads);
// Weights a convolution wants prepared once, before its runs, instead of
// per run: for channels-last convolutions, Winograd's transformed weights
// (3x3 stride 1), the weights packed for the GEMM (other ungrouped ones) or
// tap-major (depthwise).
// How many floats; 0 when it uses them as stored.
int64_t Conv2dPreparedWeightFloats(const Conv2dShape& s);
// prepared[Conv2dPreparedWeightFloats(s)] from the stored weights w.
void Conv2dPrepareWeightsF32(const Conv2dShape& s, const float* w, float* prepared);
// y = conv(x, w) + bias (bias may be null). `scratch` holds
// Conv2dScratchBytes(s, par threads) bytes, 64-byte aligned. `done`, when
// given, sees the whole output (flat offsets in its layout) range by range.
// `prepared`: null, or what Conv2dPrepareWeightsF32 made of w (w is then
// not read).
void Conv2dF32(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
               void* scratch, Parallel* par, const RangeDone* done = nullptr,
               const float* prepared = nullptr);

// Logical extents, as Conv2dShape; `nhwc`: x [n, h, w, c], y [n, oh, ow, c].
struct Pool2dShape {
  int64_t n, c, h, w, oh, ow;
  int64_t kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  bool nhwc = false;
};
void MaxPool2dF32(const Pool2dShape& s, const float* x, float* y, Parallel* par);
// divisor <= 0: PyTorch's default divisor (window size, clipped to the input
// unless count_include_pad, in which case clipped to the padded input).
void AvgPool2dF32(const Pool2dShape& s, bool count_include_pad, int64_t divisor, const float* x,
                  float* y, Parallel* par);
// PyTorch's adaptive windows: start = floor(i*in/out), end = ceil((i+1)*in/out).
void AdaptiveAvgPool2dF32(const float* x, float* y, int64_t nc, int64_t h, int64_t w, int64_t oh,
                          int64_t ow, Parallel* par);
void AdaptiveMaxPool2dF32(const float* x, float* y, int64_t nc, int64_t h, int64_t w, int64_t oh,
                          int64_t ow, Parallel* par);

// grid_sample (PyTorch's F.grid_sample, 2-D): x [N, C, H, W] read at the
// normalised (x, y) points of grid [N, OH, OW, 2], giving y [N, C, OH, OW].
// The values are kernels/grid_sample.h's.
enum class SampleMode : int { kBilinear = 0, kNearest = 1 };
enum class SamplePadding : int { kZeros = 0, kBorder = 1, kReflection = 2 };
struct GridSampleShape {
  int64_t n, c, h, w, oh, ow;
  SampleMode mode;
  SamplePadding padding;
  bool align_corners;
};
void GridSampleF32(const GridSampleShape& s, const float* x, const float* grid, float* y,
                   Parallel* par);
// Adaptive pooling of channels-last tensors (s.kh .. s.dil_w unused).
void AdaptivePool2dNhwcF32(bool max, const Pool2dShape& s, const float* x, float* y, Parallel* par);

// C[m, n] = A[m, k] * op(B) (+ bias[n]) where op(B) = B[k, n], or B^T when
// b_transposed (B stored as [n, k], the layout of nn.Linear weights).
// Row strides lda/ldb/ldc allow views. `done`, when given, sees every
// element of C (offsets i * ldc + j from c) range by range.
void GemmF32(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
             int64_t ldb, bool b_transposed, const float* bias, float* c, int64_t ldc,
             Parallel* par, const RangeDone* done = nullptr);
// The same product with B a weight matrix packed once (at load) instead of
// per call. GemmPackedWeightFloats: floats the packed B takes, 0 when
// packing does not pay (m <= 4 rows stream B once as it lies).
int64_t GemmPackedWeightFloats(int64_t m, int64_t n, int64_t k);
void GemmPackWeightF32(int64_t n, int64_t k, const float* b, int64_t ldb, bool b_transposed,
                       float* packed);
void GemmPackedF32(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                   const float* packed, const float* bias, float* c, int64_t ldc, Parallel* par,
                   const RangeDone* done = nullptr);

// ---- Data movement -------------------------------------------------------------

// Generic strided copy: y (dense, dims y_dims) = x read with strides
// x_strides (in elements; 0 for broadcast). Covers transpose, expand, slice.
void StridedCopy(const void* x, const int64_t* x_strides, void* y, const int64_t* y_dims, int rank,
                 int64_t elem_bytes, Parallel* par);

// y[i, :] = weight[indices[i], :]. An index outside [0, vocab) gives a row of
// NaN: never a read outside the table, never a plausible value. PyTorch
// raises there; every sinter backend gives this same NaN row (the CUDA
// kernel too), which the README documents.
void EmbeddingF32(const float* weight, int64_t vocab, int64_t dim, const int64_t* indices,
                  int64_t count, float* y);
// The same for a table of any dtype: rows of `row_bytes`, and an index
// outside [0, vocab) gives a row of `fill` (one element of `elem_bytes`).
void EmbeddingRows(const void* table, int64_t vocab, int64_t row_bytes, const int64_t* indices,
                   int64_t count, const void* fill, int elem_bytes, void* y);

// ---- Along one axis (cumsum, gather, sort) ---------------------------------------
//
// Each views its tensors as [outer, len, inner] around the axis (kernels/cpu/axis.cc).

// Running sums along the axis, in order; f32 accumulates in f32 as
// PyTorch's CPU kernel does, i64 wraps (two's complement).
void CumsumF32(const float* x, float* y, int64_t outer, int64_t len, int64_t inner);
void CumsumI64(const int64_t* x, int64_t* y, int64_t outer, int64_t len, int64_t inner);

// y[c] = x[c with c[axis] = index[c]] for every coordinate c of the index,
// whose extents may be smaller than x's off the axis (rank <= 64). An index
// outside [0, x_dims[axis]) gives NaN (f32) or INT64_MIN (i64).
struct GatherShape {
  const int64_t* out_dims;  // the index's extents (rank of them)
  const int64_t* x_dims;    // the data's
  int rank;
  int axis;
};
void GatherF32(const float* x, const int64_t* index, float* y, const GatherShape& s);
void GatherI64(const int64_t* x, const int64_t* index, int64_t* y, const GatherShape& s);

// The first k elements of every row along the axis in ascending (or
// descending) order, and their positions: NaN sorts above every number and
// ties keep index order, so the result is PyTorch's stable sort (and its
// topk wherever values differ). `scratch` holds len int64_t.
void SortF32(const float* x, float* values, int64_t* indices, int64_t outer, int64_t len,
             int64_t inner, int64_t k, bool descending, int64_t* scratch);
void SortI64(const int64_t* x, int64_t* values, int64_t* indices, int64_t outer, int64_t len,
             int64_t inner, int64_t k, bool descending, int64_t* scratch);

// ---- Detection (kernels/cpu/detect.cc) -------------------------------------------

// torchvision's roi_align: per RoI (batch index, x1, y1, x2, y2, in input
// pixels before spatial_scale) and bin, the mean of a grid of bilinear
// samples (sampling_ratio per side, or ceil(bin size) when <= 0); `aligned`
// shifts by half a pixel. A batch index outside [0, n) gives NaN.
struct RoiAlignShape {
  int64_t n, c, h, w, k, ph, pw;
  float spatial_scale;
  int64_t sampling_ratio;
  bool aligned;
};
void RoiAlignF32(const RoiAlignShape& s, const float* x, const float* rois, float* y,
                 Parallel* par);
// torchvision's nms: indices of the boxes kept, highest score first (a
// stable sort, NaN first), each suppressing the later ones whose IoU with it
// exceeds the threshold. `keep` holds n; returns how many. `scratch` holds
// NmsScratchBytes(n).
int64_t NmsF32(const float* boxes, const float* scores, int64_t n, double iou_threshold,
               int64_t* keep, void* scratch);
int64_t NmsScratchBytes(int64_t n);

// ---- Sizes the data decides (nonzero, masked_select) ------------------------------
//
// Each counts first, so the caller can size the result, then writes it.
// Elements are `elem_bytes` (1, 2, 4 or 8) wide; with `is_float` they are
// IEEE numbers, so a lone sign bit (-0.0) is zero and NaN is nonzero, as
// PyTorch's nonzero has it, whatever the float's width.

int64_t CountNonzero(const void* x, int64_t n, int elem_bytes, bool is_float);
// The row-major coordinates (rank of them each) of x's nonzero elements, in
// order, into y; returns how many were written (CountNonzero's).
int64_t NonzeroIndices(const void* x, const int64_t* dims, int rank, int elem_bytes, bool is_float,
                       int64_t* y);
// The rows of x (rows of row_bytes) whose mask byte is not 0, in order, into
// y; returns how many. CountNonzero(mask, rows, 1, false) sizes y.
int64_t MaskedSelectRows(const void* x, const uint8_t* mask, int64_t rows, int64_t row_bytes,
                         void* y);

// ---- Recurrent -------------------------------------------------------------------

// An nn.LSTM's or nn.GRU's sizes and options.
struct RecurrentShape {
  int64_t seq, batch, input, hidden, layers;
  bool bidirectional, batch_first, has_biases;
};
using LstmShape = RecurrentShape;
// Bytes of scratch the LSTM needs.
int64_t LstmScratchBytes(const LstmShape& s);
// PyTorch nn.LSTM semantics (gates i, f, g, o). weights: per layer and
// direction, w_ih [4H, in], w_hh [4H, H], then b_ih [4H], b_hh [4H] when
// has_biases. h0/c0, hn/cn: [layers * dirs, batch, hidden].
void LstmF32(const LstmShape& s, const float* x, const float* h0, const float* c0,
             const float* const* weights, float* y, float* hn, float* cn, void* scratch,
             Parallel* par);

using GruShape = RecurrentShape;
// Bytes of scratch the GRU needs.
int64_t GruScratchBytes(const GruShape& s);
// PyTorch nn.GRU semantics (gates r, z, n). weights: per layer and
// direction, w_ih [3H, in], w_hh [3H, H], then b_ih [3H], b_hh [3H] when
// has_biases. h0 (null: zeros), hn: [layers * dirs, batch, hidden].
void GruF32(const GruShape& s, const float* x, const float* h0, const float* const* weights,
            float* y, float* hn, void* scratch, Parallel* par);

}  // namespace sinter::kernels::cpu

#endif  // SINTER_KERNELS_CPU_KERNELS_H_
