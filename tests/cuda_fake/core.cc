// The shared state of the fake CUDA libraries (core.h) and the test-facing
// C API (fake_cuda.h).
#include "tests/cuda_fake/core.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>
#include <unordered_map>

#include "tests/cuda_emu/executor.h"

namespace sinter::fake {
namespace {

constexpr size_t kGuard = 256;
constexpr unsigned char kGuardByte = 0xfd;
// Handles: synthetic addresses in a range no allocation of this process
// uses, 256 apart, never reused.
constexpr uintptr_t kHandleBase = uintptr_t{0x7e57} << 32;

struct State {
  std::recursive_mutex mutex;
  std::vector<std::string> errors;
  std::map<std::string, uint64_t> counters;
  std::map<std::string, int> flags = {
      {"cudnn_fusion", 1}, {"cublaslt_epilogues", 1}, {"capture", 1}};
  int fail_countdown = 0;  // "fail_call": calls left until the injected failure
  uint64_t next_object = 1, next_allocation = 1;
  std::unordered_map<uintptr_t, std::unique_ptr<Object>> objects;
  std::map<uintptr_t, Allocation> allocations;  // by base; live only
  size_t device_bytes = 0;
  std::map<std::pair<size_t, uint64_t>, HostModule> modules;  // by (size, hash)
  std::string errors_text, live_text;                         // returned by the C API
};

State& S() {
  static State* s = new State;  // never destroyed: the fakes may run at exit
  return *s;
}

}  // namespace

uint64_t ThreadId() {
  static thread_local const uint64_t id =
      std::hash<std::thread::id>()(std::this_thread::get_id()) | 1;
  return id;
}

bool& DriverInitialized() {
  static bool initialized = false;
  return initialized;
}

std::vector<CUcontext>& ContextStack() {
  static thread_local std::vector<CUcontext> stack;
  return stack;
}

bool HaveContext(const char* api) {
  auto lock = Lock();
  if (!DriverInitialized()) {
    Fail(Format("%s: called before cuInit", api));
    return false;
  }
  if (ContextStack().empty() || ContextStack().back() == nullptr) {
    Fail(
        Format("%s: no current context on this thread (cuCtxPushCurrent or cuCtxSetCurrent "
               "first)",
               api));
    return false;
  }
  return FindObject(ContextStack().back(), Kind::kContext, api) != nullptr;
}

std::unique_lock<std::recursive_mutex> Lock() {
  return std::unique_lock<std::recursive_mutex>(S().mutex);
}

std::string Format(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char buf[2048];
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

std::string Hex(uint64_t v) { return Format("0x%llx", static_cast<unsigned long long>(v)); }

void Fail(const std::string& message) {
  auto lock = Lock();
  S().errors.push_back(message);
  if (std::getenv("SINTER_FAKE_CUDA_VERBOSE") != nullptr)
    std::fprintf(stderr, "fake CUDA: %s\n", message.c_str());
}

int Flag(const char* name) {
  auto lock = Lock();
  auto it = S().flags.find(name);
  return it == S().flags.end() ? 0 : it->second;
}

bool InjectFailure(const char* api) {
  auto lock = Lock();
  State& s = S();
  if (s.fail_countdown <= 0 || --s.fail_countdown > 0) return false;
  s.counters["injected_failures"] += 1;
  if (std::getenv("SINTER_FAKE_CUDA_VERBOSE") != nullptr)
    std::fprintf(stderr, "fake CUDA: injected failure of %s\n", api);
  return true;
}

void Count(const char* name, uint64_t n) {
  auto lock = Lock();
  S().counters[name] += n;
}

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kContext:
      return "CUcontext";
    case Kind::kModule:
      return "CUmodule";
    case Kind::kFunction:
      return "CUfunction";
    case Kind::kStream:
      return "CUstream";
    case Kind::kEvent:
      return "CUevent";
    case Kind::kGraph:
      return "CUgraph";
    case Kind::kGraphExec:
      return "CUgraphExec";
    case Kind::kBlasHandle:
      return "cublasLtHandle_t";
    case Kind::kBlasMatmulDesc:
      return "cublasLtMatmulDesc_t";
    case Kind::kBlasLayout:
      return "cublasLtMatrixLayout_t";
    case Kind::kBlasPreference:
      return "cublasLtMatmulPreference_t";
    case Kind::kDnnHandle:
      return "cudnnHandle_t";
    case Kind::kDnnDescriptor:
      return "cudnnBackendDescriptor_t";
  }
  return "handle";
}

