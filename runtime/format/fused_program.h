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
// The ops are the rows of runtime/format/elementwise.def.
#ifndef SINTER_RUNTIME_FORMAT_FUSED_PROGRAM_H_
#define SINTER_RUNTIME_FORMAT_FUSED_PROGRAM_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sinter::format {

enum class FusedOp : uint8_t {
#define SINTER_EW_UNARY(Id, name, params, CpuKernel) k##Id,
#define SINTER_EW_BINARY(Id, name, CpuKernel) k##Id,
#include "runtime/format/elementwise.def"
};

// The longest program the format accepts. The one limit of the description:
// the parser enforces it for every reader (the runtime at load, the compiler
// when it verifies what it wrote), and no backend has another one.
inline constexpr size_t kMaxFusedInstructions = 4096;

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

// A row of the vocabulary.
struct FusedOpInfo {
  std::string_view name;    // in program text
  bool binary;              // two operands, else one
  std::string_view params;  // "attr[=default] ..." (elementwise.def)
  int num_params;
};
const FusedOpInfo& InfoOf(FusedOp op);
// The op called `name` in program text; false when there is none.
bool FusedOpByName(std::string_view name, FusedOp* op);
inline bool IsBinary(FusedOp op) { return InfoOf(op).binary; }
inline std::string_view FusedOpName(FusedOp op) { return InfoOf(op).name; }

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
