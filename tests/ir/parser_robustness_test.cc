// The parser reads untrusted text: damaged input must give an error, never a
// crash, and whatever it accepts must verify and print to a fixed point.
// Run under -DSINTER_SANITIZE=address,undefined to make the sweep meaningful.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace sinter::ir {
namespace {

// Exercises most of the grammar and the shape rules with arithmetic in them.
constexpr char kSeed[] = R"seed(// seed
graph @main(%x: f32[1,4,9,9], %w: f32[8,2,3,3], %s: f32[5,2,3], %h: f32[1,2,4], %i: i64[2,3]) {
  %b = const() {value = #0} : f32[8]
  %c = conv2d(%x, %w, %b) {dilation = [2, 2], groups = 2, padding = [1, 1], stride = [2, 2]} : f32[1,8,4,4] loc("m.py:1")
  %p = max_pool2d(%c) {ceil_mode = true, dilation = [1, 1], kernel = [2, 2], padding = [1, 1], stride = [2, 2]} : f32[1,8,3,3]
  %a = avg_pool2d(%c) {ceil_mode = false, count_include_pad = true, divisor = 3, kernel = [3, 3], padding = [1, 1], stride = [1, 1]} : f32[1,8,4,4]
  %r = reshape(%p) {shape = [-1, 4]} : f32[18,4]
  %t = transpose(%r) {perm = [1, 0]} : f32[4,18]
  %k = concat(%t, %t) {axis = 1} : f32[4,36]
  %l = slice(%k) {axis = 1, end = 15, start = 1, step = 4} : f32[4,4]
  %e = expand(%l) {shape = [2, 4, 4]} : f32[2,4,4]
  %m = matmul(%e, %l) : f32[2,4,4]
  %q = reduce_mean(%m) {axes = [0, -1], keepdim = true} : f32[1,4,1]
  %g = gelu(%q) {approximate = "none\n\"x\""} : f32[1,4,1]
  %cl = clamp(%g) {max = 6.0, min = -inf} : f32[1,4,1]
  %wi = const() {value = #1} : f32[16,3]
  %wh = const() {value = #2} : f32[16,4]
  %y, %hn, %cn = lstm(%s, %h, %h, %wi, %wh) {batch_first = false, bidirectional = false, has_biases = false, hidden_size = 4, num_layers = 1} : (f32[5,2,4], f32[1,2,4], f32[1,2,4])
  %tab = const() {value = #3} : f32[3,2]
  %em = embedding(%tab, %i) : f32[2,3,2]
  %sm = softmax(%em) {axis = -1} : f32[2,3,2]
  %ln = layer_norm(%sm, %tab, %tab) {axis = 1, eps = 1.0000000000000001e-05} : f32[2,3,2]
  return %cl, %y, %cn, %ln, %x
}
blobs {
  #0 = 0x0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F
  #1 = 0x000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
  #2 = 0x00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
  #3 = 0x000000000000000000000000000000000000000000000000
}
)seed";

// The properties every input must have.
void CheckInput(const std::string& text) {
  absl::StatusOr<std::unique_ptr<Graph>> g = Parse(text);
  if (!g.ok()) {
    // Errors are positioned: "line:col: ...".
    std::string msg(g.status().message());
    ASSERT_FALSE(msg.empty());
    ASSERT_TRUE(msg[0] >= '1' && msg[0] <= '9') << msg;
    ASSERT_NE(msg.find(':'), std::string::npos) << msg;
    return;
  }
  absl::Status st = Verify(**g);
  ASSERT_TRUE(st.ok()) << st << "\n" << text;
  std::string printed = Print(**g);
  absl::StatusOr<std::unique_ptr<Graph>> again = Parse(printed);
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << printed;
  ASSERT_EQ(Print(**again), printed);
}

TEST(ParserRobustnessTest, SeedParses) {
  absl::StatusOr<std::unique_ptr<Graph>> g = Parse(kSeed);
  ASSERT_TRUE(g.ok()) << g.status();
  CheckInput(kSeed);
}

TEST(ParserRobustnessTest, EveryPrefix) {
  std::string seed = kSeed;
  for (size_t n = 0; n <= seed.size(); ++n) {
    ASSERT_NO_FATAL_FAILURE(CheckInput(seed.substr(0, n))) << "prefix " << n;
  }
}

TEST(ParserRobustnessTest, RandomEdits) {
  const std::string seed = kSeed;
  const std::string alphabet = "%#@()[]{},:=?-.\"\\/ \n\t0123456789xefinaloc_fbi\x01\xff";
  const std::vector<std::string> numbers = {"0",
                                            "-1",
                                            "1",
                                            "3",
                                            "9223372036854775807",
                                            "-9223372036854775808",
                                            "4611686018427387905",
                                            "2305843009213693952",
                                            "1e308",
                                            "nan"};
  std::mt19937_64 rng(1234);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  for (int iter = 0; iter < 4000; ++iter) {
    std::string text = seed;
    int edits = 1 + static_cast<int>(pick(3));
    for (int e = 0; e < edits && !text.empty(); ++e) {
      size_t at = pick(text.size());
      switch (pick(5)) {
        case 0:
          text.erase(at, 1 + pick(4));
          break;
        case 1:
          text.insert(at, 1, alphabet[pick(alphabet.size())]);
          break;
        case 2:
          text[at] = alphabet[pick(alphabet.size())];
          break;
        case 3: {  // duplicate a slice
          size_t len = pick(40);
          text.insert(pick(text.size()), text.substr(at, len));
          break;
        }
        default: {  // replace a digit run with an extreme number
          size_t d = text.find_first_of("0123456789", at);
          if (d == std::string::npos) break;
          size_t end = text.find_first_not_of("0123456789", d);
          text.replace(d, (end == std::string::npos ? text.size() : end) - d,
                       numbers[pick(numbers.size())]);
          break;
        }
      }
    }
    ASSERT_NO_FATAL_FAILURE(CheckInput(text)) << "iteration " << iter << ":\n" << text;
  }
}

}  // namespace
}  // namespace sinter::ir
