// The runtime through its C API: small graphs compiled at O0 and with the
// default pipeline, loaded from memory and from a file, run and compared with
// double-precision references written here; then the API's contract (cleared
// out_ parameters, argument errors that name the input, preconditions, file
// and version errors), re-runs, threads, and the runtime library's NEEDED
// list.
#include <elf.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/format/file.h"
#include "sinter/sinter.h"
#include "tests/runtime/artifact_fixtures.h"

namespace sinter::testing {
namespace {

// ---- C API helpers ----------------------------------------------------------

struct ModelDeleter {
  void operator()(sinter_model* m) const { sinter_model_release(m); }
};
struct SessionDeleter {
  void operator()(sinter_session* s) const { sinter_session_release(s); }
};
using ModelPtr = std::unique_ptr<sinter_model, ModelDeleter>;
using SessionPtr = std::unique_ptr<sinter_session, SessionDeleter>;

// Succeeds on a NULL (OK) status; otherwise fails with its code and message.
// Frees the status either way.
::testing::AssertionResult IsOk(sinter_status* s) {
  if (s == nullptr) return ::testing::AssertionSuccess();
  auto r = ::testing::AssertionFailure() << sinter_status_code_name(sinter_status_get_code(s))
                                         << ": " << sinter_status_get_message(s);
  sinter_status_free(s);
  return r;
}

struct Error {
  sinter_status_code code;
  std::string message;
};

// Takes the code and message of a status and frees it.
Error Take(sinter_status* s) {
  Error e{sinter_status_get_code(s), sinter_status_get_message(s)};
  sinter_status_free(s);
  return e;
}

// A recognisable non-NULL value to put in out_ parameters before a call that
// must clear them.
template <typename T>
T* Garbage() {
  return reinterpret_cast<T*>(uintptr_t{0x5A5A5A5A});
}

ModelPtr LoadMemory(const std::string& bytes) {
  sinter_model* m = nullptr;
  EXPECT_TRUE(IsOk(sinter_model_load_memory(bytes.data(), bytes.size(), nullptr, &m)));
  return ModelPtr(m);
}

SessionPtr NewSession(sinter_model* m, int threads = 1) {
  sinter_session* s = nullptr;
  sinter_session_options o;
  sinter_session_options_init(&o);
  o.num_threads = threads;
  EXPECT_TRUE(IsOk(sinter_session_create(m, &o, &s)));
  return SessionPtr(s);
}

std::string TempPath(const std::string& stem) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "_" + info->name();
  std::replace_if(
      name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
  return ::testing::TempDir() + "/sinter_" + std::to_string(getpid()) + "_" + name + "_" + stem +
         ".sinter";
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

std::string Compile(void (*build)(ir::Graph*), const std::string& pipeline) {
  ir::Graph g;
  build(&g);
  return CompileOrDie(g, pipeline);
}

// ---- References ---------------------------------------------------------------

using Tensor = std::vector<double>;

Tensor ToDouble(const std::vector<float>& v) { return Tensor(v.begin(), v.end()); }

// x [1,3,8,8] -> conv(3x3, pad 1) + b -> relu -> + x -> mean over H, W.
std::vector<Tensor> ConvResidualRef(const std::vector<Tensor>& in) {
  const Tensor& x = in[0];
  Tensor w = ToDouble(Pattern(81, kConvWeightSeed)), b = ToDouble(Pattern(3, kConvBiasSeed));
  Tensor out(3, 0.0);
  for (int o = 0; o < 3; ++o) {
    for (int i = 0; i < 8; ++i) {
      for (int j = 0; j < 8; ++j) {
        double acc = b[o];
        for (int c = 0; c < 3; ++c) {
          for (int ki = 0; ki < 3; ++ki) {
            for (int kj = 0; kj < 3; ++kj) {
              int yi = i - 1 + ki, xj = j - 1 + kj;
              if (yi < 0 || yi >= 8 || xj < 0 || xj >= 8) continue;
              acc += x[(c * 8 + yi) * 8 + xj] * w[((o * 3 + c) * 3 + ki) * 3 + kj];
            }
          }
        }
        out[o] += std::max(acc, 0.0) + x[(o * 8 + i) * 8 + j];
      }
    }
    out[o] /= 64.0;
  }
  return {out};
}

void SoftmaxRows(Tensor* t, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    double* row = t->data() + r * cols;
    double mx = *std::max_element(row, row + cols), sum = 0;
    for (int c = 0; c < cols; ++c) sum += row[c] = std::exp(row[c] - mx);
    for (int c = 0; c < cols; ++c) row[c] /= sum;
  }
}

std::vector<Tensor> LinearSoftmaxRef(const std::vector<Tensor>& in) {
  const Tensor& x = in[0];
  Tensor w = ToDouble(Pattern(160, kLinearWeightSeed)), b = ToDouble(Pattern(10, kLinearBiasSeed));
  Tensor y(40);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 10; ++j) {
      double acc = b[j];
      for (int k = 0; k < 16; ++k) acc += x[i * 16 + k] * w[j * 16 + k];
      y[i * 10 + j] = acc;
    }
  }
  SoftmaxRows(&y, 4, 10);
  return {y};
}

// concat(a [2,3,4], b [2,5,4], axis 1) -> rows 1,3,5 -> transpose (2,0,1) ->
// [4,2,3] read row-major as [8,3].
std::vector<Tensor> MovementRef(const std::vector<Tensor>& in) {
  const Tensor &a = in[0], &b = in[1];
  auto cat = [&](int n, int c, int k) {
    return c < 3 ? a[(n * 3 + c) * 4 + k] : b[(n * 5 + (c - 3)) * 4 + k];
  };
  Tensor y;
  for (int k = 0; k < 4; ++k) {
    for (int n = 0; n < 2; ++n) {
      for (int s = 0; s < 3; ++s) y.push_back(cat(n, 1 + 2 * s, k));
    }
  }
  return {y};
}

std::vector<Tensor> TwoOutputsRef(const std::vector<Tensor>& in) {
  const Tensor &x = in[0], &y = in[1];
  Tensor sum(15), colmax(5, -INFINITY);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 5; ++j) {
      sum[i * 5 + j] = x[i * 5 + j] + y[j];
      colmax[j] = std::max(colmax[j], std::tanh(x[i * 5 + j]));
    }
  }
  return {sum, colmax};
}

std::vector<Tensor> WideNetRef(const std::vector<Tensor>& in) {
  const Tensor& x = in[0];
  Tensor w = ToDouble(Pattern(16 * 8 * 9, 41)), w2 = ToDouble(Pattern(32 * 16, 42));
  Tensor mean(2 * 16, 0.0);
  for (int n = 0; n < 2; ++n) {
    for (int o = 0; o < 16; ++o) {
      double total = 0;
      for (int i = 0; i < 32; ++i) {
        for (int j = 0; j < 32; ++j) {
          double acc = 0;
          for (int c = 0; c < 8; ++c) {
            for (int ki = 0; ki < 3; ++ki) {
              for (int kj = 0; kj < 3; ++kj) {
                int yi = i - 1 + ki, xj = j - 1 + kj;
                if (yi < 0 || yi >= 32 || xj < 0 || xj >= 32) continue;
                acc += x[((n * 8 + c) * 32 + yi) * 32 + xj] * w[((o * 8 + c) * 3 + ki) * 3 + kj];
              }
            }
          }
          total += std::max(acc, 0.0);
        }
      }
      mean[n * 16 + o] = total / 1024.0;
    }
  }
  Tensor p(2 * 32);
  for (int n = 0; n < 2; ++n) {
    for (int j = 0; j < 32; ++j) {
      double acc = 0;
      for (int k = 0; k < 16; ++k) acc += mean[n * 16 + k] * w2[j * 16 + k];
      p[n * 32 + j] = acc;
    }
  }
  SoftmaxRows(&p, 2, 32);
  return {p};
}

