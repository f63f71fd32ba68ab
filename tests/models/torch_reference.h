// LibTorch as the reference for the tests that compare sinter with PyTorch:
// a TorchScript module's forward on given inputs, its outputs flattened.
#ifndef SINTER_TESTS_MODELS_TORCH_REFERENCE_H_
#define SINTER_TESTS_MODELS_TORCH_REFERENCE_H_

#include <torch/script.h>

#include <string>
#include <vector>

namespace sinter::testing {

// Tensors of a (possibly nested) tuple, list or dict output, in order (a
// dict's in insertion order, as sinter's importer flattens it).
inline void Flatten(const c10::IValue& v, std::vector<at::Tensor>* out) {
  if (v.isTensor()) {
    out->push_back(v.toTensor().contiguous());
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) Flatten(e, out);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) Flatten(e, out);
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) Flatten(e.value(), out);
  }
}

// forward() of the module in `file`, in eval mode without autograd, on
// clones of `inputs` (a model with in-place ops may write them).
inline std::vector<at::Tensor> TorchForward(const std::string& file,
                                            const std::vector<at::Tensor>& inputs) {
  torch::NoGradGuard no_grad;
  torch::jit::Module m = torch::jit::load(file);
  m.eval();
  std::vector<c10::IValue> copy;
  for (const at::Tensor& t : inputs) copy.push_back(t.clone());
  std::vector<at::Tensor> out;
  Flatten(m.forward(copy), &out);
  return out;
}

}  // namespace sinter::testing

#endif  // SINTER_TESTS_MODELS_TORCH_REFERENCE_H_
