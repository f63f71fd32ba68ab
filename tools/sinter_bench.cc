// sinter-bench: load time, first-run time, latency percentiles and throughput
// of a sinter artifact, in the spirit of trtexec. Inputs are random.
//
//   sinter-bench MODEL.sinter [--iters N] [--warmup N] [--threads N] [--json]
//                [--batch N]  (a dynamic batch's or symbolic extent's size, e.g. a
//                              sequence length; default: its minimum)
//                [--input FILE.npy ...]  (inputs to time on; default: random)
//                [--profile FILE.json [--peak-gflops PER_CORE]]
//
// --profile runs the model `iters` more times with per-kernel timing, writes
// the last run as a Chrome trace (opens in Perfetto or chrome://tracing),
// each kernel named after the ops it runs, and prints (to stderr) the kernels
// that take the most time, averaged over those runs, with the GFLOP/s of
// convolutions and matrix products and their share of the cores' FMA peak
// (measured here unless --peak-gflops gives one core's).
#include <sys/resource.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

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
#include "tools/npy.h"

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

#if defined(__x86_64__)
// GFLOP/s of one core running independent FMA chains, the arithmetic limit a
// convolution or GEMM is measured against: 12 chains hide the FMA latency on
// every x86 core of the last decade; a 512-bit run counts only where it is
// faster (a CPU that splits 512-bit FMAs runs them at the 256-bit rate). A
// macro, not a template: the body must be compiled for each target's ISA.
#define SINTER_FMA_PEAK(V, SET, FMA, FIRST, LANES)                           \
  constexpr int kChains = 12;                                                \
  constexpr int64_t kIters = 1 << 21;                                        \
  V acc[kChains];                                                            \
  for (int c = 0; c < kChains; ++c) acc[c] = SET(1.0f + c * 1e-3f);          \
  const V a = SET(0.999999f), b = SET(1e-7f);                                \
  auto t0 = Clock::now();                                                    \
  for (int64_t i = 0; i < kIters; ++i) {                                     \
    for (int c = 0; c < kChains; ++c) acc[c] = FMA(acc[c], a, b);            \
  }                                                                          \
  const double s = std::chrono::duration<double>(Clock::now() - t0).count(); \
  float sink = 0;                                                            \
  for (int c = 0; c < kChains; ++c) sink += FIRST(acc[c]);                   \
  volatile float keep = sink;                                                \
  (void)keep;                                                                \
  return 2.0 * (LANES)*kChains * static_cast<double>(kIters) / s / 1e9;

__attribute__((target("avx2,fma"))) double Peak256() {
  SINTER_FMA_PEAK(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32, 8)
}
__attribute__((target("avx512f"))) double Peak512() {
  SINTER_FMA_PEAK(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_cvtss_f32, 16)
}
#undef SINTER_FMA_PEAK
#endif

// Measured FMA peak of one core in GFLOP/s (the best of three tries, as a
// shared machine may lend the core to someone else for one), 0 when unknown.
double MeasurePeakGflops() {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
  double best = 0;
  for (int i = 0; i < 3; ++i) {
    best = std::max(best, Peak256());
    if (__builtin_cpu_supports("avx512f")) best = std::max(best, Peak512());
  }
  return best;
#else
  return 0;
#endif
}

