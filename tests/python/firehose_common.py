"""What the Firehose test scripts share: boto3 clients of a Freshet endpoint, counted
checks that stop the script at the first failure ("N passed, 1 failed: ..."), bounded
waits, and reading local buckets (directories under the server's data dir)."""
import json
import os
import sys
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::000000000000:role/firehose"
_checks = [0]


def client(service, endpoint, read_timeout=30):
    cfg = botocore.config.Config(retries={"max_attempts": 1}, read_timeout=read_timeout, connect_timeout=5)
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", config=cfg)


def check(cond, what):
    """Counts a check; on failure prints the count and `what` and exits 1."""
    _checks[0] += 1
    if not cond:
        print(f"{_checks[0] - 1} passed, 1 failed: {what}")
        sys.exit(1)


def passed():
    """The closing line the Rust tests look for."""
    print(f"{_checks[0]} passed, 0 failed")


def expect_error(code, fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        check(e.response["Error"]["Code"] == code, f"{fn.__name__}: expected {code}, got {e.response['Error']}")
        return e
    check(False, f"{fn.__name__} succeeded, expected {code}")


def wait_for(pred, what, timeout=60.0, interval=0.1):
    """Polls `pred` for at most `timeout` s; returns its first truthy value."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            check(False, f"timed out waiting for {what}")
        time.sleep(interval)


def wait_active(fh, name, timeout=60.0):
    """Waits until a delivery stream is ACTIVE (it is CREATING first); its description."""
    return wait_for(lambda: (lambda d: d if d["DeliveryStreamStatus"] == "ACTIVE" else None)(
        fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]),
        f"{name} ACTIVE", timeout)


def objects(buckets, bucket):
    """{key: bytes} of every object in a local bucket."""
    root = os.path.join(buckets, bucket)
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            if "#" in f or f.startswith("."):
                continue  # object_store's temporary upload files
            path = os.path.join(d, f)
            with open(path, "rb") as fd:
                out[os.path.relpath(path, root)] = fd.read()
    return out


def error_lines(objs, kind):
    """The JSON lines of the error output of type `kind` among `objs`."""
    out = []
    for k, v in objs.items():
        if f"/{kind}/" in "/" + k:
            out.extend(json.loads(line) for line in v.decode().splitlines() if line)
    return out
