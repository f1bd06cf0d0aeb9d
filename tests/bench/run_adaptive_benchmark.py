#!/usr/bin/env python3
"""Adaptive controller benchmark on a simulated cluster: printed ratios, never a timed test.

    tests/bench/run_adaptive_benchmark.py BUILD_DIR [--part static,schedule,budget,real,netns]
        [--algorithms cocoa,cocoa+] [--datasets fashion-mnist:class=5,fashion-mnist:class=0]
        [--max-workers 128] [--seeds 1,2,3] [--jobs 2] [--target-gap 1e-5] [--out DIR]

Every run is hemingway-train on virtual workers with a simulated clock
(--cluster-model): an iteration on m workers takes f(m) = T0 + T1/m + T2 ln m +
T3 m simulated seconds and a rescale --cluster-rescale-s. Simulated times do
not depend on the machine's load, so runs go two at a time; each seed changes
the workers' random choices, and the figures are medians over seeds.

Parts:
  static    per (algorithm, data set): the adaptive run from a cold start
            (--adaptive, probes included) against every static m in 1, 2, 4,
            ..., max: time to the target gap; ratios to the best static m in
            hindsight, the median static m and "all machines".
  schedule  a scheduler takes machines away and gives them back (--capacity
            0:128,10:8,40:128, simulated seconds), on a compute-heavy cluster
            (f = 0.02 + 10/m + 0.001 ln m + 0.0001 m): adaptive (it follows the
            capacity and chooses within it) against every static m that fits
            the capacity all along (m <= 8), and against m = 128 shrinking and
            growing back with the capacity (elastic, no controller).
  budget    the budget goal: per (algorithm, data set), --time-budget S
            (--budget, 10 simulated s) and no target, adaptive from a cold
            start against every static m: the gap each reaches by then.
  netns     as real, but between two network namespaces joined by a veth
            pair capped by tc tbf (--link-rate, 1gbit): worker 0 and the
            launcher on one side, the other workers on the other
            (netns_worker.py), so every group of two or more crosses the
            link. Needs root.
  real      real workers on this machine: fmnist_mlp to --mlp-target loss
            under one --mlp-scaling rule (strong or weak) for every run,
            adaptive (hemingway-run --max-workers 3) against static m = 1, 2, 3
            (--elastic --target-loss), interleaved repetitions (A B C D A B C
            D ...), medians of the time from the first to the last step.
Python 3 standard library only.
"""
import argparse
import concurrent.futures
import math
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hemingway_logs import records  # noqa: E402
import tempfile

THETA = "0.02,1.5,0.01,0.002"




class Runner:
    def __init__(self, build, out, args):
        self.train = os.path.join(build, "plugin", "hemingway-train")
        self.out = out
        self.args = args

    def run(self, name, extra):
        log = os.path.join(self.out, name + ".jsonl")
        # --reuse-static: a static run's log from an earlier run of this
        # script is deterministic (simulated clock, same seed): read it again.
        if self.args.reuse_static and name.startswith(("static", "sched-static")) and \
                os.path.exists(log) and any(r.get("event") == "iteration" for r in records(log)):
            return self.summarize(name, log)
        if os.path.exists(log):
            os.remove(log)
        cmd = [self.train, "--cluster-model", self.args.theta, "--log", log,
               "--iterations", str(self.args.iterations), "--lambda", str(self.args.lam),
               "--loss", self.args.loss, "--cluster-rescale-s", str(self.args.rescale_s)] + extra
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"{name}: exit {p.returncode}: {p.stderr[-2000:]}")
        return self.summarize(name, log)

    def summarize(self, name, log):
        recs = records(log)
        its = [r for r in recs if r.get("event") == "iteration"]
        last = its[-1]
        reached = last.get("gap") is not None and last["gap"] <= self.args.target_gap
        decisions = [r for r in recs if r.get("event") == "decision"]
        return {"name": name, "time": last["simulated_s"], "reached": reached,
                "iterations": len(its), "final_m": last["world_size"],
                "decisions": decisions, "log": log}


def ladder(maximum):
    out, m = [], 1
    while m < maximum:
        out.append(m)
        m *= 2
    out.append(maximum)
    return out


def ladder_runs(r, args, prefix, goal):
    """Per (algorithm, data set, seed): every static m of the ladder and the
    adaptive run from a cold start, two at a time; results keyed by
    (algorithm, data set, seed, m or "adaptive")."""
    tasks = []
    for alg in args.algorithms.split(","):
        for ds in args.datasets.split(","):
            base = ["--algorithm", alg, "--dataset", ds] + goal
            tag = f"{alg}-{ds.replace(':', '_')}"
            for seed in args.seeds.split(","):
                for m in ladder(args.max_workers):
                    tasks.append(((alg, ds, seed, m), f"{prefix}static-{tag}-s{seed}-m{m}",
                                  base + ["--virtual-workers", str(m), "--seed", seed]))
                tasks.append(((alg, ds, seed, "adaptive"), f"{prefix}adaptive-{tag}-s{seed}",
                              base + ["--virtual-workers", str(args.max_workers), "--adaptive",
                                      "--seed", seed]))
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(r.run, name, extra): key for key, name, extra in tasks}
        for fut in concurrent.futures.as_completed(futures):
            results[futures[fut]] = fut.result()
    return results


