#!/usr/bin/env bash
# Installs everything sinter needs from Debian's packages. Idempotent: when all
# packages are present it returns in well under a second without touching apt.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev          # frontend only: loads TorchScript on the build host
  python3-torch python3-torchvision python3-numpy  # scripts the test models (/usr/bin/python3)
  libopenblas0          # so LibTorch's baseline does not fall back to reference BLAS
  llvm-19-dev llvm-19-tools  # CPU code generation; FileCheck for pass tests
  libabsl-dev           # Status/StatusOr and containers in the compiler
  flatbuffers-compiler libflatbuffers-dev  # the artifact schema
  libgtest-dev          # tests
  clang-format
  clang libclang-rt-14-dev  # the libFuzzer targets (tests/fuzz, scripts/fuzz.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
