// Native CPU kernels: the shared object that sinterc's LLVM code generator
// (codegen/cpu) embeds in an artifact, loaded without LLVM through an
// anonymous memory file (memfd) and dlopen; each model's object is its own,
// however many models are loaded (see native.cc). Its functions compute kernel
// bodies; see codegen/cpu/llvm_emitter.h for the contract.
//
// Native code is as trusted as any shared library: the loader checks its
// CRC (so a damaged file never runs) but cannot check what it computes.
// Callers that must not run code from artifacts set
// sinter_model_options.disable_native_code; the programs are then
// interpreted, with the same results to a few ulp.
#ifndef SINTER_RUNTIME_CPU_NATIVE_H_
#define SINTER_RUNTIME_CPU_NATIVE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/status.h"

namespace sinter::rt {

// Computes output elements [begin, end) of a kernel body; each pointer is
// its tensor's data, of the dtype the body gives it.
using NativeFusedFn = void (*)(const void* const* inputs, void* output, int64_t begin, int64_t end);

// Whether this CPU has the features of an instruction-set level
// ("x86-64", "x86-64-v3", "x86-64-v4"); false for an unknown level.
bool CpuSupportsLevel(std::string_view level);

class NativeCode {
 public:
  // Loads the shared object `data[0, size)`.
  static StatusOr<std::unique_ptr<NativeCode>> Load(const uint8_t* data, size_t size);
  ~NativeCode();
  NativeCode(const NativeCode&) = delete;
  NativeCode& operator=(const NativeCode&) = delete;

  // The function `symbol`, or null when the object has none.
  NativeFusedFn Find(const std::string& symbol) const;

 private:
  NativeCode(void* handle, int fd) : handle_(handle), fd_(fd) {}
  void* handle_;
  int fd_;  // the memory file, open while the object is loaded: its path names it alone
};

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_CPU_NATIVE_H_
