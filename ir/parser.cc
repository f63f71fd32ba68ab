// Text -> graph, in three steps: lex the whole text into tokens, parse the
// graph body (and the regions of its ops, recursively) and the blobs section
// into plain records, then build the graph through ir::Builder (a const needs
// its blob, which comes after the body; an op needs its regions built first,
// each in a scope of its own names).
//
// The text is untrusted: every index is checked, numbers go through
// std::from_chars (no exceptions, no locale), and every error carries the
// line and column of the token it is about.
#include "ir/parser.h"

#include <charconv>
#include <climits>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ir/printer.h"
#include "ir/status_macros.h"

namespace sinter::ir {
namespace {

// ---------------------------------------------------------------------------
// Lexer.

enum class Tok {
  kEof,
  kIdent,   // graph, return, conv2d, f32, true, inf, loc, blobs
  kValue,   // %x, %12 (text without the '%')
  kBlob,    // #0, #elided (text without the '#')
  kAt,      // @main (text without the '@')
  kInt,     // -12
  kFloat,   // 1.5, -1e-05, -inf, nan
  kString,  // "..." (text is the decoded string)
  kHex,     // 0x00FF (hex is the digits)
  kPunct,   // ( ) { } [ ] , : = ? * +
  kError,   // a lexing error (text is the positioned message); always last
};

struct Token {
  Tok kind = Tok::kEof;
  std::string text;
  std::string_view hex;  // kHex: a view of the source, which may be large
  int64_t int_value = 0;
  double float_value = 0;
  int64_t line = 0;
  int64_t col = 0;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsIdentStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c) || c == '.'; }
bool IsPunct(char c) {
  switch (c) {
    case '(':
    case ')':
    case '*':
    case '+':
    case '{':
    case '}':
    case '[':
    case ']':
    case ',':
    case ':':
    case '=':
    case '?':
      return true;
    default:
      return false;
  }
}

std::string Describe(char c) {
  if (c >= 0x20 && c < 0x7f) return absl::StrCat("'", std::string(1, c), "'");
  return absl::StrFormat("byte 0x%02X", static_cast<unsigned char>(c));
}

std::string Describe(const Token& t) {
  switch (t.kind) {
    case Tok::kEof:
      return "end of input";
    case Tok::kIdent:
      return absl::StrCat("'", t.text, "'");
    case Tok::kValue:
      return absl::StrCat("'%", t.text, "'");
    case Tok::kBlob:
      return absl::StrCat("'#", t.text, "'");
    case Tok::kAt:
      return absl::StrCat("'@", t.text, "'");
    case Tok::kInt:
    case Tok::kFloat:
      return absl::StrCat("number ", t.text);
    case Tok::kString:
      return "a string";
    case Tok::kHex:
      return "hex data";
    case Tok::kPunct:
      return absl::StrCat("'", t.text, "'");
    case Tok::kError:
      return "an invalid token";
  }
  return "?";
}

absl::Status ErrorAt(int64_t line, int64_t col, const std::string& msg) {
  return absl::InvalidArgumentError(absl::StrCat(line, ":", col, ": ", msg));
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  // Lexes up to the end or the first bad token, which becomes a kError token:
  // the parser reports it only if it gets there, so an earlier syntax error
  // is still the one reported.
  void Run(std::vector<Token>* out) {
    while (true) {
      SkipSpace();
      Token t;
      t.line = line_;
      t.col = col_;
      if (AtEnd()) {
        out->push_back(std::move(t));
        return;
      }
      if (absl::Status st = Lex(&t); !st.ok()) {
        t.kind = Tok::kError;
        t.text = std::string(st.message());
        out->push_back(std::move(t));
        return;
      }
      out->push_back(std::move(t));
    }
  }

 private:
  bool AtEnd(size_t k = 0) const { return pos_ + k >= src_.size(); }
  // The byte k ahead, or '\0' past the end ('\0' continues no token).
  char Peek(size_t k = 0) const { return AtEnd(k) ? '\0' : src_[pos_ + k]; }
  void Advance() {
    if (src_[pos_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++pos_;
  }
  absl::Status Error(const std::string& msg) const { return ErrorAt(line_, col_, msg); }

  void SkipSpace() {
    while (!AtEnd()) {
      char c = Peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        Advance();
      } else if (c == '/' && Peek(1) == '/') {
        while (!AtEnd() && Peek() != '\n') Advance();
      } else {
        break;
      }
    }
  }

  std::string ReadWhile(bool (*pred)(char)) {
    size_t start = pos_;
    while (!AtEnd() && pred(Peek())) Advance();
    return std::string(src_.substr(start, pos_ - start));
  }

  absl::Status Lex(Token* t) {
    char c = Peek();
    if (c == '%') {
      Advance();
      t->kind = Tok::kValue;
      t->text = ReadWhile(IsIdentChar);
      if (t->text.empty()) return Error("expected a value name after '%'");
      bool number = true;
      for (char d : t->text) number &= IsDigit(d);
      if (!number && !IsIdentifier(t->text)) {
        return ErrorAt(t->line, t->col, absl::StrCat("invalid value name '%", t->text, "'"));
      }
      return absl::OkStatus();
    }
    if (c == '#') {
      Advance();
      t->kind = Tok::kBlob;
      t->text = ReadWhile([](char d) { return IsIdentStart(d) || IsDigit(d); });
      if (t->text.empty()) return Error("expected a blob number after '#'");
      return absl::OkStatus();
    }
    if (c == '@') {
      Advance();
      t->kind = Tok::kAt;
      t->text = ReadWhile(IsIdentChar);
      if (!IsIdentifier(t->text)) return Error("expected a graph name after '@'");
      return absl::OkStatus();
    }
    if (c == '"') return LexString(t);
    if (IsDigit(c) || (c == '-' && (IsDigit(Peek(1)) || IsIdentStart(Peek(1))))) {
      return LexNumber(t);
    }
    if (IsIdentStart(c)) {
      t->kind = Tok::kIdent;
      t->text = ReadWhile(IsIdentChar);
      return absl::OkStatus();
    }
    if (IsPunct(c)) {
      t->kind = Tok::kPunct;
      t->text = std::string(1, c);
      Advance();
      return absl::OkStatus();
    }
    return Error(absl::StrCat("unexpected ", Describe(c)));
  }

  absl::Status LexString(Token* t) {
    t->kind = Tok::kString;
    Advance();  // opening quote
    while (true) {
      if (AtEnd() || Peek() == '\n') {
        return ErrorAt(t->line, t->col, "unterminated string");
      }
      char c = Peek();
      if (c == '"') {
        Advance();
        return absl::OkStatus();
      }
      if (c != '\\') {
        t->text.push_back(c);
        Advance();
        continue;
      }
      Advance();
      char e = Peek();
      switch (AtEnd() ? '\0' : e) {
        case '"':
        case '\\':
          t->text.push_back(e);
          break;
        case 'n':
          t->text.push_back('\n');
          break;
        case 't':
          t->text.push_back('\t');
          break;
        case 'r':
          t->text.push_back('\r');
          break;
        case 'x': {
          if (!IsHexDigit(Peek(1)) || !IsHexDigit(Peek(2))) {
            return Error("expected two hex digits after '\\x'");
          }
          int v = 0;
          std::from_chars(src_.data() + pos_ + 1, src_.data() + pos_ + 3, v, 16);
          t->text.push_back(static_cast<char>(v));
          Advance();
          Advance();
          break;
        }
        default:
          return Error("unknown escape in string (expected \\\" \\\\ \\n \\t \\r or \\xHH)");
      }
      Advance();
    }
  }

  absl::Status LexNumber(Token* t) {
    size_t start = pos_;
    bool neg = Peek() == '-';
    if (!neg && Peek() == '0' && (Peek(1) == 'x' || Peek(1) == 'X')) {
      Advance();
      Advance();
      t->kind = Tok::kHex;
      size_t digits = pos_;
      while (!AtEnd() && IsHexDigit(Peek())) Advance();
      t->hex = src_.substr(digits, pos_ - digits);
      if (IsIdentChar(Peek())) return Error(absl::StrCat("invalid hex digit ", Describe(Peek())));
      return absl::OkStatus();
    }
    if (neg) Advance();
    if (IsIdentStart(Peek())) {  // -inf, -nan
      std::string word = ReadWhile(IsIdentChar);
      if (word != "inf" && word != "nan") {
        return ErrorAt(t->line, t->col,
                       absl::StrCat("expected a number after '-', found '", word, "'"));
      }
      t->kind = Tok::kFloat;
      t->text = "-" + word;
      return ParseFloat(t);
    }
    bool is_float = false;
    while (IsDigit(Peek())) Advance();
    if (Peek() == '.') {
      is_float = true;
      Advance();
      while (IsDigit(Peek())) Advance();
    }
    if (Peek() == 'e' || Peek() == 'E') {
      is_float = true;
      Advance();
      if (Peek() == '+' || Peek() == '-') Advance();
      if (!IsDigit(Peek())) return Error("expected exponent digits");
      while (IsDigit(Peek())) Advance();
    }
    if (IsIdentChar(Peek())) {
      return Error(absl::StrCat("unexpected ", Describe(Peek()), " in number"));
    }
    t->text = std::string(src_.substr(start, pos_ - start));
    if (is_float) {
      t->kind = Tok::kFloat;
      return ParseFloat(t);
    }
    t->kind = Tok::kInt;
    const char* first = t->text.data();
    const char* last = first + t->text.size();
    auto [end, ec] = std::from_chars(first, last, t->int_value);
    if (ec != std::errc() || end != last) {
      return ErrorAt(t->line, t->col, absl::StrCat("integer ", t->text, " out of range"));
    }
    return absl::OkStatus();
  }

  absl::Status ParseFloat(Token* t) {
    const char* first = t->text.data();
    const char* last = first + t->text.size();
    auto [end, ec] = std::from_chars(first, last, t->float_value, std::chars_format::general);
    // Subnormals parse fine; out of range means overflow or underflow to zero,
    // which no printed double produces.
    if (ec != std::errc() || end != last) {
      return ErrorAt(t->line, t->col,
                     absl::StrCat("number ", t->text, " is out of range for a double"));
    }
    return absl::OkStatus();
  }

  std::string_view src_;
  size_t pos_ = 0;
  int64_t line_ = 1;
  int64_t col_ = 1;
};

// ---------------------------------------------------------------------------
// Parsed records, before the graph is built.

struct ParsedAttr {
  const Token* name = nullptr;
  const Token* at = nullptr;  // the value's first token
  Attribute value;
  bool empty_list = false;          // `[]`: kind from the schema
  bool int_spelling = false;        // int or all-int list: may widen to float(s)
  std::optional<std::string> blob;  // `#N`
};

struct ParsedType {
  const Token* at = nullptr;
  TensorType type;
};

struct ParsedOp;

// A graph body: the top level, or an op's region.
struct ParsedBlock {
  const Token* name = nullptr;  // a region's name; null at the top level
  std::vector<std::pair<const Token*, ParsedType>> inputs;
  std::vector<ParsedOp> ops;
  std::vector<const Token*> outputs;
  std::vector<const Token*> output_names;  // `return %v as "name"`, top level only
};

struct ParsedOp {
  std::vector<const Token*> results;
  const Token* name = nullptr;
  OpKind kind = OpKind::kConst;
  std::vector<const Token*> operands;
  std::vector<ParsedAttr> attrs;
  const Token* types_at = nullptr;
  std::vector<ParsedType> types;
  std::string loc;
  std::vector<ParsedBlock> regions;
};

// Regions nest (an op in a body may have regions of its own); the parser
// recurses, so hostile text is stopped at this depth.
constexpr int kMaxRegionDepth = 16;

struct ParsedBlob {
  const Token* at = nullptr;
  std::vector<uint8_t> bytes;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : toks_(std::move(toks)) {}

  absl::StatusOr<std::unique_ptr<Graph>> Run() {
    RETURN_IF_ERROR(ParseGraph());
    RETURN_IF_ERROR(ParseBlobs());
    if (Cur().kind != Tok::kEof) return Expected("end of input");
    return Build();
  }

 private:
  // ----- token helpers
  const Token& Cur() const { return toks_[p_]; }
  const Token* Take() {
    const Token* t = &toks_[p_];
    if (t->kind != Tok::kEof && t->kind != Tok::kError) ++p_;
    return t;
  }
  bool AtPunct(char c) const {
    return Cur().kind == Tok::kPunct && Cur().text.size() == 1 && Cur().text[0] == c;
  }
  bool AtKeyword(std::string_view kw) const {
    return Cur().kind == Tok::kIdent && Cur().text == kw;
  }
  absl::Status Error(const Token& t, const std::string& msg) const {
    return ErrorAt(t.line, t.col, msg);
  }
  absl::Status Expected(const std::string& what) const {
    if (Cur().kind == Tok::kError) return absl::InvalidArgumentError(Cur().text);
    return Error(Cur(), absl::StrCat("expected ", what, ", found ", Describe(Cur())));
  }
  absl::Status ExpectPunct(char c, const std::string& context) {
    if (!AtPunct(c)) return Expected(absl::StrCat("'", std::string(1, c), "' ", context));
    Take();
    return absl::OkStatus();
  }

  // ----- grammar
  // graph @name ( inputs ) { ops return values } [blobs { ... }]
  absl::Status ParseGraph() {
    if (!AtKeyword("graph")) return Expected("'graph'");
    Take();
    if (Cur().kind != Tok::kAt) return Expected("a graph name like @main");
    Take();
    RETURN_IF_ERROR(ExpectPunct('(', "before graph inputs"));
    RETURN_IF_ERROR(ParseArguments(&top_, "an input name like %x", "after graph inputs"));
    RETURN_IF_ERROR(ExpectPunct('{', "to open the graph body"));
    return ParseBody(&top_, "return", 0);
  }

  // %a: type, %b: type ... )
  absl::Status ParseArguments(ParsedBlock* block, const char* what, const char* after) {
    if (!AtPunct(')')) {
      while (true) {
        if (Cur().kind != Tok::kValue) return Expected(what);
        const Token* name = Take();
        RETURN_IF_ERROR(ExpectPunct(':', "after an argument name"));
        ParsedType type;
        RETURN_IF_ERROR(ParseType(&type));
        block->inputs.push_back({name, std::move(type)});
        if (!AtPunct(',')) break;
        Take();
      }
    }
    return ExpectPunct(')', after);
  }

  // ops, then `terminator` values, then '}'.
  absl::Status ParseBody(ParsedBlock* block, const char* terminator, int depth) {
    while (!AtKeyword(terminator)) {
      if (Cur().kind != Tok::kValue && Cur().kind != Tok::kIdent) {
        return Expected(absl::StrCat("an op or '", terminator, "'"));
      }
      ParsedOp op;
      RETURN_IF_ERROR(ParseOp(&op, depth));
      block->ops.push_back(std::move(op));
    }
    Take();  // return / yield
    if (Cur().kind == Tok::kValue) {
      while (true) {
        if (Cur().kind != Tok::kValue) return Expected("a value after ','");
        block->outputs.push_back(Take());
        if (depth == 0 && AtKeyword("as")) {
          Take();
          if (Cur().kind != Tok::kString) return Expected("an output name (a string) after 'as'");
          block->output_names.push_back(Take());
        }
        if (!AtPunct(',')) break;
        Take();
      }
    }
    return ExpectPunct('}', block->name ? "to close the region" : "to close the graph body");
  }

  // %a, %b = name(%x, %y) {attrs} : types loc("...") region(%a: t, ...) { ... }
  absl::Status ParseOp(ParsedOp* op, int depth) {
    if (Cur().kind == Tok::kValue) {
      while (true) {
        if (Cur().kind != Tok::kValue) return Expected("a result name after ','");
        op->results.push_back(Take());
        if (!AtPunct(',')) break;
        Take();
      }
      RETURN_IF_ERROR(ExpectPunct('=', "after result names"));
    }
    if (Cur().kind != Tok::kIdent) return Expected("an op name");
    op->name = Take();
    std::optional<OpKind> kind = LookupOp(op->name->text);
    if (!kind) return Error(*op->name, absl::StrCat("unknown op '", op->name->text, "'"));
    op->kind = *kind;
    RETURN_IF_ERROR(ExpectPunct('(', "after op name"));
    if (!AtPunct(')')) {
      while (true) {
        if (Cur().kind != Tok::kValue) return Expected("an operand like %x");
        op->operands.push_back(Take());
        if (!AtPunct(',')) break;
        Take();
      }
    }
    RETURN_IF_ERROR(ExpectPunct(')', "after operands"));
    if (AtPunct('{')) {
      Take();
      if (!AtPunct('}')) {
        while (true) {
          ParsedAttr attr;
          RETURN_IF_ERROR(ParseAttr(&attr));
          op->attrs.push_back(std::move(attr));
          if (!AtPunct(',')) break;
          Take();
        }
      }
      RETURN_IF_ERROR(ExpectPunct('}', "after attributes"));
    }
    RETURN_IF_ERROR(ExpectPunct(':', "before result types"));
    op->types_at = &Cur();
    if (AtPunct('(')) {
      Take();
      if (!AtPunct(')')) {
        while (true) {
          ParsedType type;
          RETURN_IF_ERROR(ParseType(&type));
          op->types.push_back(std::move(type));
          if (!AtPunct(',')) break;
          Take();
        }
      }
      RETURN_IF_ERROR(ExpectPunct(')', "after result types"));
    } else {
      ParsedType type;
      RETURN_IF_ERROR(ParseType(&type));
      op->types.push_back(std::move(type));
    }
    if (AtKeyword("loc")) {
      Take();
      RETURN_IF_ERROR(ExpectPunct('(', "after 'loc'"));
      if (Cur().kind != Tok::kString) return Expected("a string location");
      op->loc = Take()->text;
      RETURN_IF_ERROR(ExpectPunct(')', "after location"));
    }
    // Regions: names of the op's schema, so the next op (which starts with a
    // value or an op name, never a region name) is not mistaken for one.
    const format::OpSchema& schema = *GetOpInfo(op->kind).schema;
    while (Cur().kind == Tok::kIdent && schema.FindRegion(Cur().text) != nullptr) {
      if (depth >= kMaxRegionDepth) {
        return Error(Cur(), absl::StrCat("regions nested deeper than ", kMaxRegionDepth));
      }
      ParsedBlock region;
      region.name = Take();
      RETURN_IF_ERROR(ExpectPunct('(', "after the region name"));
      RETURN_IF_ERROR(
          ParseArguments(&region, "an argument like %arg0", "after the region's arguments"));
      RETURN_IF_ERROR(ExpectPunct('{', "to open the region"));
      RETURN_IF_ERROR(ParseBody(&region, "yield", depth + 1));
      op->regions.push_back(std::move(region));
    }
    return absl::OkStatus();
  }

  // f32[1,3,?N]
  absl::Status ParseType(ParsedType* out) {
    out->at = &Cur();
    if (Cur().kind != Tok::kIdent) return Expected("a type like f32[1,3]");
    std::optional<DType> dtype = ParseDType(Cur().text);
    if (!dtype) return Error(Cur(), absl::StrCat("unknown dtype '", Cur().text, "'"));
    Take();
    RETURN_IF_ERROR(ExpectPunct('[', "after dtype"));
    std::vector<Dim> dims;
    if (!AtPunct(']')) {
      while (true) {
        if (Cur().kind == Tok::kInt) {
          if (Cur().int_value < 0) return Error(Cur(), "dimension must not be negative");
          dims.push_back(Dim::Static(Take()->int_value));
        } else if (AtPunct('?')) {
          Take();
          if (Cur().kind != Tok::kIdent || !IsIdentifier(Cur().text)) {
            return Expected("a symbol name after '?'");
          }
          std::string name = Take()->text;
          int64_t scale = 1;
          if (AtPunct('*')) {  // `?seq*2`
            Take();
            if (Cur().kind != Tok::kInt || Cur().int_value < 1)
              return Expected("a positive multiple after '*'");
            scale = Take()->int_value;
          }
          int64_t offset = 0;
          if (AtPunct('+')) {  // `?seq+1`
            Take();
            if (Cur().kind != Tok::kInt || Cur().int_value < 0)
              return Expected("a number after '+'");
            offset = Take()->int_value;
          } else if (Cur().kind == Tok::kInt && Cur().int_value < 0) {  // `?seq-1`
            offset = Take()->int_value;
          }
          dims.push_back(Dim::Symbol(std::move(name), scale, offset));
        } else {
          return Expected("a dimension");
        }
        if (!AtPunct(',')) break;
        Take();
      }
    }
    RETURN_IF_ERROR(ExpectPunct(']', "after dimensions"));
    out->type = TensorType{*dtype, Shape(std::move(dims))};
    // Shape rules and codegen multiply extents; refuse sizes that overflow.
    if (out->type.shape.is_static() && !out->type.ByteSize()) {
      return Error(*out->at, absl::StrCat("type ", ToString(out->type), " is too large"));
    }
    return absl::OkStatus();
  }

  absl::Status ParseAttr(ParsedAttr* attr) {
    if (Cur().kind != Tok::kIdent) return Expected("an attribute name");
    attr->name = Take();
    RETURN_IF_ERROR(ExpectPunct('=', "after attribute name"));
    attr->at = &Cur();
    const Token& t = Cur();
    switch (t.kind) {
      case Tok::kInt:
        attr->value = t.int_value;
        attr->int_spelling = true;
        Take();
        return absl::OkStatus();
      case Tok::kFloat:
        attr->value = t.float_value;
        Take();
        return absl::OkStatus();
      case Tok::kString:
        attr->value = t.text;
        Take();
        return absl::OkStatus();
      case Tok::kBlob:
        if (t.text == "elided") {
          return Error(t, "constant data was elided when printing; it cannot be parsed back");
        }
        attr->blob = t.text;
        attr->value = TensorDataPtr();
        Take();
        return absl::OkStatus();
      case Tok::kIdent:
        if (t.text == "true" || t.text == "false") {
          attr->value = t.text == "true";
          Take();
          return absl::OkStatus();
        }
        if (t.text == "inf" || t.text == "nan") {
          attr->value = FloatWord(t.text);
          Take();
          return absl::OkStatus();
        }
        break;
      case Tok::kPunct:
        if (AtPunct('[')) return ParseList(attr);
        break;
      default:
        break;
    }
    return Expected("an attribute value");
  }

  static double FloatWord(std::string_view w) {
    double v = 0;
    std::from_chars(w.data(), w.data() + w.size(), v, std::chars_format::general);
    return v;
  }

  absl::Status ParseList(ParsedAttr* attr) {
    Take();  // [
    std::vector<int64_t> ints;
    std::vector<double> floats;
    bool any_float = false;
    if (!AtPunct(']')) {
      while (true) {
        const Token& t = Cur();
        if (t.kind == Tok::kInt) {
          ints.push_back(t.int_value);
          floats.push_back(static_cast<double>(t.int_value));
        } else if (t.kind == Tok::kFloat) {
          any_float = true;
          floats.push_back(t.float_value);
        } else if (t.kind == Tok::kIdent && (t.text == "inf" || t.text == "nan")) {
          any_float = true;
          floats.push_back(FloatWord(t.text));
        } else {
          return Expected("a number in the list");
        }
        Take();
        if (!AtPunct(',')) break;
        Take();
      }
    }
    RETURN_IF_ERROR(ExpectPunct(']', "to close the list"));
    attr->empty_list = floats.empty();
    attr->int_spelling = !any_float;
    if (any_float) {
      attr->value = std::move(floats);
    } else {
      attr->value = std::move(ints);
    }
    return absl::OkStatus();
  }

  // blobs { #0 = 0x... }
  absl::Status ParseBlobs() {
    if (!AtKeyword("blobs")) return absl::OkStatus();
    Take();
    RETURN_IF_ERROR(ExpectPunct('{', "after 'blobs'"));
    while (!AtPunct('}')) {
      if (Cur().kind != Tok::kBlob) return Expected("a blob like #0 or '}'");
      const Token* id = Take();
      if (blobs_.count(id->text)) {
        return Error(*id, absl::StrCat("redefinition of blob #", id->text));
      }
      RETURN_IF_ERROR(ExpectPunct('=', "after blob name"));
      if (Cur().kind != Tok::kHex) return Expected("hex data like 0x0000803F");
      const Token* hex = Take();
      if (hex->hex.size() % 2 != 0) return Error(*hex, "odd number of hex digits");
      ParsedBlob blob{id, std::vector<uint8_t>(hex->hex.size() / 2)};
      for (size_t i = 0; i < blob.bytes.size(); ++i) {
        const char* d = hex->hex.data() + 2 * i;
        std::from_chars(d, d + 2, blob.bytes[i], 16);
      }
      blobs_.emplace(id->text, std::move(blob));
    }
    Take();  // }
    return absl::OkStatus();
  }

  // ----- building
  absl::Status Define(const Token& name, Value* v) {
    auto [it, inserted] = values_.try_emplace(name.text, v, &name);
    if (!inserted) {
      return Error(name, absl::StrCat("redefinition of %", name.text, " (first defined at ",
                                      it->second.second->line, ":", it->second.second->col, ")"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Value*> Lookup(const Token& name) const {
    auto it = values_.find(name.text);
    if (it == values_.end()) return Error(name, absl::StrCat("undefined value %", name.text));
    return it->second.first;
  }

  // `value = 0.125` on a const of a rank-0 type: the payload of that type
  // (the printer's form of rank-0 constants).
  absl::Status ScalarLiteral(const ParsedOp& op, ParsedAttr& attr) const {
    if (op.kind != OpKind::kConst || op.types.size() != 1 || op.types[0].type.shape.rank() != 0) {
      return Error(*attr.at, "a tensor attribute written as a number needs a const of rank 0");
    }
    const DType dtype = op.types[0].type.dtype;
    const AttrKind kind = KindOf(attr.value);
    std::vector<uint8_t> bytes(static_cast<size_t>(DTypeSize(dtype)));
    auto put = [&](auto v) { std::memcpy(bytes.data(), &v, sizeof v); };
    auto integer = [&](int64_t lo, int64_t hi) -> absl::StatusOr<int64_t> {
      if (kind != AttrKind::kInt) return Error(*attr.at, "expected an integer");
      const int64_t v = std::get<int64_t>(attr.value);
      if (v < lo || v > hi)
        return Error(*attr.at,
                     absl::StrCat(v, " is out of range for ", std::string(DTypeName(dtype))));
      return v;
    };
    switch (dtype) {
      case DType::kF32:
      case DType::kF64: {
        double v;
        if (kind == AttrKind::kFloat) {
          v = std::get<double>(attr.value);
        } else if (kind == AttrKind::kInt) {
          v = static_cast<double>(std::get<int64_t>(attr.value));
        } else {
          return Error(*attr.at, "expected a number");
        }
        if (dtype == DType::kF32) {
          put(static_cast<float>(v));
        } else {
          put(v);
        }
        break;
      }
      case DType::kI64: {
        ASSIGN_OR_RETURN(int64_t v, integer(INT64_MIN, INT64_MAX));
        put(v);
        break;
      }
      case DType::kI32: {
        ASSIGN_OR_RETURN(int64_t v, integer(INT32_MIN, INT32_MAX));
        put(static_cast<int32_t>(v));
        break;
      }
      case DType::kI8: {
        ASSIGN_OR_RETURN(int64_t v, integer(INT8_MIN, INT8_MAX));
        put(static_cast<int8_t>(v));
        break;
      }
      case DType::kU8: {
        ASSIGN_OR_RETURN(int64_t v, integer(0, UINT8_MAX));
        put(static_cast<uint8_t>(v));
        break;
      }
      case DType::kBool:
        if (kind != AttrKind::kBool) return Error(*attr.at, "expected true or false");
        put(static_cast<uint8_t>(std::get<bool>(attr.value)));
        break;
      case DType::kF16:
      case DType::kBF16:
        return Error(*attr.at,
                     absl::StrCat("a ", std::string(DTypeName(dtype)), " constant needs a blob"));
    }
    attr.value = std::make_shared<const TensorData>(op.types[0].type, std::move(bytes));
    return absl::OkStatus();
  }

  // Resolves kinds against the schema and blob references against the blobs.
  absl::Status ResolveAttr(const ParsedOp& op, ParsedAttr& attr, AttributeMap* attrs) {
    const OpInfo& info = GetOpInfo(op.kind);
    std::optional<AttrKind> want;
    for (const AttrSpec& spec : info.attrs) {
      if (spec.name == attr.name->text) want = spec.kind;
    }
    if (attr.empty_list && want == AttrKind::kFloats) attr.value = std::vector<double>();
    if (attr.int_spelling && want == AttrKind::kFloat && KindOf(attr.value) == AttrKind::kInt) {
      attr.value = static_cast<double>(std::get<int64_t>(attr.value));
    }
    if (attr.int_spelling && want == AttrKind::kFloats && KindOf(attr.value) == AttrKind::kInts) {
      const auto& ints = std::get<std::vector<int64_t>>(attr.value);
      attr.value = std::vector<double>(ints.begin(), ints.end());
    }
    if (want == AttrKind::kTensor && !attr.blob) RETURN_IF_ERROR(ScalarLiteral(op, attr));
    if (attr.blob) {
      if (op.kind != OpKind::kConst || op.types.size() != 1) {
        return Error(*attr.at, "a tensor attribute is only accepted on a const with one result");
      }
      auto blob = blobs_.find(*attr.blob);
      if (blob == blobs_.end()) {
        return Error(*attr.at,
                     absl::StrCat("blob #", *attr.blob, " is not defined in the blobs section"));
      }
      const TensorType& type = op.types[0].type;
      auto cached = tensors_.find(*attr.blob);
      if (cached != tensors_.end()) {
        if (cached->second->type() != type) {
          return Error(*attr.at,
                       absl::StrCat("blob #", *attr.blob, " is read as both ",
                                    ToString(cached->second->type()), " and ", ToString(type)));
        }
        attr.value = cached->second;
      } else {
        std::optional<int64_t> size = type.ByteSize();
        if (!size) {
          return Error(*attr.at, absl::StrCat("constant type ", ToString(type), " is not static"));
        }
        if (*size != static_cast<int64_t>(blob->second.bytes.size())) {
          return Error(*attr.at,
                       absl::StrCat("blob #", *attr.blob, " has ", blob->second.bytes.size(),
                                    " bytes but ", ToString(type), " needs ", *size));
        }
        // Moved out: later uses of this blob hit the cache above.
        auto data = std::make_shared<const TensorData>(type, std::move(blob->second.bytes));
        tensors_.emplace(*attr.blob, data);
        attr.value = std::move(data);
      }
    }
    if (!attrs->emplace(attr.name->text, std::move(attr.value)).second) {
      return Error(*attr.name, absl::StrCat("duplicate attribute '", attr.name->text, "'"));
    }
    return absl::OkStatus();
  }

  absl::Status BuildOp(Builder& b, ParsedOp& op) {
    const OpInfo& info = GetOpInfo(op.kind);
    // num_results -1: as many as the op's attributes say (plugin_segment),
    // at least one; the shape rule checks the count.
    if (info.num_results >= 0 ? static_cast<int>(op.results.size()) != info.num_results
                              : op.results.empty()) {
      const Token& at = op.results.empty() ? *op.name : *op.results[0];
      return Error(at, absl::StrCat("'", std::string(info.name), "' has ",
                                    info.num_results >= 0 ? absl::StrCat(info.num_results)
                                                          : std::string("one or more"),
                                    " result(s), ", op.results.size(), " named"));
    }
    if (op.types.size() != op.results.size()) {
      return Error(*op.types_at, absl::StrCat("expected ", op.results.size(),
                                              " result type(s), found ", op.types.size()));
    }
    int n = static_cast<int>(op.operands.size());
    if (n < info.min_operands || (info.max_operands >= 0 && n > info.max_operands)) {
      std::string want = info.max_operands == info.min_operands ? absl::StrCat(info.min_operands)
                         : info.max_operands < 0
                             ? absl::StrCat("at least ", info.min_operands)
                             : absl::StrCat(info.min_operands, " to ", info.max_operands);
      return Error(*op.name, absl::StrCat("'", std::string(info.name), "' expects ", want,
                                          " operand(s), found ", n));
    }
    std::vector<Value*> operands;
    for (const Token* t : op.operands) {
      absl::StatusOr<Value*> v = Lookup(*t);
      if (!v.ok()) return v.status();
      operands.push_back(*v);
    }
    AttributeMap attrs;
    for (ParsedAttr& attr : op.attrs) {
      RETURN_IF_ERROR(ResolveAttr(op, attr, &attrs));
    }
    RegionList regions;
    for (ParsedBlock& r : op.regions) {
      // Regions are isolated from above: their own scope of names.
      auto outer = std::move(values_);
      values_.clear();
      absl::StatusOr<std::unique_ptr<Graph>> body = BuildBlock(r);
      values_ = std::move(outer);
      if (!body.ok()) return body.status();
      regions.push_back({r.name->text, *std::move(body)});
    }
    b.SetLoc(op.loc);
    absl::StatusOr<Operation*> made =
        b.Create(op.kind, operands, std::move(attrs), std::move(regions));
    if (!made.ok()) return Error(*op.name, std::string(made.status().message()));
    Operation* created = *made;
    if (created->num_results() != static_cast<int>(op.types.size())) {
      return Error(*op.types_at,
                   absl::StrCat("'", std::string(info.name), "' inferred ", created->num_results(),
                                " result(s), ", op.types.size(), " written"));
    }
    for (int i = 0; i < created->num_results(); ++i) {
      const TensorType& written = op.types[i].type;
      const TensorType& inferred = created->result(i)->type();
      if (written != inferred) {
        return Error(
            *op.types[i].at,
            absl::StrCat(created->num_results() == 1 ? "result" : absl::StrCat("result ", i),
                         " type ", ToString(written), " does not match inferred ",
                         ToString(inferred)));
      }
    }
    for (int i = 0; i < created->num_results(); ++i) {
      RETURN_IF_ERROR(Define(*op.results[i], created->result(i)));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Graph>> Build() { return BuildBlock(top_); }

  absl::StatusOr<std::unique_ptr<Graph>> BuildBlock(ParsedBlock& block) {
    auto g = std::make_unique<Graph>();
    for (const auto& [name, type] : block.inputs) {
      Value* v = g->AddInput(type.type, name->text);
      RETURN_IF_ERROR(Define(*name, v));
    }
    Builder b(g.get());
    for (ParsedOp& op : block.ops) {
      RETURN_IF_ERROR(BuildOp(b, op));
    }
    for (const Token* t : block.outputs) {
      absl::StatusOr<Value*> v = Lookup(*t);
      if (!v.ok()) return v.status();
      g->AddOutput(*v);
    }
    if (!block.output_names.empty()) {
      // All outputs named or none: a name per output, as the verifier asks.
      if (block.output_names.size() != block.outputs.size())
        return Error(*block.output_names.back(), "name every output with 'as' or none");
      std::vector<std::string> names;
      for (const Token* t : block.output_names) names.push_back(t->text);
      g->SetOutputNames(std::move(names));
    }
    return g;
  }

  std::vector<Token> toks_;  // ends with kEof or kError
  size_t p_ = 0;

  ParsedBlock top_;
  std::unordered_map<std::string, ParsedBlob> blobs_;

  // Name -> value and the token that defined it.
  std::unordered_map<std::string, std::pair<Value*, const Token*>> values_;
  std::unordered_map<std::string, TensorDataPtr> tensors_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Graph>> Parse(std::string_view text) {
  std::vector<Token> toks;
  Lexer(text).Run(&toks);
  return Parser(std::move(toks)).Run();
}

}  // namespace sinter::ir
