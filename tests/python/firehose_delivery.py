"""Drives Freshet's Firehose with boto3: delivery streams (DirectPut and Kinesis
source) delivering into local buckets (directories under the server's data dir),
buffering by time and by size, GZIP, and AWS's errors.

Usage: python firehose_delivery.py ENDPOINT BUCKETS_DIR
Prints "N passed, 0 failed" at the end; exits non-zero on the first failed check.
"""
import gzip
import io
import json
import os
import re
import sys
import time
import zipfile

import boto3
import botocore.config
from aws_kinesis_agg.aggregator import RecordAggregator
from botocore.exceptions import ClientError

ENDPOINT, BUCKETS = sys.argv[1], sys.argv[2]
cfg = botocore.config.Config(retries={"max_attempts": 1}, read_timeout=30, connect_timeout=5)
kw = dict(endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
          aws_secret_access_key="secret", config=cfg)
fh = boto3.client("firehose", **kw)
kin = boto3.client("kinesis", **kw)
ROLE = "arn:aws:iam::000000000000:role/firehose"
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        print(f"{checks - 1} passed, 1 failed: {what}")
        sys.exit(1)


def expect_error(code, fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        check(e.response["Error"]["Code"] == code, f"{fn.__name__}: expected {code}, got {e.response['Error']}")
        return e
    check(False, f"{fn.__name__} succeeded, expected {code}")


def objects(bucket):
    """{key: bytes} of every object in a local bucket."""
    root = os.path.join(BUCKETS, bucket)
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            path = os.path.join(d, f)
            key = os.path.relpath(path, root)
            if "#" in f or f.startswith("."):
                continue  # object_store's temporary upload files
            with open(path, "rb") as fd:
                out[key] = fd.read()
    return out


def wait_for(pred, what, timeout=30.0):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            check(False, f"timed out waiting for {what}")
        time.sleep(0.05)


def s3_config(bucket, size_mb, interval, compression="UNCOMPRESSED", prefix=None):
    c = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
         "BufferingHints": {"SizeInMBs": size_mb, "IntervalInSeconds": interval},
         "CompressionFormat": compression}
    if prefix is not None:
        c["Prefix"] = prefix
    return c


KEY = re.compile(r"^\d{4}/\d{2}/\d{2}/\d{2}/(?P<name>[\w.-]+)-(?P<version>\d+)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[\w-]+(?P<ext>\.\w+)?$")

# --- the API and its errors -------------------------------------------------------
arn = fh.create_delivery_stream(DeliveryStreamName="time", DeliveryStreamType="DirectPut",
                                ExtendedS3DestinationConfiguration=s3_config("b-time", 1, 1))["DeliveryStreamARN"]
check(arn == "arn:aws:firehose:us-east-1:000000000000:deliverystream/time", arn)
d = fh.describe_delivery_stream(DeliveryStreamName="time")["DeliveryStreamDescription"]
check(d["DeliveryStreamStatus"] in ("CREATING", "ACTIVE") and d["DeliveryStreamType"] == "DirectPut", d)
d = wait_for(lambda: (lambda d: d if d["DeliveryStreamStatus"] == "ACTIVE" else None)(
    fh.describe_delivery_stream(DeliveryStreamName="time")["DeliveryStreamDescription"]), "time ACTIVE")
