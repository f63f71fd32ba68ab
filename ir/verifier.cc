// The verifier: one walk over the ops in order, checking each against its
// op-table row, then the use lists and the outputs. See ir/verifier.h.
#include "ir/verifier.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/printer.h"
#include "ir/status_macros.h"

namespace sinter::ir {
namespace {

// A type the text form can carry and shape arithmetic can trust: extents
// non-negative, symbols identifiers, the byte size of a static shape in int64.
std::string TypeProblem(const TensorType& t) {
  for (const Dim& d : t.shape.dims()) {
    if (d.is_static() && d.extent() < 0) return "has a negative dimension";
    if (!d.is_static() && !IsIdentifier(d.symbol())) return "has an invalid symbol name";
    if (!d.is_static() && d.scale() < 1) return "has a symbol's multiple below 1";
  }
  if (t.shape.is_static() && !t.ByteSize()) return "is too large";
  return "";
}

class Verifier {
 public:
  explicit Verifier(const Graph& g) : g_(g), namer_(g) {}

  absl::Status Run() {
    // Every value and op of the graph, so nothing outside it is dereferenced.
    for (const auto& in : g_.inputs()) values_.insert(in.get());
    for (const auto& op : g_.ops()) {
      ops_.insert(op.get());
      for (int i = 0; i < op->num_results(); ++i) values_.insert(op->result(i));
    }

    for (size_t i = 0; i < g_.inputs().size(); ++i) {
      const Value* in = g_.inputs()[i].get();
      if (in == nullptr) return absl::InternalError(absl::StrCat("graph input ", i, " is null"));
      if (in->def() != nullptr || in->index() != static_cast<int>(i)) {
        return absl::InternalError(
            absl::StrCat("graph input ", namer_.Name(in), " has a defining op or a wrong index"));
      }
      if (std::string problem = TypeProblem(in->type()); !problem.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("graph input ", namer_.Name(in), " type ",
                                                       ToString(in->type()), " ", problem));
      }
      defined_.insert(in);
    }
    for (const auto& op : g_.ops()) {
      RETURN_IF_ERROR(CheckOp(*op));
    }
    RETURN_IF_ERROR(CheckUseLists());
    return CheckOutputs();
  }

 private:
  absl::Status OpError(const Operation& op, auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(
        "op ", namer_.OpHeader(op), op.loc().empty() ? "" : " (" + op.loc() + ")", ": ", parts...));
  }

  absl::Status CheckOp(const Operation& op) {
    const OpInfo& info = op.info();
    if (op.graph() != &g_) return OpError(op, "belongs to another graph");
    for (int i = 0; i < op.num_results(); ++i) {
      const Value* r = op.result(i);
      if (r == nullptr || r->def() != &op || r->index() != i) {
        return OpError(op, "result ", i, " does not point back at its op");
      }
    }

    int n = op.num_operands();
    if (n < info.min_operands || (info.max_operands >= 0 && n > info.max_operands)) {
      std::string want = info.max_operands == info.min_operands ? absl::StrCat(info.min_operands)
                         : info.max_operands < 0
                             ? absl::StrCat("at least ", info.min_operands)
                             : absl::StrCat(info.min_operands, " to ", info.max_operands);
      return OpError(op, "expected ", want, " operands, got ", n);
    }
    for (int i = 0; i < n; ++i) {
      const Value* v = op.operand(i);
      if (v == nullptr) return OpError(op, "operand ", i, " is null");
      if (!values_.count(v)) return OpError(op, "operand ", i, " is not a value of this graph");
      if (!defined_.count(v)) {
        return OpError(op, "operand ", i, " (", namer_.Name(v), ") is used before its definition");
      }
    }

    if (absl::Status st = CheckAttributes(info, op.attrs()); !st.ok()) {
      return OpError(op, st.message());
    }
    // Regions: named as the schema says, each a graph of its own that passes
    // every check here (a body reads only its arguments: values of the
    // enclosing graph are not in its value set).
    std::vector<std::string_view> names;
    for (const Region& r : op.regions()) {
      if (r.body == nullptr) return OpError(op, "region '", r.name, "' is null");
      names.push_back(r.name);
    }
    if (absl::Status st = CheckRegionNames(info, names); !st.ok()) {
      return OpError(op, st.message());
    }
    for (const Region& r : op.regions()) {
      if (absl::Status st = Verifier(*r.body).Run(); !st.ok()) {
        return OpError(op, "region '", r.name, "': ", st.message());
      }
    }

    std::vector<TensorType> inferred;
    if (absl::Status st = info.infer(op, &inferred); !st.ok()) return OpError(op, st.message());
    if (static_cast<int>(inferred.size()) != op.num_results()) {
      return OpError(op, "has ", op.num_results(), " results, its shape rule gives ",
                     inferred.size());
    }
    for (int i = 0; i < op.num_results(); ++i) {
      const TensorType& recorded = op.result(i)->type();
      if (recorded != inferred[i]) {
        return OpError(op, op.num_results() == 1 ? "result" : absl::StrCat("result ", i), " type ",
                       ToString(recorded), " does not match inferred ", ToString(inferred[i]));
      }
    }
    for (int i = 0; i < op.num_results(); ++i) {
      const TensorType& t = op.result(i)->type();
      if (std::string problem = TypeProblem(t); !problem.empty()) {
        return OpError(op, "result type ", ToString(t), " ", problem);
      }
      defined_.insert(op.result(i));
    }
    return absl::OkStatus();
  }

