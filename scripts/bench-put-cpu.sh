#!/bin/bash
# A put run with the CPU it costs (issue 20): starts `freshet serve` on a fresh data
# directory (127.0.0.1:4567, --durability DUR), runs `freshet bench --workload put`
# (100 B x 500, 4 shards, 8 in flight) for SECONDS, and prints the bench's summary with
# the server's and the generator's CPU (from /proc/PID/stat) and the machine's
# (/proc/stat: user, sys, idle, iowait, softirq, steal, context switches) over 5 s of it.
#
#   scripts/bench-put-cpu.sh FRESHET_BIN [sync-data|buffered] [SECONDS>=8]
set -u
B=${1:?freshet binary}; dur=${2:-sync-data}; secs=${3:-20}
DATA=$(mktemp -d)
"$B" serve --addr 127.0.0.1:4567 --data-dir "$DATA" --durability "$dur" --console false --sql false 2>"$DATA.log" &
SP=$!
trap 'kill $SP 2>/dev/null; wait $SP 2>/dev/null; rm -rf "$DATA" "$DATA.log" "$DATA.out"' EXIT
sleep 2
"$B" bench --endpoint http://127.0.0.1:4567 --workload put --record-size 100 --batch-size 500 \
  --shards 4 --concurrency 8 --duration "$secs" 2>/dev/null | tail -1 > "$DATA.out" &
BENCH=$!
sleep 3
BP=$(pgrep -n -f "bench --endpoint http://127.0.0.1:4567 --workload put")
read -r _ u1 _ s1 i1 w1 _ sq1 st1 _ < /proc/stat
sp1=$(awk '{print $14+$15}' /proc/$SP/stat); bp1=$(awk '{print $14+$15}' /proc/$BP/stat)
cs1=$(awk '/^ctxt/ {print $2}' /proc/stat)
sleep 5
read -r _ u2 _ s2 i2 w2 _ sq2 st2 _ < /proc/stat
sp2=$(awk '{print $14+$15}' /proc/$SP/stat); bp2=$(awk '{print $14+$15}' /proc/$BP/stat)
cs2=$(awk '/^ctxt/ {print $2}' /proc/stat)
wait $BENCH
echo "$dur: $(cat "$DATA.out")"
echo "  server $(( (sp2-sp1)/5 ))% generator $(( (bp2-bp1)/5 ))% | machine (% of one core) user $(( (u2-u1)/5 )) sys $(( (s2-s1)/5 )) idle $(( (i2-i1)/5 )) iowait $(( (w2-w1)/5 )) softirq $(( (sq2-sq1)/5 )) steal $(( (st2-st1)/5 )) | context switches/s $(( (cs2-cs1)/5 ))"
