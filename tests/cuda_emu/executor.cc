// The CUDA executor (executor.h): launches, the block scheduler, the
// synchronisation and memory checks, and the C ABI that emulated kernel code
// calls (include/sinter_cuda_emu_abi.h). The stages of a launch:
//  1. Validate the configuration against CUDA's limits.
//  2. For each block: fill shared memory with 0xff, start a fiber per
//     thread, then schedule: run every runnable fiber until it blocks or
//     ends; at quiescence complete the warp collectives whose mask lanes
//     have all arrived, else release the barrier the whole block waits at,
//     else the block is stuck: report why.
//  3. Memory checks run inside the fibers, before each access; an error
//     switches to the scheduler for good, which stops the launch.
// A SIGSEGV/SIGBUS/SIGFPE in a fiber (stack overflow, an access nothing
// instrumented) is turned into a report the same way, from an alternate
// signal stack.
#include "tests/cuda_emu/executor.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include "tests/cuda_emu/fiber.h"

// Exported with default visibility and used only through its symbol, so that
// a copy relocation in an executable that names it moves every user along.
using sinter::cuda_emu::kMaxDynamicSharedBytes;
extern "C" {
alignas(256) unsigned char sinter_emu_dynamic_shared_memory[kMaxDynamicSharedBytes];
}

