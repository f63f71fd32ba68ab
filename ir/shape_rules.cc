// Shape rules. Each takes the op (operands typed, attributes checked against
// the table's schema) and produces its result types or says why it cannot.
#include "ir/shape_rules.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ir/extent_analysis.h"
#include "ir/graph.h"
#include "ir/kernel_body.h"
#include "ir/printer.h"
#include "ir/status_macros.h"

namespace sinter::ir {
namespace {

absl::Status Invalid(auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); }

absl::StatusOr<std::vector<int64_t>> StaticExtents(const Shape& s) {
  if (!s.is_static()) {
    return absl::UnimplementedError("dynamic dimensions are not supported by this op yet");
  }
  return s.extents();
}

absl::StatusOr<std::vector<int64_t>> StaticExtents(const Value* v) {
  return StaticExtents(v->type().shape);
}

std::string Dims(const std::vector<int64_t>& d) { return "[" + absl::StrJoin(d, ",") + "]"; }

TensorType Make(DType dtype, const std::vector<int64_t>& extents) {
  return TensorType{dtype, Shape::Of(extents)};
}

absl::Status RequireRank(const Value* v, int rank, const char* what) {
  if (v->type().shape.rank() != rank) {
    return Invalid(what, " must have rank ", rank, ", got ", ToString(v->type()));
  }
  return absl::OkStatus();
}

absl::Status RequireSameDType(const Operation& op) {
  for (Value* v : op.operands()) {
    if (v->type().dtype != op.operand(0)->type().dtype) {
      return Invalid("operand dtypes differ: ", ToString(op.operand(0)->type()), " vs ",
                     ToString(v->type()));
    }
  }
  return absl::OkStatus();
}

bool IsFloat16OrF32(DType d) { return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16; }

// A fused_reduction's storage: the dtype of its first float operand (the
// reduced tensor, or the prologue's first float input; masks and indices
// its prologue reads may be of any dtype its body casts from). Its result,
// layer_norm's weight and bias are of this dtype.
absl::StatusOr<DType> ReductionStorage(const Operation& op) {
  for (Value* v : op.operands()) {
    if (IsFloat16OrF32(v->type().dtype)) return v->type().dtype;
  }
  return Invalid("a fused reduction needs an f32, f16 or bf16 operand");
}

}  // namespace

absl::StatusOr<RegionSignature> ExpectedRegion(const Operation& op, std::string_view region) {
  RegionSignature sig;
  auto dtypes = [&](int from, int to) {
    for (int i = from; i < to && i < op.num_operands(); ++i)
      sig.args.push_back(op.operand(i)->type().dtype);
  };
  const OpKind kind = op.kind();
  if (kind == OpKind::kFusedElementwise) {
    dtypes(0, op.num_operands());  // the result follows the body
    return sig;
  }
  if (kind == OpKind::kConv2d || kind == OpKind::kLinear) {
    // The library call's element, then the operands after the bias.
    sig.args.push_back(op.operand(0)->type().dtype);
    dtypes(3, op.num_operands());
    sig.result = op.operand(0)->type().dtype;
    return sig;
  }
  if (kind == OpKind::kFusedReduction && op.HasAttr("inputs") && op.HasAttr("kind")) {
    const int inputs = static_cast<int>(op.GetInt("inputs"));
    if (region == "prologue") {
      dtypes(0, inputs);
      sig.result = DType::kF32;  // the reduced element, in registers
      return sig;
    }
    // The normalised value (f32, in registers), then the extra operands.
    sig.args.push_back(DType::kF32);
    format::RowReduction r;
    const bool affine =
        format::RowReductionByName(op.GetStr("kind"), &r) && format::InfoOf(r).affine;
    dtypes(inputs + (affine ? 2 : 0), op.num_operands());
    sig.result = op.operand(0)->type().dtype;
    return sig;
  }
  return Invalid("op ", std::string(op.name()), " has no region '", std::string(region), "'");
}

namespace {

// Region `name` of `op`, when present, is a kernel body (LowerBody: the
// vocabulary, scalars, the description's type rules and limits, as the
// runtime checks them at load) over the arguments ExpectedRegion gives.
// Returns its result dtype (nullopt when absent).
absl::StatusOr<std::optional<DType>> CheckBody(const Operation& op, const char* name) {
  const Graph* body = op.region(name);
  if (body == nullptr) return std::optional<DType>();
  ASSIGN_OR_RETURN(RegionSignature sig, ExpectedRegion(op, name));
  auto lowered = LowerBody(*body);
  if (!lowered.ok()) return Invalid(name, ": ", lowered.status().message());
  if (body->inputs().size() != sig.args.size()) {
    return Invalid(name, " has ", body->inputs().size(), " argument(s), the op gives it ",
                   sig.args.size());
  }
  for (size_t i = 0; i < sig.args.size(); ++i) {
    if (body->input(static_cast<int>(i))->type().dtype != sig.args[i]) {
      return Invalid(name, " argument ", i, " is ",
                     ToString(body->input(static_cast<int>(i))->type()), ", the op gives it ",
                     std::string(DTypeName(sig.args[i])));
    }
  }
  const DType result = body->outputs()[0]->type().dtype;
  if (sig.result && result != *sig.result) {
    return Invalid(name, " yields ", std::string(DTypeName(result)), ", the op needs ",
                   std::string(DTypeName(*sig.result)));
  }
  return std::optional<DType>(result);
}

// Operands past the bias are epilogue inputs: they need an epilogue and must
// broadcast to the result. The epilogue reads the op's result as its argument
// 0 and those operands after it.
absl::Status CheckEpilogueOperands(const Operation& op, const std::vector<int64_t>& out) {
  const bool epilogue = op.region("epilogue") != nullptr;
  if (op.num_operands() > 3 && !epilogue) {
    return Invalid("operands past the bias need an epilogue");
  }
  if (epilogue && op.num_operands() < 3) {
    return Invalid("an epilogue needs an explicit bias operand");
  }
  RETURN_IF_ERROR(CheckBody(op, "epilogue").status());
  for (int i = 3; i < op.num_operands(); ++i) {
    ASSIGN_OR_RETURN(auto s, StaticExtents(op.operand(i)));
    ASSIGN_OR_RETURN(auto b, BroadcastShapes(out, s));
    if (b != out) return Invalid("epilogue operand ", i, " does not broadcast to the result");
  }
  return absl::OkStatus();
}

// A 4-D tensor's dims reordered by `perm` (kToNhwc / kToNchw).
std::vector<int64_t> Permute4(const std::vector<int64_t>& d, const int64_t (&perm)[4]) {
  return {d[perm[0]], d[perm[1]], d[perm[2]], d[perm[3]]};
}

}  // namespace

absl::StatusOr<bool> ChannelsLast(const Operation& op) {
  if (!op.HasAttr("layout")) return false;
  const std::string& l = op.GetStr("layout");
  if (l != "NCHW" && l != "NHWC") return Invalid("layout '", l, "': use NCHW or NHWC");
  return l == "NHWC";
}

absl::StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= std::max<int64_t>(rank, 1)) {
    return Invalid("axis ", axis, " out of range for rank ", rank);
  }
  return a;
}

