#!/usr/bin/env python3
"""Elastic training benchmark: printed figures, never a timed test.

    tests/bench/run_elastic_benchmark.py BUILD_DIR [--part stall,overhead,light,faults,restart,matrix]
                                         [--seeds 20] [--reps 5] [--baseline OTHER_BUILD_DIR]

Workers are bench_elastic (a 1000 x 10000 linear layer: 10M float parameters,
40 MB) under hemingway-run on loopback, worlds 2-4. Parts:
  stall     planned scale-in and scale-out (parked joiner): median and p90 of
            the "regroup" records' total_ms, by phase
  overhead  steps where nothing changes: median period between step records,
            elastic on vs off (both average with the ring), interleaved pairs
            in alternating order, median of paired ratios
  light     the same on light steps (a 1000 x 10 layer: 10k parameters), where
            elasticity's per-step bookkeeping and parked workers' polling show:
            plain vs elastic at world 1 and 2, and world 1 with 3 parked
            workers; median step period and CPU seconds of the whole run per
            step, runs interleaved in rotating order. With --baseline, every
            case also runs on that build, interleaved (a before/after)
  faults    kill -9 of a member and SIGSTOP (heartbeat 0.5 s): from the fault
            to the survivors' next step
  restart   the same scale-out done the torchrun way (stop every worker, start
            the new world, reload a checkpoint) with PyTorch 1.13, against the
            elastic stall (needs python3-torch, the bench peer)
  matrix    seeds x {kill -9 mid-step, mid-allreduce, mid-rescale,
            mid-state-transfer, parked worker, SIGSTOP}: every run must finish,
            with no hang, no lost or repeated committed step and equal
            param_checksum on all ranks (1M-parameter model, for time;
            every bucket averaged by the ring)
Python 3 standard library only.
"""
import argparse
import os
import random
import resource
import signal
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hemingway_logs import records  # noqa: E402
import tempfile
import time


def pct(values, q):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(q * (len(v) - 1)))))
    return v[k]




class Bench:
    def __init__(self, build):
        self.build = build
        self.run_bin = os.path.join(build, "plugin", "hemingway-run")
        self.worker = os.path.join(build, "tests", "bench", "bench_elastic")
        for b in (self.run_bin, self.worker):
            if not os.path.exists(b):
                sys.exit(f"run_elastic_benchmark: {b} is missing (build the project first)")

    def launch(self, launcher, worker, env=None, timeout=180, background=False):
        cmd = [self.run_bin, "--timeout", "30"] + launcher + ["--", self.worker] + worker
        e = dict(os.environ)
        e.update(env or {})
        if background:
            return subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
        t0 = time.time()
        try:
            p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=timeout)
            return p.returncode, p.stdout, time.time() - t0
        except subprocess.TimeoutExpired as ex:
            return None, (ex.stdout or b"").decode() if isinstance(ex.stdout, bytes) else (
                ex.stdout or ""), time.time() - t0


def stall(b, reps):
    print("== stall of planned membership changes (10M float parameters, loopback) ==")
    schedules = ["6:3,12:4,18:3,24:2,30:4,36:2,42:3,48:2",
                 "6:4,12:3,18:4,24:2,30:3,36:4,42:2,48:3",
                 "6:3,12:2,18:4,24:3,30:2,36:3,42:4,48:2"]
    out, into = [], []
    for rep in range(reps):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "log.jsonl")
            code, text, _ = b.launch(["--nproc-per-node", "2", "--max-workers", "4"],
                                     ["--log", log, "--iterations", "56", "--request",
                                      schedules[rep % len(schedules)]])
            if code != 0:
                print(text[-2000:])
                sys.exit("stall run failed")
            for r in records(log):
                if r["event"] == "regroup":
                    (out if r["to_world_size"] > r["from_world_size"] else into).append(r)
    for name, rs, goal in (("scale-in", into, "goal median <= 15 ms"),
                           ("scale-out, parked joiner", out, "goal median <= 60 ms, p90 <= 100")):
        tot = [r["total_ms"] for r in rs]
        print(f"{name}: {len(rs)} changes | total_ms median {statistics.median(tot):.1f} "
              f"p90 {pct(tot, 0.9):.1f} ({goal})")
        for phase in ("agree_ms", "form_ms", "state_ms"):
            v = [r[phase] for r in rs]
            print(f"    {phase:9s} median {statistics.median(v):7.1f}  p90 {pct(v, 0.9):7.1f}")
    return statistics.median([r["total_ms"] for r in out if r["from_world_size"] == 2
                              and r["to_world_size"] == 3] or [float("nan")])


