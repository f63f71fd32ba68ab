// The CPU op table's rows for plugin_segment and plugin_op
// (runtime/cpu/plugin_segment.cc).
#ifndef SINTER_RUNTIME_CPU_PLUGIN_SEGMENT_H_
#define SINTER_RUNTIME_CPU_PLUGIN_SEGMENT_H_

#include "runtime/cpu/op_table.h"

namespace sinter::rt {

extern const OpDef kPluginSegmentOp;
extern const OpDef kPluginOpOp;

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_CPU_PLUGIN_SEGMENT_H_