struct TensorSpec {
  std::string name;
  std::vector<int64_t> dims;
  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

struct Case {
  const char* name;
  void (*build)(ir::Graph*);
  std::vector<TensorSpec> inputs, outputs;
  std::vector<Tensor> (*reference)(const std::vector<Tensor>&);
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      {"ConvResidual",
       BuildConvResidual,
       {{"x", {1, 3, 8, 8}}},
       {{"out", {1, 3}}},
       ConvResidualRef},
      {"LinearSoftmax",
       BuildLinearSoftmax,
       {{"x", {4, 16}}},
       {{"probs", {4, 10}}},
       LinearSoftmaxRef},
      {"MovementChain",
       BuildMovementChain,
       {{"a", {2, 3, 4}}, {"b", {2, 5, 4}}},
       {{"y", {8, 3}}},
       MovementRef},
      {"TwoOutputs",
       BuildTwoOutputs,
       {{"x", {3, 5}}, {"y", {5}}},
       {{"sum", {3, 5}}, {"colmax", {5}}},
       TwoOutputsRef},
      {"WideNet", BuildWideNet, {{"x", {2, 8, 32, 32}}}, {{"p", {2, 32}}}, WideNetRef},
  };
  return cases;
}

// Inputs of a case for a given seed, as floats (what the session gets) and
// doubles (what the reference gets).
std::vector<std::vector<float>> MakeInputs(const Case& c, uint32_t seed) {
  std::vector<std::vector<float>> in;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    in.push_back(Pattern(c.inputs[i].elements(), seed * 7919u + static_cast<uint32_t>(i)));
  }
  return in;
}

std::vector<Tensor> RunReference(const Case& c, const std::vector<std::vector<float>>& in) {
  std::vector<Tensor> d;
  for (const auto& v : in) d.push_back(ToDouble(v));
  return c.reference(d);
}

::testing::AssertionResult SetInputs(sinter_session* s, const Case& c,
                                     const std::vector<std::vector<float>>& in) {
  for (size_t i = 0; i < in.size(); ++i) {
    const auto& dims = c.inputs[i].dims;
    auto r = IsOk(sinter_session_set_input(s, i, SINTER_F32, dims.data(), dims.size(), in[i].data(),
                                           in[i].size() * sizeof(float)));
    if (!r) return r << " (input " << i << ")";
  }
  return ::testing::AssertionSuccess();
}

std::vector<std::vector<float>> CopyOutputs(sinter_session* s, const Case& c) {
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < c.outputs.size(); ++i) {
    std::vector<float> v(static_cast<size_t>(c.outputs[i].elements()));
    EXPECT_TRUE(IsOk(sinter_session_copy_output(s, i, v.data(), v.size() * sizeof(float))));
    out.push_back(std::move(v));
  }
  return out;
}

// Counts elements farther than 1e-5 (relative to magnitudes above 1) from the
// reference; reports the first few.
::testing::AssertionResult Near(const std::vector<std::vector<float>>& got,
                                const std::vector<Tensor>& want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << got.size() << " outputs, expected " << want.size();
  }
  int bad = 0;
  std::string report;
  for (size_t o = 0; o < got.size(); ++o) {
    if (got[o].size() != want[o].size()) {
      return ::testing::AssertionFailure() << "output " << o << " has " << got[o].size()
                                           << " elements, expected " << want[o].size();
    }
    for (size_t i = 0; i < got[o].size(); ++i) {
      double tol = 1e-5 * std::max(1.0, std::fabs(want[o][i]));
      if (!(std::fabs(got[o][i] - want[o][i]) <= tol)) {
        if (++bad <= 5) {
          report += "output " + std::to_string(o) + "[" + std::to_string(i) +
                    "]: " + std::to_string(got[o][i]) + " vs " + std::to_string(want[o][i]) + "\n";
        }
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " elements differ:\n" << report;
}

// ---- Parity: every case x pipeline x load path ------------------------------------

enum class LoadFrom { kMemory, kFile };

class RuntimeParityTest
    : public ::testing::TestWithParam<std::tuple<size_t, const char*, LoadFrom>> {};

TEST_P(RuntimeParityTest, MatchesReference) {
  const Case& c = Cases()[std::get<0>(GetParam())];
  const std::string pipeline = std::get<1>(GetParam());
  const std::string bytes = Compile(c.build, pipeline);

  sinter_model* raw = nullptr;
  if (std::get<2>(GetParam()) == LoadFrom::kMemory) {
    ASSERT_TRUE(IsOk(sinter_model_load_memory(bytes.data(), bytes.size(), nullptr, &raw)));
  } else {
    std::string path = TempPath(c.name);
    WriteFile(path, bytes);
    sinter_model_options opts;
    sinter_model_options_init(&opts);
    opts.verify_weights_checksum = 1;
    ASSERT_TRUE(IsOk(sinter_model_load_file(path.c_str(), &opts, &raw)));
    std::remove(path.c_str());  // the mapping outlives the name
  }
  ModelPtr model(raw);
  ASSERT_NE(model, nullptr);

  // Input and output descriptions.
  ASSERT_EQ(sinter_model_input_count(model.get()), c.inputs.size());
  ASSERT_EQ(sinter_model_output_count(model.get()), c.outputs.size());
  for (int io = 0; io < 2; ++io) {
    const auto& specs = io == 0 ? c.inputs : c.outputs;
    for (size_t i = 0; i < specs.size(); ++i) {
      sinter_tensor_info info;
      ASSERT_TRUE(IsOk(io == 0 ? sinter_model_input_info(model.get(), i, &info)
                               : sinter_model_output_info(model.get(), i, &info)));
      ASSERT_NE(info.name, nullptr);
      EXPECT_STREQ(info.name, specs[i].name.c_str());
      EXPECT_EQ(info.dtype, SINTER_F32);
      ASSERT_EQ(info.rank, specs[i].dims.size());
      EXPECT_EQ(std::vector<int64_t>(info.dims, info.dims + info.rank), specs[i].dims);
      EXPECT_EQ(info.byte_size, static_cast<size_t>(specs[i].elements()) * sizeof(float));
    }
  }
  EXPECT_GT(sinter_model_arena_bytes(model.get()), 0u);

  SessionPtr session = NewSession(model.get());
  ASSERT_NE(session, nullptr);
  for (uint32_t seed : {1u, 2u}) {
    auto in = MakeInputs(c, seed);
    ASSERT_TRUE(SetInputs(session.get(), c, in));
    ASSERT_TRUE(IsOk(sinter_session_run(session.get())));
    EXPECT_TRUE(Near(CopyOutputs(session.get(), c), RunReference(c, in))) << "seed " << seed;

    // get_output borrows the same bytes copy_output copies.
    const void* data = nullptr;
    size_t size = 0;
    ASSERT_TRUE(IsOk(sinter_session_get_output(session.get(), 0, &data, &size)));
    ASSERT_NE(data, nullptr);
    EXPECT_EQ(size, static_cast<size_t>(c.outputs[0].elements()) * sizeof(float));
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, RuntimeParityTest,
                         ::testing::Combine(::testing::Range<size_t>(0, 5),
                                            ::testing::Values("O0", "default"),
                                            ::testing::Values(LoadFrom::kMemory, LoadFrom::kFile)),
                         [](const auto& info) {
                           return std::string(Cases()[std::get<0>(info.param)].name) + "_" +
                                  std::get<1>(info.param) +
                                  (std::get<2>(info.param) == LoadFrom::kMemory ? "_Memory"
                                                                                : "_File");
                         });

// ---- The C API contract ----------------------------------------------------------------

const std::string& TwoOutputsArtifact() {
  static const std::string bytes = Compile(BuildTwoOutputs, "default");
  return bytes;
}

TEST(CApiTest, StatusBasics) {
  EXPECT_EQ(sinter_status_get_code(nullptr), SINTER_OK);
  EXPECT_STREQ(sinter_status_get_message(nullptr), "OK");
  sinter_status_free(nullptr);
  EXPECT_STREQ(sinter_status_code_name(SINTER_DATA_LOSS), "DATA_LOSS");
  EXPECT_STREQ(sinter_status_code_name(SINTER_VERSION_MISMATCH), "VERSION_MISMATCH");
  EXPECT_STRNE(sinter_version(), "");
  EXPECT_EQ(sinter_dtype_size(SINTER_F32), 4u);
  EXPECT_EQ(sinter_dtype_size(SINTER_I64), 8u);
  EXPECT_EQ(sinter_dtype_size(SINTER_BOOL), 1u);
  EXPECT_STREQ(sinter_dtype_name(SINTER_F16), "f16");
}

TEST(CApiTest, NullArgumentsAreInvalidAndNamed) {
  const std::string& bytes = TwoOutputsArtifact();
  sinter_model* m = Garbage<sinter_model>();
  Error e = Take(sinter_model_load_memory(nullptr, 16, nullptr, &m));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("data"), std::string::npos) << e.message;
  EXPECT_EQ(m, nullptr);

  e = Take(sinter_model_load_memory(bytes.data(), bytes.size(), nullptr, nullptr));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("out_model"), std::string::npos) << e.message;

  m = Garbage<sinter_model>();
  e = Take(sinter_model_load_file(nullptr, nullptr, &m));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("path"), std::string::npos) << e.message;
  EXPECT_EQ(m, nullptr);

  sinter_tensor_info info;
  std::memset(&info, 0xAB, sizeof info);
  e = Take(sinter_model_input_info(nullptr, 0, &info));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("model"), std::string::npos) << e.message;
  EXPECT_EQ(info.name, nullptr);
  EXPECT_EQ(info.dims, nullptr);
  EXPECT_EQ(info.rank, 0u);
  EXPECT_EQ(info.byte_size, 0u);

  ModelPtr model = LoadMemory(bytes);
  ASSERT_NE(model, nullptr);
  e = Take(sinter_model_output_info(model.get(), 0, nullptr));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("out_info"), std::string::npos) << e.message;
  EXPECT_EQ(sinter_model_input_count(nullptr), 0u);
  EXPECT_EQ(sinter_model_output_count(nullptr), 0u);
  EXPECT_EQ(sinter_model_arena_bytes(nullptr), 0u);

  sinter_session* s = Garbage<sinter_session>();
  e = Take(sinter_session_create(nullptr, nullptr, &s));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("model"), std::string::npos) << e.message;
  EXPECT_EQ(s, nullptr);
  e = Take(sinter_session_create(model.get(), nullptr, nullptr));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("out_session"), std::string::npos) << e.message;

  float x[15] = {};
  int64_t dims[] = {3, 5};
  e = Take(sinter_session_set_input(nullptr, 0, SINTER_F32, dims, 2, x, sizeof x));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("session"), std::string::npos) << e.message;
  e = Take(sinter_session_run(nullptr));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("session"), std::string::npos) << e.message;

  const void* data = Garbage<const void>();
  size_t size = 77;
  e = Take(sinter_session_get_output(nullptr, 0, &data, &size));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_EQ(data, nullptr);
  EXPECT_EQ(size, 0u);
  e = Take(sinter_session_copy_output(nullptr, 0, x, sizeof x));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("session"), std::string::npos) << e.message;

  SessionPtr session = NewSession(model.get());
  ASSERT_NE(session, nullptr);
  size = 77;
  e = Take(sinter_session_get_output(session.get(), 0, nullptr, &size));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("out_data"), std::string::npos) << e.message;
  EXPECT_EQ(size, 0u);
  // NULL data or dims with a non-empty size or rank.
  e = Take(sinter_session_set_input(session.get(), 0, SINTER_F32, dims, 2, nullptr, sizeof x));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  e = Take(sinter_session_set_input(session.get(), 0, SINTER_F32, nullptr, 2, x, sizeof x));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
}

