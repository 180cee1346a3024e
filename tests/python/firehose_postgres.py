"""Firehose's Redshift destination on a real PostgreSQL, driven by boto3.

  put    ENDPOINT ACKED JDBC USER PASSWORD SECONDS
         creates (once) the delivery stream `pg-once` into the table `events` and puts
         unique JSON records until the server dies or SECONDS pass; every acknowledged
         record's id is appended to ACKED (after the ack).
  verify ENDPOINT ACKED DSN
         waits until every acknowledged id is in `events`, then checks none is there
         twice (exactly once across kill -9 of Freshet and restarts of PostgreSQL).
  errors ENDPOINT BUCKETS JDBC USER PASSWORD DSN
         a delivery stream into `typed` (NOT NULL, bigint, numeric): rows the table
         refuses go to the error output (`redshift-failed`) with the database's
         message, the rest of each batch is delivered; Describe hides the password.
Prints "N passed, 0 failed" at the end (verify, errors).
"""
import base64
import json
import os
import sys
import time
import uuid

import psycopg

from firehose_common import ROLE, check, client, passed, wait_for

mode, endpoint = sys.argv[1], sys.argv[2]
fh = client("firehose", endpoint, read_timeout=10)


def redshift(jdbc, user, password, table, columns=None):
    copy = {"DataTableName": table, "CopyOptions": "JSON 'auto'"}
    if columns:
        copy["DataTableColumns"] = columns
    return {"RoleARN": ROLE, "ClusterJDBCURL": jdbc, "Username": user, "Password": password,
            "CopyCommand": copy, "RetryOptions": {"DurationInSeconds": 3600},
            "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::pg-errors",
                                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
                                "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/"}}


if mode == "put":
    acked, jdbc, user, password, seconds = sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], float(sys.argv[7])
    try:
        fh.create_delivery_stream(DeliveryStreamName="pg-once",
                                  RedshiftDestinationConfiguration=redshift(jdbc, user, password, "events"))
    except fh.exceptions.ResourceInUseException:
        pass
    run = uuid.uuid4().hex[:8]
    deadline = time.time() + seconds
    n = 0
    with open(acked, "a") as out:
        while time.time() < deadline:
            ids = [f"{run}-{n + i}" for i in range(100)]
            try:
                r = fh.put_record_batch(DeliveryStreamName="pg-once", Records=[
                    {"Data": json.dumps({"id": i, "n": n + k, "note": "x" * 40}).encode()}
                    for k, i in enumerate(ids)])
            except Exception:
                break  # the server was killed
            for i, res in zip(ids, r["RequestResponses"]):
                if "RecordId" in res:
                    out.write(i + "\n")
            out.flush()
            n += 100
    sys.exit(0)

if mode == "verify":
    acked_file, dsn = sys.argv[3], sys.argv[4]
    with open(acked_file) as f:
        acked = [line.strip() for line in f if line.strip()]
    check(len(acked) > 1000, f"only {len(acked)} records were acknowledged")

    def counts():
        with psycopg.connect(dsn) as c:
            rows = c.execute("select id, count(*) from events group by id").fetchall()
        return dict(rows)

    got = wait_for(lambda: (lambda c: c if all(i in c for i in acked) else None)(counts()),
                   f"all {len(acked)} acknowledged records in the table", timeout=120)
    twice = [i for i, n in got.items() if n > 1]
    check(not twice, f"{len(twice)} records are in the table twice, e.g. {twice[:5]}")
    check(all(i in got for i in acked), "every acknowledged record is in the table")
    print(f"{len(acked)} acknowledged, {len(got)} rows")
    passed()
    sys.exit(0)

if mode == "errors":
    buckets, jdbc, user, password, dsn = sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
    fh.create_delivery_stream(DeliveryStreamName="pg-typed",
                              RedshiftDestinationConfiguration=redshift(jdbc, user, password, "typed",
                                                                        "id,amount,label"))
    desc = fh.describe_delivery_stream(DeliveryStreamName="pg-typed")["DeliveryStreamDescription"]
    d = desc["Destinations"][0]["RedshiftDestinationDescription"]
    check("Password" not in d and d["Username"] == user and d["CopyCommand"]["DataTableName"] == "typed",
          f"described: {d}")
    wait_for(lambda: fh.describe_delivery_stream(DeliveryStreamName="pg-typed")
             ["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE", "pg-typed ACTIVE")
    good = [{"id": i, "amount": i * 1.25, "label": f"l{i}", "ignored": True} for i in range(200)]
    bad = [{"id": None, "amount": 1, "label": "null id"},
           {"id": "not a number", "amount": 2, "label": "bad id"},
           {"ID": 900, "AMOUNT": "abc", "label": "bad amount"}]
    records = good[:100] + bad + good[100:]
    fh.put_record_batch(DeliveryStreamName="pg-typed",
                        Records=[{"Data": json.dumps(r).encode()} for r in records])

    def rows():
        with psycopg.connect(dsn) as c:
            return c.execute("select id, amount, label from typed order by id").fetchall()

    got = wait_for(lambda: (lambda r: r if len(r) >= 200 else None)(rows()), "the good rows")
    check([r[0] for r in got] == list(range(200)), f"rows: {[r[0] for r in got][:10]}...")
    check(float(got[3][1]) == 3.75 and got[3][2] == "l3", f"values: {got[3]}")

    def error_lines():
        out = []
        root = os.path.join(buckets, "pg-errors")
        for dpath, _, files in os.walk(root):
            for f in files:
                if "#" in f or f.startswith("."):
                    continue
                rel = os.path.relpath(os.path.join(dpath, f), root)
                if rel.startswith("errors/redshift-failed/"):
                    with open(os.path.join(dpath, f)) as fd:
                        out.extend(json.loads(line) for line in fd if line.strip())
        return out

    errs = wait_for(lambda: (lambda e: e if len(e) >= 3 else None)(error_lines()), "the refused rows")
    check(len(errs) == 3, f"{len(errs)} error lines")
    raw = sorted(json.loads(base64.b64decode(e["rawData"]))["label"] for e in errs)
    check(raw == sorted(b["label"] for b in bad), f"refused rows: {raw}")
    msgs = " | ".join(e["errorMessage"] for e in errs)
    check("null value" in msgs and "invalid input syntax" in msgs, f"the database's messages: {msgs}")
    passed()
    sys.exit(0)

raise SystemExit(f"unknown mode {mode}")
