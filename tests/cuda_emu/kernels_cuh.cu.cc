// kernels/cuda/kernels.cuh compiled as emulated CUDA, with the same
// parameter blocks (kernels/cuda/params.h) NVRTC compiles it with: its entry
// points run on the executor in kernels_cuh_test.cc. Unlike
// tests/runtime/cuda_host_test.cc, which calls them as plain functions per
// thread, every access is checked here.
#include <cuda_runtime.h>

#include "kernels/cuda/params.h"
// clang-format off
#include "kernels/cuda/kernels.cuh"
// clang-format on
