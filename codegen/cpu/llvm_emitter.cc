// LLVM code generation for fused kernels. Stages:
//  1. Plan the iteration space (format::PlanFusedSpace, shared with the
//     interpreter and the CUDA emitter): a few rows of `L` elements along
//     which every input is dense (stride 1) or one value (stride 0).
//  2. Emit one function per kernel, with explicit <W x float> vectors so the
//     vector width never depends on the loop vectoriser's cost model:
//       for row in rows overlapping [begin, end):
//         base pointer of each input from the row's coordinates
//         (division by compile-time constants, once per row);
//         broadcast inputs loaded once and splatted;
//         for each full vector of the row: load, run the body, store;
//         the row's last partial vector with masked loads and stores.
//     Every value of the body is a <W x float> (kernel_body.h: bool as 0 or
//     1); inputs of other dtypes convert as they load, the result as it
//     stores, by kernels/cast.h's rules.
//     Transcendentals are the same Cephes-style polynomials as the runtime's
//     interpreter (kernels/cpu/internal_simd.h), so both paths agree to a few
//     ulp; contraction into FMA is allowed, reassociation is not (the
//     round-to-integer trick in exp depends on it).
//  3. Run LLVM's O2 pipeline, compile to an ELF object for the level's CPU,
//     and link a shared object with the system linker.
#include "codegen/cpu/llvm_emitter.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "runtime/format/kernel_body.h"

namespace sinter::codegen::cpu {
namespace fmt = format;
namespace {

struct Level {
  const char* name;
  const char* llvm_cpu;  // LLVM's name for the same feature level
  int width;             // float lanes per vector
};
constexpr Level kLevels[] = {
    {"x86-64", "x86-64", 4},
    {"x86-64-v3", "x86-64-v3", 8},
    {"x86-64-v4", "x86-64-v4", 16},
};

const Level* FindLevel(const std::string& name) {
  for (const Level& l : kLevels) {
    if (name == l.name) return &l;
  }
  return nullptr;
}

// ---- Vector math -------------------------------------------------------------------------

class VecMath {
 public:
  VecMath(llvm::IRBuilder<>& b, llvm::Module& m, int width)
      : b_(b),
        m_(m),
        w_(width),
        f_(b.getFloatTy()),
        vf_(llvm::FixedVectorType::get(f_, width)),
        vi_(llvm::FixedVectorType::get(b.getInt32Ty(), width)) {}

  llvm::Type* vec_type() const { return vf_; }
  llvm::Value* C(float v) { return llvm::ConstantFP::get(vf_, v); }
  llvm::Value* CI(int32_t v) { return llvm::ConstantInt::get(vi_, v); }

  llvm::Value* Add(llvm::Value* a, llvm::Value* c) { return b_.CreateFAdd(a, c); }
  llvm::Value* Sub(llvm::Value* a, llvm::Value* c) { return b_.CreateFSub(a, c); }
  llvm::Value* Mul(llvm::Value* a, llvm::Value* c) { return b_.CreateFMul(a, c); }
  llvm::Value* Div(llvm::Value* a, llvm::Value* c) { return b_.CreateFDiv(a, c); }
  // a * x + c; contracts to one FMA.
  llvm::Value* Fma(llvm::Value* a, llvm::Value* x, float c) { return Add(Mul(a, x), C(c)); }
  llvm::Value* Sel(llvm::Value* cond, llvm::Value* a, llvm::Value* c) {
    return b_.CreateSelect(cond, a, c);
  }
  llvm::Value* Lt(llvm::Value* a, llvm::Value* c) { return b_.CreateFCmpOLT(a, c); }
  llvm::Value* Gt(llvm::Value* a, llvm::Value* c) { return b_.CreateFCmpOGT(a, c); }
  llvm::Value* IsNan(llvm::Value* a) { return b_.CreateFCmpUNO(a, a); }
  llvm::Value* Abs(llvm::Value* a) { return Intrinsic(llvm::Intrinsic::fabs, {a}); }
  llvm::Value* Sqrt(llvm::Value* a) { return Intrinsic(llvm::Intrinsic::sqrt, {a}); }
  llvm::Value* Floor(llvm::Value* a) { return Intrinsic(llvm::Intrinsic::floor, {a}); }
  llvm::Value* AsInt(llvm::Value* a) { return b_.CreateBitCast(a, vi_); }
  llvm::Value* AsFloat(llvm::Value* a) { return b_.CreateBitCast(a, vf_); }
  // The sign of `sign` on the magnitude `mag` (mag >= 0).
  llvm::Value* WithSignOf(llvm::Value* mag, llvm::Value* sign) {
    llvm::Value* s = b_.CreateAnd(AsInt(sign), CI(std::numeric_limits<int32_t>::min()));
    return AsFloat(b_.CreateOr(AsInt(mag), s));
  }
  // NaN-propagating max/min, like torch.maximum.
  llvm::Value* MaxNan(llvm::Value* a, llvm::Value* c) {
    return Sel(b_.CreateOr(IsNan(a), Gt(a, c)), a, c);
  }
  llvm::Value* MinNan(llvm::Value* a, llvm::Value* c) {
    return Sel(b_.CreateOr(IsNan(a), Lt(a, c)), a, c);
  }
  // max(x, lo) and min(x, hi) that keep NaN (x compared, not the bound).
  llvm::Value* ClampLo(llvm::Value* x, float lo) { return Sel(Lt(x, C(lo)), C(lo), x); }
  llvm::Value* ClampHi(llvm::Value* x, float hi) { return Sel(Gt(x, C(hi)), C(hi), x); }

