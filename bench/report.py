"""Reads a run of scripts/bench.sh (WORK/results.jsonl and WORK/meta.json)
and writes the results page (bench/RESULTS.md): every figure as the median
of its timed runs with the min-max, the ratios against the peers and the
ceiling, and the goals; then prints the summary table.

usage: python3 report.py WORK_DIR OUTPUT.md
"""
import json
import os
import statistics
import sys
from collections import defaultdict

GOALS = {
    "sigv4_botocore": 20.0, "sigv4_js": 3.0,
    "sync_boto3": 10.0, "sync_js": 3.0, "sync_ceiling": 0.70,
    "durable_submits": 100000.0, "rss_mib": 64.0,
}


def load(work):
    rows = []
    with open(os.path.join(work, "results.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    meta = json.load(open(os.path.join(work, "meta.json")))
    return rows, meta


class Results:
    def __init__(self, rows):
        self.rows = rows
        self.by = defaultdict(list)
        for r in rows:
            self.by[(r["group"], r["client"], r.get("concurrency"), r.get("batch"))].append(r)

    def runs(self, group, client_prefix, concurrency=None, batch=None):
        for (g, c, conc, b), rs in self.by.items():
            if g == group and c.startswith(client_prefix) and \
                    (concurrency is None or conc == concurrency) and (batch is None or b == batch):
                return c, rs
        return None, []

    def stat(self, group, client_prefix, metric, concurrency=None, batch=None):
        client, rs = self.runs(group, client_prefix, concurrency, batch)
        vals = [r[metric] for r in rs if r.get(metric) is not None]
        if not vals:
            return None
        return {"client": client, "median": statistics.median(vals), "min": min(vals),
                "max": max(vals), "n": len(vals),
                "errors": sum(r.get("errors", 0) or 0 for r in rs)}

    def clients(self, group):
        seen = []
        for r in self.rows:
            if r["group"] == group and r["client"] not in seen:
                seen.append(r["client"])
        return seen


def num(v, digits=0):
    if v is None:
        return "–"
    if abs(v) >= 100 or digits == 0:
        return "{:,.0f}".format(v)
    return "{:,.{d}f}".format(v, d=digits)


def fig(s, digits=0):
    """median (min–max)"""
    if not s:
        return "–"
    return "%s (%s–%s)" % (num(s["median"], digits), num(s["min"], digits), num(s["max"], digits))


def ms(s):
    return "–" if not s else "%.2f" % s["median"]


def ratio(a, b):
    if not a or not b or not b["median"]:
        return None
    return a["median"] / b["median"]


def x(r):
    return "–" if r is None else ("%.1f×" % r if r < 100 else "%.0f×" % r)


def pct(r):
    return "–" if r is None else "%.0f %%" % (100 * r)


def met(value, goal, higher=True):
    if value is None:
        return "not measured"
    ok = value >= goal if higher else value < goal
    return "**met**" if ok else "**missed**"


def main():
    work, out = sys.argv[1], sys.argv[2]
    rows, meta = load(work)
    R = Results(rows)
    L = []
    w = L.append
    loads = [r for r in rows if r["group"] == "_load"]
    check = next((r for r in rows if r["group"] == "_sigv4_check"), None)
    counted = next((r for r in rows if r["group"] == "_appdirect_counted"), None)

    w("# libmeter benchmark results")
    w("")
    w("Written by `scripts/bench.sh` (method and discussion: "
      "[docs/performance.md](../docs/performance.md)). Every figure is the **median of %d "
      "timed runs** of %s s (min–max in parentheses) after a discarded warm-up run (%s s; "
      "%s s for Node.js, whose JIT needs that long to reach its steady rate); all "
      "clients ran against the same meter-sandbox process, on this machine, in this run."
      % (meta["runs"], meta["seconds_per_run"], meta.get("warmup_seconds"),
         meta.get("js_warmup_seconds")))
    if meta.get("quick"):
        w("")
        w("**Quick mode** (`--quick`): one short run per figure; a check of the script, not results.")
    w("")
    w("## Machine and versions")
    w("")
    w("| | |")
    w("|---|---|")
    for k, label in [("date_utc", "date"), ("git", "libmeter commit"), ("cpu", "CPU"),
                     ("cores", "cores"), ("memory", "memory"), ("virtualization", "virtualization"),
                     ("os", "OS"), ("kernel", "kernel"), ("compiler", "compiler"),
                     ("libmeter", "libmeter"), ("curl", "libcurl"), ("openssl", "OpenSSL"),
                     ("libmicrohttpd", "libmicrohttpd (sandbox)"), ("sqlite", "SQLite"),
                     ("python", "Python"), ("boto3", "boto3"), ("botocore", "botocore"),
                     ("node", "Node.js"), ("js_sdk", "@aws-sdk/client-marketplace-metering"),
                     ("smithy_signature_v4", "@smithy/signature-v4"),
                     ("smithy_core", "@smithy/core (its sha256)"), ("wrk", "wrk"),
                     ("pinning", "placement"), ("sandbox_flags", "meter-sandbox flags")]:
        w("| %s | %s |" % (label, meta.get(k, "?")))
    w("| load average | %s before, %s after; per section: %s |" % (
        meta.get("load_before", "?"), meta.get("load_after", "?"),
        ", ".join("%s %s" % (r["client"], r["load"].split()[0]) for r in loads)))
    if loads and "t" in loads[-1] and meta.get("started"):
        w("| duration | %d s of measurements (%d s with the build and installs) |" % (
            loads[-1]["t"] - loads[0]["t"], loads[-1]["t"] - meta["started"]))
    w("")
    w("The machine is shared with other engineers' builds and tests: the load average above "
      "says how busy it was. Medians resist a disturbed run; the min–max shows how much the "
      "machine moved.")
    w("")

    # ---- 1. SigV4
    w("## 1. SigV4 signing (one thread)")
    w("")
    w("Signatures per second for a MeterUsage request (171-byte body, "
      "`bench/sigv4_request.json`): a fresh request object signed at the current time per "
      "iteration.")
    if check is not None:
        w("Cross-check: signed at a fixed time, the three signers produce %s." % (
            "**the same signature**" if check["same_signature"] else
            "**different signatures (investigate!)**"))
    w("")
    w("| signer | signatures/s | µs per signature | libmeter (cached key) is |")
    w("|---|---:|---:|---:|")
    lib = R.stat("sigv4", "libmeter (key cached)", "signs_per_s")
    for client in R.clients("sigv4"):
        s = R.stat("sigv4", client, "signs_per_s")
        us = R.stat("sigv4", client, "us_per_sign")
        w("| %s | %s | %s | %s |" % (client, fig(s), num(us["median"], 2) if us else "–",
                                     "—" if client.startswith("libmeter (key cached)")
                                     else x(ratio(lib, s))))
    sig_boto = ratio(lib, R.stat("sigv4", "botocore", "signs_per_s"))
    sig_js = ratio(lib, R.stat("sigv4", "@smithy", "signs_per_s"))
    w("")

    # ---- 2. MeterUsage
    w("## 2. Synchronous MeterUsage against meter-sandbox")
    w("")
    w("Requests per second (= records per second) and latency of one call, at 1, 2, 4 and 8 "
      "concurrent senders: libmeter (one shared client, N threads calling `meter_send` with "
      "one record each), boto3 (one client, N threads), the AWS SDK for JavaScript (one "
      "client, N concurrent promises), and wrk replaying one signed MeterUsage over N "
      "keep-alive connections (the ceiling: what the sandbox and loopback allow).")
    w("")
    w("| senders | client | requests/s | p50 ms | p99 ms | errors | libmeter is |")
    w("|---:|---|---:|---:|---:|---:|---:|")
    sync = {}
    for c in (1, 2, 4, 8):
        libm = R.stat("meter_usage", "libmeter", "rps", c)
        for prefix in ("wrk", "libmeter", "boto3", "@aws-sdk"):
            s = R.stat("meter_usage", prefix, "rps", c)
            if not s:
                continue
            p50 = R.stat("meter_usage", prefix, "p50_ms", c)
            p99 = R.stat("meter_usage", prefix, "p99_ms", c)
            r = ratio(libm, s)
            rel = "—" if prefix == "libmeter" else (
                pct(r) + " of it" if prefix == "wrk" else x(r))
            w("| %d | %s | %s | %s | %s | %d | %s |" % (c, s["client"], fig(s), ms(p50), ms(p99),
                                                    s["errors"], rel))
        sync[c] = {p: ratio(libm, R.stat("meter_usage", p, "rps", c))
                   for p in ("boto3", "@aws-sdk", "wrk")}
    w("")

    unp = {p: R.stat("meter_usage_unpinned", p, "rps", 8) for p in ("wrk", "libmeter", "boto3",
                                                                      "@aws-sdk")}
    if unp["libmeter"]:
        w("The same at 8 senders with the **client free to use both cores** (the sandbox still "
          "on CPU 0): how much of the gap to wrk above is 8 threads sharing one core.")
        w("")
        w("| senders | client | requests/s | p50 ms | p99 ms | errors | libmeter is |")
        w("|---:|---|---:|---:|---:|---:|---:|")
        for prefix in ("wrk", "libmeter", "boto3", "@aws-sdk"):
            s_ = unp[prefix]
            if not s_:
                continue
            r = ratio(unp["libmeter"], s_)
            rel = "—" if prefix == "libmeter" else (pct(r) + " of it" if prefix == "wrk" else x(r))
            w("| 8 | %s | %s | %s | %s | %d | %s |" % (
                s_["client"], fig(s_), ms(R.stat("meter_usage_unpinned", prefix, "p50_ms", 8)),
                ms(R.stat("meter_usage_unpinned", prefix, "p99_ms", 8)), s_["errors"], rel))
        w("")

    # ---- 3. Batch
    w("## 3. BatchMeterUsage, 25 records per request")
    w("")
    w("| senders | client | records/s | requests/s | p50 ms | p99 ms | errors | libmeter is |")
    w("|---:|---|---:|---:|---:|---:|---:|---:|")
    batch = {}
    for c in (1, 4):
        libm = R.stat("batch", "libmeter", "records_per_s", c)
        for prefix in ("wrk", "libmeter", "boto3", "@aws-sdk"):
            s = R.stat("batch", prefix, "records_per_s", c)
            if not s:
                continue
            rq = R.stat("batch", prefix, "rps", c)
            r = ratio(libm, s)
            rel = "—" if prefix == "libmeter" else (
                pct(r) + " of it" if prefix == "wrk" else x(r))
            w("| %d | %s | %s | %s | %s | %s | %d | %s |" % (
                c, s["client"], fig(s), num(rq["median"]), ms(R.stat("batch", prefix, "p50_ms", c)),
                ms(R.stat("batch", prefix, "p99_ms", c)), s["errors"], rel))
        batch[c] = {p: ratio(libm, R.stat("batch", p, "records_per_s", c))
                    for p in ("boto3", "@aws-sdk", "wrk")}
    w("")

    # ---- 4. Tackle / AppDirect
    w("## 4. Tackle PUT and AppDirect usage (libmeter alone: no peer client exists)")
    w("")
    w("4 concurrent senders; records per second with batching, against wrk replaying the same "
      "request with a valid bearer token (AppDirect: a new idempotencyKey per request, as "
      "libmeter derives one per request).")
    w("")
    w("| marketplace | records per request | libmeter records/s | p50 / p99 ms | wrk records/s | "
      "libmeter / ceiling |")
    w("|---|---:|---:|---|---:|---:|")
    for group, label, sizes in (("tackle_put", "Tackle PUT", (1, 10, 100)),
                                ("appdirect", "AppDirect", (1, 25, 250))):
        for k in sizes:
            libm = R.stat(group, "libmeter", "records_per_s", 4, k)
            ceil = R.stat(group, "wrk", "records_per_s", 4, k)
            w("| %s | %d | %s | %s / %s | %s | %s |" % (
                label, k, fig(libm), ms(R.stat(group, "libmeter", "p50_ms", 4, k)),
                ms(R.stat(group, "libmeter", "p99_ms", 4, k)), fig(ceil), pct(ratio(libm, ceil))))
    if counted:
        w("")
        w("The sandbox counted %s AppDirect requests and %s events accepted in this section "
          "(`--bench` counters: every libmeter and wrk request was validated and accepted)." % (
              num(counted.get("appdirect_requests")), num(counted.get("appdirect_events"))))
    w("")

    # ---- 5. Growth
    w("## 5. Cost growth")
    w("")
    w("4 concurrent senders. Records per request (per `meter_send` call):")
    w("")
    w("| request | records per request | libmeter records/s | libmeter requests/s | p50 ms | "
      "wrk records/s | libmeter / ceiling |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    series = [("BatchMeterUsage", "batch_growth", 1), ("BatchMeterUsage", "batch_growth", 5),
              ("BatchMeterUsage", "batch", 25), ("Tackle PUT", "tackle_put", 1),
              ("Tackle PUT", "tackle_put", 10), ("Tackle PUT", "tackle_put", 100),
              ("AppDirect", "appdirect", 1), ("AppDirect", "appdirect", 25),
              ("AppDirect", "appdirect", 250)]
    for label, group, k in series:
        libm = R.stat(group, "libmeter", "records_per_s", 4, k)
        rq = R.stat(group, "libmeter", "rps", 4, k)
        ceil = R.stat(group, "wrk", "records_per_s", 4, k)
        w("| %s | %d | %s | %s | %s | %s | %s |" % (
            label, k, fig(libm), num(rq["median"]) if rq else "–",
            ms(R.stat(group, "libmeter", "p50_ms", 4, k)), fig(ceil), pct(ratio(libm, ceil))))
    w("")
    w("Record size (libmeter, 4 senders):")
    w("")
    w("| request | record | records/s | requests/s | p50 ms | vs the plain record |")
    w("|---|---|---:|---:|---:|---:|")
    base_b = R.stat("batch", "libmeter", "records_per_s", 4, 25)
    w("| BatchMeterUsage of 25 | dimension and customer ~20 characters | %s | %s | %s | — |" % (
        fig(base_b), num(R.stat("batch", "libmeter", "rps", 4, 25)["median"]) if base_b else "–",
        ms(R.stat("batch", "libmeter", "p50_ms", 4, 25))))
    for pad in (64, 255):
        s = R.stat("record_size", "libmeter, strings of %d" % pad, "records_per_s", 4, 25)
        rq = R.stat("record_size", "libmeter, strings of %d" % pad, "rps", 4, 25)
        w("| BatchMeterUsage of 25 | dimension and customer of %d characters | %s | %s | %s | %s |"
          % (pad, fig(s), num(rq["median"]) if rq else "–",
             ms(R.stat("record_size", "libmeter, strings of %d" % pad, "p50_ms", 4, 25)),
             pct(ratio(s, base_b))))
    base_m = R.stat("meter_usage", "libmeter", "rps", 4)
    w("| MeterUsage | no allocations | %s | %s | %s | — |" % (
        fig(base_m), num(base_m["median"]) if base_m else "–",
        ms(R.stat("meter_usage", "libmeter", "p50_ms", 4))))
    for n in (10, 40):
        s = R.stat("allocations", "libmeter, %d allocations" % n, "records_per_s", 4)
        w("| MeterUsage | %d tagged allocations | %s | %s | %s | %s |" % (
            n, fig(s), num(s["median"]) if s else "–",
            ms(R.stat("allocations", "libmeter, %d allocations" % n, "p50_ms", 4)),
            pct(ratio(s, base_m))))
    w("")

    # ---- 6. Reliable
    w("## 6. Reliable mode")
    w("")
    w("Durable submits into the spool (`pipeline_bench`: public API, no sender running; AWS "
      "records), peak memory with the spool holding many records, and delivery from the "
      "spool to meter-sandbox (`bench_delivery`: the background sender, BatchMeterUsage of "
      "25, every record its own customer so none is summed into another).")
    w("")
    w("| what | records/s | peak RSS (MiB) |")
    w("|---|---:|---:|")
    submits = {}
    for client in R.clients("submit"):
        s = R.stat("submit", client, "records_per_s")
        rss = R.stat("submit", client, "peak_rss_kb")
        submits[client] = s
        w("| %s | %s | %s |" % (client, fig(s), num(rss["median"] / 1024, 1) if rss else "–"))
    rss_row = None
    for client in R.clients("rss"):
        s = R.stat("rss", client, "records_per_s")
        rss_row = R.stat("rss", client, "peak_rss_kb")
        opened = R.stat("rss", client, "rss_open_kb")
        w("| %s | %s | %s (%s after opening the spool) |" % (
            client, fig(s), fig({k: (v / 1024 if isinstance(v, (int, float)) else v)
                                 for k, v in rss_row.items()}, 1) if rss_row else "–",
            num(opened["median"] / 1024, 1) if opened else "–"))
    d = None
    for client in R.clients("delivery"):
        s_ = R.stat("delivery", client, "records_per_s")
        n_ = R.stat("delivery", client, "records")
        dr = R.stat("delivery", client, "requests_per_s")
        drss = R.stat("delivery", client, "peak_rss_kb")
        d = d or s_
        w("| delivery, %s (%s records; %s requests/s) | %s | %s |" % (
            client.replace("libmeter ", ""), num(n_["median"]) if n_ else "?",
            num(dr["median"]) if dr else "–", fig(s_),
            num(drss["median"] / 1024, 1) if drss else "–"))
    w("")
    w("The submit rows' RSS includes the records themselves: `pipeline_bench` builds them all "
      "before the clock starts (the caller's memory, not the spool's); the row with records "
      "built on the fly shows the spool's own footprint.")
    w("")

    # ---- 7. Fleet
    fleet_rows = R.clients("fleet")
    if fleet_rows:
        w("## 7. Fleet mode (PostgreSQL)")
        w("")
        w("Durable submits into a PostgreSQL spool (`tests/integration/fleet/fleet_bench`: public "
          "API, every replica its own process and client, all starting together, no sender "
          "running; AWS records over 50 customers and 3 closed hours). The server is a throwaway "
          "PostgreSQL cluster on this machine (loopback, `fsync=off`), sharing the two cores "
          "with the replicas: figures per replica are what the CPU leaves each of them. "
          "Method and sizing: [docs/fleet.md](../docs/fleet.md).")
        w("")
        w("| replicas × threads | submits/s per replica | submits/s in all |")
        w("|---|---:|---:|")
        for client in fleet_rows:
            w("| %s | %s | %s |" % (client, fig(R.stat("fleet", client, "per_replica_per_s")),
                                    fig(R.stat("fleet", client, "records_per_s"))))
        w("")

    # ---- goals
    best_submit = None
    for client, s in submits.items():
        if s and (best_submit is None or s["median"] > best_submit[1]["median"]):
            best_submit = (client, s)
    single = submits.get("meter_submit, 1 thread, fsync")
    four = submits.get("meter_submit, 4 threads, fsync")
    rss_mib = rss_row["max"] / 1024 if rss_row else None
    w("## Goals")
    w("")
    w("| goal | measured | |")
    w("|---|---|---|")
    w("| SigV4 ≥ 20× botocore | %s | %s |" % (x(sig_boto), met(sig_boto, GOALS["sigv4_botocore"])))
    w("| SigV4 ≥ 3× the JS signer | %s | %s |" % (x(sig_js), met(sig_js, GOALS["sigv4_js"])))
    for c in (1, 2, 4, 8):
        if c not in sync:
            continue
        bound = ratio(R.stat("meter_usage", "wrk", "rps", c), R.stat("meter_usage", "boto3", "rps", c))
        w("| MeterUsage ≥ 10× boto3, %d sender%s | %s (the ceiling itself is %s boto3) | %s |" % (
            c, "s" if c > 1 else "", x(sync[c]["boto3"]), x(bound),
            met(sync[c]["boto3"], GOALS["sync_boto3"])))
    for c in (1, 2, 4, 8):
        if c not in sync:
            continue
        w("| MeterUsage ≥ 3× the JS SDK, %d sender%s | %s | %s |" % (
            c, "s" if c > 1 else "", x(sync[c]["@aws-sdk"]),
            met(sync[c]["@aws-sdk"], GOALS["sync_js"])))
    for c in (1, 2, 4, 8):
        if c not in sync:
            continue
        w("| MeterUsage ≥ 70 %% of the wrk ceiling, %d sender%s | %s | %s |" % (
            c, "s" if c > 1 else "", pct(sync[c]["wrk"]), met(sync[c]["wrk"], GOALS["sync_ceiling"])))
    w("| durable submits ≥ 100,000 records/s, `meter_submit` (1 / 4 threads, fsync) | %s / %s | %s |"
      % (num(single["median"]) if single else "–", num(four["median"]) if four else "–",
         met(max(single["median"] if single else 0, four["median"] if four else 0) or None,
             GOALS["durable_submits"])))
    if best_submit:
        w("| durable submits ≥ 100,000 records/s, best way measured (%s) | %s | %s |" % (
            best_submit[0], num(best_submit[1]["median"]),
            met(best_submit[1]["median"], GOALS["durable_submits"])))
    w("| RSS < 64 MiB with %s records in the spool (highest of the runs) | %s MiB | %s |" % (
        "1,000,000" if not meta.get("quick") else "(quick: fewer)",
        num(rss_mib, 1) if rss_mib else "–", met(rss_mib, GOALS["rss_mib"], higher=False)))
    w("")
    w("Where a goal is missed, [docs/performance.md](../docs/performance.md) says why and what "
      "was done about it.")
    text = "\n".join(L) + "\n"
    with open(out, "w") as f:
        f.write(text)

    # ---- the summary on the terminal
    print()
    print("Summary (medians; full tables in %s)" % out)
    print("-" * 78)
    print("%-44s %14s %18s" % ("", "libmeter", "ratio"))
    print("%-44s %14s %18s" % ("SigV4 signatures/s (1 thread)", num(lib["median"]) if lib else "-",
                                "%s botocore, %s JS" % (x(sig_boto), x(sig_js))))
    for c in (1, 2, 4, 8):
        s = R.stat("meter_usage", "libmeter", "rps", c)
        if s:
            print("%-44s %14s %18s" % ("MeterUsage req/s, %d sender%s" % (c, "s" if c > 1 else ""),
                                        num(s["median"]), "%s boto3, %s JS, %s wrk" % (
                                            x(sync[c]["boto3"]), x(sync[c]["@aws-sdk"]),
                                            pct(sync[c]["wrk"]))))
    for c in (1, 4):
        s = R.stat("batch", "libmeter", "records_per_s", c)
        if s:
            print("%-44s %14s %18s" % ("BatchMeterUsage records/s, %d sender%s" % (c, "s" if c > 1 else ""),
                                        num(s["median"]), "%s boto3, %s JS, %s wrk" % (
                                            x(batch[c]["boto3"]), x(batch[c]["@aws-sdk"]),
                                            pct(batch[c]["wrk"]))))
    for group, label, k in (("tackle_put", "Tackle PUT records/s (100 per PUT)", 100),
                            ("appdirect", "AppDirect records/s (250 per request)", 250)):
        s = R.stat(group, "libmeter", "records_per_s", 4, k)
        c = R.stat(group, "wrk", "records_per_s", 4, k)
        if s:
            print("%-44s %14s %18s" % (label, num(s["median"]), "%s of wrk" % pct(ratio(s, c))))
    for client, s in submits.items():
        if s:
            print("%-44s %14s" % ("submits/s: " + client[:33], num(s["median"])))
    if rss_mib:
        print("%-44s %14s" % ("peak RSS, %s records spooled" % num(
            R.stat("rss", "", "records")["median"]) if R.stat("rss", "", "records") else "",
            "%.1f MiB" % rss_mib))
    if d:
        print("%-44s %14s" % ("delivery spool -> sandbox, records/s (fsync)", num(d["median"])))
    for client in R.clients("fleet"):
        s = R.stat("fleet", client, "per_replica_per_s")
        if s:
            print("%-44s %14s" % (("fleet/replica: " + client)[:44], num(s["median"])))
    print("-" * 78)
    print("load average: %s before, %s after" % (meta.get("load_before"), meta.get("load_after")))


if __name__ == "__main__":
    main()
