// Graph -> text. The grammar is documented in ir/printer.h and read back by
// ir/parser.cc; any change here must keep Print(Parse(Print(g))) == Print(g).
#include "ir/printer.h"

#include <charconv>
#include <cstdio>
#include <unordered_set>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sinter::ir {
namespace {

bool IsIdentStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9') || c == '.'; }

// Numbers tensor payloads in first-use order; one number per shared payload.
class BlobTable {
 public:
  int Id(const TensorData* data) {
    auto [it, inserted] = ids_.try_emplace(data, static_cast<int>(order_.size()));
    if (inserted) order_.push_back(data);
    return it->second;
  }
  const std::vector<const TensorData*>& order() const { return order_; }

 private:
  absl::flat_hash_map<const TensorData*, int> ids_;
  std::vector<const TensorData*> order_;
};

void AppendInts(std::string* out, const std::vector<int64_t>& v) {
  out->push_back('[');
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(out, i ? ", " : "", v[i]);
  out->push_back(']');
}

void AppendFloats(std::string* out, const std::vector<double>& v) {
  out->push_back('[');
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(out, i ? ", " : "", FormatFloat(v[i]));
  out->push_back(']');
}

// A rank-0 constant as its value (`value = 0.125`, `true`, `-3`), which the
// parser turns back into the same bytes for the const's result type; false for
// payloads a literal cannot carry exactly (NaN payloads, f16/bf16).
bool AppendScalarLiteral(std::string* out, const TensorData& d) {
  if (d.type().shape.rank() != 0) return false;
  switch (d.type().dtype) {
    case DType::kF32: {
      const float v = *d.data<float>();
      if (v != v) return false;
      out->append(FormatFloat(v));
      return true;
    }
    case DType::kF64: {
      const double v = *d.data<double>();
      if (v != v) return false;
      out->append(FormatFloat(v));
      return true;
    }
    case DType::kI64:
      absl::StrAppend(out, *d.data<int64_t>());
      return true;
    case DType::kI32:
      absl::StrAppend(out, *d.data<int32_t>());
      return true;
    case DType::kI8:
      absl::StrAppend(out, static_cast<int>(*d.data<int8_t>()));
      return true;
    case DType::kU8:
      absl::StrAppend(out, static_cast<int>(*d.data<uint8_t>()));
      return true;
    case DType::kBool:
      if (*d.data<uint8_t>() > 1) return false;
      out->append(*d.data<uint8_t>() ? "true" : "false");
      return true;
    case DType::kF16:
    case DType::kBF16:
      return false;
  }
  return false;
}

void AppendAttr(std::string* out, const Attribute& attr, const PrintOptions& opts,
                BlobTable* blobs) {
  switch (KindOf(attr)) {
    case AttrKind::kInt:
      absl::StrAppend(out, std::get<int64_t>(attr));
      return;
    case AttrKind::kFloat:
      out->append(FormatFloat(std::get<double>(attr)));
      return;
    case AttrKind::kBool:
      out->append(std::get<bool>(attr) ? "true" : "false");
      return;
    case AttrKind::kStr:
      out->append(QuoteString(std::get<std::string>(attr)));
      return;
    case AttrKind::kInts:
      AppendInts(out, std::get<std::vector<int64_t>>(attr));
      return;
    case AttrKind::kFloats:
      AppendFloats(out, std::get<std::vector<double>>(attr));
      return;
    case AttrKind::kTensor: {
      const TensorDataPtr& data = std::get<TensorDataPtr>(attr);
      if (data && AppendScalarLiteral(out, *data)) return;
      if (opts.elide_constants) {
        out->append("#elided");
      } else if (!data) {
        out->append("#null");  // Not parseable; the verifier rejects such a graph.
      } else {
        absl::StrAppend(out, "#", blobs->Id(data.get()));
      }
      return;
    }
  }
}

void AppendHex(std::string* out, const std::vector<uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  out->append("0x");
  out->reserve(out->size() + 2 * bytes.size());
  for (uint8_t b : bytes) {
    out->push_back(kDigits[b >> 4]);
    out->push_back(kDigits[b & 15]);
  }
}

}  // namespace

bool IsIdentifier(std::string_view s) {
  if (s.empty() || !IsIdentStart(s[0])) return false;
  for (char c : s) {
    if (!IsIdentChar(c)) return false;
  }
  return true;
}

std::string FormatFloat(double v) {
  // std::to_chars with a precision is printf's %.17g in the "C" locale, which
  // is what we want: 17 significant digits read back to the same double.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, 17);
  std::string s(buf, ec == std::errc() ? end : buf);
  if (s.find_first_of(".e") == std::string::npos && s.find("inf") == std::string::npos &&
      s.find("nan") == std::string::npos) {
    s += ".0";
  }
  return s;
}

std::string QuoteString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02X", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

