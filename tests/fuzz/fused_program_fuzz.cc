// libFuzzer target: the fused-kernel description (runtime/format/
// fused_program.h) as the runtime decodes it at load, then the interpreter
// running what decoded. Input: one byte choosing the input count (1-4) and
// the broadcast shapes, then the program text. A refused program is a correct
// answer; a crash, a sanitizer report, or a program the parser accepted that
// the planner or interpreter cannot run is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/cpu/fused.h"
#include "runtime/format/fused_program.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  const int num_inputs = 1 + (data[0] & 3);
  const bool broadcast = (data[0] & 4) != 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<sinter::format::FusedInstr> program;
  std::string error;
  if (!sinter::format::ParseFusedProgram(text, num_inputs, &program, &error)) return 0;

  // Output [3, 17] (a row longer than the interpreter's chunk would be slow);
  // with `broadcast`, input i > 0 is a [17] row or a [3, 1] column.
  sinter::rt::TensorDesc out;
  out.dims = {3, 17};
  out.num_elements = 51;
  out.byte_size = 51 * 4;
  std::vector<sinter::rt::TensorDesc> descs(num_inputs);
  std::vector<std::vector<float>> values(num_inputs);
  std::vector<const sinter::rt::TensorDesc*> inputs;
  std::vector<const float*> ptrs;
  for (int i = 0; i < num_inputs; ++i) {
    descs[i].dims = !broadcast || i == 0 ? out.dims
                    : i % 2              ? std::vector<int64_t>{17}
                                         : std::vector<int64_t>{3, 1};
    int64_t n = 1;
    for (int64_t d : descs[i].dims) n *= d;
    descs[i].num_elements = n;
    descs[i].byte_size = static_cast<uint64_t>(n) * 4;
    // Negative, zero, fractional and large values, NaN and infinity.
    static const float kValues[] = {
        -2.5f, 0.f, 0.75f, 3.f, 1e30f, -0.f, __builtin_nanf(""), __builtin_inff()};
    for (int64_t e = 0; e < n; ++e) values[i].push_back(kValues[(e + i) % 8]);
    inputs.push_back(&descs[i]);
    ptrs.push_back(values[i].data());
  }
  auto planned = sinter::rt::PlanFusedProgram(text, inputs, out);
  if (!planned.ok()) {
    std::fprintf(stderr, "parsed but not planned: %s\n", planned.status().message().c_str());
    __builtin_trap();
  }
  std::vector<float> result(51);
  sinter::rt::RunFusedProgramRange(*planned.value(), ptrs.data(), result.data(), 0, 51);
  return 0;
}
