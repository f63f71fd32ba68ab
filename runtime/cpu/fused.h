// The fused elementwise kernel: interprets a format::FusedInstr program over
// the broadcast inputs, a chunk of the output at a time.
#ifndef SINTER_RUNTIME_CPU_FUSED_H_
#define SINTER_RUNTIME_CPU_FUSED_H_

#include "runtime/cpu/op_table.h"

namespace sinter::rt {

extern const OpDef kFusedElementwiseOp;

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_CPU_FUSED_H_