void* AddObject(std::unique_ptr<Object> object, Kind kind, const std::string& label) {
  auto lock = Lock();
  State& s = S();
  object->kind = kind;
  object->id = s.next_object++;
  object->label = label;
  object->alive = true;
  const uintptr_t h = kHandleBase + object->id * 256;
  s.objects[h] = std::move(object);
  return reinterpret_cast<void*>(h);
}

Object* FindObject(const void* handle, Kind kind, const char* api) {
  auto lock = Lock();
  const auto h = reinterpret_cast<uintptr_t>(handle);
  if (handle == nullptr) {
    Fail(Format("%s: a null %s", api, KindName(kind)));
    return nullptr;
  }
  auto it = S().objects.find(h);
  if (it == S().objects.end()) {
    Fail(Format("%s: %s is no %s this library made (never created, or garbage)", api,
                Hex(h).c_str(), KindName(kind)));
    return nullptr;
  }
  Object& o = *it->second;
  if (o.kind != kind) {
    Fail(Format("%s: %s is a %s (%s), not a %s", api, Hex(h).c_str(), KindName(o.kind),
                o.label.c_str(), KindName(kind)));
    return nullptr;
  }
  if (!o.alive) {
    Fail(Format("%s: %s %s (%s) was already destroyed", api, KindName(kind), Hex(h).c_str(),
                o.label.c_str()));
    return nullptr;
  }
  return &o;
}

void Kill(Object* object) {
  auto lock = Lock();
  object->alive = false;
}

uintptr_t Allocate(size_t bytes, bool device, const char* api) {
  auto lock = Lock();
  State& s = S();
  const size_t rounded = (bytes + 255) / 256 * 256;
  const size_t raw_size = kGuard + std::max<size_t>(rounded, 256) + kGuard;
  auto* raw = static_cast<unsigned char*>(std::aligned_alloc(256, raw_size));
  if (raw == nullptr) return 0;
  std::memset(raw, kGuardByte, raw_size);
  Allocation a;
  a.base = reinterpret_cast<uintptr_t>(raw + kGuard);
  a.size = bytes;
  a.device = device;
  a.id = s.next_allocation++;
  a.label = Format("%s #%llu (%zu bytes)", api, static_cast<unsigned long long>(a.id), bytes);
  a.raw = raw;
  a.raw_size = raw_size;
  std::memset(raw + kGuard, 0xff, bytes);
  if (device) {
    cuda_emu::RegisterBuffer(reinterpret_cast<void*>(a.base), bytes, a.label);
    s.device_bytes += bytes;
  }
  s.allocations[a.base] = a;
  Count("allocations");
  return a.base;
}

bool Free(uintptr_t base, bool device, const char* api) {
  auto lock = Lock();
  State& s = S();
  auto it = s.allocations.find(base);
  if (it == s.allocations.end() || it->second.device != device) {
    const Allocation* in = FindAllocation(base);
    if (in != nullptr && in->device == device) {
      Fail(Format("%s: %s is inside %s at offset %llu, not its base", api, Hex(base).c_str(),
                  in->label.c_str(), static_cast<unsigned long long>(base - in->base)));
    } else if (it != s.allocations.end()) {
      Fail(Format("%s: %s is %s, which is %s memory", api, Hex(base).c_str(),
                  it->second.label.c_str(), it->second.device ? "device" : "pinned host"));
    } else {
      Fail(Format("%s: %s is no live %s allocation (freed twice, or never allocated)", api,
                  Hex(base).c_str(), device ? "device" : "pinned host"));
    }
    return false;
  }
  Allocation a = it->second;
  s.allocations.erase(it);
  // The guards: anything but the pattern was written out of bounds by a
  // copy or a library call (kernels are checked access by access).
  auto guard_intact = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      if (a.raw[i] == kGuardByte) continue;
      const long long at = static_cast<long long>(i) - static_cast<long long>(kGuard);
      Fail(
          Format("%s: %s: the guard byte at offset %lld was overwritten (a write out of its "
                 "bounds)",
                 api, a.label.c_str(), at));
      return false;
    }
    return true;
  };
  if (guard_intact(0, kGuard)) guard_intact(kGuard + a.size, a.raw_size);
  if (a.device) {
    cuda_emu::UnregisterBuffer(reinterpret_cast<void*>(a.base));
    s.device_bytes -= a.size;
  }
  std::free(a.raw);
  return true;
}

