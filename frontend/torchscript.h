// TorchScript frontend: loads a `.pt` with LibTorch (on the build host only),
// freezes it in eval mode, and lowers its forward() into sinter IR while
// specialising on the input shapes the user gives.
#ifndef SINTER_FRONTEND_TORCHSCRIPT_H_
#define SINTER_FRONTEND_TORCHSCRIPT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/batch_analysis.h"
#include "ir/graph.h"

namespace sinter::frontend {

struct InputSpec {
  std::vector<int64_t> shape;
  ir::DType dtype = ir::DType::kF32;
  // The axis that is the dynamic batch (ImportOptions::batch_symbol), or -1;
  // its extent in `shape` is ignored.
  int batch_axis = -1;
  // Further axes of the same symbol (an attention mask [seq, seq]): only a
  // symbolic extent (ir/extent_analysis.h) can have them, never a batch run
  // per sample.
  std::vector<int> more_axes;
};

// Partial compilation (`sinterc --fallback torch`): what sinter cannot
// compile runs in LibTorch, through the "torch" plugin at run time.
struct FallbackOptions {
  bool enabled = false;
  // Compiled runs of fewer TorchScript ops than this between torch segments
  // go to LibTorch too (Torch-TensorRT's min_block_size).
  int min_block_size = 3;
  // Op kinds ("aten::relu") that run in LibTorch even where sinter has them.
  std::vector<std::string> torch_executed_ops;
};

struct ImportOptions {
  std::vector<InputSpec> inputs;  // one per forward() argument, in order
  FallbackOptions fallback;
  // Sinter plugins whose custom ops the model calls (frontend/plugin_ops.h).
  std::vector<std::string> plugins;
  // LibTorch extension libraries to load first (torch.ops.load_library), so
  // that a model calling their ops deserialises.
  std::vector<std::string> torch_libraries;
  // A dynamic batch (`--input-shape batch=1..64,3,224,224`): its name and
  // range, on the inputs whose batch_axis is set.
  std::string batch_symbol = "batch";
  int64_t batch_min = 1, batch_max = 1;
};

// What partial compilation decided, for the partition report.
struct PartitionSummary {
  int torch_segments = 0;
  int torch_ops = 0;       // TorchScript ops in them
  int compiled_ops = 0;    // TorchScript ops sinter compiled
  int min_block_size = 0;  // the one used
  // What other min_block_size values would give: (value, torch segments).
  std::vector<std::pair<int, int>> alternatives;
};

// Errors: NotFound for a missing file, InvalidArgument for a file LibTorch
// cannot load or inputs that do not fit, Unimplemented listing every
// unsupported op kind with its count and first source line.
//
// With a dynamic batch, the graph is the model at batch 1, checked to run
// the batch one sample at a time (ir/batch_analysis.h), and `batch` (which
// must then be given) receives the symbol and every input's and output's
// batch axis; a model that mixes samples is InvalidArgument naming the op.
absl::StatusOr<std::unique_ptr<ir::Graph>> ImportTorchScript(const std::string& path,
                                                             const ImportOptions& options,
                                                             PartitionSummary* summary = nullptr,
                                                             ir::BatchSymbol* batch = nullptr);

}  // namespace sinter::frontend

#endif  // SINTER_FRONTEND_TORCHSCRIPT_H_
