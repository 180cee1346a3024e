"""The two phases of the Firehose kill -9 test.

  put    ENDPOINT ACKED_FILE SECONDS   PutRecordBatch of unique records until the server
                                       dies or SECONDS pass; every acknowledged record's
                                       id is appended to ACKED_FILE (after the ack).
  verify ENDPOINT ACKED_FILE BUCKETS   waits until every acknowledged record is in some
                                       object, then checks that no record is in two.
"""
import os
import sys
import time
import uuid

import boto3
import botocore.config

mode, endpoint, acked_file = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = botocore.config.Config(retries={"max_attempts": 1}, read_timeout=10, connect_timeout=2)
fh = boto3.client("firehose", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", config=cfg)
NAME = "once"

if mode == "put":
    seconds = float(sys.argv[4])
    try:
        fh.create_delivery_stream(
            DeliveryStreamName=NAME, DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::once",
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
    except fh.exceptions.ResourceInUseException:
        pass
    run = uuid.uuid4().hex[:8]
    deadline = time.time() + seconds
    n = 0
    with open(acked_file, "a") as out:
        while time.time() < deadline:
            ids = [f"{run}-{n + i}" for i in range(50)]
            try:
                r = fh.put_record_batch(DeliveryStreamName=NAME, Records=[{"Data": f"{i}\n".encode()} for i in ids])
            except Exception:  # noqa: BLE001 - the server was killed
                break
            for i, resp in zip(ids, r["RequestResponses"]):
                if "RecordId" in resp:
                    out.write(i + "\n")
            out.flush()
            n += 50
    print(f"put {n} records")
    sys.exit(0)

buckets = sys.argv[4]
with open(acked_file) as f:
    acked = [l.strip() for l in f if l.strip()]


def delivered():
    counts = {}
    root = os.path.join(buckets, "once")
    for d, _, files in os.walk(root):
        for name in files:
            if "#" in name or name.startswith("."):
                continue
            with open(os.path.join(d, name), "rb") as fd:
                for line in fd.read().decode().splitlines():
                    counts[line] = counts.get(line, 0) + 1
    return counts


deadline = time.time() + 60
while True:
    counts = delivered()
    missing = [i for i in acked if i not in counts]
    if not missing or time.time() > deadline:
        break
    time.sleep(0.2)
twice = [k for k, v in counts.items() if v > 1]
print(f"{len(acked)} acknowledged, {len(counts)} delivered, {len(missing)} missing, {len(twice)} twice")
if missing or twice:
    print(f"0 passed, 1 failed: missing {missing[:5]}, twice {twice[:5]}")
    sys.exit(1)
print("2 passed, 0 failed")
