// lstm(x, h0, c0, weights...) -> its time steps unrolled into GEMMs, slices
// and elementwise gate math, for targets without an LSTM kernel (CUDA):
// per layer and direction,
//   G = linear(X[T*B, I], W_ih, b_ih)                  all steps' input gates at once
//   per step t: s = G[t] + linear(h, W_hh, b_hh)
//               i, f, g, o = sigmoid(s[0:H]), sigmoid(s[H:2H]), tanh(s[2H:3H]), sigmoid(s[3H:])
//               c = f * c + i * g;  h = o * tanh(c)
// then the steps' h concatenated (both directions side by side), h_n and c_n
// from the last step of each layer and direction. PyTorch's gate order and
// formulas (torch.nn.LSTM); the sequence length is static, so the unrolled
// graph is finite: T * layers * directions steps. Run before fusion, which
// then fuses each step's gate math into a few kernels.
#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "passes/pass.h"

namespace sinter::passes {
namespace {

using ir::OpKind;
using ir::Value;

// Operations the lowering makes, inserted before the LSTM.
struct Emit {
  ir::Builder& b;
  absl::StatusOr<Value*> Op(OpKind k, std::vector<Value*> in, ir::AttributeMap a = {}) {
    return b.Make(k, in, std::move(a));
  }
  absl::StatusOr<Value*> Slice(Value* v, int64_t axis, int64_t start, int64_t end) {
    return Op(OpKind::kSlice, {v},
              {{"axis", axis}, {"start", start}, {"end", end}, {"step", int64_t{1}}});
  }
  absl::StatusOr<Value*> Reshape(Value* v, std::vector<int64_t> shape) {
    return Op(OpKind::kReshape, {v}, {{"shape", shape}});
  }
  absl::StatusOr<Value*> Linear(Value* x, Value* w, Value* bias) {
    std::vector<Value*> in{x, w};
    if (bias != nullptr) in.push_back(bias);
    return Op(OpKind::kLinear, in);
  }
};

absl::Status Lower(ir::Graph& g, ir::Operation* lstm) {
  ir::Builder b(&g, g.Position(lstm));
  b.SetLoc(lstm->loc());
  Emit e{b};
  const int64_t layers = lstm->GetInt("num_layers"), H = lstm->GetInt("hidden_size");
  const int64_t dirs = lstm->GetBool("bidirectional") ? 2 : 1;
  const int64_t per = lstm->GetBool("has_biases") ? 4 : 2;
  const bool batch_first = lstm->GetBool("batch_first");
  Value* x = lstm->operand(0);
  if (batch_first) {
    ASSIGN_OR_RETURN(x, e.Op(OpKind::kTranspose, {x}, {{"perm", std::vector<int64_t>{1, 0, 2}}}));
  }
  const std::vector<int64_t> xs = x->type().shape.extents();
  const int64_t T = xs[0], B = xs[1];
  std::vector<Value*> h_n, c_n;
  Value* layer_in = x;
  for (int64_t l = 0; l < layers; ++l) {
    const int64_t I = layer_in->type().shape[2].extent();
    std::vector<Value*> outs;  // per direction: [T, B, H]
    for (int64_t d = 0; d < dirs; ++d) {
      const int base = 3 + static_cast<int>((l * dirs + d) * per);
      Value* w_ih = lstm->operand(base);
      Value* w_hh = lstm->operand(base + 1);
      Value* b_ih = per == 4 ? lstm->operand(base + 2) : nullptr;
      Value* b_hh = per == 4 ? lstm->operand(base + 3) : nullptr;
      ASSIGN_OR_RETURN(Value * flat, e.Reshape(layer_in, {T * B, I}));
      ASSIGN_OR_RETURN(Value * gates_all, e.Linear(flat, w_ih, b_ih));
      ASSIGN_OR_RETURN(gates_all, e.Reshape(gates_all, {T, B * 4 * H}));
      const int64_t state = l * dirs + d;
      ASSIGN_OR_RETURN(Value * h, e.Slice(lstm->operand(1), 0, state, state + 1));
      ASSIGN_OR_RETURN(h, e.Reshape(h, {B, H}));
      ASSIGN_OR_RETURN(Value * c, e.Slice(lstm->operand(2), 0, state, state + 1));
      ASSIGN_OR_RETURN(c, e.Reshape(c, {B, H}));
      std::vector<Value*> hs(T);
      for (int64_t k = 0; k < T; ++k) {
        const int64_t t = d == 0 ? k : T - 1 - k;
        ASSIGN_OR_RETURN(Value * gt, e.Slice(gates_all, 0, t, t + 1));
        ASSIGN_OR_RETURN(gt, e.Reshape(gt, {B, 4 * H}));
        ASSIGN_OR_RETURN(Value * r, e.Linear(h, w_hh, b_hh));
        ASSIGN_OR_RETURN(Value * s, e.Op(OpKind::kAdd, {gt, r}));
        Value* gate[4];
        for (int q = 0; q < 4; ++q) {
          ASSIGN_OR_RETURN(gate[q], e.Slice(s, 1, q * H, (q + 1) * H));
        }
        ASSIGN_OR_RETURN(Value * i, e.Op(OpKind::kSigmoid, {gate[0]}));
        ASSIGN_OR_RETURN(Value * f, e.Op(OpKind::kSigmoid, {gate[1]}));
        ASSIGN_OR_RETURN(Value * gg, e.Op(OpKind::kTanh, {gate[2]}));
        ASSIGN_OR_RETURN(Value * o, e.Op(OpKind::kSigmoid, {gate[3]}));
        ASSIGN_OR_RETURN(Value * fc, e.Op(OpKind::kMul, {f, c}));
        ASSIGN_OR_RETURN(Value * ig, e.Op(OpKind::kMul, {i, gg}));
        ASSIGN_OR_RETURN(c, e.Op(OpKind::kAdd, {fc, ig}));
        ASSIGN_OR_RETURN(Value * tc, e.Op(OpKind::kTanh, {c}));
        ASSIGN_OR_RETURN(h, e.Op(OpKind::kMul, {o, tc}));
        ASSIGN_OR_RETURN(hs[t], e.Reshape(h, {1, B, H}));
      }
      ASSIGN_OR_RETURN(Value * seq, T == 1 ? absl::StatusOr<Value*>(hs[0])
                                           : e.Op(OpKind::kConcat, hs, {{"axis", int64_t{0}}}));
      outs.push_back(seq);
      ASSIGN_OR_RETURN(Value * hn, e.Reshape(h, {1, B, H}));
      ASSIGN_OR_RETURN(Value * cn, e.Reshape(c, {1, B, H}));
      h_n.push_back(hn);
      c_n.push_back(cn);
    }
    if (dirs == 1) {
      layer_in = outs[0];
    } else {
      ASSIGN_OR_RETURN(layer_in, e.Op(OpKind::kConcat, outs, {{"axis", int64_t{2}}}));
    }
  }
  Value* y = layer_in;
  if (batch_first) {
    ASSIGN_OR_RETURN(y, e.Op(OpKind::kTranspose, {y}, {{"perm", std::vector<int64_t>{1, 0, 2}}}));
  }
  auto stack = [&](std::vector<Value*>& v) -> absl::StatusOr<Value*> {
    return v.size() == 1 ? absl::StatusOr<Value*>(v[0])
                         : e.Op(OpKind::kConcat, v, {{"axis", int64_t{0}}});
  };
  ASSIGN_OR_RETURN(Value * hn, stack(h_n));
  ASSIGN_OR_RETURN(Value * cn, stack(c_n));
  Value* repl[3] = {y, hn, cn};
  for (int r = 0; r < 3; ++r) {
    if (repl[r]->type() != lstm->result(r)->type()) {
      return absl::InternalError(absl::StrCat("lower-lstm: result ", r, " is ",
                                              ir::ToString(repl[r]->type()), ", the lstm's ",
                                              ir::ToString(lstm->result(r)->type())));
    }
    lstm->result(r)->ReplaceAllUsesWith(repl[r]);
    for (size_t o = 0; o < g.outputs().size(); ++o)
      if (g.outputs()[o] == lstm->result(r)) g.SetOutput(static_cast<int>(o), repl[r]);
  }
  g.Erase(lstm);
  return absl::OkStatus();
}

absl::Status RunLowerLstm(ir::Graph& g, PassStats& stats) {
  std::vector<ir::Operation*> lstms;
  for (const auto& op : g.ops())
    if (op->kind() == OpKind::kLstm) lstms.push_back(op.get());
  for (ir::Operation* op : lstms) {
    RETURN_IF_ERROR(Lower(g, op));
    ++stats["lstms-unrolled"];
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(lower_lstm, "lower-lstm",
                     "unroll lstm into GEMMs and gate math (targets without an LSTM kernel)",
                     RunLowerLstm);

}  // namespace sinter::passes
