// Structural and type checks of a graph, read from the op table: run after
// building a graph, after parsing it and (by the pass manager) after each pass.
#ifndef SINTER_IR_VERIFIER_H_
#define SINTER_IR_VERIFIER_H_

#include "absl/status/status.h"
#include "ir/graph.h"

namespace sinter::ir {

// Checks, and reports the first failure naming the op as printed (`op %12 =
// conv2d (resnet.py:97): ...`):
//   - graph inputs are inputs (no defining op, index = position);
//   - every op belongs to `g`, its results point back at it;
//   - operand counts against the op table's min/max;
//   - every operand is a graph input or a result of an earlier op (SSA
//     dominance in the single block);
//   - attributes against the op's schema (CheckAttributes), regions by name
//     (CheckRegionNames), and each region as a graph of its own, recursively;
//   - the op's shape rule, re-run, gives the recorded result types;
//   - use lists: each op appears in each operand's users() exactly as many
//     times as it reads it, and users() names no other op;
//   - every graph output is defined, and output names (when given) match
//     the outputs one to one.
// Never dereferences a pointer it has not found in the graph, so a graph with
// dangling operands is reported, not crashed on.
[[nodiscard]] absl::Status Verify(const Graph& g);

}  // namespace sinter::ir

#endif  // SINTER_IR_VERIFIER_H_
