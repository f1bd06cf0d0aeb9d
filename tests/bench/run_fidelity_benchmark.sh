#!/usr/bin/env bash
# Fidelity of g (issue: recommendations a user can trust) on two trace sets of
# exact CoCoA and CoCoA+ runs by hemingway-train's virtual workers, m = 1..128:
#   A: Fashion-MNIST class 5 vs rest, hinge, lambda 1e-4, unit rows
#   B: Fashion-MNIST class 2 vs rest, hinge, lambda 1e-3, unit rows
# each until duality gap 1e-4 (at most 3000 iterations), and P* per set from
# a long m = 1 run (its dual value, a certified lower bound); and real
# fmnist_mlp runs (minibatch SGD, 64 examples per worker per step, 800 steps)
# on m = 1..4 workers of this machine, seeds 0, 1 and 2 (seed 0 alone, and
# the median of the three at each step), their step losses smoothed by a running
# median of 25 steps, targets 1.0, 0.7, 0.55 and 0.45 (P* = 0).
# Usage: tests/bench/run_fidelity_benchmark.sh [BUILD_DIR] [TRACE_DIR]
#   TRACE_DIR keeps the traces (they take minutes): reused when present.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build}
traces=${2:-$(mktemp -d)}
mkdir -p "$traces"
train="$build/plugin/hemingway-train"
for set in "A 5 1e-4" "B 2 1e-3"; do
  read -r name cls lambda <<<"$set"
  common=(--dataset "fashion-mnist:class=$cls" --loss hinge --lambda "$lambda" --normalize unit)
  if [ ! -s "$traces/$name-pstar.jsonl" ]; then
    "$train" --algorithm cocoa+ "${common[@]}" --virtual-workers 1 --iterations 300 --target-gap 1e-10 \
      --log "$traces/$name-pstar.jsonl" >/dev/null 2>&1
  fi
  for alg in cocoa cocoa+; do
    for m in 1 2 4 8 16 32 64 128; do
      out="$traces/$name-$alg-m$m.jsonl"
      [ -s "$out" ] && continue
      "$train" --algorithm "$alg" "${common[@]}" --virtual-workers "$m" --iterations 3000 \
        --target-gap 1e-4 --log "$out.tmp" >/dev/null 2>&1 && mv "$out.tmp" "$out" &
      while [ "$(jobs -r | wc -l)" -ge 2 ]; do sleep 1; done
    done
  done
done
wait
for seed in 0 1 2; do
  for m in 1 2 3 4; do
    out="$traces/mlp-s$seed-m$m.jsonl"
    [ -s "$out" ] && continue
    "$build/plugin/hemingway-run" --nproc-per-node "$m" -- "$build/examples/fmnist_mlp" \
      --iterations 800 --seed "$seed" --log "$out.tmp" >/dev/null 2>&1 && mv "$out.tmp" "$out"
  done
done
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for set in A B; do
  pstar=$(tail -1 "$traces/$set-pstar.jsonl" | grep -o '"dual":[^,]*' | cut -d: -f2)
  for alg in cocoa cocoa+; do cat "$traces/$set-$alg"-m*.jsonl >"$traces/$set-$alg.all"; done
  echo "== set $set (P* = $pstar) =="
  "$build/tests/bench/bench_fidelity" gap 0 "$traces/$set-cocoa.all" "$traces/$set-cocoa+.all" |
    tee -a "$results"
  "$build/tests/bench/bench_fidelity" primal "$pstar" "$traces/$set-cocoa.all" \
    "$traces/$set-cocoa+.all" | tee -a "$results"
done
cat "$traces"/mlp-s0-m*.jsonl >"$traces/mlp.all"
cat "$traces"/mlp-s*-m*.jsonl >"$traces/mlp-seeds.all"
echo "== fmnist_mlp, m = 1..4, seed 0 alone (step loss, P* = 0; not pooled below) =="
"$build/tests/bench/bench_fidelity" loss 0 --targets 1.0,0.7,0.55,0.45 --window 25 "$traces/mlp.all"
echo "== fmnist_mlp, m = 1..4, the median of seeds 0, 1, 2 at each step (step loss, P* = 0) =="
"$build/tests/bench/bench_fidelity" loss 0 --targets 1.0,0.7,0.55,0.45 --window 25 \
  "$traces/mlp-seeds.all" | tee -a "$results"
# One cell holds 9-33 cases: a true 80% coverage reads anywhere in about
# 70-90% there. Pooled over the five cells, per kind of case:
echo "== pooled over the cells =="
awk '
  /^RESULT interior/ { kind = "interior m" }
  /^RESULT one doubling/ { kind = "one doubling" }
  /^RESULT forward/ { kind = "forward in i" }
  /^RESULT/ && match($0, /intervals cover [0-9]+ of [0-9]+/) {
    split(substr($0, RSTART, RLENGTH), w, " "); c[kind] += w[3]; n[kind] += w[5]
  }
  /intervals of the loss after a budget/ && match($0, /cover [0-9]+ of [0-9]+/) {
    split(substr($0, RSTART, RLENGTH), w, " "); c[kind " (loss at a budget)"] += w[2]
    n[kind " (loss at a budget)"] += w[4]
  }
  END {
    for (k in n) if (n[k] > 0) printf "RESULT pooled 80%% intervals, %s: cover %d of %d (%.0f%%)\n", k, c[k], n[k], 100 * c[k] / n[k]
  }' "$results" | sort