TEST(CApiTest, OutParametersClearedOnError) {
  std::string bytes = TwoOutputsArtifact();
  bytes[0] ^= 0x01;  // bad magic
  sinter_model* m = Garbage<sinter_model>();
  Error e = Take(sinter_model_load_memory(bytes.data(), bytes.size(), nullptr, &m));
  EXPECT_EQ(e.code, SINTER_DATA_LOSS);
  EXPECT_NE(e.message.find("magic"), std::string::npos) << e.message;
  EXPECT_EQ(m, nullptr);

  ModelPtr model = LoadMemory(TwoOutputsArtifact());
  ASSERT_NE(model, nullptr);
  sinter_tensor_info info;
  std::memset(&info, 0xAB, sizeof info);
  e = Take(sinter_model_input_info(model.get(), 2, &info));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("input index 2"), std::string::npos) << e.message;
  EXPECT_EQ(info.name, nullptr);
  EXPECT_EQ(info.rank, 0u);
  std::memset(&info, 0xAB, sizeof info);
  e = Take(sinter_model_output_info(model.get(), 2, &info));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_EQ(info.name, nullptr);
  EXPECT_EQ(info.byte_size, 0u);

  sinter_session* s = Garbage<sinter_session>();
  sinter_session_options bad;
  sinter_session_options_init(&bad);
  bad.num_threads = -1;
  e = Take(sinter_session_create(model.get(), &bad, &s));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("num_threads"), std::string::npos) << e.message;
  EXPECT_EQ(s, nullptr);

  SessionPtr session = NewSession(model.get());
  ASSERT_NE(session, nullptr);
  const void* data = Garbage<const void>();
  size_t size = 77;
  e = Take(sinter_session_get_output(session.get(), 0, &data, &size));
  EXPECT_EQ(e.code, SINTER_FAILED_PRECONDITION);
  EXPECT_EQ(data, nullptr);
  EXPECT_EQ(size, 0u);
}

TEST(CApiTest, SetInputMismatchesNameTheInput) {
  ModelPtr model = LoadMemory(TwoOutputsArtifact());
  ASSERT_NE(model, nullptr);
  SessionPtr session = NewSession(model.get());
  ASSERT_NE(session, nullptr);
  // Input 1 is "y", f32[5].
  float y[5] = {1, 2, 3, 4, 5};
  const int64_t good[] = {5}, wrong_dims[] = {4}, wrong_rank[] = {1, 5};
  struct Bad {
    const char* what;
    sinter_dtype dtype;
    const int64_t* dims;
    size_t rank;
    size_t bytes;
    const char* mentions;
  };
  const Bad cases[] = {
      {"dtype", SINTER_I32, good, 1, sizeof y, "dtype"},
      {"rank", SINTER_F32, wrong_rank, 2, sizeof y, "shape"},
      {"dims", SINTER_F32, wrong_dims, 1, sizeof y, "shape"},
      {"byte size", SINTER_F32, good, 1, sizeof y - 4, "bytes"},
  };
  for (const Bad& b : cases) {
    Error e = Take(sinter_session_set_input(session.get(), 1, b.dtype, b.dims, b.rank, y, b.bytes));
    EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT) << b.what;
    EXPECT_NE(e.message.find("input 1"), std::string::npos) << b.what << ": " << e.message;
    EXPECT_NE(e.message.find("'y'"), std::string::npos) << b.what << ": " << e.message;
    EXPECT_NE(e.message.find(b.mentions), std::string::npos) << b.what << ": " << e.message;
  }
  Error e = Take(sinter_session_set_input(session.get(), 2, SINTER_F32, good, 1, y, sizeof y));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("out of range"), std::string::npos) << e.message;
  // None of the failed calls counts as setting the input.
  e = Take(sinter_session_run(session.get()));
  EXPECT_EQ(e.code, SINTER_FAILED_PRECONDITION);
}

