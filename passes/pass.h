// Pass infrastructure: a pass is a named graph transformation registered in
// one table; pipelines are named lists of pass names. Adding a pass is one
// file with one SINTER_REGISTER_PASS line.
#ifndef SINTER_PASSES_PASS_H_
#define SINTER_PASSES_PASS_H_

#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace sinter::passes {

// What a pass reports: counters such as "ops-removed".
using PassStats = std::map<std::string, int64_t>;

// Options of one pass run, written after its name in a pass list as
// "name{key=value key=value}" (as MLIR writes them).
using PassOptions = std::map<std::string, std::string>;

struct PassInfo {
  std::string name;
  std::string description;
  std::function<absl::Status(ir::Graph&, PassStats&)> run;
  // A pass that takes options runs through this one instead of `run`, and
  // lists them in `options` ("key=a|b ...", for --list-passes).
  std::function<absl::Status(ir::Graph&, PassStats&, const PassOptions&)> run_with_options;
  std::string options;
};

// Registers a pass at static-initialisation time.
bool RegisterPass(PassInfo info);
const PassInfo* FindPass(const std::string& name);
std::vector<const PassInfo*> AllPasses();

#define SINTER_REGISTER_PASS(ID, NAME, DESCRIPTION, FN)           \
  [[maybe_unused]] static const bool kSinterPassRegistered_##ID = \
      ::sinter::passes::RegisterPass(::sinter::passes::PassInfo{NAME, DESCRIPTION, FN, {}, {}})

#define SINTER_REGISTER_PASS_WITH_OPTIONS(ID, NAME, DESCRIPTION, OPTIONS, FN)                     \
  [[maybe_unused]] static const bool kSinterPassRegistered_##ID = ::sinter::passes::RegisterPass( \
      ::sinter::passes::PassInfo{NAME, DESCRIPTION, {}, FN, OPTIONS})

// Named pipelines: "O0" (no rewriting beyond cleanup), "default", and the
// CUDA target's "cuda" and "cuda-O0" (the same with the lowerings CUDA needs).
absl::StatusOr<std::vector<std::string>> Pipeline(const std::string& name);

struct PassManagerOptions {
  bool verify_each = true;               // run the verifier after every pass
  std::vector<std::string> print_after;  // pass names whose result to print
  bool print_after_all = false;
  bool timing = false;
  std::ostream* dump = nullptr;  // where IR dumps and timings go
};

struct PassRecord {
  std::string name;
  double millis = 0;
  PassStats stats;
};

class PassManager {
 public:
  explicit PassManager(PassManagerOptions opts = {}) : opts_(std::move(opts)) {}
  // `spec`: a pass name, optionally with options, "name{key=value ...}".
  absl::Status Add(const std::string& spec);
  // Options for every later Add of `pass` that gives none of its own (how the
  // compiler tells target-dependent passes the target).
  void SetDefaultOptions(const std::string& pass, PassOptions options);
  absl::Status AddPipeline(const std::string& name);
  absl::Status Run(ir::Graph& graph);
  const std::vector<PassRecord>& records() const { return records_; }
  // The passes added, with their options, as a --passes list for sinter-opt:
  // "dce,plan-layout{layout=auto target=cpu tensor_cores=0},...".
  std::string Spec() const;

 private:
  PassManagerOptions opts_;
  std::vector<std::pair<const PassInfo*, PassOptions>> passes_;
  std::map<std::string, PassOptions> default_options_;
  std::vector<PassRecord> records_;
};

}  // namespace sinter::passes

#endif  // SINTER_PASSES_PASS_H_
