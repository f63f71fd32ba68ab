// The TorchScript importer: loading, freezing, and the partial evaluator that
// walks the frozen graph (see importer.h for the approach).
#include "frontend/importer.h"

#include <torch/csrc/jit/api/module.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <tuple>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "frontend/fallback.h"
#include "frontend/lowering_helpers.h"
#include "frontend/plugin_ops.h"
#include "frontend/torchscript.h"
#include "frontend/torchvision_ops.h"
#include "ir/extent_analysis.h"
#include "ir/shape_rules.h"
#include "ir/status_macros.h"

namespace sinter::frontend {

namespace {

constexpr int64_t kMaxLoopTrips = 100000;

}  // namespace

absl::StatusOr<ir::DType> FromScalarType(c10::ScalarType t) {
  switch (t) {
    case c10::kFloat:
      return ir::DType::kF32;
    case c10::kHalf:
      return ir::DType::kF16;
    case c10::kBFloat16:
      return ir::DType::kBF16;
    case c10::kDouble:
      return ir::DType::kF64;
    case c10::kLong:
      return ir::DType::kI64;
    case c10::kInt:
      return ir::DType::kI32;
    case c10::kChar:
      return ir::DType::kI8;
    case c10::kByte:
      return ir::DType::kU8;
    case c10::kBool:
      return ir::DType::kBool;
    default:
      return absl::UnimplementedError(absl::StrCat("tensor dtype ", c10::toString(t)));
  }
}

absl::StatusOr<Val> FromIValue(Importer& im, const c10::IValue& v) {
  if (v.isNone()) return Val::None();
  if (v.isBool()) return Val::Bool(v.toBool());
  if (v.isInt()) return Val::Int(v.toInt());
  if (v.isDouble()) return Val::Float(v.toDouble());
  if (v.isString()) return Val::Str(v.toStringRef());
  if (v.isDevice()) {
    Val d = Val::Str(v.toDevice().str());
    d.kind = Val::Kind::kDevice;
    return d;
  }
  if (v.isTensor()) {
    at::Tensor t = v.toTensor().detach().contiguous().cpu();
    ASSIGN_OR_RETURN(ir::DType dtype, FromScalarType(t.scalar_type()));
    // Models run in float32; a float64 constant (a Python float turned into a
    // tensor) is narrowed rather than dragging f64 through the graph.
    if (dtype == ir::DType::kF64) {
      t = t.to(c10::kFloat);
      dtype = ir::DType::kF32;
    }
    std::vector<uint8_t> bytes(t.nbytes());
    if (!bytes.empty()) std::memcpy(bytes.data(), t.data_ptr(), bytes.size());
    ir::TensorType type{dtype, ir::Shape::Of(t.sizes().vec())};
    return Val::Tensor(im.b().Constant(std::make_shared<ir::TensorData>(type, std::move(bytes))));
  }
  if (v.isList() || v.isTuple()) {
    std::vector<Val> items;
    if (v.isTuple()) {
      for (const c10::IValue& e : v.toTupleRef().elements()) {
        ASSIGN_OR_RETURN(Val x, FromIValue(im, e));
        items.push_back(std::move(x));
      }
    } else {
      for (const c10::IValue& e : v.toListRef()) {
        ASSIGN_OR_RETURN(Val x, FromIValue(im, e));
        items.push_back(std::move(x));
      }
    }
    return Val::Seq(v.isTuple() ? Val::Kind::kTuple : Val::Kind::kList, std::move(items));
  }
  if (v.isGenericDict()) {
    Val d = Val::Dict();
    for (const auto& e : v.toGenericDict()) {
      ASSIGN_OR_RETURN(Val k, FromIValue(im, e.key()));
      ASSIGN_OR_RETURN(Val x, FromIValue(im, e.value()));
      d.keys->push_back(std::move(k));
      d.items->push_back(std::move(x));
    }
    return d;
  }
  if (v.isObject()) {
    // A module attribute that freezing kept because forward() writes to it
    // (torchvision's detectors set `self._has_warned`), or a TorchScript
    // class instance: an object, as prim::CreateObject makes, from
    // attribute name to value.
    const c10::intrusive_ptr<c10::ivalue::Object> obj = v.toObject();
    const c10::ClassTypePtr type = obj->type();
    Val d = Val::Dict();
    for (size_t i = 0; i < type->numAttributes(); ++i) {
      ASSIGN_OR_RETURN(Val x, FromIValue(im, obj->getSlot(i)));
      d.keys->push_back(Val::Str(type->getAttributeName(i)));
      d.items->push_back(std::move(x));
    }
    return d;
  }
  return absl::UnimplementedError(absl::StrCat("constant of type ", v.tagKind()));
}

std::string Importer::Loc(tj::Node* n) {
  auto flc = n->sourceRange().file_line_col();
  if (!flc) return "";
  std::filesystem::path p(std::get<0>(*flc));
  std::string file = p.parent_path().filename().string();
  file = file.empty() ? p.filename().string() : file + "/" + p.filename().string();
  return absl::StrCat(file, ":", std::get<1>(*flc));
}

absl::Status Importer::Error(tj::Node* n, const std::string& msg) {
  std::string loc = Loc(n);
  return absl::InvalidArgumentError(
      absl::StrCat(n->kind().toQualString(), loc.empty() ? "" : " at " + loc, ": ", msg));
}

absl::StatusOr<ir::Value*> Importer::Op(ir::OpKind k, const std::vector<ir::Value*>& in,
                                        ir::AttributeMap attrs) {
  auto v = b_.Make(k, in, std::move(attrs));
  if (!v.ok() && current_ != nullptr) return Error(current_, std::string(v.status().message()));
  return v;
}

absl::StatusOr<ir::Value*> Importer::Tensor(tj::Node* n, size_t i) {
  const Val& v = In(n, i);
  if (!v.is(Val::Kind::kTensor)) return Error(n, absl::StrCat("operand ", i, " is not a tensor"));
  return v.tensor;
}

absl::StatusOr<ir::Value*> Importer::OptTensor(tj::Node* n, size_t i) {
  if (IsNone(n, i)) return nullptr;
  return Tensor(n, i);
}

absl::StatusOr<int64_t> Importer::Int(tj::Node* n, size_t i) {
  const Val& v = In(n, i);
  if (v.is(Val::Kind::kInt) || v.is(Val::Kind::kBool)) return v.i;
  return Error(n, absl::StrCat("operand ", i, " is not a compile-time integer"));
}

absl::StatusOr<double> Importer::Float(tj::Node* n, size_t i) {
  const Val& v = In(n, i);
  if (v.is_number()) return v.number();
  return Error(n, absl::StrCat("operand ", i, " is not a compile-time number"));
}

absl::StatusOr<bool> Importer::Bool(tj::Node* n, size_t i) {
  const Val& v = In(n, i);
  if (v.is(Val::Kind::kBool) || v.is(Val::Kind::kInt)) return v.i != 0;
  return Error(n, absl::StrCat("operand ", i, " is not a compile-time bool"));
}

absl::StatusOr<std::vector<int64_t>> Importer::Ints(tj::Node* n, size_t i) {
  const Val& v = In(n, i);
  if (v.is(Val::Kind::kInt)) return std::vector<int64_t>{v.i};
  if (!v.is(Val::Kind::kList) && !v.is(Val::Kind::kTuple)) {
    return Error(n, absl::StrCat("operand ", i, " is not a compile-time int list"));
  }
  std::vector<int64_t> out;
  for (const Val& e : *v.items) {
    if (!e.is(Val::Kind::kInt)) return Error(n, absl::StrCat("operand ", i, " has a non-int item"));
    out.push_back(e.i);
  }
  return out;
}

ir::Value* Importer::Scalar(double v, ir::DType dtype) {
  std::vector<uint8_t> bytes(ir::DTypeSize(dtype));
  switch (dtype) {
    case ir::DType::kI64: {
      int64_t x = static_cast<int64_t>(v);
      std::memcpy(bytes.data(), &x, 8);
      break;
    }
    case ir::DType::kI32: {
      int32_t x = static_cast<int32_t>(v);
      std::memcpy(bytes.data(), &x, 4);
      break;
    }
    case ir::DType::kBool:
    case ir::DType::kU8:
      bytes[0] = static_cast<uint8_t>(v != 0);
      break;
    default: {
      float x = static_cast<float>(v);
      std::memcpy(bytes.data(), &x, 4);
      dtype = ir::DType::kF32;
      break;
    }
  }
  return b_.Constant(
      std::make_shared<ir::TensorData>(ir::TensorType{dtype, ir::Shape()}, std::move(bytes)));
}

absl::StatusOr<ir::Value*> Importer::TensorOrScalar(tj::Node* n, size_t i, ir::Value* like) {
  const Val& v = In(n, i);
  // PyTorch's promotion: a 0-dim tensor or a number of the same or a lower
  // category (bool < integer < float) than the tensor operand takes its
  // dtype; one of a higher category wins, as its category's default dtype
  // (arange(n) + 0.5 is f32): Promote does that for the 0-dim tensor made.
  const ir::DType to = like->type().dtype;
  if (v.is(Val::Kind::kTensor)) {
    const ir::DType from = v.tensor->type().dtype;
    if (from != to && v.tensor->type().shape.rank() == 0 && Category(from) <= Category(to))
      return Op(ir::OpKind::kCast, {v.tensor}, {{"to", std::string(ir::DTypeName(to))}});
    return v.tensor;
  }
  if (v.is(Val::Kind::kFloat) && Category(to) < 2) return Scalar(v.number(), ir::DType::kF32);
  if (v.is(Val::Kind::kInt) && Category(to) < 1) return Scalar(v.number(), ir::DType::kI64);
  if (v.is_number()) return Scalar(v.number(), to);
  return Error(n, absl::StrCat("operand ", i, " is neither a tensor nor a number"));
}

void Importer::Unsupported(tj::Node* n, const std::string& kind) {
  Miss& m = unsupported_[kind];
  if (m.count++ == 0) {
    std::string loc = Loc(n);
    // Nodes LibTorch made itself (freezing, inlined builtins) may have no
    // source, and text() does not check.
    const tj::SourceRange& range = n->sourceRange();
    std::string text;
    if (range.source() != nullptr && range.end() <= range.source()->size() &&
        range.start() <= range.end()) {
      text = range.text().str();
    }
    text = text.substr(0, text.find('\n'));
    if (text.size() > 80) text = text.substr(0, 77) + "...";
    m.first = loc.empty() ? text : loc + (text.empty() ? "" : ": " + text);
  }
  for (size_t i = 0; i < n->outputs().size(); ++i) Set(n, i, Val());
}

namespace {

// aten ops whose tensor result may share storage with input 0.
bool IsViewOp(const std::string& kind) {
  static const auto* kViews = new std::unordered_set<std::string>{
      "aten::view",      "aten::reshape",   "aten::flatten",  "aten::select",     "aten::slice",
      "aten::transpose", "aten::permute",   "aten::t",        "aten::unsqueeze",  "aten::squeeze",
      "aten::expand",    "aten::expand_as", "aten::narrow",   "aten::contiguous", "aten::detach",
      "aten::alias",     "aten::view_as",   "aten::unflatten"};
  return kViews->count(kind) != 0;
}

}  // namespace

void Importer::RecordViews(tj::Node* n, const std::string& kind) {
  if (!IsViewOp(kind) || n->inputs().empty() || n->outputs().empty()) return;
  const tj::Value* base = n->inputs()[0];
  auto it = root_.find(base);
  const tj::Value* root = it == root_.end() ? base : it->second;
  if (aliases_[root].empty()) aliases_[root].push_back(root);
  root_[n->outputs()[0]] = root;
  aliases_[root].push_back(n->outputs()[0]);
  view_of_[n->outputs()[0]] = n;
}

// An in-place op rebinds only its own operand, so it is exact unless another
// value sharing storage with that operand (a view of it, or its base) is read
// after the op: that reader would expect to see the mutation.
bool Importer::AliasReadLater(tj::Node* n) {
  const tj::Value* target = n->inputs()[0];
  auto it = root_.find(target);
  const tj::Value* root = it == root_.end() ? target : it->second;
  auto members = aliases_.find(root);
  if (members == aliases_.end()) return false;
  for (const tj::Value* v : members->second) {
    if (v == target) continue;
    for (const tj::Use& u : v->uses()) {
      if (n->isBefore(u.user)) return true;
    }
  }
  return false;
}

namespace {

std::vector<int64_t> InversePerm(const std::vector<int64_t>& perm) {
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int64_t>(i);
  return inv;
}

}  // namespace

// A value the import could not compute, or a container holding one.
static bool Poisoned(const Val& v) {
  if (v.is(Val::Kind::kPoison)) return true;
  if (v.is(Val::Kind::kList) || v.is(Val::Kind::kTuple) || v.is(Val::Kind::kDict)) {
    for (const Val& e : *v.items)
      if (Poisoned(e)) return true;
  }
  return false;
}

absl::Status Importer::PropagateWrite(tj::Node* n, const tj::Value* target, Val updated) {
  if (!updated.is(Val::Kind::kTensor)) return absl::UnimplementedError("a non-tensor result");
  auto it = root_.find(target);
  const tj::Value* root = it == root_.end() ? target : it->second;
  // Up the chain: each view's parent gets the child's new value scattered in.
  const tj::Value* cur = target;
  ir::Value* value = updated.tensor;
  while (cur != root) {
    tj::Node* view = view_of_.at(cur);
    const tj::Value* parent = view->inputs()[0];
    const Val& old = vals_[parent];
    if (!old.is(Val::Kind::kTensor)) return absl::UnimplementedError("a view of a non-tensor");
    ir::Value* base = old.tensor;
    const std::string kind = view->kind().toQualString();
    const std::vector<int64_t> shape = base->type().shape.extents();
    if (kind == "aten::slice" || kind == "aten::select" || kind == "aten::narrow") {
      ASSIGN_OR_RETURN(int64_t dim, Int(view, 1));
      ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(dim, base->type().shape.rank()));
      const int64_t len = shape[axis];
      int64_t b = 0, e = 0;
      ir::Value* piece = value;
      if (kind == "aten::select") {
        ASSIGN_OR_RETURN(b, Int(view, 2));
        if (b < 0) b += len;
        e = b + 1;
        std::vector<int64_t> s = value->type().shape.extents();
        s.insert(s.begin() + axis, 1);
        ASSIGN_OR_RETURN(piece, ReshapeOp(*this, value, s));
      } else if (kind == "aten::narrow") {
        ASSIGN_OR_RETURN(b, Int(view, 2));
        ASSIGN_OR_RETURN(int64_t length, Int(view, 3));
        if (b < 0) b += len;
        e = b + length;
      } else {
        int64_t start = 0, end = INT64_MAX, step = 1;
        if (!IsNone(view, 2)) {
          ASSIGN_OR_RETURN(start, Int(view, 2));
        }
        if (!IsNone(view, 3)) {
          ASSIGN_OR_RETURN(end, Int(view, 3));
        }
        ASSIGN_OR_RETURN(step, Int(view, 4));
        if (step != 1) return absl::UnimplementedError("a write into a strided slice");
        std::tie(b, e) = ClampSlice(start, end, len);
      }
      std::vector<ir::Value*> parts;
      if (b > 0) {
        ASSIGN_OR_RETURN(ir::Value * head, SliceOp(*this, base, axis, 0, b, 1));
        parts.push_back(head);
      }
      if (e > b) parts.push_back(piece);
      if (e < len) {
        ASSIGN_OR_RETURN(ir::Value * tail, SliceOp(*this, base, axis, e, len, 1));
        parts.push_back(tail);
      }
      if (parts.size() == 1) {
        value = parts[0];
      } else {
        ASSIGN_OR_RETURN(value, Op(ir::OpKind::kConcat, parts, {{"axis", axis}}));
      }
    } else if (kind == "aten::transpose" || kind == "aten::t") {
      const int64_t r = base->type().shape.rank();
      int64_t a = r - 2, c = r - 1;
      if (kind == "aten::transpose") {
        ASSIGN_OR_RETURN(a, Int(view, 1));
        ASSIGN_OR_RETURN(c, Int(view, 2));
      }
      if (r >= 2) {
        ASSIGN_OR_RETURN(value, TransposeOp(*this, value, a, c));
      }
    } else if (kind == "aten::permute") {
      ASSIGN_OR_RETURN(std::vector<int64_t> perm, Ints(view, 1));
      const int64_t r = base->type().shape.rank();
      for (int64_t& p : perm) p = p < 0 ? p + r : p;
      ASSIGN_OR_RETURN(value, Op(ir::OpKind::kTranspose, {value}, {{"perm", InversePerm(perm)}}));
    } else if (kind == "aten::expand" || kind == "aten::expand_as") {
      return absl::UnimplementedError("a write into an expanded (broadcast) view");
    } else {
      // The reshaping views (view, reshape, flatten, unflatten, squeeze,
      // unsqueeze, view_as) and the identities (contiguous, detach, alias):
      // the same elements in the same order.
      if (value->type().shape.extents() != shape) {
        ASSIGN_OR_RETURN(value, ReshapeOp(*this, value, shape));
      }
    }
    cur = parent;
  }
  vals_[root] = Val::Tensor(value);
  vals_[target] = updated;
  // Every other alias again from the new root, in the order they were made
  // (a view's parent is made before it).
  for (const tj::Value* a : aliases_[root]) {
    if (a == root || a == target) continue;
    tj::Node* view = view_of_.at(a);
    const std::string kind = view->kind().toQualString();
    Lowering f = nullptr;
    if (auto l = AtenLowerings().find(kind); l != AtenLowerings().end()) f = l->second;
    if (f == nullptr) return absl::UnimplementedError("a view sinter cannot replay: " + kind);
    tj::Node* saved = current_;
    current_ = view;
    absl::Status st = f(*this, view);
    current_ = saved;
    RETURN_IF_ERROR(st);
  }
  (void)n;
  return absl::OkStatus();
}

