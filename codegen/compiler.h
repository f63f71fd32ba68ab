// The compile driver: runs a pass pipeline over an imported graph, plans
// memory and writes the artifact, collecting a report of what it did.
#ifndef SINTER_CODEGEN_COMPILER_H_
#define SINTER_CODEGEN_COMPILER_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "codegen/cuda/resources.h"
#include "ir/batch_analysis.h"
#include "ir/graph.h"
#include "passes/pass.h"

namespace sinter::codegen {

struct CompileOptions {
  std::string pipeline = "default";
  // Native CPU code for fused kernels and epilogues (codegen/cpu): "auto"
  // (x86-64-v3 when sinterc was built with LLVM, none otherwise), "none",
  // "x86-64", "x86-64-v3", "x86-64-v4" or "native" (the build host's level).
  std::string cpu = "auto";
  // "cpu", or "cuda" / "cuda:sm_80,sm_90" (codegen/cuda/cuda_target.h).
  std::string target = "cpu";
  // CUDA storage precision: "fp32", "fp16" or "bf16" (compute stays f32).
  std::string precision = "fp32";
  bool allow_tf32 = false;  // CUDA: TF32 tensor cores for f32 GEMM/convolution
  // CUDA with fp16/bf16: "model" keeps f32 inputs and outputs (a cast at
  // each end), "storage" makes them f16/bf16 too.
  std::string io_precision = "model";
  // Activation layout of convolution chains (passes/plan_layout.cc): "auto"
  // (the target's cost model: NHWC where the transposes it needs cost less
  // than the convolutions gain, on the CPU and on CUDA with tensor cores),
  // "nhwc" or "nchw".
  std::string layout = "auto";
  // A dynamic batch the frontend checked (frontend/torchscript.h): the graph
  // is one sample's, and the artifact records where the batch goes.
  std::optional<ir::BatchSymbol> batch;
  // If set, receives the optimised LLVM IR of the native kernels.
  std::string* llvm_ir = nullptr;
  passes::PassManagerOptions pass_options;
};

struct CompileReport {
  int64_t ops_in = 0;  // IR ops after import, constants excluded
  std::string batch;   // the dynamic batch, in words; "" when static
  // Sizes the data decides: each symbol and the op that makes it ("n0
  // (nms at m.py:9)"), and the kernels the runtime prepares at the run's
  // extents (their results live in session memory, not the arena).
  std::vector<std::string> run_sized;
  int64_t run_extent_kernels = 0;
  int64_t kernels = 0;        // kernel launches per inference
  int64_t library_calls = 0;  // GEMM / convolution kernels
  int64_t arena_bytes = 0;
  int64_t intermediate_bytes = 0;
  int64_t constant_bytes = 0;
  int64_t artifact_bytes = 0;
  std::map<std::string, int64_t> kernels_by_op;
  // The passes run, with their options, as `sinter-opt --passes=` takes them
  // (so that `sinterc --emit-ir` and sinter-opt reproduce the compile).
  std::string pipeline;
  std::vector<passes::PassRecord> passes;
  struct Fused {
    std::string kernel;            // "fused_elementwise", "conv2d", "linear"
    std::vector<std::string> ops;  // the ops it runs, in order
  };
  std::vector<Fused> fused;  // kernels that run more than one op
  struct NotFused {
    std::string op, loc, reason;
  };
  std::vector<NotFused> not_fused;  // elementwise ops left as kernels of their own
  std::string dot;                  // Graphviz: one node per kernel
  // Native CPU code: its instruction-set level ("" when none), the kernels
  // it runs, the shared object's size and the time LLVM and the linker took.
  std::string native_level;
  int64_t native_kernels = 0;
  int64_t native_bytes = 0;
  double native_ms = 0;
  // CUDA: target, storage precision, distinct generated kernels in the
  // module, architectures and the time NVRTC took.
  std::string target = "cpu";
  std::string precision = "f32";
  int64_t cuda_generated_kernels = 0;
  std::vector<std::string> cuda_images;
  double nvrtc_ms = 0;
  // Every kernel of the module on every real architecture: registers,
  // shared memory, spills and occupancy (codegen/cuda/resources.h).
  std::vector<cuda::KernelUsage> cuda_kernels;

  // Partial compilation (sinterc --fallback): the model's segments in
  // execution order, each run by sinter ("sinter") or by a plugin ("torch");
  // empty when sinter compiled everything.
  struct Segment {
    std::string backend;
    std::map<std::string, int64_t> ops;  // sinter: kernels by op; torch: TorchScript ops
    int64_t kernels = 0;
    int64_t inputs = 0, input_bytes = 0, outputs = 0, output_bytes = 0;
    // Of the outputs, those whose size the run decides (not in output_bytes).
    int64_t data_dependent_outputs = 0;
    std::string loc;
  };
  std::vector<Segment> partition;
  std::string partition_advice;  // the caller's (sinterc: min_block_size alternatives)

  std::string ToText() const;
  std::string ToJson() const;
};

absl::StatusOr<std::string> Compile(ir::Graph& graph, const CompileOptions& options,
                                    CompileReport* report);

}  // namespace sinter::codegen

#endif  // SINTER_CODEGEN_COMPILER_H_
