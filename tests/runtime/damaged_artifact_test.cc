// A damaged artifact is an error code and a message, never a crash. Three
// sweeps over a small compiled artifact (every truncation; every byte flip of
// the header and schema; the same flips with the checksums recomputed so the
// structural verifier and the kernels' load-time checks see them), then
// hand-made artifacts, each wrong in one way, built with the FlatBuffers API.
// Run under ASan+UBSan, a bad read anywhere fails the test.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/format/file.h"
#include "runtime/format/sinter_generated.h"
#include "sinter/sinter.h"
#include "tests/runtime/artifact_fixtures.h"

namespace sinter::testing {
namespace {

namespace fb = ::flatbuffers;
namespace fmt = ::sinter::format;

struct Result {
  sinter_status_code code = SINTER_OK;
  std::string message;
  sinter_model* model = nullptr;  // owned by the caller when code is OK
};

Result Load(const std::string& bytes, bool verify_weights = false, bool disable_native = false) {
  Result r;
  sinter_model_options o;
  sinter_model_options_init(&o);
  o.verify_weights_checksum = verify_weights ? 1 : 0;
  o.disable_native_code = disable_native ? 1 : 0;
  sinter_status* s = sinter_model_load_memory(bytes.data(), bytes.size(), &o, &r.model);
  r.code = sinter_status_get_code(s);
  r.message = sinter_status_get_message(s);
  sinter_status_free(s);
  if (r.code != SINTER_OK) {
    EXPECT_EQ(r.model, nullptr) << "out_model not cleared";
  }
  return r;
}

// Runs a model that loaded: inputs filled with a byte pattern, every output
// read back in full (so ASan sees any out-of-bounds plan). Errors are fine;
// crashes are not.
void RunIfSmall(sinter_model* m) {
  if (sinter_model_arena_bytes(m) > (64u << 20)) return;
  for (int threads : {1, 2}) {
    sinter_session* s = nullptr;
    sinter_session_options o;
    sinter_session_options_init(&o);
    o.num_threads = threads;
    sinter_status* st = sinter_session_create(m, &o, &s);
    if (st != nullptr) {
      sinter_status_free(st);
      continue;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < sinter_model_input_count(m); ++i) {
      sinter_tensor_info info;
      st = sinter_model_input_info(m, i, &info);
      if (st != nullptr) {
        sinter_status_free(st);
        ok = false;
        break;
      }
      std::vector<uint8_t> data(info.byte_size);
      for (size_t b = 0; b < data.size(); ++b) data[b] = static_cast<uint8_t>(b * 37 + 11);
      st = sinter_session_set_input(s, i, info.dtype, info.dims, info.rank, data.data(),
                                    data.size());
      ok = st == nullptr;
      sinter_status_free(st);
    }
    if (ok) {
      st = sinter_session_run(s);
      ok = st == nullptr;
      sinter_status_free(st);
    }
    for (size_t i = 0; ok && i < sinter_model_output_count(m); ++i) {
      sinter_tensor_info info;
      st = sinter_model_output_info(m, i, &info);
      EXPECT_EQ(st, nullptr);
      sinter_status_free(st);
      std::vector<uint8_t> out(info.byte_size);
      st = sinter_session_copy_output(s, i, out.data(), out.size());
      EXPECT_EQ(st, nullptr) << sinter_status_get_message(st);
      sinter_status_free(st);
    }
    sinter_session_release(s);
  }
}

const std::string& SmallArtifact() {
  static const std::string bytes = [] {
    ir::Graph g;
    BuildSmallConv(&g);
    return CompileOrDie(g, "O0");
  }();
  return bytes;
}

fmt::FileHeader Header(const std::string& bytes) {
  fmt::FileHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  return h;
}

void RecomputeChecksums(std::string* bytes) {
  fmt::FileHeader h = Header(*bytes);
  if (h.schema_offset <= bytes->size() && h.schema_bytes <= bytes->size() - h.schema_offset) {
    h.schema_crc32 = fmt::Crc32(bytes->data() + h.schema_offset, h.schema_bytes);
  }
  h.header_crc32 = fmt::Crc32(&h, offsetof(fmt::FileHeader, header_crc32));
  std::memcpy(bytes->data(), &h, sizeof h);
}

TEST(DamagedArtifactTest, IntactArtifactLoadsAndRuns) {
  Result r = Load(SmallArtifact(), /*verify_weights=*/true);
  ASSERT_EQ(r.code, SINTER_OK) << r.message;
  RunIfSmall(r.model);
  sinter_model_release(r.model);
  fmt::FileHeader h = Header(SmallArtifact());
  EXPECT_EQ(h.data_offset + h.data_bytes, SmallArtifact().size());
  EXPECT_GT(h.data_bytes, 0u);
}

// (a) Every truncation fails: the header, the schema region and the data
// region all end at or before the end of the file.
TEST(DamagedArtifactTest, EveryTruncationFails) {
  const std::string& full = SmallArtifact();
  for (size_t n = 0; n < full.size(); ++n) {
    Result r = Load(full.substr(0, n));
    EXPECT_NE(r.code, SINTER_OK) << "truncated to " << n << " of " << full.size();
    if (r.code == SINTER_OK) {
      sinter_model_release(r.model);
    } else if (n >= sizeof(fmt::FileHeader)) {
      EXPECT_EQ(r.code, SINTER_DATA_LOSS) << n << ": " << r.message;
      EXPECT_NE(r.message.find("truncated"), std::string::npos) << n << ": " << r.message;
    }
  }
}

// The same through a memory-mapped file, for a sample of lengths.
TEST(DamagedArtifactTest, TruncatedFilesFail) {
  const std::string& full = SmallArtifact();
  const std::string path = ::testing::TempDir() + "/sinter_truncated_" +
                           std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                           ".sinter";
  for (size_t n :
       {size_t{1}, size_t{63}, size_t{64}, size_t{65}, full.size() / 2, full.size() - 1}) {
    {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f.write(full.data(), static_cast<std::streamsize>(n));
    }
    sinter_model* m = nullptr;
    sinter_status* s = sinter_model_load_file(path.c_str(), nullptr, &m);
    EXPECT_EQ(sinter_status_get_code(s), SINTER_DATA_LOSS) << n;
    EXPECT_EQ(m, nullptr);
    sinter_status_free(s);
    sinter_model_release(m);
  }
  std::remove(path.c_str());
}

// (b) Every single-byte flip of the header or the schema region fails; the
// checksums see them all.
TEST(DamagedArtifactTest, EveryHeaderAndSchemaFlipFails) {
  const std::string& full = SmallArtifact();
  fmt::FileHeader h = Header(full);
  const size_t end = h.schema_offset + h.schema_bytes;
  for (uint8_t mask : {uint8_t{0xFF}, uint8_t{0x01}}) {
    for (size_t i = 0; i < end; ++i) {
      std::string bytes = full;
      bytes[i] = static_cast<char>(bytes[i] ^ mask);
      Result r = Load(bytes);
      EXPECT_NE(r.code, SINTER_OK) << "byte " << i << " ^ " << int{mask};
      if (r.code == SINTER_OK) sinter_model_release(r.model);
    }
  }
}

// Weights are not checksummed on every load, but are on request.
TEST(DamagedArtifactTest, WeightFlipsFailWithVerifyWeightsChecksum) {
  const std::string& full = SmallArtifact();
  fmt::FileHeader h = Header(full);
  for (size_t i = h.data_offset; i < full.size(); i += 7) {
    std::string bytes = full;
    bytes[i] = static_cast<char>(bytes[i] ^ 0x10);
    Result r = Load(bytes, /*verify_weights=*/true);
    EXPECT_EQ(r.code, SINTER_DATA_LOSS) << "byte " << i;
    EXPECT_NE(r.message.find("constants checksum"), std::string::npos) << r.message;
    if (r.code == SINTER_OK) sinter_model_release(r.model);
    r = Load(bytes);
    EXPECT_EQ(r.code, SINTER_OK) << r.message;
    sinter_model_release(r.model);
  }
}

// (c) The same flips with the checksums recomputed: the structural verifier
// and the kernels' checks must catch whatever matters. A file that still
// loads must also run without a bad memory access.
// The default pipeline's output: a conv2d with a fused epilogue body (bias,
// relu, residual add) that the runtime decodes and checks at load.
const std::string& FusedArtifact() {
  static const std::string bytes = [] {
    ir::Graph g;
    BuildConvResidual(&g);
    return CompileOrDie(g, "default");
  }();
  return bytes;
}

class FlipsWithValidChecksumsTest : public ::testing::TestWithParam<bool> {};

TEST_P(FlipsWithValidChecksumsTest, NeverCrash) {
  const std::string& full = GetParam() ? FusedArtifact() : SmallArtifact();
  // The fused case exists to damage an epilogue body: without one it would
  // test nothing, so that is a failure, not a skip.
  if (GetParam()) {
    fmt::FileHeader fh = Header(full);
    const fmt::Model* m = fmt::GetModel(full.data() + fh.schema_offset);
    int bodies = 0;
    for (const fmt::Kernel* k : *m->kernels()) bodies += k->bodies() ? k->bodies()->size() : 0;
    ASSERT_GT(bodies, 0) << "the default pipeline fused nothing";
  }
  fmt::FileHeader h = Header(full);
  const size_t end = h.schema_offset + h.schema_bytes;
  int loaded = 0, rejected = 0;
  for (uint8_t mask : {uint8_t{0xFF}, uint8_t{0x01}}) {
    for (size_t i = 0; i < end; ++i) {
      std::string bytes = full;
      bytes[i] = static_cast<char>(bytes[i] ^ mask);
      RecomputeChecksums(&bytes);
      Result r = Load(bytes);
      if (r.code == SINTER_OK) {
        ++loaded;
        RunIfSmall(r.model);
        sinter_model_release(r.model);
      } else {
        ++rejected;
        EXPECT_FALSE(r.message.empty()) << "byte " << i;
        EXPECT_NE(r.code, SINTER_INTERNAL) << "byte " << i << ": " << r.message;
      }
    }
  }
  EXPECT_GT(rejected, 0);
  RecordProperty("loaded", loaded);
  RecordProperty("rejected", rejected);
}

INSTANTIATE_TEST_SUITE_P(DamagedArtifactTest, FlipsWithValidChecksumsTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Fused" : "Small"; });

// ---- Hand-made artifacts ----------------------------------------------------------------

struct AttrSpec {
  std::string name;
  fmt::AttrKind kind = fmt::AttrKind::Int;
  int64_t i = 0;
  double f = 0;
  std::vector<int64_t> ints;
  std::string s;
};
AttrSpec IntAttr(std::string n, int64_t v) { return {std::move(n), fmt::AttrKind::Int, v, 0, {}}; }
AttrSpec IntsAttr(std::string n, std::vector<int64_t> v) {
  return {std::move(n), fmt::AttrKind::Ints, 0, 0, std::move(v)};
}
AttrSpec StrAttr(std::string n, std::string v) {
  return {std::move(n), fmt::AttrKind::Str, 0, 0, {}, std::move(v)};
}

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  fmt::TensorKind kind = fmt::TensorKind::Intermediate;
  int segment = -1;
  uint64_t arena_offset = 0;
  std::optional<uint64_t> byte_size;  // default: product(shape) * 4
  fmt::DType dtype = fmt::DType::F32;
};

TensorSpec T(std::string name, std::vector<int64_t> shape, fmt::TensorKind kind, int segment,
             uint64_t arena_offset) {
  TensorSpec t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.kind = kind;
  t.segment = segment;
  t.arena_offset = arena_offset;
  return t;
}

struct CodeSpec {
  fmt::CodeRole role;
  int module;
  std::string symbol;
};

struct KernelSpec {
  std::string op;
  std::vector<int> inputs, outputs;
  std::vector<AttrSpec> attrs;
  std::vector<CodeSpec> code;
};

struct ModelSpec {
  std::vector<TensorSpec> tensors;
  std::vector<int> inputs, outputs;
  std::vector<KernelSpec> kernels;
  std::vector<fmt::Segment> segments;
  uint64_t arena_bytes = 0;
  std::string data;  // the data region
  std::string target = "cpu";
  bool no_tensor_table = false;
  struct Object {
    std::string format;
    int module;
    int segment;
    uint32_t crc32;
  };
  std::vector<Object> code_objects;
  bool disable_native = false;  // load without native code (its bytes are not an object)
  // A dynamic batch (format::Batch), when set.
  struct Batch {
    std::string symbol = "batch";
    int64_t min = 1, max = 8;
    std::vector<int> input_axes{0}, output_axes{0};
    bool per_sample = true;  // false: a symbolic extent
  };
  std::optional<Batch> batch;
};

// FlatBuffer + a correct header with checksums: only the model is wrong.
std::string Serialize(const ModelSpec& m) {
  fb::FlatBufferBuilder b;
  std::vector<fb::Offset<fmt::Tensor>> tensors;
  for (const TensorSpec& t : m.tensors) {
    uint64_t bytes = 4;
    for (int64_t d : t.shape) bytes *= static_cast<uint64_t>(d);  // wraps; cases set byte_size
    tensors.push_back(fmt::CreateTensor(b, b.CreateString(t.name), t.dtype, b.CreateVector(t.shape),
                                        t.kind, t.segment, t.arena_offset,
                                        t.byte_size.value_or(bytes)));
  }
  std::vector<fb::Offset<fmt::Kernel>> kernels;
  for (const KernelSpec& k : m.kernels) {
    std::vector<fb::Offset<fmt::Attr>> attrs;
    for (const AttrSpec& a : k.attrs) {
      attrs.push_back(fmt::CreateAttr(b, b.CreateString(a.name), a.kind, a.i, a.f,
                                      a.kind == fmt::AttrKind::Str ? b.CreateString(a.s) : 0,
                                      a.kind == fmt::AttrKind::Ints ? b.CreateVector(a.ints) : 0));
    }
    std::vector<fb::Offset<fmt::CodeRef>> code;
    for (const CodeSpec& c : k.code)
      code.push_back(fmt::CreateCodeRef(b, c.role, c.module, b.CreateString(c.symbol), 256, 1, 32));
    kernels.push_back(fmt::CreateKernel(b, b.CreateString(k.op), b.CreateVector(k.inputs),
                                        b.CreateVector(k.outputs), b.CreateVector(attrs),
                                        b.CreateString("test.py:" + std::to_string(kernels.size())),
                                        code.empty() ? 0 : b.CreateVector(code)));
  }
  std::vector<fb::Offset<fmt::CodeObject>> objects;
  for (const ModelSpec::Object& o : m.code_objects)
    objects.push_back(
        fmt::CreateCodeObject(b, b.CreateString(o.format), o.module, o.segment, o.crc32));
  fb::Offset<fmt::Batch> batch = 0;
  if (m.batch) {
    batch = fmt::CreateBatch(b, b.CreateString(m.batch->symbol), m.batch->min, m.batch->max,
                             b.CreateVector(m.batch->input_axes),
                             b.CreateVector(m.batch->output_axes), m.batch->per_sample);
  }
  auto model = fmt::CreateModel(
      b, b.CreateString("damaged_artifact_test"), b.CreateString(m.target),
      m.no_tensor_table ? 0 : b.CreateVector(tensors), b.CreateVector(m.inputs),
      b.CreateVector(m.outputs), b.CreateVector(kernels), b.CreateVectorOfStructs(m.segments),
      m.arena_bytes, m.arena_bytes, objects.empty() ? 0 : b.CreateVector(objects), false, 0, batch);
  fmt::FinishModelBuffer(b, model);

  fmt::FileHeader h{};
  std::memcpy(h.magic, fmt::kMagic, sizeof h.magic);
  h.version = fmt::kFormatVersion;
  h.header_bytes = sizeof h;
  h.schema_offset = sizeof h;
  h.schema_bytes = b.GetSize();
  h.data_offset = (h.schema_offset + h.schema_bytes + 63) / 64 * 64;
  h.data_bytes = m.data.size();
  std::string file(h.data_offset + h.data_bytes, '\0');
  std::memcpy(file.data() + h.schema_offset, b.GetBufferPointer(), b.GetSize());
  std::memcpy(file.data() + h.data_offset, m.data.data(), m.data.size());
  h.schema_crc32 = fmt::Crc32(file.data() + h.schema_offset, h.schema_bytes);
  h.data_crc32 = fmt::Crc32(file.data() + h.data_offset, h.data_bytes);
  h.header_crc32 = fmt::Crc32(&h, offsetof(fmt::FileHeader, header_crc32));
  std::memcpy(file.data(), &h, sizeof h);
  return file;
}

std::vector<AttrSpec> ConvAttrs() {
  return {IntsAttr("stride", {1, 1}), IntsAttr("padding", {0, 0}), IntsAttr("dilation", {1, 1}),
          IntAttr("groups", 1)};
}

// x f32[1,2,4,4] (input, arena 0) -> conv2d(w f32[2,2,3,3], constant) ->
// y f32[1,2,2,2] (arena 128) -> relu -> z f32[1,2,2,2] (arena 192), output.
ModelSpec BaseSpec() {
  ModelSpec m;
  m.tensors = {
      T("x", {1, 2, 4, 4}, fmt::TensorKind::Input, -1, 0),
      T("w", {2, 2, 3, 3}, fmt::TensorKind::Constant, 0, 0),
      T("y", {1, 2, 2, 2}, fmt::TensorKind::Intermediate, -1, 128),
      T("z", {1, 2, 2, 2}, fmt::TensorKind::Intermediate, -1, 192),
  };
  m.inputs = {0};
  m.outputs = {3};
  m.kernels = {{"conv2d", {0, 1}, {2}, ConvAttrs()}, {"relu", {2}, {3}, {}}};
  m.segments = {fmt::Segment(0, 144)};
  m.arena_bytes = 256;
  std::vector<float> w = Pattern(36, 5);
  m.data.assign(reinterpret_cast<const char*>(w.data()), 144);
  return m;
}

// BaseSpec's convolution at output channel o, row i, column j, in double.
double BaseConv(const std::vector<float>& x, const std::vector<float>& w, int o, int i, int j) {
  double acc = 0;
  for (int c = 0; c < 2; ++c) {
    for (int ki = 0; ki < 3; ++ki) {
      for (int kj = 0; kj < 3; ++kj)
        acc += double{x[(c * 4 + i + ki) * 4 + j + kj]} * w[((o * 2 + c) * 3 + ki) * 3 + kj];
    }
  }
  return acc;
}

TEST(HandMadeArtifactTest, BaseSpecLoadsAndRunsCorrectly) {
  Result r = Load(Serialize(BaseSpec()), /*verify_weights=*/true);
  ASSERT_EQ(r.code, SINTER_OK) << r.message;
  sinter_session* s = nullptr;
  ASSERT_EQ(sinter_session_create(r.model, nullptr, &s), nullptr);
  std::vector<float> x = Pattern(32, 6), w = Pattern(36, 5), z(8);
  const int64_t dims[] = {1, 2, 4, 4};
  ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, dims, 4, x.data(), 128), nullptr);
  ASSERT_EQ(sinter_session_run(s), nullptr);
  ASSERT_EQ(sinter_session_copy_output(s, 0, z.data(), 32), nullptr);
  for (int o = 0; o < 2; ++o) {
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        const double acc = BaseConv(x, w, o, i, j);
        EXPECT_NEAR(z[(o * 2 + i) * 2 + j], std::max(acc, 0.0), 1e-5);
      }
    }
  }
  sinter_session_release(s);
  sinter_model_release(r.model);
}

