#!/usr/bin/env bash
# Prepares here, on the build host, everything bench/gpu_quick.sh needs on a
# GPU machine, so that nothing is built there and the issue's 15 minutes of
# GPU time go to running: the runtime and the two LibTorch-free tools
# (stripped), CUDA artifacts cross-compiled for sm_90, their inputs and
# LibTorch's outputs as references. Two folders, each under the 64 MiB that
# one device call may carry:
#   .gpu-kit/a  parity artifacts (fp32, fp16, bf16 of small test models) and
#               the TransformerEncoder benchmark artifact, with the tools
#   .gpu-kit/b  ResNet-50 in fp16 (51 MB of weights alone), with the tools
# Usage: bash scripts/gpu_kit.sh   (needs the Release build: scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/sinterc ] && [ -f build/models/manifest.tsv ] ||
  { echo "gpu_kit.sh: needs the Release build first (bash scripts/build.sh)" >&2; exit 1; }
arch=${SINTER_GPU_ARCH:-sm_90}
rm -rf .gpu-kit
for k in a b; do
  mkdir -p .gpu-kit/$k/bin .gpu-kit/$k/parity .gpu-kit/$k/bench
  cp build/lib/libsinter_runtime.so build/bin/sinter-run build/bin/sinter-bench .gpu-kit/$k/bin/
  strip .gpu-kit/$k/bin/*
done

# Parity: each model of the test manifest below in every storage precision,
# with one input and LibTorch's outputs for it (the fp32 reference for all
# three; tolerances as tests/cuda_fake/cuda_plan_test.cc states them).
# MODEL or MODEL:PRECISIONS; mobilenet_v3_large (cuDNN convolutions with
# fused epilogues, depthwise, hardswish) in fp16 only, for the 64 MiB.
parity_models="transformer squeezenet1_1 gpt2_block mha_masks lstm gru_tagger mobilenet_v3_large:fp16"
printf 'artifact\tinputs\trtol\tatol\n' > .gpu-kit/a/parity/cases.tsv
while IFS=$'\t' read -r name file group shapes dtypes int_high rtol atol _; do
  precisions="fp32 fp16 bf16"
  if [[ " $parity_models " == *" $name:"* ]]; then
    precisions=$(tr ' ' '\n' <<< "$parity_models" | sed -n "s/^$name://p" | tr , ' ')
  elif [[ " $parity_models " != *" $name "* ]]; then
    continue
  fi
  dir=.gpu-kit/a/parity/$name
  mkdir -p "$dir"
  /usr/bin/python3 - "build/models/$file" "$dir" "$shapes" "$dtypes" "$int_high" <<'PY'
import sys
import numpy as np
import torch
path, out, shapes, dtypes, high = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
rng = np.random.default_rng(7)
xs = []
for i, (s, d) in enumerate(zip(shapes.split(";"), dtypes.split(";"))):
    shape = [int(v) for v in s.split(",")]
    x = rng.integers(0, high, shape, dtype=np.int64) if d == "i64" else \
        rng.standard_normal(shape).astype(np.float32)
    np.save(f"{out}/input{i}.npy", x)
    xs.append(torch.from_numpy(x))
with torch.no_grad():
    y = torch.jit.load(path).eval()(*xs)
flat = []
def walk(v):
    if isinstance(v, torch.Tensor): flat.append(v)
    elif isinstance(v, dict): [walk(v[k]) for k in v]
    else: [walk(e) for e in v]
walk(y)
for i, t in enumerate(flat):
    np.save(f"{out}/want{i}.npy", t.numpy())
PY
  args=()
  IFS=';' read -ra s <<< "$shapes"
  for x in "${s[@]}"; do args+=(--input-shape "$x"); done
  args+=(--input-dtype "${dtypes//;/,}")
  inputs=$(ls "$dir"/input*.npy | xargs -n1 basename | paste -sd,)
  for p in $precisions; do
    if build/bin/sinterc "build/models/$file" -o "$dir/$p.sinter" --target "cuda:$arch" \
        --precision "$p" "${args[@]}" > "$dir/$p.log" 2>&1; then
      case $p in fp32) rt=$rtol at=$atol ;; fp16) rt=1e-2 at=1e-2 ;; bf16) rt=8e-2 at=8e-2 ;; esac
      printf '%s\t%s\t%s\t%s\n' "$name/$p.sinter" "$inputs" "$rt" "$at" >> .gpu-kit/a/parity/cases.tsv
    else
      echo "gpu_kit.sh: $name $p not compiled for $arch: $(tail -1 "$dir/$p.log")"
    fi
  done
done < build/models/manifest.tsv

# Benchmarks: the modules bench/gpu_torch.py times with torch.compile there,
# scripted here with Debian's torch and compiled in fp16.
/usr/bin/python3 - .gpu-kit <<'PY'
import sys
import torch
import torch.nn as nn
import torchvision
kit = sys.argv[1]
torch.manual_seed(0)
layer = nn.TransformerEncoderLayer(256, 4, dim_feedforward=1024, batch_first=True, dropout=0.0)
enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
torch.jit.script(enc).save(f"{kit}/a/bench/transformer.pt")
torch.jit.script(torchvision.models.resnet50().eval()).save(f"{kit}/b/bench/resnet50.pt")
PY
build/bin/sinterc .gpu-kit/a/bench/transformer.pt -o .gpu-kit/a/bench/transformer.b1.fp16.sinter \
  --input-shape 1,128,256 --target "cuda:$arch" --precision fp16 > /dev/null
build/bin/sinterc .gpu-kit/b/bench/resnet50.pt -o .gpu-kit/b/bench/resnet50.b1.fp16.sinter \
  --input-shape 1,3,224,224 --target "cuda:$arch" --precision fp16 > /dev/null
rm .gpu-kit/a/bench/*.pt .gpu-kit/b/bench/*.pt
for k in a b; do
  bytes=$(du -sb .gpu-kit/$k | cut -f1)
  echo "gpu_kit.sh: .gpu-kit/$k: $bytes bytes ($(find .gpu-kit/$k -name '*.sinter' | wc -l) artifacts)"
  [ "$bytes" -lt $((64 << 20)) ] || { echo "gpu_kit.sh: .gpu-kit/$k exceeds 64 MiB" >&2; exit 1; }
done
