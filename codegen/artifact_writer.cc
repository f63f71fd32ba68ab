#include "codegen/artifact_writer.h"

#include <cstring>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "ir/kernel_body.h"
#include "runtime/format/file.h"
#include "runtime/format/kernel_body.h"
#include "runtime/format/sinter_generated.h"

namespace sinter::codegen {
namespace {

namespace fb = ::flatbuffers;
namespace fmt = ::sinter::format;

fb::Offset<fmt::Attr> WriteAttr(fb::FlatBufferBuilder& b, const std::string& name,
                                const ir::Attribute& a) {
  auto n = b.CreateString(name);
  switch (ir::KindOf(a)) {
    case ir::AttrKind::kInt:
      return fmt::CreateAttr(b, n, fmt::AttrKind::Int, std::get<int64_t>(a));
    case ir::AttrKind::kBool:
      return fmt::CreateAttr(b, n, fmt::AttrKind::Bool, std::get<bool>(a) ? 1 : 0);
    case ir::AttrKind::kFloat:
      return fmt::CreateAttr(b, n, fmt::AttrKind::Float, 0, std::get<double>(a));
    case ir::AttrKind::kStr: {
      auto s = b.CreateString(std::get<std::string>(a));
      return fmt::CreateAttr(b, n, fmt::AttrKind::Str, 0, 0, s);
    }
    case ir::AttrKind::kInts: {
      auto v = b.CreateVector(std::get<std::vector<int64_t>>(a));
      return fmt::CreateAttr(b, n, fmt::AttrKind::Ints, 0, 0, 0, v);
    }
    case ir::AttrKind::kFloats: {
      auto v = b.CreateVector(std::get<std::vector<double>>(a));
      return fmt::CreateAttr(b, n, fmt::AttrKind::Floats, 0, 0, 0, 0, v);
    }
    case ir::AttrKind::kTensor:
      break;
  }
  return {};
}

int64_t AlignUp(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

}  // namespace

absl::StatusOr<std::string> WriteArtifact(const ir::Graph& graph, const passes::MemoryPlan& plan,
                                          ArtifactStats* stats, const NativeKernels* native,
                                          const CudaCode* cuda, const ir::BatchSymbol* batch) {
  fb::FlatBufferBuilder b(1 << 16);
  std::unordered_map<const ir::Value*, int> tensor_of;
  std::vector<fb::Offset<fmt::Tensor>> tensors;
  std::vector<fmt::Segment> segments;
  std::unordered_map<const ir::TensorData*, int> segment_of;
  std::vector<std::string_view> payloads;  // bytes of each segment
  int64_t data_bytes = 0;

  auto add_tensor = [&](const ir::Value* v, fmt::TensorKind kind, int segment,
                        const std::string& name) -> absl::Status {
    const bool dynamic = !v->type().shape.is_static();
    if (dynamic) {
      // An input of a symbolic extent (ir/extent_analysis.h), or a value a
      // run sizes: in session memory, not the arena.
      const bool symbolic_input =
          kind == fmt::TensorKind::Input && batch != nullptr && !batch->per_sample;
      if ((kind != fmt::TensorKind::Intermediate && !symbolic_input) || plan.offsets.count(v))
        return absl::InvalidArgumentError("tensor with a dynamic shape that is not an output");
      kind = fmt::TensorKind::Dynamic;
    }
    auto bytes = dynamic ? std::optional<int64_t>(0) : v->type().ByteSize();
    if (!bytes) return absl::InvalidArgumentError("tensor with dynamic or overflowing shape");
    int64_t offset = 0;
    if (kind != fmt::TensorKind::Constant && kind != fmt::TensorKind::Dynamic) {
      auto it = plan.offsets.find(v);
      if (it == plan.offsets.end())
        return absl::InternalError("value missing from the memory plan");
      offset = it->second;
    }
    // A dimension the run decides is -1 in the artifact.
    std::vector<int64_t> extents;
    for (const ir::Dim& d : v->type().shape.dims())
      extents.push_back(d.is_static() ? d.extent() : -1);
    auto shape = b.CreateVector(extents);
    auto n = name.empty() ? 0 : b.CreateString(name);
    tensor_of[v] = static_cast<int>(tensors.size());
    tensors.push_back(fmt::CreateTensor(b, n, ir::ToFormat(v->type().dtype), shape, kind, segment,
                                        static_cast<uint64_t>(offset),
                                        static_cast<uint64_t>(*bytes)));
    return absl::OkStatus();
  };

  // A model output carries the graph's name for it ("out" for a dict entry,
  // "output0" for a tuple's first tensor) rather than its IR value's; a
  // value returned twice, or an input returned as is, keeps its first name.
  std::unordered_map<const ir::Value*, std::string> output_name;
  for (size_t i = 0; i < graph.outputs().size() && i < graph.output_names().size(); ++i)
    output_name.emplace(graph.outputs()[i], graph.output_names()[i]);
  auto name_of = [&](const ir::Value* v) -> std::string {
    auto it = output_name.find(v);
    return it != output_name.end() ? it->second : v->name();
  };
  std::vector<int> inputs, outputs;
  for (const auto& in : graph.inputs()) {
    if (!in->type().shape.is_static() && (batch == nullptr || batch->per_sample))
      return absl::UnimplementedError("dynamic input shapes");
    absl::Status st = add_tensor(in.get(), fmt::TensorKind::Input, -1, in->name());
    if (!st.ok()) return st;
    inputs.push_back(tensor_of[in.get()]);
  }
  std::vector<fb::Offset<fmt::Kernel>> kernels;
  for (const auto& op : graph.ops()) {
    if (op->kind() == ir::OpKind::kConst) {
      const ir::TensorData* data = op->GetTensor("value").get();
      auto [it, fresh] = segment_of.emplace(data, static_cast<int>(segments.size()));
      if (fresh) {
        data_bytes = AlignUp(data_bytes, format::kSegmentAlignment);
        segments.emplace_back(static_cast<uint64_t>(data_bytes), data->bytes().size());
        payloads.emplace_back(reinterpret_cast<const char*>(data->bytes().data()),
                              data->bytes().size());
        data_bytes += static_cast<int64_t>(data->bytes().size());
      }
      // A constant the model returns keeps its output name.
      const auto named = output_name.find(op->result());
      absl::Status st = add_tensor(op->result(), fmt::TensorKind::Constant, it->second,
                                   named != output_name.end() ? named->second : "");
      if (!st.ok()) return st;
      continue;
    }
    std::vector<int> ins, outs;
    for (ir::Value* v : op->operands()) ins.push_back(tensor_of.at(v));
    for (int r = 0; r < op->num_results(); ++r) {
      absl::Status st =
          add_tensor(op->result(r), fmt::TensorKind::Intermediate, -1, name_of(op->result(r)));
      if (!st.ok()) return st;
      outs.push_back(tensor_of[op->result(r)]);
    }
    std::vector<fb::Offset<fmt::Attr>> attrs;
    for (const auto& [name, a] : op->attrs()) {
      if (ir::KindOf(a) != ir::AttrKind::kTensor) attrs.push_back(WriteAttr(b, name, a));
    }
    std::vector<fb::Offset<fmt::CodeRef>> code;
    for (const KernelCodeMap* m :
         {native ? &native->code : nullptr, cuda ? &cuda->code : nullptr}) {
      if (m == nullptr) continue;
      if (auto it = m->find(op.get()); it != m->end()) {
        for (const KernelCode& k : it->second) {
          code.push_back(fmt::CreateCodeRef(b, k.role, 0, b.CreateString(k.symbol), k.block,
                                            k.items, k.max_blocks_per_sm));
        }
      }
    }
    std::vector<fb::Offset<fmt::Body>> bodies;
    for (const ir::Region& r : op->regions()) {
      fmt::CodeRole role;
      if (!fmt::RegionRole(r.name, &role))
        return absl::InternalError(absl::StrCat("region '", r.name, "' has no artifact role"));
      absl::StatusOr<fmt::KernelBody> kb = ir::LowerBody(*r.body);
      if (!kb.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(op->name()), " ", r.name, ": ", kb.status().message()));
      }
      std::vector<fmt::Instr> instrs;
      for (const fmt::BodyInstr& in : kb->instrs) {
        instrs.emplace_back(static_cast<uint8_t>(in.op), in.type, in.a, in.b, in.c, in.p0, in.p1);
      }
      auto vargs = b.CreateVector(kb->args);
      auto vinstrs = b.CreateVectorOfStructs(instrs);
      bodies.push_back(fmt::CreateBody(b, role, vargs, vinstrs, kb->result));
    }
    auto opname = b.CreateString(std::string(op->name()));
    auto vin = b.CreateVector(ins);
    auto vout = b.CreateVector(outs);
    auto vattrs = b.CreateVector(attrs);
    auto loc = op->loc().empty() ? 0 : b.CreateString(op->loc());
    auto vbodies = bodies.empty() ? 0 : b.CreateVector(bodies);
    kernels.push_back(fmt::CreateKernel(b, opname, vin, vout, vattrs, loc,
                                        code.empty() ? 0 : b.CreateVector(code), vbodies));
  }
  for (const ir::Value* v : graph.outputs()) outputs.push_back(tensor_of.at(v));
  // Code objects, each a segment of the data region with its CRC.
  std::vector<fb::Offset<fmt::CodeObject>> objects;
  auto add_object = [&](const std::string& format, const std::string& bytes) {
    const int seg = static_cast<int>(segments.size());
    data_bytes = AlignUp(data_bytes, format::kSegmentAlignment);
    segments.emplace_back(static_cast<uint64_t>(data_bytes), bytes.size());
    payloads.emplace_back(bytes);
    data_bytes += static_cast<int64_t>(bytes.size());
    objects.push_back(fmt::CreateCodeObject(b, b.CreateString(format), 0, seg,
                                            format::Crc32(bytes.data(), bytes.size())));
  };
  if (native != nullptr && !native->shared_object.empty()) {
    // "x86-64-v3" -> "elf-x86_64-v3"
    std::string level = native->level;
    add_object("elf-x86_64" + (level.size() > 6 ? level.substr(6) : std::string()),
               native->shared_object);
  }
  if (cuda != nullptr) {
    for (const CudaCode::Image& im : cuda->images) add_object(im.format, im.bytes);
  }
  fb::Offset<fmt::Batch> vbatch = 0;
  if (batch != nullptr) {
    if (batch->input_axes.size() != inputs.size() || batch->output_axes.size() != outputs.size())
      return absl::InternalError("the batch axes do not match the graph's inputs and outputs");
    vbatch = fmt::CreateBatch(b, b.CreateString(batch->name), batch->min, batch->max,
                              b.CreateVector(batch->input_axes), b.CreateVector(batch->output_axes),
                              batch->per_sample);
  }
  auto model = fmt::CreateModel(
      b, b.CreateString("sinterc 0.1.0"), b.CreateString(cuda != nullptr ? "cuda" : "cpu"),
      b.CreateVector(tensors), b.CreateVector(inputs), b.CreateVector(outputs),
      b.CreateVector(kernels), b.CreateVectorOfStructs(segments),
      static_cast<uint64_t>(plan.arena_bytes), static_cast<uint64_t>(plan.intermediate_bytes),
      b.CreateVector(objects), cuda != nullptr && cuda->allow_tf32,
      b.CreateString(cuda != nullptr ? cuda->precision : "f32"), vbatch);
  fmt::FinishModelBuffer(b, model);

