// Fused elementwise kernel. The plan, made once at load:
//  1. Align every input's shape to the output rank and collapse adjacent dims
//     that all operands walk the same way, so the output becomes a few long
//     rows and each input is, along a row, either dense (stride 1) or one
//     repeated value (stride 0).
//  2. At run time each task takes a chunk of up to kChunk elements of a row,
//     points dense inputs at their data, fills broadcast ones, and runs the
//     program one instruction at a time over the chunk with the vectorised
//     unary/binary kernels. Temporaries live in a stack buffer, so a chain of
//     N ops reads and writes memory once instead of N times.
#include "runtime/cpu/fused.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "runtime/format/fused_program.h"
#include "runtime/format/sinter_generated.h"

namespace sinter::rt {
namespace kc = kernels::cpu;
namespace fmt = format;
namespace {

constexpr int64_t kChunk = 512;
constexpr int kMaxRegs = 96;  // inputs + temps + constants per program

}  // namespace

struct FusedProgram {
  std::vector<fmt::FusedInstr> program;
  int num_inputs = 0;
  // Collapsed iteration space: dims[0..rank) with per-input strides.
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides;  // [input][dim], elements
  int64_t rows = 1, row_len = 1, chunks_per_row = 1;
  int64_t num_elements = 0;
  NativeFusedFn native = nullptr;
};

void FusedProgramDeleter::operator()(FusedProgram* p) const { delete p; }

namespace {

struct FusedParams : KernelParams {
  FusedProgramPtr program;
};

kc::Unary ToUnary(fmt::FusedOp op) {
  switch (op) {
    case fmt::FusedOp::kRelu:
      return kc::Unary::kRelu;
    case fmt::FusedOp::kSigmoid:
      return kc::Unary::kSigmoid;
    case fmt::FusedOp::kTanh:
      return kc::Unary::kTanh;
    case fmt::FusedOp::kExp:
      return kc::Unary::kExp;
    case fmt::FusedOp::kLog:
      return kc::Unary::kLog;
    case fmt::FusedOp::kSqrt:
      return kc::Unary::kSqrt;
    case fmt::FusedOp::kRsqrt:
      return kc::Unary::kRsqrt;
    case fmt::FusedOp::kNeg:
      return kc::Unary::kNeg;
    case fmt::FusedOp::kAbs:
      return kc::Unary::kAbs;
    case fmt::FusedOp::kErf:
      return kc::Unary::kErf;
    case fmt::FusedOp::kReciprocal:
      return kc::Unary::kReciprocal;
    case fmt::FusedOp::kSilu:
      return kc::Unary::kSilu;
    case fmt::FusedOp::kGelu:
      return kc::Unary::kGeluErf;
    case fmt::FusedOp::kGeluTanh:
      return kc::Unary::kGeluTanh;
    case fmt::FusedOp::kHardswish:
      return kc::Unary::kHardswish;
    case fmt::FusedOp::kHardsigmoid:
      return kc::Unary::kHardsigmoid;
    case fmt::FusedOp::kLeakyRelu:
      return kc::Unary::kLeakyRelu;
    case fmt::FusedOp::kElu:
      return kc::Unary::kElu;
    default:
      return kc::Unary::kClamp;
  }
}

kc::Binary ToBinary(fmt::FusedOp op) {
  switch (op) {
    case fmt::FusedOp::kAdd:
      return kc::Binary::kAdd;
    case fmt::FusedOp::kSub:
      return kc::Binary::kSub;
    case fmt::FusedOp::kMul:
      return kc::Binary::kMul;
    case fmt::FusedOp::kDiv:
      return kc::Binary::kDiv;
    case fmt::FusedOp::kPow:
      return kc::Binary::kPow;
    case fmt::FusedOp::kMaximum:
      return kc::Binary::kMax;
    default:
      return kc::Binary::kMin;
  }
}

}  // namespace

StatusOr<FusedProgramPtr> PlanFusedProgram(const std::string& text,
                                           const std::vector<const TensorDesc*>& inputs,
                                           const TensorDesc& output, NativeFusedFn native) {
  for (const TensorDesc* t : inputs) {
    if (t->dtype != SINTER_F32)
      return Status(SINTER_UNIMPLEMENTED, "fused kernels take f32 inputs");
  }
  if (output.dtype != SINTER_F32) return InvalidArgument("fused kernel output must be f32");
  FusedProgramPtr p(new FusedProgram());
  std::string error;
  p->num_inputs = static_cast<int>(inputs.size());
  if (!fmt::ParseFusedProgram(text, p->num_inputs, &p->program, &error))
    return InvalidArgument(error);
  if (p->num_inputs + p->program.size() * 3 > kMaxRegs)
    return InvalidArgument("fused program too large");

  std::vector<std::vector<int64_t>> shapes;
  for (const TensorDesc* t : inputs) shapes.push_back(t->dims);
  fmt::FusedSpace space;
  if (!fmt::PlanFusedSpace(shapes, output.dims, &space, &error)) return InvalidArgument(error);
  p->dims = std::move(space.dims);
  p->strides = std::move(space.strides);
  p->num_elements = space.num_elements;
  p->native = native;
  p->row_len = p->dims.back();
  p->rows = output.num_elements / std::max<int64_t>(1, p->row_len);
  p->chunks_per_row = (p->row_len + kChunk - 1) / kChunk;
  return p;
}

namespace {

StatusOr<std::unique_ptr<KernelParams>> PrepareFused(const PrepareContext& c) {
  RT_ASSIGN_OR_RETURN(std::string text, c.attrs.Str("program"));
  auto p = std::make_unique<FusedParams>();
  RT_ASSIGN_OR_RETURN(NativeFusedFn native, FindNative(c, "native"));
  RT_ASSIGN_OR_RETURN(p->program, PlanFusedProgram(text, c.inputs, *c.outputs[0], native));
  return std::unique_ptr<KernelParams>(std::move(p));
}

// Runs output elements [begin, begin + len) of collapsed row `row`.
void RunChunk(const FusedProgram& p, const float* const* inputs, float* output, int64_t row,
              int64_t begin, int64_t len, float* regs) {
  const int rank = static_cast<int>(p.dims.size());
  // Input pointers for this chunk.
  std::array<const float*, kMaxRegs> in{};
  int used = 0;
  for (int i = 0; i < p.num_inputs; ++i) {
    int64_t off = 0, r = row;
    for (int d = rank - 2; d >= 0; --d) {
      off += (r % p.dims[d]) * p.strides[i][d];
      r /= p.dims[d];
    }
    const float* base = inputs[i] + off;
    if (p.strides[i][rank - 1] == 1) {
      in[i] = base + begin;
    } else {
      float* buf = regs + (used++) * kChunk;
      std::fill(buf, buf + len, base[0]);
      in[i] = buf;
    }
  }
  std::array<const float*, kMaxRegs> temps{};
  float* out = output + row * p.row_len + begin;
  auto ref = [&](const fmt::FusedRef& r) -> const float* {
    if (r.kind == fmt::FusedRef::kInput) return in[r.index];
    if (r.kind == fmt::FusedRef::kTemp) return temps[r.index];
    float* buf = regs + (used++) * kChunk;
    std::fill(buf, buf + len, r.value);
    return buf;
  };
  const int64_t dims1[1] = {len};
  for (size_t k = 0; k < p.program.size(); ++k) {
    const fmt::FusedInstr& ins = p.program[k];
    // The last instruction writes the output directly.
    float* dst = k + 1 == p.program.size() ? out : regs + (used++) * kChunk;
    const float* a = ref(ins.a);
    if (fmt::IsBinary(ins.op)) {
      const float* b = ref(ins.b);
      kc::BinaryF32(ToBinary(ins.op), a, dims1, b, dims1, dst, dims1, 1, nullptr);
    } else {
      kc::UnaryF32(ToUnary(ins.op), a, dst, len, ins.p0, ins.p1, nullptr);
    }
    temps[k] = dst;
  }
}

void RunFused(const KernelParams& kp, const RunContext& c) {
  RunFusedProgram(*static_cast<const FusedParams&>(kp).program,
                  reinterpret_cast<const float* const*>(c.in), c.out_ptr(0), c.par);
}

int64_t NoScratch(const KernelParams&, int) { return 0; }

}  // namespace

StatusOr<NativeFusedFn> FindNative(const PrepareContext& c, std::string_view attr) {
  if (c.native == nullptr || !c.attrs.Has(attr)) return NativeFusedFn{nullptr};
  RT_ASSIGN_OR_RETURN(std::string symbol, c.attrs.Str(attr));
  NativeFusedFn fn = c.native->Find(symbol);
  if (fn == nullptr) {
    return Status(SINTER_DATA_LOSS, "native code has no function '" + symbol + "' (attribute " +
                                        std::string(attr) + ")");
  }
  return fn;
}

void RunFusedProgram(const FusedProgram& p, const float* const* in, float* out,
                     kernels::cpu::Parallel* par) {
  if (p.native != nullptr) {
    // Tasks of at least 16K elements (64 KB of output), about four per
    // thread so a slow thread does not hold the others up.
    const int64_t n = p.num_elements;
    const int threads = par ? par->num_threads() : 1;
    if (threads <= 1 || n < 32768) return p.native(in, out, 0, n);
    const int64_t chunk = std::max<int64_t>(16384, (n + 4 * threads - 1) / (4 * threads));
    kc::ParallelFor(par, (n + chunk - 1) / chunk, [&](int64_t b, int64_t e) {
      p.native(in, out, b * chunk, std::min(n, e * chunk));
    });
    return;
  }
  kc::ParallelFor(par, p.rows * p.chunks_per_row, [&](int64_t b, int64_t e) {
    // Registers for one chunk: every input fill, constant and temp.
    std::array<float, kMaxRegs * kChunk> regs;
    for (int64_t t = b; t < e; ++t) {
      const int64_t row = t / p.chunks_per_row, begin = (t % p.chunks_per_row) * kChunk;
      RunChunk(p, in, out, row, begin, std::min(kChunk, p.row_len - begin), regs.data());
    }
  });
}

void RunFusedProgramRange(const FusedProgram& p, const float* const* in, float* out, int64_t begin,
                          int64_t end) {
  if (p.native != nullptr) return p.native(in, out, begin, end);
  std::array<float, kMaxRegs * kChunk> regs;
  while (begin < end) {
    const int64_t row = begin / p.row_len, col = begin % p.row_len;
    const int64_t len = std::min({kChunk, p.row_len - col, end - begin});
    RunChunk(p, in, out, row, col, len, regs.data());
    begin += len;
  }
}

const OpDef kFusedElementwiseOp = {"fused_elementwise", &PrepareFused, &NoScratch, &RunFused};

}  // namespace sinter::rt
