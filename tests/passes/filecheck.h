// A small FileCheck for pass tests: checks run in order over the output.
//   CHECK: text       the next occurrence of text, after the previous match
//   CHECK-NEXT: text  text on the line right after the previous match
//   CHECK-NOT: text   text does not occur between the previous match and the
//                     next positive match (or the end)
// Modelled on LLVM FileCheck, as PyTorch's tensorexpr tests use it in gtest.
#ifndef SINTER_TESTS_PASSES_FILECHECK_H_
#define SINTER_TESTS_PASSES_FILECHECK_H_

#include <sstream>
#include <string>
#include <vector>

namespace sinter::testing {

// Returns "" when all checks pass, else a description of the first failure.
inline std::string FileCheck(const std::string& output, const std::string& checks) {
  std::vector<std::pair<std::string, std::string>> items;  // (kind, text)
  std::istringstream in(checks);
  std::string line;
  while (std::getline(in, line)) {
    size_t c = line.find("CHECK");
    if (c == std::string::npos) continue;
    size_t colon = line.find(':', c);
    std::string kind = line.substr(c, colon - c);
    std::string text = line.substr(colon + 1);
    text.erase(0, text.find_first_not_of(' '));
    items.emplace_back(kind, text);
  }
  size_t pos = 0;
  std::vector<std::string> nots;
  auto line_end = [&](size_t p) {
    size_t e = output.find('\n', p);
    return e == std::string::npos ? output.size() : e;
  };
  for (const auto& [kind, text] : items) {
    if (kind == "CHECK-NOT") {
      nots.push_back(text);
      continue;
    }
    size_t found;
    if (kind == "CHECK-NEXT") {
      size_t next_line = line_end(pos) + 1;
      found = output.find(text, next_line);
      if (found == std::string::npos || found >= line_end(next_line)) {
        return "CHECK-NEXT: '" + text + "' not on the next line\n--- output ---\n" + output;
      }
    } else {
      found = output.find(text, pos);
      if (found == std::string::npos)
        return "CHECK: '" + text + "' not found\n--- output ---\n" + output;
    }
    for (const std::string& n : nots) {
      size_t bad = output.find(n, pos);
      if (bad != std::string::npos && bad < found) {
        return "CHECK-NOT: '" + n + "' found\n--- output ---\n" + output;
      }
    }
    nots.clear();
    pos = found + text.size();
  }
  for (const std::string& n : nots) {
    if (output.find(n, pos) != std::string::npos)
      return "CHECK-NOT: '" + n + "' found\n--- output ---\n" + output;
  }
  return "";
}

}  // namespace sinter::testing

#endif  // SINTER_TESTS_PASSES_FILECHECK_H_
