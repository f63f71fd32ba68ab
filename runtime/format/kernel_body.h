// The kernel description: the body of a fused kernel (a fused elementwise
// kernel, the epilogue of a convolution or GEMM, the prologue and epilogue of
// a fused row reduction) as every backend reads it. The compiler holds a body
// as a region of ordinary IR ops (ir/graph.h) and lowers it to this form
// (ir/kernel_body.h); the artifact stores it as a FlatBuffer table
// (sinter.fbs: Body), which the loader decodes and checks with
// CheckKernelBody before any backend sees it; the CPU interpreter, the LLVM
// emitter and the CUDA emitter each render it, one case per row of
// runtime/format/elementwise.def.
//
// A body is SSA over values numbered from 0: first its arguments (one per
// kernel input, each broadcast NumPy-style to the output's shape), then one
// value per instruction, each reading only earlier values. `result` is the
// value the kernel stores at each output element.
//
// Types. Every value has a dtype. f32 and bool are the compute types: every
// op but `cast` reads and writes only them (elementwise.def gives each class's
// rule). Other types live at the edges only: an argument of another type is
// read only by casts, and a cast to another type is the result and read by
// nothing. So every backend holds every value in f32 lanes, bool as 0 or 1,
// and converts only where it loads an argument and where it stores the
// result: an argument converts to the f32 nearest its value (what a cast to
// f32 computes; a cast to bool is then `!= 0`, exact either way), and the
// result converts from f32 by kernels/cast.h's rules (f16/bf16 round to
// nearest even).
#ifndef SINTER_RUNTIME_FORMAT_KERNEL_BODY_H_
#define SINTER_RUNTIME_FORMAT_KERNEL_BODY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/format/sinter_generated.h"

namespace sinter::format {

enum class BodyOp : uint8_t {
#define SINTER_EW_UNARY(Id, name, params, CpuKernel) k##Id,
#define SINTER_EW_BINARY(Id, name, CpuKernel) k##Id,
#define SINTER_EW_COMPARE(Id, name, Op) k##Id,
#define SINTER_EW_SELECT(Id, name) k##Id,
#define SINTER_EW_CAST(Id, name) k##Id,
#define SINTER_EW_CONST(Id, name) k##Id,
#include "runtime/format/elementwise.def"
};

// The row classes of elementwise.def.
enum class BodyClass : uint8_t { kUnary, kBinary, kCompare, kSelect, kCast, kConst };

// A row of the vocabulary.
struct BodyOpInfo {
  std::string_view name;  // the IR op's name (gelu_tanh: gelu, approximate=tanh)
  BodyClass cls;
  int arity;                // operands: 0 to 3
  std::string_view params;  // "attr[=default] ..." (elementwise.def)
  int num_params;
};
const BodyOpInfo& InfoOf(BodyOp op);
// The op called `name` in the vocabulary; false when there is none.
bool BodyOpByName(std::string_view name, BodyOp* op);
inline std::string_view BodyOpName(BodyOp op) { return InfoOf(op).name; }

// The limits of the description, the same for every reader: the loader, the
// compiler's verifier (through CheckKernelBody) and every backend. No backend
// has another.
inline constexpr size_t kMaxBodyInstructions = 4096;
inline constexpr size_t kMaxBodyArguments = 4096;

struct BodyInstr {
  BodyOp op = BodyOp::kConst;
  DType type = DType::F32;         // of the value it defines
  int32_t a = -1, b = -1, c = -1;  // operands (value numbers), by arity
  float p0 = 0, p1 = 0;            // parameters (elementwise.def); a const's value
};

struct KernelBody {
  std::vector<DType> args;
  std::vector<BodyInstr> instrs;
  int32_t result = -1;

  int32_t num_values() const { return static_cast<int32_t>(args.size() + instrs.size()); }
  // The type of value `v` (0 <= v < num_values()).
  DType type_of(int32_t v) const {
    const size_t n = args.size();
    return static_cast<size_t>(v) < n ? args[v] : instrs[v - n].type;
  }
  DType result_type() const { return type_of(result); }
};

// f32 or bool.
inline bool IsComputeType(DType t) { return t == DType::F32 || t == DType::BOOL; }
// The dtypes a body may hold at all (every dtype but f64).
bool IsBodyType(DType t);
std::string_view BodyTypeName(DType t);  // "f32", "bool", ...

// Checks a body: the limits, every operand an earlier value, the vocabulary's
// type rules and the edge rule above, the result defined. On error returns
// false and says why (naming the instruction) in *error.
bool CheckKernelBody(const KernelBody& body, std::string* error);

// Which arguments some instruction (or the result) reads.
std::vector<bool> UsedArguments(const KernelBody& body);

// The ops a body runs, for labels and reports: "mul + relu" (constants and
// casts between compute types left out).
std::string BodyOpsText(const KernelBody& body);
// The whole body on one line, for comments in generated code and errors:
// "%2 = mul(%0, %1) : f32; %3 = relu(%2) : f32; -> %3".
std::string BodyText(const KernelBody& body);

// The region names of ops.def's `name:region` entries and the roles by which
// the artifact stores bodies (and names code): body = Main, prologue,
// epilogue.
std::string_view RegionName(CodeRole role);
bool RegionRole(std::string_view name, CodeRole* role);

// Decodes the artifact's table; the result still needs CheckKernelBody.
// False (with a reason) when a vector is missing or an op is out of range.
bool DecodeKernelBody(const Body& table, KernelBody* out, std::string* error);

// The row reduction of a fused_reduction kernel (runtime/format/
// reductions.def): between its prologue and epilogue bodies, each row of the
// trailing dims is normalised by statistics of the whole row.
enum class RowReduction : uint8_t {
#define SINTER_ROW_REDUCTION(Id, name, affine, last_axis) k##Id,
#include "runtime/format/reductions.def"
};
struct RowReductionInfo {
  std::string_view name;  // the `kind` attribute, and the IR op it fuses
  bool affine;            // eps, weight and bias (layer_norm)
  bool last_axis;         // over the last axis only (softmax)
};
const RowReductionInfo& InfoOf(RowReduction r);
// The kind called `name`; false when there is none.
bool RowReductionByName(std::string_view name, RowReduction* r);

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

}  // namespace sinter::format

#endif  // SINTER_RUNTIME_FORMAT_KERNEL_BODY_H_
