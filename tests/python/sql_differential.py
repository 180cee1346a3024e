"""SQL over streams against DuckDB: generated JSON records put through the Kinesis API
(boto3) into two streams, the same records written as NDJSON; every query is answered
by Freshet over PostgreSQL's wire protocol (psycopg, both the extended and the simple
protocol) and by DuckDB's read_ndjson, and the results must be equal. Also: schema
discovery, a parse error with its position, a scan limit, bad records as NULLs, KPL
aggregates, and a CREATE STREAM tumbling-window job whose output equals DuckDB's
time_bucket counts.

usage: sql_differential.py ENDPOINT SQL_PORT WORKDIR
"""

import datetime
import decimal
import json
import os
import random
import sys
import time

import duckdb
import psycopg

from cases import case, check, client, finish, wait_until

ENDPOINT, SQL_PORT, WORK = sys.argv[1], int(sys.argv[2]), sys.argv[3]
kinesis = client(ENDPOINT, "kinesis")
rng = random.Random(15)

N_ORDERS = 4000
N_CUSTOMERS = 60
BASE_MS = 1_700_000_000_000
STATUSES = ["new", "paid", "shipped", "cancelled"]
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Quito", None]


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    )[:-3] + "Z"


orders = []
for i in range(N_ORDERS):
    o = {
        "id": i,
        "customer": rng.randrange(N_CUSTOMERS),
        "amount": round(rng.uniform(1, 500), 2),
        "qty": rng.randrange(1, 9),
        "status": rng.choice(STATUSES),
        "ts": iso(BASE_MS + i * 37 + rng.randrange(30)),
    }
    city = rng.choice(CITIES)
    if city is not None:
        o["city"] = {"name": city}
    orders.append(o)
customers = [
    {"cid": c, "name": f"customer-{c:03d}", "tier": rng.choice(["gold", "silver", "bronze"])}
    for c in range(N_CUSTOMERS + 5)
]


def put_all(stream, records, key):
    for i in range(0, len(records), 500):
        chunk = records[i : i + 500]
        r = kinesis.put_records(
            StreamName=stream,
            Records=[{"Data": json.dumps(x).encode(), "PartitionKey": str(x[key])} for x in chunk],
        )
        assert r["FailedRecordCount"] == 0, r


def active(stream):
    return kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamStatus"
    ] == "ACTIVE"


kinesis.create_stream(StreamName="orders", ShardCount=4)
kinesis.create_stream(StreamName="customers", ShardCount=2)
wait_until(lambda: active("orders") and active("customers"), "streams active")
put_all("orders", orders, "customer")
put_all("customers", customers, "cid")

os.makedirs(WORK, exist_ok=True)
orders_path = os.path.join(WORK, "orders.ndjson")
customers_path = os.path.join(WORK, "customers.ndjson")
with open(orders_path, "w") as f:
    f.writelines(json.dumps(o) + "\n" for o in orders)
with open(customers_path, "w") as f:
    f.writelines(json.dumps(c) + "\n" for c in customers)

duck = duckdb.connect()
duck.execute(
    f"""CREATE VIEW orders_t AS SELECT id, customer, amount, qty, status, city.name AS city,
        CAST(ts AS TIMESTAMP) AS ts FROM read_ndjson('{orders_path}', columns = {{
        'id': 'BIGINT', 'customer': 'BIGINT', 'amount': 'DOUBLE', 'qty': 'INTEGER',
        'status': 'VARCHAR', 'city': 'STRUCT(name VARCHAR)', 'ts': 'TIMESTAMPTZ'}})"""
)
duck.execute("SET TimeZone = 'UTC'")
duck.execute(
    f"""CREATE VIEW customers_t AS SELECT * FROM read_ndjson('{customers_path}', columns = {{
        'cid': 'BIGINT', 'name': 'VARCHAR', 'tier': 'VARCHAR'}})"""
)

conninfo = f"host=127.0.0.1 port={SQL_PORT} user=freshet dbname=freshet"
pg = psycopg.connect(conninfo, autocommit=True)