c10::ScalarType ToScalarType(ir::DType d) {
  switch (d) {
    case ir::DType::kF32:
      return c10::kFloat;
    case ir::DType::kF16:
      return c10::kHalf;
    case ir::DType::kBF16:
      return c10::kBFloat16;
    case ir::DType::kF64:
      return c10::kDouble;
    case ir::DType::kI64:
      return c10::kLong;
    case ir::DType::kI32:
      return c10::kInt;
    case ir::DType::kI8:
      return c10::kChar;
    case ir::DType::kU8:
      return c10::kByte;
    case ir::DType::kBool:
      return c10::kBool;
  }
  return c10::kFloat;
}

// A constant IR value as a LibTorch tensor, or nothing for a run-time value.
std::optional<at::Tensor> ConstTensor(const ir::Value* v) {
  const ir::Operation* def = v->def();
  if (def == nullptr || def->kind() != ir::OpKind::kConst) return std::nullopt;
  const ir::TensorData& d = *def->GetTensor("value");
  at::Tensor t =
      at::empty(d.type().shape.extents(), at::TensorOptions().dtype(ToScalarType(d.type().dtype)));
  if (!d.bytes().empty()) std::memcpy(t.data_ptr(), d.bytes().data(), d.bytes().size());
  return t;
}

// A compile-time value as the IValue of TorchScript type `type`; nothing
// when it cannot be one (a run-time tensor, a poisoned value).
std::optional<c10::IValue> ToIValue(const Val& v, const c10::TypePtr& type) {
  using K = Val::Kind;
  switch (v.kind) {
    case K::kNone:
      return c10::IValue();
    case K::kInt:
      return c10::IValue(v.i);
    case K::kFloat:
      return c10::IValue(v.f);
    case K::kBool:
      return c10::IValue(v.i != 0);
    case K::kStr:
      return c10::IValue(v.s);
    case K::kDevice:
      return c10::IValue(c10::Device(v.s));
    case K::kTensor: {
      std::optional<at::Tensor> t = ConstTensor(v.tensor);
      if (!t) return std::nullopt;
      return c10::IValue(*t);
    }
    case K::kList:
    case K::kTuple: {
      c10::TypePtr elem = c10::AnyType::get();
      if (auto l = type->cast<c10::ListType>()) elem = l->getElementType();
      // A generic schema (`t[] data` of aten::tensor) gets the items' own
      // type, as TorchScript infers it: ops like aten::tensor read it.
      if (v.is(K::kList) && !v.items->empty() &&
          (elem->kind() == c10::TypeKind::VarType || elem->kind() == c10::TypeKind::AnyType)) {
        auto all = [&](K k) {
          return std::all_of(v.items->begin(), v.items->end(),
                             [&](const Val& e) { return e.is(k); });
        };
        if (all(K::kInt)) {
          elem = c10::IntType::get();
        } else if (all(K::kFloat)) {
          elem = c10::FloatType::get();
        } else if (all(K::kBool)) {
          elem = c10::BoolType::get();
        } else if (all(K::kTensor)) {
          elem = c10::TensorType::get();
        }
      }
      std::vector<c10::IValue> items;
      for (const Val& e : *v.items) {
        std::optional<c10::IValue> x = ToIValue(e, elem);
        if (!x) return std::nullopt;
        items.push_back(std::move(*x));
      }
      if (v.is(K::kTuple)) return c10::IValue(c10::ivalue::Tuple::create(std::move(items)));
      c10::impl::GenericList list(elem);
      for (c10::IValue& x : items) list.push_back(std::move(x));
      return c10::IValue(list);
    }
    case K::kDict: {
      c10::TypePtr key = c10::AnyType::get(), value = c10::AnyType::get();
      if (auto d = type->cast<c10::DictType>()) {
        key = d->getKeyType();
        value = d->getValueType();
      }
      c10::impl::GenericDict dict(key, value);
      for (size_t i = 0; i < v.items->size(); ++i) {
        std::optional<c10::IValue> k = ToIValue((*v.keys)[i], key);
        std::optional<c10::IValue> x = ToIValue((*v.items)[i], value);
        if (!k || !x) return std::nullopt;
        dict.insert_or_assign(std::move(*k), std::move(*x));
      }
      return c10::IValue(dict);
    }
    case K::kPoison:
      return std::nullopt;
  }
  return std::nullopt;
}

