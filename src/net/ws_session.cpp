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
#include "net/ws_frame.hpp"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Bytes taken from the socket per read call, into a buffer of the thread's (not the
// connection's): an idle connection holds no read buffer.
constexpr std::size_t kReadPiece = 64 * 1024;
// Reads per readiness event before yielding the thread to other connections.
constexpr int kReadsPerWakeup = 4;
// After the close frame is written, how long the peer has to answer it.
constexpr auto kCloseGrace = std::chrono::seconds(5);

// Beyond this a message is not worth draining: the connection is closed with 1009.
constexpr std::size_t hard_frame_cap(std::size_t limit) {
  constexpr std::size_t kFloor = 64 * 1024 * 1024;
  return limit > kFloor / 4 ? limit * 4 : kFloor;
}

namespace {
char* read_scratch() {
  thread_local std::unique_ptr<char[]> buffer(new char[kReadPiece]);
  return buffer.get();
}
}  // namespace

// One native WebSocket connection after the handshake. It owns its socket's bytes in both
// directions (net/ws_frame.hpp): reads are taken when the socket is readable, into a buffer
// of the thread's, and parsed in place; everything queued for the client (events, replies,
// pongs, the close) goes out in one write per batch. Handlers run on the connection's
// strand (the socket's executor); `deliver` and `close` may be called from any thread.
class WsSession final : public hub::Client, private ws::FrameReader::Handler {
 public:
  WsSession(tcp::socket socket, WsEndpoint& endpoint, std::shared_ptr<void> slot)
      : hub::Client(endpoint.hub_, endpoint.auth_,
                    hub::ClientOptions{endpoint.options_.limits, endpoint.options_.rate_per_s,
                                       endpoint.options_.rate_burst},
                    socket.get_executor()),
        socket_(std::move(socket)),
        endpoint_(endpoint),
        slot_(std::move(slot)),
        reader_(endpoint.options_.max_frame_bytes, hard_frame_cap(endpoint.options_.max_frame_bytes)),
        timer_(socket_.get_executor()) {}

  // On the strand, once: starts reading, the keep-alive timer and, with a token from the
  // upgrade request, authentication.
  void start(std::string token);

  void deliver(const hub::Frame& frame) override { push(ws::Opcode::text, frame); }
  void deliver_batch(std::span<const hub::Frame> frames) override;
  void wake() override;

  // Thread-safe: closes with `code` after what is queued.
  void close(std::uint16_t code) {
    std::lock_guard lock(mu_);
    begin_close(code);
  }

 private:
  struct Out {
    hub::Frame data;
    ws::Opcode op;
  };

  std::shared_ptr<WsSession> shared() {
    return std::static_pointer_cast<WsSession>(shared_from_this());
  }
  static std::int64_t now_ns() {
    return std::chrono::steady_clock::now().time_since_epoch().count();
  }

  // --- writing (push/begin_close under mu_ from any thread; the rest on the strand)
  void push(ws::Opcode op, const hub::Frame& frame);
  void push_locked(ws::Opcode op, const hub::Frame& frame);  // requires mu_
  void begin_close(std::uint16_t code);  // requires mu_
  void schedule_flush();                 // requires mu_
  void flush();
  void on_written(boost::system::error_code ec);
  void send_text(std::string text) {
    deliver(std::make_shared<const std::string>(std::move(text)));
  }

  // --- reading, on the strand
  void wait_readable();
  void on_readable(boost::system::error_code ec);
  void on_message(std::string_view payload, bool binary) override;
  void on_oversized(std::uint64_t size) override;
  void on_ping(std::string_view payload) override;
  void on_pong() override {}
  void on_close(std::uint16_t code, std::string_view reason) override;
  void abort();   // closes the socket; the pending read then ends the session
  void finish();  // once, when reading ends

