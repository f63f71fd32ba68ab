// The kernel description's vocabulary table, checker, decoder and iteration
// space (see kernel_body.h).
#include "runtime/format/kernel_body.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <iterator>

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

constexpr BodyOpInfo kOps[] = {
#define SINTER_EW_UNARY(Id, name, params, CpuKernel) \
  {name, BodyClass::kUnary, 1, params, CountParams(params)},
#define SINTER_EW_BINARY(Id, name, CpuKernel) {name, BodyClass::kBinary, 2, "", 0},
#define SINTER_EW_COMPARE(Id, name, Op) {name, BodyClass::kCompare, 2, "", 0},
#define SINTER_EW_SELECT(Id, name) {name, BodyClass::kSelect, 3, "", 0},
#define SINTER_EW_CAST(Id, name) {name, BodyClass::kCast, 1, "", 0},
#define SINTER_EW_CONST(Id, name) {name, BodyClass::kConst, 0, "", 0},
#include "runtime/format/elementwise.def"
};
constexpr size_t kNumOps = std::size(kOps);

constexpr RowReductionInfo kReductions[] = {
#define SINTER_ROW_REDUCTION(Id, name, affine, last_axis) {name, affine, last_axis},
#include "runtime/format/reductions.def"
};

std::string Value(int32_t v) { return "%" + std::to_string(v); }

std::string Number(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

const BodyOpInfo& InfoOf(BodyOp op) { return kOps[static_cast<size_t>(op)]; }

bool BodyOpByName(std::string_view name, BodyOp* op) {
  for (size_t i = 0; i < kNumOps; ++i) {
    if (kOps[i].name == name) return *op = static_cast<BodyOp>(i), true;
  }
  return false;
}

const RowReductionInfo& InfoOf(RowReduction r) { return kReductions[static_cast<size_t>(r)]; }

bool RowReductionByName(std::string_view name, RowReduction* r) {
  for (size_t i = 0; i < std::size(kReductions); ++i) {
    if (kReductions[i].name == name) return *r = static_cast<RowReduction>(i), true;
  }
  return false;
}

bool IsBodyType(DType t) {
  switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::I64:
    case DType::I32:
    case DType::I8:
    case DType::U8:
    case DType::BOOL:
      return true;
    case DType::F64:
      return false;
  }
  return false;
}

std::string_view BodyTypeName(DType t) {
  switch (t) {
    case DType::F32:
      return "f32";
    case DType::F16:
      return "f16";
    case DType::BF16:
      return "bf16";
    case DType::F64:
      return "f64";
    case DType::I64:
      return "i64";
    case DType::I32:
      return "i32";
    case DType::I8:
      return "i8";
    case DType::U8:
      return "u8";
    case DType::BOOL:
      return "bool";
  }
  return "?";
}

// Sets *error to "kernel body: " and the formatted text; false. One
// out-of-line formatter keeps the checker's error paths small in the runtime.
[[gnu::cold, gnu::noinline, gnu::format(printf, 2, 3)]] static bool Fail(std::string* error,
                                                                         const char* format, ...) {
  char buf[256];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  *error = std::string("kernel body: ") + buf;
  return false;
}

bool CheckKernelBody(const KernelBody& body, std::string* error) {
  if (body.args.size() > kMaxBodyArguments) {
    return Fail(error, "too many arguments (%zu; at most %zu)", body.args.size(),
                kMaxBodyArguments);
  }
  if (body.instrs.size() > kMaxBodyInstructions) {
    return Fail(error, "too long (%zu instructions; at most %zu)", body.instrs.size(),
                kMaxBodyInstructions);
  }
  for (size_t i = 0; i < body.args.size(); ++i) {
    if (!IsBodyType(body.args[i]))
      return Fail(error, "argument %zu has a type bodies do not hold", i);
  }
  const int32_t num_args = static_cast<int32_t>(body.args.size());
  if (body.result < 0 || body.result >= body.num_values())
    return Fail(error, "the result is not a value of the body");
  // Readers of each value of a non-compute type (the edge rule).
  std::vector<int32_t> edge_readers(body.num_values(), 0);
  for (size_t k = 0; k < body.instrs.size(); ++k) {
    const BodyInstr& in = body.instrs[k];
    const int32_t self = num_args + static_cast<int32_t>(k);
    if (static_cast<size_t>(in.op) >= kNumOps)
      return Fail(error, "instruction %zu: unknown op %d", k, static_cast<int>(in.op));
    const BodyOpInfo& row = InfoOf(in.op);
    const char* name = row.name.data();  // the table's literals are NUL-terminated
    if (!IsBodyType(in.type)) return Fail(error, "instruction %zu: a type bodies do not hold", k);
    const int32_t operands[3] = {in.a, in.b, in.c};
    for (int i = 0; i < 3; ++i) {
      const bool wanted = i < row.arity;
      if (wanted && (operands[i] < 0 || operands[i] >= self))
        return Fail(error, "instruction %zu (%s): operand %d is not an earlier value", k, name, i);
      if (!wanted && operands[i] != -1)
        return Fail(error, "instruction %zu (%s): too many operands", k, name);
    }
    auto type = [&](int i) { return body.type_of(operands[i]); };
    // The row's type rule against what it got: "add takes (f32, f32) ->
    // f32, got (i64, i64) -> i64".
    auto bad_types = [&] {
      static constexpr const char* kRule[] = {"(f32) -> f32",
                                              "(f32, f32) -> f32",
                                              "(T, T) -> bool, T f32 or bool",
                                              "(bool, T, T) -> T, T f32 or bool",
                                              "one side f32 or bool",
                                              "-> f32 or bool"};
      const char* t[3] = {"", "", ""};
      for (int i = 0; i < row.arity; ++i) t[i] = BodyTypeName(type(i)).data();
      return Fail(error, "instruction %zu: %s takes %s, got (%s%s%s%s%s) -> %s", k, name,
                  kRule[static_cast<int>(row.cls)], t[0], row.arity > 1 ? ", " : "", t[1],
                  row.arity > 2 ? ", " : "", t[2], BodyTypeName(in.type).data());
    };
    switch (row.cls) {
      case BodyClass::kUnary:
        if (type(0) != DType::F32 || in.type != DType::F32) return bad_types();
        break;
      case BodyClass::kBinary:
        if (type(0) != DType::F32 || type(1) != DType::F32 || in.type != DType::F32)
          return bad_types();
        break;
      case BodyClass::kCompare:
        if (!IsComputeType(type(0)) || type(1) != type(0) || in.type != DType::BOOL)
          return bad_types();
        break;
      case BodyClass::kSelect:
        if (type(0) != DType::BOOL || !IsComputeType(type(1)) || type(2) != type(1) ||
            in.type != type(1))
          return bad_types();
        break;
      case BodyClass::kCast:
        // One side a compute type: no conversion between two edge types.
        if (!IsComputeType(type(0)) && !IsComputeType(in.type)) return bad_types();
        if (!IsComputeType(in.type) && self != body.result)
          return Fail(error, "instruction %zu: a cast to %s must be the result", k,
                      BodyTypeName(in.type).data());
        break;
      case BodyClass::kConst:
        if (!IsComputeType(in.type)) return bad_types();
        if (in.type == DType::BOOL && in.p0 != 0 && in.p0 != 1)
          return Fail(error, "instruction %zu: a bool constant is 0 or 1", k);
        break;
    }
    // (The class rules above let only casts read an edge type.)
    for (int i = 0; i < row.arity; ++i) {
      if (!IsComputeType(type(i))) ++edge_readers[operands[i]];
    }
  }
  if (!IsComputeType(body.result_type()) && body.result < num_args)
    return Fail(error, "the result is an argument of type %s; it needs a cast",
                BodyTypeName(body.result_type()).data());
  if (!IsComputeType(body.result_type()) && edge_readers[body.result] != 0)
    return Fail(error, "the result of a cast to an edge type is read");
  return true;
}

