// Decompositions of PyTorch's fused transformer fast paths into sinter IR.
// With grad mode off (always, for inference) TorchScript takes the fast path
// of nn.TransformerEncoderLayer and nn.MultiheadAttention, which are single
// opaque aten ops; here they become linear, reshape, transpose, matmul,
// softmax and layer_norm, which later passes can fuse like any other ops.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "frontend/lowering_helpers.h"
#include "ir/status_macros.h"

namespace sinter::frontend {
namespace {

using ir::OpKind;

// [B, S, E] -> [B, H, S, D]
absl::StatusOr<ir::Value*> SplitHeads(Importer& im, ir::Value* x, int64_t heads) {
  auto d = x->type().shape.extents();
  ASSIGN_OR_RETURN(ir::Value * r, ReshapeOp(im, x, {d[0], d[1], heads, d[2] / heads}));
  return im.Op(OpKind::kTranspose, {r}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
}

// An attention mask as PyTorch's fast paths take it: mask_type 1 is a key
// padding mask [B, S_k] (true or nonzero = a padded key), mask_type 0 an
// attention mask [S_q, S_k] or [B, H, S_q, S_k]; a bool mask masks, a float
// one is added to the scores.
struct Mask {
  ir::Value* value = nullptr;  // null: none
  int64_t type = 0;
};

// scores [B, H, S_q, S_k] with `mask` applied: masked scores become -inf
// (softmax gives them weight 0) or the float mask is added.
absl::StatusOr<ir::Value*> ApplyMask(Importer& im, ir::Value* scores, const Mask& mask) {
  if (mask.value == nullptr) return scores;
  ir::Value* m = mask.value;
  const auto s = scores->type().shape.extents();
  const auto md = m->type().shape.extents();
  if (mask.type == 1) {
    if (md.size() != 2 || md[0] != s[0] || md[1] != s[3])
      return absl::InvalidArgumentError("a key padding mask must be [batch, keys]");
    ASSIGN_OR_RETURN(m, ReshapeOp(im, m, {s[0], 1, 1, s[3]}));
  } else if (md.size() == 3 && md[0] == s[0] * s[1]) {
    ASSIGN_OR_RETURN(m, ReshapeOp(im, m, {s[0], s[1], md[1], md[2]}));
  }
  if (m->type().dtype == ir::DType::kBool) {
    return im.Op(OpKind::kWhere, {m, im.Scalar(-INFINITY, scores->type().dtype), scores});
  }
  if (!ir::IsFloat(m->type().dtype)) {
    // PyTorch's fast path takes any nonzero as masked.
    ASSIGN_OR_RETURN(ir::Value * b, im.Op(OpKind::kNe, {m, im.Scalar(0, m->type().dtype)}));
    return im.Op(OpKind::kWhere, {b, im.Scalar(-INFINITY, scores->type().dtype), scores});
  }
  if (m->type().dtype != scores->type().dtype) {
    ASSIGN_OR_RETURN(
        m, im.Op(OpKind::kCast, {m}, {{"to", std::string(ir::DTypeName(scores->type().dtype))}}));
  }
  return im.Op(OpKind::kAdd, {scores, m});
}

// The optional mask operands (mask at `at`, mask_type at `type_at`) of the
// fast-path ops.
absl::StatusOr<Mask> MaskOperand(Importer& im, tj::Node* n, size_t at, size_t type_at) {
  Mask mask;
  if (im.NumIn(n) <= at || im.IsNone(n, at)) return mask;
  ASSIGN_OR_RETURN(mask.value, im.Tensor(n, at));
  if (im.NumIn(n) > type_at && !im.IsNone(n, type_at)) {
    ASSIGN_OR_RETURN(mask.type, im.Int(n, type_at));
  }
  if (mask.type != 0 && mask.type != 1)
    return im.Error(n, absl::StrCat("attention mask type ", mask.type, " is not supported"));
  return mask;
}

struct Attention {
  ir::Value* out;      // [B, S, E]
  ir::Value* weights;  // [B, H, S, S] softmax weights
};

// Multi-head scaled dot-product attention with packed in-projection weights
// (qkv_w [3E, E], qkv_b [3E]) and the output projection.
absl::StatusOr<Attention> MultiHead(Importer& im, ir::Value* q_in, ir::Value* k_in, ir::Value* v_in,
                                    int64_t embed, int64_t heads, ir::Value* qkv_w,
                                    ir::Value* qkv_b, ir::Value* proj_w, ir::Value* proj_b,
                                    const Mask& mask) {
  if (q_in->type().shape.rank() != 3 || heads <= 0 || embed % heads != 0) {
    return absl::InvalidArgumentError(
        "attention expects [batch, seq, embed] inputs and embed % heads == 0");
  }
  ir::Value *q, *k, *v;
  if (q_in == k_in && k_in == v_in) {
    // Self-attention: one GEMM for q, k and v.
    ASSIGN_OR_RETURN(ir::Value * qkv, im.Op(OpKind::kLinear, {q_in, qkv_w, qkv_b}));
    ASSIGN_OR_RETURN(auto parts, SplitOp(im, qkv, 2, embed));
    q = parts[0], k = parts[1], v = parts[2];
  } else {
    ASSIGN_OR_RETURN(auto ws, SplitOp(im, qkv_w, 0, embed));
    ASSIGN_OR_RETURN(auto bs, SplitOp(im, qkv_b, 0, embed));
    ASSIGN_OR_RETURN(q, im.Op(OpKind::kLinear, {q_in, ws[0], bs[0]}));
    ASSIGN_OR_RETURN(k, im.Op(OpKind::kLinear, {k_in, ws[1], bs[1]}));
    ASSIGN_OR_RETURN(v, im.Op(OpKind::kLinear, {v_in, ws[2], bs[2]}));
  }
  const int64_t head_dim = embed / heads;
  ASSIGN_OR_RETURN(ir::Value * qh, SplitHeads(im, q, heads));
  ASSIGN_OR_RETURN(ir::Value * kh, SplitHeads(im, k, heads));
  ASSIGN_OR_RETURN(ir::Value * vh, SplitHeads(im, v, heads));
  // PyTorch scales q by 1/sqrt(D) before q @ k^T.
  ASSIGN_OR_RETURN(
      qh, im.Op(OpKind::kMul,
                {qh, im.Scalar(1.0 / std::sqrt(static_cast<double>(head_dim)), qh->type().dtype)}));
  ASSIGN_OR_RETURN(ir::Value * kt, TransposeOp(im, kh, 2, 3));
  ASSIGN_OR_RETURN(ir::Value * scores, im.Op(OpKind::kMatmul, {qh, kt}));
  ASSIGN_OR_RETURN(scores, ApplyMask(im, scores, mask));
  ASSIGN_OR_RETURN(ir::Value * w, im.Op(OpKind::kSoftmax, {scores}, {{"axis", int64_t{-1}}}));
  ASSIGN_OR_RETURN(ir::Value * o, im.Op(OpKind::kMatmul, {w, vh}));
  ASSIGN_OR_RETURN(o, im.Op(OpKind::kTranspose, {o}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}}));
  auto qd = q_in->type().shape.extents();
  ASSIGN_OR_RETURN(o, ReshapeOp(im, o, {qd[0], qd[1], embed}));
  ASSIGN_OR_RETURN(o, im.Op(OpKind::kLinear, {o, proj_w, proj_b}));
  return Attention{o, w};
}

}  // namespace

