#!/usr/bin/env bash
# Fetches, on this (networked) host, the Debian packages that a GPU machine
# without network lacks for building sinter's CUDA path: abseil, GoogleTest
# and FlatBuffers (LLVM is optional there). They land in .gpu-deps/ (git
# ignored), which is carried to the GPU machine, where bench/gpu.sh unpacks
# them into a private prefix with dpkg -x (never into /).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps
cd .gpu-deps
[ -n "$(ls /var/lib/apt/lists/*Packages 2>/dev/null | head -1)" ] || apt-get update -qq
apt-get download libabsl-dev libabsl20220623 libgtest-dev libgmock-dev googletest \
  flatbuffers-compiler libflatbuffers-dev libflatbuffers2 >/dev/null
ls -la
