"""What the real-client test scripts share: boto3 clients of the server under test,
named cases whose failures are recorded (not raised), checks, AWS error expectations,
bounded waits, and the closing "N passed, M failed" line the Rust tests look for."""

import sys
import time
import traceback

import boto3
import botocore.config
from botocore.exceptions import ClientError

passed = 0
failures = []


def client(endpoint, service, validate=True):
    """A boto3 client of `service` at `endpoint`: one attempt, placeholder keys."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=botocore.config.Config(
            parameter_validation=validate,
            retries={"max_attempts": 1},
            read_timeout=60,
            connect_timeout=5,
        ),
    )


def check(cond, what):
    global passed
    if not cond:
        raise AssertionError(what)
    passed += 1


def case(name):
    """Runs the decorated function as one named case; a failure is recorded."""

    def run(fn):
        t0 = time.time()
        try:
            fn()
            print(f"ok   {name} ({time.time() - t0:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failures.append((name, e))
            print(f"FAIL {name}: {e}", flush=True)
            traceback.print_exc()
        return fn

    return run


def scenario(fn):
    """Runs the decorated function as a case named after it."""
    return case(fn.__name__)(fn)


def wait_until(pred, what, timeout=30.0, interval=0.1):
    """Polls `pred` every `interval` s for at most `timeout` s; returns its first truthy
    value."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def expect_error(error_code, status, fn, **kwargs):
    """Calls `fn(**kwargs)` and checks it fails with `error_code` and HTTP `status`;
    returns the error's message."""
    try:
        fn(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        http = e.response["ResponseMetadata"]["HTTPStatusCode"]
        check(got == error_code, f"{fn.__name__}: expected {error_code}, got {got}: {e}")
        check(http == status, f"{fn.__name__}: expected HTTP {status}, got {http}: {e}")
        return e.response["Error"].get("Message", "")
    raise AssertionError(f"{fn.__name__}: expected {error_code}, got success")


def finish():
    """Prints the summary and the failures, and exits 1 when any case failed."""
    print(f"{passed} passed, {len(failures)} failed")
    for name, e in failures:
        print(f"  failed: {name}: {e}")
    sys.exit(1 if failures else 0)
