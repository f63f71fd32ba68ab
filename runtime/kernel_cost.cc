#include "runtime/kernel_cost.h"

#include <string_view>

#include "runtime/model.h"

namespace sinter::rt {
namespace {

// Of dims [from, to): the loader has checked that the whole product fits int64.
int64_t Product(const std::vector<int64_t>& dims, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to && i < dims.size(); ++i) p *= dims[i];
  return p;
}

std::string DimsText(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += StrCat(i ? "," : "", dims[i]);
  return s + "]";
}

// conv2d(x, w, ...) -> y: every output element is a dot product of one
// filter, C/groups * kh * kw terms, whatever the layout (the filter's first
// dim is its output channel in OIHW and OHWI alike).
KernelCost Conv(const Step& step, const std::vector<TensorDesc>& t) {
  const auto& x = t[step.inputs[0]].dims;
  const auto& w = t[step.inputs[1]].dims;
  const auto& y = t[step.outputs[0]].dims;
  KernelCost c;
  if (x.size() != 4 || w.size() != 4 || y.size() != 4 || w[0] <= 0) return c;
  c.flops = 2.0 * static_cast<double>(Product(y, 0, 4)) * static_cast<double>(Product(w, 1, 4));
  const auto nhwc = ChannelsLast(step.attrs());
  const bool channels_last = nhwc.ok() && nhwc.value();
  const int64_t ci = channels_last ? x[3] : x[1];
  const int64_t co = channels_last ? y[3] : y[1];
  const int64_t oh = channels_last ? y[1] : y[2], ow = channels_last ? y[2] : y[3];
  const int64_t kh = channels_last ? w[1] : w[2], kw = channels_last ? w[2] : w[3];
  const auto stride = IntPair(step.attrs(), "stride", 1);
  const auto g = step.attrs().IntOr("groups", 1);
  const int64_t groups = g.ok() ? g.value() : 1;
  c.shape = StrCat("conv ", kh, "x", kw, "/", stride.ok() ? stride.value()[0] : 0, " ", ci, "->",
                   co, groups == 1 ? "" : StrCat(" g", groups), " out ", y[0], "x", oh, "x", ow,
                   channels_last ? " nhwc" : " nchw");
  return c;
}

// linear(x[..., K], w[N, K], ...) -> [..., N].
KernelCost Linear(const Step& step, const std::vector<TensorDesc>& t) {
  const auto& x = t[step.inputs[0]].dims;
  const auto& w = t[step.inputs[1]].dims;
  KernelCost c;
  if (x.empty() || w.size() != 2) return c;
  const int64_t m = Product(x, 0, x.size() - 1);
  c.flops = 2.0 * static_cast<double>(m) * static_cast<double>(w[1]) * static_cast<double>(w[0]);
  c.shape = StrCat("linear ", m, "x", w[1], " * ", w[1], "x", w[0]);
  return c;
}

// matmul(a[..., M, K], b[..., K, N]) -> [..., M, N], NumPy batching.
KernelCost Matmul(const Step& step, const std::vector<TensorDesc>& t) {
  const auto& a = t[step.inputs[0]].dims;
  const auto& b = t[step.inputs[1]].dims;
  const auto& y = t[step.outputs[0]].dims;
  KernelCost c;
  if (a.empty() || b.empty()) return c;
  const int64_t k = a.back();
  const int64_t m = a.size() >= 2 ? a[a.size() - 2] : 1;
  const int64_t n = b.size() >= 2 ? b.back() : 1;
  c.flops = 2.0 * static_cast<double>(Product(y, 0, y.size())) * static_cast<double>(k);
  const int64_t batch = Product(y, 0, y.size() >= 2 ? y.size() - 2 : 0);
  c.shape = StrCat("matmul ", batch, "x[", m, "x", k, " * ", k, "x", n, "]");
  return c;
}

struct CostRow {
  std::string_view op;
  KernelCost (*cost)(const Step&, const std::vector<TensorDesc>&);
};
// The ops whose arithmetic a profile reports; every other op gets its dims.
constexpr CostRow kCostRows[] = {{"conv2d", Conv}, {"linear", Linear}, {"matmul", Matmul}};

}  // namespace

KernelCost KernelCostOf(const Step& step, const std::vector<TensorDesc>& tensors) {
  for (const CostRow& row : kCostRows) {
    if (step.schema->name == row.op && step.inputs.size() >= 2 && !step.outputs.empty())
      return row.cost(step, tensors);
  }
  KernelCost c;
  if (!step.outputs.empty()) c.shape = DimsText(tensors[step.outputs[0]].dims);
  return c;
}

}  // namespace sinter::rt