// _transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_w, qkv_b,
//   proj_w, proj_b, use_gelu, norm_first, eps, norm1_w, norm1_b, norm2_w,
//   norm2_b, ffn1_w, ffn1_b, ffn2_w, ffn2_b, mask, mask_type)
absl::Status LowerTransformerEncoderLayer(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(int64_t embed, im.Int(n, 1));
  ASSIGN_OR_RETURN(int64_t heads, im.Int(n, 2));
  std::vector<ir::Value*> t(19, nullptr);
  for (size_t i : {3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16, 17}) {
    ASSIGN_OR_RETURN(t[i], im.Tensor(n, i));
  }
  ASSIGN_OR_RETURN(bool use_gelu, im.Bool(n, 7));
  ASSIGN_OR_RETURN(bool norm_first, im.Bool(n, 8));
  ASSIGN_OR_RETURN(double eps, im.Float(n, 9));
  ASSIGN_OR_RETURN(Mask mask, MaskOperand(im, n, 18, 19));
  // A layer of a TransformerEncoder on its nested-tensor path: the padding
  // travels with the tensor (see NestedFromMask).
  ir::Value* const pad = im.NestedPadding(x);
  if (pad != nullptr && mask.value == nullptr) mask = Mask{pad, 1};
  auto ln = [&](ir::Value* y, size_t w) { return LayerNormOp(im, y, 1, t[w], t[w + 1], eps); };
  auto attn = [&](ir::Value* y) -> absl::StatusOr<ir::Value*> {
    ASSIGN_OR_RETURN(Attention a,
                     MultiHead(im, y, y, y, embed, heads, t[3], t[4], t[5], t[6], mask));
    return a.out;
  };
  auto ffn = [&](ir::Value* y) -> absl::StatusOr<ir::Value*> {
    ASSIGN_OR_RETURN(ir::Value * h, im.Op(OpKind::kLinear, {y, t[14], t[15]}));
    if (use_gelu) {
      ASSIGN_OR_RETURN(h, im.Op(OpKind::kGelu, {h}, {{"approximate", std::string("none")}}));
    } else {
      ASSIGN_OR_RETURN(h, im.Op(OpKind::kRelu, {h}));
    }
    return im.Op(OpKind::kLinear, {h, t[16], t[17]});
  };
  ir::Value* y = x;
  if (norm_first) {
    ASSIGN_OR_RETURN(ir::Value * h, ln(y, 10));
    ASSIGN_OR_RETURN(h, attn(h));
    ASSIGN_OR_RETURN(y, im.Op(OpKind::kAdd, {y, h}));
    ASSIGN_OR_RETURN(h, ln(y, 12));
    ASSIGN_OR_RETURN(h, ffn(h));
    ASSIGN_OR_RETURN(y, im.Op(OpKind::kAdd, {y, h}));
  } else {
    ASSIGN_OR_RETURN(ir::Value * h, attn(y));
    ASSIGN_OR_RETURN(y, im.Op(OpKind::kAdd, {y, h}));
    ASSIGN_OR_RETURN(y, ln(y, 10));
    ASSIGN_OR_RETURN(h, ffn(y));
    ASSIGN_OR_RETURN(y, im.Op(OpKind::kAdd, {y, h}));
    ASSIGN_OR_RETURN(y, ln(y, 12));
  }
  if (pad != nullptr) im.SetNestedPadding(y, pad);
  im.Set(n, 0, Val::Tensor(y));
  return absl::OkStatus();
}

