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
// "seq: MIN..MAX axes A,B|C|-": per input, '|' apart, its axes of the
// symbol, '-' for none): sets them on the inputs and gives each input's
// axes, or false.
inline bool SeqOptions(const ModelCase& c, frontend::ImportOptions* opts,
                       std::vector<std::vector<int>>* axes) {
  const std::string f = NoteField(c, "seq");
  int64_t lo = 0, hi = 0;
  int used = 0;
  if (f.empty() || std::sscanf(f.c_str(), "%ld..%ld axes %n", &lo, &hi, &used) != 2 || used == 0)
    return false;
  std::stringstream per(f.substr(used));
  axes->clear();
  for (std::string in; std::getline(per, in, '|');) {
    axes->emplace_back();
    std::stringstream list(in);
    for (std::string a; std::getline(list, a, ',');)
      if (a != "-") axes->back().push_back(std::stoi(a));
  }
  if (axes->size() != opts->inputs.size()) return false;
  for (size_t i = 0; i < axes->size(); ++i) {
    const std::vector<int>& a = (*axes)[i];
    for (int x : a)
      if (x < 0 || x >= static_cast<int>(opts->inputs[i].shape.size())) return false;
    if (a.empty()) continue;
    opts->inputs[i].batch_axis = a[0];
    opts->inputs[i].more_axes.assign(a.begin() + 1, a.end());
  }
  opts->batch_symbol = "seq";
  opts->batch_min = lo;
  opts->batch_max = hi;
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
