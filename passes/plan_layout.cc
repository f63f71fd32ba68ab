// Layout planning: NCHW or channels-last NHWC for each chain of convolutions,
// with the fewest layout changes.
//
//   conv2d(relu(conv2d(x, w1)), w2)
//     -> transpose(conv2d{NHWC}(relu(conv2d{NHWC}(transpose(x), w1')), w2'))
//
// Stages:
//  1. Regions. An op can run channels-last when its result is 4-D and it is a
//     conv2d or pool (through its input), an elementwise op whose operands are
//     4-D, constants or single values, a concat, or a keepdim reduction. Such
//     ops are joined with the producers of their 4-D operands that can too:
//     each connected group is one region (a ResNet is one region from the
//     stem to the global pool).
//  2. Cost. A region pays for a transpose of every tensor that enters it and
//     of every result used outside it (a transpose that moves only size-1
//     dims is a free reshape), and gains what its convolutions save in NHWC:
//     on CUDA with tensor cores (fp16, bf16, TF32) cuDNN runs NCHW convolutions
//     by transposing their input and output around NHWC kernels, so each
//     convolution saves its input and output bytes. Without tensor cores
//     cuDNN has native NCHW kernels: no gain. On the CPU the NHWC kernels
//     (kernels/cpu/nhwc.cc: im2col of whole channel runs, 1x1 convolutions as
//     one GEMM over every pixel) measured 5-30% faster per model than the
//     NCHW ones on ResNet-18/50, MobileNetV2 and SqueezeNet (2-core VM,
//     2026-12-02), so a convolution counts its input and output bytes there
//     too. A region moves to NHWC when the gain exceeds the cost
//     (layout=auto), always when it has a convolution (layout=nhwc, for
//     tests and experiments), or never (layout=nchw).
//  3. Rewrite. Values inside a chosen region are stored NHWC: conv2d and pools
//     get layout "NHWC", conv weights are transposed OIHW -> OHWI, concat and
//     reduction axes are renumbered, constant operands of elementwise ops are
//     reshaped to 4-D and transposed (fold-constants then folds all of these),
//     and one transpose is inserted per tensor that enters or leaves.
#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "absl/strings/str_cat.h"
#include "ir/shape_rules.h"
#include "ir/status_macros.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace sinter::passes {
namespace {

using ir::OpKind;

struct LayoutOptions {
  std::string target = "cpu";   // cpu | cuda
  std::string layout = "auto";  // auto | nhwc | nchw
  bool tensor_cores = false;    // CUDA convolutions run on tensor cores
};

absl::StatusOr<LayoutOptions> ParseOptions(const PassOptions& o) {
  LayoutOptions l;
  for (const auto& [k, v] : o) {
    if (k == "target" && (v == "cpu" || v == "cuda")) {
      l.target = v;
    } else if (k == "layout" && (v == "auto" || v == "nhwc" || v == "nchw")) {
      l.layout = v;
    } else if (k == "tensor_cores" && (v == "0" || v == "1")) {
      l.tensor_cores = v == "1";
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "option ", k, "=", v, ": use target=cpu|cuda layout=auto|nhwc|nchw tensor_cores=0|1"));
    }
  }
  return l;
}

bool Rank4(const ir::Value* v) { return v->type().shape.rank() == 4; }
bool IsConst(const ir::Value* v) { return ConstData(v) != nullptr; }
bool Single(const ir::Value* v) { return v->type().shape.NumElements().value_or(0) == 1; }

int64_t Bytes(const ir::Value* v) {
  return v->type().shape.NumElements().value_or(0) * ir::DTypeSize(v->type().dtype);
}

// The pools and reductions that run channels-last with an attribute change.
bool IsPool(OpKind k) {
  return k == OpKind::kMaxPool2d || k == OpKind::kAvgPool2d || k == OpKind::kAdaptiveAvgPool2d ||
         k == OpKind::kAdaptiveMaxPool2d;
}
bool IsReduce(OpKind k) {
  return k == OpKind::kReduceSum || k == OpKind::kReduceMean || k == OpKind::kReduceMax;
}

