// The CPU backend's op table: every op it runs, with the check that runs at
// load (attributes against recorded shapes) and the function that runs it.
// Op names, counts and attribute schemas are ops.def's (the loader checked
// them); this table adds what only the CPU knows.
#ifndef SINTER_RUNTIME_CPU_OP_TABLE_H_
#define SINTER_RUNTIME_CPU_OP_TABLE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/cpu/kernels.h"
#include "runtime/attrs.h"
#include "runtime/cpu/native.h"
#include "runtime/dims.h"
#include "runtime/model.h"
#include "runtime/status.h"

namespace sinter::rt {

// What a kernel sees when it runs.
// The session's memory for the model outputs whose size their run decides
// (TensorKind::kDynamic), which the kernel writing one sizes as it runs.
class DynamicTensors {
 public:
  ~DynamicTensors();
  // Memory for tensor `t` (of `desc`) with shape `dims`: its recorded rank
  // and static dims, -1 nowhere; 64-byte aligned, reused when large enough.
  StatusOr<void*> Resize(int t, const TensorDesc& desc, const int64_t* dims, size_t rank);
  // Gives tensor `t` `capacity` bytes of memory the session owns (its plan
  // at the symbolic extent's maximum): its Resize uses them, allocating
  // its own only for a shape larger than that.
  void Plan(int t, void* data, uint64_t capacity);
  void* Data(int t) const;
  // The dims of its last Resize; null before one.
  const std::vector<int64_t>* Dims(int t) const;

 private:
  struct Buffer {
    void* data = nullptr;
    uint64_t capacity = 0;
    std::vector<int64_t> dims;
    bool sized = false;  // dims are its last Resize's
    bool owned = true;   // data is this buffer's to free
  };
  std::vector<std::pair<int, Buffer>> buffers_;  // few: a model's outputs
};

struct RunContext {
  const std::vector<TensorDesc>* tensors;
  const Step* step;
  void* const* in;   // data pointers of step->inputs
  void* const* out;  // data pointers of step->outputs
  void* scratch;     // Step scratch, 64-byte aligned
  kernels::cpu::Parallel* par;
  DynamicTensors* dynamic = nullptr;

  // A kernel taking the run's extents (ops.def kRunExtents) sees its
  // operands and results at the run's shapes: these, not the recorded ones.
  const TensorDesc* const* run_inputs = nullptr;
  const TensorDesc* const* run_outputs = nullptr;

  const TensorDesc& input(int i) const {
    return run_inputs ? *run_inputs[i] : (*tensors)[step->inputs[i]];
  }
  const TensorDesc& output(int i) const {
    return run_outputs ? *run_outputs[i] : (*tensors)[step->outputs[i]];
  }
  template <typename T = float>
  const T* in_ptr(int i) const {
    return static_cast<const T*>(in[i]);
  }
  template <typename T = float>
  T* out_ptr(int i) const {
    return static_cast<T*>(out[i]);
  }
};

// The step's native functions, as the CPU backend loaded them: per code
// module, the artifact's object for this CPU (null when not loaded: native
// code disabled, or the CPU lacks its level).
struct NativeFunctions {
  const Step* step = nullptr;
  const std::vector<const NativeCode*>* modules = nullptr;
  mutable unsigned roles_asked = 0;  // bit per CodeRole a kernel asked for
  mutable int found = 0;             // functions found (the kernel runs native code)
};

struct KernelParams;

// Load-time view of a step for the kernel's check.
struct PrepareContext {
  const Attrs& attrs;
  std::vector<const TensorDesc*> inputs;
  std::vector<const TensorDesc*> outputs;
  const NativeFunctions* native = nullptr;
  const Step* step = nullptr;  // its bodies (Step::Body), checked by the loader
  const LoadOptions* options = nullptr;
  // The kernel appends the operands it will never read at run time because
  // it keeps a prepared copy (packed weights); the loader then releases
  // their pages (Model::ReleaseConstant).
  std::vector<int>* unread_inputs = nullptr;
  // Prepared as it runs, for the run's extents (ops.def kRunExtents): the
  // shapes are the run's, none -1; a slice clamps its bounds to them.
  bool run_extents = false;
  // Then, the same step's parameters prepared once at load at a
  // representative extent (null when that failed): a kernel may share what
  // does not depend on the extents from it (linear's packed weights), so a
  // new sequence length does not pack them again.
  const KernelParams* reuse = nullptr;
};

// Parameters a kernel derived from its attributes and shapes at load.
struct KernelParams {
  virtual ~KernelParams() = default;
};

// One row per op the CPU runs (ops.def's cpu column KERNEL); its operand and
// result counts are the op schema's, checked before `prepare` runs.
struct OpDef {
  std::string_view name;
  // Validates attributes and every recorded shape and dtype; returns the
  // kernel's parameters.
  StatusOr<std::unique_ptr<KernelParams>> (*prepare)(const PrepareContext& ctx);
  // Scratch bytes the kernel needs for a given thread count.
  int64_t (*scratch_bytes)(const KernelParams& params, int num_threads);
  void (*run)(const KernelParams& params, const RunContext& ctx);
  // For the few kernels that can fail at run time (a plugin's segment): set,
  // it runs instead of `run`, and an error stops the run.
  Status (*run_fallible)(const KernelParams& params, const RunContext& ctx) = nullptr;
  // For ops that take the run's extents (ops.def kRunExtents): the results'
  // dims from the operands' at the run (none -1), before `prepare` checks
  // them all. A step reading a tensor its run sizes is prepared so each run.
  StatusOr<std::vector<Dims>> (*run_dims)(const Attrs& attrs,
                                          const std::vector<const TensorDesc*>& inputs) = nullptr;
};

const OpDef* FindOp(std::string_view name);
// Every op of the table, for the completeness test against ops.def.
std::vector<std::string_view> CpuOpNames();

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_CPU_OP_TABLE_H_
