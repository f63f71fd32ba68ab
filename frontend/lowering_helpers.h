// IR-building helpers shared by the lowering rows: small compositions
// (Python-style slicing, select, split, reductions over any axes) that
// several aten ops and the transformer decompositions need.
#ifndef SINTER_FRONTEND_LOWERING_HELPERS_H_
#define SINTER_FRONTEND_LOWERING_HELPERS_H_

#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/importer.h"

namespace sinter::frontend {

// A constant tensor filled with `value`.
ir::Value* Fill(Importer& im, const std::vector<int64_t>& shape, ir::DType dtype, double value);
absl::StatusOr<ir::DType> DTypeFromCode(int64_t scalar_type);

// PyTorch's type promotion of two operands of a binary op: operands of
// different categories (bool < integer < float) meet at the higher one, a
// rank-0 operand giving way to a tensor of its own category (x * a float
// scalar tensor stays x's dtype); both come back cast to the result dtype.
absl::Status Promote(Importer& im, ir::Value** a, ir::Value** b);
// PyTorch's dtype categories: bool 0, integers 1, floating point 2.
int Category(ir::DType d);

absl::StatusOr<ir::Value*> ReshapeOp(Importer& im, ir::Value* x, const std::vector<int64_t>& shape);
absl::StatusOr<ir::Value*> TransposeOp(Importer& im, ir::Value* x, int64_t a, int64_t b);
// Python slice bounds clamped to [0, size]: returns [begin, end).
std::pair<int64_t, int64_t> ClampSlice(int64_t start, int64_t end, int64_t size);
absl::StatusOr<ir::Value*> SliceOp(Importer& im, ir::Value* x, int64_t dim, int64_t start,
                                   int64_t end, int64_t step);
absl::StatusOr<ir::Value*> SelectOp(Importer& im, ir::Value* x, int64_t dim, int64_t index);
absl::StatusOr<std::vector<ir::Value*>> SplitOp(Importer& im, ir::Value* x, int64_t axis,
                                                int64_t size);
// Reduction over any set of axes (the reduce ops take one contiguous run).
absl::StatusOr<ir::Value*> ReduceAxes(Importer& im, ir::Value* x, ir::OpKind kind,
                                      std::vector<int64_t> axes, bool keepdim);
// layer_norm over the trailing `normalized_rank` dims; null weight/bias mean 1/0.
absl::StatusOr<ir::Value*> LayerNormOp(Importer& im, ir::Value* x, int64_t normalized_rank,
                                       ir::Value* w, ir::Value* b, double eps);

// Decompositions of PyTorch's fused transformer fast paths (transformer.cc).
absl::Status LowerTransformerEncoderLayer(Importer& im, tj::Node* n);
absl::Status LowerNativeMultiHeadAttention(Importer& im, tj::Node* n);
absl::Status NestedFromMask(Importer& im, tj::Node* n);
absl::Status ToPaddedTensor(Importer& im, tj::Node* n);
// GRU unrolled into linear and elementwise ops (recurrent.cc).
absl::Status LowerGru(Importer& im, tj::Node* n);
// conv3d and the 3-D pools as 2-D ops over frames (volumetric.cc).
void AddVolumetricLowerings(std::unordered_map<std::string, Lowering>& table);
// Sizes the data decides (run_sized.cc): nonzero, argwhere, masked_select,
// and x[mask] for a mask over x's leading dims (MaskIndex, from aten::index).
// They compile where their result leaves the model (OnlyLeavesModel:
// returned, directly or, with `containers`, in a tuple, list or dict) or
// is read only by ops that take the run's extents (indexing, slicing,
// concatenation, reductions, elementwise ops; run_sized.cc lists them).
void AddRunSizedLowerings(std::unordered_map<std::string, Lowering>& table);
absl::Status MaskIndex(Importer& im, tj::Node* n, ir::Value* x, ir::Value* mask);
// where(cond) alone: nonzero's columns, one index tensor per dim of cond.
absl::Status WhereIndices(Importer& im, tj::Node* n);
// A fresh symbol for the size of n's result, or why it cannot be compiled
// (a later op reads it).
absl::StatusOr<std::string> ReturnedSizeSymbol(Importer& im, tj::Node* n);
// Only the check: every reader of n's result takes the run's extents.
absl::Status CheckRunSizedReaders(Importer& im, tj::Node* n);
// torchvision::roi_align and torchvision::nms (detection.cc).
void AddDetectionLowerings(std::unordered_map<std::string, Lowering>& table);
bool OnlyLeavesModel(const tj::Node* n, bool containers);
// x[idx] along dim 0 where x or the integer index tensor idx has a size the
// data decides: rows gathered by embedding, whose kernel takes the run's
// extents.
absl::StatusOr<ir::Value*> RunSizedIndex(Importer& im, tj::Node* n, ir::Value* x, int64_t dim,
                                         ir::Value* idx);

}  // namespace sinter::frontend

#endif  // SINTER_FRONTEND_LOWERING_HELPERS_H_
