// The "torch" plugin: each segment is a TorchScript module (written by
// frontend/fallback.cc) whose forward takes the segment's inputs and returns
// a tuple of its results; it runs in LibTorch, in this process.
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "frontend/torchvision_ops.h"
#include "sinter/sinter_plugin.h"

namespace {

struct Segment {
  torch::jit::Module module;
};

void SetError(char* error, size_t size, const std::string& what) {
  if (error == nullptr || size == 0) return;
  std::string w = what;
  if (size_t at = w.find("Exception raised from"); at != std::string::npos) w.resize(at);
  while (!w.empty() && (w.back() == '\n' || w.back() == ' ')) w.pop_back();
  const size_t n = std::min(w.size(), size - 1);
  std::memcpy(error, w.data(), n);
  error[n] = '\0';
}

// sinter_dtype (sinter.h) to LibTorch's; false for a value outside the enum.
bool ToScalarType(int32_t dtype, c10::ScalarType* out) {
  static constexpr c10::ScalarType kTypes[] = {c10::kFloat,  c10::kHalf, c10::kBFloat16,
                                               c10::kDouble, c10::kLong, c10::kInt,
                                               c10::kChar,   c10::kByte, c10::kBool};
  if (dtype < 0 || dtype >= static_cast<int32_t>(std::size(kTypes))) return false;
  *out = kTypes[dtype];
  return true;
}

std::string Describe(c10::ScalarType t, c10::IntArrayRef dims) {
  std::ostringstream os;
  os << c10::toString(t) << dims;
  return os.str();
}

int Create(const void* payload, size_t size, void** out, char* error, size_t error_size) {
  *out = nullptr;
  try {
    for (int attempt = 0;; ++attempt) {
      try {
        std::istringstream in(std::string(static_cast<const char*>(payload), size));
        auto seg = std::make_unique<Segment>(Segment{torch::jit::load(in)});
        seg->module.eval();
        *out = seg.release();
        return 0;
      } catch (const std::exception& e) {
        // A segment with torchvision's ops (nms, roi_align) needs their
        // library registered first, as the compiler did. (An unknown op is
        // a torch::jit::ErrorReport, not a c10::Error.)
        const auto* c10e = dynamic_cast<const c10::Error*>(&e);
        const std::string what = c10e ? c10e->what_without_backtrace() : e.what();
        if (attempt > 0 || what.find("torchvision::") == std::string::npos) throw;
        if (absl::Status st = sinter::frontend::LoadTorchvisionOps(); !st.ok()) {
          SetError(error, error_size, what + "\n" + std::string(st.message()));
          return 1;
        }
      }
    }
  } catch (const c10::Error& e) {
    SetError(error, error_size, e.what_without_backtrace());
  } catch (const std::exception& e) {
    SetError(error, error_size, e.what());
  }
  return 1;
}

// Does `got` fit a result recorded as `want` (-1: any extent)?
bool Fits(c10::IntArrayRef got, c10::IntArrayRef want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i)
    if (want[i] >= 0 && got[i] != want[i]) return false;
  return true;
}

