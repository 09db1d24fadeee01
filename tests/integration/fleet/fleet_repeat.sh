#!/bin/bash
# The heavier fleet test, repeated: each run starts a PostgreSQL cluster and
# meter-sandbox, runs replicas of a service on one shared spool per
# marketplace, SIGKILLs them at random while the sandbox injects faults, and
# checks that the ledger equals what was submitted, one report per bucket.
#
#   tests/integration/fleet/fleet_repeat.sh [BUILD_DIR] [RUNS]
#
# BUILD_DIR defaults to build/fleet (a CMake build with tests, the sandbox and
# libpq); RUNS to 20. Tuning: FLEET_PROCS (default here 4), FLEET_THREADS (3),
# FLEET_RECORDS (150), FLEET_KILLS (kills per phase, 8), FLEET_LEASE_MS (3000),
# FLEET_MARKETS. Exit status 0 only if every run passed.
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-$root/build/fleet}
runs=${2:-20}
bin=$build/tests/integration/fleet/test_fleet
[ -x "$bin" ] || { echo "fleet_repeat: $bin not built (ninja -C $build test_fleet)" >&2; exit 2; }

export FLEET_PROCS=${FLEET_PROCS:-4}
export FLEET_THREADS=${FLEET_THREADS:-3}
export FLEET_RECORDS=${FLEET_RECORDS:-150}
export FLEET_KILLS=${FLEET_KILLS:-8}
export FLEET_LEASE_MS=${FLEET_LEASE_MS:-3000}
export METER_SANDBOX=${METER_SANDBOX:-$build/tools/sandbox/meter-sandbox}

log=$(mktemp -t fleet_repeat.XXXXXX)
trap 'rm -f -- "$log"' EXIT
passed=0
failed=0
start=$(date +%s)
for i in $(seq 1 "$runs"); do
  seed=$((RANDOM * 32768 + RANDOM))
  if FLEET_SEED=$seed "$bin" > "$log" 2>&1; then
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
echo "fleet_repeat: $passed passed, $failed failed, $runs runs in $(( $(date +%s) - start )) s" \
     "(replicas $FLEET_PROCS, threads $FLEET_THREADS, records $FLEET_RECORDS, kills $FLEET_KILLS per phase)"
[ "$failed" -eq 0 ]
