#!/usr/bin/env bash
# Two "hosts" on one machine: network namespaces joined by a veth pair. One
# hemingway-run per namespace (--nnodes 2) trains fmnist_mlp across them, so
# Gloo must listen on the namespace's address rather than loopback, and the
# ring average runs its network schedule. Needs root and iproute2; exits 77
# (reported as skipped, not passed) where namespaces cannot be made.
# Then an elastic run across them: worker 0 on one host, a parked worker on
# the other, joining and leaving at step boundaries.
# Usage: two_hosts_test.sh HEMINGWAY_RUN FMNIST_MLP ELASTIC_WORKER
set -u
run=$1
mlp=$2
worker=$3
wrapper=$(cd "$(dirname "$0")/../support" && pwd)/netns_worker.py
[ "$(id -u)" = 0 ] || { echo "skipped: needs root for network namespaces"; exit 77; }
command -v ip >/dev/null || { echo "skipped: iproute2 (ip) is not installed"; exit 77; }
a=hwt$$a b=hwt$$b
work=$(mktemp -d)
cleanup() {
  ip netns del "$a" 2>/dev/null
  ip netns del "$b" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
if ! { ip netns add "$a" && ip netns add "$b" &&
  ip link add "v$$a" type veth peer name "v$$b" &&
  ip link set "v$$a" netns "$a" && ip link set "v$$b" netns "$b"; } 2>"$work/ip.err"; then
  echo "skipped: cannot create network namespaces here: $(cat "$work/ip.err")"
  exit 77
fi
set -e
ip -n "$a" addr add 192.168.231.1/24 dev "v$$a"
ip -n "$b" addr add 192.168.231.2/24 dev "v$$b"
for ns in "$a" "$b"; do
  ip -n "$ns" link set lo up
done
ip -n "$a" link set "v$$a" up
ip -n "$b" link set "v$$b" up
set +e

port=$((20000 + $$ % 20000))
# A run of several nodes shares one secret (the launcher refuses to start without it).
export HEMINGWAY_RUN_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
common=(--nnodes 2 --nproc-per-node 1 --master-addr 192.168.231.1 --master-port "$port" --timeout 20)
args=(--iterations 30 --hidden 64 --batch-size 32 --threads 1)
ip netns exec "$a" timeout 120 "$run" "${common[@]}" --node-rank 0 -- "$mlp" "${args[@]}" \
  --log "$work/a.jsonl" >"$work/a.out" 2>&1 &
pid=$!
ip netns exec "$b" timeout 120 "$run" "${common[@]}" --node-rank 1 -- "$mlp" "${args[@]}" \
  --log "$work/b.jsonl" >"$work/b.out" 2>&1
rb=$?
wait "$pid"
ra=$?
if [ "$ra" != 0 ] || [ "$rb" != 0 ]; then
  echo "FAIL: node 0 exited $ra, node 1 exited $rb"
  echo "--- node 0"; cat "$work/a.out"
  echo "--- node 1"; cat "$work/b.out"
  exit 1
fi
steps_a=$(grep -c '"event":"step"' "$work/a.jsonl")
steps_b=$(grep -c '"event":"step"' "$work/b.jsonl")
worlds=$(grep -ho '"world_size":[0-9]*' "$work/a.jsonl" "$work/b.jsonl" | sort -u)
if [ "$steps_a" != 30 ] || [ "$steps_b" != 30 ] || [ "$worlds" != '"world_size":2' ]; then
  echo "FAIL: step records $steps_a and $steps_b (want 30 each), world sizes: $worlds"
  exit 1
fi
echo "two hosts trained 30 steps together over 192.168.231.0/24"
grep -h "test accuracy" "$work/a.out" || true

unset HEMINGWAY_RUN_SECRET

# Elastic across the two hosts: one hemingway-run on host a hosts the store
# on a's address; worker 0 trains on a, worker 1 waits parked on b
# (netns_worker.py puts it there); rank 0 asks for 2 workers at step 10 and
# for 1 at step 20. Worker 0 starts alone, so it must listen on a's address,
# not on loopback, for b to join it. (Gloo's side with the higher address
# connects: the addresses lie above 127.0.0.1 so that b would connect to a
# worker 0 on loopback, and fail, rather than a connect out from loopback.)
eport=$((port + 2))
sent() { ip netns exec "$b" cat "/sys/class/net/v$$b/statistics/tx_bytes"; }
before=$(sent)
ip netns exec "$a" timeout 120 "$run" --nproc-per-node 1 --max-workers 2 \
  --master-addr 192.168.231.1 --master-port "$eport" --timeout 20 -- \
  "$wrapper" "$a" "$b" -- "$worker" --steps 30 --sleep-ms 20 --request 10:2,20:1 --log "$work/e.jsonl" \
  >"$work/e.out" 2>&1
re=$?
changes=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event") == "regroup":
        print("{}->{}".format(r["from_world_size"], r["to_world_size"]), end=" ")
' "$work/e.jsonl" 2>&1)
two=$(grep '"event":"step"' "$work/e.jsonl" | grep -c '"world_size":2')
from_b=$(($(sent) - before))
# (A request takes effect at a step boundary soon after it, not at its step.)
if [ "$re" != 0 ] || [ "$changes" != "1->2 2->1 " ] || [ "$two" -lt 2 ] ||
  [ "$from_b" -lt 10000 ]; then
  echo "FAIL: elastic run across the hosts exited $re; regroups '$changes' (want 1->2" \
    "2->1); step records at world 2: $two (want some); bytes sent from b: $from_b" \
    "(want the joiner's traffic, >= 10000)"
  cat "$work/e.out"
  exit 1
fi
echo "an elastic run grew from host a to host b and shrank back: $changes($from_b bytes from b)"

# A single-node run's store is reachable from its own host only.
sport=$((port + 1))
ip netns exec "$a" timeout 60 "$run" --nproc-per-node 1 --master-port "$sport" -- sleep 4 \
  >"$work/single.out" 2>&1 &
spid=$!
sleep 1.5
ip netns exec "$a" timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$sport" 2>/dev/null
local_rc=$?
ip netns exec "$b" timeout 3 bash -c "exec 3<>/dev/tcp/192.168.231.1/$sport" 2>/dev/null
remote_rc=$?
wait "$spid"
if [ "$local_rc" != 0 ]; then
  echo "FAIL: the store of a single-node run was not reachable on loopback (control)"
  cat "$work/single.out"
  exit 1
fi
if [ "$remote_rc" = 0 ]; then
  echo "FAIL: another network namespace connected to a single-node run's store"
  exit 1
fi
echo "a single-node run's store refused a connection from another namespace"
