// The CUDA target of the compile driver: from a planned graph to one CUDA
// module (the generated kernels plus kernels/cuda/kernels.cuh) compiled by
// NVRTC for every requested architecture, plus PTX of the newest for
// GPUs that come later, and the per-kernel attributes that tell the
// runtime's CUDA backend what to launch. Needs NVRTC, never a GPU.
//
// Which op runs how (the runtime's CUDA op table reads the same names):
//   fused_elementwise            generated kernel (`cuda_fn`)
//   fused_reduction, softmax,    generated kernel, one block per row
//     log_softmax, layer_norm
//   conv2d                       cuDNN; bias and epilogue by cuDNN where it
//                                can, else by the generated `cuda_epilogue_fn`
//   linear, matmul               cuBLASLt; likewise for linear's epilogue
//   pooling, reduce_*, copies,   hand-written kernels (kernels/cuda)
//     batch_norm, embedding, cast,
//     comparisons, where
// ops.def's cuda column says which; anything else (integer arithmetic, for
// one) is refused by the target support check (codegen/target_support.h).
#ifndef SINTER_CODEGEN_CUDA_CUDA_TARGET_H_
#define SINTER_CODEGEN_CUDA_CUDA_TARGET_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/artifact_writer.h"
#include "codegen/cuda/cuda_emitter.h"
#include "codegen/cuda/resources.h"
#include "ir/graph.h"
#include "runtime/format/kernel_body.h"

namespace sinter::codegen::cuda {

struct CudaTargetOptions {
  std::vector<std::string> archs = {"sm_80", "sm_86", "sm_89", "sm_90"};
  bool ptx = true;  // also embed PTX of the newest arch, for newer GPUs
  bool allow_tf32 = false;
};

// Parses "cuda" or "cuda:sm_80,sm_90" (each sm_XX with XX >= 70).
absl::StatusOr<CudaTargetOptions> ParseCudaTarget(const std::string& target);

// What the CUDA backend requires of `op` beyond ops.def's cuda column (a
// float result, a softmax over the last axis, casts kernels/cuda has, ...):
// why it cannot run, or "" (codegen/target_support.h lists every op).
std::string CudaConstraint(const ir::Operation& op);

// A conv2d/linear epilogue body with the bias added first: the bias is
// argument 1, the epilogue's arguments 1... are 2..., and its argument 0 is
// the biased result (f32). A null epilogue gives the bias add alone. The
// library call's output is `storage`, the bias `bias`.
format::KernelBody EpilogueWithBias(const format::KernelBody* epilogue, format::DType storage,
                                    format::DType bias);

// One kernel the compiler generates for an op, held as the emitter's input
// so that it can be emitted under any name: BuildCudaModule emits and
// records exactly these, and tests (tests/cuda_emu/models_test.cc) run them
// on the host against the CPU's execution of the same bodies, so the two
// cannot drift apart.
struct GeneratedKernel {
  format::CodeRole role = format::CodeRole::Main;  // Main, or Epilogue (conv2d/linear)
  std::string what;                                // for messages: "conv2d at model.py:12 epilogue"
  // A row reduction (EmitFusedReductionKernel) or an elementwise kernel
  // (EmitFusedKernel: fused_elementwise, conv2d/linear's bias + epilogue).
  bool reduction = false;
  // Elementwise: the body. Reductions: the epilogue when has_epilogue, and
  // the prologue when has_prologue.
  format::KernelBody body, prologue;
  bool has_prologue = false, has_epilogue = false;
  // Reductions: kind, axis, eps and prologue inputs (Emit sets the body
  // pointers), and the storage precision of every operand and the result.
  FusedReductionSpec spec;
  Precision precision = Precision::kF32;
  // The operands' shapes as the kernel reads them (an epilogue's input 0 is
  // the op's result, its bias broadcast per channel) and the output's.
  std::vector<std::vector<int64_t>> inputs;
  std::vector<int64_t> output;

  // The kernel's source and launch under `name`.
  absl::StatusOr<CudaKernel> Emit(const std::string& name) const;
};

// The kernels the compiler generates for `op`, in the order BuildCudaModule
// records them: its body (the op table's GENERATED strategy) or the epilogue
// of its library call. Empty for hand-written kernels and plain library calls.
absl::StatusOr<std::vector<GeneratedKernel>> GeneratedKernels(const ir::Operation& op);

struct CudaImage {
  std::string arch;  // "sm_90" (cubin) or "compute_90" (PTX)
  bool ptx = false;
  std::string bytes;
};

struct CudaModule {
  std::vector<CudaImage> images;
  // Every entry function on every real architecture, in ptxas's order.
  std::vector<KernelUsage> usage;
  // Per op, the generated kernels it launches: Main (a fused kernel or row
  // reduction) or Epilogue (conv2d/linear's bias + epilogue, run when the
  // library call cannot fuse them; the runtime decides from the epilogue).
  KernelCodeMap code;
  std::string source;         // the whole translation unit
  int generated_kernels = 0;  // distinct generated kernels in the module
  double nvrtc_ms = 0;
};

// Emits and compiles the module for `g` (after the support check, precision
// conversion and memory planning; storage precision is read from the
// graph's dtypes).
absl::StatusOr<CudaModule> BuildCudaModule(const ir::Graph& g, const CudaTargetOptions& options);

}  // namespace sinter::codegen::cuda

#endif  // SINTER_CODEGEN_CUDA_CUDA_TARGET_H_
