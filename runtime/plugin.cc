#include "runtime/plugin.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdlib>
#include <utility>
#include <vector>

namespace sinter::rt {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The directory of the library (or executable) this code is linked into.
std::string OwnDirectory() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&OwnDirectory), &info) == 0 || info.dli_fname == nullptr)
    return "";
  std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Where to look, in order: each entry a file, or a directory to which the
// plugin's file name is appended.
std::vector<std::string> Candidates(const std::string& file, const std::string& explicit_path) {
  std::vector<std::string> out;
  auto add = [&](const std::string& entry) {
    if (entry.empty()) return;
    out.push_back(IsDirectory(entry) ? entry + "/" + file : entry);
  };
  add(explicit_path);
  if (const char* env = std::getenv("SINTER_PLUGIN_PATH"); env != nullptr) {
    std::string list = env;
    size_t start = 0;
    while (start <= list.size()) {
      const size_t colon = list.find(':', start);
      add(list.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  if (std::string own = OwnDirectory(); !own.empty()) out.push_back(own + "/" + file);
  return out;
}

}  // namespace

StatusOr<const sinter_plugin_api*> LoadPlugin(const std::string& name, uint32_t abi,
                                              const std::string& explicit_path) {
  // No cache of our own: dlopen of a library already loaded returns it again
  // (thread-safe, no second initialisation), and a plugin is never unloaded
  // (a library such as LibTorch registers things that do not survive it).
  // (Model verification has refused names that are not plain identifiers.)
  const std::string file = StrCat("libsinter_plugin_", name, ".so");
  std::string looked;
  for (const std::string& path : Candidates(file, explicit_path)) {
    // A path that does not name the plugin's file (a directory given
    // without it, or another library) is still tried: the user named it.
    if (!IsFile(path)) {
      looked += StrCat("\n  ", path, " (no such file)");
      continue;
    }
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* e = dlerror();
      looked += StrCat("\n  ", path, " (", e ? e : "dlopen failed", ")");
      continue;
    }
    auto get = reinterpret_cast<sinter_plugin_get_api_fn>(dlsym(lib, SINTER_PLUGIN_ENTRY));
    if (get == nullptr) {
      return Status(SINTER_UNAVAILABLE, StrCat("'", path, "' is not a sinter plugin (no ",
                                               SINTER_PLUGIN_ENTRY, " symbol)"));
    }
    const sinter_plugin_api* api = get(abi);
    if (api == nullptr || api->abi_version != abi ||
        api->struct_size < offsetof(sinter_plugin_api, segment_run_alloc) || api->name == nullptr ||
        name != api->name) {
      return Status(SINTER_VERSION_MISMATCH,
                    StrCat("plugin '", path, "' does not implement sinter plugin ABI version ",
                           static_cast<long long>(abi), " for '", name, "'"));
    }
    return api;
  }
  return Status(SINTER_UNAVAILABLE,
                StrCat("the '", name, "' plugin (", file,
                       ") is not installed: looked in sinter_model_options.plugin_path, "
                       "$SINTER_PLUGIN_PATH and the runtime library's directory:",
                       looked.empty() ? std::string_view("\n  (nowhere to look)")
                                      : std::string_view(looked)));
}

}  // namespace sinter::rt