  // exp: Cephes range reduction and polynomial; 2^n applied as two factors so
  // results down to the denormal range and up to overflow are right.
  llvm::Value* Exp(llvm::Value* x) {
    llvm::Value* xc = Sel(b_.CreateFCmpOGE(x, C(-104.f)), x, C(-104.f));  // NaN -> -104
    xc = Sel(b_.CreateFCmpOLE(xc, C(89.f)), xc, C(89.f));
    llvm::Value* n = Mul(xc, C(1.44269504088896341f));
    n = Sub(Add(n, C(12582912.f)), C(12582912.f));  // round to nearest integer
    llvm::Value* r = Sub(xc, Mul(n, C(0.693359375f)));
    r = Sub(r, Mul(n, C(-2.12194440e-4f)));
    llvm::Value* p = C(1.9875691500e-4f);
    for (float k : {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f,
                    5.0000001201e-1f}) {
      p = Fma(p, r, k);
    }
    p = Add(Add(Mul(p, Mul(r, r)), r), C(1.f));
    llvm::Value* ni = b_.CreateFPToSI(n, vi_);
    llvm::Value* h = b_.CreateAShr(ni, CI(1));
    llvm::Value* s1 = AsFloat(b_.CreateShl(b_.CreateAdd(h, CI(127)), CI(23)));
    llvm::Value* s2 = AsFloat(b_.CreateShl(b_.CreateAdd(b_.CreateSub(ni, h), CI(127)), CI(23)));
    llvm::Value* y = Mul(Mul(p, s1), s2);
    return Sel(IsNan(x), x, y);
  }

  // expm1 without cancellation near 0 (for ELU).
  llvm::Value* Expm1(llvm::Value* x) {
    llvm::Value* p = C(1.f / 40320);
    for (float k : {1.f / 5040, 1.f / 720, 1.f / 120, 1.f / 24, 1.f / 6, 0.5f}) p = Fma(p, x, k);
    p = Add(Mul(Mul(p, x), x), x);
    return Sel(Lt(Abs(x), C(0.5f)), p, Sub(Exp(x), C(1.f)));
  }

  // log: Cephes logf. Denormals are scaled by 2^23 first; x < 0 gives NaN,
  // 0 gives -inf, +inf and NaN pass through.
  llvm::Value* Log(llvm::Value* x) {
    llvm::Value* tiny = Lt(x, C(1.17549435e-38f));
    llvm::Value* xs = Sel(tiny, Mul(x, C(8388608.f)), x);
    llvm::Value* bits = AsInt(xs);
    llvm::Value* e = b_.CreateSub(b_.CreateLShr(bits, CI(23)), CI(126));
    e = b_.CreateSub(e, b_.CreateSelect(tiny, CI(23), CI(0)));
    llvm::Value* m = AsFloat(b_.CreateOr(b_.CreateAnd(bits, CI(0x007fffff)), CI(0x3f000000)));
    llvm::Value* ef = b_.CreateSIToFP(e, vf_);
    llvm::Value* small = Lt(m, C(0.707106781186547524f));
    ef = Sel(small, Sub(ef, C(1.f)), ef);
    m = Sel(small, Sub(Add(m, m), C(1.f)), Sub(m, C(1.f)));
    llvm::Value* z = Mul(m, m);
    llvm::Value* p = C(7.0376836292e-2f);
    for (float k : {-1.1514610310e-1f, 1.1676998740e-1f, -1.2420140846e-1f, 1.4249322787e-1f,
                    -1.6668057665e-1f, 2.0000714765e-1f, -2.4999993993e-1f, 3.3333331174e-1f}) {
      p = Fma(p, m, k);
    }
    llvm::Value* y = Mul(Mul(p, m), z);
    y = Add(y, Mul(ef, C(-2.12194440e-4f)));
    y = Sub(y, Mul(z, C(0.5f)));
    llvm::Value* r = Add(Add(m, y), Mul(ef, C(0.693359375f)));
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    r = Sel(b_.CreateFCmpOEQ(x, C(0.f)), C(-inf), r);
    r = Sel(b_.CreateFCmpOEQ(x, C(inf)), C(inf), r);
    r = Sel(Lt(x, C(0.f)), C(nan), r);
    return Sel(IsNan(x), x, r);
  }

  llvm::Value* Sigmoid(llvm::Value* x) { return Div(C(1.f), Add(C(1.f), Exp(b_.CreateFNeg(x)))); }

