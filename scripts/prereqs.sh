#!/usr/bin/env bash
# Checks what building and testing Freshet needs on a fresh machine and installs it
# where we run as root (as CI does); otherwise stops with the exact command to run.
#
# Every prerequisite goes through this script with the same rule: installed when run as
# root, otherwise the exact command is printed and the script fails.
#
#   scripts/prereqs.sh                      check (and install as root) everything
#   scripts/prereqs.sh --find-libclang DIR… print the libclang bindgen would load from
#                                           DIRs, exit 1 if none (used by the tests)
#   scripts/prereqs.sh --list-missing       print the Debian packages missing here and
#                                           install nothing (used by the tests)
set -euo pipefail

# bindgen (through clang-sys) dlopens libclang itself: `libclang.so`, `libclang-N.so`,
# `libclang.so.N` or `libclang-N.so.N`. `libclang-cpp.so.N` (the C++ interface, from
# libclang-cpp*) is a different library that bindgen cannot use.
is_loadable_libclang() {
  [[ "$1" =~ ^libclang(-[0-9][0-9.]*)?\.so(\.[0-9][0-9.]*)?$ ]]
}

# Prints the first loadable libclang found in the given directories.
find_libclang_in() {
  local dir f
  for dir in "$@"; do
    [ -d "$dir" ] || continue
    for f in "$dir"/libclang*.so*; do
      [ -e "$f" ] || continue
      if is_loadable_libclang "$(basename "$f")"; then
        echo "$f"
        return 0
      fi
    done
  done
  return 1
}

# The directories clang-sys searches on Linux (plus LIBCLANG_PATH when set).
libclang_dirs() {
  [ -n "${LIBCLANG_PATH:-}" ] && echo "$LIBCLANG_PATH"
  command -v llvm-config >/dev/null 2>&1 && llvm-config --libdir 2>/dev/null
  local d
  for d in /usr/lib/llvm-*/lib /usr/local/llvm*/lib /usr/lib/x86_64-linux-gnu \
    /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib; do
    [ -d "$d" ] && echo "$d"
  done
  return 0
}

if [ "${1:-}" = "--find-libclang" ]; then
  shift
  find_libclang_in "$@"
  exit $?
fi

missing_apt=()
mapfile -t dirs < <(libclang_dirs)
# The rocksdb crate's build script runs bindgen, which loads libclang.
find_libclang_in "${dirs[@]}" >/dev/null || missing_apt+=(libclang-dev)
command -v c++ >/dev/null 2>&1 || missing_apt+=(g++)
command -v make >/dev/null 2>&1 || missing_apt+=(make)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing_apt+=(python3-venv)
# A real PostgreSQL for the Redshift-destination tests (tests/src/postgres.rs). Debian
# keeps initdb and pg_ctl in /usr/lib/postgresql/<version>/bin, off PATH, so look there.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing_apt+=(postgresql)
command -v psql >/dev/null 2>&1 || missing_apt+=(postgresql-client)
# The web console's browser tests drive Debian's chromium through its chromedriver
# (tests/tests/console_in_headless_chromium.rs): found by their binaries on PATH.
command -v chromium >/dev/null 2>&1 || missing_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing_apt+=(chromium-driver)
# Kinesis Video's tests make real H.264 in Matroska with ffmpeg, check playback with
# ffprobe and cut malformed files with mkvtoolnix (tests/tests/video_*.rs).
{ command -v ffmpeg && command -v ffprobe; } >/dev/null 2>&1 || missing_apt+=(ffmpeg)
command -v mkvmerge >/dev/null 2>&1 || missing_apt+=(mkvtoolnix)

if [ "${1:-}" = "--list-missing" ]; then
  echo "${missing_apt[*]}"
  exit 0
fi

if [ ${#missing_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "prereqs: installing ${missing_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if [[ " ${missing_apt[*]} " == *" postgresql "* ]]; then
      # The tests make their own clusters: no default cluster created (and started).
      mkdir -p /etc/postgresql-common/createcluster.d
      echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/freshet.conf
    fi
    apt-get update -qq
    apt-get install -y -qq "${missing_apt[@]}" >/dev/null
  else
    echo "prereqs: missing ${missing_apt[*]}. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing_apt[*]}" >&2
    exit 1
  fi
fi
