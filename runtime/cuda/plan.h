// The CUDA backend's plan of one kernel, made from the artifact alone (no
// driver, no GPU): which launch or library call runs it, every hand-written
// kernel's parameter block (kernels/cuda/params.h) and the library call's
// description, after checking the kernel's attributes against the recorded
// shapes. Pure, so that tests check it, and run the hand-written kernels
// on the host, on machines without a GPU (tests/runtime/cuda_host_test.cc).
#ifndef SINTER_RUNTIME_CUDA_PLAN_H_
#define SINTER_RUNTIME_CUDA_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/params.h"
#include "runtime/attrs.h"
#include "runtime/cuda/conv.h"
#include "runtime/cuda/gemm.h"
#include "runtime/model.h"

namespace sinter::rt::cuda {

enum class Kind {
  kGenerated,  // fused_elementwise, fused_reduction, softmax, log_softmax, layer_norm
  kConv,       // cuDNN (+ the epilogue kernel when cuDNN does not fuse it)
  kLinear,     // cuBLASLt (likewise)
  kMatmul,     // cuBLASLt, batched
  kCopy,       // transpose, slice, expand: one strided copy
  kConcat,     // one strided copy per input
  kReshape,    // a device-to-device copy when not in place (also a same-dtype cast)
  kHand,       // pool, reduce, batch_norm, embedding, cast: one launch with a parameter block
};

// One kernel launch: the module's function, threads per block, the work
// (the grid is min(ceil(items / block), SMs * max_blocks_per_sm), as
// codegen/cuda's CudaLaunch::GridSize) and the parameter block passed by
// value after the tensor pointers (empty for generated kernels).
struct LaunchPlan {
  std::string fn;
  int block = SINTER_CUDA_HAND_BLOCK;
  int64_t items = 0;
  int max_blocks_per_sm = 32;
  std::vector<uint8_t> params;
};

struct StepPlan {
  Kind kind = Kind::kGenerated;
  std::vector<LaunchPlan> launches;  // kGenerated, kHand, kCopy: 1; kConcat: one per input
  LaunchPlan epilogue;               // conv2d/linear: bias + epilogue kernel ("" if none)
  // conv2d/linear: what the library call may fuse instead of the epilogue
  // kernel: "" (no epilogue), "relu", "gelu_tanh", "-" (nothing).
  std::string fused_activation;
  ConvDesc conv;
  GemmDesc gemm;
};

// The ops the CUDA plan table runs (the completeness test holds it to
// ops.def's cuda column).
std::vector<std::string_view> PlannedOps();

// Plans kernel `op` of `step` over `tensors` with its attributes and code
// (step.code: the generated functions and their launches).
// InvalidArgument / DataLoss for attributes or shapes that disagree,
// Unimplemented for what the backend cannot run.
StatusOr<StepPlan> PlanStep(const std::vector<TensorDesc>& tensors, const std::string& op,
                            const Attrs& attrs, const Step& step, bool allow_tf32);

}  // namespace sinter::rt::cuda

#endif  // SINTER_RUNTIME_CUDA_PLAN_H_
