// DESIGN
//
// A session is a small state machine on its strand. Outgoing packets go to `queue_` while
// the transport is polling (a GET takes them all, record-separated) and straight to the
// active WebSocket's queue once upgraded. A GET with nothing to take parks on `poll_wake_`
// (a timer used as an event: cancel() wakes it); the heartbeat guarantees it is answered
// within ping_interval at most, since a ping is queued then.
//
// The upgrade follows engine.io's server: a second connection arrives as a WebSocket with
// the sid; its "2probe" is answered "3probe", after which polls get a noop ("6") so the
// client's paused polling ends; its "5" makes it the transport, and whatever the polling
// queue held moves to it, in order. Nothing is sent over polling while the upgrade is in
// flight, so no packet can be lost or reordered between the two transports.
//
// Close: by the server (ping timeout, parse error, slow consumer, handler) a pending poll
// gets the queued packets and a close packet; by the client (a "1" packet) it gets a noop,
// as engine.io does. The sid leaves the table at once, so later requests get 400
// "Session ID unknown".

#include "net/engineio/engineio_socket.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <random>
#include <utility>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/log.hpp"

namespace parley::net::engineio {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

std::string random_id() {
  static constexpr std::string_view kChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  thread_local std::mt19937_64 rng = [] {
    std::random_device rd;  // getrandom(2) on Linux
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  std::string id(20, '\0');
  for (auto& c : id) c = kChars[rng() & 63];
  return id;
}

// --- SessionTable ----------------------------------------------------------------------

namespace {

void give_back_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace

SessionTable::Refusal SessionTable::insert(const std::shared_ptr<EioSocket>& socket,
                                           const std::string& address, std::size_t max_sessions,
                                           std::size_t max_per_address) {
  std::lock_guard lock(mu_);
  if (sessions_.size() >= max_sessions) return Refusal::full;
  auto& n = per_address_[address];
  if (max_per_address && n >= max_per_address) return Refusal::address_full;
  if (!sessions_.emplace(socket->sid(), Entry{socket, address}).second) {
    if (n == 0) per_address_.erase(address);
    return Refusal::full;  // a sid collision (2^120 ids): refuse rather than replace
  }
  ++n;
  peak_ = std::max(peak_, sessions_.size());
  return Refusal::none;
}

std::shared_ptr<EioSocket> SessionTable::find(std::string_view sid) const {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(sid);
  return it == sessions_.end() ? nullptr : it->second.socket;
}

void SessionTable::erase(const std::string& sid) {
  bool trim = false;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) return;
    if (auto a = per_address_.find(it->second.address);
        a != per_address_.end() && --a->second == 0) {
      per_address_.erase(a);
    }
    sessions_.erase(it);
    // After a burst, give the freed memory back to the system. glibc keeps freed chunks
    // of the arenas' heaps: after 100,000 handshakes RSS stayed at 388 MB (15 MB before)
    // with no session left. Trimming costs a walk over the free lists (a few ms at that
    // size), so it runs only when the table has shrunk to an eighth of a peak of over
    // 1,000 sessions, not on every close.
    if (peak_ > 1000 && sessions_.size() <= peak_ / 8) {
      peak_ = sessions_.size();
      trim = true;
    }
  }
  if (trim) give_back_memory();
}

std::size_t SessionTable::size() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

std::size_t SessionTable::sessions_of(const std::string& address) const {
  std::lock_guard lock(mu_);
  auto it = per_address_.find(address);
  return it == per_address_.end() ? 0 : it->second;
}

std::vector<std::shared_ptr<EioSocket>> SessionTable::all() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<EioSocket>> out;
  out.reserve(sessions_.size());
  for (const auto& [sid, e] : sessions_) out.push_back(e.socket);
  return out;
}

// --- EioSocket -------------------------------------------------------------------------

EioSocket::EioSocket(Strand strand, std::string sid, std::shared_ptr<const EngineIoOptions> options,
                     std::shared_ptr<SessionTable> table, NetStats* stats)
    : strand_(std::move(strand)),
      sid_(std::move(sid)),
      options_(std::move(options)),
      table_(std::move(table)),
      stats_(stats),
      ping_timer_(strand_) {}

EioSocket::~EioSocket() = default;

