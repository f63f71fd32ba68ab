// CUDA C++ as host C++: the header that makes a kernel source (the CUDA
// emitter's output, kernels/cuda/kernels.cuh, a test's kernel) compile with
// the host compiler and run on the executor (tests/cuda_emu/executor.h).
// Module sources get it with `-include sinter_cuda_emu.h`; this directory is
// first on their include path, so <cuda_fp16.h>, <cuda_bf16.h> and
// <cuda_runtime.h> resolve to the shims next to it.
//
// What each CUDA construct becomes:
//  - __global__/__device__/__host__: nothing; __forceinline__: always_inline;
//    __launch_bounds__: nothing.
//  - threadIdx, blockIdx, blockDim, gridDim: calls into the executor, which
//    knows the running thread (each CUDA thread is a fiber).
//  - __syncthreads*, __syncwarp, __shfl*_sync, votes, match, reduce: calls
//    into the executor, which suspends the fiber until the block or the
//    warp's mask lanes arrive and reports a barrier or collective that can
//    never complete.
//  - `__shared__ T x[N];`: `static thread_local`. All fibers of a launch run
//    on the launching OS thread, so they share one instance, and blocks run
//    one at a time, so that instance is exactly the block's shared memory.
//    Thread-local rather than a plain static because the module's TLS block
//    is then an address range that holds nothing but shared memory (GCC
//    ignores a section attribute on statics of templates and rejects one
//    shared by inline and non-inline functions, so sections cannot mark
//    it). The executor fills that range with 0xff before each block and
//    tracks which bytes the block wrote, so a block never sees its
//    predecessor's values.
//  - `extern __shared__ T x[];`: not expressible by a macro (`extern static`
//    is not C++); the module compiler (module.h) rewrites it to
//    SINTER_EMU_EXTERN_SHARED(T, x), which sources compiled by hand write
//    directly: an extern array whose assembler name is the executor's one
//    dynamic shared memory region, so every such array starts there, at
//    function or namespace scope, as on a GPU.
//  - Memory checks: kernel code is compiled with GCC's
//    -fsanitize=kernel-address in call mode, so every load and store calls
//    __asan_{load,store}N_noabort, and with -fsanitize=alignment, so every
//    access through a typed pointer (float4*, uint4*, __half*) calls
//    __ubsan_handle_type_mismatch_v1 when misaligned. Both are defined below
//    and forward to the executor, which checks the address against the
//    registered buffers, the thread's stack, shared memory and the module's
//    own data. The flags are in module.cc and tests/cuda_emu/CMakeLists.txt.
//  - assert(): the host's macro, but this header defines the module's
//    __assert_fail, so a failed assertion ends the launch with a report.
//  - __noinline__ is left undefined: libstdc++ spells the GCC attribute
//    __noinline__, which such a macro would break.
#ifndef SINTER_CUDA_EMU_H_
#define SINTER_CUDA_EMU_H_

#define SINTER_CUDA_EMULATION 1

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <type_traits>

#include "cuda_bf16.h"
#include "cuda_fp16.h"
#include "sinter_cuda_emu_abi.h"
#include "vector_types.h"

// ---- Qualifiers ------------------------------------------------------------

#define __global__
#define __device__
#define __host__
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __constant__
#define __managed__
#define __grid_constant__
#define __shared__ static thread_local
#define SINTER_EMU_EXTERN_SHARED(T, name) \
  extern T name[] __asm__("sinter_emu_dynamic_shared_memory")

// ---- Built-in variables ----------------------------------------------------

#define threadIdx (::sinter_emu_thread_idx())
#define blockIdx (::sinter_emu_block_idx())
#define blockDim (::dim3(::sinter_emu_block_dim()))
#define gridDim (::dim3(::sinter_emu_grid_dim()))
static constexpr int warpSize = 32;