  // tanh: Cephes odd polynomial below 0.625, 1 - 2 / (exp(2|x|) + 1) above.
  llvm::Value* Tanh(llvm::Value* x) {
    llvm::Value* z = Mul(x, x);
    llvm::Value* p = C(-5.70498872745e-3f);
    for (float k : {2.06390887954e-2f, -5.37397155531e-2f, 1.33314422036e-1f, -3.33332819422e-1f})
      p = Fma(p, z, k);
    p = Add(Mul(Mul(p, z), x), x);
    llvm::Value* ax = Abs(x);
    llvm::Value* big = Sub(C(1.f), Div(C(2.f), Add(Exp(Add(ax, ax)), C(1.f))));
    big = WithSignOf(big, x);
    return Sel(Lt(ax, C(0.625f)), p, big);
  }

  // erf: x * P(x^2) below 1, 1 - exp(-x^2) * Q(1/x) on [1, 4], +-1 beyond.
  llvm::Value* Erf(llvm::Value* x) {
    llvm::Value* ax = Abs(x);
    llvm::Value* z = Mul(x, x);
    llvm::Value* p = C(-5.667994846e-4f);
    for (float k :
         {4.927420057e-3f, -2.672089450e-2f, 1.128057912e-1f, -3.761239052e-1f, 1.128379107f}) {
      p = Fma(p, z, k);
    }
    p = Mul(p, x);
    llvm::Value* xc = Sel(b_.CreateFCmpOLE(ax, C(4.f)), ax, C(4.f));
    xc = Sel(b_.CreateFCmpOGE(xc, C(1.f)), xc, C(1.f));
    llvm::Value* t = Div(C(1.f), xc);
    llvm::Value* q = C(-1.8135669148e-2f);
    for (float k : {1.2200977554e-1f, -3.5671499617e-1f, 5.7823489996e-1f, -5.0725479161e-1f,
                    5.1414856850e-2f, 5.5767554517e-1f, 3.5397445727e-4f}) {
      q = Fma(q, t, k);
    }
    llvm::Value* big = Sub(C(1.f), Mul(Exp(b_.CreateFNeg(Mul(xc, xc))), q));
    big = WithSignOf(big, x);
    llvm::Value* y = Sel(Lt(ax, C(1.f)), p, big);
    return Sel(IsNan(x), x, y);
  }

  // pow(a, b) for a vector exponent, with C's special cases (as PyTorch,
  // which calls std::pow): exp(b log|a|), negated when a's sign bit is set and
  // b is an odd integer; NaN for a finite a < 0 and a non-integer b; 1 for
  // b = 0, a = 1, and a = -1 with b = +-inf.
  llvm::Value* Pow(llvm::Value* a, llvm::Value* e) {
    const float inf = std::numeric_limits<float>::infinity();
    llvm::Value* y = Exp(Mul(e, Log(Abs(a))));
    llvm::Value* is_int = b_.CreateFCmpOEQ(Floor(e), e);
    // |e| < 2^24 so the conversion is exact; beyond that every float is even.
    llvm::Value* small = Lt(Abs(e), C(16777216.f));
    llvm::Value* ei = b_.CreateFPToSI(Sel(small, e, C(0.f)), vi_);
    llvm::Value* odd = b_.CreateAnd(is_int, b_.CreateICmpNE(b_.CreateAnd(ei, CI(1)), CI(0)));
    llvm::Value* sign = b_.CreateICmpSLT(AsInt(a), CI(0));
    y = Sel(b_.CreateAnd(sign, odd), b_.CreateFNeg(y), y);
    llvm::Value* neg_finite = b_.CreateAnd(Lt(a, C(0.f)), b_.CreateFCmpONE(a, C(-inf)));
    y = Sel(b_.CreateAnd(neg_finite, b_.CreateNot(is_int)),
            C(std::numeric_limits<float>::quiet_NaN()), y);
    llvm::Value* one = b_.CreateOr(b_.CreateFCmpOEQ(e, C(0.f)), b_.CreateFCmpOEQ(a, C(1.f)));
    one = b_.CreateOr(one,
                      b_.CreateAnd(b_.CreateFCmpOEQ(a, C(-1.f)), b_.CreateFCmpOEQ(Abs(e), C(inf))));
    return Sel(one, C(1.f), y);
  }

  // pow with a constant exponent: exact products for the common small
  // integers (x ** 2 in variances, as PyTorch computes them), else Pow.
  llvm::Value* PowConst(llvm::Value* a, float e) {
    if (e == 1.f) return a;
    if (e == 2.f) return Mul(a, a);
    if (e == 3.f) return Mul(Mul(a, a), a);
    if (e == -1.f) return Div(C(1.f), a);
    if (e == 0.f) return C(1.f);
    return Pow(a, C(e));
  }

 private:
  llvm::Value* Intrinsic(llvm::Intrinsic::ID id, std::initializer_list<llvm::Value*> args) {
    llvm::Function* f = llvm::Intrinsic::getDeclaration(&m_, id, {vf_});
    return b_.CreateCall(f, llvm::ArrayRef<llvm::Value*>(args.begin(), args.size()));
  }

