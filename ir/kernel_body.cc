// Region -> kernel description, and the builder of body regions (see
// ir/kernel_body.h).
#include "ir/kernel_body.h"

#include <cstring>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "ir/printer.h"
#include "ir/status_macros.h"

namespace sinter::ir {
namespace {

// The two enums list dtypes in the same order.
static_assert(static_cast<int>(DType::kBool) == static_cast<int>(format::DType::BOOL));
static_assert(static_cast<int>(DType::kI64) == static_cast<int>(format::DType::I64));
static_assert(static_cast<int>(DType::kBF16) == static_cast<int>(format::DType::BF16));

// The vocabulary row of an IR op, or false.
bool RowOf(const Operation& op, format::BodyOp* row) {
  // gelu is two rows, chosen by its attribute; every other row is the IR op
  // of its own name.
  if (op.kind() == OpKind::kGelu) {
    *row = op.GetStr("approximate") == "tanh" ? format::BodyOp::kGeluTanh : format::BodyOp::kGelu;
    return true;
  }
  return format::BodyOpByName(op.name(), row);
}

// The row's numeric parameters from the op's attributes (elementwise.def's
// "attr[=default]" list).
absl::Status Params(const Operation& op, const format::BodyOpInfo& row, float* p0, float* p1) {
  std::istringstream spec{std::string(row.params)};
  std::string word;
  float* out[2] = {p0, p1};
  for (int i = 0; spec >> word && i < 2; ++i) {
    const size_t eq = word.find('=');
    const std::string attr = word.substr(0, eq);
    if (op.HasAttr(attr)) {
      *out[i] = static_cast<float>(op.GetFloat(attr));
    } else if (eq != std::string::npos) {
      const std::string d = word.substr(eq + 1);
      const float inf = std::numeric_limits<float>::infinity();
      *out[i] = d == "inf" ? inf : d == "-inf" ? -inf : std::stof(d);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("missing attribute '", attr, "'"));
    }
  }
  return absl::OkStatus();
}

bool Compute(DType d) { return d == DType::kF32 || d == DType::kBool; }

}  // namespace

format::DType ToFormat(DType d) { return static_cast<format::DType>(static_cast<int>(d)); }
DType FromFormat(format::DType d) { return static_cast<DType>(static_cast<int>(d)); }

bool ScalarConstValue(const Value* v, float* out) {
  const Operation* def = v->def();
  if (def == nullptr || def->kind() != OpKind::kConst || v->type().shape.rank() != 0) return false;
  const TensorDataPtr& data = def->GetTensor("value");
  if (!data) return false;
  if (v->type().dtype == DType::kF32) {
    std::memcpy(out, data->bytes().data(), sizeof(float));
    return true;
  }
  if (v->type().dtype == DType::kBool) {
    *out = data->bytes()[0] != 0 ? 1.f : 0.f;
    return true;
  }
  return false;
}

absl::StatusOr<format::KernelBody> LowerBody(const Graph& body) {
  format::KernelBody out;
  std::unordered_map<const Value*, int32_t> number;
  ValueNamer namer(body);
  for (const auto& in : body.inputs()) {
    if (in->type().shape.rank() != 0) {
      return absl::InvalidArgumentError(absl::StrCat("body argument ", namer.Name(in.get()), " is ",
                                                     ToString(in->type()), ", not a scalar"));
    }
    number[in.get()] = static_cast<int32_t>(out.args.size());
    out.args.push_back(ToFormat(in->type().dtype));
  }
  if (body.num_ops() > format::kMaxBodyInstructions) {
    return absl::InvalidArgumentError(
        absl::StrCat("body has ", body.num_ops(), " ops; at most ", format::kMaxBodyInstructions));
  }
  for (const auto& op : body.ops()) {
    auto fail = [&](auto&&... why) {
      return absl::InvalidArgumentError(
          absl::StrCat("body op ", namer.OpHeader(*op), ": ", why...));
    };
    format::BodyOp row;
    if (op->num_results() != 1 || !RowOf(*op, &row)) {
      return fail("not an op of the kernel-body vocabulary (runtime/format/elementwise.def)");
    }
    const Value* r = op->result();
    if (r->type().shape.rank() != 0) return fail("its result is not a scalar");
    format::BodyInstr in;
    in.op = row;
    in.type = ToFormat(r->type().dtype);
    const format::BodyOpInfo& info = format::InfoOf(row);
    if (op->num_operands() != info.arity) return fail("wrong operand count");
    int32_t* operand[3] = {&in.a, &in.b, &in.c};
    for (int i = 0; i < op->num_operands(); ++i) *operand[i] = number.at(op->operand(i));
    if (info.cls == format::BodyClass::kConst) {
      if (!ScalarConstValue(r, &in.p0)) return fail("a body constant is an f32 or bool scalar");
    } else if (absl::Status st = Params(*op, info, &in.p0, &in.p1); !st.ok()) {
      return fail(st.message());
    }
    number[r] = out.num_values();
    out.instrs.push_back(in);
  }
  if (body.outputs().size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a body yields one value, this one ", body.outputs().size()));
  }
  out.result = number.at(body.outputs()[0]);
  std::string error;
  if (!format::CheckKernelBody(out, &error)) return absl::InvalidArgumentError(error);
  return out;
}