std::vector<bool> UsedArguments(const KernelBody& body) {
  std::vector<bool> used(body.args.size(), false);
  const int32_t n = static_cast<int32_t>(body.args.size());
  auto mark = [&](int32_t v) {
    if (v >= 0 && v < n) used[v] = true;
  };
  for (const BodyInstr& in : body.instrs) {
    mark(in.a);
    mark(in.b);
    mark(in.c);
  }
  mark(body.result);
  return used;
}

std::string BodyOpsText(const KernelBody& body) {
  std::string s;
  for (const BodyInstr& in : body.instrs) {
    const BodyOpInfo& row = InfoOf(in.op);
    if (row.cls == BodyClass::kConst) continue;
    if (row.cls == BodyClass::kCast && IsComputeType(in.type) && in.type == DType::F32) continue;
    s += (s.empty() ? "" : " + ") + std::string(row.name);
  }
  return s;
}

std::string BodyText(const KernelBody& body) {
  std::string s;
  const int32_t n = static_cast<int32_t>(body.args.size());
  for (size_t k = 0; k < body.instrs.size(); ++k) {
    const BodyInstr& in = body.instrs[k];
    const BodyOpInfo& row = InfoOf(in.op);
    s += Value(n + static_cast<int32_t>(k)) + " = " + std::string(row.name) + "(";
    const int32_t operands[3] = {in.a, in.b, in.c};
    for (int i = 0; i < row.arity; ++i) s += (i ? ", " : "") + Value(operands[i]);
    if (row.cls == BodyClass::kConst) s += Number(in.p0);
    for (int i = 0; i < row.num_params; ++i) s += ", " + Number(i == 0 ? in.p0 : in.p1);
    s += ") : " + std::string(BodyTypeName(in.type)) + "; ";
  }
  return s + "-> " + Value(body.result);
}

std::string_view RegionName(CodeRole role) {
  switch (role) {
    case CodeRole::Main:
      return "body";
    case CodeRole::Prologue:
      return "prologue";
    case CodeRole::Epilogue:
      return "epilogue";
  }
  return "";
}

bool RegionRole(std::string_view name, CodeRole* role) {
  for (CodeRole r : {CodeRole::Main, CodeRole::Prologue, CodeRole::Epilogue}) {
    if (RegionName(r) == name) return *role = r, true;
  }
  return false;
}

bool DecodeKernelBody(const Body& table, KernelBody* out, std::string* error) {
  const auto* args = table.args();
  const auto* instrs = table.instrs();
  if (instrs == nullptr) return Fail(error, "no instructions vector");
  if (instrs->size() > kMaxBodyInstructions) {
    return Fail(error, "too long (%u instructions; at most %zu)", instrs->size(),
                kMaxBodyInstructions);
  }
  out->args.clear();
  if (args != nullptr) out->args.assign(args->begin(), args->end());
  out->instrs.resize(instrs->size());
  for (flatbuffers::uoffset_t k = 0; k < instrs->size(); ++k) {
    const Instr& in = *instrs->Get(k);
    if (in.op() >= kNumOps) return Fail(error, "instruction %u: unknown op %d", k, in.op());
    out->instrs[k] = {
        static_cast<BodyOp>(in.op()), in.type(), in.a(), in.b(), in.c(), in.p0(), in.p1()};
  }
  out->result = table.result();
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
