// The fake libcuda: every driver entry point of runtime/cuda/dynlib.h's
// SINTER_CU_SYMBOLS (and nothing else), defined against cuda.h's own
// declarations, so each has the header's signature and its versioned ABI
// name (cuMemAlloc_v2, cuStreamBeginCapture_v2, ...), as the runtime's
// dlsym looks them up. One device: an "H100" (sm_90, 132 SMs) whose memory
// is host memory and whose kernels are the host-compiled module the test
// registered for the loaded image (core.h).
//
// Each call is checked the way the real driver (or compute-sanitizer)
// would fail it, and then some: a current context, live handles, grid and
// block limits, dynamic shared memory, kernel parameters that must be
// device pointers, copies inside live allocations, what stream capture
// allows. A violation is an error code and one line of the validation log.
#include <cuda.h>
#include <elf.h>

#include <chrono>
#include <cstring>
#include <map>

#include "tests/cuda_emu/executor.h"
#include "tests/cuda_emu/launch_args.h"
#include "tests/cuda_fake/core.h"

namespace sinter::fake {
namespace {

constexpr int kSms = 132;
constexpr size_t kTotalMemory = size_t{80} << 30;
constexpr int kDefaultDynamicShared = 48 * 1024;
constexpr int kMaxDynamicSharedOptin = 227 * 1024;
constexpr char kDeviceName[] = "sinter fake H100 (host emulation)";

struct Context : Object {
  int retained = 0;
};

struct Function;
struct Module : Object {
  std::vector<sinter_fake_cuda_symbols> tables;
  std::string host_label;
  std::map<std::string, CUfunction> functions;
};

struct Function : Object {
  cuda_emu::ArgumentArrayKernel kernel;
  Module* module = nullptr;
  int max_dynamic_shared = kDefaultDynamicShared;
};

struct Event : Object {
  unsigned flags = 0;
  bool recorded = false;
  bool pending_in_capture = false;  // last recorded into a capture not yet ended
  std::chrono::steady_clock::time_point time;
};

struct GraphExec : Object {
  std::vector<Work> nodes;
};

CUcontext g_primary = nullptr;  // the device's primary context while retained

// Fails the call when cuInit has not run.
bool Initialized(const char* api) {
  if (DriverInitialized()) return true;
  Fail(Format("%s: called before cuInit", api));
  return false;
}

#define FAKE_ENTRY(api) \
  auto _lock = Lock();  \
  if (!Initialized(api)) return CUDA_ERROR_NOT_INITIALIZED
#define FAKE_ENTRY_CONTEXT(api)                             \
  auto _lock = Lock();                                      \
  if (!Initialized(api)) return CUDA_ERROR_NOT_INITIALIZED; \
  if (!HaveContext(api)) return CUDA_ERROR_INVALID_CONTEXT

const char* ErrorName(CUresult r) {
  switch (r) {
    case CUDA_SUCCESS:
      return "CUDA_SUCCESS";
    case CUDA_ERROR_INVALID_VALUE:
      return "CUDA_ERROR_INVALID_VALUE";
    case CUDA_ERROR_OUT_OF_MEMORY:
      return "CUDA_ERROR_OUT_OF_MEMORY";
    case CUDA_ERROR_NOT_INITIALIZED:
      return "CUDA_ERROR_NOT_INITIALIZED";
    case CUDA_ERROR_INVALID_DEVICE:
      return "CUDA_ERROR_INVALID_DEVICE";
    case CUDA_ERROR_INVALID_IMAGE:
      return "CUDA_ERROR_INVALID_IMAGE";
    case CUDA_ERROR_INVALID_CONTEXT:
      return "CUDA_ERROR_INVALID_CONTEXT";
    case CUDA_ERROR_NO_BINARY_FOR_GPU:
      return "CUDA_ERROR_NO_BINARY_FOR_GPU";
    case CUDA_ERROR_INVALID_HANDLE:
      return "CUDA_ERROR_INVALID_HANDLE";
    case CUDA_ERROR_ILLEGAL_STATE:
      return "CUDA_ERROR_ILLEGAL_STATE";
    case CUDA_ERROR_NOT_FOUND:
      return "CUDA_ERROR_NOT_FOUND";
    case CUDA_ERROR_ILLEGAL_ADDRESS:
      return "CUDA_ERROR_ILLEGAL_ADDRESS";
    case CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES:
      return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES";
    case CUDA_ERROR_LAUNCH_FAILED:
      return "CUDA_ERROR_LAUNCH_FAILED";
    case CUDA_ERROR_NOT_SUPPORTED:
      return "CUDA_ERROR_NOT_SUPPORTED";
    case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED:
      return "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED";
    case CUDA_ERROR_STREAM_CAPTURE_INVALIDATED:
      return "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED";
    case CUDA_ERROR_STREAM_CAPTURE_IMPLICIT:
      return "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT";
    case CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD:
      return "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD";
    case CUDA_ERROR_NOT_READY:
      return "CUDA_ERROR_NOT_READY";
    default:
      return nullptr;  // CUresult is an open set of codes: the rest are unknown here
  }
}

// The bytes of a cubin (an ELF file: its headers say how far it reaches),
// or of PTX text with its terminating NUL; 0 for neither.
size_t ImageExtent(const void* image, bool* ptx) {
  const auto* p = static_cast<const unsigned char*>(image);
  *ptx = false;
  if (std::memcmp(p, ELFMAG, SELFMAG) == 0) {
    if (p[EI_CLASS] != ELFCLASS64) return 0;
    Elf64_Ehdr eh;
    std::memcpy(&eh, p, sizeof eh);
    size_t end = sizeof eh;
    end = std::max<size_t>(end, eh.e_phoff + size_t{eh.e_phnum} * eh.e_phentsize);
    end = std::max<size_t>(end, eh.e_shoff + size_t{eh.e_shnum} * eh.e_shentsize);
    for (int i = 0; i < eh.e_shnum; ++i) {
      Elf64_Shdr sh;
      std::memcpy(&sh, p + eh.e_shoff + size_t{static_cast<unsigned>(i)} * eh.e_shentsize,
                  sizeof sh);
      if (sh.sh_type != SHT_NOBITS) end = std::max<size_t>(end, sh.sh_offset + sh.sh_size);
    }
    return end;
  }
  const char* text = static_cast<const char*>(image);
  if (std::strncmp(text, "//", 2) == 0 || std::strncmp(text, ".version", 8) == 0) {
    *ptx = true;
    return std::strlen(text) + 1;
  }
  return 0;
}

bool ValidDims(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
               std::string* why) {
  const uint64_t threads = uint64_t{bx} * by * bz;
  if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0) {
    *why = "an empty grid or block";
  } else if (bx > 1024 || by > 1024 || bz > 64 || threads > 1024) {
    *why = Format(
        "block (%u, %u, %u) = %llu threads: CUDA allows at most 1024 (x, y <= 1024, "
        "z <= 64)",
        bx, by, bz, static_cast<unsigned long long>(threads));
  } else if (gx > 2147483647u || gy > 65535 || gz > 65535) {
    *why = Format("grid (%u, %u, %u) beyond (2^31-1, 65535, 65535)", gx, gy, gz);
  } else {
    return true;
  }
  return false;
}

// Checks one kernel parameter that the kernel takes as a pointer: null, or
// inside a live device allocation (its extent is the kernel's business,
// which the executor checks access by access).
bool CheckPointerParam(const Function& f, size_t i, uint64_t value, const char* api) {
  if (value == 0) return true;
  const Allocation* a = FindAllocation(value);
  if (a != nullptr && a->device) return true;
  std::string sig;
  for (size_t j = 0; j < f.kernel.params.size(); ++j) {
    const cuda_emu::ParamInfo& p = f.kernel.params[j];
    sig += Format("%s%s", j ? ", " : "",
                  p.pointer ? "pointer" : Format("%zu-byte value", p.size).c_str());
  }
  Fail(
      Format("%s: kernel %s(%s): parameter %zu is a pointer, but its value %s is in no live "
             "device allocation%s (a parameter block of the wrong size or order?)",
             api, f.kernel.name.c_str(), sig.c_str(), i, Hex(value).c_str(),
             a != nullptr ? Format(" (it is in %s)", a->label.c_str()).c_str() : ""));
  return false;
}

std::string LaunchName(const Function& f, unsigned gx, unsigned bx, unsigned shmem) {
  return Format("%s<<<%u, %u, %u>>>", f.kernel.name.c_str(), gx, bx, shmem);
}

// A kernel launch as captured or run: the parameter values copied at the
// call (as the driver does), each at a 16-byte aligned offset.
struct LaunchWork {
  Function* f;
  CUfunction handle;
  dim3 grid, block;
  unsigned shmem;
  std::vector<unsigned char> values;
  std::vector<size_t> offsets;

