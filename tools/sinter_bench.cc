// sinter-bench: load time, first-run time, latency percentiles and throughput
// of a sinter artifact, in the spirit of trtexec. Inputs are random.
//
//   sinter-bench MODEL.sinter [--iters N] [--warmup N] [--threads N] [--json]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "sinter/sinter.h"

namespace {

// The process's peak resident set (weights touched, arena, threads), in MB.
double PeakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

using Clock = std::chrono::steady_clock;
double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

int Fail(sinter_status* st, const char* what) {
  std::cerr << "sinter-bench: " << what << ": " << sinter_status_get_message(st) << "\n";
  sinter_status_free(st);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  int iters = 50, warmup = 5, threads = 0;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--iters" && i + 1 < argc)
      iters = std::max(1, std::atoi(argv[++i]));
    else if (a == "--warmup" && i + 1 < argc)
      warmup = std::max(0, std::atoi(argv[++i]));
    else if (a == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (a == "--json")
      json = true;
    else if (!a.empty() && a[0] != '-' && path.empty())
      path = a;
    else {
      std::cerr
          << "usage: sinter-bench MODEL.sinter [--iters N] [--warmup N] [--threads N] [--json]\n";
      return 1;
    }
  }
  if (path.empty()) {
    std::cerr
        << "usage: sinter-bench MODEL.sinter [--iters N] [--warmup N] [--threads N] [--json]\n";
    return 1;
  }
  auto t0 = Clock::now();
  sinter_model* model = nullptr;
  if (sinter_status* st = sinter_model_load_file(path.c_str(), nullptr, &model))
    return Fail(st, "load");
  sinter_session_options opts{threads};
  sinter_session* session = nullptr;
  if (sinter_status* st = sinter_session_create(model, &opts, &session)) return Fail(st, "session");
  auto t1 = Clock::now();
  std::mt19937 rng(0);
  std::normal_distribution<float> dist;
  for (size_t i = 0; i < sinter_model_input_count(model); ++i) {
    sinter_tensor_info info;
    if (sinter_status* st = sinter_model_input_info(model, i, &info)) return Fail(st, "input info");
    std::vector<uint8_t> buf(info.byte_size, 0);
    if (info.dtype == SINTER_F32) {
      float* f = reinterpret_cast<float*>(buf.data());
      for (size_t k = 0; k < info.byte_size / 4; ++k) f[k] = dist(rng);
    }
    if (sinter_status* st = sinter_session_set_input(session, i, info.dtype, info.dims, info.rank,
                                                     buf.data(), buf.size())) {
      return Fail(st, "set input");
    }
  }
  auto t2 = Clock::now();
  if (sinter_status* st = sinter_session_run(session)) return Fail(st, "run");
  double first = Ms(t2, Clock::now());
  for (int i = 0; i < warmup; ++i) {
    if (sinter_status* st = sinter_session_run(session)) return Fail(st, "run");
  }
  std::vector<double> lat;
  auto b0 = Clock::now();
  for (int i = 0; i < iters; ++i) {
    auto s = Clock::now();
    if (sinter_status* st = sinter_session_run(session)) return Fail(st, "run");
    lat.push_back(Ms(s, Clock::now()));
  }
  double total = Ms(b0, Clock::now());
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))];
  };
  double load = Ms(t0, t1), median = pct(0.5), p90 = pct(0.9), p99 = pct(0.99);
  double tput = iters / (total / 1000.0);
  if (json) {
    std::printf(
        "{\"model\": \"%s\", \"load_ms\": %.3f, \"first_run_ms\": %.3f, \"latency_ms_median\": "
        "%.3f, "
        "\"latency_ms_p90\": %.3f, \"latency_ms_p99\": %.3f, \"latency_ms_min\": %.3f, "
        "\"throughput_per_s\": %.2f, \"iters\": %d, \"threads\": %d, \"arena_bytes\": %zu, "
        "\"native_kernels\": %zu, \"peak_rss_mb\": %.1f}\n",
        path.c_str(), load, first, median, p90, p99, lat.front(), tput, iters, threads,
        sinter_model_arena_bytes(model), sinter_model_native_kernel_count(model), PeakRssMb());
  } else {
    std::printf(
        "model:        %s\nload:         %.2f ms\nfirst run:    %.2f ms\n"
        "latency:      median %.3f ms, p90 %.3f ms, p99 %.3f ms, min %.3f ms (%d iters)\n"
        "throughput:   %.1f inferences/s\narena:        %zu bytes\n"
        "native code:  %zu kernels\npeak RSS:     %.1f MB (the whole process)\n",
        path.c_str(), load, first, median, p90, p99, lat.front(), iters, tput,
        sinter_model_arena_bytes(model), sinter_model_native_kernel_count(model), PeakRssMb());
  }
  sinter_session_release(session);
  sinter_model_release(model);
  return 0;
}
