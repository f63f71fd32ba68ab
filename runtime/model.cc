// Loading an artifact: map or copy it, then verify everything before any of
// it is used. Order matters: the header and its checksum first, then region
// bounds, then the schema checksum and the FlatBuffers verifier, then every
// tensor, every kernel (through the op table's checks) and the arena plan.
// A damaged file must end here with a status, never reach a kernel.
#include "runtime/model.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include "runtime/cpu/op_table.h"
#include "runtime/cuda/backend.h"
#include "runtime/format/file.h"
#include "runtime/format/op_schema.h"
#include "runtime/format/sinter_generated.h"

namespace sinter::rt {
namespace {

// "conv2d + add + relu": the op and the op names of its fused programs
// ("t0 = add $0 $1; t1 = relu t0" -> add, relu), for profiles.
std::string KernelLabel(const std::string& op, const Attrs& attrs) {
  std::string label = op == "fused_elementwise" ? "fused" : op;
  if (op == "fused_reduction") {
    auto kind = attrs.Str("kind");
    label = kind.ok() ? kind.value() : op;
  }
  auto append = [&](const char* attr, bool before) {
    auto text = attrs.Str(attr);
    if (!text.ok()) return;
    std::string names;
    const std::string& p = text.value();
    for (size_t at = p.find(" = "); at != std::string::npos; at = p.find(" = ", at + 3)) {
      size_t b = at + 3, e = p.find(' ', b);
      names += (names.empty() ? "" : " + ") + p.substr(b, e == std::string::npos ? e : e - b);
    }
    if (!names.empty()) label = before ? names + " + " + label : label + " + " + names;
  };
  append("prologue", true);
  append("program", false);
  append("epilogue", false);
  return label;
}

class MappedFile : public Storage {
 public:
  MappedFile(void* p, size_t n) : p_(p), n_(n) {}
  ~MappedFile() override {
    if (p_ != nullptr) munmap(p_, n_);
  }
  const uint8_t* data() const override { return static_cast<const uint8_t*>(p_); }
  size_t size() const override { return n_; }

 private:
  void* p_;
  size_t n_;
};

class OwnedBytes : public Storage {
 public:
  explicit OwnedBytes(size_t n)
      : p_(static_cast<uint8_t*>(std::aligned_alloc(64, (n + 63) / 64 * 64))), n_(n) {}
  ~OwnedBytes() override { std::free(p_); }
  uint8_t* mutable_data() { return p_; }
  const uint8_t* data() const override { return p_; }
  size_t size() const override { return n_; }

 private:
  uint8_t* p_;
  size_t n_;
};

// No tensor, and no arena, may be larger than this: 64 TiB.
constexpr uint64_t kMaxBytes = uint64_t{1} << 46;

bool AddOverflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_add_overflow(a, b, out);
}

bool InRange(uint64_t offset, uint64_t size, uint64_t limit) {
  uint64_t end;
  return !AddOverflows(offset, size, &end) && end <= limit;
}

const char* KindName(TensorKind k) {
  switch (k) {
    case TensorKind::kInput:
      return "input";
    case TensorKind::kConstant:
      return "constant";
    case TensorKind::kIntermediate:
      return "intermediate";
  }
  return "?";
}

}  // namespace

StatusOr<std::unique_ptr<Storage>> Storage::MapFile(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
  // forever; the type check below then refuses it (and devices, directories).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    return Status(errno == ENOENT ? SINTER_NOT_FOUND : SINTER_INVALID_ARGUMENT,
                  StrCat("cannot open '", path, "': ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(StrCat("'", path, "' is not a regular file"));
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return DataLoss(StrCat("'", path, "' is empty"));
  }
  void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return Status(SINTER_RESOURCE_EXHAUSTED, StrCat("cannot map '", path, "'"));
  return std::unique_ptr<Storage>(new MappedFile(p, size));
}

StatusOr<std::unique_ptr<Storage>> Storage::Copy(const void* data, size_t size) {
  auto s = std::make_unique<OwnedBytes>(size);
  if (s->mutable_data() == nullptr) {
    return Status(SINTER_RESOURCE_EXHAUSTED, StrCat("cannot allocate ", size, " bytes"));
  }
  if (size) std::memcpy(s->mutable_data(), data, size);
  return std::unique_ptr<Storage>(std::move(s));
}

bool CheckedNumElements(const std::vector<int64_t>& dims, int64_t* out) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return false;
  }
  *out = n;
  return true;
}