// Profiled runs: a Chrome trace of the last one, the kernels by average time
// with the GFLOP/s of convolutions and matrix products against `peak` (the
// FMA peak of `threads` cores; 0 when unknown), and the slowest kernels.
int Profile(const sinter_model* model, sinter_session* session, int iters, const std::string& file,
            double peak) {
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
  struct Row {
    double us = 0, flops = 0;
  };
  struct Kernel {
    double us, flops;
    std::string text;
  };
  std::ofstream f(file);
  f << "{\"traceEvents\": [\n";
  std::map<std::string, Row> by_label;
  std::vector<Kernel> kernels;
  double sum = 0, counted_us = 0, counted_flops = 0;
  for (size_t k = 0; k < total.size(); ++k) {
    sinter_profile_entry e;
    if (sinter_status* st = sinter_session_profile_entry(session, k, &e))
      return Fail(st, "profile");
    double flops = 0;
    const char* shape = nullptr;
    if (sinter_status* st = sinter_model_kernel_cost(model, k, &flops, &shape))
      return Fail(st, "kernel cost");
    const double us = total[k] / iters;
    f << (k ? ",\n" : "") << "  {\"name\": " << JsonQuote(e.label)
      << ", \"cat\": " << JsonQuote(e.kernel)
      << ", \"ph\": \"X\", \"pid\": 1, \"tid\": 1, \"ts\": " << e.start_us
      << ", \"dur\": " << e.duration_us << ", \"args\": {\"step\": " << k
      << ", \"loc\": " << JsonQuote(e.loc) << ", \"shape\": " << JsonQuote(shape)
      << ", \"flops\": " << flops << ", \"mean_us\": " << us << "}}";
    by_label[e.label].us += us;
    by_label[e.label].flops += flops;
    sum += us;
    if (flops > 0) {
      counted_us += us;
      counted_flops += flops;
    }
    kernels.push_back(
        {us, flops, std::string(shape) + "  (" + e.label + ", step " + std::to_string(k) + ")"});
  }
  f << "\n]}\n";
  if (!f) {
    std::cerr << "sinter-bench: cannot write " << file << "\n";
    return 2;
  }
  // "  61.2 GFLOP/s  52%" for arithmetic kernels, blank for the rest.
  auto rate = [&](double flops, double us) {
    char buf[48] = "";
    if (flops > 0 && us > 0) {
      const double g = flops / us / 1e3;
      if (peak > 0)
        std::snprintf(buf, sizeof buf, "%6.1f GFLOP/s %4.0f%%", g, 100 * g / peak);
      else
        std::snprintf(buf, sizeof buf, "%6.1f GFLOP/s      ", g);
    } else {
      std::snprintf(buf, sizeof buf, "%20s", "");
    }
    return std::string(buf);
  };
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [label, r] : by_label) rows.push_back({r.us, label});
  std::sort(rows.rbegin(), rows.rend());
  std::fprintf(stderr, "profile (%d runs, %zu kernels, %.3f ms of kernel time per run) -> %s\n",
               iters, total.size(), sum / 1000, file.c_str());
  if (peak > 0) std::fprintf(stderr, "FMA peak of the cores used: %.1f GFLOP/s\n", peak);
  if (counted_flops > 0) {
    std::fprintf(stderr, "  %8.3f ms %5.1f%% %s  convolutions and matrix products, %.3f GFLOP\n",
                 counted_us / 1000, sum > 0 ? 100 * counted_us / sum : 0.0,
                 rate(counted_flops, counted_us).c_str(), counted_flops / 1e9);
  }
  std::fprintf(stderr, "by kernel:\n");
  for (size_t i = 0; i < rows.size() && i < 12; ++i) {
    const Row& r = by_label[rows[i].second];
    std::fprintf(stderr, "  %8.3f ms %5.1f%% %s  %s\n", rows[i].first / 1000,
                 sum > 0 ? 100 * rows[i].first / sum : 0.0, rate(r.flops, r.us).c_str(),
                 rows[i].second.c_str());
  }
  std::stable_sort(kernels.begin(), kernels.end(),
                   [](const Kernel& a, const Kernel& b) { return a.us > b.us; });
  std::fprintf(stderr, "slowest kernels:\n");
  for (size_t i = 0; i < kernels.size() && i < 15; ++i) {
    std::fprintf(stderr, "  %8.3f ms %5.1f%% %s  %s\n", kernels[i].us / 1000,
                 sum > 0 ? 100 * kernels[i].us / sum : 0.0,
                 rate(kernels[i].flops, kernels[i].us).c_str(), kernels[i].text.c_str());
  }
  return 0;
}

