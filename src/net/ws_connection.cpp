#include "net/ws_connection.hpp"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "core/log.hpp"

namespace parley::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

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
std::int64_t now_ns() { return std::chrono::steady_clock::now().time_since_epoch().count(); }
}  // namespace

std::optional<WsStrand> strand_of(tcp::socket& socket) {
  const auto executor = socket.get_executor();
  if (const auto* strand = executor.target<WsStrand>()) return *strand;
  return std::nullopt;
}

WsSocket adopt_socket(tcp::socket& socket, const WsStrand& strand, boost::system::error_code& ec) {
  WsSocket out(strand);
  const auto protocol = socket.local_endpoint(ec).protocol();
  if (ec) return out;
  const auto fd = socket.release(ec);
  if (ec) return out;
  out.assign(protocol, fd, ec);
  return out;
}

WsConnection::WsConnection(WsSocket socket, WsLimits limits, NetStats& stats, std::string name)
    : socket_(std::move(socket)),
      limits_(limits),
      stats_(stats),
      name_(std::move(name)),
      reader_(limits.max_message_bytes, hard_frame_cap(limits.max_message_bytes)) {}

WsConnection::Timer& WsConnection::timer() {
  if (!timer_) timer_ = std::make_unique<Timer>(socket_.get_executor());
  return *timer_;
}

int WsConnection::waits_in_slots() const noexcept {
  return (read_slot_.in_use() ? 1 : 0) + (timer_ && timer_->slot.in_use() ? 1 : 0);
}

void WsConnection::start(std::shared_ptr<Handler> handler, std::weak_ptr<hub::Session> scope_session) {
  handler_ = std::move(handler);
  set_scope_session(std::move(scope_session));
  // parley_websocket_sessions: every WebSocket, /ws's and Engine.IO's alike (issue 13).
  stats_.websockets.fetch_add(1, std::memory_order_relaxed);
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  last_rx_ns_ = now_ns();
  if (limits_.idle_timeout.count() > 0) arm_keepalive(limits_.idle_timeout / 2);
  wait_readable();
}

// --- writing ------------------------------------------------------------------------------

void WsConnection::push(ws::Opcode op, const hub::Frame& frame, char prefix) {
  std::lock_guard lock(mu_);
  push_locked(op, frame, prefix);
}

void WsConnection::push_batch(std::span<const hub::Frame> frames, char prefix) {
  std::lock_guard lock(mu_);
  for (const auto& frame : frames) push_locked(ws::Opcode::text, frame, prefix);
}

bool WsConnection::push_lazy(const hub::Frame& frame, char prefix) {
  std::lock_guard lock(mu_);
  if (closing_) return false;
  push_locked(ws::Opcode::text, frame, prefix, true);
  if (closing_) return false;  // closed as slow instead: the close is being written
  if (flush_pending_ || lulled_) return false;  // a write will take it, or a lull will end
  lulled_ = true;
  return true;
}

void WsConnection::end_lull() {
  std::lock_guard lock(mu_);
  lulled_ = false;
  if (inbox_.empty() && !closing_) return;  // an eager write took the lazy frames already
  schedule_flush();
}

void WsConnection::set_scope_session(std::weak_ptr<hub::Session> session) {
  std::lock_guard lock(mu_);
  scope_session_ = std::move(session);
}

bool WsConnection::closed_as_slow() const {
  std::lock_guard lock(mu_);
  return slow_;
}

void WsConnection::push_locked(ws::Opcode op, const hub::Frame& frame, char prefix, bool lazy) {
  if (closing_) return;
  const std::size_t size = frame->size() + (prefix ? 1 : 0);
  const bool data = op == ws::Opcode::text || op == ws::Opcode::binary;
  // Slow means the socket is not taking what was written: frames pile up behind a write
  // that has been in flight for send_stall. A burst queued while nothing is in flight, or
  // behind a write just started, is written as soon as that write completes and is not
  // slow: a replayed outage spool reaches a room's members as batches of 256 posted back to
  // back, faster than any write completes (issue 14: 3,436 replayed messages closed every
  // member of the room, each of them reading promptly). Bytes are bounded either way.
  if (data &&
      ((in_flight_frames_ > 0 && inbox_.size() + in_flight_frames_ >= limits_.send_queue_frames &&
        std::chrono::steady_clock::now() - write_started_ >= limits_.send_stall) ||
       inbox_bytes_ + in_flight_bytes_ + size > limits_.send_queue_bytes)) {
    // Slow consumer: drop what is queued and close, rather than grow without bound or stall
    // the room (centrifuge DisconnectSlow, redis client-output-buffer-limit).
    stats_.slow_closed.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("{}: closed as slow ({} frames, {} bytes queued)", name_,
                 inbox_.size() + in_flight_frames_, inbox_bytes_ + in_flight_bytes_);
    inbox_.clear();
    inbox_bytes_ = 0;
    slow_ = true;
    begin_close(ws::close_code::try_again_later);
    return;
  }
  inbox_bytes_ += size;
  inbox_.push_back(Out{frame, op, prefix});
  if (!lazy) schedule_flush();
}

