#include "ir/extent_analysis.h"

#include <cstring>
#include <optional>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "ir/batch_analysis.h"
#include "ir/status_macros.h"
#include "ir/verifier.h"

namespace sinter::ir {
namespace {

// Is `part` the leading block of `whole` (same dtype and rank, each extent
// at most whole's)?
bool LeadingBlockOf(const TensorData& part, const TensorData& whole) {
  const TensorType& a = part.type();
  const TensorType& b = whole.type();
  if (a.dtype != b.dtype || a.shape.rank() != b.shape.rank() || !a.shape.is_static() ||
      !b.shape.is_static())
    return false;
  const std::vector<int64_t> x = a.shape.extents(), y = b.shape.extents();
  const int rank = static_cast<int>(x.size());
  const size_t elem = static_cast<size_t>(DTypeSize(a.dtype));
  for (int d = 0; d < rank; ++d)
    if (x[d] > y[d]) return false;
  if (rank == 0) return part.bytes() == whole.bytes();
  // Row by row of the innermost dim: its first x.back() elements.
  std::vector<int64_t> idx(rank, 0);
  const size_t row = static_cast<size_t>(x.back()) * elem;
  int64_t rows = 1;
  for (int d = 0; d + 1 < rank; ++d) rows *= x[d];
  for (int64_t r = 0; r < rows; ++r) {
    int64_t from = 0, to = 0;
    for (int d = 0; d < rank; ++d) {
      from = from * x[d] + idx[d];
      to = to * y[d] + idx[d];
    }
    if (std::memcmp(part.bytes().data() + from * elem, whole.bytes().data() + to * elem, row) != 0)
      return false;
    for (int d = rank - 2; d >= 0 && ++idx[d] == x[d]; --d) idx[d] = 0;
  }
  return true;
}

// A constant that grows with the extent: rewritten after the walk.
struct Growing {
  Operation* op;
  TensorDataPtr at_max;
  std::vector<int> axes;  // its dims that follow the symbol
};

class Symbolizer {
 public:
  Symbolizer(const std::string& symbol, int64_t p1, int64_t p2, int64_t max)
      : symbol_(symbol), p1_(p1), p2_(p2), max_(max) {}

  absl::Status Refuse(const Operation& op, const std::string& why) const {
    return absl::InvalidArgumentError(
        absl::StrCat("symbol '", symbol_, "': ", OpWhere(op), " ", why));
  }

  // The type over the symbol of a value that is `u` at p1 and `q` at p2.
  absl::StatusOr<TensorType> Type(const TensorType& u, const TensorType& q,
                                  const std::string& what) const {
    if (u == q) return u;
    auto differ = [&](const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat("symbol '", symbol_, "': ", what, " is ",
                                                     ToString(u), " at ", symbol_, " = ", p1_,
                                                     " but ", ToString(q), " at ", p2_, why));
    };
    if (u.dtype != q.dtype || u.shape.rank() != q.shape.rank() || !u.shape.is_static() ||
        !q.shape.is_static()) {
      return differ("");
    }
    std::vector<Dim> dims;
    for (int d = 0; d < u.shape.rank(); ++d) {
      const int64_t a = u.shape[d].extent(), b = q.shape[d].extent();
      if (a == b) {
        dims.push_back(Dim::Static(a));
      } else if (std::optional<Dim> e = Affine(a, b)) {
        dims.push_back(*e);
      } else {
        return differ(absl::StrCat(": its dim ", d, " is computed from ", symbol_,
                                   " other than as k * ", symbol_, " + c (not supported yet)"));
      }
    }
    return TensorType{u.dtype, Shape(std::move(dims))};
  }

  // The dim k * symbol + c that is a at p1 and b at p2 (the symbol; the
  // symbol merged with static dims, T * B; a class token before it, T + 1),
  // k >= 1; nothing for a dim that does not grow with the extent. Two
  // points fit any line: what is not affine in the extent (T * T) is caught
  // when the verifier re-derives each type from the shape rules, which make
  // only such dims of such dims.
  std::optional<Dim> Affine(int64_t a, int64_t b) const {
    const int64_t da = a - b, dp = p1_ - p2_;
    if (dp == 0 || da % dp != 0 || da / dp < 1) return std::nullopt;
    const int64_t k = da / dp;
    int64_t kp;
    if (__builtin_mul_overflow(k, p1_, &kp)) return std::nullopt;
    return Dim::Symbol(symbol_, k, a - kp);
  }
  // The value of dim `d` (static, or over the symbol) at p1 and at p2.
  std::pair<int64_t, int64_t> At(const Dim& d) const {
    if (d.is_static()) return {d.extent(), d.extent()};
    return {d.scale() * p1_ + d.offset(), d.scale() * p2_ + d.offset()};
  }

