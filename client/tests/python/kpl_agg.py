#!/usr/bin/env python3
"""Interop helper for freshet-client's tests, over PyPI aws-kinesis-agg.

Reads one JSON document on stdin and writes one on stdout.

  aggregate:   {"op": "aggregate", "batches": [[{"pk", "ehk"?, "data"}...]...]}
               -> {"batches": [[{"pk", "ehk", "data"}...]...]}  (Kinesis records)
  deaggregate: {"op": "deaggregate", "batches": [[{"pk", "ehk"?, "data", "seq"}...]...]}
               -> {"batches": [[{"pk", "data", "seq", "sub"}...]...]}  (user records)

"data" is base64 throughout; "ehk" is a decimal string or null.
"""
import base64
import json
import sys

from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records


def aggregate(batch):
    out = []
    agg = RecordAggregator()

    def emit(rec):
        if rec is None:
            return
        pk, ehk, data = rec.get_contents()
        out.append({"pk": pk, "ehk": ehk, "data": base64.b64encode(data).decode()})

    for r in batch:
        emit(agg.add_user_record(r["pk"], base64.b64decode(r["data"]), r.get("ehk")))
    if agg.get_num_user_records() > 0:
        emit(agg.clear_and_get())
    return out


def deaggregate(batch):
    lambda_records = []
    for r in batch:
        k = {
            "kinesisSchemaVersion": "1.0",
            "approximateArrivalTimestamp": 0,
            "data": r["data"],
            "partitionKey": r["pk"],
            "sequenceNumber": r["seq"],
        }
        if r.get("ehk") is not None:
            k["explicitHashKey"] = r["ehk"]
        lambda_records.append({"kinesis": k})
    out = []
    for u in deaggregate_records(lambda_records):
        k = u["kinesis"]
        data = k["data"]
        if isinstance(data, bytes):
            data = data.decode()
        out.append({
            "pk": k["partitionKey"],
            "data": data,
            "seq": k["sequenceNumber"],
            "sub": k.get("subSequenceNumber"),
        })
    return out


def main():
    req = json.load(sys.stdin)
    fn = {"aggregate": aggregate, "deaggregate": deaggregate}[req["op"]]
    json.dump({"batches": [fn(b) for b in req["batches"]]}, sys.stdout)


if __name__ == "__main__":
    main()