  llvm::IRBuilder<>& b_;
  llvm::Module& m_;
  int w_;
  llvm::Type* f_;
  llvm::FixedVectorType* vf_;
  llvm::FixedVectorType* vi_;
};

// ---- One kernel ----------------------------------------------------------------------------

class KernelEmitter {
 public:
  KernelEmitter(llvm::Module& m, int width)
      : m_(m), ctx_(m.getContext()), b_(ctx_), v_(b_, m, width), w_(width) {
    llvm::FastMathFlags fmf;
    fmf.setAllowContract(true);
    b_.setFastMathFlags(fmf);
  }

  absl::Status Emit(const CpuKernelSpec& spec) {
    std::string error;
    const fmt::KernelBody& body = spec.body;
    const int num_inputs = static_cast<int>(spec.input_shapes.size());
    if (!fmt::CheckKernelBody(body, &error))
      return absl::InvalidArgumentError(absl::StrCat(spec.name, ": ", error));
    if (body.args.size() != spec.input_shapes.size()) {
      return absl::InvalidArgumentError(absl::StrCat(spec.name, ": the body takes ",
                                                     body.args.size(), " arguments for ",
                                                     num_inputs, " inputs"));
    }
    for (size_t i = 0; i <= body.args.size(); ++i) {
      const fmt::DType t = i < body.args.size() ? body.args[i] : body.result_type();
      if (ElementType(t) == nullptr) {
        return absl::UnimplementedError(absl::StrCat(
            spec.name, ": no CPU code for ", std::string(fmt::BodyTypeName(t)), " tensors"));
      }
    }
    fmt::FusedSpace space;
    if (!fmt::PlanFusedSpace(spec.input_shapes, spec.output_shape, &space, &error))
      return absl::InvalidArgumentError(absl::StrCat(spec.name, ": ", error));
    const std::vector<bool> used = fmt::UsedArguments(body);
    llvm::Type* out_elem = ElementType(body.result_type());

    llvm::Type* i64 = b_.getInt64Ty();
    llvm::Type* ptr = b_.getPtrTy();
    llvm::FunctionType* ft =
        llvm::FunctionType::get(b_.getVoidTy(), {ptr, ptr, i64, i64}, /*isVarArg=*/false);
    llvm::Function* fn = llvm::Function::Create(ft, llvm::Function::ExternalLinkage, spec.name, m_);
    fn->setVisibility(llvm::GlobalValue::DefaultVisibility);
    fn->addFnAttr(llvm::Attribute::NoUnwind);
    fn->addFnAttr(llvm::Attribute::NoFree);
    // Keep 512-bit vectors whole on CPUs tuned to prefer 256-bit ones: the
    // width was chosen by the level, not left to the backend.
    fn->addFnAttr("min-legal-vector-width", std::to_string(32 * w_));
    llvm::Value* in_arg = fn->getArg(0);
    llvm::Value* out_arg = fn->getArg(1);
    llvm::Value* begin = fn->getArg(2);
    llvm::Value* end = fn->getArg(3);

    if (space.num_elements == 0) {
      // Nothing to compute (and no row length to divide by).
      b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn));
      b_.CreateRetVoid();
      return absl::OkStatus();
    }
    const int rank = static_cast<int>(space.dims.size());
    const int64_t row_len = space.dims.back();
    auto* entry = llvm::BasicBlock::Create(ctx_, "entry", fn);
    auto* row_head = llvm::BasicBlock::Create(ctx_, "row", fn);
    auto* row_body = llvm::BasicBlock::Create(ctx_, "row.body", fn);
    auto* vec_head = llvm::BasicBlock::Create(ctx_, "vec", fn);
    auto* vec_body = llvm::BasicBlock::Create(ctx_, "vec.body", fn);
    auto* tail = llvm::BasicBlock::Create(ctx_, "tail", fn);
    auto* tail_body = llvm::BasicBlock::Create(ctx_, "tail.body", fn);
    auto* row_next = llvm::BasicBlock::Create(ctx_, "row.next", fn);
    auto* exit = llvm::BasicBlock::Create(ctx_, "exit", fn);

    // entry: input base pointers, first row.
    b_.SetInsertPoint(entry);
    std::vector<llvm::Value*> bases;
    for (int i = 0; i < num_inputs; ++i) {
      llvm::Value* slot = b_.CreateConstInBoundsGEP1_64(ptr, in_arg, i);
      bases.push_back(b_.CreateLoad(ptr, slot, absl::StrCat("in", i)));
    }
    llvm::Value* L = b_.getInt64(row_len);
    llvm::Value* first_row = b_.CreateUDiv(begin, L);
    b_.CreateBr(row_head);

    // row: while row * L < end.
    b_.SetInsertPoint(row_head);
    llvm::PHINode* row = b_.CreatePHI(i64, 2, "r");
    row->addIncoming(first_row, entry);
    llvm::Value* row_start = b_.CreateMul(row, L);
    b_.CreateCondBr(b_.CreateICmpSLT(row_start, end), row_body, exit);

