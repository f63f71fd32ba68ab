// A symbolic extent (`sinterc --input-shape 1,seq=1..128,256`): one artifact
// whose ops take the run's extent along a dimension the caller chooses per
// run, for models that mix values along it (attention over a sequence, a
// recurrence), which the per-sample batch (ir/batch_analysis.h) cannot run.
//
// The frontend evaluates TorchScript's Python-level size arithmetic at fixed
// shapes, so the symbolic graph is found from two imports of the same model
// at two extents p1 and p2 of the symbol: the same program, where a
// dimension that is p1 in one and p2 in the other is the symbol, and an
// attribute that differs between them is either the symbol written in a
// form that holds at every extent (a reshape's target extent becomes its -1,
// a slice bound counting from the end becomes a negative bound or "to the
// end"), or a refusal naming the op: a constant built from the size (an
// arange, a causal mask), arithmetic on the symbol (2 * seq), a program
// that special-cases a size. Every op left reading a symbolic operand must
// take the run's extents (ops.def kRunExtents; the compiler's target check
// names the first that cannot), and the verifier re-derives every type from
// the shape rules, so a coincidence of the probes cannot pass unchecked;
// what only the run can check (a slice of the last k of a run shorter than
// k) is checked there.
#ifndef SINTER_IR_EXTENT_ANALYSIS_H_
#define SINTER_IR_EXTENT_ANALYSIS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "ir/graph.h"

namespace sinter::ir {

// A slice bound meaning "to the end of the dim, whatever the run's extent".
inline constexpr int64_t kSliceToEnd = INT64_MAX;

// `unit` is the model imported with the symbol at `p1`, `probe` at `p2`
// (p1 != p2, both > 1); on success `unit` is rewritten in place into the
// graph over the symbol `symbol`. Otherwise InvalidArgument naming the op.
//
// `at_max` (optional) is the model at the range's maximum `max`: a constant
// that grows with the extent, each probe's value the leading block of its
// value there along the symbol's axes (the positions arange(seq) picks from
// a table, a causal mask tril(ones(seq, seq))), becomes that value cut by
// slice_like to the run's extent, read from an input carrying the symbol.
// Without it, or for any other constant that differs, refused.
absl::Status SymbolizeExtent(Graph* unit, const Graph& probe, const std::string& symbol, int64_t p1,
                             int64_t p2, const Graph* at_max = nullptr, int64_t max = 0);

}  // namespace sinter::ir

#endif  // SINTER_IR_EXTENT_ANALYSIS_H_
