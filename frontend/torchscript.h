// TorchScript frontend: loads a `.pt` with LibTorch (on the build host only),
// freezes it in eval mode, and lowers its forward() into sinter IR while
// specialising on the input shapes the user gives.
#ifndef SINTER_FRONTEND_TORCHSCRIPT_H_
#define SINTER_FRONTEND_TORCHSCRIPT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace sinter::frontend {

struct InputSpec {
  std::vector<int64_t> shape;
  ir::DType dtype = ir::DType::kF32;
};

struct ImportOptions {
  std::vector<InputSpec> inputs;  // one per forward() argument, in order
};

// Errors: NotFound for a missing file, InvalidArgument for a file LibTorch
// cannot load or inputs that do not fit, Unimplemented listing every
// unsupported op kind with its count and first source line.
absl::StatusOr<std::unique_ptr<ir::Graph>> ImportTorchScript(const std::string& path,
                                                             const ImportOptions& options);

}  // namespace sinter::frontend

#endif  // SINTER_FRONTEND_TORCHSCRIPT_H_
