// The SSA graph: values, operations and the graph that owns them.
//
// One generic Operation type (kind, operands, results, attributes, regions,
// source location); what an op *is* lives in its runtime/format/ops.def row,
// not in a subclass. Operations sit in one list in a valid topological order;
// every value knows its users so rewrites are O(uses), not O(graph).
//
// A region is a graph an op owns: the body of a fused kernel (MLIR's
// linalg.generic body, IREE's dispatch region). Its inputs are the body's
// arguments, its outputs what the body yields, and its ops are ordinary ops of
// the table, so the printer, parser, verifier and passes treat a body like any
// graph. Regions are isolated from above: a body reads only its arguments and
// its own results, so moving, cloning or inlining one never has to fix
// references into the enclosing graph.
#ifndef SINTER_IR_GRAPH_H_
#define SINTER_IR_GRAPH_H_

#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/attribute.h"
#include "ir/op_table.h"
#include "ir/types.h"

namespace sinter::ir {

class Operation;
class Graph;

// A named region of an op (the op schema's region names: "body", "prologue",
// "epilogue"), kept in the schema's order.
struct Region {
  std::string name;
  std::unique_ptr<Graph> body;
};
using RegionList = std::vector<Region>;

class Value {
 public:
  const TensorType& type() const { return type_; }
  void set_type(TensorType type) { type_ = std::move(type); }
  // The defining op, or nullptr for a graph input.
  Operation* def() const { return def_; }
  // Result index in def(), or input index for a graph input.
  int index() const { return index_; }
  // Ops that read this value, once per operand slot.
  const std::vector<Operation*>& users() const { return users_; }
  bool has_users() const { return !users_.empty(); }
  // Optional human name (graph inputs and outputs, debugging).
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // Points every operand that reads this value at `other` instead.
  void ReplaceAllUsesWith(Value* other);

 private:
  friend class Operation;
  friend class Graph;
  Value(TensorType type, Operation* def, int index, Graph* owner = nullptr)
      : type_(std::move(type)), def_(def), index_(index), owner_(owner) {}
  void AddUser(Operation* op) { users_.push_back(op); }
  void RemoveUser(Operation* op);

  TensorType type_;
  Operation* def_;
  int index_;
  Graph* owner_;  // a graph input's graph (an op result's is def_->graph())
  std::vector<Operation*> users_;
  std::string name_;
};

class Operation {
 public:
  ~Operation();
  OpKind kind() const { return kind_; }
  const OpInfo& info() const { return GetOpInfo(kind_); }
  std::string_view name() const { return info().name; }

  int num_operands() const { return static_cast<int>(operands_.size()); }
  Value* operand(int i) const { return operands_[i]; }
  const std::vector<Value*>& operands() const { return operands_; }
  void SetOperand(int i, Value* v);

  int num_results() const { return static_cast<int>(results_.size()); }
  Value* result(int i = 0) const { return results_[i].get(); }

  const AttributeMap& attrs() const { return attrs_; }
  AttributeMap& mutable_attrs() { return attrs_; }
  bool HasAttr(const std::string& name) const { return attrs_.count(name) != 0; }
  // Typed getters; the verifier has checked kinds against the op table.
  int64_t GetInt(const std::string& name) const;
  double GetFloat(const std::string& name) const;
  bool GetBool(const std::string& name) const;
  const std::string& GetStr(const std::string& name) const;
  const std::vector<int64_t>& GetInts(const std::string& name) const;
  const std::vector<double>& GetFloats(const std::string& name) const;
  const TensorDataPtr& GetTensor(const std::string& name) const;

  // Regions, in the schema's order; the verifier checks names and presence
  // against the op's row.
  const RegionList& regions() const { return regions_; }
  // The region called `name`, or null.
  const Graph* region(std::string_view name) const;
  Graph* mutable_region(std::string_view name);
  // Sets (or replaces) region `name`, keeping the schema's order.
  void SetRegion(std::string name, std::unique_ptr<Graph> body);
  // Removes region `name` and hands it over (null when absent).
  std::unique_ptr<Graph> TakeRegion(std::string_view name);

  // Source location, e.g. "torchvision/models/resnet.py:268".
  const std::string& loc() const { return loc_; }
  void set_loc(std::string loc) { loc_ = std::move(loc); }

  Graph* graph() const { return graph_; }

 private:
  friend class Graph;
  friend class Builder;
  Operation(Graph* graph, OpKind kind) : graph_(graph), kind_(kind) {}
  void DropOperands();

  Graph* graph_;
  OpKind kind_;
  std::vector<Value*> operands_;
  std::vector<std::unique_ptr<Value>> results_;
  AttributeMap attrs_;
  RegionList regions_;
  std::string loc_;
  std::list<std::unique_ptr<Operation>>::iterator self_;
};

class Graph {
 public:
  using OpList = std::list<std::unique_ptr<Operation>>;
  using iterator = OpList::iterator;

  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  Value* AddInput(TensorType type, std::string name);
  const std::vector<std::unique_ptr<Value>>& inputs() const { return inputs_; }
  Value* input(int i) const { return inputs_[i].get(); }

  const std::vector<Value*>& outputs() const { return outputs_; }
  void AddOutput(Value* v) { outputs_.push_back(v); }
  void SetOutput(int i, Value* v) { outputs_[i] = v; }
  const std::vector<std::string>& output_names() const { return output_names_; }
  void SetOutputNames(std::vector<std::string> names) { output_names_ = std::move(names); }

  OpList& ops() { return ops_; }
  const OpList& ops() const { return ops_; }
  size_t num_ops() const { return ops_.size(); }

  // Creates an op before `pos` with the given result types (no inference:
  // Builder is the checked way to make ops).
  Operation* CreateOp(iterator pos, OpKind kind, const std::vector<Value*>& operands,
                      AttributeMap attrs, const std::vector<TensorType>& result_types,
                      RegionList regions = {});
  // Removes an op whose results have no users.
  void Erase(Operation* op);
  iterator Position(Operation* op) { return op->self_; }

  // Is `v` one of the graph's outputs (and so must stay alive)?
  bool IsOutput(const Value* v) const;

  // A deep copy, regions included.
  std::unique_ptr<Graph> Clone() const;

 private:
  std::vector<std::unique_ptr<Value>> inputs_;
  std::vector<Value*> outputs_;
  std::vector<std::string> output_names_;
  OpList ops_;
};

// Creates ops at an insertion point, inferring and checking result types
// through the op table's shape rules.
class Builder {
 public:
  explicit Builder(Graph* graph) : graph_(graph), pos_(graph->ops().end()) {}
  Builder(Graph* graph, Graph::iterator pos) : graph_(graph), pos_(pos) {}

  void SetInsertionPoint(Graph::iterator pos) { pos_ = pos; }
  void SetInsertionPointBefore(Operation* op) { pos_ = graph_->Position(op); }
  void SetLoc(std::string loc) { loc_ = std::move(loc); }
  const std::string& loc() const { return loc_; }

  absl::StatusOr<Operation*> Create(OpKind kind, const std::vector<Value*>& operands,
                                    AttributeMap attrs = {}, RegionList regions = {});
  // Single-result convenience.
  absl::StatusOr<Value*> Make(OpKind kind, const std::vector<Value*>& operands,
                              AttributeMap attrs = {}, RegionList regions = {});
  Value* Constant(TensorDataPtr data);
  Value* ScalarF32(float v);

  Graph* graph() const { return graph_; }

 private:
  Graph* graph_;
  Graph::iterator pos_;
  std::string loc_;
};

}  // namespace sinter::ir

#endif  // SINTER_IR_GRAPH_H_
