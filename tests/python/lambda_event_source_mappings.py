"""Drives Freshet's Lambda event source mappings on Kinesis streams with boto3:
delivery in order per partition key (Python function; Rust function with
ParallelizationFactor 10 across a shard split), bisection on function errors with an
on-failure destination stream, ReportBatchItemFailures, retries then giving up,
filters, tumbling windows, disabling and enabling, parameter validation and a deleted
stream, a shard stuck on a poison batch holding back nothing else, record age.

Usage: python lambda_event_source_mappings.py ENDPOINT RUST_ZIP WORK_DIR [SCENARIO...]
Scenarios (a..k) run at once in threads, each with its own stream, function and sink
file; prints "N passed, M failed" and exits non-zero when M > 0.
"""
import json
import math
import os
import random
import sys
import threading
import time
import traceback

from lambda_common import (
    STREAM_ARN, Checks, clients, expect_error, make_function, make_stream, put,
    python_zip, read_sink, read_stream, sink_records, wait_delivered, wait_mapping_state,
    wait_until, per_key_order_violations,
)

ENDPOINT, RUST_ZIP, WORK = sys.argv[1:4]
ONLY = set(sys.argv[4:])
lam, kin = clients(ENDPOINT)
lam_raw, _ = clients(ENDPOINT, validate=False)
PY_ZIP = python_zip()
with open(RUST_ZIP, "rb") as f:
    RS_ZIP = f.read()
C = Checks()
check = C.check


def sink_path(name):
    return os.path.join(WORK, f"sink-{name}")


def key_of(data):
    pk, i = data.rsplit(":", 1)
    return pk, int(i)


def keyed_records(keys, n, prefix):
    """n records over `keys` partition keys, data "pk:i" with i the key's own count."""
    counts = {}
    out = []
    for j in range(n):
        pk = f"{prefix}-k{j % keys}"
        i = counts.get(pk, 0)
        counts[pk] = i + 1
        out.append((pk, f"{pk}:{i}"))
    return out


def failed_reqs(lines, word="poison"):
    return {l["req"] for l in lines if word in l.get("data", "")}


def ok_reqs_without(word):
    def ok(lines):
        bad = failed_reqs(lines, word)
        return {l["req"] for l in lines} - bad
    return ok