namespace sinter::cuda_emu {
namespace {

constexpr unsigned kMaxThreadsPerBlock = 1024;

enum class State : uint8_t { kRunnable, kBarrier, kWarp, kExited };

struct Thread {
  FiberContext ctx;
  uint3 idx{};
  unsigned linear = 0, warp = 0, lane = 0;
  State state = State::kRunnable;
  // The pending barrier or collective and its result.
  int op = 0;
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
  int b = 0, c = 0, pred = 0;
  const char* file = "";
  int line = 0;
  const FiberStack* stack = nullptr;
};

// Per byte of shared memory: the last write and the reads since, by barrier
// interval ("epoch") and, within a warp, by warp-collective generation.
// Epochs and generations come from one counter that never repeats, so a
// record from an earlier block never matches the current one and nothing
// is reset between blocks.
struct ShadowByte {
  uint32_t w_epoch = 0, w_gen = 0, r_epoch = 0, r_gen = 0;
  uint16_t writer = 0, reader = 0;
  uint8_t flags = 0;
};
constexpr uint8_t kManyReaders = 1, kReadersInManyWarps = 2, kAtomicWrite = 4;

struct SharedRegion {
  uintptr_t begin = 0, end = 0;
  bool dynamic = false;
  int module = -1;
  std::vector<ShadowByte> shadow;
};

struct Module {
  int id = 0;
  int registrations = 0;  // one per translation unit of the object
  void* (*tls_anchor)() = nullptr;
  uintptr_t anchor = 0;
  std::string path;
  std::vector<std::pair<uintptr_t, uintptr_t>> segments;  // PT_LOAD ranges
};

struct Buffer {
  size_t size = 0;
  std::string name;
};

// Everything below is guarded by g_mutex, which a launch holds throughout;
// code running on fibers (the ABI entry points) runs inside a launch on its
// thread and needs no lock. Never destroyed: modules unregister from their
// destructors, which may run after this library's at exit.
std::recursive_mutex& g_mutex = *new std::recursive_mutex;
std::map<uintptr_t, Buffer>& g_buffers = *new std::map<uintptr_t, Buffer>;
std::vector<Module>& g_modules = *new std::vector<Module>;
std::vector<SharedRegion>& g_shared = *new std::vector<SharedRegion>;  // [0]: dynamic
int g_next_module_id = 1;
std::vector<std::unique_ptr<FiberStack>>& g_stacks = *new std::vector<std::unique_ptr<FiberStack>>;
uint32_t g_counter = 1;  // epochs and warp generations

struct LaunchState {
  LaunchOptions options;
  dim3 grid, block;
  size_t dynamic_bytes = 0;
  void (*run)(void*) = nullptr;
  void* body = nullptr;
  uint3 block_idx{};
  unsigned nthreads = 0;
  std::vector<Thread> threads;
  std::vector<uint32_t> warp_gen;
  FiberContext scheduler;
  uint32_t epoch = 0, block_epoch = 0;
  bool failed = false;
  LaunchReport report;
  pthread_t os_thread;
};

LaunchState* g_launch = nullptr;
Thread* g_current = nullptr;

// ---- Formatting ---------------------------------------------------------------

std::string Format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Format(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

// Text in a fixed buffer. The failure paths format only into these: a
// failing fiber is abandoned mid-call, and a std::string alive in one of its
// frames would never be freed.
struct Text {
  char s[320];
  const char* c_str() const { return s; }
};
Text TextF(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
Text TextF(const char* fmt, ...) {
  Text t;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t.s, sizeof t.s, fmt, ap);
  va_end(ap);
  return t;
}

Text Dim(uint3 d) { return TextF("(%u,%u,%u)", d.x, d.y, d.z); }
Text Dim(dim3 d) { return Dim(static_cast<uint3>(d)); }

const char* BaseName(const char* file) {
  if (!file) return "?";
  const char* slash = strrchr(file, '/');
  return slash ? slash + 1 : file;
}

Text Site(const char* file, int line) { return TextF("%s:%d", BaseName(file), line); }

const char* OpName(int op) {
  switch (op) {
    case SINTER_EMU_SHFL_IDX:
      return "__shfl_sync";
    case SINTER_EMU_SHFL_UP:
      return "__shfl_up_sync";
    case SINTER_EMU_SHFL_DOWN:
      return "__shfl_down_sync";
    case SINTER_EMU_SHFL_XOR:
      return "__shfl_xor_sync";
    case SINTER_EMU_BALLOT:
      return "__ballot_sync";
    case SINTER_EMU_ALL:
      return "__all_sync";
    case SINTER_EMU_ANY:
      return "__any_sync";
    case SINTER_EMU_UNI:
      return "__uni_sync";
    case SINTER_EMU_SYNCWARP:
      return "__syncwarp";
    case SINTER_EMU_MATCH_ANY:
      return "__match_any_sync";
    case SINTER_EMU_MATCH_ALL:
      return "__match_all_sync";
    case SINTER_EMU_REDUCE_ADD:
      return "__reduce_add_sync";
    case SINTER_EMU_REDUCE_MIN_U:
    case SINTER_EMU_REDUCE_MIN_I:
      return "__reduce_min_sync";
    case SINTER_EMU_REDUCE_MAX_U:
    case SINTER_EMU_REDUCE_MAX_I:
      return "__reduce_max_sync";
    case SINTER_EMU_REDUCE_AND:
      return "__reduce_and_sync";
    case SINTER_EMU_REDUCE_OR:
      return "__reduce_or_sync";
    case SINTER_EMU_REDUCE_XOR:
      return "__reduce_xor_sync";
  }
  return "warp collective";
}

const char* BarrierName(int op) {
  switch (op) {
    case SINTER_EMU_BAR_COUNT:
      return "__syncthreads_count()";
    case SINTER_EMU_BAR_AND:
      return "__syncthreads_and()";
    case SINTER_EMU_BAR_OR:
      return "__syncthreads_or()";
  }
  return "__syncthreads()";
}

// What a thread is doing, for the reports of stuck blocks.
std::string Doing(const Thread& t) {
  switch (t.state) {
    case State::kRunnable:
      return "is running";
    case State::kExited:
      return "has exited";
    case State::kBarrier:
      return Format("waits at %s at %s", BarrierName(t.op), Site(t.file, t.line).c_str());
    case State::kWarp:
      return Format("waits at %s(mask 0x%08x) at %s", OpName(t.op), t.mask,
                    Site(t.file, t.line).c_str());
  }
  return "?";
}

// ---- Failing ------------------------------------------------------------------

// Records the launch's error, attributed to `t` (or no thread).
void SetError(ErrorKind kind, const Thread* t, uint64_t address, size_t size, const char* what) {
  LaunchState& l = *g_launch;
  if (l.failed) return;
  l.failed = true;
  l.report.kind = kind;
  l.report.kernel = l.options.name;
  l.report.block = dim3(l.block_idx);
  l.report.thread = t ? dim3(t->idx) : dim3(0, 0, 0);
  l.report.address = address;
  l.report.size = size;
  l.report.message = Format("%s: %s in kernel %s, block %s", ErrorKindName(kind), what,
                            l.options.name.c_str(), Dim(l.block_idx).c_str());
  if (t) l.report.message += Format(", thread %s", Dim(t->idx).c_str());
}

// Ends the running thread's launch: records the error and leaves the fiber
// for good.
[[noreturn]] void Fail(ErrorKind kind, uint64_t address, size_t size, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));
[[noreturn]] void Fail(ErrorKind kind, uint64_t address, size_t size, const char* fmt, ...) {
  Thread* t = g_current;
  char what[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  SetError(kind, t, address, size, what);
  g_current = nullptr;
  FiberSwitch(&t->ctx, &g_launch->scheduler, /*from_exits=*/true);
  __builtin_trap();  // never resumed
}

void Yield(Thread* t) {
  g_current = nullptr;
  FiberSwitch(&t->ctx, &g_launch->scheduler);
  g_current = t;
}

// ---- Memory checks ---------------------------------------------------------------

const char* AccessName(int access) {
  return access == SINTER_EMU_WRITE ? "write" : access == SINTER_EMU_ATOMIC ? "atomic" : "read";
}

// Where an address that is in no valid range lies, for the report: the
// registered buffer it overruns, or the nearest one.
Text Locate(uintptr_t a, size_t size) {
  auto name = [](const std::pair<const uintptr_t, Buffer>& b) { return b.second.name.c_str(); };
  const auto after = g_buffers.upper_bound(a);
  uint64_t gap_after = UINT64_MAX, gap_before = UINT64_MAX;
  if (after != g_buffers.begin()) {
    const auto& b = *std::prev(after);
    const uintptr_t end = b.first + b.second.size;
    if (a < end) {
      return TextF("%zu bytes of it past the end of buffer '%s' (%zu bytes at 0x%" PRIxPTR ")",
                   static_cast<size_t>(a + size - end), name(b), b.second.size, b.first);
    }
    gap_after = a - end;
  }
  if (after != g_buffers.end())
    gap_before = after->first > a + size ? after->first - (a + size) : 0;
  if (gap_after == UINT64_MAX && gap_before == UINT64_MAX)
    return TextF("and no buffer is registered");
  if (gap_after <= gap_before) {
    const auto& b = *std::prev(after);
    return TextF("%" PRIu64 " bytes after the end of buffer '%s' (%zu bytes at 0x%" PRIxPTR ")",
                 gap_after, name(b), b.second.size, b.first);
  }
  return TextF("%" PRIu64 " bytes before buffer '%s' (%zu bytes at 0x%" PRIxPTR ")", gap_before,
               name(*after), after->second.size, after->first);
}

// Whose stack an address is in, or "".
Text LocateStack(uintptr_t a) {
  for (const Thread& t : g_launch->threads) {
    const auto lo = reinterpret_cast<uintptr_t>(t.stack->lo());
    const auto hi = reinterpret_cast<uintptr_t>(t.stack->hi());
    const auto guard = reinterpret_cast<uintptr_t>(t.stack->guard());
    if (a >= lo && a < hi) return TextF("in the stack (local memory) of thread %s", Dim(t.idx).s);
    if (a >= guard && a < lo)
      return TextF("in the guard page of the stack of thread %s", Dim(t.idx).s);
  }
  return TextF("%s", "");
}

void CheckShared(SharedRegion& r, Thread& t, uintptr_t a, size_t size, int access) {
  LaunchState& l = *g_launch;
  const size_t off = a - r.begin;
  const size_t limit = r.dynamic ? l.dynamic_bytes : r.end - r.begin;
  if (off + size > limit) {
    Fail(ErrorKind::kSharedOutOfBounds, a, size,
         "shared %s of %zu bytes at %s offset %zu, past its %zu bytes", AccessName(access), size,
         r.dynamic ? "dynamic shared memory" : "static __shared__", off, limit);
  }
  const bool races = l.options.check_shared_races;
  const uint32_t e = l.epoch, g = l.warp_gen[t.warp];
  const auto me = static_cast<uint16_t>(t.linear);
  // Whether `other`'s access at warp generation `gen` is ordered before
  // this one without a barrier: same warp, a collective completed since.
  auto warp_ordered = [&](uint16_t other, uint32_t gen) {
    return other / 32u == t.warp && gen != g;
  };
  auto race = [&](const char* kind, uint16_t other, bool other_wrote, size_t k) {
    Fail(ErrorKind::kSharedRace, a + k, size,
         "%s hazard at %s offset %zu: a %s of %zu bytes by this thread, and a %s by thread %s "
         "with no __syncthreads() between",
         kind, r.dynamic ? "dynamic shared memory" : "static __shared__", off + k,
         AccessName(access), size, other_wrote ? "write" : "read", Dim(l.threads[other].idx).s);
  };
  for (size_t k = 0; k < size; ++k) {
    ShadowByte& s = r.shadow[off + k];
    const bool written = s.w_epoch >= l.block_epoch;
    if (access == SINTER_EMU_READ || access == SINTER_EMU_ATOMIC) {
      if (!written && l.options.check_uninitialized_shared) {
        Fail(ErrorKind::kUninitializedShared, a + k, size,
             "shared %s of %zu bytes at %s offset %zu, which this block has not written",
             AccessName(access), size, r.dynamic ? "dynamic shared memory" : "static __shared__",
             off + k);
      }
      const bool atomic_pair = access == SINTER_EMU_ATOMIC && (s.flags & kAtomicWrite);
      if (races && written && !atomic_pair && s.w_epoch == e && s.writer != me &&
          !warp_ordered(s.writer, s.w_gen)) {
        race("read-after-write", s.writer, true, k);
      }
    }
    if (access == SINTER_EMU_READ) {
      if (s.r_epoch != e) {
        s.r_epoch = e;
        s.reader = me;
        s.flags &= kAtomicWrite;
      } else if (s.reader != me) {
        s.flags |= kManyReaders;
        if (s.reader / 32u != t.warp) s.flags |= kReadersInManyWarps;
        s.reader = me;
      }
      s.r_gen = g;
      continue;
    }
    // A write (or an atomic's write).
    const bool atomic_pair = access == SINTER_EMU_ATOMIC && (s.flags & kAtomicWrite);
    if (races && !atomic_pair) {
      if (written && s.w_epoch == e && s.writer != me && !warp_ordered(s.writer, s.w_gen))
        race("write-after-write", s.writer, true, k);
      if (s.r_epoch == e && (s.reader != me || (s.flags & kManyReaders))) {
        const bool ordered =
            !(s.flags & kReadersInManyWarps) && s.reader / 32u == t.warp && s.r_gen != g;
        if (!ordered) race("write-after-read", s.reader, false, k);
      }
    }
    s.writer = me;
    s.w_epoch = e;
    s.w_gen = g;
    if (access == SINTER_EMU_ATOMIC) {
      s.flags |= kAtomicWrite;
    } else {
      s.flags &= static_cast<uint8_t>(~kAtomicWrite);
    }
  }
}

void CheckAccess(const void* addr, size_t size, int access) {
  Thread* t = g_current;
  if (!t || size == 0) return;  // not on a fiber: host code calling device code
  const auto a = reinterpret_cast<uintptr_t>(addr);
  // The thread's own stack: its locals and its copy of the arguments.
  const auto lo = reinterpret_cast<uintptr_t>(t->stack->lo());
  if (a >= lo && a + size <= reinterpret_cast<uintptr_t>(t->stack->hi())) return;
  for (SharedRegion& r : g_shared) {
    if (a >= r.begin && a < r.end) {
      CheckShared(r, *t, a, size, access);
      return;
    }
  }
  auto it = g_buffers.upper_bound(a);
  if (it != g_buffers.begin()) {
    --it;
    if (a + size <= it->first + it->second.size) return;
  }
  for (const Module& m : g_modules) {
    for (const auto& [b, e] : m.segments) {
      if (a >= b && a + size <= e) return;  // the module's own globals and constants
    }
  }
  Text where = LocateStack(a);
  if (!where.s[0]) where = Locate(a, size);
  Fail(ErrorKind::kGlobalOutOfBounds, a, size, "global %s of %zu bytes at 0x%" PRIxPTR ", %s",
       AccessName(access), size, a, where.s);
}

// ---- Signals --------------------------------------------------------------------

struct sigaction g_old_segv, g_old_bus, g_old_fpe;
stack_t g_old_altstack;
std::vector<char> g_altstack;

void OnSignal(int sig, siginfo_t* info, void*) {
  LaunchState* l = g_launch;
  Thread* t = g_current;
  if (l && t && pthread_equal(pthread_self(), l->os_thread)) {
    const auto a = reinterpret_cast<uintptr_t>(info->si_addr);
    Text where = TextF("%s", "");
    if (sig != SIGFPE) where = LocateStack(a);
    if (sig != SIGFPE && !where.s[0]) where = Locate(a, 1);
    Fail(ErrorKind::kFault, a, 0, "%s at 0x%" PRIxPTR "%s%s",
         sig == SIGSEGV  ? "SIGSEGV"
         : sig == SIGBUS ? "SIGBUS"
                         : "SIGFPE (integer division by zero?)",
         a, where.s[0] ? ", " : "", where.s);
  }
  // Not a fiber's: give the signal to whoever handled it before; returning
  // re-executes the faulting instruction under that handler.
  sigaction(sig, sig == SIGSEGV ? &g_old_segv : sig == SIGBUS ? &g_old_bus : &g_old_fpe, nullptr);
}

void InstallSignalHandlers() {
  g_altstack.resize(std::max<size_t>(SIGSTKSZ, 64 << 10));
  stack_t ss{};
  ss.ss_sp = g_altstack.data();
  ss.ss_size = g_altstack.size();
  sigaltstack(&ss, &g_old_altstack);
  struct sigaction sa {};
  sa.sa_sigaction = &OnSignal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_old_segv);
  sigaction(SIGBUS, &sa, &g_old_bus);
  sigaction(SIGFPE, &sa, &g_old_fpe);
}

void RestoreSignalHandlers() {
  sigaction(SIGSEGV, &g_old_segv, nullptr);
  sigaction(SIGBUS, &g_old_bus, nullptr);
  sigaction(SIGFPE, &g_old_fpe, nullptr);
  sigaltstack(&g_old_altstack, nullptr);
}

// ---- The scheduler ----------------------------------------------------------------

void ThreadMain(void* arg) {
  FiberStarted();
  auto* t = static_cast<Thread*>(arg);
  g_current = t;
  g_launch->run(g_launch->body);
  t->state = State::kExited;
  g_current = nullptr;
  FiberSwitch(&t->ctx, &g_launch->scheduler, /*from_exits=*/true);
  __builtin_trap();
}

// The lane of warp `base` that thread `t` reads in its pending shuffle, per
// PTX shfl.sync: bval = b[4:0], segment mask c[12:8], clamp c[4:0]; an
// out-of-range source gives the lane its own value.
int ShuffleSource(const Thread& t) {
  const int lane = static_cast<int>(t.lane), bval = t.b & 0x1f, cval = t.c & 0x1f;
  const int segmask = (t.c >> 8) & 0x1f;
  const int max_lane = (lane & segmask) | (cval & ~segmask), min_lane = lane & segmask;
  int j = lane;
  bool in_range = true;
  switch (t.op) {
    case SINTER_EMU_SHFL_UP:
      j = lane - bval;
      in_range = j >= max_lane;
      break;
    case SINTER_EMU_SHFL_DOWN:
      j = lane + bval;
      in_range = j <= max_lane;
      break;
    case SINTER_EMU_SHFL_XOR:
      j = lane ^ bval;
      in_range = j <= max_lane;
      break;
    default:  // SINTER_EMU_SHFL_IDX
      j = min_lane | (bval & ~segmask);
      in_range = j <= max_lane;
      break;
  }
  return in_range ? j : lane;
}

// Completes the collective of the lanes in `present` (of warp `w`).
void CompleteCollective(LaunchState& l, unsigned w, unsigned present) {
  const unsigned base = w * 32;
  const unsigned count = std::min(32u, l.nthreads - base);
  const Thread& first = l.threads[base + static_cast<unsigned>(__builtin_ctz(present))];
  uint32_t ballot = 0, red_and = ~0u, red_or = 0, red_xor = 0, red_add = 0;
  uint32_t min_u = ~0u, max_u = 0;
  int32_t min_i = INT32_MAX, max_i = INT32_MIN;
  bool all_equal = true;
  for (unsigned j = 0; j < count; ++j) {
    if (!(present >> j & 1)) continue;
    const Thread& u = l.threads[base + j];
    const auto v32 = static_cast<uint32_t>(u.value);
    if (u.value) ballot |= 1u << j;
    red_and &= v32, red_or |= v32, red_xor ^= v32, red_add += v32;
    min_u = std::min(min_u, v32), max_u = std::max(max_u, v32);
    min_i = std::min(min_i, static_cast<int32_t>(v32));
    max_i = std::max(max_i, static_cast<int32_t>(v32));
    all_equal = all_equal && u.value == first.value;
  }
  for (unsigned j = 0; j < count; ++j) {
    if (!(present >> j & 1)) continue;
    Thread& u = l.threads[base + j];
    uint64_t r = 0;
    switch (u.op) {
      case SINTER_EMU_SHFL_IDX:
      case SINTER_EMU_SHFL_UP:
      case SINTER_EMU_SHFL_DOWN:
      case SINTER_EMU_SHFL_XOR: {
        // A source outside the participants (not in the mask, exited, past
        // a partial warp) is undefined on a GPU: poison (NaN, -1).
        const int src = ShuffleSource(u);
        r = (present >> src & 1) ? l.threads[base + static_cast<unsigned>(src)].value : ~0ull;
        break;
      }
      case SINTER_EMU_BALLOT:
        r = ballot;
        break;
      case SINTER_EMU_ALL:
        r = ballot == present;
        break;
      case SINTER_EMU_ANY:
        r = ballot != 0;
        break;
      case SINTER_EMU_UNI:
        r = ballot == 0 || ballot == present;
        break;
      case SINTER_EMU_SYNCWARP:
        break;
      case SINTER_EMU_MATCH_ANY:
        for (unsigned k = 0; k < count; ++k) {
          if ((present >> k & 1) && l.threads[base + k].value == u.value) r |= 1ull << k;
        }
        break;
      case SINTER_EMU_MATCH_ALL:
        r = all_equal ? (u.mask | (1ull << 32)) : 0;
        break;
      case SINTER_EMU_REDUCE_ADD:
        r = red_add;
        break;
      case SINTER_EMU_REDUCE_MIN_U:
        r = min_u;
        break;
      case SINTER_EMU_REDUCE_MAX_U:
        r = max_u;
        break;
      case SINTER_EMU_REDUCE_MIN_I:
        r = static_cast<uint32_t>(min_i);
        break;
      case SINTER_EMU_REDUCE_MAX_I:
        r = static_cast<uint32_t>(max_i);
        break;
      case SINTER_EMU_REDUCE_AND:
        r = red_and;
        break;
      case SINTER_EMU_REDUCE_OR:
        r = red_or;
        break;
      case SINTER_EMU_REDUCE_XOR:
        r = red_xor;
        break;
    }
    u.result = r;
    u.state = State::kRunnable;
  }
  l.warp_gen[w] = ++g_counter;
}

// The first mask lane that keeps `t`'s collective from completing, or -1.
int BlockingLane(const LaunchState& l, const Thread& t, unsigned* present) {
  const unsigned base = t.warp * 32;
  const unsigned count = std::min(32u, l.nthreads - base);
  *present = 0;
  for (unsigned j = 0; j < count; ++j) {
    if (!(t.mask >> j & 1)) continue;
    const Thread& u = l.threads[base + j];
    if (u.state == State::kExited) {
      if (l.options.strict_exit) return static_cast<int>(j);
      continue;
    }
    if (u.state != State::kWarp || u.op != t.op || u.mask != t.mask) return static_cast<int>(j);
    *present |= 1u << j;
  }
  return -1;  // lanes of the mask past a partial warp do not exist: not waited for
}

bool ResolveCollectives(LaunchState& l) {
  bool progress = false;
  for (Thread& t : l.threads) {
    if (t.state != State::kWarp) continue;
    unsigned present = 0;
    if (BlockingLane(l, t, &present) >= 0) continue;
    CompleteCollective(l, t.warp, present);
    progress = true;
  }
  return progress;
}

bool SameSite(const Thread& a, const Thread& b) {
  return a.line == b.line && a.op == b.op && strcmp(a.file, b.file) == 0;
}

// At quiescence with no collective to complete: release the barrier or
// report why the block is stuck. Returns false when the block is done or
// failed.
bool ReleaseBarrier(LaunchState& l) {
  const Thread* waiting = nullptr;
  const Thread* exited = nullptr;
  const Thread* collective = nullptr;
  unsigned nwait = 0;
  for (const Thread& t : l.threads) {
    if (t.state == State::kBarrier) {
      ++nwait;
      if (!waiting) waiting = &t;
    } else if (t.state == State::kExited) {
      if (!exited) exited = &t;
    } else if (t.state == State::kWarp && !collective) {
      collective = &t;
    }
  }
  if (collective) {  // a collective that cannot complete
    unsigned present = 0;
    const int j = BlockingLane(l, *collective, &present);
    if (j < 0) return false;  // cannot happen: ResolveCollectives would have completed it
    const Thread& u = l.threads[collective->warp * 32 + static_cast<unsigned>(j)];
    SetError(ErrorKind::kWarpDivergence, collective, 0, 0,
             Format("%s(mask 0x%08x) at %s by lane %u of warp %u cannot complete: lane %d "
                    "(thread %s) %s",
                    OpName(collective->op), collective->mask,
                    Site(collective->file, collective->line).c_str(), collective->lane,
                    collective->warp, j, Dim(u.idx).c_str(), Doing(u).c_str())
                 .c_str());
    return false;
  }
  if (nwait == 0) return false;  // every thread has exited: the block is done
  for (const Thread& t : l.threads) {
    if (t.state == State::kBarrier && !SameSite(t, *waiting)) {
      unsigned here = 0;
      for (const Thread& u : l.threads) here += u.state == State::kBarrier && SameSite(u, *waiting);
      SetError(ErrorKind::kBarrierDivergence, waiting, 0, 0,
               Format("threads wait at different barriers: %u at %s at %s, thread %s %s", here,
                      BarrierName(waiting->op), Site(waiting->file, waiting->line).c_str(),
                      Dim(t.idx).c_str(), Doing(t).c_str())
                   .c_str());
      return false;
    }
  }
  if (exited && l.options.strict_exit) {
    SetError(ErrorKind::kBarrierDivergence, waiting, 0, 0,
             Format("%s at %s is reached by %u of the block's %u threads; thread %s exited "
                    "without reaching it",
                    BarrierName(waiting->op), Site(waiting->file, waiting->line).c_str(), nwait,
                    l.nthreads, Dim(exited->idx).c_str())
                 .c_str());
    return false;
  }
  int count = 0, all = 1, any = 0;
  for (const Thread& t : l.threads) {
    if (t.state != State::kBarrier) continue;
    count += t.pred, all &= t.pred, any |= t.pred;
  }
  l.epoch = ++g_counter;
  for (Thread& t : l.threads) {
    if (t.state != State::kBarrier) continue;
    t.result = static_cast<uint64_t>(t.op == SINTER_EMU_BAR_COUNT ? count
                                     : t.op == SINTER_EMU_BAR_AND ? all
                                     : t.op == SINTER_EMU_BAR_OR  ? any
                                                                  : 0);
    t.state = State::kRunnable;
  }
  return true;
}

void PoisonShared(LaunchState& l) {
  for (SharedRegion& r : g_shared) {
    if (r.dynamic) {
      memset(sinter_emu_dynamic_shared_memory, 0xff, l.dynamic_bytes);
    } else {
      memset(reinterpret_cast<void*>(r.begin), 0xff, r.end - r.begin);
    }
  }
}

void RunBlock(LaunchState& l) {
  if (g_counter > (1u << 31)) {  // keep epochs unique: forget all shadow state
    for (SharedRegion& r : g_shared) std::fill(r.shadow.begin(), r.shadow.end(), ShadowByte{});
    g_counter = 1;
  }
  PoisonShared(l);
  l.epoch = l.block_epoch = ++g_counter;
  for (uint32_t& g : l.warp_gen) g = ++g_counter;
  for (unsigned i = 0; i < l.nthreads; ++i) {
    Thread& t = l.threads[i];
    t.state = State::kRunnable;
    FiberInit(&t.ctx, *t.stack, &ThreadMain, &t);
  }
  for (;;) {
    for (Thread& t : l.threads) {
      if (t.state != State::kRunnable) continue;
      g_current = &t;
      FiberSwitch(&l.scheduler, &t.ctx);
      g_current = nullptr;
      if (l.failed) return;
    }
    if (ResolveCollectives(l)) continue;
    if (!ReleaseBarrier(l)) return;
  }
}

std::string ValidateLaunch(dim3 grid, dim3 block, size_t dynamic_bytes) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0)
    return Format("grid %s and block %s must not be empty", Dim(grid).c_str(), Dim(block).c_str());
  if (threads > kMaxThreadsPerBlock || block.x > 1024 || block.y > 1024 || block.z > 64) {
    return Format("block %s has %" PRIu64 " threads; CUDA allows 1024 (x, y <= 1024, z <= 64)",
                  Dim(block).c_str(), threads);
  }
  if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
    return Format("grid %s exceeds (2^31-1, 65535, 65535)", Dim(grid).c_str());
  if (dynamic_bytes > kMaxDynamicSharedBytes) {
    return Format("%zu bytes of dynamic shared memory, more than %zu", dynamic_bytes,
                  kMaxDynamicSharedBytes);
  }
  return "";
}

