#include "net/ws_session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>

#include "core/log.hpp"
#include "net/http_server.hpp"
#include "net/rate_limiter.hpp"
#include "net/request_target.hpp"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Bytes asked of one read_some: an oversized message is discarded in pieces of this size.
constexpr std::size_t kReadPiece = 64 * 1024;

// Beyond this a message is not worth draining: Beast closes the connection with 1009.
constexpr std::size_t hard_frame_cap(std::size_t limit) {
  constexpr std::size_t kFloor = 64 * 1024 * 1024;
  return limit > kFloor / 4 ? limit * 4 : kFloor;
}

class WsSession final : public hub::Session {
 public:
  WsSession(websocket::stream<beast::tcp_stream> ws, WsEndpoint& endpoint)
      : ws_(std::move(ws)),
        endpoint_(endpoint),
        wake_(ws_.get_executor()),
        deadline_(ws_.get_executor()),
        bucket_(endpoint.options_.rate_per_s, endpoint.options_.rate_burst) {}

  asio::awaitable<void> run(Request req);

  void deliver(const hub::Frame& frame) override {
    asio::post(ws_.get_executor(), [self = shared(), frame] { self->enqueue(frame); });
  }

  // Thread-safe: closes with `code` after what is queued.
  void close(websocket::close_code code) {
    asio::post(ws_.get_executor(), [self = shared(), code] {
      if (self->closing_) return;
      self->close_code_ = code;
      self->closing_ = true;
      self->wake_.cancel();
    });
  }

 private:
  std::shared_ptr<WsSession> shared() {
    return std::static_pointer_cast<WsSession>(shared_from_this());
  }
  void enqueue(const hub::Frame& frame);
  void send_text(std::string text) {
    enqueue(std::make_shared<const std::string>(std::move(text)));
  }
  asio::awaitable<void> write_loop();
  // TCP_CORK (Linux): while set, the kernel sends only full segments; clearing it sends the
  // rest at once. A no-op elsewhere.
  void set_cork(bool on);
  void on_frame(std::string_view text);
  void authenticate(const hub::AuthRequest& request, const json::value& ref);
  // Token mode: closes the connection at `when` (auth timeout, token expiry) with an
  // `unauthorized` error saying `why`. Replaces any earlier deadline.
  void arm_deadline(std::chrono::steady_clock::time_point when, const char* why);
  // Sends `unauthorized` (`why`) and closes with 1008 (policy violation).
  void refuse(const json::value& ref, std::string_view why);

  websocket::stream<beast::tcp_stream> ws_;
  WsEndpoint& endpoint_;
  asio::steady_timer wake_;      // the write loop sleeps on it while the queue is empty
  asio::steady_timer deadline_;  // token mode: auth timeout, then the token's expiry
  TokenBucket bucket_;
  std::deque<hub::Frame> queue_;
  std::size_t queued_bytes_ = 0;
  bool closing_ = false;  // no more writes; close with close_code_ once drained
  bool read_done_ = false;
  websocket::close_code close_code_ = websocket::close_code::normal;
};

void WsSession::enqueue(const hub::Frame& frame) {
  if (closing_) return;
  const auto& o = endpoint_.options_;
  if (queue_.size() >= o.send_queue_frames || queued_bytes_ + frame->size() > o.send_queue_bytes) {
    // Slow consumer: drop what is queued and close, rather than grow without bound or stall
    // the room (centrifuge DisconnectSlow, redis client-output-buffer-limit).
    endpoint_.stats_.slow_closed.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("ws session {}: closed as slow ({} frames, {} bytes queued)", id(), queue_.size(),
                 queued_bytes_);
    queue_.clear();
    queued_bytes_ = 0;
    closing_ = true;
    close_code_ = websocket::close_code::try_again_later;
    wake_.cancel();
    return;
  }
  queued_bytes_ += frame->size();
  queue_.push_back(frame);
  if (queue_.size() == 1) wake_.cancel();
}

void WsSession::set_cork(bool on) {
#ifdef TCP_CORK
  const int value = on ? 1 : 0;
  ::setsockopt(beast::get_lowest_layer(ws_).socket().native_handle(), IPPROTO_TCP, TCP_CORK, &value,
               sizeof value);
#else
  (void)on;
#endif
}