// One artifact, any batch in its range (issue 12): -1 and the range in the
// tensor info, each run's output dims, the batch on a leading and on a
// middle axis, and the errors that name the symbol, the range and the input.
TEST(CApiTest, DynamicBatchRunsEveryBatchInItsRange) {
  ModelPtr model = LoadMemory(DynamicBatchArtifact());
  ASSERT_NE(model, nullptr);
  sinter_tensor_info info;
  ASSERT_TRUE(IsOk(sinter_model_input_info(model.get(), 1, &info)));
  EXPECT_EQ(std::vector<int64_t>(info.dims, info.dims + info.rank),
            (std::vector<int64_t>{2, -1, 4}));
  EXPECT_EQ(info.byte_size, 0u);
  ASSERT_TRUE(IsOk(sinter_model_output_info(model.get(), 0, &info)));
  EXPECT_EQ(std::vector<int64_t>(info.dims, info.dims + info.rank),
            (std::vector<int64_t>{2, -1, 4}));
  const char* symbol = nullptr;
  int64_t lo = 0, hi = 0;
  ASSERT_TRUE(IsOk(sinter_model_dim_range(model.get(), 0, 1, 1, &symbol, &lo, &hi)));
  EXPECT_STREQ(symbol, "batch");
  EXPECT_EQ(lo, 1);
  EXPECT_EQ(hi, 8);
  ASSERT_TRUE(IsOk(sinter_model_dim_range(model.get(), 1, 1, 0, &symbol, &lo, &hi)));
  Error e = Take(sinter_model_dim_range(model.get(), 0, 1, 2, &symbol, &lo, &hi));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("not a dynamic batch"), std::string::npos) << e.message;

  // Two threads: batch 3 runs samples 0 and 1 side by side on one-thread
  // lanes and sample 2 on both threads; batch 8 runs on the lanes only.
  SessionPtr session = NewSession(model.get(), 2);
  ASSERT_NE(session, nullptr);
  int64_t dims[8];
  size_t rank = 0;
  e = Take(sinter_session_output_shape(session.get(), 0, dims, 8, &rank));
  EXPECT_EQ(e.code, SINTER_FAILED_PRECONDITION);
  const float c[3] = {1.5f, -2, 0.25f};
  const int64_t dc[] = {3};
  ASSERT_TRUE(IsOk(sinter_session_set_input(session.get(), 2, SINTER_F32, dc, 1, c, sizeof c)));
  for (int64_t n : {3, 1, 8}) {
    SCOPED_TRACE("batch " + std::to_string(n));
    std::vector<float> a = Pattern(n * 4, 1), x = Pattern(2 * n * 4, 2);
    const int64_t da[] = {n, 4}, dx[] = {2, n, 4};
    ASSERT_TRUE(IsOk(
        sinter_session_set_input(session.get(), 0, SINTER_F32, da, 2, a.data(), a.size() * 4)));
    ASSERT_TRUE(IsOk(
        sinter_session_set_input(session.get(), 1, SINTER_F32, dx, 3, x.data(), x.size() * 4)));
    ASSERT_TRUE(IsOk(sinter_session_run(session.get())));
    ASSERT_TRUE(IsOk(sinter_session_output_shape(session.get(), 0, dims, 8, &rank)));
    EXPECT_EQ(std::vector<int64_t>(dims, dims + rank), (std::vector<int64_t>{2, n, 4}));
    const void* data = nullptr;
    size_t bytes = 0;
    ASSERT_TRUE(IsOk(sinter_session_get_output(session.get(), 0, &data, &bytes)));
    ASSERT_EQ(bytes, static_cast<size_t>(2 * n * 4 * 4));
    const float* sum = static_cast<const float*>(data);
    for (int64_t k = 0; k < 2 * n * 4; ++k) EXPECT_EQ(sum[k], a[k % (n * 4)] + x[k]) << k;
    ASSERT_TRUE(IsOk(sinter_session_output_shape(session.get(), 1, dims, 8, &rank)));
    EXPECT_EQ(std::vector<int64_t>(dims, dims + rank), (std::vector<int64_t>{n, 4}));
    ASSERT_TRUE(IsOk(sinter_session_get_output(session.get(), 1, &data, &bytes)));
    ASSERT_EQ(bytes, static_cast<size_t>(n * 4 * 4));
    for (int64_t k = 0; k < n * 4; ++k)
      EXPECT_NEAR(static_cast<const float*>(data)[k], std::tanh(a[k]), 1e-6) << k;
    ASSERT_TRUE(IsOk(sinter_session_get_output(session.get(), 2, &data, &bytes)));
    ASSERT_EQ(bytes, sizeof c);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(static_cast<const float*>(data)[k], 2 * c[k]) << k;
  }
  // Outside the range, and an axis that is not the batch's.
  std::vector<float> big(9 * 4 * 2);
  for (int64_t n : {int64_t{0}, int64_t{9}}) {
    const int64_t d[] = {n, 4};
    e = Take(sinter_session_set_input(session.get(), 0, SINTER_F32, d, 2, big.data(), n * 16));
    EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
    EXPECT_NE(e.message.find("input 0 'a': batch = " + std::to_string(n) +
                             " is outside its range [1, 8]"),
              std::string::npos)
        << e.message;
  }
  const int64_t rank3[] = {2, 4, 1};
  e = Take(sinter_session_set_input(session.get(), 0, SINTER_F32, rank3, 3, big.data(), 32));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("expected [batch,4]"), std::string::npos) << e.message;
  // Two inputs that disagree on the batch: a run refuses, naming both.
  const int64_t a2[] = {2, 4}, x3[] = {2, 3, 4};
  ASSERT_TRUE(IsOk(sinter_session_set_input(session.get(), 0, SINTER_F32, a2, 2, big.data(), 32)));
  ASSERT_TRUE(IsOk(sinter_session_set_input(session.get(), 1, SINTER_F32, x3, 3, big.data(), 96)));
  e = Take(sinter_session_run(session.get()));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("inputs 0 'a' and 1 'b' disagree on batch: 2 and 3"), std::string::npos)
      << e.message;
  e = Take(sinter_session_output_shape(session.get(), 0, dims, 8, &rank));
  EXPECT_EQ(e.code, SINTER_FAILED_PRECONDITION);
}

TEST(CApiTest, PreconditionsAndOutputErrors) {
  ModelPtr model = LoadMemory(TwoOutputsArtifact());
  ASSERT_NE(model, nullptr);
  SessionPtr session = NewSession(model.get());
  ASSERT_NE(session, nullptr);
  const Case& c = Cases()[3];
  ASSERT_STREQ(c.name, "TwoOutputs");
  auto in = MakeInputs(c, 5);

  Error e = Take(sinter_session_run(session.get()));
  EXPECT_EQ(e.code, SINTER_FAILED_PRECONDITION);
  EXPECT_NE(e.message.find("'x'"), std::string::npos) << e.message;
  // With only x set, the message names y.
  const int64_t xd[] = {3, 5};
  ASSERT_TRUE(IsOk(sinter_session_set_input(session.get(), 0, SINTER_F32, xd, 2, in[0].data(),
                                            in[0].size() * sizeof(float))));
  e = Take(sinter_session_run(session.get()));
  EXPECT_EQ(e.code, SINTER_FAILED_PRECONDITION);
  EXPECT_NE(e.message.find("'y'"), std::string::npos) << e.message;

  float buf[15];
  e = Take(sinter_session_copy_output(session.get(), 0, buf, sizeof buf));
  EXPECT_EQ(e.code, SINTER_FAILED_PRECONDITION);

  ASSERT_TRUE(SetInputs(session.get(), c, in));
  ASSERT_TRUE(IsOk(sinter_session_run(session.get())));
  const void* data = Garbage<const void>();
  size_t size = 77;
  e = Take(sinter_session_get_output(session.get(), 2, &data, &size));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("output index 2"), std::string::npos) << e.message;
  EXPECT_EQ(data, nullptr);
  EXPECT_EQ(size, 0u);
  e = Take(sinter_session_copy_output(session.get(), 7, buf, sizeof buf));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  e = Take(sinter_session_copy_output(session.get(), 0, buf, sizeof buf - 4));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("60 bytes"), std::string::npos) << e.message;
  e = Take(sinter_session_copy_output(session.get(), 1, buf, sizeof buf));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  e = Take(sinter_session_copy_output(session.get(), 0, nullptr, sizeof buf));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_TRUE(IsOk(sinter_session_copy_output(session.get(), 0, buf, sizeof buf)));
}

