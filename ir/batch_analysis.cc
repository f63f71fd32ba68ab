#include "ir/batch_analysis.h"

#include <cstring>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"

namespace sinter::ir {
std::string OpWhere(const Operation& op) {
  std::string s = absl::StrCat("'", std::string(op.name()), "'");
  if (!op.loc().empty()) absl::StrAppend(&s, " at ", op.loc());
  return s;
}

bool SameAttribute(const Attribute& a, const Attribute& b) {
  if (a.index() != b.index()) return false;
  if (const auto* t = std::get_if<TensorDataPtr>(&a)) {
    const TensorDataPtr& u = std::get<TensorDataPtr>(b);
    return *t == u || (*t && u && (*t)->type() == u->type() && (*t)->bytes() == u->bytes());
  }
  return a == b;
}

namespace {

absl::Status Refuse(const Operation& op, const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("the batch cannot run one sample at a time: ", OpWhere(op), " ", why));
}

int64_t Prod(const std::vector<int64_t>& d, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t i = b; i < e; ++i) p *= d[i];
  return p;
}

// Normalises a possibly negative axis attribute against `rank`.
int64_t Axis(int64_t axis, int rank) { return axis < 0 ? axis + rank : axis; }

// The batch axis of a value from its two types: the one axis whose extent is
// f at batch 1 and k * f at the probe batch; -1 when the types are equal.
// f > 1 is a batch folded into the axis together with other dims (attention's
// `view(L, B * heads, d)` and `view(L * B, E)`); which part of f lies inside
// the batch (its minor factor) only the reshape that folded it knows, so the
// walk below carries it per value and the reshape rule checks it.
absl::StatusOr<int> BatchAxis(const TensorType& unit, const TensorType& probe, int64_t k,
                              const std::string& what) {
  // The same type at both batches, a dimension the run decides included:
  // no batch axis (whether the op may read a batched operand is its rule's
  // question).
  if (unit == probe) return -1;
  if (unit.dtype != probe.dtype || unit.shape.rank() != probe.shape.rank() ||
      !unit.shape.is_static() || !probe.shape.is_static()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ", ToString(unit), " at batch 1 but ",
                                                   ToString(probe), " at batch ", k));
  }
  const std::vector<int64_t> u = unit.shape.extents(), p = probe.shape.extents();
  int axis = -1;
  for (size_t d = 0; d < u.size(); ++d) {
    if (u[d] == p[d]) continue;
    if (p[d] != k * u[d] || axis >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is ", ToString(unit), " at batch 1 but ", ToString(probe),
                       " at batch ", k, ": the batch is folded into another dimension"));
    }
    axis = static_cast<int>(d);
  }
  return axis;
}

// A constant that has a batch axis is one sample's constant repeated along
// it (zeros for a recurrent state): anything else, an arange over the batch,
// differs between samples.
bool RepeatsAlong(const TensorData& unit, const TensorData& probe, int axis, int64_t k) {
  const std::vector<int64_t> d = unit.type().shape.extents();
  // Taken with minor factor 1 (what CheckOp gives a constant): sample b is
  // the row after each of the batch axis's own indices.
  const int64_t outer = Prod(d, 0, axis + 1);
  const size_t inner =
      static_cast<size_t>(Prod(d, axis + 1, d.size()) * DTypeSize(unit.type().dtype));
  if (probe.bytes().size() != static_cast<size_t>(outer * k) * inner) return false;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t b = 0; b < k; ++b) {
      if (std::memcmp(probe.bytes().data() + (o * k + b) * inner, unit.bytes().data() + o * inner,
                      inner) != 0) {
        return false;
      }
    }
  }
  return true;
}

