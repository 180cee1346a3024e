#!/usr/bin/env bash
# The wire API against kinesalite and against its own ceiling, in one sitting (issue 20).
#
#   scripts/bench-wire.sh FRESHET_BIN KINESALITE_DIR [PUT_SECONDS] [GET_SECONDS]
#
# KINESALITE_DIR holds node_modules/kinesalite (`npm install --prefix DIR kinesalite@3`).
# Starts, on 127.0.0.1 only: kinesalite (in memory), a release `freshet serve
# --durability sync-data` on a fresh data directory, and `freshet bench-ceiling` (hyper
# alone: bodies read and discarded, canned replies of Freshet's size). Then the same
# `freshet bench` commands against each: PutRecords (100 B x 500, 4 shards, 8 in
# flight), then GetRecords draining what was put (the ceiling never drains: its rate
# is over the get seconds). Prints each bench's summary and the load average; stops
# everything it started.
set -euo pipefail
B=${1:?freshet binary}
KL=${2:?directory holding node_modules/kinesalite}
PUT=${3:-20}
GET=${4:-60}
DATA=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
node -e "require('$KL/node_modules/kinesalite')({createStreamMs:0}).listen(4571,'127.0.0.1')" &
pids+=($!)
"$B" serve --addr 127.0.0.1:4567 --data-dir "$DATA" --durability sync-data --console false 2>"$DATA.log" &
pids+=($!)
"$B" bench-ceiling --addr 127.0.0.1:4569 2>/dev/null &
pids+=($!)
sleep 2
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg); builds running: $(ps -eo comm | grep -cE '^(cargo|rustc|cc1plus)$' || true)"
for target in kinesalite:4571 freshet:4567 ceiling:4569; do
  name=${target%%:*}; port=${target##*:}
  echo "== $name put"
  "$B" bench --endpoint "http://127.0.0.1:$port" --workload put --record-size 100 --batch-size 500 \
    --shards 4 --concurrency 8 --duration "$PUT" 2>/dev/null | tail -2
  echo "== $name get"
  "$B" bench --endpoint "http://127.0.0.1:$port" --workload get --duration "$GET" 2>/dev/null | tail -2
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
