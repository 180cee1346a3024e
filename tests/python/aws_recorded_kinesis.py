"""Kinesis behaviours recorded against real AWS (LocalStack's AWS-validated snapshots of
tests/aws/services/kinesis) that Freshet once answered differently, checked with boto3
against a freshet server:

- CreateStream with neither ShardCount nor StreamModeDetails creates an on-demand
  stream of 4 shards;
- Put/Get/DeleteResourcePolicy on a stream and on a consumer, with AWS's replies;
- GetRecords takes a shard iterator wrapped in double quotes;
- SubscribeToShard's ContinuationSequenceNumber is not the last record's sequence
  number, and resuming AFTER_SEQUENCE_NUMBER it (subscription or GetShardIterator)
  neither repeats nor skips a record.

Usage: aws_recorded_kinesis.py ENDPOINT
Prints one line per check and ends with "N passed, M failed".
"""

import json
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1]
DEADLINE = time.time() + 90
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)), flush=True)


def error_code(fn):
    try:
        fn()
        return None
    except ClientError as e:
        return e.response["Error"]["Code"]


k = boto3.client(
    "kinesis",
    endpoint_url=ENDPOINT,
    region_name="us-east-1",
    aws_access_key_id="AKIDEXAMPLE",
    aws_secret_access_key="secret",
    config=Config(retries={"max_attempts": 1}, read_timeout=30),
)


def wait_active(name):
    k.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})


# --- CreateStream without ShardCount or StreamModeDetails ---------------------------
k.create_stream(StreamName="no-count")
wait_active("no-count")
summary = k.describe_stream_summary(StreamName="no-count")["StreamDescriptionSummary"]
shards = k.describe_stream(StreamName="no-count")["StreamDescription"]["Shards"]
check("created without a shard count: 4 shards", len(shards) == 4, len(shards))
check("created without a shard count: on-demand", summary["StreamModeDetails"]["StreamMode"] == "ON_DEMAND", summary)
check("shards cover the hash key space",
      shards[0]["HashKeyRange"]["StartingHashKey"] == "0"
      and shards[-1]["HashKeyRange"]["EndingHashKey"] == str(2**128 - 1), shards)
check("a shard count still makes a provisioned stream",
      error_code(lambda: k.create_stream(StreamName="with-count", ShardCount=2)) is None
      and (wait_active("with-count") or True)
      and k.describe_stream_summary(StreamName="with-count")["StreamDescriptionSummary"]["StreamModeDetails"]["StreamMode"] == "PROVISIONED")

# --- resource policies ---------------------------------------------------------------
arn = summary["StreamARN"]
check("no policy yet: {}", k.get_resource_policy(ResourceARN=arn)["Policy"] == "{}")
policy = {
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "AllowCrossAccountWrite", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "kinesis:PutRecord", "Resource": arn,
    }],
}
put = k.put_resource_policy(ResourceARN=arn, Policy=json.dumps(policy))
check("put answers 200 with no members", put["ResponseMetadata"]["HTTPStatusCode"] == 200
      and set(put) == {"ResponseMetadata"}, put)
check("get returns the policy", json.loads(k.get_resource_policy(ResourceARN=arn)["Policy"]) == policy)
policy["Statement"][0]["Action"] = ["kinesis:PutRecord", "kinesis:GetRecords"]
k.put_resource_policy(ResourceARN=arn, Policy=json.dumps(policy))
check("put replaces it", json.loads(k.get_resource_policy(ResourceARN=arn)["Policy"]) == policy)
check("a policy that is not JSON is refused",
      error_code(lambda: k.put_resource_policy(ResourceARN=arn, Policy="{not json")) == "InvalidArgumentException")
check("a policy without statements is refused",
      error_code(lambda: k.put_resource_policy(ResourceARN=arn, Policy='{"Version":"2012-10-17"}')) == "InvalidArgumentException")
k.delete_resource_policy(ResourceARN=arn)
check("deleted: {} again", k.get_resource_policy(ResourceARN=arn)["Policy"] == "{}")
check("deleting a missing policy: ResourceNotFoundException",
      error_code(lambda: k.delete_resource_policy(ResourceARN=arn)) == "ResourceNotFoundException")
missing = "arn:aws:kinesis:us-east-1:000000000000:stream/non-existent-xxxxxx"
check("a policy for a stream that does not exist: ResourceNotFoundException",
      error_code(lambda: k.put_resource_policy(ResourceARN=missing, Policy=json.dumps(policy))) == "ResourceNotFoundException")
