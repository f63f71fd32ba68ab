// The sinter side of the example: the plugin `myops` implements the op
// "myops::scaled_gelu" through the C ABI of include/sinter/sinter_plugin.h,
// with no LibTorch: `sinterc --plugin libsinter_plugin_myops.so` compiles the
// model's calls into kernels that call `Run`.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "sinter/sinter.h"
#include "sinter/sinter_plugin.h"

namespace {

void SetError(char* error, size_t size, const char* what) {
  if (size > 0) std::snprintf(error, size, "%s", what);
}

// f32 of any shape and one float argument; the result has the input's type.
int Infer(const sinter_plugin_tensor* inputs, size_t num_inputs, const sinter_plugin_attr* attrs,
          size_t num_attrs, sinter_plugin_type* results, size_t max_results, size_t* num_results,
          char* error, size_t error_size) {
  if (num_inputs != 1 || num_attrs != 1 || attrs[0].kind != SINTER_PLUGIN_ATTR_FLOAT) {
    SetError(error, error_size, "scaled_gelu takes one tensor and one float");
    return 1;
  }
  if (inputs[0].dtype != SINTER_F32 || inputs[0].rank > SINTER_PLUGIN_MAX_RANK || max_results < 1) {
    SetError(error, error_size, "scaled_gelu takes an f32 tensor of rank 8 at most");
    return 1;
  }
  results[0].dtype = SINTER_F32;
  results[0].rank = inputs[0].rank;
  std::memcpy(results[0].dims, inputs[0].dims, sizeof(int64_t) * inputs[0].rank);
  *num_results = 1;
  return 0;
}

int Run(const sinter_plugin_tensor* inputs, size_t num_inputs, const sinter_plugin_attr* attrs,
        size_t num_attrs, const sinter_plugin_tensor* outputs, size_t num_outputs, int num_threads,
        char* error, size_t error_size) {
  if (num_inputs != 1 || num_outputs != 1 || num_attrs != 1) {
    SetError(error, error_size, "scaled_gelu: bad call");
    return 1;
  }
  int64_t n = 1;
  for (int32_t d = 0; d < inputs[0].rank; ++d) n *= inputs[0].dims[d];
  const float* x = static_cast<const float*>(inputs[0].data);
  float* y = static_cast<float*>(outputs[0].data);
  const float scale = static_cast<float>(attrs[0].f);
  for (int64_t i = 0; i < n; ++i)
    y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f)) * scale;
  return 0;
}

const sinter_plugin_op kOps[] = {{"myops::scaled_gelu", &Infer, &Run}};

const sinter_plugin_api kApi = {SINTER_PLUGIN_ABI_VERSION,
                                sizeof(sinter_plugin_api),
                                "myops",
                                /*segment_create=*/nullptr,
                                /*segment_run=*/nullptr,
                                /*segment_destroy=*/nullptr,
                                kOps,
                                1};

}  // namespace

extern "C" __attribute__((visibility("default"))) const sinter_plugin_api* sinter_plugin_get_api(
    uint32_t abi_version) {
  return abi_version == SINTER_PLUGIN_ABI_VERSION ? &kApi : nullptr;
}