TEST(CApiTest, MissingFileIsNotFound) {
  std::string path = TempPath("does_not_exist");
  sinter_model* m = Garbage<sinter_model>();
  Error e = Take(sinter_model_load_file(path.c_str(), nullptr, &m));
  EXPECT_EQ(e.code, SINTER_NOT_FOUND);
  EXPECT_NE(e.message.find(path), std::string::npos) << e.message;
  EXPECT_EQ(m, nullptr);
}

TEST(CApiTest, DirectoryAndEmptyFileAreRejected) {
  sinter_model* m = Garbage<sinter_model>();
  Error e = Take(sinter_model_load_file(::testing::TempDir().c_str(), nullptr, &m));
  EXPECT_NE(e.code, SINTER_OK);
  EXPECT_EQ(m, nullptr);

  std::string path = TempPath("empty");
  WriteFile(path, "");
  m = Garbage<sinter_model>();
  e = Take(sinter_model_load_file(path.c_str(), nullptr, &m));
  EXPECT_EQ(e.code, SINTER_DATA_LOSS);
  EXPECT_EQ(m, nullptr);
  std::remove(path.c_str());

  e = Take(sinter_model_load_memory(nullptr, 0, nullptr, &m));
  EXPECT_EQ(e.code, SINTER_DATA_LOSS);
  EXPECT_EQ(m, nullptr);
}

// Special files: a FIFO would block open() forever waiting for a writer;
// /dev/zero is endless. Each must be refused at once, naming the path.
TEST(CApiTest, FifoAndDevicesAreRefusedWithoutBlocking) {
  std::string fifo = TempPath("fifo");
  std::remove(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  for (const std::string& path : {fifo, std::string("/dev/zero"), std::string("/dev/null")}) {
    SCOPED_TRACE(path);
    std::atomic<bool> done{false};
    Error e{};
    sinter_model* m = Garbage<sinter_model>();
    std::thread t([&] {
      e = Take(sinter_model_load_file(path.c_str(), nullptr, &m));
      done = true;
    });
    for (int i = 0; i < 500 && !done; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!done) {
      ADD_FAILURE() << "loading blocked for 5 s";
      // Unblock the reader so the test can end.
      int w = open(path.c_str(), O_WRONLY | O_NONBLOCK);
      if (w >= 0) close(w);
    }
    t.join();
    EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT) << e.message;
    EXPECT_NE(e.message.find("not a regular file"), std::string::npos) << e.message;
    EXPECT_EQ(m, nullptr);
  }
  std::remove(fifo.c_str());
}

// A sinter_dtype from C can hold any int: out-of-range values are refused
// before they are used as the enum, and NULL buffers are named.
TEST(CApiTest, InvalidDtypeValuesAndNullBuffersAreNamed) {
  ModelPtr model = LoadMemory(TwoOutputsArtifact());
  ASSERT_NE(model, nullptr);
  SessionPtr session = NewSession(model.get());
  ASSERT_NE(session, nullptr);
  float x[15] = {};
  const int64_t dims[] = {3, 5};
  for (int raw : {9, 100, -1, 0x7fffffff}) {
    sinter_dtype bad;
    std::memcpy(&bad, &raw, sizeof raw);  // as a C caller's int arrives
    Error e = Take(sinter_session_set_input(session.get(), 0, bad, dims, 2, x, sizeof x));
    EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT) << raw;
    EXPECT_NE(e.message.find(std::to_string(raw) + " is not a sinter_dtype"), std::string::npos)
        << e.message;
    EXPECT_EQ(sinter_dtype_size(bad), 0u);
    EXPECT_STREQ(sinter_dtype_name(bad), "?");
  }
  Error e =
      Take(sinter_session_set_input(session.get(), 0, SINTER_F32, dims, 2, nullptr, sizeof x));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("data must not be NULL"), std::string::npos) << e.message;
  e = Take(sinter_session_set_input(session.get(), 0, SINTER_F32, nullptr, 2, x, sizeof x));
  EXPECT_NE(e.message.find("dims must not be NULL"), std::string::npos) << e.message;
  e = Take(sinter_session_copy_output(session.get(), 0, nullptr, 60));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("data must not be NULL"), std::string::npos) << e.message;
}

// When the system cannot start a worker thread (here: a default stack size
// no address space can hold), creating a session is RESOURCE_EXHAUSTED, and
// the process is left as it was: a later session works.
TEST(SessionTest, ThreadCreationFailureIsResourceExhausted) {
  ModelPtr model = LoadMemory(TwoOutputsArtifact());
  ASSERT_NE(model, nullptr);
  pthread_attr_t saved, huge;
  ASSERT_EQ(pthread_getattr_default_np(&saved), 0);
  ASSERT_EQ(pthread_attr_init(&huge), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&huge, size_t{1} << 46), 0);
  ASSERT_EQ(pthread_setattr_default_np(&huge), 0);
  sinter_session* s = Garbage<sinter_session>();
  sinter_session_options o;
  sinter_session_options_init(&o);
  o.num_threads = 4;
  Error e = Take(sinter_session_create(model.get(), &o, &s));
  ASSERT_EQ(pthread_setattr_default_np(&saved), 0);
  pthread_attr_destroy(&huge);
  pthread_attr_destroy(&saved);
  EXPECT_EQ(e.code, SINTER_RESOURCE_EXHAUSTED) << e.message;
  EXPECT_NE(e.message.find("cannot start worker thread 1 of 3"), std::string::npos) << e.message;
  EXPECT_EQ(s, nullptr);
  SessionPtr ok = NewSession(model.get(), 4);
  EXPECT_NE(ok, nullptr);
}

// The same for the threads of a batched run's lanes: the run fails with
// RESOURCE_EXHAUSTED (no thread left joinable), and the session runs again
// once threads can start.
TEST(SessionTest, BatchLaneThreadFailureIsResourceExhausted) {
  ModelPtr model = LoadMemory(DynamicBatchArtifact());
  ASSERT_NE(model, nullptr);
  SessionPtr session = NewSession(model.get(), 3);
  ASSERT_NE(session, nullptr);
  std::vector<float> a(6 * 4, 0.5f), x(2 * 6 * 4, 0.25f);
  const float c[3] = {1, 2, 3};
  const int64_t da[] = {6, 4}, dx[] = {2, 6, 4}, dc[] = {3};
  ASSERT_TRUE(
      IsOk(sinter_session_set_input(session.get(), 0, SINTER_F32, da, 2, a.data(), a.size() * 4)));
  ASSERT_TRUE(
      IsOk(sinter_session_set_input(session.get(), 1, SINTER_F32, dx, 3, x.data(), x.size() * 4)));
  ASSERT_TRUE(IsOk(sinter_session_set_input(session.get(), 2, SINTER_F32, dc, 1, c, sizeof c)));
  pthread_attr_t saved, huge;
  ASSERT_EQ(pthread_getattr_default_np(&saved), 0);
  ASSERT_EQ(pthread_attr_init(&huge), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&huge, size_t{1} << 46), 0);
  ASSERT_EQ(pthread_setattr_default_np(&huge), 0);
  Error e = Take(sinter_session_run(session.get()));
  ASSERT_EQ(pthread_setattr_default_np(&saved), 0);
  pthread_attr_destroy(&huge);
  pthread_attr_destroy(&saved);
  EXPECT_EQ(e.code, SINTER_RESOURCE_EXHAUSTED) << e.message;
  EXPECT_NE(e.message.find("cannot start a thread for a batch lane"), std::string::npos)
      << e.message;
  ASSERT_TRUE(IsOk(sinter_session_run(session.get())));
  const void* data = nullptr;
  size_t bytes = 0;
  ASSERT_TRUE(IsOk(sinter_session_get_output(session.get(), 0, &data, &bytes)));
  ASSERT_EQ(bytes, x.size() * 4);
  EXPECT_EQ(static_cast<const float*>(data)[47], 0.75f);
}

