// A loaded, verified model: tensors, the execution plan and the storage that
// backs the constants. Immutable after Load, so threads may share it.
#ifndef SINTER_RUNTIME_MODEL_H_
#define SINTER_RUNTIME_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/status.h"
#include "sinter/sinter.h"

namespace sinter::format {
struct OpSchema;
}

namespace sinter::rt {

inline constexpr int kMaxRank = 8;
inline constexpr uint64_t kArenaAlignment = 64;

// The bytes of an artifact: a read-only mapping of a file or an owned copy.
class Storage {
 public:
  virtual ~Storage() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
  static StatusOr<std::unique_ptr<Storage>> MapFile(const std::string& path);
  static StatusOr<std::unique_ptr<Storage>> Copy(const void* data, size_t size);
};

enum class TensorKind : uint8_t { kInput, kConstant, kIntermediate };

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

struct OpDef;  // runtime/cpu/op_table.h

// Parameters a kernel derived from its attributes and shapes at load.
struct KernelParams {
  virtual ~KernelParams() = default;
};

struct Step {
  const format::OpSchema* schema = nullptr;  // the op's row (runtime/format/op_schema.h)
  const OpDef* op = nullptr;
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::unique_ptr<KernelParams> params;
  std::string loc;
  // For profiles: the op, or the ops a fused kernel runs ("conv2d + relu").
  std::string label;
};

struct LoadOptions {
  bool verify_weights_checksum = false;  // CRC of the whole constants region
  bool allow_native_code = true;         // load the artifact's native CPU kernels
  int cuda_device = 0;                   // CUDA artifacts: the device ordinal
};

namespace cuda {
class CudaModel;  // runtime/cuda/backend.h
}

class NativeCode;  // runtime/cpu/native.h

class Model {
 public:
  static StatusOr<std::shared_ptr<Model>> Load(std::unique_ptr<Storage> storage,
                                               const LoadOptions& options);
  ~Model();

  const std::vector<TensorDesc>& tensors() const { return tensors_; }
  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }
  const std::vector<Step>& steps() const { return steps_; }
  uint64_t arena_bytes() const { return arena_bytes_; }
  const std::string& target() const { return target_; }  // "cpu" or "cuda"
  // The CUDA half of a "cuda" artifact; null for "cpu".
  const cuda::CudaModel* cuda() const { return cuda_.get(); }
  // Kernels that run native code (0 when the artifact has none or it was not
  // loaded), and the instruction-set level the artifact's code needs.
  int native_kernels() const { return native_kernels_; }
  const std::string& native_level() const { return native_level_; }

 private:
  Model() = default;
  Status Verify(const LoadOptions& options);
  Status VerifyLiveness() const;

  std::unique_ptr<Storage> storage_;
  std::string target_;
  std::vector<TensorDesc> tensors_;
  std::vector<int> inputs_;
  std::vector<int> outputs_;
  // Before steps_: their parameters hold pointers into this code, so it must
  // be unloaded after them.
  std::unique_ptr<NativeCode> native_;
  std::string native_level_;
  int native_kernels_ = 0;
  std::vector<Step> steps_;
  uint64_t arena_bytes_ = 0;
  struct CudaDeleter {
    void operator()(cuda::CudaModel* m) const;
  };
  std::unique_ptr<cuda::CudaModel, CudaDeleter> cuda_;  // after steps_: it reads them
};

// Checked arithmetic shared by the loader and kernels' shape checks.
bool CheckedNumElements(const std::vector<int64_t>& dims, int64_t* out);

}  // namespace sinter::rt

#endif  // SINTER_RUNTIME_MODEL_H_
