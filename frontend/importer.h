// Internals of the TorchScript importer shared by its lowering files.
//
// The importer is a partial evaluator. Every TorchScript value becomes a Val:
// either a tensor (an IR value) or something known at compile time (int,
// float, bool, string, None, device, list, tuple). Shape queries, Python
// arithmetic on sizes, `if x.dim() != 4` checks and training flags are all
// evaluated here, so the taken branch of each prim::If is inlined and the
// other dropped. Anything that depends on tensor *data* at run time is
// reported, never guessed.
#ifndef SINTER_FRONTEND_IMPORTER_H_
#define SINTER_FRONTEND_IMPORTER_H_

#include <torch/script.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace sinter::frontend {

namespace tj = torch::jit;

struct Val;
using List = std::shared_ptr<std::vector<Val>>;

struct Val {
  enum class Kind {
    kPoison,
    kNone,
    kTensor,
    kInt,
    kFloat,
    kBool,
    kStr,
    kDevice,
    kList,
    kTuple,
    kDict
  };
  Kind kind = Kind::kPoison;
  ir::Value* tensor = nullptr;
  int64_t i = 0;
  double f = 0;
  std::string s;
  List items;  // kList (shared: aten::append mutates it), kTuple, kDict's values
  List keys;   // kDict's keys, in insertion order (shared with items' owner)

  static Val Tensor(ir::Value* v) { return {Kind::kTensor, v}; }
  static Val Int(int64_t i) {
    Val v;
    v.kind = Kind::kInt;
    v.i = i;
    return v;
  }
  static Val Float(double f) {
    Val v;
    v.kind = Kind::kFloat;
    v.f = f;
    return v;
  }
  static Val Bool(bool b) {
    Val v;
    v.kind = Kind::kBool;
    v.i = b;
    return v;
  }
  static Val Str(std::string s) {
    Val v;
    v.kind = Kind::kStr;
    v.s = std::move(s);
    return v;
  }
  static Val None() {
    Val v;
    v.kind = Kind::kNone;
    return v;
  }
  static Val Seq(Kind k, std::vector<Val> items) {
    Val v;
    v.kind = k;
    v.items = std::make_shared<std::vector<Val>>(std::move(items));
    return v;
  }
  static Val Dict() {
    Val v;
    v.kind = Kind::kDict;
    v.items = std::make_shared<std::vector<Val>>();
    v.keys = std::make_shared<std::vector<Val>>();
    return v;
  }
  bool is(Kind k) const { return kind == k; }
  bool is_number() const {
    return kind == Kind::kInt || kind == Kind::kFloat || kind == Kind::kBool;
  }
  double number() const { return kind == Kind::kFloat ? f : static_cast<double>(i); }
};

class Importer;
class Fallback;
class PluginOps;
// Lowers one node; reads its inputs through the importer and sets its outputs.
using Lowering = absl::Status (*)(Importer& im, tj::Node* n);
const std::unordered_map<std::string, Lowering>& AtenLowerings();    // lower_aten.cc
const std::unordered_map<std::string, Lowering>& ScalarLowerings();  // lower_scalar.cc

class Importer {
 public:
  explicit Importer(ir::Graph* graph) : graph_(graph), b_(graph) {}

  // `self` is the (frozen) module, forward()'s first parameter.
  absl::Status ImportGraph(tj::Graph& g, const c10::IValue& self,
                           const std::vector<ir::Value*>& inputs,
                           const std::vector<c10::IValue>& defaults);
  // With the parameters bound: evaluates the body and records the outputs.
  absl::Status Finish(tj::Graph& g);

  // ---- for lowerings ----
  ir::Builder& b() { return b_; }
  const Val& ValOf(const tj::Value* v) { return vals_[v]; }
  void SetVal(const tj::Value* v, Val val) { vals_[v] = std::move(val); }
  // Is `v` a view of another value, or the base of views?
  bool HasViews(const tj::Value* v) const {
    auto it = root_.find(v);
    const tj::Value* root = it == root_.end() ? v : it->second;
    auto a = aliases_.find(root);
    return a != aliases_.end() && a->second.size() > 1;
  }
  // Partial compilation (frontend/fallback.h); null: refuse what has no lowering.
  void SetFallback(Fallback* f) { fallback_ = f; }
  // Custom ops of sinter plugins (frontend/plugin_ops.h); null: none.
  void SetPluginOps(const PluginOps* p) { plugin_ops_ = p; }
  bool has_fallback() const { return fallback_ != nullptr; }
  const Val& In(tj::Node* n, size_t i) { return vals_[n->inputs().at(i)]; }
  size_t NumIn(tj::Node* n) const { return n->inputs().size(); }
  void Set(tj::Node* n, size_t i, Val v) { vals_[n->outputs().at(i)] = std::move(v); }
  // Rebinds an in-place op's target so later readers see the new value.
  void Rebind(tj::Node* n, size_t input, Val v) { vals_[n->inputs().at(input)] = std::move(v); }

  // A nested tensor (TransformerEncoder's padded sequences) is its dense
  // value with a padding mask [batch, seq] (true = padding) carried beside it.
  void SetNestedPadding(const ir::Value* v, ir::Value* pad) { nested_padding_[v] = pad; }
  ir::Value* NestedPadding(const ir::Value* v) const {
    auto it = nested_padding_.find(v);
    return it == nested_padding_.end() ? nullptr : it->second;
  }