  // `name` of `u` (the op at p1) differs from `q`'s (at p2): rewritten into
  // what holds at every extent, or refused.
  absl::Status Attribute(Operation& u, const Operation& q, const Operation* m,
                         const std::string& name, std::vector<Growing>* growing) const {
    const ir::Attribute& a = u.attrs().at(name);
    const ir::Attribute& b = q.attrs().at(name);
    if (u.kind() == OpKind::kConst) {
      const TensorDataPtr& x = std::get<TensorDataPtr>(a);
      const TensorDataPtr& y = std::get<TensorDataPtr>(b);
      const TensorDataPtr at_max = m != nullptr && m->kind() == OpKind::kConst && m->HasAttr(name)
                                       ? m->GetTensor(name)
                                       : nullptr;
      std::vector<int> axes;
      bool grows = x && y && at_max && x->type().shape.rank() == at_max->type().shape.rank() &&
                   y->type().shape.rank() == x->type().shape.rank() &&
                   x->type().shape.is_static() && y->type().shape.is_static() &&
                   at_max->type().shape.is_static();
      for (int d = 0; grows && d < x->type().shape.rank(); ++d) {
        const int64_t e1 = x->type().shape[d].extent(), e2 = y->type().shape[d].extent(),
                      em = at_max->type().shape[d].extent();
        if (e1 == p1_ && e2 == p2_ && em == max_) {
          axes.push_back(d);
        } else if (e1 != e2 || e1 != em) {
          grows = false;
        }
      }
      grows = grows && !axes.empty() && LeadingBlockOf(*x, *at_max) && LeadingBlockOf(*y, *at_max);
      if (!grows) {
        return Refuse(u, absl::StrCat("is a constant built from ", symbol_,
                                      " (an arange or a mask of its size) that differs with it, "
                                      "not as the leading block of its value at ",
                                      symbol_, " = ", max_));
      }
      growing->push_back({&u, at_max, std::move(axes)});
      return absl::OkStatus();
    }
    if (u.kind() == OpKind::kReshape && name == "shape") {
      // Each entry that follows the extent becomes -1: one is inferred;
      // several take, in order, x's symbolic axes (`from`), which the
      // shape rule checks keep elements in order.
      std::vector<int64_t> x = std::get<std::vector<int64_t>>(a);
      const std::vector<int64_t>& y = std::get<std::vector<int64_t>>(b);
      if (x.size() != y.size())
        return Refuse(u, absl::StrCat("reshapes to a rank that depends on ", symbol_));
      for (int64_t e : x) {
        if (e == -1) return Refuse(u, absl::StrCat("infers a dim besides ", symbol_));
      }
      // One entry may be a multiple of the extent (view(T * B, E)): the
      // shape rule infers it as `?seq*B`.
      int differ = 0, multiple = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i] == y[i]) continue;
        const std::optional<Dim> e = Affine(x[i], y[i]);
        if (!e)
          return Refuse(u, absl::StrCat("reshapes to a size computed from ", symbol_,
                                        " other than as k * ", symbol_, " + c"));
        multiple += e->scale() > 1;
        x[i] = -1;
        ++differ;
      }
      if (multiple > 0 && differ > 1)
        return Refuse(u, absl::StrCat("reshapes to several sizes computed from ", symbol_,
                                      ", one a multiple of it"));
      std::vector<int64_t> from;
      const Shape& in = u.operand(0)->type().shape;
      for (int d = 0; d < in.rank(); ++d)
        if (!in[d].is_static()) from.push_back(d);
      if (differ == 0 || (differ > 1 && static_cast<size_t>(differ) != from.size()))
        return Refuse(u, absl::StrCat("folds ", symbol_, " into another dimension"));
      u.mutable_attrs()[name] = x;
      if (differ > 1) u.mutable_attrs()["from"] = from;
      return absl::OkStatus();
    }
    if (u.kind() == OpKind::kSlice && (name == "start" || name == "end")) {
      const Shape& in = u.operand(0)->type().shape;
      const int64_t axis = u.GetInt("axis") < 0 ? u.GetInt("axis") + in.rank() : u.GetInt("axis");
      if (axis < 0 || axis >= in.rank() || in[static_cast<int>(axis)].is_static())
        return Refuse(u, absl::StrCat("has a bound computed from ", symbol_, " on another axis"));
      // A bound `extent + c` at both extents counts from the end.
      const int64_t x = std::get<int64_t>(a), y = std::get<int64_t>(b);
      const auto [e1, e2] = At(in[static_cast<int>(axis)]);
      const int64_t c = x - e1;
      if (y - e2 != c || c > 0 || (name == "start" && c == 0))
        return Refuse(u, absl::StrCat("has a bound computed from ", symbol_,
                                      " other than counting from its end"));
      u.mutable_attrs()[name] = c == 0 ? kSliceToEnd : c;
      return absl::OkStatus();
    }
    return Refuse(u, absl::StrCat("has attribute '", name, "' computed from ", symbol_,
                                  " (it differs between ", symbol_, " = ", p1_, " and ", p2_, ")"));
  }

 private:
  const std::string& symbol_;
  int64_t p1_, p2_, max_;
};

}  // namespace