void WsConnection::close(std::uint16_t code) {
  std::lock_guard lock(mu_);
  begin_close(code);
}

void WsConnection::begin_close(std::uint16_t code) {
  if (closing_) return;
  closing_ = true;
  close_code_ = code;
  schedule_flush();
}

void WsConnection::schedule_flush() {
  if (flush_pending_) return;
  flush_pending_ = true;
  // Inside a room's DeliveryScope the write starts at the scope's end (the session's wake()
  // calls ours), so a batch of commits reaches this socket in one write.
  if (auto session = scope_session_.lock(); session && hub::DeliveryScope::defer(std::move(session))) {
    return;
  }
  wake();
}

void WsConnection::wake() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->flush(); });
}

void WsConnection::flush() {
  if (finished_) return;
  bool send_close = false;
  std::uint16_t code = 0;
  {
    std::lock_guard lock(mu_);
    batch_.swap(inbox_);
    in_flight_frames_ = batch_.size();
    write_started_ = std::chrono::steady_clock::now();
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
  for (const auto& o : batch_) size += o.data->size() + 11;
  out_.clear();
  out_.reserve(size + (send_close ? 16 : 0));
  std::uint64_t frames = 0;
  for (const auto& o : batch_) {
    ws::append_frame(out_, o.op, o.prefix, *o.data);
    if (o.op == ws::Opcode::text || o.op == ws::Opcode::binary) ++frames;
  }
  batch_.clear();  // the shared frames are released as soon as they are copied
  stats_.frames_out.fetch_add(frames, std::memory_order_relaxed);
  if (send_close) {
    // A close echoing the client's carries its code; 1005 (none given) is answered empty.
    ws::append_frame(out_, ws::Opcode::close, code == 0 ? std::string() : ws::close_payload(code));
    close_sent_ = true;
  }
  writing_ = true;
  asio::async_write(socket_, asio::buffer(out_),
                    [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                      self->on_written(ec);
                    });
}

void WsConnection::on_written(boost::system::error_code ec) {
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
      auto& t = timer();
      t.timer.expires_after(kCloseGrace);
      t.timer.async_wait(asio::bind_allocator(
          OpAllocator<void, kTimerWaitBytes>(t.slot),
          [self = shared_from_this()](boost::system::error_code tec) {
            if (!tec) self->abort();
          }));
    }
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (inbox_.empty() && !closing_) {
      flush_pending_ = false;
      // Nothing more to write: the connection keeps no write buffer and no queue capacity.
      // Keeping small ones (under 4 KiB, 16 frames), as before, held about 270 bytes per idle
      // Engine.IO connection after its handshake (heaptrack, 3,000 connections); a busy
      // connection pays one allocation per write, next to its sendmsg.
      out_ = std::string();
      batch_ = std::vector<Out>();
      inbox_ = std::vector<Out>();
      return;
    }
  }
  flush();
}

// --- reading ------------------------------------------------------------------------------

void WsConnection::wait_readable() {
  socket_.async_wait(tcp::socket::wait_read,
                     asio::bind_allocator(OpAllocator<void, kReadWaitBytes>(read_slot_),
                                          [self = shared_from_this()](boost::system::error_code ec) {
                                            self->on_readable(ec);
                                          }));
}

void WsConnection::on_readable(boost::system::error_code ec) {
  if (ec) {
    finish();
    return;
  }
  char* scratch = read_scratch();
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    if (input_held()) {
      stalled_ = true;  // the socket keeps the rest; continue_reading picks it up
      return;
    }
    const std::size_t n = socket_.read_some(asio::buffer(scratch, kReadPiece), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {  // end of stream or a reset: the peer is gone
      finish();
      return;
    }
    last_rx_ns_ = now_ns();
    ping_sent_ = false;
    const std::size_t used = parse(std::span<char>(scratch, n));
    if (finished_) return;
    if (used < n) {
      stash_.assign(scratch + used, n - used);  // the scratch is the thread's, not ours
      stalled_ = true;
      return;
    }
    if (n < kReadPiece) break;
  }
  if (!finished_) wait_readable();
}

