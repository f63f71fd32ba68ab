// The CUDA backend of a runtime built without the CUDA headers: every CUDA
// artifact is refused with a message that says so.
#include "runtime/cuda/backend.h"

namespace sinter::rt::cuda {

class CudaModel {};
class CudaSession {};

bool BackendBuilt() { return false; }

StatusOr<CudaModel*> LoadModel(const Model&, const format::Model&, const uint8_t*, uint64_t, int) {
  return Status(SINTER_UNIMPLEMENTED,
                "this artifact targets CUDA, and this runtime was built without its CUDA backend "
                "(no CUDA headers at build time)");
}
void DestroyModel(CudaModel* m) { delete m; }
StatusOr<CudaSession*> CreateSession(const Model&, const CudaModel&, const SessionOptions&) {
  return Status(SINTER_UNIMPLEMENTED, "no CUDA backend");
}
void DestroySession(CudaSession* s) { delete s; }
Status SetInput(CudaSession&, size_t, const void*, size_t) {
  return Status(SINTER_UNIMPLEMENTED, "no CUDA backend");
}
Status BindInputDevice(CudaSession&, size_t, void*, size_t) {
  return Status(SINTER_UNIMPLEMENTED, "no CUDA backend");
}
Status BindOutputDevice(CudaSession&, size_t, void*, size_t) {
  return Status(SINTER_UNIMPLEMENTED, "no CUDA backend");
}
Status Run(CudaSession&, bool, std::vector<std::pair<double, double>>*) {
  return Status(SINTER_UNIMPLEMENTED, "no CUDA backend");
}
const void* OutputHost(const CudaSession&, size_t) { return nullptr; }
std::string DeviceName(const CudaModel&) { return ""; }

}  // namespace sinter::rt::cuda
