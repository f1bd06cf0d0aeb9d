"""A membership change done the torchrun way, the baseline of the elastic
benchmark (run_elastic_benchmark.py): every worker stops after saving a
checkpoint; a new world starts, loads it and trains. Same workload as
bench_elastic: a 1000 x 10000 linear layer (10M float parameters), batch 8,
SGD, 1 intra-op thread, Gloo.

    hemingway-run --nproc-per-node 2 -- restart_baseline.py --phase first --dir D
    hemingway-run --nproc-per-node 3 -- restart_baseline.py --phase second --dir D

D/marks gets last_step_end and step_ms (first) and first_step_end (second),
unix seconds and milliseconds.
"""
import argparse
import datetime
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.nn as nn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phase", choices=["first", "second"], required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    rank = dist.get_rank()
    torch.manual_seed(3)
    model = nn.Linear(1000, 10000)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    ckpt = os.path.join(a.dir, "ckpt.pt")
    if a.phase == "second":
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
    ddp = nn.parallel.DistributedDataParallel(model)
    x = torch.randn(8, 1000)

    def step():
        opt.zero_grad()
        ddp(x).pow(2).mean().backward()
        opt.step()

    marks = open(os.path.join(a.dir, "marks"), "a") if rank == 0 else None
    if a.phase == "first":
        times = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1000)
        end = time.time()
        if rank == 0:
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, ckpt)
            marks.write(f"last_step_end {end:.6f}\nstep_ms {statistics.median(times):.3f}\n")
    else:
        step()
        if rank == 0:
            marks.write(f"first_step_end {time.time():.6f}\n")
    if marks:
        marks.close()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
