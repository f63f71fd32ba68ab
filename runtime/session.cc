#include "runtime/session.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "runtime/cpu/op_table.h"
#include "runtime/cuda/backend.h"

namespace sinter::rt {

StatusOr<std::unique_ptr<Session>> Session::Create(std::shared_ptr<const Model> model,
                                                   int num_threads, bool use_cuda_graph) {
  if (num_threads < 0 || num_threads > 1024) return InvalidArgument("num_threads out of range");
  if (num_threads == 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  std::unique_ptr<Session> s(new Session());
  s->model_ = std::move(model);
  s->input_set_.assign(s->model_->inputs().size(), 0);
  if (s->model_->cuda() != nullptr) {
    cuda::SessionOptions o;
    o.use_graph = use_cuda_graph;
    auto cs = cuda::CreateSession(*s->model_, *s->model_->cuda(), o);
    if (!cs.ok()) return cs.status();
    s->cuda_.reset(cs.value());
    return s;
  }
  // Scratch sits after the planned arena; kernels run one at a time, so one
  // region sized for the hungriest kernel serves them all.
  uint64_t scratch = 0;
  for (const Step& step : s->model_->steps()) {
    int64_t b = step.op->scratch_bytes(*step.params, num_threads);
    if (b < 0) return InvalidArgument("kernel scratch size overflows");
    scratch = std::max<uint64_t>(scratch, static_cast<uint64_t>(b));
  }
  s->scratch_offset_ =
      (s->model_->arena_bytes() + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  uint64_t total =
      s->scratch_offset_ + (scratch + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  if (total > 0) {
    s->arena_ = static_cast<uint8_t*>(std::aligned_alloc(kArenaAlignment, total));
    if (s->arena_ == nullptr) {
      return Status(SINTER_RESOURCE_EXHAUSTED, StrCat("cannot allocate a ", total, "-byte arena"));
    }
  }
  auto pool = ThreadPool::Create(num_threads);
  if (!pool.ok()) return pool.status();
  s->pool_ = std::move(pool.value());
  return s;
}

Session::~Session() { std::free(arena_); }

void Session::CudaDeleter::operator()(cuda::CudaSession* s) const { cuda::DestroySession(s); }

Status Session::BindInputDevice(size_t index, void* device_ptr, size_t byte_size) {
  if (cuda_ == nullptr) return InvalidArgument("device pointers need a CUDA model");
  if (index >= model_->inputs().size()) return InvalidArgument("input index out of range");
  RT_RETURN_IF_ERROR(cuda::BindInputDevice(*cuda_, index, device_ptr, byte_size));
  input_set_[index] = device_ptr != nullptr;
  return Status::Ok();
}

Status Session::BindOutputDevice(size_t index, void* device_ptr, size_t byte_size) {
  if (cuda_ == nullptr) return InvalidArgument("device pointers need a CUDA model");
  if (index >= model_->outputs().size()) return InvalidArgument("output index out of range");
  return cuda::BindOutputDevice(*cuda_, index, device_ptr, byte_size);
}

void* Session::TensorData(int t) const {
  const TensorDesc& d = model_->tensors()[t];
  if (d.kind == TensorKind::kConstant) return const_cast<uint8_t*>(d.constant);
  return arena_ + d.arena_offset;
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
  if (cuda_ != nullptr) {
    RT_RETURN_IF_ERROR(cuda::SetInput(*cuda_, index, data, byte_size));
  } else if (byte_size) {
    std::memcpy(TensorData(inputs[index]), data, byte_size);
  }
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
  if (cuda_ != nullptr) {
    std::vector<std::pair<double, double>> times;
    RT_RETURN_IF_ERROR(cuda::Run(*cuda_, profiling_, profiling_ ? &times : nullptr));
    if (profiling_) {
      profile_.assign(times.size(), {});
      for (size_t k = 0; k < times.size(); ++k) profile_[k] = {times[k].first, times[k].second};
    }
    has_run_ = true;
    return Status::Ok();
  }
  std::vector<void*> in, out;
  const auto& tensors = model_->tensors();
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = profiling_ ? Clock::now() : Clock::time_point();
  auto us = [&](Clock::time_point t) {
    return std::chrono::duration<double, std::micro>(t - start).count();
  };
  if (profiling_) profile_.assign(model_->steps().size(), {});
  for (size_t k = 0; k < model_->steps().size(); ++k) {
    const Step& step = model_->steps()[k];
    in.clear();
    out.clear();
    for (int t : step.inputs) in.push_back(TensorData(t));
    for (int t : step.outputs) out.push_back(TensorData(t));
    RunContext ctx{&tensors, &step, in.data(), out.data(), arena_ + scratch_offset_, pool_.get()};
    if (!profiling_) {
      step.op->run(*step.params, ctx);
      continue;
    }
    const Clock::time_point t0 = Clock::now();
    step.op->run(*step.params, ctx);
    profile_[k] = {us(t0), us(Clock::now()) - us(t0)};
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
  int t = model_->outputs()[index];
  if (cuda_ != nullptr) {
    const void* host = cuda::OutputHost(*cuda_, index);
    if (host == nullptr) {
      return Status(SINTER_FAILED_PRECONDITION,
                    StrCat("output ", index, " is bound to device memory: read it there"));
    }
    return std::pair<const void*, size_t>(host, model_->tensors()[t].byte_size);
  }
  return std::pair<const void*, size_t>(TensorData(t), model_->tensors()[t].byte_size);
}

}  // namespace sinter::rt
