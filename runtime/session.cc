#include "runtime/session.h"

#include <algorithm>
#include <cstring>
#include <system_error>
#include <thread>

#include "runtime/dims.h"

namespace sinter::rt {

Status BackendSession::SetInputShaped(size_t, const std::vector<int64_t>&, const void*, size_t) {
  return Status(SINTER_UNIMPLEMENTED,
                "this backend runs no input whose extent each run chooses (a symbolic extent)");
}
Status BackendSession::BindInputDevice(size_t, void*, size_t) {
  return InvalidArgument("device pointers need a CUDA model");
}
Status BackendSession::BindOutputDevice(size_t, void*, size_t) {
  return InvalidArgument("device pointers need a CUDA model");
}

StatusOr<std::unique_ptr<Session>> Session::Create(std::shared_ptr<const Model> model,
                                                   const SessionConfig& config) {
  if (config.num_threads < 0 || config.num_threads > 1024)
    return InvalidArgument("num_threads out of range");
  if (model->backend() == nullptr)
    return Status(SINTER_FAILED_PRECONDITION, "a model loaded to verify only cannot run");
  std::unique_ptr<Session> s(new Session());
  s->model_ = std::move(model);
  s->input_set_.assign(s->model_->inputs().size(), 0);
  s->input_batch_.assign(s->model_->inputs().size(), 0);
  s->batch_inputs_.resize(s->model_->inputs().size());
  s->batch_outputs_.resize(s->model_->outputs().size());
  s->shared_inputs_.resize(s->model_->inputs().size());
  s->config_ = config;
  auto b = s->model_->backend()->CreateSession(config);
  if (!b.ok()) return b.status();
  s->backend_ = std::move(b.value());
  return s;
}

Status Session::BindInputDevice(size_t index, void* device_ptr, size_t byte_size) {
  if (index >= model_->inputs().size()) return InvalidArgument("input index out of range");
  if (const BatchInfo* b = model_->batch(); b != nullptr && b->input_axes[index] >= 0)
    return Status(SINTER_UNIMPLEMENTED, "device pointers for an input with a dynamic batch");
  RT_RETURN_IF_ERROR(backend_->BindInputDevice(index, device_ptr, byte_size));
  input_set_[index] = device_ptr != nullptr;
  return Status::Ok();
}

Status Session::BindOutputDevice(size_t index, void* device_ptr, size_t byte_size) {
  if (index >= model_->outputs().size()) return InvalidArgument("output index out of range");
  if (const BatchInfo* b = model_->batch(); b != nullptr && b->output_axes[index] >= 0)
    return Status(SINTER_UNIMPLEMENTED, "device pointers for an output with a dynamic batch");
  return backend_->BindOutputDevice(index, device_ptr, byte_size);
}

Status Session::SetInput(size_t index, sinter_dtype dtype, const int64_t* dims, size_t rank,
                         const void* data, size_t byte_size) {
  const auto& inputs = model_->inputs();
  if (index >= inputs.size()) {
    return InvalidArgument(
        StrCat("input index ", index, " out of range: the model has ", inputs.size(), " inputs"));
  }
  const TensorDesc& d = model_->tensors()[inputs[index]];
  std::string where = StrCat("input ", index, " '", d.name, "'");
  if (dtype != d.dtype) {
    return InvalidArgument(StrCat(where, ": dtype ", sinter_dtype_name(dtype), ", expected ",
                                  sinter_dtype_name(d.dtype)));
  }
  // With a dynamic batch, the input's batch axis takes any extent in the
  // symbol's range; everything else is the model's.
  const BatchInfo* batch = model_->batch();
  const int axis = batch != nullptr ? batch->input_axes[index] : -1;
  // The symbol's axes: the batch axis, or every -1 of a symbolic extent's
  // input (an attention mask [seq, seq] has two, which must agree).
  auto symbolic_at = [&](size_t i) {
    return static_cast<int>(i) == axis ||
           (axis >= 0 && !batch->per_sample && i < d.dims.size() && d.dims[i] == -1);
  };
  auto dims_text = [&](const int64_t* v, size_t n, bool symbolic) {
    std::string t = "[";
    for (size_t i = 0; v != nullptr && i < n; ++i) {
      t += i ? "," : "";
      t += symbolic && symbolic_at(i) ? batch->symbol : std::to_string(v[i]);
    }
    return t + "]";
  };
  bool same = rank == d.dims.size() && (rank == 0 || dims != nullptr);
  for (size_t i = 0; same && i < rank; ++i) same = symbolic_at(i) || dims[i] == d.dims[i];
  for (size_t i = 0; same && i < rank; ++i) {
    if (symbolic_at(i) && dims[i] != dims[axis]) {
      return InvalidArgument(StrCat(where, ": shape ", dims_text(dims, rank, false), ", expected ",
                                    dims_text(d.dims.data(), d.dims.size(), true), ": ",
                                    batch->symbol, " is ", dims[axis], " on axis ", axis, " but ",
                                    dims[i], " on axis ", i));
    }
  }
  if (!same) {
    return InvalidArgument(StrCat(where, ": shape ", dims_text(dims, rank, false), ", expected ",
                                  dims_text(d.dims.data(), d.dims.size(), true)));
  }
  const int64_t n = axis >= 0 ? dims[axis] : 1;
  if (axis >= 0 && (n < batch->min || n > batch->max)) {
    return InvalidArgument(StrCat(where, ": ", batch->symbol, " = ", n, " is outside its range [",
                                  batch->min, ", ", batch->max, "] (axis ", axis, ")"));
  }
  // Per sample: n samples of the recorded one. A symbolic extent: the
  // given dims (static ones checked above, n in range: bounded at load).
  std::vector<int64_t> shape(d.dims);
  for (size_t i = 0; i < shape.size(); ++i)
    if (symbolic_at(i)) shape[i] = n;
  int64_t elements = 0;
  CheckedNumElements(shape, &elements);
  const uint64_t want = batch != nullptr && !batch->per_sample
                            ? static_cast<uint64_t>(elements) * sinter_dtype_size(d.dtype)
                            : d.byte_size * static_cast<uint64_t>(n);  // bounded at load
  if (byte_size != want || (byte_size > 0 && data == nullptr)) {
    return InvalidArgument(StrCat(where, ": ", byte_size, " bytes given, expected ", want));
  }
  if (batch != nullptr && !batch->per_sample && axis >= 0) {
    RT_RETURN_IF_ERROR(backend_->SetInputShaped(index, shape, data, byte_size));
  } else if (n == 1) {
    RT_RETURN_IF_ERROR(backend_->SetInput(index, data, byte_size));
    std::vector<uint8_t>().swap(batch_inputs_[index]);
    if (batch != nullptr && axis < 0) {
      const auto* p = static_cast<const uint8_t*>(data);
      shared_inputs_[index].assign(p, p + byte_size);
    }
  } else {
    const auto* p = static_cast<const uint8_t*>(data);
    batch_inputs_[index].assign(p, p + byte_size);
  }
  input_batch_[index] = axis >= 0 ? n : 0;
  input_set_[index] = 1;
  return Status::Ok();
}

Status Session::Run() {
  for (size_t i = 0; i < input_set_.size(); ++i) {
    if (!input_set_[i]) {
      return Status(
          SINTER_FAILED_PRECONDITION,
          StrCat("input ", i, " '", model_->tensors()[model_->inputs()[i]].name, "' is not set"));
    }
  }
  has_run_ = false;  // a failed run leaves no outputs to read
  if (const BatchInfo* batch = model_->batch(); batch != nullptr) {
    // Every batched input must have been given the same batch.
    int64_t n = 0;
    size_t first = 0;
    for (size_t i = 0; i < input_batch_.size(); ++i) {
      if (batch->input_axes[i] < 0) continue;
      if (n == 0) {
        n = input_batch_[i], first = i;
      } else if (input_batch_[i] != n) {
        const auto& t = model_->tensors();
        return InvalidArgument(StrCat("inputs ", first, " '", t[model_->inputs()[first]].name,
                                      "' and ", i, " '", t[model_->inputs()[i]].name,
                                      "' disagree on ", batch->symbol, ": ", n, " and ",
                                      input_batch_[i]));
      }
    }
    // A symbolic extent runs the plan once at the run's extents.
    run_batch_ = batch->per_sample ? n : 1;
    if (run_batch_ > 1) {
      RT_RETURN_IF_ERROR(RunPerSample(n));
      has_run_ = true;
      return Status::Ok();
    }
  }
  if (profiling_) {
    std::vector<KernelTime> times;
    RT_RETURN_IF_ERROR(backend_->Run(&times));
    profile_ = std::move(times);
  } else {
    RT_RETURN_IF_ERROR(backend_->Run(nullptr));
  }
  has_run_ = true;
  return Status::Ok();
}

const uint8_t* Session::InputSample(size_t index, int64_t b, std::vector<uint8_t>* scratch) {
  const TensorDesc& d = model_->tensors()[model_->inputs()[index]];
  const int axis = model_->batch()->input_axes[index];
  const int64_t n = input_batch_[index];
  const uint64_t outer = static_cast<uint64_t>(Prod(d.dims, 0, axis));
  const uint8_t* all = batch_inputs_[index].data();
  if (d.byte_size == 0) return all;          // an empty tensor (outer may be 0)
  const uint64_t row = d.byte_size / outer;  // one sample's bytes of one outer index
  if (outer == 1) return all + static_cast<uint64_t>(b) * row;
  scratch->resize(d.byte_size);
  for (uint64_t o = 0; o < outer; ++o)
    std::memcpy(scratch->data() + o * row, all + (o * n + b) * row, row);
  return scratch->data();
}

Status Session::CopyOutSample(BackendSession* from, int64_t n, int64_t b) {
  const BatchInfo& batch = *model_->batch();
  for (size_t o = 0; o < batch_outputs_.size(); ++o) {
    const int axis = batch.output_axes[o];
    if (axis < 0) continue;
    auto p = from->Output(o);
    if (!p.ok()) return p.status();
    const TensorDesc& d = model_->tensors()[model_->outputs()[o]];
    if (d.byte_size == 0) continue;
    const uint64_t outer = static_cast<uint64_t>(Prod(d.dims, 0, axis));
    const uint64_t row = d.byte_size / outer;
    const auto* src = static_cast<const uint8_t*>(p.value());
    for (uint64_t k = 0; k < outer; ++k)
      std::memcpy(batch_outputs_[o].data() + (k * n + b) * row, src + k * row, row);
  }
  return Status::Ok();
}

Status Session::RunLane(BackendSession* lane, int64_t n, int64_t first, int64_t stride,
                        int64_t end) {
  const BatchInfo& batch = *model_->batch();
  const auto& tensors = model_->tensors();
  std::vector<uint8_t> scratch;
  for (size_t i = 0; i < shared_inputs_.size() && lane != backend_.get(); ++i) {
    if (batch.input_axes[i] < 0)
      RT_RETURN_IF_ERROR(lane->SetInput(i, shared_inputs_[i].data(), shared_inputs_[i].size()));
  }
  for (int64_t b = first; b < end; b += stride) {
    for (size_t i = 0; i < input_batch_.size(); ++i) {
      if (batch.input_axes[i] < 0) continue;
      RT_RETURN_IF_ERROR(
          lane->SetInput(i, InputSample(i, b, &scratch), tensors[model_->inputs()[i]].byte_size));
    }
    RT_RETURN_IF_ERROR(lane->Run(nullptr));
    RT_RETURN_IF_ERROR(CopyOutSample(lane, n, b));
  }
  return Status::Ok();
}

Status Session::RunPerSample(int64_t n) {
  const BatchInfo& batch = *model_->batch();
  const auto& tensors = model_->tensors();
  for (size_t o = 0; o < batch_outputs_.size(); ++o) {
    if (batch.output_axes[o] >= 0)
      batch_outputs_[o].resize(tensors[model_->outputs()[o]].byte_size * n);
  }
  // Whole rounds of T samples side by side on T one-thread lanes (not when
  // profiling: a profile times each kernel of one plan); the rest, one
  // sample at a time with every thread.
  int64_t lanes = 1;
  if (model_->target() == "cpu" && !profiling_) {
    lanes = config_.num_threads > 0 ? config_.num_threads
                                    : std::max(1u, std::thread::hardware_concurrency());
    lanes = std::min(lanes, n);
  }
  int64_t parallel = lanes > 1 ? n / lanes * lanes : 0;
  if (parallel > 0) {
    SessionConfig one = config_;
    one.num_threads = 1;
    while (lanes_.size() < static_cast<size_t>(lanes)) {
      auto s = model_->backend()->CreateSession(one);
      if (!s.ok()) return s.status();
      lanes_.push_back(std::move(s.value()));
    }
    std::vector<Status> status(lanes, Status::Ok());
    std::vector<std::thread> threads;
    // When the system cannot start a thread: RESOURCE_EXHAUSTED, after
    // joining the lanes that did start (a joinable thread must not be
    // destroyed).
    try {
      for (int64_t t = 1; t < lanes; ++t) {
        threads.emplace_back(
            [&, t] { status[t] = RunLane(lanes_[t].get(), n, t, lanes, parallel); });
      }
    } catch (const std::system_error&) {
      status[0] = Status(SINTER_RESOURCE_EXHAUSTED, "cannot start a thread for a batch lane");
    }
    if (status[0].ok()) status[0] = RunLane(lanes_[0].get(), n, 0, lanes, parallel);
    for (std::thread& th : threads) th.join();
    for (const Status& st : status) RT_RETURN_IF_ERROR(st);
  }
  unbatched_from_ = parallel < n ? backend_.get() : lanes_[0].get();
  std::vector<KernelTime> total, times;
  std::vector<uint8_t> scratch;
  for (int64_t b = parallel; b < n; ++b) {
    for (size_t i = 0; i < input_batch_.size(); ++i) {
      if (batch.input_axes[i] < 0) continue;
      RT_RETURN_IF_ERROR(backend_->SetInput(i, InputSample(i, b, &scratch),
                                            tensors[model_->inputs()[i]].byte_size));
    }
    RT_RETURN_IF_ERROR(backend_->Run(profiling_ ? &times : nullptr));
    // A profile of the batch: each kernel's time summed over the samples,
    // starting where the first sample's did.
    if (profiling_ && b == 0) total = times;
    for (size_t k = 0; profiling_ && b > 0 && k < total.size() && k < times.size(); ++k)
      total[k].duration_us += times[k].duration_us;
    RT_RETURN_IF_ERROR(CopyOutSample(backend_.get(), n, b));
  }
  if (profiling_) profile_ = std::move(total);
  return Status::Ok();
}

StatusOr<std::pair<const void*, size_t>> Session::Output(size_t index) const {
  if (index >= model_->outputs().size()) {
    return InvalidArgument(StrCat("output index ", index, " out of range: the model has ",
                                  model_->outputs().size(), " outputs"));
  }
  if (!has_run_) return Status(SINTER_FAILED_PRECONDITION, "no run has completed yet");
  const TensorDesc& d = model_->tensors()[model_->outputs()[index]];
  BackendSession* from = backend_.get();
  if (const BatchInfo* b = model_->batch(); b != nullptr && run_batch_ > 1) {
    if (b->output_axes[index] >= 0)
      return std::pair<const void*, size_t>(batch_outputs_[index].data(),
                                            batch_outputs_[index].size());
    from = unbatched_from_;
  }
  auto p = from->Output(index);
  if (!p.ok()) return p.status();
  if (d.kind != TensorKind::kDynamic) return std::pair<const void*, size_t>(p.value(), d.byte_size);
  auto dims = OutputDims(index);
  if (!dims.ok()) return dims.status();
  int64_t n = 0;
  CheckedNumElements(dims.value(), &n);  // checked when the run sized it
  return std::pair<const void*, size_t>(p.value(),
                                        static_cast<size_t>(n) * sinter_dtype_size(d.dtype));
}

StatusOr<std::vector<int64_t>> Session::OutputDims(size_t index) const {
  if (index >= model_->outputs().size()) {
    return InvalidArgument(StrCat("output index ", index, " out of range: the model has ",
                                  model_->outputs().size(), " outputs"));
  }
  const TensorDesc& d = model_->tensors()[model_->outputs()[index]];
  if (const BatchInfo* b = model_->batch(); b != nullptr && b->output_axes[index] >= 0) {
    if (!has_run_) return Status(SINTER_FAILED_PRECONDITION, "no run has completed yet");
    std::vector<int64_t> dims = d.dims;
    dims[b->output_axes[index]] = run_batch_;
    return dims;
  }
  if (d.kind != TensorKind::kDynamic) return d.dims;
  if (!has_run_) return Status(SINTER_FAILED_PRECONDITION, "no run has completed yet");
  const BackendSession* from =
      model_->batch() != nullptr && run_batch_ > 1 ? unbatched_from_ : backend_.get();
  const std::vector<int64_t>* dims = from->OutputDims(index);
  if (dims == nullptr)
    return Status(SINTER_INTERNAL, StrCat("output '", d.name, "': the run did not size it"));
  return *dims;
}

}  // namespace sinter::rt
