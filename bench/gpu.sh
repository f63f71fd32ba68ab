#!/usr/bin/env bash
# GPU benchmark and GPU test run, for an H100/H200 machine without network.
#   1. unpacks the carried Debian packages (.gpu-deps/, from
#      scripts/fetch_gpu_deps.sh on a networked host) into a private prefix;
#   2. builds sinterc (against the LibTorch inside this machine's Python
#      torch; LLVM optional), the runtime, sinter-bench and the CUDA tests;
#   3. runs the GPU tests (CUDA parity against the CPU build, every precision);
#   4. scripts the benchmark models with this machine's torch and times
#      PyTorch eager and torch.compile(max-autotune) (bench/gpu_torch.py);
#   5. compiles each for cuda:sm_90 in fp32/fp16/bf16 and times it with
#      sinter-bench; prints ratios and writes one JSON for bench/results/.
#
#   bash bench/gpu.sh [--quick]          (results: $OUT or bench/results)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=""; [ "${1:-}" = "--quick" ] && quick=--quick
results_dir=${OUT:-bench/results}
mkdir -p "$results_dir"
deps=/tmp/sinter-deps
mkdir -p "$deps"
for f in .gpu-deps/*.deb; do [ -e "$f" ] && dpkg -x "$f" "$deps"; done
export PATH="$deps/usr/bin:$PATH"
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
# That machine's cuDNN, cuBLAS and NVRTC come as Python packages
# (nvidia-cudnn-cu13, ...): their headers for the build, their libraries for
# the runtime's dlopen.
site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for d in "$site"/nvidia/*/lib "$site"/nvidia/cu13/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
cudnn_inc=""
for d in "$site"/nvidia/cudnn/include "$site"/nvidia/cu13/include /usr/local/cuda/include; do
  [ -e "$d/cudnn_graph.h" ] && { cudnn_inc=$d; break; }
done
export CUDNN_INCLUDE_DIR=$cudnn_inc
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
echo "== GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1), sm_$arch"

echo "== build"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$deps/usr;$deps/usr/lib/x86_64-linux-gnu/cmake;$torch_prefix" \
  -DFLATBUFFERS_INCLUDE_DIR="$deps/usr/include" -DFLATC="$deps/usr/bin/flatc" \
  -DGTEST_ROOT="$deps/usr" -DSINTER_CUDNN_INCLUDE_DIR="$cudnn_inc" >build-gpu.log 2>&1 || { tail -40 build-gpu.log; exit 1; }
ninja -C build-gpu sinterc sinter-bench sinter_runtime cuda_target_test cuda_dynlib_test \
  >>build-gpu.log 2>&1 || { tail -60 build-gpu.log; exit 1; }

echo "== GPU tests"
python3 tests/models/make_models.py build-gpu/models --only resnet18 resnet50 mobilenet_v2 \
  transformer >/dev/null 2>&1 || echo "(could not script every test model with this torch)"
SINTER_MODELS_DIR=build-gpu/models build-gpu/bin/cuda_target_test || echo "GPU TESTS FAILED"
build-gpu/bin/cuda_dynlib_test || echo "CUDA LIBRARY TESTS FAILED"

echo "== PyTorch eager and torch.compile"
python3 bench/gpu_torch.py build-gpu/bench build-gpu/torch.json $quick

echo "== sinter"
python3 - "$arch" "$results_dir" <<'PY'
import json, subprocess, sys, time
arch, results_dir = sys.argv[1], sys.argv[2]
info = json.load(open("build-gpu/torch.json"))
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                        capture_output=True, text=True).stdout.strip()
print(f"{'model':14} {'b':>3} {'prec':5} {'eager ms':>9} {'compile ms':>10} {'sinter ms':>9} "
      f"{'vs compile':>10} {'vs eager':>8} {'load+first ms':>13}")
for row in info["rows"]:
    art = row["file"].replace(".pt", f".{row['precision']}.sinter")
    shape = ",".join(map(str, row["shape"]))
    c = subprocess.run(["build-gpu/bin/sinterc", row["file"], "-o", art, "--input-shape", shape,
                        "--target", f"cuda:sm_{arch}", "--precision", row["precision"]],
                       capture_output=True, text=True)
    if c.returncode != 0:
        row["sinter_error"] = (c.stderr or c.stdout)[-400:]
        print(row["model"], row["batch"], row["precision"], "sinterc failed:", row["sinter_error"])
        continue
    b = subprocess.run(["build-gpu/bin/sinter-bench", art, "--iters", "50", "--warmup", "10",
                        "--json"], capture_output=True, text=True)
    if b.returncode != 0:
        row["sinter_error"] = (b.stderr or b.stdout)[-400:]
        print(row["model"], row["batch"], row["precision"], "sinter-bench failed:", row["sinter_error"])
        continue
    r = json.loads(b.stdout.strip().splitlines()[-1])
    row["sinter_ms"] = r["latency_ms_median"]
    row["sinter_load_ms"], row["sinter_first_run_ms"] = r["load_ms"], r["first_run_ms"]
    row["vs_compile"] = row["sinter_ms"] / row["compile_ms"] if "compile_ms" in row else None
    row["vs_eager"] = row["sinter_ms"] / row["eager_ms"]
    if "bytes" in row:
        row["sinter_gbps"] = row["bytes"] / row["sinter_ms"] / 1e6
        row["copy_gbps"] = row["bytes"] / row["d2d_copy_ms"] / 1e6
    vc = f"{row['vs_compile']:.2f}x" if row["vs_compile"] else "-"
    print(f"{row['model']:14} {row['batch']:>3} {row['precision']:5} {row['eager_ms']:9.3f} "
          f"{row.get('compile_ms', float('nan')):10.3f} {row['sinter_ms']:9.3f} {vc:>10} "
          f"{row['vs_eager']:7.2f}x {row['sinter_load_ms'] + row['sinter_first_run_ms']:13.1f}")
info.update({"commit": commit, "driver": driver, "date": time.strftime("%Y%m%d-%H%M%S", time.gmtime())})
path = f"{results_dir}/gpu-{info['date']}.json"
json.dump(info, open(path, "w"), indent=1)
print("wrote", path)
PY
