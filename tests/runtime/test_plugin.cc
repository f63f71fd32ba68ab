// A plugin for the runtime's plugin tests (plugin_test.cc), written against
// the C ABI alone, as a third party's would be: "testops" has
//   op "test::axpb"(x f32, a float, b int) -> x * a + b,
//   op "test::fail"(x) -> an error from run,
//   segments whose payload is one float s: (x f32) -> (x * s), or where
//   the result's size is the run's, (x f32) -> (x[x > 0] * s),
// and is built twice: for ABI version 1 and, as a library of the same name
// in another directory, for version 2 only (TEST_PLUGIN_ABI).
#include <cstdio>
#include <cstring>

#include "sinter/sinter.h"
#include "sinter/sinter_plugin.h"

#ifndef TEST_PLUGIN_ABI
#define TEST_PLUGIN_ABI SINTER_PLUGIN_ABI_VERSION
#endif

namespace {

int Fail(char* error, size_t size, const char* what) {
  if (size > 0) std::snprintf(error, size, "%s", what);
  return 1;
}

int64_t Count(const sinter_plugin_tensor& t) {
  int64_t n = 1;
  for (int32_t d = 0; d < t.rank; ++d) n *= t.dims[d];
  return n;
}

int SameAsInput(const sinter_plugin_tensor* in, size_t n_in, const sinter_plugin_attr*, size_t,
                sinter_plugin_type* out, size_t max_out, size_t* n_out, char* error,
                size_t error_size) {
  if (n_in != 1 || max_out < 1 || in[0].dtype != SINTER_F32)
    return Fail(error, error_size, "one f32 tensor");
  out[0].dtype = in[0].dtype;
  out[0].rank = in[0].rank;
  std::memcpy(out[0].dims, in[0].dims, sizeof(int64_t) * in[0].rank);
  *n_out = 1;
  return 0;
}

int Axpb(const sinter_plugin_tensor* in, size_t n_in, const sinter_plugin_attr* attrs,
         size_t n_attrs, const sinter_plugin_tensor* out, size_t n_out, int, char* error,
         size_t error_size) {
  if (n_in != 1 || n_out != 1 || n_attrs != 2 || attrs[0].kind != SINTER_PLUGIN_ATTR_FLOAT ||
      attrs[1].kind != SINTER_PLUGIN_ATTR_INT) {
    return Fail(error, error_size, "axpb(x, float a, int b)");
  }
  const float* x = static_cast<const float*>(in[0].data);
  float* y = static_cast<float*>(out[0].data);
  for (int64_t i = 0, n = Count(in[0]); i < n; ++i)
    y[i] = x[i] * static_cast<float>(attrs[0].f) + static_cast<float>(attrs[1].i);
  return 0;
}

int AlwaysFails(const sinter_plugin_tensor*, size_t, const sinter_plugin_attr*, size_t,
                const sinter_plugin_tensor*, size_t, int, char* error, size_t error_size) {
  return Fail(error, error_size, "test::fail was asked to fail");
}

struct Segment {
  float scale;
};

int Create(const void* payload, size_t size, void** out, char* error, size_t error_size) {
  if (size != sizeof(float)) return Fail(error, error_size, "the payload is not one float");
  auto* s = new Segment;
  std::memcpy(&s->scale, payload, sizeof(float));
  *out = s;
  return 0;
}

int RunSegment(void* segment, const sinter_plugin_tensor* in, size_t n_in,
               const sinter_plugin_tensor* out, size_t n_out, int, char* error, size_t error_size) {
  if (n_in != 1 || n_out != 1 || Count(in[0]) != Count(out[0]))
    return Fail(error, error_size, "one input, one result of its size");
  const float s = static_cast<Segment*>(segment)->scale;
  const float* x = static_cast<const float*>(in[0].data);
  float* y = static_cast<float*>(out[0].data);
  for (int64_t i = 0, n = Count(in[0]); i < n; ++i) y[i] = x[i] * s;
  return 0;
}

// Results sized by the run (dims -1): the positive elements of x times s.
// Payloads 98 and 99 misbehave on purpose: 98 never asks for the result's
// memory, 99 asks for a shape of the wrong rank.
int RunSegmentAlloc(void* segment, const sinter_plugin_tensor* in, size_t n_in,
                    const sinter_plugin_tensor* out, size_t n_out, int threads,
                    sinter_plugin_alloc_fn alloc, void* alloc_ctx, char* error, size_t error_size) {
  if (n_in != 1 || n_out != 1) return Fail(error, error_size, "one input, one result");
  if (out[0].data != nullptr)
    return RunSegment(segment, in, n_in, out, n_out, threads, error, error_size);
  const float s = static_cast<Segment*>(segment)->scale;
  if (s == 98) return 0;
  const float* x = static_cast<const float*>(in[0].data);
  int64_t kept = 0;
  for (int64_t i = 0, n = Count(in[0]); i < n; ++i) kept += x[i] > 0;
  const int64_t dims[2] = {kept, 1};
  float* y = static_cast<float*>(alloc(alloc_ctx, 0, dims, s == 99 ? 2 : 1));
  if (y == nullptr) return Fail(error, error_size, "no memory for the result");
  for (int64_t i = 0, n = Count(in[0]); i < n; ++i)
    if (x[i] > 0) *y++ = x[i] * s;
  return 0;
}

void Destroy(void* segment) { delete static_cast<Segment*>(segment); }

const sinter_plugin_op kOps[] = {{"test::axpb", &SameAsInput, &Axpb},
                                 {"test::fail", &SameAsInput, &AlwaysFails}};

const sinter_plugin_api kApi = {
    TEST_PLUGIN_ABI, sizeof(sinter_plugin_api), "testops", &Create, &RunSegment, &Destroy, kOps, 2,
    &RunSegmentAlloc};

}  // namespace

extern "C" __attribute__((visibility("default"))) const sinter_plugin_api* sinter_plugin_get_api(
    uint32_t abi_version) {
  return abi_version == TEST_PLUGIN_ABI ? &kApi : nullptr;
}
