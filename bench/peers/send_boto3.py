"""boto3 against meter-sandbox: N threads share one `meteringmarketplace`
client (botocore clients are thread-safe) and call MeterUsage (one record)
or BatchMeterUsage (N records) in a loop with the same parameters as the
libmeter benchmark (bench/bench_send.c). Keep-alive is botocore's default
(urllib3 pool, max_pool_connections raised to the concurrency). Prints one
JSON line per timed run; the first run is a warm-up.

usage: python3 send_boto3.py URL meter|batch --threads N --time EPOCH_S
       [--batch K] [--seconds S] [--runs N] [--warmup S]
"""
import argparse
import datetime
import json
import threading
import time

import boto3
from botocore.config import Config


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    return sorted_values[int(q * (len(sorted_values) - 1) + 0.5)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("op", choices=["meter", "batch"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--time", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--group", default=None)
    a = ap.parse_args()

    client = boto3.client(
        "meteringmarketplace", endpoint_url=a.url, region_name="us-east-1",
        aws_access_key_id="AKIDSANDBOXEXAMPLE",
        aws_secret_access_key="sandbox+secret/KEY/EXAMPLE",
        config=Config(max_pool_connections=max(10, a.threads)))
    ts = datetime.datetime.fromtimestamp(a.time, datetime.timezone.utc)

    def call():
        if a.op == "meter":
            # ClientToken left to botocore (a fresh uuid4 per call, as by default)
            r = client.meter_usage(ProductCode="prod-bench-1234", Timestamp=ts,
                                   UsageDimension="requests", UsageQuantity=42, DryRun=False)
            return 1 if r.get("MeteringRecordId") else 0
        r = client.batch_meter_usage(ProductCode="prod-bench-1234", UsageRecords=[
            {"Timestamp": ts, "CustomerIdentifier": "bench-customer-%04d" % i,
             "Dimension": "requests", "Quantity": 42} for i in range(a.batch)])
        return sum(1 for x in r["Results"] if x.get("Status") == "Success")

    group = a.group or ("meter_usage" if a.op == "meter" else "batch")
    per_call = 1 if a.op == "meter" else a.batch
    for run in range(a.runs + 1):
        deadline = time.perf_counter() + (a.warmup if run == 0 else a.seconds)
        lat, counts = [], []
        lock = threading.Lock()

        def work():
            mine, ok, errors = [], 0, 0
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    n = call()
                except Exception as e:  # noqa: BLE001 (counted as errors, first one shown)
                    n = 0
                    errors += 1
                    if errors == 1:
                        print("boto3:", e, flush=True)
                mine.append(time.perf_counter() - t0)
                ok += n
                errors += per_call - n if n < per_call else 0
            with lock:
                lat.extend(mine)
                counts.append((len(mine), ok, errors))

        t0 = time.perf_counter()
        threads = [threading.Thread(target=work) for _ in range(a.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        secs = time.perf_counter() - t0
        if run == 0:
            continue
        lat.sort()
        calls = sum(c[0] for c in counts)
        print(json.dumps({
            "group": group, "client": "boto3 %s" % boto3.__version__, "run": run,
            "concurrency": a.threads, "batch": per_call, "calls": calls, "seconds": secs,
            "rps": calls / secs, "records_per_s": sum(c[1] for c in counts) / secs,
            "p50_ms": percentile(lat, 0.5) * 1e3, "p99_ms": percentile(lat, 0.99) * 1e3,
            "errors": sum(c[2] for c in counts)}), flush=True)


if __name__ == "__main__":
    main()