absl::StatusOr<std::vector<int64_t>> BroadcastShapes(const std::vector<int64_t>& a,
                                                     const std::vector<int64_t>& b) {
  size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      return Invalid("shapes ", Dims(a), " and ", Dims(b), " do not broadcast");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t WindowOutput(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                     bool ceil_mode) {
  // In 128 bits: extents and attributes may be anything a parsed file says.
  using Wide = __int128;
  Wide span = Wide(in) + Wide(2) * pad - Wide(dilation) * (Wide(kernel) - 1) - 1;
  if (span < 0 || stride <= 0 || dilation <= 0 || kernel <= 0 || pad < 0) return 0;
  Wide out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // PyTorch: the last window must start inside the input or left padding.
  if (ceil_mode && (out - 1) * stride >= Wide(in) + pad) --out;
  return out > INT64_MAX ? 0 : static_cast<int64_t>(out);
}

absl::Status InferConst(const Operation& op, std::vector<TensorType>* results) {
  const TensorDataPtr& data = op.GetTensor("value");
  if (!data) return Invalid("const without data");
  std::optional<int64_t> bytes = data->type().ByteSize();
  if (!bytes || *bytes != static_cast<int64_t>(data->bytes().size())) {
    return Invalid("const payload of ", data->bytes().size(), " bytes does not match ",
                   ToString(data->type()));
  }
  results->push_back(data->type());
  return absl::OkStatus();
}

absl::Status InferSameAsFirst(const Operation& op, std::vector<TensorType>* results) {
  results->push_back(op.operand(0)->type());
  if (op.kind() == OpKind::kSoftmax || op.kind() == OpKind::kLogSoftmax ||
      op.kind() == OpKind::kLayerNorm) {
    RETURN_IF_ERROR(NormalizeAxis(op.GetInt("axis"), op.operand(0)->type().shape.rank()).status());
  }
  if (op.kind() == OpKind::kBatchNorm) {
    const TensorType& x = op.operand(0)->type();
    if (x.shape.rank() < 2) return Invalid("batch_norm input must have rank >= 2");
    for (int i = 1; i < 5; ++i) {
      const TensorType& p = op.operand(i)->type();
      if (p.shape.rank() != 1 || !(p.shape[0] == x.shape[1])) {
        return Invalid("batch_norm parameter ", i, " is ", ToString(p), ", expected [",
                       x.shape[1].extent(), "]");
      }
    }
  }
  if (op.kind() == OpKind::kLayerNorm) {
    const TensorType& x = op.operand(0)->type();
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(op.GetInt("axis"), x.shape.rank()));
    std::vector<Dim> tail(x.shape.dims().begin() + axis, x.shape.dims().end());
    for (int i = 1; i < 3; ++i) {
      if (op.operand(i)->type().shape.dims() != tail) {
        return Invalid("layer_norm parameter ", ToString(op.operand(i)->type()),
                       " does not match normalised shape ", ToString(Shape(tail)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status InferCast(const Operation& op, std::vector<TensorType>* results) {
  std::optional<DType> to = ParseDType(op.GetStr("to"));
  if (!to) return Invalid("unknown dtype '", op.GetStr("to"), "'");
  results->push_back(TensorType{*to, op.operand(0)->type().shape});
  return absl::OkStatus();
}

// NumPy broadcasting where a dim may be a size the data decides (elementwise
// ops take the run's extents): a symbol meets itself or a static 1; against
// another symbol or a static extent above 1 it would need the run to agree,
// which nothing checks before the kernel, so it is refused here.
absl::StatusOr<Shape> BroadcastSymbolic(const Shape& a, const Shape& b) {
  const size_t rank = static_cast<size_t>(std::max(a.rank(), b.rank()));
  std::vector<Dim> out;
  for (size_t i = 0; i < rank; ++i) {
    const size_t pa = rank - static_cast<size_t>(a.rank()),
                 pb = rank - static_cast<size_t>(b.rank());
    const Dim da = i < pa ? Dim::Static(1) : a[static_cast<int>(i - pa)];
    const Dim db = i < pb ? Dim::Static(1) : b[static_cast<int>(i - pb)];
    if (da == db || (db.is_static() && db.extent() == 1)) {
      out.push_back(da);
    } else if (da.is_static() && da.extent() == 1) {
      out.push_back(db);
    } else if (da.is_static() && db.is_static()) {
      return Invalid("shapes ", ToString(a), " and ", ToString(b), " do not broadcast");
    } else {
      return absl::UnimplementedError(absl::StrCat(
          "shapes ", ToString(a), " and ", ToString(b),
          " broadcast only if the run's sizes agree, which sinter does not check yet"));
    }
  }
  return Shape(std::move(out));
}

absl::Status InferBroadcast(const Operation& op, std::vector<TensorType>* results) {
  RETURN_IF_ERROR(RequireSameDType(op));
  if (op.operand(0)->type().shape == op.operand(1)->type().shape) {
    results->push_back(op.operand(0)->type());
    return absl::OkStatus();
  }
  if (!op.operand(0)->type().shape.is_static() || !op.operand(1)->type().shape.is_static()) {
    ASSIGN_OR_RETURN(Shape out,
                     BroadcastSymbolic(op.operand(0)->type().shape, op.operand(1)->type().shape));
    results->push_back(TensorType{op.operand(0)->type().dtype, std::move(out)});
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(auto a, StaticExtents(op.operand(0)));
  ASSIGN_OR_RETURN(auto b, StaticExtents(op.operand(1)));
  ASSIGN_OR_RETURN(auto out, BroadcastShapes(a, b));
  results->push_back(Make(op.operand(0)->type().dtype, out));
  return absl::OkStatus();
}

absl::Status InferCompare(const Operation& op, std::vector<TensorType>* results) {
  RETURN_IF_ERROR(InferBroadcast(op, results));
  results->back().dtype = DType::kBool;
  return absl::OkStatus();
}

absl::Status InferFused(const Operation& op, std::vector<TensorType>* results) {
  ASSIGN_OR_RETURN(std::optional<DType> dtype, CheckBody(op, "body"));
  if (!dtype) return Invalid("a fused kernel needs its body");
  ASSIGN_OR_RETURN(auto out, StaticExtents(op.operand(0)));
  for (int i = 1; i < op.num_operands(); ++i) {
    ASSIGN_OR_RETURN(auto s, StaticExtents(op.operand(i)));
    ASSIGN_OR_RETURN(out, BroadcastShapes(out, s));
  }
  results->push_back(Make(*dtype, out));
  return absl::OkStatus();
}

// fused_reduction: see its row in runtime/format/ops.def for the operand layout.
absl::Status InferFusedReduction(const Operation& op, std::vector<TensorType>* results) {
  ASSIGN_OR_RETURN(const DType dtype, ReductionStorage(op));
  format::RowReduction kind;
  if (!format::RowReductionByName(op.GetStr("kind"), &kind)) {
    return Invalid("unknown reduction kind '", op.GetStr("kind"), "'");
  }
  const bool norm = format::InfoOf(kind).affine;
  const int64_t inputs = op.GetInt("inputs");
  if (inputs < 1 || inputs + (norm ? 2 : 0) > op.num_operands()) {
    return Invalid("inputs = ", inputs, " does not fit ", op.num_operands(), " operands");
  }
  const bool prologue = op.region("prologue") != nullptr;
  if (inputs > 1 && !prologue) return Invalid("several inputs need a prologue");
  if (!prologue && op.operand(0)->type().dtype != dtype)
    return Invalid("the reduced tensor is ", ToString(op.operand(0)->type()), ", not ",
                   std::string(DTypeName(dtype)));
  if (norm != op.HasAttr("eps"))
    return Invalid("eps belongs to the affine kinds (layer_norm), which need one");
  RETURN_IF_ERROR(CheckBody(op, "prologue").status());
  RETURN_IF_ERROR(CheckBody(op, "epilogue").status());
  ASSIGN_OR_RETURN(auto out, StaticExtents(op.operand(0)));
  for (int i = 1; i < inputs; ++i) {
    ASSIGN_OR_RETURN(auto s, StaticExtents(op.operand(i)));
    ASSIGN_OR_RETURN(out, BroadcastShapes(out, s));
  }
  const int64_t rank = static_cast<int64_t>(out.size());
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(op.GetInt("axis"), rank));
  if (rank == 0) return Invalid("fused reductions need rank >= 1");
  if (format::InfoOf(kind).last_axis && axis != rank - 1)
    return Invalid("fused ", op.GetStr("kind"), " runs over the last axis only");
  int next = static_cast<int>(inputs);
  if (norm) {
    std::vector<int64_t> tail(out.begin() + axis, out.end());
    for (int i = next; i < next + 2; ++i) {
      ASSIGN_OR_RETURN(auto s, StaticExtents(op.operand(i)));
      if (s != tail) return Invalid("weight/bias ", Dims(s), " != ", Dims(tail));
      if (op.operand(i)->type().dtype != dtype)
        return Invalid("weight/bias of ", std::string(DTypeName(op.operand(i)->type().dtype)),
                       " for a reduction of ", std::string(DTypeName(dtype)));
    }
    next += 2;
  }
  if (next < op.num_operands() && op.region("epilogue") == nullptr) {
    return Invalid("operands past the reduction's need an epilogue");
  }
  for (int i = next; i < op.num_operands(); ++i) {
    ASSIGN_OR_RETURN(auto s, StaticExtents(op.operand(i)));
    ASSIGN_OR_RETURN(auto b, BroadcastShapes(out, s));
    if (b != out) return Invalid("epilogue operand ", i, " does not broadcast to the result");
  }
  results->push_back(Make(dtype, out));
  return absl::OkStatus();
}

absl::Status InferWhere(const Operation& op, std::vector<TensorType>* results) {
  if (op.operand(0)->type().dtype != DType::kBool) return Invalid("where condition must be bool");
  if (op.operand(1)->type().dtype != op.operand(2)->type().dtype) {
    return Invalid("where branches have different dtypes");
  }
  if (!op.operand(0)->type().shape.is_static() || !op.operand(1)->type().shape.is_static() ||
      !op.operand(2)->type().shape.is_static()) {
    ASSIGN_OR_RETURN(Shape ab,
                     BroadcastSymbolic(op.operand(1)->type().shape, op.operand(2)->type().shape));
    ASSIGN_OR_RETURN(Shape out, BroadcastSymbolic(op.operand(0)->type().shape, ab));
    results->push_back(TensorType{op.operand(1)->type().dtype, std::move(out)});
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(auto c, StaticExtents(op.operand(0)));
  ASSIGN_OR_RETURN(auto a, StaticExtents(op.operand(1)));
  ASSIGN_OR_RETURN(auto b, StaticExtents(op.operand(2)));
  ASSIGN_OR_RETURN(auto ab, BroadcastShapes(a, b));
  ASSIGN_OR_RETURN(auto out, BroadcastShapes(c, ab));
  results->push_back(Make(op.operand(1)->type().dtype, out));
  return absl::OkStatus();
}

// Over dims sized by the run too (kRunExtents): a reduced one goes (or is
// 1), a kept one stays the symbol.
absl::Status InferReduce(const Operation& op, std::vector<TensorType>* results) {
  const std::vector<Dim>& in = op.operand(0)->type().shape.dims();
  std::vector<bool> reduced(in.size(), false);
  for (int64_t a : op.GetInts("axes")) {
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, in.size()));
    if (in.empty()) continue;  // a scalar "reduces" over its one implicit axis
    if (reduced[axis]) return Invalid("axis ", a, " repeated");
    reduced[axis] = true;
  }
  std::vector<Dim> out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!reduced[i])
      out.push_back(in[i]);
    else if (op.GetBool("keepdim"))
      out.push_back(Dim::Static(1));
  }
  results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(out))});
  return absl::OkStatus();
}

