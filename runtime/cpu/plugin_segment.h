// The CPU op table's row for plugin_segment (runtime/cpu/plugin_segment.cc).
#ifndef SINTER_RUNTIME_CPU_PLUGIN_SEGMENT_H_
#define SINTER_RUNTIME_CPU_PLUGIN_SEGMENT_H_

#include "runtime/cpu/op_table.h"

namespace sinter::rt {

extern const OpDef kPluginSegmentOp;

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_CPU_PLUGIN_SEGMENT_H_
