#include "passes/pass.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ir/printer.h"
#include "ir/status_macros.h"
#include "ir/verifier.h"

namespace sinter::passes {
namespace {

std::map<std::string, PassInfo>& Registry() {
  static auto* r = new std::map<std::string, PassInfo>();
  return *r;
}

}  // namespace

bool RegisterPass(PassInfo info) {
  std::string name = info.name;
  return Registry().emplace(std::move(name), std::move(info)).second;
}

const PassInfo* FindPass(const std::string& name) {
  auto it = Registry().find(name);
  return it == Registry().end() ? nullptr : &it->second;
}

std::vector<const PassInfo*> AllPasses() {
  std::vector<const PassInfo*> out;
  for (const auto& [name, info] : Registry()) out.push_back(&info);
  return out;
}

absl::StatusOr<std::vector<std::string>> Pipeline(const std::string& name) {
  // O0 keeps every op as written: only unused values are dropped.
  if (name == "O0") return std::vector<std::string>{"dce"};
  // The default: clean up, fold what is constant, fold batch norms into
  // convolutions (the others become mul and add), pick each convolution
  // chain's layout (folding the weight transposes that makes), turn GEMMs
  // into their library form, then fuse. Reductions fuse last: by then their elementwise
  // neighbours are single fused_elementwise ops, and a residual add that a
  // GEMM epilogue can take has been taken there.
  if (name == "default") {
    return std::vector<std::string>{"dce",           "fold-constants",   "cse",
                                    "canonicalize",  "fold-batch-norm",  "lower-batch-norm",
                                    "plan-layout",   "fold-constants",   "canonicalize",
                                    "cse",           "matmul-to-linear", "fuse-elementwise",
                                    "fuse-epilogue", "fuse-reduction",   "dce"};
  }
  // The CUDA target's: LSTMs and GRUs unrolled first (the backend has no
  // recurrent kernels, and fusion then sees their gate math), softmaxes moved to the last
  // axis (its row kernels), and every elementwise op
  // left alone wrapped at the end (the backend runs generated elementwise
  // kernels only): ops.def's LOWERED("lower-recurrent") and
  // LOWERED("wrap-elementwise"). The compiler appends the storage precision
  // pass (convert-f16 / convert-bf16).
  if (name == "cuda" || name == "cuda-O0") {
    ASSIGN_OR_RETURN(std::vector<std::string> inner, Pipeline(name == "cuda" ? "default" : "O0"));
    std::vector<std::string> p{"lower-recurrent", "softmax-last-axis"};
    p.insert(p.end(), inner.begin(), inner.end());
    p.push_back("wrap-elementwise");
    return p;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown pipeline '", name, "' (O0, default, cuda, cuda-O0)"));
}

absl::Status PassManager::Add(const std::string& spec) {
  std::string name = spec;
  PassOptions options;
  bool explicit_options = false;
  if (size_t brace = spec.find('{'); brace != std::string::npos) {
    if (spec.back() != '}') {
      return absl::InvalidArgumentError(absl::StrCat("pass '", spec, "': options end with '}'"));
    }
    name = spec.substr(0, brace);
    explicit_options = true;
    const std::string body = spec.substr(brace + 1, spec.size() - brace - 2);
    for (absl::string_view kv : absl::StrSplit(body, ' ', absl::SkipEmpty())) {
      size_t eq = kv.find('=');
      if (eq == absl::string_view::npos || eq == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("pass '", name, "': option '", kv, "' is not key=value"));
      }
      options[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    }
  }
  const PassInfo* p = FindPass(name);
  if (p == nullptr) {
    std::vector<std::string> names;
    for (const PassInfo* i : AllPasses()) names.push_back(i->name);
    return absl::InvalidArgumentError(
        absl::StrCat("unknown pass '", name, "'; passes: ", absl::StrJoin(names, ", ")));
  }
  if (!explicit_options) {
    if (auto it = default_options_.find(name); it != default_options_.end()) options = it->second;
  }
  if (!options.empty() && !p->run_with_options) {
    return absl::InvalidArgumentError(absl::StrCat("pass '", name, "' takes no options"));
  }
  passes_.emplace_back(p, std::move(options));
  return absl::OkStatus();
}

std::string PassManager::Spec() const {
  std::vector<std::string> specs;
  for (const auto& [p, options] : passes_) {
    std::string s = p->name;
    if (!options.empty()) {
      std::vector<std::string> kv;
      for (const auto& [k, v] : options) kv.push_back(absl::StrCat(k, "=", v));
      absl::StrAppend(&s, "{", absl::StrJoin(kv, " "), "}");
    }
    specs.push_back(std::move(s));
  }
  return absl::StrJoin(specs, ",");
}

void PassManager::SetDefaultOptions(const std::string& pass, PassOptions options) {
  default_options_[pass] = std::move(options);
}

absl::Status PassManager::AddPipeline(const std::string& name) {
  auto p = Pipeline(name);
  if (!p.ok()) return p.status();
  for (const std::string& n : *p) {
    absl::Status st = Add(n);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status PassManager::Run(ir::Graph& graph) {
  for (const auto& [p, options] : passes_) {
    PassRecord rec{p->name, 0, {}};
    auto t0 = std::chrono::steady_clock::now();
    absl::Status st = p->run_with_options ? p->run_with_options(graph, rec.stats, options)
                                          : p->run(graph, rec.stats);
    rec.millis =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!st.ok())
      return absl::Status(st.code(), absl::StrCat("pass ", p->name, ": ", st.message()));
    if (opts_.verify_each) {
      absl::Status v = ir::Verify(graph);
      if (!v.ok()) {
        return absl::InternalError(
            absl::StrCat("IR invalid after pass ", p->name, ": ", v.message()));
      }
    }
    bool print = opts_.print_after_all ||
                 std::count(opts_.print_after.begin(), opts_.print_after.end(), p->name);
    if (print && opts_.dump != nullptr) {
      *opts_.dump << "// ----- IR after " << p->name << " -----\n"
                  << ir::Print(graph, {.elide_constants = true});
    }
    if (opts_.timing && opts_.dump != nullptr) {
      *opts_.dump << "pass " << p->name << ": " << rec.millis << " ms";
      for (const auto& [k, v] : rec.stats) *opts_.dump << ", " << k << "=" << v;
      *opts_.dump << "\n";
    }
    records_.push_back(std::move(rec));
  }
  return absl::OkStatus();
}

}  // namespace sinter::passes
