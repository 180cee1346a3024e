#!/usr/bin/env python3
"""Firehose (delivery stream) benchmarks against a real `freshet serve` (started here,
on 127.0.0.1, `--durability sync-data`), and against moto's server for comparison.

  scripts/bench-firehose.py ingest    --freshet BIN [--seconds 20] [--moto-seconds 20] [--concurrency 8[,32,64]] [--perf FILE]
  scripts/bench-firehose.py drain     --freshet BIN [--record-size 100] [--compression UNCOMPRESSED|GZIP]
                                      [--seconds 20] [--s3-moto] [--perf FILE]
                                      [--drain-size 64] [--drain-interval 0]
  scripts/bench-firehose.py freshness --freshet BIN [--count 300]

ingest:    `freshet bench --workload firehose-put` (100 B records, 500 a batch, 8 (--concurrency)
           connections) against Freshet, then against `moto_server` in the same sitting;
           with a list of levels (--concurrency 8,32,64) each level runs against both in
           turn and the figure is each server's peak against the other's
           (the bucket `freshet-bench` created in moto first). The delivery stream is
           the one `freshet bench` creates (default buffering, 5 MiB / 300 s), so
           delivery runs during the Freshet run.
drain:     how fast a backlog is written as objects. The destination is made to fail
           while `freshet bench` fills the delivery stream (local buckets: the bucket's
           directory is a regular file; --s3-moto: the bucket does not exist in moto
           yet), with BufferingHints 128 MiB / 900 s, so the delivery job holds one
           128 MiB object and retries it while the backlog grows. Then the destination
           is repaired and UpdateDestination (SizeInMBs 64, IntervalInSeconds 0)
           restarts the job; the drain is timed from that call until /metrics'
           freshet_firehose_records_delivered_total reaches the number of records put.
           MiB/s counts the records' bytes before compression (bytes_delivered_total).
           With --drain-interval > 0 the last partial object waits for the interval:
           the drain is then timed to the last object written before 5 s without one.
freshness: IntervalInSeconds 0, SizeInMBs 1, one PutRecord at a time with a unique
           payload; the time from sending the put (and from its ack) until an object
           holding that payload is in the local bucket's directory (polled).

Run with the tests' venv Python (boto3, moto[server]):
  $CARGO_TARGET_DIR/py-venv/bin/python scripts/bench-firehose.py ...
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
import botocore.config

ROLE = "arn:aws:iam::000000000000:role/bench"
STREAM = "freshet-bench"
BUCKET = "freshet-bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(service, endpoint):
    cfg = botocore.config.Config(retries={"max_attempts": 1}, read_timeout=120, max_pool_connections=50)
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="a", aws_secret_access_key="b", config=cfg)


def start_server(binary, data_dir, port, extra):
    log = open(os.path.join(os.path.dirname(data_dir), "server.log"), "w")
    proc = subprocess.Popen(
        [binary, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", data_dir,
         "--durability", "sync-data"] + extra,
        stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.time() + 60
    for line in proc.stdout:
        if line.startswith("freshet listening on "):
            return proc, line.split("on ", 1)[1].strip()
        if time.time() > deadline:
            break
    proc.kill()
    raise SystemExit("freshet did not start")


# `moto_server -H 127.0.0.1 -p PORT` as moto's own `main` runs it (its app, werkzeug's
# threaded server, its request handler), with one shim: moto picks the service from
# the SigV4 credential scope, and `freshet bench` signs every call with `kinesis`, so a
# Firehose_20150804.* call is re-scoped to `firehose` (a string replace per request).
MOTO_FIREHOSE = """
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
app = DomainDispatcherApplication(create_backend_app)
app.debug = True
def shim(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("Firehose_"):
        environ["HTTP_AUTHORIZATION"] = environ.get("HTTP_AUTHORIZATION", "").replace("/kinesis/", "/firehose/")
    return app(environ, start_response)
run_simple("127.0.0.1", int(sys.argv[1]), shim, threaded=True, use_reloader=False,
           request_handler=MotoRequestHandler)
"""


def start_moto(work, firehose_shim=False):
    port = free_port()
    moto_bin = os.path.join(os.path.dirname(sys.executable), "moto_server")
    log = open(os.path.join(work, "moto.log"), "w")
    cmd = ([sys.executable, "-c", MOTO_FIREHOSE, str(port)] if firehose_shim
           else [moto_bin, "-H", "127.0.0.1", "-p", str(port)])
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).read()
            return proc, endpoint
        except Exception:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("moto_server did not start")


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bench(freshet, endpoint, seconds, record_size=100, concurrency=8):
    cmd = [freshet, "bench", "--endpoint", endpoint, "--workload", "firehose-put", "--record-size",
           str(record_size), "--batch-size", "500", "--concurrency", str(concurrency),
           "--duration", str(seconds)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300)
    if out.returncode != 0:
        raise SystemExit(f"freshet bench failed: {out.stderr[-2000:]}")
    return out.stdout.strip(), int(out.stdout.split("records=")[1].split()[0])


def bench_rate(out):
    return int(float(out.split("records/s=")[1].split()[0]))


def start_perf(path, pid):
    if not path:
        return None
    perf = subprocess.Popen(["perf", "record", "-g", "-o", path, "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return perf


def stop_perf(perf):
    if perf is not None:
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=120)


def metrics(endpoint, name=STREAM):
    text = urllib.request.urlopen(endpoint + "/metrics", timeout=10).read().decode()
    out = {}
    for m in re.finditer(r'^freshet_firehose_(\w+)\{delivery_stream="([^"]+)"\} (\S+)$', text, re.M):
        if m.group(2) == name:
            out[m.group(1)] = float(m.group(3))
    return out


def ingest_freshet(args, work, concurrency):
    data = os.path.join(work, f"data-{concurrency}")
    proc, endpoint = start_server(args.freshet, data, free_port(), [])
    try:
        perf = start_perf(args.perf and f"{args.perf}.{concurrency}", proc.pid)
        cpu0, t0 = cpu_seconds(proc.pid), time.time()
        out, records = bench(args.freshet, endpoint, args.seconds, concurrency=concurrency)
        cores = (cpu_seconds(proc.pid) - cpu0) / (time.time() - t0)
        stop_perf(perf)
        return {"seconds": args.seconds, "bench": out, "records": records,
                "records_per_second": bench_rate(out), "server_cpu_cores": round(cores, 2),
                "delivery_metrics_after": metrics(endpoint)}
    finally:
        stop(proc)
        shutil.rmtree(data, ignore_errors=True)


def ingest_moto(args, work, concurrency):
    moto, mendpoint = start_moto(work, firehose_shim=True)
    try:
        client("s3", mendpoint).create_bucket(Bucket=BUCKET)
        out, records = bench(args.freshet, mendpoint, args.moto_seconds, concurrency=concurrency)
        return {"seconds": args.moto_seconds, "bench": out, "records": records,
                "records_per_second": bench_rate(out)}
    finally:
        stop(moto)


def ingest(args, work):
    """Each level of requests in flight: Freshet, then moto, the same generator against
    both. The figure is each server's best level (its peak throughput) against the
    other's; every level's pair and its own ratio are printed too."""
    levels = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    result = {"workload": "ingest", "record_size": 100, "batch_size": 500, "levels": []}
    for c in levels:
        level = {"concurrency": c, "freshet": ingest_freshet(args, work, c),
                 "moto": ingest_moto(args, work, c)}
        level["ratio"] = round(level["freshet"]["records_per_second"]
                               / max(1, level["moto"]["records_per_second"]), 1)
        print(f"concurrency {c}: freshet {level['freshet']['records_per_second']}/s "
              f"(server {level['freshet']['server_cpu_cores']} cores), moto "
              f"{level['moto']['records_per_second']}/s, {level['ratio']}x", file=sys.stderr)
        result["levels"].append(level)
    best = {peer: max(result["levels"], key=lambda l: l[peer]["records_per_second"])
            for peer in ("freshet", "moto")}
    for peer in ("freshet", "moto"):
        result[f"{peer}_peak"] = {"records_per_second": best[peer][peer]["records_per_second"],
                                  "concurrency": best[peer]["concurrency"]}
    result["ratio_of_peaks"] = round(result["freshet_peak"]["records_per_second"]
                                     / max(1, result["moto_peak"]["records_per_second"]), 1)
    print(json.dumps(result))


def drain(args, work):
    data = os.path.join(work, "data")
    extra, moto = [], None
    if args.s3_moto:
        moto, mendpoint = start_moto(work)
        extra = ["--s3-endpoint", mendpoint, "--s3-region", "us-east-1", "--s3-access-key-id", "a",
                 "--s3-secret-access-key", "b"]
    else:
        # Block the local bucket: its directory is a regular file, so uploads fail.
        os.makedirs(os.path.join(data, "buckets"), exist_ok=True)
        open(os.path.join(data, "buckets", BUCKET), "w").close()
    proc, endpoint = start_server(args.freshet, data, free_port(), extra)
    try:
        fh = client("firehose", endpoint)
        fh.create_delivery_stream(
            DeliveryStreamName=STREAM, DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900},
                "CompressionFormat": args.compression})
        out, records = bench(args.freshet, endpoint, args.seconds, args.record_size)
        before = metrics(endpoint)
        if before.get("objects_written_total", 0) != 0:
            raise SystemExit(f"objects were delivered during the preload: {before}")
        # Repair the destination, then restart the job with small, immediate buffers.
        if args.s3_moto:
            client("s3", mendpoint).create_bucket(Bucket=BUCKET)
        else:
            os.remove(os.path.join(data, "buckets", BUCKET))
        desc = fh.describe_delivery_stream(DeliveryStreamName=STREAM)["DeliveryStreamDescription"]
        perf = start_perf(args.perf, proc.pid)
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.time()
        fh.update_destination(
            DeliveryStreamName=STREAM, CurrentDeliveryStreamVersionId=desc["VersionId"],
            DestinationId="destinationId-000000000001",
            ExtendedS3DestinationUpdate={"BufferingHints": {"SizeInMBs": args.drain_size, "IntervalInSeconds": args.drain_interval}})
        deadline = t0 + args.timeout
        m, last_change, last_delivered = {}, t0, 0
        while time.time() < deadline:
            m = metrics(endpoint)
            now = time.time()
            delivered = m.get("records_delivered_total", 0)
            if delivered != last_delivered:
                last_change, last_delivered, last_m = now, delivered, m
            if delivered >= records:
                break
            # With a non-zero interval the last, partial object waits for it: stop
            # after 5 s without progress and time the drain to the last object.
            if now - last_change > 5 and delivered > 0:
                m = last_m
                break
            time.sleep(0.02)
        elapsed = last_change - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        stop_perf(perf)
        delivered = m.get("records_delivered_total", 0)
        raw = m.get("bytes_delivered_total", 0)
        if args.s3_moto:
            stored = 0
            s3 = client("s3", mendpoint)
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
                stored += sum(o["Size"] for o in page.get("Contents", []))
        else:
            stored = sum(os.path.getsize(os.path.join(d, f))
                         for d, _, fs in os.walk(os.path.join(data, "buckets", BUCKET)) for f in fs)
        print(json.dumps({
            "workload": "drain", "destination": "moto S3" if args.s3_moto else "local bucket",
            "record_size": args.record_size, "compression": args.compression,
            "drain_hints": {"SizeInMBs": args.drain_size, "IntervalInSeconds": args.drain_interval},
            "preload_bench": out, "records_put": records, "records_delivered": int(delivered),
            "complete": delivered >= records,
            "objects": int(m.get("objects_written_total", 0)),
            "record_bytes_delivered": int(raw), "object_bytes_stored": stored,
            "seconds": round(elapsed, 3),
            "mib_per_second_of_records": round(raw / elapsed / 2**20, 1),
            "records_per_second": round(delivered / elapsed),
            "server_cpu_cores": round(cpu / elapsed, 2),
        }))
    finally:
        stop(proc)
        stop(moto)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def freshness(args, work):
    data = os.path.join(work, "data")
    proc, endpoint = start_server(args.freshet, data, free_port(), [])
    bucket_dir = os.path.join(data, "buckets", BUCKET)
    try:
        fh = client("firehose", endpoint)
        fh.create_delivery_stream(
            DeliveryStreamName="fresh", DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
        seen = set()

        def find(marker):
            for d, _, fs in os.walk(bucket_dir):
                for f in fs:
                    p = os.path.join(d, f)
                    if p in seen or "#" in f:  # object_store stages a file as `<key>#<n>`
                        continue
                    with open(p, "rb") as fd:
                        body = fd.read()
                    seen.add(p)
                    if marker in body:
                        return True
            return False

        from_send, from_ack = [], []
        for i in range(-5, args.count):  # five warm-up puts, not counted
            marker = f"freshness-{i:06d}-".encode() + b"x" * 80
            sent = time.time()
            fh.put_record(DeliveryStreamName="fresh", Record={"Data": marker})
            acked = time.time()
            deadline = acked + 10
            while not find(marker):
                if time.time() > deadline:
                    raise SystemExit(f"record {i} was not in an object within 10 s")
                time.sleep(0.001)
            visible = time.time()
            if i >= 0:
                from_send.append((visible - sent) * 1000)
                from_ack.append((visible - acked) * 1000)
        print(json.dumps({
            "workload": "freshness", "puts": args.count, "objects": len(seen),
            "send_to_visible_ms": {"p50": round(pct(from_send, 0.5), 2), "p99": round(pct(from_send, 0.99), 2),
                                   "max": round(max(from_send), 2)},
            "ack_to_visible_ms": {"p50": round(pct(from_ack, 0.5), 2), "p99": round(pct(from_ack, 0.99), 2),
                                  "max": round(max(from_ack), 2)},
            "metrics": metrics(endpoint, "fresh"),
        }))
    finally:
        stop(proc)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("workload", choices=["ingest", "drain", "freshness"])
    p.add_argument("--freshet", required=True)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--moto-seconds", type=int, default=20)
    p.add_argument("--record-size", type=int, default=100)
    p.add_argument("--concurrency", default="8",
                   help="ingest: requests in flight, the same against both servers; a list "
                        "(8,32,64) measures each level and compares the peaks")
    p.add_argument("--compression", choices=["UNCOMPRESSED", "GZIP"], default="UNCOMPRESSED")
    p.add_argument("--s3-moto", action="store_true", help="deliver to moto's S3 server")
    p.add_argument("--perf", help="record a `perf record -g` profile of the server during the run (ingest: Freshet's)")
    p.add_argument("--drain-size", type=int, default=64, help="SizeInMBs for the drain")
    p.add_argument("--drain-interval", type=int, default=0, help="IntervalInSeconds for the drain")
    p.add_argument("--timeout", type=int, default=600, help="longest drain waited for, seconds")
    p.add_argument("--count", type=int, default=300)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="freshet-bench-firehose-")
    try:
        {"ingest": ingest, "drain": drain, "freshness": freshness}[args.workload](args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
