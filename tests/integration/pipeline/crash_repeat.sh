#!/bin/bash
# The heavier crash test, repeated: each run forks RUNS x 3 marketplaces of
# children that are SIGKILLed at random moments while meter-sandbox injects
# faults, and checks the sandbox ledger equals the acknowledged submissions.
#
#   tests/integration/pipeline/crash_repeat.sh [BUILD_DIR] [RUNS]
#
# BUILD_DIR defaults to build/pipeline (a CMake build with tests and the
# sandbox); RUNS to 20. Tuning: PIPELINE_CRASH_ROUNDS (default here 10),
# PIPELINE_CRASH_THREADS (8), PIPELINE_CRASH_RECORDS (100),
# PIPELINE_CRASH_MAX_KILL_MS (1000). Exit status 0 only if every run passed.
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-$root/build/pipeline}
runs=${2:-20}
bin=$build/tests/integration/pipeline/test_pipeline_crash
[ -x "$bin" ] || { echo "crash_repeat: $bin not built (ninja -C $build test_pipeline_crash)" >&2; exit 2; }

export PIPELINE_CRASH_ROUNDS=${PIPELINE_CRASH_ROUNDS:-10}
export PIPELINE_CRASH_THREADS=${PIPELINE_CRASH_THREADS:-8}
export PIPELINE_CRASH_RECORDS=${PIPELINE_CRASH_RECORDS:-100}
export PIPELINE_CRASH_MAX_KILL_MS=${PIPELINE_CRASH_MAX_KILL_MS:-1000}
export METER_SANDBOX=${METER_SANDBOX:-$build/tools/sandbox/meter-sandbox}

log=$(mktemp -t crash_repeat.XXXXXX)
trap 'rm -f -- "$log"' EXIT
passed=0
failed=0
start=$(date +%s)
for i in $(seq 1 "$runs"); do
  seed=$((RANDOM * 32768 + RANDOM))
  if PIPELINE_CRASH_SEED=$seed "$bin" > "$log" 2>&1; then
    passed=$((passed + 1))
    status=ok
  else
    failed=$((failed + 1))
    status=FAILED
  fi
  echo "run $i/$runs (seed $seed): $status"
  grep -E '^(aws|tackle|appdirect):' "$log" | sed 's/^/    /'
  [ "$status" = ok ] || sed 's/^/    | /' "$log"
done
echo "crash_repeat: $passed passed, $failed failed, $((runs)) runs in $(( $(date +%s) - start )) s" \
     "(rounds $PIPELINE_CRASH_ROUNDS, threads $PIPELINE_CRASH_THREADS, records $PIPELINE_CRASH_RECORDS)"
[ "$failed" -eq 0 ]
