// Per-caller execution state: the activation arena (planned by the compiler,
// plus scratch for kernels), the thread pool and which inputs are bound.
#ifndef SINTER_RUNTIME_SESSION_H_
#define SINTER_RUNTIME_SESSION_H_

#include <memory>
#include <vector>

#include "runtime/model.h"
#include "runtime/thread_pool.h"

namespace sinter::rt {

namespace cuda {
class CudaSession;  // runtime/cuda/backend.h
}

class Session {
 public:
  // `use_cuda_graph`: a CUDA model's session captures its plan as a CUDA
  // graph on the first run and replays it (ignored on CPU).
  static StatusOr<std::unique_ptr<Session>> Create(std::shared_ptr<const Model> model,
                                                   int num_threads, bool use_cuda_graph = true);
  ~Session();

  const Model& model() const { return *model_; }
  Status SetInput(size_t index, sinter_dtype dtype, const int64_t* dims, size_t rank,
                  const void* data, size_t byte_size);
  Status Run();
  // CUDA models: the caller's device memory for input / output `index`,
  // read and written by the kernels in place (no copy); null unbinds.
  Status BindInputDevice(size_t index, void* device_ptr, size_t byte_size);
  Status BindOutputDevice(size_t index, void* device_ptr, size_t byte_size);
  // Output of the last run, borrowed.
  StatusOr<std::pair<const void*, size_t>> Output(size_t index) const;

  // With profiling on, each run records when each kernel started and how long
  // it took (microseconds from the run's start); off, runs read no clock.
  void set_profiling(bool on) { profiling_ = on; }
  struct KernelTime {
    double start_us = 0, duration_us = 0;
  };
  const std::vector<KernelTime>& profile() const { return profile_; }

 private:
  Session() = default;
  void* TensorData(int t) const;

  std::shared_ptr<const Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  uint8_t* arena_ = nullptr;
  uint64_t scratch_offset_ = 0;
  std::vector<char> input_set_;
  bool has_run_ = false;
  bool profiling_ = false;
  std::vector<KernelTime> profile_;  // of the last profiled run, one per step
  struct CudaDeleter {
    void operator()(cuda::CudaSession* s) const;
  };
  std::unique_ptr<cuda::CudaSession, CudaDeleter> cuda_;  // CUDA models only
};

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_SESSION_H_