constexpr char kUsage[] =
    "usage: sinter-bench MODEL.sinter [--iters N] [--warmup N] [--threads N] [--json]\n"
    "                    [--batch N] [--input FILE.npy ...]\n"
    "                    [--profile FILE.json [--peak-gflops PER_CORE]]\n";

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  int iters = 50, warmup = 5, threads = 0, batch = 0;
  bool json = false;
  std::string profile;
  std::vector<std::string> input_files;
  double peak_per_core = -1;  // measured unless --peak-gflops
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--iters" && i + 1 < argc)
      iters = std::max(1, std::atoi(argv[++i]));
    else if (a == "--warmup" && i + 1 < argc)
      warmup = std::max(0, std::atoi(argv[++i]));
    else if (a == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (a == "--batch" && i + 1 < argc)
      batch = std::atoi(argv[++i]);
    else if (a == "--input" && i + 1 < argc)
      input_files.push_back(argv[++i]);
    else if (a == "--json")
      json = true;
    else if (a == "--profile" && i + 1 < argc)
      profile = argv[++i];
    else if (a == "--peak-gflops" && i + 1 < argc)
      peak_per_core = std::atof(argv[++i]);
    else if (!a.empty() && a[0] != '-' && path.empty())
      path = a;
    else {
      std::cerr << kUsage;
      return 1;
    }
  }
  if (path.empty()) {
    std::cerr << kUsage;
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
  int64_t range_lo = 0, range_hi = 0;  // of the last dynamic dim set
  // The inputs, every dynamic dim (-1) at `at` (0: the least its range
  // takes); a dim whose range is not found is an error (1 returned).
  bool dynamic = false;
  auto set_inputs = [&](int64_t at) -> int {
    for (size_t i = 0; i < sinter_model_input_count(model); ++i) {
      // Given inputs (--input FILE.npy, in order): a model whose work depends
      // on its data (a detector's detections) is timed on real data.
      if (i < input_files.size()) {
        sinter::tools::NpyArray arr;
        if (std::string err = sinter::tools::ReadNpy(input_files[i], &arr); !err.empty()) {
          std::fprintf(stderr, "sinter-bench: input %zu: %s\n", i, err.c_str());
          return 2;
        }
        if (sinter_status* st =
                sinter_session_set_input(session, i, arr.dtype, arr.shape.data(), arr.shape.size(),
                                         arr.data.data(), arr.data.size())) {
          return Fail(st, "set input");
        }
        continue;
      }
      sinter_tensor_info info;
      if (sinter_status* st = sinter_model_input_info(model, i, &info))
        return Fail(st, "input info");
      // A dynamic batch (-1) runs at --batch, or at the least its range takes.
      std::vector<int64_t> dims(info.dims, info.dims + info.rank);
      size_t bytes = sinter_dtype_size(info.dtype);
      for (size_t d = 0; d < dims.size(); ++d) {
        if (dims[d] == -1) {
          const char* symbol = nullptr;
          int64_t lo = 1, hi = 1;
          if (sinter_status* st = sinter_model_dim_range(model, 0, i, d, &symbol, &lo, &hi))
            return Fail(st, "input info");
          dims[d] = at > 0 ? at : lo;
          dynamic = true;
          range_lo = lo;
          range_hi = hi;
        }
        bytes *= static_cast<size_t>(dims[d]);
      }
      std::vector<uint8_t> buf(bytes, 0);
      if (info.dtype == SINTER_F32) {
        float* f = reinterpret_cast<float*>(buf.data());
        for (size_t k = 0; k < bytes / 4; ++k) f[k] = dist(rng);
      }
      if (sinter_status* st = sinter_session_set_input(session, i, info.dtype, dims.data(),
                                                       dims.size(), buf.data(), buf.size())) {
        return Fail(st, "set input");
      }
    }
    return 0;
  };
  if (int rc = set_inputs(batch)) return rc;
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
  // A dynamic dim: a run at another size of its range, then the first run
  // back at this one, which is what a new shape costs a warm session (its
  // kernels prepared again at the run's extents).
  double new_shape = -1;
  if (dynamic && range_lo < range_hi && input_files.empty()) {
    const int64_t here = batch > 0 ? batch : range_lo;
    if (int rc = set_inputs(here == range_hi ? range_lo : range_hi)) return rc;
    if (sinter_status* st = sinter_session_run(session)) return Fail(st, "run");
    if (int rc = set_inputs(here)) return rc;
    auto s = Clock::now();
    if (sinter_status* st = sinter_session_run(session)) return Fail(st, "run");
    new_shape = Ms(s, Clock::now());
  }
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
        "\"native_kernels\": %zu, \"peak_rss_mb\": %.1f, \"new_shape_run_ms\": %.3f}\n",
        path.c_str(), load, first, median, p90, p99, lat.front(), tput, iters, threads,
        sinter_model_arena_bytes(model), sinter_model_native_kernel_count(model), PeakRssMb(),
        new_shape);
  } else {
    std::printf(
        "model:        %s\nload:         %.2f ms\nfirst run:    %.2f ms\n"
        "latency:      median %.3f ms, p90 %.3f ms, p99 %.3f ms, min %.3f ms (%d iters)\n"
        "throughput:   %.1f inferences/s\narena:        %zu bytes\n"
        "native code:  %zu kernels\npeak RSS:     %.1f MB (the whole process)\n",
        path.c_str(), load, first, median, p90, p99, lat.front(), iters, tput,
        sinter_model_arena_bytes(model), sinter_model_native_kernel_count(model), PeakRssMb());
    if (new_shape >= 0)
      std::printf("new shape:    %.2f ms (the first run back at this size after another)\n",
                  new_shape);
  }
  if (!profile.empty()) {
    // The peak is measured before the profiled runs, on an idle pool.
    const double per_core = peak_per_core >= 0 ? peak_per_core : MeasurePeakGflops();
    const long cores = threads > 0 ? threads : std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
    if (int rc = Profile(model, session, iters, profile, per_core * static_cast<double>(cores)))
      return rc;
  }
  sinter_session_release(session);
  sinter_model_release(model);
  return 0;
}
