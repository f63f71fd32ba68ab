// <cuda_runtime.h> for kernel sources compiled on the host by the emulator:
// the device side only (sinter_cuda_emu.h). Host code launches through the
// executor (tests/cuda_emu/executor.h), not the CUDA runtime API.
#ifndef SINTER_CUDA_EMU_CUDA_RUNTIME_H_
#define SINTER_CUDA_EMU_CUDA_RUNTIME_H_
#include "sinter_cuda_emu.h"
#endif  // SINTER_CUDA_EMU_CUDA_RUNTIME_H_
