// NVRTC through a symbol table filled by dlopen/dlsym (as IREE's
// cuda_dynamic_symbol_table does for the driver): the library is looked up
// once per process, and every entry point is checked before the first use.
#include "codegen/cuda/nvrtc.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sinter::codegen::cuda {
namespace {

// nvrtc.h's types, declared here instead of including the header so that
// the compiler builds on hosts without a CUDA toolkit: nvrtcResult is a C
// enum (int-sized, NVRTC_SUCCESS = 0, NVRTC_ERROR_COMPILATION = 6) and
// nvrtcProgram an opaque pointer; both have been ABI-stable since CUDA 7.
using nvrtcResult = int;
struct _nvrtcProgram;
using nvrtcProgram = _nvrtcProgram*;
constexpr nvrtcResult kNvrtcSuccess = 0;
constexpr nvrtcResult kNvrtcErrorCompilation = 6;

// Every NVRTC entry point sinter uses: name, return type, parameters.
#define SINTER_NVRTC_SYMBOLS(X)                                                             \
  X(nvrtcVersion, nvrtcResult, (int*, int*))                                                \
  X(nvrtcGetErrorString, const char*, (nvrtcResult))                                        \
  X(nvrtcCreateProgram, nvrtcResult,                                                        \
    (nvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*)) \
  X(nvrtcDestroyProgram, nvrtcResult, (nvrtcProgram*))                                      \
  X(nvrtcCompileProgram, nvrtcResult, (nvrtcProgram, int, const char* const*))              \
  X(nvrtcGetProgramLogSize, nvrtcResult, (nvrtcProgram, size_t*))                           \
  X(nvrtcGetProgramLog, nvrtcResult, (nvrtcProgram, char*))                                 \
  X(nvrtcGetCUBINSize, nvrtcResult, (nvrtcProgram, size_t*))                                \
  X(nvrtcGetCUBIN, nvrtcResult, (nvrtcProgram, char*))                                      \
  X(nvrtcGetPTXSize, nvrtcResult, (nvrtcProgram, size_t*))                                  \
  X(nvrtcGetPTX, nvrtcResult, (nvrtcProgram, char*))

struct NvrtcSymbols {
#define SINTER_NVRTC_PFN(name, ret, params) ret(*name) params = nullptr;
  SINTER_NVRTC_SYMBOLS(SINTER_NVRTC_PFN)
#undef SINTER_NVRTC_PFN
  std::string path;  // the library that was loaded
};

// Candidates in order: an explicit override, the loader's search path
// (LD_LIBRARY_PATH, ldconfig) by SONAME, then the toolkit's usual places.
std::vector<std::string> Candidates() {
  std::vector<std::string> paths;
  if (const char* p = std::getenv("SINTER_NVRTC_LIBRARY"); p != nullptr && *p != '\0')
    paths.push_back(p);
  for (const char* soname : {"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"})
    paths.push_back(soname);
  if (const char* home = std::getenv("CUDA_HOME"); home != nullptr && *home != '\0')
    paths.push_back(absl::StrCat(home, "/lib64/libnvrtc.so"));
  paths.push_back("/usr/local/cuda/lib64/libnvrtc.so");
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());  // CUDA_HOME=/usr/local/cuda
  return paths;
}

absl::StatusOr<const NvrtcSymbols*> Load() {
  std::vector<std::string> tried;
  for (const std::string& path : Candidates()) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      tried.push_back(why != nullptr ? why : path);
      continue;
    }
    auto lib = std::make_unique<NvrtcSymbols>();
    lib->path = path;
    std::string missing;
#define SINTER_NVRTC_DLSYM(name, ret, params)                              \
  lib->name = reinterpret_cast<decltype(lib->name)>(dlsym(handle, #name)); \
  if (lib->name == nullptr && missing.empty()) missing = #name;
    SINTER_NVRTC_SYMBOLS(SINTER_NVRTC_DLSYM)
#undef SINTER_NVRTC_DLSYM
    if (!missing.empty()) {
      tried.push_back(absl::StrCat(path, ": no symbol ", missing));
      dlclose(handle);
      continue;
    }
    // The handle stays open for the life of the process, like the table.
    return lib.release();
  }
  return absl::UnavailableError(
      absl::StrCat("NVRTC not found: ", absl::StrJoin(tried, "; "),
                   " (install the CUDA toolkit or set SINTER_NVRTC_LIBRARY)"));
}

