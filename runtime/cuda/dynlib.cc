// The loaders behind Driver(), CublasLt() and Cudnn(): open the first
// library that loads and has every entry point, fill the table, check the
// version, keep the result for the process.
#include "runtime/cuda/dynlib.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace sinter::rt::cuda {
namespace {

#define SINTER_STR(x) #x
#define SINTER_XSTR(x) SINTER_STR(x)

Status Unavailable(const std::string& m) { return Status(SINTER_UNAVAILABLE, m); }

// The paths to try, in order: the env override, the sonames as the loader
// resolves them, then each soname under the toolkit's lib64 folders.
std::vector<std::string> Candidates(const char* env, std::vector<const char*> sonames,
                                    bool toolkit_dirs) {
  std::vector<std::string> out;
  auto add = [&out](std::string p) {
    for (const std::string& q : out) {
      if (q == p) return;
    }
    out.push_back(std::move(p));
  };
  if (const char* v = std::getenv(env); v != nullptr && *v != '\0') add(v);
  for (const char* s : sonames) add(s);
  if (toolkit_dirs) {
    std::vector<std::string> dirs;
    if (const char* home = std::getenv("CUDA_HOME"); home != nullptr && *home != '\0') {
      dirs.push_back(std::string(home) + "/lib64");
    }
    dirs.push_back("/usr/local/cuda/lib64");
    for (const std::string& d : dirs) {
      for (const char* s : sonames) add(d + "/" + s);
    }
  }
  return out;
}

const char* DlError() {
  const char* e = dlerror();
  return e != nullptr ? e : "unknown dlopen error";
}

// Looks up one symbol into `*fn`; a missing one is appended to `missing`.
template <typename Fn>
void Lookup(void* lib, const char* name, Fn* fn, std::string* missing) {
  *fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (*fn == nullptr) *missing += StrCat(missing->empty() ? "" : ", ", name);
}

// Resolves every entry point of one table from an open library; the
// message lists the missing names.
Status Resolve(void* lib, DriverApi* api) {
  std::string missing;
#define SINTER_LOOKUP(name) Lookup(lib, SINTER_XSTR(name), &api->name, &missing);
  SINTER_CU_SYMBOLS(SINTER_LOOKUP)
  return missing.empty() ? Status::Ok() : Unavailable("lacks " + missing);
}
Status Resolve(void* lib, CublasLtApi* api) {
  std::string missing;
  SINTER_CUBLASLT_SYMBOLS(SINTER_LOOKUP)
  return missing.empty() ? Status::Ok() : Unavailable("lacks " + missing);
}
Status Resolve(void* lib, CudnnApi* api) {
  std::string missing;
  SINTER_CUDNN_SYMBOLS(SINTER_LOOKUP)
#undef SINTER_LOOKUP
  return missing.empty() ? Status::Ok() : Unavailable("lacks " + missing);
}

// Versions this build's headers can talk to: cuBLASLt 12 or 13 (the
// entry points and enum values sinter uses are the same), cuDNN 9 (the
// backend API changed at 9).
Status CheckVersion(const DriverApi&) { return Status::Ok(); }
Status CheckVersion(const CublasLtApi& api) {
  size_t v = api.cublasLtGetVersion();
  return v >= 120000 ? Status::Ok() : Unavailable(StrCat("is version ", v, ", need 12 or later"));
}
Status CheckVersion(const CudnnApi& api) {
  size_t v = api.cudnnGetVersion();
  return v >= 90000 && v < 100000 ? Status::Ok()
                                  : Unavailable(StrCat("is version ", v, ", need 9.x"));
}

// Opens the first candidate that loads, resolves and has a usable version.
// Every failure is kept as "path: reason" for the message.
template <typename Api>
Status Load(const std::vector<std::string>& candidates, Api* api, std::string* tried) {
  for (const std::string& path : candidates) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      *tried += StrCat(tried->empty() ? "" : "; ", DlError());
      continue;
    }
    Api filled;
    Status st = Resolve(lib, &filled);
    if (st.ok()) st = CheckVersion(filled);
    if (!st.ok()) {
      *tried += StrCat(tried->empty() ? "" : "; ", path, " ", st.message());
      dlclose(lib);
      continue;
    }
    *api = filled;
    return Status::Ok();  // stays open for the process
  }
  return Unavailable("not found");
}

