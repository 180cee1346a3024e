#!/usr/bin/env bash
# Creates (once) the Python venv the real-client tests use: boto3, the AWS CLI and
# aws-kinesis-agg, under the cargo target directory. Prints its path.
set -euo pipefail
target="${CARGO_TARGET_DIR:-$HOME/.cache/freshet-target}"
venv="${FRESHET_PY_VENV:-$target/py-venv}"
stamp="$venv/.freshet-ready-1"
if [ ! -f "$stamp" ]; then
  mkdir -p "$target"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check boto3 awscli aws-kinesis-agg protobuf six
  touch "$stamp"
fi
echo "$venv"