def run(sql, simple=False):
    cur = psycopg.ClientCursor(pg) if simple else pg.cursor()
    cur.execute(sql)
    return cur.fetchall() if cur.description else []


def norm_value(v):
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        v = float(v)
    if isinstance(v, float):
        return round(v, 4)
    return v


def norm(rows):
    return sorted(
        (tuple(norm_value(v) for v in r) for r in rows),
        key=lambda t: tuple((x is None, str(type(x)), x if x is not None else 0) for x in t),
    )


@case("declare tables with SQL (extended protocol) and see them in information_schema")
def declare():
    run(
        """CREATE TABLE orders_t (id BIGINT, customer BIGINT, amount DOUBLE, qty INT,
           status VARCHAR, city VARCHAR PATH '$.city.name', ts TIMESTAMP,
           WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
           WITH (stream = 'orders', format = 'json')"""
    )
    run(
        "CREATE TABLE customers_t (cid BIGINT, name VARCHAR, tier VARCHAR) "
        "WITH (stream = 'customers', format = 'json')",
        simple=True,
    )
    names = {r[0] for r in run("SELECT table_name FROM information_schema.tables")}
    check({"orders", "customers", "orders_t", "customers_t"} <= names, f"tables {names}")


QUERIES = [
    "SELECT count(*) FROM orders_t",
    "SELECT count(*) FROM orders_t WHERE status = 'paid'",
    "SELECT id, amount FROM orders_t WHERE amount > 450 AND qty >= 7",
    "SELECT sum(amount), avg(qty), min(amount), max(amount) FROM orders_t",
    "SELECT status, count(*), sum(qty) FROM orders_t GROUP BY status",
    "SELECT customer, count(*) AS n, round(sum(amount), 2) FROM orders_t GROUP BY customer",
    "SELECT city, count(*) FROM orders_t GROUP BY city",
    "SELECT count(*) FROM orders_t WHERE city IS NULL",
    "SELECT DISTINCT status FROM orders_t",
    "SELECT DISTINCT customer FROM orders_t WHERE qty = 1",
    "SELECT count(DISTINCT customer) FROM orders_t",
    "SELECT id, amount FROM orders_t ORDER BY amount DESC, id LIMIT 10",
    "SELECT id FROM orders_t ORDER BY id LIMIT 5",
    "SELECT id, ts FROM orders_t ORDER BY ts, id LIMIT 7",
    "SELECT status, city, count(*) FROM orders_t GROUP BY status, city",
    "SELECT status, count(*) FROM orders_t GROUP BY status HAVING count(*) > 900",
    "SELECT o.id, c.name FROM orders_t o JOIN customers_t c ON o.customer = c.cid WHERE o.amount > 490",
    "SELECT c.tier, count(*), round(sum(o.amount), 2) FROM orders_t o JOIN customers_t c ON o.customer = c.cid GROUP BY c.tier",
    "SELECT c.name FROM customers_t c LEFT JOIN orders_t o ON o.customer = c.cid WHERE o.id IS NULL",
    "SELECT c.tier, count(DISTINCT o.customer) FROM orders_t o JOIN customers_t c ON o.customer = c.cid GROUP BY c.tier",
    "SELECT count(*) FROM orders_t WHERE status IN ('new', 'shipped') AND amount BETWEEN 100 AND 200",
    "SELECT qty, count(*) FROM orders_t WHERE status <> 'cancelled' GROUP BY qty",
    "SELECT upper(status), length(city) FROM orders_t WHERE id < 20",
    "SELECT CASE WHEN amount > 250 THEN 'big' ELSE 'small' END AS size, count(*) FROM orders_t GROUP BY 1",
    "SELECT customer, max(amount) - min(amount) FROM orders_t GROUP BY customer",
    "SELECT id FROM orders_t WHERE ts >= TIMESTAMP '2023-11-14 22:14:00' AND ts < TIMESTAMP '2023-11-14 22:14:05'",
    "SELECT max(ts), min(ts) FROM orders_t",
    "SELECT count(*) FROM (SELECT customer FROM orders_t GROUP BY customer HAVING sum(qty) > 300) t",
    "SELECT status, sum(CASE WHEN qty > 4 THEN 1 ELSE 0 END) FROM orders_t GROUP BY status",
    "SELECT o.status, c.tier, count(*) FROM orders_t o JOIN customers_t c ON o.customer = c.cid GROUP BY o.status, c.tier",
    "SELECT id, amount, qty FROM orders_t WHERE customer = 7 ORDER BY id",
    "SELECT count(*) FROM orders_t WHERE city LIKE 'K%'",
]

