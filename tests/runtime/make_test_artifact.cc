// Writes a small artifact (linear + softmax, see artifact_fixtures.h) for the
// C API smoke test: make_test_artifact OUT.sinter [O0|default].
#include <cstdio>
#include <fstream>
#include <string>

#include "tests/runtime/artifact_fixtures.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s OUT.sinter [O0|default]\n", argv[0]);
    return 2;
  }
  sinter::ir::Graph g;
  sinter::testing::BuildLinearSoftmax(&g);
  std::string bytes = sinter::testing::CompileOrDie(g, argc == 3 ? argv[2] : "default");
  std::ofstream f(argv[1], std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", argv[1]);
    return 1;
  }
  std::printf("wrote %s (%zu bytes)\n", argv[1], bytes.size());
  return 0;
}
