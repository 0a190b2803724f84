#!/usr/bin/env bash
# Installs the reference peers' packages (package-lock.json) for bench/run.sh --peers.
# better-sqlite3 is built from source against the Node headers of Debian's libnode-dev
# (/usr/include/node) with node-gyp, python3, make and g++: its install script would
# otherwise try to download a prebuilt binary, which this workplace cannot reach. The build
# takes 1-3 minutes of one core.
set -euo pipefail
cd "$(dirname "$0")"
nodedir=${npm_config_nodedir:-}
if [[ -z "$nodedir" && -f /usr/include/node/node_version.h ]]; then nodedir=/usr; fi
npm_config_build_from_source=true npm_config_nodedir=$nodedir \
  npm ci --no-audit --no-fund --loglevel=error
