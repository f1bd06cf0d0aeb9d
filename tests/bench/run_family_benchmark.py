#!/usr/bin/env python3
"""The adaptive controller over a family of jobs it was not tuned on: printed ratios, never a test.

    tests/bench/run_family_benchmark.py BUILD_DIR [--out DIR] [--jobs 2] [--max-workers 16]
        [--seed 1] [--max-iterations 4000] [--algorithms cocoa,cocoa+,sgd] [--clusters all]

A job is (algorithm, data set, target, cluster model). Every run is hemingway-train on
virtual workers with a simulated clock, so times do not depend on this machine's load.

  algorithms   cocoa and cocoa+ (target: the duality gap), minibatch sgd on the same
               linear model (target: the primal objective), hinge loss, lambda 1e-3.
  data sets    fmnist-c0: 3,000 Fashion-MNIST test images, 2x2-pooled (196 features),
               class 0 against the rest; synthetic: 3,000 sparse rows of 400 features
               (5% dense) labelled by a random plane with 5% of the labels flipped.
  targets      from a pilot run per (algorithm, data set) at m = 4: the metric it has
               after 20 iterations (short) and after 400 (long), so that the best count
               needs roughly 10-30 and 200-1,000 iterations.
  clusters     f(m) = T0 + T1/m + T2 ln m + T3 m simulated seconds an iteration:
               compute-heavy 0.002,20,0.001,0.0002 (rescale 0.5 s);
               comm-heavy 0.01,0.3,0.02,0.01 (rescale 0.25 s);
               straggler 0.005,1,0.005,0.002 with --cluster-straggler 0.4 (rescale 0.25 s).

For every job: every static m of the ladder 1, 2, 4, ..., max (one run per (algorithm,
data set, cluster) to the long target; the short target's time is read from the same
log), "all machines" (m = max), the adaptive run from a cold start, and the adaptive run
with --prior the cold run's log. Printed per job, then the distribution over jobs
(median, p90, max) of adaptive / best static, and how often adaptive is above the
median static count. Python 3 standard library only.
"""
import argparse
import concurrent.futures
import gzip
import math
import os
import random
import statistics
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hemingway_logs import records  # noqa: E402

CLUSTERS = {
    "compute-heavy": ("0.002,20,0.001,0.0002", 0.5, 0.0),
    "comm-heavy": ("0.01,0.3,0.02,0.01", 0.25, 0.0),
    "straggler": ("0.005,1,0.005,0.002", 0.25, 0.4),
}
FMNIST = "/usr/share/datasets/fashion-mnist"




