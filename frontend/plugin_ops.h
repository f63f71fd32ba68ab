// Custom ops from sinter plugins (`sinterc --plugin libsinter_plugin_<name>.so`,
// include/sinter/sinter_plugin.h): a TorchScript call of an op a plugin
// implements ("myops::scaled_gelu") becomes a plugin_op kernel typed by the
// plugin's shape function, run by the plugin at run time without LibTorch.
#ifndef SINTER_FRONTEND_PLUGIN_OPS_H_
#define SINTER_FRONTEND_PLUGIN_OPS_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "frontend/importer.h"
#include "sinter/sinter_plugin.h"

namespace sinter::frontend {

class PluginOps {
 public:
  struct Ref {
    std::string plugin;  // the plugin's name: what the artifact records
    const sinter_plugin_op* op = nullptr;
  };
  // Loads the plugin library at `path` and adds its ops. The file must be
  // named libsinter_plugin_<name>.so, as the runtime looks for it by name.
  absl::Status Load(const std::string& path);
  const Ref* Find(const std::string& kind) const;
  bool empty() const { return ops_.empty(); }

 private:
  std::map<std::string, Ref> ops_;
};

// Lowers `n`, a call of the plugin op `ref`.
absl::Status LowerPluginOp(Importer& im, tj::Node* n, const PluginOps::Ref& ref);

// Loads a LibTorch extension library (what torch.ops.load_library does), so
// that models calling its ops can be deserialised.
absl::Status LoadTorchLibrary(const std::string& path);

}  // namespace sinter::frontend

#endif  // SINTER_FRONTEND_PLUGIN_OPS_H_