const Allocation* FindAllocation(uintptr_t p) {
  auto lock = Lock();
  State& s = S();
  auto it = s.allocations.upper_bound(p);
  if (it == s.allocations.begin()) return nullptr;
  --it;
  const Allocation& a = it->second;
  // One past the end belongs to no allocation, except for an empty range
  // (checked by CheckRange).
  return p >= a.base && p < a.base + std::max<size_t>(a.size, 1) ? &a : nullptr;
}

bool CheckRange(uintptr_t p, size_t bytes, bool device, const char* api, const std::string& what) {
  auto lock = Lock();
  const char* kind = device ? "device" : "pinned host";
  if (p == 0) {
    Fail(Format("%s: %s is a null pointer", api, what.c_str()));
    return false;
  }
  const Allocation* a = FindAllocation(p);
  if (a == nullptr || a->device != device) {
    Fail(Format("%s: %s %s (%zu bytes) is in no live %s allocation%s", api, what.c_str(),
                Hex(p).c_str(), bytes, kind,
                a != nullptr ? Format(" (it is in %s)", a->label.c_str()).c_str() : ""));
    return false;
  }
  const uint64_t offset = p - a->base;
  if (offset + bytes > a->size) {
    Fail(Format("%s: %s: bytes [%llu, %llu) of %s: %llu past its end", api, what.c_str(),
                static_cast<unsigned long long>(offset),
                static_cast<unsigned long long>(offset + bytes), a->label.c_str(),
                static_cast<unsigned long long>(offset + bytes - a->size)));
    return false;
  }
  return true;
}

size_t DeviceBytesInUse() {
  auto lock = Lock();
  return S().device_bytes;
}

bool FindStream(CUstream handle, const char* api, Stream** stream) {
  *stream = nullptr;
  if (handle == nullptr || handle == CU_STREAM_LEGACY) return true;
  if (handle == CU_STREAM_PER_THREAD) {
    Fail(Format("%s: CU_STREAM_PER_THREAD is not emulated", api));
    return false;
  }
  *stream = Find<Stream>(handle, Kind::kStream, api);
  return *stream != nullptr;
}

namespace {

// The captures an unsafe call on this thread would break: every stream
// capturing in global mode, and this thread's thread-local captures.
std::vector<Stream*> CapturesOfThisThread() {
  std::vector<Stream*> out;
  for (auto& [h, o] : S().objects) {
    if (o->kind != Kind::kStream || !o->alive) continue;
    auto* s = static_cast<Stream*>(o.get());
    if (!s->capturing) continue;
    if (s->mode == CU_STREAM_CAPTURE_MODE_GLOBAL ||
        (s->mode == CU_STREAM_CAPTURE_MODE_THREAD_LOCAL && s->capture_thread == ThreadId()))
      out.push_back(s);
  }
  return out;
}

const char* ModeName(CUstreamCaptureMode m) {
  switch (m) {
    case CU_STREAM_CAPTURE_MODE_GLOBAL:
      return "global";
    case CU_STREAM_CAPTURE_MODE_THREAD_LOCAL:
      return "thread-local";
    case CU_STREAM_CAPTURE_MODE_RELAXED:
      return "relaxed";
  }
  return "?";
}

}  // namespace

bool ForbiddenInCapture(const char* api, const Stream* stream) {
  auto lock = Lock();
  if (stream != nullptr && stream->capturing) {
    Fail(
        Format("%s: on %s while it is being captured into a graph: not allowed during stream "
               "capture (the capture is invalidated)",
               api, stream->label.c_str()));
    const_cast<Stream*>(stream)->invalidated = true;
    return true;
  }
  std::vector<Stream*> captures = CapturesOfThisThread();
  if (captures.empty()) return false;
  Fail(
      Format("%s: called while %s is being captured (%s mode): a call stream capture does not "
             "allow (it may allocate or synchronise; the capture is invalidated)",
             api, captures[0]->label.c_str(), ModeName(captures[0]->mode)));
  for (Stream* s : captures) s->invalidated = true;
  return true;
}

bool AnyCapture() {
  auto lock = Lock();
  for (auto& [h, o] : S().objects) {
    if (o->kind == Kind::kStream && o->alive && static_cast<Stream*>(o.get())->capturing)
      return true;
  }
  return false;
}

