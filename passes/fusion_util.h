// Building fused programs (runtime/format/fused_program.h) from IR ops;
// shared by fuse-elementwise and fuse-epilogue.
#ifndef SINTER_PASSES_FUSION_UTIL_H_
#define SINTER_PASSES_FUSION_UTIL_H_

#include <functional>
#include <string>

#include "ir/graph.h"

namespace sinter::passes {

// The program op name for a fusable f32 elementwise op, or "" when `op`
// cannot be part of a fused program.
std::string ProgramOp(const ir::Operation& op);

// One instruction `tK = op a [b] [params]`; `operand` names each operand.
std::string ProgramLine(const ir::Operation& op, size_t k,
                        const std::function<std::string(ir::Value*)>& operand);

// A float literal that reads back as the same f32 ("inf"/"-inf" included).
std::string ProgramNumber(double v);

}  // namespace sinter::passes

#endif  // SINTER_PASSES_FUSION_UTIL_H_
