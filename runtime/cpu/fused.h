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

// Plans `text` over `inputs` (broadcast to `output`'s shape).
StatusOr<FusedProgramPtr> PlanFusedProgram(const std::string& text,
                                           const std::vector<const TensorDesc*>& inputs,
                                           const TensorDesc& output);
// Runs it; `out` may equal `in[0]` when input 0 has the output's shape.
void RunFusedProgram(const FusedProgram& p, const float* const* in, float* out,
                     kernels::cpu::Parallel* par);

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_CPU_FUSED_H_
