// The compiler's scalar reference for the elementwise vocabulary
// (runtime/format/elementwise.def), used by constant folding and by tests as
// the reference of the backends. Kept out of the runtime: the runtime
// computes these ops with its vectorised kernels.
#include <algorithm>
#include <cmath>

#include "passes/fusion_util.h"

namespace sinter::passes {

namespace {

double EvalInstr(const format::BodyInstr& in, double a, double b, double c) {
  using format::BodyOp;
  const double p0 = in.p0, p1 = in.p1;
  auto clamp = [](double x, double lo, double hi) {
    return std::isnan(x) ? x : std::min(std::max(x, lo), hi);
  };
  switch (in.op) {
    case BodyOp::kRelu:  // keeps NaN, like the kernels
      return a < 0 ? 0 : a;
    case BodyOp::kSigmoid:
      return 1 / (1 + std::exp(-a));
    case BodyOp::kTanh:
      return std::tanh(a);
    case BodyOp::kExp:
      return std::exp(a);
    case BodyOp::kLog:
      return std::log(a);
    case BodyOp::kSqrt:
      return std::sqrt(a);
    case BodyOp::kRsqrt:
      return 1 / std::sqrt(a);
    case BodyOp::kNeg:
      return -a;
    case BodyOp::kAbs:
      return std::fabs(a);
    case BodyOp::kErf:
      return std::erf(a);
    case BodyOp::kReciprocal:
      return 1 / a;
    case BodyOp::kSilu:
      return a / (1 + std::exp(-a));
    case BodyOp::kGelu:
      return 0.5 * a * (1 + std::erf(a * M_SQRT1_2));
    case BodyOp::kGeluTanh:
      return 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a)));
    case BodyOp::kHardswish:
      return a * clamp(a + 3, 0, 6) / 6;
    case BodyOp::kHardsigmoid:
      return clamp(a + 3, 0, 6) / 6;
    case BodyOp::kLeakyRelu:
      return a > 0 ? a : a * p0;
    case BodyOp::kElu:
      return a > 0 ? a : p0 * std::expm1(a);
    case BodyOp::kClamp:
      return clamp(a, p0, p1);
    case BodyOp::kAdd:
      return a + b;
    case BodyOp::kSub:
      return a - b;
    case BodyOp::kMul:
      return a * b;
    case BodyOp::kDiv:
      return a / b;
    case BodyOp::kPow:
      return std::pow(a, b);
    case BodyOp::kMaximum:  // NaN-propagating, like torch.maximum
      return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
    case BodyOp::kMinimum:
      return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
#define SINTER_EW_COMPARE(Id, name, Op) \
  case BodyOp::k##Id:                   \
    return (a Op b) ? 1 : 0;
#include "runtime/format/elementwise.def"
    case BodyOp::kWhere:
      return a != 0 ? b : c;
    case BodyOp::kCast:  // the type conversion is the caller's
      return in.type == format::DType::BOOL ? (a != 0 ? 1 : 0) : a;
    case BodyOp::kConst:
      return p0;
  }
  return NAN;
}

}  // namespace

double EvalBody(const format::KernelBody& body, const std::vector<double>& args) {
  std::vector<double> v(args);
  v.resize(body.num_values(), 0);
  for (size_t k = 0; k < body.instrs.size(); ++k) {
    const format::BodyInstr& in = body.instrs[k];
    auto at = [&](int32_t i) { return i >= 0 ? v[i] : 0.0; };
    v[body.args.size() + k] = EvalInstr(in, at(in.a), at(in.b), at(in.c));
  }
  return v[body.result];
}

}  // namespace sinter::passes