def part_static(r, args):
    print(f"== static: adaptive (cold start) vs every static m; target gap {args.target_gap}, "
          f"f(m) = {args.theta}, rescale {args.rescale_s} s, seeds {args.seeds}")
    results = ladder_runs(r, args, "", ["--target-gap", str(args.target_gap)])
    ok = True
    for alg in args.algorithms.split(","):
        for ds in args.datasets.split(","):
            vs_best, vs_median, vs_all = [], [], []
            for seed in args.seeds.split(","):
                statics = {m: results[(alg, ds, seed, m)] for m in ladder(args.max_workers)}
                ad = results[(alg, ds, seed, "adaptive")]
                reached = {m: s["time"] for m, s in statics.items() if s["reached"]}
                if not ad["reached"] or not reached:
                    print(f"  {alg} {ds} seed {seed}: adaptive reached={ad['reached']}, "
                          f"statics reaching the target: {sorted(reached)}")
                    ok = False
                    continue
                best_m = min(reached, key=reached.get)
                # Statics that never reach the target count as their full run (a lower bound).
                times = sorted(s["time"] for s in statics.values())
                med = statistics.median(times)
                allm = statics[args.max_workers]["time"]
                vs_best.append(ad["time"] / reached[best_m])
                vs_median.append(ad["time"] / med)
                vs_all.append(ad["time"] / allm)
                probes = [d["to_world_size"] for d in ad["decisions"] if d["action"] == "probe"]
                moves = [(d["step"], d["to_world_size"]) for d in ad["decisions"]
                         if d["action"] == "rescale"]
                print(f"  {alg:7s} {ds:22s} seed {seed}: adaptive {ad['time']:8.2f} s "
                      f"(probes {probes}, rescales {moves}, ended on m={ad['final_m']}) | "
                      f"best static m={best_m} {reached[best_m]:8.2f} s | median static "
                      f"{med:8.2f} s | all {args.max_workers}: {allm:8.2f} s"
                      f"{'' if statics[args.max_workers]['reached'] else ' (not reached)'}")
            if vs_best:
                print(f"  {alg:7s} {ds:22s} MEDIAN adaptive/best static {statistics.median(vs_best):.3f} "
                      f"(goal <= 1.10) | adaptive/median static {statistics.median(vs_median):.3f} "
                      f"(goal <= 0.5) | adaptive/all machines {statistics.median(vs_all):.3f} "
                      f"(goal <= 0.3)")
    return ok


def part_schedule(r, args):
    cap = "0:128,10:8,40:128"
    theta = "0.02,10,0.001,0.0001"
    print(f"== schedule: capacity {cap} (simulated s), f(m) = {theta}, target gap "
          f"{args.target_gap}, seeds {args.seeds}")
    old = r.args.theta
    r.args.theta = theta
    tasks = []
    alg, ds = "cocoa+", "fashion-mnist:class=5"
    base = ["--algorithm", alg, "--dataset", ds, "--target-gap", str(args.target_gap),
            "--capacity", cap]
    for seed in args.seeds.split(","):
        tasks.append(((seed, "adaptive"), f"sched-adaptive-s{seed}",
                      base + ["--virtual-workers", "128", "--adaptive", "--seed", seed]))
        for m in [1, 2, 4, 8, 128]:
            tasks.append(((seed, m), f"sched-static-s{seed}-m{m}",
                          base + ["--virtual-workers", str(m), "--seed", seed]))
    results = {}
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(r.run, name, extra): key for key, name, extra in tasks}
            for fut in concurrent.futures.as_completed(futures):
                results[futures[fut]] = fut.result()
    finally:
        r.args.theta = old
    vs_fit, vs_follow = [], []
    for seed in args.seeds.split(","):
        ad = results[(seed, "adaptive")]
        fits = {m: results[(seed, m)]["time"] for m in [1, 2, 4, 8] if results[(seed, m)]["reached"]}
        best = min(fits, key=fits.get)
        follow = results[(seed, 128)]
        vs_fit.append(fits[best] / ad["time"])
        vs_follow.append(follow["time"] / ad["time"])
        moves = [(d["step"], d["action"], d["to_world_size"]) for d in ad["decisions"]
                 if d["action"] != "stay"]
        print(f"  seed {seed}: adaptive {ad['time']:8.2f} s (reached {ad['reached']}; {moves}) | "
              f"best static fitting the capacity m={best} {fits[best]:8.2f} s | m=128 following "
              f"the capacity {follow['time']:8.2f} s")
    print(f"  MEDIAN best static fitting the capacity / adaptive {statistics.median(vs_fit):.3f} "
          f"(goal >= 1.2) | m=128 following the capacity / adaptive "
          f"{statistics.median(vs_follow):.3f}")
    return True


