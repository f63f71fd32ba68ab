// Whether a CUDA compile failed with the target's clean refusal (every op it
// cannot run named, with the reason) and among them an op that ops.def
// refuses on CUDA (REFUSED("... has no CUDA kernel yet")): a model that
// cannot run on CUDA whatever else is fixed, which the CUDA model suites
// report as a skip naming the ops. Any other failure, or a refusal without
// such an op (a regression in a model that ran), is not one.
#ifndef SINTER_TESTS_MODELS_CUDA_REFUSAL_H_
#define SINTER_TESTS_MODELS_CUDA_REFUSAL_H_

#include <string>

#include "absl/status/status.h"
#include "runtime/format/op_schema.h"

namespace sinter::testing {

inline bool RefusedByOpTable(const absl::Status& s) {
  const std::string prefix = "the cuda target cannot run: ";
  const std::string message(s.message());
  if (s.code() != absl::StatusCode::kUnimplemented || message.rfind(prefix, 0) != 0) return false;
  // "op xN (why), first at loc; op xM (why)..." (codegen/target_support.cc)
  bool refused_by_table = false;
  size_t at = prefix.size();
  while (at < message.size()) {
    size_t end = message.find("; ", at);
    if (end == std::string::npos) end = message.size();
    const std::string part = message.substr(at, end - at);
    at = end + 2;
    const size_t space = part.find(' ');
    if (space == std::string::npos) return false;
    const format::OpSchema* op = format::FindOpSchema(part.substr(0, space));
    if (op == nullptr) return false;
    const format::TargetStrategy& st = op->strategy(format::Target::kCuda);
    if (part.find(" (") == std::string::npos) return false;  // no reason given
    refused_by_table |= st.kind == format::Strategy::kRefused &&
                        part.find("(" + std::string(st.detail) + ")") != std::string::npos;
  }
  return refused_by_table;
}

}  // namespace sinter::testing

#endif  // SINTER_TESTS_MODELS_CUDA_REFUSAL_H_
