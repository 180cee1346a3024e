"""Reaches Freshet's resource limits through boto3 and checks the exact AWS errors and
that nothing is half-created.

Usage: python boto3_resource_limits.py MODE http://127.0.0.1:PORT [ARGS...]
  shards      server started with --shard-limit 10 --max-scaling-ops-per-day 3
  oversize    any server
  connections server started with --max-connections 4 --admission-wait-ms 100
  diskfull    server on a small file system; ARGS: the path of a filler file to remove
Prints "N checks passed" and exits 0, or raises.
"""
import base64
import json
import os
import socket
import sys
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

MODE, ENDPOINT = sys.argv[1], sys.argv[2]
ACCOUNT = "000000000000"
LIMITS_PAGE = (
    "Refer to the AWS Service Limits page "
    "(http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) "
    "for current limits and how to request higher limits."
)


def client(attempts=1):
    return boto3.client(
        "kinesis",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=botocore.config.Config(
            parameter_validation=False,
            retries={"max_attempts": attempts, "mode": "standard"},
            read_timeout=60,
            connect_timeout=5,
        ),
    )


kinesis = client()
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        raise AssertionError(what)


def error_of(fn, **kwargs):
    """Calls fn, which must fail; returns (code, message, http status)."""
    try:
        fn(**kwargs)
    except ClientError as e:
        return (
            e.response["Error"]["Code"],
            e.response["Error"].get("Message", ""),
            e.response["ResponseMetadata"]["HTTPStatusCode"],
        )
    raise AssertionError(f"{fn.__name__}({kwargs}) succeeded; an error was expected")


def wait_active(name):
    for _ in range(200):
        if kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never became ACTIVE")


def open_shards(name):
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    return [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]


def streams():
    return kinesis.list_streams()["StreamNames"]


def shard_limit_message(current, additional, limit=10):
    return (
        f"This request would exceed the shard limit for the account {ACCOUNT} in us-east-1. "
        f"Current shard count for the account: {current}. Limit: {limit}. "
        f"Number of additional shards that would have resulted from this request: {additional}. "
        + LIMITS_PAGE
    )


