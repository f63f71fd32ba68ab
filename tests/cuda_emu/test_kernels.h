// Hand-written CUDA kernels for the executor's tests (test_kernels.cu.cc,
// compiled as emulated CUDA), declared with plain C types so that the tests
// (ordinary host C++) can launch them. 16-bit floats travel as their bits.
#ifndef SINTER_TESTS_CUDA_EMU_TEST_KERNELS_H_
#define SINTER_TESTS_CUDA_EMU_TEST_KERNELS_H_

extern "C" {
// ---- Correct kernels
// y = a * x + y over n elements, grid-stride loop.
void emu_axpy(const float* x, float* y, float a, int n);
// Each thread of a 3-D grid of 3-D blocks writes its threadIdx, blockIdx,
// blockDim and gridDim (12 values) at its global linear index.
void emu_coords(unsigned* out);
// Per lane of each warp, 4 results: __shfl_sync(v, src), __shfl_up_sync(v,
// delta), __shfl_down_sync(v, delta), __shfl_xor_sync(v, delta) with `width`;
// v = in[thread]. out[thread * 4 + k].
void emu_shuffles(const int* in, int* out, int src, int delta, int width);
// The same with 64-bit values (two 32-bit shuffles on a GPU).
void emu_shuffles64(const long long* in, long long* out, int src, int delta, int width);
// Per lane: ballot, any, all, match_any, reduce_add, reduce_min (int),
// activemask, __syncthreads_count over pred[thread] in `mask`'s lanes (the
// others write zeros). out[thread * 8 + k].
void emu_votes(const int* pred, unsigned* out, unsigned mask);
// out[row] = sum of x[row * len ...] with a shared-memory block reduction:
// one block per row (grid-stride over rows), warp shuffles then one warp
// over the per-warp partials, like the CUDA emitter's sinter_block_sum.
void emu_block_sum(const float* x, float* out, int rows, int len);
// The same without the barrier between writing the per-warp partials and
// reading them: a race.
void emu_block_sum_missing_barrier(const float* x, float* out, int rows, int len);
// Reverses each block's slice of `in` through dynamic shared memory.
void emu_dynamic_reverse(const int* in, int* out);
// A histogram of `in` (values in [0, bins)) with shared-memory atomics, then
// global atomics: bins must be at most the block size.
void emu_histogram(const int* in, int n, unsigned* hist, int bins);
// 16-byte loads and stores: out[i] = 2 * in[i] through float4, n % 4 == 0.
void emu_scale_float4(const float* in, float* out, int n);
// f32 -> f16 / bf16 bits -> f32, through the conversions the CUDA emitter
// uses (scalar and packed in uint4 like kF16Access/kBF16Access).
void emu_to_half(const float* in, unsigned short* bits, float* back, int n);
void emu_to_bfloat16(const float* in, unsigned short* bits, float* back, int n);
void emu_half_vector(const unsigned short* in, unsigned short* out, int n);

// ---- Kernels with one bug each
void emu_barrier_in_branch(int* out);  // __syncthreads() under threadIdx.x < 16
void emu_barrier_two_sites(int* out);  // different __syncthreads() per branch
void emu_read_past_end(const float* in, float* out, int n);  // reads in[n]
void emu_write_past_end(float* out, int n);                  // writes out[n]
void emu_misaligned_float4(const float* in, float* out);     // float4 load at in + 1
void emu_shuffle_mask_omits_caller(int* out);  // mask 0x0000ffff, called by all 32 lanes
void emu_shuffle_lane_exits(int* out);         // lanes 16..31 exit; the rest shuffle all 32
void emu_shared_past_dynamic(int* out);        // reads dynamic shared memory past the launch size
void emu_uninitialized_shared(int* out);       // reads a shared slot nobody wrote
void emu_assert_fails(int* out);               // assert(threadIdx.x != 5)
void emu_deep_recursion(int* out, int depth);  // overflows its stack
}

#endif  // SINTER_TESTS_CUDA_EMU_TEST_KERNELS_H_