consumer = k.register_stream_consumer(StreamARN=arn, ConsumerName="policy-holder")["Consumer"]
k.put_resource_policy(ResourceARN=consumer["ConsumerARN"], Policy=json.dumps(policy))
check("a consumer has its own policy",
      json.loads(k.get_resource_policy(ResourceARN=consumer["ConsumerARN"])["Policy"]) == policy
      and k.get_resource_policy(ResourceARN=arn)["Policy"] == "{}")
k.put_resource_policy(ResourceARN=arn, Policy=json.dumps(policy))
k.delete_stream(StreamName="no-count", EnforceConsumerDeletion=True)
for _ in range(200):
    if error_code(lambda: k.describe_stream_summary(StreamName="no-count")) == "ResourceNotFoundException":
        break
    time.sleep(0.05)
k.create_stream(StreamName="no-count", ShardCount=1)
wait_active("no-count")
check("a stream created again under the name starts without the old policy",
      k.get_resource_policy(ResourceARN=arn)["Policy"] == "{}")

# --- a quoted shard iterator ---------------------------------------------------------
k.put_records(StreamName="with-count", Records=[{"Data": b"Hello world", "PartitionKey": "1"}])
shard_of = k.list_shards(StreamName="with-count")["Shards"]
got = []
for s in shard_of:
    it = k.get_shard_iterator(StreamName="with-count", ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got += k.get_records(ShardIterator=f'"{it}"')["Records"]
check("GetRecords takes an iterator in double quotes", [r["Data"] for r in got] == [b"Hello world"], got)

# --- ContinuationSequenceNumber ------------------------------------------------------
k.create_stream(StreamName="continue", ShardCount=1)
wait_active("continue")
carn = k.describe_stream_summary(StreamName="continue")["StreamDescriptionSummary"]["StreamARN"]
c = k.register_stream_consumer(StreamARN=carn, ConsumerName="c1")["Consumer"]["ConsumerARN"]
for _ in range(100):
    if k.describe_stream_consumer(ConsumerARN=c)["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE":
        break
    time.sleep(0.05)
shard = "shardId-000000000000"
count = k.describe_stream_summary(StreamName="continue")["StreamDescriptionSummary"]["ConsumerCount"]
check("DescribeStreamSummary counts the stream's consumers", count == 1, count)


def subscribe(position, want):
    """Records and the last continuation of one subscription, until `want` records."""
    stream = k.subscribe_to_shard(ConsumerARN=c, ShardId=shard, StartingPosition=position)["EventStream"]
    records, cont = [], None
    for ev in stream:
        e = ev["SubscribeToShardEvent"]
        records += e["Records"]
        cont = e["ContinuationSequenceNumber"]
        if len(records) >= want or time.time() > DEADLINE:
            break
    stream.close()
    return records, cont


empty, first_cont = subscribe({"Type": "TRIM_HORIZON"}, 0)
check("an empty shard's continuation is a 38-digit number", first_cont is not None and len(first_cont) == 38, first_cont)
k.put_records(StreamName="continue", Records=[{"Data": f"Hello world_{i}".encode(), "PartitionKey": "1"} for i in range(5)])
got, cont = subscribe({"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": first_cont}, 5)
check("resuming after an empty shard's continuation starts at its first record",
      [r["Data"] for r in got] == [f"Hello world_{i}".encode() for i in range(5)], got)
check("the continuation is not the last record's sequence number",
      cont != got[-1]["SequenceNumber"], (cont, got[-1]["SequenceNumber"] if got else None))
k.put_records(StreamName="continue", Records=[{"Data": f"next_{i}".encode(), "PartitionKey": "1"} for i in range(3)])
more, _ = subscribe({"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": cont}, 3)
check("resuming after the continuation: the next records, none repeated or skipped",
      [r["Data"] for r in more] == [f"next_{i}".encode() for i in range(3)], more)
it = k.get_shard_iterator(StreamName="continue", ShardId=shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                          StartingSequenceNumber=cont)["ShardIterator"]
polled = k.get_records(ShardIterator=it)["Records"]
check("GetShardIterator AFTER_SEQUENCE_NUMBER the continuation: the same records",
      [r["Data"] for r in polled] == [f"next_{i}".encode() for i in range(3)], polled)
check("a continuation of another shard is refused",
      error_code(lambda: k.get_shard_iterator(
          StreamName="with-count", ShardId="shardId-000000000001", ShardIteratorType="AFTER_SEQUENCE_NUMBER",
          StartingSequenceNumber=cont)) == "InvalidArgumentException")

failed = results.count(False)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
