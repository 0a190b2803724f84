#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and benchmarks, on a free loopback port.
#
#   scripts/pg-test-cluster.sh start DIR   # initdb (first time) + start; prints the URL
#   scripts/pg-test-cluster.sh url DIR     # prints the URL of the running cluster
#   scripts/pg-test-cluster.sh stop DIR    # pg_ctl stop -m fast (no error if not running)
#   scripts/pg-test-cluster.sh kill DIR    # pg_ctl stop -m immediate (a crash, for outage tests)
#   scripts/pg-test-cluster.sh destroy DIR # stop, then remove DIR
#
# The URL is postgresql://postgres@127.0.0.1:PORT/postgres (trust auth, loopback only; no
# Unix socket); a restart keeps the port when it is still free. As root the server runs as
# the `postgres` user (initdb refuses root) and DIR is handed to it. Typical use:
#   export PARLEY_TEST_PG_URL=$(scripts/pg-test-cluster.sh start build/pg)
#   ...tests...
#   scripts/pg-test-cluster.sh stop build/pg
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|kill|url|destroy DIR" >&2
  exit 2
}
[[ $# -eq 2 ]] || usage
cmd=$1
dir=$2

find_bin() {
  local d
  for d in "${PG_BINDIR:-}" /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [[ -n "$d" && -x "$d/pg_ctl" ]]; then
      echo "$d"
      return
    fi
  done
  if command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"
    return
  fi
  echo "pg-test-cluster: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 1
}
bin=$(find_bin)

# Runs a command as the cluster owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data="$dir/data"
log="$dir/postgres.log"
port_file="$dir/port"

url() {
  [[ -f "$port_file" ]] || { echo "pg-test-cluster: no cluster in $dir" >&2; exit 1; }
  echo "postgresql://postgres@127.0.0.1:$(cat "$port_file")/postgres"
}

is_running() {
  [[ -f "$data/PG_VERSION" ]] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

port_in_use() {
  ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

start() {
  if is_running; then
    url
    return
  fi
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir"
    # The postgres user must be able to reach DIR.
    local p=$dir
    while [[ "$p" != "/" ]]; do
      p=$(dirname "$p")
      chmod o+x "$p" 2>/dev/null || true
    done
  fi
  if [[ ! -f "$data/PG_VERSION" ]]; then
    as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    cat >"$data/pg_hba.conf" <<'EOF'
# Throwaway test cluster: trust on loopback TCP only.
host all all 127.0.0.1/32 trust
EOF
    [[ $(id -u) -ne 0 ]] || chown postgres: "$data/pg_hba.conf"
  fi
  local attempt port
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    # A restarted cluster keeps its port (and so its URL) when it can.
    if [[ $attempt -eq 1 && -f "$port_file" ]]; then
      port=$(cat "$port_file")
    else
      port=$((20000 + RANDOM % 40000))
    fi
    port_in_use "$port" && continue
    if as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start -o \
      "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
       -c max_connections=300 -c shared_buffers=128MB -c max_wal_size=2GB \
       -c fsync=on -c synchronous_commit=on" >/dev/null; then
      echo "$port" >"$port_file"
      url
      return
    fi
    echo "pg-test-cluster: start on port $port failed (attempt $attempt)" >&2
  done
  tail -n 20 "$log" >&2 || true
  exit 1
}

stop() {
  if is_running; then
    as_owner "$bin/pg_ctl" -D "$data" -w -m fast stop >/dev/null
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  url) url ;;
  kill)
    if is_running; then
      as_owner "$bin/pg_ctl" -D "$data" -w -m immediate stop >/dev/null
    fi
    ;;
  destroy)
    stop
    rm -rf "$dir"
    ;;
  *) usage ;;
esac
