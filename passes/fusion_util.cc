#include "passes/fusion_util.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "passes/rewrite_util.h"
#include "runtime/format/fused_program.h"

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
  // gelu is two rows of the vocabulary, chosen by its attribute; every
  // other row is the IR op of its own name.
  if (op.kind() == OpKind::kGelu) return op.GetStr("approximate") == "tanh" ? "gelu_tanh" : "gelu";
  format::FusedOp f;
  if (!format::FusedOpByName(op.name(), &f)) return "";
  return std::string(op.name());
}

std::optional<ProgramInstr> ProgramInstrOf(const ir::Operation& op) {
  const std::string name = ProgramOp(op);
  ProgramInstr in;
  if (name.empty() || !format::FusedOpByName(name, &in.op)) return std::nullopt;
  // The parameters, as elementwise.def names them: `attr` or `attr=default`.
  std::istringstream spec{std::string(format::InfoOf(in.op).params)};
  std::string word;
  while (spec >> word) {
    const size_t eq = word.find('=');
    const std::string attr = word.substr(0, eq);
    double v = 0;
    if (op.HasAttr(attr)) {
      v = op.GetFloat(attr);
    } else if (eq != std::string::npos) {
      const std::string d = word.substr(eq + 1);
      const double inf = std::numeric_limits<double>::infinity();
      v = d == "inf" ? inf : d == "-inf" ? -inf : std::stod(d);
    } else {
      return std::nullopt;  // the verifier requires it: not reached
    }
    in.params.push_back(v);
  }
  return in;
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
  if (std::optional<ProgramInstr> in = ProgramInstrOf(op)) {
    for (double p : in->params) absl::StrAppend(&line, " ", ProgramNumber(p));
  }
  return line;
}

namespace {

// The program of a fused_elementwise with its inputs renamed: input i becomes
// names[i].
std::string RenameInputs(const std::string& program, const std::vector<std::string>& names) {
  std::istringstream in(program);
  std::string tok, out;
  while (in >> tok) {
    std::string suffix = !tok.empty() && tok.back() == ';' ? ";" : "";
    if (!suffix.empty()) tok.pop_back();
    if (!tok.empty() && tok[0] == '$') tok = names[std::stoi(tok.substr(1))];
    absl::StrAppend(&out, out.empty() ? "" : " ", tok, suffix);
  }
  return out;
}

}  // namespace

bool ProgramOver(ir::Operation* user, ir::Value* produced, std::string* program,
                 std::vector<ir::Value*>* extra) {
  if (user->kind() == OpKind::kFusedElementwise) {
    // Renumber the inputs: the produced value becomes $0.
    std::vector<std::string> names(user->num_operands());
    for (int i = 0; i < user->num_operands(); ++i) {
      if (user->operand(i) == produced) {
        names[i] = "$0";
      } else {
        extra->push_back(user->operand(i));
        names[i] = absl::StrCat("$", extra->size());
      }
    }
    *program = RenameInputs(user->GetStr("program"), names);
    return true;
  }
  if (ProgramOp(*user).empty()) return false;
  *program = ProgramLine(*user, 0, [&](ir::Value* v) -> std::string {
    if (v == produced) return "$0";
    if (std::optional<float> s = SplatF32(v); s && v->type().shape.rank() == 0)
      return ProgramNumber(*s);
    extra->push_back(v);
    return absl::StrCat("$", extra->size());
  });
  return true;
}

bool ProgramOf(ir::Operation* op, std::string* program, std::vector<ir::Value*>* inputs) {
  inputs->clear();
  if (op->kind() == OpKind::kFusedElementwise) {
    *inputs = op->operands();
    *program = op->GetStr("program");
    return true;
  }
  if (ProgramOp(*op).empty()) return false;
  *program = ProgramLine(*op, 0, [&](ir::Value* v) -> std::string {
    if (std::optional<float> s = SplatF32(v); s && v->type().shape.rank() == 0)
      return ProgramNumber(*s);
    for (size_t i = 0; i < inputs->size(); ++i) {
      if ((*inputs)[i] == v) return absl::StrCat("$", i);
    }
    inputs->push_back(v);
    return absl::StrCat("$", inputs->size() - 1);
  });
  return !inputs->empty();
}

}  // namespace sinter::passes
