#!/usr/bin/env bash
# What partial compilation costs (issue #14, the TVM RFC's question): each
# model fully compiled, then with ops forced to LibTorch through the torch
# plugin (--fallback torch --torch-executed-ops, min_block_size 1) so that it
# runs 1, a few and many torch segments, and on LibTorch alone; all in one
# run, timed by sinter-compare (LibTorch and sinter in one process, outputs
# checked against each other). The crossing cost per segment is estimated as
# (sinter with K segments - sinter fully compiled) / K: it includes what
# LibTorch takes for the forced ops themselves (cheap ones are chosen), so it
# is an upper bound.
#
#   bash bench/fallback.sh [--threads N] [--iters N]
set -euo pipefail
cd "$(dirname "$0")/.."
iters=20
source bench/mixed_args.sh
bash scripts/setup.sh
bash scripts/build.sh sinterc sinter-compare sinter_runtime sinter_plugin_torch >/dev/null
/usr/bin/python3 tests/models/make_models.py build/models --only resnet50 transformer >/dev/null
mkdir -p build/bench bench/results
stamp=$(date -u +%Y%m%d-%H%M%S)
out=bench/results/fallback-$stamp.jsonl
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "{\"machine\": \"$cpu\", \"cores\": $(nproc), \"threads\": $threads, \"omp_wait_policy\": \"$OMP_WAIT_POLICY\", \"commit\": \"$(git rev-parse --short HEAD)\", \"date\": \"$stamp\"}" > "$out"
# model | forced op kinds ("" = fully compiled)
configs=(
  "resnet50|"
  "resnet50|aten::max_pool2d"
  "resnet50|aten::max_pool2d,aten::adaptive_avg_pool2d,aten::linear"
  "resnet50|aten::add_"
  "transformer|"
  "transformer|aten::_transformer_encoder_layer_fwd"
)
# The TransformerEncoder's TorchScript reaches the importer as one fused op
# per layer (the fast path), so its finest split is both layers in LibTorch.
printf "%-12s %-58s %8s %12s %10s %14s\n" model "ops run by LibTorch" segments "libtorch ms" "sinter ms" "us/segment"
declare -A base
for c in "${configs[@]}"; do
  m=${c%%|*}
  ops=${c#*|}
  shape=$(awk -F'\t' -v m="$m" '$1==m {print $4}' build/models/manifest.tsv)
  args=()
  IFS=';' read -ra shapes <<< "$shape"
  for s in "${shapes[@]}"; do args+=(--input-shape "$s"); done
  tag="$m.fallback.$(echo "${ops:-none}" | tr ':,' '._')"
  flags=()
  [ -n "$ops" ] && flags=(--fallback torch --min-block-size 1 --torch-executed-ops "$ops")
  build/bin/sinterc "build/models/$m.pt" -o "build/bench/$tag.sinter" "${args[@]}" --cpu native \
    "${flags[@]}" --report-json "build/bench/$tag.report.json"
  segs=$(/usr/bin/python3 -c "import json; r=json.load(open('build/bench/$tag.report.json')); print(sum(1 for s in r['partition'] if s['backend'] != 'sinter'))")
  # LibTorch's time and the outputs' agreement from sinter-compare; sinter's
  # time from sinter-bench, in a process of its own: next to LibTorch's
  # reference runs, LibTorch's BLAS threads keep spinning and slow sinter
  # down (the TransformerEncoder: 10 ms there against 3 ms alone).
  line=$(build/bin/sinter-compare "build/models/$m.pt" "build/bench/$tag.sinter" "${args[@]}" \
           --threads "$threads" --iters "$iters" --warmup 3 --json 2>>build/bench/libtorch-warnings.log)
  alone=$(build/bin/sinter-bench "build/bench/$tag.sinter" --iters "$iters" --threads "$threads" --json)
  echo "{\"name\": \"$m\", \"torch_executed_ops\": \"$ops\", \"torch_segments\": $segs, \"run\": $line, \"sinter_alone\": $alone}" >> "$out"
  ms=$(echo "$alone" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['latency_ms_median'])")
  [ -z "$ops" ] && base[$m]=$ms
  echo "$line" | /usr/bin/python3 -c "
import json,sys; r=json.load(sys.stdin); k=$segs; b=${base[$m]}; ms=$ms
assert r['max_abs_diff'] <= 1e-3 + 1e-3 * r['max_abs_ref'], r
per = '%.0f' % ((ms - b) * 1000 / k) if k else '-'
print('%-12s %-58s %8d %12.2f %10.2f %14s' % ('$m', '${ops:-(fully compiled)}', k, r['libtorch']['median_ms'], ms, per))"
done
echo "results: $out"
