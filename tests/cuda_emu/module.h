// CUDA C++ source text to loaded host code: the way a test runs what the
// compiler generates. The source (what NVRTC would get: the CUDA emitter's
// output, kernels/cuda/kernels.cuh, a hand-written string) is written to a
// temporary directory, compiled by the host C++ compiler as one translation
// unit with the emulation header force-included and the instrumentation the
// executor's checks need, linked into a shared object and loaded; its
// extern "C" kernels are then found by name and launched with executor.h.
//
// The one rewrite of the source: `extern __shared__ T name[];` becomes
// SINTER_EMU_EXTERN_SHARED(T, name) (sinter_cuda_emu.h says why).
#ifndef SINTER_TESTS_CUDA_EMU_MODULE_H_
#define SINTER_TESTS_CUDA_EMU_MODULE_H_

#include <memory>
#include <string>
#include <vector>

namespace sinter::cuda_emu {

struct CompileOptions {
  std::string compiler;  // empty: $SINTER_EMU_CXX, else g++ from PATH
  std::string optimization = "-O1";
  std::vector<std::string> include_dirs;  // searched after the emulation's shims
  std::vector<std::string> flags;         // added last, e.g. -DNAME=1
  bool keep_files = false;                // keep the temporary directory
};

class Module {
 public:
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The address of symbol `name`, null when the module has none.
  void* Symbol(const std::string& name) const;
  // A kernel by name, typed: module->Kernel<void(const float*, float*)>("k").
  template <class F>
  F* Kernel(const std::string& name) const {
    return reinterpret_cast<F*>(Symbol(name));
  }
  // Where the source was written (removed unless keep_files).
  const std::string& source_path() const { return source_path_; }

 private:
  friend std::unique_ptr<Module> CompileModule(const std::string&, const CompileOptions&,
                                               std::string*);
  Module() = default;
  void* handle_ = nullptr;
  std::string source_path_;
};

// Compiles and loads `source`. On failure returns null and puts in *error
// what failed: the compiler's command line and its complete output, or
// dlopen's message.
std::unique_ptr<Module> CompileModule(const std::string& source, const CompileOptions& options,
                                      std::string* error);

// The source with every `extern __shared__ T name[];` rewritten.
std::string RewriteExternShared(const std::string& source);

// The directory of the shim headers (sinter_cuda_emu.h, cuda_fp16.h, ...).
const char* EmulationIncludeDir();

// The compiler flags of emulated kernel code besides includes and -O: the
// instrumentation behind the executor's memory checks (the same list as
// SINTER_CUDA_EMU_KERNEL_FLAGS in CMakeLists.txt).
const std::vector<std::string>& KernelFlags();

// Runs argv (found on PATH) with stdout into `out_log` and stderr into
// `err_log`, or into `out_log` too when it is empty; returns the exit status,
// 128 + the signal, or -1 when it could not start.
int RunProcess(const std::vector<std::string>& argv, const std::string& out_log,
               const std::string& err_log);
// The whole file, or "" when it cannot be read.
std::string ReadWholeFile(const std::string& path);

}  // namespace sinter::cuda_emu

#endif  // SINTER_TESTS_CUDA_EMU_MODULE_H_
