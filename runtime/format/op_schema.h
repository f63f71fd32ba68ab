// The op schema: the rows of runtime/format/ops.def as plain data, with no
// dependency on the compiler or on a backend. The compiler's op table
// (ir/op_table.h) extends each row with its shape rule; the runtime's loader
// checks every kernel of an artifact against its row (known op, operand and
// result counts, attribute names and kinds) before any backend sees it; the
// backends' op tables and the compile-time support checks read the
// per-target strategies.
#ifndef SINTER_RUNTIME_FORMAT_OP_SCHEMA_H_
#define SINTER_RUNTIME_FORMAT_OP_SCHEMA_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sinter::format {

// What an op is, as far as rewrites, fusion and memory planning care.
enum TraitBits : uint32_t {
  kNoTraits = 0,
  kElementwise = 1u << 0,  // result[i] depends on operand[i] only (after broadcast)
  kBroadcast = 1u << 1,    // operands broadcast NumPy style
  kCommutative = 1u << 2,  // operands 0 and 1 may be swapped
  kInPlace = 1u << 3,      // the result may be written over operand 0 (same type) when it dies
  kReduction = 1u << 4,    // reduces along one or more axes
  kMovement = 1u << 5,     // only moves data
  kLibrary = 1u << 6,      // GEMM/convolution: a library call with fusable epilogues
  // A result's size is the run's (nonzero, a fallback segment's nms): the
  // shape rule names the dimension the data decides with a symbol, and the
  // kernel sizes the result as it runs. Only a model output or an op that
  // takes the run's extents (kRunExtents) may read such a result (the
  // loader and the compiler's support check enforce it).
  kSizedByRun = 1u << 7,
  // Its kernel may read an operand whose size its run decides: given one,
  // the CPU kernel is prepared at run time for the run's extents, its
  // result's size is the run's too, and the shape rule carries the symbol
  // (the result's dim is an operand's symbol, or the one `size` names).
  kRunExtents = 1u << 8,
};

// How fusion may treat an op, derived from its traits (TVM's TOpPattern).
enum class FusionKind : uint8_t {
  kElementwise,  // same-shape elementwise: joins a fused elementwise kernel
  kBroadcast,    // elementwise with broadcasting operands
  kInjective,    // data movement: each output element reads one input element
  kReduction,    // reduces rows: may take elementwise prologue and epilogue
  kEpilogue,     // library call (GEMM, convolution) that takes an elementwise epilogue
  kOpaque,       // none of these: fusion stops here
};

// How a target runs an op (the cpu and cuda columns of ops.def).
enum class Strategy : uint8_t {
  kKernel,     // a kernel of the backend's op table, of the op's name
  kGenerated,  // a kernel the compiler generates; the backend's row launches it
  kLibrary,    // a library call the backend's row plans
  kLowered,    // the compiler pass named in `detail` replaces it before codegen
  kRefused,    // the target cannot run it; `detail` says why
  kIrOnly,     // never a kernel (constants become data)
};

struct TargetStrategy {
  Strategy kind;
  std::string_view detail;  // kLowered: the pass; kRefused: the reason
  // Whether an artifact for this target may hold a kernel of this op.
  bool RunsAsKernel() const {
    return kind == Strategy::kKernel || kind == Strategy::kGenerated || kind == Strategy::kLibrary;
  }
};

enum class Target : uint8_t { kCpu, kCuda };
inline constexpr Target kAllTargets[] = {Target::kCpu, Target::kCuda};
std::string_view TargetName(Target t);
std::string_view StrategyName(Strategy s);

// Attribute kinds, in the order of ir::AttrKind (ir/attribute.h).
enum class SchemaAttrKind : uint8_t { kInt, kFloat, kBool, kStr, kInts, kFloats, kTensor };
std::string_view SchemaAttrKindName(SchemaAttrKind k);

struct SchemaAttr {
  std::string_view name;
  SchemaAttrKind kind;
  bool optional;
};

// A region of an op: a kernel body (runtime/format/kernel_body.h), written
// `name:region` or `name:region?` in the row's schema string. The names are
// the roles of format::CodeRole: "body" (Main), "prologue", "epilogue".
struct SchemaRegion {
  std::string_view name;
  bool optional;
};

struct OpSchema {
  int index;  // the row's position: the IR's OpKind value
  std::string_view name;
  int min_operands;
  int max_operands;  // -1: unbounded
  int num_results;
  uint32_t traits;
  std::vector<SchemaAttr> attrs;      // parsed from the row's schema string
  std::vector<SchemaRegion> regions;  // likewise, the `region` entries, in order
  TargetStrategy cpu, cuda;

  bool Has(TraitBits t) const { return (traits & t) != 0; }
  const TargetStrategy& strategy(Target t) const { return t == Target::kCpu ? cpu : cuda; }
  const SchemaAttr* FindAttr(std::string_view attr) const;
  const SchemaRegion* FindRegion(std::string_view region) const;
  FusionKind fusion() const;
  // "takes 2 operands" / "takes 1 to 3 operands" / "takes at least 4 operands".
  std::string ArityText() const;
};

// Every row, in ops.def order.
std::span<const OpSchema> AllOpSchemas();
// The row named `name`, or null.
const OpSchema* FindOpSchema(std::string_view name);

}  // namespace sinter::format

#endif  // SINTER_RUNTIME_FORMAT_OP_SCHEMA_H_