// conv2d, relu, then nonzero: the output's size is the run's, its dims -1
// in the model's description, and after a run the indices of the relu's
// positive elements (the input negated gives the other ones).
TEST(HandMadeArtifactTest, NonzeroSizesItsOutputByTheRun) {
  ModelSpec m = BaseSpec();
  m.tensors.push_back(T("idx", {-1, 4}, fmt::TensorKind::Dynamic, -1, 0));
  m.tensors.back().byte_size = 0;
  m.tensors.back().dtype = fmt::DType::I64;
  m.kernels.push_back({"nonzero", {3}, {4}, {StrAttr("size", "n0")}});
  m.outputs = {4};
  Result r = Load(Serialize(m), /*verify_weights=*/true);
  ASSERT_EQ(r.code, SINTER_OK) << r.message;
  sinter_tensor_info info;
  ASSERT_EQ(sinter_model_output_info(r.model, 0, &info), nullptr);
  EXPECT_EQ(info.dims[0], -1);
  EXPECT_EQ(info.dims[1], 4);
  sinter_session* s = nullptr;
  ASSERT_EQ(sinter_session_create(r.model, nullptr, &s), nullptr);
  const int64_t dims[] = {1, 2, 4, 4};
  for (float sign : {1.0f, -1.0f}) {
    std::vector<float> x = Pattern(32, 6), w = Pattern(36, 5);
    for (float& v : x) v *= sign;
    ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, dims, 4, x.data(), 128), nullptr);
    ASSERT_EQ(sinter_session_run(s), nullptr);
    // The positive conv outputs, found here.
    std::vector<int64_t> want;
    for (int o = 0; o < 2; ++o) {
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 2; ++j) {
          if (BaseConv(x, w, o, i, j) > 0.0) want.insert(want.end(), {0, o, i, j});
        }
      }
    }
    int64_t got_dims[4] = {};
    size_t rank = 0;
    ASSERT_EQ(sinter_session_output_shape(s, 0, got_dims, 4, &rank), nullptr);
    ASSERT_EQ(rank, 2u);
    EXPECT_EQ(got_dims[0], static_cast<int64_t>(want.size() / 4));
    EXPECT_EQ(got_dims[1], 4);
    std::vector<int64_t> got(want.size());
    ASSERT_EQ(sinter_session_copy_output(s, 0, got.data(), got.size() * sizeof(int64_t)), nullptr);
    EXPECT_EQ(got, want);
  }
  sinter_session_release(s);
  sinter_model_release(r.model);
}

