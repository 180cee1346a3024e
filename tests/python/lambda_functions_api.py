"""Drives Freshet's Lambda functions API with boto3 and the AWS CLI, unchanged:
CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions (pages),
UpdateFunctionConfiguration, UpdateFunctionCode, DeleteFunction, AWS's errors, and
Invoke (RequestResponse, Event, DryRun, log tail, errors, timeouts, crashes,
environment) against the Python test function and the Rust one.

Usage: python lambda_functions_api.py ENDPOINT AWS_CLI RUST_ZIP WORK_DIR
Every check runs; the failed ones are listed; prints "N passed, M failed" and exits
non-zero when M > 0.
"""
import base64
import io
import json
import os
import subprocess
import sys
import time
import zipfile

from botocore.exceptions import ClientError

import cases
from cases import case, check, expect_error, finish

ENDPOINT, AWS_CLI, RUST_ZIP, WORK = sys.argv[1:5]
HERE = os.path.dirname(os.path.abspath(__file__))
HANDLER_PY = os.path.join(HERE, "..", "functions", "python", "handler.py")
ROLE = "arn:aws:iam::000000000000:role/r"
FN_ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def client(validate=True):
    return cases.client(ENDPOINT, "lambda", validate)


lam = client()
lam_raw = client(validate=False)



def wait_until(pred, what, timeout=60.0, interval=0.05):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def zip_bytes(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in files:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


with open(HANDLER_PY, "rb") as f:
    PY_ZIP = zip_bytes([("handler.py", f.read(), 0o644)])
with open(RUST_ZIP, "rb") as f:
    RS_ZIP = f.read()
PY_ZIP_PATH = os.path.join(WORK, "python-function.zip")
with open(PY_ZIP_PATH, "wb") as f:
    f.write(PY_ZIP)

SINK = os.path.join(WORK, "sink-api")


def create(name, runtime="python3.12", handler="handler.handler", code=None, **kw):
    if code is None:
        code = PY_ZIP if runtime.startswith("python") else RS_ZIP
    return lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler=handler,
        Code={"ZipFile": code},
        **kw,
    )


def wait_active(name):
    return wait_until(
        lambda: (c := lam.get_function_configuration(FunctionName=name))["State"] == "Active"
        and c.get("LastUpdateStatus", "Successful") == "Successful"
        and c,
        f"{name} Active",
        timeout=30,
        interval=0.1,
    )


def invoke(name, payload, **kw):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kw)
    body = r["Payload"].read()
    return r, (json.loads(body) if body else None)


ENV = {"MY_VAR": "hello", "FRESHET_SINK": SINK}
FUNCTIONS = {"python": "api-py", "rust": "api-rs"}


@case("CreateFunction, duplicate, GetFunction, GetFunctionConfiguration")
def _():
    r = create("api-py", Timeout=5, Environment={"Variables": ENV}, Description="the python one")
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 201, r["ResponseMetadata"])
    check(r["FunctionName"] == "api-py", r)
    check(r["FunctionArn"] == FN_ARN + "api-py", r["FunctionArn"])
    check(r["Runtime"] == "python3.12" and r["Handler"] == "handler.handler", r)
    check(r["Timeout"] == 5 and r["Role"] == ROLE, r)
    check(r["Environment"]["Variables"] == ENV, r.get("Environment"))
    check(r["State"] in ("Pending", "Active"), r["State"])
    check(r["CodeSize"] == len(PY_ZIP), (r["CodeSize"], len(PY_ZIP)))
    c = wait_active("api-py")
    check(c["Description"] == "the python one", c)
    msg = expect_error("ResourceConflictException", 409, create, name="api-py")
    check("api-py" in msg, msg)
    g = lam.get_function(FunctionName="api-py")
    check(g["Configuration"]["FunctionName"] == "api-py", g)
    check(g["Configuration"]["CodeSha256"] == r["CodeSha256"], g)
    check("Location" in g["Code"], g["Code"])
    g2 = lam.get_function(FunctionName=FN_ARN + "api-py")
    check(g2["Configuration"]["FunctionArn"] == FN_ARN + "api-py", g2)
    r2 = create("api-rs", runtime="provided.al2023", handler="bootstrap", Timeout=5,
                Environment={"Variables": ENV})
    check(r2["Runtime"] == "provided.al2023", r2)
    wait_active("api-rs")


@case("missing functions are ResourceNotFoundException 404")
def _():
    expect_error("ResourceNotFoundException", 404, lam.get_function, FunctionName="nope")
    expect_error("ResourceNotFoundException", 404, lam.get_function_configuration, FunctionName="nope")
    expect_error("ResourceNotFoundException", 404, lam.invoke, FunctionName="nope", Payload=b"{}")
    expect_error("ResourceNotFoundException", 404, lam.delete_function, FunctionName="nope")
    expect_error("ResourceNotFoundException", 404, lam.update_function_configuration,
                 FunctionName="nope", Timeout=5)


