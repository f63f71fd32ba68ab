// Building fused programs (runtime/format/fused_program.h) from IR ops;
// shared by fuse-elementwise and fuse-epilogue.
#ifndef SINTER_PASSES_FUSION_UTIL_H_
#define SINTER_PASSES_FUSION_UTIL_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/format/fused_program.h"

namespace sinter::passes {

// The program op name for a fusable f32 elementwise op, or "" when `op`
// cannot be part of a fused program.
std::string ProgramOp(const ir::Operation& op);

// An elementwise op as a row of the vocabulary (runtime/format/
// elementwise.def) with its numeric parameters; nullopt when ProgramOp is "".
struct ProgramInstr {
  format::FusedOp op;
  std::vector<double> params;
};
std::optional<ProgramInstr> ProgramInstrOf(const ir::Operation& op);

// The reference value of one instruction at one element (binary ops read
// b), in double: what constant folding computes. Its switch over the
// vocabulary has no default, so a new row needs its maths here.
double EvalProgramInstr(const ProgramInstr& in, double a, double b);

// One instruction `tK = op a [b] [params]`; `operand` names each operand.
std::string ProgramLine(const ir::Operation& op, size_t k,
                        const std::function<std::string(ir::Value*)>& operand);

// A float literal that reads back as the same f32 ("inf"/"-inf" included).
std::string ProgramNumber(double v);

// `user` (one elementwise op or a fused_elementwise) as a program over
// `produced` -> $0 and its other operands -> $1..., which it appends to
// *extra; scalar constants become literals. False when `user` cannot be a
// fused program.
bool ProgramOver(ir::Operation* user, ir::Value* produced, std::string* program,
                 std::vector<ir::Value*>* extra);

// `op` (one elementwise op or a fused_elementwise) as a program over its own
// non-literal operands, which it stores in *inputs ($0...). False when `op`
// cannot be a fused program.
bool ProgramOf(ir::Operation* op, std::string* program, std::vector<ir::Value*>* inputs);

}  // namespace sinter::passes

#endif  // SINTER_PASSES_FUSION_UTIL_H_
