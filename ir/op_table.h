// The op kinds and their table rows, generated from runtime/format/ops.def
// (the op schema both halves read): each row's schema plus its shape rule.
#ifndef SINTER_IR_OP_TABLE_H_
#define SINTER_IR_OP_TABLE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "ir/attribute.h"
#include "ir/types.h"
#include "runtime/format/op_schema.h"

namespace sinter::ir {

class Operation;

enum class OpKind : uint16_t {
#define OP(ENUM, NAME, MIN_IN, MAX_IN, RESULTS, TRAITS, ATTRS, RULE, CPU, CUDA) ENUM,
#include "runtime/format/ops.def"
#undef OP
};

// The traits and strategies are the schema's (runtime/format/op_schema.h).
using format::FusionKind;
using format::Strategy;
using format::Target;
using format::TraitBits;
inline constexpr TraitBits kNoTraits = format::kNoTraits, kElementwise = format::kElementwise,
                           kBroadcast = format::kBroadcast, kCommutative = format::kCommutative,
                           kInPlace = format::kInPlace, kReduction = format::kReduction,
                           kMovement = format::kMovement, kLibrary = format::kLibrary,
                           kSizedByRun = format::kSizedByRun, kRunExtents = format::kRunExtents;

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
  std::span<const format::SchemaRegion> regions;  // the schema's, in order
  ShapeRule infer;
  const format::OpSchema* schema;  // the same row, as the runtime reads it

  bool Has(TraitBits t) const { return (traits & t) != 0; }
  FusionKind fusion() const { return schema->fusion(); }
  const format::TargetStrategy& strategy(Target t) const { return schema->strategy(t); }
};

const OpInfo& GetOpInfo(OpKind kind);
std::optional<OpKind> LookupOp(std::string_view name);
const std::vector<OpInfo>& AllOps();

// Every required attribute is present, every present one is known and of its
// schema's kind.
absl::Status CheckAttributes(const OpInfo& info, const AttributeMap& attrs);
// Likewise for regions, by name: known, given once, every required one present.
absl::Status CheckRegionNames(const OpInfo& info, const std::vector<std::string_view>& names);

}  // namespace sinter::ir

#endif  // SINTER_IR_OP_TABLE_H_
