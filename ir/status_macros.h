// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status in the compiler.
#ifndef SINTER_IR_STATUS_MACROS_H_
#define SINTER_IR_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SINTER_CONCAT_INNER(a, b) a##b
#define SINTER_CONCAT(a, b) SINTER_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)    \
  do {                           \
    ::absl::Status _st = (expr); \
    if (!_st.ok()) return _st;   \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(SINTER_CONCAT(_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#endif  // SINTER_IR_STATUS_MACROS_H_
