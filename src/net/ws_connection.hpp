// One WebSocket connection after Beast's opening handshake, for every endpoint that speaks
// WebSocket (/ws and Engine.IO's websocket transport): it owns the socket's bytes in both
// directions (net/ws_frame.hpp). Reads are taken when the socket is readable, into a buffer
// of the thread's, and parsed in place; everything queued for the client (messages, pongs,
// the close) is framed into one buffer and written with one write per batch; an idle
// connection holds no read or write buffer (a held one keeps the unparsed rest of its last
// read: hold_input). The slow-consumer rule, the close handshake's
// grace period and the keep-alive pings live here, once.
//
// What the messages mean is the Handler's business: the native session plugs in its JSON
// handler, Engine.IO its packet handler. Frames are shared (hub::Frame) and may carry a
// one-byte prefix written before them in the same frame (Engine.IO's packet type), so a
// room's frame is encoded once and never copied per member until it is written.
//
// Threads: the handler's calls and everything not marked thread-safe run on the socket's
// executor (a strand: the HTTP connection's, or the Engine.IO session's). push, push_batch,
// wake and close are thread-safe (room strands call them).
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hub/session.hpp"
#include "net/op_slot.hpp"
#include "net/stats.hpp"
#include "net/ws_frame.hpp"

namespace parley::net {

// The executor of every WebSocket connection: a strand of the server's io_context, by its own
// type. On an any_io_executor that holds a strand, Asio allocates a copy of the strand (88
// bytes) for the socket, each timer, and the work guard of every pending operation, write
// and post; typed, the strand is held inline. Over 3,000 idle Socket.IO connections such
// copies were 2.39 MB (83,247 allocations made), about 800 bytes a connection (heaptrack).
using WsStrand = boost::asio::strand<boost::asio::io_context::executor_type>;
using WsSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, WsStrand>;
using WsTimer =
    boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                      boost::asio::wait_traits<std::chrono::steady_clock>, WsStrand>;

// The strand `socket` runs on, when its executor is one (HttpServer accepts every
// connection onto a strand of its io_context).
std::optional<WsStrand> strand_of(boost::asio::ip::tcp::socket& socket);
// `socket`'s connection, moved onto `strand` (its descriptor re-registered there).
// Requires: nothing pending on `socket`. On failure `ec` is set.
WsSocket adopt_socket(boost::asio::ip::tcp::socket& socket, const WsStrand& strand,
                      boost::system::error_code& ec);

struct WsLimits {
  std::size_t max_message_bytes = 1024 * 1024;  // larger: on_oversized, discarded
  std::size_t send_queue_frames = 1024;         // queued behind a stalled write: slow
  std::size_t send_queue_bytes = 4 * 1024 * 1024;
  // A write in flight for this long is stalled (the socket is not taking it); frames queued
  // behind a younger write are a burst (a replayed spool), not a slow client. Bytes are
  // bounded whatever the write's age.
  std::chrono::steady_clock::duration send_stall = std::chrono::seconds(1);
  // A ping after half of it quiet; closed after all of it. Zero: no keep-alive (Engine.IO
  // has its own heartbeat).
  std::chrono::steady_clock::duration idle_timeout = std::chrono::seconds(120);
};

class WsConnection final : public std::enable_shared_from_this<WsConnection>,
                           private ws::FrameReader::Handler {
 public:
  class Handler {
   public:
    // A complete message of at most max_message_bytes.
    virtual void on_message(WsConnection& conn, std::string_view payload, bool binary) = 0;
    // A message over the limit (read to its end and discarded).
    virtual void on_oversized(WsConnection& conn, std::uint64_t size) = 0;
    // Reading ended (the peer left, the close handshake ended, a failure): once. The
    // connection drops its reference to the handler right after.
    virtual void on_closed(WsConnection& conn) = 0;

   protected:
    ~Handler() = default;
  };

  // `name`: how the log names it ("ws session 12", "engine.io <sid>").
  WsConnection(WsSocket socket, WsLimits limits, NetStats& stats, std::string name);

  // On the socket's executor, once: starts reading and the keep-alive. The connection holds
  // `handler` until on_closed. `scope_session`, when set, is the hub session whose
  // DeliveryScope defers this connection's writes (its wake() must call wake() here).
  void start(std::shared_ptr<Handler> handler, std::weak_ptr<hub::Session> scope_session = {});

  // --- Thread-safe ----------------------------------------------------------------------
  // Queues one frame: `prefix` (when not 0) and then `*frame` as one message. A text or
  // binary frame over the queue limits closes the connection as slow (1013) instead.
  void push(ws::Opcode op, const hub::Frame& frame, char prefix = 0);
  // Several text frames in order, under one lock.
  void push_batch(std::span<const hub::Frame> frames, char prefix = 0);
  // Queues a text frame like push but starts no write for it (hub/lull.hpp): true when the
  // caller must call end_lull() later (no write is pending or lulled already).
  bool push_lazy(const hub::Frame& frame, char prefix = 0);
  // Writes what push_lazy queued, unless a write already took it.
  void end_lull();
  // Closes with `code` after what is queued (the peer has a few seconds to answer).
  void close(std::uint16_t code);
  // Starts writing what a DeliveryScope deferred.
  void wake();
  // True once it was closed as a slow consumer.
  bool closed_as_slow() const;
  // Replaces the session whose DeliveryScope defers writes (see start).
  void set_scope_session(std::weak_ptr<hub::Session> session);
  // Holds (true) or releases (false) the client's input: while holds outnumber releases, no
  // further message is parsed (what was read stays as bytes, the rest in the kernel: TCP
  // pushes back) and the connection is not idle for the keep-alive. The hub holds a session
  // whose joins wait for a turn (hub::JoinGate): a storm's frames are then parsed as the
  // joins are let in, not all at once ahead of everyone else's (issue 14, item 4).
  void hold_input(bool held);
  // True while input is held (thread-safe; a heartbeat does not time out a held peer).
  bool input_held() const noexcept { return holds_.load(std::memory_order_relaxed) > 0; }

  // --- On the socket's executor ---------------------------------------------------------
  const WsStrand& executor() { return socket_.get_executor(); }
  // Closes the socket now; reading then ends (on_closed).
  void abort();
  bool finished() const noexcept { return finished_; }
  const std::string& name() const noexcept { return name_; }
  // How many of its pending waits (the socket's readiness, the keep-alive timer's) live in
  // the connection's own slots (see OpSlot); for tests.
  int waits_in_slots() const noexcept;

 private:
  // The waits' own sizes with Boost 1.81 (a reactive wait, a timer's wait, each of a
  // 24-byte handler, as OpSlot was asked for them): an idle connection's read wait and
  // keep-alive take 144 + 128 bytes here where Asio's recycled blocks took about 310 each
  // (op_slot.hpp). A larger wait still works, from the recycled blocks;
  // WsConnectionTest.AnIdleConnectionsWaitsLiveInItsSlots says when that happens.
  static constexpr std::size_t kReadWaitBytes = 144;
  static constexpr std::size_t kTimerWaitBytes = 128;

  struct Out {
    hub::Frame data;
    ws::Opcode op;
    char prefix;
  };

  // Requires mu_. `lazy`: starts no write (push_lazy).
  void push_locked(ws::Opcode op, const hub::Frame& frame, char prefix, bool lazy = false);
  void begin_close(std::uint16_t code);                                  // requires mu_
  void schedule_flush();                                                 // requires mu_
  void flush();
  void on_written(boost::system::error_code ec);

  void wait_readable();
  void on_readable(boost::system::error_code ec);
  // Parses `data` (a read, or the stash); returns the bytes taken (all unless held).
  std::size_t parse(std::span<char> data);
  // On the executor: reading goes on after the last release (stash first).
  void continue_reading();
  bool paused() const override { return input_held(); }
  void on_message(std::string_view payload, bool binary) override;
  void on_oversized(std::uint64_t size) override;
  void on_ping(std::string_view payload) override;
  void on_pong() override {}
  void on_close(std::uint16_t code, std::string_view reason) override;
  void finish();

  // The keep-alive timer and the memory of its wait, in one block.
  struct Timer {
    explicit Timer(const WsStrand& strand) : timer(strand) {}
    WsTimer timer;
    OpSlot<kTimerWaitBytes> slot;
  };
  Timer& timer();
  void arm_keepalive(std::chrono::steady_clock::duration after);
  void on_keepalive();

  WsSocket socket_;
  const WsLimits limits_;
  NetStats& stats_;
  const std::string name_;
  ws::FrameReader reader_;
  OpSlot<kReadWaitBytes> read_slot_;  // the socket's readiness wait (wait_readable)
  // Keep-alive pings, then the close grace period; made when first armed, so a connection
  // without keep-alive (Engine.IO has its heartbeat) holds no timer while it is open.
  std::unique_ptr<Timer> timer_;
  std::shared_ptr<Handler> handler_;  // until on_closed
  std::atomic<int> holds_{0};         // hold_input(true) minus releases, never below 0

  // Shared with delivering threads.
  mutable std::mutex mu_;
  std::weak_ptr<hub::Session> scope_session_;
  std::vector<Out> inbox_;
  std::size_t inbox_bytes_ = 0;
  std::size_t in_flight_frames_ = 0;  // in the write being sent (counted against the limits)
  std::size_t in_flight_bytes_ = 0;
  std::chrono::steady_clock::time_point write_started_;  // of the write in flight
  bool flush_pending_ = false;  // a flush is posted or a write is in flight
  bool lulled_ = false;         // push_lazy queued frames and asked for an end_lull()
  bool closing_ = false;        // nothing more is accepted; the close frame follows the queue
  bool slow_ = false;
  std::uint16_t close_code_ = ws::close_code::normal;

  // Socket's executor only.
  std::string out_;         // the bytes of the write in flight
  std::vector<Out> batch_;  // swapped with inbox_ by flush
  std::int64_t last_rx_ns_ = 0;
  std::string stash_;    // read while held, not parsed yet (empty unless stalled_)
  bool stalled_ = false;  // reading stopped for a hold: no readiness wait pending
  bool ping_sent_ = false;
  bool close_sent_ = false;
  bool writing_ = false;
  bool close_received_ = false;
  bool finished_ = false;
};

}  // namespace parley::net
