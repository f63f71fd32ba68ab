// 2-D convolution through cuDNN 9's graph (backend) API: one operation graph
// per convolution (conv_fprop, then optionally a pointwise bias add and a
// pointwise activation fused behind it), its engine chosen by cuDNN's
// heuristics once when the plan is made, then executed every run with a
// variant pack of device pointers.
#ifndef SINTER_RUNTIME_CUDA_CONV_H_
#define SINTER_RUNTIME_CUDA_CONV_H_

#include <cstdint>
#include <memory>

#include "runtime/cuda/dynlib.h"
#include "runtime/cuda/gemm.h"  // DataType, Activation

namespace sinter::rt::cuda {

enum class Layout { kNCHW, kNHWC };

// y[n, k, p, q] = sum_{c, r, s} x[n, g*C/G + c, ...] * w[k, c, r, s] (+ bias[k]),
// then the activation. Shapes are logical NCHW / KCRS whatever `layout`
// says; `layout` is how x, w and y are stored in memory (NHWC stores w as
// KRSC). bias is [k], dense.
struct ConvDesc {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t k = 0, r = 0, s = 0;         // filter: k outputs, r x s window
  int64_t groups = 1;
  int64_t pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t p = 0, q = 0;  // output height, width
  DataType dtype = DataType::kF32;
  Layout layout = Layout::kNCHW;
  bool allow_tf32 = false;
  bool bias = false;
  Activation activation = Activation::kNone;
};

class ConvPlan {
 public:
  // Builds the graph, finalises the first engine configuration from the
  // heuristics (mode A, then the fallback list) that needs at most
  // `max_workspace` bytes. Unimplemented when no engine supports the graph
  // (the caller then drops the fusion and runs bias/activation itself).
  static StatusOr<std::unique_ptr<ConvPlan>> Create(const CudnnApi& api, cudnnHandle_t handle,
                                                    const ConvDesc& desc, size_t max_workspace);
  ~ConvPlan();
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;

  size_t workspace_bytes() const;
  // Enqueues the convolution on the stream the handle was bound to with
  // cudnnSetStream. `bias` is ignored unless desc.bias. Capturable.
  // Every pointer must be 16-byte aligned (the tensors' declared
  // alignment). Safe from several threads, each with its own handle on the
  // plan's device: the per-call state (the variant pack) is local.
  Status Run(cudnnHandle_t handle, const void* x, const void* w, const void* bias, void* y,
             void* workspace) const;

 private:
  ConvPlan() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sinter::rt::cuda

#endif  // SINTER_RUNTIME_CUDA_CONV_H_