def write_fmnist(path, rows=3000, positive=0):
    with gzip.open(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")) as f:
        _, n, h, w = struct.unpack(">IIII", f.read(16))
        pixels = f.read(rows * h * w)
    with gzip.open(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")) as f:
        f.read(8)
        labels = f.read(rows)
    with open(path, "w") as out:
        for r in range(rows):
            img = pixels[r * h * w:(r + 1) * h * w]
            cells = []
            for i in range(0, h, 2):
                for j in range(0, w, 2):
                    v = (img[i * w + j] + img[i * w + j + 1] + img[(i + 1) * w + j] +
                         img[(i + 1) * w + j + 1]) / (4 * 255.0)
                    if v > 0:
                        cells.append(f"{(i // 2) * (w // 2) + j // 2 + 1}:{v:.4f}")
            out.write(("+1 " if labels[r] == positive else "-1 ") + " ".join(cells) + "\n")


def write_synthetic(path, rows=3000, features=400, density=0.05, flip=0.05, seed=7):
    rng = random.Random(seed)
    plane = [rng.gauss(0, 1) for _ in range(features)]
    with open(path, "w") as out:
        for _ in range(rows):
            idx = sorted(rng.sample(range(features), int(features * density)))
            vals = [rng.gauss(0, 1) for _ in idx]
            label = 1 if sum(plane[i] * v for i, v in zip(idx, vals)) > 0 else -1
            if rng.random() < flip:
                label = -label
            out.write(f"{label:+d} " + " ".join(f"{i + 1}:{v:.4f}" for i, v in zip(idx, vals))
                      + "\n")


def ladder(maximum):
    out, m = [], 1
    while m < maximum:
        out.append(m)
        m *= 2
    return out + [maximum]


class Runner:
    def __init__(self, build, args):
        self.train = os.path.join(build, "plugin", "hemingway-train")
        self.args = args

    def run(self, name, extra, iterations=None):
        log = os.path.join(self.args.out, name + ".jsonl")
        if os.path.exists(log):
            os.remove(log)
        cmd = [self.train, "--log", log, "--lambda", "1e-3", "--seed", str(self.args.seed),
               "--iterations", str(iterations or self.args.max_iterations)] + extra
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"{name}: exit {p.returncode}: {p.stderr[-1500:]}")
        return log


def metric_of(rec, alg):
    return rec.get("gap") if alg in ("cocoa", "cocoa+") else rec.get("primal")


def time_to(log, alg, target):
    """Simulated seconds at the first iteration whose metric is <= target; None if never."""
    for rec in records(log):
        if rec.get("event") == "iteration":
            v = metric_of(rec, alg)
            if v is not None and v <= target:
                return rec["simulated_s"]
    return None


def adaptive_summary(log, alg, target):
    recs = records(log)
    its = [r for r in recs if r.get("event") == "iteration"]
    dec = [r for r in recs if r.get("event") == "decision"]
    reached = metric_of(its[-1], alg) is not None and metric_of(its[-1], alg) <= target
    return {"time": its[-1]["simulated_s"] if reached else None,
            "probes": [d["to_world_size"] for d in dec if d["action"] == "probe"],
            "start": its[0]["world_size"], "end": its[-1]["world_size"],
            "iterations": len(its)}


def goal_flags(alg, target):
    return ["--target-gap" if alg in ("cocoa", "cocoa+") else "--target-loss", f"{target:.10g}"]


def pilot_targets(r, alg, ds, path):
    log = r.run(f"pilot-{alg}-{ds}", ["--algorithm", alg, "--dataset", "libsvm:" + path,
                                      "--virtual-workers", "4"], iterations=400)
    values = [metric_of(x, alg) for x in records(log) if x.get("event") == "iteration"]
    return {"short": values[19], "long": values[399]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--out", default="/tmp/hemingway-family")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--max-workers", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-iterations", type=int, default=4000)
    ap.add_argument("--algorithms", default="cocoa,cocoa+,sgd")
    ap.add_argument("--clusters", default=",".join(CLUSTERS))
    ap.add_argument("--no-prior", action="store_true",
                    help="only the cold start (a build without --prior)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    data = {"fmnist-c0": os.path.join(args.out, "fmnist-c0.svm"),
            "synthetic": os.path.join(args.out, "synthetic.svm")}
    write_fmnist(data["fmnist-c0"])
    write_synthetic(data["synthetic"])
    r = Runner(args.build, args)
    algs, clusters = args.algorithms.split(","), args.clusters.split(",")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs)
    targets = {(a, d): pool.submit(pilot_targets, r, a, d, p) for a in algs for d, p in data.items()}
    targets = {k: v.result() for k, v in targets.items()}

    def cluster_flags(c):
        theta, rescale, straggler = CLUSTERS[c]
        spread = ["--cluster-straggler", str(straggler)] if straggler else []
        return ["--cluster-model", theta, "--cluster-rescale-s", str(rescale)] + spread

    def base(a, d, c):
        return ["--algorithm", a, "--dataset", "libsvm:" + data[d]] + cluster_flags(c)

    statics = {}
    for a in algs:
        for d in data:
            for c in clusters:
                for m in ladder(args.max_workers):
                    statics[(a, d, c, m)] = pool.submit(
                        r.run, f"static-{a}-{d}-{c}-m{m}",
                        base(a, d, c) + ["--virtual-workers", str(m)] +
                        goal_flags(a, targets[(a, d)]["long"]))

    def adaptive_pair(a, d, c, t):
        target = targets[(a, d)][t]
        common = base(a, d, c) + ["--virtual-workers", str(args.max_workers), "--adaptive"] + \
            goal_flags(a, target)
        cold = r.run(f"cold-{a}-{d}-{c}-{t}", common)
        if args.no_prior:
            return adaptive_summary(cold, a, target), None
        warm = r.run(f"prior-{a}-{d}-{c}-{t}", common + ["--prior", cold])
        return adaptive_summary(cold, a, target), adaptive_summary(warm, a, target)

    adaptive = {(a, d, c, t): pool.submit(adaptive_pair, a, d, c, t)
                for a in algs for d in data for c in clusters for t in ("short", "long")}
    print(f"== family: {len(adaptive)} jobs, m in {ladder(args.max_workers)}, seed {args.seed}")
    print(f"{'job':44s} {'best static':>14s} {'median':>8s} {'all':>8s} {'cold':>6s} "
          f"{'prior':>6s}  cold probes -> end | prior probes")
    cold_ratios, prior_ratios, above_median, prior_probes = [], [], 0, 0
    for (a, d, c, t), fut in sorted(adaptive.items()):
        cold, warm = fut.result()
        target = targets[(a, d)][t]
        times = {m: time_to(statics[(a, d, c, m)].result(), a, target)
                 for m in ladder(args.max_workers)}
        reached = {m: s for m, s in times.items() if s is not None}
        if not reached:
            print(f"{a}/{d}/{c}/{t}: no static count reaches the target")
            continue
        best_m = min(reached, key=reached.get)
        worst = max(reached.values())
        med = statistics.median(s if s is not None else worst for s in times.values())
        allm = times[args.max_workers]
        ratio = lambda x: x["time"] / reached[best_m] if x["time"] else math.inf
        warm = warm or {"time": None, "probes": [], "start": 0, "end": 0}
        cold_ratios.append(ratio(cold))
        prior_ratios.append(ratio(warm))
        above_median += cold["time"] is None or cold["time"] > med
        prior_probes += len(warm["probes"])
        print(f"{a + '/' + d + '/' + c + '/' + t:44s} m={best_m:<3d}{reached[best_m]:9.3f} "
              f"{med:8.3f} {allm if allm else math.inf:8.3f} {ratio(cold):6.3f} {ratio(warm):6.3f}"
              f"  {cold['start']}:{cold['probes']}->{cold['end']} | {warm['start']}:"
              f"{warm['probes']}->{warm['end']}")

    def dist(xs):
        xs = sorted(xs)
        p90 = xs[min(len(xs) - 1, math.ceil(0.9 * len(xs)) - 1)]
        return f"median {statistics.median(xs):.3f}, p90 {p90:.3f}, max {xs[-1]:.3f}"

    print(f"cold start / best static over {len(cold_ratios)} jobs: {dist(cold_ratios)} "
          f"(goals 1.05, 1.20, 1.35); above the median static count: {above_median}")
    print(f"with a prior / best static: {dist(prior_ratios)} (goals 1.02, max 1.10); "
          f"probes with a prior: {prior_probes}")
    pool.shutdown()


if __name__ == "__main__":
    sys.exit(main())
