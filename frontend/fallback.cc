#include "frontend/fallback.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/api/module.h>

#include <algorithm>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/status_macros.h"

namespace sinter::frontend {

struct Fallback::Open {
  std::shared_ptr<tj::Graph> graph = std::make_shared<tj::Graph>();
  // Original values computed inside, to their segment values (the latest
  // evaluation: a node in an unrolled loop joins once per trip).
  std::unordered_map<const tj::Value*, tj::Value*> map;
  std::vector<std::pair<const tj::Value*, tj::Value*>> produced;  // in order
  // The segment's run-time inputs: sinter tensors, each once.
  std::unordered_map<const ir::Value*, tj::Value*> input_of;
  std::vector<ir::Value*> inputs;
  std::unordered_map<const tj::Value*, c10::IValue> example;  // per segment value
  std::unordered_set<const tj::Node*> members;                // original nodes
  std::map<std::string, int> kinds;
  std::string loc;
  bool mutates = false;
  // Segment values whose size depends on the data (and everything computed
  // from them): they never cross into compiled code, only out of the model.
  std::unordered_set<const tj::Value*> dynamic;
};

Fallback::Fallback(Importer& im, const FallbackOptions& options,
                   const std::unordered_set<const tj::Node*>& forced)
    : im_(im), options_(options), forced_(forced) {}
Fallback::~Fallback() = default;

namespace {

bool Named(const FallbackOptions& o, const std::string& kind) {
  return std::find(o.torch_executed_ops.begin(), o.torch_executed_ops.end(), kind) !=
         o.torch_executed_ops.end();
}

// Example data for a run-time tensor of `type`: LibTorch runs each node on
// it to learn the node's result types. Fixed seed: compiles are repeatable.
at::Tensor ExampleTensor(const ir::TensorType& type) {
  static at::Generator* gen = new at::Generator(at::detail::createCPUGenerator(20261206));
  const auto opts = at::TensorOptions().dtype(ToScalarType(type.dtype));
  const std::vector<int64_t> shape = type.shape.extents();
  if (at::isFloatingType(ToScalarType(type.dtype))) return at::randn(shape, *gen, opts);
  return at::zeros(shape, opts);
}

std::string LibTorchWhat(const std::exception& e) {
  std::string w = e.what();
  if (size_t at = w.find("Exception raised from"); at != std::string::npos) w.resize(at);
  while (!w.empty() && (w.back() == '\n' || w.back() == ' ')) w.pop_back();
  return w;
}

}  // namespace

bool Fallback::Pending(const tj::Value* v) const { return open_ && open_->map.count(v) != 0; }

void Fallback::Forget(const tj::Value* v) {
  if (open_) open_->map.erase(v);
}

bool Fallback::CanCrossPending(const tj::Value* v) const { return CanCross(open_->map.at(v)); }

void Fallback::Alias(const tj::Value* from, const tj::Value* to) {
  tj::Value* seg = open_->map.at(from);
  open_->map[to] = seg;
  open_->produced.emplace_back(to, seg);
}

// What sinter's tensors can hold, so what may cross into compiled code.
bool Fallback::Holdable(const c10::IValue& example) const {
  if (!example.isTensor()) return false;
  const at::Tensor& t = example.toTensor();
  if (t.dim() > 8) return false;
  switch (t.scalar_type()) {
    case c10::kFloat:
    case c10::kHalf:
    case c10::kBFloat16:
    case c10::kLong:
    case c10::kInt:
    case c10::kChar:
    case c10::kByte:
    case c10::kBool:
      return true;
    default:  // complex, double (sinter computes in f32), quantized...
      return false;
  }
}

bool Fallback::CanCross(const tj::Value* seg) const {
  return !open_->dynamic.count(seg) && Holdable(open_->example.at(seg));
}

namespace {

// Ops whose result size depends on the data, not only on their operands'
// shapes.
bool DataDependentKind(const std::string& kind) {
  static const std::unordered_set<std::string> kinds = {
      "aten::nonzero",    "aten::nonzero_numpy",     "aten::argwhere", "aten::masked_select",
      "aten::unique_dim", "aten::_unique",           "aten::_unique2", "aten::unique_consecutive",
      "torchvision::nms", "torchvision::batched_nms"};
  return kinds.count(kind) != 0;
}

bool IsMask(const at::Tensor& t) {
  return t.scalar_type() == c10::kBool || t.scalar_type() == c10::kByte;
}

}  // namespace

bool Fallback::DataDependent(Importer& im, const tj::Node* n) {
  const std::string kind = n->kind().toQualString();
  if (DataDependentKind(kind)) return true;
  if (kind == "aten::where" && n->inputs().size() == 1) return true;  // where(cond): nonzero
  // x[mask]: as many rows as the mask has true elements.
  if (kind == "aten::index" && n->inputs().size() > 1) {
    const Val& idx = im.ValOf(n->inputs()[1]);
    if (!idx.is(Val::Kind::kList)) return false;
    for (const Val& i : *idx.items) {
      if (i.is(Val::Kind::kTensor) &&
          (i.tensor->type().dtype == ir::DType::kBool || i.tensor->type().dtype == ir::DType::kU8))
        return true;
    }
  }
  return false;
}

bool Fallback::InSegment(const tj::Node* user) const {
  for (const tj::Node* n = user; n != nullptr; n = n->owningBlock()->owningNode()) {
    if (open_->members.count(n)) return true;
    if (n->owningBlock() == nullptr) break;
  }
  return false;
}

namespace {

bool UsedOutside(const tj::Value* v, const std::function<bool(const tj::Node*)>& inside) {
  for (const tj::Use& u : v->uses())
    if (!inside(u.user)) return true;
  return false;
}

}  // namespace

// The model's own results leave through the top-level return: a value only
// that reads needs no compiled reader, so it strands nothing (Close hands it
// out, flattened).
bool ModelReturn(const tj::Node* u) {
  return u->kind() == c10::prim::Return && u->owningBlock() == u->owningGraph()->block();
}

bool Fallback::Stranded() const {
  for (const auto& [orig, seg] : open_->produced) {
    if (auto it = open_->map.find(orig);
        it == open_->map.end() || it->second != seg || CanCross(seg)) {
      continue;
    }
    if (UsedOutside(orig, [&](const tj::Node* u) { return InSegment(u) || ModelReturn(u); }))
      return true;
  }
  return false;
}

absl::StatusOr<bool> Fallback::Take(tj::Node* n, bool lowerable) {
  const std::string kind = n->kind().toQualString();
  if (forced_.count(n) || Named(options_, kind)) {
    RETURN_IF_ERROR(Add(n));
    return true;
  }
  // An object's attribute (a module's `self.cell_anchors = [...]`) set to
  // a value the segment holds: objects are the importer's, not LibTorch's,
  // so the attribute refers to the segment value, and reading it back
  // gives that value (its readers then join the segment).
  if (n->kind() == c10::prim::SetAttr || n->kind() == c10::prim::GetAttr) {
    const Val& obj = im_.ValOf(n->inputs()[0]);
    if (obj.is(Val::Kind::kDict)) {
      const std::pair<const void*, std::string> key{obj.items.get(), n->s(c10::attr::name)};
      if (n->kind() == c10::prim::SetAttr) {
        attrs_.erase(key);
        if (!Pending(n->inputs()[1])) return false;  // the importer stores it
        attrs_[key] = n->inputs()[1];
        return true;
      }
      if (auto it = attrs_.find(key); it != attrs_.end()) {
        if (Pending(it->second)) {
          Alias(it->second, n->output());
          im_.SetVal(n->output(), Val());
        } else {
          // The segment has closed: its value, if it could leave it.
          im_.SetVal(n->output(), im_.ValOf(it->second));
        }
        return true;
      }
      return false;
    }
  }
  if (!open_) return false;
  bool reads = false;
  for (const tj::Value* v : n->inputs()) {
    if (!Pending(v)) continue;
    reads = true;
    if (!CanCross(open_->map.at(v))) {
      RETURN_IF_ERROR(Add(n));
      return true;
    }
  }
  if (!reads) return false;
  if (!lowerable || Stranded()) {
    RETURN_IF_ERROR(Add(n));
    return true;
  }
  RETURN_IF_ERROR(Close());
  return false;
}

absl::StatusOr<tj::Value*> Fallback::SegValueOf(const Val& val, const c10::TypePtr& type) {
  tj::Graph& g = *open_->graph;
  auto constant = [&](const c10::IValue& iv) -> absl::StatusOr<tj::Value*> {
    try {
      tj::Value* c = g.insertConstant(iv);
      open_->example[c] = iv;
      return c;
    } catch (const std::exception& e) {
      return absl::UnimplementedError(
          absl::StrCat("a constant LibTorch cannot put in a graph: ", LibTorchWhat(e)));
    }
  };
  switch (val.kind) {
    case Val::Kind::kTensor: {
      // Weights the segment reads go into its module; run-time tensors are
      // its inputs.
      if (std::optional<at::Tensor> t = ConstTensor(val.tensor)) return constant(*t);
      if (auto it = open_->input_of.find(val.tensor); it != open_->input_of.end())
        return it->second;
      tj::Value* in = g.addInput(absl::StrCat("in", open_->inputs.size()));
      in->setType(c10::TensorType::get());
      open_->input_of[val.tensor] = in;
      open_->inputs.push_back(val.tensor);
      open_->example[in] = ExampleTensor(val.tensor->type());
      return in;
    }
    case Val::Kind::kList:
    case Val::Kind::kTuple: {
      // A tuple of constants is a constant; a list never is: the segment
      // may append to it, and a constant list would be one object shared
      // by every run (and every example run), growing each time.
      if (val.is(Val::Kind::kTuple)) {
        if (std::optional<c10::IValue> iv = ToIValue(val, type)) return constant(*iv);
      }
      // Built in the segment from its items.
      c10::TypePtr elem = c10::AnyType::get();
      std::vector<c10::TypePtr> elems;
      if (auto l = type->cast<c10::ListType>()) elem = l->getElementType();
      if (auto t = type->cast<c10::TupleType>()) elems = t->elements().vec();
      std::vector<tj::Value*> items;
      for (size_t i = 0; i < val.items->size(); ++i) {
        ASSIGN_OR_RETURN(tj::Value * item,
                         SegValueOf((*val.items)[i], i < elems.size() ? elems[i] : elem));
        items.push_back(item);
      }
      tj::Node* made =
          val.is(Val::Kind::kList)
              ? g.createList(elem->kind() == c10::TypeKind::AnyType ? c10::TensorType::get() : elem,
                             items)
              : g.createTuple(items);
      g.insertNode(made);
      RETURN_IF_ERROR(Examples(made, nullptr));
      return made->output();
    }
    case Val::Kind::kDict: {
      // An object (a TorchScript class instance, which the importer keeps
      // as a dict from attribute name to value): LibTorch reads it by slot
      // (prim::GetAttr), so the segment builds one of its class, each
      // attribute from the importer's value or, where the model set it to
      // a value the segment holds, from that (MultiScaleRoIAlign's
      // LevelMapper, whose k_min and k_max come from the feature sizes).
      c10::TypePtr t = type;
      if (auto o = t->cast<c10::OptionalType>()) t = o->getElementType();
      const c10::ClassTypePtr cls = t->cast<c10::ClassType>();
      if (cls == nullptr || cls->is_module() || cls->compilation_unit() == nullptr) break;
      tj::Node* create = g.insertNode(g.createObject(cls));
      auto example = c10::ivalue::Object::create(c10::StrongTypePtr(cls->compilation_unit(), cls),
                                                 cls->numAttributes());
      for (size_t i = 0; i < cls->numAttributes(); ++i) {
        const std::string name = cls->getAttributeName(i);
        tj::Value* item = nullptr;
        if (auto it = attrs_.find({val.items.get(), name}); it != attrs_.end()) {
          ASSIGN_OR_RETURN(item, SegValue(it->second));
        } else {
          size_t at = 0;
          while (at < val.keys->size() &&
                 !((*val.keys)[at].is(Val::Kind::kStr) && (*val.keys)[at].s == name)) {
            ++at;
          }
          if (at == val.keys->size()) {
            return absl::UnimplementedError(absl::StrCat(
                "an object of ", cls->str(), " whose attribute '", name, "' is not set"));
          }
          ASSIGN_OR_RETURN(item, SegValueOf((*val.items)[at], cls->getAttribute(i)));
        }
        tj::Node* set = g.create(c10::prim::SetAttr, {create->output(), item}, 0);
        set->s_(c10::attr::name, name);
        g.insertNode(set);
        std::optional<c10::IValue> e;
        if (auto it = open_->example.find(item); it != open_->example.end()) e = it->second;
        if (!e) e = tj::toIValue(item);
        if (!e) return absl::InternalError(absl::StrCat("attribute '", name, "' has no example"));
        example->setSlot(i, std::move(*e));
      }
      open_->example[create->output()] = c10::IValue(example);
      return create->output();
    }
    case Val::Kind::kPoison:
      return absl::FailedPreconditionError("a value no longer available");
    case Val::Kind::kNone:
      // None where the type holds no None: a branch that raises yields
      // placeholders (prim::Uninitialized, which the importer reads as
      // None); a None constant there would make LibTorch type the branch's
      // results Optional when it reads the saved segment back.
      if (type->kind() != c10::TypeKind::NoneType && type->kind() != c10::TypeKind::OptionalType &&
          type->kind() != c10::TypeKind::AnyType) {
        tj::Node* u = g.insertNode(g.createUninitialized(type));
        open_->example[u->output()] = c10::IValue();
        return u->output();
      }
      break;
    case Val::Kind::kInt:
    case Val::Kind::kFloat:
    case Val::Kind::kBool:
    case Val::Kind::kStr:
    case Val::Kind::kDevice:
      break;
  }
  std::optional<c10::IValue> iv = ToIValue(val, type);
  if (!iv) return absl::UnimplementedError("a value LibTorch's types cannot carry");
  return constant(*iv);
}

absl::StatusOr<tj::Value*> Fallback::SegValue(const tj::Value* v) {
  if (auto it = open_->map.find(v); it != open_->map.end()) return it->second;
  absl::StatusOr<tj::Value*> s = SegValueOf(im_.ValOf(v), v->type());
  if (!s.ok()) {
    return absl::Status(s.status().code(), absl::StrCat("torch fallback: operand %", v->debugName(),
                                                        ": ", s.status().message()));
  }
  return s;
}

namespace {

// Is `v` defined inside node `n` (in one of its blocks)?
bool DefinedIn(const tj::Value* v, const tj::Node* n) {
  for (const tj::Node* d = v->node(); d != nullptr;) {
    if (d == n) return true;
    const tj::Block* b = d->owningBlock();
    if (b == nullptr) break;
    d = b->owningNode();
  }
  return false;
}

// The values `n` reads from outside itself: its inputs and what the nodes
// of its blocks read from outside it.
void FreeValues(const tj::Node* n, const tj::Node* root, std::vector<const tj::Value*>* out) {
  for (const tj::Value* v : n->inputs())
    if (!DefinedIn(v, root)) out->push_back(v);
  for (const tj::Block* b : n->blocks()) {
    for (const tj::Node* inner : b->nodes()) FreeValues(inner, root, out);
    for (const tj::Value* v : b->outputs())
      if (!DefinedIn(v, root)) out->push_back(v);
  }
}

}  // namespace

absl::Status Fallback::Add(tj::Node* n) {
  if (!open_) {
    open_ = std::make_unique<Open>();
    open_->loc = Importer::Loc(n);
  }
  std::vector<const tj::Value*> free;
  FreeValues(n, n, &free);
  std::unordered_map<const tj::Value*, tj::Value*> env;
  for (const tj::Value* v : free) {
    if (env.count(v)) continue;
    ASSIGN_OR_RETURN(env[v], SegValue(v));
  }
  tj::Graph& g = *open_->graph;
  tj::Node* clone = g.createClone(n, [&](tj::Value* v) { return env.at(v); });
  g.insertNode(clone);
  for (size_t i = 0; i < n->outputs().size(); ++i) {
    open_->map[n->outputs()[i]] = clone->outputs()[i];
    open_->produced.emplace_back(n->outputs()[i], clone->outputs()[i]);
    im_.SetVal(n->outputs()[i], Val());
  }
  open_->members.insert(n);
  const std::string kind = n->kind().toQualString();
  // Is the size of what it computes (results, and operands it writes, as
  // `list.append(x[mask])` does) the data's?
  bool dynamic = DataDependentKind(kind) || (kind == "aten::where" && n->inputs().size() == 1);
  if (kind == "aten::index" && clone->inputs().size() > 1) {
    const c10::IValue& idx = open_->example.at(clone->inputs()[1]);
    if (idx.isList()) {
      for (const c10::IValue& i : idx.toListRef()) dynamic |= i.isTensor() && IsMask(i.toTensor());
    }
  }
  for (const tj::Value* v : free) dynamic |= open_->dynamic.count(env.at(v)) != 0;
  ++open_->kinds[kind];
  const c10::FunctionSchema* schema = n->maybeSchema();
  open_->mutates |= (schema != nullptr && schema->is_mutable()) || !n->blocks().empty();
  // An op that writes an operand in place (`b.mul_(3)`): later readers of
  // that operand must see the write, so it is the segment's value from now
  // on (the segment works on a copy of its inputs; Close). A write through
  // a view would also change the view's base, which is not followed here.
  if (schema != nullptr && schema->is_mutable()) {
    for (size_t i = 0; i < n->inputs().size() && i < schema->arguments().size(); ++i) {
      const c10::AliasInfo* alias = schema->arguments()[i].alias_info();
      if (alias == nullptr || !alias->isWrite()) continue;
      const tj::Value* target = n->inputs()[i];
      if (im_.HasViews(target)) {
        return absl::UnimplementedError(absl::StrCat(
            "torch fallback: ", kind, Importer::Loc(n).empty() ? "" : " at " + Importer::Loc(n),
            " writes in place into a tensor that has views; LibTorch segments do not carry such "
            "writes back yet"));
      }
      tj::Value* seg = env.at(target);
      if (dynamic) open_->dynamic.insert(seg);
      open_->map[target] = seg;
      open_->produced.emplace_back(target, seg);
      im_.SetVal(target, Val());
    }
  }
  // A loop or branch that joins may append to (or set items of) lists and
  // dicts from outside it, as `for i in ...: out.append(x)` does: like an
  // in-place write, such a container is the segment's from now on.
  std::vector<tj::Value*> rebound;
  if (!n->blocks().empty()) {
    for (const tj::Value* v : free) {
      const c10::TypeKind k = v->type()->kind();
      if ((k != c10::TypeKind::ListType && k != c10::TypeKind::DictType) ||
          open_->map.count(v) != 0)
        continue;
      tj::Value* seg = env.at(v);
      if (dynamic) open_->dynamic.insert(seg);
      open_->map[v] = seg;
      open_->produced.emplace_back(v, seg);
      im_.SetVal(v, Val());
      rebound.push_back(seg);
    }
  }
  events_.push_back({n, true});
  RETURN_IF_ERROR(Examples(clone, n, rebound));
  if (dynamic) {
    for (const tj::Value* o : clone->outputs()) open_->dynamic.insert(o);
  }
  return absl::OkStatus();
}

std::vector<c10::IValue> Fallback::RunPrefix(const std::vector<tj::Value*>& values) {
  tj::Graph& g = *open_->graph;
  const size_t before = g.outputs().size();
  for (tj::Value* v : values) g.registerOutput(v);
  std::shared_ptr<tj::Graph> copy = g.copy();
  while (g.outputs().size() > before) g.eraseOutput(g.outputs().size() - 1);
  std::vector<tj::Value*> outs(copy->outputs().begin(), copy->outputs().end());
  while (!copy->outputs().empty()) copy->eraseOutput(0);
  tj::Node* tup = copy->createTuple(outs);
  copy->insertNode(tup);
  copy->registerOutput(tup->output());
  tj::GraphFunction fn("segment_prefix", copy, nullptr);
  torch::jit::Stack stack;
  for (const tj::Value* v : g.inputs()) stack.push_back(open_->example.at(v));
  fn.run(stack);
  return stack.at(0).toTupleRef().elements().vec();
}

absl::Status Fallback::Examples(tj::Node* clone, tj::Node* original,
                                const std::vector<tj::Value*>& written) {
  auto& ex = open_->example;
  const std::string where =
      original
          ? absl::StrCat(original->kind().toQualString(),
                         Importer::Loc(original).empty() ? "" : " at " + Importer::Loc(original))
          : std::string(clone->kind().toQualString());
  // The segment so far runs, returning this node's results and the
  // containers it writes, read back from the same run: their examples
  // (lists a loop appended to) are what the run left.
  auto run_prefix = [&](torch::jit::Stack& stack) {
    std::vector<tj::Value*> values(clone->outputs().begin(), clone->outputs().end());
    values.insert(values.end(), written.begin(), written.end());
    std::vector<c10::IValue> elems = RunPrefix(values);
    for (size_t w = 0; w < written.size(); ++w)
      ex[written[w]] = elems.at(clone->outputs().size() + w);
    elems.resize(clone->outputs().size());
    stack.assign(elems.begin(), elems.end());
  };
  try {
    torch::jit::Stack stack;
    if (clone->blocks().empty() && clone->maybeOperator() != nullptr) {
      for (const tj::Value* v : clone->inputs()) {
        // Constants that Graph::insert made (Flatten's indices) have no
        // example of their own.
        if (auto it = ex.find(v); it != ex.end())
          stack.push_back(it->second);
        else if (std::optional<c10::IValue> c = tj::toIValue(v))
          stack.push_back(*c);
        else
          return absl::InternalError(absl::StrCat(where, ": an operand without an example"));
      }
      try {
        clone->getOperation()(stack);
      } catch (const std::exception&) {
        // The operands' examples come from separate runs, so a container
        // that a later op mutated (a detector's per-image dict, given its
        // "keypoints" in a loop) may be an older copy here: the whole
        // prefix, run once, has them consistent. Its error, if any, is
        // the one reported.
        run_prefix(stack);
      }
    } else {
      // Control flow: the segment so far runs.
      run_prefix(stack);
    }
    if (stack.size() != clone->outputs().size())
      return absl::InternalError(absl::StrCat(where, ": LibTorch returned ", stack.size(),
                                              " values for ", clone->outputs().size(), " results"));
    for (size_t i = 0; i < stack.size(); ++i) ex[clone->outputs()[i]] = stack[i];
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        where,
        ": LibTorch cannot run it on example inputs of the compiled shapes: ", LibTorchWhat(e)));
  }
  return absl::OkStatus();
}

