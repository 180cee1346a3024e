"""Drives Freshet's Firehose with boto3: a Lambda transform (a Python function run by
awslambdaric) with Ok / Dropped / ProcessingFailed and partition keys, dynamic
partitioning by JQ (MetadataExtraction) and by the transform's keys, the built-in
AppendDelimiterToRecord, a transform whose replies are invalid, and record format
conversion to Parquet read back with pyarrow and DuckDB. Objects are read from the
local buckets (directories under the server's data dir).

Usage: python firehose_transforms.py ENDPOINT BUCKETS_DIR
Prints "N passed, 0 failed" at the end; exits non-zero on the first failed check.
"""
import base64
import io
import json
import os
import sys
import zipfile

from firehose_common import ROLE, check, client, error_lines, objects as objects_in, passed, wait_active as _wait_active, wait_for

ENDPOINT, BUCKETS = sys.argv[1], sys.argv[2]
fh = client("firehose", ENDPOINT, read_timeout=60)
lam = client("lambda", ENDPOINT, read_timeout=60)
FN_ARN = "arn:aws:lambda:us-east-1:000000000000:function:"

TRANSFORM = r'''
import base64, json

def handler(event, context):
    assert event["invocationId"] and event["deliveryStreamArn"].startswith("arn:aws:firehose:")
    out = []
    for r in event["records"]:
        assert isinstance(r["approximateArrivalTimestamp"], int)
        d = json.loads(base64.b64decode(r["data"]))
        if d.get("drop"):
            out.append({"recordId": r["recordId"], "result": "Dropped"})
        elif d.get("fail"):
            out.append({"recordId": r["recordId"], "result": "ProcessingFailed", "data": r["data"]})
        else:
            d["seen"] = True
            data = base64.b64encode((json.dumps(d, sort_keys=True) + "\n").encode()).decode()
            out.append({"recordId": r["recordId"], "result": "Ok", "data": data,
                        "metadata": {"partitionKeys": {"customer": d["customer"]}}})
    return {"records": out}
'''

BROKEN = r'''
def handler(event, context):
    # Loses every record id and invents one: Firehose counts the invocation as failed.
    return {"records": [{"recordId": "invented", "result": "Ok", "data": ""}]}
'''





def objects(bucket):
    return objects_in(BUCKETS, bucket)


def wait_active(name):
    _wait_active(fh, name)


def zip_of(source):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("handler.py", source)
    return buf.getvalue()


def make_function(name, source):
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                        Handler="handler.handler", Code={"ZipFile": zip_of(source)}, Timeout=30)
    wait_for(lambda: lam.get_function_configuration(FunctionName=name)["State"] == "Active",
             f"function {name} Active")
    return FN_ARN + name



def put_all(name, datas):
    for i in range(0, len(datas), 500):
        r = fh.put_record_batch(DeliveryStreamName=name,
                                Records=[{"Data": d} for d in datas[i:i + 500]])
        check(r["FailedPutCount"] == 0, f"put into {name}: {r}")



def s3(bucket, **extra):
    c = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
         "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 1}}
    c.update(extra)
    return c


# --- A Lambda transform with partition keys from the transform --------------------------
transform_arn = make_function("fh-transform", TRANSFORM)
fh.create_delivery_stream(
    DeliveryStreamName="fh-lambda-keys",
    ExtendedS3DestinationConfiguration=s3(
        "keys-bucket",
        Prefix="customer=!{partitionKeyFromLambda:customer}/",
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [{
            "Type": "Lambda",
            "Parameters": [{"ParameterName": "LambdaArn", "ParameterValue": transform_arn},
                           {"ParameterName": "NumberOfRetries", "ParameterValue": "1"}]}]}))
wait_active("fh-lambda-keys")
desc = fh.describe_delivery_stream(DeliveryStreamName="fh-lambda-keys")["DeliveryStreamDescription"]
ext = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
check(ext["ProcessingConfiguration"]["Processors"][0]["Type"] == "Lambda", f"described: {ext}")
check(ext["DynamicPartitioningConfiguration"]["Enabled"] is True, f"described: {ext}")

sent = []
for i in range(300):
    d = {"id": i, "customer": "abc"[i % 3]}
    if i % 30 == 7:
        d["drop"] = True
    elif i % 30 == 11:
        d["fail"] = True
    sent.append(d)
put_all("fh-lambda-keys", [json.dumps(d).encode() for d in sent])
ok = [d for d in sent if not d.get("drop") and not d.get("fail")]
failed = [d for d in sent if d.get("fail")]


def delivered_by_customer():
    objs = objects("keys-bucket")
    by = {}
    for k, v in objs.items():
        if k.startswith("customer="):
            c = k.split("/")[0].split("=")[1]
            by.setdefault(c, []).extend(json.loads(line) for line in v.decode().splitlines())
    total = sum(len(v) for v in by.values())
    return (by, objs) if total >= len(ok) and len(error_lines(objs, "processing-failed")) >= len(failed) else None


