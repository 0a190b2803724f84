#!/usr/bin/env bash
# Builds the Engine.IO / Socket.IO decoder fuzzers with clang (libFuzzer + ASan + UBSan) and
# runs each briefly. Usage: tests/fuzz/run_socketio_fuzz.sh [seconds per target, default 20]
# Needs clang++ (Debian's clang) and libboost-json; builds into build-fuzz/ at the repo root.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds="${1:-20}"
out="$root/build-fuzz"
cxx="${CXX_FUZZ:-clang++}"
if ! command -v "$cxx" > /dev/null; then
  echo "run_socketio_fuzz: $cxx not found; install clang" >&2
  exit 1
fi
mkdir -p "$out"

sources=(
  "$root/src/protocol/socketio/engineio_packet.cpp"
  "$root/src/protocol/socketio/socketio_packet.cpp"
  "$root/src/protocol/socketio/socketio_events.cpp"
  "$root/src/core/error.cpp"
  "$root/src/core/ids.cpp"
  "$root/src/core/time.cpp"
)
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$root/src" -DBOOST_JSON_NO_LIB -DBOOST_SYSTEM_NO_LIB)

seed() {  # target, then seed strings
  local dir="$out/corpus-$1"
  shift
  mkdir -p "$dir"
  local i=0
  for s in "$@"; do
    printf '%b' "$s" > "$dir/seed-$i"
    i=$((i + 1))
  done
}
seed engineio_packet '0{"sid":"x"}' '4hello\x1e4world' '4hello\x1ebAQIDBA==' '2probe' '6' 'bAQ'
seed socketio_packet '0' '0/custom,{"token":"1"}' '2["message",1,"2",{"3":[true]}]' \
  '2456["m",1]' '452-["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]' \
  '62-789[{"_placeholder":true,"num":0}]' '44/random,{"message":"Invalid namespace"}' '1/custom,'
seed socketio_events '["authenticate",{"userId":"u1","name":"A"}]' \
  '["join-conversation",{"conversationId":"c1","since":3}]' \
  '["send-message",{"conversationId":"c1","content":"hi","clientMsgId":"x"}]' \
  '["mark-as-read",{"conversationId":"c1","messageId":"m"}]' '["typing","c1"]' \
  '["join",{"room":"r1","role":"wizard"}]' '["bot_message",{"room":"r1","text":"*t*"}]'

status=0
for target in engineio_packet socketio_packet socketio_events; do
  bin="$out/${target}_fuzz"
  echo "==> building $target"
  "$cxx" "${flags[@]}" "$root/tests/fuzz/${target}_fuzz.cpp" "${sources[@]}" -lboost_json \
    -o "$bin"
  echo "==> running $target for ${seconds}s"
  mkdir -p "$out/work-$target"
  if ! "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 -artifact_prefix="$out/" \
      "$out/work-$target" "$out/corpus-$target" > "$out/$target.log" 2>&1; then
    echo "<== $target: FAILED (see $out/$target.log)"
    tail -40 "$out/$target.log"
    status=1
  else
    echo "<== $target: ok ($(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$out/$target.log"))"
  fi
done
exit $status
