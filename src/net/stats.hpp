// Counters of the network layer, read by /health and /metrics. Thread-safe (relaxed
// atomics: each counter is independent).
#pragma once

#include <atomic>
#include <cstdint>

namespace parley::net {

struct NetStats {
  std::atomic<std::int64_t> connections{0};  // open TCP connections
  std::atomic<std::uint64_t> connections_total{0};
  // Open WebSocket connections, native /ws and Engine.IO's websocket transport alike.
  std::atomic<std::int64_t> websockets{0};
  // Open Engine.IO (Socket.IO) sessions, over either transport.
  std::atomic<std::int64_t> engineio_sessions{0};
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> frames_in{0};
  std::atomic<std::uint64_t> frames_out{0};
  std::atomic<std::uint64_t> bad_frames{0};   // frames answered with an error
  std::atomic<std::uint64_t> slow_closed{0};  // sessions closed for falling behind
  std::atomic<std::uint64_t> rate_limited{0};    // frames refused by the per-connection rate
  std::atomic<std::uint64_t> rest_rate_limited{0};  // REST calls answered 429
  std::atomic<std::uint64_t> origin_refused{0};  // upgrades refused for their Origin
  std::atomic<std::uint64_t> ip_refused{0};      // connections over MAX_CONNECTIONS_PER_IP
  // Engine.IO handshakes refused for their address (SOCKETIO_* limits, 429).
  std::atomic<std::uint64_t> handshakes_refused{0};
};

}  // namespace parley::net
