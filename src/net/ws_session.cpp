#include "net/ws_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <vector>

#include "core/log.hpp"
#include "net/http_server.hpp"
#include "hub/client.hpp"
#include "net/request_target.hpp"
#include "net/ws_connection.hpp"
#include "net/ws_frame.hpp"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// One native WebSocket connection: the native JSON protocol plugged into the shared
// connection (net/ws_connection.hpp), which owns the socket, the framing, the batched
// writer, the slow-consumer rule and the keep-alive. Handlers run on the connection's
// strand (the socket's executor); `deliver` and `close` may be called from any thread.
class WsSession final : public hub::Client, public WsConnection::Handler {
 public:
  WsSession(WsSocket socket, WsEndpoint& endpoint, std::shared_ptr<void> slot,
            std::string address)
      : hub::Client(endpoint.hub_, endpoint.auth_, endpoint.client_options_, std::move(address),
                    socket.get_executor()),
        endpoint_(endpoint),
        slot_(std::move(slot)),
        // "ws 12345" fits a std::string's inline 15 bytes; "ws session 12345" took a 32-byte
        // block on every connection from the 10,000th on (issue 13).
        conn_(std::make_shared<WsConnection>(std::move(socket), limits(endpoint.options_),
                                             endpoint.stats_, fmt::format("ws {}", id()))) {
  }

  // On the strand, once: starts the connection and, with a token from the upgrade request,
  // authentication.
  void start(std::string token);

  void deliver(const hub::Frame& frame) override { conn_->push(ws::Opcode::text, frame); }
  void deliver_batch(std::span<const hub::Frame> frames) override { conn_->push_batch(frames); }
  void wake() override { conn_->wake(); }
  bool deliver_lazy(const hub::Frame& frame) override { return conn_->push_lazy(frame); }
  void end_lull() override { conn_->end_lull(); }
  void hold_input(bool held) override { conn_->hold_input(held); }
  // The socket's strand, fixed at construction.
  boost::asio::any_io_executor strand() const override { return conn_->executor(); }

  // Thread-safe: closes with `code` after what is queued.
  void close(std::uint16_t code) { conn_->close(code); }

 private:
  static WsLimits limits(const WsOptions& o) {
    WsLimits l;
    l.max_message_bytes = o.max_frame_bytes;
    l.send_queue_frames = o.send_queue_frames;
    l.send_queue_bytes = o.send_queue_bytes;
    l.idle_timeout = o.idle_timeout;
    return l;
  }
  std::shared_ptr<WsSession> shared() {
    return std::static_pointer_cast<WsSession>(shared_from_this());
  }
  void send_text(std::string text) {
    deliver(std::make_shared<const std::string>(std::move(text)));
  }

  // WsConnection::Handler, on the strand.
  void on_message(WsConnection& conn, std::string_view payload, bool binary) override;
  void on_oversized(WsConnection& conn, std::uint64_t size) override;
  void on_closed(WsConnection& conn) override;

  // hub::Client: the token expired, or no auth came in time.
  void on_expired(std::string_view why) override { refuse({}, why); }
  void refuse(std::string_view ref, std::string_view why);
  void auth(hub::AuthRequest request, std::string_view ref);

  WsEndpoint& endpoint_;
  std::shared_ptr<void> slot_;  // the server's connection count and per-address slot
  std::shared_ptr<WsConnection> conn_;
};

void WsSession::start(std::string token) {
  auto self = shared();
  {
    std::lock_guard lock(endpoint_.mu_);
    endpoint_.sessions_[id()] = self;
  }
  conn_->start(self, self);
  require_auth_within(endpoint_.options_.auth_timeout);
  if (!token.empty()) auth(hub::AuthRequest{std::move(token), {}, {}}, {});
}

void WsSession::on_message(WsConnection&, std::string_view text, bool) {
  std::string ref;
  std::string why;
  if (!admit()) {
    endpoint_.stats_.rate_limited.fetch_add(1, std::memory_order_relaxed);
    // The reply carries the ref when the frame is cheap to look at; the frame is not applied.
    auto limited = protocol::native::decode(text, ref, why);
    if (limited) ref = std::move(limited->ref);
    send_text(
        protocol::native::encode_error(ref, Errc::rate_limited, "too many messages: slow down"));
    return;
  }
  auto decoded = protocol::native::decode(text, ref, why);
  if (!decoded) {
    endpoint_.stats_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    send_text(protocol::native::encode_error(ref, decoded.error(), why));
    return;
  }
  auto& cmd = decoded->command;
  if (cmd.op == protocol::Op::auth) {
    auth(hub::AuthRequest{std::move(cmd.token), std::move(cmd.identity), {}}, decoded->ref);
    return;
  }
  submit(
      protocol::WireFormat::native, std::move(cmd),
      [self = shared(), ref = std::move(decoded->ref)](protocol::Reply r) {
        self->send_text(protocol::native::encode_reply(ref, r));
      });
}