bool Importer::SmallConstantOperands(tj::Node* n) {
  constexpr int64_t kSmall = 64;  // elements: shapes and scales, not weights
  // Integer tensors (index arithmetic: an anchor grid's int32
  // `arange(w) * stride`) up to this size fold too: the runtime computes only
  // i64 add, sub, mul, max and min, so without folding here only the
  // optimising passes could (not -O0).
  constexpr int64_t kIndexTensor = int64_t{1} << 20;
  bool tensor = false, small = true, integer = false;
  for (size_t i = 0; i < n->inputs().size(); ++i) {
    const Val& v = In(n, i);
    if (!v.is(Val::Kind::kTensor)) continue;
    const ir::Operation* def = v.tensor->def();
    if (def == nullptr || def->kind() != ir::OpKind::kConst) return false;
    const int64_t elements = v.tensor->type().shape.NumElements().value_or(kIndexTensor + 1);
    if (elements > kIndexTensor) return false;
    small &= elements <= kSmall;
    integer |= !ir::IsFloat(v.tensor->type().dtype) && v.tensor->type().dtype != ir::DType::kBool;
    tensor = true;
  }
  return tensor && (small || integer);
}

absl::StatusOr<bool> Importer::EvalWithTorch(tj::Node* n) {
  if (n->isNondeterministic() || n->kind().is_prim() || !n->maybeOperator()) return false;
  const c10::FunctionSchema* schema = n->maybeSchema();
  if (schema == nullptr || schema->is_mutable()) return false;
  torch::jit::Stack stack;
  for (size_t i = 0; i < n->inputs().size(); ++i) {
    std::optional<c10::IValue> iv = ToIValue(In(n, i), n->inputs()[i]->type());
    if (!iv) return false;
    stack.push_back(std::move(*iv));
  }
  try {
    n->getOperation()(stack);
  } catch (const std::exception& e) {
    return Error(n, absl::StrCat("LibTorch fails on its constant operands: ", e.what()));
  }
  if (stack.size() != n->outputs().size()) return false;
  std::vector<Val> results;
  for (const c10::IValue& r : stack) {
    absl::StatusOr<Val> v = FromIValue(*this, r);
    if (!v.ok()) return false;  // a result sinter cannot hold: unsupported
    results.push_back(*std::move(v));
  }
  for (size_t o = 0; o < results.size(); ++o) Set(n, o, std::move(results[o]));
  return true;
}