void EnsureDynamicRegion() {
  if (!g_shared.empty() && g_shared[0].dynamic) return;
  SharedRegion r;
  r.begin = reinterpret_cast<uintptr_t>(sinter_emu_dynamic_shared_memory);
  r.end = r.begin + kMaxDynamicSharedBytes;
  r.dynamic = true;
  g_shared.insert(g_shared.begin(), std::move(r));
}

// Calls f(info) for the loaded object that holds address `a`.
template <class F>
void FindObject(uintptr_t a, F f) {
  struct Ctx {
    uintptr_t a;
    F* f;
  } ctx{a, &f};
  dl_iterate_phdr(
      [](dl_phdr_info* pi, size_t, void* data) {
        auto* c = static_cast<Ctx*>(data);
        for (int i = 0; i < pi->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = pi->dlpi_phdr[i];
          const uintptr_t b = pi->dlpi_addr + ph.p_vaddr;
          if (ph.p_type == PT_LOAD && c->a >= b && c->a < b + ph.p_memsz) {
            (*c->f)(pi);
            return 1;
          }
        }
        return 0;
      },
      &ctx);
}

// Points each module's shared region at the launching thread's instance of
// its TLS block (allocating it first), where its static __shared__ live.
void RefreshSharedRegions() {
  EnsureDynamicRegion();
  for (const Module& m : g_modules) {
    if (!m.tls_anchor) continue;
    m.tls_anchor();
    uintptr_t begin = 0, size = 0;
    FindObject(m.anchor, [&](dl_phdr_info* pi) {
      for (int i = 0; i < pi->dlpi_phnum; ++i) {
        if (pi->dlpi_phdr[i].p_type == PT_TLS && pi->dlpi_tls_data) {
          begin = reinterpret_cast<uintptr_t>(pi->dlpi_tls_data);
          size = pi->dlpi_phdr[i].p_memsz;
        }
      }
    });
    auto it = std::find_if(g_shared.begin(), g_shared.end(),
                           [&](const SharedRegion& r) { return r.module == m.id; });
    if (it == g_shared.end()) {
      g_shared.emplace_back();
      it = std::prev(g_shared.end());
      it->module = m.id;
    }
    it->begin = begin;
    it->end = begin + size;
    if (it->shadow.size() < size) it->shadow.resize(size);
  }
}

}  // namespace

