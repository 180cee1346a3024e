#!/usr/bin/env python3
"""Delivery-stream destination benchmarks (issue 14) against a real `freshet serve`
(started here on 127.0.0.1, `--durability sync-data`): how fast a backlog drains

  postgres   into PostgreSQL with COPY, exactly once (the position commits with the
             rows; a real PostgreSQL started here on 127.0.0.1 as the postgres user)
  parquet    to local buckets, JSON converted to Parquet (inline schema)
  http       to an HTTP endpoint (a receiver here, Firehose's response format)
  transform  to local buckets through a Lambda transform (the Rust test function,
             lambda_runtime, every record returned Ok); timed live: from the start of
             the fill (faster than the delivery) until the last record is delivered

  scripts/bench-firehose-destinations.py KIND --freshet BIN [--seconds 10]
      [--function-zip ZIP] [--record-size 100]

Method (as bench-firehose.py drain): the destination is made to fail while `freshet
bench --workload firehose-put --json-records` fills the delivery stream (100 B JSON
records) with large buffers; then the destination is repaired with UpdateDestination
(small immediate buffers), which restarts the delivery, and the drain is timed from
that call until /metrics' freshet_firehose_records_delivered_total reaches the
records put. The result is checked: rows in the table, rows in the Parquet files,
records received.

Run with the tests' venv Python (boto3, pyarrow, psycopg):
  $CARGO_TARGET_DIR/py-venv/bin/python scripts/bench-firehose-destinations.py ...
"""
import argparse
import base64
import glob
import http.server
import io
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
bf = __import__("bench-firehose")

ROLE = bf.ROLE
STREAM = bf.STREAM
BUCKET = bf.BUCKET
DEST = "destinationId-000000000001"