const absl::StatusOr<const NvrtcSymbols*>& Nvrtc() {
  static const absl::StatusOr<const NvrtcSymbols*> lib = Load();
  return lib;
}

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The CUDA headers NVRTC needs for cuda_fp16.h / cuda_bf16.h.
std::string CudaIncludeDir() {
  if (const char* home = std::getenv("CUDA_HOME"); home != nullptr && *home != '\0') {
    std::string dir = absl::StrCat(home, "/include");
    if (IsDir(dir)) return dir;
  }
  return IsDir("/usr/local/cuda/include") ? "/usr/local/cuda/include" : "";
}

// "sm_90", "sm_90a", "sm_100f", "compute_90": prefix, two or more digits, and
// an optional family/feature suffix.
bool ParseArch(const std::string& arch, bool* is_real, std::string* version) {
  size_t at;
  if (arch.rfind("sm_", 0) == 0) {
    *is_real = true, at = 3;
  } else if (arch.rfind("compute_", 0) == 0) {
    *is_real = false, at = 8;
  } else {
    return false;
  }
  size_t e = at;
  while (e < arch.size() && arch[e] >= '0' && arch[e] <= '9') ++e;
  if (e - at < 2 || e - at > 4) return false;
  if (e < arch.size() && !(e + 1 == arch.size() && (arch[e] == 'a' || arch[e] == 'f')))
    return false;
  *version = arch.substr(at);  // "90", "90a"
  return true;
}

// Destroys the program on every path out of a compile.
struct Program {
  const NvrtcSymbols* lib;
  nvrtcProgram prog = nullptr;
  ~Program() {
    if (prog != nullptr) lib->nvrtcDestroyProgram(&prog);
  }
};

// "nvrtcGetCUBIN: NVRTC_ERROR_INVALID_INPUT" as a status of `code`.
absl::Status NvrtcError(const NvrtcSymbols& lib, absl::StatusCode code, const char* call,
                        nvrtcResult r, const std::string& context, const std::string& log) {
  std::string msg = absl::StrCat(context, ": ", call, ": ", lib.nvrtcGetErrorString(r));
  if (!log.empty()) absl::StrAppend(&msg, "\n", log);
  return absl::Status(code, msg);
}