  format::FileHeader h{};
  std::memcpy(h.magic, format::kMagic, sizeof h.magic);
  h.version = format::kFormatVersion;
  h.header_bytes = sizeof h;
  h.schema_offset = sizeof h;
  h.schema_bytes = b.GetSize();
  h.data_offset = AlignUp(h.schema_offset + h.schema_bytes, format::kSegmentAlignment);
  h.data_bytes = data_bytes;

  std::string file(h.data_offset + h.data_bytes, '\0');
  std::memcpy(file.data() + h.schema_offset, b.GetBufferPointer(), b.GetSize());
  for (size_t i = 0; i < payloads.size(); ++i) {
    std::memcpy(file.data() + h.data_offset + segments[i].offset(), payloads[i].data(),
                payloads[i].size());
  }
  h.schema_crc32 = format::Crc32(file.data() + h.schema_offset, h.schema_bytes);
  h.data_crc32 = format::Crc32(file.data() + h.data_offset, h.data_bytes);
  h.header_crc32 = format::Crc32(&h, offsetof(format::FileHeader, header_crc32));
  std::memcpy(file.data(), &h, sizeof h);
  if (stats != nullptr) {
    stats->kernels = static_cast<int64_t>(kernels.size());
    stats->constant_bytes = data_bytes;
    stats->file_bytes = static_cast<int64_t>(file.size());
  }
  return file;
}

}  // namespace sinter::codegen
