"""Prints a wrk script that replays what the libmeter benchmark sends
(bench/bench_send.c), for the ceiling runs: the same bodies, valid
credentials, keep-alive (wrk's default).

  aws-meter    MeterUsage, SigV4-signed by botocore now (the sandbox accepts a
               signature for 5 minutes of its clock: make it right before the run)
  aws-batch    BatchMeterUsage of --records records, signed likewise
  tackle       PUT of --records records with a bearer token from /v1/authenticate
  appdirect    POST of --records events with a bearer token from /oauth2/token;
               a new idempotencyKey per request (as libmeter derives one per request)

usage: python3 make_script.py URL KIND --time EPOCH_S [--records N]
"""
import argparse
import base64
import datetime
import json
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

PRODUCT = "prod-bench-1234"
DIMENSION = "requests"


def post(url, body, headers):
    req = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def lua_static(method, path, headers, body):
    out = ['wrk.method = "%s"' % method, 'wrk.path = "%s"' % path]
    for k, v in headers.items():
        if k.lower() != "host":
            out.append("wrk.headers[%s] = %s" % (json.dumps(k), json.dumps(v)))
    out.append("wrk.body = %s" % json.dumps(body))
    return "\n".join(out)


def aws(url, op, records, ts):
    if op == "meter":
        body = {"ProductCode": PRODUCT, "Timestamp": ts, "UsageDimension": DIMENSION,
                "UsageQuantity": 42, "DryRun": False,
                "ClientToken": "8d0f5c6e-3a52-4f0e-9b7c-2f1e4d6a9b10"}
    else:
        body = {"ProductCode": PRODUCT, "UsageRecords": [
            {"Timestamp": ts, "CustomerIdentifier": "bench-customer-%04d" % i,
             "Dimension": DIMENSION, "Quantity": 42} for i in range(records)]}
    body = json.dumps(body, separators=(",", ":"))
    req = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSMPMeteringService." + ("MeterUsage" if op == "meter"
                                                    else "BatchMeterUsage")})
    SigV4Auth(Credentials("AKIDSANDBOXEXAMPLE", "sandbox+secret/KEY/EXAMPLE"),
              "aws-marketplace", "us-east-1").add_auth(req)
    return lua_static("POST", "/", dict(req.headers.items()), body)


def tackle(url, records, ts):
    tok = post(url + "/v1/authenticate", json.dumps(
        {"client_id": "sandbox-tackle-id", "client_secret": "sandbox-tackle-secret"}),
        {"Content-Type": "application/json"})["access_token"]
    start = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.000000+00:00")
    body = json.dumps([{"cloud": "aws", "product_id": PRODUCT,
                        "customer_id": "bench-customer-%04d" % i, "start_time": start,
                        "dimension": {"name": DIMENSION, "quantity": 42}}
                       for i in range(records)], separators=(",", ":"))
    return lua_static("PUT", "/v1/metering/usage-records", {"Content-Type": "application/json",
                              "Authorization": "Bearer " + tok}, body)


def appdirect(url, records, ts):
    basic = base64.b64encode(b"sandbox-appdirect-id:sandbox-appdirect-secret").decode()
    tok = post(url + "/oauth2/token", "grant_type=client_credentials&scope=ROLE_APPLICATION",
               {"Content-Type": "application/x-www-form-urlencoded",
                "Authorization": "Basic " + basic})["access_token"]
    date = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    usages = {}
    for i in range(records):
        usages.setdefault("bench-account-%04d" % (i // 25), []).append(
            {"eventId": "e-%04d" % i, "eventDate": date, "pricingUnit": "USER",
             "customUnit": None, "quantity": 42, "unitPrice": None, "currency": ""})
    tail = json.dumps({"billable": True, "usages": [
        {"accountId": k, "usageList": v} for k, v in usages.items()]}, separators=(",", ":"))
    # '{"idempotencyKey":"<new>",' + the rest of the object
    return "\n".join([
        'local tail = %s' % json.dumps(tail[1:]),
        'local headers = { ["Content-Type"] = "application/json",',
        '                  ["Authorization"] = %s }' % json.dumps("Bearer " + tok),
        "local n = 0",
        "local id = 0",
        "setup = function(thread) id = id + 1; thread:set(\"tid\", id) end",
        "request = function()",
        "  n = n + 1",
        '  local body = \'{"idempotencyKey":"wrk-\' .. (tid or 0) .. "-" .. n .. \'",\' .. tail',
        '  return wrk.format("POST", "/api/integration/v2/billing/usage", headers, body)',
        "end",
    ])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("kind", choices=["aws-meter", "aws-batch", "tackle", "appdirect"])
    ap.add_argument("--records", type=int, default=1)
    ap.add_argument("--time", type=int, required=True)
    a = ap.parse_args()
    url = a.url.rstrip("/")
    if a.kind.startswith("aws-"):
        print(aws(url, a.kind[4:], a.records, a.time))
    elif a.kind == "tackle":
        print(tackle(url, a.records, a.time))
    else:
        print(appdirect(url, a.records, a.time))


if __name__ == "__main__":
    main()
