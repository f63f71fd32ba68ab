// lstm(x, h0, c0, weights...) and gru(x, h0, weights...) -> their time steps
// unrolled into GEMMs, slices and elementwise gate math, for targets without
// recurrent kernels (CUDA): per layer and direction,
//   G = linear(X[T*B, I], W_ih, b_ih)                  all steps' input gates at once
//   per step t, lstm: s = G[t] + linear(h, W_hh, b_hh)
//               i, f, g, o = sigmoid(s[0:H]), sigmoid(s[H:2H]), tanh(s[2H:3H]), sigmoid(s[3H:])
//               c = f * c + i * g;  h = o * tanh(c)
//   per step t, gru:  a = linear(h, W_hh, b_hh)
//               r = sigmoid(G[t][0:H] + a[0:H]);  z = sigmoid(G[t][H:2H] + a[H:2H])
//               n = tanh(G[t][2H:] + r * a[2H:]);  h = n + z * (h - n)
// then the steps' h concatenated (both directions side by side), the last
// states from the last step of each layer and direction. PyTorch's gate
// orders and formulas (torch.nn.LSTM, torch.nn.GRU); the sequence length is
// static, so the unrolled graph is finite: T * layers * directions steps.
// Run before fusion, which then fuses each step's gate math into a few
// kernels.
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

// One step of an LSTM: the new h, and c updated.
absl::StatusOr<Value*> LstmStep(Emit& e, Value* gt, Value* h, Value** c, Value* w_hh, Value* b_hh,
                                int64_t H) {
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
  ASSIGN_OR_RETURN(Value * fc, e.Op(OpKind::kMul, {f, *c}));
  ASSIGN_OR_RETURN(Value * ig, e.Op(OpKind::kMul, {i, gg}));
  ASSIGN_OR_RETURN(*c, e.Op(OpKind::kAdd, {fc, ig}));
  ASSIGN_OR_RETURN(Value * tc, e.Op(OpKind::kTanh, {*c}));
  return e.Op(OpKind::kMul, {o, tc});
}

// One step of a GRU: the new h.
absl::StatusOr<Value*> GruStep(Emit& e, Value* gt, Value* h, Value* w_hh, Value* b_hh, int64_t H) {
  ASSIGN_OR_RETURN(Value * a, e.Linear(h, w_hh, b_hh));
  Value *gi[3], *gh[3];
  for (int q = 0; q < 3; ++q) {
    ASSIGN_OR_RETURN(gi[q], e.Slice(gt, 1, q * H, (q + 1) * H));
    ASSIGN_OR_RETURN(gh[q], e.Slice(a, 1, q * H, (q + 1) * H));
  }
  ASSIGN_OR_RETURN(Value * r_pre, e.Op(OpKind::kAdd, {gi[0], gh[0]}));
  ASSIGN_OR_RETURN(Value * r, e.Op(OpKind::kSigmoid, {r_pre}));
  ASSIGN_OR_RETURN(Value * z_pre, e.Op(OpKind::kAdd, {gi[1], gh[1]}));
  ASSIGN_OR_RETURN(Value * z, e.Op(OpKind::kSigmoid, {z_pre}));
  ASSIGN_OR_RETURN(Value * rn, e.Op(OpKind::kMul, {r, gh[2]}));
  ASSIGN_OR_RETURN(Value * n_pre, e.Op(OpKind::kAdd, {gi[2], rn}));
  ASSIGN_OR_RETURN(Value * n, e.Op(OpKind::kTanh, {n_pre}));
  ASSIGN_OR_RETURN(Value * diff, e.Op(OpKind::kSub, {h, n}));
  ASSIGN_OR_RETURN(Value * zd, e.Op(OpKind::kMul, {z, diff}));
  return e.Op(OpKind::kAdd, {n, zd});
}

