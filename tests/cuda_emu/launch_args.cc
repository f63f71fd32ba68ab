// Kernels launched by an argument array (launch_args.h): the entry points'
// source, the preprocessor pass that names a source's kernels, and the
// lookup of a compiled module's entry points.
#include "tests/cuda_emu/launch_args.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace sinter::cuda_emu {
namespace {

namespace fs = std::filesystem;

// The template behind every entry point. CallArgs reads the launcher's
// argument array uninstrumented (host memory) and calls the kernel through
// a volatile pointer, so the instrumented kernel is never inlined into it.
constexpr const char kEntryTemplate[] = R"(
// ---- Argument-array entry points (tests/cuda_emu/launch_args.h) ----
namespace sinter_emu_args {
template <class T>
struct IsPointer {
  static constexpr unsigned long long value = 0;
};
template <class T>
struct IsPointer<T*> {
  static constexpr unsigned long long value = 1;
};
template <class... P>
struct Params {
  static constexpr unsigned long long value[1 + 3 * sizeof...(P)] = {
      sizeof...(P), sizeof(P)..., alignof(P)..., IsPointer<P>::value...};
};
template <class... P>
const unsigned long long* ParamsOf(void (*)(P...)) {
  return Params<P...>::value;
}
template <unsigned long long... I>
struct Seq {};
template <unsigned long long N, unsigned long long... I>
struct MakeSeq : MakeSeq<N - 1, N - 1, I...> {};
template <unsigned long long... I>
struct MakeSeq<0, I...> {
  using type = Seq<I...>;
};
template <class... P, unsigned long long... I>
__attribute__((no_sanitize_address, no_sanitize("alignment"), noipa)) void CallArgs(
    void (*kernel)(P...), void* const* args, Seq<I...>) {
  void (*volatile call)(P...) = kernel;
  call(*static_cast<const P*>(args[I])...);
}
template <class... P>
void Call(void (*kernel)(P...), void* args) {
  CallArgs(kernel, static_cast<void* const*>(args), typename MakeSeq<sizeof...(P)>::type());
}
}  // namespace sinter_emu_args
)";

struct LookupModule {
  static void* Symbol(void* module, const char* name) {
    return static_cast<const Module*>(module)->Symbol(name);
  }
};

}  // namespace

std::string ArgumentArrayEntryPoints(const std::vector<KernelDecl>& kernels) {
  std::string s = kEntryTemplate;
  for (const KernelDecl& k : kernels) {
    const std::string& n = k.name;
    s += "extern \"C\" void " + std::string(kArgsEntryPrefix) + n +
         "(void* args) { sinter_emu_args::Call(&" + n + ", args); }\n";
    s += "extern \"C\" const unsigned long long* " + std::string(kParamsEntryPrefix) + n +
         "(void) { return sinter_emu_args::ParamsOf(&" + n + "); }\n";
    s += "extern \"C\" unsigned " + std::string(kBoundsEntryPrefix) + n + "(void) { return " +
         std::to_string(k.max_threads) + "u; }\n";
  }
  return s;
}

