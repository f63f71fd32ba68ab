// Builds the OpInfo rows once: the schema's rows (runtime/format/op_schema.h)
// with the shape rule each names.
#include "ir/op_table.h"

#include <algorithm>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "ir/shape_rules.h"

namespace sinter::ir {
namespace {

ShapeRule RuleOf(int index) {
  static constexpr ShapeRule kRules[] = {
#define OP(ENUM, NAME, MIN_IN, MAX_IN, RESULTS, TRAITS, ATTRS, RULE, CPU, CUDA) &RULE,
#include "runtime/format/ops.def"
#undef OP
  };
  return kRules[index];
}

std::vector<OpInfo> BuildTable() {
  std::vector<OpInfo> table;
  for (const format::OpSchema& s : format::AllOpSchemas()) {
    std::vector<AttrSpec> attrs;
    // The schema lists attribute kinds in ir::AttrKind's order.
    for (const format::SchemaAttr& a : s.attrs)
      attrs.push_back({a.name, static_cast<AttrKind>(a.kind), a.optional});
    table.push_back(OpInfo{static_cast<OpKind>(s.index), s.name, s.min_operands, s.max_operands,
                           s.num_results, s.traits, std::move(attrs), s.regions, RuleOf(s.index),
                           &s});
  }
  return table;
}

static_assert(static_cast<int>(AttrKind::kTensor) ==
              static_cast<int>(format::SchemaAttrKind::kTensor));
static_assert(static_cast<int>(AttrKind::kFloats) ==
              static_cast<int>(format::SchemaAttrKind::kFloats));

}  // namespace

const std::vector<OpInfo>& AllOps() {
  static const std::vector<OpInfo>* table = new std::vector<OpInfo>(BuildTable());
  return *table;
}

const OpInfo& GetOpInfo(OpKind kind) { return AllOps()[static_cast<size_t>(kind)]; }

std::optional<OpKind> LookupOp(std::string_view name) {
  static const auto* index = [] {
    auto* m = new std::unordered_map<std::string_view, OpKind>();
    for (const OpInfo& info : AllOps()) (*m)[info.name] = info.kind;
    return m;
  }();
  auto it = index->find(name);
  if (it == index->end()) return std::nullopt;
  return it->second;
}

absl::Status CheckAttributes(const OpInfo& info, const AttributeMap& attrs) {
  for (const AttrSpec& spec : info.attrs) {
    auto it = attrs.find(std::string(spec.name));
    if (it == attrs.end()) {
      if (spec.optional) continue;
      return absl::InvalidArgumentError(absl::StrCat("missing attribute '", std::string(spec.name),
                                                     "' (", AttrKindName(spec.kind), ")"));
    }
    if (KindOf(it->second) != spec.kind) {
      return absl::InvalidArgumentError(absl::StrCat("attribute '", std::string(spec.name),
                                                     "' must be ", AttrKindName(spec.kind),
                                                     ", got ", AttrKindName(KindOf(it->second))));
    }
  }
  for (const auto& [name, value] : attrs) {
    bool known = false;
    for (const AttrSpec& spec : info.attrs) known |= spec.name == name;
    if (!known) return absl::InvalidArgumentError(absl::StrCat("unknown attribute '", name, "'"));
  }
  return absl::OkStatus();
}

absl::Status CheckRegionNames(const OpInfo& info, const std::vector<std::string_view>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (info.schema->FindRegion(names[i]) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown region '", std::string(names[i]), "'"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (names[j] == names[i])
        return absl::InvalidArgumentError(
            absl::StrCat("region '", std::string(names[i]), "' given twice"));
    }
  }
  for (const format::SchemaRegion& r : info.regions) {
    if (r.optional) continue;
    if (std::find(names.begin(), names.end(), r.name) == names.end())
      return absl::InvalidArgumentError(absl::StrCat("missing region '", std::string(r.name), "'"));
  }
  return absl::OkStatus();
}

AttrKind KindOf(const Attribute& attr) { return static_cast<AttrKind>(attr.index()); }

const char* AttrKindName(AttrKind kind) {
  static const char* kNames[] = {"int", "float", "bool", "str", "ints", "floats", "tensor"};
  return kNames[static_cast<int>(kind)];
}

}  // namespace sinter::ir
