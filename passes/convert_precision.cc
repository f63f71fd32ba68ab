// Converts f32 storage to f16/bf16 (see convert_precision.h). Stages:
//  1. every f32 constant payload is rounded to the new dtype;
//  2. every f32 op result takes the new dtype (shape rules compute in f32
//     whatever the storage, so types stay consistent);
//  3. each f32 graph input gets a cast to the new dtype in front of its
//     users, and each output a cast back to f32;
//  4. every kernel body (fused kernels, epilogues, prologues) is brought to
//     the dtypes its op now gives it (ir::RetypeBody): its arguments load the
//     new storage type and cast to f32, its result is cast to the new type,
//     so the maths in between stays f32.
// Registered as `convert-f16` / `convert-bf16` for sinter-opt and tests; the
// compile driver calls it for `--precision` on a CUDA target.
#include "passes/convert_precision.h"

#include <cmath>
#include <cstring>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "ir/kernel_body.h"
#include "ir/shape_rules.h"
#include "ir/status_macros.h"
#include "passes/pass.h"

namespace sinter::passes {

uint16_t F32ToF16Bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return sign | (absx > 0x7f800000u ? 0x7e00u : 0x7c00u);  // NaN / inf
  if (absx >= 0x477ff000u) return sign | 0x7c00u;  // rounds past 65504: infinity
  if (absx < 0x38800000u) {                        // below 2^-14: subnormal or zero
    // value = absx as float; half subnormal unit is 2^-24.
    const float a = std::fabs(f) * 16777216.0f;              // exact scaling by 2^24
    return sign | static_cast<uint16_t>(std::nearbyint(a));  // round-half-even (default mode)
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to even.
  uint32_t m = absx - 0x38000000u;  // exponent - 112, in place
  const uint32_t dropped = m & 0x1fffu;
  m >>= 13;
  if (dropped > 0x1000u || (dropped == 0x1000u && (m & 1u))) ++m;  // may carry into the exponent
  return static_cast<uint16_t>(sign | m);
}

uint16_t F32ToBF16Bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1u);  // round to nearest even; overflow reaches infinity
  return static_cast<uint16_t>(x >> 16);
}

