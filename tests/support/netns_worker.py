#!/usr/bin/env python3
"""Runs one hemingway-run worker in a network namespace chosen by its worker id.

    netns_worker.py NS0[:IF0] NS1[:IF1] -- PROGRAM ARGS...

Worker 0 (HEMINGWAY_WORKER_ID, else LOCAL_RANK) goes to NS0, every other
worker to NS1, so that every group of two or more workers spans both "hosts"
and its traffic crosses the link between them. With :IF, GLOO_SOCKET_IFNAME
is set to that interface; without, the worker finds its address itself (the
route toward MASTER_ADDR). The callers (tests/plugin/two_hosts_test.sh,
tests/bench/run_adaptive_benchmark.py --part netns) make the namespaces;
this wrapper only execs `ip netns exec NS PROGRAM ARGS...` (no shell),
keeping the worker's process id, environment and inherited descriptors.
Needs root.
"""
import os
import sys


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        print("usage: netns_worker.py NS0[:IF0] NS1[:IF1] -- PROGRAM ARGS...", file=sys.stderr)
        return 2
    places = []
    for spec in sys.argv[1:3]:
        ns, _, ifname = spec.partition(":")
        if not ns:
            print(f"netns_worker.py: '{spec}' names no namespace", file=sys.stderr)
            return 2
        places.append((ns, ifname))
    raw = os.environ.get("HEMINGWAY_WORKER_ID", os.environ.get("LOCAL_RANK", "0"))
    try:
        worker = int(raw)
    except ValueError:
        print(f"netns_worker.py: worker id '{raw}' is not a number", file=sys.stderr)
        return 2
    ns, ifname = places[0] if worker == 0 else places[1]
    if ifname:
        os.environ["GLOO_SOCKET_IFNAME"] = ifname
    os.execvp("ip", ["ip", "netns", "exec", ns] + sys.argv[4:])


if __name__ == "__main__":
    sys.exit(main())
