// Small helpers shared by rewrite passes.
#ifndef SINTER_PASSES_REWRITE_UTIL_H_
#define SINTER_PASSES_REWRITE_UTIL_H_

#include <optional>

#include "ir/graph.h"

namespace sinter::passes {

// The payload when `v` is defined by a const op, else null.
inline const ir::TensorData* ConstData(const ir::Value* v) {
  if (v->def() == nullptr || v->def()->kind() != ir::OpKind::kConst) return nullptr;
  return v->def()->GetTensor("value").get();
}

// The value when `v` is a constant f32 tensor whose elements are all equal.
inline std::optional<float> SplatF32(const ir::Value* v) {
  const ir::TensorData* d = ConstData(v);
  if (d == nullptr || d->type().dtype != ir::DType::kF32 || d->bytes().empty()) return std::nullopt;
  const float* p = d->data<float>();
  size_t n = d->bytes().size() / sizeof(float);
  for (size_t i = 1; i < n; ++i) {
    if (p[i] != p[0]) return std::nullopt;
  }
  return p[0];
}

// Replaces `op`'s single result with `v` and erases `op`.
inline void ReplaceOp(ir::Operation* op, ir::Value* v) {
  op->result()->ReplaceAllUsesWith(v);
  op->graph()->Erase(op);
}

}  // namespace sinter::passes

#endif  // SINTER_PASSES_REWRITE_UTIL_H_