# The same question in each engine's words: time buckets (= tumbling windows).
PAIRS = [
    (
        "SELECT date_bin(INTERVAL '10 seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z') AS w, count(*) FROM orders_t GROUP BY 1",
        "SELECT time_bucket(INTERVAL '10 seconds', ts) AS w, count(*) FROM orders_t GROUP BY 1",
    ),
    (
        "SELECT date_bin(INTERVAL '1 minute', ts, TIMESTAMP '1970-01-01T00:00:00Z') AS w, status, count(*) FROM orders_t GROUP BY 1, 2",
        "SELECT time_bucket(INTERVAL '1 minute', ts) AS w, status, count(*) FROM orders_t GROUP BY 1, 2",
    ),
]


def differential(i, ours, theirs, simple):
    @case(f"query {i} ({'simple' if simple else 'extended'}): {ours[:70]}")
    def one():
        a = norm(run(ours, simple=simple))
        b = norm(duck.execute(theirs).fetchall())
        check(len(b) > 0, "duckdb returned rows")
        check(a == b, f"freshet {a[:5]}... ({len(a)} rows) != duckdb {b[:5]}... ({len(b)} rows)")


for i, q in enumerate(QUERIES):
    differential(i, q, q, simple=i % 3 == 0)
for i, (ours, theirs) in enumerate(PAIRS):
    differential(len(QUERIES) + i, ours, theirs, simple=False)


@case("metadata columns and shard pushdown")
def metadata():
    rows = run("SELECT shard_id, count(*) FROM orders GROUP BY shard_id")
    check(len(rows) == 4 and sum(r[1] for r in rows) == N_ORDERS, f"{rows}")
    one = rows[0][0]
    n = run(f"SELECT count(*) FROM orders WHERE shard_id = '{one}'")[0][0]
    check(n == [r[1] for r in rows if r[0] == one][0], f"shard count {n}")
    by_key = run("SELECT count(*), count(DISTINCT shard_id) FROM orders WHERE partition_key = '7'")[0]
    check(by_key[0] == sum(1 for o in orders if o["customer"] == 7) and by_key[1] == 1, f"{by_key}")
    recent = run("SELECT count(*) FROM orders WHERE arrival_time >= now() - INTERVAL '1 hour'")[0][0]
    check(recent == N_ORDERS, f"recent {recent}")
    none = run("SELECT count(*) FROM orders WHERE arrival_time < TIMESTAMP '2001-01-01T00:00:00Z'")[0][0]
    check(none == 0, f"old {none}")
    limited = run("SELECT sequence_number, data FROM orders LIMIT 3")
    check(len(limited) == 3 and json.loads(bytes(limited[0][1]))["id"] >= 0, f"{limited}")


@case("schema discovery from a sample")
def discovery():
    rows = run("SELECT column_name, sql_type, path FROM discover_schema('orders')")
    got = {r[0]: (r[1], r[2]) for r in rows}
    check(got.get("amount") == ("DOUBLE", "$.amount"), f"{got}")
    check(got.get("city_name") == ("VARCHAR", "$.city.name"), f"{got}")
    check(got.get("ts", ("",))[0] == "TIMESTAMP", f"{got}")
    ddl = run("SELECT ddl FROM discover_schema('customers') LIMIT 1")[0][0]
    run(ddl.replace('CREATE TABLE "customers"', 'CREATE TABLE "customers_d"'))
    n = run("SELECT count(*) FROM customers_d WHERE tier IS NOT NULL")[0][0]
    check(n == len(customers), f"discovered table count {n}")


