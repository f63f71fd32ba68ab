// Fibers for the CUDA executor: stacks with guard pages and the context
// switch (see fiber.h for why it is hand-written).
#include "tests/cuda_emu/fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#if defined(__SANITIZE_ADDRESS__)
#define SINTER_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SINTER_EMU_ASAN 1
#endif
#endif
#ifdef SINTER_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace sinter::cuda_emu {

FiberStack::FiberStack(size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  bytes_ = (bytes + page - 1) / page * page;
  mapped_ = bytes_ + page;
  void* m = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) return;
  base_ = static_cast<char*>(m);
  if (mprotect(base_, page, PROT_NONE) != 0) {
    munmap(base_, mapped_);
    base_ = nullptr;
    return;
  }
  lo_ = base_ + page;
}

FiberStack::~FiberStack() {
  if (base_) munmap(base_, mapped_);
}

namespace {

#ifdef SINTER_EMU_ASAN
// The scheduler's stack, learnt when the first fiber starts.
thread_local const void* g_main_stack_lo = nullptr;
thread_local size_t g_main_stack_size = 0;
#endif

// A reused stack may hold the redzones of frames that never returned (an
// abandoned fiber, an entry function); instrumented prologues poison only
// their redzones and expect the rest clean.
void ForgetFrames(const FiberStack& stack) {
#ifdef SINTER_EMU_ASAN
  __asan_unpoison_memory_region(stack.lo(), stack.bytes());
#else
  (void)stack;
#endif
}

}  // namespace

void FiberStarted() {
#ifdef SINTER_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_main_stack_lo, &g_main_stack_size);
#endif
}

#ifdef SINTER_EMU_UCONTEXT

namespace {
// makecontext passes only ints: the context's address in two halves.
void UcontextEntry(unsigned hi, unsigned lo) {
  auto* ctx = reinterpret_cast<FiberContext*>(static_cast<uintptr_t>(hi) << 32 | lo);
  ctx->entry(ctx->arg);
}
}  // namespace

void FiberInit(FiberContext* ctx, const FiberStack& stack, void (*entry)(void*), void* arg) {
  ForgetFrames(stack);
  getcontext(&ctx->uc);
  ctx->uc.uc_stack.ss_sp = stack.lo();
  ctx->uc.uc_stack.ss_size = stack.bytes();
  ctx->uc.uc_link = nullptr;
  ctx->stack_lo = stack.lo();
  ctx->stack_size = stack.bytes();
  ctx->entry = entry;
  ctx->arg = arg;
  const auto p = reinterpret_cast<uintptr_t>(ctx);
  makecontext(&ctx->uc, reinterpret_cast<void (*)()>(&UcontextEntry), 2,
              static_cast<unsigned>(p >> 32), static_cast<unsigned>(p));
}

#else

// sinter_emu_swap(void** save_sp, void* load_sp): pushes the callee-saved
// state, stores the stack pointer, loads the other one and pops its state.
// sinter_emu_fiber_start: where a new fiber's first `ret` lands; calls
// r13(r12).
asm(R"(
  .text
  .p2align 4
  .globl sinter_emu_swap
  .hidden sinter_emu_swap
  .type sinter_emu_swap, @function
sinter_emu_swap:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size sinter_emu_swap, .-sinter_emu_swap

  .p2align 4
  .globl sinter_emu_fiber_start
  .hidden sinter_emu_fiber_start
  .type sinter_emu_fiber_start, @function
sinter_emu_fiber_start:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size sinter_emu_fiber_start, .-sinter_emu_fiber_start
)");

extern "C" void sinter_emu_swap(void** save_sp, void* load_sp);
extern "C" void sinter_emu_fiber_start();

void FiberInit(FiberContext* ctx, const FiberStack& stack, void (*entry)(void*), void* arg) {
  ForgetFrames(stack);
  // The frame sinter_emu_swap pops, from the new stack pointer up: MXCSR and
  // the x87 control word (the caller's), r15, r14, r13 = entry, r12 = arg,
  // rbx, rbp, the return address; after `ret` the stack pointer is 16-byte
  // aligned, as a call instruction expects it.
  const uintptr_t top = reinterpret_cast<uintptr_t>(stack.hi()) & ~uintptr_t{15};
  auto* sp = reinterpret_cast<uint64_t*>(top - 80);
  uint32_t mxcsr;
  uint16_t fpucw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  sp[0] = mxcsr | static_cast<uint64_t>(fpucw) << 32;
  sp[1] = 0;
  sp[2] = 0;
  sp[3] = reinterpret_cast<uint64_t>(entry);
  sp[4] = reinterpret_cast<uint64_t>(arg);
  sp[5] = 0;
  sp[6] = 0;
  sp[7] = reinterpret_cast<uint64_t>(&sinter_emu_fiber_start);
  sp[8] = sp[9] = 0;
  ctx->sp = sp;
  ctx->stack_lo = stack.lo();
  ctx->stack_size = stack.bytes();
}

#endif

void FiberSwitch(FiberContext* from, FiberContext* to, bool from_exits) {
#ifdef SINTER_EMU_ASAN
  const void* lo = to->stack_lo ? to->stack_lo : g_main_stack_lo;
  const size_t size = to->stack_lo ? to->stack_size : g_main_stack_size;
  __sanitizer_start_switch_fiber(from_exits ? nullptr : &from->asan_fake_stack, lo, size);
#else
  (void)from_exits;
#endif
#ifdef SINTER_EMU_UCONTEXT
  swapcontext(&from->uc, &to->uc);
#else
  sinter_emu_swap(&from->sp, to->sp);
#endif
#ifdef SINTER_EMU_ASAN
  __sanitizer_finish_switch_fiber(from->asan_fake_stack, nullptr, nullptr);
#endif
}

}  // namespace sinter::cuda_emu