absl::Status Importer::EvalConstant(tj::Node* n) {
  auto iv = tj::toIValue(n->output());
  if (!iv) {
    Unsupported(n, "prim::Constant");
    return absl::OkStatus();
  }
  auto v = FromIValue(*this, *iv);
  if (!v.ok()) {
    Unsupported(n, absl::StrCat("prim::Constant (", v.status().message(), ")"));
    return absl::OkStatus();
  }
  Set(n, 0, std::move(v).value());
  return absl::OkStatus();
}

namespace {

// Why a branch cannot be if-converted (it raises, or changes a list or dict
// that outlives it); empty when it can.
std::string NotConvertible(tj::Block* b) {
  static const std::unordered_set<std::string> mutating = {
      "aten::append", "aten::_set_item", "aten::insert",     "aten::pop",
      "aten::clear",  "aten::extend",    "aten::remove",     "aten::setdefault",
      "aten::update", "aten::reverse",   "aten::__setitem__"};
  for (tj::Node* m : b->nodes()) {
    const std::string k = m->kind().toQualString();
    if (k == "prim::RaiseException") return "a branch raises an exception";
    if (mutating.count(k)) return absl::StrCat("a branch changes a list or dict (", k, ")");
    for (tj::Block* sub : m->blocks()) {
      if (std::string why = NotConvertible(sub); !why.empty()) return why;
    }
  }
  return "";
}

bool SameVal(const Val& a, const Val& b) {
  return a.kind == b.kind && a.tensor == b.tensor && a.i == b.i &&
         (a.f == b.f || (a.f != a.f && b.f != b.f)) && a.s == b.s && a.items == b.items &&
         a.keys == b.keys;
}

}  // namespace

// where(cond, a, b) for what two branches left in one place: tensors of one
// type meet in a select; anything else must be the same in both.
absl::StatusOr<Val> Importer::SelectVal(ir::Value* cond, const Val& a, const Val& b) {
  if (SameVal(a, b)) return a;
  if (Poisoned(a) || Poisoned(b)) return Val();
  if (a.is(Val::Kind::kTensor) && b.is(Val::Kind::kTensor)) {
    if (a.tensor->type() != b.tensor->type()) {
      return absl::UnimplementedError(absl::StrCat("the branches give ", ToString(a.tensor->type()),
                                                   " and ", ToString(b.tensor->type())));
    }
    ASSIGN_OR_RETURN(ir::Value * v, b_.Make(ir::OpKind::kWhere, {cond, a.tensor, b.tensor}));
    return Val::Tensor(v);
  }
  if (a.is(Val::Kind::kTuple) && b.is(Val::Kind::kTuple) && a.items->size() == b.items->size()) {
    std::vector<Val> items;
    for (size_t i = 0; i < a.items->size(); ++i) {
      ASSIGN_OR_RETURN(Val v, SelectVal(cond, (*a.items)[i], (*b.items)[i]));
      items.push_back(std::move(v));
    }
    return Val::Seq(Val::Kind::kTuple, std::move(items));
  }
  if (a.is_number() && b.is_number() && a.kind == b.kind && a.number() == b.number()) return a;
  // A number against a tensor (`a and b` is an if giving b or False): the
  // number as a tensor like the other.
  if (a.is(Val::Kind::kTensor) != b.is(Val::Kind::kTensor) && (a.is_number() || b.is_number())) {
    const Val& t = a.is(Val::Kind::kTensor) ? a : b;
    const Val& num = a.is(Val::Kind::kTensor) ? b : a;
    const ir::TensorType& type = t.tensor->type();
    if (type.shape.is_static()) {
      const Val filled = Val::Tensor(Fill(*this, type.shape.extents(), type.dtype, num.number()));
      return a.is(Val::Kind::kTensor) ? SelectVal(cond, a, filled) : SelectVal(cond, filled, b);
    }
  }
  return absl::UnimplementedError("the branches give values other than tensors that differ");
}

// prim::If on a value known only at run time (a one-element tensor, as
// `if x.sum() > 0:` gives): if-converted. Both branches are lowered, and
// their results, and the outer values a branch rebinds (an in-place op),
// meet in where(cond, then, else). Exact for branches of tensor code, which
// have no side effects, at the price of computing both; refused for a branch
// that raises, changes a list, or gives a result of another type than the
// other's. Region ops that run one branch only are the dynamic-shapes
// issue's item 4, still to come.
absl::Status Importer::EvalRunTimeIf(tj::Node* n, ir::Value* cond) {
  for (tj::Block* b : n->blocks()) {
    if (std::string why = NotConvertible(b); !why.empty()) {
      Unsupported(n, absl::StrCat("prim::If on a value known only at run time (", why, ")"));
      for (size_t i = 0; i < n->outputs().size(); ++i) Set(n, i, Val());
      return absl::OkStatus();
    }
  }
  if (cond->type().dtype != ir::DType::kBool) {
    ASSIGN_OR_RETURN(cond, Op(ir::OpKind::kNe, {cond, Scalar(0, cond->type().dtype)}));
  }
  if (cond->type().shape.rank() != 0) {
    ASSIGN_OR_RETURN(cond, Op(ir::OpKind::kReshape, {cond}, {{"shape", std::vector<int64_t>{}}}));
  }
  const std::unordered_map<const tj::Value*, Val> before = vals_;
  std::vector<Val> results[2];
  std::unordered_map<const tj::Value*, Val> rebound[2];
  for (int arm = 0; arm < 2; ++arm) {
    vals_ = before;
    tj::Block* b = n->blocks().at(arm);
    RETURN_IF_ERROR(EvalBlock(b));
    for (const tj::Value* o : b->outputs()) results[arm].push_back(vals_[o]);
    for (const auto& [v, val] : before) {
      if (const Val& now = vals_[v]; !SameVal(now, val)) rebound[arm][v] = now;
    }
  }
  vals_ = before;
  for (int arm = 0; arm < 2; ++arm) {
    for (const auto& [v, val] : rebound[arm]) {
      auto other = rebound[1 - arm].find(v);
      const Val& a = arm == 0 ? val : (other != rebound[0].end() ? other->second : before.at(v));
      const Val& b = arm == 1 ? val : (other != rebound[1].end() ? other->second : before.at(v));
      absl::StatusOr<Val> merged = SelectVal(cond, a, b);
      if (!merged.ok()) {
        return Error(n, absl::StrCat("prim::If on a value known only at run time: a value both "
                                     "branches may change: ",
                                     merged.status().message()));
      }
      vals_[v] = *merged;
    }
  }
  for (size_t i = 0; i < n->outputs().size(); ++i) {
    absl::StatusOr<Val> merged = SelectVal(cond, results[0].at(i), results[1].at(i));
    if (!merged.ok()) {
      return absl::UnimplementedError(
          Error(n, absl::StrCat("prim::If on a value known only at run time: result ", i, ": ",
                                merged.status().message()))
              .message());
    }
    Set(n, i, *merged);
  }
  return absl::OkStatus();
}

