// The body of a fused elementwise kernel: a small SSA program over the
// kernel's inputs, evaluated per output element. It is part of the artifact
// contract (the compiler writes it as text in an attribute, the runtime
// parses and checks it at load) and it is the kernel description that every
// backend reads: the CPU interpreter today, LLVM and CUDA emitters later.
//
// Text form, instructions separated by ';', each defining the next temp:
//   t0 = mul $0 $1; t1 = add t0 $2; t2 = clamp t1 0 6
// `$i` is input i (broadcast to the output shape), `tk` an earlier temp, and a
// bare number a constant. The last temp is the kernel's output.
// Ops: unary relu sigmoid tanh exp log sqrt rsqrt neg abs erf reciprocal silu
// gelu gelu_tanh hardswish hardsigmoid; with parameters leaky_relu X SLOPE,
// elu X ALPHA, clamp X MIN MAX (inf/-inf allowed); binary add sub mul div pow
// maximum minimum.
#ifndef SINTER_RUNTIME_FORMAT_FUSED_PROGRAM_H_
#define SINTER_RUNTIME_FORMAT_FUSED_PROGRAM_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sinter::format {

enum class FusedOp : uint8_t {
  // Unary.
  kRelu,
  kSigmoid,
  kTanh,
  kExp,
  kLog,
  kSqrt,
  kRsqrt,
  kNeg,
  kAbs,
  kErf,
  kReciprocal,
  kSilu,
  kGelu,
  kGeluTanh,
  kHardswish,
  kHardsigmoid,
  kLeakyRelu,
  kElu,
  kClamp,
  // Binary.
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMaximum,
  kMinimum,
};

// An operand: an input, an earlier temp, or a constant.
struct FusedRef {
  enum Kind : uint8_t { kInput, kTemp, kConst } kind = kInput;
  int index = 0;
  float value = 0;
};

struct FusedInstr {
  FusedOp op;
  FusedRef a, b;         // b only for binary ops
  float p0 = 0, p1 = 0;  // slope / alpha / clamp bounds
};

bool IsBinary(FusedOp op);
std::string_view FusedOpName(FusedOp op);

// The iteration space of a fused kernel, shared by every backend: each input
// aligned to the output's rank (NumPy broadcasting), then adjacent dims merged
// wherever every input walks them contiguously, so the output becomes a few
// long rows and each input is, along each dim, dense or one repeated value.
struct FusedSpace {
  std::vector<int64_t> dims;                  // collapsed, outermost first; never empty
  std::vector<std::vector<int64_t>> strides;  // [input][dim] in elements; 0 = broadcast
  int64_t num_elements = 0;                   // of the output
};

// Plans the space of `inputs` broadcast to `output`. On error (a negative or
// overflowing extent, an input that does not broadcast) returns false and says
// why in *error.
bool PlanFusedSpace(const std::vector<std::vector<int64_t>>& inputs,
                    const std::vector<int64_t>& output, FusedSpace* space, std::string* error);

// Parses and checks a program for `num_inputs` inputs. On error returns false
// and says why in *error.
bool ParseFusedProgram(std::string_view text, int num_inputs, std::vector<FusedInstr>* out,
                       std::string* error);

}  // namespace sinter::format

#endif  // SINTER_RUNTIME_FORMAT_FUSED_PROGRAM_H_
