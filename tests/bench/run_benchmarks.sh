#!/usr/bin/env bash
# Runs Hemingway's benchmarks and prints their ratios, each measured side by
# side in one run with interleaved repetitions (A B A B ...) and medians.
#
# Usage: tests/bench/run_benchmarks.sh [BUILD_DIR] [REPS]
#   BUILD_DIR  a build of this repository (default: build)
#   REPS       repetitions of the PyTorch DDP comparison per world size (default: 5)
# Needs the bench peers: third_party/install.sh build data bench
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build}
reps=${2:-5}
run="$build/plugin/hemingway-run"
python=/usr/bin/python3  # Debian's python3 with python3-torch (same libtorch 1.13)

for f in "$run" "$build/tests/bench/bench_training" "$build/tests/bench/bench_grad_sync" \
  "$build/tests/bench/bench_sdca_liblinear"; do
  [ -x "$f" ] || { echo "run_benchmarks.sh: $f is missing; run third_party/install.sh build data bench, then cmake and build" >&2; exit 1; }
done
"$python" -c 'import torch.distributed' 2>/dev/null || {
  echo "run_benchmarks.sh: $python cannot import torch; run third_party/install.sh build data bench" >&2
  exit 1
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
step_ms() { grep -o 'median_step_ms [0-9.]*' | awk '{print $2}'; }

echo "== Hook overhead (reference workload, 2 workers, 1 thread each) =="
log=$(mktemp --suffix=.jsonl)
out=$(mktemp)
for ((r = 0; r < 5; r++)); do
  "$run" --nproc-per-node 2 -- "$build/tests/bench/bench_training" --mode recording --iterations 3000 \
    --log "$log" | sed -n 's/^\[rank 0\] //p' | tee -a "$out"
done
m=$(grep "^RATIO hook_overhead on/off" "$out" | awk '{print $5}' | median)
echo "RATIO hook_overhead on/off = $m (median over 5 launches; goal <= 1.01)"
rm -f "$log" "$out"

echo "== Gradient sync: DataParallel vs raw ProcessGroupGloo allreduce (2 workers) =="
# Thread placement differs from launch to launch: several launches, median of their ratios.
out=$(mktemp)
for ((r = 0; r < 5; r++)); do
  "$run" --nproc-per-node 2 -- "$build/tests/bench/bench_grad_sync" | sed -n 's/^\[rank 0\] //p' | tee -a "$out"
done
for size in 1 25; do
  m=$(grep "^RATIO grad_sync_${size}MiB" "$out" | awk '{print $5}' | median)
  echo "RATIO grad_sync_${size}MiB wrapper/raw = $m (median over 5 launches; goal <= 1.05)"
done
rm -f "$out"

echo "== Against PyTorch DDP (python3-torch 1.13, Gloo, 1 thread per worker) =="
echo "Both run under hemingway-run with the same env; $reps interleaved repetitions per world size."
for world in 1 2 4; do
  ours=() theirs=()
  for ((r = 0; r < reps; r++)); do
    ours+=("$("$run" --nproc-per-node "$world" -- "$build/tests/bench/bench_training" --mode steps | step_ms)")
    theirs+=("$("$run" --nproc-per-node "$world" -- "$python" "$root/tests/bench/ddp_reference.py" | step_ms)")
  done
  a=$(printf '%s\n' "${ours[@]}" | median)
  b=$(printf '%s\n' "${theirs[@]}" | median)
  echo "world $world: Hemingway ${ours[*]} ms | PyTorch DDP ${theirs[*]} ms"
  awk -v a="$a" -v b="$b" -v w="$world" \
    'BEGIN {printf "RATIO ddp_world%d hemingway/pytorch median step = %.4f (%.3f / %.3f ms; goal <= 0.95)\n", w, a/b, a, b}'
done

echo "== Local SDCA pass vs liblinear dual coordinate descent (-s 3), Fashion-MNIST 60000 x 784 =="
echo "liblinear runs in-process (liblinear-dev), interleaved with Hemingway's passes."
"$build/tests/bench/bench_sdca_liblinear" --liblinear --reps 5