std::string EioSocket::handshake_packet(bool polling) const {
  boost::json::object o;
  o.emplace("sid", sid_);
  boost::json::array upgrades;
  if (polling) upgrades.emplace_back("websocket");
  o.emplace("upgrades", std::move(upgrades));
  o.emplace("pingInterval", options_->ping_interval.count());
  o.emplace("pingTimeout", options_->ping_timeout.count());
  o.emplace("maxPayload", options_->max_payload);
  return boost::json::serialize(o);
}

void EioSocket::open(std::unique_ptr<EioHandler> handler, Transport transport) {
  handler_ = std::move(handler);
  transport_ = transport;
  opened_ = true;
  if (stats_) stats_->engineio_sessions.fetch_add(1, std::memory_order_relaxed);
  send(eio::make_packet(eio::PacketType::open, handshake_packet(transport == Transport::polling)));
  schedule_ping();
  if (handler_) handler_->on_open(*this);
}

bool EioSocket::over_limit(std::size_t packets, std::size_t bytes,
                           const eio::OutPacket& next) const {
  return packets + 1 > options_->send_queue_packets ||
         bytes + next.size() > options_->send_queue_bytes;
}

void EioSocket::send(eio::OutPacket packet) {
  if (state_ != State::open) return;
  if (transport_ == Transport::websocket && ws_) {
    ws_push(*ws_, packet);  // over its limits the connection closes itself as slow
    return;
  }
  if (over_limit(queue_.size(), queued_bytes_, packet)) {
    close_slow();
    return;
  }
  queued_bytes_ += packet.size();
  queue_.push_back(std::move(packet));
  wake_poll();
}

void EioSocket::send_message(std::shared_ptr<const std::string> data, bool binary) {
  eio::OutPacket p;
  p.type = eio::PacketType::message;
  p.data = std::move(data);
  p.binary = binary;
  send(std::move(p));
}

void EioSocket::post_send(std::shared_ptr<const std::string> data) {
  asio::post(strand_, [self = shared_from_this(), data = std::move(data)]() mutable {
    self->send_message(std::move(data));
  });
}

void EioSocket::deliver(const hub::Frame& data) { deliver_batch(std::span<const hub::Frame>(&data, 1)); }

void EioSocket::deliver_batch(std::span<const hub::Frame> data) {
  std::shared_ptr<WsConnection> direct;
  {
    std::lock_guard lock(route_mu_);
    if (direct_ && posted_ == 0) {
      direct = direct_;
    } else {
      ++posted_;
    }
  }
  if (direct) {
    direct->push_batch(data, static_cast<char>(eio::PacketType::message));
    return;
  }
  asio::post(strand_, [self = shared_from_this(),
                       frames = std::vector<hub::Frame>(data.begin(), data.end())]() mutable {
    for (auto& f : frames) self->send_message(std::move(f));
    std::lock_guard lock(self->route_mu_);
    --self->posted_;
  });
}

bool EioSocket::deliver_lazy(const hub::Frame& data) {
  std::shared_ptr<WsConnection> direct;
  {
    std::lock_guard lock(route_mu_);
    if (direct_ && posted_ == 0) direct = direct_;
  }
  if (!direct) {
    deliver(data);
    return false;
  }
  return direct->push_lazy(data, static_cast<char>(eio::PacketType::message));
}

void EioSocket::end_lull() {
  std::shared_ptr<WsConnection> conn;
  {
    std::lock_guard lock(route_mu_);
    conn = last_direct_;
  }
  if (conn) conn->end_lull();
}

void EioSocket::hold_input(bool held) {
  std::shared_ptr<WsConnection> conn;
  {
    std::lock_guard lock(route_mu_);
    conn = direct_ ? direct_ : last_direct_;
  }
  if (conn) conn->hold_input(held);
}

void EioSocket::wake_delivery() {
  std::shared_ptr<WsConnection> conn;
  {
    std::lock_guard lock(route_mu_);
    conn = last_direct_;
  }
  if (conn) conn->wake();
}

void EioSocket::set_direct(std::shared_ptr<WsConnection> conn) {
  std::lock_guard lock(route_mu_);
  if (conn) last_direct_ = conn;
  direct_ = std::move(conn);
}