bool ListKernels(const std::string& source, const CompileOptions& options,
                 std::vector<KernelDecl>* kernels, std::string* error) {
  kernels->clear();
  error->clear();
  std::string tmpl = (fs::temp_directory_path() / "sinter_cuda_emu_pp_XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    *error = "cannot create a temporary directory: " + std::string(strerror(errno));
    return false;
  }
  const fs::path dir = tmpl;
  const std::string src = (dir / "module.cu").string(), out = (dir / "module.ii").string();
  {
    std::ofstream f(src, std::ios::binary);
    f << source;
  }
  std::string compiler = options.compiler;
  if (compiler.empty()) {
    const char* env = std::getenv("SINTER_EMU_CXX");
    compiler = env && *env ? env : "g++";
  }
  // Without the emulation header: __global__ and __launch_bounds__ stay
  // tokens to find (the shims define __device__ and __host__ only).
  std::vector<std::string> argv = {compiler, "-E", "-P", "-w", "-std=c++17"};
  argv.push_back(std::string("-I") + EmulationIncludeDir());
  for (const std::string& d : options.include_dirs) argv.push_back("-I" + d);
  for (const std::string& f : options.flags) argv.push_back(f);
  argv.insert(argv.end(), {"-x", "c++", src});
  const int rc = RunProcess(argv, out, out + ".err");
  if (rc != 0) {
    *error = "preprocessing the module failed (exit status " + std::to_string(rc) + ")\n" +
             ReadWholeFile(out + ".err");
  } else {
    const std::string text = ReadWholeFile(out);
    static const std::regex kernel(
        R"(extern\s+"C"\s+__global__\s+(?:__launch_bounds__\s*\(\s*(\d+)[^)]*\)\s*)?void\s+)"
        R"((?:__launch_bounds__\s*\(\s*(\d+)[^)]*\)\s*)?([A-Za-z_]\w*)\s*\()");
    std::set<std::string> seen;
    for (std::sregex_iterator it(text.begin(), text.end(), kernel), end; it != end; ++it) {
      KernelDecl k;
      k.name = (*it)[3];
      const std::string bound = (*it)[1].matched ? (*it)[1] : (*it)[2];
      if (!bound.empty()) k.max_threads = static_cast<unsigned>(std::stoul(bound));
      if (seen.insert(k.name).second) kernels->push_back(k);
    }
  }
  if (!options.keep_files) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  return rc == 0;
}

std::unique_ptr<Module> CompileModuleWithArgumentArrays(const std::string& source,
                                                        const CompileOptions& options,
                                                        std::vector<KernelDecl>* kernels,
                                                        std::string* error) {
  std::vector<KernelDecl> found;
  if (!ListKernels(source, options, &found, error)) return nullptr;
  if (kernels != nullptr) *kernels = found;
  return CompileModule(source + "\n" + ArgumentArrayEntryPoints(found), options, error);
}

size_t ArgumentArrayKernel::PackedSize() const {
  size_t at = 0;
  for (const ParamInfo& p : params) at = (at + p.align - 1) / p.align * p.align + p.size;
  return at;
}

bool FindArgumentArrayKernel(SymbolLookup lookup, void* context, const std::string& name,
                             ArgumentArrayKernel* out) {
  void* entry = lookup(context, (kArgsEntryPrefix + name).c_str());
  void* params = lookup(context, (kParamsEntryPrefix + name).c_str());
  if (entry == nullptr || params == nullptr) return false;
  const unsigned long long* p = reinterpret_cast<const unsigned long long* (*)(void)>(params)();
  const size_t n = static_cast<size_t>(p[0]);
  ArgumentArrayKernel k;
  k.name = name;
  k.entry = reinterpret_cast<void (*)(void*)>(entry);
  if (void* bounds = lookup(context, (kBoundsEntryPrefix + name).c_str()))
    k.max_threads = reinterpret_cast<unsigned (*)(void)>(bounds)();
  for (size_t i = 0; i < n; ++i) {
    k.params.push_back(ParamInfo{static_cast<size_t>(p[1 + i]), static_cast<size_t>(p[1 + n + i]),
                                 p[1 + 2 * n + i] != 0});
  }
  *out = std::move(k);
  return true;
}

bool FindArgumentArrayKernel(const Module& module, const std::string& name,
                             ArgumentArrayKernel* out) {
  return FindArgumentArrayKernel(&LookupModule::Symbol, const_cast<Module*>(&module), name, out);
}

LaunchReport LaunchArgumentArray(const LaunchOptions& options, const ArgumentArrayKernel& kernel,
                                 dim3 grid, dim3 block, size_t dynamic_shared_bytes,
                                 void* const* args) {
  LaunchOptions o = options;
  if (o.name.empty()) o.name = kernel.name;
  return LaunchBody(o, grid, block, dynamic_shared_bytes, kernel.entry, const_cast<void**>(args));
}

}  // namespace sinter::cuda_emu
