// sinter-compare: runs one model on LibTorch and on sinter in the same
// process, on the same random input, and reports load time, latency (the two
// runtimes timed in alternating rounds), the largest output difference and (optionally) the top-5
// classes.
//
//   sinter-compare MODEL.pt MODEL.sinter --input-shape 1,3,224,224 [...]
//                  [--iters N] [--warmup N] [--threads N] [--top5] [--json]
//
// The LibTorch side is what a careful LibTorch user deploys: the scripted
// module frozen and passed through torch.jit.optimize_for_inference.
//
// Peak memory: the resident set added by loading and running each model,
// from the kernel's high-water mark (VmHWM, reset between the two through
// /proc/self/clear_refs) minus the resident set just before its load. It
// counts weights, activations and workspaces, whichever way they are held
// (LibTorch's on the heap, sinter's mapped from the artifact).
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include "sinter/sinter.h"

namespace {

using Clock = std::chrono::steady_clock;
double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Timing {
  double load_ms = 0, first_ms = 0, median_ms = 0, p90_ms = 0, min_ms = 0;
  double peak_mb = 0;
};

// VmRSS or VmHWM of this process, in MB (0 when /proc is not there).
double ProcStatusMb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0) return std::atof(line.c_str() + std::strlen(field)) / 1024.0;
  }
  return 0;
}

void ResetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

// The first run and the warm-up runs of one runtime.
template <typename F>
void Warm(F&& run, int warmup, Timing* t) {
  auto f0 = Clock::now();
  run();
  t->first_ms = Ms(f0, Clock::now());
  for (int i = 0; i < warmup; ++i) run();
}

void Summarize(std::vector<double> lat, Timing* t) {
  std::sort(lat.begin(), lat.end());
  t->median_ms = lat[lat.size() / 2];
  t->p90_ms = lat[std::min(lat.size() - 1, lat.size() * 9 / 10)];
  t->min_ms = lat.front();
}

// Timed runs of both runtimes in alternating rounds, so that a slow spell of
// a shared machine (this project's VMs move by 10-50% over seconds) falls on
// both alike instead of on whichever ran then. Not run by run: LibTorch's
// OpenMP workers spin for a while after each parallel region and would steal
// the cores from the run after them; each round starts with one untimed run
// so that the other runtime's threads have gone quiet.
template <typename A, typename B>
void TimeInRounds(A&& run_a, B&& run_b, int iters, Timing* a, Timing* b) {
  constexpr int kRounds = 3;
  std::vector<double> la, lb;
  auto timed = [](auto& run, int n, std::vector<double>* lat) {
    run();
    for (int i = 0; i < n; ++i) {
      auto s = Clock::now();
      run();
      lat->push_back(Ms(s, Clock::now()));
    }
  };
  for (int r = 0; r < kRounds; ++r) {
    const int n = iters / kRounds + (r < iters % kRounds ? 1 : 0);
    if (n == 0) continue;
    timed(run_a, n, &la);
    timed(run_b, n, &lb);
  }
  Summarize(la, a);
  Summarize(lb, b);
}

void Check(sinter_status* st, const char* what) {
  if (st == nullptr) return;
  std::cerr << "sinter-compare: " << what << ": " << sinter_status_get_message(st) << "\n";
  std::exit(2);
}

std::vector<int64_t> Top5(const float* p, int64_t n) {
  std::vector<int64_t> idx(n);
  for (int64_t i = 0; i < n; ++i) idx[i] = i;
  std::partial_sort(idx.begin(), idx.begin() + std::min<int64_t>(5, n), idx.end(),
                    [p](int64_t a, int64_t b) { return p[a] > p[b]; });
  idx.resize(std::min<int64_t>(5, n));
  return idx;
}

}  // namespace

// The first tensor of a model's output, in the order sinter flattens it
// (tuples, lists, dict values in insertion order); undefined if none.
at::Tensor FirstTensor(const c10::IValue& v) {
  if (v.isTensor()) return v.toTensor();
  std::vector<c10::IValue> items;
  if (v.isTuple()) {
    for (const c10::IValue& e : v.toTupleRef().elements()) items.push_back(e);
  } else if (v.isList()) {
    for (const c10::IValue& e : v.toListRef()) items.push_back(e);
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) items.push_back(e.value());
  }
  for (const c10::IValue& e : items) {
    if (at::Tensor t = FirstTensor(e); t.defined()) return t;
  }
  return at::Tensor();
}