def scenario_a():
    """In order per key, Python function, 4 shards; Get/List/Update/Delete."""
    arn = make_stream(kin, "esm-a", 4)
    sink = sink_path("a")
    fn = make_function(lam, "esm-a-fn", PY_ZIP, env={"FRESHET_SINK": sink})
    m = lam.create_event_source_mapping(FunctionName="esm-a-fn", EventSourceArn=arn,
                                        StartingPosition="TRIM_HORIZON", BatchSize=100)
    check(m["ResponseMetadata"]["HTTPStatusCode"] == 202, m["ResponseMetadata"])
    check(m["State"] == "Creating", m["State"])
    check(m["FunctionArn"] == fn and m["EventSourceArn"] == arn, m)
    check(m["BatchSize"] == 100 and m["StartingPosition"] == "TRIM_HORIZON", m)
    uuid = m["UUID"]
    wait_mapping_state(lam, uuid, "Enabled")
    put_recs = []
    for chunk in range(4):
        put_recs += put(kin, "esm-a", keyed_records(50, 2000, "a")[chunk * 500:(chunk + 1) * 500])
    check(len(put_recs) == 2000, len(put_recs))
    check(len({r[3] for r in put_recs}) == 4, "puts reached every shard")
    wait_delivered(sink, [r[2] for r in put_recs], "esm-a: 2,000 records")
    lines = sink_records(sink)
    bad = per_key_order_violations(lines, key_of)
    check(not bad, f"out of order per key: {bad[:5]}")
    by_seq = {r[2]: r for r in put_recs}
    for l in lines:
        pk, data, _, shard = by_seq[l["seq"]]
        check(l["pk"] == pk and l["data"] == data and l["shard"] == shard, (l, by_seq[l["seq"]]))
    dups = len(lines) - len({l["seq"] for l in lines})
    print(f"  esm-a: {len(lines)} lines, {dups} duplicates", flush=True)
    g = wait_until(lambda: (g := lam.get_event_source_mapping(UUID=uuid))["LastProcessingResult"] == "OK" and g,
                   "LastProcessingResult OK", timeout=10, interval=0.1)
    check(g["State"] == "Enabled", g)
    ls = lam.list_event_source_mappings(FunctionName="esm-a-fn")["EventSourceMappings"]
    check([x["UUID"] for x in ls] == [uuid], ls)
    ls = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
    check([x["UUID"] for x in ls] == [uuid], ls)
    all_uuids = [x["UUID"] for p in lam.get_paginator("list_event_source_mappings").paginate(
        PaginationConfig={"PageSize": 1}) for x in p["EventSourceMappings"]]
    check(uuid in all_uuids and len(all_uuids) == len(set(all_uuids)), all_uuids)
    u = lam.update_event_source_mapping(UUID=uuid, BatchSize=50)
    check(u["BatchSize"] == 50 and u["State"] == "Updating", u)
    g = wait_mapping_state(lam, uuid, "Enabled")
    check(g["BatchSize"] == 50, g)
    more = put(kin, "esm-a", keyed_records(50, 200, "a2"))
    wait_delivered(sink, [r[2] for r in more], "esm-a: records after the update")
    d = lam.delete_event_source_mapping(UUID=uuid)
    check(d["State"] == "Deleting", d)
    wait_until(lambda: not [x for x in lam.list_event_source_mappings(FunctionName="esm-a-fn")["EventSourceMappings"]],
               "the mapping deleted", timeout=30, interval=0.1)
    expect_error(C, "ResourceNotFoundException", lam.get_event_source_mapping, status=404, UUID=uuid)


