// Plugins (include/sinter/sinter_plugin.h): shared libraries the runtime
// loads with dlopen only when an artifact needs one, so that the runtime
// links none of what they link (LibTorch for the "torch" plugin).
#ifndef SINTER_RUNTIME_PLUGIN_H_
#define SINTER_RUNTIME_PLUGIN_H_

#include <cstddef>
#include <string>

#include "runtime/status.h"
#include "sinter/sinter_plugin.h"

namespace sinter::rt {

// The plugin `name` at ABI version `abi`, loaded once per process and kept
// (a library such as LibTorch cannot be unloaded safely). Searched for as
// `libsinter_plugin_<name>.so` in `explicit_path` (a file or a directory;
// empty: none), then each entry of $SINTER_PLUGIN_PATH, then the directory
// of libsinter_runtime.so. SINTER_UNAVAILABLE naming every place looked at
// when it is found nowhere; SINTER_VERSION_MISMATCH when it does not
// implement `abi`.
StatusOr<const sinter_plugin_api*> LoadPlugin(const std::string& name, uint32_t abi,
                                              const std::string& explicit_path);

// Does `api` run segments with data-dependent result sizes (its table
// reaches segment_run_alloc, added within ABI version 1)?
inline bool RunsDataDependent(const sinter_plugin_api* api) {
  return api->struct_size >=
             offsetof(sinter_plugin_api, segment_run_alloc) + sizeof(api->segment_run_alloc) &&
         api->segment_run_alloc != nullptr;
}

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_PLUGIN_H_
