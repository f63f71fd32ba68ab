#!/usr/bin/env bash
# End-to-end checks of the command-line tools on a real model:
#   sinterc refuses an unsupported op with exit 2 and names it;
#   sinterc + sinter-run on .npy files match LibTorch;
#   sinter-run rejects an input of the wrong shape, naming it;
#   sinter-bench writes its JSON and a Chrome-trace profile;
#   sinterc --target cuda writes an f16 artifact for squeezenet that
#   sinter-run, without a GPU, refuses with exit 2 naming the missing CUDA
#   driver;
#   bad input to the tools (FIFOs, devices, directories, damaged .npy files,
#   an output folder that cannot be made, "1,,3" shapes) is a message and
#   exit 1 or 2, never a signal or a hang; a model without inputs compiles;
#   sinter-opt refuses a kernel body no backend could run.
# Usage: tools_test.sh BIN_DIR MODELS_DIR WORK_DIR
set -euo pipefail
bin=$1 models=$2 work=$3
mkdir -p "$work"

# expect RC PATTERN CMD...: CMD exits RC (within 60 s) and prints PATTERN.
expect() {
  local want=$1 pattern=$2 msg rc
  shift 2
  set +e
  msg=$(timeout 60 "$@" 2>&1)
  rc=$?
  set -e
  [ "$rc" -eq "$want" ] || { echo "exit $rc (expected $want) from: $*"; echo "$msg"; exit 1; }
  grep -q -- "$pattern" <<< "$msg" || { echo "no '$pattern' from: $*"; echo "$msg"; exit 1; }
}

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
# The linear head's arithmetic (a multiply-add counts 2) and shape; nothing
# else of this model counts arithmetic.
heads = [e for e in events if e["cat"] == "linear"]
assert heads and all(e["args"]["flops"] > 0 and e["args"]["shape"].startswith("linear ")
                     for e in heads), heads
assert all(e["args"]["flops"] == 0 for e in events if e["cat"] not in ("linear", "matmul")), events
print("sinter-bench json and profile ok: %d kernels" % len(events))
PY
grep -q "ms of kernel time per run" "$work/profile.txt" || { cat "$work/profile.txt"; exit 1; }
grep -q "GFLOP/s.*linear " "$work/profile.txt" || { cat "$work/profile.txt"; exit 1; }

# 5. The CUDA target without a GPU.
if "$bin/sinterc" "$models/squeezenet1_1.pt" -o "$work/sq.sinter" --input-shape 1,3,224,224 \
    --target cuda:sm_90 --precision fp16 --report > "$work/cuda_report.txt" 2>&1; then
  grep -q "target: cuda (sm_90, compute_90), storage f16" "$work/cuda_report.txt" ||
    { cat "$work/cuda_report.txt"; exit 1; }
  # The resource table: a generated kernel's row, and nothing spills.
  grep -Eq "^  sinter_g0 +sm_90 +[0-9]+ " "$work/cuda_report.txt" &&
    grep -q "^cuda kernels spilling: 0; lowest occupancy" "$work/cuda_report.txt" ||
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
# 5b. torchvision's ops: loaded on demand (then nms, whose result a later
# op reads, is refused by name); a library that cannot be found is named
# with where it was looked for.
set +e
msg=$("$bin/sinterc" "$models/nms_refused.pt" -o "$work/nms.sinter" --input-shape 8,4 \
  --input-shape 8 2>&1)
rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "torchvision::nms at .*: its result has a size the data decides" <<< "$msg" ||
  { echo "nms model: exit $rc: $msg"; exit 1; }
set +e
msg=$(SINTER_TORCHVISION_LIBRARY=$work/no_such_libtorchvision.so "$bin/sinterc" \
  "$models/nms_refused.pt" -o "$work/nms.sinter" --input-shape 8,4 --input-shape 8 2>&1)
rc=$?
set -e
[ "$rc" -eq 2 ] &&
  grep -q "torchvision's operator library was not found; looked for: $work/no_such_libtorchvision.so" <<< "$msg" ||
  { echo "nms model without torchvision: exit $rc: $msg"; exit 1; }
