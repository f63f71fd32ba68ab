#include "codegen/target_support.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codegen/cuda/cuda_target.h"

namespace sinter::codegen {
namespace {

std::string OperandTypes(const ir::Operation& op) {
  std::vector<std::string> t;
  for (const ir::Value* v : op.operands()) t.push_back(ir::ToString(v->type()));
  return absl::StrJoin(t, ", ");
}

// What the backend of `target` requires beyond the op's strategy.
std::string TargetConstraint(const ir::Operation& op, ir::Target target) {
  switch (target) {
    case ir::Target::kCpu:
      return "";  // the CPU kernels' own checks run on the artifact (codegen/compiler.cc)
    case ir::Target::kCuda:
      return cuda::CudaConstraint(op);
  }
  return "";
}

}  // namespace

std::string WhyUnsupported(const ir::Operation& op, ir::Target target) {
  // A size decided at run time (a symbolic dimension) comes from an op
  // sized by its run (nonzero, nms, a fallback segment) or from an input of
  // a symbolic extent (ir/extent_analysis.h), and flows only through ops
  // whose kernels take the run's extents (kRunExtents), on the CPU.
  bool run_sized_operand = false;
  for (const ir::Value* v : op.operands()) {
    if (v->type().shape.is_static()) continue;
    if (!op.info().Has(ir::kRunExtents))
      return absl::StrCat("an operand of a size decided at run time (", ir::ToString(v->type()),
                          "), which its kernel cannot take");
    if (target != ir::Target::kCpu)
      return "sizes decided at run time (by the data or a symbolic extent) run on the CPU target "
             "only";
    run_sized_operand = true;
  }
  for (int r = 0; r < op.num_results(); ++r) {
    if (!op.result(r)->type().shape.is_static() && !op.info().Has(ir::kSizedByRun) &&
        !run_sized_operand)
      return "dynamic shapes";
  }
  const format::TargetStrategy& s = op.info().strategy(target);
  switch (s.kind) {
    case ir::Strategy::kKernel:
    case ir::Strategy::kGenerated:
    case ir::Strategy::kLibrary:
      return TargetConstraint(op, target);
    case ir::Strategy::kIrOnly:
      return op.kind() == ir::OpKind::kConst ? "" : "an op that never becomes a kernel";
    case ir::Strategy::kLowered:
      // Still here after its lowering pass: the pass did not apply to it.
      return absl::StrCat(std::string(s.detail), " did not lower it (operands ", OperandTypes(op),
                          ")");
    case ir::Strategy::kRefused:
      return std::string(s.detail);
  }
  return "unknown strategy";
}

absl::Status CheckTargetSupport(const ir::Graph& g, ir::Target target) {
  struct Seen {
    int count = 0;
    std::string first_loc, why;
  };
  std::map<std::string, Seen> bad;
  for (const auto& op : g.ops()) {
    std::string why = WhyUnsupported(*op, target);
    if (why.empty()) continue;
    Seen& s = bad[std::string(op->name())];
    if (s.count++ == 0) s.first_loc = op->loc(), s.why = why;
  }
  if (bad.empty()) return absl::OkStatus();
  std::vector<std::string> parts;
  for (const auto& [name, s] : bad) {
    parts.push_back(absl::StrCat(name, " x", s.count, " (", s.why, ")",
                                 s.first_loc.empty() ? "" : ", first at " + s.first_loc));
  }
  return absl::UnimplementedError(absl::StrCat("the ", std::string(format::TargetName(target)),
                                               " target cannot run: ", absl::StrJoin(parts, "; ")));
}

}  // namespace sinter::codegen
