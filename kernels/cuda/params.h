// Parameter blocks of the hand-written CUDA kernels (kernels/cuda/kernels.cuh).
// This header is read twice: by NVRTC, inside the generated translation
// unit, and by the runtime's host code, which fills the blocks at load and
// passes each by value as the kernel's last argument. Only int64 fields, so
// the layout is the same for both compilers.
#ifndef SINTER_KERNELS_CUDA_PARAMS_H_
#define SINTER_KERNELS_CUDA_PARAMS_H_

#define SINTER_CUDA_MAX_RANK 8
// Threads per block of every hand-written kernel's launch (the runtime's
// plan; the compiler's occupancy report assumes the same).
#define SINTER_CUDA_HAND_BLOCK 256

// out[out_offset + sum_d c_d * out_strides[d]] = in[in_offset + sum_d c_d * in_strides[d]]
// for every coordinate c of `dims` (row-major order, n elements in all).
// Transpose, slice, expand, concat (one launch per input) and reshape.
struct sinter_copy_params {
  long long rank, n;
  long long dims[SINTER_CUDA_MAX_RANK];
  long long in_strides[SINTER_CUDA_MAX_RANK];
  long long out_strides[SINTER_CUDA_MAX_RANK];
  long long in_offset, out_offset;
};

// Pooling: max (mode 0) or average (mode 1); `adaptive` derives each window
// from the output index as PyTorch's adaptive pooling does. Extents are
// logical NCHW; `nhwc` says both tensors are stored channels-last.
struct sinter_pool_params {
  long long n, c, h, w, p, q;
  long long kh, kw, sh, sw, ph, pw, dh, dw;
  long long mode, adaptive, count_include_pad, divisor;  // divisor 0: none
  long long nhwc;
};

// One output element per thread: the input is viewed as [outer..., inner...]
// with the kept dims first (`kept_rank` of them) and the reduced dims after,
// each with its input stride. mode 0 sum, 1 mean, 2 max.
struct sinter_reduce_params {
  long long n_out, rank, kept_rank, reduced;  // reduced: elements per output
  long long dims[SINTER_CUDA_MAX_RANK];
  long long strides[SINTER_CUDA_MAX_RANK];
  long long mode;
};

// Inference batch norm over channel axis 1: x viewed as [outer, c, inner].
struct sinter_batch_norm_params {
  long long n, c, inner;
  double eps;
};

// embedding: out[i, :] = weight[indices[i], :]. A kernel cannot fail, so
// an index outside [0, vocab) gives a row of NaN (the CPU kernel refuses the
// run instead).
struct sinter_embedding_params {
  long long count, dim, vocab;
};

// grid_sample: x [n, c, h, w] read at grid [n, oh, ow, 2]'s normalised
// points (kernels/grid_sample.h: mode 0 bilinear, 1 nearest; padding 0
// zeros, 1 border, 2 reflection).
struct sinter_grid_sample_params {
  long long n, c, h, w, oh, ow, mode, padding, align_corners;
};

// Comparisons (op 0 gt, 1 ge, 2 lt, 3 le, 4 eq, 5 ne; bool out as 0/1
// bytes) and where(cond, a, b), with NumPy broadcasting: each input's
// element stride per output dim (0 where it broadcasts). Operand slots:
// compare a = 0, b = 1; where cond = 0, a = 1, b = 2.
struct sinter_select_params {
  long long n, rank, op;
  long long dims[SINTER_CUDA_MAX_RANK];
  long long strides[3][SINTER_CUDA_MAX_RANK];
};

// Elementwise casts: n elements.
struct sinter_cast_params {
  long long n;
};

#endif  // SINTER_KERNELS_CUDA_PARAMS_H_
