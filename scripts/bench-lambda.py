#!/usr/bin/env python3
"""Lambda benchmarks against a real `freshet serve` (started here, on 127.0.0.1).

  scripts/bench-lambda.py latency    --freshet BIN --function-bin BIN [--count 2000]
  scripts/bench-lambda.py throughput --freshet BIN --function-bin BIN --runtime rust|python
                                     [--seconds 20] [--shards 4]
  scripts/bench-lambda.py idle       --freshet BIN --function-bin BIN [--mappings 100] [--seconds 60]

latency:    put acknowledged -> handler starts, one record per put, batching window 0,
            a Rust `provided.al2023` function (the test function, FRESHET_SINK_MODE=count
            writes the handler's start time). Both times are from the same clock.
throughput: `freshet bench --workload put` fills a stream with 100 B records, then a
            mapping (batch size 10,000, TRIM_HORIZON) drains it into the function;
            records/s = records / (last handler start - mapping created).
idle:       N streams with a mapping each and nothing put: the server's CPU (utime +
            stime from /proc) and RSS over the measuring window.

Run with the tests' venv Python (boto3, awslambdaric):
  $CARGO_TARGET_DIR/py-venv/bin/python scripts/bench-lambda.py ...
"""
import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

import boto3
import botocore.config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ROLE = "arn:aws:iam::000000000000:role/bench"
ACCOUNT = "000000000000"


def stream_arn(name):
    return f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}"


def clients(endpoint):
    cfg = botocore.config.Config(retries={"max_attempts": 1}, read_timeout=120, max_pool_connections=50)
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="a",
              aws_secret_access_key="b", config=cfg)
    return boto3.client("kinesis", **kw), boto3.client("lambda", **kw)


def start_server(binary, data_dir, port, extra):
    log = open(os.path.join(os.path.dirname(data_dir), "server.log"), "w")
    proc = subprocess.Popen(
        [binary, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", data_dir,
         "--durability", "sync-data", "--lambda-python", sys.executable] + extra,
        stdout=subprocess.PIPE, stderr=log, text=True)
    for line in proc.stdout:
        if line.startswith("freshet listening on "):
            return proc, line.split("on ", 1)[1].strip()
    raise SystemExit("freshet did not start")


def function_zip(runtime, function_bin):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if runtime == "rust":
            info = zipfile.ZipInfo("bootstrap")
            info.external_attr = 0o755 << 16
            with open(function_bin, "rb") as f:
                z.writestr(info, f.read())
        else:
            z.write(os.path.join(ROOT, "tests", "functions", "python", "handler.py"), "handler.py")
    return buf.getvalue()


def create_function(lam, name, runtime, function_bin, sink):
    lam.create_function(
        FunctionName=name,
        Runtime="provided.al2023" if runtime == "rust" else "python3.12",
        Handler="bootstrap" if runtime == "rust" else "handler.handler",
        Role=ROLE, Timeout=60, MemorySize=1024,
        Code={"ZipFile": function_zip(runtime, function_bin)},
        Environment={"Variables": {"FRESHET_SINK": sink, "FRESHET_SINK_MODE": "count"}})


def sink_lines(path):
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            if line.endswith("\n"):
                out.append(json.loads(line))
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def latency(args, endpoint, work):
    kin, lam = clients(endpoint)
    sink = os.path.join(work, "sink")
    kin.create_stream(StreamName="lat", ShardCount=1)
    time.sleep(0.3)
    create_function(lam, "lat", "rust", args.function_bin, sink)
    lam.create_event_source_mapping(FunctionName="lat", EventSourceArn=stream_arn("lat"),
                                    StartingPosition="LATEST", BatchSize=100,
                                    MaximumBatchingWindowInSeconds=0)
    time.sleep(1.0)
    # Warm the instance.
    kin.put_record(StreamName="lat", PartitionKey="w", Data=b"x" * 100)
    deadline = time.time() + 30
    while not sink_lines(sink) and time.time() < deadline:
        time.sleep(0.01)
    from_ack, from_send = [], []
    for i in range(args.count):
        seen = len(sink_lines(sink))
        sent = time.time()
        kin.put_record(StreamName="lat", PartitionKey=f"k{i}", Data=b"x" * 100)
        acked = time.time()
        deadline = time.time() + 10
        while True:
            lines = sink_lines(sink)
            if len(lines) > seen or time.time() > deadline:
                break
            time.sleep(0.0002)
        if len(lines) <= seen:
            raise SystemExit(f"record {i} was not delivered within 10 s")
        start = lines[seen]["start_us"] / 1e6
        from_ack.append((start - acked) * 1000)
        from_send.append((start - sent) * 1000)
    print(json.dumps({
        "workload": "latency", "records": args.count,
        "ack_to_handler_ms": {"p50": round(pct(from_ack, 0.5), 3), "p99": round(pct(from_ack, 0.99), 3),
                               "max": round(max(from_ack), 3)},
        "send_to_handler_ms": {"p50": round(pct(from_send, 0.5), 3), "p99": round(pct(from_send, 0.99), 3),
                                "max": round(max(from_send), 3)},
    }))


