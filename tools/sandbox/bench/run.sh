#!/bin/sh
# Throughput of meter-sandbox under wrk (docs/sandbox.md, "Throughput").
# usage: tools/sandbox/bench/run.sh BUILD_DIR [SECONDS] [CONNECTIONS] [THREADS]
# (THREADS: the sandbox's --threads; default: the number of cores)
set -eu
build=${1:?usage: run.sh BUILD_DIR [SECONDS] [CONNECTIONS] [THREADS]}
secs=${2:-10}
conns=${3:-64}
threads=${4:-$(nproc)}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
"$build/tools/sandbox/meter-sandbox" --port 0 --threads "$threads" --tackle-send-delay 86400000 \
  --appdirect-processing-ms 0 >"$tmp/line" 2>"$tmp/log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
while [ ! -s "$tmp/line" ]; do sleep 0.05; done
url=$(sed 's/.*listening on //' "$tmp/line")
TOKEN=$(curl -s -X POST "$url/v1/authenticate" \
  -d '{"client_id":"sandbox-tackle-id","client_secret":"sandbox-tackle-secret"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
export TOKEN
python3 "$here/sign_aws.py" "$url" >"$tmp/aws_batch.lua"
run() {
  echo "== $1"
  shift
  wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" | grep -E 'Requests/sec|Latency  |50%|99%|Non-2xx|Socket errors'
}
run "GET /_sandbox/health (no work: the HTTP floor)" "$url/_sandbox/health"
run "GET /_sandbox/health, a new connection per request" -H "Connection: close" "$url/_sandbox/health"
run "Tackle PUT, same record (idempotent replay)" -s "$here/tackle_put.lua" "$url/v1/metering/usage-records"
run "Tackle POST, a new record each time" -s "$here/tackle_post_new.lua" "$url/v1/metering/usage-records"
run "AWS BatchMeterUsage, 25 records, SigV4 verified, replayed" -s "$tmp/aws_batch.lua" "$url/"
echo "== ledger after the runs"
curl -s "$url/_sandbox/ledger" | python3 -c 'import json,sys; d=json.load(sys.stdin); print({k: len(v) for k, v in d.items()})'