// Does transposing `dims` by `perm` keep the elements in order (only size-1
// dims move), so that a reshape does it?
bool OrderPreserving(const std::vector<int64_t>& dims, const int64_t (&perm)[4]) {
  int64_t last = -1;
  for (int i = 0; i < 4; ++i) {
    if (dims[perm[i]] == 1) continue;
    if (perm[i] < last) return false;
    last = perm[i];
  }
  return true;
}

// The operands through which `op` joins a region, or none when it cannot
// run channels-last.
std::vector<int> JoiningOperands(const ir::Operation* op) {
  if (op->num_results() != 1 || !Rank4(op->result())) return {};
  const OpKind k = op->kind();
  if (k == OpKind::kConv2d) {
    // Already planned, or fused (the pass runs before fusion): left alone.
    if (op->HasAttr("layout") || op->region("epilogue") != nullptr) return {};
    // A weight computed by the graph might come from a region itself;
    // only constant and input weights are transposed to OHWI.
    if (!IsConst(op->operand(1)) && op->operand(1)->def() != nullptr) return {};
    return {0};
  }
  if (IsPool(k)) return op->HasAttr("layout") ? std::vector<int>{} : std::vector<int>{0};
  if (k == OpKind::kConcat || IsReduce(k)) {
    if (k != OpKind::kConcat && !op->GetBool("keepdim")) return {};
    std::vector<int> all(op->num_operands());
    std::iota(all.begin(), all.end(), 0);
    return all;
  }
  if (!(op->info().traits & ir::kElementwise)) return {};
  std::vector<int> join;
  for (int i = 0; i < op->num_operands(); ++i) {
    const ir::Value* v = op->operand(i);
    if (IsConst(v) || Single(v)) continue;
    if (!Rank4(v)) return {};  // broadcast from a lower rank: order matters
    join.push_back(i);
  }
  return join;
}

// NCHW axis -> its position in NHWC.
int64_t NhwcAxis(int64_t axis) {
  static constexpr int64_t kPos[4] = {0, 3, 1, 2};
  return kPos[axis];
}

class Planner {
 public:
  Planner(ir::Graph& g, const LayoutOptions& opts, PassStats& stats)
      : g_(g), opts_(opts), stats_(stats) {}

  absl::Status Run() {
    FindRegions();
    for (const std::vector<ir::Operation*>& ops : regions_) {
      if (std::none_of(ops.begin(), ops.end(),
                       [](ir::Operation* op) { return op->kind() == OpKind::kConv2d; })) {
        continue;
      }
      ++stats_["regions"];
      if (!Chosen(ops)) continue;
      ++stats_["regions-nhwc"];
      RETURN_IF_ERROR(Rewrite(ops));
    }
    return absl::OkStatus();
  }

 private:
  // Stage 1: union-find over the ops that can run channels-last.
  void FindRegions() {
    std::map<ir::Operation*, ir::Operation*> parent;
    auto find = [&](ir::Operation* op) {
      while (parent[op] != op) op = parent[op] = parent[parent[op]];
      return op;
    };
    std::vector<ir::Operation*> order;
    for (const auto& op : g_.ops()) {
      std::vector<int> join = JoiningOperands(op.get());
      if (join.empty()) continue;
      parent[op.get()] = op.get();
      order.push_back(op.get());
      join_[op.get()] = join;
      for (int i : join) {
        ir::Operation* def = op->operand(i)->def();
        if (def != nullptr && parent.count(def)) parent[find(def)] = find(op.get());
      }
    }
    // Regions in the order of their first op, each in graph order, so that
    // the rewrite (and the artifact) is the same on every run.
    std::map<ir::Operation*, size_t> index;
    for (ir::Operation* op : order) {
      ir::Operation* root = find(op);
      region_of_[op] = root;
      auto [it, added] = index.emplace(root, regions_.size());
      if (added) regions_.emplace_back();
      regions_[it->second].push_back(op);
    }
  }

