"""Drives Freshet's CloudWatch Logs API with boto3 and the AWS CLI, unchanged: log
groups and streams (lifecycle, paging, ordering, AWS's errors), PutLogEvents (AWS's
rules, rejected events), GetLogEvents (tokens, directions), FilterLogEvents (patterns,
paging), retention, tags; `aws logs tail` (also --follow) and
`aws logs filter-log-events`; and a Python Lambda function whose printed lines (with
START/END/REPORT) land in /aws/lambda/<function>.

Usage: python logs_api.py MODE ENDPOINT AWS_CLI
MODE "main" runs everything and leaves the group "persisted" behind; MODE "restarted"
checks, after a server restart, that it and its events are still there.
Every check runs; the failed ones are listed; prints "N passed, M failed" and exits
non-zero when M > 0.
"""
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import zipfile


import cases

MODE, ENDPOINT, AWS_CLI = sys.argv[1:4]
ROLE = "arn:aws:iam::000000000000:role/r"
ARN = "arn:aws:logs:us-east-1:000000000000:log-group:"
START_MARKERS = ("INIT_START", "START", "END", "REPORT")


def client(service, validate=True):
    return cases.client(ENDPOINT, service, validate)


logs = client("logs")
logs_raw = client("logs", validate=False)
lam = client("lambda")

check = cases.check
scenario = cases.scenario
wait_until = cases.wait_until


def expect_error(code, fn, **kwargs):
    """`fn(**kwargs)` fails with `code` and HTTP 400; returns the message."""
    return cases.expect_error(code, 400, fn, **kwargs)


def now_ms():
    return int(time.time() * 1000)


def all_filtered(group, **kw):
    """Every event FilterLogEvents returns, following nextToken (as LocalStack's
    Lambda tests read functions' output)."""
    events = []
    token = None
    for _ in range(1000):
        args = dict(logGroupName=group, **kw)
        if token:
            args["nextToken"] = token
        r = logs.filter_log_events(**args)
        events.extend(r["events"])
        token = r.get("nextToken")
        if not token:
            return events
    raise AssertionError("FilterLogEvents never stopped paging")


ENV = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret",
           AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")


