"""Drives every Kinesis action of a Freshet server with boto3 and checks the replies.

Usage: python boto3_every_action.py http://127.0.0.1:PORT
Exits non-zero on the first failed check.
"""
import datetime
import sys
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1]
kinesis = boto3.client(
    "kinesis",
    endpoint_url=ENDPOINT,
    region_name="us-east-1",
    aws_access_key_id="AKIDEXAMPLE",
    aws_secret_access_key="secret",
    config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1}, read_timeout=30, connect_timeout=5),
)
ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/"
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        raise AssertionError(what)


def expect_error(code, fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        check(got == code, f"{fn.__name__}: expected {code}, got {got}: {e}")
        check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, "errors are HTTP 400")
        return e.response["Error"]["Message"]
    raise AssertionError(f"{fn.__name__} {kwargs}: expected {code}, got success")


# Streams.
kinesis.create_stream(StreamName="py-a", ShardCount=2, Tags={"team": "data"})
kinesis.create_stream(StreamName="py-b", StreamModeDetails={"StreamMode": "ON_DEMAND"})
expect_error("ResourceInUseException", kinesis.create_stream, StreamName="py-a", ShardCount=1)
msg = expect_error("ResourceNotFoundException", kinesis.describe_stream, StreamName="nope")
check(msg == "Stream nope under account 000000000000 not found.", msg)
expect_error("ValidationException", kinesis.create_stream, StreamName="bad name!", ShardCount=1)
expect_error("LimitExceededException", kinesis.create_stream, StreamName="huge", ShardCount=5000)
kinesis.get_waiter("stream_exists").wait(StreamName="py-a", WaiterConfig={"Delay": 1, "MaxAttempts": 10})

d = kinesis.describe_stream(StreamName="py-a")["StreamDescription"]
check(d["StreamStatus"] == "ACTIVE", d)
check(len(d["Shards"]) == 2 and d["HasMoreShards"] is False, d)
check(d["StreamARN"] == ARN + "py-a", d["StreamARN"])
check(isinstance(d["StreamCreationTimestamp"], datetime.datetime), d)
page = kinesis.describe_stream(StreamName="py-a", Limit=1)["StreamDescription"]
check(len(page["Shards"]) == 1 and page["HasMoreShards"], page)
page2 = kinesis.describe_stream(StreamName="py-a", Limit=1, ExclusiveStartShardId=page["Shards"][0]["ShardId"])
check(page2["StreamDescription"]["Shards"][0]["ShardId"] == "shardId-000000000001", page2)
s = kinesis.describe_stream_summary(StreamARN=ARN + "py-a")["StreamDescriptionSummary"]
check(s["OpenShardCount"] == 2 and s["RetentionPeriodHours"] == 24, s)
b = kinesis.describe_stream_summary(StreamName="py-b")["StreamDescriptionSummary"]
check(b["StreamModeDetails"]["StreamMode"] == "ON_DEMAND" and b["OpenShardCount"] == 4, b)

ls = kinesis.list_streams(Limit=1)
check(ls["StreamNames"] == ["py-a"] and ls["HasMoreStreams"], ls)
ls2 = kinesis.list_streams(NextToken=ls["NextToken"])
check(ls2["StreamNames"] == ["py-b"] and not ls2["HasMoreStreams"], ls2)
check(ls2["StreamSummaries"][0]["StreamARN"] == ARN + "py-b", ls2)
ls3 = kinesis.list_streams(ExclusiveStartStreamName="py-a")
check(ls3["StreamNames"] == ["py-b"], ls3)

# Records.
put = kinesis.put_record(StreamName="py-a", PartitionKey="k1", Data=b"\x00hello\xff")
check(put["ShardId"].startswith("shardId-") and len(put["SequenceNumber"]) == 38, put)
put2 = kinesis.put_record(StreamName="py-a", PartitionKey="k1", Data=b"second", SequenceNumberForOrdering=put["SequenceNumber"])
check(put2["SequenceNumber"] > put["SequenceNumber"], put2)
explicit = kinesis.put_record(StreamName="py-a", PartitionKey="x", Data=b"e", ExplicitHashKey=str(2**127))
check(explicit["ShardId"] == "shardId-000000000001", explicit)
expect_error("InvalidArgumentException", kinesis.put_record, StreamName="py-a", PartitionKey="x", Data=b"e", ExplicitHashKey=str(2**128))
expect_error("ValidationException", kinesis.put_record, StreamName="py-a", PartitionKey="", Data=b"e")
expect_error("ValidationException", kinesis.put_record, StreamName="py-a", PartitionKey="k", Data=b"x" * (1024 * 1024 + 1))
many = kinesis.put_records(StreamName="py-a", Records=[{"PartitionKey": f"p{i}", "Data": f"r{i}".encode()} for i in range(100)])
check(many["FailedRecordCount"] == 0 and len(many["Records"]) == 100, many["FailedRecordCount"])
expect_error("ValidationException", kinesis.put_records, StreamName="py-a", Records=[{"PartitionKey": "p", "Data": b"x"}] * 501)

