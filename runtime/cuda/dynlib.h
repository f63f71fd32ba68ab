// CUDA loaded, not linked: symbol tables for the CUDA driver API, cuBLASLt
// and cuDNN (graph/backend API), each filled once per process by dlopen and
// dlsym, as IREE's cuda_dynamic_symbol_table does. The runtime library NEEDs
// none of these libraries, so one binary serves CPU-only and GPU machines;
// a CUDA model on a machine without them fails to load with Unavailable and
// a message that names every library path tried.
//
// The CUDA headers are used for their types and constants only (cuda.h,
// cublasLt.h, cudnn_graph.h); no function of theirs is called directly.
#ifndef SINTER_RUNTIME_CUDA_DYNLIB_H_
#define SINTER_RUNTIME_CUDA_DYNLIB_H_

#include <cublasLt.h>
#include <cuda.h>
#include <cudnn_graph.h>

#include <string>

#include "runtime/status.h"

namespace sinter::rt::cuda {

// X(name): one entry point, spelled as its header spells the call. cuda.h
// #defines many driver names to versioned ABI names (cuMemAlloc ->
// cuMemAlloc_v2, cuStreamBeginCapture -> cuStreamBeginCapture_v2); X's
// argument is macro-expanded before X sees it, so the member, its type
// (decltype(&::name)) and the string dlsym looks up all follow the header's
// version, and a caller's api.cuMemAlloc(...) expands to the same member.
// Adding an entry point is one line here; the loader checks it resolves.
#define SINTER_CU_SYMBOLS(X)     \
  X(cuInit)                      \
  X(cuDriverGetVersion)          \
  X(cuGetErrorName)              \
  X(cuGetErrorString)            \
  X(cuDeviceGetCount)            \
  X(cuDeviceGet)                 \
  X(cuDeviceGetName)             \
  X(cuDeviceGetAttribute)        \
  X(cuDeviceTotalMem)            \
  X(cuDevicePrimaryCtxRetain)    \
  X(cuDevicePrimaryCtxRelease)   \
  X(cuCtxPushCurrent)            \
  X(cuCtxPopCurrent)             \
  X(cuCtxSetCurrent)             \
  X(cuCtxGetCurrent)             \
  X(cuModuleLoadDataEx)          \
  X(cuModuleUnload)              \
  X(cuModuleGetFunction)         \
  X(cuFuncSetAttribute)          \
  X(cuLaunchKernel)              \
  X(cuMemAlloc)                  \
  X(cuMemFree)                   \
  X(cuMemGetInfo)                \
  X(cuMemHostAlloc)              \
  X(cuMemFreeHost)               \
  X(cuMemcpyHtoD)                \
  X(cuMemcpyHtoDAsync)           \
  X(cuMemcpyDtoHAsync)           \
  X(cuMemcpyDtoDAsync)           \
  X(cuMemsetD8Async)             \
  X(cuPointerGetAttribute)       \
  X(cuStreamCreate)              \
  X(cuStreamDestroy)             \
  X(cuStreamSynchronize)         \
  X(cuStreamBeginCapture)        \
  X(cuStreamEndCapture)          \
  X(cuGraphInstantiateWithFlags) \
  X(cuGraphLaunch)               \
  X(cuGraphExecDestroy)          \
  X(cuGraphDestroy)              \
  X(cuEventCreate)               \
  X(cuEventDestroy)              \
  X(cuEventRecord)               \
  X(cuEventSynchronize)          \
  X(cuEventElapsedTime)

#define SINTER_CUBLASLT_SYMBOLS(X)        \
  X(cublasLtCreate)                       \
  X(cublasLtDestroy)                      \
  X(cublasLtGetVersion)                   \
  X(cublasLtGetStatusName)                \
  X(cublasLtGetStatusString)              \
  X(cublasLtMatmulDescCreate)             \
  X(cublasLtMatmulDescDestroy)            \
  X(cublasLtMatmulDescSetAttribute)       \
  X(cublasLtMatrixLayoutCreate)           \
  X(cublasLtMatrixLayoutDestroy)          \
  X(cublasLtMatrixLayoutSetAttribute)     \
  X(cublasLtMatmulPreferenceCreate)       \
  X(cublasLtMatmulPreferenceDestroy)      \
  X(cublasLtMatmulPreferenceSetAttribute) \
  X(cublasLtMatmulAlgoGetHeuristic)       \
  X(cublasLtMatmul)

#define SINTER_CUDNN_SYMBOLS(X)    \
  X(cudnnGetVersion)               \
  X(cudnnGetErrorString)           \
  X(cudnnGetLastErrorString)       \
  X(cudnnCreate)                   \
  X(cudnnDestroy)                  \
  X(cudnnSetStream)                \
  X(cudnnBackendCreateDescriptor)  \
  X(cudnnBackendDestroyDescriptor) \
  X(cudnnBackendSetAttribute)      \
  X(cudnnBackendGetAttribute)      \
  X(cudnnBackendFinalize)          \
  X(cudnnBackendExecute)

#define SINTER_DYNLIB_MEMBER(name) decltype(&::name) name = nullptr;

struct DriverApi {
  SINTER_CU_SYMBOLS(SINTER_DYNLIB_MEMBER)
};
struct CublasLtApi {
  SINTER_CUBLASLT_SYMBOLS(SINTER_DYNLIB_MEMBER)
};
struct CudnnApi {
  SINTER_CUDNN_SYMBOLS(SINTER_DYNLIB_MEMBER)
};

#undef SINTER_DYNLIB_MEMBER

// Each loads its library once per process (thread-safe) and checks every
// entry point; Unavailable with each path tried and dlerror otherwise.
// Driver() also calls cuInit(0): no device or no usable driver is
// Unavailable naming cuInit's error. The libraries stay loaded for the
// life of the process.
//
// Search order: the path in SINTER_CUDA_DRIVER_LIBRARY /
// SINTER_CUBLASLT_LIBRARY / SINTER_CUDNN_LIBRARY if set (e.g. a pip
// wheel's site-packages/nvidia/*/lib), then the sonames through the dynamic
// loader's own search, then (not for the driver, which comes with the GPU
// driver, not the toolkit) $CUDA_HOME/lib64 and /usr/local/cuda/lib64.
StatusOr<const DriverApi*> Driver();
StatusOr<const CublasLtApi*> CublasLt();
StatusOr<const CudnnApi*> Cudnn();

// A failed call as a Status: "cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY (out of
// memory)"; OK for CUDA_SUCCESS. Out-of-memory maps to RESOURCE_EXHAUSTED,
// everything else to INTERNAL. CudnnStatus appends cuDNN's last error
// message for this thread when it has one.
Status CuStatus(const DriverApi& api, CUresult r, const char* what);
Status CublasStatus(const CublasLtApi& api, cublasStatus_t r, const char* what);
Status CudnnStatus(const CudnnApi& api, cudnnStatus_t r, const char* what);

// Driver()'s symbol lookup alone, uncached, from one library path and
// without cuInit: lets a test check that every driver entry point resolves
// against the toolkit's stub libcuda.so on a machine with no driver. The
// library stays loaded when it succeeds.
Status ResolveDriverSymbols(const std::string& path, DriverApi* api);

}  // namespace sinter::rt::cuda

#endif  // SINTER_RUNTIME_CUDA_DYNLIB_H_
