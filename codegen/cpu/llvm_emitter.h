// CPU code for fused kernels through LLVM 19: each kernel description (a
// kernel body over inputs broadcast to an output shape, see
// runtime/format/kernel_body.h) becomes one vectorised x86-64 function, and
// all of a model's functions become one ELF shared object that the artifact
// embeds and the runtime loads with dlopen, without LLVM.
//
// Every function has the C signature
//   void NAME(const void* const* inputs, void* output, int64_t begin, int64_t end)
// (each pointer of its tensor's dtype: the body's argument and result types,
// f32, bool, u8, i32 or i64) and computes the output elements [begin, end)
// (row-major flat indices), so the runtime can split a kernel over threads,
// or run a conv/GEMM epilogue on one block of the output while that block is
// still in cache. `output` may equal an input of the output's shape and type
// (in place). The object references no symbol outside itself: exp, log,
// tanh, erf and pow are inlined polynomials, so loading it needs no libm.
#ifndef SINTER_CODEGEN_CPU_LLVM_EMITTER_H_
#define SINTER_CODEGEN_CPU_LLVM_EMITTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/format/kernel_body.h"

namespace sinter::codegen::cpu {

// Instruction-set levels an artifact may require; the runtime checks the
// host CPU for the level's features before it loads the code, and runs the
// kernels' programs through its interpreter on a CPU without them.
//   "x86-64"    SSE2 (every x86-64), 4 lanes
//   "x86-64-v3" AVX2 + FMA (Haswell, Zen and later), 8 lanes: the default
//   "x86-64-v4" AVX-512 F/BW/DQ/VL (Skylake-SP, Zen 4 and later), 16 lanes
// "native" resolves to the best level the build host supports.
absl::StatusOr<std::string> ResolveCpuLevel(const std::string& cpu);

struct CpuKernelSpec {
  std::string name;                                // C identifier, unique in the object
  format::KernelBody body;                         // checked (format::CheckKernelBody)
  std::vector<std::vector<int64_t>> input_shapes;  // broadcast to output_shape
  std::vector<int64_t> output_shape;
};

struct CpuObject {
  std::string level;          // resolved instruction-set level
  std::string shared_object;  // ELF .so bytes
  int64_t object_bytes = 0;   // the relocatable object before linking
};

// Emits, optimises (LLVM O2) and compiles every kernel for `cpu`, then links
// them into one shared object with the system linker (ld.lld-19, ld.lld or
// ld, found on PATH). If `ir_text` is not null it receives the optimised
// LLVM IR, for tests and --emit-llvm.
absl::StatusOr<CpuObject> CompileCpuKernels(const std::vector<CpuKernelSpec>& kernels,
                                            const std::string& cpu, std::string* ir_text = nullptr);

}  // namespace sinter::codegen::cpu

#endif  // SINTER_CODEGEN_CPU_LLVM_EMITTER_H_
