// CUDA C++ for fused kernels: from a kernel body (runtime/format/
// kernel_body.h) and static shapes to one translation unit with an extern "C"
// __global__ entry, for NVRTC (codegen/cuda/nvrtc.h). Every value is a float
// in registers (bool as 0 or 1); tensors convert as they load and store.
//
// A conv2d/linear epilogue is the same kernel: input 0 is the library call's
// output and inputs 1... are its operands after the bias; it may run in
// place (out == input 0).
#ifndef SINTER_CODEGEN_CUDA_CUDA_EMITTER_H_
#define SINTER_CODEGEN_CUDA_CUDA_EMITTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/format/kernel_body.h"

namespace sinter::codegen::cuda {

// Float storage of a kernel's tensors; the math is f32 throughout.
enum class Precision { kF32, kF16, kBF16 };
const char* PrecisionName(Precision p);  // "f32", "f16", "bf16"

// How to launch a kernel. The kernel walks its work with a grid-stride loop,
// so any grid size is correct; GridSize() picks the fastest, and takes the
// SM count when the model is loaded on a device.
struct CudaLaunch {
  int threads_per_block = 256;
  // Elements per 128-bit access: 4 (f32) or 8 (f16/bf16) on the vector
  // path, 1 when the kernel has only the scalar path.
  int vector_width = 1;
  // Elements a thread handles per loop iteration (= vector_width).
  int elements_per_thread = 1;
  // Blocks per SM at most: four waves of 8 resident 256-thread blocks; more
  // only adds block scheduling, the loop covers the rest.
  int max_blocks_per_sm = 32;
  int64_t num_elements = 0;  // output elements
  int64_t work_items = 0;    // loop iterations if every thread did one

  // min(ceil(work_items / threads_per_block), sm_count * max_blocks_per_sm);
  // 0 when there is nothing to do (then do not launch). Launch at most this
  // many blocks of at most threads_per_block threads: kernels of fewer than
  // 2^31 elements index in 32 bits, which assumes fewer than 2^31 threads.
  int64_t GridSize(int sm_count) const;
};

struct CudaKernel {
  std::string name;
  // Complete translation unit. Entry point:
  //   extern "C" __global__ void NAME(const T0* in0, ..., const TK* inK, T* out)
  // each T the C type of its tensor's dtype (float, __half, __nv_bfloat16,
  // unsigned char for bool and u8, signed char, int, long long); all tensors
  // dense, row-major, of the shapes given to EmitFusedKernel. out may equal an input of the
  // output's shape (in place). Several sources may be concatenated into one translation unit
  // (shared helpers are include-guarded) as long as their names differ.
  std::string source;
  CudaLaunch launch;
  int num_inputs = 0;
  Precision precision = Precision::kF32;
  // The iteration space after collapsing dims, e.g. "[64,3136] vector8";
  // for reports and tests.
  std::string plan;
};

// Emits the kernel for `body` (checked here too) over inputs of
// `input_shapes` broadcast (NumPy-style) to `output_shape`, the inputs and
// the output of the body's argument and result dtypes. `name` must be a C
// identifier. InvalidArgument for a body that fails its check, shapes that do
// not broadcast, or a bad name. The 128-bit vector path needs one float
// storage (f32, f16 or bf16) for the output and every non-scalar input.
absl::StatusOr<CudaKernel> EmitFusedKernel(const std::string& name, const format::KernelBody& body,
                                           const std::vector<std::vector<int64_t>>& input_shapes,
                                           const std::vector<int64_t>& output_shape);

// A fused reduction (the IR's fused_reduction): softmax or log_softmax over
// the last axis, or layer_norm over the dims from `axis` on, with an optional
// elementwise prologue computing the reduced rows and an epilogue applied to
// the result (its argument 0 the normalised value).
struct FusedReductionSpec {
  std::string kind;  // "softmax", "log_softmax" or "layer_norm"
  int64_t axis = -1;
  float eps = 0;            // layer_norm
  int prologue_inputs = 1;  // operands read by the prologue (or the one input)
  // Kernel bodies, not owned: null when operand 0 is the reduced tensor, and
  // when there is no epilogue.
  const format::KernelBody* prologue = nullptr;
  const format::KernelBody* epilogue = nullptr;
};

// Emits one block per row (a grid-stride loop over rows), fp32 accumulation,
// warp-shuffle then shared-memory reductions in a fixed order (no atomics, so
// results are deterministic): softmax in one online max/sum sweep, layer_norm
// as mean then variance over the row kept by the first sweep in `out`.
// Entry point as for EmitFusedKernel, over the operands in fused_reduction's
// order (prologue inputs, layer_norm weight and bias, epilogue operands);
// `out` must not alias an input. launch.work_items is rows *
// threads_per_block, so GridSize() gives one block per row up to its cap.
absl::StatusOr<CudaKernel> EmitFusedReductionKernel(
    const std::string& name, const FusedReductionSpec& spec,
    const std::vector<std::vector<int64_t>>& input_shapes, const std::vector<int64_t>& output_shape,
    Precision p);

// The device helpers every emitted row reduction includes (SINTER_DEVICE,
// SINTER_INF, NaN-propagating max, warp and block softmax, block sum), for
// tests that run them under kernels of their own.
std::string ReductionPrelude();

}  // namespace sinter::codegen::cuda

#endif  // SINTER_CODEGEN_CUDA_CUDA_EMITTER_H_
