// Runs a comma-separated pass list (each pass optionally with its options,
// "name{key=value}") over text IR and prints the result, verifying after
// every pass: the harness of the text-IR pass tests.
#ifndef SINTER_TESTS_PASSES_RUN_PASSES_H_
#define SINTER_TESTS_PASSES_RUN_PASSES_H_

#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass.h"
#include "tests/passes/filecheck.h"

namespace sinter::testing {

inline std::string RunPasses(const std::string& ir_text, const std::string& passes,
                             bool elide_constants = true,
                             ::sinter::passes::PassManager* pm_out = nullptr) {
  auto g = ir::Parse(ir_text);
  EXPECT_TRUE(g.ok()) << g.status();
  if (!g.ok()) return "";
  passes::PassManager local;  // verifies after every pass
  passes::PassManager& pm = pm_out ? *pm_out : local;
  std::stringstream ss(passes);
  std::string name;
  while (std::getline(ss, name, ',')) EXPECT_TRUE(pm.Add(name).ok()) << name;
  absl::Status st = pm.Run(**g);
  EXPECT_TRUE(st.ok()) << st;
  return ir::Print(**g, {.elide_constants = elide_constants});
}

}  // namespace sinter::testing

#define EXPECT_CHECKS(out, checks) EXPECT_EQ(::sinter::testing::FileCheck(out, checks), "") << out

#endif  // SINTER_TESTS_PASSES_RUN_PASSES_H_
