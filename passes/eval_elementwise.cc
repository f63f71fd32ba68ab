// The compiler's scalar reference for the elementwise vocabulary
// (runtime/format/elementwise.def), used by constant folding. Kept out of the
// runtime: the runtime computes these ops with its vectorised kernels.
#include <algorithm>
#include <cmath>

#include "passes/fusion_util.h"

namespace sinter::passes {

double EvalProgramInstr(const ProgramInstr& in, double a, double b) {
  using format::FusedOp;
  const double p0 = in.params.empty() ? 0 : in.params[0];
  const double p1 = in.params.size() < 2 ? 0 : in.params[1];
  auto clamp = [](double x, double lo, double hi) {
    return std::isnan(x) ? x : std::min(std::max(x, lo), hi);
  };
  switch (in.op) {
    case FusedOp::kRelu:  // keeps NaN, like the kernels
      return a < 0 ? 0 : a;
    case FusedOp::kSigmoid:
      return 1 / (1 + std::exp(-a));
    case FusedOp::kTanh:
      return std::tanh(a);
    case FusedOp::kExp:
      return std::exp(a);
    case FusedOp::kLog:
      return std::log(a);
    case FusedOp::kSqrt:
      return std::sqrt(a);
    case FusedOp::kRsqrt:
      return 1 / std::sqrt(a);
    case FusedOp::kNeg:
      return -a;
    case FusedOp::kAbs:
      return std::fabs(a);
    case FusedOp::kErf:
      return std::erf(a);
    case FusedOp::kReciprocal:
      return 1 / a;
    case FusedOp::kSilu:
      return a / (1 + std::exp(-a));
    case FusedOp::kGelu:
      return 0.5 * a * (1 + std::erf(a * M_SQRT1_2));
    case FusedOp::kGeluTanh:
      return 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a)));
    case FusedOp::kHardswish:
      return a * clamp(a + 3, 0, 6) / 6;
    case FusedOp::kHardsigmoid:
      return clamp(a + 3, 0, 6) / 6;
    case FusedOp::kLeakyRelu:
      return a > 0 ? a : a * p0;
    case FusedOp::kElu:
      return a > 0 ? a : p0 * std::expm1(a);
    case FusedOp::kClamp:
      return clamp(a, p0, p1);
    case FusedOp::kAdd:
      return a + b;
    case FusedOp::kSub:
      return a - b;
    case FusedOp::kMul:
      return a * b;
    case FusedOp::kDiv:
      return a / b;
    case FusedOp::kPow:
      return std::pow(a, b);
    case FusedOp::kMaximum:  // NaN-propagating, like torch.maximum
      return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
    case FusedOp::kMinimum:
      return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
  }
  return NAN;
}

}  // namespace sinter::passes