namespace sinter_emu_detail {

template <class T>
inline uint64_t ToBits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                "warp collectives take values of at most 8 bytes");
  uint64_t u = 0;
  memcpy(&u, &v, sizeof v);
  return u;
}
template <class T>
inline T FromBits(uint64_t u) {
  T v;
  memcpy(&v, &u, sizeof v);
  return v;
}
inline void CheckWidth(int width, const char* file, int line) {
  if (width < 1 || width > 32 || (width & (width - 1)) != 0)
    sinter_emu_fail(SINTER_EMU_FAIL_INVALID_ARGUMENT,
                    "shuffle width must be a power of 2 from 1 to 32", file, line);
}

// Registers the module with the executor while it is loaded. The anchor
// function hands over an address in the module's TLS block (and allocates
// that block in a thread that calls it first); the module's own data shows
// where its image lies. Constructor functions rather than a dynamically
// initialised variable: the latter would make instrumented code call ASan's
// init-order hooks.
static thread_local char tls_anchor;
static void* TlsAnchor() { return &tls_anchor; }
static int module_id;
__attribute__((constructor)) static void RegisterModule() {
  module_id = sinter_emu_register_module(&TlsAnchor, &module_id);
}
__attribute__((destructor)) static void UnregisterModule() {
  sinter_emu_unregister_module(module_id);
}

// Atomics read and write through these, which are not instrumented: the
// atomic itself is checked as one access that never races with another
// atomic. (noipa: IPA-SRA would move the access into the instrumented caller.)
template <class T>
__attribute__((no_sanitize_address, no_sanitize("alignment"), noipa)) T RawLoad(const T* p) {
  return *p;
}
template <class T>
__attribute__((no_sanitize_address, no_sanitize("alignment"), noipa)) void RawStore(T* p, T v) {
  *p = v;
}
// Fibers never preempt each other, so a read-modify-write is atomic.
template <class T, class F>
inline T Atomic(T* p, F f) {
  sinter_emu_check(p, sizeof(T), SINTER_EMU_ATOMIC, __builtin_return_address(0));
  const T old = RawLoad(p);
  RawStore(p, f(old));
  return old;
}

}  // namespace sinter_emu_detail

// ---- Synchronisation and warp collectives -----------------------------------
// Every call site passes its file and line, for reports.

#define SINTER_EMU_SITE const char *file = __builtin_FILE(), int line = __builtin_LINE()

inline void __syncthreads(SINTER_EMU_SITE) {
  sinter_emu_syncthreads(SINTER_EMU_BAR_SYNC, 0, file, line);
}
inline int __syncthreads_count(int pred, SINTER_EMU_SITE) {
  return sinter_emu_syncthreads(SINTER_EMU_BAR_COUNT, pred != 0, file, line);
}
inline int __syncthreads_and(int pred, SINTER_EMU_SITE) {
  return sinter_emu_syncthreads(SINTER_EMU_BAR_AND, pred != 0, file, line);
}
inline int __syncthreads_or(int pred, SINTER_EMU_SITE) {
  return sinter_emu_syncthreads(SINTER_EMU_BAR_OR, pred != 0, file, line);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, SINTER_EMU_SITE) {
  sinter_emu_warp(SINTER_EMU_SYNCWARP, mask, 0, 0, 0, file, line);
}
// Memory is sequentially consistent between fibers.
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __threadfence_system() {}
inline unsigned __activemask() { return sinter_emu_activemask(); }

