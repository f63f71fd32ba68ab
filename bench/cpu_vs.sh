#!/usr/bin/env bash
# sinter against ONNX Runtime and OpenVINO (and LibTorch) on this CPU, side by
# side (bench/cpu_vs.py says how). ONNX Runtime and OpenVINO come from PyPI,
# pinned, into a virtual environment used only by this benchmark
# (build/bench-venv, which also sees Debian's torch for the ONNX export and
# the LibTorch baseline). Results: bench/results/cpu-vs-STAMP.jsonl.
#
#   bash bench/cpu_vs.sh [--rounds N] [MODEL[:BATCH] ...]
# Default models: resnet18 resnet50 mobilenet_v2 efficientnet_b0 transformer,
# and resnet50 at batch 8; threads: all cores, then 1.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
if [ "${1:-}" = "--rounds" ]; then rounds=$2; shift 2; fi
specs=("$@")
[ ${#specs[@]} -gt 0 ] ||
  specs=(resnet18 resnet50 mobilenet_v2 efficientnet_b0 transformer resnet50:8)
bash scripts/setup.sh >/dev/null
bash scripts/build.sh sinterc sinter_runtime >/dev/null
venv=build/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import onnxruntime, openvino" 2>/dev/null; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q onnxruntime==1.32.0 openvino==2026.4.0
fi
names=()
for s in "${specs[@]}"; do names+=("${s%%:*}"); done
/usr/bin/python3 tests/models/make_models.py build/models --only "${names[@]}" >/dev/null
args=()
for s in "${specs[@]}"; do
  name=${s%%:*}
  batch=1; [[ "$s" == *:* ]] && batch=${s#*:}
  shape=$(awk -F'\t' -v m="$name" '$1==m {print $4}' build/models/manifest.tsv)
  [ -n "$shape" ] || { echo "cpu_vs.sh: no test model '$name'" >&2; exit 1; }
  [[ "$shape" != *";"* ]] || { echo "cpu_vs.sh: $name has several inputs (not supported here)" >&2; exit 1; }
  # The parity suite's tolerances for the model (rtol, atol).
  tol=$(awk -F'\t' -v m="$name" '$1==m {print $7 ":" $8}' build/models/manifest.tsv)
  args+=("$name:$shape:$batch:$tol")
done
mkdir -p bench/results
stamp=$(date -u +%Y%m%d-%H%M%S)
out=bench/results/cpu-vs-$stamp.jsonl
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "{\"machine\": \"$cpu\", \"cores\": $(nproc), \"commit\": \"$(git rev-parse --short HEAD)\", \"date\": \"$stamp\", \"onnxruntime\": \"1.32.0\", \"openvino\": \"2026.4.0\"}" > "$out"
printf "%-20s %5s %3s %9s %9s %9s %9s %6s\n" model batch thr "sinter" "ORT" "OpenVINO" "LibTorch" "s/best"
"$venv/bin/python" bench/cpu_vs.py "$out" "$rounds" "${args[@]}"
echo "results: $out"