  bool operator()() const {
    if (!f->alive || !f->module->alive) {
      Fail(Format("kernel %s: its module was unloaded before the launch ran",
                  f->kernel.name.c_str()));
      return false;
    }
    // 16-byte aligned offsets in operator new's 16-byte aligned storage.
    std::vector<void*> args;
    for (size_t off : offsets) args.push_back(const_cast<unsigned char*>(values.data()) + off);
    cuda_emu::LaunchOptions o;
    o.name = f->kernel.name;
    const cuda_emu::LaunchReport r =
        cuda_emu::LaunchArgumentArray(o, f->kernel, grid, block, shmem, args.data());
    Count("launches");
    if (!r.ok()) {
      Fail("kernel " + LaunchName(*f, grid.x, block.x, shmem) + ": " + r.message);
      return false;
    }
    return true;
  }
};

CUresult Copy(uintptr_t dst, uintptr_t src, size_t n, bool dst_device, bool src_device,
              CUstream stream, bool async, const char* api) {
  Stream* s = nullptr;
  if (async && !FindStream(stream, api, &s)) return CUDA_ERROR_INVALID_HANDLE;
  if (!async && ForbiddenInCapture(api)) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  if (n == 0) return CUDA_SUCCESS;
  // Host memory is checked where it is pinned memory this library gave
  // out; pageable memory cannot be checked, and a graph cannot copy it.
  bool ok = true;
  const bool capturing = s != nullptr && s->capturing;
  auto check = [&](uintptr_t p, bool device, const char* what) {
    if (device) {
      ok = CheckRange(p, n, true, api, what) && ok;
      return;
    }
    const Allocation* a = FindAllocation(p);
    if (a != nullptr && !a->device) {
      ok = CheckRange(p, n, false, api, what) && ok;
    } else if (a != nullptr) {
      Fail(Format("%s: %s %s is device memory (%s), passed as host memory", api, what,
                  Hex(p).c_str(), a->label.c_str()));
      ok = false;
    } else if (capturing) {
      Fail(
          Format("%s: %s %s is pageable host memory, which a captured copy cannot use (CUDA "
                 "graphs copy pinned memory only)",
                 api, what, Hex(p).c_str()));
      s->invalidated = true;
      ok = false;
    }
  };
  check(dst, dst_device, "destination");
  check(src, src_device, "source");
  if (ok && dst_device && src_device && dst < src + n && src < dst + n) {
    Fail(Format("%s: source %s and destination %s of %zu bytes overlap", api, Hex(src).c_str(),
                Hex(dst).c_str(), n));
    ok = false;
  }
  if (!ok) return CUDA_ERROR_INVALID_VALUE;
  Work w;
  w.what = Format("%s of %zu bytes", api, n);
  w.run = [dst, src, n, dst_device, src_device, api] {
    // At run time (a replay), the memory must still be there.
    if ((dst_device && !CheckRange(dst, n, true, api, "destination (at run time)")) ||
        (src_device && !CheckRange(src, n, true, api, "source (at run time)")))
      return false;
    std::memcpy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n);
    Count("memcpy");
    return true;
  };
  if (!async) return w.run() ? CUDA_SUCCESS : CUDA_ERROR_LAUNCH_FAILED;
  return Submit(s, std::move(w), api);
}

}  // namespace
}  // namespace sinter::fake

