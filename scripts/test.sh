#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, integration (real server process,
# boto3, the AWS CLI, aws-sdk-kinesis) and doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/freshet-target}"
scripts/prereqs.sh
scripts/python-venv.sh >/dev/null
cargo build --workspace --bins
cargo test --workspace --no-fail-fast "$@"