absl::Status Importer::EvalIf(tj::Node* n) {
  const Val& c = In(n, 0);
  if (c.is(Val::Kind::kTensor) && fallback_ == nullptr) return EvalRunTimeIf(n, c.tensor);
  if (!c.is(Val::Kind::kBool) && !c.is(Val::Kind::kInt)) {
    if (!c.is(Val::Kind::kPoison)) Unsupported(n, "prim::If on a value known only at run time");
    for (size_t i = 0; i < n->outputs().size(); ++i) Set(n, i, Val());
    return absl::OkStatus();
  }
  tj::Block* taken = n->blocks().at(c.i ? 0 : 1);
  RETURN_IF_ERROR(EvalBlock(taken));
  RETURN_IF_ERROR(Materialize(taken));
  for (size_t i = 0; i < n->outputs().size(); ++i)
    Transfer(taken->outputs().at(i), n->outputs()[i]);
  return absl::OkStatus();
}

// prim::Loop(max_trips, cond, carried...) with body block (iter, carried...)
// -> (cond, carried...). Unrolled: trip counts are compile-time constants.
absl::Status Importer::EvalLoop(tj::Node* n) {
  const Val& trips = In(n, 0);
  const Val& cond0 = In(n, 1);
  if (!trips.is(Val::Kind::kInt) || !(cond0.is(Val::Kind::kBool) || cond0.is(Val::Kind::kInt))) {
    Unsupported(n, "prim::Loop whose trip count is known only at run time");
    return absl::OkStatus();
  }
  tj::Block* body = n->blocks().at(0);
  // The carried values, by the TorchScript value holding each (a segment's
  // pending value is passed on by Transfer, not as a Val).
  std::vector<const tj::Value*> carried;
  for (size_t i = 2; i < n->inputs().size(); ++i) carried.push_back(n->inputs()[i]);
  bool cond = cond0.i != 0;
  for (int64_t it = 0; cond && it < trips.i; ++it) {
    if (it >= kMaxLoopTrips) return Error(n, "loop runs more than 100000 iterations");
    vals_[body->inputs().at(0)] = Val::Int(it);
    for (size_t i = 0; i < carried.size(); ++i) Transfer(carried[i], body->inputs().at(i + 1));
    RETURN_IF_ERROR(EvalBlock(body));
    RETURN_IF_ERROR(Materialize(body));
    const Val& c = vals_[body->outputs().at(0)];
    if (!c.is(Val::Kind::kBool) && !c.is(Val::Kind::kInt)) {
      Unsupported(n, "prim::Loop whose condition is known only at run time");
      return absl::OkStatus();
    }
    cond = c.i != 0;
    for (size_t i = 0; i < carried.size(); ++i) carried[i] = body->outputs().at(i + 1);
  }
  for (size_t i = 0; i < carried.size(); ++i) Transfer(carried[i], n->outputs()[i]);
  return absl::OkStatus();
}

