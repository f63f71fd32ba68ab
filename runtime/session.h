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
  // Sample `b` of batched input `index` (contiguous when its batch axis
  // leads, gathered into scratch_ otherwise).
  const uint8_t* InputSample(size_t index, int64_t b);

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
  std::vector<uint8_t> scratch_;
  int64_t run_batch_ = 1;
};

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_SESSION_H_
