// The compile-time support check of a target: every op of the graph an
// artifact will hold must be one the target runs (ops.def's cpu / cuda
// column: a kernel, a generated kernel or a library call), and must meet what
// that target's backend further requires of it (dtypes, axes). Everything
// that fails is listed in one message, the way the frontend lists
// unsupported TorchScript ops:
//   "the cuda target cannot run: add x2 (wrap-elementwise lowers f32
//    elementwise ops only; this one has i64 operands), first at m.py:3"
#ifndef SINTER_CODEGEN_TARGET_SUPPORT_H_
#define SINTER_CODEGEN_TARGET_SUPPORT_H_

#include <string>

#include "absl/status/status.h"
#include "ir/graph.h"

namespace sinter::codegen {

// Why `target` cannot run `op`, or "" when it can.
std::string WhyUnsupported(const ir::Operation& op, ir::Target target);

// Unimplemented listing every op kind of `g` that `target` cannot run.
absl::Status CheckTargetSupport(const ir::Graph& g, ir::Target target);

}  // namespace sinter::codegen

#endif  // SINTER_CODEGEN_TARGET_SUPPORT_H_
