#!/usr/bin/env bash
# Times the README's two commands from a fresh clone with an empty target directory
# (BENCHMARKS.md, "Building from a fresh clone"):
#   scripts/measure-cold-build.sh test    clone -> `make test` finished, then a warm rerun
#   scripts/measure-cold-build.sh serve   clone -> `make serve` answering /health, then warm
# Uses /tmp/cold-<what> and /tmp/cold-<what>-target; port 4567 must be free for `serve`.
set -u
what="${1:-test}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
clone="/tmp/cold-$what"
export CARGO_TARGET_DIR="/tmp/cold-$what-target"
rm -rf "$clone" "$CARGO_TARGET_DIR"
git clone -q "$repo" "$clone"
cd "$clone" || exit 1
echo "commit $(git log --oneline | head -1)"
run_test() {
  local label=$1 start rc
  uptime
  start=$(date +%s)
  make test >"/tmp/$label-test.log" 2>&1
  rc=$?
  echo "$label make test: exit $rc after $(($(date +%s) - start)) s"
}
run_serve() {
  local label=$1 start pid
  uptime
  start=$(date +%s)
  make serve >"/tmp/$label-serve.log" 2>&1 &
  pid=$!
  until curl -sf http://127.0.0.1:4567/health >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "make serve exited early"; return 1; }
    sleep 1
  done
  echo "$label make serve: answering after $(($(date +%s) - start)) s"
  pkill -INT -f "$CARGO_TARGET_DIR/release/freshet"
  wait "$pid" 2>/dev/null
}
case "$what" in
  test) run_test cold && run_test warm ;;
  serve) run_serve cold && run_serve warm ;;
  *) echo "usage: $0 test|serve" >&2; exit 2 ;;
esac
uptime
