// The textual form of a graph. It is how passes are tested and how bugs are
// reported, so it round-trips exactly through ir/parser.h:
// Print(*Parse(Print(g))) == Print(g).
//
//   graph @main(%x: f32[1,3,8,8], %w: f32[4,3,3,3]) {
//     %0 = const() {value = #0} : f32[4]
//     %1 = conv2d(%x, %w, %0) {dilation = [1, 1], groups = 1, padding = [1, 1],
//                              stride = [1, 1]} : f32[1,4,8,8] loc("resnet.py:97")
//     return %1
//   }
//   blobs {
//     #0 = 0x0000803F...
//   }
//
// (One op per line in the real output; the wrap above is only for this page.)
// Graph inputs print under their names, op results are numbered in order of
// definition, attributes are sorted by name, and constant payloads live in the
// trailing `blobs` section as the hex of their raw bytes, shared payloads once;
// a rank-0 constant prints as its value instead (`value = 0.125`).
//
// An op's regions (fused kernel bodies) follow its type and location, each
// with its arguments, its ops one level deeper and the values it yields; a
// region numbers its own values:
//
//     %2 = fused_elementwise(%x, %1) : f32[8] body(%arg0: f32[], %arg1: f32[]) {
//       %0 = mul(%arg0, %arg1) : f32[]
//       %1 = relu(%0) : f32[]
//       yield %1
//     }
#ifndef SINTER_IR_PRINTER_H_
#define SINTER_IR_PRINTER_H_

#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "ir/graph.h"

namespace sinter::ir {

struct PrintOptions {
  // Print tensor attributes as `#elided` and omit the blobs section: for
  // dumps and reports. Such text does not parse back.
  bool elide_constants = false;
};

std::string Print(const Graph& g, const PrintOptions& opts = {});

// The names the printer gives to a graph's values, for diagnostics that must
// agree with the printed form (the verifier's messages use it).
//
// Inputs keep their name when it is a valid identifier not taken by an earlier
// input; others become `arg<N>` (made unique). Op results are `%0`, `%1`, ...
// in order of definition.
class ValueNamer {
 public:
  explicit ValueNamer(const Graph& g);
  // "%x", "%12"; "%<null>" or "%<unknown>" for a value not in the graph.
  std::string Name(const Value* v) const;
  // "%12 = conv2d", "%2, %3, %4 = lstm" (just "conv2d" for no results).
  std::string OpHeader(const Operation& op) const;

 private:
  absl::flat_hash_map<const Value*, std::string> names_;
};

// [A-Za-z_][A-Za-z0-9_.]*
bool IsIdentifier(std::string_view s);
// "%.17g", with ".0" appended when the text would otherwise read as an int.
std::string FormatFloat(double v);
// `"..."` with \" \\ \n \t \r escaped and other control bytes as \xHH.
std::string QuoteString(std::string_view s);

}  // namespace sinter::ir

#endif  // SINTER_IR_PRINTER_H_
