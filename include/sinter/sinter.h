/*
 * sinter runtime C API.
 *
 * Runs a model compiled by `sinterc` (a `.sinter` artifact). The runtime links
 * only libc, libstdc++, libm, libdl and pthreads.
 *
 * Objects:
 *   sinter_model    immutable once loaded; may be shared by any number of
 *                   threads, each running its own session.
 *   sinter_session  per-caller state (activation arena, bound inputs). A
 *                   session is used by one thread at a time.
 *   sinter_status   the result of every fallible call: NULL means OK. A
 *                   non-NULL status carries a code and a message and must be
 *                   released with sinter_status_free.
 *
 * Conventions (as in IREE and ONNX Runtime): opaque handles, functions named
 * sinter_<object>_<verb>, results through `out_` parameters which are cleared
 * on entry, no exception or abort crosses this API.
 */
#ifndef SINTER_SINTER_H_
#define SINTER_SINTER_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define SINTER_API __declspec(dllexport)
#else
#define SINTER_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status ---------------------------------------------------------------- */

typedef enum sinter_status_code {
  SINTER_OK = 0,
  SINTER_INVALID_ARGUMENT = 1,    /* a bad argument: wrong shape, dtype, index */
  SINTER_NOT_FOUND = 2,           /* a file that does not exist */
  SINTER_DATA_LOSS = 3,           /* a damaged or truncated artifact */
  SINTER_UNIMPLEMENTED = 4,       /* a feature this runtime does not have */
  SINTER_UNAVAILABLE = 5,         /* a device or library that is not present */
  SINTER_FAILED_PRECONDITION = 6, /* e.g. reading outputs before a run */
  SINTER_RESOURCE_EXHAUSTED = 7,  /* out of memory */
  SINTER_INTERNAL = 8,
  SINTER_VERSION_MISMATCH = 9 /* an artifact of another format version */
} sinter_status_code;

typedef struct sinter_status sinter_status;

SINTER_API sinter_status_code sinter_status_get_code(const sinter_status* status);
/* Valid until the status is freed. "OK" for NULL. */
SINTER_API const char* sinter_status_get_message(const sinter_status* status);
SINTER_API void sinter_status_free(sinter_status* status);
SINTER_API const char* sinter_status_code_name(sinter_status_code code);

/* The runtime's version string, e.g. "0.1.0". */
SINTER_API const char* sinter_version(void);

/* ---- Tensors ------------------------------------------------------------------ */

typedef enum sinter_dtype {
  SINTER_F32 = 0,
  SINTER_F16 = 1,
  SINTER_BF16 = 2,
  SINTER_F64 = 3,
  SINTER_I64 = 4,
  SINTER_I32 = 5,
  SINTER_I8 = 6,
  SINTER_U8 = 7,
  SINTER_BOOL = 8
} sinter_dtype;

SINTER_API size_t sinter_dtype_size(sinter_dtype dtype);
SINTER_API const char* sinter_dtype_name(sinter_dtype dtype);

/* Describes one input or output. Pointers stay valid while the model lives.
 * An output whose size its run decides has -1 for each such dimension and
 * byte_size 0 (see sinter_session_output_shape). */
typedef struct sinter_tensor_info {
  const char* name;
  sinter_dtype dtype;
  size_t rank;
  const int64_t* dims;
  size_t byte_size;
} sinter_tensor_info;

/* ---- Model ----------------------------------------------------------------------- */

typedef struct sinter_model sinter_model;

/* Options structs grow at their end as the runtime gains options: set them
 * up with the _init function, which fills in `struct_size` (the caller's
 * sizeof) and every default, then change what you need. A runtime reads only
 * the fields the caller's struct_size covers, so programs built against an
 * older header keep working; a struct_size of 0 is refused. */
typedef struct sinter_model_options {
  size_t struct_size;
  /* Also verify the CRC of the constants region (one pass over the weights). */
  int verify_weights_checksum;
  /* Do not load the artifact's native CPU code (an ELF shared object that
   * sinterc's LLVM code generator embeds); interpret the fused kernels
   * instead. Native code is as trusted as a shared library: its checksum is
   * always verified, but not what it computes. It is also not loaded on a CPU
   * without the instruction-set level it was compiled for. */
  int disable_native_code;
  /* CUDA artifacts: the device ordinal to load onto (0: the first GPU). */
  int cuda_device;
  /* Where to look first for the plugins an artifact needs (a plugin's file
   * or a directory of them; NULL: nowhere extra). See sinter_plugin.h for
   * the search order. The string is read during the load call only. */
  const char* plugin_path;
} sinter_model_options;

