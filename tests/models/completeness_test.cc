// The op table is complete: every row of runtime/format/ops.def has each
// piece an op needs, and the pieces agree with each other.
//   - the IR's row (ir/op_table.h) is the schema's row, with a shape rule;
//   - each target: an op it runs as a kernel (KERNEL, GENERATED, LIBRARY)
//     has a row in that backend's op table, and a backend row is an op the
//     target runs; an op LOWERED names a registered pass; REFUSED says why;
//   - a parity case reaches it: the op appears in a test model imported from
//     TorchScript (its lowering), or in one after the default pipeline (the
//     pass that makes it), so LibTorch checks its numbers and its shape
//     rule's shapes (tests/models/parity_test.cc);
//   - its regions are kernel bodies the artifact has a role for;
// and the two vocabularies that fused kernels read name ops of the table:
//   - each row of runtime/format/elementwise.def is the IR op that becomes
//     it (gelu_tanh: gelu with approximate=tanh), elementwise;
//   - each row reduction of runtime/format/reductions.def is a reduction op
//     that fuse-reduction turns into fused_reduction.
// One test over the whole table, so that one run lists every missing piece.
#include <map>
#include <set>
#include <string>

#include "codegen/compiler.h"
#include "frontend/torchscript.h"
#include "gtest/gtest.h"
#include "ir/op_table.h"
#include "passes/pass.h"
#include "runtime/backend.h"
#include "runtime/cpu/op_table.h"
#include "runtime/format/kernel_body.h"
#include "runtime/format/op_schema.h"
#include "tests/models/case_options.h"
#include "tests/models/manifest.h"

