#!/usr/bin/env bash
# Creates (once) the Python venv the real-client tests use: boto3, the AWS CLI,
# aws-kinesis-agg, awslambdaric (the Lambda tests' Python runtime client) and
# moto[server] (the S3 endpoint of the Firehose-to-S3 test), pyarrow and DuckDB (the
# Parquet checks), psycopg (PostgreSQL) and Selenium (the console's browser tests, which
# drive Debian's chromium through its chromedriver: no driver is downloaded), under
# the cargo target directory. Prints its path. Bump the stamp's number when the
# package list changes, so existing venvs get the new packages.
set -euo pipefail
target="${CARGO_TARGET_DIR:-$HOME/.cache/freshet-target}"
venv="${FRESHET_PY_VENV:-$target/py-venv}"
stamp="$venv/.freshet-ready-5"
if [ ! -f "$stamp" ]; then
  mkdir -p "$target"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check boto3 awscli aws-kinesis-agg protobuf six awslambdaric 'moto[server]' pyarrow duckdb 'psycopg[binary]' selenium
  touch "$stamp"
fi
echo "$venv"
