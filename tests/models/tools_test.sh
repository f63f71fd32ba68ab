#!/usr/bin/env bash
# End-to-end checks of the command-line tools on a real model:
#   sinterc refuses an unsupported op with exit 2 and names it;
#   sinterc + sinter-run on .npy files match LibTorch;
#   sinter-run rejects an input of the wrong shape, naming it;
#   sinter-bench writes its JSON and a Chrome-trace profile;
#   sinterc --target cuda writes an f16 artifact for squeezenet that
#   sinter-run, without a GPU, refuses with exit 2 naming the missing CUDA
#   driver.
# Usage: tools_test.sh BIN_DIR MODELS_DIR WORK_DIR
set -euo pipefail
bin=$1 models=$2 work=$3
mkdir -p "$work"

# 1. An unsupported op: exit status 2 and a message naming it.
set +e
msg=$("$bin/sinterc" "$models/fft_refused.pt" -o "$work/fft.sinter" --input-shape 1,16 2>&1)
rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "sinterc exited $rc on fft_refused, expected 2: $msg"; exit 1; }
grep -q "aten::fft_fft" <<< "$msg" || { echo "message does not name aten::fft_fft: $msg"; exit 1; }

# 2. Compile and run the LSTM model through .npy files; compare with LibTorch.
"$bin/sinterc" "$models/lstm.pt" -o "$work/lstm.sinter" --input-shape 1,32,64
/usr/bin/python3 - "$models/lstm.pt" "$work" <<'PY'
import sys, numpy as np, torch
torch.manual_seed(1)
x = torch.randn(1, 32, 64)
np.save(sys.argv[2] + "/in0.npy", x.numpy())
np.save(sys.argv[2] + "/bad.npy", torch.randn(1, 31, 64).numpy())
with torch.no_grad():
    np.save(sys.argv[2] + "/ref.npy", torch.jit.load(sys.argv[1]).eval()(x).numpy())
PY
"$bin/sinter-run" "$work/lstm.sinter" --input "$work/in0.npy" --output-dir "$work/out"
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
got, ref = np.load(sys.argv[1] + "/out/output0.npy"), np.load(sys.argv[1] + "/ref.npy")
assert got.shape == ref.shape, (got.shape, ref.shape)
err = float(np.abs(got - ref).max())
assert np.allclose(got, ref, rtol=1e-4, atol=1e-4), err
print("sinter-run output matches LibTorch, max |diff| %.3g" % err)
PY

# 3. A wrong input shape: exit 2, naming the input and both shapes.
set +e
msg=$("$bin/sinter-run" "$work/lstm.sinter" --input "$work/bad.npy" --output-dir "$work/out2" 2>&1)
rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "sinter-run exited $rc on a wrong shape, expected 2: $msg"; exit 1; }
grep -q "input 0 'input0': shape \[1,31,64\], expected \[1,32,64\]" <<< "$msg" ||
  { echo "unexpected message: $msg"; exit 1; }
# 4. sinter-bench: the JSON fields scripts rely on, and a per-kernel profile
# that is a Chrome trace naming the fused ops.
"$bin/sinter-bench" "$work/lstm.sinter" --iters 3 --warmup 1 --json --profile "$work/trace.json" \
  > "$work/bench.json" 2> "$work/profile.txt"
/usr/bin/python3 - "$work" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + "/bench.json"))
for k in ("load_ms", "first_run_ms", "latency_ms_median", "latency_ms_p90", "latency_ms_p99",
          "throughput_per_s", "native_kernels", "peak_rss_mb"):
    assert k in r, k
events = json.load(open(sys.argv[1] + "/trace.json"))["traceEvents"]
assert events and all(e["ph"] == "X" and e["dur"] >= 0 and e["name"] for e in events), events
assert any(e["cat"] == "lstm" for e in events), [e["cat"] for e in events]
print("sinter-bench json and profile ok: %d kernels" % len(events))
PY
grep -q "ms of kernel time per run" "$work/profile.txt" || { cat "$work/profile.txt"; exit 1; }

# 5. The CUDA target without a GPU.
if "$bin/sinterc" "$models/squeezenet1_1.pt" -o "$work/sq.sinter" --input-shape 1,3,224,224 \
    --target cuda:sm_90 --precision fp16 --report > "$work/cuda_report.txt" 2>&1; then
  grep -q "target: cuda (sm_90, compute_90), storage f16" "$work/cuda_report.txt" ||
    { cat "$work/cuda_report.txt"; exit 1; }
  /usr/bin/python3 -c "import numpy as np; np.save('$work/img.npy', np.zeros((1,3,224,224), np.float32))"
  set +e
  msg=$("$bin/sinter-run" "$work/sq.sinter" --input "$work/img.npy" --output-dir "$work/out3" 2>&1)
  rc=$?
  set -e
  if ! command -v nvidia-smi >/dev/null; then
    [ "$rc" -eq 2 ] || { echo "sinter-run exited $rc on a CUDA artifact without a GPU: $msg"; exit 1; }
    grep -q "CUDA driver not found.*UNAVAILABLE" <<< "$msg" || { echo "unexpected message: $msg"; exit 1; }
  fi
elif grep -q "NVRTC" "$work/cuda_report.txt"; then
  echo "(NVRTC not available: the CUDA target's end-to-end check skipped)"
else
  cat "$work/cuda_report.txt"; exit 1
fi
echo "tools test passed"
