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
  cargo fuzz run "$target" "$work" -- -max_total_time="$seconds" -rss_limit_mb=4096 2>&1 | tail -n 3
  rm -rf "$work"
done
