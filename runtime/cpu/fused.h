// The fused elementwise kernel: runs a kernel body (runtime/format/
// kernel_body.h) over the broadcast inputs, a chunk of the output at a time,
// with the artifact's native code for it or with the interpreter here. Also
// the epilogues of conv2d and linear and the prologues and epilogues of
// fused reductions.
#ifndef SINTER_RUNTIME_CPU_FUSED_H_
#define SINTER_RUNTIME_CPU_FUSED_H_

#include "runtime/cpu/op_table.h"

namespace sinter::rt {

extern const OpDef kFusedElementwiseOp;

// A checked, planned body.
struct FusedProgram;
struct FusedProgramDeleter {
  void operator()(FusedProgram* p) const;
};
using FusedProgramPtr = std::unique_ptr<FusedProgram, FusedProgramDeleter>;

// Plans `body` over `inputs` (broadcast to `output`'s shape), their dtypes
// the body's arguments' and `output`'s the body's result's. With `native`,
// the compiled form of the same body (codegen/cpu), runs call it instead of
// interpreting.
StatusOr<FusedProgramPtr> PlanFusedProgram(const format::KernelBody& body,
                                           const std::vector<const TensorDesc*>& inputs,
                                           const TensorDesc& output,
                                           NativeFusedFn native = nullptr);
// The step's body for `role`; DATA_LOSS naming it when the kernel has none.
StatusOr<const format::KernelBody*> StepBody(const PrepareContext& c, CodeRole role);
// The native function of the kernel's body for `role`, or null when the
// kernel has none or its module is not loaded (then it interprets); an error
// when the code is loaded but lacks the function.
StatusOr<NativeFusedFn> FindNative(const PrepareContext& c, CodeRole role);
// Runs it; `out` may equal `in[0]` when input 0 has the output's shape and type.
void RunFusedProgram(const FusedProgram& p, const void* const* in, void* out,
                     kernels::cpu::Parallel* par);
// Runs it serially on the output elements [begin, end) (row-major flat
// indices), so a kernel can apply an epilogue to a block while it is in cache.
void RunFusedProgramRange(const FusedProgram& p, const void* const* in, void* out, int64_t begin,
                          int64_t end);

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_CPU_FUSED_H_