absl::Status SymbolizeExtent(Graph* unit, const Graph& probe, const std::string& symbol, int64_t p1,
                             int64_t p2, const Graph* at_max, int64_t max) {
  const Symbolizer s(symbol, p1, p2, max);
  // The model at the maximum serves only if it is the same program.
  if (at_max != nullptr && at_max->num_ops() != probe.num_ops()) at_max = nullptr;
  std::vector<Growing> growing;
  if (unit->inputs().size() != probe.inputs().size() ||
      unit->outputs().size() != probe.outputs().size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("symbol '", symbol, "': the model's inputs or outputs change with ", symbol));
  }
  std::unordered_map<const Value*, const Value*> to_unit;
  for (size_t i = 0; i < unit->inputs().size(); ++i) {
    Value* u = unit->input(static_cast<int>(i));
    const Value* q = probe.input(static_cast<int>(i));
    ASSIGN_OR_RETURN(TensorType t,
                     s.Type(u->type(), q->type(), absl::StrCat("input ", i, " '", u->name(), "'")));
    u->set_type(std::move(t));
    to_unit[q] = u;
  }
  auto u_it = unit->ops().begin();
  auto m_it = at_max != nullptr ? at_max->ops().begin() : probe.ops().end();
  for (const auto& q_op : probe.ops()) {
    const Operation& q = *q_op;
    const Operation* m = at_max != nullptr ? (m_it++)->get() : nullptr;
    if (m != nullptr && m->kind() != q.kind()) m = nullptr;
    if (u_it == unit->ops().end()) {
      return s.Refuse(q, absl::StrCat("is in the program only at ", symbol, " = ", p2,
                                      ": the model's program depends on ", symbol));
    }
    Operation& u = **u_it;
    ++u_it;
    bool same = u.kind() == q.kind() && u.num_operands() == q.num_operands() &&
                u.num_results() == q.num_results() && u.regions().empty() && q.regions().empty() &&
                u.attrs().size() == q.attrs().size();
    for (int i = 0; same && i < q.num_operands(); ++i) {
      auto it = to_unit.find(q.operand(i));
      same = it != to_unit.end() && it->second == u.operand(i);
    }
    for (const auto& [name, value] : q.attrs()) same = same && u.attrs().count(name) > 0;
    if (!same) {
      return s.Refuse(q, absl::StrCat("is not the op the model gives at ", symbol, " = ", p1,
                                      ": the model's program depends on ", symbol));
    }
    for (const auto& [name, value] : q.attrs()) {
      if (!SameAttribute(u.attrs().at(name), value))
        RETURN_IF_ERROR(s.Attribute(u, q, m, name, &growing));
    }
    for (int r = 0; r < q.num_results(); ++r) {
      ASSIGN_OR_RETURN(TensorType t, s.Type(u.result(r)->type(), q.result(r)->type(),
                                            absl::StrCat("result ", r, " of ", OpWhere(u))));
      u.result(r)->set_type(std::move(t));
      to_unit[q.result(r)] = u.result(r);
    }
  }
  if (u_it != unit->ops().end()) {
    return s.Refuse(**u_it, absl::StrCat("is in the program only at ", symbol, " = ", p1,
                                         ": the model special-cases that size"));
  }
  for (size_t i = 0; i < probe.outputs().size(); ++i) {
    auto it = to_unit.find(probe.outputs()[i]);
    if (it == to_unit.end() || it->second != unit->outputs()[i]) {
      return absl::InvalidArgumentError(absl::StrCat("symbol '", symbol, "': output ", i,
                                                     " is a different value at ", symbol, " = ", p1,
                                                     " than at ", p2));
    }
  }
  // Growing constants: their value at the maximum, cut to the run's extent
  // along each of their symbolic axes by the extent of an input's.
  Value* like = nullptr;
  int like_axis = -1;
  for (const auto& in : unit->inputs()) {
    for (int d = 0; d < in->type().shape.rank() && like == nullptr; ++d) {
      if (!in->type().shape[d].is_static() && in->type().shape[d].symbol() == symbol)
        like = in.get(), like_axis = d;
    }
  }
  for (const Growing& g : growing) {
    if (like == nullptr) return s.Refuse(*g.op, "grows with a symbol no input carries");
    Value* c = g.op->result();
    const std::vector<Operation*> users = c->users();
    g.op->mutable_attrs()["value"] = g.at_max;
    c->set_type(g.at_max->type());
    Builder b(unit, std::next(unit->Position(g.op)));
    b.SetLoc(g.op->loc());
    Value* cut = c;
    for (int axis : g.axes) {
      ASSIGN_OR_RETURN(cut, b.Make(OpKind::kSliceLike, {cut, like},
                                   {{"axis", int64_t{axis}}, {"like_axis", int64_t{like_axis}}}));
    }
    for (Operation* user : users) {
      for (int i = 0; i < user->num_operands(); ++i)
        if (user->operand(i) == c) user->SetOperand(i, cut);
    }
    for (size_t i = 0; i < unit->outputs().size(); ++i)
      if (unit->outputs()[i] == c) unit->SetOutput(static_cast<int>(i), cut);
  }
  // Every type again from the shape rules over the symbol: an op whose rule
  // cannot take it, or a type the probes' coincidence made, stops here.
  if (absl::Status st = Verify(*unit); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("symbol '", symbol, "': ", st.message()));
  }
  return absl::OkStatus();
}

}  // namespace sinter::ir