def shards_mode():
    lim = kinesis.describe_limits()
    check(lim["ShardLimit"] == 10 and lim["OpenShardCount"] == 0, lim)
    check(lim["OnDemandStreamCount"] == 0 and lim["OnDemandStreamCountLimit"] == 50, lim)

    # 100,000 shards: refused at once, nothing created.
    started = time.monotonic()
    code, msg, status = error_of(kinesis.create_stream, StreamName="huge", ShardCount=100_000)
    check(time.monotonic() - started < 2, "a 100,000-shard CreateStream is refused at once")
    check((code, status) == ("LimitExceededException", 400), (code, status))
    check(msg == shard_limit_message(0, 100_000), msg)
    check("huge" not in streams(), "nothing created")

    kinesis.create_stream(StreamName="a", ShardCount=6)
    wait_active("a")
    code, msg, _ = error_of(kinesis.create_stream, StreamName="b", ShardCount=5)
    check(code == "LimitExceededException" and msg == shard_limit_message(6, 5), msg)
    check(streams() == ["a"], streams())
    kinesis.create_stream(StreamName="b", ShardCount=3)
    wait_active("b")
    lim = kinesis.describe_limits()
    check(lim["OpenShardCount"] == 9, lim)

    # SplitShard: 9 open, +1 fits; the next does not.
    def split(name):
        s = open_shards(name)[0]
        lo, hi = int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])
        kinesis.split_shard(StreamName=name, ShardToSplit=s["ShardId"], NewStartingHashKey=str((lo + hi) // 2))

    split("b")
    wait_active("b")
    check(kinesis.describe_limits()["OpenShardCount"] == 10, "split to the limit")
    before = kinesis.list_shards(StreamName="b")["Shards"]
    code, msg, _ = error_of(split, name="b")
    check(code == "LimitExceededException" and msg == shard_limit_message(10, 1), msg)
    check(kinesis.list_shards(StreamName="b")["Shards"] == before, "a refused split creates nothing")

    # UpdateShardCount: beyond the account limit, then the double/half rules.
    code, msg, _ = error_of(kinesis.update_shard_count, StreamName="b", TargetShardCount=5, ScalingType="UNIFORM_SCALING")
    check(code == "LimitExceededException" and msg == shard_limit_message(10, 1), msg)
    check(kinesis.list_shards(StreamName="b")["Shards"] == before, "a refused scale creates nothing")
    kinesis.delete_stream(StreamName="a")
    for _ in range(100):
        if "a" not in streams():
            break
        time.sleep(0.05)
    code, msg, _ = error_of(kinesis.update_shard_count, StreamName="b", TargetShardCount=9, ScalingType="UNIFORM_SCALING")
    check(code == "LimitExceededException", code)
    check(msg == "UpdateShardCount cannot scale up over double your current open shard count. Current open shard count: 4, Target shard count: 9", msg)
    code, msg, _ = error_of(kinesis.update_shard_count, StreamName="b", TargetShardCount=1, ScalingType="UNIFORM_SCALING")
    check(code == "LimitExceededException", code)
    check(msg == "UpdateShardCount cannot scale down below half your current open shard count. Current open shard count: 4, Target shard count: 1", msg)
    check(kinesis.list_shards(StreamName="b")["Shards"] == before, "refused scales create nothing")

    # Scaling operations per rolling 24 hours (3 here): each call counts once.
    for target in (8, 4, 2):
        r = kinesis.update_shard_count(StreamName="b", TargetShardCount=target, ScalingType="UNIFORM_SCALING")
        check(r["TargetShardCount"] == target, r)
        wait_active("b")
    before = kinesis.list_shards(StreamName="b")["Shards"]
    code, msg, status = error_of(kinesis.update_shard_count, StreamName="b", TargetShardCount=3, ScalingType="UNIFORM_SCALING")
    check((code, status) == ("LimitExceededException", 400), (code, status))
    check(
        msg == f"Stream b under account {ACCOUNT} has already been scaled 3 times in the last 24 hours. "
        "UpdateShardCount can scale a stream at most 3 times per rolling 24-hour period.",
        msg,
    )
    check(kinesis.list_shards(StreamName="b")["Shards"] == before, "a refused scale creates nothing")
    # SplitShard and MergeShards are not scaling operations of UpdateShardCount.
    split("b")
    wait_active("b")
    lim = kinesis.describe_limits()
    check(lim["OpenShardCount"] == 3 and lim["ShardLimit"] == 10, lim)


def oversize_mode():
    kinesis.create_stream(StreamName="o", ShardCount=1)
    wait_active("o")
    # 17 MiB of data: a 22 MiB JSON body, over the 16 MiB maximum.
    started = time.monotonic()
    code, msg, status = error_of(kinesis.put_record, StreamName="o", PartitionKey="k", Data=b"x" * (17 << 20))
    check((code, status) == ("SerializationException", 400), (code, status, msg))
    check("exceeds the limit of 16777216 bytes" in msg, msg)
    check(time.monotonic() - started < 30, "refused promptly")
    # The connection pool and server are fine afterwards; nothing was written.
    kinesis.put_record(StreamName="o", PartitionKey="k", Data=b"small")
    it = kinesis.get_shard_iterator(StreamName="o", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    recs = kinesis.get_records(ShardIterator=it)["Records"]
    check([r["Data"] for r in recs] == [b"small"], recs)


def connections_mode():
    host, port = ENDPOINT.removeprefix("http://").split(":")
    idle = []
    for _ in range(4):
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # a head that never finishes
        idle.append(s)
    time.sleep(0.3)
    code, msg, status = error_of(kinesis.list_streams)
    check((code, status) == ("ServiceUnavailable", 503), (code, status, msg))
    check("too many open connections" in msg, msg)
    # The SDK's own retries ride it out once a slot frees up.
    for s in idle:
        s.close()
    time.sleep(0.2)
    check(kinesis.list_streams()["StreamNames"] == [], "served again below the cap")


def put_batch(i):
    records = [{"PartitionKey": f"k{i}-{j}", "Data": os.urandom(16) + b"%08d" % (i * 100 + j) + b"y" * 40_000} for j in range(25)]
    return records, kinesis.put_records(StreamName="d", Records=records)


def diskfull_mode():
    filler = sys.argv[3]
    kinesis.create_stream(StreamName="d", ShardCount=2)
    wait_active("d")
    acked = {}
    refused = None
    for i in range(400):
        try:
            records, r = put_batch(i)
        except ClientError as e:
            refused = e
            break
        for rec, res in zip(records, r["Records"]):
            if "SequenceNumber" in res:
                acked[(res["ShardId"], res["SequenceNumber"])] = rec["Data"]
            else:
                check(res.get("ErrorCode") in ("ServiceUnavailable", "InternalFailure"), res)
    check(refused is not None, "puts were never refused as the disk filled")
    code, msg, status = (
        refused.response["Error"]["Code"],
        refused.response["Error"].get("Message", ""),
        refused.response["ResponseMetadata"]["HTTPStatusCode"],
    )
    check((code, status) == ("ServiceUnavailable", 503), (code, status, msg))
    check("disk" in msg.lower() or "space" in msg.lower(), msg)
    check(len(acked) > 0, "some puts were acknowledged first")
    # Reads go on: every acknowledged record is there, byte for byte.
    seen = {}
    for sid in ("shardId-000000000000", "shardId-000000000001"):
        it = kinesis.get_shard_iterator(StreamName="d", ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for _ in range(2000):
            r = kinesis.get_records(ShardIterator=it, Limit=1000)
            for rec in r["Records"]:
                seen[(sid, rec["SequenceNumber"])] = rec["Data"]
            if not r["Records"] and r.get("MillisBehindLatest", 0) == 0:
                break
            it = r["NextShardIterator"]
    lost = [k for k, v in acked.items() if seen.get(k) != v]
    check(not lost, f"{len(lost)} acknowledged records unreadable")
    # Free space; puts resume by themselves (boto3's standard retries back off on 503).
    os.remove(filler)
    patient = client(attempts=10)
    started = time.monotonic()
    r = patient.put_record(StreamName="d", PartitionKey="after", Data=b"resumed")
    check(time.monotonic() - started < 30, "puts resumed promptly")
    it = kinesis.get_shard_iterator(
        StreamName="d", ShardId=r["ShardId"], ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=r["SequenceNumber"]
    )["ShardIterator"]
    check(kinesis.get_records(ShardIterator=it)["Records"][0]["Data"] == b"resumed", "resumed record readable")
    print(json.dumps({"acked": len(acked), "refused_after_batches": i}))


{"shards": shards_mode, "oversize": oversize_mode, "connections": connections_mode, "diskfull": diskfull_mode}[MODE]()
print(f"{checks} checks passed")
