"""boto3 and the AWS CLI against `freshet serve --tls-cert/--tls-key`, unchanged: they
trust the test CA the way users configure it (boto3's `verify=`, `AWS_CA_BUNDLE`, the
CLI's `--ca-bundle`, a profile's `ca_bundle`), create a stream, put and get records and
(boto3) read a SubscribeToShard event stream over HTTPS; without the CA both refuse the
server's certificate, which shows the connection really is TLS.

Usage: python tls_boto3_and_awscli.py ENDPOINT CA_PEM AWS_CLI WORK_DIR
Prints "N passed, M failed" and exits non-zero when M > 0.
"""
import os
import subprocess
import sys
import time

import boto3
import botocore.config
import botocore.exceptions

from cases import case, check, finish

ENDPOINT, CA, AWS_CLI, WORK = sys.argv[1:5]
STREAM = "tls-boto3"
CLI_STREAM = "tls-cli"
# The machine's own AWS_CA_BUNDLE (if any) must not decide the outcome: each case sets
# what it trusts.
os.environ.pop("AWS_CA_BUNDLE", None)
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def kinesis(verify=None):
    """A boto3 Kinesis client of the server; `verify` as boto3 takes it (None: the
    default, which reads AWS_CA_BUNDLE, else certifi's roots)."""
    return boto3.session.Session().client(
        "kinesis",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        verify=verify,
        config=botocore.config.Config(
            retries={"max_attempts": 1}, read_timeout=30, connect_timeout=5
        ),
    )


def refused_as_untrusted(fn):
    """Calls `fn` and checks it fails on the server's certificate."""
    try:
        fn()
    except botocore.exceptions.SSLError as e:
        check("CERTIFICATE_VERIFY_FAILED" in str(e), f"not a certificate error: {e}")
        return
    raise AssertionError("the call succeeded without trusting the test CA")


def wait_active(k, name):
    deadline = time.time() + 30
    while time.time() < deadline:
        s = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if s["StreamStatus"] == "ACTIVE":
            return s
        time.sleep(0.1)
    raise AssertionError(f"{name} not ACTIVE in 30 s")


@case("boto3 with verify=CA: create, put, get over https")
def boto3_verify():
    k = kinesis(verify=CA)
    k.create_stream(StreamName=STREAM, ShardCount=1)
    wait_active(k, STREAM)
    put = k.put_record(StreamName=STREAM, PartitionKey="pk", Data=b"over-tls")
    check(put["ShardId"] == "shardId-000000000000", put)
    it = k.get_shard_iterator(
        StreamName=STREAM, ShardId=put["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = k.get_records(ShardIterator=it)["Records"]
    check([r["Data"] for r in records] == [b"over-tls"], records)


@case("boto3 without the CA: certificate refused")
def boto3_untrusted():
    refused_as_untrusted(lambda: kinesis().list_streams())


@case("boto3 with AWS_CA_BUNDLE: trusted")
def boto3_env_bundle():
    os.environ["AWS_CA_BUNDLE"] = CA
    try:
        names = kinesis().list_streams()["StreamNames"]
    finally:
        os.environ.pop("AWS_CA_BUNDLE", None)
    check(STREAM in names, names)


@case("boto3 SubscribeToShard event stream over https")
def boto3_subscribe():
    k = kinesis(verify=CA)
    arn = k.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
    consumer = k.register_stream_consumer(StreamARN=arn, ConsumerName="tls")["Consumer"]
    deadline = time.time() + 30
    while k.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])[
        "ConsumerDescription"
    ]["ConsumerStatus"] != "ACTIVE":
        check(time.time() < deadline, "consumer not ACTIVE in 30 s")
        time.sleep(0.1)
    resp = k.subscribe_to_shard(
        ConsumerARN=consumer["ConsumerARN"],
        ShardId="shardId-000000000000",
        StartingPosition={"Type": "TRIM_HORIZON"},
    )
    got = []
    for event in resp["EventStream"]:
        got += [r["Data"] for r in event["SubscribeToShardEvent"]["Records"]]
        if got or time.time() > deadline:
            break
    resp["EventStream"].close()
    check(got == [b"over-tls"], got)


def cli(*args, env_extra=None, ca_flag=True):
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_PAGER="",
        AWS_CONFIG_FILE=os.path.join(WORK, "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(WORK, "no-credentials"),
    )
    env.update(env_extra or {})
    cmd = [AWS_CLI, "--endpoint-url", ENDPOINT, "--output", "text"]
    if ca_flag:
        cmd += ["--ca-bundle", CA]
    return subprocess.run(
        cmd + list(args), env=env, capture_output=True, text=True, timeout=60
    )


def ok(run):
    check(run.returncode == 0, f"aws failed ({run.returncode}): {run.stderr}")
    return run.stdout.strip()


@case("AWS CLI with --ca-bundle: create, put, get over https")
def cli_ca_flag():
    ok(cli("kinesis", "create-stream", "--stream-name", CLI_STREAM, "--shard-count", "1"))
    ok(cli("kinesis", "wait", "stream-exists", "--stream-name", CLI_STREAM))
    seq = ok(cli("kinesis", "put-record", "--stream-name", CLI_STREAM,
                 "--partition-key", "pk", "--data", "hello", "--query", "SequenceNumber"))
    check(len(seq) == 38, seq)
    it = ok(cli("kinesis", "get-shard-iterator", "--stream-name", CLI_STREAM,
                "--shard-id", "shardId-000000000000", "--shard-iterator-type",
                "TRIM_HORIZON", "--query", "ShardIterator"))
    data = ok(cli("kinesis", "get-records", "--shard-iterator", it,
                  "--query", "Records[0].Data"))
    check(data == "aGVsbG8=", data)


@case("AWS CLI with AWS_CA_BUNDLE: trusted")
def cli_env_bundle():
    out = ok(cli("kinesis", "list-streams", env_extra={"AWS_CA_BUNDLE": CA}, ca_flag=False))
    check(CLI_STREAM in out, out)


@case("AWS CLI with ca_bundle in the profile: trusted")
def cli_profile_bundle():
    config = os.path.join(WORK, "config-with-ca")
    with open(config, "w") as f:
        f.write(f"[default]\nca_bundle = {CA}\nregion = us-east-1\n")
    out = ok(cli("kinesis", "list-streams", env_extra={"AWS_CONFIG_FILE": config},
                 ca_flag=False))
    check(CLI_STREAM in out, out)


@case("AWS CLI without the CA: certificate refused")
def cli_untrusted():
    # One attempt: the CLI retries connection errors, certificate ones too.
    run = cli("kinesis", "list-streams", ca_flag=False, env_extra={"AWS_MAX_ATTEMPTS": "1"})
    check(run.returncode != 0, f"succeeded without the CA: {run.stdout}")
    check("CERTIFICATE_VERIFY_FAILED" in run.stderr, run.stderr)


finish()