    // row.body: column range, per-input row pointers, broadcast values.
    b_.SetInsertPoint(row_body);
    llvm::Value* c0 = b_.CreateSub(begin, row_start);
    c0 = b_.CreateSelect(b_.CreateICmpSGT(c0, b_.getInt64(0)), c0, b_.getInt64(0));
    llvm::Value* c1 = b_.CreateSub(end, row_start);
    c1 = b_.CreateSelect(b_.CreateICmpSLT(c1, L), c1, L);
    // Coordinates of the row along the outer collapsed dims.
    std::vector<llvm::Value*> coord(rank, nullptr);
    llvm::Value* rest = row;
    for (int d = rank - 2; d >= 0; --d) {
      llvm::Value* extent = b_.getInt64(space.dims[d]);
      coord[d] = d == 0 ? rest : b_.CreateURem(rest, extent);
      if (d > 0) rest = b_.CreateUDiv(rest, extent);
    }
    std::vector<llvm::Value*> row_ptr(num_inputs), splat(num_inputs, nullptr);
    for (int i = 0; i < num_inputs; ++i) {
      if (!used[i]) continue;
      llvm::Value* off = b_.getInt64(0);
      for (int d = 0; d + 1 < rank; ++d) {
        if (space.strides[i][d] != 0)
          off = b_.CreateAdd(off, b_.CreateMul(coord[d], b_.getInt64(space.strides[i][d])));
      }
      llvm::Type* elem = ElementType(body.args[i]);
      row_ptr[i] = b_.CreateInBoundsGEP(elem, bases[i], off);
      if (space.strides[i][rank - 1] == 0) {
        llvm::Value* s = b_.CreateLoad(elem, row_ptr[i]);
        splat[i] = ToLanes(b_.CreateVectorSplat(w_, s), body.args[i]);
      }
    }
    llvm::Value* out_row = b_.CreateInBoundsGEP(out_elem, out_arg, row_start);
    b_.CreateBr(vec_head);

    // vec: full vectors while c + W <= c1.
    b_.SetInsertPoint(vec_head);
    llvm::PHINode* col = b_.CreatePHI(i64, 2, "c");
    col->addIncoming(c0, row_body);
    llvm::Value* col_next = b_.CreateAdd(col, b_.getInt64(w_));
    b_.CreateCondBr(b_.CreateICmpSLE(col_next, c1), vec_body, tail);

    b_.SetInsertPoint(vec_body);
    {
      std::vector<llvm::Value*> ins(num_inputs, nullptr);
      for (int i = 0; i < num_inputs; ++i) {
        if (!used[i]) continue;
        llvm::Type* elem = ElementType(body.args[i]);
        ins[i] = splat[i] ? splat[i]
                          : ToLanes(b_.CreateAlignedLoad(
                                        VecOf(elem), b_.CreateInBoundsGEP(elem, row_ptr[i], col),
                                        Align(elem)),
                                    body.args[i]);
      }
      llvm::Value* y = FromLanes(EmitBody(body, ins), body.result_type());
      b_.CreateAlignedStore(y, b_.CreateInBoundsGEP(out_elem, out_row, col), Align(out_elem));
    }
    col->addIncoming(col_next, vec_body);
    b_.CreateBr(vec_head);

    // tail: the row's last partial vector, masked.
    b_.SetInsertPoint(tail);
    llvm::Value* left = b_.CreateSub(c1, col);
    b_.CreateCondBr(b_.CreateICmpSGT(left, b_.getInt64(0)), tail_body, row_next);
    b_.SetInsertPoint(tail_body);
    {
      std::vector<llvm::Constant*> lanes;
      for (int l = 0; l < w_; ++l) lanes.push_back(b_.getInt32(l));
      llvm::Value* left32 = b_.CreateVectorSplat(w_, b_.CreateTrunc(left, b_.getInt32Ty()));
      llvm::Value* mask = b_.CreateICmpULT(llvm::ConstantVector::get(lanes), left32);
      std::vector<llvm::Value*> ins(num_inputs, nullptr);
      for (int i = 0; i < num_inputs; ++i) {
        if (!used[i]) continue;
        llvm::Type* elem = ElementType(body.args[i]);
        ins[i] = splat[i]
                     ? splat[i]
                     : ToLanes(b_.CreateMaskedLoad(
                                   VecOf(elem), b_.CreateInBoundsGEP(elem, row_ptr[i], col),
                                   Align(elem), mask, llvm::Constant::getNullValue(VecOf(elem))),
                               body.args[i]);
      }
      llvm::Value* y = FromLanes(EmitBody(body, ins), body.result_type());
      b_.CreateMaskedStore(y, b_.CreateInBoundsGEP(out_elem, out_row, col), Align(out_elem), mask);
      b_.CreateBr(row_next);
    }

    b_.SetInsertPoint(row_next);
    row->addIncoming(b_.CreateAdd(row, b_.getInt64(1)), row_next);
    b_.CreateBr(row_head);

    b_.SetInsertPoint(exit);
    b_.CreateRetVoid();

    std::string verify;
    llvm::raw_string_ostream os(verify);
    if (llvm::verifyFunction(*fn, &os)) {
      return absl::InternalError(absl::StrCat(spec.name, ": emitted invalid LLVM IR: ", verify));
    }
    return absl::OkStatus();
  }

