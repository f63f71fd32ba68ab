// The CPU kernels that call plugins (include/sinter/sinter_plugin.h):
// plugin_segment, a piece of the model a plugin runs (today LibTorch's
// fallback segments), and plugin_op, a custom op a plugin implements. The
// plugin is loaded at model load, when the first such kernel is prepared
// (and a segment created from its payload, operand 0, then), so a model
// without its plugin fails to load rather than on its first run.
#include "runtime/cpu/plugin_segment.h"

#include "runtime/plugin.h"

namespace sinter::rt {
namespace {

// The shapes of the tensors a kernel lends its plugin (the ABI passes
// pointers to dims and strides, so they live as long as the kernel): per
// input, then per result, dense row-major.
struct Lent {
  std::vector<std::vector<int64_t>> dims, strides;

  void Add(const TensorDesc& t) {
    dims.push_back(t.dims);
    std::vector<int64_t> s(t.dims.size(), 1);
    for (size_t i = t.dims.size(); i-- > 1;) s[i - 1] = s[i] * t.dims[i];
    // A result sized by the run (dims -1) has no strides until it is: 0s.
    if (t.kind == TensorKind::kDynamic) s.assign(t.dims.size(), 0);
    strides.push_back(std::move(s));
  }
  // The tensors of one run: inputs `first` onwards (the payload before them
  // is not lent), then the results.
  void Lend(const RunContext& c, size_t first, std::vector<sinter_plugin_tensor>* in,
            std::vector<sinter_plugin_tensor>* out) const {
    size_t k = 0;
    auto lend = [&](void* data, const TensorDesc& d) {
      sinter_plugin_tensor t{data, static_cast<int32_t>(d.dtype),
                             static_cast<int32_t>(d.dims.size()), dims[k].data(),
                             strides[k].data()};
      ++k;
      return t;
    };
    for (size_t i = first; i < c.step->inputs.size(); ++i)
      in->push_back(lend(c.in[i], c.input(static_cast<int>(i))));
    for (size_t o = 0; o < c.step->outputs.size(); ++o)
      out->push_back(lend(c.out[o], c.output(static_cast<int>(o))));
  }
};

// The plugin a kernel names, loaded; null for a verify-only load, which
// checks the artifact, not the machine (the plugin is what a load needs,
// like a GPU for a CUDA model). `needed_by` says what in the model needs it.
StatusOr<const sinter_plugin_api*> KernelPlugin(const PrepareContext& c, const std::string& plugin,
                                                int64_t abi, const std::string& needed_by) {
  if (abi <= 0 || abi > 0xffff) return InvalidArgument(StrCat("bad plugin ABI version ", abi));
  if (c.options == nullptr || c.options->verify_only)
    return static_cast<const sinter_plugin_api*>(nullptr);
  auto api = LoadPlugin(plugin, static_cast<uint32_t>(abi), c.options->plugin_path);
  if (!api.ok()) {
    return Status(api.status().code(),
                  StrCat(api.status().message(), "\nThe model needs it to run: ", needed_by));
  }
  return api;
}

int64_t NoScratch(const KernelParams&, int) { return 0; }

void Unreachable(const KernelParams&, const RunContext&) {}

// ---- plugin_segment ----

struct SegmentParams : KernelParams {
  const sinter_plugin_api* api = nullptr;
  void* segment = nullptr;
  Lent lent;
  bool dynamic = false;  // a result's size is the run's (segment_run_alloc)
  ~SegmentParams() override {
    if (segment != nullptr) api->segment_destroy(segment);
  }
};

StatusOr<std::unique_ptr<KernelParams>> PrepareSegment(const PrepareContext& c) {
  RT_ASSIGN_OR_RETURN(std::string plugin, c.attrs.Str("plugin"));
  RT_ASSIGN_OR_RETURN(int64_t abi, c.attrs.Int("abi"));
  RT_ASSIGN_OR_RETURN(std::string ops, c.attrs.Str("ops"));
  const TensorDesc& payload = *c.inputs[0];
  if (payload.dtype != SINTER_U8 || payload.dims.size() != 1 ||
      payload.kind != TensorKind::kConstant) {
    return InvalidArgument("operand 0 (the plugin's payload) must be a constant u8[n]");
  }
  auto p = std::make_unique<SegmentParams>();
  for (size_t i = 1; i < c.inputs.size(); ++i) p->lent.Add(*c.inputs[i]);
  for (const TensorDesc* t : c.outputs) p->lent.Add(*t);
  for (const TensorDesc* t : c.outputs) p->dynamic |= t->kind == TensorKind::kDynamic;
  RT_ASSIGN_OR_RETURN(p->api, KernelPlugin(c, plugin, abi, ops));
  if (p->api == nullptr) return std::unique_ptr<KernelParams>(std::move(p));
  if (p->dynamic && !RunsDataDependent(p->api)) {
    return Status(SINTER_UNIMPLEMENTED, StrCat("the '", plugin,
                                               "' plugin cannot run segments whose results have a "
                                               "data-dependent size (",
                                               ops, ")"));
  }
  if (p->api->segment_create == nullptr || p->api->segment_run == nullptr ||
      p->api->segment_destroy == nullptr) {
    return Status(SINTER_UNIMPLEMENTED,
                  StrCat("the '", plugin, "' plugin runs no segments (", ops, ")"));
  }
  char error[1024] = "";
  if (p->api->segment_create(payload.constant, payload.byte_size, &p->segment, error,
                             sizeof error) != 0) {
    p->segment = nullptr;
    error[sizeof error - 1] = '\0';
    return Status(SINTER_INVALID_ARGUMENT,
                  StrCat("the '", plugin, "' plugin cannot load its segment (", ops, "): ", error));
  }
  return std::unique_ptr<KernelParams>(std::move(p));
}

Status RunSegment(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const SegmentParams&>(kp);
  if (p.segment == nullptr)
    return Status(SINTER_FAILED_PRECONDITION, "a verify-only model cannot run");
  std::vector<sinter_plugin_tensor> in, out;
  p.lent.Lend(c, 1, &in, &out);
  char error[1024] = "";
  const int threads = c.par != nullptr ? c.par->num_threads() : 1;
  if (!p.dynamic) {
    if (p.api->segment_run(p.segment, in.data(), in.size(), out.data(), out.size(), threads, error,
                           sizeof error) != 0) {
      error[sizeof error - 1] = '\0';
      return Status(SINTER_INTERNAL, StrCat("the plugin failed: ", error));
    }
    return Status::Ok();
  }
  // Results sized by the run: the plugin asks for their memory, which the
  // session keeps as the model's outputs.
  struct Alloc {
    const RunContext* c;
    Status status;
    std::vector<char> sized;  // per result, this run
  } alloc{&c, Status::Ok(), std::vector<char>(c.step->outputs.size(), 0)};
  auto resize = [](void* ctx, size_t o, const int64_t* dims, int32_t rank) -> void* {
    auto* a = static_cast<Alloc*>(ctx);
    if (!a->status.ok()) return nullptr;
    if (o >= a->c->step->outputs.size() || rank < 0 || a->c->dynamic == nullptr ||
        a->c->output(static_cast<int>(o)).kind != TensorKind::kDynamic) {
      a->status = InvalidArgument(StrCat("the plugin asked for memory for result ", o,
                                         ", which is not one of a data-dependent size"));
      return nullptr;
    }
    auto got = a->c->dynamic->Resize(a->c->step->outputs[o], a->c->output(static_cast<int>(o)),
                                     dims, static_cast<size_t>(rank));
    if (!got.ok()) {
      a->status = got.status();
      return nullptr;
    }
    a->sized[o] = 1;
    return got.value();
  };
  for (sinter_plugin_tensor& t : out) {
    for (int32_t d = 0; d < t.rank; ++d)
      if (t.dims[d] < 0) t.data = nullptr;
  }
  const int rc = p.api->segment_run_alloc(p.segment, in.data(), in.size(), out.data(), out.size(),
                                          threads, resize, &alloc, error, sizeof error);
  if (!alloc.status.ok()) return alloc.status;
  if (rc != 0) {
    error[sizeof error - 1] = '\0';
    return Status(SINTER_INTERNAL, StrCat("the plugin failed: ", error));
  }
  for (size_t o = 0; o < c.step->outputs.size(); ++o) {
    if (c.output(static_cast<int>(o)).kind == TensorKind::kDynamic && !alloc.sized[o])
      return Status(SINTER_INTERNAL, StrCat("the plugin did not write result ", o));
  }
  return Status::Ok();
}

// ---- plugin_op ----

struct OpParams : KernelParams {
  const sinter_plugin_op* op = nullptr;
  std::vector<sinter_plugin_attr> attrs;
  Lent lent;
};

StatusOr<std::unique_ptr<KernelParams>> PrepareOp(const PrepareContext& c) {
  RT_ASSIGN_OR_RETURN(std::string plugin, c.attrs.Str("plugin"));
  RT_ASSIGN_OR_RETURN(int64_t abi, c.attrs.Int("abi"));
  RT_ASSIGN_OR_RETURN(std::string name, c.attrs.Str("op"));
  RT_ASSIGN_OR_RETURN(std::vector<int64_t> kinds, c.attrs.Ints("arg_kinds"));
  RT_ASSIGN_OR_RETURN(std::vector<int64_t> ints, c.attrs.Ints("int_args"));
  RT_ASSIGN_OR_RETURN(std::vector<double> floats, c.attrs.Floats("float_args"));
  auto p = std::make_unique<OpParams>();
  size_t next_int = 0, next_float = 0;
  for (int64_t k : kinds) {
    sinter_plugin_attr a{static_cast<int32_t>(k), 0, 0};
    if (k == SINTER_PLUGIN_ATTR_FLOAT && next_float < floats.size()) {
      a.f = floats[next_float++];
    } else if ((k == SINTER_PLUGIN_ATTR_INT || k == SINTER_PLUGIN_ATTR_BOOL) &&
               next_int < ints.size()) {
      a.i = ints[next_int++];
    } else {
      return InvalidArgument("arg_kinds does not match int_args and float_args");
    }
    p->attrs.push_back(a);
  }
  for (const TensorDesc* t : c.inputs) p->lent.Add(*t);
  for (const TensorDesc* t : c.outputs) p->lent.Add(*t);
  RT_ASSIGN_OR_RETURN(const sinter_plugin_api* api, KernelPlugin(c, plugin, abi, name));
  if (api == nullptr) return std::unique_ptr<KernelParams>(std::move(p));
  for (size_t i = 0; api->ops != nullptr && i < api->num_ops; ++i) {
    const sinter_plugin_op& op = api->ops[i];
    if (op.name != nullptr && name == op.name && op.run != nullptr) p->op = &op;
  }
  if (p->op == nullptr) {
    return Status(SINTER_UNIMPLEMENTED, StrCat("the '", plugin, "' plugin has no op '", name, "'"));
  }
  return std::unique_ptr<KernelParams>(std::move(p));
}

Status RunOp(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const OpParams&>(kp);
  if (p.op == nullptr) return Status(SINTER_FAILED_PRECONDITION, "a verify-only model cannot run");
  std::vector<sinter_plugin_tensor> in, out;
  p.lent.Lend(c, 0, &in, &out);
  char error[1024] = "";
  const int threads = c.par != nullptr ? c.par->num_threads() : 1;
  if (p.op->run(in.data(), in.size(), p.attrs.data(), p.attrs.size(), out.data(), out.size(),
                threads, error, sizeof error) != 0) {
    error[sizeof error - 1] = '\0';
    return Status(SINTER_INTERNAL, StrCat("the plugin's op '", p.op->name, "' failed: ", error));
  }
  return Status::Ok();
}

}  // namespace

const OpDef kPluginSegmentOp = {"plugin_segment", &PrepareSegment, &NoScratch, &Unreachable,
                                &RunSegment};
const OpDef kPluginOpOp = {"plugin_op", &PrepareOp, &NoScratch, &Unreachable, &RunOp};

}  // namespace sinter::rt