def overhead(b, reps):
    print("== overhead of elasticity on steps where nothing changes (world 2, 3) ==")
    print("   per step: the period between consecutive step records' end times on rank 0")
    print("   (boundary check, commit and sync included), steps >= 5; pairs interleaved,")
    print("   each pair's order alternating (on off, off on, ...)")
    for world in (2, 3):
        periods = {"off": [], "on": []}
        step_ms = {"off": [], "on": []}
        ratios, step_ratios = [], []
        for rep in range(reps):
            order = ("on", "off") if rep % 2 == 0 else ("off", "on")
            for mode in order:
                with tempfile.TemporaryDirectory() as d:
                    log = os.path.join(d, "log.jsonl")
                    if mode == "on":
                        launcher = ["--nproc-per-node", str(world), "--max-workers", str(world)]
                        worker = ["--mode", "elastic"]
                    else:
                        launcher = ["--nproc-per-node", str(world)]
                        worker = ["--mode", "plain"]
                    code, text, _ = b.launch(launcher, worker + ["--log", log, "--iterations",
                                                                 "80"])
                    if code != 0:
                        print(text[-2000:])
                        sys.exit("overhead run failed")
                    steps = sorted((r["step"], r["time"], r["step_ms"]) for r in records(log)
                                   if r["event"] == "step" and r["rank"] == 0 and r["step"] >= 5)
                    gaps = [(b2[1] - a2[1]) * 1e3 for a2, b2 in zip(steps, steps[1:])
                            if b2[0] == a2[0] + 1]
                    periods[mode].append(statistics.median(gaps))
                    step_ms[mode].append(statistics.median(x[2] for x in steps))
            ratios.append(periods["on"][-1] / periods["off"][-1])
            step_ratios.append(step_ms["on"][-1] / step_ms["off"][-1])
        on, off = (statistics.median(periods[k]) for k in ("on", "off"))
        print(f"world {world}: median period ms | elastic on {on:.1f} | off {off:.1f} "
              f"| ratio of medians {on / off:.3f}")
        print(f"    median of paired ratios on/off {statistics.median(ratios):.3f} (goal <= 1.01; "
              f"{reps} pairs: {', '.join(f'{r:.3f}' for r in ratios)})")
        print(f"    step_ms alone (the step scope): median of paired ratios "
              f"{statistics.median(step_ratios):.3f}")


def light(builds, reps):
    print("== elastic bookkeeping on light steps (1000 x 10 layer, 10k parameters, loopback) ==")
    print("   per run: median period between rank 0's step records (steps >= 100); CPU per")
    print("   step of the whole run (launcher and every worker): the CPU seconds of a long run")
    print("   less those of a short one, over the steps between (start-up cancels out;")
    print("   world 1: 20000 and 2000 steps, world 2: 5000 and 1000);")
    print("   runs interleaved, the order rotating")
    cases = [
        ("plain, world 1", ["--nproc-per-node", "1"], "plain"),
        ("elastic, world 1", ["--nproc-per-node", "1", "--max-workers", "1"], "elastic"),
        ("elastic, world 1 + 3 parked", ["--nproc-per-node", "1", "--max-workers", "4"],
         "elastic"),
        ("plain, world 2", ["--nproc-per-node", "2"], "plain"),
        ("elastic, world 2", ["--nproc-per-node", "2", "--max-workers", "2"], "elastic"),
    ]
    runs = [(name, launcher, mode, b) for name, launcher, mode in cases for b in builds]
    period = {(name, b.build): [] for name, _, _, b in runs}
    cpu = {(name, b.build): [] for name, _, _, b in runs}
    def run(launcher, mode, b, steps):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "log.jsonl")
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            code, text, _ = b.launch(launcher, ["--mode", mode, "--hidden", "10", "--log", log,
                                                "--iterations", str(steps)])
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if code != 0:
                print(text[-2000:])
                sys.exit("light run failed")
            ends = sorted((r["step"], r["time"]) for r in records(log)
                          if r["event"] == "step" and r["rank"] == 0 and r["step"] >= 100)
            gaps = [(y[1] - x[1]) * 1e6 for x, y in zip(ends, ends[1:]) if y[0] == x[0] + 1]
            used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            return statistics.median(gaps), used

    for rep in range(reps):
        k = rep % len(runs)
        for name, launcher, mode, b in runs[k:] + runs[:k]:
            short, long = (2000, 20000) if "world 1" in name else (1000, 5000)
            p, long_cpu = run(launcher, mode, b, long)
            _, short_cpu = run(launcher, mode, b, short)
            period[(name, b.build)].append(p)
            cpu[(name, b.build)].append((long_cpu - short_cpu) / (long - short) * 1e6)
    for b in builds:
        if len(builds) > 1:
            print(f"build {b.build}:")
        base = {}
        for name, _, _ in cases:
            p = statistics.median(period[(name, b.build)])
            c = statistics.median(cpu[(name, b.build)])
            world = name.split("world ")[1][0]
            ref = base.setdefault(world, p)
            print(f"  {name:28s} period {p:7.1f} us ({p / ref:.3f}x plain) | "
                  f"CPU {c:7.1f} us per step")
    if len(builds) > 1:
        print("period and CPU, this build / baseline (ratio of medians):")
        for name, _, _ in cases:
            pa, pb = (statistics.median(period[(name, b.build)]) for b in builds)
            ca, cb = (statistics.median(cpu[(name, b.build)]) for b in builds)
            print(f"  {name:28s} period {pa / pb:.3f} | CPU {ca / cb:.3f}")


