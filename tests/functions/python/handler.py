"""A Lambda function (`handler.handler`, run by awslambdaric) for Freshet's Lambda
integration tests. It behaves exactly like tests/functions/rust-handler (the Rust
function on lambda_runtime), so the same tests run against either.

Direct invokes (a payload without a "Records" list), by the first key present:
{"echo": X} returns X; {"error": "msg"} raises Exception(msg); {"sleep": secs}
returns {"slept": secs} after sleeping; {"exit": code} exits the process at once;
{"print": "text"} prints the text to stdout and returns {"printed": true};
{"env": "NAME"} returns that variable or None; {"big": n} returns n "x". Anything
else is echoed.

With FRESHET_SINK_MODE=count (benchmarks), a Kinesis event appends one line per
invocation instead: {"req", "count", "bytes", "start_us"} (when the handler began).

Kinesis events ({"Records": [...]}): one line per record appended to the file
$FRESHET_SINK (when set): {"shard", "pk", "seq", "data" (or "data_b64" when the
data is not UTF-8), "req"}, each line with one write() on an O_APPEND file. Then,
over the batch's decoded data: any "poison" fails the invocation; else any "crash"
exits with code 3; else any "hang" sleeps an hour. With FRESHET_REPORT_FAILURES=1,
records with "fail-item" are reported in batchItemFailures ("fail-item-once" only
the first time: a marker file per sequence number in $FRESHET_STATE_DIR). A
tumbling-window event (a "window" key) returns {"state": {"count": previous +
records}} and, on the final invoke for the window, appends {"window_final": true,
"shard", "start", "count"} (the count passed in) to the sink. Otherwise the result
is {"ok": <records>}.
"""

import base64
import binascii
import json
import os
import sys
import time


def _text(v):
    """A JSON value as text: strings as they are, the rest as compact JSON."""
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"))


def _sleep(secs):
    if isinstance(secs, (int, float)) and not isinstance(secs, bool) and secs > 0 and secs != float("inf"):
        time.sleep(secs)


def _sink(line):
    """Appends line + newline to $FRESHET_SINK with a single write() (O_APPEND)."""
    path = os.environ.get("FRESHET_SINK")
    if not path:
        return
    data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _direct(event):
    if not isinstance(event, dict):
        return event
    if "echo" in event:
        return event["echo"]
    if "error" in event:
        raise Exception(_text(event["error"]))
    if "sleep" in event:
        _sleep(event["sleep"])
        return {"slept": event["sleep"]}
    if "exit" in event:
        code = event["exit"]
        if not isinstance(code, int) or isinstance(code, bool) or not -(2**31) <= code < 2**31:
            code = 1
        os._exit(code)
    if "print" in event:
        print(_text(event["print"]), flush=True)
        return {"printed": True}
    if "env" in event:
        name = event["env"]
        return os.environ.get(name) if isinstance(name, str) else None
    if "big" in event:
        n = event["big"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            n = 0
        return "x" * n
    return event


def _decode(record):
    event_id = record.get("eventID")
    shard = event_id.split(":", 1)[0] if isinstance(event_id, str) else None
    kinesis = record.get("kinesis") or {}
    data_b64 = kinesis.get("data") or ""
    try:
        data = base64.b64decode(data_b64, validate=True)
    except (binascii.Error, ValueError) as e:
        raise Exception("bad base64 record data: %s" % e)
    return {
        "shard": shard,
        "pk": kinesis.get("partitionKey"),
        "seq": kinesis.get("sequenceNumber"),
        "data_b64": data_b64,
        "data": data,
    }


def _item_fails(r):
    if b"fail-item-once" in r["data"]:
        state_dir = os.environ.get("FRESHET_STATE_DIR")
        if not state_dir:
            return True
        marker = os.path.join(state_dir, "fail-item-once-%s" % _text(r["seq"]))
        if os.path.exists(marker):
            return False
        os.makedirs(state_dir, exist_ok=True)
        open(marker, "wb").close()
        return True
    return b"fail-item" in r["data"]


def _kinesis(event, records, request_id):
    started_us = int(time.time() * 1_000_000)
    records = [_decode(r) for r in records]
    if os.environ.get("FRESHET_SINK_MODE") == "count":
        # Benchmarks: one line per invocation (records decoded, not written).
        _sink({"req": request_id, "count": len(records),
               "bytes": sum(len(r["data"]) for r in records), "start_us": started_us})
        return {"ok": len(records)}
    for r in records:
        line = {"shard": r["shard"], "pk": r["pk"], "seq": r["seq"]}
        try:
            line["data"] = r["data"].decode("utf-8")
        except UnicodeDecodeError:
            line["data_b64"] = r["data_b64"]
        line["req"] = request_id
        _sink(line)
    for r in records:
        if b"poison" in r["data"]:
            raise Exception("poison record %s" % _text(r["seq"]))
    if any(b"crash" in r["data"] for r in records):
        sys.stdout.flush()
        os._exit(3)
    if any(b"hang" in r["data"] for r in records):
        time.sleep(3600)
    report = os.environ.get("FRESHET_REPORT_FAILURES") == "1"
    failures = []
    if report:
        failures = [{"itemIdentifier": r["seq"]} for r in records if _item_fails(r)]
    result = {}
    if "window" in event:
        window = event["window"]
        state = event.get("state")
        previous = state.get("count") if isinstance(state, dict) else None
        previous = int(previous) if isinstance(previous, (int, float)) and not isinstance(previous, bool) else 0
        if event.get("isFinalInvokeForWindow") is True:
            _sink({
                "window_final": True,
                "shard": event.get("shardId"),
                "start": window.get("start") if isinstance(window, dict) else None,
                "count": previous,
            })
        result["state"] = {"count": previous + len(records)}
    elif not report:
        result["ok"] = len(records)
    if report:
        result["batchItemFailures"] = failures
    return result


def handler(event, context):
    """The function's entry point: `handler.handler`."""
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        return _kinesis(event, event["Records"], context.aws_request_id)
    return _direct(event)
