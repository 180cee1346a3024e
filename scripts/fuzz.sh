#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 20 s each) on the committed seed
# corpora, with AddressSanitizer. `scripts/fuzz.sh 600` runs ten minutes per target.
# Needs cargo-fuzz (installed here when missing) and RUSTC_BOOTSTRAP for the nightly
# flags it passes to the stable toolchain.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-20}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  # Work on a copy so a run's new inputs do not dirty the committed seeds.
  work="$(mktemp -d)"
  cp -r "corpus/$target/." "$work/"
  echo "fuzz: $target for ${seconds}s"
  extra=()
  [ -d "regressions/$target" ] && extra+=("regressions/$target")
  if ! cargo fuzz run "$target" "$work" "${extra[@]}" -- -max_total_time="$seconds" -rss_limit_mb=4096 >"$work.log" 2>&1; then
    grep -v '^ *Compiling' "$work.log" | tail -n 60
    echo "fuzz: $target FAILED (the crashing input is under fuzz/artifacts/$target)" >&2
    exit 1
  fi
  grep -E '^Done [0-9]+ runs' "$work.log" || true
  rm -f "$work.log"
  rm -rf "$work"
done