absl::Status Importer::EvalNode(tj::Node* n) {
  current_ = n;
  b_.SetLoc(Loc(n));
  const std::string kind = n->kind().toQualString();
  if (kind == "prim::Constant") return EvalConstant(n);
  if (fallback_ != nullptr) {
    const std::string base = kind.back() == '_' ? kind.substr(0, kind.size() - 1) : kind;
    const bool lowerable = kind == "prim::If" || kind == "prim::Loop" ||
                           (plugin_ops_ != nullptr && plugin_ops_->Find(kind) != nullptr) ||
                           ScalarLowerings().count(kind) || AtenLowerings().count(kind) ||
                           AtenLowerings().count(base);
    ASSIGN_OR_RETURN(bool to_torch, fallback_->Take(n, lowerable));
    if (to_torch) return absl::OkStatus();
    // A size the data decides, read by later ops: LibTorch runs them all.
    // One the model returns as it is compiles (run_sized.cc); one returned
    // in a container stays in LibTorch, since a torch segment may take the
    // container and would then read the result.
    if (Fallback::DataDependent(*this, n) && !OnlyLeavesModel(n, /*containers=*/false))
      return fallback_->Add(n);
  }
  if (kind == "prim::If") return EvalIf(n);
  if (kind == "prim::Loop") return EvalLoop(n);
  // A value poisoned by an unsupported op upstream poisons what reads it; the
  // root cause is already reported.
  for (size_t i = 0; i < n->inputs().size(); ++i) {
    if (Poisoned(In(n, i)) && kind != "prim::Uninitialized") {
      for (size_t o = 0; o < n->outputs().size(); ++o) Set(n, o, Val());
      // A list that would have taken the value (append, item assignment)
      // holds a poisoned item instead, so whatever reads it is skipped too
      // rather than failing on a missing element.
      const Val& target = In(n, 0);
      if (i > 0 && (target.is(Val::Kind::kList) || target.is(Val::Kind::kDict))) {
        target.items->push_back(Val());
        if (target.keys) target.keys->push_back(Val());
      }
      std::string base = kind.back() == '_' ? kind.substr(0, kind.size() - 1) : kind;
      if (!ScalarLowerings().count(kind) && !AtenLowerings().count(kind) &&
          !AtenLowerings().count(base)) {
        Unsupported(n, kind);
      }
      return absl::OkStatus();
    }
  }
  if (kind == "prim::RaiseException") {
    std::string msg = NumIn(n) > 0 && In(n, 0).is(Val::Kind::kStr) ? In(n, 0).s : "";
    return Error(
        n, "the model raises an exception for these inputs" + (msg.empty() ? "" : ": " + msg));
  }
  if (plugin_ops_ != nullptr) {
    if (const PluginOps::Ref* ref = plugin_ops_->Find(kind)) return LowerPluginOp(*this, n, *ref);
  }
  // Arithmetic on small constant tensors (image sizes, scales: what a
  // detector's transform computes before `.item()` reads a number back) is
  // LibTorch's own, at compile time, so the numbers are known; weights stay
  // for sinter's passes to fold.
  if (SmallConstantOperands(n)) {
    ASSIGN_OR_RETURN(bool folded, EvalWithTorch(n));
    if (folded) return absl::OkStatus();
  }
  // aten::add and friends mean tensor math when a tensor is involved and
  // Python arithmetic otherwise; the operands decide which table lowers them.
  bool has_tensor = false;
  for (size_t i = 0; i < n->inputs().size(); ++i) has_tensor |= In(n, i).is(Val::Kind::kTensor);
  const auto& first = has_tensor ? AtenLowerings() : ScalarLowerings();
  const auto& second = has_tensor ? ScalarLowerings() : AtenLowerings();
  // In-place variants (`relu_`, `add_`) lower like their out-of-place op;
  // then the mutated operand is rebound so later readers see the result.
  const bool in_place = kind.size() > 2 && kind.back() == '_' && kind[kind.size() - 2] != '_';
  for (const std::string& k : in_place
                                  ? std::vector<std::string>{kind, kind.substr(0, kind.size() - 1)}
                                  : std::vector<std::string>{kind}) {
    Lowering f = nullptr;
    if (auto it = first.find(k); it != first.end())
      f = it->second;
    else if (auto it2 = second.find(k); it2 != second.end())
      f = it2->second;
    if (f == nullptr) continue;
    if (absl::Status st = f(*this, n); !st.ok()) {
      // A form of the op sinter does not compile (x[i, j] with two index
      // tensors): with partial compilation it runs in LibTorch instead.
      // What the lowering made before it stopped is dead (DCE); lowerings
      // check before they change a list or a binding.
      if (fallback_ == nullptr) return st;
      if (absl::Status fb = fallback_->Add(n); !fb.ok()) {
        return absl::Status(
            st.code(),
            absl::StrCat(st.message(), "\n(nor can LibTorch run it: ", fb.message(), ")"));
      }
      return absl::OkStatus();
    }
    RecordViews(n, kind);
    if (in_place && !n->outputs().empty() && !n->inputs().empty()) {
      if (AliasReadLater(n)) {
        // A view of the target, or its base, is read later: carry the write
        // to all of them.
        if (absl::Status st = PropagateWrite(n, n->inputs()[0], vals_[n->outputs()[0]]); !st.ok()) {
          Unsupported(n,
                      absl::StrCat(kind, " (in-place write through a view: ", st.message(), ")"));
          return absl::OkStatus();
        }
      }
      Rebind(n, 0, vals_[n->outputs()[0]]);
    }
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(bool folded, EvalWithTorch(n));
  if (folded) return absl::OkStatus();
  if (fallback_ != nullptr) return fallback_->Add(n);
  Unsupported(n, kind);
  return absl::OkStatus();
}

// A block's results leave it as values, not through a node: one that the
// open torch segment computes must be one of its results now.
absl::Status Importer::Materialize(tj::Block* block) {
  if (fallback_ == nullptr) return absl::OkStatus();
  bool pending = false;
  for (const tj::Value* v : block->outputs()) {
    if (!fallback_->Pending(v)) continue;
    // One that cannot leave the segment (a list, a size the data decides)
    // stays in it: Transfer makes what receives it the segment's too.
    if (!fallback_->CanCrossPending(v)) return absl::OkStatus();
    pending = true;
  }
  return pending ? fallback_->Close() : absl::OkStatus();
}

void Importer::Transfer(const tj::Value* from, const tj::Value* to) {
  if (fallback_ != nullptr && fallback_->Pending(from)) {
    fallback_->Alias(from, to);
    vals_[to] = Val();
    return;
  }
  if (fallback_ != nullptr) fallback_->Forget(to);
  vals_[to] = vals_[from];
}

absl::Status Importer::EvalBlock(tj::Block* block) {
  for (tj::Node* n : block->nodes()) {
    // A loop body's nodes run once per iteration: what a segment held for
    // their results last time is not this time's.
    if (fallback_ != nullptr)
      for (const tj::Value* o : n->outputs()) fallback_->Forget(o);
    const size_t ops = graph_->num_ops();
    const size_t events = fallback_ ? fallback_->events().size() : 0;
    RETURN_IF_ERROR(EvalNode(n));
    // For min_block_size: the nodes sinter compiled into IR ops, in order.
    // (Constants make IR ops but no work.)
    if (fallback_ != nullptr && fallback_->events().size() == events && n->blocks().empty() &&
        graph_->num_ops() > ops && n->kind() != c10::prim::Constant) {
      fallback_->events().push_back({n, false});
    }
  }
  return absl::OkStatus();
}

absl::Status Importer::ImportGraph(tj::Graph& g, const c10::IValue& self,
                                   const std::vector<ir::Value*>& inputs,
                                   const std::vector<c10::IValue>& defaults) {
  // inputs()[0] is the module itself: what freezing left of it (attributes
  // forward() writes, and the submodules holding them) as an object.
  ASSIGN_OR_RETURN(vals_[g.inputs()[0]], FromIValue(*this, self));
  // A `List[Tensor]` parameter (torchvision's detectors take `images`
  // so) receives every input shape the other parameters leave: each tensor
  // parameter before and after it takes one, and any optional parameter
  // after it keeps its default.
  for (size_t p = 1; p < g.inputs().size(); ++p) {
    const c10::TypePtr& t = g.inputs()[p]->type();
    const auto list = t->cast<c10::ListType>();
    if (list == nullptr || list->getElementType()->kind() != c10::TypeKind::TensorType) continue;
    const size_t before = p - 1;
    size_t after = 0;  // tensor parameters after it without a default
    const size_t params = g.inputs().size() - 1;
    for (size_t q = p + 1; q < g.inputs().size() && params - (q - 1) > defaults.size(); ++q)
      ++after;
    if (inputs.size() < before + after + 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "forward()'s parameter ", p, " is a List[Tensor]: give it at least one input shape (",
          inputs.size(), " given for ", before + after + 1, " or more)"));
    }
    const size_t n = inputs.size() - before - after;
    std::vector<Val> items;
    for (size_t i = 0; i < n; ++i) items.push_back(Val::Tensor(inputs[before + i]));
    std::vector<ir::Value*> rest(inputs.begin(), inputs.begin() + before);
    rest.insert(rest.end(), inputs.begin() + before + n, inputs.end());
    for (size_t i = 0; i < before; ++i) vals_[g.inputs()[i + 1]] = Val::Tensor(inputs[i]);
    vals_[g.inputs()[p]] = Val::Seq(Val::Kind::kList, std::move(items));
    for (size_t i = 0; i < after; ++i)
      vals_[g.inputs()[p + 1 + i]] = Val::Tensor(inputs[before + n + i]);
    for (size_t i = p + 1 + after; i < g.inputs().size(); ++i) {
      const c10::IValue& d = defaults[defaults.size() - (g.inputs().size() - i)];
      ASSIGN_OR_RETURN(vals_[g.inputs()[i]], FromIValue(*this, d));
    }
    return Finish(g);
  }
  // Arguments past the given inputs take their declared defaults (e.g.
  // `mask=None`).
  if (g.inputs().size() < inputs.size() + 1 ||
      g.inputs().size() - 1 > inputs.size() + defaults.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "forward() takes ",
        g.inputs().size() - 1 - std::min(defaults.size(), g.inputs().size() - 1), " to ",
        g.inputs().size() - 1, " tensor inputs, ", inputs.size(), " input shapes were given"));
  }
  for (size_t i = 0; i < inputs.size(); ++i) vals_[g.inputs()[i + 1]] = Val::Tensor(inputs[i]);
  for (size_t i = inputs.size() + 1; i < g.inputs().size(); ++i) {
    const c10::IValue& d = defaults[defaults.size() - (g.inputs().size() - i)];
    ASSIGN_OR_RETURN(vals_[g.inputs()[i]], FromIValue(*this, d));
  }
  return Finish(g);
}