@case("bad input: malformed zip, Timeout 0")
def _():
    expect_error("InvalidParameterValueException", 400, create, name="api-badzip", code=b"not a zip")
    expect_error("ValidationException", 400, lam_raw.create_function, FunctionName="api-t0",
                 Runtime="python3.12", Role=ROLE, Handler="handler.handler",
                 Code={"ZipFile": PY_ZIP}, Timeout=0)
    expect_error("ResourceNotFoundException", 404, lam.get_function, FunctionName="api-badzip")
    expect_error("ResourceNotFoundException", 404, lam.get_function, FunctionName="api-t0")
    expect_error("ValidationException", 400, lam_raw.update_function_configuration,
                 FunctionName="api-py", Timeout=0)


@case("code without its entry point: State Failed, Invoke fails")
def _():
    other = zip_bytes([("other.py", b"def handler(e, c):\n    return 1\n", 0o644)])
    for name, runtime, handler in [("api-nohandler", "python3.12", "handler.handler"),
                                   ("api-nobootstrap", "provided.al2023", "bootstrap")]:
        r = create(name, runtime=runtime, handler=handler, code=other)
        c = wait_until(
            lambda: (c := lam.get_function_configuration(FunctionName=name))["State"] != "Pending" and c,
            f"{name} leaves Pending", timeout=30, interval=0.1)
        check(c["State"] == "Failed", (name, c["State"], r["State"]))
        check(c.get("StateReason"), (name, c))
        try:
            resp = lam.invoke(FunctionName=name, Payload=b'{"echo": 1}')
            body = resp["Payload"].read()
            check("FunctionError" in resp, f"invoking failed {name} succeeded: {body!r}")
        except ClientError as e:
            check(e.response["ResponseMetadata"]["HTTPStatusCode"] >= 400, e)


@case("ListFunctions in pages")
def _():
    names = [f"api-list-{i}" for i in range(5)]
    for n in names:
        create(n)
    seen = []
    marker = None
    pages = 0
    while True:
        kw = {"MaxItems": 2}
        if marker:
            kw["Marker"] = marker
        page = lam.list_functions(**kw)
        pages += 1
        check(len(page["Functions"]) <= 2, page["Functions"])
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
        check(pages < 50, "ListFunctions never ends")
    check(len(seen) == len(set(seen)), f"a function listed twice: {seen}")
    for n in names + ["api-py", "api-rs"]:
        check(n in seen, f"{n} not listed: {seen}")
    check(pages >= 4, f"{len(seen)} functions in {pages} pages of 2")
    everything = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate(
        PaginationConfig={"PageSize": 3}) for f in p["Functions"]]
    check(sorted(everything) == sorted(seen), (everything, seen))
    for n in names:
        lam.delete_function(FunctionName=n)


@case("UpdateFunctionConfiguration: Timeout, Environment")
def _():
    r = lam.update_function_configuration(
        FunctionName="api-py", Timeout=7,
        Environment={"Variables": {**ENV, "MY_VAR": "changed"}})
    check(r["Timeout"] == 7, r)
    check(r["Environment"]["Variables"]["MY_VAR"] == "changed", r)
    c = wait_active("api-py")
    check(c["Timeout"] == 7 and c["Environment"]["Variables"]["MY_VAR"] == "changed", c)
    _, out = invoke("api-py", {"env": "MY_VAR"})
    check(out == "changed", out)
    lam.update_function_configuration(FunctionName="api-py", Timeout=5,
                                      Environment={"Variables": ENV})
    wait_active("api-py")
    _, out = invoke("api-py", {"env": "MY_VAR"})
    check(out == "hello", out)


@case("UpdateFunctionCode, DeleteFunction")
def _():
    create("api-code")
    wait_active("api-code")
    _, out = invoke("api-code", {"echo": "v1"})
    check(out == "v1", out)
    before = lam.get_function_configuration(FunctionName="api-code")
    v2 = zip_bytes([("handler.py", b"def handler(event, context):\n    return {'version': 2}\n", 0o644)])
    r = lam.update_function_code(FunctionName="api-code", ZipFile=v2)
    check(r["CodeSha256"] != before["CodeSha256"], (r["CodeSha256"], before["CodeSha256"]))
    check(r["CodeSize"] == len(v2), r)
    check(r["RevisionId"] != before["RevisionId"], r)
    wait_active("api-code")
    _, out = invoke("api-code", {"echo": "v1"})
    check(out == {"version": 2}, out)
    expect_error("InvalidParameterValueException", 400, lam.update_function_code,
                 FunctionName="api-code", ZipFile=b"not a zip")
    d = lam.delete_function(FunctionName="api-code")
    check(d["ResponseMetadata"]["HTTPStatusCode"] == 204, d["ResponseMetadata"])
    expect_error("ResourceNotFoundException", 404, lam.get_function, FunctionName="api-code")
    expect_error("ResourceNotFoundException", 404, lam.invoke, FunctionName="api-code", Payload=b"{}")
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    check("api-code" not in names, names)