def fault_delays(b, reps, phase, extra):
    out = []
    for rep in range(reps):
        with tempfile.TemporaryDirectory() as d:
            log, stamp = os.path.join(d, "log.jsonl"), os.path.join(d, "stamp")
            code, text, _ = b.launch(["--nproc-per-node", "3", "--max-workers", "3",
                                      "--on-failure", "shrink"] + extra,
                                     ["--log", log, "--iterations", "25", "--kill-at",
                                      f"10:{1 + rep % 2}:{phase}", "--stamp", stamp])
            if code != 0:
                print(text[-2000:])
                sys.exit(f"{phase} run failed")
            t_fault = float(open(stamp).read().split()[0])
            rs = records(log)
            regroup = [r for r in rs if r["event"] == "regroup"][0]
            after = [r for r in rs if r["event"] == "step" and r["generation"] ==
                     regroup["generation"] and r["rank"] == 0]
            first = min(after, key=lambda r: r["step"])
            out.append(((regroup["time"] - t_fault) * 1000,
                        (first["time"] - t_fault) * 1000 - first["step_ms"], regroup))
    return out


def faults(b, reps):
    print("== faults: from the fault to the survivors' next step (world 3 -> 2) ==")
    for phase, extra, goal in (("step", [], "goal <= 100 ms"),
                               ("stop", ["--heartbeat-timeout", "0.5"],
                                "goal <= heartbeat 500 ms + 50 ms")):
        d = fault_delays(b, reps, phase, extra)
        ready = [x[0] for x in d]
        start = [x[1] for x in d]
        name = "kill -9 mid-step" if phase == "step" else "SIGSTOP"
        print(f"{name}: fault -> state resynced median {statistics.median(ready):.1f} ms "
              f"(max {max(ready):.1f}) | fault -> next step starts median "
              f"{statistics.median(start):.1f} ms ({goal}; {len(d)} runs)")
        phases = [x[2] for x in d]
        print("    regroup record medians: " + " ".join(
            f"{k} {statistics.median([p[k] for p in phases]):.1f}"
            for k in ("agree_ms", "form_ms", "state_ms", "total_ms")))


RESTART_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "restart_baseline.py")


def restart(b, reps, hemingway_stall):
    print("== the torchrun way: stop all workers, start the new world, reload a checkpoint ==")
    # Debian's python3-torch lives with Debian's interpreter, whatever PATH says.
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
    probe = subprocess.run([py, "-c", "import torch"], capture_output=True)
    if probe.returncode != 0:
        print("restart: SKIPPED (python3-torch, the bench peer, is not installed: "
              "third_party/install.sh bench)")
        return
    stalls = []
    for rep in range(reps):
        with tempfile.TemporaryDirectory() as d:
            marks = os.path.join(d, "marks")
            for world, phase in ((2, "first"), (3, "second")):
                p = subprocess.run([b.run_bin, "--timeout", "60", "--nproc-per-node", str(world),
                                    "--", py, "-u", RESTART_SCRIPT, "--phase", phase, "--dir", d],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   timeout=300)
                if p.returncode != 0:
                    print(p.stdout[-2000:])
                    sys.exit("restart baseline failed")
            m = dict(line.split() for line in open(marks))
            stalls.append((float(m["first_step_end"]) - float(m["last_step_end"])) * 1000
                          - float(m["step_ms"]))
    med = statistics.median(stalls)
    print(f"2 -> 3 workers the torchrun way: stall median {med:.0f} ms ({reps} runs: "
          f"save, exit, start python workers, init_process_group, load, first step)")
    print(f"    Hemingway elastic 2 -> 3 stall median {hemingway_stall:.1f} ms | ratio "
          f"{med / hemingway_stall:.0f}x")


