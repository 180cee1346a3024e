"""What the Lambda event source mapping scripts share: boto3 clients for a Freshet
endpoint, the test functions' code, streams, puts, sink files and bounded waits."""
import io
import json
import os
import threading
import time
import zipfile

import boto3
import botocore.config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
HANDLER_PY = os.path.join(HERE, "..", "functions", "python", "handler.py")
ROLE = "arn:aws:iam::000000000000:role/r"
FN_ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
STREAM_ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/"


def clients(endpoint, validate=True):
    """(lambda, kinesis) clients of `endpoint`."""
    cfg = botocore.config.Config(
        parameter_validation=validate,
        retries={"max_attempts": 1},
        read_timeout=60,
        connect_timeout=5,
        max_pool_connections=30,
    )
    kw = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=cfg,
    )
    return boto3.client("lambda", **kw), boto3.client("kinesis", **kw)


def zip_bytes(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in files:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def python_zip():
    with open(HANDLER_PY, "rb") as f:
        return zip_bytes([("handler.py", f.read(), 0o644)])


class Checks:
    """Counts passed checks; scenarios record their failures."""

    def __init__(self):
        self.lock = threading.Lock()
        self.passed = 0
        self.failures = []

    def check(self, cond, what):
        if not cond:
            raise AssertionError(what)
        with self.lock:
            self.passed += 1


def wait_until(pred, what, timeout=60.0, interval=0.05):
    """Polls `pred` every `interval` s for at most `timeout` s; returns its value."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def expect_error(checks, error_code, fn, status=400, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        http = e.response["ResponseMetadata"]["HTTPStatusCode"]
        checks.check(got == error_code, f"{fn.__name__} {kwargs}: expected {error_code}, got {got}: {e}")
        checks.check(http == status, f"{fn.__name__}: expected HTTP {status}, got {http}: {e}")
        return e.response["Error"].get("Message", "")
    raise AssertionError(f"{fn.__name__} {kwargs}: expected {error_code}, got success")


def make_stream(kinesis, name, shards):
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    wait_until(
        lambda: kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE",
        f"stream {name} ACTIVE", timeout=30, interval=0.1)
    return STREAM_ARN + name


def make_function(lam, name, code, runtime="python3.12", env=None, timeout=30):
    handler = "handler.handler" if runtime.startswith("python") else "bootstrap"
    lam.create_function(
        FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
        Code={"ZipFile": code}, Timeout=timeout,
        Environment={"Variables": env or {}})
    wait_until(lambda: lam.get_function_configuration(FunctionName=name)["State"] == "Active",
               f"function {name} Active", timeout=30, interval=0.1)
    return FN_ARN + name


def put(kinesis, stream, records):
    """Puts [(pk, data)] in order, 500 a request; returns [(pk, data, seq, shard)]."""
    out = []
    for i in range(0, len(records), 500):
        chunk = records[i:i + 500]
        r = kinesis.put_records(StreamName=stream, Records=[
            {"PartitionKey": pk, "Data": data.encode() if isinstance(data, str) else data}
            for pk, data in chunk])
        if r.get("FailedRecordCount", 0):
            raise AssertionError(f"put_records failed: {[e for e in r['Records'] if 'ErrorCode' in e][:3]}")
        for (pk, data), e in zip(chunk, r["Records"]):
            out.append((pk, data, e["SequenceNumber"], e["ShardId"]))
    return out


def read_sink(path):
    """The sink's complete JSON lines so far."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(l) for l in text.splitlines(keepends=True) if l.endswith("\n") and l.strip()]


def sink_records(path):
    return [l for l in read_sink(path) if not l.get("window_final")]


def wait_delivered(path, seqs, what, timeout=60.0, ok_reqs=None):
    """Waits until every sequence number of `seqs` is in the sink (in a line of a
    request `ok_reqs(lines)` accepts, when given)."""
    want = set(seqs)

    def done():
        lines = sink_records(path)
        if ok_reqs is not None:
            good = ok_reqs(lines)
            lines = [l for l in lines if l["req"] in good]
        missing = want - {l["seq"] for l in lines}
        done.missing = missing
        return not missing

    done.missing = want
    try:
        wait_until(done, what, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"{what}: {len(done.missing)} of {len(want)} never delivered, "
                             f"e.g. {sorted(done.missing)[:3]}")


def read_stream(kinesis, stream):
    """Every record of every shard of `stream`, from TRIM_HORIZON."""
    out = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for _ in range(100):
            r = kinesis.get_records(ShardIterator=it, Limit=10000)
            out += r["Records"]
            it = r.get("NextShardIterator")
            if not it or (not r["Records"] and r.get("MillisBehindLatest", 0) == 0):
                break
    return out


def wait_mapping_state(lam, uuid, states, timeout=30.0):
    states = (states,) if isinstance(states, str) else states
    last = {}

    def ok():
        last["m"] = lam.get_event_source_mapping(UUID=uuid)
        return last["m"]["State"] in states and last["m"]

    try:
        return wait_until(ok, f"mapping {uuid} in {states}", timeout=timeout, interval=0.1)
    except AssertionError as e:
        raise AssertionError(f"{e}; last: State {last.get('m', {}).get('State')}, "
                             f"{last.get('m', {}).get('StateTransitionReason')}, "
                             f"{last.get('m', {}).get('LastProcessingResult')}")


def per_key_order_violations(lines, key_of_data):
    """For sink `lines` of records whose data is "pk:i": the keys whose first
    deliveries are not in increasing i."""
    seen = set()
    last = {}
    bad = []
    for l in lines:
        if l["seq"] in seen:
            continue
        seen.add(l["seq"])
        pk, i = key_of_data(l["data"])
        if pk in last and i < last[pk]:
            bad.append((pk, last[pk], i))
        last[pk] = i
    return bad
