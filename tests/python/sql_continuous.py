"""A continuous tumbling-window job over a live producer, across kill -9.

usage:
  sql_continuous.py setup ENDPOINT SQL_PORT
  sql_continuous.py produce ENDPOINT PROGRESS_FILE COUNT   (exits when the server dies)
  sql_continuous.py verify ENDPOINT SQL_PORT
  sql_continuous.py push ENDPOINT SQL_PORT                 (a push query over psycopg)

Events carry an event time 2 ms apart (500 a second), with a 1 s pause after every
1000, and one of five keys; one job counts them per key in 1 s tumbling windows into
the stream `counts`, another per key in sessions with a 500 ms gap into `sessions`.
verify puts one record far ahead (closing every window), then checks each (window,
key) was emitted exactly once with the count a bounded query over the input gives,
and each key's sessions are the runs of its events split where 500 ms pass.
"""

import datetime
import json
import os
import sys
import threading
import time

import psycopg

from cases import case, check, client, finish, wait_until

MODE, ENDPOINT = sys.argv[1], sys.argv[2]
BASE_MS = 1_800_000_000_000
KEYS = ["k0", "k1", "k2", "k3", "k4"]
GAP_MS = 500


def ts_ms(i):
    return BASE_MS + 2 * i + 1000 * (i // 1000)


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    )[:-3] + "Z"


def event(i):
    return {"id": i, "k": KEYS[i % 5], "ts": iso(ts_ms(i))}


def pg(port):
    return psycopg.connect(f"host=127.0.0.1 port={port} user=freshet dbname=freshet", autocommit=True)


if MODE == "setup":
    kinesis = client(ENDPOINT, "kinesis")
    conn = pg(int(sys.argv[3]))

    @case("stream, table and job")
    def setup():
        kinesis.create_stream(StreamName="events", ShardCount=2)
        wait_until(
            lambda: kinesis.describe_stream_summary(StreamName="events")["StreamDescriptionSummary"][
                "StreamStatus"
            ]
            == "ACTIVE",
            "events active",
        )
        conn.execute(
            "CREATE TABLE events_t (id BIGINT, k VARCHAR, ts TIMESTAMP, "
            "WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (stream = 'events', format = 'json')"
        )
        conn.execute(
            "CREATE STREAM counts AS SELECT window_start, window_end, k, count(*) AS n "
            "FROM events_t GROUP BY tumble(INTERVAL '1' SECOND), k"
        )
        conn.execute(
            "CREATE STREAM sessions AS SELECT window_start, window_end, k, count(*) AS n "
            "FROM events_t GROUP BY session(INTERVAL '500' MILLISECOND), k"
        )
        jobs = conn.execute("SHOW JOBS").fetchall()
        check(any(j[0] == "counts" for j in jobs), f"{jobs}")
        check(any(j[0] == "sessions" for j in jobs), f"{jobs}")

    finish()

elif MODE == "produce":
    kinesis = client(ENDPOINT, "kinesis")
    progress, count = sys.argv[3], int(sys.argv[4])
    start = int(open(progress).read()) if os.path.exists(progress) else 0
    i = start
    try:
        while i < count:
            batch = [event(j) for j in range(i, min(i + 100, count))]
            r = kinesis.put_records(
                StreamName="events",
                Records=[{"Data": json.dumps(e).encode(), "PartitionKey": e["k"]} for e in batch],
            )
            if r["FailedRecordCount"]:
                time.sleep(0.05)
                continue
            i += len(batch)
            with open(progress + ".tmp", "w") as f:
                f.write(str(i))
            os.replace(progress + ".tmp", progress)
            time.sleep(0.01)
    except Exception as e:  # noqa: BLE001 - the server was killed
        print(f"producer stopped at {i}: {type(e).__name__}")
    print(f"produced up to {i}")

