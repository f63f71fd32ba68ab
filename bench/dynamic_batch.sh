#!/usr/bin/env bash
# Dynamic batch against static (issue 12): each model compiled once with
# `--input-shape batch=1..16,...` and run at batch 1 and 8, against the static
# artifacts compiled for batch 1 and for batch 8, in alternating blocks, three
# rounds, 2 threads and 1. Reports the medians' ratio dynamic / static (the
# target: at most 1.1) and the first run at a new batch, and writes JSON
# lines to bench/results/.
#
#   bash bench/dynamic_batch.sh [MODEL ...]   (default: resnet50 mobilenet_v2 transformer)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh sinterc sinter-bench >/dev/null
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(resnet50 mobilenet_v2 transformer)
/usr/bin/python3 tests/models/make_models.py build/models --only "${models[@]}" >/dev/null
mkdir -p build/bench-dyn bench/results
stamp=$(date -u +%Y%m%d-%H%M%S)
out=bench/results/dynamic-batch-$stamp.jsonl
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "{\"machine\": \"$cpu\", \"cores\": $(nproc), \"commit\": \"$(git rev-parse --short HEAD)\", \"date\": \"$stamp\"}" > "$out"
for m in "${models[@]}"; do
  shape=$(awk -F'\t' -v m="$m" '$1==m {print $4}' build/models/manifest.tsv)
  rest=${shape#*,}
  for b in 1 8; do
    build/bin/sinterc "build/models/$m.pt" -o "build/bench-dyn/$m.b$b.sinter" \
      --input-shape "$b,$rest" --cpu native
  done
  build/bin/sinterc "build/models/$m.pt" -o "build/bench-dyn/$m.dyn.sinter" \
    --input-shape "batch=1..16,$rest" --cpu native
  for thr in 2 1; do
    for round in 1 2 3; do
      for b in 1 8; do
        iters=$([ "$b" = 1 ] && echo 30 || echo 8)
        for kind in static dynamic; do
          if [ "$kind" = static ]; then art="build/bench-dyn/$m.b$b.sinter"; extra=(); else
            art="build/bench-dyn/$m.dyn.sinter"; extra=(--batch "$b"); fi
          line=$(build/bin/sinter-bench "$art" "${extra[@]}" --threads "$thr" --iters "$iters" \
                   --warmup 2 --json)
          echo "{\"name\": \"$m\", \"batch\": $b, \"kind\": \"$kind\", \"round\": $round, \"run\": $line}" >> "$out"
        done
      done
    done
  done
done
/usr/bin/python3 - "$out" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]
key = lambda r: (r["name"], r["run"]["threads"], r["batch"])
print("%-14s %4s %5s %11s %12s %7s %14s" % ("model", "thr", "batch", "static ms", "dynamic ms",
                                           "ratio", "first run ms"))
for k in sorted({key(r) for r in rows}, key=lambda k: (k[0], -k[1], k[2])):
    med = {kind: statistics.median(r["run"]["latency_ms_median"] for r in rows
                                   if key(r) == k and r["kind"] == kind)
           for kind in ("static", "dynamic")}
    first = max(r["run"]["first_run_ms"] for r in rows if key(r) == k and r["kind"] == "dynamic")
    print("%-14s %4d %5d %11.2f %12.2f %6.2fx %14.2f" % (k[0], k[1], k[2], med["static"],
                                                          med["dynamic"],
                                                          med["dynamic"] / med["static"], first))
EOF
echo "results: $out"
