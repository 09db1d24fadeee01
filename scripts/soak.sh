#!/usr/bin/env bash
# Soak test (not in CI): mixed traffic to all three marketplaces of
# meter-sandbox, with injected faults, for a set time. A long-lived C client
# (tests/security/soak_driver.c) sends synchronously and through reliable-mode
# spools; the CLI sends a batch to each marketplace every minute. The client
# process's RSS and open file descriptors are sampled every 10 s and must stay
# flat; at the end the sandbox's ledger must hold exactly what was sent.
#
# Usage: scripts/soak.sh [--minutes N] [--build DIR] [--per-round N] [--reliable-every N]
#                        [--no-faults]
# (--reliable-every N: the spools get records every Nth round only, a lighter
# reliable-mode load; the default, every round, is the heavier soak test.)
# Writes its samples and logs to DIR/soak/ and prints a summary.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$METER_ROOT"

MINUTES=30 BUILD=build/soak PER_ROUND=2 FAULTS=1 RELIABLE_EVERY=1
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) MINUTES=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --per-round) PER_ROUND=$2; shift 2 ;;
    --reliable-every) RELIABLE_EVERY=$2; shift 2 ;;
    --no-faults) FAULTS=0; shift ;;
    *) echo "usage: $0 [--minutes N] [--build DIR] [--per-round N] [--reliable-every N]" \
         "[--no-faults]" >&2; exit 2 ;;
  esac
done

log "building in $BUILD"
cmake -S "$METER_ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target meter_soak meter-sandbox meter_cli
OUT=$BUILD/soak
rm -rf "$OUT"
mkdir -p "$OUT/spools"
SANDBOX=$BUILD/tools/sandbox/meter-sandbox
METER=$BUILD/tools/meter/meter
DRIVER=$BUILD/tests/security/meter_soak

SBX_PID="" DRV_PID=""
cleanup() {
  [ -n "$DRV_PID" ] && kill "$DRV_PID" 2>/dev/null || true
  [ -n "$SBX_PID" ] && kill "$SBX_PID" 2>/dev/null || true
}
trap cleanup EXIT

# The sandbox, on a free loopback port.
coproc SBX { exec "$SANDBOX" --port 0 2>"$OUT/sandbox.log"; }
SBX_PID=$SBX_PID
read -r line <&"${SBX[0]}"
URL=${line##* }
log "meter-sandbox at $URL (pid $SBX_PID)"

fault() { curl -sf -X POST "$URL/_sandbox/faults" -H 'Content-Type: application/json' -d "$1" >/dev/null; }
if [ "$FAULTS" = 1 ]; then
  # Every kind the reliable pipeline must survive, on every route.
  fault '{"route":"*","kind":"error503","rate":0.04}'
  fault '{"route":"*","kind":"error500","rate":0.02}'
  fault '{"route":"*","kind":"throttle","rate":0.03,"retry_after":1}'
  fault '{"route":"*","kind":"reset","rate":0.02}'
  fault '{"route":"*","kind":"drop_after_apply","rate":0.02}'
  fault '{"route":"*","kind":"slow","rate":0.01,"delay_ms":300}'
fi

SECONDS_TOTAL=$((MINUTES * 60))
"$DRIVER" "$URL" "$SECONDS_TOTAL" "$OUT/spools" "$PER_ROUND" "$RELIABLE_EVERY" >"$OUT/driver.out" 2>"$OUT/driver.err" &
DRV_PID=$!
log "soak for $MINUTES min: driver pid $DRV_PID, samples in $OUT/samples.csv"

echo "elapsed_s,rss_kb,fds" >"$OUT/samples.csv"
cli_records=(0 0 0) cli_quantity=(0 0 0)
backends=(tackle appdirect aws)
start=$(date +%s) next_cli=$start round=0
cli_batch() {   # cli_batch INDEX: one batch of 3 records, resent until delivered
  local b=${backends[$1]} f="$OUT/cli-$1-$round.jsonl" t
  t=$(date -u -d "@$(( ($(date +%s) / 3600 - 2) * 3600 ))" +%Y-%m-%dT%H:%M:%SZ)
  : >"$f"
  for i in 1 2 3; do
    local cust="soak-cli-$start-$round-$i" extra='"product":"soak-product","dimension":"users"'
    [ "$b" = appdirect ] && extra='"pricing_unit":"USER"'
    [ "$b" = aws ] && extra='"dimension":"users"'
    printf '{"customer":"%s",%s,"quantity":%d,"time":"%s","idempotency_key":"%s"}\n' \
      "$cust" "$extra" "$i" "$t" "$(python3 -c 'import uuid;print(uuid.uuid4())')" >>"$f"
  done
  local args=(batch -b "$b" --endpoint "$URL" --file "$f" --backoff-base-ms 20 --backoff-max-ms 500)
  case $b in
    tackle) args+=(--client-id sandbox-tackle-id --client-secret sandbox-tackle-secret) ;;
    appdirect) args+=(--client-id sandbox-appdirect-id --client-secret sandbox-appdirect-secret) ;;
    aws) args+=(--region us-east-1 --access-key-id AKIDSANDBOXEXAMPLE
                --secret-access-key 'sandbox+secret/KEY/EXAMPLE' --product soak-product) ;;
  esac
  for try in $(seq 1 30); do
    if "$METER" "${args[@]}" >>"$OUT/cli.log" 2>&1; then
      cli_records[$1]=$((cli_records[$1] + 3))
      cli_quantity[$1]=$((cli_quantity[$1] + 6))
      return 0
    fi
    sleep 1
  done
  echo "soak: the CLI batch $f was not delivered after 30 tries" >&2
  return 1
}

