#!/usr/bin/env bash
# Symbolic sequence length against static (issue 12): each model compiled
# once with its manifest note's range (`seq: 1..128 axes 1` gives
# `--input-shape 1,seq=1..128,...`: a symbolic extent every kernel takes at
# run, ir/extent_analysis.h) and run at 7, half the maximum and the maximum,
# against the static artifacts compiled for each length, in alternating blocks, three
# rounds, 2 threads and 1. Reports the medians' ratio dynamic / static and
# the first run of a fresh session and a warm session's first run at a
# length after another (which prepares every kernel at it again), and
# writes JSON lines to bench/results/.
#
#   bash bench/dynamic_seq.sh [MODEL ...]   (default: transformer lstm gru_tagger gpt2_block)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh sinterc sinter-bench >/dev/null
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(transformer lstm gru_tagger gpt2_block)
/usr/bin/python3 tests/models/make_models.py build/models --only "${models[@]}" >/dev/null
mkdir -p build/bench-dyn bench/results
stamp=$(date -u +%Y%m%d-%H%M%S)
out=bench/results/dynamic-seq-$stamp.jsonl
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "{\"machine\": \"$cpu\", \"cores\": $(nproc), \"commit\": \"$(git rev-parse --short HEAD)\", \"date\": \"$stamp\"}" > "$out"
for m in "${models[@]}"; do
  # The manifest's shape and its note's range and axis (seq: LO..HI axes A),
  # single-input models; lengths 7, HI / 2 and HI.
  shape=$(awk -F'\t' -v m="$m" '$1==m {print $4}' build/models/manifest.tsv)
  note=$(awk -F'\t' -v m="$m" '$1==m {print $9}' build/models/manifest.tsv)
  dtype=$(awk -F'\t' -v m="$m" '$1==m {print $5}' build/models/manifest.tsv)
  [[ "$note" =~ seq:\ ([0-9]+)\.\.([0-9]+)\ axes\ ([0-9]+) ]] ||
    { echo "dynamic_seq.sh: $m has no 'seq: LO..HI axes A' note" >&2; exit 1; }
  lo=${BASH_REMATCH[1]} hi=${BASH_REMATCH[2]} axis=${BASH_REMATCH[3]}
  lengths=(7 $((hi / 2)) "$hi")
  IFS=',' read -ra dims <<< "$shape"
  at() { local d=("${dims[@]}"); d[$axis]=$1; (IFS=','; echo "${d[*]}"); }
  for s in "${lengths[@]}"; do
    build/bin/sinterc "build/models/$m.pt" -o "build/bench-dyn/$m.s$s.sinter" \
      --input-shape "$(at "$s")" --input-dtype "$dtype" --cpu native
  done
  build/bin/sinterc "build/models/$m.pt" -o "build/bench-dyn/$m.seq.sinter" \
    --input-shape "$(at "seq=$lo..$hi")" --input-dtype "$dtype" --cpu native
  for thr in 2 1; do
    for round in 1 2 3; do
      for s in "${lengths[@]}"; do
        for kind in static dynamic; do
          if [ "$kind" = static ]; then art="build/bench-dyn/$m.s$s.sinter"; extra=(); else
            art="build/bench-dyn/$m.seq.sinter"; extra=(--batch "$s"); fi
          line=$(build/bin/sinter-bench "$art" "${extra[@]}" --threads "$thr" --iters 30 \
                   --warmup 2 --json)
          echo "{\"name\": \"$m\", \"seq\": $s, \"kind\": \"$kind\", \"round\": $round, \"run\": $line}" >> "$out"
        done
      done
    done
  done
done
/usr/bin/python3 - "$out" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]
key = lambda r: (r["name"], r["run"]["threads"], r["seq"])
print("%-12s %4s %4s %11s %12s %7s %16s %16s" % ("model", "thr", "seq", "static ms", "dynamic ms",
                                                 "ratio", "static 1st ms", "dynamic 1st ms")
      + "  new-length run ms")
for k in sorted({key(r) for r in rows}, key=lambda k: (k[0], -k[1], k[2])):
    med = {kind: statistics.median(r["run"]["latency_ms_median"] for r in rows
                                   if key(r) == k and r["kind"] == kind)
           for kind in ("static", "dynamic")}
    first = {kind: statistics.median(r["run"]["first_run_ms"] for r in rows
                                     if key(r) == k and r["kind"] == kind)
             for kind in ("static", "dynamic")}
    # A warm session's first run back at this length after another.
    again = statistics.median(r["run"]["new_shape_run_ms"] for r in rows
                              if key(r) == k and r["kind"] == "dynamic")
    print("%-12s %4d %4d %11.3f %12.3f %6.2fx %16.3f %16.3f %18.3f" % (
        k[0], k[1], k[2], med["static"], med["dynamic"], med["dynamic"] / med["static"],
        first["static"], first["dynamic"], again))
EOF
echo "results: $out"