int Main(int argc, char** argv) {
  std::string pt, art;
  std::vector<std::vector<int64_t>> shapes;
  int iters = 20, warmup = 3, threads = 0;
  bool top5 = false, json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--input-shape" && i + 1 < argc) {
      std::vector<int64_t> s;
      std::stringstream ss(argv[++i]);
      std::string d;
      while (std::getline(ss, d, ',')) s.push_back(std::stoll(d));
      shapes.push_back(s);
    } else if (a == "--iters" && i + 1 < argc) {
      iters = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--warmup" && i + 1 < argc) {
      warmup = std::atoi(argv[++i]);
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--top5") {
      top5 = true;
    } else if (a == "--json") {
      json = true;
    } else if (pt.empty()) {
      pt = a;
    } else if (art.empty()) {
      art = a;
    } else {
      std::cerr << "usage: sinter-compare MODEL.pt MODEL.sinter --input-shape D,.. [--iters N] "
                   "[--warmup N] [--threads N] [--top5] [--json]\n";
      return 1;
    }
  }
  if (pt.empty() || art.empty() || shapes.empty()) {
    std::cerr << "usage: sinter-compare MODEL.pt MODEL.sinter --input-shape D,.. [...]\n";
    return 1;
  }
  const int nthreads =
      threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  at::set_num_threads(nthreads);
  torch::manual_seed(0);
  std::vector<at::Tensor> inputs;
  for (const auto& s : shapes) inputs.push_back(torch::randn(s));

  // LibTorch: load, freeze, optimize_for_inference.
  Timing lt, st;
  torch::NoGradGuard no_grad;
  ResetPeak();
  const double lt_base = ProcStatusMb("VmRSS:");
  auto l0 = Clock::now();
  torch::jit::Module m = torch::jit::load(pt);
  m.eval();
  torch::jit::Module frozen = torch::jit::optimize_for_inference(m);
  lt.load_ms = Ms(l0, Clock::now());
  std::vector<c10::IValue> args(inputs.begin(), inputs.end());
  at::Tensor ref;
  auto run_torch = [&] {
    c10::IValue out = frozen.forward(args);
    ref = FirstTensor(out);
  };
  Warm(run_torch, warmup, &lt);
  lt.peak_mb = ProcStatusMb("VmHWM:") - lt_base;

  // sinter.
  ResetPeak();
  const double st_base = ProcStatusMb("VmRSS:");
  auto s0 = Clock::now();
  sinter_model* model = nullptr;
  Check(sinter_model_load_file(art.c_str(), nullptr, &model), "load");
  sinter_session_options so;
  sinter_session_options_init(&so);
  so.num_threads = nthreads;
  sinter_session* session = nullptr;
  Check(sinter_session_create(model, &so, &session), "session");
  st.load_ms = Ms(s0, Clock::now());
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int64_t> dims = inputs[i].sizes().vec();
    Check(sinter_session_set_input(session, i, SINTER_F32, dims.data(), dims.size(),
                                   inputs[i].data_ptr(), inputs[i].nbytes()),
          "set input");
  }
  auto run_sinter = [&] { Check(sinter_session_run(session), "run"); };
  Warm(run_sinter, warmup, &st);
  st.peak_mb = ProcStatusMb("VmHWM:") - st_base;
  TimeInRounds(run_torch, run_sinter, iters, &lt, &st);
  ref = ref.contiguous();
  const void* data = nullptr;
  size_t bytes = 0;
  Check(sinter_session_get_output(session, 0, &data, &bytes), "output");
  const float* out = static_cast<const float*>(data);
  const float* want = ref.data_ptr<float>();
  double max_diff = 0, max_ref = 0;
  for (int64_t i = 0; i < ref.numel() && static_cast<size_t>(i) * 4 < bytes; ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(out[i] - want[i])));
    max_ref = std::max(max_ref, static_cast<double>(std::fabs(want[i])));
  }
  if (json) {
    std::printf(
        "{\"model\": \"%s\", \"threads\": %d, \"max_abs_diff\": %.3g, \"max_abs_ref\": %.3g, "
        "\"libtorch\": {\"load_ms\": %.2f, \"first_ms\": %.3f, \"median_ms\": %.3f, \"p90_ms\": "
        "%.3f, \"peak_mb\": %.1f}, "
        "\"sinter\": {\"load_ms\": %.2f, \"first_ms\": %.3f, \"median_ms\": %.3f, \"p90_ms\": "
        "%.3f, \"peak_mb\": %.1f, \"native_kernels\": %zu}, "
        "\"latency_ratio\": %.3f, \"peak_memory_ratio\": %.3f}\n",
        pt.c_str(), nthreads, max_diff, max_ref, lt.load_ms, lt.first_ms, lt.median_ms, lt.p90_ms,
        lt.peak_mb, st.load_ms, st.first_ms, st.median_ms, st.p90_ms, st.peak_mb,
        sinter_model_native_kernel_count(model), st.median_ms / lt.median_ms,
        lt.peak_mb > 0 ? st.peak_mb / lt.peak_mb : 0.0);
  } else {
    if (top5) {
      int64_t classes = ref.numel() / std::max<int64_t>(1, ref.size(0));
      auto ts = Top5(out, classes), tl = Top5(want, classes);
      std::printf("top-5 classes (sinter):   ");
      for (int64_t c : ts) std::printf(" %4lld (%.4f)", static_cast<long long>(c), out[c]);
      std::printf("\ntop-5 classes (LibTorch): ");
      for (int64_t c : tl) std::printf(" %4lld (%.4f)", static_cast<long long>(c), want[c]);
      std::printf("\n");
    }
    std::printf("largest |sinter - LibTorch| over %lld outputs: %.3g (largest |output| %.3g)\n",
                static_cast<long long>(ref.numel()), max_diff, max_ref);
    std::printf("%-10s %12s %14s %16s\n", "", "load (ms)", "first run (ms)", "median run (ms)");
    std::printf("%-10s %12.1f %14.2f %16.2f\n", "LibTorch", lt.load_ms, lt.first_ms, lt.median_ms);
    std::printf("%-10s %12.1f %14.2f %16.2f\n", "sinter", st.load_ms, st.first_ms, st.median_ms);
    std::printf("sinter latency / LibTorch latency: %.2fx  (%d threads, %d iterations)\n",
                st.median_ms / lt.median_ms, nthreads, iters);
  }
  sinter_session_release(session);
  sinter_model_release(model);
  return 0;
}

int main(int argc, char** argv) {
  // LibTorch reports a model it cannot load or run by throwing: a message
  // and exit 2, never an abort.
  try {
    return Main(argc, argv);
  } catch (const c10::Error& e) {
    std::cerr << "sinter-compare: LibTorch: " << e.what_without_backtrace() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "sinter-compare: " << e.what() << "\n";
  }
  return 2;
}