by, objs = wait_for(delivered_by_customer, "the transformed records in their partitions")
check(sorted(by) == ["a", "b", "c"], f"partitions: {sorted(by)}")
for c, recs in by.items():
    check(all(r["customer"] == c and r["seen"] for r in recs), f"partition {c} holds {recs[:3]}")
    ids = [r["id"] for r in recs]
    check(ids == sorted(ids), f"partition {c} in order")
got_ids = sorted(r["id"] for recs in by.values() for r in recs)
check(got_ids == sorted(d["id"] for d in ok), "every kept record once, dropped ones gone")
errs = error_lines(objs, "processing-failed")
check(len(errs) == len(failed), f"{len(errs)} processing-failed lines, expected {len(failed)}")
check(sorted(json.loads(base64.b64decode(e["rawData"]))["id"] for e in errs)
      == sorted(d["id"] for d in failed), "the failed records' raw data in the error output")
check(all(e["errorCode"] == "Lambda.ProcessingFailedStatus" for e in errs), f"error codes: {errs[0]}")
check(all(k.startswith("customer=") or k.startswith("errors/processing-failed/") for k in objs),
      f"keys: {sorted(objs)}")

# --- A transform whose replies lose record ids: every record to processing-failed --------
broken_arn = make_function("fh-broken", BROKEN)
fh.create_delivery_stream(
    DeliveryStreamName="fh-broken-transform",
    ExtendedS3DestinationConfiguration=s3(
        "broken-bucket", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 1},
        ProcessingConfiguration={"Enabled": True, "Processors": [{
            "Type": "Lambda",
            "Parameters": [{"ParameterName": "LambdaArn", "ParameterValue": broken_arn},
                           {"ParameterName": "NumberOfRetries", "ParameterValue": "0"}]}]}))
wait_active("fh-broken-transform")
put_all("fh-broken-transform", [f"r{i}".encode() for i in range(20)])
errs = wait_for(lambda: len(error_lines(objects("broken-bucket"), "processing-failed")) >= 20
                and error_lines(objects("broken-bucket"), "processing-failed"),
                "the broken transform's records in the error output")
check(sorted(base64.b64decode(e["rawData"]).decode() for e in errs)
      == sorted(f"r{i}" for i in range(20)), "each record once in the error output")
check(all(e["errorCode"].startswith("Lambda.") for e in errs), f"codes: {errs[0]}")
check(not [k for k in objects("broken-bucket") if "processing-failed" not in k], "no data objects")

# --- JQ partitioning (MetadataExtraction) and AppendDelimiterToRecord --------------------
fh.create_delivery_stream(
    DeliveryStreamName="fh-jq",
    ExtendedS3DestinationConfiguration=s3(
        "jq-bucket",
        Prefix="region=!{partitionKeyFromQuery:region}/kind=!{partitionKeyFromQuery:kind}/",
        ErrorOutputPrefix="jq-errors/!{firehose:error-output-type}/",
        DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [
            {"Type": "MetadataExtraction", "Parameters": [
                {"ParameterName": "MetadataExtractionQuery",
                 "ParameterValue": "{region: .geo.region, kind: .kind}"},
                {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
            {"Type": "AppendDelimiterToRecord", "Parameters": []}]}))
wait_active("fh-jq")
jq_sent = [{"n": i, "geo": {"region": ["eu", "us"][i % 2]}, "kind": ["x", "y", "z"][i % 3]}
           for i in range(120)]
datas = [json.dumps(d).encode() for d in jq_sent] + [b"not json at all"]
put_all("fh-jq", datas)


def jq_done():
    objs = objects("jq-bucket")
    data = {k: v for k, v in objs.items() if k.startswith("region=")}
    n = sum(v.count(b"\n") for v in data.values())
    return (data, objs) if n >= 120 and error_lines(objs, "processing-failed") else None


data, objs = wait_for(jq_done, "the JQ partitions")
check(len({"/".join(k.split("/")[:2]) for k in data}) == 6, f"6 partitions: {sorted(data)}")
for k, v in data.items():
    region, kind = k.split("/")[0].split("=")[1], k.split("/")[1].split("=")[1]
    recs = [json.loads(line) for line in v.decode().splitlines()]
    check(v.endswith(b"\n") and all(r["geo"]["region"] == region and r["kind"] == kind for r in recs),
          f"{k} holds only its partition, newline-delimited")
check(sum(v.count(b"\n") for v in data.values()) == 120, "every record once")
errs = error_lines(objs, "processing-failed")
check(len(errs) == 1 and base64.b64decode(errs[0]["rawData"]) == b"not json at all",
      f"the record JQ could not read is in the error output: {errs}")

# --- Parquet (record format conversion) --------------------------------------------------
fh.create_delivery_stream(
    DeliveryStreamName="fh-parquet",
    ExtendedS3DestinationConfiguration=s3(
        "parquet-bucket", Prefix="orders/", ErrorOutputPrefix="bad/!{firehose:error-output-type}/",
        DataFormatConversionConfiguration={
            "Enabled": True,
            "SchemaConfiguration": {
                "RoleARN": ROLE, "DatabaseName": "shop",
                "TableName": "orders:struct<id:bigint,customer:string,amount:double,ts:timestamp>"},
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}}}))
wait_active("fh-parquet")
desc = fh.describe_delivery_stream(DeliveryStreamName="fh-parquet")["DeliveryStreamDescription"]
conv = desc["Destinations"][0]["ExtendedS3DestinationDescription"]["DataFormatConversionConfiguration"]
check(conv["Enabled"] is True and "ParquetSerDe" in json.dumps(conv), f"described: {conv}")
orders = [{"id": i, "Customer": f"c{i % 7}", "amount": i * 1.5, "ts": "2026-11-30 12:00:00"}
          for i in range(1000)]