// ---- Public API ------------------------------------------------------------------

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone:
      return "ok";
    case ErrorKind::kInvalidLaunch:
      return "invalid launch";
    case ErrorKind::kGlobalOutOfBounds:
      return "out-of-bounds global access";
    case ErrorKind::kSharedOutOfBounds:
      return "out-of-bounds shared access";
    case ErrorKind::kMisalignedAccess:
      return "misaligned access";
    case ErrorKind::kUninitializedShared:
      return "uninitialized shared read";
    case ErrorKind::kSharedRace:
      return "shared memory race";
    case ErrorKind::kBarrierDivergence:
      return "barrier divergence";
    case ErrorKind::kWarpDivergence:
      return "warp divergence";
    case ErrorKind::kInvalidWarpMask:
      return "invalid warp mask";
    case ErrorKind::kInvalidArgument:
      return "invalid argument";
    case ErrorKind::kFault:
      return "fault";
    case ErrorKind::kTrap:
      return "trap";
  }
  return "?";
}

void RegisterBuffer(const void* p, size_t bytes, const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  const auto a = reinterpret_cast<uintptr_t>(p);
  // Drop registrations this one overlaps.
  for (auto it = g_buffers.begin(); it != g_buffers.end();) {
    if (it->first < a + bytes && a < it->first + it->second.size) {
      it = g_buffers.erase(it);
    } else {
      ++it;
    }
  }
  g_buffers[a] = Buffer{bytes, name};
}

