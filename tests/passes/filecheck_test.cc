// The FileCheck of the pass tests (filecheck.h) checked against itself: each
// directive passes where it should and fails where it should, so a pass test
// cannot pass by a weaker check than it spells.
#include "tests/passes/filecheck.h"

#include "gtest/gtest.h"

namespace sinter::testing {
namespace {

constexpr char kOut[] = R"(graph @main(%x: f32[4]) {
  %0 = relu(%x) : f32[4]
  %1 = tanh(%0) : f32[4]
  %2 = add(%0, %1) : f32[4]
  return %2
})";

bool Passes(const std::string& checks) { return FileCheck(kOut, checks).empty(); }

TEST(FileCheck, CheckAndNext) {
  EXPECT_TRUE(Passes("CHECK: relu\nCHECK-NEXT: tanh\nCHECK-NEXT: add"));
  EXPECT_FALSE(Passes("CHECK: relu\nCHECK-NEXT: add"));
  EXPECT_FALSE(Passes("CHECK: tanh\nCHECK: relu"));  // in order
  EXPECT_FALSE(Passes("CHECK: sigmoid"));
}

TEST(FileCheck, Same) {
  EXPECT_TRUE(Passes("CHECK: %2 = add\nCHECK-SAME: f32[4]"));
  EXPECT_FALSE(Passes("CHECK: %2 = add\nCHECK-SAME: return"));
  EXPECT_FALSE(Passes("CHECK: f32[4]\nCHECK-SAME: relu"));  // before the match
}

TEST(FileCheck, Not) {
  EXPECT_TRUE(Passes("CHECK: relu\nCHECK-NOT: sigmoid\nCHECK: add"));
  EXPECT_FALSE(Passes("CHECK: relu\nCHECK-NOT: tanh\nCHECK: add"));
  EXPECT_FALSE(Passes("CHECK: relu\nCHECK-NOT: return"));  // up to the end
}

TEST(FileCheck, DagMatchesInAnyOrderWithoutOverlap) {
  EXPECT_TRUE(Passes("CHECK-DAG: tanh\nCHECK-DAG: relu\nCHECK: return"));
  EXPECT_FALSE(Passes("CHECK-DAG: relu\nCHECK-DAG: relu(%x)"));  // one occurrence, used
  EXPECT_FALSE(Passes("CHECK-DAG: tanh\nCHECK-DAG: sigmoid"));
}

TEST(FileCheck, CapturesAndRegexes) {
  EXPECT_TRUE(Passes("CHECK: [[R:%[0-9]+]] = relu\nCHECK: add([[R]], "));
  EXPECT_FALSE(Passes("CHECK: [[R:%[0-9]+]] = tanh\nCHECK: add([[R]], "));
  EXPECT_TRUE(Passes("CHECK: %{{[0-9]}} = tanh"));
  EXPECT_NE(FileCheck(kOut, "CHECK: add([[NOPE]]"), "");  // unbound variable
}

TEST(FileCheck, UnknownDirectivesAreErrors) {
  EXPECT_NE(FileCheck(kOut, "CHECK-NXT: relu").find("unknown FileCheck directive 'CHECK-NXT'"),
            std::string::npos);
  EXPECT_NE(FileCheck(kOut, "CHECK relu").find("unknown FileCheck directive"), std::string::npos);
  EXPECT_NE(FileCheck(kOut, "CHECK-LABEL: relu").find("unknown"), std::string::npos);
  EXPECT_NE(FileCheck(kOut, "no checks here"), "");
}

}  // namespace
}  // namespace sinter::testing
