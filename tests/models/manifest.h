// Reads the test-model manifest written by tests/models/make_models.py
// (tab-separated: name file group input_shapes input_dtypes int_high rtol
// atol note), for the tests that iterate over the test models.
#ifndef SINTER_TESTS_MODELS_MANIFEST_H_
#define SINTER_TESTS_MODELS_MANIFEST_H_

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace sinter::testing {

struct ModelCase {
  std::string name, file, group;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::string> dtypes;
  int64_t int_high = 0;
  double rtol = 1e-4, atol = 1e-4;
  std::string note;
};

inline std::vector<std::string> SplitFields(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  return out;
}

// `dir` holds manifest.tsv; file paths come back joined with it.
inline std::vector<ModelCase> ReadManifest(const std::string& dir) {
  std::ifstream f(dir + "/manifest.tsv");
  std::vector<ModelCase> cases;
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    auto c = SplitFields(line, '\t');
    if (c.size() < 8) continue;
    ModelCase k{c[0], dir + "/" + c[1], c[2]};
    for (const std::string& s : SplitFields(c[3], ';')) {
      std::vector<int64_t> dims;
      for (const std::string& d : SplitFields(s, ',')) dims.push_back(std::stoll(d));
      k.shapes.push_back(dims);
    }
    k.dtypes = SplitFields(c[4], ';');
    k.int_high = std::stoll(c[5]);
    k.rtol = std::stod(c[6]);
    k.atol = std::stod(c[7]);
    k.note = c.size() > 8 ? c[8] : "";
    cases.push_back(k);
  }
  return cases;
}

// The models directory: $SINTER_MODELS_DIR, else the build's default.
inline std::string ModelsDir(const char* fallback) {
  const char* dir = std::getenv("SINTER_MODELS_DIR");
  return dir != nullptr ? dir : fallback;
}

}  // namespace sinter::testing

#endif  // SINTER_TESTS_MODELS_MANIFEST_H_
