// Text -> graph: reads the form ir/printer.h writes.
//
// Whitespace and `//` line comments may appear between any two tokens. Op
// results may be named with any `%identifier` or `%number` (printing
// renumbers them); graph inputs keep their names. Ops are built through
// ir::Builder, so shape rules run, and the result types written in the text
// must equal the inferred ones. Attribute kinds follow their spelling (`1` is
// an int, `1.0` a float); where the op's schema asks for float(s), int
// spellings are accepted, and an empty list `[]` takes its kind from the
// schema. A tensor attribute `#N` names a payload of the trailing `blobs`
// section; the const's result type says how to read its bytes.
//
// The input is treated as untrusted: every failure is a status of the form
// "line:column: what was expected", never a crash or an exception.
#ifndef SINTER_IR_PARSER_H_
#define SINTER_IR_PARSER_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace sinter::ir {

absl::StatusOr<std::unique_ptr<Graph>> Parse(std::string_view text);

}  // namespace sinter::ir

#endif  // SINTER_IR_PARSER_H_
