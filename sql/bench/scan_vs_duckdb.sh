#!/usr/bin/env bash
# SQL over streams, bounded scan + GROUP BY, beside DuckDB's read_ndjson of the same
# records: N JSON records of about 100 bytes put into a 4-shard stream (plain records,
# no KPL aggregation), then the same GROUP BY through psql (Freshet) and DuckDB, each
# timed three times on a warm page cache.
#
# usage: sql/bench/scan_vs_duckdb.sh [N]   (default 10000000)
# needs: a release freshet (cargo build --release -p freshet-server --bin freshet, or
# FRESHET_BIN), psql, and a Python with duckdb (PYTHON, default the test venv's).
# PERF_OUT=file: also records the server with `perf record -g` during a fourth query.
set -euo pipefail
N=${1:-10000000}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${FRESHET_BIN:-$TARGET/release/freshet}
PY=${PYTHON:-$TARGET/py-venv/bin/python}
WORK=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$PY" - "$N" "$WORK/records.ndjson" <<'PYEOF'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for i in range(n):
        # {"id":1234567,"k":"key-042","v":123.456,"ok":true,"pad":"..."} padded to ~100 bytes
        line = f'{{"id":{i},"k":"key-{i % 100:03d}","v":{(i * 7919) % 100000 / 100:.2f},"ok":{str(i % 3 == 0).lower()},"pad":"'
        f.write(line + "x" * max(0, 97 - len(line)) + '"}\n')
PYEOF
"$BIN" serve --data-dir "$WORK/data" --addr 127.0.0.1:14599 --sql-addr 127.0.0.1:15499 --console false >"$WORK/serve.log" 2>&1 &
SERVER=$!
sleep 2
E=http://127.0.0.1:14599
"$BIN" create bench --shards 4 --endpoint $E
time "$BIN" put bench --file "$WORK/records.ndjson" --no-aggregation --no-rate-limit --in-flight 8 --endpoint $E
Q="SELECT k, count(*), sum(v), avg(id) FROM bench_t GROUP BY k"
psql -h 127.0.0.1 -p 15499 -X -q -c "CREATE TABLE bench_t (id BIGINT, k VARCHAR, v DOUBLE, ok BOOLEAN) WITH (stream = 'bench', format = 'json')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 1 2 3; do
  psql -h 127.0.0.1 -p 15499 -X -q -o /dev/null -c "SET freshet.scan_limit = 0" -c '\timing on' -c "$Q" | grep Time | sed "s/^/freshet  /"
done
if [ -n "${PERF_OUT:-}" ]; then
  perf record -g -o "$PERF_OUT" -p "$SERVER" 2>/dev/null &
  PERF=$!
  sleep 0.5
  psql -h 127.0.0.1 -p 15499 -X -q -o /dev/null -c "SET freshet.scan_limit = 0" -c "$Q"
  kill -INT "$PERF"
  wait "$PERF" || true
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 1 2 3; do
  "$PY" - "$WORK/records.ndjson" <<'PYEOF'
import sys, time, duckdb
c = duckdb.connect()
t = time.time()
c.execute(f"SELECT k, count(*), sum(v), avg(id) FROM read_ndjson('{sys.argv[1]}') GROUP BY k").fetchall()
print(f"duckdb   Time: {(time.time() - t) * 1000:.1f} ms")
PYEOF
done
echo "records: $N; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