absl::Status Importer::Finish(tj::Graph& g) {
  absl::Status evaluated = EvalBlock(g.block());
  // An error after an unsupported op is most likely its consequence (the
  // op's results are unknown values): the unsupported ops are reported
  // first, the error after them.
  if (!evaluated.ok() && unsupported_.empty()) return evaluated;
  current_ = nullptr;
  if (fallback_ != nullptr && evaluated.ok()) RETURN_IF_ERROR(fallback_->Close(g.block()));
  if (!unsupported_.empty()) {
    std::vector<std::string> lines;
    for (const auto& [k, m] : unsupported_) {
      lines.push_back(
          absl::StrCat("  ", k, " x", m.count, m.first.empty() ? "" : ", first at " + m.first));
    }
    return absl::UnimplementedError(absl::StrCat(
        "the model uses ", unsupported_.size(), " op kind(s) sinter does not support:\n",
        absl::StrJoin(lines, "\n"),
        evaluated.ok() ? "" : absl::StrCat("\nthen, after them: ", evaluated.message())));
  }
  // Outputs: tensors, flattened out of tuples, lists and dicts in order. A
  // tensor under a string key (segmentation models return {"out": ...})
  // is named by its key path, "out" or "aux"; the others "output<i>".
  struct Pending {
    Val v;
    std::string name;
  };
  std::vector<Pending> pending{{vals_[g.outputs().at(0)], ""}};
  std::vector<std::pair<ir::Value*, std::string>> outs;
  while (!pending.empty()) {
    Pending p = pending.front();
    pending.erase(pending.begin());
    const Val& v = p.v;
    if (v.is(Val::Kind::kTensor)) {
      outs.emplace_back(v.tensor, p.name);
    } else if (v.is(Val::Kind::kTuple) || v.is(Val::Kind::kList) || v.is(Val::Kind::kDict)) {
      std::vector<Pending> items;
      for (size_t i = 0; i < v.items->size(); ++i) {
        std::string name = p.name;
        if (v.is(Val::Kind::kDict)) {
          const Val& key = (*v.keys)[i];
          const std::string part = key.is(Val::Kind::kStr)   ? key.s
                                   : key.is(Val::Kind::kInt) ? std::to_string(key.i)
                                                             : "";
          name = part.empty() ? "" : name.empty() ? part : name + "." + part;
        }
        items.push_back({(*v.items)[i], name});
      }
      pending.insert(pending.begin(), items.begin(), items.end());
    } else if (v.is(Val::Kind::kPoison)) {
      return absl::UnimplementedError(
          absl::StrCat("forward() returns a value that is not known at compile time",
                       p.name.empty() ? "" : " ('" + p.name + "')",
                       fallback_ != nullptr ? " (computed in LibTorch and not taken apart)" : ""));
    } else if (!v.is(Val::Kind::kNone)) {
      return absl::UnimplementedError(absl::StrCat("forward() returns a value that is not a tensor",
                                                   p.name.empty() ? "" : " ('" + p.name + "')"));
    }
  }
  if (outs.empty()) return absl::InvalidArgumentError("forward() returns no tensor");
  std::vector<std::string> names;
  std::unordered_set<std::string> taken;
  for (auto& [v, name] : outs) {
    graph_->AddOutput(v);
    std::string unique = name.empty() ? absl::StrCat("output", names.size()) : name;
    while (!taken.insert(unique).second) unique = absl::StrCat(unique, "_", names.size());
    names.push_back(std::move(unique));
  }
  graph_->SetOutputNames(std::move(names));
  return absl::OkStatus();
}

// A LibTorch message made one readable block: surrounding blank lines and
// any "Exception raised from ..." backtrace dropped; never empty.
std::string LibTorchMessage(std::string what) {
  if (size_t at = what.find("Exception raised from"); at != std::string::npos) what.resize(at);
  size_t b = what.find_first_not_of(" \n\t"), e = what.find_last_not_of(" \n\t");
  return b == std::string::npos ? "(LibTorch gave no message)" : what.substr(b, e - b + 1);
}

namespace {

// The nodes of compiled runs shorter than `min_block` ops, when the model
// has torch segments at all (Torch-TensorRT's min_block_size).
std::vector<const tj::Node*> ShortCompiledRuns(const std::vector<Fallback::Event>& events,
                                               int min_block) {
  std::vector<const tj::Node*> out;
  if (std::none_of(events.begin(), events.end(), [](const auto& e) { return e.torch; })) return out;
  for (size_t i = 0; i < events.size();) {
    size_t j = i;
    while (j < events.size() && !events[j].torch) ++j;
    if (j > i && static_cast<int>(j - i) < min_block) {
      for (size_t k = i; k < j; ++k) out.push_back(events[k].node);
    }
    i = j == i ? i + 1 : j;
  }
  return out;
}

// Torch segments if the nodes `more` went to LibTorch too: runs of torch
// events (an estimate: a segment may also span compiled nodes that do not
// read it).
int SegmentsWith(const std::vector<Fallback::Event>& events,
                 const std::vector<const tj::Node*>& more) {
  std::unordered_set<const tj::Node*> extra(more.begin(), more.end());
  int segments = 0;
  bool in = false;
  for (const Fallback::Event& e : events) {
    const bool torch = e.torch || extra.count(e.node);
    segments += torch && !in;
    in = torch;
  }
  return segments;
}

}  // namespace

