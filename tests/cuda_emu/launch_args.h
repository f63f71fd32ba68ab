// Launching a kernel by an argument array, as the driver's cuLaunchKernel
// takes it (`void** kernelParams`: args[i] points at parameter i's value):
// what a fake CUDA driver (tests/cuda_fake) needs to run the kernels of a
// module it knows only by name, without the test spelling out each
// kernel's parameter types.
//
// The host ABI cannot call a function of unknown parameter types, so the
// module does it: ArgumentArrayEntryPoints() is source text appended to the
// module, one pair of extern "C" symbols per kernel, instantiated from the
// kernel's own type by a template (no signature is parsed):
//   void sinter_emu_args__NAME(void* args)   calls NAME(*(P0*)args[0], ...)
//   const unsigned long long* sinter_emu_params__NAME(void)
//       {n, size of P0..Pn-1, alignment of P0..Pn-1, 1 if Pi is a pointer}
//   unsigned sinter_emu_bounds__NAME(void)
//       the kernel's __launch_bounds__ maximum threads per block (0: none),
//       which a GPU enforces at launch and the host executor ignores
// The entry point reads the argument array without instrumentation (it is
// the launcher's host memory, not device memory) and copies each value into
// the call, so the kernel finds its parameters on the thread's own stack,
// as a GPU's parameter space; the kernel itself stays instrumented.
//
// Which kernels a source defines: the extern "C" __global__ functions of the
// source after the host preprocessor has run (kernels/cuda/kernels.cuh
// defines its entry points by macros).
#ifndef SINTER_TESTS_CUDA_EMU_LAUNCH_ARGS_H_
#define SINTER_TESTS_CUDA_EMU_LAUNCH_ARGS_H_

#include <memory>
#include <string>
#include <vector>

#include "tests/cuda_emu/executor.h"
#include "tests/cuda_emu/module.h"

namespace sinter::cuda_emu {

inline constexpr const char kArgsEntryPrefix[] = "sinter_emu_args__";
inline constexpr const char kParamsEntryPrefix[] = "sinter_emu_params__";
inline constexpr const char kBoundsEntryPrefix[] = "sinter_emu_bounds__";

// A kernel a source defines: its name and __launch_bounds__ maximum
// threads per block (0 when it has none).
struct KernelDecl {
  std::string name;
  unsigned max_threads = 0;
};

// The source text that gives each of `kernels` its entry points.
std::string ArgumentArrayEntryPoints(const std::vector<KernelDecl>& kernels);

// The extern "C" __global__ functions `source` defines, in order, after
// preprocessing it with the compiler of `options` (its include directories
// and flags; the emulation's shims first). False with the compiler's
// output in *error when preprocessing fails.
bool ListKernels(const std::string& source, const CompileOptions& options,
                 std::vector<KernelDecl>* kernels, std::string* error);

// CompileModule(source + ArgumentArrayEntryPoints(ListKernels(source))).
// *kernels (may be null) receives the kernels.
std::unique_ptr<Module> CompileModuleWithArgumentArrays(const std::string& source,
                                                        const CompileOptions& options,
                                                        std::vector<KernelDecl>* kernels,
                                                        std::string* error);

struct ParamInfo {
  size_t size = 0, align = 1;
  bool pointer = false;
};

struct ArgumentArrayKernel {
  std::string name;
  void (*entry)(void*) = nullptr;
  std::vector<ParamInfo> params;
  unsigned max_threads = 0;  // __launch_bounds__; 0: none
  // Bytes of a packed parameter buffer (CU_LAUNCH_PARAM_BUFFER_POINTER):
  // each parameter at the next multiple of its alignment.
  size_t PackedSize() const;
};

// A symbol lookup: Module::Symbol, dlsym, or a fake driver's table.
using SymbolLookup = void* (*)(void* context, const char* symbol);

// Kernel `name` of a module compiled with its entry points; false when the
// module has none of that name.
bool FindArgumentArrayKernel(SymbolLookup lookup, void* context, const std::string& name,
                             ArgumentArrayKernel* out);
bool FindArgumentArrayKernel(const Module& module, const std::string& name,
                             ArgumentArrayKernel* out);

// Launches `kernel` with args[i] pointing at the value of parameter i. The
// values are read by every thread during the launch: they must stay valid
// (and unchanged) until it returns.
LaunchReport LaunchArgumentArray(const LaunchOptions& options, const ArgumentArrayKernel& kernel,
                                 dim3 grid, dim3 block, size_t dynamic_shared_bytes,
                                 void* const* args);

}  // namespace sinter::cuda_emu

#endif  // SINTER_TESTS_CUDA_EMU_LAUNCH_ARGS_H_