// TransformerEncoder with a key padding mask converts its input to a nested
// tensor (the sequences without their padding) when the mask is
// left-aligned, runs the layers on it and pads the result back with zeros;
// otherwise its layers run on the dense tensor with the mask. Both mask the
// padded keys, so they differ only at the padded positions: zeros, or what
// the layers computed for them. sinter keeps the dense tensor and carries the
// padding mask with it (the layers mask the padded keys), and
// to_padded_tensor decides at run time, as LibTorch does: zeros at the padded
// positions when every row's padding is at its end.
// _nested_tensor_from_mask(t, valid [B, S], mask_check)
absl::Status NestedFromMask(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ASSIGN_OR_RETURN(ir::Value * valid, im.Tensor(n, 1));
  const auto d = x->type().shape.extents();
  const auto md = valid->type().shape.extents();
  if (d.size() != 3 || md.size() != 2 || md[0] != d[0] || md[1] != d[1])
    return im.Error(n, "expected a [batch, seq, embed] tensor and a [batch, seq] mask");
  if (valid->type().dtype != ir::DType::kBool) {
    ASSIGN_OR_RETURN(valid, im.Op(OpKind::kNe, {valid, im.Scalar(0, valid->type().dtype)}));
  }
  ASSIGN_OR_RETURN(ir::Value * pad, im.Op(OpKind::kEq, {valid, im.Scalar(0, ir::DType::kBool)}));
  // The dense tensor itself (what the layers compute at padded positions
  // never reaches a valid one: those keys are masked), as a value of its own
  // to carry the mask; canonicalize drops the identity reshape.
  ASSIGN_OR_RETURN(ir::Value * y, im.Op(OpKind::kReshape, {x}, {{"shape", d}}));
  im.SetNestedPadding(y, pad);
  im.Set(n, 0, Val::Tensor(y));
  return absl::OkStatus();
}

