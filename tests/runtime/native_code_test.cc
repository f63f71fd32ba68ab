// Native CPU code in artifacts: the LLVM-compiled kernels and the runtime's
// interpreter agree; the C API reports which ran; damaged code, or a kernel
// naming a function the code lacks, is DATA_LOSS and never runs.
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/format/file.h"
#include "runtime/format/sinter_generated.h"
#include "sinter/sinter.h"
#include "tests/runtime/artifact_fixtures.h"

namespace sinter::testing {
namespace {

namespace fmt = ::sinter::format;

const std::string& NativeArtifact() {
  static const std::string bytes = [] {
    ir::Graph g;
    BuildWideNet(&g);
    return CompileOrDie(g, "default");
  }();
  return bytes;
}

struct Loaded {
  sinter_status_code code = SINTER_OK;
  std::string message;
  sinter_model* model = nullptr;
};

Loaded Load(const std::string& bytes, bool disable_native) {
  Loaded r;
  sinter_model_options o;
  sinter_model_options_init(&o);
  o.disable_native_code = disable_native ? 1 : 0;
  sinter_status* s = sinter_model_load_memory(bytes.data(), bytes.size(), &o, &r.model);
  r.code = sinter_status_get_code(s);
  r.message = sinter_status_get_message(s);
  sinter_status_free(s);
  return r;
}

std::vector<float> RunModel(sinter_model* m, int threads) {
  sinter_session* s = nullptr;
  sinter_session_options o;
  sinter_session_options_init(&o);
  o.num_threads = threads;
  EXPECT_EQ(sinter_session_create(m, &o, &s), nullptr);
  sinter_tensor_info info;
  EXPECT_EQ(sinter_model_input_info(m, 0, &info), nullptr);
  std::vector<float> x = Pattern(static_cast<int64_t>(info.byte_size / 4), 99);
  EXPECT_EQ(
      sinter_session_set_input(s, 0, SINTER_F32, info.dims, info.rank, x.data(), info.byte_size),
      nullptr);
  EXPECT_EQ(sinter_session_run(s), nullptr);
  EXPECT_EQ(sinter_model_output_info(m, 0, &info), nullptr);
  std::vector<float> y(info.byte_size / 4);
  EXPECT_EQ(sinter_session_copy_output(s, 0, y.data(), info.byte_size), nullptr);
  sinter_session_release(s);
  return y;
}

bool HostHasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

TEST(NativeCodeTest, NativeAndInterpretedKernelsAgree) {
  Loaded native = Load(NativeArtifact(), false);
  Loaded interp = Load(NativeArtifact(), true);
  ASSERT_EQ(native.code, SINTER_OK) << native.message;
  ASSERT_EQ(interp.code, SINTER_OK) << interp.message;
  EXPECT_EQ(sinter_model_native_kernel_count(interp.model), 0u);
  if (HostHasAvx2()) {
    EXPECT_GT(sinter_model_native_kernel_count(native.model), 0u);
  } else {
    // Compiled for x86-64-v3: a CPU without AVX2 interprets.
    EXPECT_EQ(sinter_model_native_kernel_count(native.model), 0u);
  }
  for (int threads : {1, 2}) {
    std::vector<float> a = RunModel(native.model, threads), b = RunModel(interp.model, threads);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6f + 1e-5f * std::fabs(b[i]));
  }
  sinter_model_release(native.model);
  sinter_model_release(interp.model);
}

// A fused kernel of hundreds of instructions runs on both paths: the
// interpreter once refused programs over about 30 instructions that native
// code accepted, so a model ran on an AVX2 CPU and failed to load elsewhere.
TEST(NativeCodeTest, LongFusedChainRunsOnBothPaths) {
  ir::Graph g;
  BuildLongChain(&g, 60);
  const std::string bytes = CompileOrDie(g, "default");
  Loaded native = Load(bytes, false);
  Loaded interp = Load(bytes, true);
  ASSERT_EQ(native.code, SINTER_OK) << native.message;
  ASSERT_EQ(interp.code, SINTER_OK) << interp.message;
  // The reference, in double, from the same input the runs get.
  std::vector<float> x = Pattern(3 * 700, 99), bias(700);
  {
    ir::Graph h;
    BuildLongChain(&h, 1);
    for (const auto& op : h.ops()) {
      if (op->kind() == ir::OpKind::kConst && op->result()->type().shape.rank() == 1) {
        const auto& d = op->GetTensor("value");
        std::memcpy(bias.data(), d->bytes().data(), 700 * sizeof(float));
      }
    }
  }
  // The chain is one fused kernel of hundreds of instructions (the profile
  // label lists its ops): otherwise this test would check nothing.
  {
    sinter_session* s = nullptr;
    ASSERT_EQ(sinter_session_create(interp.model, nullptr, &s), nullptr);
    ASSERT_EQ(sinter_session_set_input(s, 0, SINTER_F32, std::vector<int64_t>{3, 700}.data(), 2,
                                       x.data(), x.size() * sizeof(float)),
              nullptr);
    ASSERT_EQ(sinter_session_set_profiling(s, 1), nullptr);
    ASSERT_EQ(sinter_session_run(s), nullptr);
    size_t longest = 0;
    for (size_t i = 0; i < sinter_session_profile_count(s); ++i) {
      sinter_profile_entry e;
      ASSERT_EQ(sinter_session_profile_entry(s, i, &e), nullptr);
      const std::string label = e.label;
      longest = std::max<size_t>(longest, std::count(label.begin(), label.end(), '+') + 1);
    }
    sinter_session_release(s);
    EXPECT_GE(longest, 300u) << "the chain did not fuse into one long kernel";
  }
  for (int threads : {1, 2}) {
    std::vector<float> a = RunModel(native.model, threads), b = RunModel(interp.model, threads);
    ASSERT_EQ(a.size(), x.size());
    ASSERT_EQ(b.size(), x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      double y = x[i];
      for (int k = 0; k < 60; ++k) {
        y = std::tanh(y * 0.9 + bias[i % 700] * 0.1) * 0.5 - bias[i % 700] * 0.05 + x[i] * 0.01;
      }
      ASSERT_NEAR(a[i], y, 1e-4) << "native, element " << i;
      ASSERT_NEAR(b[i], y, 1e-4) << "interpreter, element " << i;
    }
  }
  sinter_model_release(native.model);
  sinter_model_release(interp.model);
}

// The native code's segment, from the schema.
const fmt::Segment* NativeSegment(const std::string& bytes, fmt::FileHeader* h) {
  std::memcpy(h, bytes.data(), sizeof *h);
  const fmt::Model* m = fmt::GetModel(bytes.data() + h->schema_offset);
  if (m->code_objects() == nullptr || m->code_objects()->size() == 0) return nullptr;
  return m->segments()->Get(m->code_objects()->Get(0)->segment());
}

TEST(NativeCodeTest, DamagedCodeIsDataLossEvenWithoutWeightChecks) {
  fmt::FileHeader h;
  const fmt::Segment* seg = NativeSegment(NativeArtifact(), &h);
  ASSERT_NE(seg, nullptr) << "the default pipeline compiled no native code";
  for (uint64_t at : {uint64_t{0}, seg->size() / 2, seg->size() - 1}) {
    std::string bytes = NativeArtifact();
    bytes[h.data_offset + seg->offset() + at] ^= 0x5a;
    for (bool disable : {false, true}) {
      Loaded r = Load(bytes, disable);
      EXPECT_EQ(r.code, SINTER_DATA_LOSS) << r.message;
      EXPECT_NE(r.message.find("code object 0 (elf-x86_64-v3): checksum mismatch"),
                std::string::npos)
          << r.message;
      EXPECT_EQ(r.model, nullptr);
    }
  }
}

TEST(NativeCodeTest, KernelNamingAMissingFunctionIsDataLoss) {
  if (!HostHasAvx2()) GTEST_SKIP() << "the code is not loaded on a CPU without AVX2";
  std::string bytes = NativeArtifact();
  fmt::FileHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  const size_t at = bytes.find("sinter_k0", h.schema_offset);
  ASSERT_NE(at, std::string::npos);
  ASSERT_LT(at, h.schema_offset + h.schema_bytes);
  bytes[at + 7] = 'q';  // sinter_q0
  h.schema_crc32 = fmt::Crc32(bytes.data() + h.schema_offset, h.schema_bytes);
  h.header_crc32 = fmt::Crc32(&h, offsetof(fmt::FileHeader, header_crc32));
  std::memcpy(bytes.data(), &h, sizeof h);
  Loaded r = Load(bytes, false);
  EXPECT_EQ(r.code, SINTER_DATA_LOSS) << r.message;
  EXPECT_NE(r.message.find("native code has no function 'sinter_q0'"), std::string::npos)
      << r.message;
  // With native code disabled the programs are interpreted, so it loads.
  Loaded i = Load(bytes, true);
  EXPECT_EQ(i.code, SINTER_OK) << i.message;
  sinter_model_release(i.model);
}

// Runs every input of `m` on a seeded pattern and returns every output.
std::vector<std::vector<float>> RunAll(sinter_model* m, uint32_t seed) {
  sinter_session* s = nullptr;
  sinter_session_options o;
  sinter_session_options_init(&o);
  o.num_threads = 1;
  EXPECT_EQ(sinter_session_create(m, &o, &s), nullptr);
  for (size_t i = 0; i < sinter_model_input_count(m); ++i) {
    sinter_tensor_info info;
    EXPECT_EQ(sinter_model_input_info(m, i, &info), nullptr);
    std::vector<float> x = Pattern(static_cast<int64_t>(info.byte_size / 4), seed + i);
    EXPECT_EQ(
        sinter_session_set_input(s, i, SINTER_F32, info.dims, info.rank, x.data(), info.byte_size),
        nullptr);
  }
  EXPECT_EQ(sinter_session_run(s), nullptr);
  std::vector<std::vector<float>> outs;
  for (size_t i = 0; i < sinter_model_output_count(m); ++i) {
    sinter_tensor_info info;
    EXPECT_EQ(sinter_model_output_info(m, i, &info), nullptr);
    outs.emplace_back(info.byte_size / 4);
    EXPECT_EQ(sinter_session_copy_output(s, i, outs.back().data(), info.byte_size), nullptr);
  }
  sinter_session_release(s);
  return outs;
}

// Several models with native code alive at once, released in any order and
// loaded again: each must run its own code. (The loader once dlopened
// /proc/self/fd/N and closed N, so the next model's memory file got the same
// path and dlopen handed back the first model's library: wrong answers or a
// crash inside a foreign kernel.)
TEST(NativeCodeTest, SeveralModelsEachRunTheirOwnCode) {
  if (!HostHasAvx2()) GTEST_SKIP() << "the code is not loaded on a CPU without AVX2";
  // Two models whose code differs only in a constant, and two others.
  std::vector<std::string> artifacts;
  for (int k = 0; k < 4; ++k) {
    ir::Graph g;
    if (k < 2) BuildScaledTanh(&g, k == 0 ? 0.5f : 2.0f);
    if (k == 2) BuildWideNet(&g);
    if (k == 3) BuildConvResidual(&g);
    artifacts.push_back(CompileOrDie(g, "default"));
  }
  // The reference: each model interpreted (no native code at all).
  std::vector<std::vector<std::vector<float>>> want;
  for (const std::string& a : artifacts) {
    Loaded r = Load(a, true);
    ASSERT_EQ(r.code, SINTER_OK) << r.message;
    want.push_back(RunAll(r.model, 7));
    sinter_model_release(r.model);
  }
  auto check = [&](size_t k, sinter_model* m) {
    SCOPED_TRACE("model " + std::to_string(k));
    EXPECT_GT(sinter_model_native_kernel_count(m), 0u);
    std::vector<std::vector<float>> got = RunAll(m, 7);
    ASSERT_EQ(got.size(), want[k].size());
    for (size_t o = 0; o < got.size(); ++o) {
      ASSERT_EQ(got[o].size(), want[k][o].size());
      for (size_t i = 0; i < got[o].size(); ++i)
        ASSERT_NEAR(got[o][i], want[k][o][i], 1e-6f + 1e-5f * std::fabs(want[k][o][i]))
            << "output " << o << " element " << i;
    }
  };
  // Release orders: first to last, last to first, the middle ones first.
  for (std::vector<size_t> order :
       {std::vector<size_t>{0, 1, 2, 3}, std::vector<size_t>{3, 2, 1, 0},
        std::vector<size_t>{1, 2, 0, 3}}) {
    std::vector<sinter_model*> live(artifacts.size(), nullptr);
    for (size_t k = 0; k < artifacts.size(); ++k) {
      Loaded r = Load(artifacts[k], false);
      ASSERT_EQ(r.code, SINTER_OK) << r.message;
      live[k] = r.model;
    }
    for (size_t k = 0; k < live.size(); ++k) check(k, live[k]);
    // Release one, load its neighbour's artifact again into the freed slot,
    // and check every live model once more.
    for (size_t k : order) {
      sinter_model_release(live[k]);
      Loaded r = Load(artifacts[(k + 1) % artifacts.size()], false);
      ASSERT_EQ(r.code, SINTER_OK) << r.message;
      check((k + 1) % artifacts.size(), r.model);
      for (size_t j = 0; j < live.size(); ++j)
        if (j != k && live[j] != nullptr) check(j, live[j]);
      sinter_model_release(r.model);
      live[k] = nullptr;
    }
  }
}

// Another library in the process left an object loaded under a
// /proc/self/fd path and closed that descriptor (as this loader once did):
// the next model's memory file gets the same number, and dlopen would hand
// back the foreign object. The model must still run its own code.
TEST(NativeCodeTest, ForeignObjectUnderTheSamePathIsNotRun) {
  if (!HostHasAvx2()) GTEST_SKIP() << "the code is not loaded on a CPU without AVX2";
  ir::Graph ga, gb;
  BuildScaledTanh(&ga, 0.5f);
  BuildScaledTanh(&gb, 3.0f);
  const std::string a = CompileOrDie(ga, "default"), b = CompileOrDie(gb, "default");
  fmt::FileHeader h;
  const fmt::Segment* seg = NativeSegment(a, &h);
  ASSERT_NE(seg, nullptr);
  int fd = static_cast<int>(memfd_create("foreign", MFD_CLOEXEC));
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, a.data() + h.data_offset + seg->offset(), seg->size()),
            static_cast<ssize_t>(seg->size()));
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  void* foreign = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(foreign, nullptr) << dlerror();
  close(fd);  // the next descriptor opened gets this number again

  Loaded interp = Load(b, true), native = Load(b, false);
  ASSERT_EQ(interp.code, SINTER_OK) << interp.message;
  ASSERT_EQ(native.code, SINTER_OK) << native.message;
  EXPECT_GT(sinter_model_native_kernel_count(native.model), 0u);
  std::vector<std::vector<float>> want = RunAll(interp.model, 3), got = RunAll(native.model, 3);
  ASSERT_EQ(got.size(), 1u);
  for (size_t i = 0; i < got[0].size(); ++i)
    ASSERT_NEAR(got[0][i], want[0][i], 1e-6f + 1e-5f * std::fabs(want[0][i])) << i;
  sinter_model_release(native.model);
  sinter_model_release(interp.model);
  dlclose(foreign);
}

}  // namespace
}  // namespace sinter::testing
