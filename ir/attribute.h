// Attributes: the compile-time parameters of an operation (strides, axes,
// epsilon) and the payload of constants.
#ifndef SINTER_IR_ATTRIBUTE_H_
#define SINTER_IR_ATTRIBUTE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "ir/types.h"

namespace sinter::ir {

// Constant payload, shared between ops after CSE and between a graph and its
// clones; immutable once made.
class TensorData {
 public:
  TensorData(TensorType type, std::vector<uint8_t> bytes)
      : type_(std::move(type)), bytes_(std::move(bytes)) {}
  const TensorType& type() const { return type_; }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(bytes_.data());
  }

 private:
  TensorType type_;
  std::vector<uint8_t> bytes_;
};
using TensorDataPtr = std::shared_ptr<const TensorData>;

using Attribute = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>,
                               std::vector<double>, TensorDataPtr>;

enum class AttrKind { kInt, kFloat, kBool, kStr, kInts, kFloats, kTensor };
AttrKind KindOf(const Attribute& attr);
const char* AttrKindName(AttrKind kind);

// Sorted by name so that printing is deterministic.
using AttributeMap = std::map<std::string, Attribute>;

}  // namespace sinter::ir

#endif  // SINTER_IR_ATTRIBUTE_H_
