#include "ir/extent_analysis.h"

#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "ir/verifier.h"

namespace sinter::ir {
namespace {

std::string Where(const Operation& op) {
  std::string s = absl::StrCat("'", std::string(op.name()), "'");
  if (!op.loc().empty()) absl::StrAppend(&s, " at ", op.loc());
  return s;
}

bool SameAttribute(const Attribute& a, const Attribute& b) {
  if (a.index() != b.index()) return false;
  if (const auto* t = std::get_if<TensorDataPtr>(&a)) {
    const TensorDataPtr& u = std::get<TensorDataPtr>(b);
    return *t == u || (*t && u && (*t)->type() == u->type() && (*t)->bytes() == u->bytes());
  }
  return a == b;
}

class Symbolizer {
 public:
  Symbolizer(const std::string& symbol, int64_t p1, int64_t p2)
      : symbol_(symbol), p1_(p1), p2_(p2) {}

  absl::Status Refuse(const Operation& op, const std::string& why) const {
    return absl::InvalidArgumentError(
        absl::StrCat("symbol '", symbol_, "': ", Where(op), " ", why));
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
      } else if (a == p1_ && b == p2_) {
        dims.push_back(Dim::Symbol(symbol_));
      } else {
        return differ(absl::StrCat(": its dim ", d, " is computed from ", symbol_,
                                   " (arithmetic on the symbol is not supported yet)"));
      }
    }
    return TensorType{u.dtype, Shape(std::move(dims))};
  }

  // `name` of `u` (the op at p1) differs from `q`'s (at p2): rewritten into
  // what holds at every extent, or refused.
  absl::Status Attribute(Operation& u, const Operation& q, const std::string& name) const {
    const ir::Attribute& a = u.attrs().at(name);
    const ir::Attribute& b = q.attrs().at(name);
    if (u.kind() == OpKind::kConst) {
      return Refuse(u, absl::StrCat("is a constant built from ", symbol_,
                                    " (an arange or a mask of its size), which differs with it"));
    }
    if (u.kind() == OpKind::kReshape && name == "shape") {
      std::vector<int64_t> x = std::get<std::vector<int64_t>>(a);
      const std::vector<int64_t>& y = std::get<std::vector<int64_t>>(b);
      int at = -1;
      for (size_t i = 0; i < x.size() && x.size() == y.size(); ++i) {
        if (x[i] == y[i]) continue;
        if (x[i] != p1_ || y[i] != p2_ || at >= 0)
          return Refuse(u, absl::StrCat("folds ", symbol_, " into another dimension"));
        at = static_cast<int>(i);
      }
      if (at < 0) return Refuse(u, absl::StrCat("reshapes to a rank that depends on ", symbol_));
      for (int64_t e : x) {
        if (e == -1) return Refuse(u, absl::StrCat("infers a dim besides ", symbol_));
      }
      x[static_cast<size_t>(at)] = -1;  // the symbol (InferRunSizedReshape)
      u.mutable_attrs()[name] = x;
      return absl::OkStatus();
    }
    if (u.kind() == OpKind::kSlice && (name == "start" || name == "end")) {
      const Shape& in = u.operand(0)->type().shape;
      const int64_t axis = u.GetInt("axis") < 0 ? u.GetInt("axis") + in.rank() : u.GetInt("axis");
      if (axis < 0 || axis >= in.rank() || in[static_cast<int>(axis)].is_static())
        return Refuse(u, absl::StrCat("has a bound computed from ", symbol_, " on another axis"));
      // A bound `extent + c` at both extents counts from the end.
      const int64_t x = std::get<int64_t>(a), y = std::get<int64_t>(b);
      const int64_t c = x - p1_;
      if (y - p2_ != c || c > 0 || (name == "start" && c == 0))
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
  int64_t p1_, p2_;
};

}  // namespace

absl::Status SymbolizeExtent(Graph* unit, const Graph& probe, const std::string& symbol, int64_t p1,
                             int64_t p2) {
  const Symbolizer s(symbol, p1, p2);
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
  for (const auto& q_op : probe.ops()) {
    const Operation& q = *q_op;
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
      if (!SameAttribute(u.attrs().at(name), value)) RETURN_IF_ERROR(s.Attribute(u, q, name));
    }
    for (int r = 0; r < q.num_results(); ++r) {
      ASSIGN_OR_RETURN(TensorType t, s.Type(u.result(r)->type(), q.result(r)->type(),
                                            absl::StrCat("result ", r, " of ", Where(u))));
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
  // Every type again from the shape rules over the symbol: an op whose rule
  // cannot take it, or a type the probes' coincidence made, stops here.
  if (absl::Status st = Verify(*unit); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("symbol '", symbol, "': ", st.message()));
  }
  return absl::OkStatus();
}

}  // namespace sinter::ir
