#!/usr/bin/env bash
# Installs what Parley needs to build and test on Debian 12 (bookworm), and nothing else.
# Idempotent: packages already installed are found with dpkg-query first, so a re-run with
# everything present takes well under a second and never touches the network.
#
#   scripts/install-deps.sh            install what is missing (building, serving and testing)
#   scripts/install-deps.sh --serve    only what building and serving need (make run)
#   scripts/install-deps.sh --check    only list what is missing (exit 1 if anything is)
#
# Runs as root, or through sudo when it is available.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

packages=(
  # toolchain
  build-essential g++ cmake ninja-build ccache mold pkg-config
  # Boost 1.81 (Debian's default libboost-dev is 1.74, which lacks system/result.hpp,
  # beast/http/message_generator.hpp and asio/experimental/channel.hpp); it replaces 1.74.
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  # libraries
  libsqlite3-dev libpq-dev libhiredis-dev libssl-dev libspdlog-dev libcli11-dev
  # (GoogleTest is found when CMake configures, so the build dir serves make run and make test)
  libgtest-dev libgmock-dev libbenchmark-dev
  # `parley import` of MongoDB dumps (radio-istic): BSON and Extended JSON
  libbson-dev
)
# What only the tests and benchmarks need (make test), not make run.
test_packages=(
  # servers the tests start as throwaway instances (never the system services)
  postgresql redis-server
  # the sqlite3 shell: e2e tests build seed apps' SQLite files and read stores with it
  sqlite3
  # browser tests
  chromium
  # test only: WebWOz's own Flask back end, which tests/e2e/webwoz runs with
  # WEBWOZ_TARGET=flask to check that its clients describe the real app (not for serving)
  python3-flask-socketio python3-flask-cors python3-eventlet python3-sqlalchemy
  # fuzzers (libFuzzer + sanitizer runtimes)
  clang libclang-rt-14-dev
)
services=(postgresql redis-server)

check_only=0
serve_only=0
[[ "${1:-}" == "--check" ]] && check_only=1
[[ "${1:-}" == "--serve" ]] && serve_only=1
((serve_only)) || packages+=("${test_packages[@]}")

is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == "installed" ]]
}

missing=()
for p in "${packages[@]}"; do
  is_installed "$p" || missing+=("$p")
done
# Node (the test clients): the image may carry its own node 20 + npm; only fall back to
# Debian's when absent. Serving needs no node.
if ((serve_only)); then
  :
elif ! command -v node >/dev/null 2>&1; then
  missing+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if ((${#missing[@]} == 0)); then
  echo "install-deps: all build and test dependencies are installed"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if ((check_only)); then
  exit 1
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo --preserve-env=DEBIAN_FRONTEND)
  else
    echo "install-deps: not root and no sudo; install the packages above by hand" >&2
    exit 1
  fi
fi

# Services these packages would start, remembered so only the ones installed now are stopped.
new_services=()
for s in "${services[@]}"; do
  is_installed "$s" || new_services+=("$s")
done

"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

# The tests start their own PostgreSQL and Redis on loopback ports in temporary folders; a
# system instance started by the package would only hold ports and memory. Stop it and keep
# it from coming back at boot.
for s in "${new_services[@]}"; do
  if [[ -d /run/systemd/system ]]; then
    "${sudo[@]}" systemctl disable --now "$s" >/dev/null 2>&1 || true
  else
    "${sudo[@]}" service "$s" stop >/dev/null 2>&1 || true
    "${sudo[@]}" update-rc.d "$s" disable >/dev/null 2>&1 || true
  fi
  echo "install-deps: stopped and disabled the system $s service (tests start their own)"
done

still=()
for p in "${packages[@]}"; do
  is_installed "$p" || still+=("$p")
done
if ((!serve_only)); then
  command -v node >/dev/null 2>&1 || still+=(nodejs)
  command -v npm >/dev/null 2>&1 || still+=(npm)
fi
if ((${#still[@]})); then
  echo "install-deps: still missing after apt-get: ${still[*]}" >&2
  exit 1
fi
echo "install-deps: done"
