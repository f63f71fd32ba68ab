// sinter-bench: load time, first-run time, latency percentiles and throughput
// of a sinter artifact, in the spirit of trtexec. Inputs are random.
//
//   sinter-bench MODEL.sinter [--iters N] [--warmup N] [--threads N] [--json]
//                [--profile FILE.json]
//
// --profile runs the model `iters` more times with per-kernel timing, writes
// the last run as a Chrome trace (opens in Perfetto or chrome://tracing),
// each kernel named after the ops it runs, and prints (to stderr) the kernels
// that take the most time, averaged over those runs.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
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

std::string JsonQuote(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) q += c;
  }
  return q + "\"";
}

// Profiled runs: a Chrome trace of the last one, and the kernels by average time.
int Profile(sinter_session* session, int iters, const std::string& file) {
  if (sinter_status* st = sinter_session_set_profiling(session, 1)) return Fail(st, "profile");
  std::vector<double> total;
  for (int i = 0; i < iters; ++i) {
    if (sinter_status* st = sinter_session_run(session)) return Fail(st, "run");
    const size_t n = sinter_session_profile_count(session);
    total.resize(n, 0.0);
    for (size_t k = 0; k < n; ++k) {
      sinter_profile_entry e;
      if (sinter_status* st = sinter_session_profile_entry(session, k, &e))
        return Fail(st, "profile");
      total[k] += e.duration_us;
    }
  }
  std::ofstream f(file);
  f << "{\"traceEvents\": [\n";
  std::map<std::string, double> by_label;
  double sum = 0;
  for (size_t k = 0; k < total.size(); ++k) {
    sinter_profile_entry e;
    if (sinter_status* st = sinter_session_profile_entry(session, k, &e))
      return Fail(st, "profile");
    f << (k ? ",\n" : "") << "  {\"name\": " << JsonQuote(e.label)
      << ", \"cat\": " << JsonQuote(e.kernel)
      << ", \"ph\": \"X\", \"pid\": 1, \"tid\": 1, \"ts\": " << e.start_us
      << ", \"dur\": " << e.duration_us << ", \"args\": {\"step\": " << k
      << ", \"loc\": " << JsonQuote(e.loc) << ", \"mean_us\": " << total[k] / iters << "}}";
    by_label[e.label] += total[k] / iters;
    sum += total[k] / iters;
  }
  f << "\n]}\n";
  if (!f) {
    std::cerr << "sinter-bench: cannot write " << file << "\n";
    return 2;
  }
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [label, us] : by_label) rows.push_back({us, label});
  std::sort(rows.rbegin(), rows.rend());
  std::fprintf(stderr, "profile (%d runs, %zu kernels, %.3f ms of kernel time per run) -> %s\n",
               iters, total.size(), sum / 1000, file.c_str());
  for (size_t i = 0; i < rows.size() && i < 12; ++i) {
    std::fprintf(stderr, "  %8.3f ms %5.1f%%  %s\n", rows[i].first / 1000,
                 sum > 0 ? 100 * rows[i].first / sum : 0.0, rows[i].second.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  int iters = 50, warmup = 5, threads = 0;
  bool json = false;
  std::string profile;
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
    else if (a == "--profile" && i + 1 < argc)
      profile = argv[++i];
    else if (!a.empty() && a[0] != '-' && path.empty())
      path = a;
    else {
      std::cerr
          << "usage: sinter-bench MODEL.sinter [--iters N] [--warmup N] [--threads N] [--json]\n"
             "                    [--profile FILE.json]\n";
      return 1;
    }
  }
  if (path.empty()) {
    std::cerr
        << "usage: sinter-bench MODEL.sinter [--iters N] [--warmup N] [--threads N] [--json]\n"
           "                    [--profile FILE.json]\n";
    return 1;
  }
  auto t0 = Clock::now();
  sinter_model* model = nullptr;
  if (sinter_status* st = sinter_model_load_file(path.c_str(), nullptr, &model))
    return Fail(st, "load");
  sinter_session_options opts;
  sinter_session_options_init(&opts);
  opts.num_threads = threads;
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
  if (!profile.empty()) {
    if (int rc = Profile(session, iters, profile)) return rc;
  }
  sinter_session_release(session);
  sinter_model_release(model);
  return 0;
}