asio::awaitable<void> WsSession::write_loop() {
  auto self = shared();
  // A burst (more than one frame queued) is written corked: each frame is still one write
  // call, but the kernel then sends full segments, and the rest when the burst ends, instead
  // of transmitting (and waking the peer) once per frame, which was most of the server's CPU
  // in a fan-out. The cork is lifted when the queue runs dry, and after kCorkedFrames frames
  // of a burst that does not end, so no frame waits on the cork for long.
  constexpr int kCorkedFrames = 64;
  bool corked = false;
  int corked_frames = 0;
  while (!closing_ || !queue_.empty()) {
    if (queue_.empty()) {
      if (corked) {
        set_cork(false);
        corked = false;
      }
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(kNoThrow);
      continue;
    }
    if (!corked && queue_.size() > 1) {
      set_cork(true);
      corked = true;
      corked_frames = 0;
    } else if (corked && ++corked_frames >= kCorkedFrames) {
      set_cork(false);  // sends what is held; the next burst corks again
      corked = false;
    }
    hub::Frame frame = queue_.front();
    ws_.text(true);
    auto [ec, n] = co_await ws_.async_write(asio::buffer(*frame), kNoThrow);
    (void)n;
    if (ec) {
      closing_ = true;
      queue_.clear();
      queued_bytes_ = 0;
      co_return;
    }
    endpoint_.stats_.frames_out.fetch_add(1, std::memory_order_relaxed);
    if (!queue_.empty()) {
      queued_bytes_ -= queue_.front()->size();
      queue_.pop_front();
    }
  }
  if (corked) set_cork(false);
  if (!read_done_ && ws_.is_open()) {
    // The peer may be too slow to read a close frame: give it a few seconds, then cut.
    asio::steady_timer guard(ws_.get_executor(), std::chrono::seconds(5));
    guard.async_wait([self](boost::system::error_code ec) {
      if (!ec) beast::get_lowest_layer(self->ws_).close();
    });
    co_await ws_.async_close(websocket::close_reason(close_code_), kNoThrow);
    guard.cancel();
  }
}

asio::awaitable<void> WsSession::run(Request req) {
  auto self = shared();
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(15);
  timeouts.idle_timeout = endpoint_.options_.idle_timeout;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "parley"); }));
  ws_.read_message_max(hard_frame_cap(endpoint_.options_.max_frame_bytes));
  ws_.auto_fragment(false);

  // Token from the upgrade request: ?token=... or Authorization: Bearer ...
  std::string token;
  if (auto target = parse_request_target(req.target())) {
    if (const auto* value = target->first("token"); value && *value) token = **value;
  }
  if (auto h = req[http::field::authorization]; token.empty() && h.starts_with("Bearer ")) {
    token = std::string(h.substr(7));
  }

  auto [aec] = co_await ws_.async_accept(req, kNoThrow);
  if (aec) co_return;
  req = {};  // its header fields would stay on the heap for the connection's whole life
  endpoint_.stats_.websockets.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(endpoint_.mu_);
    endpoint_.sessions_[id()] = self;
  }
  asio::co_spawn(ws_.get_executor(), write_loop(), asio::detached);
  if (endpoint_.auth_.requires_token()) {
    arm_deadline(std::chrono::steady_clock::now() + endpoint_.options_.auth_timeout,
                 "authenticate first: timed out");
  }
  if (!token.empty()) authenticate(hub::AuthRequest{token, {}}, json::value(nullptr));

  // The frame limit is enforced here rather than by Beast's read_message_max: Beast answers
  // an oversized message with a 1009 close and then closes the socket while the client is
  // still uploading, so the client's kernel sees a reset and drops the close frame (1006).
  // Reading in pieces lets the rest of an oversized message be discarded in constant memory
  // and answered with `too_large`, and the connection carries on. Beast's own limit stays as
  // a hard cap for messages far beyond any sane size.
  const std::size_t limit = endpoint_.options_.max_frame_bytes;
  beast::flat_buffer buffer;
  for (;;) {
    buffer.clear();
    std::size_t total = 0;
    bool oversized = false;
    boost::system::error_code ec;
    do {
      if (oversized) buffer.clear();
      auto [rec, n] = co_await ws_.async_read_some(buffer, kReadPiece, kNoThrow);
      ec = rec;
      total += n;
      if (total > limit) oversized = true;
    } while (!ec && !ws_.is_message_done());
    if (ec) {
      if (ec == websocket::error::message_too_big) {
        spdlog::info("ws session {}: frame over the hard cap of {} bytes, closed 1009", id(),
                     hard_frame_cap(limit));
      }
      break;
    }
    endpoint_.stats_.frames_in.fetch_add(1, std::memory_order_relaxed);
    if (oversized) {
      endpoint_.stats_.bad_frames.fetch_add(1, std::memory_order_relaxed);
      spdlog::info("ws session {}: frame of {} bytes over the limit of {}, discarded", id(), total,
                   limit);
      send_text(protocol::native::encode_error(
          json::value(nullptr), Errc::too_large,
          fmt::format("frame of {} bytes is over the limit of {} bytes", total, limit)));
      continue;
    }
    const auto data = buffer.cdata();
    on_frame(std::string_view(static_cast<const char*>(data.data()), data.size()));
    // An idle connection holds no read buffer: the next message allocates one again (one
    // malloc per incoming message, nothing beside a send's storage and fan-out).
    buffer.clear();
    buffer.shrink_to_fit();
  }
  read_done_ = true;
  closing_ = true;
  wake_.cancel();
  deadline_.cancel();
  endpoint_.hub_.disconnect(self);
  endpoint_.forget(id());
  endpoint_.stats_.websockets.fetch_sub(1, std::memory_order_relaxed);
}

