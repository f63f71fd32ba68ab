// The LibTorch side of the example: `myops::scaled_gelu(x, scale)`, the
// exact (erf) GELU times a scale, as a user's extension op would be. Python
// loads it with torch.ops.load_library to script the model; sinterc loads it
// with --torch-library to read that model.
#include <torch/library.h>
#include <torch/torch.h>

namespace {

at::Tensor ScaledGelu(const at::Tensor& x, double scale) { return at::gelu(x) * scale; }

}  // namespace

TORCH_LIBRARY(myops, m) { m.def("scaled_gelu(Tensor x, float scale) -> Tensor", &ScaledGelu); }