  bool InRegion(const ir::Value* v, const std::vector<ir::Operation*>& ops) const {
    auto it = region_of_.find(v->def());
    return v->def() != nullptr && it != region_of_.end() && it->second == region_of_.at(ops[0]);
  }
  bool Joins(ir::Operation* user, int slot) const {
    auto it = join_.find(user);
    return it != join_.end() && std::count(it->second.begin(), it->second.end(), slot);
  }

  // Uses of region values from outside it: (op, operand) pairs, with a null
  // op and the output index for graph outputs.
  std::vector<std::pair<ir::Operation*, int>> ExternalUses(ir::Value* r,
                                                           const std::vector<ir::Operation*>& ops) {
    std::vector<std::pair<ir::Operation*, int>> uses;
    std::set<ir::Operation*> seen;
    for (ir::Operation* u : r->users()) {
      if (!seen.insert(u).second) continue;
      const bool inside = region_of_.count(u) && region_of_.at(u) == region_of_.at(ops[0]);
      for (int i = 0; i < u->num_operands(); ++i) {
        if (u->operand(i) == r && !(inside && Joins(u, i))) uses.emplace_back(u, i);
      }
    }
    for (size_t i = 0; i < g_.outputs().size(); ++i) {
      if (g_.outputs()[i] == r) uses.emplace_back(nullptr, static_cast<int>(i));
    }
    return uses;
  }

  // Stage 2: the cost model.
  bool Chosen(const std::vector<ir::Operation*>& ops) {
    if (opts_.layout != "auto") return opts_.layout == "nhwc";
    int64_t cost = 0, gain = 0;
    std::set<ir::Value*> entering;
    for (ir::Operation* op : ops) {
      for (int i : join_[op]) {
        ir::Value* v = op->operand(i);
        if (!InRegion(v, ops) && entering.insert(v).second &&
            !OrderPreserving(v->type().shape.extents(), ir::kToNhwc)) {
          cost += Bytes(v);
        }
      }
      if (!ExternalUses(op->result(), ops).empty() &&
          !OrderPreserving(op->result()->type().shape.extents(), ir::kToNhwc)) {
        cost += Bytes(op->result());
      }
      if (op->kind() == OpKind::kConv2d && (opts_.target == "cpu" || opts_.tensor_cores)) {
        gain += Bytes(op->operand(0)) + Bytes(op->result());
      }
    }
    stats_["bytes-transposed"] += cost;
    return gain > cost;
  }

  // `v` transposed by `perm` (a reshape when that keeps the order), created
  // at `pos`.
  absl::StatusOr<ir::Value*> Permute(ir::Value* v, const int64_t (&perm)[4],
                                     ir::Graph::iterator pos) {
    ir::Builder b(&g_, pos);
    if (v->def() != nullptr) b.SetLoc(v->def()->loc());
    const std::vector<int64_t> d = v->type().shape.extents();
    if (OrderPreserving(d, perm)) {
      return b.Make(
          OpKind::kReshape, {v},
          {{"shape", std::vector<int64_t>{d[perm[0]], d[perm[1]], d[perm[2]], d[perm[3]]}}});
    }
    ++stats_["transposes-inserted"];
    return b.Make(OpKind::kTranspose, {v}, {{"perm", std::vector<int64_t>(perm, perm + 4)}});
  }

  ir::Graph::iterator After(ir::Value* v) {
    return v->def() == nullptr ? g_.ops().begin() : std::next(g_.Position(v->def()));
  }