ValueNamer::ValueNamer(const Graph& g) {
  const auto& inputs = g.inputs();
  std::vector<std::string> names(inputs.size());
  std::unordered_set<std::string> taken;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string& name = inputs[i]->name();
    if (IsIdentifier(name) && taken.insert(name).second) names[i] = name;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!names[i].empty()) continue;
    std::string name = absl::StrCat("arg", i);
    for (int k = 1; !taken.insert(name).second; ++k) name = absl::StrCat("arg", i, "_", k);
    names[i] = name;
  }
  for (size_t i = 0; i < inputs.size(); ++i) names_[inputs[i].get()] = "%" + names[i];
  int64_t next = 0;
  for (const auto& op : g.ops()) {
    for (int i = 0; i < op->num_results(); ++i) names_[op->result(i)] = absl::StrCat("%", next++);
  }
}

std::string ValueNamer::Name(const Value* v) const {
  if (v == nullptr) return "%<null>";
  auto it = names_.find(v);
  return it == names_.end() ? "%<unknown>" : it->second;
}

std::string ValueNamer::OpHeader(const Operation& op) const {
  std::string out;
  for (int i = 0; i < op.num_results(); ++i)
    absl::StrAppend(&out, i ? ", " : "", Name(op.result(i)));
  absl::StrAppend(&out, op.num_results() ? " = " : "", std::string(op.name()));
  return out;
}

namespace {

void PrintOps(const Graph& g, int indent, const PrintOptions& opts, BlobTable* blobs,
              std::string* out);

// `name(%a: f32[], ...) {` ops `yield %v` `}`: one region, its ops one level
// deeper. The region has its own names (it is isolated from above).
void PrintRegion(const Region& r, int indent, const PrintOptions& opts, BlobTable* blobs,
                 std::string* out) {
  const Graph& body = *r.body;
  ValueNamer namer(body);
  absl::StrAppend(out, r.name, "(");
  for (size_t i = 0; i < body.inputs().size(); ++i) {
    const Value* in = body.inputs()[i].get();
    absl::StrAppend(out, i ? ", " : "", namer.Name(in), ": ", ToString(in->type()));
  }
  *out += ") {\n";
  PrintOps(body, indent + 2, opts, blobs, out);
  absl::StrAppend(out, std::string(indent + 2, ' '), "yield");
  for (size_t i = 0; i < body.outputs().size(); ++i)
    absl::StrAppend(out, i ? ", " : " ", namer.Name(body.outputs()[i]));
  absl::StrAppend(out, "\n", std::string(indent, ' '), "}");
}

void PrintOps(const Graph& g, int indent, const PrintOptions& opts, BlobTable* blobs,
              std::string* out) {
  ValueNamer namer(g);
  const std::string pad(indent, ' ');
  for (const auto& op : g.ops()) {
    absl::StrAppend(out, pad, namer.OpHeader(*op), "(");
    for (int i = 0; i < op->num_operands(); ++i) {
      absl::StrAppend(out, i ? ", " : "", namer.Name(op->operand(i)));
    }
    *out += ")";
    if (!op->attrs().empty()) {
      *out += " {";
      bool first = true;
      for (const auto& [name, attr] : op->attrs()) {
        absl::StrAppend(out, first ? "" : ", ", name, " = ");
        AppendAttr(out, attr, opts, blobs);
        first = false;
      }
      *out += "}";
    }
    *out += " : ";
    if (op->num_results() == 1) {
      *out += ToString(op->result(0)->type());
    } else {
      *out += "(";
      for (int i = 0; i < op->num_results(); ++i) {
        absl::StrAppend(out, i ? ", " : "", ToString(op->result(i)->type()));
      }
      *out += ")";
    }
    if (!op->loc().empty()) absl::StrAppend(out, " loc(", QuoteString(op->loc()), ")");
    // Regions follow the op, the next one starting on the line that closes
    // the previous: `} epilogue(...) {`.
    for (const Region& r : op->regions()) {
      *out += " ";
      PrintRegion(r, indent, opts, blobs, out);
    }
    *out += "\n";
  }
}

}  // namespace

std::string Print(const Graph& g, const PrintOptions& opts) {
  ValueNamer namer(g);
  BlobTable blobs;
  std::string out = "graph @main(";
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const Value* in = g.inputs()[i].get();
    absl::StrAppend(&out, i ? ", " : "", namer.Name(in), ": ", ToString(in->type()));
  }
  out += ") {\n";
  PrintOps(g, 2, opts, &blobs, &out);
  out += "  return";
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    absl::StrAppend(&out, i ? ", " : " ", namer.Name(g.outputs()[i]));
    // The names callers see (the C API's), when the graph has them.
    if (i < g.output_names().size())
      absl::StrAppend(&out, " as ", QuoteString(g.output_names()[i]));
  }
  out += "\n}\n";
  if (!opts.elide_constants && !blobs.order().empty()) {
    out += "blobs {\n";
    for (size_t i = 0; i < blobs.order().size(); ++i) {
      absl::StrAppend(&out, "  #", i, " = ");
      AppendHex(&out, blobs.order()[i]->bytes());
      out += "\n";
    }
    out += "}\n";
  }
  return out;
}

}  // namespace sinter::ir
