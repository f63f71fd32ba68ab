#include "ir/types.h"

#include <array>

namespace sinter::ir {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  int64_t size;
  bool is_float;
};

constexpr std::array<DTypeInfo, 9> kDTypes = {{
    {DType::kF32, "f32", 4, true},
    {DType::kF16, "f16", 2, true},
    {DType::kBF16, "bf16", 2, true},
    {DType::kF64, "f64", 8, true},
    {DType::kI64, "i64", 8, false},
    {DType::kI32, "i32", 4, false},
    {DType::kI8, "i8", 1, false},
    {DType::kU8, "u8", 1, false},
    {DType::kBool, "bool", 1, false},
}};

const DTypeInfo& Info(DType d) { return kDTypes[static_cast<size_t>(d)]; }

}  // namespace

std::string_view DTypeName(DType dtype) { return Info(dtype).name; }
int64_t DTypeSize(DType dtype) { return Info(dtype).size; }
bool IsFloat(DType dtype) { return Info(dtype).is_float; }

std::optional<DType> ParseDType(std::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.name == name) return info.dtype;
  }
  return std::nullopt;
}

Shape Shape::Of(const std::vector<int64_t>& extents) {
  std::vector<Dim> dims;
  dims.reserve(extents.size());
  for (int64_t e : extents) dims.push_back(Dim::Static(e));
  return Shape(std::move(dims));
}

bool Shape::is_static() const {
  for (const Dim& d : dims_) {
    if (!d.is_static()) return false;
  }
  return true;
}

std::vector<int64_t> Shape::extents() const {
  std::vector<int64_t> out;
  out.reserve(dims_.size());
  for (const Dim& d : dims_) out.push_back(d.extent());
  return out;
}

std::optional<int64_t> Shape::NumElements() const {
  int64_t n = 1;
  for (const Dim& d : dims_) {
    if (!d.is_static() || d.extent() < 0) return std::nullopt;
    if (__builtin_mul_overflow(n, d.extent(), &n)) return std::nullopt;
  }
  return n;
}

std::optional<int64_t> TensorType::ByteSize() const {
  std::optional<int64_t> n = shape.NumElements();
  int64_t bytes;
  if (!n || __builtin_mul_overflow(*n, DTypeSize(dtype), &bytes)) return std::nullopt;
  return bytes;
}

std::string ToString(const Shape& shape) {
  std::string s = "[";
  for (int i = 0; i < shape.rank(); ++i) {
    if (i) s += ",";
    const Dim& d = shape[i];
    if (d.is_static()) {
      s += std::to_string(d.extent());
    } else {
      s += "?" + d.symbol();
      if (d.scale() != 1) s += "*" + std::to_string(d.scale());
      if (d.offset() > 0) s += "+";
      if (d.offset() != 0) s += std::to_string(d.offset());
    }
  }
  return s + "]";
}

std::string ToString(const TensorType& type) {
  return std::string(DTypeName(type.dtype)) + ToString(type.shape);
}

}  // namespace sinter::ir