  absl::StatusOr<ir::Value*> Tensor(tj::Node* n, size_t i);
  // A tensor, or nullptr when the input is None.
  absl::StatusOr<ir::Value*> OptTensor(tj::Node* n, size_t i);
  absl::StatusOr<int64_t> Int(tj::Node* n, size_t i);
  absl::StatusOr<double> Float(tj::Node* n, size_t i);
  absl::StatusOr<bool> Bool(tj::Node* n, size_t i);
  absl::StatusOr<std::vector<int64_t>> Ints(tj::Node* n, size_t i);
  bool IsNone(tj::Node* n, size_t i) { return In(n, i).is(Val::Kind::kNone); }
  // A tensor or a number (as a rank-0 constant of `like`'s dtype).
  absl::StatusOr<ir::Value*> TensorOrScalar(tj::Node* n, size_t i, ir::Value* like);
  ir::Value* Scalar(double v, ir::DType dtype);

  absl::Status Error(tj::Node* n, const std::string& msg);
  // A fresh symbol for a dimension the run decides (n0, n1, ...; a fallback
  // segment's are d0, d1, ...).
  std::string NewSizeSymbol() { return "n" + std::to_string(size_symbols_++); }
  // The symbol for the count of true elements of `mask`: one per mask, so
  // x[m] and y[m] have sizes sinter knows are equal.
  std::string MaskSizeSymbol(const ir::Value* mask) {
    auto [it, fresh] = mask_symbols_.emplace(mask, std::string());
    if (fresh) it->second = NewSizeSymbol();
    return it->second;
  }
  static std::string Loc(tj::Node* n);

  // Op building with the node's location in error messages.
  absl::StatusOr<ir::Value*> Op(ir::OpKind k, const std::vector<ir::Value*>& in,
                                ir::AttributeMap attrs = {});

 private:
  absl::Status EvalBlock(tj::Block* block);
  // `to` takes `from`'s value: its Val, or where `from` is a value the open
  // torch segment computes, that segment value.
  void Transfer(const tj::Value* from, const tj::Value* to);
  absl::Status Materialize(tj::Block* block);
  absl::Status EvalNode(tj::Node* n);
  absl::Status EvalIf(tj::Node* n);
  absl::Status EvalRunTimeIf(tj::Node* n, ir::Value* cond);
  absl::StatusOr<Val> SelectVal(ir::Value* cond, const Val& a, const Val& b);
  absl::Status EvalLoop(tj::Node* n);
  absl::Status EvalConstant(tj::Node* n);
  void Unsupported(tj::Node* n, const std::string& kind);
  // View tracking for in-place ops: views share storage with their base.
  void RecordViews(tj::Node* n, const std::string& kind);
  bool AliasReadLater(tj::Node* n);
  // An in-place op wrote `updated` into `target`, a view or the base of
  // others: the write is carried up the view chain to the storage root
  // (slice, select, reshape and transpose scattered back), and every alias
  // of the root re-derived from the new root, so that later readers of any
  // of them see it (functionalization). Unimplemented for a chain with a
  // view no write can go through (expand, a strided slice).
  absl::Status PropagateWrite(tj::Node* n, const tj::Value* target, Val updated);
  // An op sinter has no lowering for, whose tensor operands are all
  // constants (weights, buffers, what the graph computed from them), is run
  // by LibTorch itself at compile time and its results become constants:
  // index tables, meshgrids, masks made from shapes. False when the node does
  // not qualify (a run-time tensor operand, a nondeterministic or mutating
  // op, a value LibTorch's types cannot carry).
  // Are `n`'s tensor operands (one at least) all constants, small ones or
  // integer tensors (index arithmetic)?
  bool SmallConstantOperands(tj::Node* n);
  absl::StatusOr<bool> EvalWithTorch(tj::Node* n);

  ir::Graph* graph_;
  ir::Builder b_;
  std::unordered_map<const tj::Value*, Val> vals_;
  struct Miss {
    int count = 0;
    std::string first;
  };
  std::map<std::string, Miss> unsupported_;
  // Storage root of each view value, and the values sharing each root.
  std::unordered_map<const tj::Value*, const tj::Value*> root_;
  std::unordered_map<const tj::Value*, std::vector<const tj::Value*>> aliases_;
  // The view op that made each view value (its input 0 is the parent).
  std::unordered_map<const tj::Value*, tj::Node*> view_of_;
  std::unordered_map<const ir::Value*, ir::Value*> nested_padding_;
  tj::Node* current_ = nullptr;
  Fallback* fallback_ = nullptr;
  const PluginOps* plugin_ops_ = nullptr;
  int64_t size_symbols_ = 0;
  std::unordered_map<const ir::Value*, std::string> mask_symbols_;
};

absl::StatusOr<Val> FromIValue(Importer& im, const c10::IValue& v);
// A compile-time value as the IValue of TorchScript type `type`; nothing
// when it cannot be one (a run-time tensor, a poisoned value).
std::optional<c10::IValue> ToIValue(const Val& v, const c10::TypePtr& type);
// A constant IR value as a LibTorch tensor, or nothing for a run-time value.
std::optional<at::Tensor> ConstTensor(const ir::Value* v);
c10::ScalarType ToScalarType(ir::DType d);
absl::StatusOr<ir::DType> FromScalarType(c10::ScalarType t);

}  // namespace sinter::frontend

#endif  // SINTER_FRONTEND_IMPORTER_H_