  // --- keep-alive and token deadlines, on the strand
  void arm_keepalive(std::chrono::steady_clock::duration after);
  void on_keepalive();
  // hub::Client: the token expired, or no auth came in time.
  void on_expired(std::string_view why) override { refuse(json::value(nullptr), why); }
  void refuse(const json::value& ref, std::string_view why);
  void auth(hub::AuthRequest request, const json::value& ref);

  tcp::socket socket_;
  WsEndpoint& endpoint_;
  std::shared_ptr<void> slot_;  // the server's connection count and per-address slot
  ws::FrameReader reader_;
  asio::steady_timer timer_;  // keep-alive pings, then the close grace period

  // Shared with delivering threads.
  std::mutex mu_;
  std::vector<Out> inbox_;
  std::size_t inbox_bytes_ = 0;
  std::size_t in_flight_frames_ = 0;  // in the write being sent (counted against the limits)
  std::size_t in_flight_bytes_ = 0;
  bool flush_pending_ = false;  // a flush is posted or a write is in flight
  bool closing_ = false;        // nothing more is accepted; the close frame follows the queue
  std::uint16_t close_code_ = ws::close_code::normal;

  // Strand only.
  std::string out_;          // the bytes of the write in flight
  std::vector<Out> batch_;   // swapped with inbox_ by flush
  std::int64_t last_rx_ns_ = 0;
  bool ping_sent_ = false;
  bool close_sent_ = false;
  bool writing_ = false;
  bool close_received_ = false;
  bool finished_ = false;
};

void WsSession::push(ws::Opcode op, const hub::Frame& frame) {
  std::lock_guard lock(mu_);
  push_locked(op, frame);
}

void WsSession::deliver_batch(std::span<const hub::Frame> frames) {
  std::lock_guard lock(mu_);
  for (const auto& frame : frames) push_locked(ws::Opcode::text, frame);
}

void WsSession::push_locked(ws::Opcode op, const hub::Frame& frame) {
  if (closing_) return;
  const auto& o = endpoint_.options_;
  // Slow means the socket is not taking what was written: frames pile up behind a write
  // still in flight. A burst queued while nothing is in flight (a replayed spool, a large
  // batch) is written at once and is not slow. Bytes are bounded either way.
  if (op == ws::Opcode::text &&
      ((in_flight_frames_ > 0 && inbox_.size() + in_flight_frames_ >= o.send_queue_frames) ||
       inbox_bytes_ + in_flight_bytes_ + frame->size() > o.send_queue_bytes)) {
    // Slow consumer: drop what is queued and close, rather than grow without bound or stall
    // the room (centrifuge DisconnectSlow, redis client-output-buffer-limit).
    endpoint_.stats_.slow_closed.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("ws session {}: closed as slow ({} frames, {} bytes queued)", id(),
                 inbox_.size() + in_flight_frames_, inbox_bytes_ + in_flight_bytes_);
    inbox_.clear();
    inbox_bytes_ = 0;
    begin_close(ws::close_code::try_again_later);
    return;
  }
  inbox_bytes_ += frame->size();
  inbox_.push_back(Out{frame, op});
  schedule_flush();
}

void WsSession::begin_close(std::uint16_t code) {
  if (closing_) return;
  closing_ = true;
  close_code_ = code;
  schedule_flush();
}

void WsSession::schedule_flush() {
  if (flush_pending_) return;
  flush_pending_ = true;
  if (hub::DeliveryScope::defer(shared())) return;  // wake() at the scope's end
  wake();
}

void WsSession::wake() {
  asio::post(socket_.get_executor(), [self = shared()] { self->flush(); });
}

