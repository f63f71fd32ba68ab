// The runtime's op table: every kernel an artifact may name, with the check
// that runs at load (attributes and recorded shapes) and the function that
// runs it. Kernel names and attribute names are the IR's (runtime/format/ops.def), but
// the runtime keeps its own table: it must not depend on the compiler.
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
#include "runtime/model.h"
#include "runtime/status.h"

namespace sinter::rt {

// What a kernel sees when it runs.
struct RunContext {
  const std::vector<TensorDesc>* tensors;
  const Step* step;
  void* const* in;   // data pointers of step->inputs
  void* const* out;  // data pointers of step->outputs
  void* scratch;     // Step scratch, 64-byte aligned
  kernels::cpu::Parallel* par;

  const TensorDesc& input(int i) const { return (*tensors)[step->inputs[i]]; }
  const TensorDesc& output(int i) const { return (*tensors)[step->outputs[i]]; }
  template <typename T = float>
  const T* in_ptr(int i) const {
    return static_cast<const T*>(in[i]);
  }
  template <typename T = float>
  T* out_ptr(int i) const {
    return static_cast<T*>(out[i]);
  }
};

// Load-time view of a step for the kernel's check.
struct PrepareContext {
  const Attrs& attrs;
  std::vector<const TensorDesc*> inputs;
  std::vector<const TensorDesc*> outputs;
  // The artifact's native CPU code; null when it has none, when this CPU
  // lacks its instruction-set level, or when the caller disabled it.
  const NativeCode* native = nullptr;
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
};

const OpDef* FindOp(std::string_view name);

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_CPU_OP_TABLE_H_
