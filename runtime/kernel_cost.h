// What a kernel computes, for profiles: its arithmetic (a multiply-add
// counted as two operations, as GFLOP/s figures are quoted everywhere) and
// its shape in words. Only GEMMs and convolutions count arithmetic: the rest
// are bound by memory, and their bytes say more than their operations.
#ifndef SINTER_RUNTIME_KERNEL_COST_H_
#define SINTER_RUNTIME_KERNEL_COST_H_

#include <string>
#include <vector>

namespace sinter::rt {

struct Step;
struct TensorDesc;

struct KernelCost {
  double flops = 0;
  // "conv 3x3/2 3->32 g1 out 1x112x112", "linear 1x1280 * 1280x1000",
  // "matmul 8x[128x64 * 64x128]", else the first output's dims "[1,112,112,32]".
  std::string shape;
};

// From a loaded step's attributes and its tensors' dims (already verified).
KernelCost KernelCostOf(const Step& step, const std::vector<TensorDesc>& tensors);

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_KERNEL_COST_H_