void EioSocket::set_scope_session(std::weak_ptr<hub::Session> session) {
  scope_session_ = session;
  if (ws_) ws_->set_scope_session(std::move(session));
}

void EioSocket::post_close(std::string reason) {
  asio::post(strand_,
             [self = shared_from_this(), reason = std::move(reason)] { self->close(reason); });
}

void EioSocket::close(std::string_view reason) { finish_close(reason, false); }

void EioSocket::close_slow() {
  // Polling only: a WebSocket applies its own rule (net/ws_connection.hpp).
  spdlog::info("engine.io {}: closed as slow ({} packets queued)", sid_, queue_.size());
  if (stats_) stats_->slow_closed.fetch_add(1, std::memory_order_relaxed);
  queue_ = {};
  queued_bytes_ = 0;
  finish_close("slow consumer", false);
}

void EioSocket::finish_close(std::string_view reason, bool by_client) {
  if (state_ == State::closed) return;
  state_ = State::closed;
  close_reply_ = by_client ? '6' : '1';
  ++ping_generation_;
  ping_timer_.cancel();
  if (upgrade_timer_) upgrade_timer_->cancel();
  table_->erase(sid_);
  if (opened_ && stats_) stats_->engineio_sessions.fetch_sub(1, std::memory_order_relaxed);
  set_direct(nullptr);
  wake_poll();
  // What is queued is still written, then the close frame.
  for (auto* conn : {&ws_, &probe_}) {
    if (*conn) (*conn)->close(ws::close_code::normal);
  }
  spdlog::debug("engine.io {}: closed ({})", sid_, reason);
  if (handler_) {
    handler_->on_close(*this, reason);
    // The handler may be on the call stack (it can close its own session): release it
    // later, from the strand's queue.
    asio::post(strand_, [h = std::move(handler_)] {});
  }
}

void EioSocket::schedule_ping() {
  const std::uint64_t generation = ++ping_generation_;
  awaiting_pong_ = false;
  // Absolute deadlines, so timer latency does not add up: the pong is due ping_interval +
  // ping_timeout after this point, as the client computes it.
  const auto start = std::chrono::steady_clock::now();
  pong_deadline_ = start + options_->ping_interval + options_->ping_timeout;
  ping_timer_.expires_at(start + options_->ping_interval);
  // The timer's executor is the strand (typed): its handlers run there without a
  // bind_executor. With one, on a type-erased strand, the pending wait was 288 bytes plus an
  // 88-byte copy of the strand; now 112 (heaptrack, 3,000 idle sessions).
  ping_timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
    if (ec || generation != self->ping_generation_ || self->state_ != State::open) return;
    self->awaiting_pong_ = true;
    self->send(eio::make_packet(eio::PacketType::ping));
    self->await_pong(generation);
  });
}

void EioSocket::await_pong(std::uint64_t generation) {
  ping_timer_.expires_at(pong_deadline_);
  ping_timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
    if (ec || generation != self->ping_generation_) return;
    if (self->ws_ && self->ws_->input_held()) {
      // The hub holds the client's input (its joins wait for a turn): the pong may be among
      // the bytes not read yet. Judged again a timeout after now.
      self->pong_deadline_ = std::chrono::steady_clock::now() + self->options_->ping_timeout;
      self->await_pong(generation);
      return;
    }
    self->finish_close("ping timeout", false);
  });
}

bool EioSocket::pong_overdue() {
  // The timeout handler may be queued behind this request on the strand: a request that
  // arrives after the deadline finds the session closed, as the client expects.
  if (state_ == State::open && awaiting_pong_ &&
      std::chrono::steady_clock::now() >= pong_deadline_) {
    finish_close("ping timeout", false);
  }
  return state_ != State::open;
}

void EioSocket::on_packet(eio::Packet packet, bool counted) {
  switch (packet.type) {
    case eio::PacketType::pong:
      if (awaiting_pong_) schedule_ping();
      return;
    case eio::PacketType::message:
      if (stats_ && !counted) stats_->frames_in.fetch_add(1, std::memory_order_relaxed);
      if (handler_) handler_->on_message(*this, std::move(packet.data), packet.binary);
      return;
    case eio::PacketType::close:
      finish_close("client close", true);
      return;
    case eio::PacketType::ping:  // v4 clients never ping (except the upgrade probe)
    case eio::PacketType::noop:
      return;
    case eio::PacketType::open:
    case eio::PacketType::upgrade:
      if (stats_) stats_->bad_frames.fetch_add(1, std::memory_order_relaxed);
      finish_close("parse error", false);
      return;
  }
}