void UnregisterBuffer(const void* p) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  g_buffers.erase(reinterpret_cast<uintptr_t>(p));
}

void* DeviceAlloc(size_t bytes, const std::string& name) {
  void* p = std::aligned_alloc(256, std::max<size_t>(256, (bytes + 255) / 256 * 256));
  if (!p) return nullptr;
  memset(p, 0xff, bytes);
  RegisterBuffer(p, bytes, name);
  return p;
}

void DeviceFree(void* p) {
  if (!p) return;
  UnregisterBuffer(p);
  std::free(p);
}

namespace detail {
std::string SymbolName(const void* fn) {
  Dl_info info;
  if (dladdr(fn, &info) && info.dli_sname && info.dli_saddr == fn) return info.dli_sname;
  return Format("kernel@%p", fn);
}
}  // namespace detail

LaunchReport LaunchBody(const LaunchOptions& options, dim3 grid, dim3 block,
                        size_t dynamic_shared_bytes, void (*run)(void*), void* body) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  LaunchReport report;
  report.kernel = options.name.empty() ? "kernel" : options.name;
  if (g_launch) {
    report.kind = ErrorKind::kInvalidLaunch;
    report.message =
        "invalid launch: a kernel launched from inside a kernel (" + report.kernel + ")";
    return report;
  }
  if (std::string why = ValidateLaunch(grid, block, dynamic_shared_bytes); !why.empty()) {
    report.kind = ErrorKind::kInvalidLaunch;
    report.message = "invalid launch: " + why + " (kernel " + report.kernel + ")";
    return report;
  }
  RefreshSharedRegions();
  SharedRegion& dyn = g_shared[0];
  if (dyn.shadow.size() < dynamic_shared_bytes) dyn.shadow.resize(dynamic_shared_bytes);

  auto l = std::make_unique<LaunchState>();
  l->options = options;
  l->options.name = report.kernel;
  l->grid = grid;
  l->block = block;
  l->dynamic_bytes = dynamic_shared_bytes;
  l->run = run;
  l->body = body;
  l->nthreads = block.x * block.y * block.z;
  l->os_thread = pthread_self();
  l->warp_gen.assign((l->nthreads + 31) / 32, 0);
  // One stack per thread, kept between launches.
  const size_t stack_bytes = std::max<size_t>(options.stack_bytes, 16 << 10);
  if (!g_stacks.empty() && g_stacks[0]->bytes() < stack_bytes) g_stacks.clear();
  while (g_stacks.size() < l->nthreads) {
    auto s = std::make_unique<FiberStack>(stack_bytes);
    if (!s->ok()) {
      report.kind = ErrorKind::kInvalidLaunch;
      report.message = "invalid launch: cannot map thread stacks (kernel " + report.kernel + ")";
      return report;
    }
    g_stacks.push_back(std::move(s));
  }
  l->threads.resize(l->nthreads);
  for (unsigned i = 0; i < l->nthreads; ++i) {
    Thread& t = l->threads[i];
    t.idx = uint3{i % block.x, i / block.x % block.y, i / (block.x * block.y)};
    t.linear = i;
    t.warp = i / 32;
    t.lane = i % 32;
    t.stack = g_stacks[i].get();
  }

  g_launch = l.get();
  InstallSignalHandlers();
  for (unsigned z = 0; z < grid.z && !l->failed; ++z) {
    for (unsigned y = 0; y < grid.y && !l->failed; ++y) {
      for (unsigned x = 0; x < grid.x && !l->failed; ++x) {
        l->block_idx = uint3{x, y, z};
        RunBlock(*l);
      }
    }
  }
  RestoreSignalHandlers();
  g_launch = nullptr;
  g_current = nullptr;
  if (l->failed) return l->report;
  return report;
}

}  // namespace sinter::cuda_emu

