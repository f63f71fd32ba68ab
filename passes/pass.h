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

struct PassInfo {
  std::string name;
  std::string description;
  std::function<absl::Status(ir::Graph&, PassStats&)> run;
};

// Registers a pass at static-initialisation time.
bool RegisterPass(PassInfo info);
const PassInfo* FindPass(const std::string& name);
std::vector<const PassInfo*> AllPasses();

#define SINTER_REGISTER_PASS(ID, NAME, DESCRIPTION, FN)           \
  [[maybe_unused]] static const bool kSinterPassRegistered_##ID = \
      ::sinter::passes::RegisterPass(::sinter::passes::PassInfo{NAME, DESCRIPTION, FN})

// Named pipelines: "O0" (no rewriting beyond cleanup) and "default".
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
  absl::Status Add(const std::string& name);
  absl::Status AddPipeline(const std::string& name);
  absl::Status Run(ir::Graph& graph);
  const std::vector<PassRecord>& records() const { return records_; }

 private:
  PassManagerOptions opts_;
  std::vector<const PassInfo*> passes_;
  std::vector<PassRecord> records_;
};

}  // namespace sinter::passes

#endif  // SINTER_PASSES_PASS_H_