void EioSocket::wake_poll() {
  if (poll_waiting_ && poll_wake_) poll_wake_->cancel();
}

std::string EioSocket::drain_queue() {
  std::vector<eio::OutPacket> packets = std::exchange(queue_, {});
  queued_bytes_ = 0;
  if (stats_) stats_->frames_out.fetch_add(packets.size(), std::memory_order_relaxed);
  std::string body;
  eio::append_payload(body, packets);
  return body;
}

namespace {

PollOutcome error_outcome(eio::ErrorCode code) {
  PollOutcome o;
  o.status = 400;
  o.error = code;
  o.body = eio::error_body(code);
  return o;
}

PollOutcome ok_outcome(std::string body) {
  PollOutcome o;
  o.body = std::move(body);
  return o;
}

}  // namespace

asio::awaitable<PollOutcome> EioSocket::open_polling(std::unique_ptr<EioHandler> handler) {
  open(std::move(handler), Transport::polling);
  co_return ok_outcome(drain_queue());
}

asio::awaitable<PollOutcome> EioSocket::poll() {
  auto self = shared_from_this();
  if (pong_overdue()) co_return error_outcome(eio::ErrorCode::unknown_sid);
  if (transport_ != Transport::polling) co_return error_outcome(eio::ErrorCode::bad_request);
  if (poll_waiting_) {
    // Two polls at once: the client is broken (or two clients share a sid).
    finish_close("overlapping polls", false);
    co_return error_outcome(eio::ErrorCode::bad_request);
  }
  if (upgrading_) co_return ok_outcome("6");
  if (queue_.empty()) {
    poll_waiting_ = true;
    if (!poll_wake_) poll_wake_ = std::make_unique<StrandTimer>(strand_);
    poll_wake_->expires_after(options_->ping_interval + options_->ping_timeout);
    co_await poll_wake_->async_wait(kNoThrow);
    poll_waiting_ = false;
  }
  if (state_ != State::open) {
    if (close_reply_ == '6') co_return ok_outcome("6");
    std::string body = drain_queue();
    if (!body.empty()) body += eio::kRecordSeparator;
    body += '1';
    co_return ok_outcome(std::move(body));
  }
  if (upgrading_ || transport_ != Transport::polling || queue_.empty()) co_return ok_outcome("6");
  co_return ok_outcome(drain_queue());
}

asio::awaitable<PollOutcome> EioSocket::post(std::string body) {
  auto self = shared_from_this();
  if (pong_overdue()) co_return error_outcome(eio::ErrorCode::unknown_sid);
  if (transport_ != Transport::polling) co_return error_outcome(eio::ErrorCode::bad_request);
  if (body.size() > options_->max_payload) {
    finish_close("payload too large", false);
    co_return error_outcome(eio::ErrorCode::bad_request);
  }
  auto packets = eio::decode_payload(body);
  if (!packets) {
    if (stats_) stats_->bad_frames.fetch_add(1, std::memory_order_relaxed);
    finish_close("parse error", false);
    co_return error_outcome(eio::ErrorCode::bad_request);
  }
  for (auto& p : *packets) {
    if (state_ != State::open) break;
    on_packet(std::move(p));
  }
  co_return ok_outcome("ok");
}

// --- WebSocket transport ---------------------------------------------------------------

namespace {
// Where a session made without stats (tests) has its connection count.
NetStats& unused_stats() {
  static NetStats stats;
  return stats;
}
}  // namespace

void EioSocket::ws_push(WsConnection& conn, const eio::OutPacket& packet) {
  static const hub::Frame kEmpty = std::make_shared<const std::string>();
  const hub::Frame& data = packet.data ? packet.data : kEmpty;
  if (packet.binary) {
    conn.push(ws::Opcode::binary, data);
  } else {
    conn.push(ws::Opcode::text, data, static_cast<char>(packet.type));
  }
}

