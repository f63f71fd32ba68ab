// sinter-opt: reads text IR, runs passes, prints IR. Reproduces any pass run
// from a file:  sinter-opt in.sir --passes=dce,cse [--print-ir-after-all]
// Options follow a pass's name: --passes='plan-layout{target=cuda tensor_cores=1}'.
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass.h"

int main(int argc, char** argv) {
  using namespace sinter;
  std::string in_path;
  std::vector<std::string> pass_names;
  std::string pipeline;
  passes::PassManagerOptions opts;
  opts.dump = &std::cerr;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--passes=", 0) == 0) {
      for (auto p : absl::StrSplit(a.substr(9), ',', absl::SkipEmpty())) pass_names.emplace_back(p);
    } else if (a.rfind("--pipeline=", 0) == 0) {
      pipeline = a.substr(11);
    } else if (a.rfind("--print-ir-after=", 0) == 0) {
      opts.print_after.push_back(a.substr(17));
    } else if (a == "--print-ir-after-all") {
      opts.print_after_all = true;
    } else if (a == "--time-passes") {
      opts.timing = true;
    } else if (a == "--list-passes") {
      for (const passes::PassInfo* p : passes::AllPasses())
        std::cout << p->name << "\t" << p->description
                  << (p->options.empty() ? "" : " {" + p->options + "}") << "\n";
      return 0;
    } else if (a[0] != '-' && in_path.empty()) {
      in_path = a;
    } else {
      std::cerr << "usage: sinter-opt IN.sir [--passes=a,b] [--pipeline=NAME] [--print-ir-after=P]"
                   " [--print-ir-after-all] [--time-passes] [--list-passes]\n";
      return 1;
    }
  }
  std::stringstream text;
  if (in_path.empty() || in_path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream f(in_path);
    if (!f) {
      std::cerr << "sinter-opt: cannot open '" << in_path << "'\n";
      return 1;
    }
    text << f.rdbuf();
  }
  auto graph = ir::Parse(text.str());
  if (!graph.ok()) {
    std::cerr << "sinter-opt: " << in_path << ":" << graph.status().message() << "\n";
    return 2;
  }
  if (auto st = ir::Verify(**graph); !st.ok()) {
    std::cerr << "sinter-opt: input does not verify: " << st.message() << "\n";
    return 2;
  }
  passes::PassManager pm(opts);
  absl::Status st = pipeline.empty() ? absl::OkStatus() : pm.AddPipeline(pipeline);
  for (const std::string& p : pass_names) {
    if (st.ok()) st = pm.Add(p);
  }
  if (st.ok()) st = pm.Run(**graph);
  if (!st.ok()) {
    std::cerr << "sinter-opt: " << st.message() << "\n";
    return 2;
  }
  std::cout << ir::Print(**graph);
  return 0;
}