# 6. Bad input to the tools: a message and exit 1 or 2, never a signal or a hang.
rm -f "$work/fifo"; mkfifo "$work/fifo"
/usr/bin/python3 - "$work" <<'PY'
import sys
def npy(name, shape, data=b""):
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % shape
    h = h.encode() + b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    open(sys.argv[1] + "/" + name, "wb").write(b"\x93NUMPY\x01\x00" + bytes([len(h) & 255, len(h) >> 8]) + h + data)
npy("badshape.npy", "(1, x, 64)")
npy("huge.npy", "(99999999999, 99999999999)")
npy("short.npy", "(1, 32, 64)", b"\0" * 100)
PY
: > "$work/empty.npy"
: > "$work/not_a_dir"
expect 2 "not a regular file" "$bin/sinter-run" "$work/fifo" --input "$work/in0.npy" --output-dir "$work/o"
expect 2 "not a regular file" "$bin/sinter-run" /dev/zero --input "$work/in0.npy" --output-dir "$work/o"
expect 2 "is empty" "$bin/sinter-run" "$work/empty.npy" --input "$work/in0.npy" --output-dir "$work/o"
run_lstm=("$bin/sinter-run" "$work/lstm.sinter")
expect 2 "input 0: '$work' is not a regular file" "${run_lstm[@]}" --input "$work" --output-dir "$work/o"
expect 2 "input 0: '$work/fifo' is not a regular file" "${run_lstm[@]}" --input "$work/fifo" --output-dir "$work/o"
expect 2 "not a regular file" "${run_lstm[@]}" --input /dev/zero --output-dir "$work/o"
expect 2 "bad dimension 'x'" "${run_lstm[@]}" --input "$work/badshape.npy" --output-dir "$work/o"
expect 2 "shape overflows\|does not match" "${run_lstm[@]}" --input "$work/huge.npy" --output-dir "$work/o"
expect 2 "data size (100 bytes) does not match" "${run_lstm[@]}" --input "$work/short.npy" --output-dir "$work/o"
expect 2 "not a .npy file" "${run_lstm[@]}" --input "$work/empty.npy" --output-dir "$work/o"
expect 2 "cannot create the output folder" "${run_lstm[@]}" --input "$work/in0.npy" --output-dir "$work/not_a_dir/out"
expect 1 "bad --threads" "${run_lstm[@]}" --input "$work/in0.npy" --output-dir "$work/o" --threads two
expect 1 "dimension '' is not a positive number" \
  "$bin/sinterc" "$models/lstm.pt" -o "$work/x.sinter" --input-shape 1,,64
expect 1 "dimension '-3' is not a positive number" \
  "$bin/sinterc" "$models/lstm.pt" -o "$work/x.sinter" --input-shape 1,-3,64
expect 2 "not a regular file" "$bin/sinterc" "$work/fifo" -o "$work/x.sinter" --input-shape 1
expect 1 "dimension '0' is not a positive number" \
  "$bin/sinterc" "$models/lstm.pt" -o "$work/x.sinter" --input-shape 1,0,64
expect 1 "is not a positive number" \
  "$bin/sinterc" "$models/lstm.pt" -o "$work/x.sinter" --input-shape 1,99999999999999999999,64
# Shapes that parse but that no artifact could run: named, no allocation tried.
expect 2 "activations need an arena of 76800000001280 bytes, more than an artifact may hold" \
  "$bin/sinterc" "$models/lstm.pt" -o "$work/x.sinter" --input-shape 1,99999999999,64
# A truncated model file: LibTorch's own reason.
head -c $(( $(stat -c %s "$models/lstm.pt") / 2 )) "$models/lstm.pt" > "$work/truncated.pt"
expect 2 "LibTorch cannot load '$work/truncated.pt': .*central directory" \
  "$bin/sinterc" "$work/truncated.pt" -o "$work/x.sinter" --input-shape 1,32,64
