// Reduction fusion: softmax, log_softmax and layer_norm take their elementwise
// neighbours into one fused_reduction kernel that streams each row once:
//   layer_norm(add(x, r), w, b) -> relu
//     -> fused_reduction(x, r, w, b) {kind = "layer_norm", ...}
//          prologue(%a, %b) { add }  epilogue(%n) { relu }
// The prologue is the producer of the reduced tensor (one elementwise op or a
// fused_elementwise), the epilogue its consumer. Run after fuse-elementwise
// and fuse-epilogue, so chains arrive as one fused_elementwise and a residual
// add already inside a GEMM's epilogue stays there.
//
// Legality:
//  - the prologue's result has exactly one user (the reduction) and is not a
//    graph output: a value that another op (say a later residual add or a
//    second reduction) still needs is materialised anyway, and fusing it
//    would compute it twice, so the prologue stays a kernel of its own;
//  - likewise the reduction's result for the epilogue, whose result must keep
//    the reduction's shape (an epilogue that broadcasts would recompute rows);
//  - the fused op runs where the epilogue (or the reduction) ran, so the
//    prologue's operands are read later than before: if an op in between may
//    write one of them in place (a kInPlace op reading it), the fusion is refused rather than
//    trusting every later planner to see the longer lifetime.
// The ops that fuse are the row reductions of runtime/format/reductions.def,
// each the kind of its own name; softmax fuses only over the last axis (the
// kind's last_axis column): the kernel walks contiguous rows.
#include <optional>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "ir/shape_rules.h"
#include "passes/fusion_util.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace sinter::passes {
namespace {

using ir::OpKind;

// Does an op strictly between `from` and `to` (graph order) that may run in
// place read one of `values`?
bool InPlaceBetween(ir::Graph& g, ir::Operation* from, ir::Operation* to,
                    const std::vector<ir::Value*>& values) {
  if (from == to) return false;
  std::unordered_set<const ir::Value*> watched(values.begin(), values.end());
  for (auto it = std::next(g.Position(from)); it != g.Position(to); ++it) {
    // kInPlace ops, which the memory planner may run over their operand 0
    // (passes/memory_plan.cc).
    if (!(*it)->info().Has(ir::kInPlace)) continue;
    for (ir::Value* v : (*it)->operands()) {
      if (watched.count(v)) return true;
    }
  }
  return false;
}

// The one user of `v` when it may be fused into it.
ir::Operation* SoleUser(ir::Graph& g, ir::Value* v) {
  if (v->users().size() != 1 || g.IsOutput(v)) return nullptr;
  return v->users()[0];
}

// A scalar f32 constant's value (rank 0 or one element).
std::optional<float> ScalarConst(const ir::Value* v) {
  if (v->type().shape.NumElements() != std::optional<int64_t>(1)) return std::nullopt;
  return SplatF32(v);
}

// softmax(matmul(mul(a, c), b)) -> prologue { mul(%0, c) } over matmul(a, b),
// for a scalar constant c (also div): the attention scale moves from a kernel
// of its own into the softmax's row pass. (c*a)@b == c*(a@b) up to rounding,
// and exactly for the power-of-two scales 1/sqrt(head_dim) usually is.
std::unique_ptr<ir::Graph> ScaleThroughMatmul(ir::Graph& g, ir::Operation* red,
                                              std::vector<ir::Value*>* inputs) {
  ir::Operation* mm = red->operand(0)->def();
  if (mm == nullptr || mm->kind() != OpKind::kMatmul || SoleUser(g, mm->result()) != red) {
    return nullptr;
  }
  ir::Operation* scale = mm->operand(0)->def();
  if (scale == nullptr || (scale->kind() != OpKind::kMul && scale->kind() != OpKind::kDiv) ||
      SoleUser(g, scale->result()) != mm || !Fusable(*scale)) {
    return nullptr;
  }
  std::optional<float> c = ScalarConst(scale->operand(1));
  ir::Value* a = scale->operand(0);
  if (!c && scale->kind() == OpKind::kMul) {
    c = ScalarConst(scale->operand(0));
    a = scale->operand(1);
  }
  if (!c || a->type() != scale->result()->type()) return nullptr;
  ir::BodyBuilder bb;
  ir::Value* x = bb.Read(mm->result(), /*inline_scalars=*/false);
  ir::Builder at(bb.body());
  absl::StatusOr<ir::Value*> y = bb.Make(scale->kind(), {x, at.ScalarF32(*c)});
  if (!y.ok()) return nullptr;
  mm->SetOperand(0, a);
  g.Erase(scale);
  inputs->assign({mm->result()});
  return bb.Finish(*y);
}

absl::Status RunFuseReduction(ir::Graph& g, PassStats& stats) {
  std::vector<std::pair<ir::Operation*, format::RowReduction>> reductions;
  for (const auto& op : g.ops()) {
    format::RowReduction kind;
    if (!format::RowReductionByName(op->name(), &kind)) continue;
    const ir::TensorType& t = op->result()->type();
    if (t.dtype != ir::DType::kF32 || !t.shape.is_static() || t.shape.rank() == 0) continue;
    bool f32 = true;
    for (ir::Value* v : op->operands()) f32 &= v->type().dtype == ir::DType::kF32;
    auto axis = ir::NormalizeAxis(op->GetInt("axis"), t.shape.rank());
    if (!f32 || !axis.ok() || (format::InfoOf(kind).last_axis && *axis != t.shape.rank() - 1))
      continue;
    reductions.emplace_back(op.get(), kind);
  }

  for (auto [red, kind] : reductions) {
    const bool norm = format::InfoOf(kind).affine;
    ir::Value* x = red->operand(0);
    ir::Value* r = red->result();

    // Epilogue: the sole consumer, when it keeps the shape.
    ir::Operation* epi = SoleUser(g, r);
    std::unique_ptr<ir::Graph> epilogue;
    std::vector<ir::Value*> extra;
    if (epi != nullptr && epi->result()->type() == r->type()) epilogue = BodyOver(epi, r, &extra);
    if (epilogue == nullptr) {
      epi = nullptr;
      extra.clear();
    }
    ir::Operation* at = epi ? epi : red;  // where the fused op will run

    // Prologue: the sole producer, else an attention scale behind a matmul.
    std::unique_ptr<ir::Graph> prologue;
    std::vector<ir::Value*> inputs{x};
    ir::Operation* pro = x->def();
    if (pro != nullptr && SoleUser(g, x) == red) prologue = BodyOf(pro, &inputs);
    if (prologue == nullptr) {
      pro = nullptr;
      inputs = {x};
    }
    if (pro == nullptr && epi == nullptr && !norm) {
      prologue = ScaleThroughMatmul(g, red, &inputs);
      if (prologue != nullptr) ++stats["scales-moved"];
    }
    if (pro == nullptr && epi == nullptr && prologue == nullptr) continue;

    // What used to be read at `pro` or `red` is now read at `at`.
    std::vector<ir::Value*> moved = inputs;
    moved.insert(moved.end(), red->operands().begin() + 1, red->operands().end());
    if (InPlaceBetween(g, pro ? pro : red, at, moved)) {
      ++stats["refused-in-place"];
      continue;
    }

    std::vector<ir::Value*> operands = inputs;
    if (norm) {
      operands.push_back(red->operand(1));
      operands.push_back(red->operand(2));
    }
    operands.insert(operands.end(), extra.begin(), extra.end());
    ir::AttributeMap attrs{{"kind", std::string(red->name())},
                           {"axis", red->GetInt("axis")},
                           {"inputs", static_cast<int64_t>(inputs.size())}};
    if (norm) attrs["eps"] = red->GetFloat("eps");
    ir::RegionList regions;
    if (prologue) regions.push_back({"prologue", std::move(prologue)});
    if (epilogue) regions.push_back({"epilogue", std::move(epilogue)});

    ir::Builder b(&g, g.Position(at));
    b.SetLoc(red->loc());
    auto fused = b.Make(OpKind::kFusedReduction, operands, std::move(attrs), std::move(regions));
    if (!fused.ok()) return fused.status();
    ir::Value* replaced = epi ? epi->result() : r;
    if ((*fused)->type() != replaced->type()) {
      return absl::InternalError("fused_reduction changed a result type");
    }
    replaced->ReplaceAllUsesWith(*fused);
    if (epi) g.Erase(epi);
    g.Erase(red);
    if (pro) g.Erase(pro);
    ++stats["fused-reductions"];
    stats["prologues-fused"] += pro != nullptr;
    stats["epilogues-fused"] += epi != nullptr;
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(fuse_reduction, "fuse-reduction",
                     "fuse softmax/log_softmax/layer_norm with their elementwise neighbours",
                     RunFuseReduction);

}  // namespace sinter::passes
