// The runtime's status type. The runtime may not link abseil, so it has its
// own small Status/StatusOr with the C API's codes; the C API turns a non-OK
// Status into a sinter_status*.
#ifndef SINTER_RUNTIME_STATUS_H_
#define SINTER_RUNTIME_STATUS_H_

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "sinter/sinter.h"

namespace sinter::rt {

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(sinter_status_code code, std::string message)
      : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }
  bool ok() const { return code_ == SINTER_OK; }
  sinter_status_code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Prefixes context: "loading model.sinter: " + message.
  Status WithContext(const std::string& context) const {
    return ok() ? *this : Status(code_, context + ": " + message_);
  }

 private:
  sinter_status_code code_ = SINTER_OK;
  std::string message_;
};

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : v_(std::move(value)) {}
  StatusOr(Status status) : v_(std::move(status)) {}
  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }

 private:
  std::variant<T, Status> v_;
};

// Out of line: messages are built on error paths only, and an inlined
// append per piece at each of the runtime's hundreds of call sites would cost
// more bytes than the message text.
namespace strcat_internal {
[[gnu::noinline]] inline void Append(std::string& s, std::string_view v) { s.append(v); }
[[gnu::noinline]] inline void Append(std::string& s, long long v) { s += std::to_string(v); }
[[gnu::noinline]] inline void Append(std::string& s, unsigned long long v) {
  s += std::to_string(v);
}
[[gnu::noinline]] inline void Append(std::string& s, double v) { s += std::to_string(v); }

template <typename T>
void Piece(std::string& s, const T& p) {
  using D = std::decay_t<T>;
  if constexpr (std::is_floating_point_v<D>) {
    Append(s, static_cast<double>(p));
  } else if constexpr (std::is_integral_v<D> && std::is_signed_v<D>) {
    Append(s, static_cast<long long>(p));
  } else if constexpr (std::is_integral_v<D>) {
    Append(s, static_cast<unsigned long long>(p));
  } else {
    Append(s, std::string_view(p));
  }
}
}  // namespace strcat_internal

template <typename... Parts>
std::string StrCat(const Parts&... parts) {
  std::string s;
  (strcat_internal::Piece(s, parts), ...);
  return s;
}

inline Status InvalidArgument(const std::string& m) { return Status(SINTER_INVALID_ARGUMENT, m); }
inline Status DataLoss(const std::string& m) { return Status(SINTER_DATA_LOSS, m); }

}  // namespace sinter::rt

#define RT_CONCAT_INNER(a, b) a##b
#define RT_CONCAT(a, b) RT_CONCAT_INNER(a, b)
#define RT_RETURN_IF_ERROR(expr)       \
  do {                                 \
    ::sinter::rt::Status _st = (expr); \
    if (!_st.ok()) return _st;         \
  } while (0)
#define RT_ASSIGN_OR_RETURN(lhs, expr) \
  RT_ASSIGN_OR_RETURN_IMPL(RT_CONCAT(_so_, __LINE__), lhs, expr)
#define RT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp.value())

#endif  // SINTER_RUNTIME_STATUS_H_