printf 'PK\x03\x04 not really a zip' > "$work/fake.pt"
expect 2 "LibTorch cannot load '$work/fake.pt': .*zip" \
  "$bin/sinterc" "$work/fake.pt" -o "$work/x.sinter" --input-shape 1
rm -f "$work/fifo"

# 7. A model without inputs compiles and runs (its output is a constant).
# (TorchScript reads a module's source, so the script is a file.)
cat > "$work/noin.py" <<'PY'
import sys, numpy as np, torch
class NoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(3, 4))
    def forward(self):
        return torch.tanh(self.w) * 2
m = torch.jit.script(NoInputs())
m.save(sys.argv[1] + "/noin.pt")
with torch.no_grad():
    np.save(sys.argv[1] + "/noin_ref.npy", m().numpy())
PY
/usr/bin/python3 "$work/noin.py" "$work"
"$bin/sinterc" "$work/noin.pt" -o "$work/noin.sinter"
"$bin/sinter-run" "$work/noin.sinter" --output-dir "$work/noin_out"
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
got, ref = np.load(sys.argv[1] + "/noin_out/output0.npy"), np.load(sys.argv[1] + "/noin_ref.npy")
assert got.shape == ref.shape and np.allclose(got, ref, rtol=1e-5, atol=1e-6), (got, ref)
print("a model without inputs compiles and runs")
PY
# sinter-run names each output's file after it: a model returning a dict
# writes one .npy per key.
cat > "$work/dictout.py" <<'PY'
import sys, numpy as np, torch
class DictOut(torch.nn.Module):
    def forward(self, x):
        return {"scores": torch.sigmoid(x), "total": x.sum(dim=1)}
