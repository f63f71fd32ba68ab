# Sourced by the benchmarks that run sinter next to LibTorch (fallback.sh,
# detect.sh), after `iters` is given its default: reads --threads N and
# --iters N into `threads` and `iters` and sets OMP_WAIT_POLICY.
threads=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    *) echo "usage: bash $0 [--threads N] [--iters N]" >&2; exit 1 ;;
  esac
done
# LibTorch's OpenMP workers spin after every parallel region by default; with
# segments interleaved with sinter's kernels on few cores, that spinning takes
# a core from sinter's next kernels (measured here: ResNet-50 with one torch
# segment, 65 ms active against 59 ms passive, 55 ms fully compiled). Passive
# waiting is what a deployment mixing the two runtimes should set; it applies
# to the LibTorch-alone columns too.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