StatusOr<const DriverApi*> LoadDriver() {
  static DriverApi api;
  std::string tried;
  Status st = Load(Candidates("SINTER_CUDA_DRIVER_LIBRARY", {"libcuda.so.1"}, false), &api, &tried);
  if (!st.ok()) {
    return Unavailable(StrCat("CUDA driver not found (", tried,
                              "): this artifact targets CUDA and needs an NVIDIA GPU and driver "
                              "(or set SINTER_CUDA_DRIVER_LIBRARY to libcuda.so.1's path)"));
  }
  if (CUresult r = api.cuInit(0); r != CUDA_SUCCESS) {
    Status e = CuStatus(api, r, "cuInit");
    return Unavailable(StrCat("CUDA driver unusable: ", e.message(),
                              ": this artifact targets CUDA and needs an "
                              "NVIDIA GPU and a working driver"));
  }
  return static_cast<const DriverApi*>(&api);
}

StatusOr<const CublasLtApi*> LoadCublasLt() {
  static CublasLtApi api;
  std::string tried;
  Status st = Load(Candidates("SINTER_CUBLASLT_LIBRARY",
                              {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"}, true),
                   &api, &tried);
  if (!st.ok()) {
    return Unavailable(StrCat("cuBLASLt not found (", tried,
                              "): install the CUDA toolkit's cuBLAS 12 or 13, or set "
                              "SINTER_CUBLASLT_LIBRARY to libcublasLt.so's path"));
  }
  return static_cast<const CublasLtApi*>(&api);
}

StatusOr<const CudnnApi*> LoadCudnn() {
  static CudnnApi api;
  std::string tried;
  Status st = Load(Candidates("SINTER_CUDNN_LIBRARY",
                              {"libcudnn.so.9", "libcudnn_graph.so.9", "libcudnn.so"}, true),
                   &api, &tried);
  if (!st.ok()) {
    return Unavailable(StrCat("cuDNN 9 not found (", tried,
                              "): install cuDNN 9, or set SINTER_CUDNN_LIBRARY to libcudnn.so.9's "
                              "path"));
  }
  return static_cast<const CudnnApi*>(&api);
}

}  // namespace

StatusOr<const DriverApi*> Driver() {
  static const StatusOr<const DriverApi*> loaded = LoadDriver();
  return loaded;
}
StatusOr<const CublasLtApi*> CublasLt() {
  static const StatusOr<const CublasLtApi*> loaded = LoadCublasLt();
  return loaded;
}
StatusOr<const CudnnApi*> Cudnn() {
  static const StatusOr<const CudnnApi*> loaded = LoadCudnn();
  return loaded;
}

Status ResolveDriverSymbols(const std::string& path, DriverApi* api) {
  std::string tried;
  Status st = Load(std::vector<std::string>{path}, api, &tried);
  return st.ok() ? st : Unavailable(tried);
}

Status CuStatus(const DriverApi& api, CUresult r, const char* what) {
  if (r == CUDA_SUCCESS) return Status::Ok();
  // The lookups fail for codes the driver does not know (and always with
  // the toolkit's stub library): the number stands in.
  const char* name = nullptr;
  const char* text = nullptr;
  if (api.cuGetErrorName(r, &name) != CUDA_SUCCESS) name = nullptr;
  if (api.cuGetErrorString(r, &text) != CUDA_SUCCESS) text = nullptr;
  std::string m = StrCat(
      what, ": ", name != nullptr ? std::string(name) : StrCat("CUresult ", static_cast<int>(r)));
  if (text != nullptr) m += StrCat(" (", text, ")");
  return Status(r == CUDA_ERROR_OUT_OF_MEMORY ? SINTER_RESOURCE_EXHAUSTED : SINTER_INTERNAL, m);
}

Status CublasStatus(const CublasLtApi& api, cublasStatus_t r, const char* what) {
  if (r == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  const char* name = api.cublasLtGetStatusName(r);
  const char* text = api.cublasLtGetStatusString(r);
  std::string m = StrCat(
      what, ": ", name != nullptr ? std::string(name) : StrCat("status ", static_cast<int>(r)));
  if (text != nullptr) m += StrCat(" (", text, ")");
  return Status(r == CUBLAS_STATUS_ALLOC_FAILED ? SINTER_RESOURCE_EXHAUSTED : SINTER_INTERNAL, m);
}

Status CudnnStatus(const CudnnApi& api, cudnnStatus_t r, const char* what) {
  if (r == CUDNN_STATUS_SUCCESS) return Status::Ok();
  const char* name = api.cudnnGetErrorString(r);
  std::string m = StrCat(
      what, ": ", name != nullptr ? std::string(name) : StrCat("status ", static_cast<int>(r)));
  // cuDNN 9 keeps a per-thread message saying which check failed, far more
  // useful than the code for the backend API's BAD_PARAM / NOT_SUPPORTED.
  char last[512] = {};
  api.cudnnGetLastErrorString(last, sizeof(last));
  if (last[0] != '\0') m += StrCat(" (", last, ")");
  bool oom = r == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
             r == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
  return Status(oom ? SINTER_RESOURCE_EXHAUSTED : SINTER_INTERNAL, m);
}

}  // namespace sinter::rt::cuda
