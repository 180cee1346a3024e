#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, integration (real server process,
# boto3, the AWS CLI, aws-sdk-kinesis) and doc tests.
#
# One build of everything first, with the feature resolution `cargo test --workspace`
# uses, so RocksDB's C++ is compiled once per profile: the real-server tests run the
# `freshet` binary this build made (FRESHET_BIN) instead of building it with narrower
# features.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/freshet-target}"
scripts/prereqs.sh
scripts/python-venv.sh >/dev/null
cargo build --workspace --bins --tests
export FRESHET_BIN="$CARGO_TARGET_DIR/debug/freshet"
cargo test --workspace --no-fail-fast "$@"
