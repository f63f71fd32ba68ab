#!/usr/bin/env bash
# Detection and segmentation on the CPU (issue #13's speed rows): sinter
# against LibTorch on torchvision's fasterrcnn_resnet50_fpn (min_size 320,
# wrapped as users export a detector, compiled with --fallback torch: backbone,
# FPN, RPN head and anchors compiled, the proposal filtering, RoI heads and NMS
# in LibTorch through the torch plugin), keypointrcnn_resnet50_fpn (the same,
# with keypoints and their scores) and deeplabv3_resnet50 (fully compiled),
# random weights, one 320x320 image. Outputs are checked against
# LibTorch first (same detections; boxes within 1e-3 of the image size,
# scores 1e-4; the segmentation map 1e-3), then each runtime is timed in a
# process of its own, on the same image (the work a detector does depends on
# its detections): sinter by sinter-bench, LibTorch (frozen, eval, no_grad)
# by a Python loop; medians of --iters runs after 3 warm-up runs.
#
#   bash bench/detect.sh [--threads N] [--iters N]
set -euo pipefail
cd "$(dirname "$0")/.."
iters=10
source bench/mixed_args.sh
bash scripts/setup.sh
bash scripts/build.sh sinterc sinter-run sinter-bench sinter_runtime sinter_plugin_torch >/dev/null
mkdir -p build/bench/detect bench/results
d=build/bench/detect
stamp=$(date -u +%Y%m%d-%H%M%S)
out=bench/results/detect-$stamp.jsonl
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "{\"machine\": \"$cpu\", \"cores\": $(nproc), \"threads\": $threads, \"omp_wait_policy\": \"$OMP_WAIT_POLICY\", \"commit\": \"$(git rev-parse --short HEAD)\", \"date\": \"$stamp\"}" > "$out"

# The models and the image, scripted with Debian's torch (seeded).
/usr/bin/python3 bench/detect_models.py "$d"

printf "%-26s %4s %12s %10s %8s %s\n" model thr "libtorch ms" "sinter ms" ratio "sinter partition"
for m in fasterrcnn_resnet50_fpn deeplabv3_resnet50 keypointrcnn_resnet50_fpn; do
  flags=()
  [ "$m" != deeplabv3_resnet50 ] && flags=(--fallback torch)
  build/bin/sinterc "$d/$m.pt" -o "$d/$m.sinter" --input-shape 1,3,320,320 --cpu native \
    "${flags[@]}" --report-json "$d/$m.report.json"
  rm -rf "$d/$m.out"
  build/bin/sinter-run "$d/$m.sinter" --input "$d/image.npy" --output-dir "$d/$m.out" \
    --threads "$threads"
  # Agreement with LibTorch, then LibTorch's time.
  torch_line=$(/usr/bin/python3 bench/detect_torch.py "$d" "$m" "$threads" "$iters")
  alone=$(build/bin/sinter-bench "$d/$m.sinter" --input "$d/image.npy" --iters "$iters" --warmup 3 \
            --threads "$threads" --json)
  echo "{\"name\": \"$m\", \"libtorch\": $torch_line, \"sinter\": $alone, \"report\": $(cat "$d/$m.report.json")}" >> "$out"
  /usr/bin/python3 - "$torch_line" "$alone" "$d/$m.report.json" "$m" "$threads" <<'EOF'
import json, sys
t, s, rep = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.load(open(sys.argv[3]))
parts = rep.get("partition", [])
torch_segments = sum(1 for p in parts if p["backend"] != "sinter")
desc = "fully compiled" if not parts else "%d torch segment(s)" % torch_segments
sm = s["latency_ms_median"]
print("%-26s %4s %12.1f %10.1f %7.2fx %s" % (sys.argv[4], sys.argv[5], t["median_ms"], sm,
                                              sm / t["median_ms"], desc))
EOF
done
echo "results: $out"