absl::Status Fallback::Flatten(tj::Value* seg, bool dynamic, Val* shape,
                               std::vector<std::pair<tj::Value*, bool>>* leaves) {
  tj::Graph& g = *open_->graph;
  c10::IValue ex = open_->example.at(seg);
  dynamic |= open_->dynamic.count(seg) != 0;
  std::vector<tj::Value*> items;
  try {
    // A container's example may be an older copy (see Examples): what the
    // segment returns is what one run of it leaves there (Keypoint R-CNN's
    // per-image dicts get their keypoints after they are listed).
    if (ex.isList() || ex.isGenericDict()) ex = RunPrefix({seg}).at(0);
    if (ex.isTensor()) {
      if (!Holdable(ex)) {
        return absl::UnimplementedError(absl::StrCat(
            "torch fallback: the model returns a ", c10::toString(ex.toTensor().scalar_type()),
            " tensor computed in LibTorch, which sinter's outputs cannot hold"));
      }
      *shape = Val::Tensor(nullptr);
      leaves->emplace_back(seg, dynamic);
      return absl::OkStatus();
    }
    tj::Node* made = seg->node();
    const c10::Symbol k = made->kind();
    // A list may have been appended to after its construct (a detector's
    // per-image results are): its construct's items stand for it only when
    // the example has as many.
    const bool list_as_built = k == c10::prim::ListConstruct && ex.isList() &&
                               ex.toListRef().size() == made->inputs().size();
    // Likewise a dict given more keys later (Keypoint R-CNN's per-image
    // result gets its "keypoints" after the boxes).
    const bool dict_as_built = k == c10::prim::DictConstruct && ex.isGenericDict() &&
                               ex.toGenericDict().size() * 2 == made->inputs().size();
    if (k == c10::prim::TupleConstruct || list_as_built || dict_as_built) {
      // Built in the segment: its items directly, each with its own size
      // kind (a dict of a static and a data-dependent tensor stays so).
      const bool dict = k == c10::prim::DictConstruct;
      *shape =
          dict ? Val::Dict()
               : Val::Seq(k == c10::prim::ListConstruct ? Val::Kind::kList : Val::Kind::kTuple, {});
      for (size_t i = 0; i < made->inputs().size(); i += dict ? 2 : 1) {
        tj::Value* item = made->inputs()[dict ? i + 1 : i];
        if (dict) {
          const std::optional<c10::IValue> key = tj::toIValue(made->inputs()[i]);
          if (!key || !key->isString()) break;  // taken apart below instead
          shape->keys->push_back(Val::Str(key->toStringRef()));
        }
        items.push_back(item);
      }
      if (items.size() * (dict ? 2 : 1) == made->inputs().size()) {
        for (tj::Value* item : items) {
          Val v;
          RETURN_IF_ERROR(Flatten(item, false, &v, leaves));
          shape->items->push_back(std::move(v));
        }
        return absl::OkStatus();
      }
      items.clear();
    }
    if (ex.isTuple()) {
      tj::Node* unpack = g.insertNode(g.createTupleUnpack(seg));
      RETURN_IF_ERROR(Examples(unpack, nullptr));
      items.assign(unpack->outputs().begin(), unpack->outputs().end());
      *shape = Val::Seq(Val::Kind::kTuple, {});
    } else if (ex.isList()) {
      // The example's length: a list whose length the data decides (rare:
      // torchvision's are per image) is caught at run time, as its items
      // are then more or fewer than the results recorded.
      for (size_t i = 0; i < ex.toListRef().size(); ++i) {
        tj::Value* item = g.insert(c10::Symbol::fromQualString("aten::__getitem__"),
                                   {seg, static_cast<int64_t>(i)});
        RETURN_IF_ERROR(Examples(item->node(), nullptr));
        items.push_back(item);
      }
      *shape = Val::Seq(Val::Kind::kList, {});
    } else if (ex.isGenericDict() &&
               ex.toGenericDict().keyType()->kind() == c10::TypeKind::StringType) {
      *shape = Val::Dict();
      for (const auto& e : ex.toGenericDict()) {
        tj::Value* item = g.insert(c10::Symbol::fromQualString("aten::__getitem__"),
                                   {seg, e.key().toStringRef()});
        RETURN_IF_ERROR(Examples(item->node(), nullptr));
        items.push_back(item);
        shape->keys->push_back(Val::Str(e.key().toStringRef()));
      }
    } else {
      return absl::UnimplementedError(
          absl::StrCat("torch fallback: the model returns a ", ex.tagKind(),
                       " computed in LibTorch; sinter's outputs are tensors (in tuples, lists "
                       "and dicts with string keys)"));
    }
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("torch fallback: cannot take the model's outputs apart: ", LibTorchWhat(e)));
  }
  for (tj::Value* item : items) {
    Val v;
    RETURN_IF_ERROR(Flatten(item, dynamic, &v, leaves));
    shape->items->push_back(std::move(v));
  }
  return absl::OkStatus();
}