// The PTX shfl.sync operands CUDA's headers pass: c = segment mask << 8 |
// clamp.
template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize, SINTER_EMU_SITE) {
  sinter_emu_detail::CheckWidth(width, file, line);
  return sinter_emu_detail::FromBits<T>(sinter_emu_warp(SINTER_EMU_SHFL_IDX, mask,
                                                        sinter_emu_detail::ToBits(var), src_lane,
                                                        ((32 - width) << 8) | 0x1f, file, line));
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                        SINTER_EMU_SITE) {
  sinter_emu_detail::CheckWidth(width, file, line);
  return sinter_emu_detail::FromBits<T>(
      sinter_emu_warp(SINTER_EMU_SHFL_UP, mask, sinter_emu_detail::ToBits(var),
                      static_cast<int>(delta), (32 - width) << 8, file, line));
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                          SINTER_EMU_SITE) {
  sinter_emu_detail::CheckWidth(width, file, line);
  return sinter_emu_detail::FromBits<T>(
      sinter_emu_warp(SINTER_EMU_SHFL_DOWN, mask, sinter_emu_detail::ToBits(var),
                      static_cast<int>(delta), ((32 - width) << 8) | 0x1f, file, line));
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                         SINTER_EMU_SITE) {
  sinter_emu_detail::CheckWidth(width, file, line);
  return sinter_emu_detail::FromBits<T>(sinter_emu_warp(SINTER_EMU_SHFL_XOR, mask,
                                                        sinter_emu_detail::ToBits(var), lane_mask,
                                                        ((32 - width) << 8) | 0x1f, file, line));
}
inline unsigned __ballot_sync(unsigned mask, int pred, SINTER_EMU_SITE) {
  return static_cast<unsigned>(
      sinter_emu_warp(SINTER_EMU_BALLOT, mask, pred != 0, 0, 0, file, line));
}
inline int __all_sync(unsigned mask, int pred, SINTER_EMU_SITE) {
  return static_cast<int>(sinter_emu_warp(SINTER_EMU_ALL, mask, pred != 0, 0, 0, file, line));
}
inline int __any_sync(unsigned mask, int pred, SINTER_EMU_SITE) {
  return static_cast<int>(sinter_emu_warp(SINTER_EMU_ANY, mask, pred != 0, 0, 0, file, line));
}
inline int __uni_sync(unsigned mask, int pred, SINTER_EMU_SITE) {
  return static_cast<int>(sinter_emu_warp(SINTER_EMU_UNI, mask, pred != 0, 0, 0, file, line));
}
template <class T>
inline unsigned __match_any_sync(unsigned mask, T value, SINTER_EMU_SITE) {
  return static_cast<unsigned>(sinter_emu_warp(SINTER_EMU_MATCH_ANY, mask,
                                               sinter_emu_detail::ToBits(value), 0, 0, file, line));
}
template <class T>
inline unsigned __match_all_sync(unsigned mask, T value, int* pred, SINTER_EMU_SITE) {
  const uint64_t r = sinter_emu_warp(SINTER_EMU_MATCH_ALL, mask, sinter_emu_detail::ToBits(value),
                                     0, 0, file, line);
  *pred = static_cast<int>(r >> 32);
  return static_cast<unsigned>(r);
}
#define SINTER_EMU_REDUCE(NAME, T, OP)                                              \
  inline T NAME(unsigned mask, T value, SINTER_EMU_SITE) {                          \
    return static_cast<T>(                                                          \
        sinter_emu_warp(OP, mask, static_cast<unsigned>(value), 0, 0, file, line)); \
  }
SINTER_EMU_REDUCE(__reduce_add_sync, unsigned, SINTER_EMU_REDUCE_ADD)
SINTER_EMU_REDUCE(__reduce_add_sync, int, SINTER_EMU_REDUCE_ADD)
SINTER_EMU_REDUCE(__reduce_min_sync, unsigned, SINTER_EMU_REDUCE_MIN_U)
SINTER_EMU_REDUCE(__reduce_min_sync, int, SINTER_EMU_REDUCE_MIN_I)
SINTER_EMU_REDUCE(__reduce_max_sync, unsigned, SINTER_EMU_REDUCE_MAX_U)
SINTER_EMU_REDUCE(__reduce_max_sync, int, SINTER_EMU_REDUCE_MAX_I)
SINTER_EMU_REDUCE(__reduce_and_sync, unsigned, SINTER_EMU_REDUCE_AND)
SINTER_EMU_REDUCE(__reduce_or_sync, unsigned, SINTER_EMU_REDUCE_OR)
SINTER_EMU_REDUCE(__reduce_xor_sync, unsigned, SINTER_EMU_REDUCE_XOR)
#undef SINTER_EMU_REDUCE

