// The runtime's CUDA backend (the "cuda" row of runtime/backend.h): runs a
// "cuda" artifact (codegen/cuda) on one GPU. Everything CUDA is reached
// through runtime/cuda/dynlib.h, so the runtime library NEEDs no CUDA
// library.
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

#include "runtime/backend.h"
#include "runtime/model.h"

namespace sinter::rt::cuda {

// Whether this runtime was built with the CUDA backend.
bool BackendBuilt();

}  // namespace sinter::rt::cuda

#endif  // SINTER_RUNTIME_CUDA_BACKEND_H_
