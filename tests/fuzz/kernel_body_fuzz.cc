// libFuzzer target: the kernel description (runtime/format/kernel_body.h) as
// the runtime reads it at load: a FlatBuffer `Body` table verified, decoded
// and checked, then planned and run by the CPU interpreter over inputs of
// the argument dtypes. Input: one byte (bit 0: inputs after the first are
// broadcast rows and columns), then a buffer whose root is a Body. A refused
// body is a correct answer; a crash, a sanitizer report, or a body the
// checker accepted that the interpreter cannot plan (over dtypes the CPU
// holds) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "runtime/cpu/fused.h"
#include "runtime/format/kernel_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fmt = sinter::format;
  if (size < 9 || size > 256 * 1024) return 0;
  const bool broadcast = (data[0] & 1) != 0;
  // FlatBuffers reads the buffer in place: give it an aligned copy, as the
  // loader's verifier sees the schema region at an 8-byte-aligned offset.
  std::vector<uint64_t> storage((size - 1 + 7) / 8);
  std::memcpy(storage.data(), data + 1, size - 1);
  const uint8_t* buf = reinterpret_cast<const uint8_t*>(storage.data());
  flatbuffers::Verifier verifier(buf, size - 1, flatbuffers::Verifier::Options{});
  if (!verifier.VerifyBuffer<fmt::Body>(nullptr)) return 0;
  const fmt::Body* table = flatbuffers::GetRoot<fmt::Body>(buf);
  if (table->instrs() != nullptr && table->instrs()->size() != 0 &&
      (reinterpret_cast<uintptr_t>(table->instrs()->Data()) & 3) != 0)
    return 0;  // the loader refuses misaligned instruction vectors
  fmt::KernelBody body;
  std::string error;
  if (!fmt::DecodeKernelBody(*table, &body, &error) || !fmt::CheckKernelBody(body, &error))
    return 0;
  if (body.args.size() > 8) return 0;  // keeps a run short; the checker took it

  // Output [3, 17] (a row longer than the interpreter's chunk would be slow);
  // with `broadcast`, input i > 0 is a [17] row or a [3, 1] column.
  auto desc = [](std::vector<int64_t> dims, fmt::DType t) {
    sinter::rt::TensorDesc d;
    d.dims = std::move(dims);
    d.dtype = static_cast<sinter_dtype>(static_cast<int>(t));
    d.num_elements = 1;
    for (int64_t e : d.dims) d.num_elements *= e;
    d.byte_size = d.num_elements * sinter_dtype_size(d.dtype);
    return d;
  };
  const sinter::rt::TensorDesc out = desc({3, 17}, body.result_type());
  std::vector<sinter::rt::TensorDesc> descs;
  for (size_t i = 0; i < body.args.size(); ++i) {
    descs.push_back(desc(!broadcast || i == 0 ? out.dims
                         : i % 2              ? std::vector<int64_t>{17}
                                              : std::vector<int64_t>{3, 1},
                         body.args[i]));
  }
  std::vector<const sinter::rt::TensorDesc*> inputs;
  std::vector<std::vector<uint8_t>> values(descs.size());
  std::vector<const void*> ptrs;
  // Negative, zero, fractional and large values, NaN and infinity, as bytes
  // of each dtype.
  static const float kValues[] = {-2.5f,           0.f, 0.75f, 3.f, 1e30f, -0.f, __builtin_nanf(""),
                                  __builtin_inff()};
  for (size_t i = 0; i < descs.size(); ++i) {
    const sinter::rt::TensorDesc& d = descs[i];
    values[i].resize(d.byte_size);
    const size_t es = sinter_dtype_size(d.dtype);
    for (int64_t e = 0; e < d.num_elements; ++e) {
      const float v = kValues[(e + i) % 8];
      if (d.dtype == SINTER_F32) {
        std::memcpy(&values[i][e * es], &v, 4);
      } else {
        for (size_t b = 0; b < es; ++b) values[i][e * es + b] = static_cast<uint8_t>(e * 37 + b);
        if (d.dtype == SINTER_BOOL) values[i][e] &= 1;
      }
    }
    inputs.push_back(&d);
    ptrs.push_back(values[i].data());
  }
  auto planned = sinter::rt::PlanFusedProgram(body, inputs, out);
  if (!planned.ok()) {
    if (planned.status().code() == SINTER_UNIMPLEMENTED) return 0;  // f16 and the like on a CPU
    std::fprintf(stderr, "checked but not planned: %s\n", planned.status().message().c_str());
    __builtin_trap();
  }
  std::vector<uint8_t> result(out.byte_size);
  sinter::rt::RunFusedProgramRange(*planned.value(), ptrs.data(), result.data(), 0, 51);
  return 0;
}
