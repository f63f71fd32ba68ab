// The fused_reduction kernel through the C API: graphs that the default
// pipeline fuses (softmax with a scale and mask, log_softmax with a division,
// layer_norm with a residual add and an activation), run on 1 and 3 threads
// and compared with double-precision references; then artifacts whose
// fused_reduction attributes or bodies were damaged (checksums redone) must
// fail to load with a clear error, never crash.
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ir/parser.h"
#include "runtime/format/file.h"
#include "runtime/format/sinter_generated.h"
#include "sinter/sinter.h"
#include "tests/runtime/artifact_fixtures.h"

namespace sinter::testing {
namespace {

namespace fmt = ::sinter::format;
using Tensor = std::vector<double>;

struct Case {
  const char* name;
  std::string ir;
  std::vector<std::vector<int64_t>> input_dims;
  // Reference over the double inputs.
  std::function<Tensor(const std::vector<Tensor>&)> ref;
};

int64_t Elements(const std::vector<int64_t>& d) {
  int64_t n = 1;
  for (int64_t e : d) n *= e;
  return n;
}

// Softmax or log_softmax over rows of `len`.
Tensor SoftmaxRows(const Tensor& x, int64_t len, bool log) {
  Tensor y(x.size());
  for (size_t r = 0; r < x.size() / len; ++r) {
    const double* xr = &x[r * len];
    double mx = -INFINITY, s = 0;
    for (int64_t i = 0; i < len; ++i) mx = std::max(mx, xr[i]);
    for (int64_t i = 0; i < len; ++i) s += std::exp(xr[i] - mx);
    for (int64_t i = 0; i < len; ++i)
      y[r * len + i] = log ? xr[i] - mx - std::log(s) : std::exp(xr[i] - mx) / s;
  }
  return y;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  // [2,4,8,40] scores, scale 0.125, mask [8,40] broadcast over batch and heads.
  cases.push_back({"SoftmaxScaleMask",
                   R"(
graph @main(%x: f32[2,4,8,40], %mask: f32[8,40]) {
  %s = const() {value = #0} : f32[]
  %a = mul(%x, %s) : f32[2,4,8,40]
  %b = add(%a, %mask) : f32[2,4,8,40]
  %p = softmax(%b) {axis = -1} : f32[2,4,8,40]
  return %p
}
blobs {
  #0 = 0x0000003E
})",
                   {{2, 4, 8, 40}, {8, 40}},
                   [](const std::vector<Tensor>& in) {
                     Tensor b(in[0].size());
                     for (size_t i = 0; i < b.size(); ++i) {
                       b[i] = static_cast<double>(static_cast<float>(in[0][i] * 0.125)) +
                              in[1][i % 320];
                     }
                     return SoftmaxRows(b, 40, false);
                   }});
  // Rows of 1000: several rows per block, a tail that is not a multiple of 8.
  cases.push_back({"LogSoftmaxDiv",
                   R"(
graph @main(%x: f32[37,1000]) {
  %t = const() {value = #0} : f32[]
  %a = div(%x, %t) : f32[37,1000]
  %p = log_softmax(%a) {axis = 1} : f32[37,1000]
  return %p
}
blobs {
  #0 = 0x00000040
})",
                   {{37, 1000}},
                   [](const std::vector<Tensor>& in) {
                     Tensor a(in[0].size());
                     for (size_t i = 0; i < a.size(); ++i) a[i] = in[0][i] / 2;
                     return SoftmaxRows(a, 1000, true);
                   }});
  // Residual add, layer_norm over the last two dims [3,33], then relu * y.
  cases.push_back({"LayerNormResidualEpilogue",
                   R"(
graph @main(%x: f32[50,3,33], %r: f32[50,3,33], %y: f32[3,33]) {
  %w = const() {value = #0} : f32[3,33]
  %b = const() {value = #1} : f32[3,33]
  %h = add(%x, %r) : f32[50,3,33]
  %n = layer_norm(%h, %w, %b) {axis = 1, eps = 1e-05} : f32[50,3,33]
  %a = relu(%n) : f32[50,3,33]
  %o = mul(%a, %y) : f32[50,3,33]
  return %o
}
blobs {
  #0 = WEIGHT
  #1 = BIAS
})",
                   {{50, 3, 33}, {50, 3, 33}, {3, 33}},
                   [](const std::vector<Tensor>& in) {
                     const int64_t len = 99;
                     std::vector<float> w = Pattern(len, 5), b = Pattern(len, 6);
                     Tensor out(in[0].size());
                     for (size_t r = 0; r < out.size() / len; ++r) {
                       Tensor h(len);
                       double mean = 0, var = 0;
                       for (int64_t i = 0; i < len; ++i) {
                         h[i] = static_cast<float>(in[0][r * len + i] + in[1][r * len + i]);
                         mean += h[i] / len;
                       }
                       for (int64_t i = 0; i < len; ++i) var += (h[i] - mean) * (h[i] - mean) / len;
                       for (int64_t i = 0; i < len; ++i) {
                         double n = (h[i] - mean) / std::sqrt(var + 1e-5) * w[i] + b[i];
                         out[r * len + i] = std::max(n, 0.0) * in[2][i];
                       }
                     }
                     return out;
                   }});
  // The hex blobs of the layer_norm weights.
  for (Case& c : cases) {
    for (auto [key, seed] : {std::pair<const char*, uint32_t>{"WEIGHT", 5}, {"BIAS", 6}}) {
      size_t at = c.ir.find(key);
      if (at == std::string::npos) continue;
      std::vector<float> v = Pattern(99, seed);
      std::string hex = "0x";
      const auto* p = reinterpret_cast<const unsigned char*>(v.data());
      for (size_t i = 0; i < v.size() * 4; ++i) {
        char buf[3];
        std::snprintf(buf, sizeof buf, "%02X", p[i]);
        hex += buf;
      }
      c.ir.replace(at, std::strlen(key), hex);
    }
  }
  return cases;
}

// Compiles `c` with the default pipeline and checks that a fused_reduction is
// what runs.
std::string CompileFused(const Case& c) {
  auto g = ir::Parse(c.ir);
  EXPECT_TRUE(g.ok()) << g.status();
  if (!g.ok()) return "";
  std::string bytes = CompileOrDie(**g, "default");
  int fused = 0, total = 0;
  for (const auto& op : (*g)->ops()) {
    if (op->kind() == ir::OpKind::kConst) continue;
    ++total;
    fused += op->kind() == ir::OpKind::kFusedReduction;
  }
  EXPECT_EQ(fused, 1) << c.name;
  EXPECT_EQ(total, 1) << c.name << ": everything runs in the one kernel";
  return bytes;
}

class FusedReductionTest : public ::testing::TestWithParam<size_t> {};

TEST_P(FusedReductionTest, MatchesDoubleReference) {
  const Case c = Cases()[GetParam()];
  std::string bytes = CompileFused(c);
  sinter_model* model = nullptr;
  ASSERT_EQ(sinter_model_load_memory(bytes.data(), bytes.size(), nullptr, &model), nullptr);
  std::vector<std::vector<float>> inputs;
  std::vector<Tensor> dinputs;
  for (size_t i = 0; i < c.input_dims.size(); ++i) {
    inputs.push_back(Pattern(Elements(c.input_dims[i]), 100 + static_cast<uint32_t>(i)));
    for (float& v : inputs.back()) v *= 4;  // spread the logits
    dinputs.emplace_back(inputs.back().begin(), inputs.back().end());
  }
  const Tensor want = c.ref(dinputs);
  for (int threads : {1, 3}) {
    sinter_session* s = nullptr;
    sinter_session_options o;
    sinter_session_options_init(&o);
    o.num_threads = threads;
    ASSERT_EQ(sinter_session_create(model, &o, &s), nullptr);
    for (size_t i = 0; i < inputs.size(); ++i) {
      ASSERT_EQ(
          sinter_session_set_input(s, i, SINTER_F32, c.input_dims[i].data(), c.input_dims[i].size(),
                                   inputs[i].data(), inputs[i].size() * sizeof(float)),
          nullptr);
    }
    ASSERT_EQ(sinter_session_run(s), nullptr);
    std::vector<float> got(want.size());
    ASSERT_EQ(sinter_session_copy_output(s, 0, got.data(), got.size() * sizeof(float)), nullptr);
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, std::abs(got[i] - want[i]) / (1e-2 + std::abs(want[i])));
    }
    EXPECT_LT(worst, 2e-5) << c.name << " threads " << threads;
    sinter_session_release(s);
  }
  sinter_model_release(model);
}

INSTANTIATE_TEST_SUITE_P(AllCases, FusedReductionTest, ::testing::Range<size_t>(0, 3),
                         [](const auto& info) { return std::string(Cases()[info.param].name); });

void RecomputeChecksums(std::string* bytes) {
  fmt::FileHeader h;
  std::memcpy(&h, bytes->data(), sizeof h);
  if (h.schema_offset <= bytes->size() && h.schema_bytes <= bytes->size() - h.schema_offset) {
    h.schema_crc32 = fmt::Crc32(bytes->data() + h.schema_offset, h.schema_bytes);
  }
  h.header_crc32 = fmt::Crc32(&h, offsetof(fmt::FileHeader, header_crc32));
  std::memcpy(bytes->data(), &h, sizeof h);
}

// The offset in `bytes` of field `field` (0 op, 1 type, 4 a, 8 b) of
// instruction `i` of the first fused_reduction's body for `role`; the offset
// of the body's role byte with i = -1, and of argument type `-2 - i` with
// i < -1.
size_t BodyOffset(const std::string& bytes, fmt::CodeRole role, int i, size_t field = 0) {
  fmt::FileHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  const fmt::Model* m = fmt::GetModel(bytes.data() + h.schema_offset);
  for (const fmt::Kernel* k : *m->kernels()) {
    if (k->op()->str() != "fused_reduction" || k->bodies() == nullptr) continue;
    for (const fmt::Body* b : *k->bodies()) {
      if (b->role() != role) continue;
      const uint8_t* at =
          i >= 0 ? reinterpret_cast<const uint8_t*>(b->instrs()->Get(i)) + field
          : i == -1
              ? reinterpret_cast<const flatbuffers::Table*>(b)->GetAddressOf(fmt::Body::VT_ROLE)
              : b->args()->Data() + (-2 - i);
      return at == nullptr ? std::string::npos
                           : at - reinterpret_cast<const uint8_t*>(bytes.data());
    }
  }
  return std::string::npos;
}

TEST(FusedReductionLoadTest, DamagedAttributesAndBodiesAreErrors) {
  const std::vector<Case> cases = Cases();
  const std::string softmax = CompileFused(cases[0]);
  const std::string norm = CompileFused(cases[2]);
  auto load = [](std::string bytes) {
    RecomputeChecksums(&bytes);
    sinter_model* model = nullptr;
    sinter_status* st = sinter_model_load_memory(bytes.data(), bytes.size(), nullptr, &model);
    EXPECT_EQ(model, nullptr);
    std::pair<sinter_status_code, std::string> r{SINTER_OK, ""};
    if (st != nullptr) r = {sinter_status_get_code(st), sinter_status_get_message(st)};
    sinter_status_free(st);
    return r;
  };
  // Attributes: a whole flatbuffer string (length prefix and terminator),
  // so that a name does not match inside a longer one.
  auto whole = [](const std::string& s) {
    std::string out(4, '\0');
    out[0] = static_cast<char>(s.size());
    return out + s + std::string(1, '\0');
  };
  struct Renamed {
    const std::string* artifact;
    std::string from, to;  // same length, so offsets stay valid
    sinter_status_code code;
    const char* message;
  };
  const Renamed renamed[] = {
      // An unknown kind is the kernel's to refuse; a renamed attribute is one
      // the op schema does not know: damage, refused before the kernel runs.
      {&softmax, whole("softmax"), whole("softmay"), SINTER_INVALID_ARGUMENT, "unknown kind"},
      {&norm, whole("eps"), whole("epz"), SINTER_DATA_LOSS, "epz"},
  };
  for (const Renamed& d : renamed) {
    std::string bytes = *d.artifact;
    const size_t at = bytes.find(d.from);
    ASSERT_NE(at, std::string::npos) << d.to;
    bytes.replace(at, d.from.size(), d.to.data(), d.from.size());
    auto [code, message] = load(bytes);
    EXPECT_EQ(code, d.code) << d.to << ": " << message;
    EXPECT_NE(message.find(d.message), std::string::npos) << message;
  }
  // Bodies: the loader's check of the description refuses each as damage.
  // The softmax prologue is const, mul(%0, const), add(mul, %1); the
  // layer_norm epilogue relu(%0), mul(relu, %1).
  struct Patched {
    const std::string* artifact;
    fmt::CodeRole role;
    int instr;
    size_t field;
    uint8_t value;
    const char* message;
  };
  const Patched patched[] = {
      {&softmax, fmt::CodeRole::Prologue, 2, 8, 7, "operand 1 is not an earlier value"},
      {&softmax, fmt::CodeRole::Prologue, 1, 0, 200, "unknown op 200"},
      {&softmax, fmt::CodeRole::Prologue, -1, 0, 0, "fused_reduction has no region 'body'"},
      {&norm, fmt::CodeRole::Epilogue, 1, 8, 9, "operand 1 is not an earlier value"},
      {&norm, fmt::CodeRole::Epilogue, -3, 0, static_cast<uint8_t>(fmt::DType::I64),
       "mul takes (f32, f32) -> f32, got (f32, i64) -> f32"},
      {&norm, fmt::CodeRole::Epilogue, 0, 1, static_cast<uint8_t>(fmt::DType::F64),
       "a type bodies do not hold"},
  };
  for (const Patched& d : patched) {
    SCOPED_TRACE(d.message);
    std::string bytes = *d.artifact;
    const size_t at = BodyOffset(bytes, d.role, d.instr, d.field);
    ASSERT_NE(at, std::string::npos);
    bytes[at] = static_cast<char>(d.value);
    auto [code, message] = load(bytes);
    EXPECT_EQ(code, SINTER_DATA_LOSS) << message;
    EXPECT_NE(message.find(d.message), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace sinter::testing
