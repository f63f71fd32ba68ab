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
  // A List[Tensor] parameter takes the inputs the other required
  // parameters leave, as sinter's importer binds them.
  const auto& args = m.get_method("forward").function().getSchema().arguments();
  size_t list_at = args.size(), required = 0;
  for (size_t a = 1; a < args.size(); ++a) {
    required += !args[a].default_value().has_value();
    auto l = args[a].type()->cast<c10::ListType>();
    if (list_at == args.size() && l && l->getElementType()->kind() == c10::TypeKind::TensorType)
      list_at = a;
  }
  if (list_at == args.size()) {
    for (const at::Tensor& t : inputs) copy.push_back(t.clone());
  } else {
    const size_t before = list_at - 1, n = inputs.size() - (required - 1);
    for (size_t i = 0; i < before; ++i) copy.push_back(inputs[i].clone());
    c10::List<at::Tensor> list;
    for (size_t i = 0; i < n; ++i) list.push_back(inputs[before + i].clone());
    copy.push_back(list);
    for (size_t i = before + n; i < inputs.size(); ++i) copy.push_back(inputs[i].clone());
  }
  std::vector<at::Tensor> out;
  Flatten(m.forward(copy), &out);
  return out;
}

}  // namespace sinter::testing

#endif  // SINTER_TESTS_MODELS_TORCH_REFERENCE_H_
