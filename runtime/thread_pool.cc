#include "runtime/thread_pool.h"

#include <algorithm>
#include <system_error>

namespace sinter::rt {
namespace {

// About 50-100 microseconds of spinning before a worker sleeps.
constexpr int kSpinIterations = 4000;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

StatusOr<std::unique_ptr<ThreadPool>> ThreadPool::Create(int num_threads) {
  std::unique_ptr<ThreadPool> pool(new ThreadPool());
  for (int i = 1; i < num_threads; ++i) {
    try {
      pool->workers_.emplace_back([p = pool.get()] { p->WorkerLoop(); });
    } catch (const std::system_error& e) {
      // The destructor stops and joins the workers already started.
      return Status(SINTER_RESOURCE_EXHAUSTED, StrCat("cannot start worker thread ", i, " of ",
                                                      num_threads - 1, ": ", e.what()));
    }
  }
  return pool;
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunChunks() {
  for (;;) {
    int64_t b = next_.fetch_add(chunk_, std::memory_order_relaxed);
    if (b >= n_) return;
    fn_(b, std::min(n_, b + chunk_), ctx_);
  }
}

void ThreadPool::For(int64_t n, Fn fn, void* ctx) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    fn(0, n, ctx);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  n_ = n;
  // A few chunks per thread balances load without much dispatch overhead.
  chunk_ = std::max<int64_t>(1, n / (4 * num_threads()));
  next_.store(0, std::memory_order_relaxed);
  const uint64_t gen = generation_.load(std::memory_order_relaxed) + 1;
  open_.store(gen);
  generation_.store(gen);  // seq_cst: publishes the job, pairs with sleepers_
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    wake_.notify_all();
  }
  RunChunks();
  // Every chunk is taken: close the job and wait for the workers in it.
  open_.store(0);
  for (int spins = 0; active_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kSpinIterations)
      CpuRelax();
    else
      std::this_thread::yield();
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spins = 0;
         gen == seen && spins < kSpinIterations && !stop_.load(std::memory_order_relaxed);
         ++spins) {
      CpuRelax();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);  // seq_cst: pairs with the generation_ increment
      wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      sleepers_.fetch_sub(1);
      if (stop_.load()) return;
      gen = generation_.load(std::memory_order_acquire);
    }
    if (stop_.load()) return;
    seen = gen;
    active_.fetch_add(1);  // seq_cst: pairs with the caller's closing store
    if (open_.load() == gen) RunChunks();
    active_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace sinter::rt
