// libFuzzer target: the text-IR parser and verifier. Whatever parses must
// verify (the parser infers every type through the shape rules), and the text
// form must round-trip exactly: Print(Parse(Print(g))) == Print(g). A parse
// error is a correct answer; a crash, a sanitizer report, a graph the parser
// built that the verifier refuses, or printed text that does not read back
// the same is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Big inputs only make the fuzzer slow: real graphs of any size are the
  // same few productions repeated.
  if (size > 64 * 1024) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto g = sinter::ir::Parse(text);
  if (!g.ok()) return 0;
  if (absl::Status st = sinter::ir::Verify(**g); !st.ok()) {
    std::fprintf(stderr, "parsed but does not verify: %s\n", std::string(st.message()).c_str());
    __builtin_trap();
  }
  const std::string printed = sinter::ir::Print(**g);
  auto again = sinter::ir::Parse(printed);
  if (!again.ok()) {
    std::fprintf(stderr, "printed text does not parse: %s\n%s\n",
                 std::string(again.status().message()).c_str(), printed.c_str());
    __builtin_trap();
  }
  const std::string reprinted = sinter::ir::Print(**again);
  if (reprinted != printed) {
    std::fprintf(stderr, "text does not round-trip:\n%s\n---\n%s\n", printed.c_str(),
                 reprinted.c_str());
    __builtin_trap();
  }
  return 0;
}