using namespace sinter::fake;  // NOLINT: the entry points below are the C ABI
namespace cuda_emu = sinter::cuda_emu;

// ---- Initialisation, errors, device -------------------------------------------------

SINTER_FAKE_EXPORT CUresult cuInit(unsigned int flags) {
  auto lock = Lock();
  if (flags != 0) {
    Fail(Format("cuInit: flags %u (must be 0)", flags));
    return CUDA_ERROR_INVALID_VALUE;
  }
  DriverInitialized() = true;
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuDriverGetVersion(int* version) {
  if (version == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *version = 13000;
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuGetErrorName(CUresult error, const char** str) {
  if (str == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *str = ErrorName(error);
  return *str != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SINTER_FAKE_EXPORT CUresult cuGetErrorString(CUresult error, const char** str) {
  if (str == nullptr) return CUDA_ERROR_INVALID_VALUE;
  switch (error) {
    case CUDA_SUCCESS:
      *str = "no error";
      break;
    case CUDA_ERROR_OUT_OF_MEMORY:
      *str = "out of memory";
      break;
    case CUDA_ERROR_INVALID_VALUE:
      *str = "invalid argument";
      break;
    case CUDA_ERROR_INVALID_HANDLE:
      *str = "invalid resource handle";
      break;
    case CUDA_ERROR_LAUNCH_FAILED:
      *str = "unspecified launch failure";
      break;
    default:  // the rest: the name, and the log says why
      *str = ErrorName(error) != nullptr ? "see the fake CUDA driver's validation log" : nullptr;
  }
  return *str != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SINTER_FAKE_EXPORT CUresult cuDeviceGetCount(int* count) {
  FAKE_ENTRY("cuDeviceGetCount");
  if (count == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *count = 1;
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuDeviceGet(CUdevice* device, int ordinal) {
  FAKE_ENTRY("cuDeviceGet");
  if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (ordinal != 0) {
    Fail(Format("cuDeviceGet: ordinal %d of 1 device", ordinal));
    return CUDA_ERROR_INVALID_DEVICE;
  }
  *device = 0;
  return CUDA_SUCCESS;
}

namespace {
bool ValidDevice(CUdevice d, const char* api) {
  if (d == 0) return true;
  Fail(Format("%s: device %d does not exist", api, d));
  return false;
}
}  // namespace

SINTER_FAKE_EXPORT CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
  FAKE_ENTRY("cuDeviceGetName");
  if (!ValidDevice(dev, "cuDeviceGetName")) return CUDA_ERROR_INVALID_DEVICE;
  if (name == nullptr || len <= 0) {
    Fail("cuDeviceGetName: a null buffer or a length <= 0");
    return CUDA_ERROR_INVALID_VALUE;
  }
  std::strncpy(name, kDeviceName, static_cast<size_t>(len));
  name[len - 1] = '\0';
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuDeviceGetAttribute(int* pi, CUdevice_attribute attrib, CUdevice dev) {
  FAKE_ENTRY("cuDeviceGetAttribute");
  if (!ValidDevice(dev, "cuDeviceGetAttribute")) return CUDA_ERROR_INVALID_DEVICE;
  if (pi == nullptr) return CUDA_ERROR_INVALID_VALUE;
  switch (attrib) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
      *pi = 9;
      return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
      *pi = 0;
      return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
      *pi = kSms;
      return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
      *pi = 1024;
      return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE:
      *pi = 32;
      return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN:
      *pi = kMaxDynamicSharedOptin;
      return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING:
      *pi = 1;
      return CUDA_SUCCESS;
    default:  // CUdevice_attribute has over a hundred rows; the rest are not emulated
      Fail(Format("cuDeviceGetAttribute: attribute %d is not emulated", static_cast<int>(attrib)));
      return CUDA_ERROR_NOT_SUPPORTED;
  }
}

SINTER_FAKE_EXPORT CUresult cuDeviceTotalMem(size_t* bytes, CUdevice dev) {
  FAKE_ENTRY("cuDeviceTotalMem");
  if (!ValidDevice(dev, "cuDeviceTotalMem")) return CUDA_ERROR_INVALID_DEVICE;
  if (bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *bytes = kTotalMemory;
  return CUDA_SUCCESS;
}

// ---- Contexts ---------------------------------------------------------------------------

SINTER_FAKE_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev) {
  FAKE_ENTRY("cuDevicePrimaryCtxRetain");
  if (!ValidDevice(dev, "cuDevicePrimaryCtxRetain")) return CUDA_ERROR_INVALID_DEVICE;
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (g_primary == nullptr) {
    if (InjectFailure("cuDevicePrimaryCtxRetain")) return CUDA_ERROR_OUT_OF_MEMORY;
    g_primary = static_cast<CUcontext>(
        AddObject(std::make_unique<Context>(), Kind::kContext, "the primary context of device 0"));
  }
  ++static_cast<Context*>(FindObject(g_primary, Kind::kContext, "cuDevicePrimaryCtxRetain"))
        ->retained;
  *pctx = g_primary;
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuDevicePrimaryCtxRelease(CUdevice dev) {
  FAKE_ENTRY("cuDevicePrimaryCtxRelease");
  if (!ValidDevice(dev, "cuDevicePrimaryCtxRelease")) return CUDA_ERROR_INVALID_DEVICE;
  if (g_primary == nullptr) {
    Fail("cuDevicePrimaryCtxRelease: the primary context is not retained");
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  auto* c = Find<Context>(g_primary, Kind::kContext, "cuDevicePrimaryCtxRelease");
  if (--c->retained == 0) {
    for (CUcontext& t : ContextStack()) {
      if (t == g_primary) {
        Fail(
            "cuDevicePrimaryCtxRelease: the last release of the primary context while it is "
            "current on this thread");
      }
    }
    Kill(c);
    g_primary = nullptr;
  }
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuCtxPushCurrent(CUcontext ctx) {
  FAKE_ENTRY("cuCtxPushCurrent");
  if (Find<Context>(ctx, Kind::kContext, "cuCtxPushCurrent") == nullptr)
    return CUDA_ERROR_INVALID_CONTEXT;
  ContextStack().push_back(ctx);
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuCtxPopCurrent(CUcontext* pctx) {
  FAKE_ENTRY("cuCtxPopCurrent");
  if (ContextStack().empty()) {
    Fail("cuCtxPopCurrent: no context is current on this thread");
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  if (pctx != nullptr) *pctx = ContextStack().back();
  ContextStack().pop_back();
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuCtxSetCurrent(CUcontext ctx) {
  FAKE_ENTRY("cuCtxSetCurrent");
  if (ctx != nullptr && Find<Context>(ctx, Kind::kContext, "cuCtxSetCurrent") == nullptr)
    return CUDA_ERROR_INVALID_CONTEXT;
  if (ctx == nullptr) {
    if (!ContextStack().empty()) ContextStack().pop_back();
  } else if (ContextStack().empty()) {
    ContextStack().push_back(ctx);
  } else {
    ContextStack().back() = ctx;
  }
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuCtxGetCurrent(CUcontext* pctx) {
  FAKE_ENTRY("cuCtxGetCurrent");
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *pctx = ContextStack().empty() ? nullptr : ContextStack().back();
  return CUDA_SUCCESS;
}

// ---- Modules and launches ------------------------------------------------------------

SINTER_FAKE_EXPORT CUresult cuModuleLoadDataEx(CUmodule* module, const void* image,
                                               unsigned int num_options, CUjit_option* options,
                                               void** values) {
  FAKE_ENTRY_CONTEXT("cuModuleLoadDataEx");
  const char* api = "cuModuleLoadDataEx";
  if (ForbiddenInCapture(api)) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  if (module == nullptr || image == nullptr) {
    Fail("cuModuleLoadDataEx: a null module or image pointer");
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (num_options > 0 && (options == nullptr || values == nullptr)) {
    Fail("cuModuleLoadDataEx: options without their arrays");
    return CUDA_ERROR_INVALID_VALUE;
  }
  char* log = nullptr;
  size_t log_size = 0;
  bool have_log = false, have_size = false;
  for (unsigned i = 0; i < num_options; ++i) {
    switch (options[i]) {
      case CU_JIT_ERROR_LOG_BUFFER:
        log = static_cast<char*>(values[i]);
        have_log = true;
        break;
      case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES:
        log_size = reinterpret_cast<uintptr_t>(values[i]);
        have_size = true;
        break;
      default:  // CUjit_option: only the options sinter passes are emulated
        Fail(Format("cuModuleLoadDataEx: JIT option %d is not emulated",
                    static_cast<int>(options[i])));
        return CUDA_ERROR_INVALID_VALUE;
    }
  }
  if (have_log != have_size) {
    Fail(
        "cuModuleLoadDataEx: CU_JIT_ERROR_LOG_BUFFER and CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES "
        "must come together");
    return CUDA_ERROR_INVALID_VALUE;
  }
  auto say = [&](const std::string& m) {
    if (log != nullptr && log_size > 0) {
      std::strncpy(log, m.c_str(), log_size);
      log[log_size - 1] = '\0';
    }
  };
  bool ptx = false;
  const size_t extent = ImageExtent(image, &ptx);
  if (extent == 0) {
    Fail("cuModuleLoadDataEx: the image is neither a 64-bit cubin (ELF) nor PTX text");
    say("not a cubin or PTX");
    return CUDA_ERROR_INVALID_IMAGE;
  }
  if (!ptx) {
    Elf64_Ehdr eh;
    std::memcpy(&eh, image, sizeof eh);
    if (eh.e_machine != EM_CUDA) {
      Fail(Format("cuModuleLoadDataEx: an ELF image for machine %d, not EM_CUDA", eh.e_machine));
      return CUDA_ERROR_INVALID_IMAGE;
    }
  }
  const HostModule* host = FindHostModule(image, ptx ? extent - 1 : extent);
  if (host == nullptr && ptx) host = FindHostModule(image, extent);
  if (host == nullptr) {
    Fail(
        Format("cuModuleLoadDataEx: no host module was registered for this %s image (%zu "
               "bytes, hash %s): call sinter_fake_cuda_register_module before loading",
               ptx ? "PTX" : "cubin", extent, Hex(ImageHash(image, extent)).c_str()));
    say("the fake driver has no host code for this image");
    return CUDA_ERROR_NO_BINARY_FOR_GPU;
  }
  if (InjectFailure("cuModuleLoadDataEx")) return CUDA_ERROR_OUT_OF_MEMORY;
  auto m = std::make_unique<Module>();
  m->tables = host->tables;
  m->host_label = host->label;
  *module = static_cast<CUmodule>(
      AddObject(std::move(m), Kind::kModule, "cuModuleLoadDataEx of " + host->label));
  say("");
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuModuleUnload(CUmodule hmod) {
  FAKE_ENTRY_CONTEXT("cuModuleUnload");
  if (ForbiddenInCapture("cuModuleUnload")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  auto* m = Find<Module>(hmod, Kind::kModule, "cuModuleUnload");
  if (m == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  for (auto& [name, f] : m->functions) Kill(FindObject(f, Kind::kFunction, "cuModuleUnload"));
  Kill(m);
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuModuleGetFunction(CUfunction* hfunc, CUmodule hmod,
                                                const char* name) {
  FAKE_ENTRY_CONTEXT("cuModuleGetFunction");
  auto* m = Find<Module>(hmod, Kind::kModule, "cuModuleGetFunction");
  if (m == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (hfunc == nullptr || name == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (auto it = m->functions.find(name); it != m->functions.end()) {
    *hfunc = it->second;
    return CUDA_SUCCESS;
  }
  auto f = std::make_unique<Function>();
  bool found = false;
  for (const sinter_fake_cuda_symbols& t : m->tables) {
    if (cuda_emu::FindArgumentArrayKernel(t.lookup, t.context, name, &f->kernel)) {
      found = true;
      break;
    }
  }
  if (!found) {
    Fail(Format("cuModuleGetFunction: %s has no kernel '%s'", m->label.c_str(), name));
    return CUDA_ERROR_NOT_FOUND;
  }
  f->module = m;
  f->owned = true;
  auto h = static_cast<CUfunction>(
      AddObject(std::move(f), Kind::kFunction, Format("kernel %s of %s", name, m->label.c_str())));
  m->functions[name] = h;
  *hfunc = h;
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib,
                                               int value) {
  FAKE_ENTRY_CONTEXT("cuFuncSetAttribute");
  auto* f = Find<Function>(hfunc, Kind::kFunction, "cuFuncSetAttribute");
  if (f == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  switch (attrib) {
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
      if (value < 0 || value > kMaxDynamicSharedOptin) {
        Fail(Format("cuFuncSetAttribute: %s: %d bytes of dynamic shared memory; sm_90 allows %d",
                    f->kernel.name.c_str(), value, kMaxDynamicSharedOptin));
        return CUDA_ERROR_INVALID_VALUE;
      }
      f->max_dynamic_shared = value;
      return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
      if (value < -1 || value > 100) {
        Fail(Format("cuFuncSetAttribute: carveout %d%%", value));
        return CUDA_ERROR_INVALID_VALUE;
      }
      return CUDA_SUCCESS;
    default:  // the other function attributes are not emulated
      Fail(Format("cuFuncSetAttribute: attribute %d is not emulated", static_cast<int>(attrib)));
      return CUDA_ERROR_NOT_SUPPORTED;
  }
}

SINTER_FAKE_EXPORT CUresult cuLaunchKernel(CUfunction hfunc, unsigned int gx, unsigned int gy,
                                           unsigned int gz, unsigned int bx, unsigned int by,
                                           unsigned int bz, unsigned int shmem, CUstream hstream,
                                           void** params, void** extra) {
  FAKE_ENTRY_CONTEXT("cuLaunchKernel");
  const char* api = "cuLaunchKernel";
  auto* f = Find<Function>(hfunc, Kind::kFunction, api);
  if (f == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (!f->module->alive) {
    Fail(Format("cuLaunchKernel: %s: its module was unloaded", f->kernel.name.c_str()));
    return CUDA_ERROR_INVALID_HANDLE;
  }
  Stream* s = nullptr;
  if (!FindStream(hstream, api, &s)) return CUDA_ERROR_INVALID_HANDLE;
  std::string why;
  if (!ValidDims(gx, gy, gz, bx, by, bz, &why)) {
    Fail(Format("cuLaunchKernel: %s: %s", f->kernel.name.c_str(), why.c_str()));
    return CUDA_ERROR_INVALID_VALUE;
  }
  // A GPU refuses a block larger than the kernel's __launch_bounds__ (it
  // was compiled, registers and all, for at most that many threads); the
  // host executor would run it.
  const unsigned threads = bx * by * bz;
  if (f->kernel.max_threads != 0 && threads > f->kernel.max_threads) {
    Fail(
        Format("cuLaunchKernel: %s: a block of %u threads; the kernel was compiled with "
               "__launch_bounds__(%u)",
               f->kernel.name.c_str(), threads, f->kernel.max_threads));
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (static_cast<int>(shmem) > f->max_dynamic_shared) {
    Fail(Format("cuLaunchKernel: %s: %u bytes of dynamic shared memory; the kernel allows %d%s",
                f->kernel.name.c_str(), shmem, f->max_dynamic_shared,
                f->max_dynamic_shared == kDefaultDynamicShared
                    ? " (more needs cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_"
                      "SIZE_BYTES))"
                    : ""));
    return CUDA_ERROR_INVALID_VALUE;
  }
  const std::vector<cuda_emu::ParamInfo>& sig = f->kernel.params;
  // The parameter values, from kernelParams (one pointer per parameter) or
  // from `extra`'s packed buffer, whose size must be the signature's.
  std::vector<const void*> value_of(sig.size(), nullptr);
  if ((params != nullptr) == (extra != nullptr) && !sig.empty()) {
    Fail(Format("cuLaunchKernel: %s: exactly one of kernelParams and extra must be given",
                f->kernel.name.c_str()));
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (params != nullptr) {
    for (size_t i = 0; i < sig.size(); ++i) {
      if (params[i] == nullptr) {
        Fail(Format("cuLaunchKernel: %s: kernelParams[%zu] is null", f->kernel.name.c_str(), i));
        return CUDA_ERROR_INVALID_VALUE;
      }
      value_of[i] = params[i];
      // Pointer parameters are checked in order, before later slots are
      // read: a parameter block one slot early shows here, and no slot
      // past the caller's array is touched.
      if (sig[i].pointer) {
        uint64_t v;
        std::memcpy(&v, params[i], sizeof v);
        if (!CheckPointerParam(*f, i, v, api)) return CUDA_ERROR_INVALID_VALUE;
      }
    }
  } else if (extra != nullptr) {
    const void* buffer = nullptr;
    const size_t* size = nullptr;
    for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) {
        buffer = extra[i + 1];
      } else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) {
        size = static_cast<const size_t*>(extra[i + 1]);
      } else {
        Fail(
            Format("cuLaunchKernel: %s: unknown extra entry %p", f->kernel.name.c_str(), extra[i]));
        return CUDA_ERROR_INVALID_VALUE;
      }
    }
    if (buffer == nullptr || size == nullptr) {
      Fail(Format("cuLaunchKernel: %s: extra needs CU_LAUNCH_PARAM_BUFFER_POINTER and _SIZE",
                  f->kernel.name.c_str()));
      return CUDA_ERROR_INVALID_VALUE;
    }
    if (*size != f->kernel.PackedSize()) {
      Fail(
          Format("cuLaunchKernel: %s: a parameter buffer of %zu bytes; its %zu parameters take "
                 "%zu",
                 f->kernel.name.c_str(), *size, sig.size(), f->kernel.PackedSize()));
      return CUDA_ERROR_INVALID_VALUE;
    }
    size_t at = 0;
    for (size_t i = 0; i < sig.size(); ++i) {
      at = (at + sig[i].align - 1) / sig[i].align * sig[i].align;
      value_of[i] = static_cast<const unsigned char*>(buffer) + at;
      if (sig[i].pointer) {
        uint64_t v;
        std::memcpy(&v, value_of[i], sizeof v);
        if (!CheckPointerParam(*f, i, v, api)) return CUDA_ERROR_INVALID_VALUE;
      }
      at += sig[i].size;
    }
  }
  LaunchWork lw;
  lw.f = f;
  lw.handle = hfunc;
  lw.grid = dim3(gx, gy, gz);
  lw.block = dim3(bx, by, bz);
  lw.shmem = shmem;
  size_t total = 0;
  for (const cuda_emu::ParamInfo& p : sig) {
    lw.offsets.push_back(total);
    total += (p.size + 15) / 16 * 16;
  }
  lw.values.assign(total + 16, 0);
  for (size_t i = 0; i < sig.size(); ++i)
    std::memcpy(lw.values.data() + lw.offsets[i], value_of[i], sig[i].size);
  Work w;
  w.what = "kernel " + LaunchName(*f, gx, bx, shmem);
  w.run = lw;
  return Submit(s, std::move(w), api);
}

// ---- Memory -------------------------------------------------------------------------------

SINTER_FAKE_EXPORT CUresult cuMemAlloc(CUdeviceptr* dptr, size_t bytes) {
  FAKE_ENTRY_CONTEXT("cuMemAlloc");
  if (ForbiddenInCapture("cuMemAlloc")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  if (dptr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (bytes == 0) {
    Fail("cuMemAlloc: 0 bytes (the driver refuses an empty allocation)");
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (bytes > kTotalMemory - DeviceBytesInUse() || InjectFailure("cuMemAlloc"))
    return CUDA_ERROR_OUT_OF_MEMORY;
  *dptr = Allocate(bytes, true, "cuMemAlloc");
  return *dptr != 0 ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

SINTER_FAKE_EXPORT CUresult cuMemFree(CUdeviceptr dptr) {
  FAKE_ENTRY_CONTEXT("cuMemFree");
  if (ForbiddenInCapture("cuMemFree")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  if (dptr == 0) return CUDA_SUCCESS;
  return Free(dptr, true, "cuMemFree") ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SINTER_FAKE_EXPORT CUresult cuMemGetInfo(size_t* free_bytes, size_t* total) {
  FAKE_ENTRY_CONTEXT("cuMemGetInfo");
  if (free_bytes == nullptr || total == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *total = kTotalMemory;
  *free_bytes = kTotalMemory - DeviceBytesInUse();
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuMemHostAlloc(void** pp, size_t bytes, unsigned int flags) {
  FAKE_ENTRY_CONTEXT("cuMemHostAlloc");
  if (ForbiddenInCapture("cuMemHostAlloc")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  if (pp == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if ((flags & ~unsigned{CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP |
                         CU_MEMHOSTALLOC_WRITECOMBINED}) != 0) {
    Fail(Format("cuMemHostAlloc: unknown flags %#x", flags));
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (bytes == 0) {
    Fail("cuMemHostAlloc: 0 bytes");
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (InjectFailure("cuMemHostAlloc")) return CUDA_ERROR_OUT_OF_MEMORY;
  *pp = reinterpret_cast<void*>(Allocate(bytes, false, "cuMemHostAlloc"));
  return *pp != nullptr ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

SINTER_FAKE_EXPORT CUresult cuMemFreeHost(void* p) {
  FAKE_ENTRY_CONTEXT("cuMemFreeHost");
  if (ForbiddenInCapture("cuMemFreeHost")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  return Free(reinterpret_cast<uintptr_t>(p), false, "cuMemFreeHost") ? CUDA_SUCCESS
                                                                      : CUDA_ERROR_INVALID_VALUE;
}

SINTER_FAKE_EXPORT CUresult cuMemcpyHtoD(CUdeviceptr dst, const void* src, size_t n) {
  FAKE_ENTRY_CONTEXT("cuMemcpyHtoD");
  return Copy(dst, reinterpret_cast<uintptr_t>(src), n, true, false, nullptr, false,
              "cuMemcpyHtoD");
}

SINTER_FAKE_EXPORT CUresult cuMemcpyHtoDAsync(CUdeviceptr dst, const void* src, size_t n,
                                              CUstream stream) {
  FAKE_ENTRY_CONTEXT("cuMemcpyHtoDAsync");
  return Copy(dst, reinterpret_cast<uintptr_t>(src), n, true, false, stream, true,
              "cuMemcpyHtoDAsync");
}

SINTER_FAKE_EXPORT CUresult cuMemcpyDtoHAsync(void* dst, CUdeviceptr src, size_t n,
                                              CUstream stream) {
  FAKE_ENTRY_CONTEXT("cuMemcpyDtoHAsync");
  return Copy(reinterpret_cast<uintptr_t>(dst), src, n, false, true, stream, true,
              "cuMemcpyDtoHAsync");
}

SINTER_FAKE_EXPORT CUresult cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t n,
                                              CUstream stream) {
  FAKE_ENTRY_CONTEXT("cuMemcpyDtoDAsync");
  return Copy(dst, src, n, true, true, stream, true, "cuMemcpyDtoDAsync");
}

SINTER_FAKE_EXPORT CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t n,
                                            CUstream stream) {
  FAKE_ENTRY_CONTEXT("cuMemsetD8Async");
  const char* api = "cuMemsetD8Async";
  Stream* s = nullptr;
  if (!FindStream(stream, api, &s)) return CUDA_ERROR_INVALID_HANDLE;
  if (n == 0) return CUDA_SUCCESS;
  if (!CheckRange(dst, n, true, api, "destination")) return CUDA_ERROR_INVALID_VALUE;
  Work w;
  w.what = Format("cuMemsetD8Async of %zu bytes", n);
  w.run = [dst, value, n, api] {
    if (!CheckRange(dst, n, true, api, "destination (at run time)")) return false;
    std::memset(reinterpret_cast<void*>(dst), value, n);
    return true;
  };
  return Submit(s, std::move(w), api);
}

SINTER_FAKE_EXPORT CUresult cuPointerGetAttribute(void* data, CUpointer_attribute attribute,
                                                  CUdeviceptr ptr) {
  FAKE_ENTRY_CONTEXT("cuPointerGetAttribute");
  if (data == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const Allocation* a = FindAllocation(ptr);
  if (a == nullptr) {
    Fail(Format("cuPointerGetAttribute: %s is in no allocation of this driver", Hex(ptr).c_str()));
    return CUDA_ERROR_INVALID_VALUE;
  }
  switch (attribute) {
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
      *static_cast<unsigned*>(data) = a->device ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
      *static_cast<int*>(data) = 0;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_CONTEXT:
      *static_cast<CUcontext*>(data) = ContextStack().back();
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
      *static_cast<CUdeviceptr*>(data) = a->base;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
      *static_cast<size_t*>(data) = a->size;
      return CUDA_SUCCESS;
    default:  // the other pointer attributes are not emulated
      Fail(Format("cuPointerGetAttribute: attribute %d is not emulated",
                  static_cast<int>(attribute)));
      return CUDA_ERROR_NOT_SUPPORTED;
  }
}

// ---- Streams, captures, graphs -------------------------------------------------------

SINTER_FAKE_EXPORT CUresult cuStreamCreate(CUstream* stream, unsigned int flags) {
  FAKE_ENTRY_CONTEXT("cuStreamCreate");
  if (stream == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if ((flags & ~unsigned{CU_STREAM_NON_BLOCKING}) != 0) {
    Fail(Format("cuStreamCreate: unknown flags %#x", flags));
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (InjectFailure("cuStreamCreate")) return CUDA_ERROR_OUT_OF_MEMORY;
  auto s = std::make_unique<Stream>();
  s->flags = flags;
  static uint64_t n = 0;
  *stream = static_cast<CUstream>(
      AddObject(std::move(s), Kind::kStream,
                Format("cuStreamCreate #%llu", static_cast<unsigned long long>(++n))));
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuStreamDestroy(CUstream stream) {
  FAKE_ENTRY_CONTEXT("cuStreamDestroy");
  auto* s = Find<Stream>(stream, Kind::kStream, "cuStreamDestroy");
  if (s == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (s->capturing) {
    Fail(Format("cuStreamDestroy: %s is still being captured", s->label.c_str()));
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  Kill(s);
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuStreamSynchronize(CUstream stream) {
  FAKE_ENTRY_CONTEXT("cuStreamSynchronize");
  Stream* s = nullptr;
  if (!FindStream(stream, "cuStreamSynchronize", &s)) return CUDA_ERROR_INVALID_HANDLE;
  // Work runs when it is enqueued: nothing to wait for, only the rule that
  // a capturing stream cannot be waited on (nor, in this thread's capture,
  // the legacy stream).
  if (s != nullptr ? s->capturing : AnyCapture()) {
    if (ForbiddenInCapture("cuStreamSynchronize", s)) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuStreamBeginCapture(CUstream stream, CUstreamCaptureMode mode) {
  FAKE_ENTRY_CONTEXT("cuStreamBeginCapture");
  const char* api = "cuStreamBeginCapture";
  Stream* s = nullptr;
  if (!FindStream(stream, api, &s)) return CUDA_ERROR_INVALID_HANDLE;
  if (s == nullptr) {
    Fail("cuStreamBeginCapture: the legacy default stream cannot be captured");
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  if (s->capturing) {
    Fail(Format("cuStreamBeginCapture: %s is already being captured", s->label.c_str()));
    return CUDA_ERROR_ILLEGAL_STATE;
  }
  switch (mode) {
    case CU_STREAM_CAPTURE_MODE_GLOBAL:
    case CU_STREAM_CAPTURE_MODE_THREAD_LOCAL:
    case CU_STREAM_CAPTURE_MODE_RELAXED:
      break;
    default:  // not one of the enum's three values
      Fail(Format("cuStreamBeginCapture: capture mode %d", static_cast<int>(mode)));
      return CUDA_ERROR_INVALID_VALUE;
  }
  if (Flag("capture") == 0) return CUDA_ERROR_NOT_SUPPORTED;  // a test's switch: no capture
  s->capturing = true;
  s->invalidated = false;
  s->mode = mode;
  s->capture_thread = ThreadId();
  s->captured.clear();
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuStreamEndCapture(CUstream stream, CUgraph* graph) {
  FAKE_ENTRY_CONTEXT("cuStreamEndCapture");
  const char* api = "cuStreamEndCapture";
  Stream* s = nullptr;
  if (!FindStream(stream, api, &s) || s == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (graph == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *graph = nullptr;
  if (!s->capturing) {
    Fail(Format("cuStreamEndCapture: %s is not being captured", s->label.c_str()));
    return CUDA_ERROR_ILLEGAL_STATE;
  }
  if (s->mode != CU_STREAM_CAPTURE_MODE_RELAXED && s->capture_thread != (ThreadId())) {
    Fail(Format("cuStreamEndCapture: %s's capture began on another thread", s->label.c_str()));
    return CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD;
  }
  s->capturing = false;
  std::vector<Work> nodes = std::move(s->captured);
  s->captured.clear();
  if (s->invalidated || Flag("capture") == 2) {
    s->invalidated = false;
    return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  }
  auto g = std::make_unique<Graph>();
  const size_t n = nodes.size();
  g->nodes = std::move(nodes);
  *graph = static_cast<CUgraph>(
      AddObject(std::move(g), Kind::kGraph,
                Format("cuStreamEndCapture of %s (%zu nodes)", s->label.c_str(), n)));
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec* exec, CUgraph graph,
                                                        unsigned long long flags) {
  FAKE_ENTRY_CONTEXT("cuGraphInstantiateWithFlags");
  auto* g = Find<Graph>(graph, Kind::kGraph, "cuGraphInstantiateWithFlags");
  if (g == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (exec == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (flags != 0) {
    Fail(Format("cuGraphInstantiateWithFlags: flags %#llx are not emulated", flags));
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (InjectFailure("cuGraphInstantiateWithFlags")) return CUDA_ERROR_OUT_OF_MEMORY;
  auto e = std::make_unique<GraphExec>();
  e->nodes = g->nodes;
  *exec = static_cast<CUgraphExec>(
      AddObject(std::move(e), Kind::kGraphExec, "cuGraphInstantiateWithFlags of " + g->label));
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuGraphLaunch(CUgraphExec exec, CUstream stream) {
  FAKE_ENTRY_CONTEXT("cuGraphLaunch");
  const char* api = "cuGraphLaunch";
  auto* e = Find<GraphExec>(exec, Kind::kGraphExec, api);
  if (e == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  Stream* s = nullptr;
  if (!FindStream(stream, api, &s)) return CUDA_ERROR_INVALID_HANDLE;
  if (s != nullptr && s->capturing) {
    Fail("cuGraphLaunch: into a capturing stream (child graphs are not emulated)");
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  Count("graph_launches");
  for (const Work& w : e->nodes) {
    Count("graph_nodes_replayed");
    if (!w.run()) {
      Fail(Format("cuGraphLaunch: %s: node '%s' failed", e->label.c_str(), w.what.c_str()));
      return CUDA_ERROR_LAUNCH_FAILED;
    }
  }
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuGraphExecDestroy(CUgraphExec exec) {
  FAKE_ENTRY_CONTEXT("cuGraphExecDestroy");
  auto* e = Find<GraphExec>(exec, Kind::kGraphExec, "cuGraphExecDestroy");
  if (e == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  e->nodes.clear();
  Kill(e);
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuGraphDestroy(CUgraph graph) {
  FAKE_ENTRY_CONTEXT("cuGraphDestroy");
  auto* g = Find<Graph>(graph, Kind::kGraph, "cuGraphDestroy");
  if (g == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  g->nodes.clear();
  Kill(g);
  return CUDA_SUCCESS;
}

// ---- Events ----------------------------------------------------------------------------

SINTER_FAKE_EXPORT CUresult cuEventCreate(CUevent* event, unsigned int flags) {
  FAKE_ENTRY_CONTEXT("cuEventCreate");
  if (event == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if ((flags &
       ~unsigned{CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS}) != 0) {
    Fail(Format("cuEventCreate: unknown flags %#x", flags));
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (InjectFailure("cuEventCreate")) return CUDA_ERROR_OUT_OF_MEMORY;
  auto e = std::make_unique<Event>();
  e->flags = flags;
  static uint64_t n = 0;
  *event = static_cast<CUevent>(
      AddObject(std::move(e), Kind::kEvent,
                Format("cuEventCreate #%llu", static_cast<unsigned long long>(++n))));
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuEventDestroy(CUevent event) {
  FAKE_ENTRY_CONTEXT("cuEventDestroy");
  auto* e = Find<Event>(event, Kind::kEvent, "cuEventDestroy");
  if (e == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  Kill(e);
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuEventRecord(CUevent event, CUstream stream) {
  FAKE_ENTRY_CONTEXT("cuEventRecord");
  const char* api = "cuEventRecord";
  auto* e = Find<Event>(event, Kind::kEvent, api);
  if (e == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  Stream* s = nullptr;
  if (!FindStream(stream, api, &s)) return CUDA_ERROR_INVALID_HANDLE;
  e->pending_in_capture = s != nullptr && s->capturing;
  Work w;
  w.what = "event record of " + e->label;
  w.run = [event] {
    auto* ev = Find<Event>(event, Kind::kEvent, "cuEventRecord (when it runs)");
    if (ev == nullptr) return false;
    ev->recorded = true;
    ev->pending_in_capture = false;
    ev->time = std::chrono::steady_clock::now();
    return true;
  };
  return Submit(s, std::move(w), api);
}

SINTER_FAKE_EXPORT CUresult cuEventSynchronize(CUevent event) {
  FAKE_ENTRY_CONTEXT("cuEventSynchronize");
  auto* e = Find<Event>(event, Kind::kEvent, "cuEventSynchronize");
  if (e == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (e->pending_in_capture && AnyCapture()) {
    Fail(Format("cuEventSynchronize: %s was recorded into a capture still in progress",
                e->label.c_str()));
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  return CUDA_SUCCESS;
}

SINTER_FAKE_EXPORT CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent end) {
  FAKE_ENTRY_CONTEXT("cuEventElapsedTime");
  const char* api = "cuEventElapsedTime";
  auto* a = Find<Event>(start, Kind::kEvent, api);
  auto* b = Find<Event>(end, Kind::kEvent, api);
  if (a == nullptr || b == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (ms == nullptr) return CUDA_ERROR_INVALID_VALUE;
  for (const Event* e : {a, b}) {
    if ((e->flags & CU_EVENT_DISABLE_TIMING) != 0) {
      Fail(Format("cuEventElapsedTime: %s was created with CU_EVENT_DISABLE_TIMING",
                  e->label.c_str()));
      return CUDA_ERROR_INVALID_HANDLE;
    }
    if (!e->recorded) {
      Fail(Format("cuEventElapsedTime: %s was never recorded (or only into a capture)",
                  e->label.c_str()));
      return CUDA_ERROR_INVALID_HANDLE;
    }
  }
  *ms = std::chrono::duration<float, std::milli>(b->time - a->time).count();
  return CUDA_SUCCESS;
}
