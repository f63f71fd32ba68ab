// A small fork-join thread pool for one session: the caller thread works too,
// and workers pick chunks from an atomic counter, so uneven chunks balance.
//
// A model run dispatches hundreds of parallel regions a few microseconds
// apart, so waking sleeping threads through a condition variable each time
// would cost more than the work. Workers therefore spin on the job counter
// for a short while after each job and only then sleep. The caller takes
// chunks too and then waits only for the workers that joined the job: one
// still asleep (a recurrence's serial steps outlast the spin) is woken but
// not waited for, since waking a thread costs tens to hundreds of
// microseconds on a VM, more than the region (a GRU tagger at 2 threads ran
// 2.5x slower than at 1 when the caller waited).
#ifndef SINTER_RUNTIME_THREAD_POOL_H_
#define SINTER_RUNTIME_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/cpu/kernels.h"
#include "runtime/status.h"

namespace sinter::rt {

class ThreadPool : public kernels::cpu::Parallel {
 public:
  // num_threads includes the caller; 1 means no worker threads. When the
  // system cannot start a thread: RESOURCE_EXHAUSTED, with none left running.
  static StatusOr<std::unique_ptr<ThreadPool>> Create(int num_threads);
  ~ThreadPool() override;
  int num_threads() const override { return static_cast<int>(workers_.size()) + 1; }
  void For(int64_t n, Fn fn, void* ctx) override;

 private:
  ThreadPool() = default;
  void WorkerLoop();
  void RunChunks();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleepers_{0};
  // The generation whose chunks workers may still join (0: none), and the
  // workers inside a job: a worker counts itself in, then joins only if its
  // job is still open; the caller closes it, then waits for the count to
  // drain (seq_cst both ways, so no worker joins after the caller's wait).
  std::atomic<uint64_t> open_{0};
  std::atomic<int> active_{0};
  std::atomic<bool> stop_{false};
  // The job in flight, published by the generation_ increment.
  Fn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0, chunk_ = 1;
  std::atomic<int64_t> next_{0};
};

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_THREAD_POOL_H_
