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

}  // namespace

struct InstrSlots {
  int a = -1, b = -1;  // filled constants
  int dst = -1;        // the temp (the last instruction writes the output)
};

struct FusedProgram {
  std::vector<fmt::FusedInstr> program;
  int num_inputs = 0;
  // Collapsed iteration space: dims[0..rank) with per-input strides.
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides;  // [input][dim], elements
  int64_t rows = 1, row_len = 1, chunks_per_row = 1;
  int64_t num_elements = 0;
  NativeFusedFn native = nullptr;
  // Interpreter buffers (AssignSlots): -1 where none is needed.
  std::vector<int> input_slot;  // [input]: filled when broadcast along the row
  std::vector<InstrSlots> slots;
  int num_slots = 0;
};

void FusedProgramDeleter::operator()(FusedProgram* p) const { delete p; }

namespace {

struct FusedParams : KernelParams {
  FusedProgramPtr program;
};

// One instruction over a chunk of `len` elements. The kernel of each op is
// elementwise.def's CpuKernel column, so this switch is generated and
// complete.
void RunInstr(const fmt::FusedInstr& ins, const float* a, const float* b, float* dst, int64_t len) {
  const int64_t dims1[1] = {len};
  switch (ins.op) {
#define SINTER_EW_UNARY(Id, name, params, CpuKernel) \
  case fmt::FusedOp::k##Id:                          \
    return kc::UnaryF32(kc::Unary::k##CpuKernel, a, dst, len, ins.p0, ins.p1, nullptr);
#define SINTER_EW_BINARY(Id, name, CpuKernel) \
  case fmt::FusedOp::k##Id:                   \
    return kc::BinaryF32(kc::Binary::k##CpuKernel, a, dims1, b, dims1, dst, dims1, 1, nullptr);
#include "runtime/format/elementwise.def"
  }
}

// Assigns every buffer a chunk needs (broadcast inputs filled, constants
// filled, temps) a slot of kChunk floats, reusing a temp's slot after its
// last use, so any program the format accepts runs in a bounded number of
// slots: the interpreter has no program limit of its own.
void AssignSlots(FusedProgram* p) {
  const size_t n = p->program.size();
  std::vector<size_t> last_use(n, 0);
  for (size_t k = 0; k < n; ++k) {
    for (const fmt::FusedRef* r : {&p->program[k].a, &p->program[k].b}) {
      if (r->kind == fmt::FusedRef::kTemp) last_use[r->index] = k;
    }
  }
  std::vector<int> free_slots;
  int next = 0;
  auto take = [&] {
    if (free_slots.empty()) return next++;
    const int s = free_slots.back();
    free_slots.pop_back();
    return s;
  };
  p->input_slot.assign(p->num_inputs, -1);
  for (int i = 0; i < p->num_inputs; ++i) {
    if (p->strides[i].back() != 1) p->input_slot[i] = take();
  }
  p->slots.assign(n, {});
  for (size_t k = 0; k < n; ++k) {
    const fmt::FusedInstr& in = p->program[k];
    InstrSlots& s = p->slots[k];
    const bool binary = fmt::IsBinary(in.op);
    if (in.a.kind == fmt::FusedRef::kConst) s.a = take();
    if (binary && in.b.kind == fmt::FusedRef::kConst) s.b = take();
    // The destination never aliases this instruction's operands.
    if (k + 1 < n) s.dst = take();
    if (s.a >= 0) free_slots.push_back(s.a);
    if (s.b >= 0) free_slots.push_back(s.b);
    // Temps dying here (once, though `mul t1 t1` names t1 twice).
    const bool b_temp = binary && in.b.kind == fmt::FusedRef::kTemp;
    if (in.a.kind == fmt::FusedRef::kTemp && last_use[in.a.index] == k)
      free_slots.push_back(p->slots[in.a.index].dst);
    if (b_temp && last_use[in.b.index] == k &&
        !(in.a.kind == fmt::FusedRef::kTemp && in.a.index == in.b.index))
      free_slots.push_back(p->slots[in.b.index].dst);
  }
  p->num_slots = next;
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
  AssignSlots(p.get());
  return p;
}

namespace {

StatusOr<std::unique_ptr<KernelParams>> PrepareFused(const PrepareContext& c) {
  RT_ASSIGN_OR_RETURN(std::string text, c.attrs.Str("program"));
  auto p = std::make_unique<FusedParams>();
  RT_ASSIGN_OR_RETURN(NativeFusedFn native, FindNative(c, CodeRole::kMain));
  RT_ASSIGN_OR_RETURN(p->program, PlanFusedProgram(text, c.inputs, *c.outputs[0], native));
  return std::unique_ptr<KernelParams>(std::move(p));
}

// The interpreter's scratch: the slots and the input pointers. Per thread and
// kept, because epilogues call the interpreter once per tile; it grows to the
// largest program the thread has run (a few slots for real models).
struct ChunkScratch {
  explicit ChunkScratch(const FusedProgram& p) {
    thread_local std::vector<float> t_regs;
    thread_local std::vector<const float*> t_in;
    const size_t need = static_cast<size_t>(p.num_slots) * kChunk;
    if (t_regs.size() < need) t_regs.resize(need);
    if (t_in.size() < static_cast<size_t>(p.num_inputs)) t_in.resize(p.num_inputs);
    regs = t_regs.data();
    in = t_in.data();
  }
  float* regs;
  const float** in;
};

// Runs output elements [begin, begin + len) of collapsed row `row`.
void RunChunk(const FusedProgram& p, const float* const* inputs, float* output, int64_t row,
              int64_t begin, int64_t len, ChunkScratch& s) {
  const int rank = static_cast<int>(p.dims.size());
  auto slot = [&](int k) { return s.regs + static_cast<int64_t>(k) * kChunk; };
  for (int i = 0; i < p.num_inputs; ++i) {
    int64_t off = 0, r = row;
    for (int d = rank - 2; d >= 0; --d) {
      off += (r % p.dims[d]) * p.strides[i][d];
      r /= p.dims[d];
    }
    const float* base = inputs[i] + off;
    if (p.input_slot[i] < 0) {
      s.in[i] = base + begin;
    } else {
      float* buf = slot(p.input_slot[i]);
      std::fill(buf, buf + len, base[0]);
      s.in[i] = buf;
    }
  }
  float* out = output + row * p.row_len + begin;
  auto ref = [&](const fmt::FusedRef& r, int const_slot) -> const float* {
    switch (r.kind) {
      case fmt::FusedRef::kInput:
        return s.in[r.index];
      case fmt::FusedRef::kTemp:
        return slot(p.slots[r.index].dst);
      case fmt::FusedRef::kConst: {
        float* buf = slot(const_slot);
        std::fill(buf, buf + len, r.value);
        return buf;
      }
    }
    return nullptr;
  };
  for (size_t k = 0; k < p.program.size(); ++k) {
    const fmt::FusedInstr& ins = p.program[k];
    const InstrSlots& sl = p.slots[k];
    // The last instruction writes the output directly.
    float* dst = k + 1 == p.program.size() ? out : slot(sl.dst);
    const float* a = ref(ins.a, sl.a);
    const float* b = fmt::IsBinary(ins.op) ? ref(ins.b, sl.b) : nullptr;
    RunInstr(ins, a, b, dst, len);
  }
}

void RunFused(const KernelParams& kp, const RunContext& c) {
  RunFusedProgram(*static_cast<const FusedParams&>(kp).program,
                  reinterpret_cast<const float* const*>(c.in), c.out_ptr(0), c.par);
}

int64_t NoScratch(const KernelParams&, int) { return 0; }

}  // namespace

StatusOr<NativeFusedFn> FindNative(const PrepareContext& c, CodeRole role) {
  if (c.native == nullptr) return NativeFusedFn{nullptr};
  const NativeFunctions& n = *c.native;
  n.roles_asked |= 1u << static_cast<unsigned>(role);
  const CodeUse* use = n.step->Code(role);
  if (use == nullptr) return NativeFusedFn{nullptr};
  const NativeCode* code =
      static_cast<size_t>(use->module) < n.modules->size() ? (*n.modules)[use->module] : nullptr;
  if (code == nullptr) return NativeFusedFn{nullptr};  // not loaded: interpret
  NativeFusedFn fn = code->Find(use->symbol);
  if (fn == nullptr) {
    return Status(SINTER_DATA_LOSS, "native code has no function '" + use->symbol + "'");
  }
  ++n.found;
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
    ChunkScratch scratch(p);
    for (int64_t t = b; t < e; ++t) {
      const int64_t row = t / p.chunks_per_row, begin = (t % p.chunks_per_row) * kChunk;
      RunChunk(p, in, out, row, begin, std::min(kChunk, p.row_len - begin), scratch);
    }
  });
}

void RunFusedProgramRange(const FusedProgram& p, const float* const* in, float* out, int64_t begin,
                          int64_t end) {
  if (p.native != nullptr) return p.native(in, out, begin, end);
  ChunkScratch scratch(p);
  while (begin < end) {
    const int64_t row = begin / p.row_len, col = begin % p.row_len;
    const int64_t len = std::min({kChunk, p.row_len - col, end - begin});
    RunChunk(p, in, out, row, col, len, scratch);
    begin += len;
  }
}

const OpDef kFusedElementwiseOp = {"fused_elementwise", &PrepareFused, &NoScratch, &RunFused};

}  // namespace sinter::rt
