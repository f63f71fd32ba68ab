#include "runtime/cpu/native.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace sinter::rt {

bool CpuSupportsLevel(std::string_view level) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (level == "x86-64") return true;
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                  __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c");
  if (level == "x86-64-v3") return v3;
  if (level == "x86-64-v4") {
    return v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  }
#endif
  return false;
}

StatusOr<std::unique_ptr<NativeCode>> NativeCode::Load(const uint8_t* data, size_t size) {
  // dlopen needs a path; a memfd gives one (/proc/self/fd/N) without
  // touching the file system or leaving a file behind.
  int fd = static_cast<int>(memfd_create("sinter-kernels", MFD_CLOEXEC));
  if (fd < 0) {
    return Status(SINTER_INTERNAL,
                  std::string("native code: memfd_create failed: ") + std::strerror(errno));
  }
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return Status(SINTER_INTERNAL, "native code: cannot write the memory file");
    }
    done += static_cast<size_t>(n);
  }
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  close(fd);  // the mapping keeps the contents alive
  if (handle == nullptr) {
    const char* why = dlerror();
    return Status(SINTER_INTERNAL,
                  std::string("native code: dlopen failed: ") + (why ? why : "unknown error"));
  }
  return std::unique_ptr<NativeCode>(new NativeCode(handle));
}

NativeCode::~NativeCode() { dlclose(handle_); }

NativeFusedFn NativeCode::Find(const std::string& symbol) const {
  return reinterpret_cast<NativeFusedFn>(dlsym(handle_, symbol.c_str()));
}

}  // namespace sinter::rt