absl::Status InferConv2d(const Operation& op, std::vector<TensorType>* results) {
  RETURN_IF_ERROR(RequireRank(op.operand(0), 4, "conv2d input"));
  RETURN_IF_ERROR(RequireRank(op.operand(1), 4, "conv2d weight"));
  RETURN_IF_ERROR(RequireSameDType(op));
  ASSIGN_OR_RETURN(auto x, StaticExtents(op.operand(0)));
  ASSIGN_OR_RETURN(auto w, StaticExtents(op.operand(1)));
  ASSIGN_OR_RETURN(bool nhwc, ChannelsLast(op));
  if (nhwc) x = Permute4(x, kToNchw), w = Permute4(w, kToNchw);  // logical NCHW / OIHW
  const auto& stride = op.GetInts("stride");
  const auto& pad = op.GetInts("padding");
  const auto& dil = op.GetInts("dilation");
  int64_t groups = op.GetInt("groups");
  if (stride.size() != 2 || pad.size() != 2 || dil.size() != 2) {
    return Invalid("stride, padding and dilation need 2 entries each");
  }
  for (int i = 0; i < 2; ++i) {
    if (stride[i] <= 0 || dil[i] <= 0 || pad[i] < 0) return Invalid("bad stride/dilation/padding");
  }
  if (groups <= 0 || x[1] % groups != 0 || w[0] % groups != 0 || w[1] != x[1] / groups) {
    return Invalid("input ", Dims(x), " and weight ", Dims(w), " disagree for groups=", groups);
  }
  if (op.num_operands() >= 3) {
    RETURN_IF_ERROR(RequireRank(op.operand(2), 1, "conv2d bias"));
    if (op.operand(2)->type().shape[0].extent() != w[0])
      return Invalid("bias length != out channels");
  }
  int64_t oh = WindowOutput(x[2], w[2], stride[0], pad[0], dil[0], false);
  int64_t ow = WindowOutput(x[3], w[3], stride[1], pad[1], dil[1], false);
  if (oh <= 0 || ow <= 0) return Invalid("input ", Dims(x), " too small for the kernel");
  std::vector<int64_t> y{x[0], w[0], oh, ow};
  if (nhwc) y = Permute4(y, kToNhwc);
  RETURN_IF_ERROR(CheckEpilogueOperands(op, y));
  results->push_back(Make(op.operand(0)->type().dtype, y));
  return absl::OkStatus();
}