namespace {

// Fills the leaves of `shape` (Flatten's placeholders) with `results`, in order.
void FillLeaves(Val* shape, const std::vector<ir::Value*>& results, size_t* next) {
  if (shape->is(Val::Kind::kTensor)) {
    shape->tensor = results[(*next)++];
    return;
  }
  for (Val& item : *shape->items) FillLeaves(&item, results, next);
}

}  // namespace

absl::Status Fallback::Close(const tj::Block* model) {
  if (!open_) return absl::OkStatus();
  Open& o = *open_;
  std::vector<std::pair<const tj::Value*, tj::Value*>> outs;
  std::vector<bool> dynamic;
  for (const auto& [orig, seg] : o.produced) {
    if (auto it = o.map.find(orig); it == o.map.end() || it->second != seg || !CanCross(seg))
      continue;
    if (UsedOutside(orig, [&](const tj::Node* u) { return InSegment(u); })) {
      outs.emplace_back(orig, seg);
      dynamic.push_back(false);
    }
  }
  // At the end of the model: what it returns from the segment, which may be
  // of a data-dependent size or in containers, leaves as tensors.
  // Whenever it closes: a value only the model's return reads (no compiled
  // reader strands it) leaves now, or it would be lost.
  std::vector<const tj::Value*> to_return;
  if (model != nullptr) {
    for (const tj::Value* v : model->outputs()) to_return.push_back(v);
  }
  for (const auto& [orig, seg] : o.produced) {
    for (const tj::Use& u : orig->uses())
      if (ModelReturn(u.user)) to_return.push_back(orig);
  }
  std::vector<std::pair<const tj::Value*, Val>> returned;
  {
    for (const tj::Value* v : to_return) {
      if (!Pending(v) || CanCross(o.map.at(v))) continue;
      bool seen = false;
      for (const auto& r : returned) seen |= r.first == v;
      if (seen) continue;
      std::vector<std::pair<tj::Value*, bool>> leaves;
      Val shape;
      RETURN_IF_ERROR(Flatten(o.map.at(v), false, &shape, &leaves));
      for (const auto& [leaf, dyn] : leaves) {
        outs.emplace_back(v, leaf);
        dynamic.push_back(dyn);
      }
      returned.emplace_back(v, std::move(shape));
    }
  }
  if (outs.empty()) {  // nothing reads it (dead code), or what it returns holds no tensor
    for (auto& [v, shape] : returned) im_.SetVal(v, shape);
    open_.reset();
    return absl::OkStatus();
  }
  tj::Graph& g = *o.graph;
  std::vector<tj::Value*> results;
  for (const auto& [orig, seg] : outs) results.push_back(seg);
  tj::Node* tup = g.createTuple(results);
  g.insertNode(tup);
  g.registerOutput(tup->output());
  // Inputs are lent read-only (they may be mapped weights): a segment that
  // writes in place, or that control flow could make write, works on copies
  // (and returns the written copy where an input is also a result).
  if (o.mutates && !g.inputs().empty()) {
    tj::WithInsertPoint at(*g.block()->nodes().begin());
    for (tj::Value* in : g.inputs()) {
      tj::Value* copy = g.insert(c10::Symbol::fromQualString("aten::clone"), {in});
      in->replaceAllUsesAfterNodeWith(copy->node(), copy);
    }
  }
  ASSIGN_OR_RETURN(std::string payload, SerializeSegment(o.graph));

  // A dimension the data decides is recorded as -(k + 1): the k-th such
  // dimension of the model, a symbol of its own (ir/shape_rules.cc).
  std::vector<std::string> dtypes;
  std::vector<int64_t> dims;
  for (size_t r = 0; r < outs.size(); ++r) {
    const at::Tensor& t = o.example.at(outs[r].second).toTensor();
    ASSIGN_OR_RETURN(ir::DType d, FromScalarType(t.scalar_type()));
    dtypes.emplace_back(ir::DTypeName(d));
    dims.push_back(t.dim());
    for (int64_t e : t.sizes()) dims.push_back(dynamic[r] ? -(++symbols_) : e);
  }
  std::vector<std::string> kinds;
  for (const auto& [k, count] : o.kinds) kinds.push_back(absl::StrCat(k, " x", count));
  std::vector<uint8_t> bytes(payload.begin(), payload.end());
  ir::TensorType ptype{ir::DType::kU8, ir::Shape::Of({static_cast<int64_t>(bytes.size())})};
  std::vector<ir::Value*> operands{
      im_.b().Constant(std::make_shared<ir::TensorData>(ptype, std::move(bytes)))};
  operands.insert(operands.end(), o.inputs.begin(), o.inputs.end());
  ir::AttributeMap attrs{{"plugin", std::string("torch")},
                         {"abi", int64_t{1}},
                         {"ops", absl::StrJoin(kinds, ", ")},
                         {"result_dtypes", absl::StrJoin(dtypes, ",")},
                         {"result_dims", dims}};
  const std::string loc = im_.b().loc();  // the node being lowered's
  im_.b().SetLoc(o.loc);
  absl::StatusOr<ir::Operation*> made =
      im_.b().Create(ir::OpKind::kPluginSegment, operands, std::move(attrs));
  im_.b().SetLoc(loc);
  RETURN_IF_ERROR(made.status());
  ir::Operation* op = *made;
  std::vector<ir::Value*> leaf_results;
  for (size_t i = 0; i < outs.size(); ++i) {
    bool flattened = false;
    for (const auto& r : returned) flattened |= r.first == outs[i].first;
    if (flattened)
      leaf_results.push_back(op->result(i));
    else
      im_.SetVal(outs[i].first, Val::Tensor(op->result(i)));
  }
  size_t next = 0;
  for (auto& [v, shape] : returned) {
    FillLeaves(&shape, leaf_results, &next);
    im_.SetVal(v, shape);
  }
  ++segments_;
  open_.reset();
  return absl::OkStatus();
}

absl::StatusOr<std::string> SerializeSegment(const std::shared_ptr<tj::Graph>& graph) {
  try {
    tj::Module m(c10::QualifiedName("__torch__.sinter.Segment"));
    std::shared_ptr<tj::Graph> g = graph->copy();
    g->insertInput(0, "self")->setType(m._ivalue()->type());
    tj::Function* fn = m._ivalue()->compilation_unit()->create_function(
        c10::QualifiedName(*m.type()->name(), "forward"), g);
    m.type()->addMethod(fn);
    std::ostringstream os;
    m.save(os);
    return os.str();
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("torch fallback: LibTorch cannot save the segment: ", LibTorchWhat(e)));
  }
}

}  // namespace sinter::frontend
