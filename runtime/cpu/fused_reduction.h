// The fused reduction kernel: softmax, log_softmax or layer_norm over the
// trailing dims of each row, with an elementwise prologue that computes the
// row and an elementwise epilogue applied to it (runtime/format/ops.def's
// fused_reduction row gives the operand layout).
#ifndef SINTER_RUNTIME_CPU_FUSED_REDUCTION_H_
#define SINTER_RUNTIME_CPU_FUSED_REDUCTION_H_

#include "runtime/cpu/op_table.h"

namespace sinter::rt {

extern const OpDef kFusedReductionOp;

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_CPU_FUSED_REDUCTION_H_