void WsSession::flush() {
  if (finished_) return;
  bool send_close = false;
  std::uint16_t code = 0;
  {
    std::lock_guard lock(mu_);
    batch_.swap(inbox_);
    in_flight_frames_ = batch_.size();
    in_flight_bytes_ = inbox_bytes_;
    inbox_bytes_ = 0;
    send_close = closing_ && !close_sent_;
    code = close_code_;
    if (batch_.empty() && !send_close) {
      flush_pending_ = false;
      return;
    }
  }
  std::size_t size = 0;
  for (const auto& o : batch_) size += o.data->size() + 10;
  out_.clear();
  out_.reserve(size + (send_close ? 16 : 0));
  std::uint64_t frames = 0;
  for (const auto& o : batch_) {
    ws::append_frame(out_, o.op, *o.data);
    if (o.op == ws::Opcode::text) ++frames;
  }
  batch_.clear();  // the shared frames are released as soon as they are copied
  endpoint_.stats_.frames_out.fetch_add(frames, std::memory_order_relaxed);
  if (send_close) {
    // A close echoing the client's carries its code; 1005 (none given) is answered empty.
    ws::append_frame(out_, ws::Opcode::close,
                     code == 0 ? std::string() : ws::close_payload(code));
    close_sent_ = true;
  }
  writing_ = true;
  asio::async_write(socket_, asio::buffer(out_),
                    [self = shared()](boost::system::error_code ec, std::size_t) {
                      self->on_written(ec);
                    });
}

void WsSession::on_written(boost::system::error_code ec) {
  writing_ = false;
  {
    std::lock_guard lock(mu_);
    in_flight_frames_ = 0;
    in_flight_bytes_ = 0;
  }
  if (ec) {
    abort();
    return;
  }
  if (close_sent_) {
    out_ = std::string();
    if (close_received_ || reader_.failure_code() != 0) {
      abort();  // the closing handshake is done (or the peer broke the protocol)
    } else {
      // The peer may be too slow to answer the close: give it a few seconds, then cut.
      timer_.expires_after(kCloseGrace);
      timer_.async_wait([self = shared()](boost::system::error_code tec) {
        if (!tec) self->abort();
      });
    }
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (inbox_.empty() && !closing_) {
      flush_pending_ = false;
      // An idle connection keeps no write buffer.
      if (out_.capacity() > 4096) out_ = std::string();
      if (batch_.capacity() > 16) batch_ = std::vector<Out>();
      return;
    }
  }
  flush();
}

void WsSession::start(std::string token) {
  auto self = shared();
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  last_rx_ns_ = now_ns();
  {
    std::lock_guard lock(endpoint_.mu_);
    endpoint_.sessions_[id()] = self;
  }
  endpoint_.stats_.websockets.fetch_add(1, std::memory_order_relaxed);
  arm_keepalive(endpoint_.options_.idle_timeout / 2);
  require_auth_within(endpoint_.options_.auth_timeout);
  if (!token.empty()) auth(hub::AuthRequest{std::move(token), {}}, json::value(nullptr));
  wait_readable();
}

void WsSession::wait_readable() {
  socket_.async_wait(tcp::socket::wait_read,
                     [self = shared()](boost::system::error_code ec) { self->on_readable(ec); });
}

void WsSession::on_readable(boost::system::error_code ec) {
  if (ec) {
    finish();
    return;
  }
  char* scratch = read_scratch();
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    const std::size_t n = socket_.read_some(asio::buffer(scratch, kReadPiece), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {  // end of stream or a reset: the peer is gone
      finish();
      return;
    }
    last_rx_ns_ = now_ns();
    ping_sent_ = false;
    // After a close frame or a protocol failure what the peer sends is discarded.
    if (reader_.closed() || reader_.failure_code() != 0) continue;
    if (!reader_.feed(std::span<char>(scratch, n), *this)) {
      endpoint_.stats_.bad_frames.fetch_add(1, std::memory_order_relaxed);
      spdlog::info("ws session {}: {}, closed {}", id(), reader_.failure_reason(),
                   reader_.failure_code());
      {
        std::lock_guard lock(mu_);
        inbox_.clear();
        inbox_bytes_ = 0;
        closing_ = false;  // the protocol failure's code wins over an earlier close
        begin_close(reader_.failure_code());
      }
      // Reading goes on (discarding) until the close is written and the socket closed.
    }
    if (n < kReadPiece) break;
  }
  if (!finished_) wait_readable();
}

