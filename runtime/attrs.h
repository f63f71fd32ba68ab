// A kernel's attributes, decoded from the artifact, for every backend's
// load-time checks (the CPU op table and the CUDA plans).
#ifndef SINTER_RUNTIME_ATTRS_H_
#define SINTER_RUNTIME_ATTRS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/status.h"

namespace sinter::format {
struct Kernel;
}

namespace sinter::rt {

// Attributes of one kernel, decoded from the artifact, with typed getters that
// return an error (not a crash) when absent or of the wrong kind.
class Attrs {
 public:
  explicit Attrs(const format::Kernel* kernel) : kernel_(kernel) {}
  bool Has(std::string_view name) const;
  StatusOr<int64_t> Int(std::string_view name) const;
  StatusOr<int64_t> IntOr(std::string_view name, int64_t dflt) const;
  StatusOr<double> Float(std::string_view name) const;
  StatusOr<double> FloatOr(std::string_view name, double dflt) const;
  StatusOr<bool> Bool(std::string_view name) const;
  StatusOr<std::string> Str(std::string_view name) const;
  StatusOr<std::vector<int64_t>> Ints(std::string_view name) const;
  StatusOr<std::vector<double>> Floats(std::string_view name) const;

 private:
  const format::Kernel* kernel_;
};

// The two values of an ints attribute such as stride or padding, each in
// [min, 2^20]; InvalidArgument naming the attribute otherwise.
StatusOr<std::array<int64_t, 2>> IntPair(const Attrs& a, std::string_view name, int64_t min);

// Does a conv2d / pool kernel store its tensors channels-last (`layout`
// "NHWC")? Absent or "NCHW": no; any other value: InvalidArgument.
StatusOr<bool> ChannelsLast(const Attrs& a);

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_ATTRS_H_
