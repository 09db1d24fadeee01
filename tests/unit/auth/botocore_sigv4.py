#!/usr/bin/env python3
"""Signs requests with botocore's SigV4Auth, for test_sigv4_botocore.c.

stdin: one JSON object per line:
  {"method", "url", "headers": [[name, value], ...], "body_b64", "region",
   "service", "amz_date": "yyyymmddThhmmssZ", "akid", "secret", "token"|null}
stdout: one line per request: the Authorization header botocore computed,
then a tab and its X-Amz-Security-Token header (or "-").
Exit status 3 (and "NO_BOTOCORE" on stdout) when botocore cannot be imported.
"""
import base64
import datetime
import json
import sys

try:
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as e:  # the C test turns this into a failure
    print("NO_BOTOCORE %s" % e)
    sys.exit(3)


def sign(c):
    fixed = datetime.datetime.strptime(c["amz_date"], "%Y%m%dT%H%M%SZ")
    botocore.auth.get_current_datetime = lambda *a, **k: fixed
    creds = Credentials(c["akid"], c["secret"], c.get("token"))
    req = AWSRequest(method=c["method"], url=c["url"],
                     data=base64.b64decode(c["body_b64"]))
    for name, value in c["headers"]:
        req.headers[name] = value
    botocore.auth.SigV4Auth(creds, c["service"], c["region"]).add_auth(req)
    return req.headers["Authorization"], req.headers.get("X-Amz-Security-Token", "-")


def main():
    for line in sys.stdin:
        if line.strip():
            auth, token = sign(json.loads(line))
            print("%s\t%s" % (auth, token))
    print("botocore %s" % botocore.__version__)


if __name__ == "__main__":
    main()