// What nonzero sized, read by kernels that take the run's extents: a slice
// clamped to the run's count and a reshape of it, each sized as it runs; a
// reshape the run's count does not divide stops the run, naming the kernel.
TEST(HandMadeArtifactTest, KernelsTakeTheExtentsOfWhatTheRunSized) {
  ModelSpec m = BaseSpec();
  auto dynamic = [&](const char* name, std::vector<int64_t> dims) {
    m.tensors.push_back(T(name, std::move(dims), fmt::TensorKind::Dynamic, -1, 0));
    m.tensors.back().byte_size = 0;
    m.tensors.back().dtype = fmt::DType::I64;
  };
  dynamic("idx", {-1, 4});
  dynamic("some", {-1, 4});
  dynamic("flat", {-1});
  dynamic("threes", {-1, 3});
  m.kernels.push_back({"nonzero", {3}, {4}, {StrAttr("size", "n0")}});
  m.kernels.push_back({"slice",
                       {4},
                       {5},
                       {IntAttr("axis", 0), IntAttr("start", 1), IntAttr("end", 3),
                        IntAttr("step", 1), StrAttr("size", "n1")}});
  m.kernels.push_back({"reshape", {5}, {6}, {IntsAttr("shape", {-1})}});
  m.kernels.push_back({"reshape", {4}, {7}, {IntsAttr("shape", {-1, 3})}});
  m.outputs = {5, 6, 7};
  Result r = Load(Serialize(m), /*verify_weights=*/true);
  ASSERT_EQ(r.code, SINTER_OK) << r.message;
  sinter_session* s = nullptr;
  ASSERT_EQ(sinter_session_create(r.model, nullptr, &s), nullptr);
  const int64_t dims[] = {1, 2, 4, 4};
  int runs_checked = 0;
  for (float sign : {1.0f, -1.0f, 0.0f}) {
    std::vector<float> x = Pattern(32, 6), w = Pattern(36, 5);
    for (float& v : x) v *= sign;
    std::vector<int64_t> all;
    for (int o = 0; o < 2; ++o)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
          if (BaseConv(x, w, o, i, j) > 0.0) all.insert(all.end(), {0, o, i, j});
    const int64_t n = static_cast<int64_t>(all.size() / 4);
    ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, dims, 4, x.data(), 128), nullptr);
    sinter_status* st = sinter_session_run(s);
    if ((4 * n) % 3 != 0) {
      // The count decides whether [n,4] regroups into rows of 3.
      ASSERT_NE(st, nullptr);
      EXPECT_EQ(sinter_status_get_code(st), SINTER_INVALID_ARGUMENT);
      const std::string msg = sinter_status_get_message(st);
      EXPECT_NE(msg.find("kernel 5 (reshape"), std::string::npos) << msg;
      EXPECT_NE(msg.find("cannot infer -1"), std::string::npos) << msg;
      sinter_status_free(st);
      continue;
    }
    ASSERT_EQ(st, nullptr) << sinter_status_get_message(st);
    ++runs_checked;
    const std::vector<int64_t> some(all.begin() + std::min<int64_t>(n, 1) * 4,
                                    all.begin() + std::min<int64_t>(n, 3) * 4);
    int64_t got_dims[4] = {};
    size_t rank = 0;
    ASSERT_EQ(sinter_session_output_shape(s, 0, got_dims, 4, &rank), nullptr);
    ASSERT_EQ(rank, 2u);
    EXPECT_EQ(got_dims[0], static_cast<int64_t>(some.size() / 4));
    ASSERT_EQ(sinter_session_output_shape(s, 1, got_dims, 4, &rank), nullptr);
    ASSERT_EQ(rank, 1u);
    EXPECT_EQ(got_dims[0], static_cast<int64_t>(some.size()));
    ASSERT_EQ(sinter_session_output_shape(s, 2, got_dims, 4, &rank), nullptr);
    EXPECT_EQ(got_dims[0] * 3, 4 * n);
    for (int o = 0; o < 3; ++o) {
      const std::vector<int64_t>& want = o == 2 ? all : some;
      std::vector<int64_t> got(want.size());
      ASSERT_EQ(sinter_session_copy_output(s, o, got.data(), got.size() * sizeof(int64_t)),
                nullptr);
      EXPECT_EQ(got, want) << "output " << o;
    }
  }
  EXPECT_GE(runs_checked, 1);  // the zero input's n = 0 always divides
  sinter_session_release(s);
  sinter_model_release(r.model);
}

