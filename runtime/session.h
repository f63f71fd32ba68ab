// Per-caller execution state, target-agnostic: which inputs are bound,
// whether a run completed, the profile, and the backend's session
// (runtime/backend.h) that owns the memory and runs the steps.
#ifndef SINTER_RUNTIME_SESSION_H_
#define SINTER_RUNTIME_SESSION_H_

#include <memory>
#include <vector>

#include "runtime/backend.h"
#include "runtime/model.h"

namespace sinter::rt {

class Session {
 public:
  static StatusOr<std::unique_ptr<Session>> Create(std::shared_ptr<const Model> model,
                                                   const SessionConfig& config);

  const Model& model() const { return *model_; }
  Status SetInput(size_t index, sinter_dtype dtype, const int64_t* dims, size_t rank,
                  const void* data, size_t byte_size);
  Status Run();
  // Device memory for input / output `index` (backends with device memory);
  // null unbinds.
  Status BindInputDevice(size_t index, void* device_ptr, size_t byte_size);
  Status BindOutputDevice(size_t index, void* device_ptr, size_t byte_size);
  // Output of the last run, borrowed.
  StatusOr<std::pair<const void*, size_t>> Output(size_t index) const;
  // The shape of output `index` in the last run: the model's, or for one
  // whose size its run decides, what the run gave (FAILED_PRECONDITION
  // before one).
  StatusOr<std::vector<int64_t>> OutputDims(size_t index) const;

  // With profiling on, each run records when each kernel started and how long
  // it took (microseconds from the run's start); off, runs read no clock.
  void set_profiling(bool on) { profiling_ = on; }
  const std::vector<KernelTime>& profile() const { return profile_; }

 private:
  Session() = default;
  // A model with a dynamic batch given more than one sample: the plan runs
  // once per sample, each input's slice in, each output's slice out.
  Status RunPerSample(int64_t batch);
  // Runs samples [first, first + count) on `lane`, `stride` apart.
  Status RunLane(BackendSession* lane, int64_t n, int64_t first, int64_t stride, int64_t end);
  // Sample b of every output into batch_outputs_.
  Status CopyOutSample(BackendSession* from, int64_t n, int64_t b);
  // Sample `b` of batched input `index` (contiguous when its batch axis
  // leads, gathered into scratch_ otherwise).
  const uint8_t* InputSample(size_t index, int64_t b, std::vector<uint8_t>* scratch);

  std::shared_ptr<const Model> model_;
  std::unique_ptr<BackendSession> backend_;
  std::vector<char> input_set_;
  bool has_run_ = false;
  bool profiling_ = false;
  std::vector<KernelTime> profile_;  // of the last profiled run, one per step
  // Dynamic batch (Model::batch()): per input, the batch it was given (0:
  // none yet) and, above one sample, a copy of the whole batch; per output,
  // the last run's whole batch when it had more than one sample.
  std::vector<int64_t> input_batch_;
  std::vector<std::vector<uint8_t>> batch_inputs_, batch_outputs_;
  // On the CPU with T > 1 threads, whole rounds of T samples run side by
  // side, one per lane (a one-thread session of its own, made on first
  // use): small layers do not split well across threads, samples do. The
  // lanes need the shared (unbatched) inputs too, so a batched model keeps
  // a copy of them.
  SessionConfig config_;
  std::vector<std::unique_ptr<BackendSession>> lanes_;
  std::vector<std::vector<uint8_t>> shared_inputs_;
  // Where the last batched run left the outputs without a batch axis.
  BackendSession* unbatched_from_ = nullptr;
  int64_t run_batch_ = 1;
};

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_SESSION_H_
