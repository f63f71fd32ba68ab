// torchvision's operator library (torchvision::nms, roi_align, ...), loaded
// into the compiler on demand: a TorchScript model that calls those ops
// cannot even be deserialised until they are registered with LibTorch.
#ifndef SINTER_FRONTEND_TORCHVISION_OPS_H_
#define SINTER_FRONTEND_TORCHVISION_OPS_H_

#include <string>

#include "absl/status/status.h"

namespace sinter::frontend {

// Loads the library once per process (later calls return the first
// result). Looked for: $SINTER_TORCHVISION_LIBRARY alone when set; else, in
// order, torchvision's
// Python extension `_C*.so` in the dist-packages and site-packages folders
// of /usr/lib/python3, /usr/local/lib/python3.* and /usr/lib/python3.*
// (Debian's python3-torchvision installs it there); libtorchvision.so on
// the loader's path (a C++ install). NotFound lists every place looked at
// with each dlerror.
absl::Status LoadTorchvisionOps();

// The path the library was loaded from ("" before a successful load).
std::string TorchvisionOpsPath();

}  // namespace sinter::frontend

#endif  // SINTER_FRONTEND_TORCHVISION_OPS_H_
