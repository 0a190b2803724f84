// The native protocol endpoint at /ws: Beast does the opening handshake, then one
// WsSession per connection owns the socket (net/ws_frame.hpp frames it): it parses what
// arrives in place, hands commands to the hub, and writes everything queued for the client
// (events, replies, control frames) in one write per batch. A client that falls more than
// the queue limit behind is closed (1013) so it cannot stall its rooms.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "hub/authenticator.hpp"
#include "hub/client.hpp"
#include "hub/hub.hpp"
#include "net/endpoint.hpp"
#include "net/origin_policy.hpp"
#include "net/stats.hpp"
#include "protocol/native/json_codec.hpp"

namespace parley::net {

struct WsOptions {
  std::size_t max_frame_bytes = 1024 * 1024;  // larger messages: discarded, `too_large`
  std::size_t send_queue_frames = 1024;       // per session, before it is closed as slow
  std::size_t send_queue_bytes = 4 * 1024 * 1024;
  std::chrono::seconds idle_timeout{120};  // a ping after half of it quiet; closed after all
  protocol::Limits limits;
  // Frames a second per connection (token bucket); 0: unlimited. Over it: error
  // `rate_limited` and the frame is dropped; the connection stays open.
  double rate_per_s = 0;
  double rate_burst = 0;
  // Token mode: a connection that has not authenticated within this is closed (1008).
  std::chrono::seconds auth_timeout{10};
  OriginPolicy origins;  // upgrades whose Origin it does not allow get 403
};

class WsSession;

class WsEndpoint final : public Endpoint {
 public:
  WsEndpoint(hub::Hub& hub, const hub::Authenticator& auth, NetStats& stats, WsOptions options);
  boost::asio::awaitable<std::optional<Response>> serve(HttpContext& ctx) override;
  // Closes every session with 1001 (going away). Thread-safe.
  void close_all();
  std::size_t sessions() const;

 private:
  friend class WsSession;
  void forget(std::uint64_t id);

  hub::Hub& hub_;
  const hub::Authenticator& auth_;
  NetStats& stats_;
  WsOptions options_;
  std::shared_ptr<const hub::ClientOptions> client_options_;  // shared by every session
  mutable std::mutex mu_;  // guards sessions_
  std::unordered_map<std::uint64_t, std::weak_ptr<WsSession>> sessions_;
};

}  // namespace parley::net
