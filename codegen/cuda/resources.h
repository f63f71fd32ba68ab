// What each compiled CUDA kernel uses, and the occupancy that gives, read
// without a GPU: NVRTC runs the toolkit's own assembler (ptxas), whose
// verbose report (`--ptxas-options=-v`) states per entry function the
// registers per thread, the static shared memory per block, the stack frame
// and the bytes spilled to local memory. (The CUDA 13 toolkit installed here
// has no cuobjdump or nvdisasm; ptxas reports the same numbers that
// `cuobjdump --dump-resource-usage` reads back from the cubin.) The
// occupancy is the CUDA occupancy calculator's: resident blocks per SM as
// limited by threads, blocks, registers (allocated per warp in units of 256)
// and shared memory (1 KiB reserved per block, 128-byte granules), over each
// architecture's published limits.
#ifndef SINTER_CODEGEN_CUDA_RESOURCES_H_
#define SINTER_CODEGEN_CUDA_RESOURCES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sinter::codegen::cuda {

struct KernelResources {
  std::string kernel;  // entry function
  std::string arch;    // "sm_90"
  int registers = 0;   // per thread
  int barriers = 0;
  int64_t shared_bytes = 0;  // static shared memory per block
  int64_t stack_bytes = 0;   // stack frame per thread (local memory)
  int64_t spill_store_bytes = 0, spill_load_bytes = 0;
};

// The entry functions of ptxas's verbose report in `log` (NVRTC's program
// log); every other line (NVRTC's own warnings) is appended to *rest.
std::vector<KernelResources> ParsePtxasReport(std::string_view log, std::string* rest);

// An SM generation's limits (the CUDA C++ Programming Guide's table of
// compute capabilities).
struct SmLimits {
  int arch;  // 80 for sm_80
  int max_threads, max_warps, max_blocks;
  int registers;             // per SM
  int64_t shared_bytes;      // per SM, at the largest carve-out
  int64_t max_shared_block;  // per block
};
// The limits of "sm_XX", or null for an architecture the table lacks.
const SmLimits* FindSmLimits(std::string_view arch);

struct Occupancy {
  int blocks_per_sm = 0;
  int warps_per_sm = 0;
  double fraction = 0;  // resident warps / the SM's maximum
  std::string limiter;  // "threads", "blocks", "registers", "shared memory"
};
// Occupancy of `r` launched with `threads_per_block` threads and
// `dynamic_shared` bytes of dynamic shared memory per block on `sm`.
Occupancy ComputeOccupancy(const KernelResources& r, int threads_per_block, int64_t dynamic_shared,
                           const SmLimits& sm);

// What one kernel of the module uses on one real architecture (ptxas's
// report) and the occupancy that gives at the block size the runtime
// launches it with: the generated kernel's own, or the hand-written
// kernels' SINTER_CUDA_HAND_BLOCK. No dynamic shared memory is launched.
struct KernelUsage {
  KernelResources resources;  // kernel, arch, registers, shared memory, stack, spills
  bool generated = false;     // sinter_gN, else a hand-written kernels/cuda kernel
  int threads_per_block = 0;
  Occupancy occupancy;
};

}  // namespace sinter::codegen::cuda

#endif  // SINTER_CODEGEN_CUDA_RESOURCES_H_
