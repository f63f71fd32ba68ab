// The runtime's CUDA backend: runs a "cuda" artifact (codegen/cuda) on one
// GPU. Everything CUDA is reached through runtime/cuda/dynlib.h, so the
// runtime library NEEDs no CUDA library.
//
//   CudaModel    (one per loaded model, shared by sessions): the device and
//                its primary context, the module chosen for the device's
//                architecture, every constant uploaded once, and each
//                kernel's launch prepared and checked at load.
//   CudaSession  (one per caller): a stream, one device arena (activations
//                plus library workspace), cuBLASLt/cuDNN handles and plans,
//                pinned staging for host inputs and outputs, and the whole
//                plan captured as a CUDA graph on the first run and
//                replayed while the bound device pointers stay the same.
#ifndef SINTER_RUNTIME_CUDA_BACKEND_H_
#define SINTER_RUNTIME_CUDA_BACKEND_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/model.h"
#include "runtime/status.h"

namespace sinter::format {
struct Model;
}

namespace sinter::rt::cuda {

class CudaModel;
class CudaSession;

// Whether this runtime was built with the CUDA backend.
bool BackendBuilt();

// Loads the CUDA half of `model` (its tensors and steps already verified)
// onto device `device`. Unavailable when there is no driver or GPU. The
// caller owns the result and frees it with DestroyModel (raw pointers keep
// the types opaque outside this backend).
StatusOr<CudaModel*> LoadModel(const Model& model, const format::Model& fm, const uint8_t* data,
                               uint64_t data_bytes, int device);
void DestroyModel(CudaModel* m);

struct SessionOptions {
  bool use_graph = true;  // capture the plan as a CUDA graph on first run
};
StatusOr<CudaSession*> CreateSession(const Model& model, const CudaModel& cm,
                                     const SessionOptions& options);
void DestroySession(CudaSession* s);

// Host input: copied into pinned staging now, to the device at Run.
Status SetInput(CudaSession& s, size_t index, const void* data, size_t bytes);
// Device input / output: kernels read and write the caller's memory
// directly (no copy). nullptr unbinds (back to staging).
Status BindInputDevice(CudaSession& s, size_t index, void* device_ptr, size_t bytes);
Status BindOutputDevice(CudaSession& s, size_t index, void* device_ptr, size_t bytes);
// Runs and waits for the GPU. With profiling, each kernel is timed with
// CUDA events (no graph): times in microseconds from the first kernel.
Status Run(CudaSession& s, bool profiling, std::vector<std::pair<double, double>>* times);
// Host copy of output `index` of the last run (pinned staging), or null
// when the output is bound to device memory.
const void* OutputHost(const CudaSession& s, size_t index);
std::string DeviceName(const CudaModel& m);

}  // namespace sinter::rt::cuda

#endif  // SINTER_RUNTIME_CUDA_BACKEND_H_
