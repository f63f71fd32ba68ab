// The CUDA backend of a runtime built without the CUDA headers: every CUDA
// artifact is refused with a message that says so.
#include "runtime/cuda/backend.h"

namespace sinter::rt {
namespace cuda {

bool BackendBuilt() { return false; }

}  // namespace cuda

namespace {

StatusOr<std::unique_ptr<BackendModel>> Refuse(const Model&, const LoadContext&) {
  return Status(SINTER_UNIMPLEMENTED,
                "this artifact targets CUDA, and this runtime was built without its CUDA backend "
                "(no CUDA headers at build time)");
}

std::vector<std::string_view> NoOps() { return {}; }

}  // namespace

const Backend& CudaBackend() {
  static const Backend b{"cuda", &Refuse, &NoOps};
  return b;
}

}  // namespace sinter::rt