void WsSession::arm_deadline(std::chrono::steady_clock::time_point when, const char* why) {
  deadline_.expires_at(when);
  std::weak_ptr<WsSession> weak = shared();
  deadline_.async_wait([weak, why](boost::system::error_code ec) {
    if (ec) return;  // re-armed or the session ended
    if (auto self = weak.lock()) {
      spdlog::info("ws session {}: {}, closed", self->id(), why);
      self->refuse(json::value(nullptr), why);
    }
  });
}

void WsSession::refuse(const json::value& ref, std::string_view why) {
  send_text(protocol::native::encode_error(ref, Errc::unauthenticated, why));
  if (closing_) return;
  closing_ = true;  // the write loop sends what is queued (the error), then closes
  close_code_ = websocket::close_code::policy_error;
  wake_.cancel();
}

void WsSession::authenticate(const hub::AuthRequest& request, const json::value& ref) {
  std::string why;
  auto identity = endpoint_.auth_.identify(request, why);
  if (!identity) {
    endpoint_.stats_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    if (endpoint_.auth_.requires_token()) {
      // Token mode: a bad, expired or wrongly signed token gets `unauthorized` and the
      // connection ends. The reason never includes the token.
      spdlog::info("ws session {}: authentication refused: {}", id(), why);
      refuse(ref, why);
      return;
    }
    send_text(protocol::native::encode_error(ref, identity.error(), why));
    return;
  }
  auto user = std::optional<User>(std::move(identity->user));
  if (is_authenticated() && this->user().id != user->id) {
    send_text(protocol::native::encode_error(ref, Errc::invalid_argument,
                                             "already authenticated as another user"));
    return;
  }
  const bool first = !is_authenticated();
  if (endpoint_.auth_.requires_token()) {
    // The token decides the whole identity; a later token (a refresh) moves the deadline.
    if (identity->expires_at) {
      const auto left = std::chrono::milliseconds(*identity->expires_at - now_ms());
      arm_deadline(std::chrono::steady_clock::now() + left, "token expired");
    } else {
      deadline_.cancel();
    }
  } else if (!first) {  // a repeated auth keeps what it does not restate
    if (user->name.empty()) user->name = this->user().name;
    if (user->avatar.empty()) user->avatar = this->user().avatar;
    if (request.claimed.role.empty()) user->role = this->user().role;
  }
  set_user(*user);
  if (first) endpoint_.hub_.authenticated(shared());
  protocol::Reply ok;
  ok.type = protocol::ReplyType::auth_ok;
  ok.user = *user;
  send_text(protocol::native::encode_reply(ref, ok));
}

void WsSession::on_frame(std::string_view text) {
  json::value ref;
  std::string why;
  if (!bucket_.take()) {
    endpoint_.stats_.rate_limited.fetch_add(1, std::memory_order_relaxed);
    // The reply carries the ref when the frame is cheap to look at; the frame is not applied.
    auto limited = protocol::native::decode(text, endpoint_.options_.limits, ref, why);
    if (limited) ref = std::move(limited->ref);
    send_text(
        protocol::native::encode_error(ref, Errc::rate_limited, "too many messages: slow down"));
    return;
  }
  auto decoded = protocol::native::decode(text, endpoint_.options_.limits, ref, why);
  if (!decoded) {
    endpoint_.stats_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    send_text(protocol::native::encode_error(ref, decoded.error(), why));
    return;
  }
  auto& cmd = decoded->command;
  if (cmd.op == protocol::Op::auth) {
    authenticate(hub::AuthRequest{std::move(cmd.token), std::move(cmd.identity)}, decoded->ref);
    return;
  }
  endpoint_.hub_.handle(
      shared(), protocol::WireFormat::native, std::move(cmd),
      [self = shared(), ref = std::move(decoded->ref)](protocol::Reply r) {
        auto frame = std::make_shared<const std::string>(protocol::native::encode_reply(ref, r));
        self->deliver(frame);
      });
}

WsEndpoint::WsEndpoint(hub::Hub& hub, const hub::Authenticator& auth, NetStats& stats,
                       WsOptions options)
    : hub_(hub), auth_(auth), stats_(stats), options_(options) {}

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
  const auto executor = ctx.stream.get_executor();
  auto session = std::make_shared<WsSession>(
      websocket::stream<beast::tcp_stream>(std::move(ctx.stream)), *this);
  ctx.stream_taken = true;
  // The session runs as its own coroutine, so that the HTTP connection's (its parser, read
  // buffer and frame, about 3.5 KB) ends here instead of living as long as the WebSocket.
  asio::co_spawn(executor, session->run(std::move(ctx.request)),
                 [remote = ctx.remote_address, slot = ctx.slot](std::exception_ptr e) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& x) {
                     spdlog::error("ws {}: {}", remote, x.what());
                   }
                 });
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
  for (auto& s : live) s->close(websocket::close_code::going_away);
}

}  // namespace parley::net
