// Epilogue fusion: the elementwise work right after a convolution or GEMM
// (bias already inside; activation, residual add, scale) runs as that op's
// epilogue, on its output, instead of as a kernel of its own:
//   relu(add(conv2d(x, w, b), r))  ->  conv2d(x, w, b, r) epilogue(%c, %r) {...}
// The consumer may be a single elementwise op or a fused_elementwise kernel
// (run after fuse-elementwise); its ops move into the op's `epilogue` region,
// whose argument 0 is the convolution's element. Legality as for elementwise fusion: the
// conv/GEMM result has one user, is not a graph output, and the consumer's
// result has the same shape.
#include "ir/shape_rules.h"
#include "ir/status_macros.h"
#include "passes/fusion_util.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace sinter::passes {
namespace {

using ir::OpKind;

absl::Status RunFuseEpilogue(ir::Graph& g, PassStats& stats) {
  for (auto it = g.ops().begin(); it != g.ops().end();) {
    ir::Operation* op = (it++)->get();
    if ((op->kind() != OpKind::kConv2d && op->kind() != OpKind::kLinear) ||
        op->region("epilogue") != nullptr) {
      continue;
    }
    ir::Value* r = op->result();
    if (r->users().size() != 1 || g.IsOutput(r) || r->type().dtype != ir::DType::kF32) continue;
    ir::Operation* user = r->users()[0];
    if (user->result()->type() != r->type()) continue;
    std::vector<ir::Value*> extra;
    std::unique_ptr<ir::Graph> epilogue = BodyOver(user, r, &extra);
    if (epilogue == nullptr) continue;

    ir::Builder b(&g, g.Position(user));
    b.SetLoc(op->loc());
    std::vector<ir::Value*> operands{op->operand(0), op->operand(1)};
    if (op->num_operands() >= 3) {
      operands.push_back(op->operand(2));
    } else {  // the epilogue form has an explicit bias
      // Out channels: NCHW's dim 1; the last dim of NHWC and of linear.
      bool channel_first = false;
      if (op->kind() == OpKind::kConv2d) {
        ASSIGN_OR_RETURN(bool nhwc, ir::ChannelsLast(*op));
        channel_first = !nhwc;
      }
      int64_t n = r->type().shape[channel_first ? 1 : r->type().shape.rank() - 1].extent();
      ir::TensorType bt{ir::DType::kF32, ir::Shape::Of({n})};
      operands.push_back(
          b.Constant(std::make_shared<ir::TensorData>(bt, std::vector<uint8_t>(n * 4, 0))));
    }
    operands.insert(operands.end(), extra.begin(), extra.end());
    ir::RegionList regions;
    regions.push_back({"epilogue", std::move(epilogue)});
    auto fused = b.Make(op->kind(), operands, op->attrs(), std::move(regions));
    if (!fused.ok()) return fused.status();
    user->result()->ReplaceAllUsesWith(*fused);
    g.Erase(user);
    g.Erase(op);
    // `it` may have pointed at `user`: resume after the new op instead.
    it = std::next(g.Position((*fused)->def()));
    ++stats["epilogues-fused"];
  }
  return absl::OkStatus();
}

}  // namespace

SINTER_REGISTER_PASS(fuse_epilogue, "fuse-epilogue",
                     "run the elementwise consumer of a conv/GEMM as its epilogue",
                     RunFuseEpilogue);

}  // namespace sinter::passes
