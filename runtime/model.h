// A loaded, verified model: tensors, the execution plan, the code objects
// and the storage that backs the constants, with the backend that runs them
// (runtime/backend.h). Immutable after Load, so threads may share it. It
// knows no target: everything target-specific is the backend's.
#ifndef SINTER_RUNTIME_MODEL_H_
#define SINTER_RUNTIME_MODEL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/attrs.h"
#include "runtime/backend.h"
#include "runtime/format/kernel_body.h"
#include "runtime/format/op_schema.h"
#include "runtime/kernel_cost.h"
#include "runtime/status.h"
#include "sinter/sinter.h"

namespace sinter::format {
struct Kernel;
struct Batch;
}  // namespace sinter::format

namespace sinter::rt {

inline constexpr int kMaxRank = 8;
inline constexpr uint64_t kArenaAlignment = 64;

// The bytes of an artifact: a read-only mapping of a file, an owned copy, or
// (for verification only) a view of the caller's memory.
class Storage {
 public:
  virtual ~Storage() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
  // [p, p + n) will not be read for a long while (a kernel keeps its own
  // prepared copy): a mapped file gives its whole pages there back to the
  // system, to be read from the file again if touched; memory does nothing.
  virtual void Release(const uint8_t* p, size_t n) const {}
  static StatusOr<std::unique_ptr<Storage>> MapFile(const std::string& path);
  static StatusOr<std::unique_ptr<Storage>> Copy(const void* data, size_t size);
  static std::unique_ptr<Storage> View(const void* data, size_t size);
};

// kDynamic: a model output whose size its run decides (dims -1 there,
// byte_size 0), in memory of the session (format::TensorKind::Dynamic).
enum class TensorKind : uint8_t { kInput, kConstant, kIntermediate, kDynamic };

struct TensorDesc {
  std::string name;
  sinter_dtype dtype = SINTER_F32;
  std::vector<int64_t> dims;
  int64_t num_elements = 0;
  uint64_t byte_size = 0;
  TensorKind kind = TensorKind::kIntermediate;
  const uint8_t* constant = nullptr;  // kConstant: points into Storage
  uint64_t arena_offset = 0;          // kInput / kIntermediate
};

// What a kernel's function is for (format::CodeRole).
enum class CodeRole : uint8_t { kMain, kPrologue, kEpilogue };

// A function of a code module a step calls (format::CodeRef, checked).
struct CodeUse {
  CodeRole role = CodeRole::kMain;
  int module = 0;
  std::string symbol;
  int block = 0;  // CUDA launches
  int64_t items = 0;
  int max_blocks_per_sm = 0;
};

// A machine-code object of the artifact (format::CodeObject), its CRC checked.
struct CodeObject {
  std::string format;  // "elf-x86_64-v3", "cubin-sm_90", "ptx-compute_90", ...
  int module = 0;
  const uint8_t* data = nullptr;
  size_t size = 0;
};

struct Step {
  const format::OpSchema* schema = nullptr;  // the op's row (runtime/format/op_schema.h)
  const format::Kernel* kernel = nullptr;    // in the artifact: its attributes
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::vector<CodeUse> code;
  // The kernel's bodies (its op's regions), decoded and checked
  // (format::CheckKernelBody) at load.
  std::vector<std::pair<CodeRole, format::KernelBody>> bodies;
  std::string loc;
  // For profiles: the op, or the ops a fused kernel runs ("conv2d + relu"),
  // and its arithmetic and shape.
  std::string label;
  KernelCost cost;

  Attrs attrs() const { return Attrs(kernel); }
  // The function for `role`, or null when the kernel has none.
  const CodeUse* Code(CodeRole role) const {
    for (const CodeUse& c : code)
      if (c.role == role) return &c;
    return nullptr;
  }
  // The body for `role`, or null when the kernel has none.
  const format::KernelBody* Body(CodeRole role) const {
    for (const auto& [r, body] : bodies)
      if (r == role) return &body;
    return nullptr;
  }
};

// A dynamic batch (format::Batch): the plan computes one sample, its tensors
// hold 1 on the batch axes, and a session runs it per sample
// (runtime/session.h).
struct BatchInfo {
  std::string symbol;
  int64_t min = 1, max = 1;
  std::vector<int> input_axes, output_axes;  // -1: the tensor has no batch axis
  // false: a symbolic extent every kernel takes at run (format::Batch).
  bool per_sample = true;
  // What sinter_tensor_info shows: the dims with -1 on the batch axis.
  std::vector<std::vector<int64_t>> input_dims, output_dims;
};

struct LoadOptions {
  bool verify_weights_checksum = false;  // CRC of the whole constants region
  bool allow_native_code = true;         // load the artifact's native CPU kernels
  int cuda_device = 0;                   // CUDA artifacts: the device ordinal
  std::string plugin_path;               // where to look for plugins first (runtime/plugin.h)
  // Verify only: everything a load checks, each kernel planned by its
  // backend, but no code loaded and no device touched; such a model cannot
  // run (sinter_model_verify_memory).
  bool verify_only = false;
};

class Model {
 public:
  static StatusOr<std::shared_ptr<Model>> Load(std::unique_ptr<Storage> storage,
                                               const LoadOptions& options);
  ~Model();

  const std::vector<TensorDesc>& tensors() const { return tensors_; }
  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }
  const std::vector<Step>& steps() const { return steps_; }
  const std::vector<CodeObject>& code_objects() const { return code_objects_; }
  uint64_t arena_bytes() const { return arena_bytes_; }
  // The dynamic batch, or null when every dimension is static.
  const BatchInfo* batch() const { return batch_ ? &*batch_ : nullptr; }
  const std::string& target() const { return target_; }  // "cpu" or "cuda"
  // The plugins its kernels need, comma-separated ("torch"), "" for none.
  const std::string& plugins() const { return plugins_; }
  // Constant tensor `t` will not be read again for a long while (its kernels
  // hold prepared copies): its pages go back to the system (Storage::Release).
  void ReleaseConstant(int t) const;
  // The backend half; null for a verify-only model.
  const BackendModel* backend() const { return backend_.get(); }
  int native_kernels() const { return backend_ ? backend_->native_kernels() : 0; }
  uint64_t run_sized_bytes() const { return backend_ ? backend_->run_sized_bytes() : 0; }

 private:
  Model() = default;
  Status Verify(const LoadOptions& options);
  Status VerifyKernel(size_t k, const format::Kernel* kd, format::Target target,
                      std::vector<char>& defined);
  Status VerifyLiveness() const;
  Status VerifyBatch(const format::Batch& batch);

  std::unique_ptr<Storage> storage_;
  std::string target_;
  std::string plugins_;
  std::vector<TensorDesc> tensors_;
  std::vector<int> inputs_;
  std::vector<int> outputs_;
  std::vector<Step> steps_;
  std::vector<CodeObject> code_objects_;
  uint64_t arena_bytes_ = 0;
  std::optional<BatchInfo> batch_;
  std::unique_ptr<BackendModel> backend_;  // last: it refers to everything above
};

// Checked arithmetic shared by the loader and kernels' shape checks.
bool CheckedNumElements(const std::vector<int64_t>& dims, int64_t* out);

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_MODEL_H_