absl::Status Lower(ir::Graph& g, ir::Operation* rnn) {
  ir::Builder b(&g, g.Position(rnn));
  b.SetLoc(rnn->loc());
  Emit e{b};
  const bool lstm = rnn->kind() == OpKind::kLstm;
  const int states = lstm ? 2 : 1, gates = lstm ? 4 : 3;
  const int64_t layers = rnn->GetInt("num_layers"), H = rnn->GetInt("hidden_size");
  const int64_t dirs = rnn->GetBool("bidirectional") ? 2 : 1;
  const int64_t per = rnn->GetBool("has_biases") ? 4 : 2;
  const bool batch_first = rnn->GetBool("batch_first");
  Value* x = rnn->operand(0);
  if (batch_first) {
    ASSIGN_OR_RETURN(x, e.Op(OpKind::kTranspose, {x}, {{"perm", std::vector<int64_t>{1, 0, 2}}}));
  }
  if (!x->type().shape.is_static()) {
    return absl::UnimplementedError(
        absl::StrCat(std::string(rnn->name()), " over a sequence the run sizes: no unrolled form"));
  }
  const std::vector<int64_t> xs = x->type().shape.extents();
  const int64_t T = xs[0], B = xs[1];
  std::vector<Value*> h_n, c_n;
  Value* layer_in = x;
  for (int64_t l = 0; l < layers; ++l) {
    const int64_t I = layer_in->type().shape[2].extent();
    std::vector<Value*> outs;  // per direction: [T, B, H]
    for (int64_t d = 0; d < dirs; ++d) {
      const int base = 1 + states + static_cast<int>((l * dirs + d) * per);
      Value* w_ih = rnn->operand(base);
      Value* w_hh = rnn->operand(base + 1);
      Value* b_ih = per == 4 ? rnn->operand(base + 2) : nullptr;
      Value* b_hh = per == 4 ? rnn->operand(base + 3) : nullptr;
      ASSIGN_OR_RETURN(Value * flat, e.Reshape(layer_in, {T * B, I}));
      ASSIGN_OR_RETURN(Value * gates_all, e.Linear(flat, w_ih, b_ih));
      ASSIGN_OR_RETURN(gates_all, e.Reshape(gates_all, {T, B * gates * H}));
      const int64_t state = l * dirs + d;
      ASSIGN_OR_RETURN(Value * h, e.Slice(rnn->operand(1), 0, state, state + 1));
      ASSIGN_OR_RETURN(h, e.Reshape(h, {B, H}));
      Value* c = nullptr;
      if (lstm) {
        ASSIGN_OR_RETURN(c, e.Slice(rnn->operand(2), 0, state, state + 1));
        ASSIGN_OR_RETURN(c, e.Reshape(c, {B, H}));
      }
      std::vector<Value*> hs(T);
      for (int64_t k = 0; k < T; ++k) {
        const int64_t t = d == 0 ? k : T - 1 - k;
        ASSIGN_OR_RETURN(Value * gt, e.Slice(gates_all, 0, t, t + 1));
        ASSIGN_OR_RETURN(gt, e.Reshape(gt, {B, gates * H}));
        if (lstm) {
          ASSIGN_OR_RETURN(h, LstmStep(e, gt, h, &c, w_hh, b_hh, H));
        } else {
          ASSIGN_OR_RETURN(h, GruStep(e, gt, h, w_hh, b_hh, H));
        }
        ASSIGN_OR_RETURN(hs[t], e.Reshape(h, {1, B, H}));
      }
      ASSIGN_OR_RETURN(Value * seq, T == 1 ? absl::StatusOr<Value*>(hs[0])
                                           : e.Op(OpKind::kConcat, hs, {{"axis", int64_t{0}}}));
      outs.push_back(seq);
      ASSIGN_OR_RETURN(Value * hn, e.Reshape(h, {1, B, H}));
      h_n.push_back(hn);
      if (lstm) {
        ASSIGN_OR_RETURN(Value * cn, e.Reshape(c, {1, B, H}));
        c_n.push_back(cn);
      }
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
  std::vector<Value*> repl{y};
  ASSIGN_OR_RETURN(Value * hn, stack(h_n));
  repl.push_back(hn);
  if (lstm) {
    ASSIGN_OR_RETURN(Value * cn, stack(c_n));
    repl.push_back(cn);
  }
  for (int r = 0; r < static_cast<int>(repl.size()); ++r) {
    if (repl[r]->type() != rnn->result(r)->type()) {
      return absl::InternalError(absl::StrCat(
          "lower-recurrent: result ", r, " is ", ir::ToString(repl[r]->type()), ", the ",
          std::string(rnn->name()), "'s ", ir::ToString(rnn->result(r)->type())));
    }
    rnn->result(r)->ReplaceAllUsesWith(repl[r]);
    for (size_t o = 0; o < g.outputs().size(); ++o)
      if (g.outputs()[o] == rnn->result(r)) g.SetOutput(static_cast<int>(o), repl[r]);
  }
  g.Erase(rnn);
  return absl::OkStatus();
}

absl::Status RunLowerRecurrent(ir::Graph& g, PassStats& stats) {
  std::vector<ir::Operation*> rnns;
  for (const auto& op : g.ops())
    if (op->kind() == OpKind::kLstm || op->kind() == OpKind::kGru) rnns.push_back(op.get());
  for (ir::Operation* op : rnns) {
    const bool lstm = op->kind() == OpKind::kLstm;
    RETURN_IF_ERROR(Lower(g, op));  // erases op
    ++stats[lstm ? "lstms-unrolled" : "grus-unrolled"];
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(lower_recurrent, "lower-recurrent",
                     "unroll lstm and gru into GEMMs and gate math (targets without their kernels)",
                     RunLowerRecurrent);

}  // namespace sinter::passes