while kill -0 "$DRV_PID" 2>/dev/null; do
  now=$(date +%s)
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$DRV_PID/status" 2>/dev/null || true)
  fds=$(ls "/proc/$DRV_PID/fd" 2>/dev/null | wc -l)
  [ -n "$rss" ] && echo "$((now - start)),$rss,$fds" >>"$OUT/samples.csv"
  if [ "$now" -ge "$next_cli" ] && [ $((now - start)) -lt "$SECONDS_TOTAL" ]; then
    for i in 0 1 2; do cli_batch "$i"; done
    round=$((round + 1))
    next_cli=$((now + 60))
  fi
  sleep 10
done
DRV_RC=0
wait "$DRV_PID" || DRV_RC=$?
DRV_PID=""
log "driver exited $DRV_RC after $(( $(date +%s) - start )) s"

# The ledger, counted for this run's customers.
curl -sf "$URL/_sandbox/ledger" >"$OUT/ledger.json"
curl -sf -X DELETE "$URL/_sandbox/faults" >/dev/null || true
python3 - "$OUT" "$DRV_RC" "${cli_records[*]}" "${cli_quantity[*]}" <<'PY'
import csv, json, sys
from decimal import Decimal
out, drv_rc = sys.argv[1], int(sys.argv[2])
cli_rec = [int(x) for x in sys.argv[3].split()]
cli_qty = [int(x) for x in sys.argv[4].split()]
names = ["tackle", "appdirect", "aws"]
expect = {}
for line in open(f"{out}/driver.out"):
    p = line.split()
    if p and p[0] == "expect":
        expect[p[1]] = [int(p[2]), int(p[3])]
ledger = json.load(open(f"{out}/ledger.json"))
ok = drv_rc == 0 and len(expect) == 3
print(f"driver exit status: {drv_rc}")
for i, b in enumerate(names):
    key = "account" if b == "appdirect" else "customer"
    entries = [e for e in ledger.get(b, []) if str(e.get(key, "")).startswith("soak-")]
    got_n = len(entries)
    got_q = sum(Decimal(str(e["quantity"])) for e in entries)
    want_n = expect.get(b, [0, 0])[0] + cli_rec[i]
    want_q = expect.get(b, [0, 0])[1] + cli_qty[i]
    same = got_n == want_n and got_q == want_q
    ok &= same
    print(f"ledger {b}: {got_n} entries, quantity {got_q}; expected {want_n}, {want_q}"
          f" (CLI {cli_rec[i]}): {'exact' if same else 'MISMATCH'}")
rows = list(csv.DictReader(open(f"{out}/samples.csv")))
if len(rows) >= 8:
    n = len(rows)
    warm = rows[n // 4: n // 2]          # after warm-up
    last = rows[3 * n // 4:]
    rss_w = max(int(r["rss_kb"]) for r in warm)
    rss_l = max(int(r["rss_kb"]) for r in last)
    fd_w = max(int(r["fds"]) for r in warm)
    fd_l = max(int(r["fds"]) for r in last)
    rss_ok = rss_l <= rss_w * 1.10 + 2048
    fd_ok = fd_l <= fd_w + 2
    ok &= rss_ok and fd_ok
    print(f"samples: {n}; RSS first {rows[0]['rss_kb']} kB, after warm-up max {rss_w} kB, "
          f"last quarter max {rss_l} kB: {'flat' if rss_ok else 'GROWING'}")
    print(f"open fds: after warm-up max {fd_w}, last quarter max {fd_l}: "
          f"{'flat' if fd_ok else 'GROWING'}")
else:
    print(f"samples: {len(rows)} (too few to judge RSS and fds)")
print("soak:", "PASSED" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