// The rule of `op`'s row: may it carry the batch along the axes it has?
// `in` and `out` are the batch axes of its operands and results (-1: none),
// `minor_in` the operands' minor factors; `minor_out` receives the results'.
absl::Status CheckOp(const Operation& op, const Operation& unit, const std::vector<int>& in,
                     const std::vector<int64_t>& minor_in, const std::vector<int>& out, int64_t k,
                     int64_t* minor_out) {
  bool any_in = false;
  for (int a : in) any_in |= a >= 0;
  // Said first: its states would also lose the axis, the lesser news.
  if ((op.kind() == OpKind::kLstm || op.kind() == OpKind::kGru) && in[0] >= 0 &&
      in[0] != (op.GetBool("batch_first") ? 0 : 1))
    return Refuse(op, "runs its recurrence over the batch axis");
  for (int a : out) {
    if (any_in && a < 0) return Refuse(op, "drops the batch axis (a result no longer has it)");
  }
  // Every op but reshape keeps the batch axis's extent and its folding: the
  // results' are the first batched operand's.
  *minor_out = 1;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] < 0) continue;
    *minor_out = minor_in[i];
    const int64_t extent = op.operand(static_cast<int>(i))->type().shape[in[i]].extent();
    for (int r = 0; r < op.num_results() && op.kind() != OpKind::kReshape; ++r) {
      if (out[r] >= 0 && op.result(r)->type().shape[out[r]].extent() != extent)
        return Refuse(op, "changes the extent of the batch axis");
    }
    break;
  }
  const int rank = op.num_results() > 0 ? op.result(0)->type().shape.rank() : 0;
  auto rank_of = [&](int i) { return op.operand(i)->type().shape.rank(); };
  // Operands 1.. are weights: one per model, not per sample.
  auto only_first = [&]() -> absl::Status {
    for (size_t i = 1; i < in.size(); ++i)
      if (in[i] >= 0) return Refuse(op, absl::StrCat("has a batched operand ", i, " (a weight)"));
    return absl::OkStatus();
  };
  // Broadcasting operands: each batched one's axis, right-aligned, is the result's.
  auto aligned = [&]() -> absl::Status {
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] >= 0 && in[i] + rank - rank_of(static_cast<int>(i)) != out[0])
        return Refuse(op, "broadcasts a batch axis onto another axis");
    }
    return absl::OkStatus();
  };
  auto not_along = [&](int64_t axis, const char* what) -> absl::Status {
    if (in[0] >= 0 && Axis(axis, rank_of(0)) == in[0])
      return Refuse(op, absl::StrCat(what, " along the batch axis ", in[0]));
    return absl::OkStatus();
  };

  switch (op.kind()) {
    case OpKind::kConst:
      if (out[0] >= 0 &&
          !RepeatsAlong(*unit.GetTensor("value"), *op.GetTensor("value"), out[0], k)) {
        return Refuse(op, "is a constant that differs between samples (built from the batch size)");
      }
      return absl::OkStatus();
    case OpKind::kRelu:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kExp:
    case OpKind::kLog:
    case OpKind::kSqrt:
    case OpKind::kRsqrt:
    case OpKind::kNeg:
    case OpKind::kAbs:
    case OpKind::kErf:
    case OpKind::kReciprocal:
    case OpKind::kSilu:
    case OpKind::kGelu:
    case OpKind::kHardswish:
    case OpKind::kHardsigmoid:
    case OpKind::kLeakyRelu:
    case OpKind::kElu:
    case OpKind::kClamp:
    case OpKind::kCast:
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kPow:
    case OpKind::kMaximum:
    case OpKind::kMinimum:
    case OpKind::kFusedElementwise:
    case OpKind::kGt:
    case OpKind::kGe:
    case OpKind::kLt:
    case OpKind::kLe:
    case OpKind::kEq:
    case OpKind::kNe:
    case OpKind::kWhere:
      return out[0] >= 0 ? aligned() : absl::OkStatus();
    case OpKind::kReduceSum:
    case OpKind::kReduceMean:
    case OpKind::kReduceMax:
      for (int64_t a : op.GetInts("axes")) RETURN_IF_ERROR(not_along(a, "reduces"));
      return absl::OkStatus();
    case OpKind::kSoftmax:
    case OpKind::kLogSoftmax:
      return not_along(op.GetInt("axis"), "normalises");
    case OpKind::kCumsum:
      return not_along(op.GetInt("axis"), "sums");
    case OpKind::kSort:
      return not_along(op.GetInt("axis"), "sorts");
    case OpKind::kGather: {
      const int64_t axis = Axis(op.GetInt("axis"), rank_of(0));
      if (in[0] >= 0 && in[1] != in[0]) return Refuse(op, "gathers one sample's indices from all");
      if (in[1] >= 0 && axis == in[1]) return Refuse(op, "gathers along the batch axis");
      return absl::OkStatus();
    }
    case OpKind::kGridSample:
      // Image n is read at grid n's points: both batched on N, or neither.
      if (in[0] != in[1] || (in[0] >= 0 && minor_in[0] != minor_in[1]))
        return Refuse(op, "reads one sample's image at another's grid");
      if (in[0] > 0) return Refuse(op, absl::StrCat("has the batch on axis ", in[0], ", not N"));
      return absl::OkStatus();
    case OpKind::kLayerNorm:
      // Normalises the trailing dims from `axis` on.
      if (in[0] >= 0 && in[0] >= Axis(op.GetInt("axis"), rank_of(0)))
        return Refuse(op, "normalises over the batch axis");
      return only_first();
    case OpKind::kFusedReduction:
      return Refuse(op, "is a fused reduction, which the frontend does not make");
    case OpKind::kBatchNorm:
      if (in[0] == 1) return Refuse(op, "has its batch on the channel axis");
      return only_first();
    case OpKind::kConv2d:
    case OpKind::kMaxPool2d:
    case OpKind::kAvgPool2d:
    case OpKind::kAdaptiveAvgPool2d:
    case OpKind::kAdaptiveMaxPool2d:
      if (in[0] > 0) return Refuse(op, absl::StrCat("has the batch on axis ", in[0], ", not N"));
      return only_first();
    case OpKind::kLinear:
      if (in[0] == rank_of(0) - 1) return Refuse(op, "contracts the batch axis");
      return only_first();
    case OpKind::kMatmul:
      if (in[0] >= 0 && in[0] == rank_of(0) - 1) return Refuse(op, "contracts the batch axis");
      if (in[1] >= 0 && (rank_of(1) == 1 || in[1] == rank_of(1) - 2))
        return Refuse(op, "contracts the batch axis");
      return out[0] >= 0 && in[0] >= 0 && in[1] >= 0 && in[0] + rank - rank_of(0) != out[0]
                 ? Refuse(op, "pairs different axes' batches")
                 : absl::OkStatus();
    case OpKind::kEmbedding:
      if (in[0] >= 0) return Refuse(op, "has a batched table");
      return absl::OkStatus();
    case OpKind::kLstm:
    case OpKind::kGru: {
      // The states (h0, and c0 for the LSTM) batched on axis 1; no weight.
      const size_t states = op.kind() == OpKind::kLstm ? 2 : 1;
      for (size_t i = 1; i < in.size(); ++i) {
        if (in[i] >= 0 && (i > states || in[i] != 1))
          return Refuse(op, absl::StrCat("has a batched operand ", i));
      }
      return absl::OkStatus();
    }
    case OpKind::kReshape: {
      if (in[0] < 0) return absl::OkStatus();
      // Row-major, a batched tensor is [P, batch, Q] for P the elements
      // before the batch in each sample's stride pattern (the dims before its
      // axis times the axis's major factor) and Q those after (the minor
      // factor times the dims after); a reshape keeps samples apart when
      // the result splits into the same P and Q around its batch axis.
      const std::vector<int64_t> x = op.operand(0)->type().shape.extents();
      const std::vector<int64_t> y = op.result(0)->type().shape.extents();
      const int64_t minor = minor_in[0], x_unit = x[in[0]] / k, y_unit = y[out[0]] / k;
      const int64_t p = Prod(x, 0, in[0]) * (x_unit / minor);
      const int64_t q = minor * Prod(x, in[0] + 1, x.size());
      const int64_t p_out = Prod(y, 0, out[0]), q_out = Prod(y, out[0] + 1, y.size());
      if (p_out == 0 || q_out == 0 || p % p_out != 0 || q % q_out != 0 ||
          (p / p_out) * (q / q_out) != y_unit) {
        return Refuse(op, "moves elements across the batch axis");
      }
      *minor_out = q / q_out;
      return absl::OkStatus();
    }
    case OpKind::kTranspose:
      if (in[0] >= 0 && Axis(op.GetInts("perm")[out[0]], rank) != in[0])
        return Refuse(op, "moves the batch axis inconsistently");
      return absl::OkStatus();
    case OpKind::kConcat:
      if (out[0] < 0) return absl::OkStatus();
      if (Axis(op.GetInt("axis"), rank) == out[0]) return Refuse(op, "joins along the batch axis");
      for (int a : in)
        if (a != out[0]) return Refuse(op, "joins a batched tensor with a shared one");
      return absl::OkStatus();
    case OpKind::kSlice:
      if (in[0] >= 0 && Axis(op.GetInt("axis"), rank) == in[0] &&
          (op.GetInt("start") != 0 || op.GetInt("step") != 1)) {
        return Refuse(op, "slices the batch axis");
      }
      return absl::OkStatus();
    case OpKind::kSliceLike:
      // Its extent is another value's: the batch's size, when that axis.
      if (in[1] >= 0 && Axis(op.GetInt("like_axis"), rank_of(1)) == in[1])
        return Refuse(op, "takes as many rows as the batch has");
      if (in[0] >= 0 && Axis(op.GetInt("axis"), rank) == in[0])
        return Refuse(op, "slices the batch axis");
      return absl::OkStatus();
    case OpKind::kExpand:
      return out[0] >= 0 ? aligned() : absl::OkStatus();
    case OpKind::kRoiAlign:
      // Each RoI names the image it reads: samples are not apart.
      if (any_in) return Refuse(op, "reads the image each RoI names, across the batch");
      return absl::OkStatus();
    case OpKind::kNonzero:
    case OpKind::kMaskedSelect:
    case OpKind::kNms:
      // One result for the whole batch, sized by the data: the samples'
      // runs would each give their own.
      if (any_in) return Refuse(op, "has a size the data decides over the whole batch");
      return absl::OkStatus();
    case OpKind::kPluginSegment:
    case OpKind::kPluginOp:
      if (any_in)
        return Refuse(op, "runs outside sinter (LibTorch or a plugin), where it cannot be checked");
      return absl::OkStatus();
  }
  return Refuse(op, "has no batch rule");
}

}  // namespace