void WsSession::on_message(std::string_view text, bool) {
  endpoint_.stats_.frames_in.fetch_add(1, std::memory_order_relaxed);
  json::value ref;
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
    auth(hub::AuthRequest{std::move(cmd.token), std::move(cmd.identity)}, decoded->ref);
    return;
  }
  submit(
      protocol::WireFormat::native, std::move(cmd),
      [self = shared(), ref = std::move(decoded->ref)](protocol::Reply r) {
        self->send_text(protocol::native::encode_reply(ref, r));
      });
}

void WsSession::on_oversized(std::uint64_t size) {
  endpoint_.stats_.frames_in.fetch_add(1, std::memory_order_relaxed);
  endpoint_.stats_.bad_frames.fetch_add(1, std::memory_order_relaxed);
  const std::size_t limit = endpoint_.options_.max_frame_bytes;
  spdlog::info("ws session {}: frame of {} bytes over the limit of {}, discarded", id(), size,
               limit);
  send_text(protocol::native::encode_error(
      json::value(nullptr), Errc::too_large,
      fmt::format("frame of {} bytes is over the limit of {} bytes", size, limit)));
}

void WsSession::on_ping(std::string_view payload) {
  push(ws::Opcode::pong, std::make_shared<const std::string>(payload));
}

void WsSession::on_close(std::uint16_t code, std::string_view) {
  close_received_ = true;
  if (close_sent_ && !writing_) {
    abort();  // it answers ours: the closing handshake is done
    return;
  }
  // Echo the close once what is queued has gone out (RFC 6455 §5.5.1); when ours is
  // queued or being written, on_written ends the connection.
  std::lock_guard lock(mu_);
  begin_close(code);
}

void WsSession::abort() {
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);  // the pending read completes with operation_aborted: finish()
}

void WsSession::finish() {
  if (finished_) return;
  finished_ = true;
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    inbox_.clear();
    inbox_bytes_ = 0;
  }
  boost::system::error_code ec;
  socket_.close(ec);
  timer_.cancel();
  end();
  endpoint_.forget(id());
  endpoint_.stats_.websockets.fetch_sub(1, std::memory_order_relaxed);
}

void WsSession::arm_keepalive(std::chrono::steady_clock::duration after) {
  timer_.expires_after(after);
  timer_.async_wait([weak = std::weak_ptr<WsSession>(shared())](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_keepalive();
  });
}

void WsSession::on_keepalive() {
  if (finished_ || close_sent_) return;
  // Like Beast's idle timeout with keep-alive pings: quiet for half the timeout, a ping;
  // quiet for the whole of it (the ping unanswered), the connection is dropped.
  const auto half = std::chrono::duration_cast<std::chrono::nanoseconds>(
      endpoint_.options_.idle_timeout / 2);
  const auto quiet = std::chrono::nanoseconds(now_ns() - last_rx_ns_);
  if (quiet < half) {
    arm_keepalive(half - quiet);
    return;
  }
  if (ping_sent_) {
    spdlog::info("ws session {}: idle for {} s, closed", id(),
                 endpoint_.options_.idle_timeout.count());
    abort();
    return;
  }
  ping_sent_ = true;
  push(ws::Opcode::ping, std::make_shared<const std::string>());
  arm_keepalive(half);
}

void WsSession::refuse(const json::value& ref, std::string_view why) {
  // The error goes out first, then the close (1008: policy violation).
  send_text(protocol::native::encode_error(ref, Errc::unauthenticated, why));
  close(ws::close_code::policy_error);
}

void WsSession::auth(hub::AuthRequest request, const json::value& ref) {
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
  auto session = std::make_shared<WsSession>(beast::get_lowest_layer(ws).release_socket(), *this,
                                             ctx.slot);
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