  // Stage 3.
  absl::Status Rewrite(const std::vector<ir::Operation*>& ops) {
    // Uses from outside, taken before any type changes.
    std::vector<std::pair<ir::Value*, std::vector<std::pair<ir::Operation*, int>>>> leaving;
    for (ir::Operation* op : ops) {
      auto uses = ExternalUses(op->result(), ops);
      if (!uses.empty()) leaving.emplace_back(op->result(), std::move(uses));
    }
    std::map<ir::Value*, ir::Value*> entered;  // NCHW value -> its NHWC copy
    for (ir::Operation* op : ops) {
      for (int i : join_[op]) {
        ir::Value* v = op->operand(i);
        if (InRegion(v, ops)) continue;
        auto it = entered.find(v);
        if (it == entered.end()) {
          ASSIGN_OR_RETURN(ir::Value * t, Permute(v, ir::kToNhwc, After(v)));
          it = entered.emplace(v, t).first;
        }
        op->SetOperand(i, it->second);
      }
      ir::AttributeMap& attrs = op->mutable_attrs();
      const OpKind k = op->kind();
      if (k == OpKind::kConv2d) {
        ASSIGN_OR_RETURN(ir::Value * w, Permute(op->operand(1), ir::kToNhwc, g_.Position(op)));
        op->SetOperand(1, w);
        attrs["layout"] = std::string("NHWC");
      } else if (IsPool(k)) {
        attrs["layout"] = std::string("NHWC");
      } else if (k == OpKind::kConcat) {
        ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(op->GetInt("axis"), 4));
        attrs["axis"] = NhwcAxis(axis);
      } else if (IsReduce(k)) {
        std::vector<int64_t> axes;
        for (int64_t a : op->GetInts("axes")) {
          ASSIGN_OR_RETURN(int64_t axis, ir::NormalizeAxis(a, 4));
          axes.push_back(NhwcAxis(axis));
        }
        std::sort(axes.begin(), axes.end());
        attrs["axes"] = axes;
      } else {  // elementwise: constant operands become 4-D NHWC constants
        for (int i = 0; i < op->num_operands(); ++i) {
          ir::Value* c = op->operand(i);
          if (!IsConst(c) || Single(c)) continue;
          ir::Builder b(&g_, g_.Position(op));
          std::vector<int64_t> d = c->type().shape.extents();
          if (d.size() < 4) {
            d.insert(d.begin(), 4 - d.size(), 1);
            ASSIGN_OR_RETURN(c, b.Make(OpKind::kReshape, {c}, {{"shape", d}}));
          }
          ASSIGN_OR_RETURN(c, Permute(c, ir::kToNhwc, g_.Position(op)));
          op->SetOperand(i, c);
        }
      }
      std::vector<ir::TensorType> types;
      if (absl::Status st = op->info().infer(*op, &types); !st.ok()) {
        return absl::InternalError(absl::StrCat("channels-last ", std::string(op->name()), " at ",
                                                op->loc(), ": ", st.message()));
      }
      op->result()->set_type(types[0]);
      ++stats_["ops-nhwc"];
    }
    for (auto& [r, uses] : leaving) {
      ASSIGN_OR_RETURN(ir::Value * t, Permute(r, ir::kToNchw, After(r)));
      for (auto [user, i] : uses) {
        if (user == nullptr) {
          g_.SetOutput(i, t);
        } else {
          user->SetOperand(i, t);
        }
      }
    }
    return absl::OkStatus();
  }

  ir::Graph& g_;
  const LayoutOptions& opts_;
  PassStats& stats_;
  std::map<ir::Operation*, std::vector<int>> join_;
  std::map<ir::Operation*, ir::Operation*> region_of_;
  std::vector<std::vector<ir::Operation*>> regions_;
};

absl::Status RunPlanLayout(ir::Graph& g, PassStats& stats, const PassOptions& options) {
  ASSIGN_OR_RETURN(LayoutOptions opts, ParseOptions(options));
  if (opts.layout == "nchw") return absl::OkStatus();
  return Planner(g, opts, stats).Run();
}

}  // namespace

SINTER_REGISTER_PASS_WITH_OPTIONS(plan_layout, "plan-layout",
                                  "store each chain of convolutions NCHW or NHWC, whichever the "
                                  "target runs faster, with the fewest transposes",
                                  "target=cpu|cuda layout=auto|nhwc|nchw tensor_cores=0|1",
                                  RunPlanLayout);

}  // namespace sinter::passes
