"""Turns the text output of tools that are not ours into result lines in
the format of the other benchmarks (one JSON object per line, see
bench_util.h), for bench/report.py.

  wrk ... --latency | to_json.py wrk --group G --run N --concurrency C [--batch K]
  pipeline_bench ... | to_json.py pipeline --group G --client LABEL --run N
  fleet_bench ... | to_json.py fleet --group G --client LABEL --run N
"""
import argparse
import json
import re
import sys


def to_ms(value, unit):
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def fail(what, text):
    sys.stderr.write("to_json: cannot read %s output:\n%s" % (what, text))
    sys.exit(1)


def wrk(a, text):
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    total = re.search(r"(\d+) requests in ([0-9.]+)(\w+)", text)
    if not rps or not total:
        fail("wrk", text)
    p50 = re.search(r"^\s+50%\s+([0-9.]+)(us|ms|s|m)\s*$", text, re.M)
    p99 = re.search(r"^\s+99%\s+([0-9.]+)(us|ms|s|m)\s*$", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     text)
    errors = int(non2xx.group(1)) if non2xx else 0
    if sock:
        errors += sum(int(x) for x in sock.groups())
    rps = float(rps.group(1))
    return {"group": a.group, "client": a.client or "wrk (ceiling)", "run": a.run,
            "concurrency": a.concurrency, "batch": a.batch, "calls": int(total.group(1)),
            "rps": rps, "records_per_s": rps * a.batch,
            "p50_ms": to_ms(*p50.groups()) if p50 else None,
            "p99_ms": to_ms(*p99.groups()) if p99 else None, "errors": errors}


def pipeline(a, text):
    # "aws, fsync (FULL), 4 thread(s), batch 1: 20000 records in 3.1 s = 6451 records/s;
    #  20000 waiting in the spool; RSS 11876 kB after open, peak 76020 kB; spool file ..."
    m = re.search(r"(\d+) thread\(s\), batch (\d+): (\d+) records in ([0-9.]+) s = ([0-9.]+) "
                  r"records/s; (\d+) waiting.*?RSS (\d+) kB after open, peak (\d+) kB", text)
    if not m:
        fail("pipeline_bench", text)
    th, batch, n, secs, rate, waiting, rss_open, peak = m.groups()
    return {"group": a.group, "client": a.client, "run": a.run, "concurrency": int(th),
            "batch": int(batch), "records": int(n), "seconds": float(secs),
            "records_per_s": float(rate), "waiting": int(waiting),
            "rss_open_kb": int(rss_open), "peak_rss_kb": int(peak)}


def fleet(a, text):
    # "fleet_bench: 4 replica(s) x 1 thread(s), 12000 records, batch 1, durability full:
    #  2200 submits/s per replica (min 2000, max 2500), 8100 submits/s in all (1.48 s)..."
    m = re.search(r"(\d+) replica\(s\) x (\d+) thread\(s\), (\d+) records, batch (\d+), "
                  r"durability (\w+): ([0-9.]+) submits/s per replica \(min ([0-9.]+), max "
                  r"([0-9.]+)\), ([0-9.]+) submits/s in all \(([0-9.]+) s\)", text)
    if not m or "FAILED" in text:
        fail("fleet_bench", text)
    rep, th, n, batch, dur, per, lo, hi, total, secs = m.groups()
    return {"group": a.group, "client": a.client, "run": a.run, "replicas": int(rep),
            "concurrency": int(th), "batch": int(batch), "records": int(n), "durability": dur,
            "per_replica_per_s": float(per), "replica_min_per_s": float(lo),
            "replica_max_per_s": float(hi), "records_per_s": float(total),
            "seconds": float(secs)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool", choices=["wrk", "pipeline", "fleet"])
    ap.add_argument("--group", required=True)
    ap.add_argument("--client", default=None)
    ap.add_argument("--run", type=int, required=True)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    a = ap.parse_args()
    text = sys.stdin.read()
    conv = {"wrk": wrk, "pipeline": pipeline, "fleet": fleet}[a.tool]
    print(json.dumps(conv(a, text)), flush=True)


if __name__ == "__main__":
    main()
