#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with Clang, AddressSanitizer and
# UndefinedBehaviorSanitizer (no suppressions), makes their seed corpora from
# real artifacts, and runs one target, or all of them, as many at a time as
# there are cores (each target is one process on one core).
# Usage: scripts/fuzz.sh artifact|text_ir|npy|kernel_body|all SECONDS
# Exit status 0: no finding; otherwise the finding's input is under
# build-fuzz/findings/ and the report is on stderr.
# The seeds need the Release build (scripts/build.sh): its sinterc compiles
# the parity op models into artifacts and text IR, and its sinter-opt
# fuses that IR.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh artifact|text_ir|npy|kernel_body|all SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
jobs=$(nproc)

case "$target" in
  all) targets=(artifact text_ir npy kernel_body) ;;
  artifact | text_ir | npy | kernel_body) targets=("$target") ;;
  *) echo "fuzz.sh: unknown target '$target' (artifact, text_ir, npy, kernel_body, all)" >&2
     exit 1 ;;
esac

if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSINTER_SANITIZE=address,undefined,fuzzer-no-link -DSINTER_BUILD_FUZZERS=ON \
    -DSINTER_BUILD_FRONTEND=OFF -DSINTER_BUILD_TESTS=OFF >/dev/null
fi
ninja -C build-fuzz -j"$jobs" "${targets[@]/%/_fuzz}" kernel_body_seeds

# Seeds: made once per build folder from the parity op models.
seeds=build-fuzz/seeds
if [ ! -f "$seeds/.done" ]; then
  [ -x build/bin/sinterc ] && [ -f build/models/manifest.tsv ] ||
    { echo "fuzz.sh: the seeds need the Release build first (bash scripts/build.sh)" >&2; exit 1; }
  rm -rf "$seeds"
  mkdir -p "$seeds"/{artifact,text_ir,npy,kernel_body}
  while IFS=$'\t' read -r name file group shapes dtypes _; do
    case "$name" in op_* | lstm) ;; *) continue ;; esac
    args=()
    IFS=';' read -ra s <<< "$shapes"
    for x in "${s[@]}"; do args+=(--input-shape "$x"); done
    args+=(--input-dtype "${dtypes//;/,}")
    cpu=none
    [ "$name" = lstm ] && cpu=auto  # one seed carries native code (loaded disabled)
    build/bin/sinterc "build/models/$file" -o "$seeds/artifact/$name.sinter" --cpu "$cpu" \
      --emit-ir "$seeds/text_ir/$name.sir" "${args[@]}" >/dev/null 2>&1 ||
      { echo "fuzz.sh: no seed from $name (sinterc refused it)"; continue; }
    # The same graph after the optimising pipeline: fused kernels, epilogues.
    build/bin/sinter-opt "$seeds/text_ir/$name.sir" --pipeline=default \
      > "$seeds/text_ir/$name.fused.sir"
  done < build/models/manifest.tsv
  # A symbolic extent (inputs sized by each run, a mask with it twice).
  build/bin/sinterc build/models/op_masked_attention.pt -o "$seeds/artifact/masked_attention_seq.sinter" \
    --cpu none --input-shape 1,seq=1..32,32 --input-shape seq=1..32,seq=1..32 \
    --emit-ir "$seeds/text_ir/masked_attention_seq.sir" >/dev/null 2>&1 ||
    echo "fuzz.sh: no symbolic-extent seed (sinterc refused it)"
  /usr/bin/python3 tests/fuzz/make_seeds.py "$seeds"
  build-fuzz/bin/kernel_body_seeds "$seeds/kernel_body" "$seeds"/text_ir/*.sir
  touch "$seeds/.done"
fi

# One target for $seconds; its output goes to $2 (read after it ends, so
# that targets running side by side do not interleave their reports).
fuzz_one() {
  local t=$1 log=$2 corpus=build-fuzz/corpus/$1 dict=()
  mkdir -p "$corpus" build-fuzz/findings
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  echo "== fuzz $t for ${seconds}s ($(ls "$seeds/$t" | wc -l) seeds)" > "$log"
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "build-fuzz/bin/${t}_fuzz" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 \
      -malloc_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
      -artifact_prefix="build-fuzz/findings/$t-" "$corpus" "$seeds/$t" >> "$log" 2>&1
}

logs=build-fuzz/logs
mkdir -p "$logs"
failed=()
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
  batch=("${targets[@]:i:jobs}")
  pids=()
  for t in "${batch[@]}"; do
    fuzz_one "$t" "$logs/$t.log" &
    pids+=($!)
  done
  for k in "${!batch[@]}"; do
    t=${batch[$k]}
    if wait "${pids[$k]}"; then
      grep -E "^== fuzz|^stat::number_of_executed_units|^Done" "$logs/$t.log" || true
    else
      cat "$logs/$t.log" >&2
      failed+=("$t")
    fi
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings or failures in: ${failed[*]} (inputs under build-fuzz/findings/)" >&2
  exit 1
fi
