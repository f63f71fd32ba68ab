// Loading an artifact's native code without LLVM and without touching the
// file system: the object is written to an anonymous memory file (memfd) and
// dlopen()ed through its /proc/self/fd path.
//
// The dynamic loader identifies an object by its path first: dlopen of a path
// that names an object already loaded returns that object, without opening
// the file. So the memory file's descriptor stays open for the model's
// lifetime (no live model shares its path), and after dlopen the loader
// checks that what it got really is mapped from this memory file (its inode,
// read from /proc/self/maps): a foreign object left loaded under a
// /proc/self/fd path by someone else is never run; the load moves to
// another descriptor number instead.
#include "runtime/cpu/native.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace sinter::rt {
namespace {

// Whether the address `addr` lies in a mapping of the file with inode `ino`
// on device `dev` (/proc/self/maps: "start-end perms offset major:minor inode path").
bool MappedFrom(uintptr_t addr, dev_t dev, ino_t ino) {
  FILE* maps = std::fopen("/proc/self/maps", "re");
  if (maps == nullptr) return false;
  bool found = false;
  char line[512];
  while (!found && std::fgets(line, sizeof line, maps) != nullptr) {
    uintptr_t begin = 0, end = 0;
    unsigned major = 0, minor = 0;
    unsigned long long offset = 0, inode = 0;
    if (std::sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %llx %x:%x %llu", &begin, &end, &offset,
                    &major, &minor, &inode) != 6) {
      continue;
    }
    found = addr >= begin && addr < end && inode == static_cast<unsigned long long>(ino) &&
            major == major(dev) && minor == minor(dev);
  }
  std::fclose(maps);
  return found;
}

}  // namespace

#if defined(__x86_64__)
// F16C from CPUID leaf 1 (ECX bit 29): Clang's __builtin_cpu_supports has no
// "f16c", and the fuzz targets are built with Clang.
static bool HasF16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
}
#endif

bool CpuSupportsLevel(std::string_view level) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (level == "x86-64") return true;
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                  __builtin_cpu_supports("bmi2") && HasF16c();
  if (level == "x86-64-v3") return v3;
  if (level == "x86-64-v4") {
    return v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  }
#endif
  return false;
}

StatusOr<std::unique_ptr<NativeCode>> NativeCode::Load(const uint8_t* data, size_t size) {
  int fd = static_cast<int>(memfd_create("sinter-kernels", MFD_CLOEXEC));
  if (fd < 0) {
    return Status(errno == EMFILE || errno == ENFILE || errno == ENOMEM ? SINTER_RESOURCE_EXHAUSTED
                                                                        : SINTER_INTERNAL,
                  std::string("native code: memfd_create failed: ") + std::strerror(errno));
  }
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      close(fd);
      return Status(
          SINTER_RESOURCE_EXHAUSTED,
          std::string("native code: cannot write the memory file: ") + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return Status(SINTER_INTERNAL, std::string("native code: fstat of the memory file failed: ") +
                                       std::strerror(errno));
  }
  // A foreign object under our path (see the banner): try the next free
  // descriptor numbers, a few times, before giving up.
  for (int attempt = 0;; ++attempt) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      close(fd);
      return Status(SINTER_INTERNAL,
                    std::string("native code: dlopen failed: ") + (why ? why : "unknown error"));
    }
    link_map* map = nullptr;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr &&
        MappedFrom(reinterpret_cast<uintptr_t>(map->l_ld), st.st_dev, st.st_ino)) {
      return std::unique_ptr<NativeCode>(new NativeCode(handle, fd));
    }
    dlclose(handle);
    const int next = attempt < 8 ? fcntl(fd, F_DUPFD_CLOEXEC, fd + 1) : -1;
    close(fd);
    if (next < 0) {
      return Status(SINTER_INTERNAL,
                    std::string("native code: the dynamic loader returns an object that is not "
                                "this model's for '") +
                        path + "' (another library is loaded under that name)");
    }
    fd = next;
  }
}

NativeCode::~NativeCode() {
  dlclose(handle_);
  close(fd_);  // after dlclose: while the object is loaded, its path must stay its own
}

NativeFusedFn NativeCode::Find(const std::string& symbol) const {
  return reinterpret_cast<NativeFusedFn>(dlsym(handle_, symbol.c_str()));
}

}  // namespace sinter::rt