 private:
  // The LLVM element type of a tensor of dtype `t`, or null for dtypes the
  // CPU holds in no fused kernel.
  llvm::Type* ElementType(fmt::DType t) {
    switch (t) {
      case fmt::DType::F32:
        return b_.getFloatTy();
      case fmt::DType::BOOL:
      case fmt::DType::U8:
        return b_.getInt8Ty();
      case fmt::DType::I32:
        return b_.getInt32Ty();
      case fmt::DType::I64:
        return b_.getInt64Ty();
      case fmt::DType::F16:
      case fmt::DType::BF16:
      case fmt::DType::F64:
      case fmt::DType::I8:
        return nullptr;
    }
    return nullptr;
  }
  llvm::Type* VecOf(llvm::Type* elem) { return llvm::FixedVectorType::get(elem, w_); }
  static llvm::Align Align(llvm::Type* elem) {
    return llvm::Align(elem->getPrimitiveSizeInBits() / 8);
  }

  // Loaded elements of dtype `t` as f32 lanes (the value of each; bool 0/1).
  llvm::Value* ToLanes(llvm::Value* x, fmt::DType t) {
    switch (t) {
      case fmt::DType::F32:
        return x;
      case fmt::DType::BOOL:
      case fmt::DType::U8:
        return b_.CreateUIToFP(x, v_.vec_type());
      case fmt::DType::I32:
      case fmt::DType::I64:
        return b_.CreateSIToFP(x, v_.vec_type());
      case fmt::DType::F16:
      case fmt::DType::BF16:
      case fmt::DType::F64:
      case fmt::DType::I8:
        break;  // refused in Emit
    }
    return x;
  }

  // f32 lanes as elements of dtype `t`, by kernels/cast.h's rules: integers
  // truncate, and NaN, infinities and values out of range give the type's
  // minimum (uint8: the int32 result's low byte); bool is != 0.
  llvm::Value* FromLanes(llvm::Value* x, fmt::DType t) {
    auto to_int = [&](llvm::Type* it, float lo, float hi, uint64_t min) {
      llvm::Value* in = b_.CreateAnd(b_.CreateFCmpOGE(x, v_.C(lo)), b_.CreateFCmpOLT(x, v_.C(hi)));
      llvm::Value* safe = v_.Sel(in, x, v_.C(0.f));  // fptosi of the rest would be poison
      llvm::Value* r = b_.CreateFPToSI(safe, VecOf(it));
      return b_.CreateSelect(in, r, llvm::ConstantInt::get(VecOf(it), min));
    };
    switch (t) {
      case fmt::DType::F32:
        return x;
      case fmt::DType::BOOL:
        return b_.CreateZExt(b_.CreateFCmpUNE(x, v_.C(0.f)), VecOf(b_.getInt8Ty()));
      case fmt::DType::U8:
        return b_.CreateTrunc(to_int(b_.getInt32Ty(), -2147483648.f, 2147483648.f, 0x80000000u),
                              VecOf(b_.getInt8Ty()));
      case fmt::DType::I32:
        return to_int(b_.getInt32Ty(), -2147483648.f, 2147483648.f, 0x80000000u);
      case fmt::DType::I64:
        return to_int(b_.getInt64Ty(), -9223372036854775808.f, 9223372036854775808.f,
                      0x8000000000000000ull);
      case fmt::DType::F16:
      case fmt::DType::BF16:
      case fmt::DType::F64:
      case fmt::DType::I8:
        break;  // refused in Emit
    }
    return x;
  }

  // The body over the loaded inputs (null for an unused one); returns the
  // result's lanes.
  llvm::Value* EmitBody(const fmt::KernelBody& body, const std::vector<llvm::Value*>& ins) {
    std::vector<llvm::Value*> v(ins);
    const int32_t n = static_cast<int32_t>(ins.size());
    for (const fmt::BodyInstr& in : body.instrs) {
      auto at = [&](int32_t i) { return i >= 0 ? v[i] : nullptr; };
      llvm::Value* y = nullptr;
      const bool const_b = in.b >= n && body.instrs[in.b - n].op == fmt::BodyOp::kConst;
      if (in.op == fmt::BodyOp::kPow && const_b) {
        y = v_.PowConst(at(in.a), body.instrs[in.b - n].p0);
      } else {
        y = Instr(in, at(in.a), at(in.b), at(in.c));
      }
      v.push_back(y);
    }
    return v[body.result];
  }

  llvm::Value* Bool(llvm::Value* cond) { return v_.Sel(cond, v_.C(1.f), v_.C(0.f)); }

