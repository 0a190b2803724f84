// The Engine.IO v4 server as an HTTP endpoint (mounted at /socket.io/, or /engine.io/ in the
// compliance mode): validates the query (EIO=4, transport, sid), opens sessions over
// long-polling or WebSocket, routes polling GET/POST and upgrade requests to their session,
// answers CORS preflights, and turns protocol errors into HTTP 400 with the Engine.IO
// error body {"code":N,"message":"..."}. What runs over each session comes from the
// HandlerFactory (Socket.IO, or an echo).
//
// Threads: serve() runs on the HTTP connection's strand and hops onto the session's strand
// for everything that touches the session. Each new session gets a strand of `executor`.
// close_all() and sessions() are thread-safe.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <variant>

#include "core/client_rate_limiter.hpp"
#include "net/endpoint.hpp"
#include "net/engineio/engineio_options.hpp"
#include "net/engineio/engineio_socket.hpp"
#include "net/stats.hpp"

namespace parley::net::engineio {

class EngineIoEndpoint final : public Endpoint {
 public:
  // `stats` may be null; when set it must outlive every session.
  EngineIoEndpoint(boost::asio::io_context::executor_type executor, HandlerFactory factory,
                   EngineIoOptions options, NetStats* stats = nullptr);
  ~EngineIoEndpoint() override;

  boost::asio::awaitable<std::optional<Response>> serve(HttpContext& ctx) override;

  // Closes every session (server side). Thread-safe.
  void close_all();
  // Sends `data` as a message packet to every open session. Thread-safe.
  void post_to_all(const std::shared_ptr<const std::string>& data);
  std::size_t sessions() const;
  const EngineIoOptions& options() const noexcept { return *options_; }

 private:
  boost::asio::awaitable<std::optional<Response>> serve_websocket(HttpContext& ctx,
                                                                  std::string_view sid,
                                                                  HandshakeInfo info);
  // A new session for a handshake from `address`, or the response refusing it (503 when
  // the server is full, 429 when the address is over its limits).
  std::variant<std::shared_ptr<EioSocket>, Response> make_session(const Request& req,
                                                                  const std::string& address);
  void add_cors(const Request& req, Response& res) const;

  boost::asio::io_context::executor_type executor_;
  HandlerFactory factory_;
  std::shared_ptr<const EngineIoOptions> options_;
  NetStats* stats_;
  std::shared_ptr<SessionTable> table_;
  ClientRateLimiter handshakes_;  // per peer address
};

}  // namespace parley::net::engineio
