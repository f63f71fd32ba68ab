// Shape and dtype rules named by the rows of runtime/format/ops.def.
#ifndef SINTER_IR_SHAPE_RULES_H_
#define SINTER_IR_SHAPE_RULES_H_

#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/types.h"

namespace sinter::ir {

class Operation;

#define SINTER_RULE(NAME) absl::Status NAME(const Operation& op, std::vector<TensorType>* results);
SINTER_RULE(InferConst)
SINTER_RULE(InferSameAsFirst)
SINTER_RULE(InferCast)
SINTER_RULE(InferBroadcast)
SINTER_RULE(InferCompare)
SINTER_RULE(InferFused)
SINTER_RULE(InferFusedReduction)
SINTER_RULE(InferReduce)
SINTER_RULE(InferConv2d)
SINTER_RULE(InferPool2d)
SINTER_RULE(InferAdaptivePool2d)
SINTER_RULE(InferLinear)
SINTER_RULE(InferMatmul)
SINTER_RULE(InferEmbedding)
SINTER_RULE(InferRecurrent)
SINTER_RULE(InferReshape)
SINTER_RULE(InferTranspose)
SINTER_RULE(InferConcat)
SINTER_RULE(InferSlice)
SINTER_RULE(InferSliceLike)
SINTER_RULE(InferExpand)
SINTER_RULE(InferWhere)
SINTER_RULE(InferCumsum)
SINTER_RULE(InferGather)
SINTER_RULE(InferGridSample)
SINTER_RULE(InferSort)
SINTER_RULE(InferNonzero)
SINTER_RULE(InferMaskedSelect)
SINTER_RULE(InferNms)
SINTER_RULE(InferRoiAlign)
SINTER_RULE(InferPluginSegment)
SINTER_RULE(InferPluginOp)
#undef SINTER_RULE

// What an op gives the kernel body in its region `region` (ops.def): the
// arguments' dtypes, and the dtype the body must yield (nullopt: free, the
// op's result follows the body). Shape rules check bodies against it; passes
// that retype an op's operands (convert-f16) bring its bodies back to it.
struct RegionSignature {
  std::vector<DType> args;
  std::optional<DType> result;
};
absl::StatusOr<RegionSignature> ExpectedRegion(const Operation& op, std::string_view region);

// NumPy broadcast of two static shapes.
absl::StatusOr<std::vector<int64_t>> BroadcastShapes(const std::vector<int64_t>& a,
                                                     const std::vector<int64_t>& b);
// Output extent of a sliding window (conv, pool), PyTorch's formula.
int64_t WindowOutput(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                     bool ceil_mode);
// Is a conv2d / pool op stored channels-last (`layout` "NHWC")? Error for a
// layout other than "NCHW" and "NHWC".
absl::StatusOr<bool> ChannelsLast(const Operation& op);
// The permutations between PyTorch's NCHW order and channels-last NHWC, for
// dims and for OIHW -> OHWI weights alike.
inline constexpr int64_t kToNhwc[4] = {0, 2, 3, 1};
inline constexpr int64_t kToNchw[4] = {0, 3, 1, 2};

// Normalises a possibly negative axis against `rank`; error if out of range.
absl::StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank);

}  // namespace sinter::ir

#endif  // SINTER_IR_SHAPE_RULES_H_