  // Use lists against operands, counted both ways: operand slots give the
  // expected (value, user) counts, users() lists the recorded ones.
  absl::Status CheckUseLists() {
    struct PairHash {
      size_t operator()(const std::pair<const Value*, const Operation*>& p) const {
        return std::hash<const void*>()(p.first) * 31 + std::hash<const void*>()(p.second);
      }
    };
    std::unordered_map<std::pair<const Value*, const Operation*>, int, PairHash> expected, actual;
    for (const auto& op : g_.ops()) {
      for (const Value* v : op->operands()) ++expected[{v, op.get()}];
    }
    auto check_users = [&](const Value* v) -> absl::Status {
      for (const Operation* user : v->users()) {
        if (!ops_.count(user)) {
          return absl::InvalidArgumentError(
              absl::StrCat("value ", namer_.Name(v), " lists a user that is not in the graph"));
        }
        ++actual[{v, user}];
      }
      return absl::OkStatus();
    };
    for (const auto& in : g_.inputs()) {
      RETURN_IF_ERROR(check_users(in.get()));
    }
    for (const auto& op : g_.ops()) {
      for (int i = 0; i < op->num_results(); ++i) {
        RETURN_IF_ERROR(check_users(op->result(i)));
      }
    }
    // Report in op order so the first error is deterministic.
    for (const auto& op : g_.ops()) {
      for (const Value* v : op->operands()) {
        int want = expected[{v, op.get()}], have = actual[{v, op.get()}];
        if (want != have) {
          return OpError(*op, "reads ", namer_.Name(v), " ", want, " time(s) but is listed ", have,
                         " time(s) in its users");
        }
      }
    }
    for (const auto& [key, have] : actual) {
      if (expected.find(key) == expected.end()) {
        return OpError(*key.second, "is listed as a user of ", namer_.Name(key.first),
                       " but does not read it");
      }
    }
    return absl::OkStatus();
  }

  absl::Status CheckOutputs() {
    const auto& outputs = g_.outputs();
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (outputs[i] == nullptr || !values_.count(outputs[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("graph output ", i, " is not a value of this graph"));
      }
    }
    if (!g_.output_names().empty() && g_.output_names().size() != outputs.size()) {
      return absl::InvalidArgumentError(absl::StrCat("graph has ", outputs.size(), " outputs but ",
                                                     g_.output_names().size(), " output names"));
    }
    return absl::OkStatus();
  }

  const Graph& g_;
  ValueNamer namer_;
  std::unordered_set<const Value*> values_;
  std::unordered_set<const Operation*> ops_;
  std::unordered_set<const Value*> defined_;
};

}  // namespace

absl::Status Verify(const Graph& g) { return Verifier(g).Run(); }

}  // namespace sinter::ir
