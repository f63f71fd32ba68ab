// sinter-run: runs a sinter artifact on .npy inputs, writing .npy outputs.
//
//   sinter-run MODEL.sinter --input in0.npy [--input in1.npy ...] --output-dir DIR
//              [--threads N]
//
// Uses only the public C API (include/sinter/sinter.h).
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "sinter/sinter.h"
#include "tools/npy.h"

namespace {

int Fail(sinter_status* st, const std::string& what) {
  std::cerr << "sinter-run: " << what << ": " << sinter_status_get_message(st) << " ["
            << sinter_status_code_name(sinter_status_get_code(st)) << "]\n";
  sinter_status_free(st);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, out_dir;
  std::vector<std::string> inputs;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--input" && i + 1 < argc)
      inputs.push_back(argv[++i]);
    else if (a == "--output-dir" && i + 1 < argc)
      out_dir = argv[++i];
    else if (a == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (!a.empty() && a[0] != '-' && model_path.empty())
      model_path = a;
    else {
      std::cerr
          << "usage: sinter-run MODEL.sinter --input IN.npy [...] --output-dir DIR [--threads N]\n";
      return 1;
    }
  }
  if (model_path.empty() || out_dir.empty()) {
    std::cerr
        << "usage: sinter-run MODEL.sinter --input IN.npy [...] --output-dir DIR [--threads N]\n";
    return 1;
  }
  sinter_model* model = nullptr;
  if (sinter_status* st = sinter_model_load_file(model_path.c_str(), nullptr, &model))
    return Fail(st, "load");
  size_t n_in = sinter_model_input_count(model);
  if (inputs.size() != n_in) {
    std::cerr << "sinter-run: the model takes " << n_in << " inputs, " << inputs.size()
              << " given\n";
    sinter_model_release(model);
    return 2;
  }
  sinter_session_options opts{threads};
  sinter_session* session = nullptr;
  if (sinter_status* st = sinter_session_create(model, &opts, &session)) return Fail(st, "session");
  int rc = 0;
  for (size_t i = 0; i < n_in && rc == 0; ++i) {
    sinter::tools::NpyArray arr;
    std::string err = sinter::tools::ReadNpy(inputs[i], &arr);
    if (!err.empty()) {
      std::cerr << "sinter-run: input " << i << ": " << err << "\n";
      rc = 2;
      break;
    }
    if (sinter_status* st =
            sinter_session_set_input(session, i, arr.dtype, arr.shape.data(), arr.shape.size(),
                                     arr.data.data(), arr.data.size())) {
      rc = Fail(st, "input " + std::to_string(i) + " (" + inputs[i] + ")");
    }
  }
  if (rc == 0) {
    if (sinter_status* st = sinter_session_run(session)) rc = Fail(st, "run");
  }
  if (rc == 0) {
    std::filesystem::create_directories(out_dir);
    for (size_t i = 0; i < sinter_model_output_count(model) && rc == 0; ++i) {
      sinter_tensor_info info;
      const void* data = nullptr;
      size_t bytes = 0;
      if (sinter_status* st = sinter_model_output_info(model, i, &info)) {
        rc = Fail(st, "output info");
        break;
      }
      if (sinter_status* st = sinter_session_get_output(session, i, &data, &bytes)) {
        rc = Fail(st, "output");
        break;
      }
      std::string path = out_dir + "/output" + std::to_string(i) + ".npy";
      std::string err = sinter::tools::WriteNpy(
          path, info.dtype, std::vector<int64_t>(info.dims, info.dims + info.rank), data, bytes);
      if (!err.empty()) {
        std::cerr << "sinter-run: " << err << "\n";
        rc = 2;
      }
    }
  }
  sinter_session_release(session);
  sinter_model_release(model);
  return rc;
}