absl::Status InferPool2d(const Operation& op, std::vector<TensorType>* results) {
  RETURN_IF_ERROR(RequireRank(op.operand(0), 4, "pool input"));
  ASSIGN_OR_RETURN(auto x, StaticExtents(op.operand(0)));
  ASSIGN_OR_RETURN(bool nhwc, ChannelsLast(op));
  if (nhwc) x = Permute4(x, kToNchw);
  const auto& k = op.GetInts("kernel");
  const auto& s = op.GetInts("stride");
  const auto& p = op.GetInts("padding");
  std::vector<int64_t> d =
      op.HasAttr("dilation") ? op.GetInts("dilation") : std::vector<int64_t>{1, 1};
  if (k.size() != 2 || s.size() != 2 || p.size() != 2 || d.size() != 2) {
    return Invalid("kernel, stride, padding and dilation need 2 entries each");
  }
  for (int i = 0; i < 2; ++i) {
    if (k[i] <= 0 || s[i] <= 0 || d[i] <= 0 || p[i] < 0 || p[i] > k[i] / 2) {
      return Invalid("bad pooling window");
    }
  }
  bool ceil = op.GetBool("ceil_mode");
  int64_t oh = WindowOutput(x[2], k[0], s[0], p[0], d[0], ceil);
  int64_t ow = WindowOutput(x[3], k[1], s[1], p[1], d[1], ceil);
  if (oh <= 0 || ow <= 0) return Invalid("input ", Dims(x), " too small for the window");
  std::vector<int64_t> y{x[0], x[1], oh, ow};
  results->push_back(Make(op.operand(0)->type().dtype, nhwc ? Permute4(y, kToNhwc) : y));
  return absl::OkStatus();
}

absl::Status InferAdaptivePool2d(const Operation& op, std::vector<TensorType>* results) {
  RETURN_IF_ERROR(RequireRank(op.operand(0), 4, "adaptive pool input"));
  ASSIGN_OR_RETURN(auto x, StaticExtents(op.operand(0)));
  ASSIGN_OR_RETURN(bool nhwc, ChannelsLast(op));
  if (nhwc) x = Permute4(x, kToNchw);
  const auto& o = op.GetInts("output_size");
  if (o.size() != 2 || o[0] <= 0 || o[1] <= 0)
    return Invalid("output_size needs 2 positive entries");
  std::vector<int64_t> y{x[0], x[1], o[0], o[1]};
  results->push_back(Make(op.operand(0)->type().dtype, nhwc ? Permute4(y, kToNhwc) : y));
  return absl::OkStatus();
}

// Of x sized by the run (kRunExtents): its rows follow the symbol; the
// contracted dim is the weight's, static.
absl::Status InferRunSizedLinear(const Operation& op, std::vector<TensorType>* results) {
  std::vector<Dim> x = op.operand(0)->type().shape.dims();
  ASSIGN_OR_RETURN(auto w, StaticExtents(op.operand(1)));
  if (x.empty() || !(x.back() == Dim::Static(w[1])))
    return Invalid("input ", ToString(op.operand(0)->type()), " does not match weight ", Dims(w));
  if (op.num_operands() >= 3) {
    ASSIGN_OR_RETURN(auto b, StaticExtents(op.operand(2)));
    if (b != std::vector<int64_t>{w[0]}) return Invalid("bias ", Dims(b), " != [", w[0], "]");
  }
  if (op.num_operands() > 3 || op.region("epilogue") != nullptr)
    return absl::UnimplementedError("an epilogue over rows sized by the run");
  x.back() = Dim::Static(w[0]);
  results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(x))});
  return absl::OkStatus();
}

absl::Status InferLinear(const Operation& op, std::vector<TensorType>* results) {
  RETURN_IF_ERROR(RequireSameDType(op));
  RETURN_IF_ERROR(RequireRank(op.operand(1), 2, "linear weight"));
  if (!op.operand(0)->type().shape.is_static()) return InferRunSizedLinear(op, results);
  ASSIGN_OR_RETURN(auto x, StaticExtents(op.operand(0)));
  ASSIGN_OR_RETURN(auto w, StaticExtents(op.operand(1)));
  if (x.empty() || x.back() != w[1]) {
    return Invalid("input ", Dims(x), " does not match weight ", Dims(w));
  }
  if (op.num_operands() >= 3) {
    ASSIGN_OR_RETURN(auto b, StaticExtents(op.operand(2)));
    if (b != std::vector<int64_t>{w[0]}) return Invalid("bias ", Dims(b), " != [", w[0], "]");
  }
  x.back() = w[0];
  RETURN_IF_ERROR(CheckEpilogueOperands(op, x));
  results->push_back(Make(op.operand(0)->type().dtype, x));
  return absl::OkStatus();
}

// Of operands sized by the run (kRunExtents): dims compare as dims, a
// symbol equal only to itself; batch dims broadcast as elementwise ops'.
absl::Status InferRunSizedMatmul(const Operation& op, std::vector<TensorType>* results) {
  std::vector<Dim> a = op.operand(0)->type().shape.dims(), b = op.operand(1)->type().shape.dims();
  if (a.empty() || b.empty()) return Invalid("matmul operands must have rank >= 1");
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), Dim::Static(1));
  if (b_vec) b.push_back(Dim::Static(1));
  if (!(a.back() == b[b.size() - 2])) {
    return Invalid("matmul inner dims differ: ", ToString(op.operand(0)->type()), " @ ",
                   ToString(op.operand(1)->type()));
  }
  ASSIGN_OR_RETURN(Shape batch, BroadcastSymbolic(Shape(std::vector<Dim>(a.begin(), a.end() - 2)),
                                                  Shape(std::vector<Dim>(b.begin(), b.end() - 2))));
  std::vector<Dim> out = batch.dims();
  if (!a_vec) out.push_back(a[a.size() - 2]);
  if (!b_vec) out.push_back(b.back());
  results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(out))});
  return absl::OkStatus();
}

absl::Status InferMatmul(const Operation& op, std::vector<TensorType>* results) {
  RETURN_IF_ERROR(RequireSameDType(op));
  if (!op.operand(0)->type().shape.is_static() || !op.operand(1)->type().shape.is_static())
    return InferRunSizedMatmul(op, results);
  ASSIGN_OR_RETURN(auto a, StaticExtents(op.operand(0)));
  ASSIGN_OR_RETURN(auto b, StaticExtents(op.operand(1)));
  if (a.empty() || b.empty()) return Invalid("matmul operands must have rank >= 1");
  bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  if (a.back() != b[b.size() - 2])
    return Invalid("matmul inner dims differ: ", Dims(a), " @ ", Dims(b));
  std::vector<int64_t> ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  ASSIGN_OR_RETURN(auto out, BroadcastShapes(ab, bb));
  if (!a_vec) out.push_back(a[a.size() - 2]);
  if (!b_vec) out.push_back(b.back());
  results->push_back(Make(op.operand(0)->type().dtype, out));
  return absl::OkStatus();
}

absl::Status InferEmbedding(const Operation& op, std::vector<TensorType>* results) {
  RETURN_IF_ERROR(RequireRank(op.operand(0), 2, "embedding weight"));
  DType idx = op.operand(1)->type().dtype;
  if (idx != DType::kI64 && idx != DType::kI32) return Invalid("embedding indices must be integer");
  // A table or indices sized by the run (kRunExtents): the rows follow the
  // indices; the row length must be known.
  const Dim& row = op.operand(0)->type().shape[1];
  if (!row.is_static()) return Invalid("embedding rows of a length the data decides");
  std::vector<Dim> dims = op.operand(1)->type().shape.dims();
  dims.push_back(row);
  results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(dims))});
  return absl::OkStatus();
}

