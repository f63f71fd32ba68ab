#!/usr/bin/env bash
# Sets everything up and runs every test: the full build with LibTorch parity
# tests, then the unit tests again under AddressSanitizer and
# UndefinedBehaviorSanitizer, the kernels and threads tests under
# ThreadSanitizer, then
# every libFuzzer target for 60 seconds on
# its seed corpus (Clang, ASan + UBSan): any finding fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)

echo "== build (Release)"
bash scripts/build.sh
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 1200

echo "== build (AddressSanitizer + UndefinedBehaviorSanitizer, no LibTorch)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSINTER_SANITIZE=address,undefined -DSINTER_BUILD_FRONTEND=OFF >/dev/null
ninja -C build-asan -j"$jobs"
echo "== tests under sanitizers"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 1200

echo "== ThreadSanitizer: the runtime's unit tests, every threaded CPU kernel; one model, 16 threads, sessions churned, the handle released"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSINTER_SANITIZE=thread -DSINTER_BUILD_FRONTEND=OFF >/dev/null
# The runtime's own tests (the tests that link the compiler, and the CUDA
# executor's fibers, stay with the ASan build).
tsan_tests="runtime_test native_code_test fused_interpreter_test fused_reduction_test damaged_artifact_test"
ninja -C build-tsan -j"$jobs" threads_test kernels_test c_api_smoke $tsan_tests
for t in kernels_test $tsan_tests; do TSAN_OPTIONS=halt_on_error=1 build-tsan/bin/$t --gtest_brief=1; done
TSAN_OPTIONS=halt_on_error=1 build-tsan/bin/c_api_smoke build/tests/runtime/c_api_smoke.sinter
build/bin/sinterc build/models/lstm.pt -o build-tsan/lstm.sinter --input-shape 1,32,64 >/dev/null
SINTER_THREADS_ARTIFACTS=build/tests/runtime/c_api_smoke.sinter:build/tests/runtime/threads_o0.sinter:build-tsan/lstm.sinter \
  TSAN_OPTIONS=halt_on_error=1 build-tsan/bin/threads_test

echo "== fuzz smoke (60 s per target)"
bash scripts/fuzz.sh all 60