m = torch.jit.script(DictOut())
m.save(sys.argv[1] + "/dictout.pt")
np.save(sys.argv[1] + "/dictout_x.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
PY
/usr/bin/python3 "$work/dictout.py" "$work"
"$bin/sinterc" "$work/dictout.pt" -o "$work/dictout.sinter" --input-shape 2,3
"$bin/sinter-run" "$work/dictout.sinter" --input "$work/dictout_x.npy" --output-dir "$work/dictout_out"
/usr/bin/python3 - "$work" <<'PY'
import os, sys, numpy as np
d = sys.argv[1] + "/dictout_out"
assert sorted(os.listdir(d)) == ["scores.npy", "total.npy"], os.listdir(d)
x = np.arange(6, dtype=np.float32).reshape(2, 3)
assert np.allclose(np.load(d + "/scores.npy"), 1 / (1 + np.exp(-x)), rtol=1e-6, atol=1e-6)
assert np.allclose(np.load(d + "/total.npy"), x.sum(axis=1))
print("sinter-run names the output files after the model's dict keys")
PY
# 8. sinter-opt refuses a kernel body no backend could run (an op outside the
# vocabulary, naming it and its line) and round-trips one it accepts.
cat > "$work/bad_body.sir" <<'SIR'
graph @main(%x: f32[2,8]) {
  %0 = fused_elementwise(%x) : f32[2,8] body(%a: f32[]) {
    %0 = softmax(%a) {axis = 0} : f32[]
    yield %0
  }
  return %0
}
SIR
expect 2 "bad_body.sir:2:8: fused_elementwise: body: body op %0 = softmax: not an op of the kernel-body vocabulary" \
  "$bin/sinter-opt" "$work/bad_body.sir"
sed 's/softmax(%a) {axis = 0}/relu(%a)/' "$work/bad_body.sir" > "$work/good_body.sir"
expect 0 '%0 = relu(%a) : f32\[\]' "$bin/sinter-opt" "$work/good_body.sir"
# 9. Partial compilation: the fft model refused above compiles with
# --fallback torch (its fft runs in LibTorch through the torch plugin, found
# next to the runtime library), runs in sinter-run and matches LibTorch; with
# the runtime library alone (no plugin beside it), loading fails naming the
# plugin, where it looked, and the ops that need it.
"$bin/sinterc" "$models/fft_refused.pt" -o "$work/fft_fb.sinter" --input-shape 1,16 \
  --fallback torch --report --dot "$work/fft_fb.dot" > "$work/fft_fb_report.txt"
grep -q 'torch segment: aten::abs x1, aten::fft_fft x1.*fillcolor=orange' "$work/fft_fb.dot" ||
  { echo "no torch segment in the DOT graph:"; cat "$work/fft_fb.dot"; exit 1; }
grep -q "0: torch (fallback) .*aten::fft_fft x1" "$work/fft_fb_report.txt" ||
  { echo "no torch segment in the partition report:"; cat "$work/fft_fb_report.txt"; exit 1; }
/usr/bin/python3 - "$models/fft_refused.pt" "$work" <<'PY'
import sys, numpy as np, torch
m = torch.jit.load(sys.argv[1])
x = torch.randn(1, 16)
np.save(sys.argv[2] + "/fft_x.npy", x.numpy())
np.save(sys.argv[2] + "/fft_ref.npy", m(x).detach().numpy())
PY
"$bin/sinter-run" "$work/fft_fb.sinter" --input "$work/fft_x.npy" --output-dir "$work/fft_out"
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
got, ref = np.load(sys.argv[1] + "/fft_out/output0.npy"), np.load(sys.argv[1] + "/fft_ref.npy")
assert got.shape == ref.shape and np.allclose(got, ref, rtol=1e-5, atol=1e-5), (got, ref)
print("--fallback torch: the fft model runs through the torch plugin")
PY
rm -rf "$work/noplugin" && mkdir "$work/noplugin"
cp "$bin/../lib/libsinter_runtime.so" "$work/noplugin/"
expect 2 "the 'torch' plugin (libsinter_plugin_torch.so) is not installed" \
  env LD_LIBRARY_PATH="$work/noplugin" SINTER_PLUGIN_PATH= \
  "$bin/sinter-run" "$work/fft_fb.sinter" --input "$work/fft_x.npy" --output-dir "$work/fft_out2"
expect 2 "The model needs it to run: aten::abs x1, aten::fft_fft x1 \\[UNAVAILABLE\\]" \
  env LD_LIBRARY_PATH="$work/noplugin" \
  "$bin/sinter-run" "$work/fft_fb.sinter" --input "$work/fft_x.npy" --output-dir "$work/fft_out2"
# ... and the plugin named explicitly is found again.
env LD_LIBRARY_PATH="$work/noplugin" SINTER_PLUGIN_PATH="$bin/../lib/libsinter_plugin_torch.so" \
  "$bin/sinter-run" "$work/fft_fb.sinter" --input "$work/fft_x.npy" --output-dir "$work/fft_out3"
expect 1 "needs --fallback torch" "$bin/sinterc" "$models/fft_refused.pt" -o "$work/x.sinter" \
  --input-shape 1,16 --torch-executed-ops aten::abs

# A dynamic batch (issue 12): the LSTM compiled once for batch 1..4, run by
# sinter-run at batch 3 against LibTorch; a batch outside the range, a second
# symbol, and a symbol the model mixes (the LSTM's sequence) named.
"$bin/sinterc" "$models/lstm.pt" -o "$work/lstm_dyn.sinter" --input-shape batch=1..4,32,64 \
  --report > "$work/lstm_dyn.report"
grep -q "dynamic batch: batch in \[1, 4\]" "$work/lstm_dyn.report" ||
  { echo "no dynamic batch in the report:"; cat "$work/lstm_dyn.report"; exit 1; }
/usr/bin/python3 - "$models/lstm.pt" "$work" <<'PY'
import sys, numpy as np, torch
torch.manual_seed(2)
x = torch.randn(3, 32, 64)
np.save(sys.argv[2] + "/in_b3.npy", x.numpy())
np.save(sys.argv[2] + "/in_b5.npy", torch.randn(5, 32, 64).numpy())
with torch.no_grad():
    np.save(sys.argv[2] + "/ref_b3.npy", torch.jit.load(sys.argv[1]).eval()(x).numpy())
PY
"$bin/sinter-run" "$work/lstm_dyn.sinter" --input "$work/in_b3.npy" --output-dir "$work/out_b3"
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
got, ref = np.load(sys.argv[1] + "/out_b3/output0.npy"), np.load(sys.argv[1] + "/ref_b3.npy")
assert got.shape == ref.shape == (3, 10), (got.shape, ref.shape)
assert np.allclose(got, ref, rtol=1e-4, atol=1e-4), float(np.abs(got - ref).max())
print("dynamic batch: sinter-run at batch 3 matches LibTorch")
PY
expect 2 "input 0 'input0': batch = 5 is outside its range \[1, 4\]" \
  "$bin/sinter-run" "$work/lstm_dyn.sinter" --input "$work/in_b5.npy" --output-dir "$work/o"
expect 1 "is not NAME=MIN..MAX" \
  "$bin/sinterc" "$models/lstm.pt" -o "$work/x.sinter" --input-shape batch=4..1,32,64
expect 1 "more than one dynamic dimension" \
  "$bin/sinterc" "$models/lstm.pt" -o "$work/x.sinter" --input-shape batch=1..4,seq=1..32,64

# A symbolic extent (issue 12, ir/extent_analysis.h): the LSTM's sequence,
# which its recurrence mixes, compiled once for 1..32 and run by sinter-run
# at 9 against LibTorch (the output file has the run's shape); a constant
# computed from the symbol (a convolution's output height) refused by name.
"$bin/sinterc" "$models/lstm.pt" -o "$work/lstm_seq.sinter" --input-shape 1,seq=1..32,64 \
  --report > "$work/lstm_seq.report"
grep -q "symbolic extent: seq in \[1, 32\].* bytes more for the rest, planned by each session at seq = 32" \
  "$work/lstm_seq.report" ||
  { echo "no symbolic extent in the report:"; cat "$work/lstm_seq.report"; exit 1; }
"$bin/sinterc" "$models/transformer.pt" -o "$work/tr_seq.sinter" --input-shape 1,seq=1..32,256
/usr/bin/python3 - "$models" "$work" <<'PY'
import sys, numpy as np, torch
torch.manual_seed(3)
for name, shape in (("lstm", (1, 9, 64)), ("transformer", (1, 9, 256))):
    x = torch.randn(*shape)
    np.save("%s/in_%s_s9.npy" % (sys.argv[2], name), x.numpy())
    with torch.no_grad():
        np.save("%s/ref_%s_s9.npy" % (sys.argv[2], name),
                torch.jit.load("%s/%s.pt" % (sys.argv[1], name)).eval()(x).numpy())
np.save(sys.argv[2] + "/in_transformer_s33.npy", torch.randn(1, 33, 256).numpy())
PY
"$bin/sinter-run" "$work/lstm_seq.sinter" --input "$work/in_lstm_s9.npy" --output-dir "$work/out_lstm_s9"
"$bin/sinter-run" "$work/tr_seq.sinter" --input "$work/in_transformer_s9.npy" \
  --output-dir "$work/out_transformer_s9"
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
for name, shape in (("lstm", (1, 10)), ("transformer", (1, 9, 256))):
    got = np.load("%s/out_%s_s9/output0.npy" % (sys.argv[1], name))
    ref = np.load("%s/ref_%s_s9.npy" % (sys.argv[1], name))
    assert got.shape == ref.shape == shape, (name, got.shape, ref.shape)
    assert np.allclose(got, ref, rtol=1e-4, atol=1e-4), (name, float(np.abs(got - ref).max()))
print("symbolic extent: sinter-run at seq 9 matches LibTorch (lstm, transformer)")
PY
expect 2 "input 0 'input0': seq = 33 is outside its range \[1, 32\]" \
  "$bin/sinter-run" "$work/tr_seq.sinter" --input "$work/in_transformer_s33.npy" --output-dir "$work/o"
expect 2 "symbol 'h': .*nor as an extent the kernels take: .*'conv2d' at .* its dim 2 is computed from h" \
  "$bin/sinterc" "$models/resnet18.pt" -o "$work/x.sinter" --input-shape 1,3,h=32..64,64
echo "tools test passed"
