// Loading an artifact: map or copy it, then verify everything before any of
// it is used. Order matters: the header and its checksum first, then region
// bounds, then the schema checksum and the FlatBuffers verifier, then every
// tensor, every code object (range and CRC), every kernel against the op
// schema (op, counts, attributes, code references) and the arena plan; only
// then does the target's backend load its half (runtime/backend.h), checking
// each kernel through its own op table. A damaged file must end here with a
// status, never reach a kernel.
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

#include "runtime/format/file.h"
#include "runtime/format/op_schema.h"
#include "runtime/format/sinter_generated.h"

namespace sinter::rt {
namespace {

// "conv2d + add + relu": the op and the ops of its bodies, for profiles. A
// fused kernel is named by what it computes: a fused reduction by its `kind`
// (softmax, layer_norm, ...), a fused elementwise chain as "fused"; the ops
// of its prologue come before, of its body and epilogue after.
std::string KernelLabel(const std::string& op, const Attrs& attrs, const Step& step) {
  std::string label = op;
  if (auto kind = attrs.Str("kind"); kind.ok()) {
    label = kind.value();
  } else if (step.Body(CodeRole::kMain) != nullptr) {
    label = "fused";
  }
  for (CodeRole role : {CodeRole::kPrologue, CodeRole::kMain, CodeRole::kEpilogue}) {
    const format::KernelBody* body = step.Body(role);
    if (body == nullptr) continue;
    const std::string ops = format::BodyOpsText(*body);
    if (ops.empty()) continue;
    label = role == CodeRole::kPrologue ? ops + " + " + label : label + " + " + ops;
  }
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
  void Release(const uint8_t* p, size_t n) const override {
    // Whole pages inside the range only: its neighbours may still be read.
    // The mapping is private and never written, so the pages dropped are
    // clean copies of the file (as the kernel may drop them under memory
    // pressure anyway).
    const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
    const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }

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

class BorrowedBytes : public Storage {
 public:
  BorrowedBytes(const void* p, size_t n) : p_(static_cast<const uint8_t*>(p)), n_(n) {}
  const uint8_t* data() const override { return p_; }
  size_t size() const override { return n_; }

 private:
  const uint8_t* p_;
  size_t n_;
};

constexpr uint64_t kMaxBytes = format::kMaxTensorBytes;

bool AddOverflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_add_overflow(a, b, out);
}

bool InRange(uint64_t offset, uint64_t size, uint64_t limit) {
  uint64_t end;
  return !AddOverflows(offset, size, &end) && end <= limit;
}

// A kernel's attributes are exactly its op's schema attributes: each known,
// of its schema kind, given once, and every required one present (codegen
// writes nothing else; what a backend needs besides is a CodeRef).
Status CheckAttributes(const format::OpSchema& op, const format::Kernel* kd) {
  std::vector<char> seen(op.attrs.size(), 0);
  if (kd->attrs() != nullptr) {
    for (const format::Attr* a : *kd->attrs()) {
      const std::string_view name = a->name()->string_view();
      const format::SchemaAttr* spec = op.FindAttr(name);
      if (spec == nullptr) {
        return DataLoss(StrCat("unknown attribute '", std::string(name), "' (", op.name,
                               " has no such attribute)"));
      }
      const size_t i = static_cast<size_t>(spec - op.attrs.data());
      if (seen[i]++) return DataLoss(StrCat("attribute '", std::string(name), "' given twice"));
      // format::AttrKind lists Int Float Bool Str Ints Floats, the schema's
      // order; a tensor attribute never reaches an artifact.
      const int kind = static_cast<int>(a->kind());
      if (kind < 0 || kind > static_cast<int>(format::AttrKind::MAX) ||
          kind != static_cast<int>(spec->kind)) {
        return DataLoss(StrCat("attribute '", std::string(name), "' must be ",
                               format::SchemaAttrKindName(spec->kind)));
      }
    }
  }
  for (size_t i = 0; i < op.attrs.size(); ++i) {
    if (!seen[i] && !op.attrs[i].optional) {
      return DataLoss(StrCat("missing attribute '", op.attrs[i].name, "' (",
                             format::SchemaAttrKindName(op.attrs[i].kind), ")"));
    }
  }
  return Status::Ok();
}
static_assert(static_cast<int>(format::AttrKind::Floats) ==
              static_cast<int>(format::SchemaAttrKind::kFloats));

// The FlatBuffers verifier checks a vector's length field (4 bytes) but not
// that the elements of a vector of 8-byte scalars or structs are 8-byte
// aligned; reading a misaligned one is undefined behaviour. The builder
// always aligns them, so a misaligned one is damage. (The schema region
// itself starts 8-byte aligned in memory: Storage keeps it so.)
Status CheckVectorAlignment(const format::Model& m, const uint8_t* base) {
  auto aligned = [base](const auto* vec, int alignment = 8) {
    // (An empty vector has no element to misread, and builders leave its
    // data pointer where its length ends.)
    return vec == nullptr || vec->size() == 0 ||
           (reinterpret_cast<const uint8_t*>(vec->Data()) - base) % alignment == 0;
  };
  bool ok = aligned(m.segments());
  if (m.tensors() != nullptr) {
    for (const format::Tensor* t : *m.tensors()) ok = ok && aligned(t->shape());
  }
  if (m.kernels() != nullptr) {
    for (const format::Kernel* k : *m.kernels()) {
      if (k->attrs() != nullptr) {
        for (const format::Attr* a : *k->attrs())
          ok = ok && aligned(a->ints()) && aligned(a->floats());
      }
      if (k->bodies() != nullptr) {
        // Body instructions are 4-byte-aligned structs.
        for (const format::Body* b : *k->bodies()) ok = ok && aligned(b->instrs(), 4);
      }
    }
  }
  return ok ? Status::Ok() : DataLoss("schema region has a misaligned vector: the file is damaged");
}

const char* KindName(TensorKind k) {
  switch (k) {
    case TensorKind::kInput:
      return "input";
    case TensorKind::kConstant:
      return "constant";
    case TensorKind::kIntermediate:
      return "intermediate";
    case TensorKind::kDynamic:
      return "dynamic";
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

std::unique_ptr<Storage> Storage::View(const void* data, size_t size) {
  return std::make_unique<BorrowedBytes>(data, size);
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

void Model::ReleaseConstant(int t) const {
  const TensorDesc& d = tensors_[t];
  if (d.kind == TensorKind::kConstant && d.constant != nullptr) {
    storage_->Release(d.constant, d.byte_size);
  }
}

// The batch of a format::Batch: a named range, one axis (or none) per input
// and output, each holding 1 in the one-sample plan; bounded so that a whole
// batch's bytes fit int64.
Status Model::VerifyBatch(const format::Batch& b) {
  BatchInfo info;
  info.symbol = b.symbol()->str();
  info.min = b.min();
  info.max = b.max();
  info.per_sample = b.per_sample();
  if (info.symbol.empty() || info.min < 1 || info.max < info.min || info.max > (int64_t{1} << 20))
    return DataLoss(
        StrCat("batch '", info.symbol, "': bad range [", info.min, ", ", info.max, "]"));
  auto axes = [&](const flatbuffers::Vector<int32_t>* v, const std::vector<int>& list,
                  const char* what, std::vector<int>* out,
                  std::vector<std::vector<int64_t>>* dims) -> Status {
    if (v == nullptr || v->size() != list.size())
      return DataLoss(StrCat("batch '", info.symbol, "': not one axis per model ", what));
    for (size_t i = 0; i < list.size(); ++i) {
      const int a = v->Get(static_cast<flatbuffers::uoffset_t>(i));
      const TensorDesc& t = tensors_[list[i]];
      dims->push_back(t.dims);
      out->push_back(a);
      if (a == -1) continue;
      // Per sample: a tensor of one sample, 1 on the axis. A symbolic
      // extent: an input sized by its run there, static elsewhere (its
      // bytes bounded as a dynamic tensor's at the range's maximum).
      bool ok = a >= 0 && static_cast<size_t>(a) < t.dims.size();
      if (ok && info.per_sample) {
        ok = t.dims[a] == 1 && t.kind != TensorKind::kDynamic &&
             t.byte_size <= static_cast<uint64_t>(INT64_MAX / info.max);
      } else if (ok) {
        // Every -1 of it is the symbol (an attention mask [seq, seq] has
        // two), `a` the first.
        std::vector<int64_t> at_max = t.dims;
        for (int64_t& e : at_max) e = e == -1 ? info.max : e;
        int64_t n;
        uint64_t bytes;
        ok =
            out == &info.input_axes && t.kind == TensorKind::kDynamic && t.dims[a] == -1 &&
            std::find(t.dims.begin(), t.dims.begin() + a, -1) == t.dims.begin() + a &&
            CheckedNumElements(at_max, &n) &&
            !__builtin_mul_overflow(static_cast<uint64_t>(n), sinter_dtype_size(t.dtype), &bytes) &&
            bytes <= kMaxBytes;
      }
      if (!ok) {
        return DataLoss(StrCat("batch '", info.symbol, "': bad axis ", a, " of model ", what, " '",
                               t.name, "'"));
      }
      dims->back()[a] = -1;
    }
    return Status::Ok();
  };
  RT_RETURN_IF_ERROR(axes(b.input_axes(), inputs_, "input", &info.input_axes, &info.input_dims));
  RT_RETURN_IF_ERROR(
      axes(b.output_axes(), outputs_, "output", &info.output_axes, &info.output_dims));
  if (std::all_of(info.input_axes.begin(), info.input_axes.end(), [](int a) { return a < 0; }))
    return DataLoss(StrCat("batch '", info.symbol, "': no input has it"));
  batch_ = std::move(info);
  return Status::Ok();
}

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
  RT_RETURN_IF_ERROR(CheckVectorAlignment(*m, schema));
  if (m->target() != nullptr) target_ = m->target()->str();
  if (target_.empty()) target_ = "cpu";
  const Backend* backend = FindBackend(target_);
  if (backend == nullptr) {
    std::string have;
    for (const Backend& b : Backends()) have += StrCat(have.empty() ? "'" : ", '", b.target, "'");
    return Status(SINTER_UNIMPLEMENTED, StrCat("artifact targets '", target_,
                                               "', this runtime runs ", have, " artifacts"));
  }
  const format::Target target = target_ == "cuda" ? format::Target::kCuda : format::Target::kCpu;
  arena_bytes_ = m->arena_bytes();
  if (arena_bytes_ > kMaxBytes) {
    return DataLoss(StrCat("arena of ", arena_bytes_,
                           " bytes: more than any artifact may declare (", kMaxBytes, ")"));
  }

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
    if (static_cast<int>(t->kind()) < 0 || t->kind() > format::TensorKind::MAX) {
      return DataLoss(StrCat(where(), ": unknown kind"));
    }
    d.kind = static_cast<TensorKind>(t->kind());
    if (d.kind == TensorKind::kDynamic) {
      // Sized by its run: -1 where the data decides, the rest bounded as any
      // tensor's; no bytes of its own in the artifact.
      std::vector<int64_t> known;
      for (int64_t e : d.dims) {
        if (e < -1) return DataLoss(StrCat(where(), ": shape has a negative dimension"));
        known.push_back(std::max<int64_t>(e, 1));
      }
      int64_t n;
      uint64_t span;
      if (!CheckedNumElements(known, &n) ||
          __builtin_mul_overflow(static_cast<uint64_t>(n), sinter_dtype_size(d.dtype), &span) ||
          span > kMaxBytes)
        return DataLoss(StrCat(where(), ": dynamic tensor with implausibly large extents"));
      if (t->byte_size() != 0 || t->arena_offset() != 0)
        return DataLoss(StrCat(where(), ": a dynamic tensor records arena bytes"));
      continue;
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
      // A Dynamic input: sized by each run along a symbolic extent
      // (format::Batch.per_sample false; VerifyBatch checks it).
      const bool symbolic = tensors_[idx].kind == TensorKind::kDynamic && m->batch() != nullptr &&
                            !m->batch()->per_sample();
      if (tensors_[idx].kind != TensorKind::kInput && !symbolic) {
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
  if (m->batch() != nullptr) RT_RETURN_IF_ERROR(VerifyBatch(*m->batch()));

  // 6. Code objects: in range and intact (each its own CRC, whether or not
  // the weights are checked: damaged code must never run). Which of them a
  // backend loads is its choice.
  if (m->code_objects() != nullptr) {
    for (const format::CodeObject* co : *m->code_objects()) {
      const std::string fmt = co->format()->str();
      const int seg = co->segment();
      auto where = [&] { return StrCat("code object ", code_objects_.size(), " (", fmt, ")"); };
      if (fmt.empty() || co->module_() < 0 || co->module_() > 1024)
        return DataLoss(StrCat(where(), ": no format or a bad module index"));
      if (seg < 0 || static_cast<size_t>(seg) >= num_segments)
        return DataLoss(StrCat(where(), ": segment ", seg, " out of range"));
      const format::Segment* sg = segments->Get(seg);
      if (sg->offset() % format::kSegmentAlignment != 0 ||
          !InRange(sg->offset(), sg->size(), h.data_bytes))
        return DataLoss(StrCat(where(), ": segment does not fit the data region"));
      if (format::Crc32(data + sg->offset(), sg->size()) != co->crc32())
        return DataLoss(StrCat(where(), ": checksum mismatch: the file is damaged"));
      code_objects_.push_back({fmt, co->module_(), data + sg->offset(), sg->size()});
    }
  }

  // 7. Kernels: ops of the schema that the target runs, valid indices, each
  // tensor defined once before use, attributes and code references as the
  // schema and the code objects allow.
  std::vector<char> defined(tensors_.size(), 0);
  for (size_t i = 0; i < tensors_.size(); ++i)
    defined[i] =
        tensors_[i].kind != TensorKind::kIntermediate && tensors_[i].kind != TensorKind::kDynamic;
  for (int idx : inputs_) defined[idx] = 1;
  const auto* kernels = m->kernels();
  const size_t num_kernels = kernels ? kernels->size() : 0;
  steps_.resize(num_kernels);
  for (size_t k = 0; k < num_kernels; ++k) {
    RT_RETURN_IF_ERROR(
        VerifyKernel(k, kernels->Get(static_cast<flatbuffers::uoffset_t>(k)), target, defined));
  }
  for (int idx : outputs_) {
    if (!defined[idx]) return DataLoss(StrCat("model output ", idx, " is never written"));
  }
  RT_RETURN_IF_ERROR(VerifyLiveness());
  // The plugins the kernels name, each once, in order of first use.
  for (const Step& step : steps_) {
    if (step.schema->name != "plugin_segment" && step.schema->name != "plugin_op") continue;
    RT_ASSIGN_OR_RETURN(std::string plugin, step.attrs().Str("plugin"));
    // The name becomes part of a file name the runtime dlopens: letters,
    // digits and '_' only, so an artifact cannot name another file.
    const bool plain = !plugin.empty() && plugin.size() <= 64 &&
                       std::all_of(plugin.begin(), plugin.end(), [](char ch) {
                         return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                                (ch >= '0' && ch <= '9') || ch == '_';
                       });
    if (!plain) {
      return DataLoss(StrCat("kernel '", step.schema->name, "' names a plugin '",
                             plugin.substr(0, 64),
                             "': a plugin's name is 1 to 64 letters, digits or '_'"));
    }
    if (("," + plugins_ + ",").find("," + plugin + ",") == std::string::npos)
      plugins_ += (plugins_.empty() ? "" : ",") + plugin;
  }

  // 8. The backend: its half of the model, every kernel through its op table.
  LoadContext ctx{m, &options};
  auto half = backend->load(*this, ctx);
  if (!half.ok()) return half.status();
  backend_ = std::move(half.value());
  return Status::Ok();
}

Status Model::VerifyKernel(size_t k, const format::Kernel* kd, format::Target target,
                           std::vector<char>& defined) {
  Step& step = steps_[k];
  step.kernel = kd;
  const std::string op_name = kd->op()->str();
  step.loc = kd->loc() ? kd->loc()->str() : "";
  auto where = [&] {
    return StrCat("kernel ", k, " (", op_name, step.loc.empty() ? "" : " at " + step.loc, ")");
  };
  auto check_index = [&](int idx) -> Status {
    if (idx < 0 || static_cast<size_t>(idx) >= tensors_.size())
      return DataLoss(StrCat(where(), " refers to tensor ", idx, " of ", tensors_.size()));
    return Status::Ok();
  };
  // The op's schema row (ops.def): what the kernel may look like, the same
  // for every backend.
  step.schema = format::FindOpSchema(op_name);
  if (step.schema == nullptr) {
    return Status(SINTER_UNIMPLEMENTED, StrCat(where(), ": this runtime has no such op"));
  }
  const format::TargetStrategy& strategy = step.schema->strategy(target);
  if (!strategy.RunsAsKernel()) {
    return Status(SINTER_UNIMPLEMENTED,
                  StrCat(where(), ": the ", target_, " backend runs no ", op_name, " kernel (",
                         format::StrategyName(strategy.kind), ")"));
  }
  const size_t n_in = kd->inputs() ? kd->inputs()->size() : 0;
  const size_t n_out = kd->outputs() ? kd->outputs()->size() : 0;
  if (static_cast<int>(n_in) < step.schema->min_operands ||
      (step.schema->max_operands >= 0 && static_cast<int>(n_in) > step.schema->max_operands)) {
    return DataLoss(
        StrCat(where(), ": has ", n_in, " inputs; ", op_name, " ", step.schema->ArityText()));
  }
  // num_results -1: one or more (plugin_segment), typed by the artifact.
  if (step.schema->num_results >= 0 ? static_cast<int>(n_out) != step.schema->num_results
                                    : n_out == 0) {
    return DataLoss(StrCat(where(), ": has ", n_out, " outputs; ", op_name, " has ",
                           step.schema->num_results >= 0 ? std::to_string(step.schema->num_results)
                                                         : std::string("one or more")));
  }
  RT_RETURN_IF_ERROR(CheckAttributes(*step.schema, kd).WithContext(where()));
  bool reads_dynamic = false;
  for (size_t j = 0; j < n_in; ++j) {
    int idx = kd->inputs()->Get(static_cast<flatbuffers::uoffset_t>(j));
    RT_RETURN_IF_ERROR(check_index(idx));
    if (!defined[idx])
      return DataLoss(StrCat(where(), ": reads tensor ", idx, " before it is written"));
    if (tensors_[idx].kind == TensorKind::kDynamic) {
      if (!step.schema->Has(format::kRunExtents)) {
        return DataLoss(StrCat(where(), ": reads tensor ", idx,
                               ", whose size only its run decides, and ", op_name,
                               " cannot take the run's extents"));
      }
      reads_dynamic = true;
    }
    step.inputs.push_back(idx);
  }
  for (size_t j = 0; j < n_out; ++j) {
    int idx = kd->outputs()->Get(static_cast<flatbuffers::uoffset_t>(j));
    RT_RETURN_IF_ERROR(check_index(idx));
    // A dynamic tensor: only an op the schema marks sized-by-run (nonzero,
    // a plugin segment), or one taking the run's extents that reads a
    // dynamic tensor, sizes its results at run time.
    if (tensors_[idx].kind != TensorKind::kIntermediate &&
        (tensors_[idx].kind != TensorKind::kDynamic ||
         !(step.schema->Has(format::kSizedByRun) || reads_dynamic))) {
      return DataLoss(StrCat(where(), ": writes ", KindName(tensors_[idx].kind), " tensor ", idx));
    }
    if (defined[idx]) return DataLoss(StrCat(where(), ": tensor ", idx, " is written twice"));
    defined[idx] = 1;
    step.outputs.push_back(idx);
  }
  // Code references: known roles, each once, naming a module the artifact has.
  if (kd->code() != nullptr) {
    for (const format::CodeRef* c : *kd->code()) {
      if (static_cast<int>(c->role()) < 0 || c->role() > format::CodeRole::MAX)
        return DataLoss(StrCat(where(), ": code reference of an unknown role"));
      CodeUse u;
      u.role = static_cast<CodeRole>(c->role());
      if (step.Code(u.role) != nullptr)
        return DataLoss(StrCat(where(), ": two functions for one role"));
      u.module = c->module_();
      bool known = false;
      for (const CodeObject& o : code_objects_) known = known || o.module == u.module;
      if (!known) return DataLoss(StrCat(where(), ": code module ", u.module, " does not exist"));
      u.symbol = c->symbol()->str();
      if (u.symbol.empty()) return DataLoss(StrCat(where(), ": a code reference without a name"));
      u.block = c->block();
      u.items = c->items();
      u.max_blocks_per_sm = c->max_blocks_per_sm();
      step.code.push_back(std::move(u));
    }
  }
  // Bodies: the op's regions (ops.def), each once, decoded and checked by
  // the description's own rules; required ones present.
  if (kd->bodies() != nullptr) {
    for (const format::Body* b : *kd->bodies()) {
      const int role = static_cast<int>(b->role());
      if (role < 0 || role > static_cast<int>(format::CodeRole::MAX))
        return DataLoss(StrCat(where(), ": a body of an unknown role"));
      const std::string_view region = format::RegionName(b->role());
      if (step.schema->FindRegion(region) == nullptr)
        return DataLoss(StrCat(where(), ": ", op_name, " has no region '", region, "'"));
      if (step.Body(static_cast<CodeRole>(role)) != nullptr)
        return DataLoss(StrCat(where(), ": two bodies for region '", region, "'"));
      format::KernelBody body;
      std::string error;
      if (!format::DecodeKernelBody(*b, &body, &error) || !format::CheckKernelBody(body, &error))
        return DataLoss(StrCat(where(), " ", region, ": ", error));
      step.bodies.emplace_back(static_cast<CodeRole>(role), std::move(body));
    }
  }
  for (const format::SchemaRegion& r : step.schema->regions) {
    format::CodeRole role;
    if (!r.optional && format::RegionRole(r.name, &role) &&
        step.Body(static_cast<CodeRole>(role)) == nullptr)
      return DataLoss(StrCat(where(), ": missing region '", r.name, "'"));
  }
  step.label = KernelLabel(op_name, step.attrs(), step);
  step.cost = KernelCostOf(step, tensors_);
  return Status::Ok();
}

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