def scenario_b():
    """Rust function, ParallelizationFactor 10, a split in the middle of the puts."""
    arn = make_stream(kin, "esm-b", 2)
    sink = sink_path("b")
    make_function(lam, "esm-b-fn", RS_ZIP, runtime="provided.al2023", env={"FRESHET_SINK": sink})
    m = lam.create_event_source_mapping(FunctionName="esm-b-fn", EventSourceArn=arn,
                                        StartingPosition="TRIM_HORIZON", BatchSize=20,
                                        ParallelizationFactor=10)
    check(m["ParallelizationFactor"] == 10, m)
    wait_mapping_state(lam, m["UUID"], "Enabled")
    recs = keyed_records(50, 2000, "b")
    put_recs = []
    for i in range(0, 1000, 100):
        put_recs += put(kin, "esm-b", recs[i:i + 100])
    shard = kin.list_shards(StreamName="esm-b")["Shards"][0]
    lo = int(shard["HashKeyRange"]["StartingHashKey"])
    hi = int(shard["HashKeyRange"]["EndingHashKey"])
    kin.split_shard(StreamName="esm-b", ShardToSplit=shard["ShardId"], NewStartingHashKey=str((lo + hi) // 2))
    wait_until(lambda: kin.describe_stream_summary(StreamName="esm-b")["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE",
               "esm-b ACTIVE after the split", timeout=30, interval=0.1)
    for i in range(1000, 2000, 100):
        put_recs += put(kin, "esm-b", recs[i:i + 100])
    check(len({r[3] for r in put_recs}) >= 4, f"puts reached the children: {sorted({r[3] for r in put_recs})}")
    wait_delivered(sink, [r[2] for r in put_recs], "esm-b: 2,000 records across the split")
    lines = sink_records(sink)
    bad = per_key_order_violations(lines, key_of)
    check(not bad, f"out of order per key: {bad[:5]}")
    reqs = {}
    for l in lines:
        reqs.setdefault(l["req"], set()).add(l["shard"])
    check(all(len(s) == 1 for s in reqs.values()), "a batch holds one shard's records")
    print(f"  esm-b: {len(lines)} lines in {len(reqs)} invocations", flush=True)


def scenario_c():
    """Bisection finds the poison record; one failure record on the destination."""
    arn = make_stream(kin, "esm-c", 1)
    dest = make_stream(kin, "esm-c-dlq", 1)
    sink = sink_path("c")
    make_function(lam, "esm-c-fn", PY_ZIP, env={"FRESHET_SINK": sink})
    poison_at = random.randrange(1000)
    recs = [("c-k%d" % (i % 7), "poison" if i == poison_at else f"good-{i}") for i in range(1000)]
    put_recs = put(kin, "esm-c", recs)
    poison_seq = put_recs[poison_at][2]
    m = lam.create_event_source_mapping(
        FunctionName="esm-c-fn", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
        BatchSize=1000, BisectBatchOnFunctionError=True, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": dest}})
    check(m["BisectBatchOnFunctionError"] is True and m["MaximumRetryAttempts"] == 0, m)
    check(m["DestinationConfig"]["OnFailure"]["Destination"] == dest, m)
    marker = put(kin, "esm-c", [("c-marker", "marker")])
    good = [r[2] for r in put_recs if r[2] != poison_seq] + [marker[0][2]]
    wait_delivered(sink, good, "esm-c: the 999 good records and the marker",
                   ok_reqs=ok_reqs_without("poison"))
    failures = wait_until(lambda: read_stream(kin, "esm-c-dlq"), "a failure record", timeout=30, interval=0.1)
    time.sleep(1)
    failures = read_stream(kin, "esm-c-dlq")
    check(len(failures) == 1, f"{len(failures)} failure records: {[f['Data'][:300] for f in failures]}")
    doc = json.loads(failures[0]["Data"])
    info = doc["KinesisBatchInfo"]
    check(info["batchSize"] == 1, doc)
    check(info["startSequenceNumber"] == poison_seq and info["endSequenceNumber"] == poison_seq, (doc, poison_seq))
    check(info["shardId"] == "shardId-000000000000" and info["streamArn"] == arn, doc)
    check(doc["requestContext"]["condition"] == "RetryAttemptsExhausted", doc)
    check(doc["requestContext"]["functionArn"].endswith(":function:esm-c-fn"), doc)
    lines = sink_records(sink)
    failed = failed_reqs(lines)
    bound = math.ceil(math.log2(1000)) + 2
    check(len(failed) <= bound, f"{len(failed)} failed invocations, more than {bound}")
    print(f"  esm-c: poison at {poison_at}, {len(failed)} failed invocations", flush=True)


def scenario_d():
    """ReportBatchItemFailures: a batch is retried from its first failed record."""
    arn = make_stream(kin, "esm-d", 1)
    sink = sink_path("d")
    state = os.path.join(WORK, "state-d")
    make_function(lam, "esm-d-fn", PY_ZIP, env={
        "FRESHET_SINK": sink, "FRESHET_REPORT_FAILURES": "1", "FRESHET_STATE_DIR": state})
    recs = [("d-k%d" % (i % 3), f"fail-item-once-{i}" if i % 13 == 5 else f"ok-{i}") for i in range(100)]
    put_recs = put(kin, "esm-d", recs)
    m = lam.create_event_source_mapping(
        FunctionName="esm-d-fn", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
        BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    check(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"], m)
    wait_delivered(sink, [r[2] for r in put_recs], "esm-d: every record")
    failing = {r[2] for r in put_recs if "fail-item-once" in r[1]}

    def replayed():
        lines = sink_records(sink)
        count = {}
        for l in lines:
            count[l["seq"]] = count.get(l["seq"], 0) + 1
        by_req = {}
        for l in lines:
            by_req.setdefault(l["req"], []).append(l["seq"])
        # In the first batch holding each failing record: it and every record after it
        # must be delivered again.
        missing = []
        for seq in failing:
            first_req = next(l["req"] for l in lines if l["seq"] == seq)
            batch = by_req[first_req]
            for s in batch[batch.index(seq):]:
                if count.get(s, 0) < 2:
                    missing.append(s)
        replayed.missing = missing
        replayed.followers = sum(len(by_req[next(l["req"] for l in lines if l["seq"] == s)]) for s in failing)
        return not missing

    replayed.missing = []
    try:
        wait_until(replayed, "the failed records and those after them delivered again", timeout=30)
    except AssertionError as e:
        raise AssertionError(f"{e}: {len(replayed.missing)} not redelivered, e.g. {replayed.missing[:3]}")
    check(True, "replayed")
    lines = sink_records(sink)
    check(len(lines) > len(put_recs), "some records were delivered twice")
    print(f"  esm-d: {len(lines)} lines for {len(put_recs)} records", flush=True)


def scenario_e():
    """MaximumRetryAttempts 2: three invocations, then the failure record, then on."""
    arn = make_stream(kin, "esm-e", 1)
    dest = make_stream(kin, "esm-e-dlq", 1)
    sink = sink_path("e")
    make_function(lam, "esm-e-fn", PY_ZIP, env={"FRESHET_SINK": sink})
    recs = [("e-k", "poison" if i == 12 else f"good-{i}") for i in range(30)]
    put_recs = put(kin, "esm-e", recs)
    m = lam.create_event_source_mapping(
        FunctionName="esm-e-fn", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
        BatchSize=10, MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": dest}})
    check(m["MaximumRetryAttempts"] == 2 and m["BisectBatchOnFunctionError"] is False, m)
    failures = wait_until(lambda: read_stream(kin, "esm-e-dlq"), "a failure record", timeout=30, interval=0.1)
    later = put(kin, "esm-e", [("e-k", f"later-{i}") for i in range(10)])
    lines = sink_records(sink)
    bad = failed_reqs(lines)
    poisoned_batch = next(sorted({l["seq"] for l in lines if l["req"] == r}, key=int) for r in bad)
    good_elsewhere = [r[2] for r in put_recs if r[2] not in poisoned_batch]
    wait_delivered(sink, good_elsewhere + [r[2] for r in later], "esm-e: the other batches and later records")
    lines = sink_records(sink)
    check(len(failed_reqs(lines)) == 3, f"the failing batch was invoked {len(failed_reqs(lines))} times, not 3")
    time.sleep(0.5)
    failures = read_stream(kin, "esm-e-dlq")
    check(len(failures) == 1, f"{len(failures)} failure records")
    doc = json.loads(failures[0]["Data"])
    info = doc["KinesisBatchInfo"]
    check(doc["requestContext"]["condition"] == "RetryAttemptsExhausted", doc)
    check(doc["requestContext"]["approximateInvokeCount"] == 3, doc)
    check(info["batchSize"] == len(poisoned_batch), (doc, poisoned_batch))
    check(info["startSequenceNumber"] == poisoned_batch[0] and info["endSequenceNumber"] == poisoned_batch[-1],
          (doc, poisoned_batch))
    check(doc["responseContext"].get("functionError") == "Unhandled", doc)


def scenario_f():
    """Filters: only the records whose JSON data has kind "keep"."""
    arn = make_stream(kin, "esm-f", 1)
    sink = sink_path("f")
    make_function(lam, "esm-f-fn", PY_ZIP, env={"FRESHET_SINK": sink})
    pattern = json.dumps({"data": {"kind": ["keep"]}})
    m = lam.create_event_source_mapping(
        FunctionName="esm-f-fn", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
        BatchSize=7, FilterCriteria={"Filters": [{"Pattern": pattern}]})
    check(m["FilterCriteria"]["Filters"][0]["Pattern"] == pattern, m)
    recs = []
    for i in range(60):
        if i % 3 == 0:
            recs.append(("f-k", json.dumps({"kind": "keep", "i": i})))
        elif i % 3 == 1:
            recs.append(("f-k", json.dumps({"kind": "drop", "i": i})))
        else:
            recs.append(("f-k", f"plain text {i} keep"))
    put_recs = put(kin, "esm-f", recs)
    put_recs += put(kin, "esm-f", [("f-k", json.dumps({"kind": "keep", "i": "last"}))])
    keep = [r[2] for r in put_recs if r[1].startswith('{"kind": "keep"')]
    check(len(keep) == 21, len(keep))
    wait_delivered(sink, keep, "esm-f: the keep records")
    time.sleep(0.5)
    lines = sink_records(sink)
    others = [l for l in lines if l["seq"] not in set(keep)]
    check(not others, f"filtered-out records delivered: {others[:3]}")
    make_function(lam, "esm-f-fn2", PY_ZIP)
    for bad in ["{not json", json.dumps({"data": {"kind": "keep"}})]:
        expect_error(C, "InvalidParameterValueException", lam.create_event_source_mapping,
                     FunctionName="esm-f-fn2", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                     FilterCriteria={"Filters": [{"Pattern": bad}]})


def scenario_g():
    """Tumbling windows of 2 s: the final invocations' counts add up."""
    arn = make_stream(kin, "esm-g", 1)
    sink = sink_path("g")
    make_function(lam, "esm-g-fn", PY_ZIP, env={"FRESHET_SINK": sink})
    m = lam.create_event_source_mapping(
        FunctionName="esm-g-fn", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
        BatchSize=100, TumblingWindowInSeconds=2)
    check(m["TumblingWindowInSeconds"] == 2, m)
    wait_mapping_state(lam, m["UUID"], "Enabled")
    put_recs = []
    t0 = time.time()
    i = 0
    while time.time() - t0 < 5:
        put_recs += put(kin, "esm-g", [("g-k", f"w-{i}-{j}") for j in range(5)])
        i += 1
        time.sleep(0.25)
    wait_delivered(sink, [r[2] for r in put_recs], "esm-g: every record")
    n = len({r[2] for r in put_recs})

    def counted():
        finals = [l for l in read_sink(sink) if l.get("window_final")]
        counted.total = sum(l["count"] for l in finals)
        counted.finals = finals
        return counted.total >= n

    counted.total, counted.finals = 0, []
    try:
        wait_until(counted, "window_final counts adding up to the records", timeout=20)
    except AssertionError as e:
        raise AssertionError(f"{e}: {counted.total} of {n} counted in {len(counted.finals)} windows: "
                             f"{counted.finals}")
    delivered = len({l["seq"] for l in sink_records(sink)})
    check(counted.total == delivered, (counted.total, delivered, counted.finals))
    starts = [l["start"] for l in counted.finals]
    check(len(starts) == len(set(starts)) and len(starts) >= 2, counted.finals)


def scenario_h():
    """Disabled: nothing delivered; enabled again: everything."""
    arn = make_stream(kin, "esm-h", 1)
    sink = sink_path("h")
    make_function(lam, "esm-h-fn", PY_ZIP, env={"FRESHET_SINK": sink})
    m = lam.create_event_source_mapping(FunctionName="esm-h-fn", EventSourceArn=arn,
                                        StartingPosition="TRIM_HORIZON", BatchSize=10)
    uuid = m["UUID"]
    first = put(kin, "esm-h", [("h-k", f"first-{i}") for i in range(10)])
    wait_delivered(sink, [r[2] for r in first], "esm-h: the first records")
    u = lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    check(u["State"] in ("Disabling", "Disabled"), u["State"])
    wait_mapping_state(lam, uuid, "Disabled")
    before = len(sink_records(sink))
    second = put(kin, "esm-h", [("h-k", f"second-{i}") for i in range(10)])
    time.sleep(1)
    check(len(sink_records(sink)) == before, f"delivered while disabled: {sink_records(sink)[before:][:3]}")
    check(lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled", "still Disabled")
    u = lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    check(u["State"] in ("Enabling", "Enabled"), u["State"])
    wait_delivered(sink, [r[2] for r in second], "esm-h: the records put while disabled")
    wait_mapping_state(lam, uuid, "Enabled")
    lines = sink_records(sink)
    check(len({l["seq"] for l in lines}) == 20, len(lines))


def scenario_i():
    """Parameter validation; a deleted stream disables its mappings."""
    arn = make_stream(kin, "esm-i", 1)
    make_function(lam, "esm-i-fn", PY_ZIP)
    base = dict(FunctionName="esm-i-fn", EventSourceArn=arn, StartingPosition="TRIM_HORIZON")
    for extra, code in [
        ({"BatchSize": 0}, "ValidationException"),
        ({"BatchSize": 10001}, "ValidationException"),
        ({"ParallelizationFactor": 11}, "ValidationException"),
        ({"ParallelizationFactor": 0}, "ValidationException"),
        ({"MaximumRecordAgeInSeconds": 30}, "InvalidParameterValueException"),
        ({"MaximumRetryAttempts": 10001}, "ValidationException"),
        ({"TumblingWindowInSeconds": 901}, "ValidationException"),
        ({"StartingPosition": "SOMEWHERE"}, "ValidationException"),
    ]:
        expect_error(C, code, lam_raw.create_event_source_mapping, **{**base, **extra})
    no_start = {k: v for k, v in base.items() if k != "StartingPosition"}
    expect_error(C, "InvalidParameterValueException", lam_raw.create_event_source_mapping, **no_start)
    expect_error(C, "InvalidParameterValueException", lam.create_event_source_mapping,
                 **{**base, "EventSourceArn": STREAM_ARN + "no-such-stream"})
    expect_error(C, "ResourceNotFoundException", lam.create_event_source_mapping, status=404,
                 **{**base, "FunctionName": "no-such-function"})
    check(not lam.list_event_source_mappings(FunctionName="esm-i-fn")["EventSourceMappings"],
          "a refused create left no mapping")
    m = lam.create_event_source_mapping(**base)
    expect_error(C, "ResourceConflictException", lam.create_event_source_mapping, status=409, **base)
    expect_error(C, "ValidationException", lam_raw.update_event_source_mapping, UUID=m["UUID"], BatchSize=0)
    expect_error(C, "ResourceNotFoundException", lam.update_event_source_mapping, status=404,
                 UUID="00000000-0000-0000-0000-000000000000", BatchSize=10)
    wait_mapping_state(lam, m["UUID"], "Enabled")
    kin.delete_stream(StreamName="esm-i")
    wait_mapping_state(lam, m["UUID"], "Disabled", timeout=30)


def scenario_j():
    """A shard retrying a poison batch forever holds back neither its other shards nor
    another mapping of the stream."""
    arn = make_stream(kin, "esm-j", 2)
    sink_stuck, sink_free = sink_path("j-stuck"), sink_path("j-free")
    make_function(lam, "esm-j-stuck", PY_ZIP, env={"FRESHET_SINK": sink_stuck})
    make_function(lam, "esm-j-free", PY_ZIP, env={"FRESHET_SINK": sink_free})
    # Keys of each shard, found by putting them.
    probe = put(kin, "esm-j", [(f"j-k{i}", f"probe-{i}") for i in range(20)])
    shards = sorted({r[3] for r in probe})
    check(len(shards) == 2, f"keys landed on {shards}")
    key_on = {sh: next(r[0] for r in probe if r[3] == sh) for sh in shards}
    stuck_shard, free_shard = shards
    put(kin, "esm-j", [(key_on[stuck_shard], "poison")])
    stuck = lam.create_event_source_mapping(
        FunctionName="esm-j-stuck", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
        BatchSize=100, MaximumRetryAttempts=-1)
    free = lam.create_event_source_mapping(
        FunctionName="esm-j-free", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
        BatchSize=100, MaximumRetryAttempts=0)
    # The stuck mapping retries the poison batch (its shard's probes and the poison).
    wait_until(lambda: len(failed_reqs(sink_records(sink_stuck))) >= 3, "the poison batch retried", timeout=30)
    later = put(kin, "esm-j", [(key_on[free_shard], f"later-{i}") for i in range(50)]
                + [(key_on[stuck_shard], f"behind-{i}") for i in range(5)])
    free_seqs = [r[2] for r in probe + later if r[3] == free_shard]
    wait_delivered(sink_stuck, free_seqs, "esm-j: the other shard of the stuck mapping")
    everything_else = [r[2] for r in probe + later]
    wait_delivered(sink_free, everything_else, "esm-j: the other mapping, every shard")
    behind = {r[2] for r in later if r[3] == stuck_shard}
    delivered_stuck = {l["seq"] for l in sink_records(sink_stuck)}
    check(not behind & delivered_stuck, "records behind the poison batch wait for it")
    for m in (stuck, free):
        lam.delete_event_source_mapping(UUID=m["UUID"])


def scenario_k():
    """MaximumRecordAgeInSeconds 60: a batch failing forever is given up once its
    records are 60 s old (RecordAgeExceeded on the destination), then delivery goes on."""
    arn = make_stream(kin, "esm-k", 1)
    dest = make_stream(kin, "esm-k-dlq", 1)
    sink = sink_path("k")
    make_function(lam, "esm-k-fn", PY_ZIP, env={"FRESHET_SINK": sink})
    lam.create_event_source_mapping(
        FunctionName="esm-k-fn", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
        BatchSize=100, MaximumRetryAttempts=-1, MaximumRecordAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": dest}})
    poison = put(kin, "esm-k", [("k-k", "poison")])
    wait_until(lambda: failed_reqs(sink_records(sink)), "the poison record tried", timeout=30)
    # Put behind the failing batch: about as old as it when it expires, so each is
    # either delivered or given up as too old too, never lost.
    behind = put(kin, "esm-k", [("k-k", f"behind-{i}") for i in range(20)])
    failures = wait_until(lambda: read_stream(kin, "esm-k-dlq"), "a RecordAgeExceeded record", timeout=90,
                          interval=0.5)
    doc = json.loads(failures[0]["Data"])
    check(doc["requestContext"]["condition"] == "RecordAgeExceeded", doc)
    check(doc["KinesisBatchInfo"]["startSequenceNumber"] == poison[0][2], doc)
    check(doc["KinesisBatchInfo"]["batchSize"] == 1, doc)
    later = put(kin, "esm-k", [("k-k", f"later-{i}") for i in range(20)])
    wait_delivered(sink, [r[2] for r in later], "esm-k: records put after the expired batch")
    delivered = {l["seq"] for l in sink_records(sink)}
    given_up = set()
    for f in read_stream(kin, "esm-k-dlq"):
        info = json.loads(f["Data"])["KinesisBatchInfo"]
        lo, hi = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
        given_up |= {r[2] for r in behind if lo <= int(r[2]) <= hi}
    lost = [r[2] for r in behind if r[2] not in delivered and r[2] not in given_up]
    check(not lost, f"records behind the expired batch neither delivered nor given up: {lost[:3]}")

SCENARIOS = {
    "a": scenario_a, "b": scenario_b, "c": scenario_c, "d": scenario_d, "e": scenario_e,
    "f": scenario_f, "g": scenario_g, "h": scenario_h, "i": scenario_i, "j": scenario_j,
    "k": scenario_k,
}


def run(name, fn):
    t0 = time.time()
    try:
        fn()
        print(f"ok   {name}: {fn.__doc__} ({time.time() - t0:.1f}s)", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported
        with C.lock:
            C.failures.append((name, e))
        print(f"FAIL {name}: {fn.__doc__} ({time.time() - t0:.1f}s): {e}", flush=True)
        traceback.print_exc()


threads = [threading.Thread(target=run, args=(n, f)) for n, f in SCENARIOS.items() if not ONLY or n in ONLY]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=170)
alive = [t for t in threads if t.is_alive()]
if alive:
    C.failures.append(("timeout", f"{len(alive)} scenarios still running"))
print(f"{C.passed} passed, {len(C.failures)} failed")
for name, e in C.failures:
    print(f"  failed: {name}: {e}")
sys.stdout.flush()
os._exit(1 if C.failures else 0)
