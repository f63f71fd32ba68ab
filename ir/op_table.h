// The op kinds and their table rows, generated from ir/ops.def.
#ifndef SINTER_IR_OP_TABLE_H_
#define SINTER_IR_OP_TABLE_H_

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "ir/attribute.h"
#include "ir/types.h"

namespace sinter::ir {

class Operation;

enum class OpKind : uint16_t {
#define OP(ENUM, NAME, MIN_IN, MAX_IN, RESULTS, TRAITS, ATTRS, RULE) ENUM,
#include "ir/ops.def"
#undef OP
};

enum TraitBits : uint32_t {
  kNoTraits = 0,
  kElementwise = 1u << 0,  // result[i] depends on operand[i] only (after broadcast)
  kBroadcast = 1u << 1,    // operands broadcast NumPy style
  kCommutative = 1u << 2,  // operands 0 and 1 may be swapped
  kInPlace = 1u << 3,      // result may share operand 0's buffer
  kReduction = 1u << 4,    // reduces along one or more axes
  kMovement = 1u << 5,     // only moves data
  kLibrary = 1u << 6,      // GEMM/convolution: a library call with fusable epilogues
};

// Computes result types from the operands' types and the op's attributes.
using ShapeRule = absl::Status (*)(const Operation& op, std::vector<TensorType>* results);

struct AttrSpec {
  std::string_view name;
  AttrKind kind;
  bool optional;
};

struct OpInfo {
  OpKind kind;
  std::string_view name;
  int min_operands;
  int max_operands;  // -1: unbounded
  int num_results;
  uint32_t traits;
  std::vector<AttrSpec> attrs;
  ShapeRule infer;

  bool Has(TraitBits t) const { return (traits & t) != 0; }
};

const OpInfo& GetOpInfo(OpKind kind);
std::optional<OpKind> LookupOp(std::string_view name);
const std::vector<OpInfo>& AllOps();

// Every required attribute is present, every present one is known and of its
// schema's kind.
absl::Status CheckAttributes(const OpInfo& info, const AttributeMap& attrs);

}  // namespace sinter::ir

#endif  // SINTER_IR_OP_TABLE_H_