def aws(*args, timeout=60):
    p = subprocess.run([AWS_CLI, "--endpoint-url", ENDPOINT, *args],
                       capture_output=True, text=True, env=ENV, timeout=timeout)
    check(p.returncode == 0, f"aws {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def tail_follow(group, start, out, halt, sleep=0.5):
    """AWS CLI v2's `aws logs tail --follow` loop (FollowLogEventsGenerator), with a
    shorter sleep: FilterLogEvents from `start`, following nextToken; without one,
    again from the newest timestamp seen, skipping the event ids already printed."""
    kwargs = {"logGroupName": group, "interleaved": True, "startTime": start}
    seen = {}
    while not halt.is_set():
        r = logs.filter_log_events(**kwargs)
        for e in r["events"]:
            ids = seen.setdefault(e["timestamp"], set())
            if e["eventId"] not in ids:
                ids.add(e["eventId"])
                out.append(f"{e['timestamp']} {e['logStreamName']} {e['message']}")
        if seen:
            newest = max(seen)
            seen = {newest: seen[newest]}
        if "nextToken" in r:
            kwargs["nextToken"] = r["nextToken"]
        else:
            if seen:
                kwargs["startTime"] = max(seen)
            kwargs.pop("nextToken", None)
            halt.wait(sleep)


def main():
    @scenario
    def groups_lifecycle_paging_and_errors():
        for i in range(7):
            logs.create_log_group(logGroupName=f"/t/groups/g{i}")
        logs.create_log_group(logGroupName="/t/other/x", tags={"team": "a"},
                              logGroupClass="STANDARD")
        msg = expect_error("ResourceAlreadyExistsException", logs.create_log_group,
                           logGroupName="/t/groups/g0")
        check("already exists" in msg, msg)
        expect_error("InvalidParameterException", logs_raw.create_log_group,
                     logGroupName="bad name!")
        expect_error("InvalidParameterException", logs_raw.create_log_group, logGroupName="")
        r = logs.describe_log_groups(logGroupNamePrefix="/t/groups/")
        names = [g["logGroupName"] for g in r["logGroups"]]
        check(names == [f"/t/groups/g{i}" for i in range(7)], names)
        g0 = r["logGroups"][0]
        check(g0["arn"] == ARN + "/t/groups/g0:*", g0)
        check(g0["logGroupArn"] == ARN + "/t/groups/g0", g0)
        check("retentionInDays" not in g0 and g0["storedBytes"] == 0, g0)
        check(abs(g0["creationTime"] - now_ms()) < 60_000, g0)
        # Pages of 3 with nextToken, and boto3's paginator.
        seen, token = [], None
        while True:
            kw = dict(logGroupNamePrefix="/t/groups/", limit=3)
            if token:
                kw["nextToken"] = token
            page = logs.describe_log_groups(**kw)
            check(len(page["logGroups"]) <= 3, page)
            seen += [g["logGroupName"] for g in page["logGroups"]]
            token = page.get("nextToken")
            if not token:
                break
        check(seen == names, seen)
        pages = logs.get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix="/t/groups/", PaginationConfig={"PageSize": 2})
        check([g["logGroupName"] for p in pages for g in p["logGroups"]] == names, "paginator")
        r = logs.describe_log_groups(logGroupNamePattern="OTHER")
        check([g["logGroupName"] for g in r["logGroups"]] == ["/t/other/x"], r)
        expect_error("InvalidParameterException", logs.describe_log_groups,
                     logGroupNamePrefix="/t", logGroupNamePattern="x")
        expect_error("InvalidParameterException", logs_raw.describe_log_groups, limit=51)
        logs.delete_log_group(logGroupName="/t/groups/g6")
        msg = expect_error("ResourceNotFoundException", logs.delete_log_group,
                           logGroupName="/t/groups/g6")
        check("does not exist" in msg, msg)
        r = logs.describe_log_groups(logGroupNamePrefix="/t/groups/")
        check(len(r["logGroups"]) == 6, r)

    @scenario
    def streams_lifecycle_ordering_and_errors():
        g = "/t/streams"
        logs.create_log_group(logGroupName=g)
        for name in ["c", "a", "b", "a/2024/01/01/[$LATEST]x"]:
            logs.create_log_stream(logGroupName=g, logStreamName=name)
        expect_error("ResourceAlreadyExistsException", logs.create_log_stream,
                     logGroupName=g, logStreamName="a")
        expect_error("ResourceNotFoundException", logs.create_log_stream,
                     logGroupName="/t/none", logStreamName="a")
        expect_error("InvalidParameterException", logs_raw.create_log_stream,
                     logGroupName=g, logStreamName="has:colon")
        t = now_ms()
        logs.put_log_events(logGroupName=g, logStreamName="c",
                            logEvents=[{"timestamp": t - 1000, "message": "first"}])
        logs.put_log_events(logGroupName=g, logStreamName="a",
                            logEvents=[{"timestamp": t - 500, "message": "second"},
                                       {"timestamp": t, "message": "third!"}])
        r = logs.describe_log_streams(logGroupName=g)
        names = [s["logStreamName"] for s in r["logStreams"]]
        check(names == ["a", "a/2024/01/01/[$LATEST]x", "b", "c"], names)
        a = r["logStreams"][0]
        check(a["firstEventTimestamp"] == t - 500 and a["lastEventTimestamp"] == t, a)
        check(a["storedBytes"] == len("second") + len("third!"), a)
        check(abs(a["lastIngestionTime"] - now_ms()) < 60_000, a)
        check(a["arn"] == f"{ARN}{g}:log-stream:a", a)
        check("firstEventTimestamp" not in r["logStreams"][2], r["logStreams"][2])
        r = logs.describe_log_streams(logGroupName=g, orderBy="LastEventTime", descending=True)
        names = [s["logStreamName"] for s in r["logStreams"]]
        check(names[:2] == ["a", "c"], names)
        r = logs.describe_log_streams(logGroupName=g, logStreamNamePrefix="a")
        check(len(r["logStreams"]) == 2, r)
        r = logs.describe_log_streams(logGroupName=g, descending=True)
        check([s["logStreamName"] for s in r["logStreams"]][0] == "c", r)
        page = logs.describe_log_streams(logGroupName=g, limit=3)
        check(len(page["logStreams"]) == 3 and "nextToken" in page, page)
        page2 = logs.describe_log_streams(logGroupName=g, limit=3, nextToken=page["nextToken"])
        check([s["logStreamName"] for s in page2["logStreams"]] == ["c"], page2)
        check("nextToken" not in page2, page2)
        expect_error("InvalidParameterException", logs.describe_log_streams,
                     logGroupName=g, orderBy="LastEventTime", logStreamNamePrefix="a")
        expect_error("ResourceNotFoundException", logs.describe_log_streams,
                     logGroupName="/t/none")
        r = logs.describe_log_streams(logGroupIdentifier=ARN + g)
        check(len(r["logStreams"]) == 4, r)
        logs.delete_log_stream(logGroupName=g, logStreamName="b")
        expect_error("ResourceNotFoundException", logs.delete_log_stream,
                     logGroupName=g, logStreamName="b")
        r = logs.describe_log_streams(logGroupName=g)
        check(len(r["logStreams"]) == 3, r)
        # The group's stored bytes add up its streams'.
        r = logs.describe_log_groups(logGroupNamePrefix=g)
        check(r["logGroups"][0]["storedBytes"] == len("first") + 12, r)

    @scenario
    def put_log_events_rules():
        g, s = "/t/put", "s"
        logs.create_log_group(logGroupName=g)
        logs.create_log_stream(logGroupName=g, logStreamName=s)
        t = now_ms()
        r = logs.put_log_events(logGroupName=g, logStreamName=s,
                                logEvents=[{"timestamp": t, "message": "a"}],
                                sequenceToken="whatever-is-ignored")
        check("nextSequenceToken" in r and "rejectedLogEventsInfo" not in r, r)
        msg = expect_error("InvalidParameterException", logs.put_log_events,
                           logGroupName=g, logStreamName=s,
                           logEvents=[{"timestamp": t, "message": "b"},
                                      {"timestamp": t - 1, "message": "a"}])
        check("chronological" in msg, msg)
        msg = expect_error("InvalidParameterException", logs.put_log_events,
                           logGroupName=g, logStreamName=s,
                           logEvents=[{"timestamp": t - 25 * 3600_000, "message": "a"},
                                      {"timestamp": t, "message": "b"}])
        check("24 hours" in msg, msg)
        big = "x" * 1_048_576
        msg = expect_error("InvalidParameterException", logs.put_log_events,
                           logGroupName=g, logStreamName=s,
                           logEvents=[{"timestamp": t, "message": big}])
        check("Upload too large" in msg, msg)
        expect_error("InvalidParameterException", logs_raw.put_log_events,
                     logGroupName=g, logStreamName=s, logEvents=[])
        expect_error("InvalidParameterException", logs_raw.put_log_events,
                     logGroupName=g, logStreamName=s,
                     logEvents=[{"timestamp": t, "message": "m"}] * 10_001)
        expect_error("ResourceNotFoundException", logs.put_log_events,
                     logGroupName=g, logStreamName="none",
                     logEvents=[{"timestamp": t, "message": "a"}])
        expect_error("ResourceNotFoundException", logs.put_log_events,
                     logGroupName="/t/none", logStreamName=s,
                     logEvents=[{"timestamp": t, "message": "a"}])
        # Too old (more than 14 days) and too new (more than 2 hours ahead).
        old = t - 14 * 86400_000 - 60_000
        r = logs.put_log_events(logGroupName=g, logStreamName=s,
                                logEvents=[{"timestamp": old, "message": "too old"},
                                           {"timestamp": old + 120_000, "message": "kept old"}])
        check(r.get("rejectedLogEventsInfo") == {"tooOldLogEventEndIndex": 1}, r)
        r = logs.put_log_events(logGroupName=g, logStreamName=s,
                                logEvents=[{"timestamp": t, "message": "kept new"},
                                           {"timestamp": t + 3 * 3600_000, "message": "too new"}])
        check(r.get("rejectedLogEventsInfo") == {"tooNewLogEventStartIndex": 1}, r)
        got = [e["message"] for e in all_filtered(g)]
        check(got == ["a", "kept old", "kept new"], got)
        # 10,000 events in one call: all stored, in order.
        many = [{"timestamp": t + i, "message": f"m{i}"} for i in range(10_000)]
        logs.put_log_events(logGroupName="/t/put", logStreamName=s, logEvents=many)
        got = [e["message"] for e in all_filtered(g, logStreamNames=[s]) if e["message"].startswith("m")]
        check(got == [f"m{i}" for i in range(10_000)], len(got))

    @scenario
    def get_log_events_tokens_and_directions():
        g, s = "/t/get", "s"
        logs.create_log_group(logGroupName=g)
        logs.create_log_stream(logGroupName=g, logStreamName=s)
        logs.create_log_stream(logGroupName=g, logStreamName="other")
        t = now_ms() - 10_000
        logs.put_log_events(logGroupName=g, logStreamName=s,
                            logEvents=[{"timestamp": t + i, "message": f"e{i}"} for i in range(10)])
        logs.put_log_events(logGroupName=g, logStreamName="other",
                            logEvents=[{"timestamp": t, "message": "not mine"}])
        r = logs.get_log_events(logGroupName=g, logStreamName=s)
        check([e["message"] for e in r["events"]] == [f"e{i}" for i in range(10)], r)
        check(r["events"][0]["timestamp"] == t and "ingestionTime" in r["events"][0], r)
        fwd = r["nextForwardToken"]
        check(fwd.startswith("f/") and r["nextBackwardToken"].startswith("b/"), r)
        # Nothing new: the same forward token back.
        r2 = logs.get_log_events(logGroupName=g, logStreamName=s, nextToken=fwd)
        check(r2["events"] == [] and r2["nextForwardToken"] == fwd, r2)
        # The newest 3 (startFromHead false), then back through the rest.
        r = logs.get_log_events(logGroupName=g, logStreamName=s, limit=3)
        check([e["message"] for e in r["events"]] == ["e7", "e8", "e9"], r)
        r = logs.get_log_events(logGroupName=g, logStreamName=s, limit=3,
                                nextToken=r["nextBackwardToken"])
        check([e["message"] for e in r["events"]] == ["e4", "e5", "e6"], r)
        # From the head, forward pages of 4.
        r = logs.get_log_events(logGroupName=g, logStreamName=s, limit=4, startFromHead=True)
        check([e["message"] for e in r["events"]] == ["e0", "e1", "e2", "e3"], r)
        r = logs.get_log_events(logGroupName=g, logStreamName=s, limit=4, startFromHead=True,
                                nextToken=r["nextForwardToken"])
        check([e["message"] for e in r["events"]] == ["e4", "e5", "e6", "e7"], r)
        # New events after the forward token are found.
        fwd = logs.get_log_events(logGroupName=g, logStreamName=s)["nextForwardToken"]
        logs.put_log_events(logGroupName=g, logStreamName=s,
                            logEvents=[{"timestamp": now_ms(), "message": "later"}])
        r = logs.get_log_events(logGroupName=g, logStreamName=s, nextToken=fwd)
        check([e["message"] for e in r["events"]] == ["later"], r)
        # Time range: [start, end).
        r = logs.get_log_events(logGroupName=g, logStreamName=s, startTime=t + 2,
                                endTime=t + 5, startFromHead=True)
        check([e["message"] for e in r["events"]] == ["e2", "e3", "e4"], r)
        # boto3's paginator stops when the token repeats.
        pages = logs.get_paginator("get_log_events") if logs.can_paginate("get_log_events") else None
        if pages:
            got = [e["message"] for p in pages.paginate(logGroupName=g, logStreamName=s,
                                                         startFromHead=True) for e in p["events"]]
            check(got[:10] == [f"e{i}" for i in range(10)], got)
        expect_error("InvalidParameterException", logs.get_log_events,
                     logGroupName=g, logStreamName=s, nextToken="garbage")
        expect_error("ResourceNotFoundException", logs.get_log_events,
                     logGroupName=g, logStreamName="none")

    @scenario
    def filter_log_events_patterns_and_paging():
        g = "/t/filter"
        logs.create_log_group(logGroupName=g)
        for s in ["app-1", "app-2", "web"]:
            logs.create_log_stream(logGroupName=g, logStreamName=s)
        t = now_ms() - 5000
        lines = {
            "app-1": ["INFO started", "ERROR disk full", "WARN slow disk",
                      '{"level": "ERROR", "latency": 250, "user": {"id": 7}}'],
            "app-2": ["ERROR will retry", "DEBUG noise",
                      '{"level": "INFO", "latency": 20, "user": {"id": 8}}'],
            "web": ['127.0.0.1 - frank "GET /x HTTP/1.1" 404 1534',
                    '127.0.0.1 - ann "GET / HTTP/1.1" 200 99'],
        }
        for s, ms in lines.items():
            logs.put_log_events(logGroupName=g, logStreamName=s,
                                logEvents=[{"timestamp": t + i, "message": m} for i, m in enumerate(ms)])

        def msgs(**kw):
            return sorted(e["message"] for e in all_filtered(g, **kw))

        check(len(msgs()) == 9, msgs())
        check(msgs(filterPattern="ERROR") == sorted(
            ["ERROR disk full", "ERROR will retry",
             '{"level": "ERROR", "latency": 250, "user": {"id": 7}}']), msgs(filterPattern="ERROR"))
        check(msgs(filterPattern='"disk full"') == ["ERROR disk full"], "phrase")
        check(msgs(filterPattern="?WARN ?DEBUG") == ["DEBUG noise", "WARN slow disk"], "or terms")
        check(msgs(filterPattern="ERROR -retry -level") == ["ERROR disk full"], "exclusion")
        check(msgs(filterPattern='{ $.level = "ERROR" }') == [lines["app-1"][3]], "json =")
        check(msgs(filterPattern="{ $.latency < 100 }") == [lines["app-2"][2]], "json <")
        check(msgs(filterPattern="{ $.user.id = 7 || $.user.id = 8 }") ==
              sorted([lines["app-1"][3], lines["app-2"][2]]), "json ||")
        check(msgs(filterPattern="[ip, dash, user, request, status = 404, size]") ==
              [lines["web"][0]], "space-delimited")
        check(msgs(logStreamNames=["app-2"]) == sorted(lines["app-2"]), "stream names")
        check(msgs(logStreamNamePrefix="app") == sorted(lines["app-1"] + lines["app-2"]), "prefix")
        check(msgs(startTime=t + 2, endTime=t + 3) == ["WARN slow disk", lines["app-2"][2]],
              msgs(startTime=t + 2, endTime=t + 3))
        ev = logs.filter_log_events(logGroupName=g, limit=1)
        check(len(ev["events"]) == 1 and "nextToken" in ev, ev)
        e = ev["events"][0]
        check({"logStreamName", "timestamp", "message", "ingestionTime", "eventId"} <= set(e), e)
        # Pages of 2 through nextToken add up to everything, without repeats.
        seen, token = [], None
        while True:
            kw = dict(logGroupName=g, limit=2)
            if token:
                kw["nextToken"] = token
            p = logs.filter_log_events(**kw)
            seen += [x["eventId"] for x in p["events"]]
            token = p.get("nextToken")
            if not token:
                break
        check(len(seen) == 9 and len(set(seen)) == 9, seen)
        pag = logs.get_paginator("filter_log_events").paginate(
            logGroupName=g, PaginationConfig={"PageSize": 4})
        check(sum(len(p["events"]) for p in pag) == 9, "paginator")
        expect_error("InvalidParameterException", logs.filter_log_events,
                     logGroupName=g, logStreamNames=["a"], logStreamNamePrefix="a")
        expect_error("InvalidParameterException", logs.filter_log_events,
                     logGroupName=g, filterPattern="{ $.level = ")
        expect_error("ResourceNotFoundException", logs.filter_log_events, logGroupName="/t/none")

    @scenario
    def retention_and_tags():
        g = "/t/retention"
        logs.create_log_group(logGroupName=g, tags={"a": "1"})
        logs.put_retention_policy(logGroupName=g, retentionInDays=7)
        r = logs.describe_log_groups(logGroupNamePrefix=g)["logGroups"][0]
        check(r["retentionInDays"] == 7, r)
        expect_error("InvalidParameterException", logs_raw.put_retention_policy,
                     logGroupName=g, retentionInDays=4)
        expect_error("ResourceNotFoundException", logs.put_retention_policy,
                     logGroupName="/t/none", retentionInDays=7)
        logs.delete_retention_policy(logGroupName=g)
        r = logs.describe_log_groups(logGroupNamePrefix=g)["logGroups"][0]
        check("retentionInDays" not in r, r)
        arn = ARN + g
        check(logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1"}, "tags")
        logs.tag_resource(resourceArn=arn, tags={"b": "2"})
        logs.untag_resource(resourceArn=arn, tagKeys=["a"])
        check(logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}, "tags 2")
        logs.tag_log_group(logGroupName=g, tags={"c": "3"})
        check(logs.list_tags_log_group(logGroupName=g)["tags"] == {"b": "2", "c": "3"}, "tags 3")
        logs.untag_log_group(logGroupName=g, tags=["c"])
        check(logs.list_tags_log_group(logGroupName=g)["tags"] == {"b": "2"}, "tags 4")
        expect_error("ResourceNotFoundException", logs.list_tags_for_resource,
                     resourceArn=ARN + "/t/none")
        expect_error("InvalidParameterException", logs.list_tags_for_resource,
                     resourceArn="arn:aws:s3:::bucket")

    @scenario
    def aws_cli_tail_and_filter_log_events():
        g = "/t/cli"
        logs.create_log_group(logGroupName=g)
        logs.create_log_stream(logGroupName=g, logStreamName="s1")
        t = now_ms()
        logs.put_log_events(logGroupName=g, logStreamName="s1",
                            logEvents=[{"timestamp": t, "message": "hello from cli"},
                                       {"timestamp": t + 1, "message": "ERROR cli"}])
        out = json.loads(aws("--output", "json", "logs", "filter-log-events", "--log-group-name", g,
                             "--filter-pattern", "ERROR"))
        check([e["message"] for e in out["events"]] == ["ERROR cli"], out)
        # The CLI pages get-log-events until the forward token comes back unchanged.
        out = json.loads(aws("--output", "json", "logs", "get-log-events", "--log-group-name", g,
                             "--log-stream-name", "s1", "--start-from-head"))
        check([e["message"] for e in out["events"]] == ["hello from cli", "ERROR cli"], out)
        out = json.loads(aws("--output", "json", "logs", "describe-log-groups",
                             "--log-group-name-prefix", g))
        check(out["logGroups"][0]["logGroupName"] == g, out)
        aws("logs", "put-retention-policy", "--log-group-name", g, "--retention-in-days", "14")
        # `aws logs tail` is AWS CLI v2's; with v1 (pip's), the same calls as its
        # follow loop (awscli/customizations/logs/tail.py) are made through boto3.
        has_tail = subprocess.run([AWS_CLI, "logs", "tail", "help"], capture_output=True,
                                  env=ENV, timeout=60).returncode == 0
        got = []
        if has_tail:
            out = aws("logs", "tail", g, "--since", "10m")
            check("hello from cli" in out and "ERROR cli" in out and "s1" in out, out)
            p = subprocess.Popen([AWS_CLI, "--endpoint-url", ENDPOINT, "logs", "tail", g,
                                  "--follow", "--since", "10m"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=ENV)
            reader = threading.Thread(target=lambda: [got.append(l) for l in p.stdout], daemon=True)
            stop = p.kill
        else:
            halt = threading.Event()
            reader = threading.Thread(target=tail_follow, args=(g, now_ms() - 600_000, got, halt),
                                      daemon=True)
            stop = halt.set
        reader.start()
        try:
            wait_until(lambda: any("hello from cli" in l for l in got), "tail --follow history", 30)
            logs.put_log_events(logGroupName=g, logStreamName="s1",
                                logEvents=[{"timestamp": now_ms(), "message": "followed line"}])
            wait_until(lambda: any("followed line" in l for l in got), "tail --follow new line", 30)
            time.sleep(1.5)
            check(sum("hello from cli" in l for l in got) == 1, got)
            check(sum("followed line" in l for l in got) == 1, got)
        finally:
            stop()

    @scenario
    def lambda_output_lands_in_its_log_group():
        fn = "logs-fn"
        code = "import json\n\ndef handler(event, context):\n    print(json.dumps(event))\n    return {\"ok\": True}\n"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("handler.py", code)
        lam.create_function(FunctionName=fn, Runtime="python3.12", Role=ROLE,
                            Handler="handler.handler", Code={"ZipFile": buf.getvalue()})
        wait_until(lambda: lam.get_function_configuration(FunctionName=fn)["State"] == "Active",
                   "function Active")
        events = [{"hello": "logs", "n": i} for i in range(3)]
        for e in events:
            r = lam.invoke(FunctionName=fn, Payload=json.dumps(e).encode())
            check(r["StatusCode"] == 200 and "FunctionError" not in r, r)
        group = f"/aws/lambda/{fn}"

        def printed():
            evs = all_filtered(group)
            lines = [e["message"] for e in evs if not e["message"].startswith(START_MARKERS)]
            return (evs, lines) if len(lines) >= 3 else None

        evs, lines = wait_until(printed, "the function's printed lines", 30)
        check([json.loads(l) for l in lines] == events, lines)
        msgs = [e["message"] for e in evs]
        check(sum(m.startswith("START RequestId: ") for m in msgs) == 3, msgs)
        check(sum(m.startswith("END RequestId: ") for m in msgs) == 3, msgs)
        wait_until(lambda: sum(e["message"].startswith("REPORT RequestId: ")
                               for e in all_filtered(group)) == 3, "REPORT lines", 10)
        check(not any(m.endswith("\n") for m in msgs), msgs)
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
        check(len(streams) >= 1, streams)
        check(all(re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", s["logStreamName"])
                  for s in streams), streams)
        lam.delete_function(FunctionName=fn)
        r = logs.describe_log_groups(logGroupNamePrefix=group)
        check([x["logGroupName"] for x in r["logGroups"]] == [group], r)

    @scenario
    def leave_a_group_for_the_restart():
        g = "/t/persisted"
        logs.create_log_group(logGroupName=g)
        logs.put_retention_policy(logGroupName=g, retentionInDays=30)
        logs.create_log_stream(logGroupName=g, logStreamName="s")
        t = now_ms()
        logs.put_log_events(logGroupName=g, logStreamName="s",
                            logEvents=[{"timestamp": t + i, "message": f"kept {i}"} for i in range(5)])


def restarted():
    @scenario
    def groups_streams_and_events_survive_a_restart():
        g = "/t/persisted"
        r = logs.describe_log_groups(logGroupNamePrefix=g)["logGroups"]
        check(len(r) == 1 and r[0]["retentionInDays"] == 30, r)
        s = logs.describe_log_streams(logGroupName=g)["logStreams"]
        check(len(s) == 1 and s[0]["storedBytes"] == 5 * len("kept 0"), s)
        got = [e["message"] for e in logs.get_log_events(logGroupName=g, logStreamName="s")["events"]]
        check(got == [f"kept {i}" for i in range(5)], got)
        # Writes go on after the restart.
        logs.put_log_events(logGroupName=g, logStreamName="s",
                            logEvents=[{"timestamp": now_ms(), "message": "after"}])
        got = [e["message"] for e in all_filtered(g)]
        check(got == [f"kept {i}" for i in range(5)] + ["after"], got)
        lines = [e["message"] for e in all_filtered("/aws/lambda/logs-fn")
                 if not e["message"].startswith(START_MARKERS)]
        check(len(lines) == 3, lines)


if MODE == "main":
    main()
else:
    restarted()
cases.finish()
