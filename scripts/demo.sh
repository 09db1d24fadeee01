#!/usr/bin/env bash
# The main job: build libmeter, start the local sandbox marketplace, send usage
# to Tackle, AppDirect and AWS through the `meter` command — including one
# record the marketplace rejects and two sends that survive injected faults —
# then print the outcomes and the sandbox's ledger, and stop the sandbox.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$METER_ROOT"

install_deps

log "building libmeter, meter and meter-sandbox (build/demo)"
if ! build build/demo -DCMAKE_BUILD_TYPE=Release -DMETER_BUILD_TESTS=OFF >build/demo.log 2>&1; then
  cat build/demo.log >&2
  exit 1
fi
METER=build/demo/tools/meter/meter
SANDBOX=build/demo/tools/sandbox/meter-sandbox
WORK=$(mktemp -d)

log "starting meter-sandbox on a free loopback port"
"$SANDBOX" --port 0 --tackle-send-delay 1000 --appdirect-processing-ms 500 \
  >"$WORK/sandbox.out" 2>"$WORK/sandbox.err" &
SANDBOX_PID=$!
cleanup() {
  kill "$SANDBOX_PID" 2>/dev/null || true
  wait "$SANDBOX_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/sandbox.out" 2>/dev/null || true)
  [ -n "$URL" ] && break
  sleep 0.05
done
[ -n "$URL" ] || { cat "$WORK/sandbox.err" >&2; exit 1; }
echo "    sandbox at $URL"

# The sandbox's own credentials, given the way a user gives real ones.
export TACKLE_CLIENT_ID=sandbox-tackle-id TACKLE_CLIENT_SECRET=sandbox-tackle-secret
export APPDIRECT_CLIENT_ID=sandbox-appdirect-id APPDIRECT_CLIENT_SECRET=sandbox-appdirect-secret
export APPDIRECT_BASE_URL=$URL
export AWS_ACCESS_KEY_ID=AKIDSANDBOXEXAMPLE AWS_SECRET_ACCESS_KEY='sandbox+secret/KEY/EXAMPLE'
export AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN

control() { # control METHOD PATH [JSON]: the sandbox's control API
  python3 - "$URL$2" "$1" "${3:-}" <<'PY'
import sys, urllib.request
url, method, body = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request(url, data=body.encode() if body else None, method=method,
                             headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(req, timeout=10).read().decode())
PY
}

HOUR=$(date -u -d '1 hour ago' +%Y-%m-%dT%H:15:00Z)
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
run() { # run LABEL MARKETPLACE -- meter args...: records each result line
  local label=$1 market=$2
  shift 3
  local status=0
  "$METER" "$@" --endpoint "$URL" --json >"$WORK/out.jsonl" 2>"$WORK/err.txt" || status=$?
  while IFS= read -r line; do
    printf '%s\t%s\t%s\t%s\n' "$market" "$label" "$status" "$line" >>"$RESULTS"
  done <"$WORK/out.jsonl"
}

log "Tackle: PUT usage for two customers (one PUT answered 503 first, then retried)"
control POST /_sandbox/faults '{"route":"tackle.put","kind":"error503","count":1}' >/dev/null
cat >"$WORK/tackle.jsonl" <<EOF
{"product": "prod-analytics", "customer": "cust-acme", "dimension": "users", "quantity": 42, "time": "$HOUR"}
{"product": "prod-analytics", "customer": "cust-globex", "dimension": "users", "quantity": 7, "time": "$HOUR"}
EOF
run "put users (2 records)" tackle -- batch --backend tackle --file "$WORK/tackle.jsonl"

log "AppDirect: preconfigured and custom usage for one account, then the status query"
cat >"$WORK/appdirect.jsonl" <<EOF
{"account": "acct-initech", "pricing_unit": "USER", "quantity": 3, "time": "$HOUR"}
{"account": "acct-initech", "custom_unit": "GB-PROCESSED", "price": "0.25", "currency": "USD", "quantity": "12.5", "time": "$HOUR"}
EOF
run "usage (2 events)" appdirect -- batch --backend appdirect --file "$WORK/appdirect.jsonl"
REQUEST_ID=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["request_id"])' "$WORK/out.jsonl")
"$METER" status "$REQUEST_ID" --wait --endpoint "$URL" | sed 's/^/    /'

log "AWS: BatchMeterUsage for three customers; one has no subscription"
cat >"$WORK/aws.jsonl" <<EOF
{"product": "prod-analytics", "customer": "cust-acme", "dimension": "api_calls", "quantity": 1200, "time": "$HOUR"}
{"product": "prod-analytics", "customer": "cust-globex", "dimension": "api_calls", "quantity": 300, "time": "$HOUR"}
{"product": "prod-analytics", "customer": "unsubscribed-hooli", "dimension": "api_calls", "quantity": 5, "time": "$HOUR"}
EOF
run "batch (3 records)" aws -- batch --backend aws --file "$WORK/aws.jsonl"

log "AWS: the answer to this one is lost after the marketplace applied it; the retry carries the same record"
control POST /_sandbox/faults '{"route":"aws.BatchMeterUsage","kind":"drop_after_apply","count":1}' >/dev/null
run "apply-then-drop" aws -- send --backend aws --product prod-analytics --customer cust-initech \
  --dimension api_calls --quantity 77 --time "$HOUR"

log "outcomes"
python3 - "$RESULTS" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    market, label, status, js = line.rstrip("\n").split("\t", 3)
    r = json.loads(js)
    detail = r.get("message") or r.get("error_code") or r.get("status") or ""
    rows.append((market, label, r["outcome"], str(r["attempts"]), (r.get("record_id") or "-")[:13], status, detail[:64]))
head = ("marketplace", "send", "outcome", "attempts", "record id", "exit", "detail")
w = [max(len(x[i]) for x in rows + [head]) for i in range(len(head))]
fmt = "  ".join("{:<%d}" % n for n in w)
print(fmt.format(*head))
print(fmt.format(*["-" * n for n in w]))
for r in rows:
    print(fmt.format(*r))
PY

log "the sandbox's ledger: what each marketplace now holds"
control GET /_sandbox/ledger | python3 -c '
import json, sys
led = json.load(sys.stdin)
for e in led.get("tackle", []):
    print("  tackle     %-16s %-12s %-10s %s  qty %s  (%s)" % (e["product"], e["customer"], e["dimension"], e["hour"], e["quantity"], e["status"]))
for e in led.get("appdirect", []):
    print("  appdirect  %-16s %-12s %-10s event %s  qty %s" % ("-", e["account"], e["unit"], e["event_id"][:8], e["quantity"]))
for e in led.get("aws", []):
    print("  aws        %-16s %-12s %-10s %s  qty %s" % (e["product"], e["customer"], e["dimension"], e["hour"], e["quantity"]))
n = sum(len(v) for v in led.values() if isinstance(v, list))
print("  %d entries: each unit once, the retried ones included" % n)
'
log "done (the sandbox is stopped on exit)"