  // One instruction: x, c, z its operands by arity. A switch over
  // elementwise.def without a default: -Werror=switch stops the build when a
  // row has no code here.
  llvm::Value* Instr(const fmt::BodyInstr& in, llvm::Value* x, llvm::Value* c, llvm::Value* z) {
    VecMath& v = v_;
    switch (in.op) {
      case fmt::BodyOp::kRelu:  // keeps NaN, like clamp_min
        return v.Sel(v.Lt(x, v.C(0.f)), v.C(0.f), x);
      case fmt::BodyOp::kSigmoid:
        return v.Sigmoid(x);
      case fmt::BodyOp::kTanh:
        return v.Tanh(x);
      case fmt::BodyOp::kExp:
        return v.Exp(x);
      case fmt::BodyOp::kLog:
        return v.Log(x);
      case fmt::BodyOp::kSqrt:
        return v.Sqrt(x);
      case fmt::BodyOp::kRsqrt:
        return v.Div(v.C(1.f), v.Sqrt(x));
      case fmt::BodyOp::kNeg:
        return b_.CreateFNeg(x);
      case fmt::BodyOp::kAbs:
        return v.Abs(x);
      case fmt::BodyOp::kErf:
        return v.Erf(x);
      case fmt::BodyOp::kReciprocal:
        return v.Div(v.C(1.f), x);
      case fmt::BodyOp::kSilu:
        return v.Div(x, v.Add(v.C(1.f), v.Exp(b_.CreateFNeg(x))));
      case fmt::BodyOp::kGelu:
        return v.Mul(v.Mul(x, v.C(0.5f)),
                     v.Add(v.C(1.f), v.Erf(v.Mul(x, v.C(0.707106781186547524f)))));
      case fmt::BodyOp::kGeluTanh: {
        llvm::Value* cube = v.Mul(v.Mul(v.Mul(v.C(0.044715f), x), x), x);
        llvm::Value* inner = v.Mul(v.C(0.797884560802865355f), v.Add(x, cube));
        return v.Mul(v.Mul(v.C(0.5f), x), v.Add(v.C(1.f), v.Tanh(inner)));
      }
      case fmt::BodyOp::kHardswish: {
        llvm::Value* t = v.ClampHi(v.ClampLo(v.Add(x, v.C(3.f)), 0.f), 6.f);
        return v.Div(v.Mul(x, t), v.C(6.f));
      }
      case fmt::BodyOp::kHardsigmoid: {
        llvm::Value* t = v.ClampHi(v.ClampLo(v.Add(x, v.C(3.f)), 0.f), 6.f);
        return v.Div(t, v.C(6.f));
      }
      case fmt::BodyOp::kLeakyRelu:
        return v.Sel(v.Gt(x, v.C(0.f)), x, v.Mul(x, v.C(in.p0)));
      case fmt::BodyOp::kElu:
        return v.Sel(v.Gt(x, v.C(0.f)), x, v.Mul(v.Expm1(x), v.C(in.p0)));
      case fmt::BodyOp::kClamp:
        return v.ClampHi(v.ClampLo(x, in.p0), in.p1);
      case fmt::BodyOp::kAdd:
        return v.Add(x, c);
      case fmt::BodyOp::kSub:
        return v.Sub(x, c);
      case fmt::BodyOp::kMul:
        return v.Mul(x, c);
      case fmt::BodyOp::kDiv:
        return v.Div(x, c);
      case fmt::BodyOp::kPow:
        return v.Pow(x, c);
      case fmt::BodyOp::kMaximum:
        return v.MaxNan(x, c);
      case fmt::BodyOp::kMinimum:
        return v.MinNan(x, c);
      case fmt::BodyOp::kGt:
        return Bool(b_.CreateFCmpOGT(x, c));
      case fmt::BodyOp::kGe:
        return Bool(b_.CreateFCmpOGE(x, c));
      case fmt::BodyOp::kLt:
        return Bool(b_.CreateFCmpOLT(x, c));
      case fmt::BodyOp::kLe:
        return Bool(b_.CreateFCmpOLE(x, c));
      case fmt::BodyOp::kEq:
        return Bool(b_.CreateFCmpOEQ(x, c));
      case fmt::BodyOp::kNe:
        return Bool(b_.CreateFCmpUNE(x, c));
      case fmt::BodyOp::kWhere:
        return v.Sel(b_.CreateFCmpUNE(x, v.C(0.f)), c, z);
      case fmt::BodyOp::kCast:  // between f32 lanes only a cast to bool computes
        return in.type == fmt::DType::BOOL ? Bool(b_.CreateFCmpUNE(x, v.C(0.f))) : x;
      case fmt::BodyOp::kConst:
        return v.C(in.p0);
    }
    return nullptr;
  }

  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  llvm::IRBuilder<> b_;
  VecMath v_;
  int w_;
};

// ---- Object and shared object ------------------------------------------------------------