// Under an address-space limit (RLIMIT_AS, as containers set), an arena that
// does not fit is RESOURCE_EXHAUSTED naming its size, and the process goes
// on: the same model's small sibling still gets a session and runs. In a
// child process, since a lowered limit cannot be raised again.
TEST(SessionTest, ArenaPastTheAddressSpaceLimitIsResourceExhausted) {
#ifdef SINTER_TEST_SANITIZED
  GTEST_SKIP() << "the sanitizers reserve terabytes of address space for their shadow";
#else
  // relu over f32[2^28] (1 GiB) written over a second 1 GiB tensor: a 2 GiB
  // arena, and an artifact of a few hundred bytes.
  auto make = [](int64_t n) {
    ir::Graph g;
    ir::Value* x = g.AddInput(ir::TensorType{ir::DType::kF32, ir::Shape::Of({n})}, "x");
    ir::Builder b(&g);
    absl::StatusOr<ir::Value*> e = b.Make(ir::OpKind::kExp, {x});
    absl::StatusOr<ir::Value*> y = b.Make(ir::OpKind::kRelu, {*e});
    g.AddOutput(*y);
    return CompileOrDie(g, "O0");
  };
  const std::string big = make(int64_t{1} << 28), small = make(1000);
  std::fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child: 512 MiB of address space beyond what it maps now.
    long pages = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    const rlim_t limit = static_cast<rlim_t>(pages) * sysconf(_SC_PAGESIZE) + (rlim_t{512} << 20);
    rlimit rl{limit, limit};
    if (pages == 0 || setrlimit(RLIMIT_AS, &rl) != 0) _exit(2);
    sinter_model* m = nullptr;
    if (sinter_model_load_memory(big.data(), big.size(), nullptr, &m) != nullptr) _exit(3);
    sinter_session* s = nullptr;
    sinter_status* st = sinter_session_create(m, nullptr, &s);
    const bool exhausted = st != nullptr && sinter_status_get_code(st) == SINTER_RESOURCE_EXHAUSTED;
    const std::string message = st ? sinter_status_get_message(st) : "";
    std::fprintf(stderr, "child: %s\n", message.c_str());
    sinter_status_free(st);
    sinter_model_release(m);
    if (!exhausted || s != nullptr) _exit(4);
    if (message.find("2147483") == std::string::npos) _exit(5);  // the size, 2 GiB and padding
    // The process is usable: a model that fits runs.
    if (sinter_model_load_memory(small.data(), small.size(), nullptr, &m) != nullptr) _exit(6);
    if (sinter_session_create(m, nullptr, &s) != nullptr) _exit(7);
    std::vector<float> x(1000, -1.f);
    const int64_t dims[] = {1000};
    if (sinter_session_set_input(s, 0, SINTER_F32, dims, 1, x.data(), x.size() * 4) != nullptr ||
        sinter_session_run(s) != nullptr)
      _exit(8);
    sinter_session_release(s);
    sinter_model_release(m);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "2: no limit set, 3: load failed, 4: not RESOURCE_EXHAUSTED, 5: no size in the message, "
         "6-8: the small model failed afterwards";
#endif
}

// Options structs grow: struct_size says how much of one the caller has.
TEST(CApiTest, OptionsStructsAreSizedAndInitialised) {
  const std::string& bytes = TwoOutputsArtifact();
  sinter_model_options o;
  std::memset(&o, 0x5A, sizeof o);
  sinter_model_options_init(&o);
  EXPECT_EQ(o.struct_size, sizeof o);
  EXPECT_EQ(o.verify_weights_checksum, 0);
  EXPECT_EQ(o.disable_native_code, 0);
  EXPECT_EQ(o.cuda_device, 0);
  sinter_model* m = nullptr;
  ASSERT_TRUE(IsOk(sinter_model_load_memory(bytes.data(), bytes.size(), &o, &m)));
  ModelPtr model(m);

  // A caller built against an older, shorter struct: the fields past its
  // size are never read (here they hold garbage) and take their defaults.
  std::memset(&o, 0x5A, sizeof o);
  o.struct_size = offsetof(sinter_model_options, disable_native_code);
  o.verify_weights_checksum = 1;
  m = nullptr;
  ASSERT_TRUE(IsOk(sinter_model_load_memory(bytes.data(), bytes.size(), &o, &m)));
  sinter_model_release(m);

  o.struct_size = 0;  // never initialised
  m = Garbage<sinter_model>();
  Error e = Take(sinter_model_load_memory(bytes.data(), bytes.size(), &o, &m));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("sinter_model_options_init"), std::string::npos) << e.message;
  EXPECT_EQ(m, nullptr);

  sinter_session_options so;
  std::memset(&so, 0x5A, sizeof so);
  sinter_session_options_init(&so);
  EXPECT_EQ(so.struct_size, sizeof so);
  EXPECT_EQ(so.num_threads, 0);
  EXPECT_EQ(so.disable_cuda_graph, 0);
  so.struct_size = 0;
  sinter_session* s = Garbage<sinter_session>();
  e = Take(sinter_session_create(model.get(), &so, &s));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(e.message.find("sinter_session_options_init"), std::string::npos) << e.message;
  EXPECT_EQ(s, nullptr);
  so.struct_size = offsetof(sinter_session_options, disable_cuda_graph);
  so.num_threads = 2;
  ASSERT_TRUE(IsOk(sinter_session_create(model.get(), &so, &s)));
  sinter_session_release(s);
}

// Verification without loading: the same verdict as a load, no model.
TEST(CApiTest, VerifyMemoryGivesTheLoadersVerdict) {
  const std::string& bytes = TwoOutputsArtifact();
  EXPECT_TRUE(IsOk(sinter_model_verify_memory(bytes.data(), bytes.size(), nullptr)));
  std::string bad = bytes;
  bad[0] ^= 1;
  Error e = Take(sinter_model_verify_memory(bad.data(), bad.size(), nullptr));
  EXPECT_EQ(e.code, SINTER_DATA_LOSS);
  EXPECT_NE(e.message.find("magic"), std::string::npos) << e.message;
  e = Take(sinter_model_verify_memory(nullptr, 8, nullptr));
  EXPECT_EQ(e.code, SINTER_INVALID_ARGUMENT);
  e = Take(sinter_model_verify_memory(bytes.data(), bytes.size() / 2, nullptr));
  EXPECT_EQ(e.code, SINTER_DATA_LOSS);
}