namespace {

absl::StatusOr<std::unique_ptr<ir::Graph>> ImportOnce(const std::string& path,
                                                      const ImportOptions& options,
                                                      PartitionSummary* summary) {
  // stat only: opening a FIFO would wait for a writer (and a device may
  // never end), so anything but a regular file is refused before LibTorch
  // opens it.
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status))
    return absl::NotFoundError(absl::StrCat("no such file: ", path));
  if (!std::filesystem::is_regular_file(status))
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not a regular file"));
  for (const std::string& lib : options.torch_libraries) RETURN_IF_ERROR(LoadTorchLibrary(lib));
  PluginOps plugin_ops;
  for (const std::string& plugin : options.plugins) RETURN_IF_ERROR(plugin_ops.Load(plugin));
  tj::Module frozen;
  // Twice at most: a model that calls torchvision's ops (detectors) cannot
  // be deserialised until their library is loaded, which is done then, on
  // demand, so that no other model pays for it.
  for (int attempt = 0;; ++attempt) {
    std::string error;
    try {
      tj::Module m = torch::jit::load(path);
      m.eval();
      // No numerics-changing rewrites (conv-bn folding etc.): sinter's own
      // passes do those, so the imported graph stays the model as written.
      frozen = tj::freeze(m, c10::nullopt, /*optimize_numerics=*/false);
      break;
    } catch (const c10::Error& e) {
      // LibTorch's own message, without its C++ backtrace.
      error = LibTorchMessage(e.what_without_backtrace());
    } catch (const std::exception& e) {
      error = LibTorchMessage(e.what());
    }
    const std::string what = absl::StrCat("LibTorch cannot load '", path, "': ", error);
    if (attempt > 0 || error.find("torchvision::") == std::string::npos)
      return absl::InvalidArgumentError(what);
    if (absl::Status st = LoadTorchvisionOps(); !st.ok()) {
      return absl::Status(
          st.code(), absl::StrCat(what, "\nThe model calls torchvision's ops: ", st.message()));
    }
  }
  for (size_t i = 0; i < options.inputs.size(); ++i) {
    for (int64_t d : options.inputs[i].shape) {
      if (d <= 0)
        return absl::InvalidArgumentError(
            absl::StrCat("input ", i, ": dimensions must be positive"));
    }
  }
  // One import; with partial compilation, repeated while min_block_size
  // sends short compiled runs between torch segments to LibTorch too (a few
  // rounds: each only adds nodes to LibTorch's side).
  std::unordered_set<const tj::Node*> forced;
  std::vector<Fallback::Event> first_events;  // before min_block_size forced any
  try {
    tj::Method forward = frozen.get_method("forward");
    std::shared_ptr<tj::Graph> g = forward.graph()->copy();
    // Trailing arguments with defaults, in order.
    std::vector<c10::IValue> defaults;
    for (const c10::Argument& arg : forward.function().getSchema().arguments()) {
      if (arg.default_value())
        defaults.push_back(*arg.default_value());
      else
        defaults.clear();
    }
    for (int round = 0;; ++round) {
      auto graph = std::make_unique<ir::Graph>();
      std::vector<ir::Value*> inputs;
      for (size_t i = 0; i < options.inputs.size(); ++i) {
        const InputSpec& s = options.inputs[i];
        inputs.push_back(graph->AddInput(ir::TensorType{s.dtype, ir::Shape::Of(s.shape)},
                                         absl::StrCat("input", i)));
      }
      Importer im(graph.get());
      if (!plugin_ops.empty()) im.SetPluginOps(&plugin_ops);
      std::optional<Fallback> fallback;
      if (options.fallback.enabled) {
        fallback.emplace(im, options.fallback, forced);
        im.SetFallback(&*fallback);
      }
      RETURN_IF_ERROR(im.ImportGraph(*g, frozen._ivalue(), inputs, defaults));
      if (!fallback) return graph;
      const std::vector<Fallback::Event>& events = fallback->events();
      if (round == 0) first_events = events;
      const size_t before = forced.size();
      if (round < 4) {
        for (const tj::Node* n : ShortCompiledRuns(events, options.fallback.min_block_size))
          forced.insert(n);
      }
      if (forced.size() != before) continue;
      if (summary != nullptr) {
        *summary = PartitionSummary{};
        summary->torch_segments = fallback->segments();
        summary->min_block_size = options.fallback.min_block_size;
        for (const Fallback::Event& e : events)
          ++(e.torch ? summary->torch_ops : summary->compiled_ops);
        int last = -1;
        for (int m : {1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 30, 50}) {
          const int k = SegmentsWith(first_events, ShortCompiledRuns(first_events, m));
          if (k != last) summary->alternatives.emplace_back(m, k);
          last = k;
        }
      }
      return graph;
    }
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("LibTorch error while importing: ", e.what()));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ir::Graph>> ImportTorchScript(const std::string& path,
                                                             const ImportOptions& options,
                                                             PartitionSummary* summary,
                                                             ir::BatchSymbol* batch) {
  std::vector<int> axes;
  bool dynamic = false, several_axes = false;
  for (size_t i = 0; i < options.inputs.size(); ++i) {
    const InputSpec& s = options.inputs[i];
    if (s.batch_axis >= static_cast<int>(s.shape.size()))
      return absl::InvalidArgumentError(absl::StrCat("input ", i, ": batch axis out of range"));
    for (int a : s.more_axes) {
      if (s.batch_axis < 0 || a < 0 || a >= static_cast<int>(s.shape.size()) || a == s.batch_axis)
        return absl::InvalidArgumentError(absl::StrCat("input ", i, ": bad symbolic axis ", a));
    }
    axes.push_back(s.batch_axis < 0 ? -1 : s.batch_axis);
    dynamic |= s.batch_axis >= 0;
    several_axes |= !s.more_axes.empty();
  }
  if (!dynamic) return ImportOnce(path, options, summary);
  if (batch == nullptr)
    return absl::InvalidArgumentError("a dynamic batch needs a caller that records it");
  if (options.batch_min < 1 || options.batch_max < options.batch_min)
    return absl::InvalidArgumentError(
        absl::StrCat("bad batch range ", options.batch_min, "..", options.batch_max));
  // The model at batch 1 is what is compiled; at the probe batch it shows
  // which axes follow the batch (ir/batch_analysis.h). 3, not 2: fewer
  // coincidences with the small extents models have anyway.
  constexpr int64_t kProbe = 3;
  // Every axis of the symbol at `extent`.
  auto at = [&](int64_t extent) {
    ImportOptions o = options;
    for (InputSpec& s : o.inputs) {
      if (s.batch_axis >= 0) s.shape[s.batch_axis] = extent;
      for (int a : s.more_axes) s.shape[a] = extent;
    }
    return o;
  };
  absl::StatusOr<std::vector<int>> outputs = absl::InvalidArgumentError(
      "the batch cannot run one sample at a time: an input has it on more than one axis");
  if (!several_axes) {
    ASSIGN_OR_RETURN(std::unique_ptr<ir::Graph> graph, ImportOnce(path, at(1), summary));
    ASSIGN_OR_RETURN(std::unique_ptr<ir::Graph> probed, ImportOnce(path, at(kProbe), nullptr));
    outputs = ir::CheckSeparableBatch(*graph, *probed, axes, kProbe);
    if (outputs.ok()) {
      *batch = ir::BatchSymbol{options.batch_symbol, options.batch_min, options.batch_max, axes,
                               *std::move(outputs)};
      return graph;
    }
  }
  // The model mixes values along the symbol (attention over a sequence, a
  // recurrence): then a symbolic extent every kernel takes at run, found
  // from two imports (ir/extent_analysis.h). The probes: two extents in
  // the range, primes where it has them (fewer coincidences with a
  // model's own sizes), the largest (fewer clamps such as min(seq, 64)).
  std::vector<int64_t> probes;
  for (int64_t p :
       {97, 89, 83, 79, 73, 71, 67, 61, 59, 53, 47, 43, 41, 37, 31, 29, 23, 19, 17, 13, 11, 7, 5}) {
    if (p >= options.batch_min && p <= options.batch_max && probes.size() < 2) probes.push_back(p);
  }
  for (int64_t p = options.batch_max; p >= std::max<int64_t>(options.batch_min, 2); --p) {
    if (probes.size() >= 2) break;
    if (std::find(probes.begin(), probes.end(), p) == probes.end()) probes.push_back(p);
  }
  absl::Status symbolic = absl::InvalidArgumentError(absl::StrCat(
      "symbol '", options.batch_symbol, "': its range has fewer than two extents above 1"));
  if (probes.size() == 2) {
    absl::StatusOr<std::unique_ptr<ir::Graph>> g1 = ImportOnce(path, at(probes[0]), summary);
    absl::StatusOr<std::unique_ptr<ir::Graph>> g2 = ImportOnce(path, at(probes[1]), nullptr);
    // LibTorch's message up to its first line (its stack trace follows).
    auto failed_at = [&](int64_t extent, const absl::Status& st) {
      const std::string m(st.message());
      return absl::Status(
          st.code(),
          absl::StrCat("symbol '", options.batch_symbol, "': the model does not import at ",
                       options.batch_symbol, " = ", extent, ": ", m.substr(0, m.find('\n'))));
    };
    symbolic = !g1.ok()   ? failed_at(probes[0], g1.status())
               : !g2.ok() ? failed_at(probes[1], g2.status())
                          : absl::OkStatus();
    // At the maximum too, for constants that grow with the extent (a
    // positional table's rows, a causal mask); where that import fails
    // (LibTorch refuses the length), such constants are refused.
    std::unique_ptr<ir::Graph> at_max;
    absl::Status max_failed;
    if (symbolic.ok()) {
      if (options.batch_max == probes[0]) {
        at_max = (*g1)->Clone();
      } else if (options.batch_max == probes[1]) {
        at_max = (*g2)->Clone();
      } else {
        absl::StatusOr<std::unique_ptr<ir::Graph>> g3 =
            ImportOnce(path, at(options.batch_max), nullptr);
        if (g3.ok()) at_max = *std::move(g3);
        if (!g3.ok()) max_failed = g3.status();
      }
      symbolic = ir::SymbolizeExtent(g1->get(), **g2, options.batch_symbol, probes[0], probes[1],
                                     at_max.get(), options.batch_max);
      // A growing constant is refused without the model at the maximum:
      // say why that import failed (a positional table shorter than it).
      if (!symbolic.ok() && !max_failed.ok()) {
        symbolic = absl::Status(
            symbolic.code(), absl::StrCat(symbolic.message(), " (",
                                          failed_at(options.batch_max, max_failed).message(), ")"));
      }
    }
    if (symbolic.ok()) {
      ir::BatchSymbol b{options.batch_symbol, options.batch_min, options.batch_max, axes,
                        std::vector<int>((*g1)->outputs().size(), -1)};
      b.per_sample = false;
      *batch = std::move(b);
      return *std::move(g1);
    }
  }
  // Neither: both reasons, the per-sample one first (the common case).
  std::string why(symbolic.message());
  const std::string prefix = absl::StrCat("symbol '", options.batch_symbol, "': ");
  if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
  return absl::Status(outputs.status().code(),
                      absl::StrCat(prefix, outputs.status().message(),
                                   "; nor as an extent the kernels take: ", why));
}

}  // namespace sinter::frontend