SINTER_API void sinter_model_options_init(sinter_model_options* options);

/* Loads and fully verifies an artifact. `options` may be NULL. The file is
 * memory-mapped; constants are used in place. */
SINTER_API sinter_status* sinter_model_load_file(const char* path,
                                                 const sinter_model_options* options,
                                                 sinter_model** out_model);
/* Loads from memory. The bytes are copied, so `data` may be freed afterwards. */
SINTER_API sinter_status* sinter_model_load_memory(const void* data, size_t size,
                                                   const sinter_model_options* options,
                                                   sinter_model** out_model);
/* Checks an artifact as loading it would (structure, checksums, every
 * kernel against the op schema and its backend's own checks) without a GPU,
 * without loading its code and without copying it: NULL when it would load
 * on a machine that has what its target needs. `options` may be NULL. */
SINTER_API sinter_status* sinter_model_verify_memory(const void* data, size_t size,
                                                     const sinter_model_options* options);
/* Releases the caller's reference; sessions keep the model alive. */
SINTER_API void sinter_model_release(sinter_model* model);

SINTER_API size_t sinter_model_input_count(const sinter_model* model);
SINTER_API size_t sinter_model_output_count(const sinter_model* model);
SINTER_API sinter_status* sinter_model_input_info(const sinter_model* model, size_t index,
                                                  sinter_tensor_info* out_info);
SINTER_API sinter_status* sinter_model_output_info(const sinter_model* model, size_t index,
                                                   sinter_tensor_info* out_info);
/* A dimension that varies between runs: a dynamic batch (`sinterc
 * --input-shape batch=1..64,3,224,224`) shows as -1 in sinter_tensor_info's
 * dims (byte_size 0) of the inputs and outputs that have it. This gives its
 * symbol (valid while the model lives) and the range a run accepts, for
 * input (`is_output` 0) or output `index` and its dimension `axis`;
 * SINTER_INVALID_ARGUMENT when that dimension is fixed or data-dependent.
 * Inputs that share the symbol must be given the same extent; after a run,
 * sinter_session_output_shape gives each output's dims. A symbolic extent
 * (`--input-shape 1,seq=1..128,256`, a sequence length) is the same on the
 * input side, on every input dimension that has it (an attention mask may
 * have it twice); the outputs it sizes show -1 with no range, their dims
 * known after a run. */
SINTER_API sinter_status* sinter_model_dim_range(const sinter_model* model, int is_output,
                                                 size_t index, size_t axis, const char** out_symbol,
                                                 int64_t* out_min, int64_t* out_max);
/* Bytes of activation memory each session allocates (with a dynamic batch:
 * one sample's, whatever the batch; with a symbolic extent, its plan for the
 * range's maximum included, so a run at a new length allocates nothing). */
SINTER_API size_t sinter_model_arena_bytes(const sinter_model* model);
/* Kernels of this model that run native code (see disable_native_code). */
SINTER_API size_t sinter_model_native_kernel_count(const sinter_model* model);
/* "cpu" or "cuda": what the artifact was compiled for. A "cuda" artifact
 * loads only where an NVIDIA driver and GPU are present (SINTER_UNAVAILABLE
 * otherwise); its CUDA libraries are loaded with dlopen, never linked. */
SINTER_API const char* sinter_model_target(const sinter_model* model);
/* The plugins a loaded model runs parts of itself through, comma-separated
 * ("torch": LibTorch fallback segments, `sinterc --fallback torch`); "" when
 * it needs none. */
SINTER_API const char* sinter_model_plugins(const sinter_model* model);
/* The same for an artifact not (yet) loaded: checks it as
 * sinter_model_verify_memory does, without loading any plugin, and writes the
 * list (NUL-terminated, "" for none) into `out_names` of `out_size` bytes.
 * Loading an artifact whose plugin is not installed fails with
 * SINTER_UNAVAILABLE naming the plugin and where it was looked for. */
SINTER_API sinter_status* sinter_artifact_required_plugins(const void* data, size_t size,
                                                           char* out_names, size_t out_size);

/* ---- Session --------------------------------------------------------------------- */

typedef struct sinter_session sinter_session;

typedef struct sinter_session_options {
  size_t struct_size; /* see sinter_model_options */
  /* Worker threads for this session's kernels; 0 picks the number of cores. */
  int num_threads;
  /* CUDA: run kernel by kernel instead of capturing the plan as a CUDA graph
   * on the first run and replaying it. */
  int disable_cuda_graph;
} sinter_session_options;

SINTER_API void sinter_session_options_init(sinter_session_options* options);