TEST(CApiTest, BumpedVersionIsVersionMismatch) {
  std::string bytes = TwoOutputsArtifact();
  format::FileHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  h.version = format::kFormatVersion + 1;
  // Without a new header checksum the file just looks damaged.
  std::memcpy(bytes.data(), &h, sizeof h);
  sinter_model* m = Garbage<sinter_model>();
  Error e = Take(sinter_model_load_memory(bytes.data(), bytes.size(), nullptr, &m));
  EXPECT_EQ(e.code, SINTER_DATA_LOSS);
  EXPECT_EQ(m, nullptr);

  h.header_crc32 = format::Crc32(&h, offsetof(format::FileHeader, header_crc32));
  ASSERT_EQ(offsetof(format::FileHeader, header_crc32), 60u);
  std::memcpy(bytes.data(), &h, sizeof h);
  e = Take(sinter_model_load_memory(bytes.data(), bytes.size(), nullptr, &m));
  EXPECT_EQ(e.code, SINTER_VERSION_MISMATCH);
  EXPECT_NE(e.message.find("version " + std::to_string(format::kFormatVersion + 1)),
            std::string::npos)
      << e.message;
  EXPECT_EQ(m, nullptr);

  std::string path = TempPath("v2");
  WriteFile(path, bytes);
  e = Take(sinter_model_load_file(path.c_str(), nullptr, &m));
  EXPECT_EQ(e.code, SINTER_VERSION_MISMATCH);
  EXPECT_NE(e.message.find(path), std::string::npos) << e.message;
  std::remove(path.c_str());
}

