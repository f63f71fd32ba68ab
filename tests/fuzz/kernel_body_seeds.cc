// Seeds for the kernel_body fuzz target: every region of the given text-IR
// files (the parity op models after the optimising pipeline) lowered as the
// compiler lowers it (ir::LowerBody) and written as the artifact writes it,
// a FlatBuffer Body, behind the target's leading byte.
// Usage: kernel_body_seeds OUT_DIR FILE.sir...
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "flatbuffers/flatbuffers.h"
#include "ir/kernel_body.h"
#include "ir/parser.h"

int main(int argc, char** argv) {
  namespace fmt = sinter::format;
  if (argc < 2) {
    std::fprintf(stderr, "usage: kernel_body_seeds OUT_DIR FILE.sir...\n");
    return 2;
  }
  std::set<std::string> seeds;
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i]);
    std::stringstream text;
    text << in.rdbuf();
    auto g = sinter::ir::Parse(text.str());
    if (!g.ok()) continue;
    for (const auto& op : (*g)->ops()) {
      for (const sinter::ir::Region& r : op->regions()) {
        auto body = sinter::ir::LowerBody(*r.body);
        fmt::CodeRole role;
        if (!body.ok() || !fmt::RegionRole(r.name, &role)) continue;
        flatbuffers::FlatBufferBuilder b;
        std::vector<fmt::Instr> instrs;
        for (const fmt::BodyInstr& x : body->instrs)
          instrs.emplace_back(static_cast<uint8_t>(x.op), x.type, x.a, x.b, x.c, x.p0, x.p1);
        auto args = b.CreateVector(body->args);
        auto vinstrs = b.CreateVectorOfStructs(instrs);
        b.Finish(fmt::CreateBody(b, role, args, vinstrs, body->result));
        for (char broadcast : {0, 1}) {
          seeds.insert(
              std::string(1, broadcast) +
              std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()));
        }
      }
    }
  }
  int k = 0;
  for (const std::string& s : seeds) {
    char name[32];
    std::snprintf(name, sizeof name, "/b%04d", k++);
    std::ofstream(std::string(argv[1]) + name, std::ios::binary) << s;
  }
  std::printf("seeds: %d kernel bodies\n", k);
  return 0;
}
