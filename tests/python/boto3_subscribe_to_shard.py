"""boto3's subscribe_to_shard against a freshet server started with a short
--subscription-ttl-ms: every record arrives in order across re-subscriptions with
ContinuationSequenceNumber and across a split (ChildShards, then the children).

Usage: boto3_subscribe_to_shard.py ENDPOINT
Prints one line per check and ends with "N passed, M failed".
"""

import sys
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

ENDPOINT = sys.argv[1]
DEADLINE = time.time() + 120
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)), flush=True)


def client():
    return boto3.client(
        "kinesis",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )


k = client()


def wait_consumer_active(arn):
    for _ in range(100):
        d = k.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]
        if d["ConsumerStatus"] == "ACTIVE":
            return d
        time.sleep(0.05)
    raise RuntimeError("consumer never became ACTIVE")


def subscribe_once(arn, shard, position, sink):
    """One subscription until it ends: appends (seq, data) to sink; returns the last
    continuation and the child shards (or None)."""
    resp = k.subscribe_to_shard(ConsumerARN=arn, ShardId=shard, StartingPosition=position)
    cont, children, events = None, None, 0
    for ev in resp["EventStream"]:
        e = ev["SubscribeToShardEvent"]
        events += 1
        assert e["ContinuationSequenceNumber"], "null continuation"
        cont = e["ContinuationSequenceNumber"]
        for r in e["Records"]:
            sink.append((r["SequenceNumber"], r["Data"]))
        if e.get("ChildShards"):
            children = e["ChildShards"]
        if time.time() > DEADLINE:
            break
    return cont, children, events


def read_shard(arn, shard, want, sink):
    """Subscribes (and re-subscribes with AFTER_SEQUENCE_NUMBER) until `want` records or
    the shard's end; returns (subscriptions used, child shards)."""
    position = {"Type": "TRIM_HORIZON"}
    subs = 0
    while time.time() < DEADLINE:
        subs += 1
        cont, children, _ = subscribe_once(arn, shard, position, sink)
        if children is not None or len(sink) >= want:
            return subs, children
        position = {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": cont}
    return subs, None


# --- every record in order across re-subscriptions -----------------------------------
k.create_stream(StreamName="efo-py", ShardCount=1)
k.get_waiter("stream_exists").wait(StreamName="efo-py", WaiterConfig={"Delay": 0.1})
stream_arn = k.describe_stream_summary(StreamName="efo-py")["StreamDescriptionSummary"]["StreamARN"]
consumer = k.register_stream_consumer(StreamARN=stream_arn, ConsumerName="py")["Consumer"]
check("consumer arn names stream and consumer", "/consumer/py:" in consumer["ConsumerARN"], consumer)
wait_consumer_active(consumer["ConsumerARN"])

N = 300
sent = [f"r-{i:05}".encode() for i in range(N)]


def producer():
    p = client()
    for i, data in enumerate(sent):
        p.put_record(StreamName="efo-py", PartitionKey="pk", Data=data)
        if i % 10 == 0:
            # 30 pauses of 100 ms outlast the 1.5 s subscription lifetime.
            time.sleep(0.1)


t = threading.Thread(target=producer)
t.start()
got = []
subs, _ = read_shard(consumer["ConsumerARN"], "shardId-000000000000", N, got)
t.join()
check("every record arrives once, in order", [d for _, d in got] == sent, (len(got), got[:3]))
check("sequence numbers increase", all(a[0] < b[0] for a, b in zip(got, got[1:])))
check("re-subscribed at the lifetime boundary", subs >= 2, subs)

# --- a second subscription meanwhile is refused -------------------------------------
resp = k.subscribe_to_shard(
    ConsumerARN=consumer["ConsumerARN"], ShardId="shardId-000000000000",
    StartingPosition={"Type": "LATEST"},
)
stream = iter(resp["EventStream"])
first = next(stream)
try:
    k.subscribe_to_shard(
        ConsumerARN=consumer["ConsumerARN"], ShardId="shardId-000000000000",
        StartingPosition={"Type": "LATEST"},
    )
    check("second subscription refused", False, "accepted")
except ClientError as e:
    check("second subscription refused", e.response["Error"]["Code"] == "ResourceInUseException", e)
check("first event is a SubscribeToShardEvent", "SubscribeToShardEvent" in first, first)
resp["EventStream"].close()

# --- across a split -----------------------------------------------------------------
k.create_stream(StreamName="efo-split", ShardCount=1)
k.get_waiter("stream_exists").wait(StreamName="efo-split", WaiterConfig={"Delay": 0.1})
split_arn = k.describe_stream_summary(StreamName="efo-split")["StreamDescriptionSummary"]["StreamARN"]
c2 = k.register_stream_consumer(StreamARN=split_arn, ConsumerName="splitter")["Consumer"]
wait_consumer_active(c2["ConsumerARN"])
before = [f"b-{i}".encode() for i in range(50)]
after = [f"a-{i}".encode() for i in range(50)]
for i, d in enumerate(before):
    k.put_record(StreamName="efo-split", PartitionKey=f"k{i}", Data=d)
k.split_shard(
    StreamName="efo-split", ShardToSplit="shardId-000000000000",
    NewStartingHashKey=str(2**127),
)
for i, d in enumerate(after):
    k.put_record(StreamName="efo-split", PartitionKey=f"k{i}", Data=d)
parent = []
_, children = read_shard(c2["ConsumerARN"], "shardId-000000000000", 10**9, parent)
check("parent delivers its records in order", [d for _, d in parent] == before, len(parent))
check("parent ends with two child shards", children is not None and len(children) == 2, children)
child_got = []
for ch in children or []:
    part = []
    sent_here = [
        d for i, d in enumerate(after)
        if int(ch["HashKeyRange"]["StartingHashKey"])
        <= int.from_bytes(__import__("hashlib").md5(f"k{i}".encode()).digest(), "big")
        <= int(ch["HashKeyRange"]["EndingHashKey"])
    ]
    read_shard(c2["ConsumerARN"], ch["ShardId"], len(sent_here), part)
    check(f"child {ch['ShardId']} delivers its records in order", [d for _, d in part] == sent_here,
          (len(part), len(sent_here)))
    child_got += part
check("children together deliver every later record", sorted(d for _, d in child_got) == sorted(after))

# --- errors -------------------------------------------------------------------------
try:
    k.subscribe_to_shard(
        ConsumerARN=consumer["ConsumerARN"].replace(":stream/efo-py/consumer/py:", ":stream/efo-py/consumer/nobody:"),
        ShardId="shardId-000000000000", StartingPosition={"Type": "LATEST"},
    )
    check("unknown consumer refused", False, "accepted")
except ClientError as e:
    check("unknown consumer refused", e.response["Error"]["Code"] == "ResourceNotFoundException", e)

failed = results.count(False)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
