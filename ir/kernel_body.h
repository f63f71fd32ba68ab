// Kernel bodies in the compiler: a region of IR ops (ir/graph.h) lowered to
// the kernel description every backend reads (runtime/format/kernel_body.h),
// and the builder the fusion passes use to make one.
//
// A body region has one rank-0 argument per kernel input, typed as the input;
// its ops are ops of the elementwise vocabulary (runtime/format/
// elementwise.def) on rank-0 values, scalar constants included; it yields one
// value, the output element. LowerBody checks all of that, then the
// description's own rules (format::CheckKernelBody), so the verifier, the
// compiler and the runtime's loader refuse the same bodies.
#ifndef SINTER_IR_KERNEL_BODY_H_
#define SINTER_IR_KERNEL_BODY_H_

#include <memory>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "runtime/format/kernel_body.h"

namespace sinter::ir {

format::DType ToFormat(DType d);
DType FromFormat(format::DType d);

// The body as the description; InvalidArgument naming the op that does not
// belong (an op outside the vocabulary, a value of rank > 0, a type rule).
absl::StatusOr<format::KernelBody> LowerBody(const Graph& body);

// Whether `op`, with its operand and result dtypes, is a row of the
// vocabulary a body may hold (shapes aside: a fusion pass checks those).
bool IsBodyOp(const Operation& op);

// Brings a body to the argument and result dtypes its op now gives it, with
// casts: an argument whose dtype changed is cast to the dtype the body
// computes with, and the result is cast to `result`. For passes that change
// the storage around fused kernels (convert-f16): the body still computes
// what it did, in f32.
absl::Status RetypeBody(Graph& body, const std::vector<DType>& args, DType result);

// A rank-0 scalar constant's value as f32 or bool (for body constants), or
// nothing for any other value.
bool ScalarConstValue(const Value* v, float* out);

// Builds a body region: arguments for the outer values a group of ops reads,
// the ops cloned in as rank-0 ops, other bodies inlined.
class BodyBuilder {
 public:
  BodyBuilder();
  // The body value standing for outer value `v`: the argument for it (made
  // on first use, typed as `v`'s dtype), or a body constant when `v` is a
  // scalar constant (`inline_scalars`).
  Value* Read(Value* v, bool inline_scalars = true);
  // Clones `op` (a body op of the outer graph) into the body, reading its
  // operands through Read; maps its result. Returns the body value.
  absl::StatusOr<Value*> Clone(const Operation& op);
  // Inlines `body` (another kernel's region) with its arguments bound to
  // `args` (body values); returns the value it yields.
  absl::StatusOr<Value*> Inline(const Graph& body, const std::vector<Value*>& args);
  // Makes `v` the body's result of outer value `outer` (so later ops that
  // read `outer` read `v`).
  void Map(Value* outer, Value* v) { map_[outer] = v; }
  // A new rank-0 op in the body (operands body values).
  absl::StatusOr<Value*> Make(OpKind kind, const std::vector<Value*>& operands,
                              AttributeMap attrs = {});
  // The outer values the arguments stand for, in argument order.
  const std::vector<Value*>& inputs() const { return inputs_; }
  Graph* body() { return body_.get(); }
  // Yields `v` and hands the region over.
  std::unique_ptr<Graph> Finish(Value* v);

 private:
  std::unique_ptr<Graph> body_;
  std::vector<Value*> inputs_;
  std::unordered_map<const Value*, Value*> map_;  // outer -> body
};

}  // namespace sinter::ir

#endif  // SINTER_IR_KERNEL_BODY_H_
