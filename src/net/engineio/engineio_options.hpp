// Settings of an Engine.IO endpoint. The defaults are Socket.IO v4's server defaults; the
// protocol-test-server mode uses the compliance suites' values (300/200/1000000/1000).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "net/origin_policy.hpp"

namespace parley::net::engineio {

struct EngineIoOptions {
  // Heartbeat: the server pings every ping_interval; no pong within ping_timeout closes.
  // This also reaps polling sessions whose client went away.
  std::chrono::milliseconds ping_interval{25000};
  std::chrono::milliseconds ping_timeout{20000};
  // An upgrade probe not completed ("5") within this is dropped; polling goes on.
  std::chrono::milliseconds upgrade_timeout{10000};
  // Socket.IO: a connection that joined no namespace within this is closed.
  std::chrono::milliseconds connect_timeout{45000};
  // Largest polling POST body and WebSocket message, in bytes (advertised as maxPayload).
  std::size_t max_payload = 1'000'000;
  // Outgoing queue per session; a client further behind is closed as slow.
  std::size_t send_queue_packets = 1024;
  std::size_t send_queue_bytes = 4 * 1024 * 1024;
  std::size_t max_sessions = 100'000;
  // Open sessions per peer address (0: no limit). Without it one client filled the whole
  // table: 100,000 polling handshakes from one address in 8.8 s left every other client
  // with 503 for the 45 s connect timeout (issue 14). Over it: 429 with Engine.IO's
  // "Forbidden" body. Behind a proxy every client shares its address: raise it or set 0.
  std::size_t max_sessions_per_address = 0;
  // New sessions (handshakes) a second per peer address, token bucket of
  // `handshake_burst`; 0: unlimited. Over it: 429 with Retry-After.
  double handshakes_per_s = 0;
  double handshake_burst = 0;
  // Which browser origins may connect (ALLOWED_ORIGINS, as /ws and the REST API): granted
  // origins get CORS headers on polling; a request or upgrade from an origin the policy
  // does not allow gets 403 with Engine.IO's "Forbidden" body. Not configured: any origin,
  // no CORS headers (Socket.IO's own default), so a cross-origin page must be listed.
  OriginPolicy origins;
};

}  // namespace parley::net::engineio