#define NVRTC_RETURN_IF_ERROR(lib, call, args, context)                                \
  do {                                                                                 \
    nvrtcResult _r = (lib).call args;                                                  \
    if (_r != kNvrtcSuccess)                                                           \
      return NvrtcError((lib), absl::StatusCode::kInternal, #call, _r, (context), ""); \
  } while (0)

std::string ProgramLog(const NvrtcSymbols& lib, nvrtcProgram prog) {
  size_t size = 0;
  if (lib.nvrtcGetProgramLogSize(prog, &size) != kNvrtcSuccess || size <= 1) return "";
  std::string log(size, '\0');
  if (lib.nvrtcGetProgramLog(prog, log.data()) != kNvrtcSuccess) return "";
  while (!log.empty() && (log.back() == '\0' || log.back() == '\n')) log.pop_back();
  return log;
}

// One NVRTC compile of `source` for `arch`; fills cubin (real arch) or ptx.
absl::Status CompileOnce(const NvrtcSymbols& lib, const std::string& source,
                         const std::string& name, const std::string& arch, bool real, bool ptx,
                         CompiledKernel* out) {
  const std::string context = absl::StrCat("NVRTC compile of ", name, " for ", arch);
  Program p{&lib};
  const std::string file = name + ".cu";
  NVRTC_RETURN_IF_ERROR(lib, nvrtcCreateProgram,
                        (&p.prog, source.c_str(), file.c_str(), 0, nullptr, nullptr), context);
  std::vector<std::string> options = {"--gpu-architecture=" + arch, "-std=c++17",
                                      "-default-device"};
  if (std::string inc = CudaIncludeDir(); !inc.empty()) options.push_back("--include-path=" + inc);
  if (real) options.push_back("--ptxas-options=-v");  // the resource report
  std::vector<const char*> argv;
  for (const std::string& o : options) argv.push_back(o.c_str());
  nvrtcResult r = lib.nvrtcCompileProgram(p.prog, static_cast<int>(argv.size()), argv.data());
  std::string log = ProgramLog(lib, p.prog);
  if (r != kNvrtcSuccess) {
    return NvrtcError(lib,
                      r == kNvrtcErrorCompilation ? absl::StatusCode::kInvalidArgument
                                                  : absl::StatusCode::kInternal,
                      "nvrtcCompileProgram", r, context,
                      absl::StrCat("options: ", absl::StrJoin(options, " "), "\n", log));
  }
  std::string rest;
  std::vector<KernelResources> resources = ParsePtxasReport(log, &rest);
  if (real) out->resources = std::move(resources);
  if (out->log.empty()) out->log = rest;
  if (real) {
    size_t size = 0;
    NVRTC_RETURN_IF_ERROR(lib, nvrtcGetCUBINSize, (p.prog, &size), context);
    if (size == 0) return absl::InternalError(context + ": NVRTC returned an empty cubin");
    out->cubin.resize(size);
    NVRTC_RETURN_IF_ERROR(lib, nvrtcGetCUBIN, (p.prog, reinterpret_cast<char*>(out->cubin.data())),
                          context);
  }
  if (ptx) {
    // After a compile for sm_XX, NVRTC (12 and 13) still holds the PTX it
    // made on the way, `.target sm_XX`, which newer GPUs can JIT; when a
    // version does not, the caller compiles again for compute_XX.
    size_t size = 0;
    nvrtcResult r = lib.nvrtcGetPTXSize(p.prog, &size);
    if (r == kNvrtcSuccess && size > 1) {
      out->ptx.assign(size, '\0');
      r = lib.nvrtcGetPTX(p.prog, out->ptx.data());
      while (!out->ptx.empty() && out->ptx.back() == '\0') out->ptx.pop_back();
    }
    if (!real && (r != kNvrtcSuccess || out->ptx.empty())) {
      if (r == kNvrtcSuccess) return absl::InternalError(context + ": NVRTC returned no PTX");
      return NvrtcError(lib, absl::StatusCode::kInternal, "nvrtcGetPTX", r, context, "");
    }
    if (r != kNvrtcSuccess) out->ptx.clear();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::pair<int, int>> NvrtcVersion() {
  const absl::StatusOr<const NvrtcSymbols*>& lib = Nvrtc();
  if (!lib.ok()) return lib.status();
  int major = 0, minor = 0;
  NVRTC_RETURN_IF_ERROR(**lib, nvrtcVersion, (&major, &minor), "NVRTC " + (*lib)->path);
  return std::make_pair(major, minor);
}

absl::StatusOr<CompiledKernel> CompileCuda(const std::string& source, const std::string& name,
                                           const std::string& arch, bool want_ptx) {
  bool real = false;
  std::string version;
  if (!ParseArch(arch, &real, &version)) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA arch '", arch, "': expected sm_XX or compute_XX, e.g. sm_90"));
  }
  const absl::StatusOr<const NvrtcSymbols*>& lib = Nvrtc();
  if (!lib.ok()) return lib.status();
  CompiledKernel out;
  out.arch = arch;
  if (!real) {
    if (absl::Status s = CompileOnce(**lib, source, name, arch, false, true, &out); !s.ok())
      return s;
    return out;
  }
  if (absl::Status s = CompileOnce(**lib, source, name, arch, true, want_ptx, &out); !s.ok())
    return s;
  if (want_ptx && out.ptx.empty()) {
    if (absl::Status s = CompileOnce(**lib, source, name, "compute_" + version, false, true, &out);
        !s.ok())
      return s;
  }
  return out;
}

}  // namespace sinter::codegen::cuda