StatusOr<std::shared_ptr<Model>> Model::Load(std::unique_ptr<Storage> storage,
                                             const LoadOptions& options) {
  std::shared_ptr<Model> model(new Model());
  model->storage_ = std::move(storage);
  RT_RETURN_IF_ERROR(model->Verify(options));
  return model;
}

Model::~Model() = default;

Status Model::Verify(const LoadOptions& options) {
  const uint8_t* base = storage_->data();
  const uint64_t size = storage_->size();

  // 1. Header.
  if (size < sizeof(format::FileHeader)) {
    return DataLoss(StrCat("file of ", size, " bytes is shorter than the ",
                           sizeof(format::FileHeader), "-byte header"));
  }
  format::FileHeader h;
  std::memcpy(&h, base, sizeof h);
  if (std::memcmp(h.magic, format::kMagic, sizeof h.magic) != 0) {
    return DataLoss("not a sinter artifact (bad magic)");
  }
  if (format::Crc32(&h, offsetof(format::FileHeader, header_crc32)) != h.header_crc32) {
    return DataLoss("header checksum mismatch: the file is damaged");
  }
  if (h.version != format::kFormatVersion) {
    return Status(SINTER_VERSION_MISMATCH,
                  StrCat("artifact format version ", h.version, ", this runtime reads version ",
                         format::kFormatVersion));
  }
  if (h.header_bytes != sizeof(format::FileHeader)) return DataLoss("bad header size");

  // 2. Regions.
  if (h.schema_offset < sizeof(format::FileHeader) || h.schema_offset % 8 != 0 ||
      !InRange(h.schema_offset, h.schema_bytes, size)) {
    return DataLoss(StrCat("schema region [", h.schema_offset, ", +", h.schema_bytes,
                           ") lies outside the ", size, "-byte file (truncated?)"));
  }
  if (h.data_offset % format::kSegmentAlignment != 0 ||
      h.data_offset < h.schema_offset + h.schema_bytes ||
      !InRange(h.data_offset, h.data_bytes, size)) {
    return DataLoss(StrCat("data region [", h.data_offset, ", +", h.data_bytes,
                           ") lies outside the ", size, "-byte file (truncated?)"));
  }
  const uint8_t* schema = base + h.schema_offset;
  const uint8_t* data = base + h.data_offset;
  if (format::Crc32(schema, h.schema_bytes) != h.schema_crc32) {
    return DataLoss("schema checksum mismatch: the file is damaged");
  }
  if (options.verify_weights_checksum && format::Crc32(data, h.data_bytes) != h.data_crc32) {
    return DataLoss("constants checksum mismatch: the weights are damaged");
  }

  // 3. Schema structure.
  flatbuffers::Verifier verifier(schema, h.schema_bytes,
                                 flatbuffers::Verifier::Options{/*max_depth=*/64,
                                                                /*max_tables=*/1000000});
  if (!format::ModelBufferHasIdentifier(schema) || !format::VerifyModelBuffer(verifier)) {
    return DataLoss("schema region fails FlatBuffers verification");
  }
  const format::Model* m = format::GetModel(schema);
  if (m->target() != nullptr) target_ = m->target()->str();
  if (target_.empty()) target_ = "cpu";
  if (target_ != "cpu" && target_ != "cuda") {
    return Status(SINTER_UNIMPLEMENTED, StrCat("artifact targets '", target_,
                                               "', this runtime runs 'cpu' and 'cuda' artifacts"));
  }
  const bool cuda = target_ == "cuda";
  arena_bytes_ = m->arena_bytes();
  if (arena_bytes_ > kMaxBytes) return DataLoss("implausible arena size");

  // 4. Tensors.
  if (m->tensors() == nullptr) return DataLoss("model has no tensor table");
  const auto* segments = m->segments();
  const size_t num_segments = segments ? segments->size() : 0;
  tensors_.resize(m->tensors()->size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const format::Tensor* t = m->tensors()->Get(static_cast<flatbuffers::uoffset_t>(i));
    TensorDesc& d = tensors_[i];
    d.name = t->name() ? t->name()->str() : StrCat("t", i);
    auto where = [&] { return StrCat("tensor ", i, " '", d.name, "'"); };
    if (static_cast<int>(t->dtype()) < 0 || t->dtype() > format::DType::MAX) {
      return DataLoss(StrCat(where(), ": unknown dtype"));
    }
    d.dtype = static_cast<sinter_dtype>(t->dtype());
    if (t->shape() != nullptr) {
      if (t->shape()->size() > kMaxRank)
        return DataLoss(StrCat(where(), ": rank above ", kMaxRank));
      d.dims.assign(t->shape()->begin(), t->shape()->end());
    }
    uint64_t bytes;
    if (!CheckedNumElements(d.dims, &d.num_elements) ||
        __builtin_mul_overflow(static_cast<uint64_t>(d.num_elements), sinter_dtype_size(d.dtype),
                               &bytes)) {
      return DataLoss(StrCat(where(), ": shape has a negative dimension or overflows"));
    }
    if (bytes != t->byte_size()) {
      return DataLoss(
          StrCat(where(), ": records ", t->byte_size(), " bytes but its shape needs ", bytes));
    }
    // A tensor with a zero extent holds no bytes, so the size checks below
    // cannot bound its other extents; hold them to what a tensor with data
    // could have, so that kernels' shape arithmetic cannot overflow on them.
    if (d.num_elements == 0) {
      uint64_t span = sinter_dtype_size(d.dtype);
      for (int64_t e : d.dims) {
        if (__builtin_mul_overflow(span, static_cast<uint64_t>(std::max<int64_t>(e, 1)), &span) ||
            span > kMaxBytes) {
          return DataLoss(StrCat(where(), ": empty tensor with implausibly large extents"));
        }
      }
    }
    d.byte_size = bytes;
    if (static_cast<int>(t->kind()) < 0 || t->kind() > format::TensorKind::MAX) {
      return DataLoss(StrCat(where(), ": unknown kind"));
    }
    d.kind = static_cast<TensorKind>(t->kind());
    if (d.kind == TensorKind::kConstant) {
      int seg = t->segment();
      if (seg < 0 || static_cast<size_t>(seg) >= num_segments) {
        return DataLoss(StrCat(where(), ": segment index ", seg, " out of range"));
      }
      const format::Segment* s = segments->Get(seg);
      if (s->size() != bytes || s->offset() % format::kSegmentAlignment != 0 ||
          !InRange(s->offset(), s->size(), h.data_bytes)) {
        return DataLoss(StrCat(where(), ": segment [", s->offset(), ", +", s->size(),
                               ") does not fit the data region or the tensor"));
      }
      d.constant = data + s->offset();
    } else {
      d.arena_offset = t->arena_offset();
      if (d.arena_offset % kArenaAlignment != 0 || !InRange(d.arena_offset, bytes, arena_bytes_)) {
        return DataLoss(StrCat(where(), ": arena range [", d.arena_offset, ", +", bytes,
                               ") outside the ", arena_bytes_, "-byte arena or misaligned"));
      }
    }
  }

  // 5. Inputs and outputs.
  auto check_index = [&](int idx, const char* what) -> Status {
    if (idx < 0 || static_cast<size_t>(idx) >= tensors_.size()) {
      return DataLoss(StrCat(what, " refers to tensor ", idx, " of ", tensors_.size()));
    }
    return Status::Ok();
  };
  if (m->inputs() != nullptr) {
    for (int idx : *m->inputs()) {
      RT_RETURN_IF_ERROR(check_index(idx, "model input"));
      if (tensors_[idx].kind != TensorKind::kInput) {
        return DataLoss(StrCat("model input '", tensors_[idx].name, "' is a ",
                               KindName(tensors_[idx].kind), " tensor"));
      }
      if (std::find(inputs_.begin(), inputs_.end(), idx) != inputs_.end()) {
        return DataLoss("model input listed twice");
      }
      inputs_.push_back(idx);
    }
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (tensors_[i].kind == TensorKind::kInput &&
        std::find(inputs_.begin(), inputs_.end(), static_cast<int>(i)) == inputs_.end()) {
      return DataLoss(StrCat("tensor ", i, " is an input tensor but not a model input"));
    }
  }
  if (m->outputs() == nullptr || m->outputs()->size() == 0) return DataLoss("model has no outputs");
  for (int idx : *m->outputs()) {
    RT_RETURN_IF_ERROR(check_index(idx, "model output"));
    outputs_.push_back(idx);
  }

  // 6. Native code: in range, intact (its own CRC, whether or not the weights
  // are checked: damaged code must never run), and loaded only on a CPU with
  // its instruction-set level; otherwise the kernels interpret their programs.
  if (m->native_code() != -1) {
    const int seg = m->native_code();
    if (seg < 0 || static_cast<size_t>(seg) >= num_segments)
      return DataLoss(StrCat("native code segment ", seg, " out of range"));
    const format::Segment* s = segments->Get(seg);
    if (s->offset() % format::kSegmentAlignment != 0 ||
        !InRange(s->offset(), s->size(), h.data_bytes))
      return DataLoss("native code segment does not fit the data region");
    if (format::Crc32(data + s->offset(), s->size()) != m->native_crc32())
      return DataLoss("native code checksum mismatch: the file is damaged");
    native_level_ = m->native_level() ? m->native_level()->str() : "";
    if (options.allow_native_code && CpuSupportsLevel(native_level_)) {
      auto code = NativeCode::Load(data + s->offset(), s->size());
      if (!code.ok()) return code.status();
      native_ = std::move(code.value());
    }
  }

  // 7. Kernels: known ops, valid indices, each tensor defined once before use,
  // and the op's own checks of attributes against recorded shapes.
  std::vector<char> defined(tensors_.size(), 0);
  for (size_t i = 0; i < tensors_.size(); ++i)
    defined[i] = tensors_[i].kind != TensorKind::kIntermediate;
  const auto* kernels = m->kernels();
  const size_t num_kernels = kernels ? kernels->size() : 0;
  steps_.resize(num_kernels);
  for (size_t k = 0; k < num_kernels; ++k) {
    const format::Kernel* kd = kernels->Get(static_cast<flatbuffers::uoffset_t>(k));
    Step& step = steps_[k];
    std::string op_name = kd->op()->str();
    step.loc = kd->loc() ? kd->loc()->str() : "";
    auto where = [&] {
      return StrCat("kernel ", k, " (", op_name, step.loc.empty() ? "" : " at " + step.loc, ")");
    };
    // The op's schema row (ops.def) first: what the kernel may look like,
    // the same for every backend.
    step.schema = format::FindOpSchema(op_name);
    if (step.schema == nullptr) {
      return Status(SINTER_UNIMPLEMENTED, StrCat(where(), ": this runtime has no such op"));
    }
    const format::TargetStrategy& strategy =
        step.schema->strategy(cuda ? format::Target::kCuda : format::Target::kCpu);
    if (!strategy.RunsAsKernel()) {
      return Status(SINTER_UNIMPLEMENTED,
                    StrCat(where(), ": the ", target_, " backend runs no ", op_name, " kernel (",
                           format::StrategyName(strategy.kind), ")"));
    }
    size_t n_in = kd->inputs() ? kd->inputs()->size() : 0;
    size_t n_out = kd->outputs() ? kd->outputs()->size() : 0;
    if (static_cast<int>(n_in) < step.schema->min_operands ||
        (step.schema->max_operands >= 0 && static_cast<int>(n_in) > step.schema->max_operands)) {
      return DataLoss(
          StrCat(where(), ": has ", n_in, " inputs; ", op_name, " ", step.schema->ArityText()));
    }
    if (static_cast<int>(n_out) != step.schema->num_results) {
      return DataLoss(StrCat(where(), ": has ", n_out, " outputs; ", op_name, " has ",
                             step.schema->num_results));
    }
    step.op = FindOp(op_name);
    if (step.op == nullptr && !cuda) {
      return Status(SINTER_UNIMPLEMENTED, StrCat(where(), ": this runtime has no such kernel"));
    }
    PrepareContext pc{Attrs(kd), {}, {}, native_.get()};
    for (size_t j = 0; j < n_in; ++j) {
      int idx = kd->inputs()->Get(static_cast<flatbuffers::uoffset_t>(j));
      RT_RETURN_IF_ERROR(check_index(idx, where().c_str()));
      if (!defined[idx])
        return DataLoss(StrCat(where(), ": reads tensor ", idx, " before it is written"));
      step.inputs.push_back(idx);
      pc.inputs.push_back(&tensors_[idx]);
    }
    for (size_t j = 0; j < n_out; ++j) {
      int idx = kd->outputs()->Get(static_cast<flatbuffers::uoffset_t>(j));
      RT_RETURN_IF_ERROR(check_index(idx, where().c_str()));
      if (tensors_[idx].kind != TensorKind::kIntermediate) {
        return DataLoss(
            StrCat(where(), ": writes ", KindName(tensors_[idx].kind), " tensor ", idx));
      }
      if (defined[idx]) return DataLoss(StrCat(where(), ": tensor ", idx, " is written twice"));
      defined[idx] = 1;
      step.outputs.push_back(idx);
      pc.outputs.push_back(&tensors_[idx]);
    }
    for (int o : step.outputs) {
      if (std::count(step.outputs.begin(), step.outputs.end(), o) > 1) {
        return DataLoss(StrCat(where(), ": repeats an output"));
      }
    }
    step.label = KernelLabel(op_name, pc.attrs);
    // A CUDA kernel is prepared by the CUDA backend below; the CPU table
    // still gives its arity, checked above.
    if (cuda) continue;
    auto params = step.op->prepare(pc);
    if (!params.ok()) return params.status().WithContext(where());
    step.params = std::move(params.value());
    native_kernels_ += native_ && (pc.attrs.Has("native") || pc.attrs.Has("epilogue_native") ||
                                   pc.attrs.Has("prologue_native"));
  }
  for (int idx : outputs_) {
    if (!defined[idx]) return DataLoss(StrCat("model output ", idx, " is never written"));
  }
  RT_RETURN_IF_ERROR(VerifyLiveness());

  // 8. CUDA: the device, the module for its architecture, the constants
  // uploaded once, every kernel's launch checked (runtime/cuda/backend.h).
  if (cuda) {
    auto cm = cuda::LoadModel(*this, *m, data, h.data_bytes, options.cuda_device);
    if (!cm.ok()) return cm.status();
    cuda_.reset(cm.value());
  }
  return Status::Ok();
}

