// NVRTC, loaded with dlopen: compiles generated CUDA C++ to cubin (and PTX
// for forward compatibility) on the build host, which needs no GPU and no
// CUDA driver. The compiler never links libnvrtc, so a host without CUDA
// still builds and runs every CPU path; CUDA compiles then fail with
// Unavailable, and tests skip with that message.
#ifndef SINTER_CODEGEN_CUDA_NVRTC_H_
#define SINTER_CODEGEN_CUDA_NVRTC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/cuda/resources.h"

namespace sinter::codegen::cuda {

struct CompiledKernel {
  std::string arch;            // as requested: "sm_90" or "compute_90"
  std::vector<uint8_t> cubin;  // SASS for a real arch (sm_XX); empty for compute_XX
  std::string ptx;             // when asked for, and always for compute_XX
  std::string log;             // NVRTC's log of the successful compile (warnings), may be empty
  // For a real arch: every entry function's registers, shared memory,
  // stack and spills, from ptxas's report (resources.h).
  std::vector<KernelResources> resources;
};

// NVRTC's version, e.g. {13, 0}; Unavailable (with every path tried and
// dlerror) when the library cannot be loaded or lacks a needed symbol.
// Looked up once per process: $SINTER_NVRTC_LIBRARY, then libnvrtc.so,
// libnvrtc.so.13, libnvrtc.so.12 on the loader's path, then
// $CUDA_HOME/lib64 and /usr/local/cuda/lib64.
absl::StatusOr<std::pair<int, int>> NvrtcVersion();

// Compiles `source` (one translation unit; `name` names it in diagnostics)
// for `arch`: "sm_XX" gives a cubin, plus with want_ptx the PTX (`.target
// sm_XX`) that a newer GPU's driver can JIT ("sm_90a"-style arch-specific
// PTX cannot); "compute_XX" gives PTX only. Options: -std=c++17,
// -default-device and the CUDA include dir (for cuda_fp16.h / cuda_bf16.h):
// $CUDA_HOME/include, else /usr/local/cuda/include, when it exists; for a
// real arch also --ptxas-options=-v, whose report becomes `resources` (and
// stays out of `log`).
// Errors: Unavailable when NVRTC is missing, InvalidArgument for a bad arch
// or a source that does not compile (the message carries NVRTC's log),
// Internal for other NVRTC failures.
absl::StatusOr<CompiledKernel> CompileCuda(const std::string& source, const std::string& name,
                                           const std::string& arch, bool want_ptx);

}  // namespace sinter::codegen::cuda

#endif  // SINTER_CODEGEN_CUDA_NVRTC_H_