bad = [b'{"id": "abc", "customer": "x"}', b"[1, 2, 3]"]
put_all("fh-parquet", [json.dumps(o).encode() + b"\n" for o in orders[:500]] + bad
        + [json.dumps(o).encode() for o in orders[500:]])


def parquet_done():
    objs = objects("parquet-bucket")
    files = {k: v for k, v in objs.items() if k.startswith("orders/")}
    if not files or len(error_lines(objs, "format-conversion-failed")) < 2:
        return None
    import pyarrow.parquet as pq
    rows = sum(pq.read_table(io.BytesIO(v)).num_rows for v in files.values())
    return (files, objs) if rows >= 1000 else None


files, objs = wait_for(parquet_done, "the Parquet objects")
import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

check(all(k.endswith(".parquet") for k in files), f"keys: {sorted(files)}")
tables = [pq.read_table(io.BytesIO(v)) for v in files.values()]
schema = tables[0].schema
check(schema.field("id").type == pa.int64() and schema.field("customer").type == pa.string()
      and schema.field("amount").type == pa.float64() and pa.types.is_timestamp(schema.field("ts").type),
      f"schema: {schema}")
rows = sorted((r["id"], r["customer"], r["amount"]) for t in tables for r in t.to_pylist())
check(rows == [(o["id"], o["Customer"], o["amount"]) for o in orders], "every row once, keys case-insensitive")
meta = pq.ParquetFile(io.BytesIO(next(iter(files.values())))).metadata
check(meta.row_group(0).column(0).compression == "SNAPPY", f"compression {meta.row_group(0).column(0).compression}")
paths = []
for k, v in files.items():
    p = os.path.join(BUCKETS, "parquet-bucket", k)
    paths.append(p)
con = duckdb.connect()
got = con.execute(f"select count(*), sum(id), min(ts), count(distinct customer) from read_parquet({paths!r})").fetchone()
check(got[0] == 1000 and got[1] == sum(range(1000)) and str(got[2]).startswith("2026-11-30 12:00:00")
      and got[3] == 7, f"DuckDB reads {got}")
errs = error_lines(objs, "format-conversion-failed")
check(sorted(base64.b64decode(e["rawData"]) for e in errs) == sorted(bad), f"conversion failures: {errs}")

# --- What the API refuses -----------------------------------------------------------------
from botocore.exceptions import ClientError  # noqa: E402

for what, conf in [
    ("ORC", {"Enabled": True, "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": "d", "TableName": "t"},
             "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
             "OutputFormatConfiguration": {"Serializer": {"OrcSerDe": {}}}}),
    ("a bad type", {"Enabled": True, "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": "d",
                                                             "TableName": "t:struct<a:nosuchtype>"},
                    "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                    "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}}),
]:
    try:
        fh.create_delivery_stream(DeliveryStreamName="fh-refused",
                                  ExtendedS3DestinationConfiguration=s3("x", DataFormatConversionConfiguration=conf))
        check(False, f"{what} accepted")
    except ClientError as e:
        check(e.response["Error"]["Code"] == "InvalidArgumentException", f"{what}: {e.response['Error']}")
try:
    fh.create_delivery_stream(DeliveryStreamName="fh-refused", ExtendedS3DestinationConfiguration=s3(
        "x", ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{a: .a"},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]},
        DynamicPartitioningConfiguration={"Enabled": True}, Prefix="!{partitionKeyFromQuery:a}/",
        ErrorOutputPrefix="e/!{firehose:error-output-type}/"))
    check(False, "a JQ query that does not compile accepted")
except ClientError as e:
    check(e.response["Error"]["Code"] == "InvalidArgumentException", f"bad JQ: {e.response['Error']}")

passed()
