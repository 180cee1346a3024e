"""On-failure destinations outside Freshet: an event source mapping whose function
always fails sends AWS's failure record to an SQS queue, an SNS topic (delivered on
to an SQS queue by moto) and an S3 bucket of a moto server, the endpoint the freshet
server was given as AWS_ENDPOINT_URL_SQS / _SNS / _S3.

Usage: lambda_destinations.py FRESHET_ENDPOINT MOTO_ENDPOINT
Prints one line per check and ends with "N passed, M failed".
"""

import json
import sys
import time

import boto3
from botocore.exceptions import ClientError

from lambda_common import clients, make_function, make_stream, python_zip, put, wait_until

ENDPOINT, MOTO = sys.argv[1], sys.argv[2]
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)), flush=True)


lam, kin = clients(ENDPOINT)
kw = dict(endpoint_url=MOTO, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
sqs, sns, s3 = boto3.client("sqs", **kw), boto3.client("sns", **kw), boto3.client("s3", **kw)

queue = sqs.create_queue(QueueName="esm-failures")["QueueUrl"]
queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
topic_queue = sqs.create_queue(QueueName="esm-topic-copy")["QueueUrl"]
topic_queue_arn = sqs.get_queue_attributes(QueueUrl=topic_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
topic = sns.create_topic(Name="esm-failures")["TopicArn"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=topic_queue_arn, Attributes={"RawMessageDelivery": "true"})
s3.create_bucket(Bucket="esm-failures")

fn = make_function(lam, "always-fails", python_zip())
mappings = {}
for kind, dest in [("sqs", queue_arn), ("sns", topic), ("s3", "arn:aws:s3:::esm-failures")]:
    stream_arn = make_stream(kin, f"dest-{kind}", 1)
    m = lam.create_event_source_mapping(
        FunctionName="always-fails", EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON",
        BatchSize=1, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": dest}})
    check(f"{kind}: the mapping names its destination", m["DestinationConfig"]["OnFailure"]["Destination"] == dest, m)
    mappings[kind] = m["UUID"]
    put(kin, f"dest-{kind}", [("pk", json.dumps({"poison": True, "kind": kind}))])


def one_message(url):
    def get():
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
        return got or None
    return wait_until(get, f"a message in {url}", timeout=90, interval=0.2)


def check_record(kind, doc, stream):
    check(f"{kind}: AWS's failure record",
          doc.get("requestContext", {}).get("condition") == "RetryAttemptsExhausted"
          and doc.get("responseContext", {}).get("functionError") == "Unhandled"
          and doc.get("version") == "1.0", doc)
    info = doc.get("KinesisBatchInfo", {})
    check(f"{kind}: the batch is named", info.get("batchSize") == 1 and info.get("shardId") == "shardId-000000000000"
          and info.get("streamArn", "").endswith(f":stream/{stream}"), info)


msgs = one_message(queue)
check("sqs: one record", len(msgs) == 1, msgs)
check_record("sqs", json.loads(msgs[0]["Body"]), "dest-sqs")

msgs = one_message(topic_queue)
check("sns: one record delivered on to the subscribed queue", len(msgs) == 1, msgs)
check_record("sns", json.loads(msgs[0]["Body"]), "dest-sns")

objects = wait_until(lambda: s3.list_objects_v2(Bucket="esm-failures").get("Contents"), "an object in the bucket",
                     timeout=90, interval=0.2)
check("s3: one object", len(objects) == 1, objects)
key = objects[0]["Key"]
doc = json.loads(s3.get_object(Bucket="esm-failures", Key=key)["Body"].read())
check_record("s3", doc, "dest-s3")
prefix = f"aws/lambda/{mappings['s3']}/shardId-000000000000/" + time.strftime("%Y/%m/%d/", time.gmtime())
check("s3: AWS's key layout", key.startswith(prefix), key)
records = doc.get("payload", {}).get("Records", [])
check("s3: the invocation's payload is kept", len(records) == 1 and records[0]["eventSource"] == "aws:kinesis", doc)

try:
    lam.create_event_source_mapping(
        FunctionName="always-fails", EventSourceArn=make_stream(kin, "dest-bad", 1), StartingPosition="LATEST",
        DestinationConfig={"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:x"}})
    check("a destination of another service is refused", False, "accepted")
except ClientError as e:
    check("a destination of another service is refused", e.response["Error"]["Code"] == "InvalidParameterValueException", e)

failed = results.count(False)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