// lstm (4 gates, states h and c) and gru (3 gates, state h).
absl::Status InferRecurrent(const Operation& op, std::vector<TensorType>* results) {
  const bool lstm = op.kind() == OpKind::kLstm;
  const std::string name(op.name());
  const int states = lstm ? 2 : 1;
  const int64_t gates = lstm ? 4 : 3;
  RETURN_IF_ERROR(RequireRank(op.operand(0), 3, lstm ? "lstm input" : "gru input"));
  // Its steps may be sized by the run (kRunExtents): the sequence dim may
  // be a symbol, which the output keeps; the batch and features are static.
  const bool bf = op.GetBool("batch_first");
  const Dim seq_dim = op.operand(0)->type().shape[bf ? 1 : 0];
  std::vector<Dim> xd = op.operand(0)->type().shape.dims();
  xd[bf ? 1 : 0] = Dim::Static(1);
  ASSIGN_OR_RETURN(auto x, StaticExtents(Shape(xd)));
  int64_t layers = op.GetInt("num_layers"), hidden = op.GetInt("hidden_size");
  int64_t dirs = op.GetBool("bidirectional") ? 2 : 1;
  int64_t per = op.GetBool("has_biases") ? 4 : 2;
  // Bounded before any product so nothing below overflows.
  if (layers <= 0 || hidden <= 0 || layers > op.num_operands() || hidden > (INT64_MAX >> 3)) {
    return Invalid("bad ", name, " sizes");
  }
  if (op.num_operands() != 1 + states + layers * dirs * per) {
    return Invalid(name, " expects ", 1 + states + layers * dirs * per, " operands, got ",
                   op.num_operands());
  }
  int64_t batch = bf ? x[0] : x[1];
  std::vector<int64_t> state{layers * dirs, batch, hidden};
  for (int i = 1; i <= states; ++i) {
    ASSIGN_OR_RETURN(auto s, StaticExtents(op.operand(i)));
    if (s != state) return Invalid(name, " state ", Dims(s), " expected ", Dims(state));
  }
  for (int64_t l = 0; l < layers; ++l) {
    int64_t in = l == 0 ? x[2] : hidden * dirs;
    for (int64_t d = 0; d < dirs; ++d) {
      int base = 1 + states + static_cast<int>((l * dirs + d) * per);
      std::vector<std::vector<int64_t>> want{{gates * hidden, in}, {gates * hidden, hidden}};
      if (per == 4) want.insert(want.end(), {{gates * hidden}, {gates * hidden}});
      for (int64_t j = 0; j < per; ++j) {
        ASSIGN_OR_RETURN(auto s, StaticExtents(op.operand(base + static_cast<int>(j))));
        if (s != want[j])
          return Invalid(name, " weight ", base + j, " is ", Dims(s), ", expected ", Dims(want[j]));
      }
    }
  }
  DType dt = op.operand(0)->type().dtype;
  const Dim b = Dim::Static(batch), h = Dim::Static(hidden * dirs);
  results->push_back(TensorType{
      dt, Shape(bf ? std::vector<Dim>{b, seq_dim, h} : std::vector<Dim>{seq_dim, b, h})});
  for (int i = 0; i < states; ++i) results->push_back(Make(dt, state));
  return absl::OkStatus();
}

absl::StatusOr<Dim> RunSizedDim(const Operation& op);

// A reshape of x sized by the run (kRunExtents): x's one symbolic dim stays
// whole at the target's -1, the other elements regrouped, so the result's
// size follows the symbol with no arithmetic on it.
// With `from`: several symbolic dims kept whole, each -1 of the target
// taking the extent of x's axis `from` names, in order; the static dims
// between them regroup with equal products, so elements keep their order.
absl::Status InferReshapeFrom(const Operation& op, std::vector<TensorType>* results) {
  const Shape& in = op.operand(0)->type().shape;
  const std::vector<int64_t>& out = op.GetInts("shape");
  const std::vector<int64_t>& from = op.GetInts("from");
  std::vector<Dim> dims;
  size_t k = 0;
  int64_t at = 0;  // next axis of x
  int64_t in_prod = 1, out_prod = 1;
  auto segment_done = [&](int64_t end) -> absl::Status {
    for (; at < end; ++at) {
      if (!in[static_cast<int>(at)].is_static())
        return Invalid("reshape: x's dim ", at, " is sized by the run but no -1 takes it");
      if (__builtin_mul_overflow(in_prod, in[static_cast<int>(at)].extent(), &in_prod))
        return Invalid("reshape input overflows");
    }
    if (in_prod != out_prod)
      return Invalid("reshape of ", ToString(op.operand(0)->type()), " to ", Dims(out),
                     " moves elements across a dim sized by the run");
    in_prod = out_prod = 1;
    return absl::OkStatus();
  };
  for (int64_t e : out) {
    if (e == -1) {
      if (k >= from.size() || from[k] < at || from[k] >= in.rank())
        return Invalid("reshape: `from` ", Dims(from), " does not fit ", Dims(out));
      RETURN_IF_ERROR(segment_done(from[k]));
      dims.push_back(in[static_cast<int>(from[k])]);
      at = from[k++] + 1;
    } else if (e < 0 || __builtin_mul_overflow(out_prod, e, &out_prod)) {
      return Invalid("bad reshape target ", Dims(out));
    } else {
      dims.push_back(Dim::Static(e));
    }
  }
  if (k != from.size()) return Invalid("reshape: `from` ", Dims(from), " does not fit ", Dims(out));
  RETURN_IF_ERROR(segment_done(in.rank()));
  results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(dims))});
  return absl::OkStatus();
}

absl::Status InferRunSizedReshape(const Operation& op, std::vector<TensorType>* results) {
  if (op.HasAttr("from")) return InferReshapeFrom(op, results);
  const Shape& in = op.operand(0)->type().shape;
  const std::vector<int64_t>& out = op.GetInts("shape");
  std::optional<Dim> symbol;
  int64_t rest_in = 1, rest_out = 1, infer_at = -1;
  for (const Dim& d : in.dims()) {
    if (!d.is_static()) {
      if (symbol) return absl::UnimplementedError("a reshape of two dims sized by the run");
      symbol = d;
    } else if (__builtin_mul_overflow(rest_in, d.extent(), &rest_in)) {
      return Invalid("reshape input overflows");
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1 && infer_at < 0) {
      infer_at = static_cast<int64_t>(i);
    } else if (out[i] < 0 || __builtin_mul_overflow(rest_out, out[i], &rest_out)) {
      return Invalid("bad reshape target ", Dims(out));
    }
  }
  // x holds (scale * S + offset) * rest_in elements; its -1 takes what the
  // other entries leave, (scale * S + offset) * rest_in / rest_out, when
  // both parts divide: view(T * B, E) of [T, B, E] gives ?T*B, view(-1, B,
  // E) of that ?T back; [T + 1, B, E] gives ?T*B+B and back.
  int64_t per_unit = 0, offset = 0;
  if (infer_at >= 0 && symbol && rest_out > 0 &&
      !__builtin_mul_overflow(symbol->scale(), rest_in, &per_unit) &&
      !__builtin_mul_overflow(symbol->offset(), rest_in, &offset) && per_unit % rest_out == 0 &&
      offset % rest_out == 0 && per_unit / rest_out >= 1) {
    per_unit /= rest_out;
    offset /= rest_out;
  } else {
    return absl::UnimplementedError(absl::StrCat(
        "a reshape of ", ToString(op.operand(0)->type()), " to ", Dims(out),
        ": of a size the run decides, only its -1 may stand for a multiple of the symbolic dim"));
  }
  std::vector<Dim> dims;
  for (size_t i = 0; i < out.size(); ++i) {
    dims.push_back(static_cast<int64_t>(i) == infer_at
                       ? Dim::Symbol(symbol->symbol(), per_unit, offset)
                       : Dim::Static(out[i]));
  }
  results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(dims))});
  return absl::OkStatus();
}