bool IsBodyOp(const Operation& op) {
  format::BodyOp row;
  if (op.num_results() != 1 || op.kind() == OpKind::kConst || !RowOf(op, &row)) return false;
  const format::BodyOpInfo& info = format::InfoOf(row);
  if (op.num_operands() != info.arity) return false;
  auto type = [&](int i) { return op.operand(i)->type().dtype; };
  const DType out = op.result()->type().dtype;
  switch (info.cls) {
    case format::BodyClass::kUnary:
      return type(0) == DType::kF32 && out == DType::kF32;
    case format::BodyClass::kBinary:
      return type(0) == DType::kF32 && type(1) == DType::kF32 && out == DType::kF32;
    case format::BodyClass::kCompare:
      return Compute(type(0)) && type(1) == type(0);
    case format::BodyClass::kSelect:
      return type(0) == DType::kBool && Compute(type(1)) && type(2) == type(1);
    case format::BodyClass::kCast:
      return (Compute(type(0)) || Compute(out)) && type(0) != DType::kF64 && out != DType::kF64;
    case format::BodyClass::kConst:
      return false;
  }
  return false;
}

absl::Status RetypeBody(Graph& body, const std::vector<DType>& args, DType result) {
  if (args.size() != body.inputs().size() || body.outputs().size() != 1) {
    return absl::InvalidArgumentError("retyping a body: argument or result count differs");
  }
  for (size_t i = 0; i < args.size(); ++i) {
    Value* in = body.input(static_cast<int>(i));
    const DType was = in->type().dtype;
    if (was == args[i]) continue;
    in->set_type(TensorType{args[i], Shape()});
    Operation* cast =
        body.CreateOp(body.ops().begin(), OpKind::kCast, {in},
                      {{"to", std::string(DTypeName(was))}}, {TensorType{was, Shape()}});
    std::vector<Operation*> users = in->users();
    for (Operation* u : users) {
      if (u == cast) continue;
      for (int k = 0; k < u->num_operands(); ++k)
        if (u->operand(k) == in) u->SetOperand(k, cast->result());
    }
    if (body.outputs()[0] == in) body.SetOutput(0, cast->result());
  }
  Value* y = body.outputs()[0];
  if (y->type().dtype != result) {
    Operation* cast =
        body.CreateOp(body.ops().end(), OpKind::kCast, {y},
                      {{"to", std::string(DTypeName(result))}}, {TensorType{result, Shape()}});
    body.SetOutput(0, cast->result());
  }
  return absl::OkStatus();
}

BodyBuilder::BodyBuilder() : body_(std::make_unique<Graph>()) {}

Value* BodyBuilder::Read(Value* v, bool inline_scalars) {
  if (auto it = map_.find(v); it != map_.end()) return it->second;
  Value* b;
  if (float s; inline_scalars && ScalarConstValue(v, &s)) {
    Builder at(body_.get());
    b = at.Constant(v->def()->GetTensor("value"));
  } else {
    b = body_->AddInput(TensorType{v->type().dtype, Shape()}, "");
    inputs_.push_back(v);
  }
  map_[v] = b;
  return b;
}

absl::StatusOr<Value*> BodyBuilder::Make(OpKind kind, const std::vector<Value*>& operands,
                                         AttributeMap attrs) {
  Builder at(body_.get());
  return at.Make(kind, operands, std::move(attrs));
}

absl::StatusOr<Value*> BodyBuilder::Clone(const Operation& op) {
  std::vector<Value*> operands;
  for (Value* v : op.operands()) operands.push_back(Read(v));
  ASSIGN_OR_RETURN(Value * r, Make(op.kind(), operands, op.attrs()));
  map_[op.result()] = r;
  return r;
}

absl::StatusOr<Value*> BodyBuilder::Inline(const Graph& body, const std::vector<Value*>& args) {
  if (args.size() != body.inputs().size()) {
    return absl::InternalError("inlining a body with the wrong number of arguments");
  }
  std::unordered_map<const Value*, Value*> local;
  for (size_t i = 0; i < args.size(); ++i) local[body.input(static_cast<int>(i))] = args[i];
  Builder at(body_.get());
  for (const auto& op : body.ops()) {
    if (op->kind() == OpKind::kConst) {
      local[op->result()] = at.Constant(op->GetTensor("value"));
      continue;
    }
    std::vector<Value*> operands;
    for (Value* v : op->operands()) operands.push_back(local.at(v));
    ASSIGN_OR_RETURN(Value * r, at.Make(op->kind(), operands, op->attrs()));
    local[op->result()] = r;
  }
  return local.at(body.outputs().at(0));
}

std::unique_ptr<Graph> BodyBuilder::Finish(Value* v) {
  body_->AddOutput(v);
  return std::move(body_);
}

}  // namespace sinter::ir