void EioSocket::on_message(WsConnection& c, std::string_view data, bool binary) {
  if (state_ != State::open) return;
  if (probe_ && &c == probe_.get()) {
    auto conn = probe_;
    if (!binary && data == "2probe") {
      ws_push(*conn, eio::make_packet(eio::PacketType::pong, "probe"));
      upgrading_ = true;
      wake_poll();  // the client pauses polling: end its pending GET with a noop
      return;
    }
    if (!binary && data == "5" && upgrading_) {
      if (upgrade_timer_) upgrade_timer_->cancel();
      transport_ = Transport::websocket;
      ws_ = conn;
      probe_.reset();
      upgrading_ = false;
      for (auto& p : queue_) ws_push(*conn, p);
      queue_ = {};
      queued_bytes_ = 0;
      conn->set_scope_session(scope_session_);
      set_direct(conn);
      wake_poll();
      spdlog::debug("engine.io {}: upgraded to websocket", sid_);
      return;
    }
    // Anything else on a probing connection: drop the probe, polling goes on.
    probe_.reset();
    upgrading_ = false;
    conn->close(ws::close_code::normal);
    return;
  }
  if (!ws_ || &c != ws_.get()) return;
  if (binary) {
    on_packet(eio::decode_binary_frame(data), true);
    return;
  }
  auto packet = eio::decode_packet(data, false);
  if (!packet) {
    if (stats_) stats_->bad_frames.fetch_add(1, std::memory_order_relaxed);
    finish_close("parse error", false);
    return;
  }
  on_packet(std::move(*packet), true);  // the connection counted the frame
}

void EioSocket::on_oversized(WsConnection& c, std::uint64_t) {
  if (!ws_ || &c != ws_.get()) return;
  spdlog::info("engine.io {}: message over {} bytes", sid_, options_->max_payload);
  finish_close("payload too large", false);
}

void EioSocket::on_closed(WsConnection& c) {
  if (probe_ && &c == probe_.get()) {
    probe_.reset();
    upgrading_ = false;
    if (upgrade_timer_) upgrade_timer_->cancel();
    return;
  }
  if (ws_ && &c == ws_.get()) {
    if (c.closed_as_slow()) {
      finish_close("slow consumer", false);
    } else {
      finish_close("transport close", true);
    }
  }
}

asio::awaitable<void> EioSocket::run_websocket(WsSocket socket, Request request,
                                               std::unique_ptr<EioHandler> handler) {
  auto self = shared_from_this();
  // Beast does the opening handshake; the connection then owns the socket, as on /ws.
  using Stream = beast::basic_stream<asio::ip::tcp, Strand>;
  websocket::stream<Stream> ws(Stream(std::move(socket)));
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(10);
  timeouts.idle_timeout = websocket::stream_base::none();  // Engine.IO has its heartbeat
  timeouts.keep_alive_pings = false;
  ws.set_option(timeouts);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "parley"); }));

  auto [aec] = co_await ws.async_accept(request, kNoThrow);
  if (aec) {
    if (handler) finish_close("websocket handshake failed", false);
    co_return;
  }
  WsLimits limits;
  limits.max_message_bytes = options_->max_payload;
  limits.send_queue_frames = options_->send_queue_packets;
  limits.send_queue_bytes = options_->send_queue_bytes;
  limits.idle_timeout = std::chrono::steady_clock::duration::zero();  // the heartbeat's job
  auto conn = std::make_shared<WsConnection>(beast::get_lowest_layer(ws).release_socket(), limits,
                                             stats_ ? *stats_ : unused_stats(), "engine.io " + sid_);
  conn->start(self, scope_session_);

  if (handler) {
    ws_ = conn;
    set_direct(conn);
    open(std::move(handler), Transport::websocket);
  } else if (state_ == State::open && transport_ == Transport::polling && !probe_) {
    probe_ = conn;
    if (!upgrade_timer_) upgrade_timer_ = std::make_unique<StrandTimer>(strand_);
    upgrade_timer_->expires_after(options_->upgrade_timeout);
    upgrade_timer_->async_wait([self, conn](boost::system::error_code ec) {
      if (ec || self->probe_ != conn) return;
      self->probe_.reset();
      self->upgrading_ = false;
      conn->close(ws::close_code::normal);
    });
  } else {
    conn->close(ws::close_code::normal);  // not upgradable (any more): close it at once
  }
}

}  // namespace parley::net::engineio
