// The C ABI between CUDA C++ compiled for the host (sinter_cuda_emu.h, in
// kernel code) and the executor that runs it (executor.cc, in
// libsinter_cuda_emu.so). Kernel code reaches the executor only through these
// functions: a module compiled at test time leaves them undefined and the
// dynamic linker binds them to the executor already loaded in the process,
// so a module needs no link step against it and no binding call.
//
// Also the launch geometry types (uint3, dim3), which the host API
// (executor.h) and kernel code share.
#ifndef SINTER_CUDA_EMU_ABI_H_
#define SINTER_CUDA_EMU_ABI_H_

#include <stddef.h>
#include <stdint.h>

// Host code that also includes the CUDA toolkit's own vector_types.h (a
// test driving the executor through a fake CUDA driver) gets the toolkit's
// uint3 and dim3, which have the same members, layout and conversions.
#if !defined(__VECTOR_TYPES_H__)
struct uint3 {
  unsigned int x, y, z;
};

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
      : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};
#endif

// Warp collectives, one entry point for all (sinter_emu_warp).
enum sinter_emu_warp_op {
  SINTER_EMU_SHFL_IDX,
  SINTER_EMU_SHFL_UP,
  SINTER_EMU_SHFL_DOWN,
  SINTER_EMU_SHFL_XOR,
  SINTER_EMU_BALLOT,
  SINTER_EMU_ALL,
  SINTER_EMU_ANY,
  SINTER_EMU_UNI,
  SINTER_EMU_SYNCWARP,
  SINTER_EMU_MATCH_ANY,
  SINTER_EMU_MATCH_ALL,  // result: mask | (uint64_t{pred} << 32)
  SINTER_EMU_REDUCE_ADD,
  SINTER_EMU_REDUCE_MIN_U,
  SINTER_EMU_REDUCE_MAX_U,
  SINTER_EMU_REDUCE_MIN_I,
  SINTER_EMU_REDUCE_MAX_I,
  SINTER_EMU_REDUCE_AND,
  SINTER_EMU_REDUCE_OR,
  SINTER_EMU_REDUCE_XOR,
};

// Block barriers (sinter_emu_syncthreads).
enum sinter_emu_barrier_op {
  SINTER_EMU_BAR_SYNC,   // __syncthreads()
  SINTER_EMU_BAR_COUNT,  // __syncthreads_count(pred)
  SINTER_EMU_BAR_AND,    // __syncthreads_and(pred)
  SINTER_EMU_BAR_OR,     // __syncthreads_or(pred)
};

// What a memory check is for (sinter_emu_check).
enum sinter_emu_access { SINTER_EMU_READ, SINTER_EMU_WRITE, SINTER_EMU_ATOMIC };

// Errors raised by emulated code itself (sinter_emu_fail).
enum sinter_emu_failure { SINTER_EMU_FAIL_TRAP, SINTER_EMU_FAIL_INVALID_ARGUMENT };

extern "C" {
// The running thread's built-in variables.
uint3 sinter_emu_thread_idx(void);
uint3 sinter_emu_block_idx(void);
uint3 sinter_emu_block_dim(void);
uint3 sinter_emu_grid_dim(void);

// A barrier of the block; returns the reduction of `pred` for the _count,
// _and and _or forms. file/line: the call site, for reports.
int sinter_emu_syncthreads(int op, int pred, const char* file, int line);
// A warp collective: `value` is the lane's operand (zero-extended), `b` and
// `c` the PTX shfl operands (lane/offset, and clamp/segment mask).
uint64_t sinter_emu_warp(int op, unsigned mask, uint64_t value, int b, int c, const char* file,
                         int line);
unsigned sinter_emu_activemask(void);

// Called before every load and store the compiler instrumented (the
// __asan_*_noabort hooks) and by atomics: checks the access and, when it is
// invalid, ends the launch with a report (it does not return then).
void sinter_emu_check(const void* addr, size_t size, int access, const void* pc);
// The UBSan alignment hook's data and pointer: ends the launch.
void sinter_emu_misaligned(const void* ubsan_data, const void* ptr);
// __trap(), assert() and invalid intrinsic arguments: ends the launch, does
// not return. (Not declared noreturn: instrumented code would then call
// __asan_handle_no_return, which only the real ASan runtime should define.)
void sinter_emu_fail(int failure, const char* what, const char* file, int line);

// The dynamic shared memory (extern __shared__) of every launch: one fixed
// region, which extern __shared__ arrays name as their assembler symbol.
extern unsigned char sinter_emu_dynamic_shared_memory[];
void* sinter_emu_dynamic_shared(void);
// A module (executable or shared object with kernel code) announces itself
// once per translation unit: `tls_anchor` returns an address in the calling
// thread's instance of the module's TLS block, which holds its static
// __shared__ variables; `anchor` is an address in the module's data.
// Returns an id for unregistering when it is unloaded (the executor counts
// the registrations of one object).
int sinter_emu_register_module(void* (*tls_anchor)(void), const void* anchor);
void sinter_emu_unregister_module(int id);
long long sinter_emu_clock64(void);
}

#endif  // SINTER_CUDA_EMU_ABI_H_