namespace {

using sinter::format::Strategy;
using sinter::format::Target;

// The op kinds the test models reach, each with the first case that does.
std::map<sinter::ir::OpKind, std::string> Reached(const std::string& models) {
  std::map<sinter::ir::OpKind, std::string> seen;
  for (const sinter::testing::ModelCase& c : sinter::testing::ReadManifest(models)) {
    if (c.group != "op" && c.group != "model" && c.group != "fallback" && c.group != "plugin")
      continue;
    sinter::frontend::ImportOptions opts;
    sinter::testing::AddCaseOptions(c, SINTER_LIB_DIR, &opts);
    for (size_t i = 0; i < c.shapes.size(); ++i) {
      opts.inputs.push_back(
          {c.shapes[i], c.dtypes[i] == "i64" ? sinter::ir::DType::kI64 : sinter::ir::DType::kF32});
    }
    auto graph = sinter::frontend::ImportTorchScript(c.file, opts);
    if (!graph.ok()) continue;  // parity_test reports it
    auto note = [&](const sinter::ir::Graph& g, const char* how) {
      for (const auto& op : g.ops()) seen.emplace(op->kind(), c.name + " (" + how + ")");
    };
    note(**graph, "imported");
    sinter::codegen::CompileOptions copts;
    copts.cpu = "none";  // no native code needed to see the ops
    if (sinter::codegen::Compile(**graph, copts, nullptr).ok()) note(**graph, "default pipeline");
    // With a symbolic sequence extent (slice_like appears only there).
    std::vector<std::vector<int>> axes;
    sinter::ir::BatchSymbol seq;
    if (sinter::testing::SeqOptions(c, &opts, &axes)) {
      auto symbolic = sinter::frontend::ImportTorchScript(c.file, opts, nullptr, &seq);
      if (symbolic.ok()) note(**symbolic, "symbolic seq");
    }
  }
  return seen;
}

TEST(OpTable, EveryRowIsComplete) {
  const std::string models = sinter::testing::ModelsDir(SINTER_DEFAULT_MODELS_DIR);
  const std::map<sinter::ir::OpKind, std::string> reached = Reached(models);
  ASSERT_GT(reached.size(), 20u) << "no test models in " << models;
  std::map<Target, std::set<std::string_view>> backend_ops;
  for (Target t : sinter::format::kAllTargets) {
    const sinter::rt::Backend* b = sinter::rt::FindBackend(sinter::format::TargetName(t));
    ASSERT_NE(b, nullptr) << sinter::format::TargetName(t);
    for (std::string_view op : b->ops()) backend_ops[t].insert(op);
  }
  const bool cuda_built = !backend_ops[Target::kCuda].empty();

  for (const sinter::format::OpSchema& s : sinter::format::AllOpSchemas()) {
    SCOPED_TRACE(std::string(s.name));
    const sinter::ir::OpInfo& info =
        sinter::ir::GetOpInfo(static_cast<sinter::ir::OpKind>(s.index));
    EXPECT_EQ(info.schema, &s) << "the IR's row is not the schema's";
    EXPECT_EQ(info.name, s.name);
    EXPECT_NE(info.infer, nullptr) << "no shape rule";
    for (Target t : sinter::format::kAllTargets) {
      const std::string_view target = sinter::format::TargetName(t);
      const sinter::format::TargetStrategy& st = s.strategy(t);
      const bool in_table = backend_ops[t].count(s.name) != 0;
      switch (st.kind) {
        case Strategy::kKernel:
        case Strategy::kGenerated:
        case Strategy::kLibrary:
          if (t == Target::kCuda && !cuda_built) break;  // runtime built without CUDA
          EXPECT_TRUE(in_table) << "the " << target << " backend's op table has no row";
          break;
        case Strategy::kLowered:
          EXPECT_NE(sinter::passes::FindPass(std::string(st.detail)), nullptr)
              << target << ": lowered by '" << st.detail << "', which is no registered pass";
          EXPECT_FALSE(in_table) << target << ": lowered, yet the backend has a row";
          break;
        case Strategy::kRefused:
          EXPECT_FALSE(st.detail.empty()) << target << ": refused without a reason";
          EXPECT_FALSE(in_table) << target << ": refused, yet the backend has a row";
          break;
        case Strategy::kIrOnly:
          EXPECT_FALSE(in_table) << target << ": IR only, yet the backend has a row";
          break;
      }
    }
    if (s.Has(sinter::format::kRunExtents) && s.strategy(Target::kCpu).RunsAsKernel()) {
      const sinter::rt::OpDef* row = sinter::rt::FindOp(s.name);
      EXPECT_TRUE(row != nullptr && row->run_dims != nullptr)
          << "takes the run's extents (kRunExtents), yet the CPU row has no run_dims";
    }
    EXPECT_TRUE(reached.count(info.kind))
        << "no parity case reaches it: add one to tests/models/make_models.py";
    for (const sinter::format::SchemaRegion& r : s.regions) {
      sinter::format::CodeRole role;
      EXPECT_TRUE(sinter::format::RegionRole(r.name, &role))
          << "region '" << r.name << "' has no artifact role";
    }
  }
  using sinter::format::BodyOp;
  static constexpr BodyOp kVocabulary[] = {
#define SINTER_EW_UNARY(Id, name, params, CpuKernel) BodyOp::k##Id,
#define SINTER_EW_BINARY(Id, name, CpuKernel) BodyOp::k##Id,
#define SINTER_EW_COMPARE(Id, name, Op) BodyOp::k##Id,
#define SINTER_EW_SELECT(Id, name) BodyOp::k##Id,
#define SINTER_EW_CAST(Id, name) BodyOp::k##Id,
#define SINTER_EW_CONST(Id, name) BodyOp::k##Id,
#include "runtime/format/elementwise.def"
  };
  for (BodyOp b : kVocabulary) {
    const sinter::format::BodyOpInfo& row = sinter::format::InfoOf(b);
    const std::string_view op = row.name == "gelu_tanh" ? "gelu" : row.name;
    const std::optional<sinter::ir::OpKind> kind = sinter::ir::LookupOp(op);
    EXPECT_TRUE(kind.has_value()) << "elementwise.def row '" << row.name << "' is no op";
    if (kind && *kind != sinter::ir::OpKind::kConst) {
      EXPECT_TRUE(sinter::ir::GetOpInfo(*kind).Has(sinter::ir::kElementwise))
          << "elementwise.def row '" << row.name << "' is an op without the elementwise trait";
    }
  }
  using sinter::format::RowReduction;
  static constexpr RowReduction kReductions[] = {
#define SINTER_ROW_REDUCTION(Id, name, affine, last_axis) RowReduction::k##Id,
#include "runtime/format/reductions.def"
  };
  for (RowReduction r : kReductions) {
    const std::string_view name = sinter::format::InfoOf(r).name;
    const std::optional<sinter::ir::OpKind> kind = sinter::ir::LookupOp(name);
    ASSERT_TRUE(kind.has_value()) << "reductions.def row '" << name << "' is no op";
    EXPECT_TRUE(sinter::ir::GetOpInfo(*kind).Has(sinter::ir::kReduction)) << name;
  }
  // The other way: every backend row is an op the schema says it runs.
  for (const auto& [t, ops] : backend_ops) {
    for (std::string_view op : ops) {
      const sinter::format::OpSchema* s = sinter::format::FindOpSchema(op);
      ASSERT_NE(s, nullptr) << "the " << sinter::format::TargetName(t) << " backend runs '" << op
                            << "', which ops.def does not have";
      EXPECT_TRUE(s->strategy(t).RunsAsKernel())
          << sinter::format::TargetName(t) << " runs '" << op << "' as a kernel, ops.def says "
          << sinter::format::StrategyName(s->strategy(t).kind);
    }
  }
}

}  // namespace