@case("records that do not parse give NULL columns")
def bad_records():
    kinesis.create_stream(StreamName="mixed", ShardCount=1)
    wait_until(lambda: active("mixed"), "mixed active")
    datas = [b'{"a": 1, "b": "x"}', b"not json", b'{"a": "oops"}', b"", b'{"a": 4', b'{"a": 5}']
    kinesis.put_records(
        StreamName="mixed", Records=[{"Data": d or b" ", "PartitionKey": "k"} for d in datas]
    )
    run("CREATE TABLE mixed_t (a BIGINT, b VARCHAR) WITH (stream = 'mixed', format = 'json')")
    rows = run("SELECT a, b FROM mixed_t ORDER BY sequence_number")
    check([r[0] for r in rows] == [1, None, None, None, None, 5], f"{rows}")


@case("errors: syntax with position, unknown table and column, scan limit")
def errors():
    for sql, want in [
        ("SELEC 1", "SELEC"),
        ("SELECT * FROM nope", "nope"),
        ("SELECT nope_col FROM orders_t", "nope_col"),
        ("CREATE TABLE t (a BLOB) WITH (stream = 'orders')", "column 23"),
    ]:
        try:
            run(sql)
            raise AssertionError(f"{sql} succeeded")
        except psycopg.Error as e:
            check(want.lower() in str(e).lower(), f"{sql}: {e}")
    run("SET freshet.scan_limit = 2000", simple=True)
    try:
        run("SELECT count(*) FROM orders")
        raise AssertionError("scan limit not enforced")
    except psycopg.Error as e:
        check("freshet.scan_limit" in str(e), f"{e}")
    check(len(run("SELECT partition_key FROM orders LIMIT 5")) == 5, "a LIMIT scan under the limit")
    n = run("SELECT count(*) FROM orders WHERE partition_key = '3'")[0][0]
    check(n > 0, "narrow query under the limit")
    run("SET freshet.scan_limit = 0", simple=True)
    check(run("SELECT count(*) FROM orders")[0][0] == N_ORDERS, "limit lifted")


@case("a tumbling-window job writes the same counts as DuckDB's time buckets")
def tumbling_job():
    run(
        "CREATE STREAM counts_10s AS SELECT window_start, window_end, count(*) AS n "
        "FROM orders_t GROUP BY tumble(INTERVAL '10' SECOND)"
    )
    # A record far ahead moves the event-time watermark past every window.
    kinesis.put_record(
        StreamName="orders",
        Data=json.dumps({"id": -1, "ts": iso(BASE_MS + 10_000_000)}).encode(),
        PartitionKey="sentinel",
    )
    want = {
        r[0].replace(tzinfo=datetime.timezone.utc).timestamp() * 1000: r[1]
        for r in duck.execute(
            "SELECT time_bucket(INTERVAL '10 seconds', ts), count(*) FROM orders_t GROUP BY 1"
        ).fetchall()
    }

    def emitted():
        rows = run("SELECT data FROM counts_10s")
        got = {}
        for (d,) in rows:
            v = json.loads(bytes(d))
            check(v["_job"] == "counts_10s", f"{v}")
            end = v["_window_end"]
            check(end not in got, f"window {end} emitted twice")
            got[end] = v["n"]
        return got if len(got) >= len(want) else None

    got = wait_until(emitted, "every window emitted", timeout=60)
    got_by_start = {k - 10_000: v for k, v in got.items()}
    check(got_by_start == want, f"{sorted(got_by_start.items())[:3]} != {sorted(want.items())[:3]}")
    jobs = run("SHOW JOBS")
    check(any(j[0] == "counts_10s" and j[2] == "running" for j in jobs), f"{jobs}")
    run("STOP JOB counts_10s")
    check(any(j[0] == "counts_10s" and j[2] == "stopped" for j in run("SHOW JOBS")), "stopped")
    run("DROP JOB counts_10s")
    check(not any(j[0] == "counts_10s" for j in run("SHOW JOBS")), "dropped")


finish()
