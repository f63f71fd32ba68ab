// Ops whose result size the data decides (issue 12, item 3): nonzero,
// argwhere, where(cond), masked_select and x[mask] compile to the nonzero
// and masked_select ops, whose kernels size their result as they run. Such a
// result may leave the model, and be read by ops whose kernels take the
// run's extents (ops.def kRunExtents: indexing, slicing, concatenation,
// reductions, elementwise ops, linear and matmul, softmax and layer norm,
// transposes and reshapes; the runtime prepares them at each run's
// shapes), whose results are sized by the run in turn. Generated code does
// not take run extents yet, so nothing else may read them: without fallback
// the compile stops naming the reader; with `--fallback torch` an op whose
// result does more than leave the model runs with its readers in LibTorch
// (the importer sends it there before any lowering), as before.
#include <algorithm>
#include <string>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "frontend/lowering_helpers.h"
#include "ir/shape_rules.h"
#include "ir/status_macros.h"

namespace sinter::frontend {
namespace {

using ir::OpKind;

// TorchScript ops that lower to ops taking the run's extents (kRunExtents):
// indexing (by, or of, a size the data decides), slicing and elementwise
// ops. Their results are sized by the run too, so their own readers are
// what counts.
bool TakesRunExtents(const tj::Node* n) {
  static const auto* kinds = new std::unordered_set<std::string>{
      // Indexing and slicing (embedding, reshape, slice), and the list
      // where(cond) makes.
      "aten::index", "aten::slice", "aten::select", "aten::__getitem__", "prim::ListUnpack",
      "prim::TupleUnpack",
      // Elementwise arithmetic, comparisons, selects and casts.
      "aten::add", "aten::sub", "aten::rsub", "aten::mul", "aten::div", "aten::neg", "aten::abs",
      "aten::relu", "aten::sigmoid", "aten::tanh", "aten::exp", "aten::log", "aten::sqrt",
      "aten::clamp", "aten::clamp_min", "aten::clamp_max", "aten::minimum", "aten::maximum",
      "aten::gt", "aten::ge", "aten::lt", "aten::le", "aten::eq", "aten::ne", "aten::where",
      "aten::logical_and", "aten::logical_or", "aten::logical_not", "aten::__and__", "aten::__or__",
      "aten::to", "aten::float", "aten::type_as", "aten::contiguous", "aten::clone", "aten::detach",
      // Concatenations and reductions.
      "aten::cat", "aten::stack", "aten::unbind", "aten::sum", "aten::mean", "aten::amax",
      // Rows through layers: products with weights or each other, and what
      // normalises along a row, transposes and reshapes with one -1.
      "aten::linear", "aten::matmul", "aten::mm", "aten::softmax", "aten::log_softmax",
      "aten::layer_norm", "aten::transpose", "aten::t", "aten::permute", "aten::view",
      "aten::reshape", "aten::gelu", "aten::dropout",
      // What sizes its result as it runs, of what the run sized.
      "aten::nonzero", "aten::argwhere", "aten::masked_select", "torchvision::nms"};
  return kinds->count(n->kind().toQualString()) != 0;
}

// The first node that reads `v` other than to return it from the model
// (through tuple, list and dict constructs, with `containers`; through ops
// taking the run's extents, with `extents`); null when there is none.
const tj::Node* ReaderOf(const tj::Value* v, bool containers = true, bool extents = true) {
  for (const tj::Use& u : v->uses()) {
    const tj::Node* user = u.user;
    const std::string kind = user->kind().toQualString();
    if (kind == "prim::Return") {
      if (user->owningBlock() == user->owningGraph()->block()) continue;
      // An if's branch gives it as the if's result (a branch the importer
      // takes at compile time: torchvision's batched_nms picks one by size).
      const tj::Node* owner = user->owningBlock()->owningNode();
      if (owner != nullptr && owner->kind() == c10::prim::If) {
        if (const tj::Node* r = ReaderOf(owner->outputs().at(u.offset), containers, extents);
            r != nullptr)
          return r;
        continue;
      }
      return user;
    }
    if (containers && (kind == "prim::TupleConstruct" || kind == "prim::ListConstruct" ||
                       kind == "prim::DictConstruct")) {
      if (const tj::Node* r = ReaderOf(user->output(), containers, extents); r != nullptr) return r;
      continue;
    }
    if (extents && TakesRunExtents(user)) {
      for (const tj::Value* o : user->outputs()) {
        if (const tj::Node* r = ReaderOf(o, containers, extents); r != nullptr) return r;
      }
      continue;
    }
    return user;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::string> ReturnedSizeSymbol(Importer& im, tj::Node* n) {
  RETURN_IF_ERROR(CheckRunSizedReaders(im, n));
  return im.NewSizeSymbol();
}

absl::Status CheckRunSizedReaders(Importer& im, tj::Node* n) {
  if (const tj::Node* r = ReaderOf(n->output()); r != nullptr) {
    const std::string at = Importer::Loc(const_cast<tj::Node*>(r));
    return absl::UnimplementedError(
        im.Error(n, absl::StrCat("its result has a size the data decides, and ",
                                 r->kind().toQualString(), at.empty() ? "" : " at " + at,
                                 " reads it: sinter compiles such a result only where it leaves "
                                 "the model, or is indexed, sliced, computed on elementwise or "
                                 "by layers taking rows (--fallback torch runs both "
                                 "in LibTorch)"))
            .message());
  }
  return absl::OkStatus();
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
  if (!x->type().shape.is_static() || !mask->type().shape.is_static()) {
    // Sizes the data decides broadcast by the shape rule's own terms (a
    // symbol meets only itself): the mask must be x's shape already.
    if (x->type().shape != mask->type().shape)
      return im.Error(n, "masked_select of a size the data decides with a mask of another shape");
    return MaskIndex(im, n, x, mask);
  }
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

absl::Status WhereIndices(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * cond, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(std::string size, ReturnedSizeSymbol(im, n));
  ASSIGN_OR_RETURN(ir::Value * nz, im.Op(OpKind::kNonzero, {cond}, {{"size", size}}));
  std::vector<Val> columns;
  for (int d = 0; d < cond->type().shape.rank(); ++d) {
    ASSIGN_OR_RETURN(ir::Value * c, SelectOp(im, nz, 1, d));
    columns.push_back(Val::Tensor(c));
  }
  im.Set(n, 0, Val::Seq(Val::Kind::kList, std::move(columns)));
  return absl::OkStatus();
}

absl::Status MaskIndex(Importer& im, tj::Node* n, ir::Value* x, ir::Value* mask) {
  if (mask->type().dtype == ir::DType::kU8) {
    ASSIGN_OR_RETURN(mask, im.Op(OpKind::kCast, {mask}, {{"to", std::string("bool")}}));
  }
  const std::vector<ir::Dim>&m = mask->type().shape.dims(), &xs = x->type().shape.dims();
  if (m.empty() || m.size() > xs.size() || !std::equal(m.begin(), m.end(), xs.begin())) {
    return im.Error(n,
                    absl::StrCat("a mask of shape ", ir::ToString(mask->type()),
                                 " does not index the leading dims of ", ir::ToString(x->type())));
  }
  RETURN_IF_ERROR(CheckRunSizedReaders(im, n));
  const std::string size = im.MaskSizeSymbol(mask);
  ASSIGN_OR_RETURN(ir::Value * y, im.Op(OpKind::kMaskedSelect, {x, mask}, {{"size", size}}));
  im.Set(n, 0, Val::Tensor(y));
  return absl::OkStatus();
}

bool OnlyLeavesModel(const tj::Node* n, bool containers) {
  for (const tj::Value* v : n->outputs())
    if (ReaderOf(v, containers, /*extents=*/false) != nullptr) return false;
  return true;
}

namespace {

// Whether every element of index tensor `v` is >= 0 by how it was made:
// nonzero's and nms's results, what slices, reshapes or gathers from them
// keep, and constants. Python's negative indices count from the end, which
// of a size the data decides would need its extent.
bool KnownNonNegative(const ir::Value* v) {
  const ir::Operation* def = v->def();
  if (def == nullptr) return false;
  const OpKind k = def->kind();
  if (k == OpKind::kNonzero || k == OpKind::kNms) return true;
  if (k == OpKind::kSlice || k == OpKind::kReshape || k == OpKind::kEmbedding)
    return KnownNonNegative(def->operand(0));
  if (k != OpKind::kConst) return false;
  const ir::TensorData& d = *def->GetTensor("value");
  if (d.type().dtype != ir::DType::kI64) return false;
  const int64_t n = d.type().shape.NumElements().value_or(-1);
  for (int64_t i = 0; i < n; ++i)
    if (d.data<int64_t>()[i] < 0) return false;
  return n >= 0;
}

}  // namespace

absl::StatusOr<ir::Value*> RunSizedIndex(Importer& im, tj::Node* n, ir::Value* x, int64_t dim,
                                         ir::Value* idx) {
  const ir::Shape& xs = x->type().shape;
  if (dim != 0 || xs.rank() == 0)
    return im.Error(n, "indexing along a dim other than the first by a size the data decides");
  for (int d = 1; d < xs.rank(); ++d) {
    if (!xs[d].is_static())
      return im.Error(n, "indexing a tensor sized by the run off its first dim");
  }
  if (idx->type().dtype != ir::DType::kI64) return im.Error(n, "index tensors must be int64");
  if (!KnownNonNegative(idx)) {
    return im.Error(n,
                    "an index tensor of a size the data decides, or indexing one, needs "
                    "indices known to be >= 0 (from nonzero or nms): a negative one counts "
                    "from the end");
  }
  // x as a table [rows, rest], its rows gathered, the other dims restored.
  std::vector<int64_t> other;
  int64_t rest = 1;
  for (int d = 1; d < xs.rank(); ++d) {
    other.push_back(xs[d].extent());
    rest *= xs[d].extent();
  }
  const int64_t rows = xs[0].is_static() ? xs[0].extent() : -1;
  ir::Value* table = x;
  if (xs.rank() != 2) {
    ASSIGN_OR_RETURN(table, ReshapeOp(im, x, {rows, rest}));
  }
  ASSIGN_OR_RETURN(ir::Value * y, im.Op(OpKind::kEmbedding, {table, idx}));
  if (xs.rank() == 2) return y;
  std::vector<int64_t> out;
  for (const ir::Dim& d : idx->type().shape.dims()) out.push_back(d.is_static() ? d.extent() : -1);
  out.insert(out.end(), other.begin(), other.end());
  return ReshapeOp(im, y, out);
}

void AddRunSizedLowerings(std::unordered_map<std::string, Lowering>& table) {
  table.emplace("aten::nonzero", &Nonzero);
  table.emplace("aten::argwhere", &Nonzero);
  table.emplace("aten::masked_select", &MaskedSelect);
}

}  // namespace sinter::frontend