void Model::CudaDeleter::operator()(cuda::CudaModel* m) const { cuda::DestroyModel(m); }

// Tensors whose lifetimes overlap must not share arena bytes; otherwise a
// damaged plan would silently produce wrong answers. Lifetimes: model inputs
// and outputs live for the whole run (inputs are set once and may be reused
// across runs; outputs are read after it); an intermediate lives from the
// step that writes it to its last reader. A sweep keeps the live ranges in an
// ordered map, so the check is O(n log n). One overlap is allowed: a kernel
// of a kInPlace op (ops.def) writing its result exactly over its first input
// when that input dies at this kernel (the compiler's in-place reuse; such
// kernels read each element before writing it).
Status Model::VerifyLiveness() const {
  const int end = static_cast<int>(steps_.size());
  std::vector<int> def(tensors_.size(), -1), last(tensors_.size(), -2);
  for (size_t s = 0; s < steps_.size(); ++s) {
    for (int t : steps_[s].outputs) def[t] = last[t] = static_cast<int>(s);
    for (int t : steps_[s].inputs) last[t] = std::max(last[t], static_cast<int>(s));
  }
  for (int t : inputs_) def[t] = -1, last[t] = end;
  for (int t : outputs_) last[t] = end;

  std::vector<std::vector<int>> starts(steps_.size() + 1), frees(steps_.size() + 2);
  for (size_t t = 0; t < tensors_.size(); ++t) {
    if (tensors_[t].kind == TensorKind::kConstant || tensors_[t].byte_size == 0) continue;
    if (last[t] < -1) continue;  // never used and never written: no storage needed
    starts[def[t] + 1].push_back(static_cast<int>(t));
    frees[std::max(last[t], def[t]) + 1].push_back(static_cast<int>(t));
  }
  std::map<uint64_t, std::pair<uint64_t, int>> live;  // offset -> (end, tensor)
  for (size_t time = 0; time <= steps_.size(); ++time) {
    for (int t : starts[time]) {
      uint64_t b = tensors_[t].arena_offset, e = b + tensors_[t].byte_size;
      auto it = live.lower_bound(b);
      if (it != live.end() && it->first == b && it->second.first == e && time > 0) {
        const Step& s = steps_[time - 1];
        const int u = it->second.second;
        if (s.schema->Has(format::kInPlace) && !s.inputs.empty() && s.inputs[0] == u &&
            last[u] == static_cast<int>(time) - 1 && s.outputs.size() == 1 && s.outputs[0] == t) {
          live.erase(it);  // u dies here; t takes its bytes
          it = live.lower_bound(b);
        }
      }
      if (it != live.end() && it->first < e) {
        return DataLoss(StrCat("arena plan: tensors ", t, " and ", it->second.second,
                               " are live at once but overlap"));
      }
      if (it != live.begin() && std::prev(it)->second.first > b) {
        return DataLoss(StrCat("arena plan: tensors ", t, " and ", std::prev(it)->second.second,
                               " are live at once but overlap"));
      }
      live[b] = {e, t};
    }
    for (int t : frees[time]) {
      // Only t's own entry: an in-place successor may hold the same offset.
      auto it = live.find(tensors_[t].arena_offset);
      if (it != live.end() && it->second.second == t) live.erase(it);
    }
  }
  return Status::Ok();
}

}  // namespace sinter::rt