void InitX86() {
  static const bool done = [] {
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86Target();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter();
    return true;
  }();
  (void)done;
}

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::InternalError(absl::StrCat("cannot read ", path.string()));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The first linker on PATH that can link an x86-64 ELF shared object.
absl::StatusOr<std::string> FindLinker() {
  const char* env = std::getenv("SINTER_LINKER");
  if (env != nullptr && *env != '\0') return std::string(env);
  const char* path = std::getenv("PATH");
  std::vector<std::string> dirs = absl::StrSplit(path ? path : "/usr/bin:/bin", ':');
  dirs.push_back("/usr/lib/llvm-19/bin");
  for (const char* name : {"ld.lld-19", "ld.lld", "ld"}) {
    for (const std::string& dir : dirs) {
      if (dir.empty()) continue;
      std::string candidate = absl::StrCat(dir, "/", name);
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return absl::FailedPreconditionError(
      "no linker found for the CPU kernels (looked for ld.lld-19, ld.lld and ld on PATH; set "
      "SINTER_LINKER, install binutils or lld, or compile with --cpu none)");
}

absl::Status RunLinker(const std::string& linker, const std::string& object,
                       const std::string& output, const std::string& log) {
  std::vector<std::string> args = {linker,
                                   "-shared",
                                   "-o",
                                   output,
                                   object,
                                   "-z",
                                   "noexecstack",
                                   "-z",
                                   "now",
                                   "--hash-style=gnu",
                                   "--build-id=none",
                                   "-s"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid;
  int rc = posix_spawn(&pid, linker.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return absl::InternalError(absl::StrCat("cannot run the linker ", linker));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError("waiting for the linker failed");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    absl::StatusOr<std::string> out = ReadFile(log);
    return absl::InternalError(absl::StrCat(
        "the linker ", linker, " failed: ", out.ok() ? *out : std::string("(no output)")));
  }
  return absl::OkStatus();
}

// A private temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sinterc-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace

absl::StatusOr<std::string> ResolveCpuLevel(const std::string& cpu) {
  if (cpu == "native") {
    llvm::StringMap<bool> f = llvm::sys::getHostCPUFeatures();
    auto has = [&](const char* name) { return f.lookup(name); };
    if (has("avx512f") && has("avx512bw") && has("avx512dq") && has("avx512vl")) return "x86-64-v4";
    if (has("avx2") && has("fma") && has("f16c") && has("bmi2")) return "x86-64-v3";
    return "x86-64";
  }
  if (FindLevel(cpu) != nullptr) return cpu;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown --cpu '", cpu, "' (expected x86-64, x86-64-v3, x86-64-v4, native or none)"));
}

absl::StatusOr<CpuObject> CompileCpuKernels(const std::vector<CpuKernelSpec>& kernels,
                                            const std::string& cpu, std::string* ir_text) {
  absl::StatusOr<std::string> level_name = ResolveCpuLevel(cpu);
  if (!level_name.ok()) return level_name.status();
  const Level& level = *FindLevel(*level_name);
  InitX86();

  llvm::LLVMContext ctx;
  auto module = std::make_unique<llvm::Module>("sinter_kernels", ctx);
  const std::string triple = "x86_64-unknown-linux-gnu";
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (target == nullptr) return absl::InternalError("LLVM has no x86-64 target: " + error);
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(
      target->createTargetMachine(triple, level.llvm_cpu, "", options, llvm::Reloc::PIC_,
                                  std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!tm) return absl::InternalError("LLVM cannot make a target machine for " + *level_name);
  module->setTargetTriple(triple);
  module->setDataLayout(tm->createDataLayout());

  KernelEmitter emitter(*module, level.width);
  for (const CpuKernelSpec& k : kernels) {
    absl::Status s = emitter.Emit(k);
    if (!s.ok()) return s;
  }
  // Every function is tuned for the level's CPU.
  for (llvm::Function& f : *module) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", level.llvm_cpu);
  }

  // Optimise.
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2);
    mpm.run(*module, mam);
  }
  std::string verify;
  llvm::raw_string_ostream vos(verify);
  if (llvm::verifyModule(*module, &vos))
    return absl::InternalError("LLVM IR invalid after optimisation: " + verify);
  if (ir_text != nullptr) {
    ir_text->clear();
    llvm::raw_string_ostream os(*ir_text);
    module->print(os, nullptr);
  }
  for (const llvm::Function& f : *module) {
    if (f.isDeclaration() && !f.isIntrinsic()) {
      return absl::InternalError(absl::StrCat("CPU kernels call the external function ",
                                              f.getName().str(), "; they must be self-contained"));
    }
  }

  // Object code.
  llvm::SmallVector<char, 0> object;
  {
    llvm::raw_svector_ostream os(object);
    llvm::legacy::PassManager pm;
    if (tm->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile))
      return absl::InternalError("LLVM cannot emit object code for " + *level_name);
    pm.run(*module);
  }

  // Shared object.
  absl::StatusOr<std::string> linker = FindLinker();
  if (!linker.ok()) return linker.status();
  TempDir dir;
  if (dir.path().empty()) return absl::InternalError("cannot make a temporary directory");
  const std::filesystem::path obj_path = dir.path() / "kernels.o";
  const std::filesystem::path so_path = dir.path() / "kernels.so";
  {
    std::ofstream f(obj_path, std::ios::binary);
    f.write(object.data(), static_cast<std::streamsize>(object.size()));
    if (!f) return absl::InternalError("cannot write " + obj_path.string());
  }
  absl::Status linked =
      RunLinker(*linker, obj_path.string(), so_path.string(), (dir.path() / "ld.log").string());
  if (!linked.ok()) return linked;
  absl::StatusOr<std::string> so = ReadFile(so_path);
  if (!so.ok()) return so.status();
  CpuObject result;
  result.level = *level_name;
  result.shared_object = std::move(*so);
  result.object_bytes = static_cast<int64_t>(object.size());
  return result;
}

}  // namespace sinter::codegen::cpu
