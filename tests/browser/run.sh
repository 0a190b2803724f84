#!/usr/bin/env bash
# Runs the browser tests of Parley's built-in pages.
#
#   tests/browser/run.sh [test files...]     (default: every *.test.mjs here)
#
# Needs the server binary (PARLEY_BIN, default build/parley; build it first with
# `cmake -S . -B build -G Ninja && cmake --build build`). Installs Debian's Chromium when
# /usr/bin/chromium is missing (never a downloaded browser) and playwright-core with npm ci.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [[ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]]; then
  echo "run.sh: installing Debian's chromium" >&2
  sudo_cmd=()
  if [[ "$(id -u)" != 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium >/dev/null
fi

cd "$here"
if [[ ! -d node_modules/playwright-core ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

export PARLEY_BIN="${PARLEY_BIN:-$root/build/parley}"
case "$PARLEY_BIN" in /*) ;; *) PARLEY_BIN="$root/$PARLEY_BIN" ;; esac
if [[ ! -x "$PARLEY_BIN" ]]; then
  echo "run.sh: no server binary at $PARLEY_BIN (build it, or set PARLEY_BIN)" >&2
  exit 1
fi

if [[ $# -eq 0 ]]; then
  set -- *.test.mjs
fi
# One file at a time: each starts its own server and browser, and the machine is small.
exec node --test --test-concurrency=1 --test-timeout=300000 "$@"
