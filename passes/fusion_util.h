// Building kernel bodies (ir/kernel_body.h) from IR ops, shared by the fusion
// passes (fuse-elementwise, fuse-epilogue, fuse-reduction, wrap-elementwise)
// and constant folding.
#ifndef SINTER_PASSES_FUSION_UTIL_H_
#define SINTER_PASSES_FUSION_UTIL_H_

#include <memory>
#include <vector>

#include "ir/graph.h"
#include "ir/kernel_body.h"

namespace sinter::passes {

// Can `op` be part of a kernel body: a row of the elementwise vocabulary with
// dtypes its class allows (ir::IsBodyOp), of a static shape.
bool Fusable(const ir::Operation& op);

// Can the value `v` flow inside a body from the op that makes it to the op
// that reads it: f32 or bool (kernel_body.h's edge rule: other types are only
// arguments and the result).
bool FlowsInBody(const ir::Value* v);

// `user` (one body op or a fused_elementwise) as a body over `produced` ->
// argument 0 and its other operands -> arguments 1..., which it appends to
// *extra; scalar constants become body constants. Null when `user` cannot be
// a body.
std::unique_ptr<ir::Graph> BodyOver(ir::Operation* user, ir::Value* produced,
                                    std::vector<ir::Value*>* extra);

// `op` (one body op or a fused_elementwise) as a body over its own
// non-constant operands, which it stores in *inputs. Null when `op` cannot be
// a body or reads nothing but constants.
std::unique_ptr<ir::Graph> BodyOf(ir::Operation* op, std::vector<ir::Value*>* inputs);

// The compiler's reference of a kernel body at one element, in double: each
// instruction by its row's maths (eval_elementwise.cc, a switch over the
// vocabulary without a default), casts as identity (callers fold only
// f32 bodies). What constant folding computes.
double EvalBody(const format::KernelBody& body, const std::vector<double>& args);

}  // namespace sinter::passes

#endif  // SINTER_PASSES_FUSION_UTIL_H_
