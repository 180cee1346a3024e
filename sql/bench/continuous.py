"""Continuous tumbling-window count by key: events/s a job sustains, and the delay from
a window's end to its result.

1. Throughput: `freshet bench --workload put --json-records` preloads a 2-shard
   stream (~100-byte `{"id","customer","amount","ts","note"}` records, 97 customers)
   for --preload seconds; then `CREATE STREAM ... AS SELECT window_start, window_end,
   customer, count(*) AS n FROM ... GROUP BY tumble(INTERVAL '1' SECOND), customer`
   (arrival-time windows) catches up through all of it. events/s = records the job
   read (SHOW JOBS records_in) / seconds from the job's creation to its last record;
   the output's counts are checked to add up to the input.
2. Delay: the same job over a second stream while `freshet bench` puts into it at
   --rate requests/s of 500 records for --live seconds; per window, the output
   record's arrival_time minus its window end (`_window_end`): p50, p99, max. The
   watermark of arrival-time windows trails by 50 ms (ARRIVAL_DELAY_MS), so "beyond
   the watermark" is that minus 50 ms.

usage: PY sql/bench/continuous.py [--bin FRESHET] [--preload S] [--live S] [--rate R]
needs: a release freshet (default $CARGO_TARGET_DIR/release/freshet) and psycopg.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import psycopg

target = os.environ.get("CARGO_TARGET_DIR", "target")
ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=os.environ.get("FRESHET_BIN", f"{target}/release/freshet"))
ap.add_argument("--preload", type=int, default=10, help="seconds of preloading puts")
ap.add_argument("--live", type=int, default=20, help="seconds of the live producer")
ap.add_argument("--rate", type=int, default=400, help="live PutRecords calls/s (500 records each)")
args = ap.parse_args()

work = tempfile.mkdtemp()
ENDPOINT, SQL_PORT = "http://127.0.0.1:14699", 15699
server = subprocess.Popen(
    [args.bin, "serve", "--data-dir", f"{work}/data", "--addr", "127.0.0.1:14699",
     "--sql-addr", f"127.0.0.1:{SQL_PORT}", "--console", "false"],
    stdout=open(f"{work}/serve.log", "w"), stderr=subprocess.STDOUT,
)


def bench(stream, seconds, rate=0):
    out = subprocess.run(
        [args.bin, "bench", "--endpoint", ENDPOINT, "--workload", "put", "--json-records",
         "--stream", stream, "--shards", "2", "--duration", str(seconds), "--rate", str(rate)],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.strip().splitlines()[-3:]


def connect():
    for _ in range(100):
        try:
            return psycopg.connect(f"host=127.0.0.1 port={SQL_PORT} user=freshet dbname=freshet",
                                   autocommit=True)
        except psycopg.OperationalError:
            time.sleep(0.1)
    sys.exit("no SQL listener")


def job_row(conn, name):
    for r in conn.execute("SHOW JOBS").fetchall():
        if r[0] == name:
            return r
    return None


QUERY = ("SELECT window_start, window_end, customer, count(*) AS n FROM {t} "
         "GROUP BY tumble(INTERVAL '1' SECOND), customer")

try:
    conn = connect()
    conn.execute("SET freshet.scan_limit = 0")
    print("preload:", *bench("ev", args.preload), sep="\n  ")
    n = int(conn.execute("SELECT count(*) FROM ev").fetchone()[0])
    conn.execute("CREATE TABLE ev_t (id BIGINT, customer VARCHAR, amount DOUBLE) "
                 "WITH (stream = 'ev', format = 'json')")
    load = os.getloadavg()
    t0 = time.time()
    conn.execute(f"CREATE STREAM ev_counts AS {QUERY.format(t='ev_t')}")
    last, t_last = 0, t0
    while time.time() - t0 < 600:
        r = job_row(conn, "ev_counts")
        if r and int(r[3]) != last:
            last, t_last = int(r[3]), time.time()
        if last >= n:
            break
        if r and r[6]:
            sys.exit(f"job failed: {r[6]}")
        time.sleep(0.05)
    secs = t_last - t0
    print(f"throughput: {last:,} of {n:,} records in {secs:.2f} s = {last / secs:,.0f} events/s "
          f"(load average before: {load[0]:.2f})")
    total = 0
    for _ in range(100):
        total = sum(json.loads(bytes(d))["n"] for (d,) in conn.execute("SELECT data FROM ev_counts"))
        if total >= n:
            break
        time.sleep(0.2)
    print(f"  output counts add up to {total:,} (input {n:,})")

    conn.execute("CREATE TABLE live_t (id BIGINT, customer VARCHAR, amount DOUBLE) "
                 "WITH (stream = 'live', format = 'json')")
    subprocess.run([args.bin, "create", "live", "--shards", "2", "--endpoint", ENDPOINT],
                   check=True, capture_output=True)
    time.sleep(0.5)
    conn.execute(f"CREATE STREAM live_counts AS {QUERY.format(t='live_t')}")
    load = os.getloadavg()
    print(f"live producer: {args.rate} x 500 records/s for {args.live} s:",
          *bench("live", args.live, args.rate), sep="\n  ")
    time.sleep(2)
    delays = {}
    for at, d in conn.execute("SELECT arrival_time, data FROM live_counts"):
        end = json.loads(bytes(d))["_window_end"]
        ms = int(at.timestamp() * 1000)
        delays[end] = min(delays.get(end, ms - end), ms - end)
    # The first and last windows are partly empty; the rest are full seconds.
    d = sorted(delays.values())[1:-1] if len(delays) > 2 else sorted(delays.values())
    if not d:
        sys.exit("no windows emitted")
    p = lambda q: d[min(len(d) - 1, int(q * len(d)))]
    r = job_row(conn, "live_counts")
    print(f"delay window end -> result over {len(d)} windows: p50 {p(0.5)} ms, p99 {p(0.99)} ms, "
          f"max {d[-1]} ms (watermark delay 50 ms; load average before: {load[0]:.2f}; "
          f"job read {int(r[3]):,} records)")
finally:
    server.kill()
    server.wait()
    subprocess.run(["rm", "-rf", work])
