// Fused elementwise kernel. The plan, made once at load:
//  1. Align every input's shape to the output rank and collapse adjacent dims
//     that all operands walk the same way (format::PlanFusedSpace), so the
//     output becomes a few long rows and each input is, along a row, either
//     dense (stride 1) or one repeated value (stride 0).
//  2. Give every value of the body a buffer of kChunk f32 lanes ("slot"),
//     reusing a slot after its value's last use: dense f32 inputs are read in
//     place and need none; inputs of other dtypes and broadcast inputs are
//     converted or filled into one per chunk; a cast between f32 lanes (bool
//     is 0/1, an integer argument already its f32 value) is the value it
//     reads, no copy; the last instruction writes an f32 output directly.
//  3. At run time each task takes a chunk of up to kChunk elements of a row
//     and runs the body one instruction at a time over the chunk with the
//     vectorised unary/binary kernels, so a chain of N ops reads and writes
//     memory once instead of N times; the result converts to the output's
//     dtype by kernels/cast.h's rules.
// With native code (codegen/cpu) the plan is only the body's check: runs call
// the compiled function on ranges of the output.
#include "runtime/cpu/fused.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cast.h"
#include "runtime/format/kernel_body.h"

namespace sinter::rt {
namespace kc = kernels::cpu;
namespace fmt = format;
namespace {

constexpr int64_t kChunk = 512;

// The dtypes the CPU backend holds in tensors a body reads or writes.
bool CpuBodyType(sinter_dtype d) {
  return d == SINTER_F32 || d == SINTER_BOOL || d == SINTER_U8 || d == SINTER_I32 ||
         d == SINTER_I64;
}

}  // namespace

struct FusedProgram {
  fmt::KernelBody body;
  int num_inputs = 0;
  std::vector<sinter_dtype> in_dtype;
  std::vector<size_t> in_size;  // element bytes
  sinter_dtype out_dtype = SINTER_F32;
  // Collapsed iteration space: dims[0..rank) with per-input strides.
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides;  // [input][dim], elements
  int64_t rows = 1, row_len = 1, chunks_per_row = 1;
  int64_t num_elements = 0;
  NativeFusedFn native = nullptr;
  // Interpreter plan (AssignSlots), per value (arguments, then instructions):
  std::vector<int> slot;   // its buffer; -1: none (an input read in place, or an alias)
  std::vector<int> alias;  // the value whose lanes it is (identity casts), else itself
  bool direct = false;     // the last instruction writes the f32 output itself
  int num_slots = 0;
};

void FusedProgramDeleter::operator()(FusedProgram* p) const { delete p; }

namespace {

struct FusedParams : KernelParams {
  FusedProgramPtr program;
};

// A cast that leaves f32 lanes as they are: to f32, or to an edge type (the
// result, converted at the store). Only a cast to bool computes.
bool IdentityCast(const fmt::BodyInstr& in) {
  return fmt::InfoOf(in.op).cls == fmt::BodyClass::kCast && in.type != fmt::DType::BOOL;
}

// Assigns every value that needs a buffer a slot of kChunk floats, reusing a
// temp's slot after its last use, so any body the format accepts runs in a
// bounded number of slots: the interpreter has no limit of its own.
void AssignSlots(FusedProgram* p) {
  const fmt::KernelBody& b = p->body;
  const int32_t n_args = static_cast<int32_t>(b.args.size());
  const int32_t n = b.num_values();
  p->slot.assign(n, -1);
  p->alias.resize(n);
  for (int32_t v = 0; v < n; ++v) p->alias[v] = v;
  for (size_t k = 0; k < b.instrs.size(); ++k) {
    if (IdentityCast(b.instrs[k])) p->alias[n_args + k] = p->alias[b.instrs[k].a];
  }
  // Last use of each value, through aliases; the result lives to the end.
  std::vector<int32_t> last_use(n, -1);
  for (size_t k = 0; k < b.instrs.size(); ++k) {
    const fmt::BodyInstr& in = b.instrs[k];
    for (int32_t v : {in.a, in.b, in.c})
      if (v >= 0) last_use[p->alias[v]] = static_cast<int32_t>(k);
  }
  last_use[p->alias[b.result]] = static_cast<int32_t>(b.instrs.size());
  std::vector<int> free_slots;
  int next = 0;
  auto take = [&] {
    if (free_slots.empty()) return next++;
    const int s = free_slots.back();
    free_slots.pop_back();
    return s;
  };
  // Inputs: converted or filled unless dense f32. They keep their slots for
  // the whole chunk (they are filled before the first instruction).
  for (int i = 0; i < n_args; ++i) {
    if (p->in_dtype[i] != SINTER_F32 || p->strides[i].back() != 1) p->slot[i] = take();
  }
  const int32_t last = static_cast<int32_t>(b.instrs.size()) - 1;
  p->direct = last >= 0 && b.result == n_args + last && p->out_dtype == SINTER_F32 &&
              !IdentityCast(b.instrs[last]);
  for (int32_t k = 0; k <= last; ++k) {
    const int32_t v = n_args + k;
    if (p->alias[v] == v && !(p->direct && k == last)) {
      // The destination never aliases this instruction's operands: taken
      // before their slots are freed.
      p->slot[v] = take();
    }
    // Values dying here (once each, though `mul %1 %1` names %1 twice).
    const fmt::BodyInstr& in = b.instrs[k];
    int32_t dying[3] = {-1, -1, -1};
    int nd = 0;
    for (int32_t o : {in.a, in.b, in.c}) {
      if (o < 0) continue;
      const int32_t r = p->alias[o];
      if (r >= n_args && last_use[r] == k && p->slot[r] >= 0 &&
          std::find(dying, dying + nd, r) == dying + nd)
        dying[nd++] = r;
    }
    for (int i = 0; i < nd; ++i) free_slots.push_back(p->slot[dying[i]]);
  }
  p->num_slots = next;
}

// Converts `len` elements of dtype `d` at `src` (stride 0 or 1) to f32 lanes.
void LoadLanes(sinter_dtype d, const uint8_t* src, bool broadcast, float* dst, int64_t len) {
  auto fill = [&](auto read) {
    if (broadcast) {
      std::fill(dst, dst + len, static_cast<float>(read(0)));
    } else {
      for (int64_t j = 0; j < len; ++j) dst[j] = static_cast<float>(read(j));
    }
  };
  switch (d) {
    case SINTER_F32:
      return fill([&](int64_t j) { return reinterpret_cast<const float*>(src)[j]; });
    case SINTER_BOOL:
    case SINTER_U8:
      return fill([&](int64_t j) { return src[j]; });
    case SINTER_I32:
      return fill([&](int64_t j) { return reinterpret_cast<const int32_t*>(src)[j]; });
    case SINTER_I64:
      return fill([&](int64_t j) { return reinterpret_cast<const int64_t*>(src)[j]; });
    case SINTER_F16:
    case SINTER_BF16:
    case SINTER_F64:
    case SINTER_I8:
      return;  // refused by PlanFusedProgram
  }
}

// Stores `len` f32 lanes into an output of dtype `d` (kernels/cast.h rules).
void StoreLanes(sinter_dtype d, const float* src, uint8_t* dst, int64_t len) {
  switch (d) {
    case SINTER_F32:
      if (reinterpret_cast<const float*>(dst) != src) std::memcpy(dst, src, len * sizeof(float));
      return;
    case SINTER_BOOL:
      for (int64_t j = 0; j < len; ++j) dst[j] = src[j] != 0;
      return;
    case SINTER_U8:
      for (int64_t j = 0; j < len; ++j) dst[j] = sinter_cast::ToU8(src[j]);
      return;
    case SINTER_I32:
      for (int64_t j = 0; j < len; ++j)
        reinterpret_cast<int32_t*>(dst)[j] = sinter_cast::ToI32(src[j]);
      return;
    case SINTER_I64:
      for (int64_t j = 0; j < len; ++j)
        reinterpret_cast<int64_t*>(dst)[j] = sinter_cast::ToI64(src[j]);
      return;
    case SINTER_F16:
    case SINTER_BF16:
    case SINTER_F64:
    case SINTER_I8:
      return;  // refused by PlanFusedProgram
  }
}

// One instruction over a chunk of `len` lanes. Each row of elementwise.def
// has its case, so this switch is complete: the unary and binary rows run
// the vectorised kernels of their CpuKernel column.
void RunInstr(const fmt::BodyInstr& ins, const float* a, const float* b, const float* c, float* dst,
              int64_t len) {
  const int64_t dims1[1] = {len};
  switch (ins.op) {
#define SINTER_EW_UNARY(Id, name, params, CpuKernel) \
  case fmt::BodyOp::k##Id:                           \
    return kc::UnaryF32(kc::Unary::k##CpuKernel, a, dst, len, ins.p0, ins.p1, nullptr);
#define SINTER_EW_BINARY(Id, name, CpuKernel) \
  case fmt::BodyOp::k##Id:                    \
    return kc::BinaryF32(kc::Binary::k##CpuKernel, a, dims1, b, dims1, dst, dims1, 1, nullptr);
#define SINTER_EW_COMPARE(Id, name, Op)                                    \
  case fmt::BodyOp::k##Id:                                                 \
    for (int64_t j = 0; j < len; ++j) dst[j] = (a[j] Op b[j]) ? 1.f : 0.f; \
    return;
#include "runtime/format/elementwise.def"
    case fmt::BodyOp::kWhere:
      for (int64_t j = 0; j < len; ++j) dst[j] = a[j] != 0 ? b[j] : c[j];
      return;
    case fmt::BodyOp::kCast:  // only to bool computes (IdentityCast)
      for (int64_t j = 0; j < len; ++j) dst[j] = a[j] != 0 ? 1.f : 0.f;
      return;
    case fmt::BodyOp::kConst:
      std::fill(dst, dst + len, ins.p0);
      return;
  }
}

}  // namespace

StatusOr<FusedProgramPtr> PlanFusedProgram(const fmt::KernelBody& body,
                                           const std::vector<const TensorDesc*>& inputs,
                                           const TensorDesc& output, NativeFusedFn native) {
  // The body was checked at load (format::CheckKernelBody); here it meets
  // the kernel's tensors.
  if (body.args.size() != inputs.size()) {
    return InvalidArgument(StrCat("kernel body takes ", body.args.size(),
                                  " argument(s), the kernel ", inputs.size(), " input(s)"));
  }
  auto check = [](const TensorDesc& t, fmt::DType want) -> Status {
    if (static_cast<int>(t.dtype) != static_cast<int>(want)) {
      return InvalidArgument(StrCat("tensor '", t.name, "' is ", sinter_dtype_name(t.dtype),
                                    ", the kernel body reads it as ", fmt::BodyTypeName(want)));
    }
    if (!CpuBodyType(t.dtype)) {
      return Status(SINTER_UNIMPLEMENTED, StrCat("tensor '", t.name, "': the CPU backend runs no ",
                                                 sinter_dtype_name(t.dtype), " fused kernels"));
    }
    return Status::Ok();
  };
  for (size_t i = 0; i < inputs.size(); ++i) RT_RETURN_IF_ERROR(check(*inputs[i], body.args[i]));
  RT_RETURN_IF_ERROR(check(output, body.result_type()));

  FusedProgramPtr p(new FusedProgram());
  p->body = body;
  p->num_inputs = static_cast<int>(inputs.size());
  std::vector<std::vector<int64_t>> shapes;
  for (const TensorDesc* t : inputs) {
    shapes.push_back(t->dims);
    p->in_dtype.push_back(t->dtype);
    p->in_size.push_back(sinter_dtype_size(t->dtype));
  }
  p->out_dtype = output.dtype;
  fmt::FusedSpace space;
  std::string error;
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

StatusOr<const fmt::KernelBody*> StepBody(const PrepareContext& c, CodeRole role) {
  const fmt::KernelBody* body = c.step ? c.step->Body(role) : nullptr;
  if (body == nullptr) {
    return DataLoss(
        StrCat("the kernel has no ", fmt::RegionName(static_cast<fmt::CodeRole>(role)), " body"));
  }
  return body;
}

namespace {

StatusOr<std::unique_ptr<KernelParams>> PrepareFused(const PrepareContext& c) {
  RT_ASSIGN_OR_RETURN(const fmt::KernelBody* body, StepBody(c, CodeRole::kMain));
  auto p = std::make_unique<FusedParams>();
  RT_ASSIGN_OR_RETURN(NativeFusedFn native, FindNative(c, CodeRole::kMain));
  RT_ASSIGN_OR_RETURN(p->program, PlanFusedProgram(*body, c.inputs, *c.outputs[0], native));
  return std::unique_ptr<KernelParams>(std::move(p));
}

// The interpreter's scratch: the slots and the value pointers. Per thread and
// kept, because epilogues call the interpreter once per tile; it grows to the
// largest program the thread has run (a few slots for real models).
struct ChunkScratch {
  explicit ChunkScratch(const FusedProgram& p) {
    thread_local std::vector<float> t_regs;
    thread_local std::vector<const float*> t_val;
    const size_t need = static_cast<size_t>(p.num_slots) * kChunk;
    if (t_regs.size() < need) t_regs.resize(need);
    if (t_val.size() < static_cast<size_t>(p.body.num_values())) t_val.resize(p.body.num_values());
    regs = t_regs.data();
    val = t_val.data();
  }
  float* regs;
  const float** val;  // per value: its lanes for this chunk
};

// Runs output elements [begin, begin + len) of collapsed row `row`.
void RunChunk(const FusedProgram& p, const void* const* inputs, void* output, int64_t row,
              int64_t begin, int64_t len, ChunkScratch& s) {
  const fmt::KernelBody& b = p.body;
  const int rank = static_cast<int>(p.dims.size());
  auto slot = [&](int k) { return s.regs + static_cast<int64_t>(k) * kChunk; };
  for (int i = 0; i < p.num_inputs; ++i) {
    int64_t off = 0, r = row;
    for (int d = rank - 2; d >= 0; --d) {
      off += (r % p.dims[d]) * p.strides[i][d];
      r /= p.dims[d];
    }
    const bool broadcast = p.strides[i].back() == 0;
    const uint8_t* base = static_cast<const uint8_t*>(inputs[i]) +
                          (off + (broadcast ? 0 : begin)) * static_cast<int64_t>(p.in_size[i]);
    if (p.slot[i] < 0) {
      s.val[i] = reinterpret_cast<const float*>(base);
    } else {
      LoadLanes(p.in_dtype[i], base, broadcast, slot(p.slot[i]), len);
      s.val[i] = slot(p.slot[i]);
    }
  }
  uint8_t* out = static_cast<uint8_t*>(output) +
                 (row * p.row_len + begin) * static_cast<int64_t>(sinter_dtype_size(p.out_dtype));
  const int32_t n_args = static_cast<int32_t>(b.args.size());
  const size_t n = b.instrs.size();
  for (size_t k = 0; k < n; ++k) {
    const fmt::BodyInstr& ins = b.instrs[k];
    const int32_t v = n_args + static_cast<int32_t>(k);
    if (p.alias[v] != v) {
      s.val[v] = s.val[p.alias[v]];
      continue;
    }
    float* dst = p.direct && k + 1 == n ? reinterpret_cast<float*>(out) : slot(p.slot[v]);
    RunInstr(ins, ins.a >= 0 ? s.val[ins.a] : nullptr, ins.b >= 0 ? s.val[ins.b] : nullptr,
             ins.c >= 0 ? s.val[ins.c] : nullptr, dst, len);
    s.val[v] = dst;
  }
  if (!p.direct) StoreLanes(p.out_dtype, s.val[b.result], out, len);
}

void RunFused(const KernelParams& kp, const RunContext& c) {
  RunFusedProgram(*static_cast<const FusedParams&>(kp).program, c.in, c.out[0], c.par);
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

void RunFusedProgram(const FusedProgram& p, const void* const* in, void* out,
                     kernels::cpu::Parallel* par) {
  if (p.native != nullptr) {
    // Tasks of at least 16K elements (64 KB of f32 output), about four per
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

void RunFusedProgramRange(const FusedProgram& p, const void* const* in, void* out, int64_t begin,
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
