// aten::gru as the `gru` op: one kernel on the CPU (kernels/cpu/gru.cc,
// whose steps may be sized by the run), unrolled into GEMMs and gate math for
// targets without it (pass lower-recurrent), as the LSTM is.
#include "absl/strings/str_cat.h"
#include "frontend/lowering_helpers.h"
#include "ir/status_macros.h"

namespace sinter::frontend {

using ir::OpKind;

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
  const auto hd = hx->type().shape.dims();  // [L*D, B, H]
  if (!hd[0].is_static() || hd[0].extent() != layers * dirs)
    return im.Error(n, "gru hx has the wrong number of states");
  if (params[1]->type().shape.rank() != 2 || !params[1]->type().shape[1].is_static())
    return im.Error(n, "unexpected gru weights");
  const int64_t hidden = params[1]->type().shape[1].extent();
  std::vector<ir::Value*> in{x, hx};
  in.insert(in.end(), params.begin(), params.end());
  auto op = im.b().Create(OpKind::kGru, in,
                          {{"num_layers", layers},
                           {"hidden_size", hidden},
                           {"batch_first", batch_first},
                           {"bidirectional", bidir},
                           {"has_biases", has_biases}});
  if (!op.ok()) return im.Error(n, std::string(op.status().message()));
  im.Set(n, 0, Val::Tensor((*op)->result(0)));
  im.Set(n, 1, Val::Tensor((*op)->result(1)));
  return absl::OkStatus();
}

}  // namespace sinter::frontend
