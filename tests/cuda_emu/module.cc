// Compiling CUDA C++ source text into a loaded host module (module.h): a
// temporary directory, one compiler run with its output captured, dlopen.
#include "tests/cuda_emu/module.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

extern char** environ;

namespace sinter::cuda_emu {
namespace {

namespace fs = std::filesystem;

}  // namespace

int RunProcess(const std::vector<std::string>& argv, const std::string& out_log,
               const std::string& err_log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  if (err_log.empty()) {
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  } else {
    posix_spawn_file_actions_addopen(&actions, 2, err_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
  }
  pid_t pid;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const char* EmulationIncludeDir() { return SINTER_CUDA_EMU_INCLUDE_DIR; }

const std::vector<std::string>& KernelFlags() {
  static const std::vector<std::string> flags = {
      // CUDA code type-puns through float4/uint4 pointers; NVCC does not
      // exploit strict aliasing there, so the host compiler must not either.
      "-fno-strict-aliasing", "-fno-math-errno",
      // No FMA contraction: results do not depend on the host's ISA.
      "-ffp-contract=off",
      // Every load and store calls __asan_{load,store}N_noabort (defined in
      // sinter_cuda_emu.h), with no shadow memory and no stack or global
      // instrumentation.
      "-fsanitize=kernel-address", "-fsanitize-recover=kernel-address",
      "--param=asan-instrumentation-with-call-threshold=0", "--param=asan-stack=0",
      "--param=asan-globals=0", "-fno-sanitize-address-use-after-scope",
      // Typed accesses below their alignment call the UBSan hook.
      "-fsanitize=alignment", "-fsanitize-recover=alignment"};
  return flags;
}

std::string RewriteExternShared(const std::string& source) {
  static const std::regex decl(
      R"(extern\s+__shared__\s+([^;{}]*?)\s*\b([A-Za-z_]\w*)\s*\[\s*\]\s*;)");
  return std::regex_replace(source, decl, "SINTER_EMU_EXTERN_SHARED($1, $2);");
}

Module::~Module() {
  if (handle_) dlclose(handle_);
}

void* Module::Symbol(const std::string& name) const { return dlsym(handle_, name.c_str()); }

std::unique_ptr<Module> CompileModule(const std::string& source, const CompileOptions& options,
                                      std::string* error) {
  error->clear();
  std::string tmpl = (fs::temp_directory_path() / "sinter_cuda_emu_XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    *error = "cannot create a temporary directory: " + std::string(strerror(errno));
    return nullptr;
  }
  const fs::path dir = tmpl;
  const std::string src = (dir / "module.cu").string(), so = (dir / "module.so").string();
  const std::string log = (dir / "compile.log").string();
  {
    std::ofstream out(src, std::ios::binary);
    out << RewriteExternShared(source);
    if (!out) {
      *error = "cannot write " + src;
      return nullptr;
    }
  }
  std::string compiler = options.compiler;
  if (compiler.empty()) {
    const char* env = std::getenv("SINTER_EMU_CXX");
    compiler = env && *env ? env : "g++";
  }
  // One translation unit: the emulation header first, the shims first on
  // the include path. -Bsymbolic binds the module's sanitizer hooks to its
  // own definitions even where the real ASan/UBSan runtimes are loaded.
  std::vector<std::string> argv = {compiler, "-std=c++17", options.optimization,
                                   "-fPIC",  "-shared",    "-w"};
  for (const std::string& f : KernelFlags()) argv.push_back(f);
  argv.push_back(std::string("-I") + EmulationIncludeDir());
  for (const std::string& d : options.include_dirs) argv.push_back("-I" + d);
  argv.insert(argv.end(), {"-include", "sinter_cuda_emu.h"});
  for (const std::string& f : options.flags) argv.push_back(f);
  argv.insert(argv.end(), {"-x", "c++", src, "-x", "none", "-Wl,-Bsymbolic", "-o", so});
  const int rc = RunProcess(argv, log, "");
  auto cleanup = [&] {
    if (!options.keep_files) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  };
  if (rc != 0) {
    std::string cmd;
    for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    *error = rc < 0 ? "cannot run the compiler '" + compiler + "'"
                    : "compiling the module failed (exit status " + std::to_string(rc) + ")";
    *error += "\ncommand: " + cmd + "\n" + ReadWholeFile(log);
    cleanup();
    return nullptr;
  }
  void* handle = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    *error = std::string("loading the compiled module failed: ") + dlerror();
    cleanup();
    return nullptr;
  }
  std::unique_ptr<Module> m(new Module);
  m->handle_ = handle;
  m->source_path_ = src;
  cleanup();  // the loaded object stays mapped
  return m;
}

}  // namespace sinter::cuda_emu
