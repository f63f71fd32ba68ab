#include "ir/graph.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"

namespace sinter::ir {

void Value::RemoveUser(Operation* op) {
  auto it = std::find(users_.begin(), users_.end(), op);
  if (it != users_.end()) users_.erase(it);
}

void Value::ReplaceAllUsesWith(Value* other) {
  if (other == this) return;
  // Copy: SetOperand edits users_.
  std::vector<Operation*> users = users_;
  for (Operation* op : users) {
    for (int i = 0; i < op->num_operands(); ++i) {
      if (op->operand(i) == this) op->SetOperand(i, other);
    }
  }
  if (Graph* g = def_ ? def_->graph() : owner_) {
    for (size_t i = 0; i < g->outputs().size(); ++i) {
      if (g->outputs()[i] == this) g->SetOutput(static_cast<int>(i), other);
    }
  }
}

Operation::~Operation() = default;

void Operation::SetOperand(int i, Value* v) {
  operands_[i]->RemoveUser(this);
  operands_[i] = v;
  v->AddUser(this);
}

void Operation::DropOperands() {
  for (Value* v : operands_) v->RemoveUser(this);
  operands_.clear();
}

int64_t Operation::GetInt(const std::string& name) const {
  return std::get<int64_t>(attrs_.at(name));
}
double Operation::GetFloat(const std::string& name) const {
  return std::get<double>(attrs_.at(name));
}
bool Operation::GetBool(const std::string& name) const { return std::get<bool>(attrs_.at(name)); }
const std::string& Operation::GetStr(const std::string& name) const {
  return std::get<std::string>(attrs_.at(name));
}
const std::vector<int64_t>& Operation::GetInts(const std::string& name) const {
  return std::get<std::vector<int64_t>>(attrs_.at(name));
}
const std::vector<double>& Operation::GetFloats(const std::string& name) const {
  return std::get<std::vector<double>>(attrs_.at(name));
}
const TensorDataPtr& Operation::GetTensor(const std::string& name) const {
  return std::get<TensorDataPtr>(attrs_.at(name));
}

const Graph* Operation::region(std::string_view name) const {
  for (const Region& r : regions_)
    if (r.name == name) return r.body.get();
  return nullptr;
}

Graph* Operation::mutable_region(std::string_view name) {
  return const_cast<Graph*>(std::as_const(*this).region(name));
}

namespace {

// A region's place in its op's schema (unknown names last, in insertion order:
// the verifier reports them).
size_t SchemaPosition(const OpInfo& info, std::string_view name) {
  for (size_t i = 0; i < info.regions.size(); ++i)
    if (info.regions[i].name == name) return i;
  return info.regions.size();
}

}  // namespace

void Operation::SetRegion(std::string name, std::unique_ptr<Graph> body) {
  for (Region& r : regions_) {
    if (r.name == name) {
      r.body = std::move(body);
      return;
    }
  }
  const size_t pos = SchemaPosition(info(), name);
  auto it = regions_.begin();
  while (it != regions_.end() && SchemaPosition(info(), it->name) <= pos) ++it;
  regions_.insert(it, Region{std::move(name), std::move(body)});
}

std::unique_ptr<Graph> Operation::TakeRegion(std::string_view name) {
  for (auto it = regions_.begin(); it != regions_.end(); ++it) {
    if (it->name != name) continue;
    std::unique_ptr<Graph> body = std::move(it->body);
    regions_.erase(it);
    return body;
  }
  return nullptr;
}

Value* Graph::AddInput(TensorType type, std::string name) {
  auto v = std::unique_ptr<Value>(new Value(std::move(type), nullptr, (int)inputs_.size(), this));
  v->set_name(std::move(name));
  inputs_.push_back(std::move(v));
  return inputs_.back().get();
}

Operation* Graph::CreateOp(iterator pos, OpKind kind, const std::vector<Value*>& operands,
                           AttributeMap attrs, const std::vector<TensorType>& result_types,
                           RegionList regions) {
  auto op = std::unique_ptr<Operation>(new Operation(this, kind));
  Operation* raw = op.get();
  raw->operands_ = operands;
  for (Value* v : operands) v->AddUser(raw);
  for (size_t i = 0; i < result_types.size(); ++i) {
    raw->results_.push_back(std::unique_ptr<Value>(new Value(result_types[i], raw, (int)i)));
  }
  raw->attrs_ = std::move(attrs);
  for (Region& r : regions) raw->SetRegion(std::move(r.name), std::move(r.body));
  raw->self_ = ops_.insert(pos, std::move(op));
  return raw;
}

void Graph::Erase(Operation* op) {
  op->DropOperands();
  ops_.erase(op->self_);
}

bool Graph::IsOutput(const Value* v) const {
  return std::find(outputs_.begin(), outputs_.end(), v) != outputs_.end();
}

std::unique_ptr<Graph> Graph::Clone() const {
  auto g = std::make_unique<Graph>();
  std::unordered_map<const Value*, Value*> map;
  for (const auto& in : inputs_) map[in.get()] = g->AddInput(in->type(), in->name());
  for (const auto& op : ops_) {
    std::vector<Value*> operands;
    for (Value* v : op->operands()) operands.push_back(map.at(v));
    std::vector<TensorType> types;
    for (int i = 0; i < op->num_results(); ++i) types.push_back(op->result(i)->type());
    RegionList regions;
    for (const Region& r : op->regions()) regions.push_back({r.name, r.body->Clone()});
    Operation* c =
        g->CreateOp(g->ops().end(), op->kind(), operands, op->attrs(), types, std::move(regions));
    c->set_loc(op->loc());
    for (int i = 0; i < op->num_results(); ++i) {
      c->result(i)->set_name(op->result(i)->name());
      map[op->result(i)] = c->result(i);
    }
  }
  for (Value* v : outputs_) g->AddOutput(map.at(v));
  g->SetOutputNames(output_names_);
  return g;
}

absl::StatusOr<Operation*> Builder::Create(OpKind kind, const std::vector<Value*>& operands,
                                           AttributeMap attrs, RegionList regions) {
  const OpInfo& info = GetOpInfo(kind);
  int n = static_cast<int>(operands.size());
  if (n < info.min_operands || (info.max_operands >= 0 && n > info.max_operands)) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(info.name), ": got ", n, " operands, expected ", info.min_operands,
                     info.max_operands == info.min_operands ? "" : " or more"));
  }
  absl::Status attr_st = CheckAttributes(info, attrs);
  if (!attr_st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(info.name), ": ", attr_st.message()));
  }
  std::vector<std::string_view> region_names;
  for (const Region& r : regions) {
    if (r.body == nullptr)
      return absl::InvalidArgumentError(absl::StrCat(std::string(info.name), ": null region"));
    region_names.push_back(r.name);
  }
  if (absl::Status st = CheckRegionNames(info, region_names); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(info.name), ": ", st.message()));
  }
  // Infer on a detached op first so a failed inference leaves the graph as it was.
  Operation probe(graph_, kind);
  probe.operands_ = operands;
  probe.attrs_ = std::move(attrs);
  for (Region& r : regions) probe.SetRegion(std::move(r.name), std::move(r.body));
  std::vector<TensorType> types;
  absl::Status st = info.infer(probe, &types);
  if (!st.ok()) {
    return absl::Status(
        st.code(), absl::StrCat(std::string(info.name), loc_.empty() ? "" : " at " + loc_, ": ",
                                st.message()));
  }
  Operation* op = graph_->CreateOp(pos_, kind, operands, std::move(probe.attrs_), types,
                                   std::move(probe.regions_));
  op->set_loc(loc_);
  return op;
}

absl::StatusOr<Value*> Builder::Make(OpKind kind, const std::vector<Value*>& operands,
                                     AttributeMap attrs, RegionList regions) {
  ASSIGN_OR_RETURN(Operation * op, Create(kind, operands, std::move(attrs), std::move(regions)));
  return op->result(0);
}

Value* Builder::Constant(TensorDataPtr data) {
  TensorType type = data->type();
  AttributeMap attrs{{"value", std::move(data)}};
  Operation* op = graph_->CreateOp(pos_, OpKind::kConst, {}, std::move(attrs), {type});
  op->set_loc(loc_);
  return op->result(0);
}

Value* Builder::ScalarF32(float v) {
  std::vector<uint8_t> bytes(sizeof(float));
  std::memcpy(bytes.data(), &v, sizeof(float));
  return Constant(std::make_shared<TensorData>(TensorType{DType::kF32, Shape()}, std::move(bytes)));
}

}  // namespace sinter::ir
