// Ops whose result size the data decides (issue 12, item 3): nonzero,
// argwhere, masked_select and x[mask] compile to the nonzero and
// masked_select ops, whose kernels size their result as they run. Such a
// result may only leave the model today: later kernels would need its run's
// extent, which generated code does not take yet. Where something else reads
// it, `--fallback torch` runs the op and its readers in LibTorch (the
// importer sends it there before any lowering), and without fallback the
// compile stops naming the reader.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "frontend/lowering_helpers.h"
#include "ir/shape_rules.h"
#include "ir/status_macros.h"

namespace sinter::frontend {
namespace {

using ir::OpKind;

// The first node that reads `v` other than to return it from the model
// (through tuple, list and dict constructs, with `containers`); null when
// there is none.
const tj::Node* ReaderOf(const tj::Value* v, bool containers = true) {
  for (const tj::Use& u : v->uses()) {
    const tj::Node* user = u.user;
    const std::string kind = user->kind().toQualString();
    if (kind == "prim::Return") {
      if (user->owningBlock() == user->owningGraph()->block()) continue;
      // An if's branch gives it as the if's result (a branch the importer
      // takes at compile time: torchvision's batched_nms picks one by size).
      const tj::Node* owner = user->owningBlock()->owningNode();
      if (owner != nullptr && owner->kind() == c10::prim::If) {
        if (const tj::Node* r = ReaderOf(owner->outputs().at(u.offset), containers); r != nullptr)
          return r;
        continue;
      }
      return user;
    }
    if (containers && (kind == "prim::TupleConstruct" || kind == "prim::ListConstruct" ||
                       kind == "prim::DictConstruct")) {
      if (const tj::Node* r = ReaderOf(user->output(), containers); r != nullptr) return r;
      continue;
    }
    return user;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::string> ReturnedSizeSymbol(Importer& im, tj::Node* n) {
  if (const tj::Node* r = ReaderOf(n->output()); r != nullptr) {
    const std::string at = Importer::Loc(const_cast<tj::Node*>(r));
    return absl::UnimplementedError(
        im.Error(n, absl::StrCat("its result has a size the data decides, and ",
                                 r->kind().toQualString(), at.empty() ? "" : " at " + at,
                                 " reads it: sinter compiles such a result only where it leaves "
                                 "the model (--fallback torch runs both in LibTorch)"))
            .message());
  }
  return im.NewSizeSymbol();
}

namespace {

// nonzero(x), argwhere(x): i64 [n, rank].
absl::Status Nonzero(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(std::string size, ReturnedSizeSymbol(im, n));
  ASSIGN_OR_RETURN(ir::Value * y, im.Op(OpKind::kNonzero, {x}, {{"size", size}}));
  im.Set(n, 0, Val::Tensor(y));
  return absl::OkStatus();
}

// masked_select(x, mask): x and mask broadcast to one shape, then the
// elements where mask holds, flat.
absl::Status MaskedSelect(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * mask, im.Tensor(n, 1));
  if (mask->type().dtype != ir::DType::kBool && mask->type().dtype != ir::DType::kU8)
    return im.Error(n, "masked_select's mask must be bool");
  auto shape = ir::BroadcastShapes(x->type().shape.extents(), mask->type().shape.extents());
  if (!shape.ok()) return im.Error(n, std::string(shape.status().message()));
  // A rank-0 pair selects from one element.
  if (shape->empty()) shape->push_back(1);
  for (ir::Value** v : {&x, &mask}) {
    if ((*v)->type().shape.extents() == *shape) continue;
    if ((*v)->type().shape.rank() == 0) {
      ASSIGN_OR_RETURN(*v, ReshapeOp(im, *v, std::vector<int64_t>(shape->size(), 1)));
    }
    if ((*v)->type().shape.extents() != *shape) {
      ASSIGN_OR_RETURN(*v, im.Op(OpKind::kExpand, {*v}, {{"shape", *shape}}));
    }
  }
  return MaskIndex(im, n, x, mask);
}

}  // namespace

absl::Status MaskIndex(Importer& im, tj::Node* n, ir::Value* x, ir::Value* mask) {
  if (mask->type().dtype == ir::DType::kU8) {
    ASSIGN_OR_RETURN(mask, im.Op(OpKind::kCast, {mask}, {{"to", std::string("bool")}}));
  }
  const std::vector<int64_t> m = mask->type().shape.extents(), xs = x->type().shape.extents();
  if (m.empty() || m.size() > xs.size() || !std::equal(m.begin(), m.end(), xs.begin())) {
    return im.Error(n,
                    absl::StrCat("a mask of shape ", ir::ToString(mask->type()),
                                 " does not index the leading dims of ", ir::ToString(x->type())));
  }
  ASSIGN_OR_RETURN(std::string size, ReturnedSizeSymbol(im, n));
  ASSIGN_OR_RETURN(ir::Value * y, im.Op(OpKind::kMaskedSelect, {x, mask}, {{"size", size}}));
  im.Set(n, 0, Val::Tensor(y));
  return absl::OkStatus();
}

bool OnlyLeavesModel(const tj::Node* n, bool containers) {
  for (const tj::Value* v : n->outputs())
    if (ReaderOf(v, containers) != nullptr) return false;
  return true;
}

void AddRunSizedLowerings(std::unordered_map<std::string, Lowering>& table) {
  table.emplace("aten::nonzero", &Nonzero);
  table.emplace("aten::argwhere", &Nonzero);
  table.emplace("aten::masked_select", &MaskedSelect);
}

}  // namespace sinter::frontend
