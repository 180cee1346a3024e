"""Drives Freshet's Firehose with boto3 for the HTTP endpoint destination: creates the
delivery streams of a spec (HttpEndpointDestinationConfiguration as given), checks
how DescribeDeliveryStream describes the first one and that a bad URL is refused,
then puts each stream's records ("<name>-<00000>\\n", "<name>-<00001>\\n", ...).
The receiving side (the endpoints, the backup buckets) is checked by the Rust test
that runs this script (tests/tests/firehose_http_endpoint.rs).

Usage: python firehose_http_endpoint.py ENDPOINT SPEC_JSON
  SPEC_JSON: {"streams": [{"name": ..., "config": {...}, "count": N}, ...]}
Prints "N passed, 0 failed" at the end; exits non-zero on the first failed check.
"""
import json
import sys

from firehose_common import check, client, expect_error, passed
from firehose_common import wait_active as _wait_active

ENDPOINT, SPEC = sys.argv[1], json.loads(sys.argv[2])
fh = client("firehose", ENDPOINT)


def wait_active(name):
    return _wait_active(fh, name, timeout=30.0)


streams = SPEC["streams"]
for s in streams:
    arn = fh.create_delivery_stream(DeliveryStreamName=s["name"], DeliveryStreamType="DirectPut",
                                    HttpEndpointDestinationConfiguration=s["config"])["DeliveryStreamARN"]
    check(arn == f"arn:aws:firehose:us-east-1:000000000000:deliverystream/{s['name']}", arn)
    wait_active(s["name"])

# --- how the first stream is described: the access key is left out, as AWS does ---------
first = streams[0]
d = wait_active(first["name"])
desc = d["Destinations"][0].get("HttpEndpointDestinationDescription")
check(desc is not None, d["Destinations"][0])
given = first["config"]
want_endpoint = {k: v for k, v in given["EndpointConfiguration"].items() if k != "AccessKey"}
check(desc["EndpointConfiguration"] == want_endpoint, desc["EndpointConfiguration"])
check(desc["BufferingHints"] == given["BufferingHints"], desc)
check(desc["RetryOptions"] == given["RetryOptions"], desc)
check(desc["S3BackupMode"] == given.get("S3BackupMode", "FailedDataOnly"), desc)
check(desc["RequestConfiguration"]["ContentEncoding"] == given["RequestConfiguration"]["ContentEncoding"], desc)
check(desc["RequestConfiguration"]["CommonAttributes"] == given["RequestConfiguration"]["CommonAttributes"], desc)
check(desc["S3DestinationDescription"]["BucketARN"] == given["S3Configuration"]["BucketARN"], desc)

# --- a URL that is neither https:// nor http:// is refused -------------------------------
bad = json.loads(json.dumps(given))
bad["EndpointConfiguration"]["Url"] = "ftp://example.com/ingest"
expect_error("InvalidArgumentException", fh.create_delivery_stream, DeliveryStreamName="bad-url",
             HttpEndpointDestinationConfiguration=bad)
expect_error("ResourceNotFoundException", fh.describe_delivery_stream, DeliveryStreamName="bad-url")

# --- the records -----------------------------------------------------------------------
for s in streams:
    recs = [f"{s['name']}-{i:05d}\n".encode() for i in range(s["count"])]
    for i in range(0, len(recs), 100):
        r = fh.put_record_batch(DeliveryStreamName=s["name"], Records=[{"Data": x} for x in recs[i:i + 100]])
        check(r["FailedPutCount"] == 0, r)

passed()
