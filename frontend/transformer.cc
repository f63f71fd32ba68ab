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

struct Attention {
  ir::Value* out;      // [B, S, E]
  ir::Value* weights;  // [B, H, S, S] softmax weights
};

// Multi-head scaled dot-product attention with packed in-projection weights
// (qkv_w [3E, E], qkv_b [3E]) and the output projection.
absl::StatusOr<Attention> MultiHead(Importer& im, ir::Value* q_in, ir::Value* k_in, ir::Value* v_in,
                                    int64_t embed, int64_t heads, ir::Value* qkv_w,
                                    ir::Value* qkv_b, ir::Value* proj_w, ir::Value* proj_b) {
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
  if (im.NumIn(n) > 18 && !im.IsNone(n, 18)) {
    return im.Error(n, "attention masks are not supported yet");
  }
  auto ln = [&](ir::Value* y, size_t w) { return LayerNormOp(im, y, 1, t[w], t[w + 1], eps); };
  auto attn = [&](ir::Value* y) -> absl::StatusOr<ir::Value*> {
    ASSIGN_OR_RETURN(Attention a, MultiHead(im, y, y, y, embed, heads, t[3], t[4], t[5], t[6]));
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
  if (!im.IsNone(n, 9)) return im.Error(n, "attention masks are not supported yet");
  ASSIGN_OR_RETURN(bool need_weights, im.Bool(n, 10));
  ASSIGN_OR_RETURN(bool average, im.Bool(n, 11));
  ASSIGN_OR_RETURN(Attention a,
                   MultiHead(im, t[0], t[1], t[2], embed, heads, t[5], t[6], t[7], t[8]));
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