def run_matrix_case(b, kind, seed):
    rnd = random.Random(seed)
    steps = 30
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "log.jsonl")
        # Every bucket by the ring (1M parameters are below its 4 MiB threshold
        # at world 3): its waits and aborts are what a fault must not break.
        worker = ["--hidden", "1000", "--log", log, "--iterations", str(steps), "--pid-dir", d,
                  "--ring-min-bytes", "0"]
        launcher = ["--nproc-per-node", "3", "--max-workers", "3", "--on-failure", "shrink"]
        env = {}
        k = 5 + rnd.randrange(15)
        w = rnd.randrange(3)
        if kind == "mid-step":
            worker += ["--kill-at", f"{k}:{w}:step"]
        elif kind == "mid-allreduce":
            worker += ["--kill-at", f"{k}:{w}:allreduce"]
        elif kind == "sigstop":
            worker += ["--kill-at", f"{k}:{w}:stop"]
            launcher += ["--heartbeat-timeout", "0.5"]
        elif kind in ("mid-rescale", "mid-state-transfer"):
            launcher = ["--nproc-per-node", "3", "--max-workers", "4", "--on-failure", "shrink"]
            worker += ["--request", f"{k}:4"]
            victim = rnd.randrange(4) if kind == "mid-rescale" else rnd.choice([0, 3])
            env["HEMINGWAY_FAILPOINT"] = f"{'form' if kind == 'mid-rescale' else 'state'}:{victim}:1"
        elif kind == "parked":
            launcher = ["--nproc-per-node", "2", "--max-workers", "3", "--on-failure", "replace"]
            worker += ["--request", "20:3"]
        t0 = time.time()
        if kind == "parked":
            p = b.launch(launcher, worker, env, background=True)
            pid_file = os.path.join(d, "2.pid")
            while not os.path.exists(pid_file) and time.time() - t0 < 30:
                time.sleep(0.01)
            time.sleep(rnd.uniform(0.2, 1.0))
            try:
                os.kill(int(open(pid_file).read()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            try:
                text, _ = p.communicate(timeout=120)
                code = p.returncode
            except subprocess.TimeoutExpired:
                p.kill()
                text, code = p.communicate()[0], None
        else:
            code, text, _ = b.launch(launcher, worker, env, timeout=120)
        seconds = time.time() - t0
        rs = records(log)
    problems = []
    if code is None:
        problems.append("hang (killed after 120 s)")
    elif code != 0:
        problems.append(f"exit {code}")
    ends = [r for r in rs if r["event"] == "run_end"]
    if not ends or any(e["steps"] != steps for e in ends):
        problems.append("run_end missing or short")
    if len({e["param_checksum"] for e in ends}) > 1:
        problems.append("param_checksum differs between ranks")
    gens = {}
    seen = set()
    for r in rs:
        if r["event"] != "step":
            continue
        key = (r["generation"], r["rank"], r["step"])
        if key in seen:
            problems.append(f"step {r['step']} recorded twice")
        seen.add(key)
        gens.setdefault(r["step"], set()).add(r["generation"])
    lost = [s for s in range(steps) if s not in gens]
    twice = [s for s, g in gens.items() if len(g) > 1]
    if lost:
        problems.append(f"committed steps missing: {lost[:5]}")
    if twice:
        problems.append(f"steps applied in two generations: {twice[:5]}")
    return problems, seconds, text


def matrix(b, seeds):
    kinds = ["mid-step", "mid-allreduce", "mid-rescale", "mid-state-transfer", "parked", "sigstop"]
    print(f"== fault matrix: {seeds} seeds x {len(kinds)} faults (1M parameters, world 3, "
          "every bucket by the ring) ==")
    total_bad = 0
    for kind in kinds:
        bad, times = 0, []
        for seed in range(seeds):
            problems, seconds, text = run_matrix_case(b, kind, seed)
            times.append(seconds)
            if problems:
                bad += 1
                print(f"    {kind} seed {seed}: {'; '.join(problems)}")
                print("      " + "\n      ".join(text.strip().splitlines()[-6:]))
        total_bad += bad
        print(f"{kind:20s} {seeds - bad}/{seeds} clean | run time median "
              f"{statistics.median(times):.1f} s, max {max(times):.1f} s")
    print(f"fault matrix: {total_bad} failing runs of {seeds * len(kinds)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--part", default="stall,overhead,light,faults,restart,matrix")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--baseline", help="another build to compare with (part light)")
    a = ap.parse_args()
    b = Bench(a.build)
    parts = a.part.split(",")
    hemingway_stall = float("nan")
    if "stall" in parts:
        hemingway_stall = stall(b, max(1, a.reps // 2 + 1))
    if "overhead" in parts:
        overhead(b, a.reps)
    if "light" in parts:
        light([b] + ([Bench(a.baseline)] if a.baseline else []), a.reps)
    if "faults" in parts:
        faults(b, a.reps)
    if "restart" in parts:
        restart(b, a.reps, hemingway_stall)
    if "matrix" in parts:
        matrix(b, a.seeds)


if __name__ == "__main__":
    main()
