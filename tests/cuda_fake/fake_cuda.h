/* The test-facing C API of the fake CUDA libraries (tests/cuda_fake).
 *
 * The fakes stand in for libcuda, libcublasLt and libcudnn: the runtime
 * loads them through SINTER_CUDA_DRIVER_LIBRARY, SINTER_CUBLASLT_LIBRARY
 * and SINTER_CUDNN_LIBRARY, and every call it makes is checked against
 * what the real library requires and then executed on the host. What a
 * check finds is an error code to the runtime and one line in the
 * validation log, which a test reads back here. The state behind this API
 * (allocations, handles, streams, the log) lives in one library,
 * libsinter_fake_cuda_core.so, that the three fakes share.
 *
 * Strings returned here stay valid until the next call of the same
 * function. */
#ifndef SINTER_TESTS_CUDA_FAKE_FAKE_CUDA_H_
#define SINTER_TESTS_CUDA_FAKE_FAKE_CUDA_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The validation log: one line per violation, in order. */
size_t sinter_fake_cuda_error_count(void);
const char* sinter_fake_cuda_errors(void); /* every line, '\n'-separated */
void sinter_fake_cuda_clear_errors(void);

/* What is still alive: device and pinned allocations, contexts retained,
 * modules, streams, events, graphs, library handles and descriptors; one
 * line each, naming the call that made it. */
size_t sinter_fake_cuda_live_count(void);
const char* sinter_fake_cuda_live(void);

/* Counters of executed work: "launches", "graph_launches",
 * "graph_nodes_replayed", "captured_nodes", "memcpy", "matmuls",
 * "convolutions", "allocations". 0 for a name it does not count. */
uint64_t sinter_fake_cuda_counter(const char* name);

/* Behaviours a test switches to reach the runtime's fallback paths (each
 * answer is one a real library may give; none is recorded as an error):
 *   "cudnn_fusion"        1 (default): engines for conv + bias + activation
 *                         graphs; 0: only for a lone conv_fprop (the
 *                         heuristics refuse fused graphs with NOT_SUPPORTED)
 *   "cublaslt_epilogues"  1 (default); 0: no algorithm for any epilogue but
 *                         DEFAULT (the heuristic says NOT_SUPPORTED)
 *   "capture"             1 (default); 0: cuStreamBeginCapture fails with
 *                         CUDA_ERROR_NOT_SUPPORTED; 2: cuStreamEndCapture
 *                         reports the capture invalidated
 *   "fail_call"           N > 0: the N-th call from now that allocates or
 *                         creates something (device or pinned memory, a
 *                         stream, event, module, graph instance, library
 *                         handle or descriptor) fails as out of memory;
 *                         counter "injected_failures" counts them
 * Returns the previous value. */
int sinter_fake_cuda_set_flag(const char* name, int value);

/* The host code behind a CUDA image: cuModuleLoadDataEx finds it by the
 * image's bytes (size and a 64-bit hash), since the fake cannot run a
 * cubin. Each `lookup(context, symbol)` resolves the argument-array entry
 * points of tests/cuda_emu/launch_args.h; a function is looked up in the
 * tables in order. The tables must stay valid while the image may be
 * loaded. Returns 0, or -1 when n is 0. */
typedef void* (*sinter_fake_cuda_lookup)(void* context, const char* symbol);
typedef struct sinter_fake_cuda_symbols {
  sinter_fake_cuda_lookup lookup;
  void* context;
} sinter_fake_cuda_symbols;
int sinter_fake_cuda_register_module(const void* image, size_t size,
                                     const sinter_fake_cuda_symbols* tables, size_t n,
                                     const char* label);
void sinter_fake_cuda_unregister_modules(void);

#ifdef __cplusplus
}
#endif

#endif /* SINTER_TESTS_CUDA_FAKE_FAKE_CUDA_H_ */