void WsSession::on_oversized(WsConnection&, std::uint64_t size) {
  const std::size_t limit = endpoint_.options_.max_frame_bytes;
  send_text(protocol::native::encode_error(
      {}, Errc::too_large,
      fmt::format("frame of {} bytes is over the limit of {} bytes", size, limit)));
}

void WsSession::on_closed(WsConnection&) {
  end();
  endpoint_.forget(id());
}

void WsSession::refuse(std::string_view ref, std::string_view why) {
  // The error goes out first, then the close (1008: policy violation).
  send_text(protocol::native::encode_error(ref, Errc::unauthenticated, why));
  close(ws::close_code::policy_error);
}

void WsSession::auth(hub::AuthRequest request, std::string_view ref) {
  std::string why;
  auto user = authenticate(std::move(request), why);
  if (!user) {
    endpoint_.stats_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    // Token mode: a bad, expired or wrongly signed token gets `unauthorized` and the
    // connection ends. The reason never includes the token.
    if (requires_token() && user.error() == Errc::unauthenticated) {
      refuse(ref, why);
    } else {
      send_text(protocol::native::encode_error(ref, user.error(), why));
    }
    return;
  }
  protocol::Reply ok;
  ok.type = protocol::ReplyType::auth_ok;
  ok.user = std::move(*user);
  send_text(protocol::native::encode_reply(ref, ok));
}

WsEndpoint::WsEndpoint(hub::Hub& hub, const hub::Authenticator& auth, NetStats& stats,
                       WsOptions options)
    : hub_(hub),
      auth_(auth),
      stats_(stats),
      options_(options),
      client_options_(std::make_shared<const hub::ClientOptions>(
          hub::ClientOptions{options.limits, options.rate_per_s, options.rate_burst})) {}

asio::awaitable<std::optional<Response>> WsEndpoint::serve(HttpContext& ctx) {
  if (!websocket::is_upgrade(ctx.request)) {
    co_return json_error(http::status::upgrade_required, "bad_request",
                         "this endpoint speaks WebSocket", ctx.request.version(), false);
  }
  if (auto origin = ctx.request[http::field::origin]; !options_.origins.allows(origin)) {
    stats_.origin_refused.fetch_add(1, std::memory_order_relaxed);
    co_return json_error(http::status::forbidden, "forbidden", "origin not allowed",
                         ctx.request.version(), false);
  }
  // Token from the upgrade request: ?token=... or Authorization: Bearer ...
  std::string token;
  if (auto target = parse_request_target(ctx.request.target())) {
    if (const auto* value = target->first("token"); value && *value) token = **value;
  }
  if (auto h = ctx.request[http::field::authorization]; token.empty() && h.starts_with("Bearer ")) {
    token = std::string(h.substr(7));
  }

  // Beast does the opening handshake; the session then owns the socket (see WsSession).
  websocket::stream<beast::tcp_stream> ws(std::move(ctx.stream));
  ctx.stream_taken = true;
  beast::get_lowest_layer(ws).expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(15);
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws.set_option(timeouts);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "parley"); }));
  auto [ec] = co_await ws.async_accept(ctx.request, kNoThrow);
  if (ec) co_return std::nullopt;
  // The connection keeps the HTTP connection's strand, by its type (see WsStrand).
  auto raw = beast::get_lowest_layer(ws).release_socket();
  auto strand = strand_of(raw);
  if (!strand) {
    spdlog::error("ws: the connection is not on a strand of the server's io_context");
    co_return std::nullopt;
  }
  boost::system::error_code aec;
  auto socket = adopt_socket(raw, *strand, aec);
  if (aec) {
    spdlog::warn("ws: cannot take the connection: {}", aec.message());
    co_return std::nullopt;
  }
  auto session = std::make_shared<WsSession>(std::move(socket), *this, ctx.slot,
                                             ctx.remote_address);
  session->start(std::move(token));  // on the connection's strand, like every handler after
  co_return std::nullopt;
}

void WsEndpoint::forget(std::uint64_t id) {
  std::lock_guard lock(mu_);
  sessions_.erase(id);
}

std::size_t WsEndpoint::sessions() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

void WsEndpoint::close_all() {
  std::vector<std::shared_ptr<WsSession>> live;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->close(ws::close_code::going_away);
}

}  // namespace parley::net
