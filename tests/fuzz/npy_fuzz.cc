// libFuzzer target: the .npy reader of the command-line tools (tools/npy.h),
// on the bytes of a file. An error message is a correct answer; a crash, a
// sanitizer report, or an array whose data does not match its shape and dtype
// is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tools/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sinter::tools::NpyArray a;
  const std::string err = sinter::tools::ParseNpy(
      std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.npy", &a);
  if (!err.empty()) return 0;
  uint64_t n = 1;
  for (int64_t d : a.shape) {
    if (d < 0) __builtin_trap();
    n *= static_cast<uint64_t>(d);
  }
  if (n * sinter_dtype_size(a.dtype) != a.data.size()) __builtin_trap();
  return 0;
}