TEST(CApiTest, ProfilingTimesEveryKernelAndNamesItsOps) {
  ModelPtr model = LoadMemory(Compile(BuildConvResidual, "default"));
  SessionPtr s = NewSession(model.get());
  std::vector<float> x = Pattern(3 * 8 * 8, 5);
  const int64_t dims[] = {1, 3, 8, 8};
  ASSERT_TRUE(
      IsOk(sinter_session_set_input(s.get(), 0, SINTER_F32, dims, 4, x.data(), x.size() * 4)));
  ASSERT_TRUE(IsOk(sinter_session_run(s.get())));
  EXPECT_EQ(sinter_session_profile_count(s.get()), 0u);  // not profiled yet
  ASSERT_TRUE(IsOk(sinter_session_set_profiling(s.get(), 1)));
  ASSERT_TRUE(IsOk(sinter_session_run(s.get())));
  const size_t n = sinter_session_profile_count(s.get());
  ASSERT_GT(n, 0u);
  bool conv = false;
  double end = 0;
  for (size_t i = 0; i < n; ++i) {
    sinter_profile_entry e;
    ASSERT_TRUE(IsOk(sinter_session_profile_entry(s.get(), i, &e)));
    EXPECT_GE(e.start_us, end - 1e-3) << "kernels run in order";
    EXPECT_GE(e.duration_us, 0);
    end = e.start_us + e.duration_us;
    EXPECT_STRNE(e.label, "");
    // conv2d -> relu -> add x fuse into one kernel with an epilogue.
    if (std::string(e.kernel) == "conv2d") {
      conv = true;
      EXPECT_STREQ(e.label, "conv2d + relu + add");
    }
  }
  EXPECT_TRUE(conv);
  sinter_profile_entry e;
  Error err = Take(sinter_session_profile_entry(s.get(), n, &e));
  EXPECT_EQ(err.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(err.message.find("out of range"), std::string::npos) << err.message;
  EXPECT_EQ(Take(sinter_session_profile_entry(s.get(), 0, nullptr)).code, SINTER_INVALID_ARGUMENT);
  EXPECT_EQ(Take(sinter_session_set_profiling(nullptr, 1)).code, SINTER_INVALID_ARGUMENT);
  EXPECT_EQ(sinter_session_profile_count(nullptr), 0u);
}

TEST(CApiTest, KernelCostCountsConvolutionAndGemmArithmetic) {
  ModelPtr model = LoadMemory(Compile(BuildWideNet, "default"));
  const size_t n = sinter_model_kernel_count(model.get());
  ASSERT_GT(n, 2u);
  bool conv = false, linear = false;
  for (size_t i = 0; i < n; ++i) {
    double flops = -1;
    const char* shape = nullptr;
    ASSERT_TRUE(IsOk(sinter_model_kernel_cost(model.get(), i, &flops, &shape)));
    ASSERT_NE(shape, nullptr);
    const std::string text = shape;
    if (text.rfind("conv ", 0) == 0) {
      conv = true;
      // 2 images x 16 channels x 32x32 outputs, each 8 x 3x3 multiply-adds.
      EXPECT_EQ(flops, 2.0 * (2 * 16 * 32 * 32) * (8 * 3 * 3));
      EXPECT_TRUE(text == "conv 3x3/1 8->16 out 2x32x32 nhwc" ||
                  text == "conv 3x3/1 8->16 out 2x32x32 nchw")
          << text;
    } else if (text.rfind("linear ", 0) == 0) {
      linear = true;
      EXPECT_EQ(flops, 2.0 * 2 * 16 * 32);
      EXPECT_EQ(text, "linear 2x16 * 16x32");
    } else {
      EXPECT_EQ(flops, 0) << text << ": only arithmetic kernels count";
      EXPECT_EQ(text.front(), '[') << text;
    }
  }
  EXPECT_TRUE(conv);
  EXPECT_TRUE(linear);
  double flops = -1;
  const char* shape = "x";
  Error err = Take(sinter_model_kernel_cost(model.get(), n, &flops, &shape));
  EXPECT_EQ(err.code, SINTER_INVALID_ARGUMENT);
  EXPECT_NE(err.message.find("out of range"), std::string::npos) << err.message;
  EXPECT_EQ(flops, 0);
  EXPECT_EQ(shape, nullptr);
  EXPECT_TRUE(IsOk(sinter_model_kernel_cost(model.get(), 0, nullptr, nullptr)));
  EXPECT_EQ(Take(sinter_model_kernel_cost(nullptr, 0, &flops, &shape)).code,
            SINTER_INVALID_ARGUMENT);
  EXPECT_EQ(sinter_model_kernel_count(nullptr), 0u);
}

TEST(CApiTest, LoadMemoryCopiesTheBytes) {
  std::string bytes = TwoOutputsArtifact();
  ModelPtr model = LoadMemory(bytes);
  ASSERT_NE(model, nullptr);
  std::fill(bytes.begin(), bytes.end(), '\xEE');
  bytes.clear();
  bytes.shrink_to_fit();
  const Case& c = Cases()[3];
  SessionPtr session = NewSession(model.get());
  auto in = MakeInputs(c, 9);
  ASSERT_TRUE(SetInputs(session.get(), c, in));
  ASSERT_TRUE(IsOk(sinter_session_run(session.get())));
  EXPECT_TRUE(Near(CopyOutputs(session.get(), c), RunReference(c, in)));
}

// ---- Sessions: re-runs, threads, lifetime ----------------------------------------------

TEST(SessionTest, RerunWithoutResettingInputsIsStable) {
  for (size_t ci : {0, 2, 3}) {
    const Case& c = Cases()[ci];
    ModelPtr model = LoadMemory(Compile(c.build, "default"));
    ASSERT_NE(model, nullptr);
    SessionPtr session = NewSession(model.get(), 2);
    auto in = MakeInputs(c, 3);
    ASSERT_TRUE(SetInputs(session.get(), c, in));
    ASSERT_TRUE(IsOk(sinter_session_run(session.get())));
    auto first = CopyOutputs(session.get(), c);
    ASSERT_TRUE(IsOk(sinter_session_run(session.get())));
    auto second = CopyOutputs(session.get(), c);
    ASSERT_TRUE(IsOk(sinter_session_run(session.get())));
    EXPECT_EQ(first, second) << c.name;
    EXPECT_EQ(first, CopyOutputs(session.get(), c)) << c.name;
    EXPECT_TRUE(Near(first, RunReference(c, in))) << c.name;
  }
}

TEST(SessionTest, FourThreadsShareOneModel) {
  const Case& c = Cases()[0];
  ModelPtr model = LoadMemory(Compile(c.build, "default"));
  ASSERT_NE(model, nullptr);
  constexpr int kThreads = 4, kRuns = 40;
  std::atomic<int> failures{0}, runs{0};
  std::vector<std::string> first_failure(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      sinter_session* raw = nullptr;
      sinter_session_options o;
      sinter_session_options_init(&o);
      o.num_threads = t % 2 + 1;  // some sessions have a pool of their own
      if (!IsOk(sinter_session_create(model.get(), &o, &raw))) {
        ++failures;
        return;
      }
      SessionPtr session(raw);
      for (int r = 0; r < kRuns; ++r) {
        auto in = MakeInputs(c, static_cast<uint32_t>(100 + t * kRuns + r));
        auto ok = SetInputs(session.get(), c, in);
        if (ok) ok = IsOk(sinter_session_run(session.get()));
        if (ok) ok = Near(CopyOutputs(session.get(), c), RunReference(c, in));
        if (!ok) {
          if (failures++ == 0) first_failure[t] = ok.message();
        } else {
          ++runs;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (const auto& f : first_failure) EXPECT_EQ(f, "");
  EXPECT_EQ(runs.load(), kThreads * kRuns);
}

TEST(SessionTest, SessionsOutliveTheModelHandle) {
  const Case& c = Cases()[1];
  ModelPtr model = LoadMemory(Compile(c.build, "O0"));
  ASSERT_NE(model, nullptr);
  SessionPtr a = NewSession(model.get()), b = NewSession(model.get(), 3);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  model.reset();  // sinter_model_release: the sessions hold the model now
  for (sinter_session* s : {a.get(), b.get()}) {
    auto in = MakeInputs(c, 17);
    ASSERT_TRUE(SetInputs(s, c, in));
    ASSERT_TRUE(IsOk(sinter_session_run(s)));
    EXPECT_TRUE(Near(CopyOutputs(s, c), RunReference(c, in)));
  }
  a.reset();
  auto in = MakeInputs(c, 18);
  ASSERT_TRUE(SetInputs(b.get(), c, in));
  ASSERT_TRUE(IsOk(sinter_session_run(b.get())));
  EXPECT_TRUE(Near(CopyOutputs(b.get(), c), RunReference(c, in)));
}

TEST(SessionTest, ThreadCountDoesNotChangeResults) {
  for (size_t ci = 0; ci < Cases().size(); ++ci) {
    const Case& c = Cases()[ci];
    ModelPtr model = LoadMemory(Compile(c.build, "default"));
    ASSERT_NE(model, nullptr);
    auto in = MakeInputs(c, 23);
    std::vector<std::vector<std::vector<float>>> results;
    for (int threads : {1, 4, 0}) {
      SessionPtr s = NewSession(model.get(), threads);
      ASSERT_NE(s, nullptr);
      ASSERT_TRUE(SetInputs(s.get(), c, in));
      ASSERT_TRUE(IsOk(sinter_session_run(s.get())));
      results.push_back(CopyOutputs(s.get(), c));
    }
    EXPECT_EQ(results[0], results[1]) << c.name << ": 1 vs 4 threads";
    EXPECT_EQ(results[0], results[2]) << c.name << ": 1 thread vs one per core";
    EXPECT_TRUE(Near(results[0], RunReference(c, in))) << c.name;
  }
}

// ---- The runtime library links only the C and C++ runtimes ---------------------------------

// DT_NEEDED entries of an ELF64 shared object, read from its section headers
// (.dynamic and the string table it links to), so no readelf is needed.
::testing::AssertionResult ReadNeeded(const std::string& path, std::vector<std::string>* out) {
  std::ifstream f(path, std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (file.size() < sizeof(Elf64_Ehdr))
    return ::testing::AssertionFailure() << "cannot read " << path;
  Elf64_Ehdr eh;
  std::memcpy(&eh, file.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64) {
    return ::testing::AssertionFailure() << path << " is not an ELF64 file";
  }
  auto section = [&](size_t i, Elf64_Shdr* sh) {
    uint64_t at = eh.e_shoff + i * sizeof(Elf64_Shdr);
    if (i >= eh.e_shnum || at + sizeof(Elf64_Shdr) > file.size()) return false;
    std::memcpy(sh, file.data() + at, sizeof *sh);
    return sh->sh_offset + sh->sh_size <= file.size() || sh->sh_type == SHT_NOBITS;
  };
  bool found = false;
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr dyn, str;
    if (!section(i, &dyn) || dyn.sh_type != SHT_DYNAMIC) continue;
    if (!section(dyn.sh_link, &str)) return ::testing::AssertionFailure() << "bad .dynstr link";
    found = true;
    for (uint64_t at = 0; at + sizeof(Elf64_Dyn) <= dyn.sh_size; at += sizeof(Elf64_Dyn)) {
      Elf64_Dyn d;
      std::memcpy(&d, file.data() + dyn.sh_offset + at, sizeof d);
      if (d.d_tag == DT_NULL) break;
      if (d.d_tag != DT_NEEDED) continue;
      if (d.d_un.d_val >= str.sh_size) return ::testing::AssertionFailure() << "bad DT_NEEDED";
      const char* s = file.data() + str.sh_offset + d.d_un.d_val;
      out->emplace_back(s, strnlen(s, str.sh_size - d.d_un.d_val));
    }
  }
  if (!found) return ::testing::AssertionFailure() << path << " has no .dynamic section";
  return ::testing::AssertionSuccess();
}

TEST(RuntimeLibraryTest, NeedsOnlySystemLibraries) {
  std::vector<std::string> needed;
  ASSERT_TRUE(ReadNeeded(SINTER_RUNTIME_LIBRARY, &needed));
  std::vector<std::string> allowed = {"libc.so",       "libstdc++.so", "libm.so", "libdl.so",
                                      "libpthread.so", "libgcc_s.so",  "ld-linux"};
#ifdef SINTER_TEST_SANITIZED
  // A sanitizer build links its runtimes into every shared object.
  for (const char* s : {"libasan.so", "libubsan.so", "libtsan.so", "liblsan.so"})
    allowed.push_back(s);
#endif
  std::string all, unexpected;
  for (const std::string& n : needed) {
    all += (all.empty() ? "" : ", ") + n;
    bool ok = std::any_of(allowed.begin(), allowed.end(),
                          [&](const std::string& a) { return n.rfind(a, 0) == 0; });
    if (!ok) unexpected += (unexpected.empty() ? "" : ", ") + n;
  }
  EXPECT_FALSE(needed.empty()) << SINTER_RUNTIME_LIBRARY;
  EXPECT_EQ(unexpected, "") << SINTER_RUNTIME_LIBRARY
                            << " needs unexpected libraries; NEEDED: " << all;
}

}  // namespace
}  // namespace sinter::testing

namespace sinter::testing {
namespace {

// The IR lets a scalar "reduce" over its one implicit axis; the runtime must
// load and run what the compiler makes of it.
TEST(CompilerOutputTest, ReductionOfAScalar) {
  for (const char* pipeline : {"O0", "default"}) {
    ir::Graph g;
    ir::Builder b(&g);
    ir::Value* x = g.AddInput(ir::TensorType{ir::DType::kF32, ir::Shape::Of({})}, "x");
    auto y = b.Make(ir::OpKind::kReduceSum, {x},
                    {{"axes", std::vector<int64_t>{0}}, {"keepdim", false}});
    ASSERT_TRUE(y.ok()) << y.status();
    ir::Value* z = *b.Make(ir::OpKind::kNeg, {*y});
    z->set_name("z");
    g.AddOutput(z);
    ModelPtr model = LoadMemory(CompileOrDie(g, pipeline));
    ASSERT_NE(model, nullptr) << pipeline;
    SessionPtr s = NewSession(model.get());
    float in = 1.25f, out = 0;
    ASSERT_TRUE(IsOk(sinter_session_set_input(s.get(), 0, SINTER_F32, nullptr, 0, &in, 4)));
    ASSERT_TRUE(IsOk(sinter_session_run(s.get())));
    ASSERT_TRUE(IsOk(sinter_session_copy_output(s.get(), 0, &out, 4)));
    EXPECT_EQ(out, -1.25f) << pipeline;
  }
}

}  // namespace
}  // namespace sinter::testing
