#!/usr/bin/env bash
# CPU benchmark: sinter (-O0 and default pipeline) against LibTorch (frozen +
# optimize_for_inference, OpenBLAS) on the test models, in the same process per
# model, multi-threaded (threads = cores) and single-threaded; the CNNs of the
# fusion issue also at batch 8. sinter's artifacts target this machine
# (--cpu native). Prints latency and peak-memory ratios and writes JSON lines
# to bench/results/.
#
#   bash bench/cpu.sh [MODEL ...]      (default: the spine models)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh sinterc sinter-compare sinter_runtime >/dev/null
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(resnet18 resnet50 mobilenet_v2 mobilenet_v3_large vgg11_bn
                                   squeezenet1_1 alexnet densenet121 transformer lstm)
batch8=" resnet18 resnet50 mobilenet_v2 "
/usr/bin/python3 tests/models/make_models.py build/models --only "${models[@]}" >/dev/null
mkdir -p build/bench bench/results
stamp=$(date -u +%Y%m%d-%H%M%S)
out=bench/results/cpu-$stamp.jsonl
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "{\"machine\": \"$cpu\", \"cores\": $(nproc), \"commit\": \"$(git rev-parse --short HEAD)\", \"date\": \"$stamp\"}" > "$out"
printf "%-20s %5s %-8s %4s %12s %12s %8s %11s %11s %8s\n" model batch pipeline thr "libtorch ms" \
  "sinter ms" ratio "libtorch MB" "sinter MB" "mem"
for m in "${models[@]}"; do
  shape=$(awk -F'\t' -v m="$m" '$1==m {print $4}' build/models/manifest.tsv)
  batches=(1)
  [[ "$batch8" == *" $m "* ]] && batches=(1 8)
  for batch in "${batches[@]}"; do
    args=()
    IFS=';' read -ra shapes <<< "$shape"
    for s in "${shapes[@]}"; do
      [ "$batch" = 1 ] || s="$batch,${s#*,}"
      args+=(--input-shape "$s")
    done
    for pipe in O0 default; do
      flag=(); [ "$pipe" = O0 ] && flag=(-O0)
      tag="$m.b$batch.$pipe"
      build/bin/sinterc "build/models/$m.pt" -o "build/bench/$tag.sinter" "${args[@]}" "${flag[@]}" \
        --cpu native --report-json "build/bench/$tag.report.json"
      for thr in "$(nproc)" 1; do
        line=$(build/bin/sinter-compare "build/models/$m.pt" "build/bench/$tag.sinter" "${args[@]}" \
                 --threads "$thr" --iters 20 --warmup 3 --json 2>>build/bench/libtorch-warnings.log)
        echo "{\"name\": \"$m\", \"batch\": $batch, \"pipeline\": \"$pipe\", \"report\": $(cat build/bench/$tag.report.json), \"run\": $line}" >> "$out"
        echo "$line" | /usr/bin/python3 -c "
import json,sys; r=json.load(sys.stdin)
print('%-20s %5d %-8s %4d %12.2f %12.2f %7.2fx %11.1f %11.1f %7.2fx' % ('$m', $batch, '$pipe', r['threads'],
  r['libtorch']['median_ms'], r['sinter']['median_ms'], r['latency_ratio'],
  r['libtorch']['peak_mb'], r['sinter']['peak_mb'], r['peak_memory_ratio']))"
      done
    done
  done
done
echo "results: $out"
