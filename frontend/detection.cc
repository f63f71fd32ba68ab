// torchvision's detection ops: roi_align (static shapes: the RoIs' count is
// the boxes tensor's) and nms (its result's size the data decides, so it
// compiles where the model returns it as it is; run_sized.cc).
#include "absl/strings/str_cat.h"
#include "frontend/lowering_helpers.h"
#include "ir/status_macros.h"

namespace sinter::frontend {
namespace {

using ir::OpKind;

// torchvision::roi_align(input, rois, spatial_scale, pooled_height,
// pooled_width, sampling_ratio, aligned)
absl::Status RoiAlign(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * rois, im.Tensor(n, 1));
  ASSIGN_OR_RETURN(double scale, im.Float(n, 2));
  ASSIGN_OR_RETURN(int64_t ph, im.Int(n, 3));
  ASSIGN_OR_RETURN(int64_t pw, im.Int(n, 4));
  ASSIGN_OR_RETURN(int64_t ratio, im.Int(n, 5));
  ASSIGN_OR_RETURN(bool aligned, im.Bool(n, 6));
  ASSIGN_OR_RETURN(ir::Value * y, im.Op(OpKind::kRoiAlign, {x, rois},
                                        {{"pooled_height", ph},
                                         {"pooled_width", pw},
                                         {"spatial_scale", scale},
                                         {"sampling_ratio", ratio},
                                         {"aligned", aligned}}));
  im.Set(n, 0, Val::Tensor(y));
  return absl::OkStatus();
}

// torchvision::nms(boxes, scores, iou_threshold)
absl::Status Nms(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * boxes, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * scores, im.Tensor(n, 1));
  ASSIGN_OR_RETURN(double iou, im.Float(n, 2));
  ASSIGN_OR_RETURN(std::string size, ReturnedSizeSymbol(im, n));
  ASSIGN_OR_RETURN(ir::Value * keep,
                   im.Op(OpKind::kNms, {boxes, scores}, {{"iou_threshold", iou}, {"size", size}}));
  im.Set(n, 0, Val::Tensor(keep));
  return absl::OkStatus();
}

}  // namespace

void AddDetectionLowerings(std::unordered_map<std::string, Lowering>& table) {
  table.emplace("torchvision::roi_align", &RoiAlign);
  table.emplace("torchvision::nms", &Nms);
}

}  // namespace sinter::frontend
