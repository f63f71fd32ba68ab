#include "frontend/plugin_ops.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/status_macros.h"

namespace sinter::frontend {

absl::Status LoadTorchLibrary(const std::string& path) {
  // Global: LibTorch's registrations must see the library's symbols.
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char* e = dlerror();
    return absl::NotFoundError(
        absl::StrCat("cannot load the LibTorch library '", path, "': ", e ? e : "dlopen failed"));
  }
  return absl::OkStatus();
}

absl::Status PluginOps::Load(const std::string& path) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    return absl::NotFoundError(
        absl::StrCat("cannot load the plugin '", path, "': ", e ? e : "dlopen failed"));
  }
  auto get = reinterpret_cast<sinter_plugin_get_api_fn>(dlsym(lib, SINTER_PLUGIN_ENTRY));
  if (get == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is not a sinter plugin (no ", SINTER_PLUGIN_ENTRY, ")"));
  }
  const sinter_plugin_api* api = get(SINTER_PLUGIN_ABI_VERSION);
  if (api == nullptr || api->abi_version != SINTER_PLUGIN_ABI_VERSION ||
      api->struct_size < sizeof(sinter_plugin_api) || api->name == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("the plugin '", path,
                                                      "' does not implement sinter plugin ABI "
                                                      "version ",
                                                      SINTER_PLUGIN_ABI_VERSION));
  }
  const std::string name = api->name;
  if (name.empty() || name.size() > 64 || !std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      })) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the plugin '", path, "' calls itself '", name,
        "': a plugin's name is 1 to 64 letters, digits or '_' (the runtime refuses others)"));
  }
  const std::string want = absl::StrCat("libsinter_plugin_", api->name, ".so");
  if (std::filesystem::path(path).filename() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("the plugin '", path, "' calls itself '", api->name,
                     "': the runtime finds it by its file name, so name the library ", want));
  }
  if (api->num_ops == 0 || api->ops == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("the plugin '", path, "' has no ops"));
  }
  for (size_t i = 0; i < api->num_ops; ++i) {
    const sinter_plugin_op& op = api->ops[i];
    if (op.name == nullptr || op.infer == nullptr || op.run == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("the plugin '", path, "': op ", i, " lacks a name, infer or run"));
    }
    if (!ops_.emplace(op.name, Ref{api->name, &op}).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two plugins implement the op '", op.name, "'"));
    }
  }
  return absl::OkStatus();
}

const PluginOps::Ref* PluginOps::Find(const std::string& kind) const {
  auto it = ops_.find(kind);
  return it == ops_.end() ? nullptr : &it->second;
}

absl::Status LowerPluginOp(Importer& im, tj::Node* n, const PluginOps::Ref& ref) {
  std::vector<ir::Value*> operands;
  std::vector<int64_t> kinds, ints;
  std::vector<double> floats;
  std::vector<sinter_plugin_tensor> inputs;
  std::vector<std::vector<int64_t>> dims;
  std::vector<sinter_plugin_attr> attrs;
  dims.reserve(n->inputs().size());
  for (size_t i = 0; i < n->inputs().size(); ++i) {
    const Val& v = im.In(n, i);
    switch (v.kind) {
      case Val::Kind::kTensor: {
        const ir::TensorType& t = v.tensor->type();
        operands.push_back(v.tensor);
        dims.push_back(t.shape.extents());
        inputs.push_back({nullptr, static_cast<int32_t>(t.dtype),
                          static_cast<int32_t>(dims.back().size()), dims.back().data(), nullptr});
        continue;
      }
      case Val::Kind::kInt:
      case Val::Kind::kBool:
        kinds.push_back(v.is(Val::Kind::kInt) ? SINTER_PLUGIN_ATTR_INT : SINTER_PLUGIN_ATTR_BOOL);
        ints.push_back(v.i);
        attrs.push_back({static_cast<int32_t>(kinds.back()), v.i, 0});
        continue;
      case Val::Kind::kFloat:
        kinds.push_back(SINTER_PLUGIN_ATTR_FLOAT);
        floats.push_back(v.f);
        attrs.push_back({SINTER_PLUGIN_ATTR_FLOAT, 0, v.f});
        continue;
      case Val::Kind::kPoison:
      case Val::Kind::kNone:
      case Val::Kind::kStr:
      case Val::Kind::kDevice:
      case Val::Kind::kList:
      case Val::Kind::kTuple:
      case Val::Kind::kDict:
        break;
    }
    return im.Error(n, absl::StrCat("argument ", i, " of the plugin op is neither a tensor nor a ",
                                    "number known at compile time"));
  }
  sinter_plugin_type results[8];
  size_t num_results = 0;
  char error[1024] = "";
  if (ref.op->infer(inputs.data(), inputs.size(), attrs.data(), attrs.size(), results, 8,
                    &num_results, error, sizeof error) != 0) {
    error[sizeof error - 1] = '\0';
    return im.Error(n, absl::StrCat("the '", ref.plugin, "' plugin's shape function: ", error));
  }
  if (num_results == 0 || num_results > 8 || num_results != n->outputs().size()) {
    return im.Error(n, absl::StrCat("the '", ref.plugin, "' plugin's shape function gives ",
                                    num_results, " results for the op's ", n->outputs().size()));
  }
  std::vector<std::string> dtypes;
  std::vector<int64_t> result_dims;
  for (size_t r = 0; r < num_results; ++r) {
    const sinter_plugin_type& t = results[r];
    if (t.dtype < 0 || t.dtype > static_cast<int32_t>(ir::DType::kBool) || t.rank < 0 ||
        t.rank > SINTER_PLUGIN_MAX_RANK) {
      return im.Error(n, absl::StrCat("the '", ref.plugin,
                                      "' plugin's shape function gives a bad type for result ", r));
    }
    dtypes.emplace_back(ir::DTypeName(static_cast<ir::DType>(t.dtype)));
    result_dims.push_back(t.rank);
    result_dims.insert(result_dims.end(), t.dims, t.dims + t.rank);
  }
  ir::AttributeMap a{{"plugin", ref.plugin},
                     {"abi", int64_t{SINTER_PLUGIN_ABI_VERSION}},
                     {"op", std::string(ref.op->name)},
                     {"arg_kinds", kinds},
                     {"int_args", ints},
                     {"float_args", floats},
                     {"result_dtypes", absl::StrJoin(dtypes, ",")},
                     {"result_dims", result_dims}};
  ASSIGN_OR_RETURN(ir::Operation * op,
                   im.b().Create(ir::OpKind::kPluginOp, operands, std::move(a)));
  for (size_t r = 0; r < num_results; ++r)
    im.Set(n, r, Val::Tensor(op->result(static_cast<int>(r))));
  return absl::OkStatus();
}

}  // namespace sinter::frontend
