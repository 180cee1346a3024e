#!/usr/bin/env bash
# What open web consoles cost an idle server: starts `freshet serve` (release build
# unless FRESHET_BIN names another binary) on a fresh data directory with a few streams,
# measures the server's CPU time (utime + stime from /proc/PID/stat) over SECONDS with
# no console open, then with N consoles open, and prints the added CPU as a percentage
# of one core.
#
# A console is, by default, a client doing exactly what the page does on its default
# (Streams) tab, on the page's own schedule: it loads the page's files once, follows
# GET /console/live (one server-sent event a second), lists the streams and describes
# each every 5 s, lists the selected stream's shards every 2 s and its consumers every
# 5 s. With --chromium, the consoles are real headless Chromium windows (Debian's
# chromium + chromedriver through Selenium from the tests' venv) instead.
#
#   scripts/console-cost.sh [--seconds 60] [--consoles 10] [--chromium]
#
# Figures and the machine they were taken on: BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/freshet-target}"

seconds=60
consoles=10
chromium=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --consoles) consoles="$2"; shift 2 ;;
    --chromium) chromium=1; shift ;;
    *) echo "usage: $0 [--seconds N] [--consoles N] [--chromium]" >&2; exit 2 ;;
  esac
done

if [ -z "${FRESHET_BIN:-}" ]; then
  cargo build --release -q -p freshet-server --bin freshet
  FRESHET_BIN="$CARGO_TARGET_DIR/release/freshet"
fi
python=python3
if [ "$chromium" = 1 ]; then
  python="$(scripts/python-venv.sh)/bin/python"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$FRESHET_BIN" serve --addr 127.0.0.1:0 --data-dir "$work/data" >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
for _ in $(seq 1 600); do
  grep -q '^freshet listening on ' "$work/stdout" 2>/dev/null && break
  sleep 0.1
done
endpoint="$(sed -n 's/^freshet listening on //p' "$work/stdout" | head -1)"
[ -n "$endpoint" ] || { cat "$work/stderr" >&2; echo "the server did not start" >&2; exit 1; }

WORK="$work" "$python" - "$endpoint" "$server_pid" "$seconds" "$consoles" "$chromium" <<'EOF'
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

endpoint, pid, seconds, consoles, chromium = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
host = urllib.parse.urlparse(endpoint).netloc
TICK = os.sysconf("SC_CLK_TCK")


def call(conn, target, body):
    conn.request("POST", "/", json.dumps(body), {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError(f"{target}: {r.status} {data[:200]!r}")
    return json.loads(data or b"{}")


# An idle server with something to show: three streams, one with a consumer.
setup = http.client.HTTPConnection(host, timeout=30)
for name, shards in (("orders", 4), ("events", 2), ("clicks", 1)):
    call(setup, "Kinesis_20131202.CreateStream", {"StreamName": name, "ShardCount": shards})
arn = call(setup, "Kinesis_20131202.DescribeStreamSummary", {"StreamName": "orders"})["StreamDescriptionSummary"]["StreamARN"]
call(setup, "Kinesis_20131202.RegisterStreamConsumer", {"StreamARN": arn, "ConsumerName": "efo"})
call(setup, "Kinesis_20131202.PutRecords", {"StreamName": "orders", "Records": [{"Data": "aGVsbG8=", "PartitionKey": str(i)} for i in range(100)]})
setup.close()


def cpu_seconds():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def metrics():
    """(API requests served so far, consoles following /console/live now)."""
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    served = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("freshet_requests_total{"))
    live = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("freshet_console_live_subscribers "))
    return served, int(live)


def measure(what):
    time.sleep(5)  # let the consoles start and connections settle
    (r0, _), c0, t0 = metrics(), cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    c1, t1, (r1, live) = cpu_seconds(), time.monotonic(), metrics()
    pct = 100.0 * (c1 - c0) / (t1 - t0)
    print(f"{what}: {c1 - c0:.2f} s CPU in {t1 - t0:.0f} s = {pct:.3f} % of one core "
          f"({(r1 - r0) / (t1 - t0):.1f} API requests/s served, {live} following /console/live)", flush=True)
    return pct


stop = threading.Event()


def emulated_console():
    """What the page does on its Streams tab, on its schedule."""
    page = http.client.HTTPConnection(host, timeout=30)
    for path in ("/console/", "/console/config.json", "/console/app.css", "/console/app.js", "/console/api.js", "/console/kpl.js", "/console/graph.js"):
        page.request("GET", path)
        page.getresponse().read()

    def live():
        conn = http.client.HTTPConnection(host, timeout=30)
        conn.request("GET", "/console/live", headers={"Accept": "text/event-stream"})
        r = conn.getresponse()
        while not stop.is_set() and r.read1(65536):
            pass
        conn.close()

    threading.Thread(target=live, daemon=True).start()
    due = {"streams": 0.0, "shards": 0.0, "consumers": 0.0}
    every = {"streams": 5.0, "shards": 2.0, "consumers": 5.0}
    names, selected_arn = [], None
    while not stop.is_set():
        now = time.monotonic()
        for poll, at in due.items():
            if now < at:
                continue
            if poll == "streams":
                names = call(page, "Kinesis_20131202.ListStreams", {"Limit": 100})["StreamNames"]
                for name in names:
                    s = call(page, "Kinesis_20131202.DescribeStreamSummary", {"StreamName": name})
                    if name == names[0]:
                        selected_arn = s["StreamDescriptionSummary"]["StreamARN"]
            elif poll == "shards" and names:
                call(page, "Kinesis_20131202.ListShards", {"StreamName": names[0], "MaxResults": 1000})
            elif poll == "consumers" and selected_arn:
                call(page, "Kinesis_20131202.ListStreamConsumers", {"StreamARN": selected_arn, "MaxResults": 100})
            due[poll] = time.monotonic() + every[poll]
        stop.wait(0.05)
    page.close()


idle = measure("0 consoles")
drivers = []
if chromium:
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for i in range(consoles):
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
                  f"--user-data-dir={tempfile.mkdtemp(prefix='freshet-console-cost-', dir=os.environ['WORK'])}"):
            opts.add_argument(a)
        d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        d.get(endpoint + "/console/")
        drivers.append(d)
    what = f"{consoles} Chromium consoles"
else:
    for _ in range(consoles):
        threading.Thread(target=emulated_console, daemon=True).start()
    what = f"{consoles} consoles"
busy = measure(what)
stop.set()
for d in drivers:
    d.quit()
print(f"added by {what}: {busy - idle:.3f} % of one core ({(busy - idle) / os.cpu_count():.3f} % of this {os.cpu_count()}-core machine)")
EOF
