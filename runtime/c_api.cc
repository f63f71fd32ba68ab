// The C API: a thin shell over Model and Session. Every entry point clears its
// out_ parameters, checks its arguments, and catches everything, so no C++
// exception (std::bad_alloc included) crosses into C.
#include <cstddef>
#include <cstring>
#include <exception>
#include <new>
#include <type_traits>

#include "runtime/format/op_schema.h"
#include "runtime/model.h"
#include "runtime/session.h"
#include "sinter/sinter.h"

struct sinter_status {
  sinter_status_code code;
  std::string message;
};

struct sinter_model {
  std::shared_ptr<const sinter::rt::Model> model;
  // Stable storage for sinter_tensor_info pointers.
  std::vector<const char*> names;
};

struct sinter_session {
  std::unique_ptr<sinter::rt::Session> session;
};

namespace {

using sinter::rt::Status;

// Out of memory while reporting an error: a static status that free ignores.
sinter_status* OomStatus() {
  static sinter_status oom{SINTER_RESOURCE_EXHAUSTED, "out of memory"};
  return &oom;
}

sinter_status* MakeStatus(sinter_status_code code, std::string message) {
  auto* s = new (std::nothrow) sinter_status{code, std::move(message)};
  if (s != nullptr) return s;
  return OomStatus();
}

sinter_status* ToC(const Status& s) { return s.ok() ? nullptr : MakeStatus(s.code(), s.message()); }

template <typename F>
sinter_status* Guard(F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return MakeStatus(SINTER_RESOURCE_EXHAUSTED, "out of memory");
  } catch (const std::exception& e) {
    return MakeStatus(SINTER_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return MakeStatus(SINTER_INTERNAL, "internal error");
  }
}

sinter_status* NullArg(const char* name) {
  return MakeStatus(SINTER_INVALID_ARGUMENT, std::string(name) + " must not be NULL");
}

// A sinter_dtype from C may hold any int. Its object representation is read
// as an int first, so no out-of-range value is ever used as the enum (which
// C++ leaves undefined); -1 when it names no dtype.
int DTypeValue(const sinter_dtype& dtype) {
  static_assert(sizeof(sinter_dtype) == sizeof(int));
  int raw;
  std::memcpy(&raw, &dtype, sizeof raw);
  return raw >= SINTER_F32 && raw <= SINTER_BOOL ? raw : -1;
}

// Whether the caller's options struct (of `struct_size` bytes) has `field`.
#define SINTER_HAS_FIELD(options, field)                                                   \
  (offsetof(std::remove_pointer_t<decltype(options)>, field) + sizeof((options)->field) <= \
   (options)->struct_size)

// The runtime's load options from the caller's (NULL: defaults).
sinter::rt::StatusOr<sinter::rt::LoadOptions> ToLoadOptions(const sinter_model_options* options) {
  sinter::rt::LoadOptions load;
  if (options == nullptr) return load;
  if (options->struct_size < sizeof(size_t)) {
    return sinter::rt::InvalidArgument(
        "sinter_model_options.struct_size is 0: set the options up with "
        "sinter_model_options_init");
  }
  if (SINTER_HAS_FIELD(options, verify_weights_checksum))
    load.verify_weights_checksum = options->verify_weights_checksum != 0;
  if (SINTER_HAS_FIELD(options, disable_native_code))
    load.allow_native_code = options->disable_native_code == 0;
  if (SINTER_HAS_FIELD(options, cuda_device)) load.cuda_device = options->cuda_device;
  if (SINTER_HAS_FIELD(options, plugin_path) && options->plugin_path != nullptr)
    load.plugin_path = options->plugin_path;
  return load;
}

sinter_status* WrapModel(sinter::rt::StatusOr<std::unique_ptr<sinter::rt::Storage>> storage,
                         const sinter_model_options* options, sinter_model** out_model) {
  if (!storage.ok()) return ToC(storage.status());
  auto load = ToLoadOptions(options);
  if (!load.ok()) return ToC(load.status());
  auto model = sinter::rt::Model::Load(std::move(storage.value()), load.value());
  if (!model.ok()) return ToC(model.status());
  auto* m = new sinter_model{std::move(model.value()), {}};
  for (const auto& t : m->model->tensors()) m->names.push_back(t.name.c_str());
  *out_model = m;
  return nullptr;
}

sinter_status* Info(const sinter_model* model, size_t index, bool input,
                    sinter_tensor_info* out_info) {
  if (out_info == nullptr) return NullArg("out_info");
  std::memset(out_info, 0, sizeof *out_info);
  if (model == nullptr) return NullArg("model");
  const auto& list = input ? model->model->inputs() : model->model->outputs();
  if (index >= list.size()) {
    return MakeStatus(SINTER_INVALID_ARGUMENT, std::string(input ? "input" : "output") + " index " +
                                                   std::to_string(index) + " out of range (" +
                                                   std::to_string(list.size()) + ")");
  }
  const auto& t = model->model->tensors()[list[index]];
  out_info->name = t.name.c_str();
  out_info->dtype = t.dtype;
  out_info->rank = t.dims.size();
  out_info->dims = t.dims.data();
  out_info->byte_size = t.byte_size;
  // A dynamic batch: -1 on its axis, and no size until a run has one.
  if (const sinter::rt::BatchInfo* b = model->model->batch();
      b != nullptr && (input ? b->input_axes : b->output_axes)[index] >= 0) {
    out_info->dims = (input ? b->input_dims : b->output_dims)[index].data();
    out_info->byte_size = 0;
  }
  return nullptr;
}

}  // namespace