// segment_run, and with `alloc` segment_run_alloc: results whose `data` is
// NULL get their memory from `alloc` once their size is known.
int RunImpl(void* segment, const sinter_plugin_tensor* inputs, size_t num_inputs,
            const sinter_plugin_tensor* outputs, size_t num_outputs, int num_threads,
            sinter_plugin_alloc_fn alloc, void* alloc_ctx, char* error, size_t error_size) {
  try {
    auto* seg = static_cast<Segment*>(segment);
    if (num_threads > 0 && at::get_num_threads() != num_threads) at::set_num_threads(num_threads);
    c10::InferenceMode inference;
    std::vector<c10::IValue> args;
    args.reserve(num_inputs);
    for (size_t i = 0; i < num_inputs; ++i) {
      const sinter_plugin_tensor& t = inputs[i];
      c10::ScalarType type;
      if (!ToScalarType(t.dtype, &type) || t.rank < 0) {
        SetError(error, error_size, "input " + std::to_string(i) + " has a bad dtype or rank");
        return 1;
      }
      args.emplace_back(torch::from_blob(t.data, c10::IntArrayRef(t.dims, t.rank),
                                         c10::IntArrayRef(t.strides, t.rank),
                                         at::TensorOptions().dtype(type)));
    }
    c10::IValue result = seg->module.forward(std::move(args));
    if (!result.isTuple()) {
      SetError(error, error_size, "the segment did not return a tuple");
      return 1;
    }
    const auto& elems = result.toTupleRef().elements();
    if (elems.size() != num_outputs) {
      SetError(error, error_size,
               "the segment returned " + std::to_string(elems.size()) + " values for " +
                   std::to_string(num_outputs) + " results");
      return 1;
    }
    for (size_t o = 0; o < num_outputs; ++o) {
      const sinter_plugin_tensor& want = outputs[o];
      c10::ScalarType type;
      if (!ToScalarType(want.dtype, &type) || want.rank < 0) {
        SetError(error, error_size, "result " + std::to_string(o) + " has a bad dtype or rank");
        return 1;
      }
      const c10::IntArrayRef dims(want.dims, want.rank);
      const bool sized_by_run = want.data == nullptr && alloc != nullptr;
      if (!elems[o].isTensor() || elems[o].toTensor().scalar_type() != type ||
          !(sized_by_run ? Fits(elems[o].toTensor().sizes(), dims)
                         : elems[o].toTensor().sizes() == dims)) {
        const std::string got = elems[o].isTensor() ? Describe(elems[o].toTensor().scalar_type(),
                                                               elems[o].toTensor().sizes())
                                                    : elems[o].tagKind();
        SetError(error, error_size,
                 "result " + std::to_string(o) + " is " + got + ", the compiled model expects " +
                     Describe(type, dims) +
                     (sized_by_run
                          ? ""
                          : " (a size the data decides, which the compiler did not see as one)"));
        return 1;
      }
      if (sized_by_run) {
        const at::Tensor& t = elems[o].toTensor();
        void* data = alloc(alloc_ctx, o, t.sizes().data(), static_cast<int32_t>(t.dim()));
        if (data == nullptr) {
          SetError(error, error_size,
                   "the runtime gave no memory for result " + std::to_string(o) + " of shape " +
                       Describe(type, t.sizes()));
          return 1;
        }
        torch::from_blob(data, t.sizes(), at::TensorOptions().dtype(type)).copy_(t);
        continue;
      }
      torch::from_blob(want.data, dims, c10::IntArrayRef(want.strides, want.rank),
                       at::TensorOptions().dtype(type))
          .copy_(elems[o].toTensor());
    }
    return 0;
  } catch (const c10::Error& e) {
    SetError(error, error_size, e.what_without_backtrace());
  } catch (const std::exception& e) {
    SetError(error, error_size, e.what());
  }
  return 1;
}

int Run(void* segment, const sinter_plugin_tensor* inputs, size_t num_inputs,
        const sinter_plugin_tensor* outputs, size_t num_outputs, int num_threads, char* error,
        size_t error_size) {
  return RunImpl(segment, inputs, num_inputs, outputs, num_outputs, num_threads, nullptr, nullptr,
                 error, error_size);
}

int RunAlloc(void* segment, const sinter_plugin_tensor* inputs, size_t num_inputs,
             const sinter_plugin_tensor* outputs, size_t num_outputs, int num_threads,
             sinter_plugin_alloc_fn alloc, void* alloc_ctx, char* error, size_t error_size) {
  if (alloc == nullptr) {
    SetError(error, error_size, "segment_run_alloc without an allocator");
    return 1;
  }
  return RunImpl(segment, inputs, num_inputs, outputs, num_outputs, num_threads, alloc, alloc_ctx,
                 error, error_size);
}

void Destroy(void* segment) { delete static_cast<Segment*>(segment); }

const sinter_plugin_api kApi = {SINTER_PLUGIN_ABI_VERSION,
                                sizeof(sinter_plugin_api),
                                "torch",
                                &Create,
                                &Run,
                                &Destroy,
                                /*ops=*/nullptr,
                                /*num_ops=*/0,
                                &RunAlloc};

}  // namespace

extern "C" __attribute__((visibility("default"))) const sinter_plugin_api* sinter_plugin_get_api(
    uint32_t abi_version) {
  return abi_version == SINTER_PLUGIN_ABI_VERSION ? &kApi : nullptr;
}