inline void __trap(SINTER_EMU_SITE) {
  sinter_emu_fail(SINTER_EMU_FAIL_TRAP, "__trap()", file, line);
}
inline void __brkpt(SINTER_EMU_SITE) {
  sinter_emu_fail(SINTER_EMU_FAIL_TRAP, "__brkpt()", file, line);
}
#undef SINTER_EMU_SITE

inline long long clock64() { return sinter_emu_clock64(); }
inline void __nanosleep(unsigned) {}

// ---- Loads with cache hints: plain (instrumented) loads and stores --------

template <class T>
inline T __ldg(const T* p) {
  return *p;
}
template <class T>
inline T __ldcg(const T* p) {
  return *p;
}
template <class T>
inline T __ldca(const T* p) {
  return *p;
}
template <class T>
inline T __ldcs(const T* p) {
  return *p;
}
template <class T>
inline T __ldlu(const T* p) {
  return *p;
}
template <class T>
inline void __stcg(T* p, T v) {
  *p = v;
}
template <class T>
inline void __stcs(T* p, T v) {
  *p = v;
}
template <class T>
inline void __stwt(T* p, T v) {
  *p = v;
}

// ---- Atomics -------------------------------------------------------------------

#define SINTER_EMU_ATOMIC(NAME, T, EXPR)                                           \
  inline T NAME(T* address, T val) {                                               \
    return sinter_emu_detail::Atomic(address, [val](T old) -> T { return EXPR; }); \
  }
#define SINTER_EMU_ATOMICS_INT(T)                                                             \
  SINTER_EMU_ATOMIC(atomicAdd, T, static_cast<T>(old + val))                                  \
  SINTER_EMU_ATOMIC(atomicSub, T, static_cast<T>(old - val))                                  \
  SINTER_EMU_ATOMIC(atomicExch, T, val)                                                       \
  SINTER_EMU_ATOMIC(atomicMin, T, val < old ? val : old)                                      \
  SINTER_EMU_ATOMIC(atomicMax, T, val > old ? val : old)                                      \
  SINTER_EMU_ATOMIC(atomicAnd, T, static_cast<T>(old & val))                                  \
  SINTER_EMU_ATOMIC(atomicOr, T, static_cast<T>(old | val))                                   \
  SINTER_EMU_ATOMIC(atomicXor, T, static_cast<T>(old ^ val))                                  \
  inline T atomicCAS(T* address, T compare, T val) {                                          \
    return sinter_emu_detail::Atomic(address,                                                 \
                                     [=](T old) -> T { return old == compare ? val : old; }); \
  }
SINTER_EMU_ATOMICS_INT(int)
SINTER_EMU_ATOMICS_INT(unsigned)
SINTER_EMU_ATOMICS_INT(unsigned long long)
SINTER_EMU_ATOMIC(atomicMin, long long, val < old ? val : old)
SINTER_EMU_ATOMIC(atomicMax, long long, val > old ? val : old)
SINTER_EMU_ATOMIC(atomicAdd, float, old + val)
SINTER_EMU_ATOMIC(atomicAdd, double, old + val)
SINTER_EMU_ATOMIC(atomicExch, float, val)
SINTER_EMU_ATOMIC(atomicAdd, __half, __hadd(old, val))
SINTER_EMU_ATOMIC(atomicAdd, __nv_bfloat16, __hadd(old, val))
SINTER_EMU_ATOMIC(atomicInc, unsigned, old >= val ? 0u : old + 1u)
SINTER_EMU_ATOMIC(atomicDec, unsigned, (old == 0u || old > val) ? val : old - 1u)
inline unsigned short atomicCAS(unsigned short* address, unsigned short compare,
                                unsigned short val) {
  return sinter_emu_detail::Atomic(
      address, [=](unsigned short old) -> unsigned short { return old == compare ? val : old; });
}
#undef SINTER_EMU_ATOMICS_INT
#undef SINTER_EMU_ATOMIC

