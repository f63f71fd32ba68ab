// The host executor for CUDA C++: runs kernels compiled as host C++ against
// include/sinter_cuda_emu.h on the CPU, with CUDA's semantics and
// compute-sanitizer's checks, so that generated kernels compute numbers and
// fail on their bugs without a GPU.
//
// - Every CUDA thread of a block is a fiber (fiber.h); the blocks of a grid
//   run one after another on the calling thread, in blockIdx order (x
//   fastest). A fiber runs until it reaches a barrier, a warp collective or
//   its end; when no fiber can run, the executor completes the collectives
//   whose mask lanes have all arrived and releases the barrier that the
//   whole block waits at, and otherwise stops the launch with a report
//   (synccheck): a __syncthreads() some thread never reaches, lanes of a
//   warp in different collectives, a mask that omits the caller.
// - Memory (memcheck): kernel code is compiled with call-mode sanitizer
//   instrumentation, so every load and store is checked before it happens:
//   against the buffers registered here (the device memory), the thread's
//   own stack, the block's shared memory (static __shared__ and the launch's
//   dynamic size) and the module's own data. Typed accesses are checked for
//   their type's alignment (float4, uint4: 16 bytes).
// - Shared memory (racecheck): each byte remembers its last writer and
//   readers within the current barrier interval; two threads touching it
//   with no barrier (or, within a warp, no warp collective) between, one of
//   them writing, is a race. Reading a byte the block has not written is an
//   error too (shared memory starts each block filled with 0xff).
// The first error ends the launch and comes back as a LaunchReport; the
// fibers of the failed block are abandoned, never resumed.
//
// One launch runs at a time in a process (a mutex serialises callers).
#ifndef SINTER_TESTS_CUDA_EMU_EXECUTOR_H_
#define SINTER_TESTS_CUDA_EMU_EXECUTOR_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/cuda_emu/include/sinter_cuda_emu_abi.h"

namespace sinter::cuda_emu {

enum class ErrorKind {
  kNone,
  kInvalidLaunch,        // grid, block or shared memory size beyond CUDA's limits
  kGlobalOutOfBounds,    // an access outside every registered buffer
  kSharedOutOfBounds,    // beyond the launch's dynamic shared memory
  kMisalignedAccess,     // a typed access below its type's alignment
  kUninitializedShared,  // a read of shared bytes this block has not written
  kSharedRace,           // two threads, one writing, no barrier between
  kBarrierDivergence,    // a __syncthreads() not every thread of the block reaches
  kWarpDivergence,       // a warp collective whose mask lanes cannot all arrive
  kInvalidWarpMask,      // a lane calls a collective with a mask that omits it
  kInvalidArgument,      // e.g. a shuffle width that is not a power of 2
  kFault,                // a signal: stack overflow, an access nothing checked
  kTrap,                 // __trap(), a failed assert()
};
const char* ErrorKindName(ErrorKind kind);

struct LaunchReport {
  ErrorKind kind = ErrorKind::kNone;
  std::string kernel;
  dim3 block{0, 0, 0}, thread{0, 0, 0};  // of the first error
  uint64_t address = 0;                  // memory errors
  size_t size = 0;                       // bytes of the access
  // One line: the error, where (source location or buffer), kernel, block
  // and thread.
  std::string message;
  bool ok() const { return kind == ErrorKind::kNone; }
};

struct LaunchOptions {
  std::string name;  // for reports; default: the kernel's symbol
  // The programming guide's rule: a thread that has exited satisfies
  // neither a __syncthreads() the rest of its block waits at nor a warp
  // collective whose mask names it. false accepts both, as current GPUs do.
  bool strict_exit = true;
  bool check_uninitialized_shared = true;
  bool check_shared_races = true;
  size_t stack_bytes = size_t{128} << 10;  // per thread
};

// ---- Device memory ----------------------------------------------------------
// A kernel may access only registered buffers (besides its stack, shared
// memory and its module's data). Registering a range that overlaps a
// registered one replaces it.
void RegisterBuffer(const void* p, size_t bytes, const std::string& name);
void UnregisterBuffer(const void* p);
// cudaMalloc: 256-byte aligned, registered, filled with 0xff bytes (NaN for
// floats) so that reading what nobody wrote shows.
void* DeviceAlloc(size_t bytes, const std::string& name);
void DeviceFree(void* p);

// A typed, registered device buffer that owns its memory.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer(size_t n, const std::string& name)
      : n_(n), p_(static_cast<T*>(DeviceAlloc(n * sizeof(T), name))) {}
  DeviceBuffer(const std::vector<T>& v, const std::string& name) : DeviceBuffer(v.size(), name) {
    if (!v.empty()) std::memcpy(p_, v.data(), v.size() * sizeof(T));
  }
  ~DeviceBuffer() { DeviceFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return p_; }
  size_t size() const { return n_; }
  std::vector<T> ToHost() const { return std::vector<T>(p_, p_ + n_); }

 private:
  size_t n_;
  T* p_;
};

// ---- Launches ---------------------------------------------------------------

// The type-erased launch: every thread calls run(body) on its own fiber.
LaunchReport LaunchBody(const LaunchOptions& options, dim3 grid, dim3 block,
                        size_t dynamic_shared_bytes, void (*run)(void*), void* body);

namespace detail {
// Copies the body onto the fiber's stack first: captured kernel arguments
// are then the thread's own (stack) memory, as a GPU's parameter space is
// readable by each thread, and instrumented code may read them.
template <class F>
void RunCopy(void* body) {
  F local(*static_cast<const F*>(body));
  local();
}
std::string SymbolName(const void* fn);
}  // namespace detail

// Launches any callable (a lambda, a std::function) as the kernel body.
// A std::function whose target is instrumented kernel code must hold its
// captures inline (at most 16 bytes): its heap storage is no device buffer.
template <class F>
LaunchReport LaunchFunction(const LaunchOptions& options, dim3 grid, dim3 block,
                            size_t dynamic_shared_bytes, const F& body) {
  return LaunchBody(options, grid, block, dynamic_shared_bytes, &detail::RunCopy<F>,
                    const_cast<F*>(&body));
}

// Launch(kernel, grid, block, dynamic_shared_bytes, args...): the arguments
// are converted to the kernel's parameter types once, at launch, like the
// parameter buffer of cudaLaunchKernel.
template <class... P, class... A>
LaunchReport Launch(const LaunchOptions& options, void (*kernel)(P...), dim3 grid, dim3 block,
                    size_t dynamic_shared_bytes, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "wrong number of kernel arguments");
  LaunchOptions o = options;
  if (o.name.empty()) o.name = detail::SymbolName(reinterpret_cast<const void*>(kernel));
  auto body = [kernel, params = std::tuple<P...>(std::forward<A>(args)...)]() {
    std::apply(kernel, params);
  };
  return LaunchFunction(o, grid, block, dynamic_shared_bytes, body);
}
template <class... P, class... A>
LaunchReport Launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t dynamic_shared_bytes,
                    A&&... args) {
  return Launch(LaunchOptions{}, kernel, grid, block, dynamic_shared_bytes,
                std::forward<A>(args)...);
}

// The largest dynamic shared memory of a launch (sm_90's opt-in limit).
inline constexpr size_t kMaxDynamicSharedBytes = 227 * 1024;

}  // namespace sinter::cuda_emu

#endif  // SINTER_TESTS_CUDA_EMU_EXECUTOR_H_