// ---- The ABI of emulated kernel code ---------------------------------------------------

namespace emu = sinter::cuda_emu;

extern "C" {

uint3 sinter_emu_thread_idx(void) { return emu::g_current ? emu::g_current->idx : uint3{0, 0, 0}; }
uint3 sinter_emu_block_idx(void) {
  return emu::g_launch ? emu::g_launch->block_idx : uint3{0, 0, 0};
}
uint3 sinter_emu_block_dim(void) {
  return emu::g_launch ? static_cast<uint3>(emu::g_launch->block) : uint3{1, 1, 1};
}
uint3 sinter_emu_grid_dim(void) {
  return emu::g_launch ? static_cast<uint3>(emu::g_launch->grid) : uint3{1, 1, 1};
}

int sinter_emu_syncthreads(int op, int pred, const char* file, int line) {
  emu::Thread* t = emu::g_current;
  if (!t) return op == SINTER_EMU_BAR_SYNC ? 0 : pred;
  t->state = emu::State::kBarrier;
  t->op = op;
  t->pred = pred;
  t->file = file;
  t->line = line;
  emu::Yield(t);
  return static_cast<int>(t->result);
}

uint64_t sinter_emu_warp(int op, unsigned mask, uint64_t value, int b, int c, const char* file,
                         int line) {
  emu::Thread* t = emu::g_current;
  if (!t) return value;
  if (!(mask >> t->lane & 1)) {
    emu::Fail(emu::ErrorKind::kInvalidWarpMask, 0, 0,
              "lane %u of warp %u calls %s with mask 0x%08x, which does not include it, at %s",
              t->lane, t->warp, emu::OpName(op), mask, emu::Site(file, line).s);
  }
  t->state = emu::State::kWarp;
  t->op = op;
  t->mask = mask;
  t->value = value;
  t->b = b;
  t->c = c;
  t->file = file;
  t->line = line;
  emu::Yield(t);
  return t->result;
}

unsigned sinter_emu_activemask(void) {
  emu::Thread* t = emu::g_current;
  if (!t) return 1;
  const emu::LaunchState& l = *emu::g_launch;
  unsigned m = 0;
  const unsigned base = t->warp * 32, count = std::min(32u, l.nthreads - base);
  for (unsigned j = 0; j < count; ++j) m |= (l.threads[base + j].state != emu::State::kExited) << j;
  return m;
}

void sinter_emu_check(const void* addr, size_t size, int access, const void* pc) {
  (void)pc;
  emu::CheckAccess(addr, size, access);
  if (access == SINTER_EMU_ATOMIC && emu::g_current) {
    const auto a = reinterpret_cast<uintptr_t>(addr);
    if (size > 1 && a % size != 0) {
      emu::Fail(emu::ErrorKind::kMisalignedAccess, a, size,
                "atomic on %zu bytes at 0x%" PRIxPTR ", not %zu-byte aligned", size, a, size);
    }
  }
}

// GCC's and LLVM's UBSan layout of -fsanitize=alignment's report data.
struct UbsanLocation {
  const char* file;
  uint32_t line, column;
};
struct UbsanType {
  uint16_t kind, info;
  char name[1];
};
struct UbsanMismatch {
  UbsanLocation location;
  const UbsanType* type;
  unsigned char log_alignment;
  unsigned char check_kind;
};

void sinter_emu_misaligned(const void* ubsan_data, const void* ptr) {
  if (!emu::g_current) return;
  static const char* const kWhat[] = {"load of",
                                      "store to",
                                      "reference binding to",
                                      "member access within",
                                      "member call on",
                                      "constructor call on",
                                      "downcast of",
                                      "downcast of",
                                      "upcast of",
                                      "cast to virtual base of",
                                      "_Nonnull binding to",
                                      "dynamic operation on"};
  const auto* d = static_cast<const UbsanMismatch*>(ubsan_data);
  const auto a = reinterpret_cast<uintptr_t>(ptr);
  const uint64_t align = uint64_t{1} << d->log_alignment;
  const char* what = d->check_kind < 12 ? kWhat[d->check_kind] : "access to";
  if (!ptr) {
    emu::Fail(emu::ErrorKind::kGlobalOutOfBounds, 0, 0, "%s null pointer of type %s at %s:%u:%u",
              what, d->type->name, emu::BaseName(d->location.file), d->location.line,
              d->location.column);
  }
  emu::Fail(emu::ErrorKind::kMisalignedAccess, a, 0,
            "%s address 0x%" PRIxPTR " of type %s, which needs %" PRIu64
            "-byte alignment (address %% %" PRIu64 " = %" PRIu64 "), at %s:%u:%u",
            what, a, d->type->name, align, align, a % align, emu::BaseName(d->location.file),
            d->location.line, d->location.column);
}

void sinter_emu_fail(int failure, const char* what, const char* file, int line) {
  if (!emu::g_current) {
    fprintf(stderr, "sinter_emu: %s at %s:%d outside a kernel launch\n", what, file, line);
    abort();
  }
  emu::Fail(
      failure == SINTER_EMU_FAIL_TRAP ? emu::ErrorKind::kTrap : emu::ErrorKind::kInvalidArgument, 0,
      0, "%s at %s", what, emu::Site(file, line).s);
}

void* sinter_emu_dynamic_shared(void) { return sinter_emu_dynamic_shared_memory; }

int sinter_emu_register_module(void* (*tls_anchor)(void), const void* anchor) {
  std::lock_guard<std::recursive_mutex> lock(emu::g_mutex);
  emu::Module m;
  m.tls_anchor = tls_anchor;
  m.anchor = reinterpret_cast<uintptr_t>(anchor);
  // The loaded segments of the object: its globals, constants and string
  // literals are valid addresses for its kernels.
  emu::FindObject(m.anchor, [&](dl_phdr_info* pi) {
    m.path = pi->dlpi_name ? pi->dlpi_name : "";
    for (int i = 0; i < pi->dlpi_phnum; ++i) {
      const ElfW(Phdr)& ph = pi->dlpi_phdr[i];
      if (ph.p_type != PT_LOAD) continue;
      const uintptr_t b = pi->dlpi_addr + ph.p_vaddr;
      m.segments.emplace_back(b, b + ph.p_memsz);
    }
  });
  for (emu::Module& known : emu::g_modules) {
    if (!m.segments.empty() && known.segments == m.segments) {
      ++known.registrations;
      return known.id;
    }
  }
  m.registrations = 1;
  m.id = emu::g_next_module_id++;
  emu::g_modules.push_back(std::move(m));
  return emu::g_modules.back().id;
}

void sinter_emu_unregister_module(int id) {
  std::lock_guard<std::recursive_mutex> lock(emu::g_mutex);
  auto& mods = emu::g_modules;
  auto it =
      std::find_if(mods.begin(), mods.end(), [id](const emu::Module& m) { return m.id == id; });
  if (it == mods.end() || --it->registrations > 0) return;
  mods.erase(it);
  auto& sh = emu::g_shared;
  sh.erase(std::remove_if(sh.begin(), sh.end(),
                          [id](const emu::SharedRegion& r) { return r.module == id; }),
           sh.end());
}

long long sinter_emu_clock64(void) {
  static long long ticks = 0;
  return ticks += 8;
}

}  // extern "C"