shard = put["ShardId"]
it = kinesis.get_shard_iterator(StreamName="py-a", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
got = kinesis.get_records(ShardIterator=it, Limit=2)
check([r["Data"] for r in got["Records"]][:1] == [b"\x00hello\xff"], got["Records"])
check(got["Records"][0]["PartitionKey"] == "k1", got["Records"][0])
check(isinstance(got["Records"][0]["ApproximateArrivalTimestamp"], datetime.datetime), got)
check("NextShardIterator" in got and "MillisBehindLatest" in got, got)
at = kinesis.get_shard_iterator(StreamName="py-a", ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=put2["SequenceNumber"])
check(kinesis.get_records(ShardIterator=at["ShardIterator"], Limit=1)["Records"][0]["Data"] == b"second", "AT_SEQUENCE_NUMBER")
after = kinesis.get_shard_iterator(StreamName="py-a", ShardId=shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=put["SequenceNumber"])
check(kinesis.get_records(ShardIterator=after["ShardIterator"], Limit=1)["Records"][0]["Data"] == b"second", "AFTER_SEQUENCE_NUMBER")
ts = kinesis.get_shard_iterator(StreamName="py-a", ShardId=shard, ShardIteratorType="AT_TIMESTAMP", Timestamp=datetime.datetime.now() - datetime.timedelta(hours=1))
check(kinesis.get_records(ShardIterator=ts["ShardIterator"], Limit=1)["Records"][0]["Data"] == b"\x00hello\xff", "AT_TIMESTAMP")
latest = kinesis.get_shard_iterator(StreamARN=ARN + "py-a", ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
check(kinesis.get_records(ShardIterator=latest)["Records"] == [], "LATEST is empty")
kinesis.put_record(StreamName="py-a", PartitionKey="k1", Data=b"after-latest")
check(kinesis.get_records(ShardIterator=latest)["Records"][0]["Data"] == b"after-latest", "LATEST sees new records")
expect_error("InvalidArgumentException", kinesis.get_records, ShardIterator="AAAAnot-an-iterator")
expect_error("ResourceNotFoundException", kinesis.get_shard_iterator, StreamName="py-a", ShardId="shardId-000000000099", ShardIteratorType="LATEST")
expect_error("InvalidArgumentException", kinesis.get_shard_iterator, StreamName="py-a", ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER")

# Shards and resharding.
shards = kinesis.list_shards(StreamName="py-a", MaxResults=1)
check(len(shards["Shards"]) == 1 and "NextToken" in shards, shards)
rest = kinesis.list_shards(NextToken=shards["NextToken"])
check([s["ShardId"] for s in rest["Shards"]] == ["shardId-000000000001"], rest)
kinesis.split_shard(StreamName="py-a", ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**126))
kinesis.merge_shards(StreamName="py-a", ShardToMerge="shardId-000000000002", AdjacentShardToMerge="shardId-000000000003")
expect_error("ResourceInUseException", kinesis.split_shard, StreamName="py-a", ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**125))
latest_shards = kinesis.list_shards(StreamName="py-a", ShardFilter={"Type": "AT_LATEST"})["Shards"]
check(sorted(s["ShardId"] for s in latest_shards) == ["shardId-000000000001", "shardId-000000000004"], latest_shards)
th = kinesis.list_shards(StreamName="py-a", ShardFilter={"Type": "AT_TRIM_HORIZON"})["Shards"]
check(sorted(s["ShardId"] for s in th) == ["shardId-000000000000", "shardId-000000000001"], th)
allshards = kinesis.list_shards(StreamName="py-a", ShardFilter={"Type": "FROM_TRIM_HORIZON"})["Shards"]
check(len(allshards) == 5, allshards)
after_id = kinesis.list_shards(StreamName="py-a", ShardFilter={"Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000002"})["Shards"]
check([s["ShardId"] for s in after_id] == ["shardId-000000000003", "shardId-000000000004"], after_id)
now = kinesis.list_shards(StreamName="py-a", ShardFilter={"Type": "AT_TIMESTAMP", "Timestamp": datetime.datetime.now()})["Shards"]
check(sorted(s["ShardId"] for s in now) == ["shardId-000000000001", "shardId-000000000004"], now)
since = kinesis.list_shards(StreamName="py-a", ShardFilter={"Type": "FROM_TIMESTAMP", "Timestamp": datetime.datetime.now() - datetime.timedelta(hours=1)})["Shards"]
check(len(since) == 5, since)
parent_it = kinesis.get_shard_iterator(StreamName="py-a", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
drained = 0
for _ in range(20):
    r = kinesis.get_records(ShardIterator=parent_it)
    drained += len(r["Records"])
    if not r.get("NextShardIterator"):
        check(sorted(c["ShardId"] for c in r["ChildShards"]) == ["shardId-000000000002", "shardId-000000000003"], r)
        break
    parent_it = r["NextShardIterator"]
else:
    raise AssertionError("closed parent never ended")
check(drained > 0, "parent had records")
usc = kinesis.update_shard_count(StreamName="py-a", TargetShardCount=4, ScalingType="UNIFORM_SCALING")
check(usc["CurrentShardCount"] == 2 and usc["TargetShardCount"] == 4, usc)
expect_error("LimitExceededException", kinesis.update_shard_count, StreamName="py-a", TargetShardCount=100, ScalingType="UNIFORM_SCALING")

# Settings.
kinesis.increase_stream_retention_period(StreamName="py-a", RetentionPeriodHours=48)
expect_error("InvalidArgumentException", kinesis.decrease_stream_retention_period, StreamName="py-a", RetentionPeriodHours=72)
kinesis.decrease_stream_retention_period(StreamName="py-a", RetentionPeriodHours=24)
expect_error("InvalidArgumentException", kinesis.increase_stream_retention_period, StreamName="py-a", RetentionPeriodHours=9000)
kinesis.add_tags_to_stream(StreamName="py-a", Tags={"env": "test", "owner": "me"})
kinesis.remove_tags_from_stream(StreamName="py-a", TagKeys=["owner"])
tags = kinesis.list_tags_for_stream(StreamName="py-a")
check(tags["Tags"] == [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "data"}] and not tags["HasMoreTags"], tags)
kinesis.tag_resource(ResourceARN=ARN + "py-a", Tags={"x": "1"})
kinesis.untag_resource(ResourceARN=ARN + "py-a", TagKeys=["env"])
rt = kinesis.list_tags_for_resource(ResourceARN=ARN + "py-a")["Tags"]
check(sorted(t["Key"] for t in rt) == ["team", "x"], rt)
kinesis.update_stream_mode(StreamARN=ARN + "py-b", StreamModeDetails={"StreamMode": "PROVISIONED"})
check(kinesis.describe_stream_summary(StreamName="py-b")["StreamDescriptionSummary"]["StreamModeDetails"]["StreamMode"] == "PROVISIONED", "mode")
kinesis.start_stream_encryption(StreamName="py-a", EncryptionType="KMS", KeyId="alias/aws/kinesis")
check(kinesis.describe_stream_summary(StreamName="py-a")["StreamDescriptionSummary"]["EncryptionType"] == "KMS", "encryption")
kinesis.stop_stream_encryption(StreamName="py-a", EncryptionType="KMS", KeyId="alias/aws/kinesis")
em = kinesis.enable_enhanced_monitoring(StreamName="py-a", ShardLevelMetrics=["IncomingBytes"])
check(em["DesiredShardLevelMetrics"] == ["IncomingBytes"] and em["CurrentShardLevelMetrics"] == [], em)
dm = kinesis.disable_enhanced_monitoring(StreamName="py-a", ShardLevelMetrics=["IncomingBytes"])
check(dm["DesiredShardLevelMetrics"] == [], dm)
lim = kinesis.describe_limits()
check(lim["OpenShardCount"] == 8 and lim["ShardLimit"] >= 8 and lim["OnDemandStreamCount"] == 0, lim)
acct = kinesis.describe_account_settings()
check(acct["MinimumThroughputBillingCommitment"]["Status"] == "DISABLED", acct)

kinesis.delete_stream(StreamName="py-b")
expect_error("ResourceNotFoundException", kinesis.describe_stream, StreamName="py-b")
kinesis.delete_stream(StreamARN=ARN + "py-a")
check(kinesis.list_streams()["StreamNames"] == [], "all deleted")
print(f"boto3: {checks} passed, 0 failed")