// The same artifact with a dynamic batch on x and z: a batch of two is the
// two samples run one at a time.
TEST(HandMadeArtifactTest, BatchedBaseSpecRunsEachSample) {
  ModelSpec m = BaseSpec();
  m.batch = ModelSpec::Batch{};
  Result r = Load(Serialize(m), /*verify_weights=*/true);
  ASSERT_EQ(r.code, SINTER_OK) << r.message;
  sinter_session* s = nullptr;
  ASSERT_EQ(sinter_session_create(r.model, nullptr, &s), nullptr);
  const std::vector<float> x = Pattern(64, 7);
  std::vector<float> one(16), both(16);
  for (int b = 0; b < 2; ++b) {
    const int64_t dims[] = {1, 2, 4, 4};
    ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, dims, 4, x.data() + 32 * b, 128), nullptr);
    ASSERT_EQ(sinter_session_run(s), nullptr);
    ASSERT_EQ(sinter_session_copy_output(s, 0, one.data() + 8 * b, 32), nullptr);
  }
  const int64_t dims[] = {2, 2, 4, 4};
  ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, dims, 4, x.data(), 256), nullptr);
  ASSERT_EQ(sinter_session_run(s), nullptr);
  ASSERT_EQ(sinter_session_copy_output(s, 0, both.data(), 64), nullptr);
  EXPECT_EQ(one, both);
  sinter_session_release(s);
  sinter_model_release(r.model);
}

// A symbolic extent (format::Batch.per_sample false; ir/extent_analysis.h):
// x is sized by each run along axis 0, within the symbol's range, and relu,
// taking the run's extents, writes y at x's shape, run after run.
ModelSpec SymbolicExtentSpec() {
  ModelSpec m;
  m.tensors = {T("x", {-1, 4}, fmt::TensorKind::Dynamic, -1, 0),
               T("y", {-1, 4}, fmt::TensorKind::Dynamic, -1, 0)};
  m.tensors[0].byte_size = m.tensors[1].byte_size = 0;
  m.inputs = {0};
  m.outputs = {1};
  m.kernels = {{"relu", {0}, {1}, {}}};
  m.batch = ModelSpec::Batch{"n", 1, 8, {0}, {-1}, false};
  return m;
}

TEST(HandMadeArtifactTest, SymbolicExtentRunsAtEachRunsShape) {
  Result r = Load(Serialize(SymbolicExtentSpec()), /*verify_weights=*/true);
  ASSERT_EQ(r.code, SINTER_OK) << r.message;
  sinter_tensor_info info;
  ASSERT_EQ(sinter_model_input_info(r.model, 0, &info), nullptr);
  EXPECT_EQ(info.dims[0], -1);
  sinter_session* s = nullptr;
  ASSERT_EQ(sinter_session_create(r.model, nullptr, &s), nullptr);
  for (int64_t rows : {3, 5, 3, 8}) {
    std::vector<float> x(static_cast<size_t>(rows * 4)), y(x.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 3) - 1.0f;
    const int64_t dims[] = {rows, 4};
    ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, dims, 2, x.data(), x.size() * 4), nullptr);
    ASSERT_EQ(sinter_session_run(s), nullptr);
    int64_t got[2];
    size_t rank = 0;
    ASSERT_EQ(sinter_session_output_shape(s, 0, got, 2, &rank), nullptr);
    ASSERT_EQ(rank, 2u);
    EXPECT_EQ(got[0], rows);
    EXPECT_EQ(got[1], 4);
    ASSERT_EQ(sinter_session_copy_output(s, 0, y.data(), y.size() * 4), nullptr);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], std::max(x[i], 0.0f)) << i;
  }
  const int64_t dims[] = {9, 4};
  std::vector<float> big(36);
  sinter_status* st = sinter_session_set_input(s, 0, SINTER_F32, dims, 2, big.data(), 144);
  EXPECT_EQ(sinter_status_get_code(st), SINTER_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sinter_status_get_message(st)).find("n = 9 is outside its range [1, 8]"),
            std::string::npos)
      << sinter_status_get_message(st);
  sinter_status_free(st);
  sinter_session_release(s);
  sinter_model_release(r.model);
}

// A session plans a symbolic extent's run-sized tensors once, at the
// range's maximum (8 rows of 4 floats, 128 bytes each), sharing memory
// between tensors whose lives do not meet: of x -> a -> b -> c -> y (four
// relus), x and y live the whole run, a and c share, b and y share, so 384
// bytes rather than 640; and runs at any length in the range, longest
// first, compute in it.
TEST(HandMadeArtifactTest, SymbolicExtentPlansItsMaximumOnce) {
  ModelSpec m;
  for (const char* name : {"x", "a", "b", "c", "y"}) {
    m.tensors.push_back(T(name, {-1, 4}, fmt::TensorKind::Dynamic, -1, 0));
    m.tensors.back().byte_size = 0;
  }
  m.inputs = {0};
  m.outputs = {4};
  m.kernels = {{"relu", {0}, {1}, {}},
               {"relu", {1}, {2}, {}},
               {"relu", {2}, {3}, {}},
               {"relu", {3}, {4}, {}}};
  m.batch = ModelSpec::Batch{"n", 1, 8, {0}, {-1}, false};
  Result r = Load(Serialize(m), /*verify_weights=*/true);
  ASSERT_EQ(r.code, SINTER_OK) << r.message;
  EXPECT_EQ(sinter_model_arena_bytes(r.model), 384u);
  sinter_session* s = nullptr;
  ASSERT_EQ(sinter_session_create(r.model, nullptr, &s), nullptr);
  for (int64_t rows : {8, 1, 5, 8}) {
    std::vector<float> x(static_cast<size_t>(rows * 4)), y(x.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 5) - 2.0f;
    const int64_t dims[] = {rows, 4};
    ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, dims, 2, x.data(), x.size() * 4), nullptr);
    ASSERT_EQ(sinter_session_run(s), nullptr);
    ASSERT_EQ(sinter_session_copy_output(s, 0, y.data(), y.size() * 4), nullptr);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], std::max(x[i], 0.0f)) << rows << " " << i;
  }
  sinter_session_release(s);
  sinter_model_release(r.model);
}

// slice_like (a constant that grows with a symbolic extent, cut to the
// run's): the first rows of w, as many as x has; a run longer than the
// table, though in the symbol's range, stops with the kernel named.
TEST(HandMadeArtifactTest, SliceLikeCutsTheTableToTheRunsExtent) {
  ModelSpec m = BaseSpec();
  m.tensors[0] = T("x", {-1}, fmt::TensorKind::Dynamic, -1, 0);
  m.tensors[2] = T("y", {-1, 2, 3, 3}, fmt::TensorKind::Dynamic, -1, 0);
  m.tensors[0].byte_size = m.tensors[2].byte_size = 0;
  m.tensors.resize(3);
  m.outputs = {2};
  m.kernels = {{"slice_like", {1, 0}, {2}, {IntAttr("axis", 0), IntAttr("like_axis", 0)}}};
  m.arena_bytes = 0;
  m.batch = ModelSpec::Batch{"n", 1, 4, {0}, {-1}, false};
  Result r = Load(Serialize(m), /*verify_weights=*/true);
  ASSERT_EQ(r.code, SINTER_OK) << r.message;
  sinter_session* s = nullptr;
  ASSERT_EQ(sinter_session_create(r.model, nullptr, &s), nullptr);
  const std::vector<float> w = Pattern(36, 5), x(4);
  for (int64_t rows : {1, 2}) {
    ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, &rows, 1, x.data(), rows * 4), nullptr);
    ASSERT_EQ(sinter_session_run(s), nullptr);
    std::vector<float> y(static_cast<size_t>(rows) * 18);
    ASSERT_EQ(sinter_session_copy_output(s, 0, y.data(), y.size() * 4), nullptr);
    EXPECT_EQ(y, std::vector<float>(w.begin(), w.begin() + rows * 18));
  }
  const int64_t three = 3;
  ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, &three, 1, x.data(), 12), nullptr);
  sinter_status* st = sinter_session_run(s);
  EXPECT_EQ(sinter_status_get_code(st), SINTER_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sinter_status_get_message(st)).find("the run is longer than the table"),
            std::string::npos)
      << sinter_status_get_message(st);
  EXPECT_NE(std::string(sinter_status_get_message(st)).find("slice_like"), std::string::npos);
  sinter_status_free(st);
  sinter_session_release(s);
  sinter_model_release(r.model);
}

// The CUDA cases: the convolution alone (a kernel the CUDA target runs).
void CudaConvOnly(ModelSpec* m) {
  m->kernels.resize(1);
  m->outputs = {2};
}

