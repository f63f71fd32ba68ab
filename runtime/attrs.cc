// Typed access to a kernel's attributes in the artifact (see attrs.h).
#include "runtime/attrs.h"

#include "runtime/format/sinter_generated.h"

namespace sinter::rt {

namespace {
const format::Attr* Find(const format::Kernel* k, std::string_view name) {
  if (k->attrs() == nullptr) return nullptr;
  for (const format::Attr* a : *k->attrs()) {
    if (a->name()->string_view() == name) return a;
  }
  return nullptr;
}
Status Missing(std::string_view name, const char* kind) {
  return InvalidArgument(
      StrCat("attribute '", std::string(name), "' (", kind, ") missing or of another kind"));
}
}  // namespace

bool Attrs::Has(std::string_view name) const { return Find(kernel_, name) != nullptr; }

StatusOr<int64_t> Attrs::Int(std::string_view name) const {
  const format::Attr* a = Find(kernel_, name);
  if (a == nullptr || a->kind() != format::AttrKind::Int) return Missing(name, "int");
  return a->i();
}
StatusOr<int64_t> Attrs::IntOr(std::string_view name, int64_t dflt) const {
  return Find(kernel_, name) == nullptr ? StatusOr<int64_t>(dflt) : Int(name);
}
StatusOr<double> Attrs::Float(std::string_view name) const {
  const format::Attr* a = Find(kernel_, name);
  if (a == nullptr || a->kind() != format::AttrKind::Float) return Missing(name, "float");
  return a->f();
}
StatusOr<double> Attrs::FloatOr(std::string_view name, double dflt) const {
  return Find(kernel_, name) == nullptr ? StatusOr<double>(dflt) : Float(name);
}
StatusOr<bool> Attrs::Bool(std::string_view name) const {
  const format::Attr* a = Find(kernel_, name);
  if (a == nullptr || a->kind() != format::AttrKind::Bool) return Missing(name, "bool");
  return a->i() != 0;
}
StatusOr<std::string> Attrs::Str(std::string_view name) const {
  const format::Attr* a = Find(kernel_, name);
  if (a == nullptr || a->kind() != format::AttrKind::Str || a->s() == nullptr)
    return Missing(name, "str");
  return a->s()->str();
}
StatusOr<std::vector<int64_t>> Attrs::Ints(std::string_view name) const {
  const format::Attr* a = Find(kernel_, name);
  if (a == nullptr || a->kind() != format::AttrKind::Ints) return Missing(name, "ints");
  std::vector<int64_t> v;
  if (a->ints() != nullptr) v.assign(a->ints()->begin(), a->ints()->end());
  return v;
}

StatusOr<std::vector<double>> Attrs::Floats(std::string_view name) const {
  const format::Attr* a = Find(kernel_, name);
  if (a == nullptr || a->kind() != format::AttrKind::Floats) return Missing(name, "floats");
  std::vector<double> v;
  if (a->floats() != nullptr) v.assign(a->floats()->begin(), a->floats()->end());
  return v;
}

StatusOr<std::array<int64_t, 2>> IntPair(const Attrs& a, std::string_view name, int64_t min) {
  RT_ASSIGN_OR_RETURN(std::vector<int64_t> v, a.Ints(name));
  if (v.size() != 2 || v[0] < min || v[1] < min || v[0] > (1 << 20) || v[1] > (1 << 20)) {
    return InvalidArgument(
        StrCat("attribute '", std::string(name), "' must be two values >= ", min));
  }
  return std::array<int64_t, 2>{v[0], v[1]};
}

StatusOr<bool> ChannelsLast(const Attrs& a) {
  if (!a.Has("layout")) return false;
  RT_ASSIGN_OR_RETURN(std::string l, a.Str("layout"));
  if (l != "NCHW" && l != "NHWC") return InvalidArgument(StrCat("layout '", l, "' (NCHW, NHWC)"));
  return l == "NHWC";
}

}  // namespace sinter::rt