def invoke_checks(kind):
    name = FUNCTIONS[kind]

    @case(f"{kind}: Invoke echo")
    def _():
        r, out = invoke(name, {"echo": {"a": [1, 2], "b": "x"}})
        check(r["StatusCode"] == 200, r)
        check("FunctionError" not in r, r)
        check(r.get("ExecutedVersion") == "$LATEST", r)
        check(out == {"a": [1, 2], "b": "x"}, out)

    @case(f"{kind}: handled error")
    def _():
        r, out = invoke(name, {"error": "boom-" + kind})
        check(r["StatusCode"] == 200, r)
        check(r.get("FunctionError") == "Unhandled", r)
        check(out["errorMessage"] == "boom-" + kind, out)
        check(out.get("errorType") == "Exception", out)

    @case(f"{kind}: LogType Tail")
    def _():
        text = f"tail-text-{kind}-{time.time()}"
        r, out = invoke(name, {"print": text}, LogType="Tail")
        check(out == {"printed": True}, out)
        log = base64.b64decode(r["LogResult"]).decode("utf-8", "replace")
        check(text in log, log)

    @case(f"{kind}: InvocationType Event")
    def _():
        data = f"event-{kind}"
        event = {"Records": [{
            "eventID": "shardId-000000000000:49590338271490256608559692538361571095921575989136588898",
            "kinesis": {"partitionKey": "pk-" + kind,
                        "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                        "data": base64.b64encode(data.encode()).decode()},
        }]}
        r = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode())
        check(r["StatusCode"] == 202, r)

        def lines():
            try:
                with open(SINK) as f:
                    return [json.loads(l) for l in f.read().splitlines(keepends=True) if l.endswith("\n")]
            except FileNotFoundError:
                return []

        got = wait_until(lambda: [l for l in lines() if l.get("data") == data], f"{data} in the sink")
        check(got[0]["pk"] == "pk-" + kind and got[0]["shard"] == "shardId-000000000000", got)

    @case(f"{kind}: DryRun")
    def _():
        r = lam.invoke(FunctionName=name, InvocationType="DryRun", Payload=b"{}")
        check(r["StatusCode"] == 204, r)

    @case(f"{kind}: environment variable")
    def _():
        _, out = invoke(name, {"env": "MY_VAR"})
        check(out == "hello", out)
        _, out = invoke(name, {"env": "AWS_LAMBDA_FUNCTION_NAME"})
        check(out == name, out)
        # The AWS SDKs in a function reach this server.
        _, out = invoke(name, {"env": "AWS_ENDPOINT_URL"})
        check(out == ENDPOINT, (out, ENDPOINT))
        _, out = invoke(name, {"env": "AWS_ACCESS_KEY_ID"})
        check(bool(out), out)

    @case(f"{kind}: timeout, then the next invoke works")
    def _():
        lam.update_function_configuration(FunctionName=name, Timeout=1)
        wait_active(name)
        r, out = invoke(name, {"sleep": 3})
        check(r.get("FunctionError"), (r, out))
        check("Task timed out after 1.00 seconds" in json.dumps(out), out)
        r, out = invoke(name, {"echo": "after-timeout"})
        check("FunctionError" not in r and out == "after-timeout", (r, out))
        lam.update_function_configuration(FunctionName=name, Timeout=5)
        wait_active(name)

    @case(f"{kind}: crash, then the next invoke works")
    def _():
        r, out = invoke(name, {"exit": 3})
        check(r.get("FunctionError"), (r, out))
        check(out.get("errorType") == "Runtime.ExitError", out)
        r, out = invoke(name, {"echo": "after-crash"})
        check("FunctionError" not in r and out == "after-crash", (r, out))


for kind in ("python", "rust"):
    invoke_checks(kind)


@case("AWS CLI: create-function, invoke, get-function, delete-function")
def _():
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")

    def aws(*args):
        p = subprocess.run([AWS_CLI, "--endpoint-url", ENDPOINT, "--output", "json", "lambda", *args],
                           capture_output=True, text=True, env=env, timeout=120)
        check(p.returncode == 0, f"aws lambda {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p.stdout

    out = json.loads(aws("create-function", "--function-name", "api-cli", "--runtime", "python3.12",
                         "--handler", "handler.handler", "--role", ROLE,
                         "--zip-file", "fileb://" + PY_ZIP_PATH))
    check(out["FunctionName"] == "api-cli", out)
    wait_active("api-cli")
    result = os.path.join(WORK, "cli-out.json")
    meta = json.loads(aws("invoke", "--function-name", "api-cli", "--payload", '{"echo": "from-cli"}', result))
    check(meta["StatusCode"] == 200, meta)
    with open(result) as f:
        check(json.load(f) == "from-cli", open(result).read())
    got = json.loads(aws("get-function", "--function-name", "api-cli"))
    check(got["Configuration"]["Runtime"] == "python3.12", got)
    aws("delete-function", "--function-name", "api-cli")
    expect_error("ResourceNotFoundException", 404, lam.get_function, FunctionName="api-cli")


finish()
