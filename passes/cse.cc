// Common-subexpression elimination: two ops of the same kind, operands and
// attributes compute the same value (every sinter op is pure; the operands
// of a commutative op in either order), so the later one is replaced by the
// earlier. Constants with the same payload object are
// merged too. One forward sweep with a hash table: O(ops).
#include <unordered_map>

#include "absl/hash/hash.h"
#include "ir/printer.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace sinter::passes {
namespace {

// A key that identifies what an op computes. Attributes and regions are
// compared through their printed form, which is exact (floats print
// round-trippably, constants by their bytes).
std::string Key(const ir::Operation& op) {
  std::string k(op.name());
  std::vector<const ir::Value*> operands(op.operands().begin(), op.operands().end());
  // add(x, y) and add(y, x) compute the same value (the kCommutative trait).
  if (op.info().Has(ir::kCommutative) && operands.size() == 2 && operands[0] > operands[1])
    std::swap(operands[0], operands[1]);
  for (const ir::Value* v : operands) {
    k += '|';
    k += std::to_string(reinterpret_cast<uintptr_t>(v));
  }
  for (const auto& [name, attr] : op.attrs()) {
    k += '|' + name + '=';
    if (ir::KindOf(attr) == ir::AttrKind::kTensor) {
      k += std::to_string(reinterpret_cast<uintptr_t>(std::get<ir::TensorDataPtr>(attr).get()));
    } else if (ir::KindOf(attr) == ir::AttrKind::kFloat) {
      k += ir::FormatFloat(std::get<double>(attr));
    } else if (ir::KindOf(attr) == ir::AttrKind::kInt) {
      k += std::to_string(std::get<int64_t>(attr));
    } else if (ir::KindOf(attr) == ir::AttrKind::kBool) {
      k += std::get<bool>(attr) ? "T" : "F";
    } else if (ir::KindOf(attr) == ir::AttrKind::kStr) {
      k += ir::QuoteString(std::get<std::string>(attr));
    } else if (ir::KindOf(attr) == ir::AttrKind::kInts) {
      for (int64_t i : std::get<std::vector<int64_t>>(attr)) k += std::to_string(i) + ",";
    } else {
      for (double d : std::get<std::vector<double>>(attr)) k += ir::FormatFloat(d) + ",";
    }
  }
  for (const ir::Region& r : op.regions()) k += '|' + r.name + '=' + ir::Print(*r.body);
  return k;
}

absl::Status RunCse(ir::Graph& g, PassStats& stats) {
  std::unordered_map<std::string, ir::Operation*> seen;
  for (auto it = g.ops().begin(); it != g.ops().end();) {
    ir::Operation* op = (it++)->get();
    auto [pos, fresh] = seen.emplace(Key(*op), op);
    if (fresh) continue;
    for (int r = 0; r < op->num_results(); ++r)
      op->result(r)->ReplaceAllUsesWith(pos->second->result(r));
    g.Erase(op);
    ++stats["ops-merged"];
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(cse, "cse", "merge ops that compute the same value", RunCse);

}  // namespace sinter::passes
