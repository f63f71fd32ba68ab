// libFuzzer target: the artifact loader through the C API, as a deployment
// meets a file it does not control. Every input is first checked as
// sinter_model_verify_memory would (without a GPU: CUDA artifacts are checked
// too), then loaded without native code (native code is code, trusted like a
// shared library: see the README's trust model); when it loads, a session is
// made, every input set with a fixed pattern of its declared shape and dtype,
// and the model run. Any error status is a correct answer; a crash, a leak, an
// ASan or UBSan report, a hang or a huge allocation is a finding.
//
// A mutated artifact almost never passes the header and schema CRCs, so the
// harness repairs those two checksums (when the header's ranges are sane)
// before loading, as PNG fuzzers repair chunk CRCs: mutations then reach the
// FlatBuffers verifier and every check behind it. The CRC check itself is
// tested by the damaged-artifact tests (tests/runtime).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "runtime/format/file.h"
#include "sinter/sinter.h"

namespace {

// The largest tensor or arena the harness gives a session: bigger ones are
// legitimate (a real model's arena), but a fuzzer run must stay in memory.
constexpr uint64_t kMaxBytes = uint64_t{64} << 20;

void RepairChecksums(std::vector<uint8_t>* bytes) {
  namespace format = sinter::format;
  if (bytes->size() < sizeof(format::FileHeader)) return;
  format::FileHeader h;
  std::memcpy(&h, bytes->data(), sizeof h);
  if (h.schema_offset <= bytes->size() && h.schema_bytes <= bytes->size() - h.schema_offset) {
    h.schema_crc32 = format::Crc32(bytes->data() + h.schema_offset, h.schema_bytes);
  }
  h.header_crc32 = format::Crc32(&h, offsetof(format::FileHeader, header_crc32));
  std::memcpy(bytes->data(), &h, sizeof h);
}

void RunOnce(sinter_model* model) {
  if (sinter_model_arena_bytes(model) > kMaxBytes) return;
  sinter_session_options so;
  sinter_session_options_init(&so);
  so.num_threads = 1;
  sinter_session* session = nullptr;
  if (sinter_status* st = sinter_session_create(model, &so, &session)) {
    sinter_status_free(st);
    return;
  }
  bool ok = true;
  for (size_t i = 0; ok && i < sinter_model_input_count(model); ++i) {
    sinter_tensor_info info;
    if (sinter_status* st = sinter_model_input_info(model, i, &info)) {
      sinter_status_free(st);
      ok = false;
      break;
    }
    // A dimension the run chooses (a batch, a symbolic extent): the least
    // its range takes, at least 2 so that symbolic kernels see a real run.
    std::vector<int64_t> dims(info.dims, info.dims + info.rank);
    uint64_t bytes = sinter_dtype_size(info.dtype);
    for (size_t d = 0; d < dims.size(); ++d) {
      if (dims[d] == -1) {
        const char* symbol = nullptr;
        int64_t lo = 0, hi = 0;
        if (sinter_status* st = sinter_model_dim_range(model, 0, i, d, &symbol, &lo, &hi)) {
          sinter_status_free(st);
        } else {
          dims[d] = std::min<int64_t>(std::max<int64_t>(lo, 2), hi);
        }
      }
      if (dims[d] < 0 || __builtin_mul_overflow(bytes, static_cast<uint64_t>(dims[d]), &bytes))
        bytes = kMaxBytes + 1;
    }
    if (bytes > kMaxBytes) {
      ok = false;
      break;
    }
    // Small values: in range for an embedding's indices, finite for floats.
    std::vector<uint8_t> data(bytes);
    for (size_t b = 0; b < data.size(); ++b) data[b] = (b % 3 == 0) ? 1 : 0;
    if (sinter_status* st = sinter_session_set_input(session, i, info.dtype, dims.data(),
                                                     dims.size(), data.data(), data.size())) {
      sinter_status_free(st);
      ok = false;
    }
  }
  if (ok) {
    if (sinter_status* st = sinter_session_run(session)) sinter_status_free(st);
  }
  sinter_session_release(session);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  RepairChecksums(&bytes);
  sinter_model_options mo;
  sinter_model_options_init(&mo);
  mo.disable_native_code = 1;
  mo.verify_weights_checksum = 0;
  if (sinter_status* st = sinter_model_verify_memory(bytes.data(), bytes.size(), &mo)) {
    sinter_status_free(st);
  }
  sinter_model* model = nullptr;
  if (sinter_status* st = sinter_model_load_memory(bytes.data(), bytes.size(), &mo, &model)) {
    sinter_status_free(st);
    return 0;
  }
  RunOnce(model);
  sinter_model_release(model);
  return 0;
}
