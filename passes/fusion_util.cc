#include "passes/fusion_util.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/str_cat.h"

namespace sinter::passes {

using ir::OpKind;

std::string ProgramOp(const ir::Operation& op) {
  if (op.num_results() != 1 || op.result()->type().dtype != ir::DType::kF32 ||
      !op.result()->type().shape.is_static()) {
    return "";
  }
  for (ir::Value* v : op.operands()) {
    if (v->type().dtype != ir::DType::kF32) return "";
  }
  switch (op.kind()) {
    case OpKind::kRelu:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kExp:
    case OpKind::kLog:
    case OpKind::kSqrt:
    case OpKind::kRsqrt:
    case OpKind::kNeg:
    case OpKind::kAbs:
    case OpKind::kErf:
    case OpKind::kReciprocal:
    case OpKind::kSilu:
    case OpKind::kHardswish:
    case OpKind::kHardsigmoid:
    case OpKind::kLeakyRelu:
    case OpKind::kElu:
    case OpKind::kClamp:
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kPow:
    case OpKind::kMaximum:
    case OpKind::kMinimum:
      return std::string(op.name());
    case OpKind::kGelu:
      return op.GetStr("approximate") == "tanh" ? "gelu_tanh" : "gelu";
    default:
      return "";
  }
}

std::string ProgramNumber(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<float>(v));  // exact for f32
  return buf;
}

std::string ProgramLine(const ir::Operation& op, size_t k,
                        const std::function<std::string(ir::Value*)>& operand) {
  std::string line = absl::StrCat("t", k, " = ", ProgramOp(op));
  for (ir::Value* v : op.operands()) absl::StrAppend(&line, " ", operand(v));
  const double inf = std::numeric_limits<double>::infinity();
  switch (op.kind()) {
    case OpKind::kLeakyRelu:
      absl::StrAppend(&line, " ", ProgramNumber(op.GetFloat("slope")));
      break;
    case OpKind::kElu:
      absl::StrAppend(&line, " ", ProgramNumber(op.GetFloat("alpha")));
      break;
    case OpKind::kClamp:
      absl::StrAppend(&line, " ", ProgramNumber(op.HasAttr("min") ? op.GetFloat("min") : -inf), " ",
                      ProgramNumber(op.HasAttr("max") ? op.GetFloat("max") : inf));
      break;
    default:
      break;
  }
  return line;
}

}  // namespace sinter::passes
