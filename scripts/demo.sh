#!/usr/bin/env bash
# The demo: script a torchvision ResNet-18 (random weights), compile it with
# sinter, run it through the C API and compare with LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh sinterc sinter-compare sinter_runtime >/dev/null

mkdir -p build/demo
echo "== scripting torchvision resnet18 (random weights) with torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
/usr/bin/python3 tests/models/make_models.py build/demo --only resnet18 >/dev/null
echo "== compiling with sinterc"
time build/bin/sinterc build/demo/resnet18.pt -o build/demo/resnet18.sinter \
  --input-shape 1,3,224,224 --report
echo "== running on sinter (C API) and LibTorch (frozen + optimize_for_inference)"
build/bin/sinter-compare build/demo/resnet18.pt build/demo/resnet18.sinter \
  --input-shape 1,3,224,224 --top5 --iters 20
cp build/lib/libsinter_runtime.so build/demo/libsinter_runtime.stripped.so
strip build/demo/libsinter_runtime.stripped.so
echo "artifact size:                 $(stat -c %s build/demo/resnet18.sinter) bytes"
echo "runtime library size, stripped: $(stat -c %s build/demo/libsinter_runtime.stripped.so) bytes"
echo "runtime library NEEDs:          $(readelf -d build/lib/libsinter_runtime.so | awk '/NEEDED/ {print $5}' | tr -d '[]' | tr '\n' ' ')"