// relu writing over its dying input y (the kInPlace trait of ops.def): the
// plan the compiler makes, which loads and computes the right result.
TEST(HandMadeArtifactTest, InPlaceReluLoadsAndRuns) {
  ModelSpec m = BaseSpec();
  m.tensors[3].arena_offset = 128;
  m.arena_bytes = 192;
  Result r = Load(Serialize(m), /*verify_weights=*/true);
  ASSERT_EQ(r.code, SINTER_OK) << r.message;
  Result base = Load(Serialize(BaseSpec()), true);
  ASSERT_EQ(base.code, SINTER_OK) << base.message;
  std::vector<float> x = Pattern(32, 6), z(8), want(8);
  const int64_t dims[] = {1, 2, 4, 4};
  for (auto [model, out] : {std::pair{r.model, &z}, std::pair{base.model, &want}}) {
    sinter_session* s = nullptr;
    ASSERT_EQ(sinter_session_create(model, nullptr, &s), nullptr);
    ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, dims, 4, x.data(), 128), nullptr);
    ASSERT_EQ(sinter_session_run(s), nullptr);
    ASSERT_EQ(sinter_session_copy_output(s, 0, out->data(), 32), nullptr);
    sinter_session_release(s);
    sinter_model_release(model);
  }
  EXPECT_EQ(z, want);
}

