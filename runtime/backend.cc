// The backend table (runtime/backend.h).
#include "runtime/backend.h"

namespace sinter::rt {

std::span<const Backend> Backends() {
  static const Backend rows[] = {CpuBackend(), CudaBackend()};
  return rows;
}

const Backend* FindBackend(std::string_view target) {
  for (const Backend& b : Backends())
    if (b.target == target) return &b;
  return nullptr;
}

}  // namespace sinter::rt
