"""Prints a wrk script replaying one SigV4-signed BatchMeterUsage of 25
records (botocore's signer, the sandbox's default credentials). The
signature stays valid for 5 minutes of the sandbox clock.

usage: python3 sign_aws.py URL > aws_batch.lua
"""
import json
import sys
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

url = sys.argv[1].rstrip("/") + "/"
hour = int(time.time()) // 3600 * 3600 - 3600
body = json.dumps({"ProductCode": "bench-product", "UsageRecords": [
    {"Timestamp": hour, "CustomerIdentifier": "bench-%d" % i, "Dimension": "users",
     "Quantity": 3} for i in range(25)]})
req = AWSRequest(method="POST", url=url, data=body, headers={
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "AWSMPMeteringService.BatchMeterUsage"})
SigV4Auth(Credentials("AKIDSANDBOXEXAMPLE", "sandbox+secret/KEY/EXAMPLE"),
          "aws-marketplace", "us-east-1").add_auth(req)
print('wrk.method = "POST"')
for k, v in req.headers.items():
    if k.lower() != "host":
        print('wrk.headers[%s] = %s' % (json.dumps(k), json.dumps(v)))
print("wrk.body = %s" % json.dumps(body))