// ---- Math: the fast intrinsics are the accurate functions on the host ------

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return powf(10.0f, x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline void __sincosf(float x, float* s, float* c) {
  *s = sinf(x);
  *c = cosf(x);
}
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __saturatef(float x) { return x > 0.f ? (x < 1.f ? x : 1.f) : 0.f; }  // NaN -> 0

// ---- Bit casts and conversions ---------------------------------------------

inline float __int_as_float(int i) {
  return sinter_emu_detail::FromBits<float>(static_cast<unsigned>(i));
}
inline float __uint_as_float(unsigned u) { return sinter_emu_detail::FromBits<float>(u); }
inline int __float_as_int(float f) { return static_cast<int>(sinter_emu_detail::ToBits(f)); }
inline unsigned __float_as_uint(float f) {
  return static_cast<unsigned>(sinter_emu_detail::ToBits(f));
}
inline double __longlong_as_double(long long i) { return sinter_emu_detail::FromBits<double>(i); }
inline long long __double_as_longlong(double d) {
  return static_cast<long long>(sinter_emu_detail::ToBits(d));
}
// cvt.{rni,rzi,rmi,rpi}.s32.f32: NaN gives 0, out-of-range values saturate.
inline int sinter_emu_f2i(float x) {
  if (x != x) return 0;
  if (x >= 2147483648.0f) return 2147483647;
  if (x < -2147483648.0f) return -2147483647 - 1;
  return static_cast<int>(x);
}
inline unsigned sinter_emu_f2u(float x) {
  if (x != x || x <= 0.f) return 0u;
  if (x >= 4294967296.0f) return 4294967295u;
  return static_cast<unsigned>(x);
}
inline int __float2int_rn(float x) { return sinter_emu_f2i(nearbyintf(x)); }
inline int __float2int_rz(float x) { return sinter_emu_f2i(truncf(x)); }
inline int __float2int_rd(float x) { return sinter_emu_f2i(floorf(x)); }
inline int __float2int_ru(float x) { return sinter_emu_f2i(ceilf(x)); }
inline unsigned __float2uint_rn(float x) { return sinter_emu_f2u(nearbyintf(x)); }
inline unsigned __float2uint_rz(float x) { return sinter_emu_f2u(truncf(x)); }
inline float __int2float_rn(int i) { return static_cast<float>(i); }
inline float __uint2float_rn(unsigned i) { return static_cast<float>(i); }
inline float __ll2float_rn(long long i) { return static_cast<float>(i); }

// ---- Integer intrinsics and CUDA's global min/max ---------------------------

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) {
  return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x));
}
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline unsigned long long __brevll(unsigned long long x) {
  return static_cast<unsigned long long>(__brev(static_cast<unsigned>(x))) << 32 |
         __brev(static_cast<unsigned>(x >> 32));
}
inline int __mulhi(int a, int b) { return static_cast<int>((static_cast<long long>(a) * b) >> 32); }
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline long long __mul64hi(long long a, long long b) {
  return static_cast<long long>((static_cast<__int128>(a) * b) >> 64);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
inline int __mul24(int a, int b) { return (a << 8 >> 8) * (b << 8 >> 8); }
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xffffffu) * (b & 0xffffffu); }
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  const unsigned long long v = static_cast<unsigned long long>(y) << 32 | x;
  unsigned r = 0;
  for (int i = 0; i < 4; ++i)
    r |= static_cast<unsigned>((v >> (((s >> (4 * i)) & 7u) * 8)) & 0xffu) << (8 * i);
  return r;
}
inline unsigned __funnelshift_l(unsigned lo, unsigned hi, unsigned shift) {
  const unsigned long long v = static_cast<unsigned long long>(hi) << 32 | lo;
  return static_cast<unsigned>((v << (shift & 31u)) >> 32);
}
inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned shift) {
  const unsigned long long v = static_cast<unsigned long long>(hi) << 32 | lo;
  return static_cast<unsigned>(v >> (shift & 31u));
}