// Whether every row of `pad` [B, S] has its padding at its end (no padded
// position followed by a valid one): LibTorch's left-alignment check, as a
// rank-0 bool computed at run time.
absl::StatusOr<ir::Value*> LeftAligned(Importer& im, ir::Value* pad) {
  const auto d = pad->type().shape.extents();
  if (d[1] < 2) return im.Scalar(1, ir::DType::kBool);
  ASSIGN_OR_RETURN(ir::Value * a, SliceOp(im, pad, 1, 0, d[1] - 1, 1));
  ASSIGN_OR_RETURN(ir::Value * b, SliceOp(im, pad, 1, 1, d[1], 1));
  // wrong = a padded position followed by a valid one, as 1.0 (selects
  // between floats, which every backend runs).
  ASSIGN_OR_RETURN(ir::Value * valid_b, im.Op(OpKind::kWhere, {b, im.Scalar(0, ir::DType::kF32),
                                                               im.Scalar(1, ir::DType::kF32)}));
  ASSIGN_OR_RETURN(ir::Value * f,
                   im.Op(OpKind::kWhere, {a, valid_b, im.Scalar(0, ir::DType::kF32)}));
  ASSIGN_OR_RETURN(
      ir::Value * any,
      im.Op(OpKind::kReduceMax, {f}, {{"axes", std::vector<int64_t>{0, 1}}, {"keepdim", false}}));
  return im.Op(OpKind::kEq, {any, im.Scalar(0, ir::DType::kF32)});
}

// to_padded_tensor(nested, padding, output_size=None)
absl::Status ToPaddedTensor(Importer& im, tj::Node* n) {
  ASSIGN_OR_RETURN(ir::Value * x, im.Tensor(n, 0));
  ir::Value* pad = im.NestedPadding(x);
  if (pad == nullptr) return im.Error(n, "to_padded_tensor of a tensor that is not nested");
  if (im.NumIn(n) > 2 && !im.IsNone(n, 2)) {
    ASSIGN_OR_RETURN(std::vector<int64_t> size, im.Ints(n, 2));
    if (size != x->type().shape.extents())
      return im.Error(n, "to_padded_tensor to a size other than the input's");
  }
  ASSIGN_OR_RETURN(double value, im.Float(n, 1));
  const auto d = x->type().shape.extents();
  ASSIGN_OR_RETURN(ir::Value * pad3, ReshapeOp(im, pad, {d[0], d[1], 1}));
  ASSIGN_OR_RETURN(ir::Value * aligned, LeftAligned(im, pad));
  // pad3 && aligned ? value : x, as two selects between floats.
  ASSIGN_OR_RETURN(ir::Value * v,
                   im.Op(OpKind::kWhere, {aligned, im.Scalar(value, x->type().dtype), x}));
  ASSIGN_OR_RETURN(ir::Value * y, im.Op(OpKind::kWhere, {pad3, v, x}));
  im.Set(n, 0, Val::Tensor(y));
  return absl::OkStatus();
}

// _native_multi_head_attention(q, k, v, embed_dim, num_heads, qkv_w, qkv_b,
//   proj_w, proj_b, mask, need_weights, average_attn_weights, mask_type)
//   -> (out, weights)
absl::Status LowerNativeMultiHeadAttention(Importer& im, tj::Node* n) {
  std::vector<ir::Value*> t(9, nullptr);
  for (size_t i : {0, 1, 2, 5, 6, 7, 8}) {
    ASSIGN_OR_RETURN(t[i], im.Tensor(n, i));
  }
  ASSIGN_OR_RETURN(int64_t embed, im.Int(n, 3));
  ASSIGN_OR_RETURN(int64_t heads, im.Int(n, 4));
  ASSIGN_OR_RETURN(Mask mask, MaskOperand(im, n, 9, 12));
  ASSIGN_OR_RETURN(bool need_weights, im.Bool(n, 10));
  ASSIGN_OR_RETURN(bool average, im.Bool(n, 11));
  ASSIGN_OR_RETURN(Attention a,
                   MultiHead(im, t[0], t[1], t[2], embed, heads, t[5], t[6], t[7], t[8], mask));
  im.Set(n, 0, Val::Tensor(a.out));
  if (!need_weights) {
    im.Set(n, 1, Val::None());
  } else if (average) {
    ASSIGN_OR_RETURN(ir::Value * w, im.Op(OpKind::kReduceMean, {a.weights},
                                          {{"axes", std::vector<int64_t>{1}}, {"keepdim", false}}));
    im.Set(n, 1, Val::Tensor(w));
  } else {
    im.Set(n, 1, Val::Tensor(a.weights));
  }
  return absl::OkStatus();
}

}  // namespace sinter::frontend
