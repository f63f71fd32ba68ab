#include "runtime/session.h"

#include <algorithm>

namespace sinter::rt {

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
  auto b = s->model_->backend()->CreateSession(config);
  if (!b.ok()) return b.status();
  s->backend_ = std::move(b.value());
  return s;
}

Status Session::BindInputDevice(size_t index, void* device_ptr, size_t byte_size) {
  if (index >= model_->inputs().size()) return InvalidArgument("input index out of range");
  RT_RETURN_IF_ERROR(backend_->BindInputDevice(index, device_ptr, byte_size));
  input_set_[index] = device_ptr != nullptr;
  return Status::Ok();
}

Status Session::BindOutputDevice(size_t index, void* device_ptr, size_t byte_size) {
  if (index >= model_->outputs().size()) return InvalidArgument("output index out of range");
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
  if (rank != d.dims.size() || (rank > 0 && dims == nullptr) ||
      !std::equal(d.dims.begin(), d.dims.end(), dims)) {
    std::string got = "[";
    for (size_t i = 0; dims != nullptr && i < rank; ++i)
      got += (i ? "," : "") + std::to_string(dims[i]);
    std::string want = "[";
    for (size_t i = 0; i < d.dims.size(); ++i) want += (i ? "," : "") + std::to_string(d.dims[i]);
    return InvalidArgument(StrCat(where, ": shape ", got, "], expected ", want, "]"));
  }
  if (byte_size != d.byte_size || (byte_size > 0 && data == nullptr)) {
    return InvalidArgument(StrCat(where, ": ", byte_size, " bytes given, expected ", d.byte_size));
  }
  RT_RETURN_IF_ERROR(backend_->SetInput(index, data, byte_size));
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

StatusOr<std::pair<const void*, size_t>> Session::Output(size_t index) const {
  if (index >= model_->outputs().size()) {
    return InvalidArgument(StrCat("output index ", index, " out of range: the model has ",
                                  model_->outputs().size(), " outputs"));
  }
  if (!has_run_) return Status(SINTER_FAILED_PRECONDITION, "no run has completed yet");
  auto p = backend_->Output(index);
  if (!p.ok()) return p.status();
  const TensorDesc& d = model_->tensors()[model_->outputs()[index]];
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
  if (d.kind != TensorKind::kDynamic) return d.dims;
  if (!has_run_) return Status(SINTER_FAILED_PRECONDITION, "no run has completed yet");
  const std::vector<int64_t>* dims = backend_->OutputDims(index);
  if (dims == nullptr)
    return Status(SINTER_INTERNAL, StrCat("output '", d.name, "': the run did not size it"));
  return *dims;
}

}  // namespace sinter::rt