def part_budget(r, args):
    budget = args.budget
    print(f"== budget: the lowest gap within {budget} simulated s (--time-budget, no target); "
          f"adaptive (cold start) vs every static m; f(m) = {args.theta}, seeds {args.seeds}")
    results = ladder_runs(r, args, "budget-", ["--time-budget", str(budget)])

    def final_gap(res):
        # The gap by the budget: the last iteration that ended by then (the
        # run stops after the iteration that crosses it).
        its = [x for x in records(res["log"]) if x.get("event") == "iteration"
               and x["simulated_s"] <= budget]
        return its[-1]["gap"] if its else float("inf")

    for alg in args.algorithms.split(","):
        for ds in args.datasets.split(","):
            decades_best, beaten = [], []
            for seed in args.seeds.split(","):
                gaps = {m: final_gap(results[(alg, ds, seed, m)]) for m in ladder(args.max_workers)}
                ad = results[(alg, ds, seed, "adaptive")]
                g = final_gap(ad)
                best_m = min(gaps, key=gaps.get)
                decades_best.append(math.log10(g / gaps[best_m]))
                beaten.append(sum(1 for v in gaps.values() if g <= v))
                probes = [d["to_world_size"] for d in ad["decisions"] if d["action"] == "probe"]
                print(f"  {alg:7s} {ds:22s} seed {seed}: adaptive gap {g:.3g} (probes "
                      f"{probes}, ended on m={ad['final_m']}) | best "
                      f"static m={best_m} {gaps[best_m]:.3g} | median static "
                      f"{statistics.median(gaps.values()):.3g} | all {args.max_workers}: "
                      f"{gaps[args.max_workers]:.3g} | statics at or above adaptive's gap: "
                      f"{beaten[-1]} of {len(gaps)}")
            print(f"  {alg:7s} {ds:22s} MEDIAN log10(adaptive gap / best static gap) "
                  f"{statistics.median(decades_best):+.2f} decades | statics at or above "
                  f"adaptive's gap (median) {statistics.median(beaten)} of "
                  f"{len(ladder(args.max_workers))}")
    return True


def step_span(path):
    """Seconds from the first step's start to the last step's end (rank 0)."""
    steps = [r for r in records(path) if r.get("event") == "step" and r.get("rank") == 0]
    if not steps:
        return float("nan"), 0
    first = steps[0]["time"] - steps[0]["step_ms"] / 1000
    return steps[-1]["time"] - first, len(steps)


def mlp_versus_statics(out, args, tag, launch):
    """fmnist_mlp to --mlp-target: static m = 1, 2, 3 (--elastic) and the
    adaptive run over 1..3, interleaved repetitions (A B C D A B C D ...);
    launch(m, program_args) gives the command. Prints the medians of the time
    from the first to the last step and the ratios."""
    configs = [("static m=1", 1, ["--elastic"]), ("static m=2", 2, ["--elastic"]),
               ("static m=3", 3, ["--elastic"]), ("adaptive 1..3", 3, ["--adaptive"])]
    times = {name: [] for name, _, _ in configs}
    finals = {name: [] for name, _, _ in configs}
    for rep in range(args.reps):
        for name, m, extra in configs:
            log = os.path.join(out, f"{tag}-{name.replace(' ', '_').replace('.', '')}-{rep}.jsonl")
            if os.path.exists(log):
                os.remove(log)
            cmd = launch(m, ["--target-loss", str(args.mlp_target), "--iterations", "3000",
                             "--scaling", args.mlp_scaling, "--log", log] + extra)
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=900)
            if p.returncode != 0:
                raise RuntimeError(f"{tag} {name}: exit {p.returncode}: {p.stderr[-2000:]}")
            span, steps = step_span(log)
            times[name].append(span)
            world = [r["world_size"] for r in records(log)
                     if r.get("event") == "step" and r.get("rank") == 0]
            finals[name].append((steps, world[-1] if world else None))
    med = {name: statistics.median(v) for name, v in times.items()}
    best_static = min(v for k, v in med.items() if k.startswith("static"))
    for name, _, _ in configs:
        print(f"  {name:14s} median {med[name]:7.2f} s over {args.reps} reps "
              f"(runs: {', '.join(f'{t:.2f}' for t in times[name])}; steps, final m: {finals[name]})")
    print(f"  adaptive / best static {med['adaptive 1..3'] / best_static:.3f}; adaptive / each: " +
          ", ".join(f"{k} {med['adaptive 1..3'] / v:.3f}" for k, v in med.items()
                    if k.startswith("static")))
    return True


