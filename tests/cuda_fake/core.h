// The state the three fake CUDA libraries share (libsinter_fake_cuda_core.so):
// the validation log, handles, device and pinned memory, streams with
// their capture state, graphs, and the host modules registered for CUDA
// images. One copy per process: each fake NEEDs this library, so however
// the runtime dlopens the fakes (RTLD_LOCAL), they see the same state, and
// cuBLASLt's and cuDNN's work lands on the driver's streams and captures.
//
// Everything here runs under one process-wide lock (Lock()): the fakes
// are checkers, not a fast path, and kernels run one at a time anyway
// (tests/cuda_emu/executor.h).
#ifndef SINTER_TESTS_CUDA_FAKE_CORE_H_
#define SINTER_TESTS_CUDA_FAKE_CORE_H_

#include <cuda.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/cuda_fake/fake_cuda.h"

#define SINTER_FAKE_EXPORT extern "C" __attribute__((visibility("default")))

namespace sinter::fake {

std::unique_lock<std::recursive_mutex> Lock();

// ---- The validation log -------------------------------------------------------

// One violation: "api: what is wrong". The fakes also return an error code.
void Fail(const std::string& message);
// Counts executed work (fake_cuda.h's sinter_fake_cuda_counter).
void Count(const char* name, uint64_t n = 1);

// A behaviour switch (fake_cuda.h's sinter_fake_cuda_set_flag).
int Flag(const char* name);
// Whether this allocating call is the one "fail_call" picked: then it must
// fail as out of memory (not a violation; counted).
bool InjectFailure(const char* api);

// printf-style formatting for messages.
std::string Format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Hex(uint64_t v);

// ---- The driver's state the libraries also check ---------------------------------

// cuInit has run.
bool& DriverInitialized();
// The calling thread's context stack (cuCtxPushCurrent / cuCtxPopCurrent).
std::vector<CUcontext>& ContextStack();
// A live current context on this thread; records a failure naming `api`
// otherwise (a library call needs one as much as a driver call).
bool HaveContext(const char* api);
// An id of the calling thread, for thread-local capture.
uint64_t ThreadId();

// ---- Handles ---------------------------------------------------------------------
//
// Every handle the fakes give out is a synthetic address never reused, so
// a destroyed handle is told apart from one never created; the object
// stays in the table, dead, for the messages.

enum class Kind {
  kContext,
  kModule,
  kFunction,
  kStream,
  kEvent,
  kGraph,
  kGraphExec,
  kBlasHandle,
  kBlasMatmulDesc,
  kBlasLayout,
  kBlasPreference,
  kDnnHandle,
  kDnnDescriptor,
};
const char* KindName(Kind kind);

struct Object {
  virtual ~Object() = default;
  Kind kind = Kind::kContext;
  uint64_t id = 0;
  std::string label;  // what made it: "cuStreamCreate #3"
  bool alive = true;
  // Objects owned by another (a module's functions) are not leaks of their own.
  bool owned = false;
};

// Takes ownership and returns the handle.
void* AddObject(std::unique_ptr<Object> object, Kind kind, const std::string& label);
// The live object of `kind` behind `handle`; null, after recording why
// (never created, destroyed, another kind), otherwise.
Object* FindObject(const void* handle, Kind kind, const char* api);
template <class T>
T* Find(const void* handle, Kind kind, const char* api) {
  return static_cast<T*>(FindObject(handle, kind, api));
}
// Marks it dead (the record stays).
void Kill(Object* object);

// ---- Memory ----------------------------------------------------------------------
//
// Device memory is host memory: 256-byte aligned, 256 guard bytes on each
// side (checked when freed), filled with 0xff (NaN for floats) so that
// reading what nobody wrote shows, and registered with the host executor,
// which bounds-checks every kernel access against it. Pinned host memory
// (cuMemHostAlloc) is tracked the same way but not registered: kernels
// cannot reach it.

struct Allocation {
  uintptr_t base = 0;
  size_t size = 0;
  bool device = true;
  uint64_t id = 0;
  std::string label;  // "cuMemAlloc #4 (1024 bytes)"
  unsigned char* raw = nullptr;
  size_t raw_size = 0;
};

uintptr_t Allocate(size_t bytes, bool device, const char* api);
// False (recorded) for a pointer that is no live allocation's base.
bool Free(uintptr_t base, bool device, const char* api);
// The live allocation holding address p, or null.
const Allocation* FindAllocation(uintptr_t p);
// Checks that [p, p + bytes) lies in one live allocation (device or
// pinned, as `device` says); records "api: what ..." otherwise.
bool CheckRange(uintptr_t p, size_t bytes, bool device, const char* api, const std::string& what);
size_t DeviceBytesInUse();

// ---- Streams, captures, graphs -------------------------------------------------------

// One unit of device work: a kernel, a copy, a library call. run() does it
// on the host and returns false after recording what failed.
struct Work {
  std::string what;
  std::function<bool()> run;
};

struct Stream : Object {
  unsigned flags = 0;
  bool capturing = false;
  bool invalidated = false;  // something illegal happened during the capture
  CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
  uint64_t capture_thread = 0;
  std::vector<Work> captured;
};

struct Graph : Object {
  std::vector<Work> nodes;
};

// The stream behind a handle (null: the legacy default stream, which
// `*stream` then stays null for); false after recording a bad handle.
bool FindStream(CUstream handle, const char* api, Stream** stream);
// Runs the work now, or records it into the stream's capture. Returns
// CUDA_SUCCESS, CUDA_ERROR_LAUNCH_FAILED when it ran and failed, or
// CUDA_ERROR_STREAM_CAPTURE_* for work the capture cannot take.
CUresult Submit(Stream* stream, Work work, const char* api);

// An API call that stream capture does not allow (a synchronous copy, an
// allocation, a synchronisation): when the calling thread is capturing (or
// any thread in global mode), records it, invalidates the capture and
// returns true. `stream`: the stream it acts on, if any.
bool ForbiddenInCapture(const char* api, const Stream* stream = nullptr);
// Whether any stream is capturing (for messages).
bool AnyCapture();

// ---- Host modules ------------------------------------------------------------------

struct HostModule {
  std::vector<sinter_fake_cuda_symbols> tables;
  std::string label;
};
const HostModule* FindHostModule(const void* image, size_t size);
uint64_t ImageHash(const void* image, size_t size);

}  // namespace sinter::fake

#endif  // SINTER_TESTS_CUDA_FAKE_CORE_H_
