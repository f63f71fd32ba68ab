#!/usr/bin/env bash
# The GPU run sized to a lent machine's budget: builds nothing. It runs what
# scripts/gpu_kit.sh prepared here (carry .gpu-kit/a, then .gpu-kit/b in a
# second call: each is under the 64 MiB one call may carry), most valuable
# first, each result written to the output folder the moment it exists:
#   1. parity: every carried CUDA artifact (fp32, fp16, bf16) run with
#      sinter-run against LibTorch's outputs   -> parity.tsv
#   2. fp16 latency against PyTorch eager and torch.compile(max-autotune),
#      TransformerEncoder (kit a) or ResNet-50 (kit b)  -> bench.jsonl
# torch.compile runs in a child process with a time limit (autotuning a
# ResNet-50 can take many minutes): past it the row says so and the run
# goes on. The whole run stops starting new work after --budget seconds.
#
#   bash bench/gpu_quick.sh KIT_DIR [--budget SECONDS] [--compile-limit SECONDS]
# e.g. on the device: bash bench/gpu_quick.sh .gpu-kit/a --budget 360
set -uo pipefail
cd "$(dirname "$0")/.."
kit=${1:?usage: bench/gpu_quick.sh KIT_DIR [--budget SECONDS] [--compile-limit SECONDS]}
shift
budget=420 compile_limit=150
while [ $# -gt 0 ]; do
  case $1 in
    --budget) budget=$2; shift 2 ;;
    --compile-limit) compile_limit=$2; shift 2 ;;
    *) echo "gpu_quick.sh: unknown option $1" >&2; exit 1 ;;
  esac
done
out=${OUT:-bench/results/quick}
mkdir -p "$out"
start=$SECONDS
left() { echo $((budget - (SECONDS - start))); }
export LD_LIBRARY_PATH="$kit/bin:${LD_LIBRARY_PATH:-}"
# cuBLASLt, cuDNN and NVRTC come as Python packages on that machine.
site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)
for d in "$site"/nvidia/*/lib "$site"/nvidia/cu13/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:$LD_LIBRARY_PATH"
done
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "== GPU: ${gpu:-none found}; commit $commit; kit $kit; budget ${budget}s" | tee -a "$out/log.txt"

# 1. Parity.
if [ -f "$kit/parity/cases.tsv" ]; then
  [ -f "$out/parity.tsv" ] || printf 'artifact\tresult\tworst\trtol\tatol\tdetail\n' > "$out/parity.tsv"
  tail -n +2 "$kit/parity/cases.tsv" | while IFS=$'\t' read -r art inputs rtol atol; do
    [ "$(left)" -gt 0 ] || { echo "budget spent: parity stopped before $art"; break; }
    dir=$kit/parity/$(dirname "$art")
    args=()
    IFS=',' read -ra ins <<< "$inputs"
    for i in "${ins[@]}"; do args+=(--input "$dir/$i"); done
    res=$(mktemp -d)
    if msg=$("$kit/bin/sinter-run" "$kit/parity/$art" "${args[@]}" --output-dir "$res" 2>&1); then
      python3 - "$dir" "$res" "$rtol" "$atol" "$art" "$out/parity.tsv" <<'PY'
import glob, sys
import numpy as np
want_dir, got_dir, rtol, atol, art, tsv = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
worst, detail = 0.0, ""
wants = sorted(glob.glob(f"{want_dir}/want*.npy"), key=lambda p: int(p[p.rindex("want") + 4:-4]))
for i, w in enumerate(wants):
    want = np.load(w).astype(np.float64)
    got = np.load(f"{got_dir}/output{i}.npy").astype(np.float64)
    if got.shape != want.shape:
        worst, detail = float("inf"), f"output {i}: shape {got.shape}, LibTorch {want.shape}"
        break
    r = np.abs(got - want) / (atol + rtol * np.abs(want))
    r[np.isnan(got) & np.isnan(want)] = 0
    r[np.isnan(r)] = np.inf
    if r.size and r.max() > worst:
        worst, detail = float(r.max()), f"output {i} at {np.unravel_index(r.argmax(), r.shape)}"
ok = worst <= 1.0
line = f"{art}\t{'pass' if ok else 'FAIL'}\t{worst:.3g}\t{rtol}\t{atol}\t{detail}"
print(line.replace("\t", "  "))
open(tsv, "a").write(line + "\n")
PY
    else
      printf '%s\tERROR\t-\t%s\t%s\t%s\n' "$art" "$rtol" "$atol" "$(tr '\n\t' '  ' <<< "$msg")" |
        tee -a "$out/parity.tsv"
    fi
    rm -rf "$res"
  done
fi

# 2. fp16 latency: sinter, then PyTorch eager and torch.compile of the same
# module (random weights: latency does not depend on them).
for art in "$kit"/bench/*.sinter; do
  [ -e "$art" ] || continue
  [ "$(left)" -gt 0 ] || { echo "budget spent: benchmark stopped before $art"; break; }
  base=$(basename "$art" .sinter)  # MODEL.bB.PRECISION
  model=${base%%.*}
  row=$(mktemp)
  if ! "$kit/bin/sinter-bench" "$art" --iters 100 --warmup 20 --json > "$row.sinter" 2>&1; then
    echo "sinter-bench failed on $art: $(tail -3 "$row.sinter")"
  fi
  timeout "$compile_limit" python3 bench/gpu_torch.py --one "$model" > "$row.torch" 2>&1
  torch_rc=$?
  grep -v '^{' "$row.torch" | tail -5
  python3 - "$row" "$model" "$base" "$gpu" "$commit" "$compile_limit" "$out/bench.jsonl" \
    "$torch_rc" <<'PY'
import json, sys
row_path, model, base, gpu, commit, limit, out, torch_rc = sys.argv[1:9]
row = {"model": model, "artifact": base, "gpu": gpu, "commit": commit}
lines = [l for l in open(row_path + ".sinter").read().splitlines() if l.startswith("{")]
if lines:
    s = json.loads(lines[-1])
    row.update(sinter_ms=s["latency_ms_median"], sinter_load_ms=s["load_ms"],
               sinter_first_run_ms=s["first_run_ms"])
else:
    row["sinter_error"] = open(row_path + ".sinter").read()[-400:]
torch_rows = [json.loads(l) for l in open(row_path + ".torch").read().splitlines() if l.startswith("{")]
for t in torch_rows:
    row.update({k: v for k, v in t.items() if k not in row})
if not any("compile_ms" in t or "compile_error" in t for t in torch_rows):
    if torch_rc == "124":
        row["compile_error"] = f"torch.compile did not finish within {limit} s"
    else:
        tail = [l for l in open(row_path + ".torch").read().splitlines() if l.strip()][-1:]
        row["torch_error"] = f"exit {torch_rc}: " + " ".join(tail)[-300:]
for k in ("eager_ms", "compile_ms"):
    if "sinter_ms" in row and k in row:
        row["sinter_vs_" + k[:-3]] = row["sinter_ms"] / row[k]
print(json.dumps(row))
open(out, "a").write(json.dumps(row) + "\n")
PY
  rm -f "$row" "$row.sinter" "$row.torch"
done
echo "== done in $((SECONDS - start)) s; results in $out" | tee -a "$out/log.txt"
