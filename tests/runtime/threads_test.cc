// One model shared by 16 threads, each with its own session, 500 runs each,
// every output bit-identical to a single-threaded run of the same inputs;
// meanwhile another thread creates, runs and releases sessions, and the
// caller's model handle is released while all of them still run (sessions
// keep the model alive). Only the C API: this test is built and run under
// ThreadSanitizer by scripts/test.sh (build-tsan), where it links nothing but
// the runtime, so the artifacts come from outside:
// SINTER_THREADS_ARTIFACTS=a.sinter:b.sinter (ctest passes ones that
// make_test_artifact writes; the TSan run adds an LSTM compiled by sinterc).
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sinter/sinter.h"

namespace {

std::vector<std::string> Artifacts() {
  std::vector<std::string> out;
  const char* env = std::getenv("SINTER_THREADS_ARTIFACTS");
  if (env == nullptr) return out;
  std::stringstream ss(env);
  for (std::string p; std::getline(ss, p, ':');)
    if (!p.empty()) out.push_back(p);
  return out;
}

std::string Message(sinter_status* st) {
  std::string m = st ? sinter_status_get_message(st) : "";
  sinter_status_free(st);
  return m;
}

// Inputs of seed `seed` for every input of `model`: small floats, or small
// integers (in range for an embedding).
std::vector<std::vector<uint8_t>> MakeInputs(sinter_model* model, uint32_t seed) {
  std::vector<std::vector<uint8_t>> in;
  for (size_t i = 0; i < sinter_model_input_count(model); ++i) {
    sinter_tensor_info info;
    EXPECT_EQ(Message(sinter_model_input_info(model, i, &info)), "");
    std::vector<uint8_t> bytes(info.byte_size);
    uint32_t s = seed * 2654435761u + static_cast<uint32_t>(i);
    if (info.dtype == SINTER_F32) {
      for (size_t e = 0; e + 4 <= bytes.size(); e += 4) {
        s = s * 1664525u + 1013904223u;
        const float v = static_cast<float>(static_cast<int32_t>(s >> 8) % 2000) / 1000.0f;
        std::memcpy(&bytes[e], &v, 4);
      }
    }
    in.push_back(std::move(bytes));
  }
  return in;
}

// What a run needs of the model, read once: sessions outlive the model
// handle, which the test releases while they run.
struct Io {
  std::vector<sinter_tensor_info> inputs;
  std::vector<std::vector<int64_t>> dims;  // owned copies of inputs[i].dims
  std::vector<size_t> output_bytes;
};

Io ReadIo(sinter_model* model) {
  Io io;
  for (size_t i = 0; i < sinter_model_input_count(model); ++i) {
    sinter_tensor_info info;
    EXPECT_EQ(Message(sinter_model_input_info(model, i, &info)), "");
    io.dims.emplace_back(info.dims, info.dims + info.rank);
    io.inputs.push_back(info);
  }
  for (size_t i = 0; i < sinter_model_output_count(model); ++i) {
    sinter_tensor_info info;
    EXPECT_EQ(Message(sinter_model_output_info(model, i, &info)), "");
    io.output_bytes.push_back(info.byte_size);
  }
  return io;
}

// Sets `in`, runs, and returns every output's bytes; "" in *error or why not.
std::vector<std::vector<uint8_t>> RunOnce(const Io& io, sinter_session* s,
                                          const std::vector<std::vector<uint8_t>>& in,
                                          std::string* error) {
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = 0; i < in.size(); ++i) {
    const sinter_tensor_info& info = io.inputs[i];
    *error = Message(sinter_session_set_input(s, i, info.dtype, io.dims[i].data(), info.rank,
                                              in[i].data(), in[i].size()));
    if (!error->empty()) return out;
  }
  if (*error = Message(sinter_session_run(s)); !error->empty()) return out;
  for (size_t i = 0; i < io.output_bytes.size(); ++i) {
    std::vector<uint8_t> bytes(io.output_bytes[i]);
    *error = Message(sinter_session_copy_output(s, i, bytes.data(), bytes.size()));
    if (!error->empty()) return out;
    out.push_back(std::move(bytes));
  }
  return out;
}

