// sinter-run: runs a sinter artifact on .npy inputs, writing .npy outputs,
// one per model output, named after it (output0.npy ..., or out.npy,
// boxes.npy ... where the model names its outputs).
//
//   sinter-run MODEL.sinter --input in0.npy [--input in1.npy ...] --output-dir DIR
//              [--threads N]
//
// Uses only the public C API (include/sinter/sinter.h). Exit status: 0 on
// success, 1 for bad usage, 2 when the model, an input or an output fails,
// with the reason on stderr; never a signal or an uncaught exception.
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "sinter/sinter.h"
#include "tools/npy.h"

namespace {

constexpr const char* kUsage =
    "usage: sinter-run MODEL.sinter --input IN.npy [...] --output-dir DIR [--threads N]\n";

int Fail(sinter_status* st, const std::string& what) {
  std::cerr << "sinter-run: " << what << ": " << sinter_status_get_message(st) << " ["
            << sinter_status_code_name(sinter_status_get_code(st)) << "]\n";
  sinter_status_free(st);
  return 2;
}

int Error(const std::string& what) {
  std::cerr << "sinter-run: " << what << "\n";
  return 2;
}

int Run(int argc, char** argv) {
  std::string model_path, out_dir;
  std::vector<std::string> inputs;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--input" && i + 1 < argc) {
      inputs.push_back(argv[++i]);
    } else if (a == "--output-dir" && i + 1 < argc) {
      out_dir = argv[++i];
    } else if (a == "--threads" && i + 1 < argc) {
      std::string_view v = argv[++i];
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), threads);
      if (ec != std::errc() || end != v.data() + v.size() || threads < 0) {
        std::cerr << "sinter-run: bad --threads value '" << v << "'\n" << kUsage;
        return 1;
      }
    } else if (!a.empty() && a[0] != '-' && model_path.empty()) {
      model_path = a;
    } else {
      std::cerr << kUsage;
      return 1;
    }
  }
  if (model_path.empty() || out_dir.empty()) {
    std::cerr << kUsage;
    return 1;
  }
  sinter_model* raw_model = nullptr;
  if (sinter_status* st = sinter_model_load_file(model_path.c_str(), nullptr, &raw_model))
    return Fail(st, "load");
  std::unique_ptr<sinter_model, void (*)(sinter_model*)> model(raw_model, sinter_model_release);
  size_t n_in = sinter_model_input_count(model.get());
  if (inputs.size() != n_in) {
    return Error("the model takes " + std::to_string(n_in) + " inputs, " +
                 std::to_string(inputs.size()) + " given");
  }
  sinter_session_options opts;
  sinter_session_options_init(&opts);
  opts.num_threads = threads;
  sinter_session* raw_session = nullptr;
  if (sinter_status* st = sinter_session_create(model.get(), &opts, &raw_session))
    return Fail(st, "session");
  std::unique_ptr<sinter_session, void (*)(sinter_session*)> session(raw_session,
                                                                     sinter_session_release);
  for (size_t i = 0; i < n_in; ++i) {
    sinter::tools::NpyArray arr;
    std::string err = sinter::tools::ReadNpy(inputs[i], &arr);
    if (!err.empty()) return Error("input " + std::to_string(i) + ": " + err);
    sinter_tensor_info info;
    if (sinter_status* st = sinter_model_input_info(model.get(), i, &info))
      return Fail(st, "input info");
    // NumPy has no bf16: an f32 file feeds a bf16 input (see tools/npy.h).
    if (info.dtype == SINTER_BF16 && arr.dtype == SINTER_F32) sinter::tools::NpyF32ToBf16(&arr);
    if (sinter_status* st =
            sinter_session_set_input(session.get(), i, arr.dtype, arr.shape.data(),
                                     arr.shape.size(), arr.data.data(), arr.data.size())) {
      return Fail(st, "input " + std::to_string(i) + " (" + inputs[i] + ")");
    }
  }
  if (sinter_status* st = sinter_session_run(session.get())) return Fail(st, "run");
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return Error("cannot create the output folder '" + out_dir + "': " + ec.message());
  std::set<std::string> written;
  for (size_t i = 0; i < sinter_model_output_count(model.get()); ++i) {
    sinter_tensor_info info;
    const void* data = nullptr;
    size_t bytes = 0;
    if (sinter_status* st = sinter_model_output_info(model.get(), i, &info))
      return Fail(st, "output info");
    if (sinter_status* st = sinter_session_get_output(session.get(), i, &data, &bytes))
      return Fail(st, "output " + std::to_string(i));
    // The shape the run gave it (an output's size may be the data's).
    int64_t dims[8];
    size_t rank = 0;
    if (sinter_status* st = sinter_session_output_shape(session.get(), i, dims, 8, &rank))
      return Fail(st, "output " + std::to_string(i) + " shape");
    // Named after the output ("output0", or "out", "boxes" where the model
    // returns dicts): letters, digits, '_', '-' and '.' kept, the rest '_'.
    std::string name =
        info.name != nullptr && info.name[0] != '\0' ? info.name : "output" + std::to_string(i);
    for (char& ch : name) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-' && ch != '.')
        ch = '_';
    }
    if (name.front() == '.') name.front() = '_';
    if (!written.insert(name).second) name += "_" + std::to_string(i);
    written.insert(name);
    std::string path = out_dir + "/" + name + ".npy";
    std::string err = sinter::tools::WriteNpy(path, info.dtype,
                                              std::vector<int64_t>(dims, dims + rank), data, bytes);
    if (!err.empty()) return Error(err);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Everything above reports its errors; this is the last line against an
  // exception from the standard library (allocation failure above all).
  try {
    return Run(argc, argv);
  } catch (const std::bad_alloc&) {
    return Error("out of memory");
  } catch (const std::exception& e) {
    return Error(std::string("internal error: ") + e.what());
  }
}
