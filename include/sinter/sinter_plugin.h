/*
 * sinter plugin ABI, version 1.
 *
 * A plugin is a shared library the runtime loads with dlopen only when an
 * artifact needs it: today, the LibTorch plugin ("torch") that runs the
 * TorchScript segments `sinterc --fallback torch` leaves uncompiled. The
 * runtime itself never links a plugin's dependencies (LibTorch stays out of
 * libsinter_runtime.so); a plugin may link whatever it needs.
 *
 * A plugin can also implement custom ops (sinter_plugin_op): a LibTorch
 * extension op of the user's model compiled by `sinterc --plugin` into a
 * kernel that calls the plugin, with no LibTorch at run time
 * (examples/custom_op).
 *
 * The library exports one C function, `sinter_plugin_get_api`, which returns
 * a table of functions for the ABI version the runtime asks for, or NULL when
 * it does not implement that version (the runtime then refuses the artifact
 * with SINTER_VERSION_MISMATCH naming both). Everything crosses as C types:
 * tensors are (data, dtype, rank, dims, strides) as in DLPack, without
 * ownership; errors are a nonzero return and a message the plugin writes into
 * a caller buffer. No C++ exception may leave a plugin function.
 *
 * File name: `libsinter_plugin_<name>.so`. The runtime looks for it, in this
 * order: the path in sinter_model_options.plugin_path (a file or a
 * directory), each entry of $SINTER_PLUGIN_PATH (colon-separated files or
 * directories), and the directory that holds libsinter_runtime.so.
 */
#ifndef SINTER_SINTER_PLUGIN_H_
#define SINTER_SINTER_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SINTER_PLUGIN_ABI_VERSION 1u

/* A tensor lent to a plugin for one call. `dtype` is a sinter_dtype
 * (sinter.h). `strides` are in elements; the runtime always passes dense,
 * row-major tensors, but a plugin must not assume so without checking.
 * Inputs are read-only: they may be the model's weights, mapped read-only. */
typedef struct sinter_plugin_tensor {
  void* data;
  int32_t dtype;
  int32_t rank;
  const int64_t* dims;
  const int64_t* strides;
} sinter_plugin_tensor;

/* A custom op's scalar argument: the non-tensor arguments of its TorchScript
 * call, in order. */
typedef enum sinter_plugin_attr_kind {
  SINTER_PLUGIN_ATTR_INT = 0,
  SINTER_PLUGIN_ATTR_FLOAT = 1,
  SINTER_PLUGIN_ATTR_BOOL = 2
} sinter_plugin_attr_kind;

typedef struct sinter_plugin_attr {
  int32_t kind; /* sinter_plugin_attr_kind */
  int64_t i;    /* INT and BOOL */
  double f;     /* FLOAT */
} sinter_plugin_attr;

/* A result's type, as an op's shape function writes it. */
#define SINTER_PLUGIN_MAX_RANK 8
typedef struct sinter_plugin_type {
  int32_t dtype; /* sinter_dtype */
  int32_t rank;  /* 0 to SINTER_PLUGIN_MAX_RANK */
  int64_t dims[SINTER_PLUGIN_MAX_RANK];
} sinter_plugin_type;

/* A custom op: `sinterc --plugin libsinter_plugin_<name>.so` compiles every
 * TorchScript call of `name` (a registered LibTorch op such as
 * "myops::scaled_gelu") into a kernel that calls `run` at run time. Its
 * tensor arguments become the kernel's inputs, its other arguments `attrs`.
 * Both functions return nonzero with a message on failure. */
typedef struct sinter_plugin_op {
  const char* name;
  /* At compile time: the results' types from the inputs' (whose `data` is
   * NULL) and the attributes; at most `max_results` of them. */
  int (*infer)(const sinter_plugin_tensor* inputs, size_t num_inputs,
               const sinter_plugin_attr* attrs, size_t num_attrs, sinter_plugin_type* results,
               size_t max_results, size_t* num_results, char* error, size_t error_size);
  /* At run time: computes the results into the buffers given (of the types
   * `infer` gave). Called concurrently from several sessions. */
  int (*run)(const sinter_plugin_tensor* inputs, size_t num_inputs, const sinter_plugin_attr* attrs,
             size_t num_attrs, const sinter_plugin_tensor* outputs, size_t num_outputs,
             int num_threads, char* error, size_t error_size);
} sinter_plugin_op;

/* Memory for result `output` of a segment_run_alloc call, of shape `dims`
 * (`rank` of them): dense, row-major, 64-byte aligned; valid until the call
 * returns to the runtime, which keeps it as the model's output. */
typedef void* (*sinter_plugin_alloc_fn)(void* alloc_ctx, size_t output, const int64_t* dims,
                                        int32_t rank);

typedef struct sinter_plugin_api {
  uint32_t abi_version; /* SINTER_PLUGIN_ABI_VERSION of the plugin's build */
  uint32_t struct_size; /* sizeof(sinter_plugin_api) of the plugin's build */
  const char* name;     /* "torch": the name artifacts refer to it by */

  /* Segments: a piece of a model the plugin runs, described by a payload
   * the compiler wrote (for "torch", a serialised TorchScript module whose
   * forward takes the inputs in order and returns a tuple of the outputs).
   * create is called once per model load, run any number of times, also
   * concurrently from several threads (one call per session at a time),
   * destroy once when the model is released. On failure create and run
   * return nonzero and write a NUL-terminated message of at most
   * `error_size` bytes into `error`. */
  int (*segment_create)(const void* payload, size_t payload_size, void** out_segment, char* error,
                        size_t error_size);
  /* Computes every output into the memory the runtime gives: `outputs`
   * describe buffers of exactly the shapes and dtypes the compiler recorded;
   * a result of another shape or dtype is an error, never a partial write
   * past a buffer. `num_threads` is the calling session's thread count. */
  int (*segment_run)(void* segment, const sinter_plugin_tensor* inputs, size_t num_inputs,
                     const sinter_plugin_tensor* outputs, size_t num_outputs, int num_threads,
                     char* error, size_t error_size);
  void (*segment_destroy)(void* segment);

  /* Custom ops (NULL / 0 for a plugin without them; a plugin with only ops
   * leaves the segment functions NULL). */
  const sinter_plugin_op* ops;
  size_t num_ops;

  /* Added within version 1 (a plugin whose struct_size ends before it has
   * none): segments with results whose size the data decides (nonzero,
   * x[mask], nms: the compiler records -1 for each such dimension). The
   * runtime calls this instead of segment_run for them. Such a result's
   * `outputs` entry has data NULL and dims -1 where the run decides; the
   * plugin calls `alloc(alloc_ctx, index, dims, rank)` once with the
   * result's actual dims (its recorded rank, dtype and static dims) and
   * writes the result into the memory returned (NULL: refused or out of
   * memory, an error). Other results are as in segment_run. */
  int (*segment_run_alloc)(void* segment, const sinter_plugin_tensor* inputs, size_t num_inputs,
                           const sinter_plugin_tensor* outputs, size_t num_outputs, int num_threads,
                           sinter_plugin_alloc_fn alloc, void* alloc_ctx, char* error,
                           size_t error_size);
} sinter_plugin_api;

/* The one symbol a plugin exports. */
typedef const sinter_plugin_api* (*sinter_plugin_get_api_fn)(uint32_t abi_version);
#define SINTER_PLUGIN_ENTRY "sinter_plugin_get_api"

#ifdef __cplusplus
}
#endif

#endif /* SINTER_SINTER_PLUGIN_H_ */