absl::Status InferReshape(const Operation& op, std::vector<TensorType>* results) {
  if (!op.operand(0)->type().shape.is_static() || op.HasAttr("from"))
    return InferRunSizedReshape(op, results);
  ASSIGN_OR_RETURN(auto in, StaticExtents(op.operand(0)));
  std::vector<int64_t> out = op.GetInts("shape");
  int64_t known = 1, infer_at = -1, total = 1;
  for (int64_t e : in) {
    if (__builtin_mul_overflow(total, e, &total)) return Invalid("reshape input overflows");
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1 && infer_at < 0) {
      infer_at = static_cast<int64_t>(i);
    } else if (out[i] < 0) {
      return Invalid("bad reshape target ", Dims(out));
    } else if (__builtin_mul_overflow(known, out[i], &known)) {
      return Invalid("reshape target overflows");
    }
  }
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0) return Invalid("cannot infer -1 in ", Dims(out));
    out[infer_at] = total / known;
    known = total;
  }
  if (known != total) return Invalid("cannot reshape ", Dims(in), " to ", Dims(out));
  results->push_back(Make(op.operand(0)->type().dtype, out));
  return absl::OkStatus();
}

absl::Status InferTranspose(const Operation& op, std::vector<TensorType>* results) {
  const Shape& in = op.operand(0)->type().shape;
  const auto& perm = op.GetInts("perm");
  if (static_cast<int>(perm.size()) != in.rank()) return Invalid("perm rank != input rank");
  std::vector<bool> seen(perm.size(), false);
  std::vector<Dim> out;
  for (int64_t p : perm) {
    if (p < 0 || p >= in.rank() || seen[p]) return Invalid("perm is not a permutation");
    seen[p] = true;
    out.push_back(in[static_cast<int>(p)]);
  }
  results->push_back(TensorType{op.operand(0)->type().dtype, Shape(out)});
  return absl::OkStatus();
}

// A concat of operands sized by the run (kRunExtents): dims off the axis
// equal as dims; along it a sum, or the symbol `size` names where any
// operand's extent there is a symbol.
absl::Status InferRunSizedConcat(const Operation& op, std::vector<TensorType>* results) {
  std::vector<Dim> out = op.operand(0)->type().shape.dims();
  if (out.empty()) return Invalid("cannot concat scalars");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(op.GetInt("axis"), out.size()));
  int64_t sum = 0, scales = 0, offsets = 0;
  bool symbolic = false, one_symbol = true;
  const Dim* named = nullptr;  // an operand's symbolic dim on the axis
  for (int i = 0; i < op.num_operands(); ++i) {
    const std::vector<Dim>& s = op.operand(i)->type().shape.dims();
    if (s.size() != out.size()) return Invalid("concat operands differ in rank");
    for (size_t d = 0; d < s.size(); ++d) {
      if (static_cast<int64_t>(d) != axis && !(s[d] == out[d])) {
        return Invalid("concat operand ", i, " is ", ToString(op.operand(i)->type()), ", expected ",
                       ToString(op.operand(0)->type()), " off axis ", axis);
      }
    }
    const Dim& e = s[static_cast<size_t>(axis)];
    symbolic |= !e.is_static();
    if (!e.is_static()) {
      one_symbol = one_symbol && (named == nullptr || named->symbol() == e.symbol());
      named = &e;
    }
    if (e.is_static() && __builtin_add_overflow(sum, e.extent(), &sum))
      return Invalid("concat overflows");
    if (!e.is_static() && (__builtin_add_overflow(scales, e.scale(), &scales) ||
                           __builtin_add_overflow(offsets, e.offset(), &offsets)))
      return Invalid("concat overflows");
  }
  if (symbolic && one_symbol && !op.HasAttr("size")) {
    // Operands sized by one symbol and static ones (a symbolic extent's
    // [x, x], a class token before a sequence): their sum.
    if (__builtin_add_overflow(offsets, sum, &offsets)) return Invalid("concat overflows");
    out[static_cast<size_t>(axis)] = Dim::Symbol(named->symbol(), scales, offsets);
  } else if (symbolic) {
    if (!op.HasAttr("size"))
      return Invalid("a concat along a dim sized by the run needs the symbol `size`");
    ASSIGN_OR_RETURN(out[static_cast<size_t>(axis)], RunSizedDim(op));
  } else {
    out[static_cast<size_t>(axis)] = Dim::Static(sum);
  }
  results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(out))});
  return absl::OkStatus();
}

absl::Status InferConcat(const Operation& op, std::vector<TensorType>* results) {
  RETURN_IF_ERROR(RequireSameDType(op));
  for (const Value* v : op.operands()) {
    if (!v->type().shape.is_static()) return InferRunSizedConcat(op, results);
  }
  ASSIGN_OR_RETURN(auto out, StaticExtents(op.operand(0)));
  if (out.empty()) return Invalid("cannot concat scalars");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(op.GetInt("axis"), out.size()));
  for (int i = 1; i < op.num_operands(); ++i) {
    ASSIGN_OR_RETURN(auto s, StaticExtents(op.operand(i)));
    if (s.size() != out.size()) return Invalid("concat operands differ in rank");
    for (size_t d = 0; d < s.size(); ++d) {
      if (static_cast<int64_t>(d) != axis && s[d] != out[d]) {
        return Invalid("concat operand ", i, " is ", Dims(s), ", expected ", Dims(out));
      }
    }
    if (__builtin_add_overflow(out[axis], s[axis], &out[axis])) return Invalid("concat overflows");
  }
  results->push_back(Make(op.operand(0)->type().dtype, out));
  return absl::OkStatus();
}