absl::StatusOr<std::vector<int>> CheckSeparableBatch(const Graph& unit, const Graph& probe,
                                                     const std::vector<int>& input_axes,
                                                     int64_t k) {
  if (unit.inputs().size() != probe.inputs().size() || unit.inputs().size() != input_axes.size() ||
      unit.outputs().size() != probe.outputs().size()) {
    return absl::InvalidArgumentError(
        "the batch cannot run one sample at a time: the model's inputs or outputs change with "
        "the batch size");
  }
  std::unordered_map<const Value*, const Value*> to_unit;
  std::unordered_map<const Value*, int> axis_of;  // probe value -> batch axis
  // probe value -> the minor factor of a batch folded into its axis (1: the
  // batch alone or as the major factor).
  std::unordered_map<const Value*, int64_t> minor_of;
  for (size_t i = 0; i < unit.inputs().size(); ++i) {
    const Value* p = probe.input(static_cast<int>(i));
    const std::string what = absl::StrCat("input ", i, " '", p->name(), "'");
    auto axis = BatchAxis(unit.input(static_cast<int>(i))->type(), p->type(), k, what);
    if (!axis.ok()) return axis.status();
    if (*axis != input_axes[i]) {
      return absl::InternalError(
          absl::StrCat(what, ": the batch axis is ", *axis, ", expected ", input_axes[i]));
    }
    to_unit[p] = unit.input(static_cast<int>(i));
    axis_of[p] = *axis;
    minor_of[p] = 1;
  }
  auto u = unit.ops().begin();
  for (const auto& p_op : probe.ops()) {
    const Operation& p = *p_op;
    std::vector<int> in;
    std::vector<int64_t> minor_in;
    for (const Value* v : p.operands()) {
      in.push_back(axis_of.at(v));
      minor_in.push_back(minor_of.at(v));
    }
    int64_t minor = 1;
    auto same = [&](const Operation& o) {
      if (o.kind() != p.kind() || o.num_operands() != p.num_operands() ||
          o.num_results() != p.num_results() || !o.regions().empty() || !p.regions().empty()) {
        return false;
      }
      for (int i = 0; i < p.num_operands(); ++i)
        if (to_unit.at(p.operand(i)) != o.operand(i)) return false;
      return o.attrs().size() == p.attrs().size();
    };
    if (u == unit.ops().end() || !same(**u)) {
      // An expand or reshape to the operand's own shape is no op at batch 1
      // (`cls_token.expand(B, -1, -1)`): the frontend leaves it out there.
      const bool identity_at_unit =
          (p.kind() == OpKind::kExpand || p.kind() == OpKind::kReshape) &&
          BatchAxis(to_unit.at(p.operand(0))->type(), p.result()->type(), k, "").ok();
      if (!identity_at_unit) {
        return Refuse(p, absl::StrCat("is not in the program the model gives at batch 1: it "
                                      "depends on the batch size"));
      }
      auto axis = BatchAxis(to_unit.at(p.operand(0))->type(), p.result()->type(), k, "its result");
      RETURN_IF_ERROR(CheckOp(p, p, in, minor_in, {*axis}, k, &minor));
      to_unit[p.result()] = to_unit.at(p.operand(0));
      axis_of[p.result()] = *axis;
      minor_of[p.result()] = minor;
      continue;
    }
    const Operation& o = **u;
    ++u;
    std::vector<int> out;
    for (int r = 0; r < p.num_results(); ++r) {
      auto axis = BatchAxis(o.result(r)->type(), p.result(r)->type(), k,
                            absl::StrCat("result ", r, " of ", OpWhere(p)));
      if (!axis.ok() && p.kind() == OpKind::kSlice && in[0] >= 0 &&
          Axis(p.GetInt("axis"), p.operand(0)->type().shape.rank()) == in[0]) {
        return Refuse(p, "slices the batch axis: its samples are not treated alike");
      }
      if (!axis.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("the batch cannot run one sample at a time: ", axis.status().message()));
      }
      out.push_back(*axis);
      to_unit[p.result(r)] = o.result(r);
      axis_of[p.result(r)] = *axis;
    }
    for (const auto& [name, value] : p.attrs()) {
      auto it = o.attrs().find(name);
      if (it == o.attrs().end()) return Refuse(p, "is not the same op at batch 1");
      if (SameAttribute(it->second, value)) continue;
      // Target shapes follow the batch (the shape rule has checked them
      // against the result); a batched constant is checked by its rule.
      const bool follows_shape =
          name == "shape" && (p.kind() == OpKind::kReshape || p.kind() == OpKind::kExpand);
      const bool batched_const = p.kind() == OpKind::kConst && out[0] >= 0;
      if (!follows_shape && !batched_const) {
        return Refuse(p, absl::StrCat("has attribute '", name,
                                      "' computed from the batch size (it differs between "
                                      "batch 1 and batch ",
                                      k, ")"));
      }
    }
    RETURN_IF_ERROR(CheckOp(p, o, in, minor_in, out, k, &minor));
    for (int r = 0; r < p.num_results(); ++r) minor_of[p.result(r)] = minor;
  }
  if (u != unit.ops().end()) {
    return Refuse(**u, "is in the program only at batch 1: the model special-cases that size");
  }
  std::vector<int> output_axes;
  for (size_t i = 0; i < probe.outputs().size(); ++i) {
    const Value* p = probe.outputs()[i];
    if (to_unit.at(p) != unit.outputs()[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("the batch cannot run one sample at a time: output ", i,
                       " is a different value at batch 1 than at batch ", k));
    }
    const int axis = axis_of.at(p);
    if (axis >= 0 && unit.outputs()[i]->type().shape[axis].extent() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("the batch cannot run one sample at a time: output ", i,
                       " has the batch folded into its axis ", axis));
    }
    output_axes.push_back(axis);
  }
  return output_axes;
}

}  // namespace sinter::ir
