#!/usr/bin/env bash
# Same-sitting A/B of two freshet binaries: `scripts/ab-bench.sh OLD_BIN NEW_BIN BENCH_BIN`
# (puts and gets through `freshet bench`, alternating twice so both share the load).
OLD=$1; NEW=$2; B=$3
for round in 1 2; do
  for which in old new; do
    BIN=$OLD; [ $which = new ] && BIN=$NEW
    rm -rf /tmp/ab-data
    $BIN serve --addr 127.0.0.1:4580 --data-dir /tmp/ab-data --durability sync-data > /tmp/logs/ab-$which.log 2>&1 &
    P=$!; sleep 1.5
    put=$($B bench --endpoint http://127.0.0.1:4580 --workload put --record-size 100 --batch-size 500 --shards 4 --concurrency 8 --duration 10 2>&1 | grep -o "records/s=[0-9]*" | tail -1)
    get=$($B bench --endpoint http://127.0.0.1:4580 --workload get --duration 20 2>&1 | grep -o "records/s=[0-9]*" | tail -1)
    echo "round $round $which put $put get $get $(uptime | grep -o 'load average.*')"
    kill $P; wait $P 2>/dev/null
  done
done