#define SINTER_EMU_MINMAX(T)                       \
  inline T min(T a, T b) { return a < b ? a : b; } \
  inline T max(T a, T b) { return a > b ? a : b; }
SINTER_EMU_MINMAX(int)
SINTER_EMU_MINMAX(unsigned)
SINTER_EMU_MINMAX(long)
SINTER_EMU_MINMAX(unsigned long)
SINTER_EMU_MINMAX(long long)
SINTER_EMU_MINMAX(unsigned long long)
#undef SINTER_EMU_MINMAX
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// ---- The sanitizer hooks ---------------------------------------------------
// The compiler calls these before each access of instrumented code. They
// are weak (one per module, whichever translation units define them) and
// exported (GCC ignores a visibility attribute on its builtins), so kernel
// code belongs in shared objects linked with -Bsymbolic (modules, and
// CMakeLists.txt's kernel library): each then calls its own copy, and code
// outside, such as an ASan-instrumented test, keeps the real runtimes'.

#define SINTER_EMU_HOOK extern "C" inline __attribute__((used, noinline))
#define SINTER_EMU_HOOKS(N)                                                \
  SINTER_EMU_HOOK void __asan_load##N##_noabort(void* p) {                 \
    sinter_emu_check(p, N, SINTER_EMU_READ, __builtin_return_address(0));  \
  }                                                                        \
  SINTER_EMU_HOOK void __asan_store##N##_noabort(void* p) {                \
    sinter_emu_check(p, N, SINTER_EMU_WRITE, __builtin_return_address(0)); \
  }
SINTER_EMU_HOOKS(1)
SINTER_EMU_HOOKS(2)
SINTER_EMU_HOOKS(4)
SINTER_EMU_HOOKS(8)
SINTER_EMU_HOOKS(16)
// (GCC declares the size as long in its GNU dialects.)
SINTER_EMU_HOOK void __asan_loadN_noabort(void* p, long n) {
  sinter_emu_check(p, static_cast<size_t>(n), SINTER_EMU_READ, __builtin_return_address(0));
}
SINTER_EMU_HOOK void __asan_storeN_noabort(void* p, long n) {
  sinter_emu_check(p, static_cast<size_t>(n), SINTER_EMU_WRITE, __builtin_return_address(0));
}
SINTER_EMU_HOOK void __ubsan_handle_type_mismatch_v1(void* data, void* ptr) {
  sinter_emu_misaligned(data, ptr);
}
// Called before noreturn calls (a failed assert()): the real one unpoisons
// stack shadow memory, which call-mode instrumentation does not have.
SINTER_EMU_HOOK void __asan_handle_no_return() {}
// A failed assert() in kernel code ends the launch with a report, as a
// device-side assert does, instead of aborting the process. Hidden (it is no
// compiler builtin, so visibility applies): only this module's asserts
// come here.
extern "C" __attribute__((visibility("hidden"), used)) inline void __assert_fail(
    const char* assertion, const char* file, unsigned line, const char* function) noexcept {
  char what[512];
  snprintf(what, sizeof what, "assertion failed: %s (in %s)", assertion, function);
  sinter_emu_fail(SINTER_EMU_FAIL_TRAP, what, file, static_cast<int>(line));
  abort();  // outside a launch sinter_emu_fail has aborted already
}
#undef SINTER_EMU_HOOKS
#undef SINTER_EMU_HOOK

#endif  // SINTER_CUDA_EMU_H_
