// Compile-time evaluation of TorchScript's non-tensor ops: Python numbers,
// strings, lists and tuples, shape queries, and the runtime flags whose value
// is fixed for inference (grad mode off, autocast off, CPU tensors).
// Each row: `// what it computes`, then the lowering.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "frontend/importer.h"
#include "ir/status_macros.h"

namespace sinter::frontend {
namespace {

using K = Val::Kind;

absl::Status SetBool(Importer& im, tj::Node* n, bool v) {
  im.Set(n, 0, Val::Bool(v));
  return absl::OkStatus();
}

bool IsSeq(const Val& v) { return v.is(K::kList) || v.is(K::kTuple); }

// The PyTorch ScalarType code that prim::dtype yields.
int64_t ScalarTypeCode(ir::DType d) {
  switch (d) {
    case ir::DType::kU8:
      return 0;
    case ir::DType::kI8:
      return 1;
    case ir::DType::kI32:
      return 3;
    case ir::DType::kI64:
      return 4;
    case ir::DType::kF16:
      return 5;
    case ir::DType::kF32:
      return 6;
    case ir::DType::kF64:
      return 7;
    case ir::DType::kBool:
      return 11;
    case ir::DType::kBF16:
      return 15;
  }
  return 6;
}

// Equality of compile-time values (numbers, strings, None, lists).
bool Equal(const Val& a, const Val& b) {
  if (a.is_number() && b.is_number()) return a.number() == b.number();
  if ((a.is(K::kStr) || a.is(K::kDevice)) && (b.is(K::kStr) || b.is(K::kDevice))) return a.s == b.s;
  if (a.is(K::kNone) || b.is(K::kNone)) return a.kind == b.kind;
  if (IsSeq(a) && IsSeq(b)) {
    if (a.items->size() != b.items->size()) return false;
    for (size_t i = 0; i < a.items->size(); ++i) {
      if (!Equal((*a.items)[i], (*b.items)[i])) return false;
    }
    return true;
  }
  return false;
}

template <typename F>
absl::Status Arith(Importer& im, tj::Node* n, F f) {
  const Val &a = im.In(n, 0), &b = im.In(n, 1);
  if (!a.is_number() || !b.is_number()) return im.Error(n, "operands are not compile-time numbers");
  bool ints = !a.is(K::kFloat) && !b.is(K::kFloat);
  double r = f(a.number(), b.number());
  im.Set(n, 0, ints ? Val::Int(static_cast<int64_t>(r)) : Val::Float(r));
  return absl::OkStatus();
}

template <typename F>
absl::Status Compare(Importer& im, tj::Node* n, F f) {
  const Val &a = im.In(n, 0), &b = im.In(n, 1);
  if (a.is_number() && b.is_number()) return SetBool(im, n, f(a.number(), b.number()));
  return im.Error(n, "comparison of values that are not compile-time numbers");
}

// a, b = seq
absl::Status Unpack(Importer& im, tj::Node* n) {
  const Val& s = im.In(n, 0);
  if (!IsSeq(s) || s.items->size() != n->outputs().size()) return im.Error(n, "cannot unpack");
  for (size_t i = 0; i < s.items->size(); ++i) im.Set(n, i, (*s.items)[i]);
  return absl::OkStatus();
}

// The position of `key` in dict `d`, or -1.
int64_t Find(const Val& d, const Val& key) {
  for (size_t i = 0; i < d.keys->size(); ++i)
    if (Equal((*d.keys)[i], key)) return static_cast<int64_t>(i);
  return -1;
}

// d[key] = v: replaces the value or appends the key (insertion order).
void Store(const Val& d, const Val& key, Val v) {
  if (int64_t at = Find(d, key); at >= 0) {
    (*d.items)[at] = std::move(v);
  } else {
    d.keys->push_back(key);
    d.items->push_back(std::move(v));
  }
}

// seq[i], negative i from the end; d[key]
absl::Status Index(Importer& im, tj::Node* n) {
  const Val& s = im.In(n, 0);
  if (s.is(K::kDict)) {
    const int64_t at = Find(s, im.In(n, 1));
    if (at < 0) return im.Error(n, "key not in the dict");
    im.Set(n, 0, (*s.items)[at]);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(int64_t i, im.Int(n, 1));
  if (!IsSeq(s)) return im.Error(n, "index into a non-sequence");
  int64_t size = static_cast<int64_t>(s.items->size());
  if (i < 0) i += size;
  if (i < 0 || i >= size) return im.Error(n, "index out of range");
  im.Set(n, 0, (*s.items)[i]);
  return absl::OkStatus();
}

absl::Status Identity(Importer& im, tj::Node* n) {
  im.Set(n, 0, im.In(n, 0));
  return absl::OkStatus();
}

absl::Status False(Importer& im, tj::Node* n) { return SetBool(im, n, false); }

absl::Status Nothing(Importer&, tj::Node*) { return absl::OkStatus(); }

const std::unordered_map<std::string, Lowering>& Table() {
  static const auto* table = new std::unordered_map<std::string, Lowering>{
      // [a, b, ...] and (a, b, ...)
      {"prim::ListConstruct", [](Importer& im, tj::Node* n) {
         std::vector<Val> items;
         for (size_t i = 0; i < im.NumIn(n); ++i) items.push_back(im.In(n, i));
         im.Set(n, 0, Val::Seq(K::kList, std::move(items)));
         return absl::OkStatus();
       }},
      {"prim::TupleConstruct", [](Importer& im, tj::Node* n) {
         std::vector<Val> items;
         for (size_t i = 0; i < im.NumIn(n); ++i) items.push_back(im.In(n, i));
         im.Set(n, 0, Val::Seq(K::kTuple, std::move(items)));
         return absl::OkStatus();
       }},
      {"prim::ListUnpack", &Unpack},
      {"prim::TupleUnpack", &Unpack},
      {"prim::TupleIndex", &Index},
      {"aten::__getitem__", &Index},
      // len(seq)
      {"aten::len", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& s = im.In(n, 0);
         if (IsSeq(s) || s.is(K::kDict)) {
           im.Set(n, 0, Val::Int(static_cast<int64_t>(s.items->size())));
         } else if (s.is(K::kTensor) && s.tensor->type().shape.rank() > 0) {
           // len(tensor): its first extent (static here).
           im.Set(n, 0, Val::Int(s.tensor->type().shape[0].extent()));
         } else if (s.is(K::kStr)) {
           im.Set(n, 0, Val::Int(static_cast<int64_t>(s.s.size())));
         } else {
           return im.Error(n, "len() of a value that is not a sequence");
         }
         return absl::OkStatus();
       }},
      // list(seq): a copy
      {"aten::list", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& s = im.In(n, 0);
         if (!IsSeq(s)) return im.Error(n, "list() of a non-sequence");
         im.Set(n, 0, Val::Seq(K::kList, *s.items));
         return absl::OkStatus();
       }},
      // {k: v, ...}
      {"prim::DictConstruct", [](Importer& im, tj::Node* n) -> absl::Status {
         Val d = Val::Dict();
         for (size_t i = 0; i + 1 < im.NumIn(n); i += 2) Store(d, im.In(n, i), im.In(n, i + 1));
         im.Set(n, 0, d);
         return absl::OkStatus();
       }},
      // TorchScript class instances (torchvision's ImageList): a dict from
      // attribute name to value, shared by every reference as the object is.
      {"prim::CreateObject", [](Importer& im, tj::Node* n) -> absl::Status {
         im.Set(n, 0, Val::Dict());
         return absl::OkStatus();
       }},
      {"prim::SetAttr", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& obj = im.In(n, 0);
         if (!obj.is(K::kDict)) return im.Error(n, "setattr on a value that is not an object");
         Store(obj, Val::Str(n->s(c10::attr::name)), im.In(n, 1));
         return absl::OkStatus();
       }},
      {"prim::GetAttr", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& obj = im.In(n, 0);
         const std::string name = n->s(c10::attr::name);
         if (!obj.is(K::kDict))
           return im.Error(n, "attribute '" + name + "' of a value that is not an object");
         const int64_t at = Find(obj, Val::Str(name));
         if (at < 0) return im.Error(n, "attribute '" + name + "' read before it is set");
         im.Set(n, 0, (*obj.items)[at]);
         return absl::OkStatus();
       }},
      // dict() / OrderedDict(): empty; dict(d): a copy
      {"aten::dict", [](Importer& im, tj::Node* n) -> absl::Status {
         Val d = Val::Dict();
         if (im.NumIn(n) > 0) {
           const Val& s = im.In(n, 0);
           if (s.is(K::kList) || s.is(K::kTuple)) {
             // dict([(key, value), ...]), as OrderedDict(...) scripts.
             for (const Val& pair : *s.items) {
               if (!pair.is(K::kTuple) || pair.items->size() != 2)
                 return im.Error(n, "dict() of a sequence that is not of (key, value) pairs");
               Store(d, (*pair.items)[0], (*pair.items)[1]);
             }
             im.Set(n, 0, d);
             return absl::OkStatus();
           }
           if (!s.is(K::kDict)) return im.Error(n, "dict() of a non-dict");
           *d.keys = *s.keys;
           *d.items = *s.items;
         }
         im.Set(n, 0, d);
         return absl::OkStatus();
       }},
      // d.keys(), d.values(): lists; d.items(): a list of (key, value)
      {"aten::keys", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& d = im.In(n, 0);
         if (!d.is(K::kDict)) return im.Error(n, "keys() of a non-dict");
         im.Set(n, 0, Val::Seq(K::kList, *d.keys));
         return absl::OkStatus();
       }},
      {"aten::values", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& d = im.In(n, 0);
         if (!d.is(K::kDict)) return im.Error(n, "values() of a non-dict");
         im.Set(n, 0, Val::Seq(K::kList, *d.items));
         return absl::OkStatus();
       }},
      {"aten::items", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& d = im.In(n, 0);
         if (!d.is(K::kDict)) return im.Error(n, "items() of a non-dict");
         std::vector<Val> pairs;
         for (size_t i = 0; i < d.items->size(); ++i)
           pairs.push_back(Val::Seq(K::kTuple, {(*d.keys)[i], (*d.items)[i]}));
         im.Set(n, 0, Val::Seq(K::kList, std::move(pairs)));
         return absl::OkStatus();
       }},
      // d.get(key[, default])
      {"aten::get", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& d = im.In(n, 0);
         if (!d.is(K::kDict)) return im.Error(n, "get() of a non-dict");
         const int64_t at = Find(d, im.In(n, 1));
         im.Set(n, 0, at >= 0 ? (*d.items)[at] : im.NumIn(n) > 2 ? im.In(n, 2) : Val::None());
         return absl::OkStatus();
       }},
      // seq[i] = v: mutates the shared list (Python negative indices); d[k] = v
      {"aten::_set_item", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& s = im.In(n, 0);
         if (s.is(K::kDict)) {
           Store(s, im.In(n, 1), im.In(n, 2));
           return absl::OkStatus();  // the dict overload returns nothing
         }
         if (!s.is(K::kList)) return im.Error(n, "item assignment into a non-list");
         ASSIGN_OR_RETURN(int64_t i, im.Int(n, 1));
         const int64_t size = static_cast<int64_t>(s.items->size());
         if (i < 0) i += size;
         if (i < 0 || i >= size) return im.Error(n, "list assignment index out of range");
         (*s.items)[i] = im.In(n, 2);
         if (!n->outputs().empty()) im.Set(n, 0, s);
         return absl::OkStatus();
       }},
      // sum(seq) of numbers
      {"aten::sum", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& s = im.In(n, 0);
         if (!IsSeq(s)) return im.Error(n, "sum() of a non-sequence");
         bool floating = false;
         double total = 0;
         int64_t itotal = 0;
         for (const Val& v : *s.items) {
           if (!v.is_number()) return im.Error(n, "sum() of a non-number");
           floating = floating || v.is(K::kFloat);
           total += v.number();
           itotal += v.i;
         }
         im.Set(n, 0, floating ? Val::Float(total) : Val::Int(itotal));
         return absl::OkStatus();
       }},
      // list.copy(): a new list of the same items
      {"aten::copy", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& s = im.In(n, 0);
         if (!IsSeq(s)) return im.Error(n, "copy() of a non-list");
         im.Set(n, 0, Val::Seq(K::kList, *s.items));
         return absl::OkStatus();
       }},
      // list.append(x): mutates the shared list
      {"aten::append", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& s = im.In(n, 0);
         if (!s.is(K::kList)) return im.Error(n, "append to a non-list");
         s.items->push_back(im.In(n, 1));
         im.Set(n, 0, s);
         return absl::OkStatus();
       }},
      // list.extend(other): its items appended, in order (a copy of them
      // first: `x.extend(x)` doubles x once).
      {"aten::extend", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& s = im.In(n, 0);
         const Val& other = im.In(n, 1);
         if (!s.is(K::kList) || !IsSeq(other)) return im.Error(n, "extend of a non-list");
         const std::vector<Val> items = *other.items;
         s.items->insert(s.items->end(), items.begin(), items.end());
         return absl::OkStatus();
       }},
      // list.insert(i, x): Python's index rules (negative from the end,
      // clamped to the list).
      {"aten::insert", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& s = im.In(n, 0);
         if (!s.is(K::kList)) return im.Error(n, "insert into a non-list");
         ASSIGN_OR_RETURN(int64_t at, im.Int(n, 1));
         const int64_t size = static_cast<int64_t>(s.items->size());
         if (at < 0) at += size;
         at = std::clamp<int64_t>(at, 0, size);
         s.items->insert(s.items->begin() + at, im.In(n, 2));
         return absl::OkStatus();
       }},
      // x is None / x is not None
      {"aten::__is__", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val &a = im.In(n, 0), &b = im.In(n, 1);
         if (a.is(K::kNone) || b.is(K::kNone)) return SetBool(im, n, a.kind == b.kind);
         if (a.is(K::kTensor) && b.is(K::kTensor)) return SetBool(im, n, a.tensor == b.tensor);
         return im.Error(n, "'is' between values other than None and tensors");
       }},
      {"aten::__isnot__", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val &a = im.In(n, 0), &b = im.In(n, 1);
         if (a.is(K::kNone) || b.is(K::kNone)) return SetBool(im, n, a.kind != b.kind);
         if (a.is(K::kTensor) && b.is(K::kTensor)) return SetBool(im, n, a.tensor != b.tensor);
         return im.Error(n, "'is not' between values other than None and tensors");
       }},
      {"aten::__not__", [](Importer& im, tj::Node* n) -> absl::Status {
         // `not` of a condition known only at run time (a tensor, see
         // aten::Bool): x == 0, as bool(x) is x != 0.
         if (const Val& x = im.In(n, 0); x.is(K::kTensor)) {
           ASSIGN_OR_RETURN(ir::Value * y, im.Op(ir::OpKind::kEq,
                                                 {x.tensor, im.Scalar(0, x.tensor->type().dtype)}));
           im.Set(n, 0, Val::Tensor(y));
           return absl::OkStatus();
         }
         ASSIGN_OR_RETURN(bool b, im.Bool(n, 0));
         return SetBool(im, n, !b);
       }},
      {"aten::__and__", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(bool a, im.Bool(n, 0));
         ASSIGN_OR_RETURN(bool b, im.Bool(n, 1));
         return SetBool(im, n, a && b);
       }},
      {"aten::__or__", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(bool a, im.Bool(n, 0));
         ASSIGN_OR_RETURN(bool b, im.Bool(n, 1));
         return SetBool(im, n, a || b);
       }},
      // a == b, a != b on numbers, strings, None and lists
      {"aten::eq", [](Importer& im, tj::Node* n) { return SetBool(im, n, Equal(im.In(n, 0), im.In(n, 1))); }},
      {"aten::ne", [](Importer& im, tj::Node* n) { return SetBool(im, n, !Equal(im.In(n, 0), im.In(n, 1))); }},
      {"aten::lt", [](Importer& im, tj::Node* n) { return Compare(im, n, [](double a, double b) { return a < b; }); }},
      {"aten::le", [](Importer& im, tj::Node* n) { return Compare(im, n, [](double a, double b) { return a <= b; }); }},
      {"aten::gt", [](Importer& im, tj::Node* n) { return Compare(im, n, [](double a, double b) { return a > b; }); }},
      {"aten::ge", [](Importer& im, tj::Node* n) { return Compare(im, n, [](double a, double b) { return a >= b; }); }},
      // Python arithmetic on ints and floats
      {"aten::add", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val &a = im.In(n, 0), &b = im.In(n, 1);
         if (IsSeq(a) && IsSeq(b)) {  // list concatenation
           std::vector<Val> items = *a.items;
           items.insert(items.end(), b.items->begin(), b.items->end());
           im.Set(n, 0, Val::Seq(K::kList, std::move(items)));
           return absl::OkStatus();
         }
         if (a.is(K::kStr) && b.is(K::kStr)) {
           im.Set(n, 0, Val::Str(a.s + b.s));
           return absl::OkStatus();
         }
         return Arith(im, n, [](double x, double y) { return x + y; });
       }},
      {"aten::sub", [](Importer& im, tj::Node* n) { return Arith(im, n, [](double a, double b) { return a - b; }); }},
      {"aten::mul", [](Importer& im, tj::Node* n) -> absl::Status {
         // [a, b] * k (either order): the list repeated, as Python does.
         const Val &a = im.In(n, 0), &b = im.In(n, 1);
         if ((a.is(K::kList) && b.is(K::kInt)) || (a.is(K::kInt) && b.is(K::kList))) {
           const Val& list = a.is(K::kList) ? a : b;
           const int64_t times = a.is(K::kInt) ? a.i : b.i;
           // A compile-time list bigger than this is a hostile model.
           if (times > 0 && static_cast<double>(times) * list.items->size() > (1 << 20))
             return im.Error(n, "a repeated list of more than 2^20 items");
           std::vector<Val> items;
           for (int64_t t = 0; t < times; ++t)
             items.insert(items.end(), list.items->begin(), list.items->end());
           im.Set(n, 0, Val::Seq(K::kList, std::move(items)));
           return absl::OkStatus();
         }
         return Arith(im, n, [](double x, double y) { return x * y; });
       }},
      {"aten::floordiv", [](Importer& im, tj::Node* n) { return Arith(im, n, [](double a, double b) { return std::floor(a / b); }); }},
      {"aten::remainder", [](Importer& im, tj::Node* n) { return Arith(im, n, [](double a, double b) { return a - b * std::floor(a / b); }); }},
      {"aten::div", [](Importer& im, tj::Node* n) -> absl::Status {  // true division: always float
         ASSIGN_OR_RETURN(double a, im.Float(n, 0));
         ASSIGN_OR_RETURN(double b, im.Float(n, 1));
         im.Set(n, 0, Val::Float(a / b));
         return absl::OkStatus();
       }},
      {"aten::pow", [](Importer& im, tj::Node* n) { return Arith(im, n, [](double a, double b) { return std::pow(a, b); }); }},
      {"aten::neg", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& a = im.In(n, 0);
         if (!a.is_number()) return im.Error(n, "neg of a non-number");
         im.Set(n, 0, a.is(K::kFloat) ? Val::Float(-a.f) : Val::Int(-a.i));
         return absl::OkStatus();
       }},
      {"aten::sqrt", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(double a, im.Float(n, 0));
         im.Set(n, 0, Val::Float(std::sqrt(a)));
         return absl::OkStatus();
       }},
      {"aten::floor", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(double a, im.Float(n, 0));
         im.Set(n, 0, Val::Int(static_cast<int64_t>(std::floor(a))));
         return absl::OkStatus();
       }},
      {"aten::ceil", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(double a, im.Float(n, 0));
         im.Set(n, 0, Val::Int(static_cast<int64_t>(std::ceil(a))));
         return absl::OkStatus();
       }},
      {"aten::Int", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(double a, im.Float(n, 0));
         im.Set(n, 0, Val::Int(static_cast<int64_t>(a)));
         return absl::OkStatus();
       }},
      {"aten::Float", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(double a, im.Float(n, 0));
         im.Set(n, 0, Val::Float(a));
         return absl::OkStatus();
       }},
      {"aten::Bool", [](Importer& im, tj::Node* n) -> absl::Status {
         // A one-element tensor known only at run time: a condition that
         // prim::If converts into selects (Importer::EvalRunTimeIf). With
         // partial compilation, LibTorch runs such branches instead.
         const Val& x = im.In(n, 0);
         if (x.is(K::kTensor) && !im.has_fallback() && x.tensor->type().shape.NumElements() == 1) {
           im.Set(n, 0, x);
           return absl::OkStatus();
         }
         ASSIGN_OR_RETURN(double a, im.Float(n, 0));
         return SetBool(im, n, a != 0);
       }},
      // min(a, b) / max(a, b) and over an int list
      {"prim::min", [](Importer& im, tj::Node* n) -> absl::Status {
         if (im.NumIn(n) == 2) return Arith(im, n, [](double a, double b) { return std::min(a, b); });
         ASSIGN_OR_RETURN(auto v, im.Ints(n, 0));
         if (v.empty()) return im.Error(n, "min() of an empty list");
         im.Set(n, 0, Val::Int(*std::min_element(v.begin(), v.end())));
         return absl::OkStatus();
       }},
      {"prim::max", [](Importer& im, tj::Node* n) -> absl::Status {
         if (im.NumIn(n) == 2) return Arith(im, n, [](double a, double b) { return std::max(a, b); });
         ASSIGN_OR_RETURN(auto v, im.Ints(n, 0));
         if (v.empty()) return im.Error(n, "max() of an empty list");
         im.Set(n, 0, Val::Int(*std::max_element(v.begin(), v.end())));
         return absl::OkStatus();
       }},
      // any(bools) / all(bools)
      {"aten::any", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& s = im.In(n, 0);
         if (!IsSeq(s)) return im.Error(n, "any() of a non-sequence");
         bool r = false;
         for (const Val& v : *s.items) r |= v.is_number() && v.number() != 0;
         return SetBool(im, n, r);
       }},
      {"aten::all", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& s = im.In(n, 0);
         if (!IsSeq(s)) return im.Error(n, "all() of a non-sequence");
         bool r = true;
         for (const Val& v : *s.items) r &= v.is_number() && v.number() != 0;
         return SetBool(im, n, r);
       }},
      // x in seq / sub in str
      {"aten::__contains__", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val &s = im.In(n, 0), &x = im.In(n, 1);
         if (s.is(K::kStr) && x.is(K::kStr)) return SetBool(im, n, s.s.find(x.s) != std::string::npos);
         if (s.is(K::kDict)) return SetBool(im, n, Find(s, x) >= 0);
         if (!IsSeq(s)) return im.Error(n, "'in' on a non-sequence");
         bool r = false;
         for (const Val& v : *s.items) r |= Equal(v, x);
         return SetBool(im, n, r);
       }},
      // str.find(sub)
      {"aten::find", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val &s = im.In(n, 0), &x = im.In(n, 1);
         if (!s.is(K::kStr) || !x.is(K::kStr)) return im.Error(n, "find() on non-strings");
         size_t at = s.s.find(x.s);
         im.Set(n, 0, Val::Int(at == std::string::npos ? -1 : static_cast<int64_t>(at)));
         return absl::OkStatus();
       }},
      // str(x): only devices and strings matter for the checks models make
      {"aten::str", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& v = im.In(n, 0);
         im.Set(n, 0, Val::Str(v.is(K::kStr) || v.is(K::kDevice) ? v.s
                               : v.is_number() ? absl::StrCat(v.number()) : "<value>"));
         return absl::OkStatus();
       }},
      // "...".format(...): message text for exceptions and warnings
      {"aten::format", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& f = im.In(n, 0);
         im.Set(n, 0, Val::Str(f.is(K::kStr) ? f.s : ""));
         return absl::OkStatus();
       }},
      {"aten::warn", &Nothing},
      {"prim::Uninitialized", [](Importer& im, tj::Node* n) {
         im.Set(n, 0, Val::None());
         return absl::OkStatus();
       }},
      {"prim::unchecked_cast", &Identity},
      // range() loops: range length and the i-th element
      {"aten::__range_length", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(int64_t lo, im.Int(n, 0));
         ASSIGN_OR_RETURN(int64_t hi, im.Int(n, 1));
         ASSIGN_OR_RETURN(int64_t step, im.Int(n, 2));
         if (step == 0) return im.Error(n, "range() step is zero");
         int64_t len = step > 0 ? (hi > lo ? (hi - lo + step - 1) / step : 0)
                                : (lo > hi ? (lo - hi - step - 1) / -step : 0);
         im.Set(n, 0, Val::Int(len));
         return absl::OkStatus();
       }},
      {"aten::__derive_index", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(int64_t i, im.Int(n, 0));
         ASSIGN_OR_RETURN(int64_t start, im.Int(n, 1));
         ASSIGN_OR_RETURN(int64_t step, im.Int(n, 2));
         im.Set(n, 0, Val::Int(start + i * step));
         return absl::OkStatus();
       }},
      // Inference fixes these: no autograd, no autocast, tensors on the CPU.
      {"aten::is_grad_enabled", &False},
      {"aten::is_autocast_enabled", &False},
      {"aten::is_autocast_cpu_enabled", &False},
      {"prim::requires_grad", &False},
      {"prim::is_cuda", &False},
      {"prim::is_sparse", &False},
      {"prim::is_mkldnn", &False},
      {"prim::is_quantized", &False},
      {"prim::is_meta", &False},
      {"prim::device", [](Importer& im, tj::Node* n) {
         Val d = Val::Str("cpu");
         d.kind = K::kDevice;
         im.Set(n, 0, d);
         return absl::OkStatus();
       }},
      // device.type: "cpu" (the device sinter traces LibTorch's semantics on).
      {"prim::type", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& d = im.In(n, 0);
         if (!d.is(K::kDevice)) return im.Error(n, ".type of something other than a device");
         im.Set(n, 0, Val::Str(d.s));
         return absl::OkStatus();
       }},
      // isinstance(v, T): the value's kind is known at compile time, so is
      // the answer (torchvision's roi_align takes a Tensor or a List[Tensor]).
      {"prim::isinstance", [](Importer& im, tj::Node* n) -> absl::Status {
         const Val& v = im.In(n, 0);
         bool match = false;
         for (const c10::TypePtr& t : n->tys(c10::attr::types)) {
           switch (t->kind()) {
             case c10::TypeKind::TensorType:
               match |= v.is(K::kTensor);
               break;
             case c10::TypeKind::ListType: {
               // List[Tensor] against List[int]: by the first item, if any.
               const c10::TypePtr elem = t->containedTypes().at(0);
               const bool tensors = elem->kind() == c10::TypeKind::TensorType;
               match |= v.is(K::kList) &&
                        (v.items->empty() || (*v.items)[0].is(K::kTensor) == tensors);
               break;
             }
             case c10::TypeKind::AnyListType:
               match |= v.is(K::kList);
               break;
             case c10::TypeKind::AnyTupleType:
             case c10::TypeKind::TupleType:
               match |= v.is(K::kTuple);
               break;
             case c10::TypeKind::DictType:
               match |= v.is(K::kDict);
               break;
             case c10::TypeKind::IntType:
               match |= v.is(K::kInt);
               break;
             case c10::TypeKind::FloatType:
               match |= v.is(K::kFloat);
               break;
             case c10::TypeKind::BoolType:
               match |= v.is(K::kBool);
               break;
             case c10::TypeKind::StringType:
               match |= v.is(K::kStr);
               break;
             case c10::TypeKind::NoneType:
               match |= v.is(K::kNone);
               break;
             default:
               return im.Error(n, "isinstance against " + t->str());
           }
         }
         return SetBool(im, n, match);
       }},
      // Shape queries on tensors.
      {"aten::size", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(ir::Value * t, im.Tensor(n, 0));
         const ir::Shape& s = t->type().shape;
         if (!s.is_static()) return im.Error(n, "size() of a dynamic dimension");
         if (im.NumIn(n) == 1) {
           std::vector<Val> dims;
           for (int64_t e : s.extents()) dims.push_back(Val::Int(e));
           im.Set(n, 0, Val::Seq(K::kList, std::move(dims)));
           return absl::OkStatus();
         }
         ASSIGN_OR_RETURN(int64_t d, im.Int(n, 1));
         if (d < 0) d += s.rank();
         if (d < 0 || d >= s.rank()) return im.Error(n, "dimension out of range");
         im.Set(n, 0, Val::Int(s[static_cast<int>(d)].extent()));
         return absl::OkStatus();
       }},
      {"aten::dim", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(ir::Value * t, im.Tensor(n, 0));
         im.Set(n, 0, Val::Int(t->type().shape.rank()));
         return absl::OkStatus();
       }},
      {"aten::numel", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(ir::Value * t, im.Tensor(n, 0));
         auto e = t->type().shape.NumElements();
         if (!e) return im.Error(n, "numel() of a dynamic shape");
         im.Set(n, 0, Val::Int(*e));
         return absl::OkStatus();
       }},
      {"prim::dtype", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(ir::Value * t, im.Tensor(n, 0));
         im.Set(n, 0, Val::Int(ScalarTypeCode(t->type().dtype)));
         return absl::OkStatus();
       }},
      {"aten::is_floating_point", [](Importer& im, tj::Node* n) -> absl::Status {
         ASSIGN_OR_RETURN(ir::Value * t, im.Tensor(n, 0));
         return SetBool(im, n, ir::IsFloat(t->type().dtype));
       }},
  };
  return *table;
}

}  // namespace

const std::unordered_map<std::string, Lowering>& ScalarLowerings() { return Table(); }

}  // namespace sinter::frontend