check(d["VersionId"] == "1", d)
ext = d["Destinations"][0]["ExtendedS3DestinationDescription"]
check(ext["BucketARN"] == "arn:aws:s3:::b-time" and ext["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 1}, ext)
expect_error("ResourceInUseException", fh.create_delivery_stream, DeliveryStreamName="time",
             ExtendedS3DestinationConfiguration=s3_config("b-time", 1, 1))
expect_error("ResourceNotFoundException", fh.describe_delivery_stream, DeliveryStreamName="nope")
expect_error("ResourceNotFoundException", fh.put_record, DeliveryStreamName="nope", Record={"Data": b"x"})
check("time" in fh.list_delivery_streams()["DeliveryStreamNames"], "listed")
check("time" not in kin.list_streams()["StreamNames"], "a delivery stream's buffer is not a Kinesis stream")

# --- delivery by time: the interval fires after the puts stop ------------------------
sent = []
for b in range(3):
    recs = [f"time-{b}-{i}\n".encode() for i in range(100)]
    r = fh.put_record_batch(DeliveryStreamName="time", Records=[{"Data": x} for x in recs])
    check(r["FailedPutCount"] == 0 and len(r["RequestResponses"]) == 100, r)
    sent += recs
r = fh.put_record(DeliveryStreamName="time", Record={"Data": b"time-last\n"})
check("RecordId" in r, r)
sent.append(b"time-last\n")
want = b"".join(sent)
got = wait_for(lambda: (lambda o: o if sum(len(v) for v in o.values()) >= len(want) else None)(objects("b-time")),
               "the time-buffered objects")
for key in got:
    m = KEY.match(key)
    check(m and m.group("name") == "time" and m.group("version") == "1" and not m.group("ext"), key)
# Objects of the same second are not ordered by key: order them by where they start.
check(b"".join(sorted(got.values(), key=want.find)) == want, "every record once, in order, no delimiter added")

# --- delivery by size: 1 MiB objects long before the 900 s interval -------------------
fh.create_delivery_stream(DeliveryStreamName="size", ExtendedS3DestinationConfiguration=s3_config("b-size", 1, 900))
big = [(f"size-{i:06d}-".encode() + b"x" * 1000)[:1000] for i in range(3000)]
for i in range(0, len(big), 500):
    fh.put_record_batch(DeliveryStreamName="size", Records=[{"Data": x} for x in big[i:i + 500]])
got = wait_for(lambda: (lambda o: o if len(o) >= 2 else None)(objects("b-size")), "size-buffered objects")
check(all(len(v) <= 1024 * 1024 + 1000 for v in got.values()), [len(v) for v in got.values()])
# Keys name the second, not the order, of objects written in the same second: order
# them by their first record. Each holds a run of consecutive records.
runs = sorted(got.values(), key=lambda v: int(v[5:11]))
joined = b"".join(runs)
check(joined == b"".join(big)[:len(joined)], "size-buffered objects hold consecutive runs of records, in order")

# --- GZIP ----------------------------------------------------------------------------
fh.create_delivery_stream(DeliveryStreamName="gz", ExtendedS3DestinationConfiguration=s3_config("b-gz", 1, 0, "GZIP"))
recs = [f"gz-{i}\n".encode() for i in range(200)]
fh.put_record_batch(DeliveryStreamName="gz", Records=[{"Data": x} for x in recs])
got = wait_for(lambda: (lambda o: o if sum(len(gzip.decompress(v)) for v in o.values()) >= len(b"".join(recs)) else None)(objects("b-gz")),
               "gzip objects")
check(all(k.endswith(".gz") for k in got), list(got))
plain = [gzip.decompress(v) for v in got.values()]
whole = b"".join(recs)
check(b"".join(sorted(plain, key=whole.find)) == whole, "gzip objects decompress to the records")

# --- ZIP and a prefix with expressions ---------------------------------------------------
fh.create_delivery_stream(DeliveryStreamName="zipped", ExtendedS3DestinationConfiguration=dict(
    s3_config("b-zip", 1, 0, "ZIP", prefix="data/!{timestamp:yyyy-MM-dd}/"),
    ErrorOutputPrefix="errors/!{firehose:error-output-type}/"))
expect_error("InvalidArgumentException", fh.create_delivery_stream, DeliveryStreamName="badprefix",
             ExtendedS3DestinationConfiguration=s3_config("b-zip", 1, 0, prefix="data/!{timestamp:yyyy}/"))
zrecs = [f"zip-{i}\n".encode() for i in range(50)]
fh.put_record_batch(DeliveryStreamName="zipped", Records=[{"Data": x} for x in zrecs])


def unzipped(o):
    out = []
    for v in o.values():
        with zipfile.ZipFile(io.BytesIO(v)) as z:
            out.append(b"".join(z.read(n) for n in z.namelist()))
    return out


got = wait_for(lambda: (lambda o: o if sum(map(len, unzipped(o))) >= len(b"".join(zrecs)) else None)(objects("b-zip")),
               "zip objects")
day = time.strftime("%Y-%m-%d", time.gmtime())
check(all(k.startswith(f"data/{day}/zipped-1-") and k.endswith(".zip") for k in got), list(got))
whole = b"".join(zrecs)
check(b"".join(sorted(unzipped(got), key=whole.find)) == whole, "zip objects hold the records")

# --- Kinesis stream as source: records put after creation --------------------------------
kin.create_stream(StreamName="src", ShardCount=2)
wait_for(lambda: kin.describe_stream_summary(StreamName="src")["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE", "src ACTIVE")
fh.create_delivery_stream(
    DeliveryStreamName="fromk", DeliveryStreamType="KinesisStreamAsSource",
    KinesisStreamSourceConfiguration={"KinesisStreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/src", "RoleARN": ROLE},
    ExtendedS3DestinationConfiguration=s3_config("b-k", 1, 0))
expect_error("InvalidArgumentException", fh.put_record, DeliveryStreamName="fromk", Record={"Data": b"x"})
time.sleep(0.5)
krecs = [f"k-{i}\n".encode() for i in range(100)]
kin.put_records(StreamName="src", Records=[{"PartitionKey": f"p{i % 7}", "Data": x} for i, x in enumerate(krecs)])
# A KPL aggregate is taken apart: its user records are delivered, not the aggregate.
agg = RecordAggregator()
users = [f"agg-{i}\n".encode() for i in range(3)]
for i, u in enumerate(users):
    agg.add_user_record(f"u{i}", u)
pk, ehk, blob = agg.clear_and_get().get_contents()
extra = {"ExplicitHashKey": ehk} if ehk else {}
kin.put_record(StreamName="src", PartitionKey=pk, Data=blob, **extra)
# Through a reshard: the source's first shard splits, and records put after go to its
# children, read once the parent is finished.
shard0 = kin.list_shards(StreamName="src")["Shards"][0]
lo, hi = int(shard0["HashKeyRange"]["StartingHashKey"]), int(shard0["HashKeyRange"]["EndingHashKey"])
kin.split_shard(StreamName="src", ShardToSplit=shard0["ShardId"], NewStartingHashKey=str((lo + hi) // 2))
wait_for(lambda: kin.describe_stream_summary(StreamName="src")["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE",
         "src ACTIVE after the split")
after = [f"after-split-{i}\n".encode() for i in range(100)]
kin.put_records(StreamName="src", Records=[{"PartitionKey": f"q{i}", "Data": x} for i, x in enumerate(after)])
want_k = krecs + users + after
got = wait_for(lambda: (lambda o: o if sum(len(v) for v in o.values()) >= len(b"".join(want_k)) else None)(objects("b-k")),
               "objects from the Kinesis source")
lines = b"".join(got.values()).splitlines(keepends=True)
check(sorted(lines) == sorted(want_k), "every Kinesis record delivered once, aggregates taken apart")

# --- UpdateDestination: the version goes up, and new objects carry it ------------------
d = fh.describe_delivery_stream(DeliveryStreamName="time")["DeliveryStreamDescription"]
fh.update_destination(DeliveryStreamName="time", CurrentDeliveryStreamVersionId=d["VersionId"],
                      DestinationId=d["Destinations"][0]["DestinationId"],
                      ExtendedS3DestinationUpdate={"BufferingHints": {"SizeInMBs": 2, "IntervalInSeconds": 0}})
d2 = fh.describe_delivery_stream(DeliveryStreamName="time")["DeliveryStreamDescription"]
check(d2["VersionId"] == "2", d2["VersionId"])
check(d2["Destinations"][0]["ExtendedS3DestinationDescription"]["BufferingHints"] == {"SizeInMBs": 2, "IntervalInSeconds": 0}, d2)
expect_error("ConcurrentModificationException", fh.update_destination, DeliveryStreamName="time",
             CurrentDeliveryStreamVersionId="1", DestinationId=d["Destinations"][0]["DestinationId"],
             ExtendedS3DestinationUpdate={"BufferingHints": {"SizeInMBs": 3, "IntervalInSeconds": 0}})
before = set(objects("b-time"))
fh.put_record(DeliveryStreamName="time", Record={"Data": b"after-update\n"})
new = wait_for(lambda: set(objects("b-time")) - before, "an object after the update")
check(all(KEY.match(k) and KEY.match(k).group("version") == "2" for k in new), new)

fh.delete_delivery_stream(DeliveryStreamName="gz")
expect_error("ResourceNotFoundException", fh.describe_delivery_stream, DeliveryStreamName="gz")
print(f"{checks} passed, 0 failed")