sinter_session* NewSession(sinter_model* model, int threads) {
  sinter_session_options o;
  sinter_session_options_init(&o);
  o.num_threads = threads;
  sinter_session* s = nullptr;
  EXPECT_EQ(Message(sinter_session_create(model, &o, &s)), "");
  return s;
}

TEST(Threads, SixteenSessionsOfOneModelAreBitIdenticalToOneThread) {
  const std::vector<std::string> paths = Artifacts();
  if (paths.empty()) GTEST_SKIP() << "SINTER_THREADS_ARTIFACTS is not set";
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    std::ifstream f(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(bytes.empty()) << "cannot read " << path;
    sinter_model* model = nullptr;
    ASSERT_EQ(Message(sinter_model_load_memory(bytes.data(), bytes.size(), nullptr, &model)), "");

    // The references: each input set run by a single-threaded session.
    constexpr int kSeeds = 4, kThreads = 16, kRuns = 500;
    const Io io = ReadIo(model);
    std::vector<std::vector<std::vector<uint8_t>>> inputs, want;
    {
      sinter_session* s = NewSession(model, 1);
      ASSERT_NE(s, nullptr);
      for (int k = 0; k < kSeeds; ++k) {
        inputs.push_back(MakeInputs(model, static_cast<uint32_t>(k)));
        std::string error;
        want.push_back(RunOnce(io, s, inputs.back(), &error));
        ASSERT_EQ(error, "");
      }
      sinter_session_release(s);
    }

    std::vector<sinter_session*> sessions;
    for (int t = 0; t < kThreads; ++t) {
      sessions.push_back(NewSession(model, t % 4 == 3 ? 2 : 1));  // some with a pool
      ASSERT_NE(sessions.back(), nullptr);
    }
    std::atomic<int> mismatches{0}, errors{0}, churned{0}, done_runs{0};
    std::atomic<bool> stop{false}, have_first{false};
    std::string first_error;
    auto fail = [&](const std::string& why) {
      ++errors;
      if (!have_first.exchange(true)) first_error = why;
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int r = 0; r < kRuns; ++r) {
          const int k = (t + r) % kSeeds;
          std::string error;
          auto got = RunOnce(io, sessions[t], inputs[k], &error);
          if (!error.empty()) return fail(error);
          if (got != want[k]) ++mismatches;
          ++done_runs;
        }
      });
    }
    // Sessions created, run and released while the others run.
    std::thread churn([&] {
      while (!stop.load()) {
        sinter_session* s = NewSession(model, churned % 2 + 1);
        if (s == nullptr) return fail("churn: no session");
        const int k = churned % kSeeds;
        std::string error;
        auto got = RunOnce(io, s, inputs[k], &error);
        if (!error.empty()) fail("churn: " + error);
        if (got != want[k]) ++mismatches;
        sinter_session_release(s);
        ++churned;
      }
    });
    // A quarter of the way through, churning stops and the caller's handle
    // is released while the sixteen sessions keep running on the model.
    // (And not before ten churned sessions: on a fast model the sixteen may
    // finish first, so the release then happens after their runs.)
    while ((done_runs.load() < kThreads * kRuns / 4 || churned.load() < 10) && errors.load() == 0)
      std::this_thread::yield();
    stop = true;
    churn.join();
    sinter_model_release(model);
    model = nullptr;
    for (auto& th : threads) th.join();
    EXPECT_EQ(errors.load(), 0) << first_error;
    EXPECT_EQ(mismatches.load(), 0);
    EXPECT_EQ(done_runs.load(), kThreads * kRuns);
    EXPECT_GE(churned.load(), 10);
    for (sinter_session* s : sessions) sinter_session_release(s);  // the last one frees the model
    std::printf(
        "%s: %d threads x %d runs (and %d sessions created and released meanwhile), "
        "bit-identical to one thread\n",
        path.c_str(), kThreads, kRuns, churned.load());
  }
}

}  // namespace
