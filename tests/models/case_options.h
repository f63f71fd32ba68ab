// The compile options a manifest case asks for in its note (group
// "fallback": `--fallback torch` with "executed:" and "min_block:"; group
// "plugin": `--plugin` and `--torch-library` from "plugin:" and
// "torch_library:", found in the build's library directory), shared by the
// parity and completeness tests.
#ifndef SINTER_TESTS_MODELS_CASE_OPTIONS_H_
#define SINTER_TESTS_MODELS_CASE_OPTIONS_H_

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>

#include "frontend/torchscript.h"
#include "tests/models/manifest.h"

namespace sinter::testing {

// A "key: value" field of a case's note ("" when absent); a value ends at
// ';' or at " (".
inline std::string NoteField(const ModelCase& c, const std::string& key) {
  const size_t at = c.note.find(key + ": ");
  if (at == std::string::npos) return "";
  std::string v = c.note.substr(at + key.size() + 2);
  return v.substr(0, std::min(v.find(';'), v.find(" (")));
}

// A case compiled also with a symbolic sequence extent (issue 12; note
// "seq: MIN..MAX axis A"): sets it on input 0 and gives the axis, or false.
inline bool SeqOptions(const ModelCase& c, frontend::ImportOptions* opts, int* axis) {
  const std::string f = NoteField(c, "seq");
  int64_t lo = 0, hi = 0;
  int a = -1;
  if (f.empty() || std::sscanf(f.c_str(), "%ld..%ld axis %d", &lo, &hi, &a) != 3 ||
      opts->inputs.empty() || a < 0 || a >= static_cast<int>(opts->inputs[0].shape.size()))
    return false;
  opts->inputs[0].batch_axis = a;
  opts->batch_symbol = "seq";
  opts->batch_min = lo;
  opts->batch_max = hi;
  *axis = a;
  return true;
}

inline void AddCaseOptions(const ModelCase& c, const std::string& lib_dir,
                           frontend::ImportOptions* opts) {
  if (c.group == "fallback") {
    opts->fallback.enabled = true;
    if (std::string m = NoteField(c, "min_block"); !m.empty())
      opts->fallback.min_block_size = std::stoi(m);
    std::stringstream ops(NoteField(c, "executed"));
    for (std::string op; std::getline(ops, op, ',');)
      opts->fallback.torch_executed_ops.push_back(op);
  }
  if (c.group == "plugin") {
    opts->plugins.push_back(lib_dir + "/libsinter_plugin_" + NoteField(c, "plugin") + ".so");
    opts->torch_libraries.push_back(lib_dir + "/lib" + NoteField(c, "torch_library") + ".so");
  }
}

}  // namespace sinter::testing

#endif  // SINTER_TESTS_MODELS_CASE_OPTIONS_H_