struct BadCase {
  const char* name;
  std::function<void(ModelSpec*)> damage;
  sinter_status_code code;
  const char* message;  // a substring the message must contain
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class HandMadeBadArtifactTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(HandMadeBadArtifactTest, IsRejectedWithCodeAndMessage) {
  const BadCase& c = GetParam();
  ModelSpec m = BaseSpec();
  c.damage(&m);
  Result r = Load(Serialize(m), false, m.disable_native);
  EXPECT_EQ(r.code, c.code) << sinter_status_code_name(r.code) << ": " << r.message;
  EXPECT_NE(r.message.find(c.message), std::string::npos)
      << "message: " << r.message << "\nexpected to contain: " << c.message;
  if (r.code == SINTER_OK) {
    RunIfSmall(r.model);
    sinter_model_release(r.model);
  }
}

const int64_t kBig = int64_t{1} << 40;

const BadCase kBadCases[] = {
    // A dynamic batch's table (format::Batch): a named range, one axis per
    // input and output, each of extent 1 in the one-sample plan.
    {"BatchRangeEmpty",
     [](ModelSpec* m) {
       m->batch = {"batch", 4, 3};
     },
     SINTER_DATA_LOSS, "batch 'batch': bad range [4, 3]"},
    {"BatchRangeFromZero",
     [](ModelSpec* m) {
       m->batch = {"batch", 0, 3};
     },
     SINTER_DATA_LOSS, "bad range [0, 3]"},
    // A symbolic extent's input must be sized by its run on its axis alone,
    // and no output has an axis of it (those it sizes are Dynamic).
    {"SymbolicExtentOnAnArenaInput",
     [](ModelSpec* m) { m->batch = ModelSpec::Batch{"n", 1, 8, {0}, {-1}, false}; },
     SINTER_DATA_LOSS, "batch 'n': bad axis 0 of model input 'x'"},
    {"SymbolicExtentOnAStaticAxis",
     [](ModelSpec* m) {
       *m = SymbolicExtentSpec();
       m->tensors[0].shape = {2, -1};
       m->tensors[1].shape = {2, -1};
     },
     SINTER_DATA_LOSS, "batch 'n': bad axis 0 of model input 'x'"},
    {"SymbolicExtentOnAnOutput",
     [](ModelSpec* m) {
       *m = SymbolicExtentSpec();
       m->batch->output_axes = {0};
     },
     SINTER_DATA_LOSS, "batch 'n': bad axis 0 of model output 'y'"},
    {"SymbolicExtentInputOfAPerSampleBatch",
     [](ModelSpec* m) {
       *m = SymbolicExtentSpec();
       m->batch->per_sample = true;
     },
     SINTER_DATA_LOSS, "model input 'x' is a dynamic tensor"},
    {"BatchRangeHuge",
     [](ModelSpec* m) {
       m->batch = {"batch", 1, kBig};
     },
     SINTER_DATA_LOSS, "bad range"},
    {"BatchWithoutSymbol",
     [](ModelSpec* m) {
       m->batch = {"", 1, 8};
     },
     SINTER_DATA_LOSS, "bad range"},
    {"BatchAxisOutOfRank",
     [](ModelSpec* m) {
       m->batch = ModelSpec::Batch{};
       m->batch->input_axes = {4};
     },
     SINTER_DATA_LOSS, "bad axis 4 of model input 'x'"},
    {"BatchAxisNotOfExtentOne",
     [](ModelSpec* m) {
       m->batch = ModelSpec::Batch{};
       m->batch->output_axes = {1};
     },
     SINTER_DATA_LOSS, "bad axis 1 of model output 'z'"},
    {"BatchAxesNotOnePerInput",
     [](ModelSpec* m) {
       m->batch = ModelSpec::Batch{};
       m->batch->input_axes = {0, 0};
     },
     SINTER_DATA_LOSS, "not one axis per model input"},
    {"BatchOnNoInput",
     [](ModelSpec* m) {
       m->batch = ModelSpec::Batch{};
       m->batch->input_axes = {-1};
     },
     SINTER_DATA_LOSS, "no input has it"},
    {"BatchAxisNegative",
     [](ModelSpec* m) {
       m->batch = ModelSpec::Batch{};
       m->batch->output_axes = {-2};
     },
     SINTER_DATA_LOSS, "bad axis -2"},
    // Tensors whose size a run decides (TensorKind Dynamic): model outputs
    // a plugin segment writes, read by no kernel, with no arena bytes.
    {"DynamicTensorWrittenByAnotherKernel",
     [](ModelSpec* m) {
       m->tensors[2] = T("y", {1, 2, -1, 2}, fmt::TensorKind::Dynamic, -1, 0);
       m->tensors[2].byte_size = 0;
       m->outputs = {3, 2};
     },
     SINTER_DATA_LOSS, "writes dynamic tensor 2"},
    {"DynamicTensorReadByAKernel",
     [](ModelSpec* m) {
       m->tensors[2] = T("y", {-1}, fmt::TensorKind::Dynamic, -1, 0);
       m->tensors[2].byte_size = 0;
       m->outputs = {3, 2};
       m->kernels[0] = {"plugin_segment",
                        {1, 0},
                        {2},
                        {StrAttr("plugin", "torch"), IntAttr("abi", 1), StrAttr("ops", "x"),
                         StrAttr("result_dtypes", "f32"), IntsAttr("result_dims", {1, -1})}};
       // cumsum takes no run's extents (ops.def: no kRunExtents).
       m->kernels[1] = {"cumsum", {2}, {3}, {IntAttr("axis", 0)}};
     },
     SINTER_DATA_LOSS, "whose size only its run decides, and cumsum cannot take"},
    // A kernel at the run's extents whose recorded static result no run
    // could give: refused at load, where its checks run at empty extents.
    {"RunExtentKernelWithAStaticResult",
     [](ModelSpec* m) {
       m->tensors.push_back(T("idx", {-1, 4}, fmt::TensorKind::Dynamic, -1, 0));
       m->tensors.back().byte_size = 0;
       m->tensors.back().dtype = fmt::DType::I64;
       m->tensors.push_back(T("c", {2, 4}, fmt::TensorKind::Intermediate, -1, 256));
       m->arena_bytes = 320;
       m->kernels.push_back({"nonzero", {3}, {4}, {StrAttr("size", "n0")}});
       m->kernels.push_back({"cast", {4}, {5}, {StrAttr("to", "f32")}});
       m->outputs = {5};
     },
     SINTER_INVALID_ARGUMENT, "kernel 3 (cast at test.py:3): result 'c' of a shape its recorded"},
    {"RunSizedTensorWrittenByAKernelTakingStaticShapes",
     [](ModelSpec* m) {
       m->tensors.push_back(T("d", {-1, 2, 2, 2}, fmt::TensorKind::Dynamic, -1, 0));
       m->tensors.back().byte_size = 0;
       m->kernels.push_back({"reshape", {3}, {4}, {IntsAttr("shape", {-1, 2, 2, 2})}});
       m->outputs = {4};
     },
     SINTER_DATA_LOSS, "writes dynamic tensor 4"},
    {"DynamicTensorWithArenaBytes",
     [](ModelSpec* m) {
       m->tensors.push_back(T("d", {-1, 4}, fmt::TensorKind::Dynamic, -1, 64));
       m->tensors.back().byte_size = 16;
       m->outputs = {3, 4};
     },
     SINTER_DATA_LOSS, "a dynamic tensor records arena bytes"},
    {"DynamicTensorWithANegativeDimensionBelowMinusOne",
     [](ModelSpec* m) {
       m->tensors.push_back(T("d", {-2}, fmt::TensorKind::Dynamic, -1, 0));
       m->tensors.back().byte_size = 0;
       m->outputs = {3, 4};
     },
     SINTER_DATA_LOSS, "shape has a negative dimension"},
    {"DynamicTensorWithHugeStaticExtents",
     [](ModelSpec* m) {
       m->tensors.push_back(T("d", {-1, kBig, kBig}, fmt::TensorKind::Dynamic, -1, 0));
       m->tensors.back().byte_size = 0;
       m->outputs = {3, 4};
     },
     SINTER_DATA_LOSS, "implausibly large extents"},
    // nonzero and masked_select size their result by the run: a recorded
    // static result is a kernel the compiler never writes.
    {"NonzeroWithAStaticResult",
     [](ModelSpec* m) {
       m->tensors[3] = T("z", {4, 4}, fmt::TensorKind::Intermediate, -1, 192);
       m->kernels[1] = {"nonzero", {2}, {3}, {StrAttr("size", "n0")}};
     },
     SINTER_INVALID_ARGUMENT, "nonzero result 'z' must be sized by the run as [-1,4]"},
    {"MaskedSelectWithAFloatMask",
     [](ModelSpec* m) {
       m->tensors[3] = T("z", {-1}, fmt::TensorKind::Dynamic, -1, 0);
       m->tensors[3].byte_size = 0;
       m->kernels[1] = {"masked_select", {2, 2}, {3}, {StrAttr("size", "n0")}};
     },
     SINTER_INVALID_ARGUMENT, "masked_select mask 'y' has the wrong dtype"},
    // Structure: DATA_LOSS.
    {"SegmentOutsideDataRegion", [](ModelSpec* m) { m->segments[0] = fmt::Segment(64, 144); },
     SINTER_DATA_LOSS, "does not fit the data region"},
    {"SegmentSizeDisagreesWithTensor", [](ModelSpec* m) { m->segments[0] = fmt::Segment(0, 128); },
     SINTER_DATA_LOSS, "segment [0, +128)"},
    {"SegmentOffsetOverflows",
     [](ModelSpec* m) { m->segments[0] = fmt::Segment(~uint64_t{63}, 144); }, SINTER_DATA_LOSS,
     "does not fit"},
    {"SegmentIndexOutOfRange", [](ModelSpec* m) { m->tensors[1].segment = 3; }, SINTER_DATA_LOSS,
     "segment index 3 out of range"},
    {"ConstantByteSizeDisagreesWithShape", [](ModelSpec* m) { m->tensors[1].byte_size = 140; },
     SINTER_DATA_LOSS, "records 140 bytes but its shape needs 144"},
    {"ShapeProductOverflowsInt64",
     [](ModelSpec* m) {
       m->tensors[2].shape = {kBig, kBig, 1, 2};
       m->tensors[2].byte_size = 0;
     },
     SINTER_DATA_LOSS, "overflows"},
    {"ByteSizeOverflowsUint64",
     [](ModelSpec* m) {
       m->tensors[2].shape = {int64_t{1} << 61, 1, 1, 2};
       m->tensors[2].byte_size = 0;
     },
     SINTER_DATA_LOSS, "overflows"},
    {"NegativeDimension",
     [](ModelSpec* m) {
       m->tensors[3].shape = {1, -2, 2, -2};
       m->tensors[3].byte_size = 32;
     },
     SINTER_DATA_LOSS, "negative dimension"},
    {"RankAboveEight", [](ModelSpec* m) { m->tensors[3].shape = {1, 2, 2, 2, 1, 1, 1, 1, 1}; },
     SINTER_DATA_LOSS, "rank above 8"},
    {"UnknownDType", [](ModelSpec* m) { m->tensors[3].dtype = static_cast<fmt::DType>(42); },
     SINTER_DATA_LOSS, "unknown dtype"},
    {"NegativeDType", [](ModelSpec* m) { m->tensors[3].dtype = static_cast<fmt::DType>(-3); },
     SINTER_DATA_LOSS, "unknown dtype"},
    {"UnknownTensorKind",
     [](ModelSpec* m) { m->tensors[3].kind = static_cast<fmt::TensorKind>(9); }, SINTER_DATA_LOSS,
     "unknown kind"},
    {"NegativeTensorKind",
     [](ModelSpec* m) {
       // An unwritten "tensor" a kernel could read: arena garbage.
       m->tensors[2].kind = static_cast<fmt::TensorKind>(-1);
       m->kernels.erase(m->kernels.begin());
     },
     SINTER_DATA_LOSS, "unknown kind"},
    {"ArenaRangeBeyondArena", [](ModelSpec* m) { m->tensors[3].arena_offset = 256; },
     SINTER_DATA_LOSS, "outside the 256-byte arena"},
    {"ArenaOffsetPlusSizeBeyondArena", [](ModelSpec* m) { m->arena_bytes = 200; }, SINTER_DATA_LOSS,
     "arena range [192, +32)"},
    {"ArenaOffsetOverflows", [](ModelSpec* m) { m->tensors[0].arena_offset = ~uint64_t{63}; },
     SINTER_DATA_LOSS, "outside the"},
    {"ArenaOffsetMisaligned", [](ModelSpec* m) { m->tensors[3].arena_offset = 196; },
     SINTER_DATA_LOSS, "misaligned"},
    {"ImplausibleArena", [](ModelSpec* m) { m->arena_bytes = uint64_t{1} << 60; }, SINTER_DATA_LOSS,
     "more than any artifact may declare"},
    {"KernelInputIndexOutOfRange", [](ModelSpec* m) { m->kernels[1].inputs = {99}; },
     SINTER_DATA_LOSS, "refers to tensor 99 of 4"},
    {"KernelInputIndexNegative",
     [](ModelSpec* m) {
       m->kernels[0].inputs = {0, -1};
     },
     SINTER_DATA_LOSS, "refers to tensor -1"},
    {"KernelOutputIndexOutOfRange", [](ModelSpec* m) { m->kernels[1].outputs = {4}; },
     SINTER_DATA_LOSS, "refers to tensor 4"},
    {"KernelWritesConstant", [](ModelSpec* m) { m->kernels[1].outputs = {1}; }, SINTER_DATA_LOSS,
     "writes constant tensor 1"},
    {"KernelWritesInput", [](ModelSpec* m) { m->kernels[1].outputs = {0}; }, SINTER_DATA_LOSS,
     "writes input tensor 0"},
    {"KernelReadsBeforeWrite", [](ModelSpec* m) { std::swap(m->kernels[0], m->kernels[1]); },
     SINTER_DATA_LOSS, "reads tensor 2 before it is written"},
    {"KernelReadsItsOwnOutput", [](ModelSpec* m) { m->kernels[1].inputs = {3}; }, SINTER_DATA_LOSS,
     "before it is written"},
    {"TensorWrittenTwice",
     [](ModelSpec* m) {
       m->kernels.push_back({"relu", {2}, {3}, {}});
     },
     SINTER_DATA_LOSS, "written twice"},
    {"WrongKernelArity",
     [](ModelSpec* m) {
       m->kernels[1].inputs = {2, 2};
     },
     SINTER_DATA_LOSS, "has 2 inputs; relu takes 1 operand"},
    {"OutputNeverWritten", [](ModelSpec* m) { m->kernels.pop_back(); }, SINTER_DATA_LOSS,
     "never written"},
    {"NoOutputs", [](ModelSpec* m) { m->outputs.clear(); }, SINTER_DATA_LOSS, "no outputs"},
    {"OutputIndexOutOfRange",
     [](ModelSpec* m) {
       m->outputs = {3, 17};
     },
     SINTER_DATA_LOSS, "model output refers to tensor 17"},
    {"NoTensorTable", [](ModelSpec* m) { m->no_tensor_table = true; }, SINTER_DATA_LOSS,
     "no tensor table"},
    {"ModelInputIsConstant",
     [](ModelSpec* m) {
       m->inputs = {0, 1};
     },
     SINTER_DATA_LOSS, "is a constant tensor"},
    {"ModelInputListedTwice",
     [](ModelSpec* m) {
       m->inputs = {0, 0};
     },
     SINTER_DATA_LOSS, "listed twice"},
    {"InputTensorNotAModelInput", [](ModelSpec* m) { m->inputs.clear(); }, SINTER_DATA_LOSS,
     "not a model input"},
    // y is an output too, so it lives to the end: z over it is an overlap
    // (without that, relu may write over y in place: see InPlaceRelu below).
    {"OverlappingLiveTensors",
     [](ModelSpec* m) {
       m->outputs = {2, 3};
       m->tensors[3].arena_offset = 128;
     },
     SINTER_DATA_LOSS, "are live at once but overlap"},
    {"IntermediateOverlapsInput", [](ModelSpec* m) { m->tensors[2].arena_offset = 64; },
     SINTER_DATA_LOSS, "overlap"},
    // Unknown ops and targets: UNIMPLEMENTED.
    {"UnknownOp", [](ModelSpec* m) { m->kernels[1].op = "frobnicate"; }, SINTER_UNIMPLEMENTED,
     "kernel 1 (frobnicate at test.py:1): this runtime has no such op"},
    // An op the target does not run as a kernel (ops.def: the CUDA target
    // lowers relu into a generated kernel).
    {"OpTheTargetDoesNotRun", [](ModelSpec* m) { m->target = "cuda"; }, SINTER_UNIMPLEMENTED,
     "kernel 1 (relu at test.py:1): the cuda backend runs no relu kernel (lowered)"},
    {"OtherTarget", [](ModelSpec* m) { m->target = "tpu"; }, SINTER_UNIMPLEMENTED, "targets 'tpu'"},
    // CUDA device code is checked before any driver call: DATA_LOSS with or
    // without a GPU.
    {"CudaWithoutDeviceCode",
     [](ModelSpec* m) {
       m->target = "cuda";
       CudaConvOnly(m);
     },
     SINTER_DATA_LOSS, "no CUDA device code"},
    {"CudaImageSegmentOutOfRange",
     [](ModelSpec* m) {
       m->target = "cuda";
       CudaConvOnly(m);
       m->code_objects = {{"cubin-sm_90", 0, 7, 0}};
     },
     SINTER_DATA_LOSS, "code object 0 (cubin-sm_90): segment 7 out of range"},
    {"CudaImageChecksum",
     [](ModelSpec* m) {
       m->target = "cuda";
       CudaConvOnly(m);
       m->code_objects = {{"cubin-sm_90", 0, 0, fmt::Crc32(m->data.data(), 144) ^ 1u}};
     },
     SINTER_DATA_LOSS, "code object 0 (cubin-sm_90): checksum mismatch"},
    // Attributes are exactly the op schema's (runtime/format/ops.def).
    {"UnknownAttribute", [](ModelSpec* m) { m->kernels[1].attrs = {IntAttr("frob", 1)}; },
     SINTER_DATA_LOSS, "kernel 1 (relu at test.py:1): unknown attribute 'frob'"},
    {"AttributeOfAnotherKind",
     [](ModelSpec* m) { m->kernels[0].attrs[3] = IntsAttr("groups", {1}); }, SINTER_DATA_LOSS,
     "kernel 0 (conv2d at test.py:0): attribute 'groups' must be int"},
    {"MissingAttribute", [](ModelSpec* m) { m->kernels[0].attrs.pop_back(); }, SINTER_DATA_LOSS,
     "missing attribute 'groups' (int)"},
    {"AttributeTwice", [](ModelSpec* m) { m->kernels[0].attrs.push_back(IntAttr("groups", 1)); },
     SINTER_DATA_LOSS, "attribute 'groups' given twice"},
    // Code references and code objects.
    {"CodeOfAMissingModule",
     [](ModelSpec* m) {
       m->kernels[1].code = {{fmt::CodeRole::Main, 3, "f"}};
     },
     SINTER_DATA_LOSS, "code module 3 does not exist"},
    {"TwoFunctionsForOneRole",
     [](ModelSpec* m) {
       m->code_objects = {{"elf-x86_64", 0, 0, fmt::Crc32(m->data.data(), 144)}};
       m->kernels[1].code = {{fmt::CodeRole::Main, 0, "f"}, {fmt::CodeRole::Main, 0, "g"}};
     },
     SINTER_DATA_LOSS, "two functions for one role"},
    {"FunctionTheKernelDoesNotRun",
     [](ModelSpec* m) {
       m->code_objects = {{"elf-x86_64", 0, 0, fmt::Crc32(m->data.data(), 144)}};
       m->kernels[1].code = {{fmt::CodeRole::Epilogue, 0, "sinter_k0"}};
       m->disable_native = true;
     },
     SINTER_DATA_LOSS, "a function ('sinter_k0') for its epilogue, which the kernel does not run"},
    {"CodeObjectOfAnotherTarget",
     [](ModelSpec* m) {
       m->code_objects = {{"cubin-sm_90", 0, 0, fmt::Crc32(m->data.data(), 144)}};
     },
     SINTER_UNIMPLEMENTED, "code object format 'cubin-sm_90' is not one the CPU backend runs"},
    // Kernel checks of attributes against recorded shapes: INVALID_ARGUMENT.
    {"ConvWeightDisagreesWithOutput",
     [](ModelSpec* m) {
       m->tensors[1].shape = {3, 2, 3, 3};
       m->segments[0] = fmt::Segment(0, 216);
       m->data.resize(256);
     },
     SINTER_INVALID_ARGUMENT, "output 'y' has shape [1,2,2,2], expected [1,3,2,2]"},
    {"ConvWeightChannelsDisagreeWithInput",
     [](ModelSpec* m) {
       m->tensors[1].shape = {4, 1, 3, 3};
     },
     SINTER_INVALID_ARGUMENT, "disagree for groups=1"},
    {"ConvAttributeOfWrongKind",
     [](ModelSpec* m) { m->kernels[0].attrs[0] = IntAttr("stride", 1); }, SINTER_DATA_LOSS,
     "attribute 'stride' must be ints"},
    {"ConvStrideZero",
     [](ModelSpec* m) {
       m->kernels[0].attrs[0] = IntsAttr("stride", {0, 1});
     },
     SINTER_INVALID_ARGUMENT, "'stride' must be two values >= 1"},
    {"ConvHugeGroups",
     [](ModelSpec* m) { m->kernels[0].attrs[3] = IntAttr("groups", int64_t{1} << 62); },
     SINTER_INVALID_ARGUMENT, "groups"},
    {"ConvUnknownLayout",
     [](ModelSpec* m) { m->kernels[0].attrs.push_back(StrAttr("layout", "NCWH")); },
     SINTER_INVALID_ARGUMENT, "layout 'NCWH' (NCHW, NHWC)"},
    // The NCHW tensors read channels-last: x [1,2,4,4] is 4 channels of 2x4,
    // the OHWI weight [2,2,3,3] wants 3.
    {"ConvNhwcLayoutOnNchwTensors",
     [](ModelSpec* m) { m->kernels[0].attrs.push_back(StrAttr("layout", "NHWC")); },
     SINTER_INVALID_ARGUMENT, "conv2d input [1,4,2,4] and weight [2,3,2,3] disagree for groups=1"},
    {"ReluOutputShapeDisagrees",
     [](ModelSpec* m) {
       m->tensors[3].shape = {1, 2, 4};
       m->arena_bytes = 256;
     },
     SINTER_INVALID_ARGUMENT, "output 'z' has shape [1,2,4]"},
    {"ReluOfIntegers", [](ModelSpec* m) { m->tensors[3].dtype = fmt::DType::I32; },
     SINTER_UNIMPLEMENTED, "only f32"},
};

INSTANTIATE_TEST_SUITE_P(All, HandMadeBadArtifactTest, ::testing::ValuesIn(kBadCases),
                         [](const auto& info) { return std::string(info.param.name); });

// Shapes with a zero extent hold no bytes, so the loader's byte checks cannot
// bound their other extents; kernels' shape arithmetic must not overflow on
// them either. Each may load or fail, but never crash (UBSan checks the
// arithmetic).
TEST(HandMadeArtifactTest, ZeroSizedTensorsWithHugeExtents) {
  const int64_t huge = (int64_t{1} << 62) + 3;
  auto only_kernel = [](ModelSpec* m, KernelSpec k) {
    // The conv and its tensors stay in the table, unused.
    m->tensors[2].shape = {0};
    m->kernels = {std::move(k)};
  };
  std::vector<std::function<void(ModelSpec*)>> damages = {
      // conv2d over a zero-batch input with a huge height.
      [&](ModelSpec* m) {
        m->tensors[0].shape = {0, 2, huge, 4};
        m->tensors[2].shape = {0, 2, huge - 2, 2};
        m->tensors[3].shape = {0, 2, huge - 2, 2};
      },
      // conv2d: dilation times a huge empty kernel extent.
      [&](ModelSpec* m) {
        m->tensors[0].shape = {1, 0, 4, 4};
        m->tensors[1].shape = {0, 0, huge, 3};
        m->segments[0] = fmt::Segment(0, 0);
        m->kernels[0].attrs[2] = IntsAttr("dilation", {1 << 20, 1});
        m->tensors[2].shape = {1, 0, 2, 2};
        m->tensors[3].shape = {1, 0, 2, 2};
      },
      // reduce_sum: the outer product of huge extents.
      [&](ModelSpec* m) {
        m->tensors[0].shape = {huge, huge, 0, 5};
        m->tensors[3].shape = {huge, huge, 0};
        only_kernel(m, {"reduce_sum",
                        {0},
                        {3},
                        {IntsAttr("axes", {3}), {"keepdim", fmt::AttrKind::Bool, 0, 0, {}}}});
      },
      // max_pool2d over huge empty planes.
      [&](ModelSpec* m) {
        m->tensors[0].shape = {huge, huge, huge, 0};
        m->tensors[3].shape = {huge, huge, huge, 0};
        only_kernel(m, {"max_pool2d",
                        {0},
                        {3},
                        {IntsAttr("kernel", {1, 1}),
                         IntsAttr("stride", {1, 1}),
                         IntsAttr("padding", {0, 0}),
                         IntsAttr("dilation", {1, 1}),
                         {"ceil_mode", fmt::AttrKind::Bool, 0, 0, {}}}});
      },
      // linear: a huge empty batch.
      [&](ModelSpec* m) {
        m->tensors[0].shape = {huge, huge, 0, 4};
        m->tensors[1].shape = {36, 4};
        m->tensors[3].shape = {huge, huge, 0, 36};
        only_kernel(m, {"linear", {0, 1}, {3}, {}});
      },
      // transpose and softmax of huge empty tensors.
      [&](ModelSpec* m) {
        m->tensors[0].shape = {huge, 0, huge};
        m->tensors[3].shape = {huge, huge, 0};
        only_kernel(m, {"transpose", {0}, {3}, {IntsAttr("perm", {2, 0, 1})}});
      },
      [&](ModelSpec* m) {
        m->tensors[0].shape = {huge, 0, huge};
        m->tensors[3].shape = {huge, 0, huge};
        only_kernel(m, {"softmax", {0}, {3}, {IntAttr("axis", 2)}});
      },
  };
  for (size_t i = 0; i < damages.size(); ++i) {
    ModelSpec m = BaseSpec();
    damages[i](&m);
    for (auto& t : m.tensors) {
      int64_t n = 1;
      for (int64_t d : t.shape) n = d == 0 ? 0 : n;
      if (n == 0) t.byte_size = 0;
    }
    Result r = Load(Serialize(m));
    EXPECT_EQ(r.code, SINTER_DATA_LOSS) << i << ": " << r.message;
    EXPECT_TRUE(r.message.find("implausibly large extents") != std::string::npos ||
                r.message.find("overflows") != std::string::npos)
        << r.message;
    if (r.code == SINTER_OK) {
      RunIfSmall(r.model);
      sinter_model_release(r.model);
    }
  }
}

// Arena tensors cost a file nothing but a number, so a tiny file can declare
// shapes near the 64 TiB arena limit. Load-time and session-time arithmetic
// on them must not overflow (UBSan checks); nothing here may crash.
TEST(HandMadeArtifactTest, HugeDeclaredShapesNeverOverflow) {
  auto conv = [](std::vector<int64_t> x, std::vector<int64_t> w, std::vector<int64_t> y,
                 std::vector<AttrSpec> attrs) {
    ModelSpec m;
    uint64_t at = 0;
    for (auto* shape : {&x, &w, &y}) {
      uint64_t bytes = 4;
      for (int64_t d : *shape) bytes *= static_cast<uint64_t>(d);
      m.tensors.push_back(
          T(shape == &x   ? "x"
            : shape == &w ? "w"
                          : "y",
            *shape, shape == &y ? fmt::TensorKind::Intermediate : fmt::TensorKind::Input, -1, at));
      at += (bytes + 63) / 64 * 64;
    }
    m.inputs = {0, 1};
    m.outputs = {2};
    m.kernels = {{"conv2d", {0, 1}, {2}, std::move(attrs)}};
    m.arena_bytes = at;
    return m;
  };
  const int64_t k20 = int64_t{1} << 20;
  {
    // Dilation 2^20 times a kernel extent of 2^43.
    std::vector<AttrSpec> attrs = ConvAttrs();
    attrs[2] = IntsAttr("dilation", {k20, 1});
    ModelSpec m =
        conv({1, 1, int64_t{1} << 40, 1}, {1, 1, (int64_t{1} << 43) + 1, 1}, {1, 1, 1, 1}, attrs);
    ASSERT_LE(m.arena_bytes, uint64_t{1} << 46);
    Result r = Load(Serialize(m));
    EXPECT_EQ(r.code, SINTER_INVALID_ARGUMENT) << r.message;
    EXPECT_NE(r.message.find("smaller than its kernel"), std::string::npos) << r.message;
    sinter_model_release(r.model);
  }
  {
    // Valid shapes whose im2col buffer (weight rows x output pixels) is ~2^79
    // bytes: the model loads; a session must refuse, not overflow.
    ModelSpec m = conv({1, 2, k20, k20}, {1, 2, k20 / 2, k20 / 2}, {1, 1, k20 / 2 + 1, k20 / 2 + 1},
                       ConvAttrs());
    ASSERT_LE(m.arena_bytes, uint64_t{1} << 46);
    Result r = Load(Serialize(m));
    ASSERT_EQ(r.code, SINTER_OK) << r.message;
    sinter_session* s = nullptr;
    sinter_status* st = sinter_session_create(r.model, nullptr, &s);
    EXPECT_NE(st, nullptr);
    if (st != nullptr) {
      EXPECT_NE(sinter_status_get_code(st), SINTER_OK);
      EXPECT_EQ(s, nullptr);
    }
    sinter_status_free(st);
    sinter_session_release(s);
    sinter_model_release(r.model);
  }
  {
    // groups times weight channels overflows.
    std::vector<AttrSpec> attrs = ConvAttrs();
    attrs[3] = IntAttr("groups", int64_t{1} << 62);
    ModelSpec m = conv({1, 0, 4, 4}, {0, 4, 3, 3}, {1, 0, 2, 2}, attrs);
    Result r = Load(Serialize(m));
    EXPECT_EQ(r.code, SINTER_INVALID_ARGUMENT) << r.message;
    EXPECT_NE(r.message.find("groups"), std::string::npos) << r.message;
    sinter_model_release(r.model);
  }
  {
    // A concat of 2^18 empty u8[0, 2^45] inputs: the output extent overflows.
    ModelSpec m;
    m.tensors = {T("a", {0, int64_t{1} << 45}, fmt::TensorKind::Input, -1, 0),
                 T("y", {0, 1}, fmt::TensorKind::Intermediate, -1, 0)};
    for (TensorSpec& t : m.tensors) t.dtype = fmt::DType::U8;
    m.inputs = {0};
    m.outputs = {1};
    m.kernels = {{"concat", std::vector<int>(1 << 18, 0), {1}, {IntAttr("axis", 1)}}};
    Result r = Load(Serialize(m));
    EXPECT_EQ(r.code, SINTER_INVALID_ARGUMENT) << r.message;
    EXPECT_NE(r.message.find("overflows"), std::string::npos) << r.message;
    sinter_model_release(r.model);
  }
}

// A slice with a step far beyond the extent (x[::2**63-1]) takes one element.
TEST(HandMadeArtifactTest, SliceWithHugeStep) {
  for (int axis : {2, 3}) {
    ModelSpec m;
    std::vector<int64_t> out = {1, 2, 4, 4};
    out[axis] = 1;
    m.tensors = {T("x", {1, 2, 4, 4}, fmt::TensorKind::Input, -1, 0),
                 T("y", out, fmt::TensorKind::Intermediate, -1, 128)};
    m.inputs = {0};
    m.outputs = {1};
    m.kernels = {{"slice",
                  {0},
                  {1},
                  {IntAttr("axis", axis), IntAttr("start", 1), IntAttr("end", 4),
                   IntAttr("step", std::numeric_limits<int64_t>::max())}}};
    m.arena_bytes = 192;
    Result r = Load(Serialize(m));
    ASSERT_EQ(r.code, SINTER_OK) << r.message;
    sinter_session* s = nullptr;
    ASSERT_EQ(sinter_session_create(r.model, nullptr, &s), nullptr);
    std::vector<float> x(32), y(8);
    for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i);
    const int64_t dims[] = {1, 2, 4, 4};
    ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, dims, 4, x.data(), 128), nullptr);
    ASSERT_EQ(sinter_session_run(s), nullptr);
    ASSERT_EQ(sinter_session_copy_output(s, 0, y.data(), 32), nullptr);
    for (int i = 0; i < 8; ++i) {
      // axis 2: x[c, 1, j] for c, j; axis 3: x[c, r, 1] for c, r.
      float want = axis == 2 ? x[(i / 4) * 16 + 4 + i % 4] : x[(i / 4) * 16 + (i % 4) * 4 + 1];
      EXPECT_EQ(y[i], want) << "axis " << axis << " element " << i;
    }
    sinter_session_release(s);
    sinter_model_release(r.model);
  }
}

