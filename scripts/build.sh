#!/usr/bin/env bash
# Configures and builds sinter into build/ (Release). Extra arguments go to
# ninja (targets).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j"$(nproc)" "$@"
