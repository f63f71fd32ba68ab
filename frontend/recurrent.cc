// GRU as ordinary IR, unrolled over the (static) sequence length: each layer
// and direction projects the whole sequence once (one GEMM for every
// timestep's input gates), then runs one small GEMM and one fused
// elementwise kernel per step. The LSTM is a primitive op with its own CPU
// kernel (and the same unrolling on CUDA, pass lower-lstm); the GRU reuses
// the ops every backend already runs and checks, at the cost of a kernel
// launch per step.
#include "absl/strings/str_cat.h"
#include "frontend/lowering_helpers.h"
#include "ir/status_macros.h"

namespace sinter::frontend {
namespace {

using ir::OpKind;

// Sequences longer than this would unroll into an IR too large to be a good
// idea; they are refused by name instead.
constexpr int64_t kMaxUnrolledSteps = 1024;

struct GruWeights {
  ir::Value* w_ih;  // [3H, I]
  ir::Value* w_hh;  // [3H, H]
  ir::Value* b_ih;  // [3H] or null
  ir::Value* b_hh;  // [3H] or null
};

// One direction of one layer over x [B, T, I] from h0 [B, H]: the outputs
// [B, T, H] in time order and the last state [B, H]. PyTorch's gates, in
// order r, z, n:
//   r = σ(W_ir x + b_ir + W_hr h + b_hr)
//   z = σ(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//   h' = (1 − z) ⊙ n + z ⊙ h
absl::StatusOr<std::pair<ir::Value*, ir::Value*>> GruDirection(Importer& im, ir::Value* x,
                                                               ir::Value* h, const GruWeights& w,
                                                               bool reverse) {
  const auto d = x->type().shape.extents();
  const int64_t batch = d[0], steps = d[1];
  const int64_t hidden = h->type().shape.extents()[1];
  std::vector<ir::Value*> gi_in{x, w.w_ih};
  if (w.b_ih != nullptr) gi_in.push_back(w.b_ih);
  ASSIGN_OR_RETURN(ir::Value * gi_all, im.Op(OpKind::kLinear, gi_in));  // [B, T, 3H]
  std::vector<ir::Value*> outs(steps);
  for (int64_t k = 0; k < steps; ++k) {
    const int64_t t = reverse ? steps - 1 - k : k;
    ASSIGN_OR_RETURN(ir::Value * gi, SelectOp(im, gi_all, 1, t));  // [B, 3H]
    std::vector<ir::Value*> gh_in{h, w.w_hh};
    if (w.b_hh != nullptr) gh_in.push_back(w.b_hh);
    ASSIGN_OR_RETURN(ir::Value * gh, im.Op(OpKind::kLinear, gh_in));
    ASSIGN_OR_RETURN(auto i3, SplitOp(im, gi, 1, hidden));
    ASSIGN_OR_RETURN(auto h3, SplitOp(im, gh, 1, hidden));
    ASSIGN_OR_RETURN(ir::Value * r_pre, im.Op(OpKind::kAdd, {i3[0], h3[0]}));
    ASSIGN_OR_RETURN(ir::Value * r, im.Op(OpKind::kSigmoid, {r_pre}));
    ASSIGN_OR_RETURN(ir::Value * z_pre, im.Op(OpKind::kAdd, {i3[1], h3[1]}));
    ASSIGN_OR_RETURN(ir::Value * z, im.Op(OpKind::kSigmoid, {z_pre}));
    ASSIGN_OR_RETURN(ir::Value * rn, im.Op(OpKind::kMul, {r, h3[2]}));
    ASSIGN_OR_RETURN(ir::Value * n_pre, im.Op(OpKind::kAdd, {i3[2], rn}));
    ASSIGN_OR_RETURN(ir::Value * nn, im.Op(OpKind::kTanh, {n_pre}));
    // (1 − z) n + z h = n + z (h − n)
    ASSIGN_OR_RETURN(ir::Value * diff, im.Op(OpKind::kSub, {h, nn}));
    ASSIGN_OR_RETURN(ir::Value * zd, im.Op(OpKind::kMul, {z, diff}));
    ASSIGN_OR_RETURN(h, im.Op(OpKind::kAdd, {nn, zd}));
    ASSIGN_OR_RETURN(outs[t], ReshapeOp(im, h, {batch, 1, hidden}));
  }
  ASSIGN_OR_RETURN(ir::Value * y, im.Op(OpKind::kConcat, outs, {{"axis", int64_t{1}}}));
  return std::make_pair(y, h);
}

}  // namespace

// gru(input, hx [L*D, B, H], params, has_biases, num_layers, dropout, train,
//     bidirectional, batch_first) -> (output, h_n)
absl::Status LowerGru(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * hx, im.Tensor(n, 1));
  const Val& list = im.In(n, 2);
  if (!list.is(Val::Kind::kList) && !list.is(Val::Kind::kTuple))
    return im.Error(n, "expected a list of GRU weights");
  std::vector<ir::Value*> params;
  for (const Val& v : *list.items) {
    if (!v.is(Val::Kind::kTensor)) return im.Error(n, "expected a list of GRU weights");
    params.push_back(v.tensor);
  }
  ASSIGN_OR_RETURN(bool has_biases, im.Bool(n, 3));
  ASSIGN_OR_RETURN(int64_t layers, im.Int(n, 4));
  ASSIGN_OR_RETURN(bool train, im.Bool(n, 6));
  ASSIGN_OR_RETURN(bool bidir, im.Bool(n, 7));
  ASSIGN_OR_RETURN(bool batch_first, im.Bool(n, 8));
  if (train) return im.Error(n, "gru in training mode");
  const int64_t dirs = bidir ? 2 : 1;
  const size_t per = has_biases ? 4 : 2;
  if (layers < 1 || params.size() != per * layers * dirs)
    return im.Error(
        n, absl::StrCat("gru expects ", per * layers * dirs, " weights, got ", params.size()));
  if (x->type().shape.rank() != 3 || hx->type().shape.rank() != 3)
    return im.Error(n, "gru expects a batched 3-d input and a 3-d hx");
  if (x->type().dtype != ir::DType::kF32) return im.Error(n, "gru runs in f32");
  if (!batch_first) {
    ASSIGN_OR_RETURN(x, TransposeOp(im, x, 0, 1));
  }
  const auto hd = hx->type().shape.extents();  // [L*D, B, H]
  if (hd[0] != layers * dirs) return im.Error(n, "gru hx has the wrong number of states");
  const int64_t steps = x->type().shape.extents()[1];
  if (steps * layers * dirs > kMaxUnrolledSteps)
    return im.Error(
        n, absl::StrCat("gru over ", steps, " steps x ", layers * dirs,
                        " layer-directions: more than ", kMaxUnrolledSteps, " unrolled steps"));
  std::vector<ir::Value*> finals;
  for (int64_t l = 0; l < layers; ++l) {
    std::vector<ir::Value*> ys;
    for (int64_t dir = 0; dir < dirs; ++dir) {
      const size_t at = per * (l * dirs + dir);
      GruWeights w{params[at], params[at + 1], has_biases ? params[at + 2] : nullptr,
                   has_biases ? params[at + 3] : nullptr};
      ASSIGN_OR_RETURN(ir::Value * h0, SelectOp(im, hx, 0, l * dirs + dir));
      ASSIGN_OR_RETURN(auto yh, GruDirection(im, x, h0, w, dir == 1));
      ys.push_back(yh.first);
      ASSIGN_OR_RETURN(ir::Value * last, ReshapeOp(im, yh.second, {1, hd[1], hd[2]}));
      finals.push_back(last);
    }
    if (ys.size() == 1) {
      x = ys[0];
    } else {
      ASSIGN_OR_RETURN(x, im.Op(OpKind::kConcat, ys, {{"axis", int64_t{2}}}));
    }
  }
  ir::Value* y = x;
  if (!batch_first) {
    ASSIGN_OR_RETURN(y, TransposeOp(im, y, 0, 1));
  }
  ir::Value* hn = finals[0];
  if (finals.size() > 1) {
    ASSIGN_OR_RETURN(hn, im.Op(OpKind::kConcat, finals, {{"axis", int64_t{0}}}));
  }
  im.Set(n, 0, Val::Tensor(y));
  im.Set(n, 1, Val::Tensor(hn));
  return absl::OkStatus();
}

}  // namespace sinter::frontend
