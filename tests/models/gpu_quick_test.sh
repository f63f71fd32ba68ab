#!/usr/bin/env bash
# bench/gpu_quick.sh, the script a lent GPU machine runs, kept working here
# where there is none: on a kit of CPU artifacts (the same folder layout
# scripts/gpu_kit.sh makes, with LibTorch's outputs as references), its
# parity step must pass a model at its tolerance and fail one at a tolerance
# no float computation meets; its benchmark step, on a CUDA artifact without
# a driver, must write a row that says so rather than stop.
# Usage: gpu_quick_test.sh BIN_DIR MODELS_DIR WORK_DIR
set -euo pipefail
bin=$1 models=$2 work=$3
repo=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work" && mkdir -p "$work/kit/bin" "$work/kit/parity/transformer" "$work/kit/bench"
cp "$bin/sinter-run" "$bin/sinter-bench" "$work/kit/bin/"
cp "$bin/../lib/libsinter_runtime.so" "$work/kit/bin/" 2>/dev/null || true
dir=$work/kit/parity/transformer
/usr/bin/python3 - "$models/transformer.pt" "$dir" <<'PY'
import sys
import numpy as np
import torch
x = np.random.default_rng(7).standard_normal((1, 128, 256)).astype(np.float32)
np.save(f"{sys.argv[2]}/input0.npy", x)
with torch.no_grad():
    y = torch.jit.load(sys.argv[1]).eval()(torch.from_numpy(x))
np.save(f"{sys.argv[2]}/want0.npy", y.numpy())
PY
"$bin/sinterc" "$models/transformer.pt" -o "$dir/cpu.sinter" --input-shape 1,128,256 >/dev/null
printf 'artifact\tinputs\trtol\tatol\ntransformer/cpu.sinter\tinput0.npy\t1e-4\t1e-4\n' \
  > "$work/kit/parity/cases.tsv"
printf 'transformer/cpu.sinter\tinput0.npy\t1e-9\t1e-9\n' >> "$work/kit/parity/cases.tsv"
"$bin/sinterc" "$models/squeezenet1_1.pt" -o "$work/kit/bench/squeezenet1_1.b1.fp16.sinter" \
  --input-shape 1,3,224,224 --target cuda:sm_90 --precision fp16 >/dev/null 2>&1 || true
PATH=/usr/bin:$PATH OUT=$work/out bash "$repo/bench/gpu_quick.sh" "$work/kit" --budget 60 \
  --compile-limit 30 > "$work/log.txt" 2>&1 || { cat "$work/log.txt"; exit 1; }
cat "$work/out/parity.tsv"
[ "$(grep -c $'^transformer/cpu.sinter\tpass\t' "$work/out/parity.tsv")" = 1 ] &&
  [ "$(grep -c $'^transformer/cpu.sinter\tFAIL\t' "$work/out/parity.tsv")" = 1 ] ||
  { cat "$work/log.txt"; exit 1; }
if [ -f "$work/kit/bench/squeezenet1_1.b1.fp16.sinter" ] && ! command -v nvidia-smi >/dev/null; then
  grep -q '"sinter_error": "sinter-bench: load: .*CUDA driver not found' "$work/out/bench.jsonl" ||
    { cat "$work/log.txt" "$work/out/bench.jsonl"; exit 1; }
fi
echo "gpu_quick.sh ok"
