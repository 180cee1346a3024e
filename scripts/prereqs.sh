#!/usr/bin/env bash
# Checks what building and testing Freshet needs on a fresh machine and installs it
# where we run as root (as CI does); otherwise stops with the exact command to run.
set -euo pipefail

missing_apt=()
have_libclang() {
  ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' && return 0
  compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null && return 0
  compgen -G '/usr/lib/x86_64-linux-gnu/libclang*.so*' >/dev/null && return 0
  return 1
}
# The rocksdb crate's build script runs bindgen, which loads libclang.
have_libclang || missing_apt+=(libclang-dev)
command -v c++ >/dev/null 2>&1 || missing_apt+=(g++)
command -v make >/dev/null 2>&1 || missing_apt+=(make)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing_apt+=(python3-venv)

if [ ${#missing_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "prereqs: installing ${missing_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing_apt[@]}" >/dev/null
  else
    echo "prereqs: missing ${missing_apt[*]}. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing_apt[*]}" >&2
    exit 1
  fi
fi