/* `options` may be NULL (defaults). */
SINTER_API sinter_status* sinter_session_create(sinter_model* model,
                                                const sinter_session_options* options,
                                                sinter_session** out_session);
SINTER_API void sinter_session_release(sinter_session* session);

/* Copies an input. dtype, rank and dims must match the model's input exactly;
 * a mismatch is SINTER_INVALID_ARGUMENT naming the input. */
SINTER_API sinter_status* sinter_session_set_input(sinter_session* session, size_t index,
                                                   sinter_dtype dtype, const int64_t* dims,
                                                   size_t rank, const void* data, size_t byte_size);
/* CUDA models: hand over device memory (a CUdeviceptr) for an input or an
 * output. The kernels read and write it in place: no staging copy. It must
 * hold the tensor's byte_size, be 16-byte aligned, stay valid until the run
 * returns, and be on the model's device. The session runs on its own stream:
 * work the caller queued that writes an input must have finished (e.g.
 * cudaStreamSynchronize) before sinter_session_run. NULL unbinds (back to sinter_session_set_input
 * / sinter_session_get_output). An output bound to device memory cannot be read with
 * get_output/copy_output (SINTER_FAILED_PRECONDITION). SINTER_INVALID_ARGUMENT on a CPU model. */
SINTER_API sinter_status* sinter_session_set_input_device(sinter_session* session, size_t index,
                                                          void* device_ptr, size_t byte_size);
SINTER_API sinter_status* sinter_session_set_output_device(sinter_session* session, size_t index,
                                                           void* device_ptr, size_t byte_size);
/* Runs the model on the bound inputs. Every input must have been set. A
 * CUDA run returns when the GPU has finished. */
SINTER_API sinter_status* sinter_session_run(sinter_session* session);

/* ---- Profiling ------------------------------------------------------------------- */

/* One kernel of a profiled run. Strings are owned by the model. */
typedef struct sinter_profile_entry {
  const char* kernel; /* the runtime kernel: "conv2d", "fused_elementwise", ... */
  const char* label;  /* the ops it runs: "conv2d + add + relu" */
  const char* loc;    /* source location of the first op, may be "" */
  double start_us;    /* from the start of the run */
  double duration_us;
} sinter_profile_entry;

/* With profiling on, each run times every kernel (two clock reads per kernel). */
SINTER_API sinter_status* sinter_session_set_profiling(sinter_session* session, int enable);
/* What kernel `index` of a model (numbered as profile entries are) computes:
 * `*out_flops` its arithmetic per run, a multiply-add counted as 2 (convolutions
 * and matrix products; 0 for kernels bound by memory, not arithmetic), and
 * `*out_shape` (owned by the model; may be NULL) its shape in words,
 * "conv 3x3/2 3->32 out 1x112x112 nhwc", "linear 1x1280 * 1280x1000", or its
 * first output's dims. Either out pointer may be NULL. */
SINTER_API size_t sinter_model_kernel_count(const sinter_model* model);
SINTER_API sinter_status* sinter_model_kernel_cost(const sinter_model* model, size_t index,
                                                   double* out_flops, const char** out_shape);
/* Kernels of the last profiled run (0 before one). */
SINTER_API size_t sinter_session_profile_count(const sinter_session* session);
SINTER_API sinter_status* sinter_session_profile_entry(const sinter_session* session, size_t index,
                                                       sinter_profile_entry* out_entry);
/* Borrows an output of the last run: valid until the next run or release. */
SINTER_API sinter_status* sinter_session_get_output(sinter_session* session, size_t index,
                                                    const void** out_data, size_t* out_byte_size);
/* The shape output `index` had in the last run: `*out_rank` dims into
 * `out_dims`, which has room for `capacity` (SINTER_INVALID_ARGUMENT when too
 * small; 8 always suffice). For most outputs these are sinter_tensor_info's
 * dims; an output whose size the data decides (its info has dims -1 there
 * and byte_size 0: nonzero, x[mask] or nms in a `--fallback torch` segment)
 * has the dims its run gave, and get_output / copy_output then work with
 * that size. SINTER_FAILED_PRECONDITION before a run for such an output. */
SINTER_API sinter_status* sinter_session_output_shape(const sinter_session* session, size_t index,
                                                      int64_t* out_dims, size_t capacity,
                                                      size_t* out_rank);
/* Copies an output of the last run into caller memory of `byte_size` bytes. */
SINTER_API sinter_status* sinter_session_copy_output(sinter_session* session, size_t index,
                                                     void* data, size_t byte_size);

#ifdef __cplusplus
}
#endif

#endif /* SINTER_SINTER_H_ */
