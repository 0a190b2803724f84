// Parley's Socket.IO endpoint (mounted at /socket.io/): Engine.IO v4 + Socket.IO v5 whose
// default namespace speaks the two seed vocabularies of PROTOCOL.md (protocol/socketio/
// socketio_events.hpp) over the same hub operations as the native protocol, so Socket.IO
// and native clients share rooms. Other namespaces are refused with CONNECT_ERROR.
//
// Each client's default-namespace socket is a hub::Session on its Engine.IO session's
// strand; the hub delivers room frames to it (encoded once per vocabulary), and it queues
// them on the session's bounded queue.
//
// Threads: serve() as any Endpoint; close_all() and sessions() are thread-safe. The hub,
// authenticator and stats must outlive the endpoint and its sessions.
#pragma once

#include <boost/asio/io_context.hpp>

#include "hub/authenticator.hpp"
#include "hub/hub.hpp"
#include "net/endpoint.hpp"
#include "net/engineio/engineio_endpoint.hpp"
#include "net/stats.hpp"
#include "protocol/native/json_codec.hpp"

namespace parley::net::engineio {

struct SocketIoOptions {
  EngineIoOptions engine;
  protocol::Limits limits;  // content, meta and history limits, as for /ws
  // Events a second per socket (token bucket), as /ws; 0: unlimited. Over it: `error`
  // {code: rate_limited} and a failed ack; the event is dropped, the socket stays.
  double rate_per_s = 0;
  double rate_burst = 0;
  // Token mode: a CONNECT must carry a token (its `auth.token`, as radio-istic's client
  // sends it, or the handshake's ?token= / Authorization: Bearer); without one it is
  // refused (CONNECT_ERROR "a token is required") instead of admitted to authenticate later,
  // and the session is reaped at connect_timeout like any that never connects.
  bool token_at_connect = false;
};

class SocketIoEndpoint final : public Endpoint {
 public:
  SocketIoEndpoint(boost::asio::io_context::executor_type executor, hub::Hub& hub,
                   const hub::Authenticator& auth, NetStats& stats, SocketIoOptions options);

  boost::asio::awaitable<std::optional<Response>> serve(HttpContext& ctx) override {
    return engine_.serve(ctx);
  }
  // Closes every session (Engine.IO close packet / WebSocket close). Thread-safe.
  void close_all() { engine_.close_all(); }
  // Emits `event` with one argument (JSON text) to every socket on `/`, as Flask-SocketIO's
  // socketio.emit(event, arg) without a room does (WebWOz's `templates`). Thread-safe.
  void emit_to_all(std::string_view event, std::string_view arg_json);
  std::size_t sessions() const { return engine_.sessions(); }

 private:
  EngineIoEndpoint engine_;
};

}  // namespace parley::net::engineio
