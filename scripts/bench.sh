#!/usr/bin/env bash
# Benchmarks: libmeter against boto3, the AWS SDK for JavaScript and wrk (the
# ceiling) on the same meter-sandbox, on this machine, in this run; then the
# Tackle, AppDirect and reliable-mode figures and how costs grow. Writes
# bench/RESULTS.md and prints the summary. Method: docs/performance.md.
#
#   scripts/bench.sh           the full run (about 10 minutes on 2 cores)
#   scripts/bench.sh --quick   one short run of each (checks the script;
#                              writes bench/work/RESULTS-quick.md instead)
#
# Installs what it needs (Debian packages as scripts/test.sh does, plus
# nodejs/npm and python3-boto3 when missing; the JavaScript peers from
# bench/package.json into bench/node_modules with npm).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$METER_ROOT"

SCRIPT_START=$(date +%s)
QUICK=0
if [ "${1:-}" = "--quick" ]; then
  QUICK=1
elif [ $# -gt 0 ]; then
  echo "usage: scripts/bench.sh [--quick]" >&2
  exit 2
fi
RUNS=5      # timed runs per figure (the report takes the median)
SECS=1      # seconds per timed run (wrk takes whole seconds)
WARM=1      # warm-up run, discarded
JS_WARM=4   # Node's JIT needs ~4 s of calls to reach its steady rate (measured)
SIGN_SECS=1
RSS_RECORDS=1000000
if [ "$QUICK" = 1 ]; then
  RUNS=1 SIGN_SECS=0.2 RSS_RECORDS=20000 JS_WARM=1
fi

BUILD=build/bench-release
WORK=bench/work/$(date -u +%Y%m%dT%H%M%SZ)
OUT=$WORK/results.jsonl
mkdir -p "$WORK"
: >"$OUT"

# ---- dependencies ------------------------------------------------------------

install_bench_deps() {
  local want=()
  command -v node >/dev/null 2>&1 || want+=(nodejs)
  command -v npm >/dev/null 2>&1 || want+=(npm)
  python3 -c 'import boto3' 2>/dev/null || want+=(python3-boto3)
  command -v taskset >/dev/null 2>&1 || want+=(util-linux)
  command -v uptime >/dev/null 2>&1 || want+=(procps)
  [ ${#want[@]} -eq 0 ] && return 0
  log "installing: ${want[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
}

install_deps
install_bench_deps

log "release build (-O2, no sanitizers) in $BUILD"
cmake -S "$METER_ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG" -DMETER_BUILD_BENCH=ON -DMETER_WERROR=OFF \
  -DMETER_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target meter-sandbox bench_sigv4 bench_send bench_delivery \
  pipeline_bench >/dev/null
# fleet_bench needs libpq (the build turns the fleet store off without it).
FLEET_BENCH=$BUILD/tests/integration/fleet/fleet_bench
cmake --build "$BUILD" -j "$JOBS" --target fleet_bench >/dev/null 2>&1 || FLEET_BENCH=""
SANDBOX=$BUILD/tools/sandbox/meter-sandbox
B=$BUILD/bench
PIPELINE_BENCH=$BUILD/tests/integration/pipeline/pipeline_bench

log "JavaScript peers (bench/package.json, exact versions)"
(cd bench && npm install --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null)
export NODE_NO_WARNINGS=1   # the SDK's "upgrade node" notice on stderr

# ---- placement -----------------------------------------------------------------

# meter-sandbox on the first core, every client on the second: each side has
# a core of its own, whatever client runs.
SBX_PIN=() CLI_PIN=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
  SBX_PIN=(taskset -c 0)
  CLI_PIN=(taskset -c 1)
fi

# ---- the sandbox ------------------------------------------------------------------

SBX_FLAGS=(--port 0 --threads 1 --bench --tackle-send-delay 86400000 --appdirect-processing-ms 0)
SBX_PID=""
cleanup() {
  if [ -n "$SBX_PID" ]; then
    kill "$SBX_PID" 2>/dev/null || true
    wait "$SBX_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

"${SBX_PIN[@]}" "$SANDBOX" "${SBX_FLAGS[@]}" >"$WORK/sandbox.line" 2>"$WORK/sandbox.log" &
SBX_PID=$!
for _ in $(seq 100); do
  [ -s "$WORK/sandbox.line" ] && break
  sleep 0.05
done
URL=$(sed -n 's/^meter-sandbox listening on //p' "$WORK/sandbox.line")
[ -n "$URL" ] || { echo "meter-sandbox did not start" >&2; cat "$WORK/sandbox.log" >&2; exit 1; }

control() { # METHOD PATH: a control call, the answer on stdout
  python3 - "$1" "$URL$2" <<'EOF'
import sys, urllib.request
req = urllib.request.Request(sys.argv[2], method=sys.argv[1], data=b"" if sys.argv[1] == "POST" else None)
print(urllib.request.urlopen(req).read().decode())
EOF
}

# Usage an hour ago: inside every window (MeterUsage 6 h, BatchMeterUsage 24 h)
# and the same for every client and every run.
USAGE_TIME=$(( $(date +%s) / 3600 * 3600 - 3600 ))

# ---- metadata --------------------------------------------------------------------

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
python3 - "$WORK/meta.json" <<EOF
import json, os, platform, subprocess, sys
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return ""
def pkg(name):
    try:
        return json.load(open(os.path.join("bench/node_modules", name, "package.json")))["version"]
    except Exception:
        return "?"
meta = {
  "date_utc": sh("date -u +'%Y-%m-%d %H:%M UTC'"),
  "git": sh("git rev-parse --short HEAD") + (" (with local changes)" if sh("git status --porcelain --untracked-files=no") else ""),
  "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
  "cores": os.cpu_count(),
  "memory": sh("free -h | awk '/Mem:/ {print \$2}'"),
  "kernel": platform.release(),
  "virtualization": sh("systemd-detect-virt 2>/dev/null") or sh("grep -q hypervisor /proc/cpuinfo && echo 'a hypervisor (cpuinfo flag)'") or "none detected",
  "os": sh(". /etc/os-release && echo \$PRETTY_NAME"),
  "load_before": sh("cut -d' ' -f1-3 /proc/loadavg"),
  "compiler": sh("cc --version | head -1"),
  "libmeter": sh("grep -E '#define METER_VERSION_(MAJOR|MINOR|PATCH) ' include/meter/version.h | awk '{print \$3}' | paste -sd.") ,
  "curl": sh("curl-config --version 2>/dev/null || pkg-config --modversion libcurl"),
  "openssl": sh("openssl version"),
  "libmicrohttpd": sh("pkg-config --modversion libmicrohttpd"),
  "sqlite": sh("pkg-config --modversion sqlite3"),
  "python": platform.python_version(),
  "boto3": sh("python3 -c 'import boto3; print(boto3.__version__)'"),
  "botocore": sh("python3 -c 'import botocore; print(botocore.__version__)'"),
  "node": sh("node --version"),
  "npm": sh("npm --version 2>/dev/null"),
  "js_sdk": pkg("@aws-sdk/client-marketplace-metering"),
  "smithy_signature_v4": pkg("@smithy/signature-v4"),
  "smithy_core": pkg("@smithy/core"),
  "wrk": sh("wrk -v 2>&1 | head -1"),
  "pinning": "meter-sandbox on CPU 0, every client on CPU 1 (taskset)" if "${SBX_PIN[*]}" else "none (fewer than 2 cores)",
  "sandbox_flags": "${SBX_FLAGS[*]}",
  "runs": $RUNS, "seconds_per_run": $SECS, "warmup_seconds": $WARM, "js_warmup_seconds": $JS_WARM,
  "quick": $QUICK, "started": $SCRIPT_START,
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
EOF
log "machine: $(nproc) cores, load average $(loadavg); results in $WORK"

note_load() { # a marker line with the load average and the time between sections
  printf '{"group":"_load","client":"%s","run":0,"load":"%s","t":%s}\n' "$1" "$(loadavg)" \
    "$(date +%s)" >>"$OUT"
}

# ---- runners ------------------------------------------------------------------------

# wrk GROUP CONCURRENCY RECORDS_PER_REQUEST KIND [make_script args]: the
# ceiling; the script (and its signature, valid for 5 minutes) is made right
# before the runs of each figure; run 0 is the warm-up.
run_wrk() {
  local group=$1 conc=$2 per=$3 kind=$4
  shift 4
  python3 bench/wrk/make_script.py "$URL" "$kind" --time "$USAGE_TIME" "$@" >"$WORK/wrk.lua"
  for run in $(seq 0 "$RUNS"); do
    local secs=$SECS
    [ "$run" = 0 ] && secs=$WARM
    "${CLI_PIN[@]}" wrk -t1 -c"$conc" -d"${secs}s" --latency -s "$WORK/wrk.lua" "$URL" >"$WORK/wrk.out"
    [ "$run" = 0 ] && continue
    python3 bench/to_json.py wrk --group "$group" --run "$run" --concurrency "$conc" \
      --batch "$per" <"$WORK/wrk.out" >>"$OUT"
  done
}

run_libmeter() { # GROUP THREADS [bench_send args]
  local group=$1 threads=$2
  shift 2
  "${CLI_PIN[@]}" "$B/bench_send" --endpoint "$URL" --group "$group" --threads "$threads" \
    --seconds "$SECS" --warmup "$WARM" --runs "$RUNS" --time "$USAGE_TIME" "$@" >>"$OUT"
}

run_boto3() { # GROUP THREADS meter|batch [args]
  local group=$1 threads=$2 op=$3
  shift 3
  "${CLI_PIN[@]}" python3 bench/peers/send_boto3.py "$URL" "$op" --group "$group" \
    --threads "$threads" --seconds "$SECS" --warmup "$WARM" --runs "$RUNS" \
    --time "$USAGE_TIME" "$@" >>"$OUT"
}

run_jssdk() { # GROUP CONCURRENCY meter|batch [args]
  local group=$1 conc=$2 op=$3
  shift 3
  "${CLI_PIN[@]}" node bench/peers/send_jssdk.js "$URL" "$op" --group "$group" \
    --concurrency "$conc" --seconds "$SECS" --warmup "$JS_WARM" --runs "$RUNS" \
    --time "$USAGE_TIME" "$@" >>"$OUT"
}

# ---- 1. SigV4 signing ------------------------------------------------------------------

log "1/7 SigV4 signatures per second (one thread)"
note_load sigv4
REQ=bench/sigv4_request.json
{
  echo "libmeter: $($B/bench_sigv4 --request $REQ --check)"
  echo "botocore: $(python3 bench/peers/sigv4_botocore.py $REQ --check)"
  echo "smithy:   $(node bench/peers/sigv4_smithy.js $REQ --check)"
} >"$WORK/sigv4_check.txt"
sigs=$(sed 's/.*Signature=//' "$WORK/sigv4_check.txt" | sort -u | wc -l)
printf '{"group":"_sigv4_check","client":"all","run":0,"same_signature":%s}\n' \
  "$([ "$sigs" = 1 ] && echo true || echo false)" >>"$OUT"
common=(--seconds "$SIGN_SECS" --runs "$RUNS" --warmup 0.5)
"${CLI_PIN[@]}" "$B/bench_sigv4" --request $REQ --cache 1 "${common[@]}" >>"$OUT"
"${CLI_PIN[@]}" "$B/bench_sigv4" --request $REQ --cache 0 "${common[@]}" >>"$OUT"
"${CLI_PIN[@]}" python3 bench/peers/sigv4_botocore.py $REQ "${common[@]}" >>"$OUT"
"${CLI_PIN[@]}" node bench/peers/sigv4_smithy.js $REQ "${common[@]}" >>"$OUT"

# ---- 2. synchronous MeterUsage ------------------------------------------------------------

log "2/7 synchronous MeterUsage at 1, 2, 4, 8 concurrent senders"
for c in 1 2 4 8; do
  note_load "meter_usage c=$c"
  control POST /_sandbox/reset >/dev/null
  run_wrk meter_usage "$c" 1 aws-meter
  run_libmeter meter_usage "$c" --backend aws --meter-usage
  run_boto3 meter_usage "$c" meter
  run_jssdk meter_usage "$c" meter
done

# The same at 8 senders with the client free to run on both cores (the
# sandbox stays on its own): how much of the gap to wrk is one core shared
# by 8 threads.
note_load "meter_usage unpinned c=8"
control POST /_sandbox/reset >/dev/null
PINNED=("${CLI_PIN[@]}")
CLI_PIN=()
run_wrk meter_usage_unpinned 8 1 aws-meter
run_libmeter meter_usage_unpinned 8 --backend aws --meter-usage
run_boto3 meter_usage_unpinned 8 meter
run_jssdk meter_usage_unpinned 8 meter
CLI_PIN=("${PINNED[@]}")

# ---- 3. BatchMeterUsage ------------------------------------------------------------------

log "3/7 BatchMeterUsage, 25 records per request, 1 and 4 concurrent senders"
for c in 1 4; do
  note_load "batch c=$c"
  control POST /_sandbox/reset >/dev/null
  run_wrk batch "$c" 25 aws-batch --records 25
  run_libmeter batch "$c" --backend aws --batch 25
  run_boto3 batch "$c" batch --batch 25
  run_jssdk batch "$c" batch --batch 25
done

# ---- 4. Tackle PUT and AppDirect ---------------------------------------------------------------

log "4/7 Tackle PUT and AppDirect usage, libmeter against the ceiling (4 senders)"
for k in 1 10 100; do
  note_load "tackle batch=$k"
  run_wrk "tackle_put" 4 "$k" tackle --records "$k"
  run_libmeter "tackle_put" 4 --backend tackle --batch "$k"
done
for k in 1 25 250; do
  note_load "appdirect batch=$k"
  run_wrk appdirect 4 "$k" appdirect --records "$k"
  run_libmeter appdirect 4 --backend appdirect --batch "$k"
done
control GET /_sandbox/ledger | python3 -c 'import json,sys; b=json.load(sys.stdin).get("bench",{}); print(json.dumps({"group":"_appdirect_counted","client":"sandbox","run":0,**b}))' >>"$OUT"

# ---- 5. cost growth ---------------------------------------------------------------------------

log "5/7 cost growth: batch size and record size"
for k in 1 5; do
  note_load "batch growth k=$k"
  run_wrk batch_growth 4 "$k" aws-batch --records "$k"
  run_libmeter batch_growth 4 --backend aws --batch "$k"
done
for pad in 64 255; do
  run_libmeter record_size 4 --backend aws --batch 25 --pad "$pad" --client "libmeter, strings of $pad"
done
for n in 10 40; do
  run_libmeter allocations 4 --backend aws --meter-usage --allocations "$n" \
    --client "libmeter, $n allocations"
done

# ---- 6. reliable mode -------------------------------------------------------------------------

log "6/7 reliable mode: durable submits, memory with $RSS_RECORDS records spooled, delivery"
note_load reliable
SPOOL_DIR=$WORK/spool
pipeline() { # GROUP LABEL [pipeline_bench args]: RUNS runs after a warm-up
  local group=$1 label=$2
  shift 2
  for run in $(seq 0 "$RUNS"); do
    mkdir -p "$SPOOL_DIR"   # pipeline_bench removes its directory when done
    "${CLI_PIN[@]}" "$PIPELINE_BENCH" --dir "$SPOOL_DIR" "$@" >"$WORK/pipeline.out"
    [ "$run" = 0 ] && continue
    python3 bench/to_json.py pipeline --group "$group" --client "$label" --run "$run" \
      <"$WORK/pipeline.out" >>"$OUT"
  done
}
pipeline submit "meter_submit, 1 thread, fsync" --threads 1 --records 2000 --durability full
pipeline submit "meter_submit, 4 threads, fsync" --threads 4 --records 1000 --durability full
pipeline submit "meter_submit, 4 threads, no fsync" --threads 4 --records 10000 --durability process
pipeline submit "meter_submit_batch of 500, 1 thread, fsync" --threads 1 --records 100000 \
  --batch 500 --durability full
pipeline rss "$RSS_RECORDS records submitted (batches of 500, built on the fly)" --threads 1 \
  --records "$RSS_RECORDS" --batch 500 --durability process --on-the-fly
mkdir -p "$SPOOL_DIR"
"${CLI_PIN[@]}" "$B/bench_delivery" --endpoint "$URL" --records 5000 --runs "$RUNS" \
  --durability full --dir "$SPOOL_DIR" >>"$OUT"
"${CLI_PIN[@]}" "$B/bench_delivery" --endpoint "$URL" --records 20000 --runs "$RUNS" \
  --durability process --dir "$SPOOL_DIR" >>"$OUT"
rm -rf "$SPOOL_DIR"

# ---- 7. fleet mode -----------------------------------------------------------------------------

# fleet_bench starts a throwaway PostgreSQL cluster (fsync off: a commit costs
# the round trip and the server's work, not this VM's disk) and forks the
# replicas; server and replicas share both cores, so no pinning here. Each
# run starts its own cluster (about 4 s), so four lines keep the script short.
if [ -n "$FLEET_BENCH" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "7/7 fleet mode: submits per replica into PostgreSQL"
  note_load fleet
  fleet() { # LABEL [fleet_bench args]: RUNS runs after a warm-up
    local label=$1
    shift
    for run in $(seq 0 "$RUNS"); do
      "$FLEET_BENCH" "$@" >"$WORK/fleet.out"
      [ "$run" = 0 ] && continue
      python3 bench/to_json.py fleet --group fleet --client "$label" --run "$run" \
        <"$WORK/fleet.out" >>"$OUT"
    done
  }
  F=$([ "$QUICK" = 1 ] && echo 1 || echo 3)   # records scale
  fleet "1 replica x 1 thread" --replicas 1 --threads 1 --records $((1000 * F))
  fleet "4 replicas x 1 thread" --replicas 4 --threads 1 --records $((700 * F))
  fleet "4 replicas x 4 threads" --replicas 4 --threads 4 --records $((300 * F))
  fleet "4 replicas x 1 thread, batches of 100" --replicas 4 --threads 1 \
    --records $((5000 * F)) --batch 100
else
  log "7/7 fleet mode: skipped (no fleet_bench or no PostgreSQL server; run scripts/test.sh first)"
fi

note_load end
python3 - "$WORK/meta.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["load_after"] = open("/proc/loadavg").read().split()[:3]
m["load_after"] = " ".join(m["load_after"])
json.dump(m, open(sys.argv[1], "w"), indent=1)
EOF

# ---- report ----------------------------------------------------------------------------------

if [ "$QUICK" = 1 ]; then
  python3 bench/report.py "$WORK" "$WORK/RESULTS-quick.md"
else
  python3 bench/report.py "$WORK" bench/RESULTS.md
fi