std::size_t WsConnection::parse(std::span<char> data) {
  // After a close frame or a protocol failure what the peer sends is discarded.
  if (reader_.closed() || reader_.failure_code() != 0) return data.size();
  std::size_t used = data.size();
  if (!reader_.feed(data, *this, &used)) {
    stats_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("{}: {}, closed {}", name_, reader_.failure_reason(), reader_.failure_code());
    {
      std::lock_guard lock(mu_);
      inbox_.clear();
      inbox_bytes_ = 0;
      closing_ = false;  // the protocol failure's code wins over an earlier close
      begin_close(reader_.failure_code());
    }
    // Reading goes on (discarding) until the close is written and the socket closed.
    return data.size();
  }
  return used;
}

void WsConnection::hold_input(bool held) {
  if (held) {
    holds_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  int h = holds_.load(std::memory_order_relaxed);
  while (h > 0 && !holds_.compare_exchange_weak(h, h - 1, std::memory_order_relaxed)) {
  }
  if (h == 1) {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->continue_reading(); });
  }
}

void WsConnection::continue_reading() {
  if (!stalled_ || finished_ || input_held()) return;
  stalled_ = false;
  if (!stash_.empty()) {
    std::string data = std::move(stash_);
    stash_ = std::string();
    const std::size_t used = parse(std::span<char>(data.data(), data.size()));
    if (finished_) return;
    if (used < data.size()) {
      stash_.assign(data, used);
      stalled_ = true;
      return;
    }
  }
  wait_readable();
}

void WsConnection::on_message(std::string_view payload, bool binary) {
  stats_.frames_in.fetch_add(1, std::memory_order_relaxed);
  if (handler_) handler_->on_message(*this, payload, binary);
}

void WsConnection::on_oversized(std::uint64_t size) {
  stats_.frames_in.fetch_add(1, std::memory_order_relaxed);
  stats_.bad_frames.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("{}: message of {} bytes over the limit of {}, discarded", name_, size,
               limits_.max_message_bytes);
  if (handler_) handler_->on_oversized(*this, size);
}

void WsConnection::on_ping(std::string_view payload) {
  push(ws::Opcode::pong, std::make_shared<const std::string>(payload));
}

void WsConnection::on_close(std::uint16_t code, std::string_view) {
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

void WsConnection::abort() {
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);  // the pending read completes with operation_aborted: finish()
}

void WsConnection::finish() {
  if (finished_) return;
  finished_ = true;
  stats_.websockets.fetch_sub(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    inbox_.clear();
    inbox_bytes_ = 0;
  }
  boost::system::error_code ec;
  socket_.close(ec);
  if (timer_) timer_->timer.cancel();
  if (auto handler = std::move(handler_)) handler->on_closed(*this);
}

// --- keep-alive ---------------------------------------------------------------------------

void WsConnection::arm_keepalive(std::chrono::steady_clock::duration after) {
  auto& t = timer();
  t.timer.expires_after(after);
  // The wait holds the connection (not a weak reference, as before its memory moved into the
  // connection's slot): the slot must outlive it. finish() cancels it, so a closed
  // connection is released as promptly as before.
  t.timer.async_wait(asio::bind_allocator(OpAllocator<void, kTimerWaitBytes>(t.slot),
                                          [self = shared_from_this()](boost::system::error_code ec) {
                                            if (!ec) self->on_keepalive();
                                          }));
}

void WsConnection::on_keepalive() {
  if (finished_ || close_sent_) return;
  // Like Beast's idle timeout with keep-alive pings: quiet for half the timeout, a ping;
  // quiet for the whole of it (the ping unanswered), the connection is dropped.
  const auto half = std::chrono::duration_cast<std::chrono::nanoseconds>(limits_.idle_timeout / 2);
  if (stalled_) last_rx_ns_ = now_ns();  // a held peer's bytes wait unread: not quiet
  const auto quiet = std::chrono::nanoseconds(now_ns() - last_rx_ns_);
  if (quiet < half) {
    arm_keepalive(half - quiet);
    return;
  }
  if (ping_sent_) {
    spdlog::info("{}: idle for {} s, closed", name_,
                 std::chrono::duration_cast<std::chrono::seconds>(limits_.idle_timeout).count());
    abort();
    return;
  }
  ping_sent_ = true;
  push(ws::Opcode::ping, std::make_shared<const std::string>());
  arm_keepalive(half);
}

}  // namespace parley::net