absl::Status InferSlice(const Operation& op, std::vector<TensorType>* results) {
  const Shape& shape = op.operand(0)->type().shape;
  if (!shape.is_static()) {
    // Of x sized by the run (kRunExtents): along a symbolic dim the bounds
    // clamp to the run's extent and the result's is the symbol `size` names;
    // along another the bounds are checked as ever.
    if (shape.rank() == 0) return Invalid("cannot slice a scalar");
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(op.GetInt("axis"), shape.rank()));
    int64_t start = op.GetInt("start"), end = op.GetInt("end"), step = op.GetInt("step");
    std::vector<Dim> dims = shape.dims();
    const Dim& d = dims[static_cast<size_t>(axis)];
    // Along a symbolic dim a negative bound counts from its end, as
    // Python's (ir/extent_analysis.h): x[-k:] is k long, and a run
    // shorter than k fails there; x[0:] is the symbol itself.
    if (!d.is_static() && step > 0 && start < 0 && end == kSliceToEnd && start > -kSliceToEnd) {
      dims[static_cast<size_t>(axis)] = Dim::Static((-start - 1) / step + 1);
      results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(dims))});
      return absl::OkStatus();
    }
    // x[a:b] within the dim's least extent (the symbol at 1: a symbolic
    // extent's range starts there), x[:, 0] of a class token before the
    // sequence: static. Past it, the run would decide (a `size`).
    if (!d.is_static() && step > 0 && start >= 0 && start <= end && end < kSliceToEnd &&
        end <= d.scale() + d.offset() && !op.HasAttr("size")) {
      dims[static_cast<size_t>(axis)] =
          Dim::Static(end == start ? 0 : (end - start - 1) / step + 1);
      results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(dims))});
      return absl::OkStatus();
    }
    // x[k:] and x[k:-j] of a symbolic extent's dim: k + j shorter (the
    // sequence after a class token; all but the last step).
    if (!d.is_static() && step == 1 && start >= 0 && start < kSliceToEnd &&
        (end == kSliceToEnd || (end < 0 && end > -kSliceToEnd)) && !op.HasAttr("size")) {
      const int64_t cut = start - (end == kSliceToEnd ? 0 : end);
      int64_t offset;
      if (__builtin_sub_overflow(d.offset(), cut, &offset)) return Invalid("slice overflows");
      dims[static_cast<size_t>(axis)] = Dim::Symbol(d.symbol(), d.scale(), offset);
      results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(dims))});
      return absl::OkStatus();
    }
    const bool from_end = !d.is_static() && (start < 0 || end < 0) && start > -kSliceToEnd &&
                          end > -kSliceToEnd && step > 0;
    if (!from_end &&
        (step <= 0 || start < 0 || end < start || (d.is_static() && end > d.extent()))) {
      return Invalid("slice [", start, ":", end, ":", step, "] out of range for ",
                     ToString(op.operand(0)->type()));
    }
    if (d.is_static()) {
      dims[static_cast<size_t>(axis)] =
          Dim::Static(end == start ? 0 : (end - start - 1) / step + 1);
    } else {
      if (!op.HasAttr("size"))
        return Invalid("a slice along a dim sized by the run needs the symbol `size`");
      ASSIGN_OR_RETURN(dims[static_cast<size_t>(axis)], RunSizedDim(op));
    }
    results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(dims))});
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(auto in, StaticExtents(op.operand(0)));
  if (in.empty()) return Invalid("cannot slice a scalar");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(op.GetInt("axis"), in.size()));
  int64_t start = op.GetInt("start"), end = op.GetInt("end"), step = op.GetInt("step");
  // The frontend normalises Python slice bounds; the IR keeps them explicit.
  if (step <= 0 || start < 0 || end < start || end > in[axis]) {
    return Invalid("slice [", start, ":", end, ":", step, "] out of range for extent ", in[axis]);
  }
  in[axis] = end == start ? 0 : (end - start - 1) / step + 1;
  results->push_back(Make(op.operand(0)->type().dtype, in));
  return absl::OkStatus();
}

absl::Status InferSliceLike(const Operation& op, std::vector<TensorType>* results) {
  const Shape& x = op.operand(0)->type().shape;
  const Shape& like = op.operand(1)->type().shape;
  if (x.rank() == 0 || like.rank() == 0) return Invalid("slice_like of a scalar");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(op.GetInt("axis"), x.rank()));
  ASSIGN_OR_RETURN(int64_t like_axis, NormalizeAxis(op.GetInt("like_axis"), like.rank()));
  const Dim& from = x[static_cast<int>(axis)];
  const Dim& to = like[static_cast<int>(like_axis)];
  if (!from.is_static())
    return Invalid("slice_like of a dim sized by the run: ", ToString(op.operand(0)->type()));
  if (to.is_static() && to.extent() > from.extent()) {
    return Invalid("slice_like of ", to.extent(), " rows from ", ToString(op.operand(0)->type()),
                   " along axis ", axis);
  }
  std::vector<Dim> dims = x.dims();
  dims[static_cast<size_t>(axis)] = to;
  results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(dims))});
  return absl::OkStatus();
}

absl::Status InferExpand(const Operation& op, std::vector<TensorType>* results) {
  ASSIGN_OR_RETURN(auto in, StaticExtents(op.operand(0)));
  const auto& shape = op.GetInts("shape");
  for (int64_t e : shape) {
    if (e < 0) return Invalid("expand target ", Dims(shape), " has a negative extent");
  }
  ASSIGN_OR_RETURN(auto out, BroadcastShapes(in, shape));
  if (out != shape) return Invalid("cannot expand ", Dims(in), " to ", Dims(shape));
  results->push_back(Make(op.operand(0)->type().dtype, out));
  return absl::OkStatus();
}

namespace {
// An axis of a tensor of rank >= 1 for cumsum, gather and sort.
absl::StatusOr<int64_t> AlongAxis(const Operation& op, const std::vector<int64_t>& in) {
  if (in.empty()) return Invalid(std::string(op.name()), " needs a tensor of rank >= 1");
  return NormalizeAxis(op.GetInt("axis"), static_cast<int64_t>(in.size()));
}
bool SortableType(DType t) { return t == DType::kF32 || t == DType::kI64; }
}  // namespace

absl::Status InferCumsum(const Operation& op, std::vector<TensorType>* results) {
  ASSIGN_OR_RETURN(auto in, StaticExtents(op.operand(0)));
  RETURN_IF_ERROR(AlongAxis(op, in).status());
  const DType t = op.operand(0)->type().dtype;
  // The frontend casts other integers and bool to i64, as PyTorch promotes.
  if (!SortableType(t)) return Invalid("cumsum takes f32 or i64, got ", std::string(DTypeName(t)));
  results->push_back(Make(t, in));
  return absl::OkStatus();
}

absl::Status InferGather(const Operation& op, std::vector<TensorType>* results) {
  ASSIGN_OR_RETURN(auto x, StaticExtents(op.operand(0)));
  ASSIGN_OR_RETURN(auto idx, StaticExtents(op.operand(1)));
  ASSIGN_OR_RETURN(int64_t axis, AlongAxis(op, x));
  const DType t = op.operand(0)->type().dtype;
  if (!SortableType(t))
    return Invalid("gather takes f32 or i64 data, got ", std::string(DTypeName(t)));
  if (op.operand(1)->type().dtype != DType::kI64) return Invalid("gather indices must be i64");
  if (idx.size() != x.size())
    return Invalid("gather index ", Dims(idx), " and data ", Dims(x), " differ in rank");
  for (size_t d = 0; d < x.size(); ++d) {
    if (static_cast<int64_t>(d) != axis && idx[d] > x[d])
      return Invalid("gather index ", Dims(idx), " exceeds data ", Dims(x), " in dim ", d);
  }
  results->push_back(Make(t, idx));
  return absl::OkStatus();
}

absl::Status InferGridSample(const Operation& op, std::vector<TensorType>* results) {
  ASSIGN_OR_RETURN(auto x, StaticExtents(op.operand(0)));
  ASSIGN_OR_RETURN(auto g, StaticExtents(op.operand(1)));
  const DType t = op.operand(0)->type().dtype;
  if (!IsFloat(t) || op.operand(1)->type().dtype != t)
    return Invalid("grid_sample takes float data and a grid of the same dtype");
  if (x.size() != 4 || g.size() != 4 || g[3] != 2 || g[0] != x[0]) {
    return Invalid("grid_sample takes x [N,C,H,W] and grid [N,OH,OW,2], got ", Dims(x), " and ",
                   Dims(g));
  }
  const std::string& mode = op.GetStr("mode");
  const std::string& padding = op.GetStr("padding_mode");
  if (mode != "bilinear" && mode != "nearest")
    return Invalid("grid_sample mode '", mode, "': bilinear or nearest");
  if (padding != "zeros" && padding != "border" && padding != "reflection")
    return Invalid("grid_sample padding_mode '", padding, "': zeros, border or reflection");
  results->push_back(Make(t, {x[0], x[1], g[1], g[2]}));
  return absl::OkStatus();
}