namespace {

// Whether `v` reaches a non-float result (a cast back to an integer, a
// compare) through the ops that read it: integers computed or compared in
// floats, exact only while the floats hold them exactly.
bool FlowsBackToInteger(const ir::Value* v) {
  std::vector<const ir::Value*> work{v};
  std::unordered_set<const ir::Value*> seen{v};
  while (!work.empty()) {
    const ir::Value* x = work.back();
    work.pop_back();
    for (const ir::Operation* u : x->users()) {
      for (int r = 0; r < u->num_results(); ++r) {
        const ir::Value* y = u->result(r);
        if (!ir::IsFloat(y->type().dtype)) return true;
        if (seen.insert(y).second) work.push_back(y);
      }
    }
  }
  return false;
}

// Stage 4.
absl::Status RetypeBodies(ir::Graph& g) {
  for (const auto& op : g.ops()) {
    for (const ir::Region& r : op->regions()) {
      ASSIGN_OR_RETURN(ir::RegionSignature sig, ir::ExpectedRegion(*op, r.name));
      RETURN_IF_ERROR(
          ir::RetypeBody(*r.body, sig.args, sig.result.value_or(op->result()->type().dtype)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ConvertPrecision(ir::Graph& g, ir::DType to, int64_t* converted, bool convert_io) {
  if (to == ir::DType::kF32) return absl::OkStatus();
  if (to != ir::DType::kF16 && to != ir::DType::kBF16)
    return absl::InvalidArgumentError("precision must be f32, f16 or bf16");
  uint16_t (*round)(float) = to == ir::DType::kF16 ? F32ToF16Bits : F32ToBF16Bits;
  int64_t n = 0;
  for (const auto& op : g.ops()) {
    if (op->kind() == ir::OpKind::kConst) {
      const ir::TensorData& d = *op->GetTensor("value");
      if (d.type().dtype != ir::DType::kF32) continue;
      const size_t count = d.bytes().size() / sizeof(float);
      std::vector<uint8_t> bytes(count * 2);
      for (size_t i = 0; i < count; ++i) {
        const uint16_t h = round(d.data<float>()[i]);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
      ir::TensorType t{to, d.type().shape};
      op->mutable_attrs()["value"] = std::make_shared<ir::TensorData>(t, std::move(bytes));
    }
    if (op->kind() == ir::OpKind::kCast && op->result()->type().dtype == ir::DType::kF32) {
      // Integers made floats and back or compared (index arithmetic, e.g.
      // wrapping negative indices; `ids < vocab`) are exact in f32 up to
      // 2^24 but in f16 only to 2^11: stored as f16 in between they would be
      // silently wrong. Fused,
      // they never leave the kernel's f32 registers, which is what the
      // default pipeline does. (Integers made floats for good, `x.float()`,
      // simply take the storage precision.)
      if (!ir::IsFloat(op->operand(0)->type().dtype) && FlowsBackToInteger(op->result())) {
        return absl::UnimplementedError(absl::StrCat(
            "cast", op->loc().empty() ? "" : " at " + op->loc(), ": a value computed from ",
            std::string(ir::DTypeName(op->operand(0)->type().dtype)), " would be stored as ",
            std::string(ir::DTypeName(to)),
            " and lose its exactness; compile at the default pipeline (which fuses it) or "
            "in fp32"));
      }
      op->mutable_attrs()["to"] = std::string(ir::DTypeName(to));
    }
    for (int r = 0; r < op->num_results(); ++r) {
      ir::Value* v = op->result(r);
      if (v->type().dtype != ir::DType::kF32) continue;
      v->set_type({to, v->type().shape});
      ++n;
    }
  }
  const std::string to_name(ir::DTypeName(to));
  if (convert_io) {
    for (const auto& in : g.inputs()) {
      if (in->type().dtype == ir::DType::kF32) in->set_type({to, in->type().shape}), ++n;
    }
    if (converted != nullptr) *converted = n;
    return RetypeBodies(g);
  }
  for (const auto& in : g.inputs()) {
    if (in->type().dtype != ir::DType::kF32 || !in->has_users()) continue;
    ir::Operation* cast = g.CreateOp(g.ops().begin(), ir::OpKind::kCast, {in.get()},
                                     {{"to", to_name}}, {ir::TensorType{to, in->type().shape}});
    // Every reader but the new cast now reads the converted value.
    std::vector<ir::Operation*> users = in->users();
    for (ir::Operation* u : users) {
      if (u == cast) continue;
      for (int i = 0; i < u->num_operands(); ++i)
        if (u->operand(i) == in.get()) u->SetOperand(i, cast->result());
    }
    for (size_t o = 0; o < g.outputs().size(); ++o)
      if (g.outputs()[o] == in.get()) g.SetOutput(static_cast<int>(o), cast->result());
  }
  for (size_t o = 0; o < g.outputs().size(); ++o) {
    ir::Value* v = g.outputs()[o];
    if (v->type().dtype != to) continue;
    ir::Operation* cast = g.CreateOp(g.ops().end(), ir::OpKind::kCast, {v}, {{"to", "f32"}},
                                     {ir::TensorType{ir::DType::kF32, v->type().shape}});
    g.SetOutput(static_cast<int>(o), cast->result());
  }
  if (converted != nullptr) *converted = n;
  return RetypeBodies(g);
}

namespace {

// io=model (the default) keeps f32 inputs and outputs with casts at the
// edges; io=storage converts them too (sinterc --io-precision storage).
absl::Status Run(ir::DType to, ir::Graph& g, PassStats& stats, const PassOptions& options) {
  bool io = false;
  for (const auto& [key, value] : options) {
    if (key != "io" || (value != "model" && value != "storage")) {
      return absl::InvalidArgumentError(
          absl::StrCat("option '", key, "=", value, "': expected io=model|storage"));
    }
    io = value == "storage";
  }
  return ConvertPrecision(g, to, &stats["values-converted"], io);
}

}  // namespace

SINTER_REGISTER_PASS_WITH_OPTIONS(
    convert_f16, "convert-f16", "store f32 tensors as f16 (casts at the edges)", "io=model|storage",
    [](ir::Graph& g, PassStats& s, const PassOptions& o) { return Run(ir::DType::kF16, g, s, o); });
SINTER_REGISTER_PASS_WITH_OPTIONS(convert_bf16, "convert-bf16",
                                  "store f32 tensors as bf16 (casts at the edges)",
                                  "io=model|storage",
                                  [](ir::Graph& g, PassStats& s, const PassOptions& o) {
                                    return Run(ir::DType::kBF16, g, s, o);
                                  });

}  // namespace sinter::passes
