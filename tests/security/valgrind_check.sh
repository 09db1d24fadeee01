#!/usr/bin/env bash
# Runs the examples and a representative set of meter commands against
# meter-sandbox under valgrind memcheck: every run must have 0 definite or
# indirect leaks and 0 memory errors (valgrind's exit status 99 otherwise).
# Also exercises retries: some runs have faults injected.
#
# Usage: valgrind_check.sh BUILD_DIR
set -euo pipefail
BUILD=$1
SANDBOX=$BUILD/tools/sandbox/meter-sandbox
METER=$BUILD/tools/meter/meter
EX=$BUILD/examples
VG=(valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no
    --trace-children=no --num-callers=30)
command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 1; }

WORK=$(mktemp -d /tmp/meter-valgrind-XXXXXX)
SBX_PID=""
cleanup() { [ -n "$SBX_PID" ] && kill "$SBX_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
coproc SBX { exec "$SANDBOX" --port 0 2>"$WORK/sandbox.log"; }
SBX_PID=$SBX_PID
read -r line <&"${SBX[0]}"
URL=${line##* }
export HOME=$WORK   # never a real ~/.config/meter/config or ~/.aws

runs=0 failures=0
# check NAME EXPECTED_STATUS... -- COMMAND...: runs COMMAND under valgrind.
check() {
  local name=$1; shift
  local ok=()
  while [ "$1" != "--" ]; do ok+=("$1"); shift; done
  shift
  runs=$((runs + 1))
  local rc=0
  "${VG[@]}" --log-file="$WORK/vg-$runs.log" "$@" >"$WORK/out-$runs.log" 2>&1 </dev/null || rc=$?
  local good=0
  for s in "${ok[@]}"; do [ "$rc" = "$s" ] && good=1; done
  if [ "$rc" = 99 ] || [ -s "$WORK/vg-$runs.log" ] || [ "$good" = 0 ]; then
    failures=$((failures + 1))
    echo "FAIL $name (exit $rc, expected ${ok[*]})"
    cat "$WORK/vg-$runs.log" "$WORK/out-$runs.log" | head -80
  else
    echo "ok   $name"
  fi
}
fault() { curl -sf -X POST "$URL/_sandbox/faults" -d "$1" >/dev/null; }
nofaults() { curl -sf -X DELETE "$URL/_sandbox/faults" >/dev/null; }

T=$(date -u -d "@$(( ($(date +%s) / 3600 - 2) * 3600 ))" +%Y-%m-%dT%H:%M:%SZ)
TK=(--client-id sandbox-tackle-id --client-secret sandbox-tackle-secret)
AD=(--client-id sandbox-appdirect-id --client-secret sandbox-appdirect-secret)
AW=(--region us-east-1 --access-key-id AKIDSANDBOXEXAMPLE --secret-access-key 'sandbox+secret/KEY/EXAMPLE')
FAST=(--backoff-base-ms 1 --backoff-max-ms 5)

# ---- the examples
export TACKLE_CLIENT_ID=sandbox-tackle-id TACKLE_CLIENT_SECRET=sandbox-tackle-secret
export APPDIRECT_CLIENT_ID=sandbox-appdirect-id APPDIRECT_CLIENT_SECRET=sandbox-appdirect-secret
export AWS_ACCESS_KEY_ID=AKIDSANDBOXEXAMPLE AWS_SECRET_ACCESS_KEY='sandbox+secret/KEY/EXAMPLE'
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
check "example records" 0 -- "$EX/records"
check "example tackle" 0 -- "$EX/tackle" "$URL" prod-x cust-x seats 9
check "example tackle (rejected)" 1 -- "$EX/tackle" "$URL" prod-x unknown-cust seats 1
check "example appdirect" 0 -- "$EX/appdirect" "$URL" acc-9 USER 12.5
check "example aws" 0 -- "$EX/aws" "$URL" sandbox-registration-token gb 30
check "example aws (expired token)" 1 2 3 4 -- "$EX/aws" "$URL" expired-token gb 30
check "example batch" 0 -- "$EX/batch" "$URL" 60
[ -x "$EX/cpp_example" ] && check "example cpp" 0 -- "$EX/cpp_example" "$URL"
fault '{"route":"*","kind":"error503","rate":0.3}'
check "example reliable (faults)" 0 -- "$EX/reliable" "$URL" "$WORK/reliable.spool" 20000
nofaults
unset TACKLE_CLIENT_ID TACKLE_CLIENT_SECRET APPDIRECT_CLIENT_ID APPDIRECT_CLIENT_SECRET
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

# ---- the meter command
check "meter help" 0 -- "$METER" help
check "meter help config" 0 -- "$METER" help config
check "meter send (bad flag)" 2 -- "$METER" send --no-such-flag
check "meter send tackle" 0 -- "$METER" send -b tackle --endpoint "$URL" "${TK[@]}" \
  --product p --customer vg-1 --dimension users --quantity 3 --time "$T" --json
check "meter send appdirect" 0 -- "$METER" send -b appdirect --endpoint "$URL" "${AD[@]}" \
  --customer vg-2 --pricing-unit USER --quantity 2 --time "$T"
check "meter send aws" 0 -- "$METER" send -b aws --endpoint "$URL" "${AW[@]}" \
  --product p --customer vg-3 --dimension users --quantity 4 --time "$T"
check "meter send (refused credentials)" 4 -- "$METER" send -b tackle --endpoint "$URL" \
  --client-id sandbox-tackle-id --client-secret wrong --product p --customer c \
  --dimension users --quantity 1 --time "$T"
fault '{"route":"*","kind":"error503","rate":0.4}'
fault '{"route":"*","kind":"reset","rate":0.1}'
printf '{"customer":"vg-b1","quantity":1,"time":"%s"}\n{"customer":"vg-b2","quantity":2.5,"time":"%s"}\nnot json\n' \
  "$T" "$T" >"$WORK/batch.jsonl"
check "meter batch aws (faults, a bad line)" 2 -- "$METER" batch -b aws --endpoint "$URL" \
  "${AW[@]}" "${FAST[@]}" --product p --dimension users --file "$WORK/batch.jsonl" --json
check "meter batch tackle (faults)" 0 2 -- "$METER" batch -b tackle --endpoint "$URL" \
  "${TK[@]}" "${FAST[@]}" --product p --dimension users --file "$WORK/batch.jsonl"
nofaults
check "meter list" 0 -- "$METER" list -b tackle --endpoint "$URL" "${TK[@]}" --limit 5 --json
check "meter get (unknown)" 1 -- "$METER" get -b tackle --endpoint "$URL" "${TK[@]}" 00000000-0000-4000-8000-000000000000
check "meter resolve-customer" 0 -- "$METER" resolve-customer -b aws --endpoint "$URL" \
  "${AW[@]}" sandbox-registration-token
REQ=$("$METER" send -b appdirect --endpoint "$URL" "${AD[@]}" --customer vg-4 \
      --pricing-unit USER --quantity 1 --time "$T" --json | python3 -c \
      'import json,sys; print(json.loads(sys.stdin.readline())["request_id"])')
check "meter status --wait" 0 -- "$METER" status -b appdirect --endpoint "$URL" "${AD[@]}" \
  --wait "$REQ"
check "meter send --spool" 0 -- "$METER" send -b aws --endpoint "$URL" "${AW[@]}" \
  --product p --customer vg-5 --dimension users --quantity 1 --time "$T" --spool "$WORK/cli.spool"
check "meter spool deliver" 0 -- "$METER" spool deliver --spool "$WORK/cli.spool" -b aws \
  --endpoint "$URL" "${AW[@]}" --until-empty --flush-open-hours --wait-ms 60000
check "meter spool status" 0 -- "$METER" spool status --spool "$WORK/cli.spool"
check "meter spool list" 0 -- "$METER" spool list --spool "$WORK/cli.spool"

echo "$runs runs under valgrind, $failures failed"
[ "$failures" = 0 ]
