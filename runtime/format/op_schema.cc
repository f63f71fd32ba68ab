// Builds the schema rows from ops.def once (see op_schema.h).
#include "runtime/format/op_schema.h"

#include <iterator>
#include <unordered_map>

namespace sinter::format {
namespace {

SchemaAttrKind ParseKind(std::string_view k) {
  if (k == "int") return SchemaAttrKind::kInt;
  if (k == "float") return SchemaAttrKind::kFloat;
  if (k == "bool") return SchemaAttrKind::kBool;
  if (k == "str") return SchemaAttrKind::kStr;
  if (k == "ints") return SchemaAttrKind::kInts;
  if (k == "floats") return SchemaAttrKind::kFloats;
  return SchemaAttrKind::kTensor;  // the table test checks every kind is known
}

// Splits a row's schema string into attributes and regions.
void ParseAttrs(std::string_view schema, std::vector<SchemaAttr>* out,
                std::vector<SchemaRegion>* regions) {
  size_t b = 0;
  while (b < schema.size()) {
    size_t e = schema.find(' ', b);
    if (e == std::string_view::npos) e = schema.size();
    std::string_view item = schema.substr(b, e - b);
    b = e + 1;
    if (item.empty()) continue;
    const size_t colon = item.find(':');
    std::string_view kind = colon == std::string_view::npos ? "" : item.substr(colon + 1);
    const bool optional = !kind.empty() && kind.back() == '?';
    if (optional) kind.remove_suffix(1);
    if (kind == "region") {
      regions->push_back({item.substr(0, colon), optional});
    } else {
      out->push_back({item.substr(0, colon), ParseKind(kind), optional});
    }
  }
}

#define KERNEL \
  TargetStrategy { Strategy::kKernel, "" }
#define GENERATED \
  TargetStrategy { Strategy::kGenerated, "" }
#define LIBRARY \
  TargetStrategy { Strategy::kLibrary, "" }
#define LOWERED(PASS) \
  TargetStrategy { Strategy::kLowered, PASS }
#define REFUSED(WHY) \
  TargetStrategy { Strategy::kRefused, WHY }
#define IR_ONLY \
  TargetStrategy { Strategy::kIrOnly, "" }

// The rows as constant data (a loop below parses them), so the table costs
// the runtime its bytes, not a constructor per row.
struct RawRow {
  std::string_view name;
  int min_operands, max_operands, num_results;
  uint32_t traits;
  std::string_view attrs;
  TargetStrategy cpu, cuda;
};

constexpr RawRow kRaw[] = {
#define OP(ENUM, NAME, MIN_IN, MAX_IN, RESULTS, TRAITS, ATTRS, RULE, CPU, CUDA) \
  {NAME, MIN_IN, MAX_IN, RESULTS, TRAITS, ATTRS, CPU, CUDA},
#include "runtime/format/ops.def"
#undef OP
};

std::vector<OpSchema> Build() {
  std::vector<OpSchema> rows;
  rows.reserve(std::size(kRaw));
  for (const RawRow& r : kRaw) {
    OpSchema row{static_cast<int>(rows.size()),
                 r.name,
                 r.min_operands,
                 r.max_operands,
                 r.num_results,
                 r.traits,
                 {},
                 {},
                 r.cpu,
                 r.cuda};
    ParseAttrs(r.attrs, &row.attrs, &row.regions);
    rows.push_back(std::move(row));
  }
  return rows;
}

#undef KERNEL
#undef GENERATED
#undef LIBRARY
#undef LOWERED
#undef REFUSED
#undef IR_ONLY

const std::vector<OpSchema>& Rows() {
  static const std::vector<OpSchema>* rows = new std::vector<OpSchema>(Build());
  return *rows;
}

}  // namespace

std::string_view TargetName(Target t) {
  switch (t) {
    case Target::kCpu:
      return "cpu";
    case Target::kCuda:
      return "cuda";
  }
  return "?";
}

std::string_view StrategyName(Strategy s) {
  switch (s) {
    case Strategy::kKernel:
      return "kernel";
    case Strategy::kGenerated:
      return "generated";
    case Strategy::kLibrary:
      return "library";
    case Strategy::kLowered:
      return "lowered";
    case Strategy::kRefused:
      return "refused";
    case Strategy::kIrOnly:
      return "ir-only";
  }
  return "?";
}

std::string_view SchemaAttrKindName(SchemaAttrKind k) {
  switch (k) {
    case SchemaAttrKind::kInt:
      return "int";
    case SchemaAttrKind::kFloat:
      return "float";
    case SchemaAttrKind::kBool:
      return "bool";
    case SchemaAttrKind::kStr:
      return "str";
    case SchemaAttrKind::kInts:
      return "ints";
    case SchemaAttrKind::kFloats:
      return "floats";
    case SchemaAttrKind::kTensor:
      return "tensor";
  }
  return "?";
}

const SchemaAttr* OpSchema::FindAttr(std::string_view attr) const {
  for (const SchemaAttr& a : attrs)
    if (a.name == attr) return &a;
  return nullptr;
}

const SchemaRegion* OpSchema::FindRegion(std::string_view region) const {
  for (const SchemaRegion& r : regions)
    if (r.name == region) return &r;
  return nullptr;
}

FusionKind OpSchema::fusion() const {
  if (Has(kElementwise)) return Has(kBroadcast) ? FusionKind::kBroadcast : FusionKind::kElementwise;
  if (Has(kMovement)) return FusionKind::kInjective;
  if (Has(kReduction)) return FusionKind::kReduction;
  if (Has(kLibrary)) return FusionKind::kEpilogue;
  return FusionKind::kOpaque;
}

std::string OpSchema::ArityText() const {
  auto n = [](int k) { return std::to_string(k) + (k == 1 ? " operand" : " operands"); };
  if (max_operands == min_operands) return "takes " + n(min_operands);
  if (max_operands < 0) return "takes at least " + n(min_operands);
  return "takes " + std::to_string(min_operands) + " to " + n(max_operands);
}

std::span<const OpSchema> AllOpSchemas() { return Rows(); }

const OpSchema* FindOpSchema(std::string_view name) {
  static const auto* index = [] {
    auto* m = new std::unordered_map<std::string_view, const OpSchema*>();
    for (const OpSchema& s : Rows()) (*m)[s.name] = &s;
    return m;
  }();
  auto it = index->find(name);
  return it == index->end() ? nullptr : it->second;
}

}  // namespace sinter::format
