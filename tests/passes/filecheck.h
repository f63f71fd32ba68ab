// A small FileCheck for pass tests, modelled on LLVM FileCheck (as PyTorch's
// tensorexpr tests use it inside GoogleTest). Checks run in order over the
// output:
//   CHECK: pat       the next match of pat, after the previous match
//   CHECK-NEXT: pat  a match on the line right after the previous match's line
//   CHECK-SAME: pat  a match on the previous match's line, after it
//   CHECK-NOT: pat   no match between the previous match and the next
//                    positive match (or the end)
//   CHECK-DAG: pat   consecutive DAG checks match in any order after the
//                    previous match, without overlapping; the next check
//                    starts after the last of them
// A pattern is literal text, except `{{re}}` (an ECMAScript regex),
// `[[NAME:re]]` (matches re and binds NAME to the text matched) and
// `[[NAME]]` (the text NAME was bound to, literally). A pattern never spans
// lines. Any other directive spelled with CHECK (CHECK-NXT:, CHECK :) is an
// error, not a silently weaker check.
#ifndef SINTER_TESTS_PASSES_FILECHECK_H_
#define SINTER_TESTS_PASSES_FILECHECK_H_

#include <algorithm>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace sinter::testing {

namespace filecheck_internal {

inline std::string Escape(const std::string& s) {
  static const std::string kSpecial = R"(\^$.|?*+()[]{}/)";
  std::string out;
  for (char c : s) {
    if (kSpecial.find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

// A pattern compiled against the variables bound so far.
struct Compiled {
  std::regex re;
  std::vector<std::string> binds;  // variable per capture group, in order
};

// Returns "" or what is wrong with the pattern.
inline std::string Compile(const std::string& pat, const std::map<std::string, std::string>& vars,
                           Compiled* out) {
  std::string re;
  out->binds.clear();
  size_t i = 0;
  while (i < pat.size()) {
    if (pat.compare(i, 2, "{{") == 0) {
      size_t e = pat.find("}}", i + 2);
      if (e == std::string::npos) return "unterminated {{ in '" + pat + "'";
      re += "(?:" + pat.substr(i + 2, e - i - 2) + ")";
      i = e + 2;
    } else if (pat.compare(i, 2, "[[") == 0) {
      size_t e = pat.find("]]", i + 2);
      if (e == std::string::npos) return "unterminated [[ in '" + pat + "'";
      const std::string body = pat.substr(i + 2, e - i - 2);
      const size_t colon = body.find(':');
      if (colon == std::string::npos) {
        auto it = vars.find(body);
        if (it == vars.end()) return "variable '" + body + "' used before it is bound";
        re += Escape(it->second);
      } else {
        re += "(" + body.substr(colon + 1) + ")";
        out->binds.push_back(body.substr(0, colon));
      }
      i = e + 2;
    } else {
      size_t e = std::min(pat.find("{{", i), pat.find("[[", i));
      if (e == std::string::npos) e = pat.size();
      re += Escape(pat.substr(i, e - i));
      i = e;
    }
  }
  try {
    out->re = std::regex(re, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return "bad regex in '" + pat + "': " + e.what();
  }
  return "";
}

}  // namespace filecheck_internal

// Returns "" when all checks pass, else a description of the first failure.
inline std::string FileCheck(const std::string& output, const std::string& checks) {
  using namespace filecheck_internal;
  struct Item {
    std::string kind, text;
  };
  std::vector<Item> items;
  std::istringstream in(checks);
  std::string line;
  static const std::vector<std::string> kKinds = {"CHECK", "CHECK-NEXT", "CHECK-SAME", "CHECK-NOT",
                                                  "CHECK-DAG"};
  while (std::getline(in, line)) {
    size_t c = line.find("CHECK");
    if (c == std::string::npos) continue;
    size_t colon = line.find(':', c);
    const std::string kind =
        colon == std::string::npos ? line.substr(c) : line.substr(c, colon - c);
    if (colon == std::string::npos ||
        std::find(kKinds.begin(), kKinds.end(), kind) == kKinds.end()) {
      return "unknown FileCheck directive '" + kind + "' in: " + line;
    }
    std::string text = line.substr(colon + 1);
    text.erase(0, text.find_first_not_of(' '));
    if (text.empty()) return "empty pattern in: " + line;
    items.push_back({kind, text});
  }
  if (items.empty()) return "no checks";

  std::map<std::string, std::string> vars;
  auto line_end = [&](size_t p) {
    size_t e = output.find('\n', p);
    return e == std::string::npos ? output.size() : e;
  };
  // Finds pattern `text` in output[from, to); false (with *err) when it fails
  // to compile, false (without) when it does not match.
  auto find = [&](const std::string& text, size_t from, size_t to, size_t* at, size_t* end,
                  std::string* err, bool bind) {
    Compiled c;
    *err = Compile(text, vars, &c);
    if (!err->empty()) return false;
    // Line by line: a pattern never spans lines.
    for (size_t b = from; b <= to && b <= output.size();) {
      const size_t e = std::min(line_end(b), to);
      std::smatch m;
      const std::string seg = output.substr(b, e - b);
      if (std::regex_search(seg, m, c.re)) {
        *at = b + static_cast<size_t>(m.position(0));
        *end = *at + static_cast<size_t>(m.length(0));
        if (bind) {
          for (size_t g = 0; g < c.binds.size(); ++g) vars[c.binds[g]] = m[g + 1].str();
        }
        return true;
      }
      if (e >= to || e >= output.size()) break;
      b = e + 1;
    }
    return false;
  };
  auto fail = [&](const std::string& what) { return what + "\n--- output ---\n" + output; };

  size_t pos = 0, last_match = 0;
  bool matched_any = false;
  std::vector<std::string> nots;
  std::string err;
  auto check_nots = [&](size_t until) -> std::string {
    for (const std::string& n : nots) {
      size_t at, end;
      if (find(n, pos, until, &at, &end, &err, false)) return fail("CHECK-NOT: '" + n + "' found");
      if (!err.empty()) return fail(err);
    }
    nots.clear();
    return "";
  };
  for (size_t k = 0; k < items.size(); ++k) {
    const Item& it = items[k];
    if (it.kind == "CHECK-NOT") {
      nots.push_back(it.text);
      continue;
    }
    size_t at = 0, end = 0;
    if (it.kind == "CHECK-DAG") {
      // The group of consecutive DAG checks.
      size_t g = k;
      std::vector<std::pair<size_t, size_t>> used;
      size_t group_end = pos, group_begin = std::string::npos;
      for (; g < items.size() && items[g].kind == "CHECK-DAG"; ++g) {
        size_t from = pos;
        bool ok = false;
        while (find(items[g].text, from, output.size(), &at, &end, &err, true)) {
          bool overlaps = false;
          for (auto [b, e] : used) overlaps = overlaps || (at < e && b < end);
          if (!overlaps) {
            ok = true;
            break;
          }
          from = at + 1;
        }
        if (!err.empty()) return fail(err);
        if (!ok) return fail("CHECK-DAG: '" + items[g].text + "' not found");
        used.push_back({at, end});
        group_end = std::max(group_end, end);
        group_begin = std::min(group_begin, at);
      }
      if (std::string e = check_nots(group_begin); !e.empty()) return e;
      pos = group_end;
      last_match = group_begin;
      matched_any = true;
      k = g - 1;
      continue;
    }
    bool ok;
    if (it.kind == "CHECK-NEXT") {
      if (!matched_any) return fail("CHECK-NEXT: '" + it.text + "' has no previous match");
      const size_t next = line_end(last_match) + 1;
      ok = next <= output.size() && find(it.text, next, line_end(next), &at, &end, &err, true);
      if (!ok && err.empty()) return fail("CHECK-NEXT: '" + it.text + "' not on the next line");
    } else if (it.kind == "CHECK-SAME") {
      if (!matched_any) return fail("CHECK-SAME: '" + it.text + "' has no previous match");
      ok = find(it.text, pos, line_end(pos), &at, &end, &err, true);
      if (!ok && err.empty()) return fail("CHECK-SAME: '" + it.text + "' not on the same line");
    } else {
      ok = find(it.text, pos, output.size(), &at, &end, &err, true);
      if (!ok && err.empty()) return fail("CHECK: '" + it.text + "' not found");
    }
    if (!err.empty()) return fail(err);
    if (std::string e = check_nots(at); !e.empty()) return e;
    pos = end;
    last_match = at;
    matched_any = true;
  }
  return check_nots(output.size());
}

}  // namespace sinter::testing

#endif  // SINTER_TESTS_PASSES_FILECHECK_H_
