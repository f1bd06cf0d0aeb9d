#!/usr/bin/env bash
# Builds Hemingway's parser fuzz targets (clang's libFuzzer with the address
# and undefined-behaviour sanitizers) and runs each for SECONDS, starting from
# the seed corpus in tests/fuzz/corpus/. Prints, per target, the inputs run,
# crashes and hangs (a hang: one input over 10 s). Exits 0 when there were
# none; a crashing input is kept as WORK_DIR/crash-* to replay:
#   WORK_DIR/fuzz_TARGET WORK_DIR/crash-...
# Usage: tests/fuzz/run_fuzzers.sh WORK_DIR [SECONDS]   (default 30 s per target)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=${1:?usage: run_fuzzers.sh WORK_DIR [SECONDS]}
secs=${2:-30}
command -v clang++ >/dev/null || { echo "skipped: clang++ is not installed (third_party/install.sh)"; exit 77; }
mkdir -p "$work"
if ! { cmake -S "$here" -B "$work" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
       cmake --build "$work" -j2; } >"$work/build.log" 2>&1; then
  tail -20 "$work/build.log"
  echo "FAIL: the fuzz targets did not build (clang++ with libclang-rt-14-dev)"
  exit 1
fi
status=0
for t in jsonl csv libsvm idx; do
  corpus="$work/corpus/$t"
  mkdir -p "$corpus"
  [ -d "$here/corpus/$t" ] || { echo "FAIL: the seed corpus $here/corpus/$t is missing"; status=1; continue; }
  log="$work/$t.log"
  (cd "$work" && "./fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -print_final_stats=1 "$corpus" "$here/corpus/$t") >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $2}')
  hangs=$(grep -c 'ALARM: working on the last Unit' "$log")
  crashes=0
  if [ $rc -ne 0 ] && [ "$hangs" = 0 ]; then crashes=1; fi
  echo "fuzz $t: ${runs:-0} inputs in ${secs} s, $crashes crashes, $hangs hangs"
  if [ $rc -ne 0 ]; then
    status=1
    grep -m5 -E 'ERROR|runtime error|ALARM|deadly|out-of-memory' "$log"
  fi
done
exit $status