extern "C" {

sinter_status_code sinter_status_get_code(const sinter_status* status) {
  return status == nullptr ? SINTER_OK : status->code;
}

const char* sinter_status_get_message(const sinter_status* status) {
  return status == nullptr ? "OK" : status->message.c_str();
}

void sinter_status_free(sinter_status* status) {
  if (status != OomStatus()) delete status;
}

const char* sinter_status_code_name(sinter_status_code code) {
  switch (code) {
    case SINTER_OK:
      return "OK";
    case SINTER_INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case SINTER_NOT_FOUND:
      return "NOT_FOUND";
    case SINTER_DATA_LOSS:
      return "DATA_LOSS";
    case SINTER_UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case SINTER_UNAVAILABLE:
      return "UNAVAILABLE";
    case SINTER_FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case SINTER_RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case SINTER_INTERNAL:
      return "INTERNAL";
    case SINTER_VERSION_MISMATCH:
      return "VERSION_MISMATCH";
  }
  return "UNKNOWN";
}

const char* sinter_version(void) { return "0.1.0"; }

size_t sinter_dtype_size(sinter_dtype dtype) {
  if (DTypeValue(dtype) < 0) return 0;
  switch (dtype) {
    case SINTER_F32:
    case SINTER_I32:
      return 4;
    case SINTER_F16:
    case SINTER_BF16:
      return 2;
    case SINTER_F64:
    case SINTER_I64:
      return 8;
    case SINTER_I8:
    case SINTER_U8:
    case SINTER_BOOL:
      return 1;
  }
  return 0;
}

const char* sinter_dtype_name(sinter_dtype dtype) {
  static const char* kNames[] = {"f32", "f16", "bf16", "f64", "i64", "i32", "i8", "u8", "bool"};
  static_assert(sizeof kNames / sizeof kNames[0] == SINTER_BOOL + 1);
  const int d = DTypeValue(dtype);
  return d < 0 ? "?" : kNames[d];
}

sinter_status* sinter_model_load_file(const char* path, const sinter_model_options* options,
                                      sinter_model** out_model) {
  if (out_model == nullptr) return NullArg("out_model");
  *out_model = nullptr;
  if (path == nullptr) return NullArg("path");
  return Guard([&] {
    sinter_status* s = WrapModel(sinter::rt::Storage::MapFile(path), options, out_model);
    if (s != nullptr) s->message = std::string("loading '") + path + "': " + s->message;
    return s;
  });
}

sinter_status* sinter_model_load_memory(const void* data, size_t size,
                                        const sinter_model_options* options,
                                        sinter_model** out_model) {
  if (out_model == nullptr) return NullArg("out_model");
  *out_model = nullptr;
  if (data == nullptr && size > 0) return NullArg("data");
  return Guard(
      [&] { return WrapModel(sinter::rt::Storage::Copy(data, size), options, out_model); });
}

sinter_status* sinter_model_verify_memory(const void* data, size_t size,
                                          const sinter_model_options* options) {
  if (data == nullptr && size > 0) return NullArg("data");
  return Guard([&]() -> sinter_status* {
    auto load = ToLoadOptions(options);
    if (!load.ok()) return ToC(load.status());
    load.value().verify_only = true;
    // In place when aligned as the loader's own copies are; a copy otherwise
    // (the format's 8-byte fields must be read aligned).
    std::unique_ptr<sinter::rt::Storage> storage;
    if (reinterpret_cast<uintptr_t>(data) % 64 == 0) {
      storage = sinter::rt::Storage::View(data, size);
    } else {
      auto copy = sinter::rt::Storage::Copy(data, size);
      if (!copy.ok()) return ToC(copy.status());
      storage = std::move(copy.value());
    }
    auto model = sinter::rt::Model::Load(std::move(storage), load.value());
    return ToC(model.status());
  });
}

sinter_status* sinter_artifact_required_plugins(const void* data, size_t size, char* out_names,
                                                size_t out_size) {
  if (out_names == nullptr || out_size == 0) return NullArg("out_names");
  out_names[0] = '\0';
  if (data == nullptr && size > 0) return NullArg("data");
  return Guard([&]() -> sinter_status* {
    sinter::rt::LoadOptions load;
    load.verify_only = true;  // plugins are not loaded when only verifying
    auto copy = sinter::rt::Storage::Copy(data, size);
    if (!copy.ok()) return ToC(copy.status());
    auto model = sinter::rt::Model::Load(std::move(copy.value()), load);
    if (!model.ok()) return ToC(model.status());
    const std::string& names = model.value()->plugins();
    if (names.size() + 1 > out_size) {
      return MakeStatus(SINTER_INVALID_ARGUMENT,
                        sinter::rt::StrCat("out_names holds ", out_size, " bytes; the list '",
                                           names, "' needs ", names.size() + 1));
    }
    std::memcpy(out_names, names.c_str(), names.size() + 1);
    return nullptr;
  });
}

const char* sinter_model_plugins(const sinter_model* model) {
  return model == nullptr ? "" : model->model->plugins().c_str();
}

void sinter_model_options_init(sinter_model_options* options) {
  if (options == nullptr) return;
  std::memset(options, 0, sizeof *options);
  options->struct_size = sizeof *options;
}

void sinter_session_options_init(sinter_session_options* options) {
  if (options == nullptr) return;
  std::memset(options, 0, sizeof *options);
  options->struct_size = sizeof *options;
}

void sinter_model_release(sinter_model* model) { delete model; }

size_t sinter_model_input_count(const sinter_model* model) {
  return model == nullptr ? 0 : model->model->inputs().size();
}

size_t sinter_model_output_count(const sinter_model* model) {
  return model == nullptr ? 0 : model->model->outputs().size();
}

sinter_status* sinter_model_input_info(const sinter_model* model, size_t index,
                                       sinter_tensor_info* out_info) {
  return Guard([&] { return Info(model, index, true, out_info); });
}

sinter_status* sinter_model_output_info(const sinter_model* model, size_t index,
                                        sinter_tensor_info* out_info) {
  return Guard([&] { return Info(model, index, false, out_info); });
}

sinter_status* sinter_model_dim_range(const sinter_model* model, int is_output, size_t index,
                                      size_t axis, const char** out_symbol, int64_t* out_min,
                                      int64_t* out_max) {
  return Guard([&]() -> sinter_status* {
    if (model == nullptr) return NullArg("model");
    if (out_symbol == nullptr) return NullArg("out_symbol");
    if (out_min == nullptr) return NullArg("out_min");
    if (out_max == nullptr) return NullArg("out_max");
    const auto& list = is_output ? model->model->outputs() : model->model->inputs();
    const char* what = is_output ? "output" : "input";
    if (index >= list.size()) {
      return MakeStatus(
          SINTER_INVALID_ARGUMENT,
          sinter::rt::StrCat(what, " index ", index, " out of range (", list.size(), ")"));
    }
    const auto& t = model->model->tensors()[list[index]];
    const sinter::rt::BatchInfo* b = model->model->batch();
    // A symbolic extent's input has it at every -1 (an attention mask on
    // both axes); a batch, at its one axis.
    const bool symbolic_input = b != nullptr && !b->per_sample && !is_output &&
                                axis < t.dims.size() && t.dims[axis] == -1 &&
                                b->input_axes[index] >= 0;
    if (axis >= t.dims.size() || b == nullptr ||
        ((is_output ? b->output_axes : b->input_axes)[index] != static_cast<int>(axis) &&
         !symbolic_input)) {
      return MakeStatus(
          SINTER_INVALID_ARGUMENT,
          sinter::rt::StrCat(what, " '", t.name, "' axis ", axis, " of ", t.dims.size(),
                             " has no range: it is not a dynamic batch"));
    }
    *out_symbol = b->symbol.c_str();
    *out_min = b->min;
    *out_max = b->max;
    return nullptr;
  });
}

size_t sinter_model_arena_bytes(const sinter_model* model) {
  return model == nullptr ? 0 : model->model->arena_bytes() + model->model->run_sized_bytes();
}

size_t sinter_model_native_kernel_count(const sinter_model* model) {
  return model == nullptr ? 0 : static_cast<size_t>(model->model->native_kernels());
}

const char* sinter_model_target(const sinter_model* model) {
  return model == nullptr ? "" : model->model->target().c_str();
}

sinter_status* sinter_session_create(sinter_model* model, const sinter_session_options* options,
                                     sinter_session** out_session) {
  if (out_session == nullptr) return NullArg("out_session");
  *out_session = nullptr;
  if (model == nullptr) return NullArg("model");
  return Guard([&]() -> sinter_status* {
    sinter::rt::SessionConfig config;
    config.num_threads = 0;  // the number of cores
    if (options != nullptr) {
      if (options->struct_size < sizeof(size_t)) {
        return MakeStatus(SINTER_INVALID_ARGUMENT,
                          "sinter_session_options.struct_size is 0: set the options up with "
                          "sinter_session_options_init");
      }
      if (SINTER_HAS_FIELD(options, num_threads)) config.num_threads = options->num_threads;
      if (SINTER_HAS_FIELD(options, disable_cuda_graph))
        config.use_cuda_graph = options->disable_cuda_graph == 0;
    }
    auto s = sinter::rt::Session::Create(model->model, config);
    if (!s.ok()) return ToC(s.status());
    *out_session = new sinter_session{std::move(s.value())};
    return nullptr;
  });
}

void sinter_session_release(sinter_session* session) { delete session; }

sinter_status* sinter_session_set_input(sinter_session* session, size_t index, sinter_dtype dtype,
                                        const int64_t* dims, size_t rank, const void* data,
                                        size_t byte_size) {
  if (session == nullptr) return NullArg("session");
  if (DTypeValue(dtype) < 0) {
    int raw;
    std::memcpy(&raw, &dtype, sizeof raw);
    return MakeStatus(SINTER_INVALID_ARGUMENT, "input " + std::to_string(index) + ": " +
                                                   std::to_string(raw) +
                                                   " is not a sinter_dtype value");
  }
  if (data == nullptr && byte_size > 0) return NullArg("data");
  if (dims == nullptr && rank > 0) return NullArg("dims");
  return Guard(
      [&] { return ToC(session->session->SetInput(index, dtype, dims, rank, data, byte_size)); });
}

sinter_status* sinter_session_set_input_device(sinter_session* session, size_t index,
                                               void* device_ptr, size_t byte_size) {
  if (session == nullptr) return NullArg("session");
  return Guard(
      [&] { return ToC(session->session->BindInputDevice(index, device_ptr, byte_size)); });
}

sinter_status* sinter_session_set_output_device(sinter_session* session, size_t index,
                                                void* device_ptr, size_t byte_size) {
  if (session == nullptr) return NullArg("session");
  return Guard(
      [&] { return ToC(session->session->BindOutputDevice(index, device_ptr, byte_size)); });
}

sinter_status* sinter_session_run(sinter_session* session) {
  if (session == nullptr) return NullArg("session");
  return Guard([&] { return ToC(session->session->Run()); });
}

sinter_status* sinter_session_set_profiling(sinter_session* session, int enable) {
  if (session == nullptr) return NullArg("session");
  session->session->set_profiling(enable != 0);
  return nullptr;
}

size_t sinter_model_kernel_count(const sinter_model* model) {
  return model == nullptr ? 0 : model->model->steps().size();
}

sinter_status* sinter_model_kernel_cost(const sinter_model* model, size_t index, double* out_flops,
                                        const char** out_shape) {
  if (out_flops != nullptr) *out_flops = 0;
  if (out_shape != nullptr) *out_shape = nullptr;
  if (model == nullptr) return NullArg("model");
  const auto& steps = model->model->steps();
  if (index >= steps.size()) {
    return MakeStatus(SINTER_INVALID_ARGUMENT, "kernel " + std::to_string(index) +
                                                   " out of range: the model has " +
                                                   std::to_string(steps.size()));
  }
  if (out_flops != nullptr) *out_flops = steps[index].cost.flops;
  if (out_shape != nullptr) *out_shape = steps[index].cost.shape.c_str();
  return nullptr;
}

size_t sinter_session_profile_count(const sinter_session* session) {
  return session == nullptr ? 0 : session->session->profile().size();
}

sinter_status* sinter_session_profile_entry(const sinter_session* session, size_t index,
                                            sinter_profile_entry* out_entry) {
  if (session == nullptr) return NullArg("session");
  if (out_entry == nullptr) return NullArg("out_entry");
  const auto& profile = session->session->profile();
  if (index >= profile.size()) {
    return MakeStatus(SINTER_INVALID_ARGUMENT, "profile entry " + std::to_string(index) +
                                                   " out of range: the last profiled "
                                                   "run has " +
                                                   std::to_string(profile.size()));
  }
  const sinter::rt::Step& step = session->session->model().steps()[index];
  out_entry->kernel = step.schema->name.data();
  out_entry->label = step.label.c_str();
  out_entry->loc = step.loc.c_str();
  out_entry->start_us = profile[index].start_us;
  out_entry->duration_us = profile[index].duration_us;
  return nullptr;
}

sinter_status* sinter_session_get_output(sinter_session* session, size_t index,
                                         const void** out_data, size_t* out_byte_size) {
  if (out_data != nullptr) *out_data = nullptr;
  if (out_byte_size != nullptr) *out_byte_size = 0;
  if (session == nullptr) return NullArg("session");
  if (out_data == nullptr) return NullArg("out_data");
  return Guard([&]() -> sinter_status* {
    auto o = session->session->Output(index);
    if (!o.ok()) return ToC(o.status());
    *out_data = o.value().first;
    if (out_byte_size != nullptr) *out_byte_size = o.value().second;
    return nullptr;
  });
}

sinter_status* sinter_session_output_shape(const sinter_session* session, size_t index,
                                           int64_t* out_dims, size_t capacity, size_t* out_rank) {
  if (out_rank != nullptr) *out_rank = 0;
  if (session == nullptr) return NullArg("session");
  if (out_rank == nullptr) return NullArg("out_rank");
  if (out_dims == nullptr && capacity > 0) return NullArg("out_dims");
  return Guard([&]() -> sinter_status* {
    auto dims = session->session->OutputDims(index);
    if (!dims.ok()) return ToC(dims.status());
    if (dims.value().size() > capacity) {
      return MakeStatus(SINTER_INVALID_ARGUMENT, "output " + std::to_string(index) + " has rank " +
                                                     std::to_string(dims.value().size()) +
                                                     ", room for " + std::to_string(capacity) +
                                                     " dims given");
    }
    std::copy(dims.value().begin(), dims.value().end(), out_dims);
    *out_rank = dims.value().size();
    return nullptr;
  });
}

sinter_status* sinter_session_copy_output(sinter_session* session, size_t index, void* data,
                                          size_t byte_size) {
  if (session == nullptr) return NullArg("session");
  if (data == nullptr && byte_size > 0) return NullArg("data");
  return Guard([&]() -> sinter_status* {
    auto o = session->session->Output(index);
    if (!o.ok()) return ToC(o.status());
    if (byte_size != o.value().second) {
      return MakeStatus(SINTER_INVALID_ARGUMENT, "output " + std::to_string(index) + " has " +
                                                     std::to_string(o.value().second) +
                                                     " bytes, buffer has " +
                                                     std::to_string(byte_size));
    }
    if (byte_size) std::memcpy(data, o.value().first, byte_size);
    return nullptr;
  });
}

}  // extern "C"