elif MODE == "verify":
    kinesis = client(ENDPOINT, "kinesis")
    conn = pg(int(sys.argv[3]))

    @case("every window emitted exactly once with the input's counts")
    def verify():
        conn.execute("SET freshet.scan_limit = 0")
        far = BASE_MS + 10_000_000
        kinesis.put_record(
            StreamName="events",
            Data=json.dumps({"id": -1, "k": "k0", "ts": iso(far)}).encode(),
            PartitionKey="k0",
        )
        want = {}
        for w, k, n in conn.execute(
            "SELECT CAST(to_unixtime(date_bin(INTERVAL '1 second', ts, TIMESTAMP '1970-01-01T00:00:00Z')) * 1000 AS BIGINT) + 1000, "
            "k, count(*) FROM events_t WHERE id >= 0 GROUP BY 1, 2"
        ).fetchall():
            want[(w, k)] = n
        check(len(want) > 10, f"input windows {len(want)}")

        def emitted():
            got = {}
            dupes = []
            for (d,) in conn.execute("SELECT data FROM counts").fetchall():
                v = json.loads(bytes(d))
                key = (v["_window_end"], v["k"])
                if key in got:
                    dupes.append(key)
                got[key] = v["n"]
            check(not dupes, f"emitted twice: {dupes[:5]}")
            return got if len(got) >= len(want) else None

        got = wait_until(emitted, "every window emitted", timeout=90, interval=0.5)
        missing = [k for k in want if k not in got]
        wrong = [(k, got.get(k), n) for k, n in want.items() if got.get(k) != n]
        check(not missing, f"missing windows {missing[:5]}")
        check(not wrong, f"wrong counts {wrong[:5]}")
        extra = [k for k in got if k not in want]
        check(not extra, f"windows without input {extra[:5]}")
        print(f"verified {len(want)} (window, key) results")

    @case("every session emitted exactly once, split where its key pauses 500 ms")
    def verify_sessions():
        by_key = {}
        for (i, k) in conn.execute("SELECT id, k FROM events_t WHERE id >= 0").fetchall():
            by_key.setdefault(k, []).append(ts_ms(i))
        want = {}
        for k, times in by_key.items():
            times.sort()
            first = last = times[0]
            n = 0
            for t in times:
                if t > last + GAP_MS:
                    want[(last + GAP_MS, k)] = (first, n)
                    first, n = t, 0
                last = t
                n += 1
            want[(last + GAP_MS, k)] = (first, n)
        check(len(want) > 20, f"input sessions {len(want)}")

        def emitted():
            got = {}
            dupes = []
            for (d,) in conn.execute("SELECT data FROM sessions").fetchall():
                v = json.loads(bytes(d))
                key = (v["_window_end"], v["k"])
                if key in got:
                    dupes.append(key)
                got[key] = (v["window_start"], v["n"])
            check(not dupes, f"emitted twice: {dupes[:5]}")
            return got if len(got) >= len(want) else None

        got = wait_until(emitted, "every session emitted", timeout=90, interval=0.5)
        wrong = [(k, got.get(k), w) for k, w in want.items() if got.get(k, (None, None))[1] != w[1]]
        check(not wrong, f"wrong or missing sessions {wrong[:5]}")
        def ms(text):
            t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if t.tzinfo is None:
                t = t.replace(tzinfo=datetime.timezone.utc)
            return round(t.timestamp() * 1000)

        starts = [(k, got[k][0], w[0]) for k, w in want.items() if ms(got[k][0]) != w[0]]
        check(not starts, f"wrong session starts {starts[:5]}")
        extra = [k for k in got if k not in want]
        check(not extra, f"sessions without input {extra[:5]}")
        print(f"verified {len(want)} sessions")

    finish()

elif MODE == "push":
    kinesis = client(ENDPOINT, "kinesis")
    port = int(sys.argv[3])

    @case("a push query streams each window's rows as it closes, until the client stops")
    def push():
        kinesis.create_stream(StreamName="live", ShardCount=1)
        wait_until(
            lambda: kinesis.describe_stream_summary(StreamName="live")["StreamDescriptionSummary"][
                "StreamStatus"
            ]
            == "ACTIVE",
            "live active",
        )
        conn = pg(port)
        conn.execute(
            "CREATE TABLE live_t (id BIGINT, k VARCHAR, ts TIMESTAMP, "
            "WATERMARK FOR ts AS ts) WITH (stream = 'live', format = 'json')"
        )
        stop = threading.Event()

        def produce():
            i = 0
            while not stop.is_set() and i < 20_000:
                batch = [event(j) for j in range(i, i + 250)]
                kinesis.put_records(
                    StreamName="live",
                    Records=[{"Data": json.dumps(e).encode(), "PartitionKey": e["k"]} for e in batch],
                )
                i += 250
                time.sleep(0.05)

        t = threading.Thread(target=produce)
        t.start()
        rows = []
        try:
            cur = conn.cursor()
            for row in cur.stream(
                "SELECT window_end, count(*) AS n FROM live_t GROUP BY tumble(INTERVAL '1' SECOND)"
            ):
                rows.append(row)
                if len(rows) >= 3:
                    break
        finally:
            stop.set()
            t.join()
        check(len(rows) >= 3, f"{rows}")
        check(all(r[1] == 500 for r in rows[1:]), f"full windows hold 500 events: {rows}")

    finish()
