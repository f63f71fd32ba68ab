// plugin_segment on the CPU: a piece of the model run by a plugin
// (include/sinter/sinter_plugin.h), today LibTorch's fallback segments. The
// plugin is loaded at model load, when the first such kernel is prepared, and
// the segment created from its payload (operand 0, a constant) then, so a
// model without its plugin fails to load rather than on its first run.
#include "runtime/cpu/plugin_segment.h"

#include "runtime/plugin.h"

namespace sinter::rt {
namespace {

struct SegmentParams : KernelParams {
  const sinter_plugin_api* api = nullptr;
  void* segment = nullptr;
  // Per operand (after the payload) and result: dims and dense strides.
  std::vector<std::vector<int64_t>> dims, strides;
  ~SegmentParams() override {
    if (segment != nullptr) api->segment_destroy(segment);
  }
};

std::vector<int64_t> DenseStrides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

StatusOr<std::unique_ptr<KernelParams>> Prepare(const PrepareContext& c) {
  RT_ASSIGN_OR_RETURN(std::string plugin, c.attrs.Str("plugin"));
  RT_ASSIGN_OR_RETURN(int64_t abi, c.attrs.Int("abi"));
  RT_ASSIGN_OR_RETURN(std::string ops, c.attrs.Str("ops"));
  const TensorDesc& payload = *c.inputs[0];
  if (payload.dtype != SINTER_U8 || payload.dims.size() != 1 ||
      payload.kind != TensorKind::kConstant) {
    return InvalidArgument("operand 0 (the plugin's payload) must be a constant u8[n]");
  }
  if (abi <= 0 || abi > 0xffff) return InvalidArgument(StrCat("bad plugin ABI version ", abi));
  auto p = std::make_unique<SegmentParams>();
  for (size_t i = 1; i < c.inputs.size(); ++i) {
    p->dims.push_back(c.inputs[i]->dims);
    p->strides.push_back(DenseStrides(c.inputs[i]->dims));
  }
  for (const TensorDesc* t : c.outputs) {
    p->dims.push_back(t->dims);
    p->strides.push_back(DenseStrides(t->dims));
  }
  // Verification checks the artifact, not the machine: the plugin is what
  // a load needs, like a GPU for a CUDA model.
  if (c.options == nullptr || c.options->verify_only)
    return std::unique_ptr<KernelParams>(std::move(p));
  auto api = LoadPlugin(plugin, static_cast<uint32_t>(abi), c.options->plugin_path);
  if (!api.ok()) {
    return Status(api.status().code(),
                  StrCat(api.status().message(), "\nThe model needs it to run: ", ops));
  }
  p->api = api.value();
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

int64_t NoScratch(const KernelParams&, int) { return 0; }

void Unreachable(const KernelParams&, const RunContext&) {}

Status Run(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const SegmentParams&>(kp);
  if (p.segment == nullptr)
    return Status(SINTER_FAILED_PRECONDITION, "a verify-only model cannot run");
  const size_t n_in = c.step->inputs.size() - 1, n_out = c.step->outputs.size();
  std::vector<sinter_plugin_tensor> in(n_in), out(n_out);
  auto lend = [&](sinter_plugin_tensor& t, void* data, const TensorDesc& d, size_t k) {
    t = {data, static_cast<int32_t>(d.dtype), static_cast<int32_t>(d.dims.size()), p.dims[k].data(),
         p.strides[k].data()};
  };
  for (size_t i = 0; i < n_in; ++i) lend(in[i], c.in[i + 1], c.input(i + 1), i);
  for (size_t o = 0; o < n_out; ++o) lend(out[o], c.out[o], c.output(o), n_in + o);
  char error[1024] = "";
  const int threads = c.par != nullptr ? c.par->num_threads() : 1;
  if (p.api->segment_run(p.segment, in.data(), n_in, out.data(), n_out, threads, error,
                         sizeof error) != 0) {
    error[sizeof error - 1] = '\0';
    return Status(SINTER_INTERNAL, StrCat("the plugin failed: ", error));
  }
  return Status::Ok();
}

}  // namespace

const OpDef kPluginSegmentOp = {"plugin_segment", &Prepare, &NoScratch, &Unreachable, &Run};

}  // namespace sinter::rt
