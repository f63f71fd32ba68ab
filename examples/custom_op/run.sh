#!/usr/bin/env bash
# The custom-op example end to end: script a model calling myops::scaled_gelu,
# compile it with the plugin, run it with sinter-run (the runtime loads
# libsinter_plugin_myops.so by name from its own directory; no LibTorch), and
# compare with LibTorch. Then the errors: the plugin missing at load, and the
# compile without the LibTorch library or without the plugin.
#   bash examples/custom_op/run.sh BIN_DIR LIB_DIR WORK_DIR
set -euo pipefail
bin=$1 lib=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
/usr/bin/python3 "$here/make_model.py" "$lib/libmyops_torch.so" "$work"
"$bin/sinterc" "$work/head.pt" -o "$work/head.sinter" --input-shape 2,3,10,10 \
  --torch-library "$lib/libmyops_torch.so" --plugin "$lib/libsinter_plugin_myops.so" --report \
  > "$work/report.txt"
grep -q "kernels by op:.* plugin_op=1" "$work/report.txt" || { cat "$work/report.txt"; exit 1; }
grep -q "myops (plugin op).*myops::scaled_gelu x1" "$work/report.txt" || { cat "$work/report.txt"; exit 1; }
"$bin/sinter-run" "$work/head.sinter" --input "$work/x.npy" --output-dir "$work/out"
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
got, ref = np.load(sys.argv[1] + "/out/output0.npy"), np.load(sys.argv[1] + "/ref.npy")
assert got.shape == ref.shape and np.allclose(got, ref, rtol=1e-4, atol=1e-5), (got, ref)
print("custom op: sinter matches LibTorch, max |diff| %.3g" % np.abs(got - ref).max())
PY
# The plugin not installed: the runtime library alone in a directory.
mkdir -p "$work/alone" && cp "$lib/libsinter_runtime.so" "$work/alone/"
set +e
msg=$(env LD_LIBRARY_PATH="$work/alone" SINTER_PLUGIN_PATH= "$bin/sinter-run" "$work/head.sinter" \
  --input "$work/x.npy" --output-dir "$work/out2" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "the 'myops' plugin (libsinter_plugin_myops.so) is not installed" <<< "$msg" &&
  grep -q "The model needs it to run: myops::scaled_gelu" <<< "$msg" ||
  { echo "missing plugin: rc $rc: $msg"; exit 1; }
# Compiling without the LibTorch library: LibTorch cannot read the model.
set +e
msg=$("$bin/sinterc" "$work/head.pt" -o "$work/x.sinter" --input-shape 2,3,10,10 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] && grep -q "myops::scaled_gelu" <<< "$msg" || { echo "rc $rc: $msg"; exit 1; }
# Without the plugin, the op is unsupported by name.
set +e
msg=$("$bin/sinterc" "$work/head.pt" -o "$work/x.sinter" --input-shape 2,3,10,10 \
  --torch-library "$lib/libmyops_torch.so" 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] && grep -q "myops::scaled_gelu x1" <<< "$msg" || { echo "rc $rc: $msg"; exit 1; }
echo "custom op example passed"
