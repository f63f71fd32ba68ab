// The fused elementwise kernel: interprets a format::FusedInstr program over
// the broadcast inputs, a chunk of the output at a time.
#ifndef SINTER_RUNTIME_CPU_FUSED_H_
#define SINTER_RUNTIME_CPU_FUSED_H_

#include "runtime/cpu/op_table.h"

namespace sinter::rt {

extern const OpDef kFusedElementwiseOp;

// A checked, planned program; also used as the epilogue of conv2d and linear.
struct FusedProgram;
struct FusedProgramDeleter {
  void operator()(FusedProgram* p) const;
};
using FusedProgramPtr = std::unique_ptr<FusedProgram, FusedProgramDeleter>;

// Plans `text` over `inputs` (broadcast to `output`'s shape). With `native`,
// the compiled form of the same program (codegen/cpu), runs call it instead
// of interpreting.
StatusOr<FusedProgramPtr> PlanFusedProgram(const std::string& text,
                                           const std::vector<const TensorDesc*>& inputs,
                                           const TensorDesc& output,
                                           NativeFusedFn native = nullptr);
// The native function of the kernel's program for `role`, or null when the
// kernel has none or its module is not loaded (then it interprets); an error
// when the code is loaded but lacks the function.
StatusOr<NativeFusedFn> FindNative(const PrepareContext& c, CodeRole role);
// Runs it; `out` may equal `in[0]` when input 0 has the output's shape.
void RunFusedProgram(const FusedProgram& p, const float* const* in, float* out,
                     kernels::cpu::Parallel* par);
// Runs it serially on the output elements [begin, end) (row-major flat
// indices), so a kernel can apply an epilogue to a block while it is in cache.
void RunFusedProgramRange(const FusedProgram& p, const float* const* in, float* out, int64_t begin,
                          int64_t end);

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_CPU_FUSED_H_
