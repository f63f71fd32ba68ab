// The one interface between the target-agnostic runtime (Model, Session, the
// C API) and a backend (CPU, CUDA, later others), in the mould of IREE's HAL:
//
//   Backend         a row of the backend table: the artifact target it runs
//                   ("cpu", "cuda") and the function that loads a verified
//                   model's backend half;
//   BackendModel    that half, immutable and shared by sessions: the
//                   backend's prepared kernels (each step through the
//                   backend's own op table), code loaded, weights placed;
//   BackendSession  per-caller state: memory for activations, a stream or a
//                   thread pool, bound inputs and outputs, and the run.
//
// Model (runtime/model.h) has verified everything a backend may rely on
// before load is called: tensors, every kernel against the op schema
// (runtime/format/op_schema.h: op, operand and result counts, attribute
// names and kinds), code references against the code objects, and the arena
// plan. A backend checks what is its own: each kernel's attributes against
// its recorded shapes, what it can run, and its code objects' formats.
#ifndef SINTER_RUNTIME_BACKEND_H_
#define SINTER_RUNTIME_BACKEND_H_

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "runtime/status.h"

namespace sinter::format {
struct Model;
}

namespace sinter::rt {

class Model;
struct LoadOptions;

struct SessionConfig {
  int num_threads = 1;  // CPU: worker threads including the caller
  bool use_cuda_graph = true;
};

// One kernel's time in a profiled run, in microseconds from the run's start.
struct KernelTime {
  double start_us = 0, duration_us = 0;
};

class BackendSession {
 public:
  virtual ~BackendSession() = default;
  // Copies input `index` (its dtype, shape and size already checked).
  virtual Status SetInput(size_t index, const void* data, size_t bytes) = 0;
  // Copies input `index`, a tensor whose size the run decides
  // (TensorKind::kDynamic; a symbolic extent), at `dims` (checked against
  // the model and its symbol's range).
  virtual Status SetInputShaped(size_t index, const std::vector<int64_t>& dims, const void* data,
                                size_t bytes);
  // Device memory for an input or output; null unbinds. Backends without
  // device memory refuse.
  virtual Status BindInputDevice(size_t index, void* device_ptr, size_t bytes);
  virtual Status BindOutputDevice(size_t index, void* device_ptr, size_t bytes);
  // Runs every step; with `profile`, times each kernel into it (one entry
  // per step).
  virtual Status Run(std::vector<KernelTime>* profile) = 0;
  // Host memory of output `index` after a run; FAILED_PRECONDITION when the
  // output lives in memory the host cannot read (bound device memory).
  virtual StatusOr<const void*> Output(size_t index) const = 0;
  // The shape output `index` had in the last run, when its size is the
  // run's (TensorKind::kDynamic); null otherwise.
  virtual const std::vector<int64_t>* OutputDims(size_t) const { return nullptr; }
};

class BackendModel {
 public:
  virtual ~BackendModel() = default;
  virtual StatusOr<std::unique_ptr<BackendSession>> CreateSession(
      const SessionConfig& config) const = 0;
  // Kernels that run native CPU code (0 for other backends).
  virtual int native_kernels() const { return 0; }
  // Bytes each session allocates besides the artifact's arena: the CPU's
  // plan of a symbolic extent's run-sized tensors at its maximum.
  virtual uint64_t run_sized_bytes() const { return 0; }
};

// Everything a backend's load sees besides the verified Model.
struct LoadContext {
  const format::Model* schema;  // the artifact's FlatBuffer root
  const LoadOptions* options;
};

struct Backend {
  std::string_view target;  // Model.target of the artifacts it runs
  StatusOr<std::unique_ptr<BackendModel>> (*load)(const Model& model, const LoadContext& ctx);
  // The ops its op table runs, for the completeness test against ops.def.
  std::vector<std::string_view> (*ops)();
};

// The backends this runtime has ("cpu", and "cuda" when built with it; a
// runtime without the CUDA backend has a "cuda" row that refuses, saying so).
std::span<const Backend> Backends();
const Backend* FindBackend(std::string_view target);

// The rows (runtime/cpu/backend.cc, runtime/cuda/backend.cc).
const Backend& CpuBackend();
const Backend& CudaBackend();

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_BACKEND_H_
