"""Signs and sends one BatchMeterUsage with botocore against meter-sandbox,
to prove the sandbox accepts a request signed by the reference SigV4
implementation. Used by tests/integration/sandbox/test_aws.c.

usage: botocore_client.py URL HOUR_EPOCH_SECONDS
exit 0 and prints the MeteringRecordId on success; exit 77 when botocore is
not importable (the test then skips); 1 on any other failure.
"""
import sys

try:
    import botocore.session
    from botocore.config import Config
except ImportError as exc:  # pragma: no cover - depends on the image
    print("botocore not importable: %s" % exc, file=sys.stderr)
    sys.exit(77)


def main():
    url, hour = sys.argv[1], int(sys.argv[2])
    client = botocore.session.get_session().create_client(
        "meteringmarketplace",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="AKIDSANDBOXEXAMPLE",
        aws_secret_access_key="sandbox+secret/KEY/EXAMPLE",
        aws_session_token="botocore-session-token",
        config=Config(retries={"max_attempts": 1}),
    )
    out = client.batch_meter_usage(
        ProductCode="boto-product",
        UsageRecords=[{"Timestamp": hour, "CustomerIdentifier": "boto-customer",
                       "Dimension": "users", "Quantity": 7}])
    result = out["Results"][0]
    if result["Status"] != "Success":
        print("unexpected result: %r" % (result,), file=sys.stderr)
        return 1
    print(result["MeteringRecordId"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