CUresult Submit(Stream* stream, Work work, const char* api) {
  auto lock = Lock();
  if (stream == nullptr) {
    // The legacy default stream synchronises with every blocking stream:
    // work on it while a blocking stream captures is an implicit dependency
    // capture cannot express.
    for (auto& [h, o] : S().objects) {
      if (o->kind != Kind::kStream || !o->alive) continue;
      auto* s = static_cast<Stream*>(o.get());
      if (s->capturing && (s->flags & CU_STREAM_NON_BLOCKING) == 0) {
        Fail(
            Format("%s: %s on the legacy default stream while %s (a blocking stream) is being "
                   "captured",
                   api, work.what.c_str(), s->label.c_str()));
        s->invalidated = true;
        return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
      }
    }
  } else if (stream->capturing) {
    if (stream->invalidated) return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    stream->captured.push_back(std::move(work));
    Count("captured_nodes");
    return CUDA_SUCCESS;
  }
  return work.run() ? CUDA_SUCCESS : CUDA_ERROR_LAUNCH_FAILED;
}

uint64_t ImageHash(const void* image, size_t size) {
  // FNV-1a, 64 bits.
  uint64_t h = 1469598103934665603ull;
  const auto* p = static_cast<const unsigned char*>(image);
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

const HostModule* FindHostModule(const void* image, size_t size) {
  auto lock = Lock();
  auto it = S().modules.find({size, ImageHash(image, size)});
  return it == S().modules.end() ? nullptr : &it->second;
}

}  // namespace sinter::fake

// ---- The test-facing C API ---------------------------------------------------------------

namespace fk = sinter::fake;

SINTER_FAKE_EXPORT size_t sinter_fake_cuda_error_count(void) {
  auto lock = fk::Lock();
  return fk::S().errors.size();
}

SINTER_FAKE_EXPORT const char* sinter_fake_cuda_errors(void) {
  auto lock = fk::Lock();
  fk::State& s = fk::S();
  s.errors_text.clear();
  for (const std::string& e : s.errors) s.errors_text += e + "\n";
  return s.errors_text.c_str();
}

SINTER_FAKE_EXPORT void sinter_fake_cuda_clear_errors(void) {
  auto lock = fk::Lock();
  fk::S().errors.clear();
}

namespace {
std::vector<std::string> LiveLines() {
  std::vector<std::string> lines;
  for (const auto& [base, a] : fk::S().allocations)
    lines.push_back(fk::Format("%s memory %s: %s", a.device ? "device" : "pinned host",
                               fk::Hex(base).c_str(), a.label.c_str()));
  std::map<uint64_t, std::string> objects;  // in creation order
  for (const auto& [h, o] : fk::S().objects) {
    if (o->alive && !o->owned)
      objects[o->id] =
          fk::Format("%s %s: %s", fk::KindName(o->kind), fk::Hex(h).c_str(), o->label.c_str());
  }
  for (auto& [id, line] : objects) lines.push_back(std::move(line));
  return lines;
}
}  // namespace

SINTER_FAKE_EXPORT size_t sinter_fake_cuda_live_count(void) {
  auto lock = fk::Lock();
  return LiveLines().size();
}

SINTER_FAKE_EXPORT const char* sinter_fake_cuda_live(void) {
  auto lock = fk::Lock();
  fk::State& s = fk::S();
  s.live_text.clear();
  for (const std::string& l : LiveLines()) s.live_text += l + "\n";
  return s.live_text.c_str();
}

SINTER_FAKE_EXPORT uint64_t sinter_fake_cuda_counter(const char* name) {
  auto lock = fk::Lock();
  auto it = fk::S().counters.find(name);
  return it == fk::S().counters.end() ? 0 : it->second;
}

SINTER_FAKE_EXPORT int sinter_fake_cuda_set_flag(const char* name, int value) {
  auto lock = fk::Lock();
  int& f = fk::S().flags[name];
  const int old = f;
  f = value;
  if (std::strcmp(name, "fail_call") == 0) fk::S().fail_countdown = value;
  return old;
}

SINTER_FAKE_EXPORT int sinter_fake_cuda_register_module(const void* image, size_t size,
                                                        const sinter_fake_cuda_symbols* tables,
                                                        size_t n, const char* label) {
  if (n == 0 || tables == nullptr) return -1;
  auto lock = fk::Lock();
  fk::HostModule m;
  m.tables.assign(tables, tables + n);
  m.label = label != nullptr ? label : "module";
  fk::S().modules[{size, fk::ImageHash(image, size)}] = std::move(m);
  return 0;
}

SINTER_FAKE_EXPORT void sinter_fake_cuda_unregister_modules(void) {
  auto lock = fk::Lock();
  fk::S().modules.clear();
}
