#!/usr/bin/env bash
# Builds Parley's libFuzzer targets with clang (libFuzzer + ASan + UBSan) and runs each for a
# bounded time, starting from its committed seed corpus (tests/fuzz/corpus/<target>/).
#
#   tests/fuzz/run_fuzz.sh [seconds per target, default 20] [target...]
#
# Targets (one per decoder of untrusted bytes):
#   engineio_packet   Engine.IO packets, payloads, base64
#   socketio_packet   Socket.IO packets (namespaces, acks, binary placeholders)
#   socketio_events   the chat vocabularies' event decoder and reply encoders
#   native_frame      native WebSocket frames (protocol/native/json_codec) and the replies
#   request_target    HTTP request targets and query strings (net/request_target, Router)
#   ws_frame          client WebSocket framing as both WebSocket endpoints read it (net/ws_frame),
#                     then Engine.IO's packet decoder and the prefixed frame writer
#   jwt               JWT parsing and verification (hub/jwt_authenticator), HS256 + ES256
#   import            `parley import` readers: webwoz, conversations-json, jsonl, sqlite-tables
#   import_mongo      `parley import` of MongoDB dumps: mongodump BSON, mongoexport Extended JSON
#
# Needs clang++ (Debian's clang 14, libclang-rt-14-dev) and the libraries of the normal build.
# Builds into build-fuzz/ at the repo root (objects through ccache when it is installed); new
# inputs found go to build-fuzz/work-<target>/, crashes to build-fuzz/<target>-crash-*.
# Exits non-zero if any target fails to build or finds a crash.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds="${1:-20}"
shift || true
out="$root/build-fuzz"
cxx="${CXX_FUZZ:-clang++}"
if ! command -v "$cxx" > /dev/null; then
  echo "run_fuzz: $cxx not found; install clang (scripts/install-deps.sh)" >&2
  exit 1
fi
launcher=()
command -v ccache > /dev/null && launcher=(ccache)
mkdir -p "$out/obj"

flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$root/src" -I/usr/include/postgresql -I/usr/include/libbson-1.0
       -DBOOST_JSON_NO_LIB -DBOOST_SYSTEM_NO_LIB -DBOOST_URL_NO_LIB)
core=(src/core/error.cpp src/core/ids.cpp src/core/time.cpp src/protocol/json_fields.cpp)
socketio=(src/protocol/socketio/engineio_packet.cpp src/protocol/socketio/socketio_packet.cpp
          src/protocol/socketio/socketio_events.cpp src/protocol/socketio/vocabulary.cpp
          src/protocol/socketio/radioistic_vocabulary.cpp src/protocol/socketio/radioistic_model.cpp
          src/protocol/socketio/webwoz_vocabulary.cpp src/protocol/webwoz.cpp
          src/protocol/command_rules.cpp)

# target -> its sources (besides tests/fuzz/<target>_fuzz.cpp), libraries, max input length
sources_of() {
  case "$1" in
    engineio_packet | socketio_packet | socketio_events) echo "${core[*]} ${socketio[*]}" ;;
    native_frame) echo "${core[*]} src/protocol/native/json_codec.cpp src/protocol/command_rules.cpp" ;;
    request_target) echo "src/net/request_target.cpp src/net/router.cpp" ;;
    ws_frame) echo "${core[*]} src/net/ws_frame.cpp src/protocol/socketio/engineio_packet.cpp" ;;
    jwt) echo "${core[*]} src/hub/jwt_authenticator.cpp" ;;
    import | import_mongo)
      echo "${core[*]} src/cli/importers.cpp src/cli/import_sql.cpp src/cli/import_mongo.cpp
        src/protocol/webwoz.cpp" ;;
  esac
}
libs_of() {
  case "$1" in
    request_target) echo "-lboost_url" ;;
    jwt) echo "-lboost_json -lcrypto" ;;
    import | import_mongo) echo "-lboost_json -lsqlite3 -lpq -lbson-1.0" ;;
    *) echo "-lboost_json" ;;
  esac
}
max_len_of() {
  case "$1" in
    import) echo 16384 ;;  # room for a small SQLite database
    import_mongo) echo 16384 ;;  # several documents, a few levels of nesting
    jwt) echo 8200 ;;      # just past the 8 KiB token cap
    *) echo 4096 ;;
  esac
}

all=(engineio_packet socketio_packet socketio_events native_frame request_target ws_frame jwt import
     import_mongo)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")

compile() {  # source (relative to root) -> prints the object's path
  local src="$1" obj="$out/obj/${1//\//_}.o"
  "${launcher[@]}" "$cxx" "${flags[@]}" -c "$root/$src" -o "$obj" >&2
  echo "$obj"
}

status=0
for target in "${targets[@]}"; do
  if [[ ! -f "$root/tests/fuzz/${target}_fuzz.cpp" ]]; then
    echo "run_fuzz: unknown target $target (known: ${all[*]})" >&2
    exit 2
  fi
  bin="$out/${target}_fuzz"
  echo "==> building $target"
  objs=()
  # shellcheck disable=SC2046
  for src in tests/fuzz/${target}_fuzz.cpp $(sources_of "$target"); do
    objs+=("$(compile "$src")") || { status=1; continue 2; }
  done
  # shellcheck disable=SC2046
  "$cxx" "${flags[@]}" "${objs[@]}" $(libs_of "$target") -o "$bin" || { status=1; continue; }
  echo "==> running $target for ${seconds}s"
  work="$out/work-$target"
  mkdir -p "$work"
  log="$out/$target.log"
  if ! "$bin" -max_total_time="$seconds" -max_len="$(max_len_of "$target")" -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$out/$target-" \
      "$work" "$root/tests/fuzz/corpus/$target" > "$log" 2>&1; then
    echo "<== $target: FAILED (see $log)"
    tail -40 "$log"
    status=1
  else
    runs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || true)"
    cov="$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)"
    echo "<== $target: ok (${runs:-?} runs, ${cov:-no coverage line})"
  fi
done
exit $status