def part_real(build, out, args):
    run = os.path.join(build, "plugin", "hemingway-run")
    mlp = os.path.join(build, "examples", "fmnist_mlp")
    print(f"== real: fmnist_mlp to loss {args.mlp_target} on this machine "
          f"({os.cpu_count()} cores), reps {args.reps}, interleaved")
    return mlp_versus_statics(out, args, "real", lambda m, rest: [
        run, "--nproc-per-node", str(m), "--max-workers", str(m), "--", mlp] + rest)


def ip(*args):
    subprocess.run(["ip"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=30)


def part_netns(build, out, args):
    """fmnist_mlp between two network namespaces joined by a veth pair whose
    both ends are capped by tc tbf: worker 0 on "host" A (with hemingway-run
    and its store), the others on "host" B (netns_worker.py), so every group
    of two or more workers crosses the shaped link."""
    if os.geteuid() != 0:
        print("== netns: needs root (network namespaces); not run", file=sys.stderr)
        return False
    run = os.path.join(build, "plugin", "hemingway-run")
    mlp = os.path.join(build, "examples", "fmnist_mlp")
    wrapper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support",
                           "netns_worker.py")
    tag = f"hwb{os.getpid() % 100000}"
    na, nb, va, vb = tag + "a", tag + "b", tag + "va", tag + "vb"
    addr_a, addr_b = "10.232.0.1", "10.232.0.2"
    print(f"== netns: fmnist_mlp to loss {args.mlp_target} between two namespaces, link capped "
          f"at {args.link_rate} each way (tc tbf), reps {args.reps}, interleaved")
    try:
        ip("netns", "add", na)
        ip("netns", "add", nb)
        ip("link", "add", va, "type", "veth", "peer", "name", vb)
        ip("link", "set", va, "netns", na)
        ip("link", "set", vb, "netns", nb)
        ip("-n", na, "addr", "add", addr_a + "/24", "dev", va)
        ip("-n", nb, "addr", "add", addr_b + "/24", "dev", vb)
        for ns, dev in ((na, va), (nb, vb)):
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", dev, "up")
            subprocess.run(["tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate",
                            args.link_rate, "burst", "256kb", "latency", "50ms"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=30)
        return mlp_versus_statics(out, args, "netns", lambda m, rest: [
            "ip", "netns", "exec", na, run, "--nproc-per-node", str(m), "--max-workers", str(m),
            "--master-addr", addr_a, "--", wrapper, f"{na}:{va}", f"{nb}:{vb}", "--", mlp] + rest)
    finally:
        for ns in (na, nb):
            subprocess.run(["ip", "netns", "del", ns], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--part", default="static")
    ap.add_argument("--algorithms", default="cocoa,cocoa+")
    ap.add_argument("--datasets", default="fashion-mnist:class=5,fashion-mnist:class=0")
    ap.add_argument("--max-workers", type=int, default=128)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--target-gap", type=float, default=1e-5)
    ap.add_argument("--lam", type=float, default=1e-4)
    ap.add_argument("--loss", default="logistic")
    ap.add_argument("--theta", default=THETA)
    ap.add_argument("--rescale-s", type=float, default=0.25)
    ap.add_argument("--iterations", type=int, default=5000)
    ap.add_argument("--out", default="")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--reuse-static", action="store_true",
                    help="read static runs' logs already in --out instead of running them again")
    ap.add_argument("--mlp-target", type=float, default=0.5)
    ap.add_argument("--mlp-scaling", default="strong", choices=["strong", "weak"],
                    help="fmnist_mlp's --scaling, the same for the adaptive and every static run")
    ap.add_argument("--link-rate", default="1gbit",
                    help="netns part: tc tbf rate of each direction of the link")
    ap.add_argument("--budget", type=float, default=10.0,
                    help="budget part: simulated seconds")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="hemingway-adaptive-bench-")
    os.makedirs(out, exist_ok=True)
    r = Runner(args.build, out, args)
    ok = True
    for part in args.part.split(","):
        if part == "static":
            ok = part_static(r, args) and ok
        elif part == "schedule":
            ok = part_schedule(r, args) and ok
        elif part == "netns":
            ok = part_netns(args.build, out, args) and ok
        elif part == "budget":
            ok = part_budget(r, args) and ok
        elif part == "real":
            ok = part_real(args.build, out, args) and ok
        else:
            print(f"unknown part {part}", file=sys.stderr)
            return 2
    print(f"logs in {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
