"""botocore's SigV4Auth signing the request of bench/sigv4_request.json on one
thread: a fresh AWSRequest per signature, add_auth at the current time (what
botocore does for every call and every retry).

usage: python3 sigv4_botocore.py FILE [--seconds S] [--runs N] [--warmup S] [--check]
"""
import argparse
import datetime
import json
import time

import botocore
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    spec = json.load(open(a.file))
    signer = SigV4Auth(Credentials(spec["access_key_id"], spec["secret_access_key"]),
                       spec["service"], spec["region"])
    body = spec["body"].encode()

    def sign():
        req = AWSRequest(method=spec["method"], url=spec["url"], data=body,
                         headers=dict(spec["headers"]))
        signer.add_auth(req)
        return req

    if a.check:
        fixed = datetime.datetime.fromtimestamp(spec["check_time_epoch"], datetime.timezone.utc)
        botocore.auth.get_current_datetime = lambda: fixed.replace(tzinfo=None)
        print(sign().headers["Authorization"])
        return

    for run in range(a.runs + 1):
        limit = a.warmup if run == 0 else a.seconds
        n = 0
        t0 = time.perf_counter()
        while True:
            for _ in range(16):
                sign()
            n += 16
            t = time.perf_counter() - t0
            if t >= limit:
                break
        if run == 0:
            continue
        print(json.dumps({"group": "sigv4", "client": "botocore %s" % botocore.__version__,
                          "run": run, "signs_per_s": n / t, "us_per_sign": t * 1e6 / n}),
              flush=True)


if __name__ == "__main__":
    main()
