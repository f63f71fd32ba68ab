// Builds the OpInfo rows from ir/ops.def once, parsing each row's attribute
// schema string.
#include "ir/op_table.h"

#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ir/shape_rules.h"

namespace sinter::ir {
namespace {

AttrKind ParseKind(std::string_view k) {
  if (k == "int") return AttrKind::kInt;
  if (k == "float") return AttrKind::kFloat;
  if (k == "bool") return AttrKind::kBool;
  if (k == "str") return AttrKind::kStr;
  if (k == "ints") return AttrKind::kInts;
  if (k == "floats") return AttrKind::kFloats;
  return AttrKind::kTensor;
}

std::vector<AttrSpec> ParseSchema(std::string_view schema) {
  std::vector<AttrSpec> specs;
  // Through absl::string_view explicitly: abseil may be built with its own
  // string_view type (Debian's is), which std::string_view does not convert to.
  for (absl::string_view piece :
       absl::StrSplit(absl::string_view(schema.data(), schema.size()), ' ', absl::SkipEmpty())) {
    std::string_view item(piece.data(), piece.size());
    size_t colon = item.find(':');
    std::string_view kind = item.substr(colon + 1);
    bool optional = !kind.empty() && kind.back() == '?';
    if (optional) kind.remove_suffix(1);
    specs.push_back({item.substr(0, colon), ParseKind(kind), optional});
  }
  return specs;
}

std::vector<OpInfo> BuildTable() {
  return {
#define OP(ENUM, NAME, MIN_IN, MAX_IN, RESULTS, TRAITS, ATTRS, RULE) \
  OpInfo{OpKind::ENUM, NAME, MIN_IN, MAX_IN, RESULTS, TRAITS, ParseSchema(ATTRS), &RULE},
#include "ir/ops.def"
#undef OP
  };
}

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

AttrKind KindOf(const Attribute& attr) { return static_cast<AttrKind>(attr.index()); }

const char* AttrKindName(AttrKind kind) {
  static const char* kNames[] = {"int", "float", "bool", "str", "ints", "floats", "tensor"};
  return kNames[static_cast<int>(kind)];
}

}  // namespace sinter::ir
