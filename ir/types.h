// Static types of SSA values: element dtype and shape.
//
// A dimension is either a static extent or a named symbol. Today the compiler
// specialises every dimension on the input shapes the user gives, but the type
// is built so that a dynamic batch (`?N`) can flow through later without
// changing every pass that reads shapes.
#ifndef SINTER_IR_TYPES_H_
#define SINTER_IR_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sinter::ir {

enum class DType : uint8_t { kF32, kF16, kBF16, kF64, kI64, kI32, kI8, kU8, kBool };

std::string_view DTypeName(DType dtype);
std::optional<DType> ParseDType(std::string_view name);
int64_t DTypeSize(DType dtype);
bool IsFloat(DType dtype);

class Dim {
 public:
  static Dim Static(int64_t extent) { return Dim(extent, {}, 1, 0); }
  // `scale` times the symbol's value plus `offset`: `?seq*2`, a symbolic dim
  // merged with a static one (nn.MultiheadAttention's view(T * B, E));
  // `?seq+1`, a class token before a sequence.
  static Dim Symbol(std::string name, int64_t scale = 1, int64_t offset = 0) {
    return Dim(-1, std::move(name), scale, offset);
  }

  bool is_static() const { return symbol_.empty(); }
  // Only meaningful when is_static().
  int64_t extent() const { return extent_; }
  const std::string& symbol() const { return symbol_; }
  // Only meaningful when !is_static(): the symbol's multiple, at least 1,
  // and what is added to it.
  int64_t scale() const { return scale_; }
  int64_t offset() const { return offset_; }

  bool operator==(const Dim& o) const {
    return extent_ == o.extent_ && symbol_ == o.symbol_ && scale_ == o.scale_ &&
           offset_ == o.offset_;
  }

 private:
  Dim(int64_t extent, std::string symbol, int64_t scale, int64_t offset)
      : extent_(extent), symbol_(std::move(symbol)), scale_(scale), offset_(offset) {}
  int64_t extent_;
  std::string symbol_;
  int64_t scale_;
  int64_t offset_;
};

class Shape {
 public:
  Shape() = default;
  explicit Shape(std::vector<Dim> dims) : dims_(std::move(dims)) {}
  static Shape Of(const std::vector<int64_t>& extents);

  int rank() const { return static_cast<int>(dims_.size()); }
  const Dim& operator[](int i) const { return dims_[i]; }
  const std::vector<Dim>& dims() const { return dims_; }
  bool is_static() const;
  // Static extents; requires is_static().
  std::vector<int64_t> extents() const;
  // Product of extents, or nullopt when dynamic or when it overflows int64.
  std::optional<int64_t> NumElements() const;

  bool operator==(const Shape& o) const { return dims_ == o.dims_; }
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  std::vector<Dim> dims_;
};

struct TensorType {
  DType dtype = DType::kF32;
  Shape shape;

  bool operator==(const TensorType& o) const { return dtype == o.dtype && shape == o.shape; }
  bool operator!=(const TensorType& o) const { return !(*this == o); }
  // Bytes of a dense tensor of this type; nullopt when dynamic or overflowing.
  std::optional<int64_t> ByteSize() const;
};

// `f32[1,3,224,224]`, `i64[]`, `f32[?N,128]`.
std::string ToString(const Shape& shape);
std::string ToString(const TensorType& type);

}  // namespace sinter::ir

#endif  // SINTER_IR_TYPES_H_