def start_postgres(work):
    """A PostgreSQL on 127.0.0.1 in `work` (as the postgres user when root)."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        raise SystemExit("PostgreSQL is not installed (scripts/prereqs.sh installs it)")
    bin_dir = bins[-1]
    pgdata = os.path.join(work, "pg")
    port = bf.free_port()
    run_as = []
    if os.geteuid() == 0:
        os.chmod(work, 0o755)
        os.makedirs(pgdata)
        pw = pwd.getpwnam("postgres")
        os.chown(pgdata, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(run_as + [f"{bin_dir}/initdb", "-D", pgdata, "-U", "postgres", "-A", "trust"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(run_as + [f"{bin_dir}/pg_ctl", "-D", pgdata, "-w", "-l", os.path.join(pgdata, "log"),
                             "-o", f"-h 127.0.0.1 -p {port} -k {pgdata}", "start"],
                   check=True, stdout=subprocess.DEVNULL)

    def stop():
        subprocess.run(run_as + [f"{bin_dir}/pg_ctl", "-D", pgdata, "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return port, stop


def psql(port, sql):
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-At", "-c", sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"psql {sql!r}: {out.stderr}")
    return out.stdout.strip()


class Receiver(http.server.ThreadingHTTPServer):
    records = 0
    requests = 0
    lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        doc = json.loads(body)
        with self.server.lock:
            self.server.records += len(doc["records"])
            self.server.requests += 1
        reply = json.dumps({"requestId": doc["requestId"], "timestamp": int(time.time() * 1000)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


def s3(bucket, size, interval, **extra):
    c = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
         "BufferingHints": {"SizeInMBs": size, "IntervalInSeconds": interval}}
    c.update(extra)
    return c


SCHEMA = "orders:struct<id:bigint,customer:string,amount:double,ts:timestamp,note:string>"


def run(args, work):
    data = os.path.join(work, "data")
    os.makedirs(os.path.join(data, "buckets"), exist_ok=True)
    extra, cleanup, check = [], [], None
    kind = args.kind
    if kind == "transform":
        extra = ["--lambda-concurrency", str(args.concurrency)]
    proc, endpoint = bf.start_server(args.freshet, data, bf.free_port(), extra)
    fh = bf.client("firehose", endpoint)
    try:
        blocked = os.path.join(data, "buckets", BUCKET)
        live = kind == "transform"
        if kind in ("parquet", "transform"):
            if not live:
                open(blocked, "w").close()  # uploads fail until it is removed
            config = {}
            if kind == "parquet":
                config["DataFormatConversionConfiguration"] = {
                    "Enabled": True,
                    "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": "bench", "TableName": SCHEMA},
                    "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                    "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}}
            else:
                lam = bf.client("lambda", endpoint)
                with open(args.function_zip, "rb") as f:
                    lam.create_function(FunctionName="bench-transform", Runtime="provided.al2023", Role=ROLE,
                                        Handler="bootstrap", Code={"ZipFile": f.read()}, Timeout=60)
                for _ in range(300):
                    if lam.get_function_configuration(FunctionName="bench-transform")["State"] == "Active":
                        break
                    time.sleep(0.1)
                config["ProcessingConfiguration"] = {"Enabled": True, "Processors": [{
                    "Type": "Lambda", "Parameters": [
                        {"ParameterName": "LambdaArn",
                         "ParameterValue": "arn:aws:lambda:us-east-1:000000000000:function:bench-transform"},
                        {"ParameterName": "BufferSizeInMBs", "ParameterValue": "3"}]}]}
            fh.create_delivery_stream(DeliveryStreamName=STREAM, ExtendedS3DestinationConfiguration=s3(
                BUCKET, *((64, 0) if live else (128, 900)), **config))

            def repair():
                if live:
                    return None
                os.remove(blocked)
                return {"ExtendedS3DestinationUpdate": {"BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 0}}}

            def check(records):
                if kind != "parquet":
                    return {}
                import pyarrow.parquet as pq
                files = glob.glob(os.path.join(data, "buckets", BUCKET, "**", "*.parquet"), recursive=True)
                rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
                return {"parquet_files": len(files), "parquet_rows": rows, "rows_match": rows == records}
        elif kind == "postgres":
            port, stop_pg = start_postgres(work)
            cleanup.append(stop_pg)
            psql(port, "create table orders (id bigint, customer text, amount double precision, "
                       "ts timestamp, note text)")
            jdbc = f"jdbc:postgresql://127.0.0.1:{port}/postgres"
            fh.create_delivery_stream(DeliveryStreamName=STREAM, RedshiftDestinationConfiguration={
                "RoleARN": ROLE, "ClusterJDBCURL": jdbc, "Username": "postgres", "Password": "unused-trust-auth",
                "CopyCommand": {"DataTableName": "no_such_table", "CopyOptions": "JSON 'auto'"},
                "S3Configuration": s3("errors", 128, 900)})

            def repair():
                return {"RedshiftDestinationUpdate": {
                    "CopyCommand": {"DataTableName": "orders", "CopyOptions": "JSON 'auto'"},
                    "S3Update": {"BufferingHints": {"SizeInMBs": 16, "IntervalInSeconds": 0}}}}

            def check(records):
                rows = int(psql(port, "select count(*) from orders"))
                distinct = int(psql(port, "select count(distinct id) from orders"))
                return {"table_rows": rows, "rows_match": rows == records, "distinct_ids": distinct}
        elif kind == "http":
            recv = Receiver(("127.0.0.1", 0), Handler)
            threading.Thread(target=recv.serve_forever, daemon=True).start()
            cleanup.append(recv.shutdown)
            closed = f"http://127.0.0.1:{bf.free_port()}/"
            fh.create_delivery_stream(DeliveryStreamName=STREAM, HttpEndpointDestinationConfiguration={
                "EndpointConfiguration": {"Url": closed, "Name": "bench"},
                "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 900},
                "RetryOptions": {"DurationInSeconds": 7200},
                "S3Configuration": s3("errors", 5, 300)})

            def repair():
                return {"HttpEndpointDestinationUpdate": {
                    "EndpointConfiguration": {"Url": f"http://127.0.0.1:{recv.server_address[1]}/", "Name": "bench"},
                    "BufferingHints": {"SizeInMBs": args.http_size, "IntervalInSeconds": 0}}}

            def check(records):
                return {"received": recv.records, "requests": recv.requests}
        else:
            raise SystemExit(f"unknown kind {kind}")
        for _ in range(300):
            status = fh.describe_delivery_stream(DeliveryStreamName=STREAM)["DeliveryStreamDescription"]
            if status["DeliveryStreamStatus"] == "ACTIVE":
                break
            time.sleep(0.1)
        t_fill = time.time()
        out = subprocess.run([args.freshet, "bench", "--endpoint", endpoint, "--workload", "firehose-put",
                              "--json-records", "--record-size", str(args.record_size), "--batch-size", "500",
                              "--concurrency", "8", "--duration", str(args.seconds)],
                             capture_output=True, text=True, timeout=args.seconds + 300)
        if out.returncode != 0:
            raise SystemExit(f"freshet bench failed: {out.stderr[-2000:]}")
        records = int(out.stdout.split("records=")[1].split()[0])
        if kind != "transform" and bf.metrics(endpoint).get("records_delivered_total", 0) != 0:
            raise SystemExit("records were delivered during the preload")
        desc = fh.describe_delivery_stream(DeliveryStreamName=STREAM)["DeliveryStreamDescription"]
        update = repair()
        cpu0 = bf.cpu_seconds(proc.pid)
        t0 = time.time()
        if update is None:
            # Live: delivery ran during the fill (which is faster); timed from its start.
            t0 = t_fill
        else:
            fh.update_destination(DeliveryStreamName=STREAM, CurrentDeliveryStreamVersionId=desc["VersionId"],
                                  DestinationId=DEST, **update)
        m, last_change, last = {}, t0, 0
        while time.time() < t0 + args.timeout:
            m = bf.metrics(endpoint)
            delivered = m.get("records_delivered_total", 0)
            if delivered != last:
                last_change, last = time.time(), delivered
            if delivered >= records:
                break
            time.sleep(0.02)
        elapsed = last_change - t0
        cpu = bf.cpu_seconds(proc.pid) - cpu0
        delivered = int(m.get("records_delivered_total", 0))
        result = {
            "workload": kind, "record_size": args.record_size, "records_put": records,
            "records_delivered": delivered, "complete": delivered >= records,
            "seconds": round(elapsed, 3), "records_per_second": round(delivered / elapsed) if elapsed else None,
            "mib_per_second": round(m.get("bytes_delivered_total", 0) / elapsed / 2**20, 1) if elapsed else None,
            "objects_or_batches": int(m.get("objects_written_total", 0)),
            "error_output_records": int(m.get("error_output_records_total", 0)),
            "server_cpu_cores": round(cpu / elapsed, 2) if elapsed else None,
        }
        result.update(check(records))
        if not result["complete"]:
            with open(os.path.join(work, "server.log")) as f:
                sys.stderr.write("incomplete; the server's log ends:\n" + "".join(f.readlines()[-40:]))
        if kind == "http" and elapsed:
            result["requests_per_second"] = round(result["requests"] / elapsed, 1)
        print(json.dumps(result))
    finally:
        bf.stop(proc)
        for c in cleanup:
            c()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["postgres", "parquet", "http", "transform"])
    p.add_argument("--freshet", required=True)
    p.add_argument("--seconds", type=int, default=10, help="how long the backlog is filled")
    p.add_argument("--record-size", type=int, default=100)
    p.add_argument("--function-zip", help="transform: the Rust test function zipped as bootstrap")
    p.add_argument("--concurrency", type=int, default=4, help="transform: --lambda-concurrency")
    p.add_argument("--http-size", type=int, default=4, help="http: SizeInMBs of the drain")
    p.add_argument("--timeout", type=int, default=600)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="freshet-bench-dest-")
    try:
        run(args, work)
    finally:
        if os.environ.get("FRESHET_BENCH_KEEP"):
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
