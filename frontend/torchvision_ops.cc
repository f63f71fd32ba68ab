#include "frontend/torchvision_ops.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sinter::frontend {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Candidates() {
  std::vector<std::string> out;
  // The user's choice is the only one tried: a wrong path is reported, not
  // silently replaced by another torchvision.
  if (const char* env = std::getenv("SINTER_TORCHVISION_LIBRARY"); env != nullptr && *env != '\0')
    return {env};
  std::vector<fs::path> roots = {"/usr/lib/python3/dist-packages"};
  for (const char* base : {"/usr/local/lib", "/usr/lib"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(base, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("python3.", 0) != 0) continue;
      roots.push_back(e.path() / "dist-packages");
      roots.push_back(e.path() / "site-packages");
    }
  }
  for (const fs::path& root : roots) {
    std::error_code ec;
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(root / "torchvision", ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("_C", 0) == 0 && name.size() > 3 && name.substr(name.size() - 3) == ".so")
        found.push_back(e.path().string());
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  out.push_back("libtorchvision.so");
  return out;
}

struct Loaded {
  absl::Status status;
  std::string path;
};

const Loaded& Load() {
  static const Loaded* loaded = [] {
    auto* l = new Loaded;
    std::vector<std::string> tried;
    for (const std::string& path : Candidates()) {
      // RTLD_GLOBAL: its static initialisers register the ops with the
      // LibTorch this process already has loaded; the handle is kept for
      // the life of the process, as the registrations are.
      if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) != nullptr) {
        l->path = path;
        return l;
      }
      const char* why = dlerror();
      tried.push_back(absl::StrCat(path, " (", why ? why : "not loadable", ")"));
    }
    l->status = absl::NotFoundError(absl::StrCat(
        "torchvision's operator library was not found; looked for: ", absl::StrJoin(tried, "; "),
        ". Install torchvision for this LibTorch (Debian: python3-torchvision) or set "
        "SINTER_TORCHVISION_LIBRARY to its _C*.so or libtorchvision.so"));
    return l;
  }();
  return *loaded;
}

}  // namespace

absl::Status LoadTorchvisionOps() { return Load().status; }

std::string TorchvisionOpsPath() { return Load().status.ok() ? Load().path : ""; }

}  // namespace sinter::frontend