def throughput(args, endpoint, work):
    kin, lam = clients(endpoint)
    sink = os.path.join(work, "sink")
    out = subprocess.run(
        [args.freshet, "bench", "--endpoint", endpoint, "--workload", "put", "--record-size", "100",
         "--batch-size", "500", "--shards", str(args.shards), "--concurrency", "8",
         "--duration", str(args.seconds)],
        capture_output=True, text=True, check=True).stdout
    total = int(out.split("records=")[1].split()[0])
    create_function(lam, "drain", args.runtime, args.function_bin, sink)
    created = time.time()
    lam.create_event_source_mapping(FunctionName="drain", EventSourceArn=stream_arn("freshet-bench"),
                                    StartingPosition="TRIM_HORIZON", BatchSize=10000,
                                    MaximumBatchingWindowInSeconds=0)
    deadline = time.time() + 600
    while time.time() < deadline:
        lines = sink_lines(sink)
        done = sum(l["count"] for l in lines)
        if done >= total:
            break
        time.sleep(0.2)
    last = max(l["start_us"] for l in lines) / 1e6
    first = min(l["start_us"] for l in lines) / 1e6
    seconds = last - created
    print(json.dumps({
        "workload": "throughput", "runtime": args.runtime, "records": total, "delivered": done,
        "invocations": len(lines), "mean_batch": round(done / max(1, len(lines))),
        "batch_min_median_max": [min(l["count"] for l in lines), pct([l["count"] for l in lines], 0.5),
                                 max(l["count"] for l in lines)],
        "seconds_from_mapping_created": round(seconds, 2),
        "seconds_first_to_last_invocation": round(last - first, 2),
        "records_per_second": round(done / seconds),
    }))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def idle(args, endpoint, work, pid):
    kin, lam = clients(endpoint)
    base_rss = rss_mb(pid)
    c0, t0 = cpu_seconds(pid), time.time()
    time.sleep(10)
    base_cpu = (cpu_seconds(pid) - c0) / (time.time() - t0) * 100
    create_function(lam, "idle", "rust", args.function_bin, os.path.join(work, "sink"))
    for i in range(args.mappings):
        kin.create_stream(StreamName=f"idle-{i}", ShardCount=1)
    time.sleep(0.5)
    for i in range(args.mappings):
        lam.create_event_source_mapping(FunctionName="idle", EventSourceArn=stream_arn(f"idle-{i}"),
                                        StartingPosition="LATEST", BatchSize=100)
    time.sleep(10)
    c0, t0 = cpu_seconds(pid), time.time()
    time.sleep(args.seconds)
    cpu = (cpu_seconds(pid) - c0) / (time.time() - t0) * 100
    print(json.dumps({
        "workload": "idle", "mappings": args.mappings, "streams": args.mappings,
        "seconds": args.seconds,
        "server_cpu_percent_of_one_core": round(cpu, 3),
        "server_cpu_percent_before_mappings": round(base_cpu, 3),
        "rss_mb": round(rss_mb(pid), 1), "rss_mb_before_mappings": round(base_rss, 1),
    }))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("workload", choices=["latency", "throughput", "idle"])
    p.add_argument("--freshet", required=True)
    p.add_argument("--function-bin", required=True, help="the freshet-test-function binary")
    p.add_argument("--runtime", choices=["rust", "python"], default="rust")
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--mappings", type=int, default=100)
    p.add_argument("--port", type=int, default=4610)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="freshet-bench-lambda-")
    data = os.path.join(work, "data")
    proc, endpoint = start_server(args.freshet, data, args.port, [])
    try:
        if args.workload == "latency":
            latency(args, endpoint, work)
        elif args.workload == "throughput":
            throughput(args, endpoint, work)
        else:
            idle(args, endpoint, work, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
