// A dynamic batch (`sinterc --input-shape batch=1..64,3,224,224`): one
// artifact that runs any batch size in a range.
//
// sinter runs such a model one sample at a time through the plan compiled for
// a batch of one, which is exact only when the model treats its samples
// independently: no op may mix values across the batch axis (a softmax or a
// sum over it, a reshape that moves elements between samples, a constant
// built from the batch size). This analysis proves that, op by op, from two
// imports of the same model: one at batch 1 (the graph that is compiled) and
// one at a probe batch. The probe graph tells which axis of every value is
// the batch axis (the one whose extent follows the batch size); the two
// graphs must be the same program apart from those extents (an `x.size(0)`
// the frontend folded into arithmetic shows up as a differing constant or
// attribute); and each op's case in CheckOp (batch_analysis.cc, one switch
// over the op table) says which of its axes it may carry a batch along.
//
// Why per sample rather than symbolic extents in every kernel: the batch-1
// plan is the static plan, so every sample runs at static speed with no
// planning at run time, and the arena is a single sample's; on T threads
// the runtime runs T samples side by side (runtime/session.h). The cost is
// that a batch gives the GEMMs no longer rows (layer4 of a ResNet at batch 8
// would pack 392 rows, not 49).
#ifndef SINTER_IR_BATCH_ANALYSIS_H_
#define SINTER_IR_BATCH_ANALYSIS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace sinter::ir {

// The batch symbol of a compiled model and where it sits.
struct BatchSymbol {
  std::string name;  // "batch"
  int64_t min = 1, max = 1;
  // Per graph input / output: the batch axis, or -1 when the tensor is the
  // same for every sample (an input shared by the batch, a constant output).
  std::vector<int> input_axes;
  std::vector<int> output_axes;
  // false: not run per sample but a symbolic extent the kernels take at
  // run (ir/extent_analysis.h); the graph's inputs carry the symbol on
  // their axes, and output_axes are all -1.
  bool per_sample = true;
};

// `unit` is the model imported with every batched input's batch axis at 1,
// `probe` the same model with it at `probe_extent` (> 1); `input_axes` gives
// each input's batch axis (-1: none). On success, `unit` computes one sample
// of the batched model and the result holds every output's batch axis.
// Otherwise InvalidArgument naming the op, its source line and the reason.
absl::StatusOr<std::vector<int>> CheckSeparableBatch(const Graph& unit, const Graph& probe,
                                                     const std::vector<int>& input_axes,
                                                     int64_t probe_extent);

// Shared with the symbolic-extent analysis (ir/extent_analysis.h), which
// compares two imports the same way: "'op' at file:line", and attributes
// equal by value (tensors by type and bytes).
std::string OpWhere(const Operation& op);
bool SameAttribute(const Attribute& a, const Attribute& b);

}  // namespace sinter::ir

#endif  // SINTER_IR_BATCH_ANALYSIS_H_