absl::Status InferSort(const Operation& op, std::vector<TensorType>* results) {
  ASSIGN_OR_RETURN(auto in, StaticExtents(op.operand(0)));
  ASSIGN_OR_RETURN(int64_t axis, AlongAxis(op, in));
  const DType t = op.operand(0)->type().dtype;
  if (!SortableType(t)) return Invalid("sort takes f32 or i64, got ", std::string(DTypeName(t)));
  const int64_t k = op.GetInt("k");
  if (k < 0 || k > in[axis]) return Invalid("sort k = ", k, " outside [0, ", in[axis], "]");
  in[axis] = k;
  results->push_back(Make(t, in));
  results->push_back(Make(DType::kI64, in));
  return absl::OkStatus();
}

// The sizes the data decides: the leading dimension is the symbol `size`
// names (the frontend makes one per op, so two ops' counts never look alike).
absl::StatusOr<Dim> RunSizedDim(const Operation& op) {
  const std::string& name = op.GetStr("size");
  if (!IsIdentifier(name)) return Invalid("size '", name, "' is not a symbol name");
  return Dim::Symbol(name);
}

// Their operands may be sized by the run too (kRunExtents): dims compare
// as dims, a symbol equal only to itself.
absl::Status InferNonzero(const Operation& op, std::vector<TensorType>* results) {
  const int rank = op.operand(0)->type().shape.rank();
  ASSIGN_OR_RETURN(Dim n, RunSizedDim(op));
  results->push_back(TensorType{DType::kI64, Shape({n, Dim::Static(rank)})});
  return absl::OkStatus();
}

absl::Status InferMaskedSelect(const Operation& op, std::vector<TensorType>* results) {
  const std::vector<Dim>&x = op.operand(0)->type().shape.dims(),
        &mask = op.operand(1)->type().shape.dims();
  ASSIGN_OR_RETURN(Dim n, RunSizedDim(op));
  if (op.operand(1)->type().dtype != DType::kBool)
    return Invalid("masked_select's mask must be bool, got ", ToString(op.operand(1)->type()));
  if (mask.empty() || mask.size() > x.size() || !std::equal(mask.begin(), mask.end(), x.begin())) {
    return Invalid("masked_select's mask ", ToString(op.operand(1)->type().shape),
                   " is not the leading dims of x ", ToString(op.operand(0)->type().shape));
  }
  std::vector<Dim> dims{n};
  dims.insert(dims.end(), x.begin() + static_cast<std::ptrdiff_t>(mask.size()), x.end());
  results->push_back(TensorType{op.operand(0)->type().dtype, Shape(std::move(dims))});
  return absl::OkStatus();
}

absl::Status InferNms(const Operation& op, std::vector<TensorType>* results) {
  const Shape &boxes = op.operand(0)->type().shape, &scores = op.operand(1)->type().shape;
  ASSIGN_OR_RETURN(Dim n, RunSizedDim(op));
  if (op.operand(0)->type().dtype != DType::kF32 || op.operand(1)->type().dtype != DType::kF32 ||
      boxes.rank() != 2 || !(boxes[1] == Dim::Static(4)) || scores.rank() != 1 ||
      !(scores[0] == boxes[0])) {
    return Invalid("nms takes f32 boxes [K,4] and scores [K], got ",
                   ToString(op.operand(0)->type()), " and ", ToString(op.operand(1)->type()));
  }
  results->push_back(TensorType{DType::kI64, Shape({n})});
  return absl::OkStatus();
}

absl::Status InferRoiAlign(const Operation& op, std::vector<TensorType>* results) {
  ASSIGN_OR_RETURN(auto x, StaticExtents(op.operand(0)));
  ASSIGN_OR_RETURN(auto rois, StaticExtents(op.operand(1)));
  if (op.operand(0)->type().dtype != DType::kF32 || op.operand(1)->type().dtype != DType::kF32 ||
      x.size() != 4 || rois.size() != 2 || rois[1] != 5) {
    return Invalid("roi_align takes f32 x [N,C,H,W] and rois [K,5], got ",
                   ToString(op.operand(0)->type()), " and ", ToString(op.operand(1)->type()));
  }
  const int64_t ph = op.GetInt("pooled_height"), pw = op.GetInt("pooled_width");
  if (ph < 1 || pw < 1 || ph > (1 << 16) || pw > (1 << 16))
    return Invalid("roi_align output size ", ph, "x", pw, " outside [1, 65536]");
  results->push_back(Make(DType::kF32, {rois[0], x[1], ph, pw}));
  return absl::OkStatus();
}

// The results are what the compiler recorded: the plugin's segment is opaque
// to sinter, so its types are data, checked here for consistency and by the
// plugin against what it computes at run time.
namespace {

// Results typed by `result_dtypes` and `result_dims` (plugin ops). With
// `data_dependent`, a dimension -(k + 1) is one the run decides (a fallback
// segment's nonzero or nms): the symbol `dk`, unbounded.
absl::Status RecordedResults(const Operation& op, std::vector<TensorType>* results,
                             bool data_dependent = false) {
  const std::vector<std::string> names = absl::StrSplit(op.GetStr("result_dtypes"), ',');
  const std::vector<int64_t>& dims = op.GetInts("result_dims");
  size_t at = 0;
  for (const std::string& name : names) {
    std::optional<DType> t = ParseDType(name);
    if (!t) return Invalid("result_dtypes: unknown dtype '", name, "'");
    if (at >= dims.size() || dims[at] < 0 || dims[at] > 64 ||
        static_cast<size_t>(dims[at]) > dims.size() - at - 1) {
      return Invalid("result_dims does not describe result ", results->size());
    }
    std::vector<Dim> shape;
    for (int64_t d :
         std::vector<int64_t>(dims.begin() + at + 1, dims.begin() + at + 1 + dims[at])) {
      if (d >= 0) {
        shape.push_back(Dim::Static(d));
      } else if (data_dependent && d != INT64_MIN) {
        shape.push_back(Dim::Symbol(absl::StrCat("d", -(d + 1))));
      } else {
        return Invalid("result ", results->size(), " has a negative dimension");
      }
    }
    at += 1 + dims[at];
    results->push_back(TensorType{*t, Shape(std::move(shape))});
  }
  if (at != dims.size()) return Invalid("result_dims has ", dims.size() - at, " extra value(s)");
  return absl::OkStatus();
}

}  // namespace

absl::Status InferPluginSegment(const Operation& op, std::vector<TensorType>* results) {
  const TensorType& payload = op.operand(0)->type();
  if (payload.dtype != DType::kU8 || payload.shape.rank() != 1)
    return Invalid("operand 0 (the plugin's payload) must be u8[n], got ", ToString(payload));
  return RecordedResults(op, results, /*data_dependent=*/true);
}

absl::Status InferPluginOp(const Operation& op, std::vector<TensorType>* results) {
  const std::vector<int64_t>& kinds = op.GetInts("arg_kinds");
  size_t ints = 0, floats = 0;
  for (int64_t k : kinds) {
    if (k < 0 || k > 2) return Invalid("arg_kinds: unknown kind ", k);
    ++(k == 1 ? floats : ints);
  }
  if (ints != op.GetInts("int_args").size() || floats != op.GetFloats("float_args").size())
    return Invalid("arg_kinds does not match int_args and float_args");
  return RecordedResults(op, results);
}

}  // namespace sinter::ir
