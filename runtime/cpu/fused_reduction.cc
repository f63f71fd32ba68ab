// Fused reduction kernel. Rows are the output's trailing dims [axis, rank);
// tasks take blocks of whole rows, each block small enough to stay in L1/L2
// (kBlockElems), and for each block:
//  1. the prologue program writes the reduced rows straight into the output
//     block (or, without one, the input is read in place);
//  2. the vectorised row kernels of kernels/cpu normalise the block in place:
//     softmax takes the max, then exp and sum, then the scale, and layer_norm
//     the mean and the variance in two sweeps; all of them over data that is
//     already in cache, so memory sees one read and one write per element;
//  3. the epilogue program runs over the block, in place, still in cache.
// Everything is checked at load: attributes, the operand layout, every shape,
// and both bodies (planned against the recorded shapes).
#include "runtime/cpu/fused_reduction.h"

#include <algorithm>

#include "runtime/cpu/fused.h"

namespace sinter::rt {
namespace kc = kernels::cpu;
namespace {

using Dims = std::vector<int64_t>;

// About 32 KiB of f32 per block: fits L2 with room for the other operands.
constexpr int64_t kBlockElems = 8192;

struct ReductionParams : KernelParams {
  format::RowReduction kind = format::RowReduction::kSoftmax;
  int64_t rows = 0, row_len = 0, rows_per_block = 1;
  float eps = 0;
  int num_inputs = 1;  // operands of the prologue (or the one reduced input)
  int weight = -1;     // layer_norm weight's operand index; bias follows
  FusedProgramPtr prologue, epilogue;
  int epilogue_first = 0;  // first epilogue operand
  int num_operands = 0;
};

std::string DimsStr(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

StatusOr<std::unique_ptr<KernelParams>> Prepare(const PrepareContext& c) {
  // The rows are f32 (the output, the reduced tensor, layer_norm's weight
  // and bias); the operands the prologue and epilogue bodies read may be of
  // any dtype those bodies cast from (PlanFusedProgram checks them).
  const TensorDesc& out = *c.outputs[0];
  if (out.dtype != SINTER_F32) return InvalidArgument("fused_reduction output must be f32");
  auto p = std::make_unique<ReductionParams>();
  p->num_operands = static_cast<int>(c.inputs.size());

  RT_ASSIGN_OR_RETURN(std::string kind, c.attrs.Str("kind"));
  if (!format::RowReductionByName(kind, &p->kind))
    return InvalidArgument(StrCat("fused_reduction: unknown kind '", kind, "'"));
  const bool norm = format::InfoOf(p->kind).affine;

  const Dims& y = out.dims;
  const int64_t rank = static_cast<int64_t>(y.size());
  RT_ASSIGN_OR_RETURN(int64_t axis, c.attrs.Int("axis"));
  if (axis < 0) axis += rank;
  if (rank == 0 || axis < 0 || axis >= rank)
    return InvalidArgument(StrCat("fused_reduction: axis out of range for ", DimsStr(y)));
  if (format::InfoOf(p->kind).last_axis && axis != rank - 1)
    return InvalidArgument(StrCat("fused_reduction: ", kind, " runs over the last axis only"));
  // An empty output (a zero extent anywhere) has no rows; otherwise the
  // product of leading dims is bounded by the loader-checked element count.
  p->rows = out.num_elements == 0 ? 0 : 1;
  for (int64_t d = 0; d < axis && p->rows > 0; ++d) p->rows *= y[d];
  p->row_len = out.num_elements / std::max<int64_t>(1, p->rows);
  p->rows_per_block = std::max<int64_t>(1, kBlockElems / std::max<int64_t>(1, p->row_len));

  RT_ASSIGN_OR_RETURN(int64_t inputs, c.attrs.Int("inputs"));
  if (inputs < 1 || inputs + (norm ? 2 : 0) > p->num_operands)
    return InvalidArgument(
        StrCat("fused_reduction: inputs = ", inputs, " with ", p->num_operands, " operands"));
  p->num_inputs = static_cast<int>(inputs);
  std::vector<const TensorDesc*> pro_in(c.inputs.begin(), c.inputs.begin() + inputs);
  if (const format::KernelBody* body = c.step ? c.step->Body(CodeRole::kPrologue) : nullptr) {
    RT_ASSIGN_OR_RETURN(NativeFusedFn native, FindNative(c, CodeRole::kPrologue));
    RT_ASSIGN_OR_RETURN(p->prologue, PlanFusedProgram(*body, pro_in, out, native));
  } else if (inputs != 1 || c.inputs[0]->dims != y || c.inputs[0]->dtype != SINTER_F32) {
    return InvalidArgument(StrCat("fused_reduction: input ", DimsStr(c.inputs[0]->dims),
                                  " without a prologue must be f32 of the output's shape ",
                                  DimsStr(y)));
  }

  int next = p->num_inputs;
  if (norm) {
    RT_ASSIGN_OR_RETURN(double eps, c.attrs.Float("eps"));
    p->eps = static_cast<float>(eps);
    const Dims tail(y.begin() + axis, y.end());
    for (int i = next; i < next + 2; ++i) {
      if (c.inputs[i]->dims != tail || c.inputs[i]->dtype != SINTER_F32)
        return InvalidArgument(StrCat("fused_reduction: layer_norm weight/bias '",
                                      c.inputs[i]->name, "' is ",
                                      sinter_dtype_name(c.inputs[i]->dtype),
                                      DimsStr(c.inputs[i]->dims), ", expected f32", DimsStr(tail)));
    }
    p->weight = next;
    next += 2;
  }
  p->epilogue_first = next;
  if (const format::KernelBody* body = c.step ? c.step->Body(CodeRole::kEpilogue) : nullptr) {
    std::vector<const TensorDesc*> epi_in{&out};
    epi_in.insert(epi_in.end(), c.inputs.begin() + next, c.inputs.end());
    RT_ASSIGN_OR_RETURN(NativeFusedFn native, FindNative(c, CodeRole::kEpilogue));
    RT_ASSIGN_OR_RETURN(p->epilogue, PlanFusedProgram(*body, epi_in, out, native));
  } else if (next != p->num_operands) {
    return InvalidArgument("fused_reduction: operands past the reduction need an epilogue");
  }
  return std::unique_ptr<KernelParams>(std::move(p));
}

int64_t NoScratch(const KernelParams&, int) { return 0; }

void Run(const KernelParams& kp, const RunContext& c) {
  const auto& p = static_cast<const ReductionParams&>(kp);
  const float* const* in = reinterpret_cast<const float* const*>(c.in);
  float* out = c.out_ptr(0);
  const int64_t blocks = (p.rows + p.rows_per_block - 1) / p.rows_per_block;
  // Epilogue operands: the output itself (argument 0), then the extra operands.
  std::vector<const void*> epi_in{out};
  for (int i = p.epilogue_first; i < p.num_operands; ++i) epi_in.push_back(in[i]);
  kc::ParallelFor(c.par, blocks, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t r0 = blk * p.rows_per_block, r1 = std::min(p.rows, r0 + p.rows_per_block);
      const int64_t begin = r0 * p.row_len, end = r1 * p.row_len;
      const float* src = in[0];
      if (p.prologue) {
        RunFusedProgramRange(*p.prologue, c.in, out, begin, end);
        src = out;
      }
      switch (p.kind) {
        case format::RowReduction::kSoftmax:
        case format::RowReduction::kLogSoftmax:
          kc::SoftmaxF32(src + begin, out + begin, r1 - r0, p.row_len, 1,
                         p.kind == format::RowReduction::kLogSoftmax, nullptr);
          break;
        case format::RowReduction::kLayerNorm:
          kc::LayerNormF32(src + begin, in[p.weight], in[p.weight + 1], out + begin, r1 - r0,
                           p.row_len, p.eps, nullptr);
          break;
      }
      if (p.epilogue) RunFusedProgramRange(*p.epilogue, epi_in.data(), out, begin, end);
    }
  });
}

}  // namespace

const OpDef kFusedReductionOp = {"fused_reduction", &Prepare, &NoScratch, &Run};

}  // namespace sinter::rt
