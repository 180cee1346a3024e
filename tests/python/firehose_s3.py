"""Freshet's Firehose delivering to a real S3 API (moto's S3 server), checked with
boto3's S3 client: DirectPut delivery streams to `arn:aws:s3:::BUCKET`, uncompressed
and GZIP, every record in exactly one object under Firehose's key format; and the
same through an outage of the S3 endpoint.

Usage: python firehose_s3.py PHASE FRESHET_ENDPOINT S3_ENDPOINT LOCAL_BUCKETS_DIR
  deliver  create the buckets and the delivery streams, put, read the objects back
  outage   (S3 is down) put more records: acknowledged; the upload failures and the
           data freshness show in /metrics
  recover  (S3 is back, empty) create the buckets again; every record put during the
           outage arrives exactly once
Prints "N passed, 0 failed" at the end; exits non-zero on the first failed check.
"""
import gzip
import os
import re
import sys
import time
import urllib.request
from collections import Counter

import boto3
import botocore.config

PHASE, ENDPOINT, S3, LOCAL = sys.argv[1:5]
cfg = botocore.config.Config(retries={"max_attempts": 1}, read_timeout=30, connect_timeout=5,
                             s3={"addressing_style": "path"})
kw = dict(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", config=cfg)
fh = boto3.client("firehose", endpoint_url=ENDPOINT, **kw)
s3 = boto3.client("s3", endpoint_url=S3, **kw)
ROLE = "arn:aws:iam::000000000000:role/firehose"
# name -> (bucket, compression)
STREAMS = {"to-s3": ("fh-plain", "UNCOMPRESSED"), "to-s3-gz": ("fh-gz", "GZIP")}
# Firehose's keys: YYYY/MM/dd/HH/<name>-<version>-yyyy-MM-dd-HH-mm-ss-<uuid>[.ext]
KEY = re.compile(r"^(?P<y>\d{4})/(?P<mo>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/(?P<name>[\w.-]+?)-(?P<version>\d+)-"
                 r"(?P=y)-(?P=mo)-(?P=d)-(?P=h)-\d{2}-\d{2}-"
                 r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?P<ext>\.gz)?$")
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        print(f"{checks - 1} passed, 1 failed: {what}")
        sys.exit(1)


def wait_for(pred, what, timeout=60.0):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            check(False, f"timed out waiting for {what}")
        time.sleep(0.1)


def objects(bucket):
    """{key: bytes} of every object in the S3 bucket (all pages)."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 100}):
        for o in page.get("Contents", []):
            out[o["Key"]] = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
    return out


def records_in(name, objs):
    """The newline-ended records of a delivery stream's objects, checking each key."""
    compression = STREAMS[name][1]
    recs = []
    for key, body in objs.items():
        m = KEY.match(key)
        check(m is not None and m.group("name") == name and m.group("version") == "1", f"key format: {key}")
        if compression == "GZIP":
            check(m.group("ext") == ".gz", f"a GZIP object ends with .gz: {key}")
            body = gzip.decompress(body)
        else:
            check(m.group("ext") is None, f"an uncompressed object has no extension: {key}")
        check(body.endswith(b"\n"), f"{key} holds whole records")
        recs += body.splitlines(keepends=True)
    return recs


def put(name, recs):
    for i in range(0, len(recs), 250):
        batch = recs[i:i + 250]
        r = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": x} for x in batch])
        check(r["FailedPutCount"] == 0 and len(r["RequestResponses"]) == len(batch), r)
        check(all("RecordId" in e for e in r["RequestResponses"]), r)


def deliver_all(name, sent):
    """Waits until the stream's bucket holds `sent`, then checks each record is in it once."""
    bucket = STREAMS[name][0]
    want = Counter(sent)

    def complete():
        objs = objects(bucket)
        recs = records_in(name, objs)
        return (objs, recs) if len(recs) >= len(sent) else None

    objs, recs = wait_for(complete, f"{len(sent)} records in s3://{bucket}")
    time.sleep(0.5)  # anything more (a duplicate) would show by now
    objs = objects(bucket)
    recs = records_in(name, objs)
    got = Counter(recs)
    check(got == want, f"{name}: every record exactly once: {len(recs)} in {len(objs)} objects, "
                       f"missing {list((want - got).items())[:3]}, extra {list((got - want).items())[:3]}")
    return objs


def records(tag, name, n, pad=0):
    return [f"{tag}-{name}-{i:05d}-".encode() + b"x" * pad + b"\n" for i in range(n)]


def metric(name, stream):
    text = urllib.request.urlopen(f"{ENDPOINT}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(f'{name}{{delivery_stream="{stream}"}} '):
            return float(line.split()[-1])
    return None


def local_objects():
    return [os.path.join(d, f) for d, _, fs in os.walk(LOCAL) for f in fs]


if PHASE == "deliver":
    for name, (bucket, compression) in STREAMS.items():
        s3.create_bucket(Bucket=bucket)
        fh.create_delivery_stream(
            DeliveryStreamName=name, DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", "CompressionFormat": compression,
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
        d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
        check(d["DeliveryStreamStatus"] in ("CREATING", "ACTIVE"), d)
        wait_for(lambda: fh.describe_delivery_stream(DeliveryStreamName=name)
                 ["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE", f"{name} ACTIVE")
    sizes = {}
    for name in STREAMS:
        # Small records, then 1.5 MiB of bigger ones (more than one 1 MiB buffer).
        sent = records("before", name, 1000) + records("big", name, 1500, pad=1000)
        put(name, sent)
        objs = deliver_all(name, sent)
        sizes[name] = len(objs)
        check(all(len(v) <= 1024 * 1024 + 1100 for v in objs.values()), [len(v) for v in objs.values()])
    check(sizes["to-s3"] >= 2, f"more than one object: {sizes}")
    check(metric("freshet_firehose_upload_failures_total", "to-s3") == 0, "no failures while S3 is up")
    check(metric("freshet_firehose_records_delivered_total", "to-s3") == 2500, "records delivered")
    check(local_objects() == [], f"nothing written to local buckets: {local_objects()[:3]}")
    print(f"objects: {sizes}")

elif PHASE == "outage":
    for name in STREAMS:
        put(name, records("outage", name, 500))
    for name in STREAMS:
        wait_for(lambda: (metric("freshet_firehose_upload_failures_total", name) or 0) > 0,
                 f"{name}: upload failures in /metrics", timeout=20)
        wait_for(lambda: (metric("freshet_firehose_data_freshness_ms", name) or 0) > 0,
                 f"{name}: data freshness in /metrics", timeout=20)
    time.sleep(2)  # a few retries, backing off
    # More records while the uploads keep failing.
    for name in STREAMS:
        put(name, records("outage2", name, 300))
    time.sleep(1)
    for name in STREAMS:
        failures = metric("freshet_firehose_upload_failures_total", name)
        freshness = metric("freshet_firehose_data_freshness_ms", name)
        check(failures >= 2, f"{name}: retried: {failures}")
        check(freshness >= 2000, f"{name}: data freshness grows while S3 is down: {freshness}")
        print(f"{name}: {failures:.0f} failed uploads, data freshness {freshness:.0f} ms")

elif PHASE == "recover":
    t0 = time.time()
    for bucket, _ in STREAMS.values():
        s3.create_bucket(Bucket=bucket)
    for name in STREAMS:
        sent = records("outage", name, 500) + records("outage2", name, 300)
        deliver_all(name, sent)
        wait_for(lambda: metric("freshet_firehose_data_freshness_ms", name) == 0,
                 f"{name}: data freshness back to 0")
    print(f"recovered in {time.time() - t0:.1f} s")
    check(local_objects() == [], f"nothing written to local buckets: {local_objects()[:3]}")

else:
    check(False, f"unknown phase {PHASE}")
print(f"{checks} passed, 0 failed")