// Ops whose load-time checks read attributes the IR accepts on scalars.
TEST(HandMadeArtifactTest, ReductionOfAScalarLoadsAndRuns) {
  ModelSpec m;
  m.tensors = {T("x", {}, fmt::TensorKind::Input, -1, 0),
               T("y", {}, fmt::TensorKind::Intermediate, -1, 64)};
  m.inputs = {0};
  m.outputs = {1};
  m.kernels = {{"reduce_sum", {0}, {1}, {IntsAttr("axes", {0}), IntAttr("keepdim", 0)}}};
  m.kernels[0].attrs[1].kind = fmt::AttrKind::Bool;
  m.arena_bytes = 128;
  Result r = Load(Serialize(m));
  ASSERT_EQ(r.code, SINTER_OK) << r.message;
  sinter_session* s = nullptr;
  ASSERT_EQ(sinter_session_create(r.model, nullptr, &s), nullptr);
  float x = 2.5f, y = 0;
  ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, nullptr, 0, &x, 4), nullptr);
  ASSERT_EQ(sinter_session_run(s), nullptr);
  ASSERT_EQ(sinter_session_copy_output(s, 0, &y, 4), nullptr);
  EXPECT_EQ(y, 2.5f);
  sinter_session_release(s);
  sinter_model_release(r.model);
}

}  // namespace
}  // namespace sinter::testing
