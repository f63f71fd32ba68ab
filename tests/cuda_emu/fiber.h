// Cooperative fibers: one per CUDA thread of the block the executor runs.
//
// Why a hand-written switch and not ucontext: swapcontext saves and
// restores the signal mask with a system call on every switch, and the
// executor switches a lot: a warp shuffle suspends each of its 32 lanes and
// resumes it, a block reduction does a dozen shuffles and three barriers per
// row. On the build host the block-reduction test (about 200,000 switches)
// takes 4.5 ms with the 20 instructions below and 46 ms with swapcontext,
// about 20 ns against 230 ns per switch and scheduling step. The switch
// saves only what the SysV x86-64 ABI makes callee-saved (rbx, rbp,
// r12-r15, MXCSR and the x87 control word). Other targets, and builds that
// define SINTER_EMU_UCONTEXT, use ucontext (the tests pass with both).
//
// Under AddressSanitizer the switches are announced
// (__sanitizer_start/finish_switch_fiber), so ASan builds of the executor
// keep correct stack bookkeeping.
#ifndef SINTER_TESTS_CUDA_EMU_FIBER_H_
#define SINTER_TESTS_CUDA_EMU_FIBER_H_

#include <cstddef>

#if !defined(__x86_64__) && !defined(SINTER_EMU_UCONTEXT)
#define SINTER_EMU_UCONTEXT 1
#endif
#ifdef SINTER_EMU_UCONTEXT
#include <ucontext.h>
#endif

namespace sinter::cuda_emu {

// A stack with an inaccessible guard page below it, so that an overflow
// faults instead of running into a neighbour.
class FiberStack {
 public:
  explicit FiberStack(size_t bytes);
  ~FiberStack();
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;
  char* lo() const { return lo_; }
  char* hi() const { return lo_ + bytes_; }
  size_t bytes() const { return bytes_; }
  char* guard() const { return base_; }  // the page below lo()
  bool ok() const { return base_ != nullptr; }

 private:
  char* base_ = nullptr;
  char* lo_ = nullptr;
  size_t bytes_ = 0, mapped_ = 0;
};

// A suspended execution context. The scheduler's own context has no stack
// of ours (stack_lo == nullptr).
struct FiberContext {
#ifdef SINTER_EMU_UCONTEXT
  ucontext_t uc;
  void (*entry)(void*) = nullptr;
  void* arg = nullptr;
#else
  void* sp = nullptr;
#endif
  char* stack_lo = nullptr;
  size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
};

// Makes `ctx` start entry(arg) on `stack` when first switched to. entry
// must never return: a fiber ends by switching away for good.
void FiberInit(FiberContext* ctx, const FiberStack& stack, void (*entry)(void*), void* arg);
// Suspends the caller into `from` and resumes `to`. `from_exits`: the caller
// will never be resumed (lets ASan drop its fake stack).
void FiberSwitch(FiberContext* from, FiberContext* to, bool from_exits = false);
// The first thing a fiber's entry calls (ASan bookkeeping).
void FiberStarted();

}  // namespace sinter::cuda_emu

#endif  // SINTER_TESTS_CUDA_EMU_FIBER_H_
