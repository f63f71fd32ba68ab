#include "runtime/format/fused_program.h"

#include <cmath>
#include <cstdlib>
#include <iterator>
#include <limits>

namespace sinter::format {
namespace {

constexpr int CountParams(std::string_view spec) {
  int n = 0;
  bool in_word = false;
  for (char c : spec) {
    if (c != ' ' && !in_word) ++n;
    in_word = c != ' ';
  }
  return n;
}

constexpr FusedOpInfo kOps[] = {
#define SINTER_EW_UNARY(Id, name, params, CpuKernel) {name, false, params, CountParams(params)},
#define SINTER_EW_BINARY(Id, name, CpuKernel) {name, true, "", 0},
#include "runtime/format/elementwise.def"
};

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t b = 0;
  while (b <= s.size()) {
    size_t e = s.find(sep, b);
    if (e == std::string_view::npos) e = s.size();
    std::string_view piece = s.substr(b, e - b);
    while (!piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    while (!piece.empty() && piece.back() == ' ') piece.remove_suffix(1);
    if (!piece.empty()) out.push_back(piece);
    b = e + 1;
  }
  return out;
}

bool ParseNumber(std::string_view s, float* v) {
  if (s == "inf") return *v = std::numeric_limits<float>::infinity(), true;
  if (s == "-inf") return *v = -std::numeric_limits<float>::infinity(), true;
  std::string tmp(s);
  char* end = nullptr;
  double d = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size() || tmp.empty() || std::isnan(d)) return false;
  *v = static_cast<float>(d);
  return true;
}

bool ParseIndex(std::string_view s, int limit, int* out) {
  if (s.empty() || s.size() > 6) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v >= limit) return false;
  *out = v;
  return true;
}

}  // namespace

const FusedOpInfo& InfoOf(FusedOp op) { return kOps[static_cast<size_t>(op)]; }

bool FusedOpByName(std::string_view name, FusedOp* op) {
  for (size_t i = 0; i < std::size(kOps); ++i) {
    if (kOps[i].name == name) return *op = static_cast<FusedOp>(i), true;
  }
  return false;
}

bool ParseFusedProgram(std::string_view text, int num_inputs, std::vector<FusedInstr>* out,
                       std::string* error) {
  out->clear();
  auto fail = [&](const std::string& why) {
    *error = "fused program: " + why;
    return false;
  };
  std::vector<std::string_view> instrs = Split(text, ';');
  if (instrs.empty()) return fail("empty");
  if (instrs.size() > kMaxFusedInstructions) {
    return fail("too long (" + std::to_string(instrs.size()) + " instructions; at most " +
                std::to_string(kMaxFusedInstructions) + ")");
  }
  for (size_t i = 0; i < instrs.size(); ++i) {
    std::vector<std::string_view> tok = Split(instrs[i], ' ');
    const std::string where = "instruction " + std::to_string(i);
    if (tok.size() < 4 || tok[1] != "=" || tok[0] != "t" + std::to_string(i)) {
      return fail(where + ": expected 't" + std::to_string(i) + " = op operands'");
    }
    FusedOp op;
    if (!FusedOpByName(tok[2], &op))
      return fail(where + ": unknown op '" + std::string(tok[2]) + "'");
    const FusedOpInfo& row = InfoOf(op);
    const size_t operands = row.binary ? 2 : 1;
    if (tok.size() != 3 + operands + row.num_params) return fail(where + ": wrong operand count");
    FusedInstr in{op, {}, {}, 0, 0};
    for (size_t k = 0; k < operands; ++k) {
      std::string_view t = tok[3 + k];
      FusedRef& r = k == 0 ? in.a : in.b;
      if (t[0] == '$') {
        r.kind = FusedRef::kInput;
        if (!ParseIndex(t.substr(1), num_inputs, &r.index))
          return fail(where + ": bad input " + std::string(t));
      } else if (t[0] == 't') {
        r.kind = FusedRef::kTemp;
        if (!ParseIndex(t.substr(1), static_cast<int>(i), &r.index))
          return fail(where + ": bad temp " + std::string(t));
      } else {
        r.kind = FusedRef::kConst;
        if (!ParseNumber(t, &r.value)) return fail(where + ": bad constant " + std::string(t));
      }
    }
    if (row.num_params > 0 && !ParseNumber(tok[3 + operands], &in.p0))
      return fail(where + ": bad parameter");
    if (row.num_params > 1 && !ParseNumber(tok[4 + operands], &in.p1))
      return fail(where + ": bad parameter");
    out->push_back(in);
  }
  return true;
}

bool PlanFusedSpace(const std::vector<std::vector<int64_t>>& inputs, const std::vector<int64_t>& y,
                    FusedSpace* p, std::string* error) {
  const size_t rank = y.size();
  // The product of the non-zero extents bounds every stride and offset below
  // (a zero extent makes the output empty but not the strides of the others).
  int64_t bound = 1;
  bool empty = false;
  for (int64_t e : y) {
    if (e < 0 || (e > 0 && __builtin_mul_overflow(bound, e, &bound))) {
      *error = "fused kernel: the output has a negative or overflowing extent";
      return false;
    }
    empty = empty || e == 0;
  }
  p->num_elements = empty ? 0 : bound;
  // Aligned strides, broadcast check.
  std::vector<std::vector<int64_t>> st(inputs.size(), std::vector<int64_t>(rank, 0));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<int64_t>& d = inputs[i];
    if (d.size() > rank) {
      *error = "fused kernel: input " + std::to_string(i) + " has a higher rank than the output";
      return false;
    }
    int64_t stride = 1;
    for (size_t k = 0; k < d.size(); ++k) {
      const size_t od = rank - 1 - k;
      const int64_t e = d[d.size() - 1 - k];
      if (e != y[od] && e != 1) {
        *error = "fused kernel: input " + std::to_string(i) + " does not broadcast to the output";
        return false;
      }
      st[i][od] = e == 1 ? 0 : stride;
      stride *= e;
    }
  }
  // Collapse: merge dim k into the previous one when every input's strides chain.
  p->dims.clear();
  p->strides.assign(inputs.size(), {});
  for (size_t k = 0; k < rank; ++k) {
    if (y[k] == 1) continue;
    bool merge = !p->dims.empty();
    for (size_t i = 0; i < inputs.size() && merge; ++i)
      merge = p->strides[i].back() == st[i][k] * y[k];
    if (merge) {
      p->dims.back() *= y[k];
      for (size_t i = 0; i < inputs.size(); ++i) p->strides[i].back() = st[i][k];
    } else {
      p->dims.push_back(y[k]);
      for (size_t i = 0; i < inputs.size(); ++i) p->strides[i].push_back(st[i][k]);
    }
  }
  if (p->dims.empty()) {
    p->dims.push_back(1);
    for (auto& v : p->strides) v.push_back(0);
  }
  return true;
}

}  // namespace sinter::format
