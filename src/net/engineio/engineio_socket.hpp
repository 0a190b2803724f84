// One Engine.IO v4 session ("socket" in Engine.IO's words; a *session* in Parley's): its sid,
// its transport (HTTP long-polling, or a WebSocket, possibly reached by the polling ->
// WebSocket upgrade), the bounded queue of packets waiting for the client, and the
// heartbeat that closes it when the client stops answering pings (which also reaps
// abandoned polling sessions).
//
// Threads: everything here runs on the session's own strand. HTTP requests of other
// connections reach it by co_spawn'ing onto strand() (see EngineIoEndpoint); room strands
// reach it through deliver() / post_send(). A WebSocket's socket is moved onto the strand
// and served by the same connection type as /ws (net/ws_connection.hpp: one write per
// batch, the slow-consumer rule): its reads, writes, timers and the session state share one
// strand. Once the WebSocket is the transport, deliver() pushes a room's frames straight
// into that connection from the room's strand (no post per frame), each frame written as
// '4' + the Socket.IO packet the room encoded once.
//
// Ownership: shared_ptr, held by the session table while open, by the coroutines working
// on it, and by whoever holds a pending request; its EioHandler (the layer above) is owned
// by it and released after on_close().
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hub/session.hpp"
#include "net/endpoint.hpp"
#include "net/engineio/engineio_options.hpp"
#include "net/stats.hpp"
#include "net/ws_connection.hpp"
#include "protocol/socketio/engineio_packet.hpp"

namespace parley::net::engineio {

namespace eio = protocol::engineio;
// A session's strand, and timers on it, by their types (net/ws_connection.hpp says why).
using Strand = WsStrand;
using StrandTimer = WsTimer;

class EioSocket;
class SessionTable;

// What the client presented when it opened the session, for the layers above.
struct HandshakeInfo {
  std::string remote_address;
  std::string token;  // ?token= or Authorization: Bearer
  std::string origin;
};

// The layer above Engine.IO (Socket.IO, or the echo server of the compliance mode).
// Every call comes on the session's strand.
class EioHandler {
 public:
  virtual ~EioHandler() = default;
  // The handshake is queued; the session is open.
  virtual void on_open(EioSocket& socket) = 0;
  // A message packet from the client.
  virtual void on_message(EioSocket& socket, std::string data, bool binary) = 0;
  // The session closed (once). The handler is released soon after.
  virtual void on_close(EioSocket& socket, std::string_view reason) = 0;
};

using HandlerFactory = std::function<std::unique_ptr<EioHandler>(const HandshakeInfo&)>;

// The outcome of a polling request, turned into an HTTP response by the endpoint.
struct PollOutcome {
  int status = 200;  // 200, or 400 with an Engine.IO error body
  std::string body;
  eio::ErrorCode error = eio::ErrorCode::bad_request;
};

class EioSocket final : public std::enable_shared_from_this<EioSocket>,
                        public WsConnection::Handler {
 public:
  enum class Transport : std::uint8_t { polling, websocket };

  EioSocket(Strand strand, std::string sid, std::shared_ptr<const EngineIoOptions> options,
            std::shared_ptr<SessionTable> table, NetStats* stats);
  ~EioSocket();
  EioSocket(const EioSocket&) = delete;
  EioSocket& operator=(const EioSocket&) = delete;

  const std::string& sid() const noexcept { return sid_; }
  const Strand& strand() const noexcept { return strand_; }

  // --- Requires: on strand() -------------------------------------------------------------
  bool is_open() const noexcept { return state_ == State::open; }
  // Queues a packet for the client (closes the session as slow when the queue is full).
  void send(eio::OutPacket packet);
  void send_message(std::shared_ptr<const std::string> data, bool binary = false);
  // Closes the session (server side): queued packets are still flushed to a WebSocket;
  // a pending poll is answered with a close packet.
  void close(std::string_view reason);

  // The hub session whose DeliveryScope defers this session's WebSocket writes (the
  // Socket.IO socket on it); its wake() must call wake_delivery().
  void set_scope_session(std::weak_ptr<hub::Session> session);

  // --- Thread-safe -----------------------------------------------------------------------
  // Posts send_message() to the strand.
  void post_send(std::shared_ptr<const std::string> data);
  // Message packets for the client, in order: straight into the WebSocket once it is the
  // transport, else posted to the strand (polling, or an upgrade in progress).
  void deliver(const hub::Frame& data);
  void deliver_batch(std::span<const hub::Frame> data);
  // hub::Session::deliver_lazy over the WebSocket (WsConnection::push_lazy); over polling
  // (or while the route is changing) delivered at once, false.
  bool deliver_lazy(const hub::Frame& data);
  void end_lull();
  // hub::Session::hold_input on the WebSocket that is the route (WsConnection::hold_input);
  // over polling nothing is held (a poll's packets are parsed as one body).
  void hold_input(bool held);
  // Starts the WebSocket's write that a DeliveryScope deferred.
  void wake_delivery();
  // Posts close() to the strand.
  void post_close(std::string reason);

  // --- Entry points for EngineIoEndpoint; each runs on strand() (co_spawn'ed there) -------
  // Opens the session over polling: the handshake body.
  boost::asio::awaitable<PollOutcome> open_polling(std::unique_ptr<EioHandler> handler);
  // A polling GET: waits until packets are queued (or a heartbeat is due), returns them.
  boost::asio::awaitable<PollOutcome> poll();
  // A polling POST: decodes and applies the body; "ok".
  boost::asio::awaitable<PollOutcome> post(std::string body);
  // Runs a WebSocket connection to completion: a new websocket-only session when `handler`
  // is set, else the upgrade of this polling session (a session that cannot be upgraded
  // any more gets the WebSocket closed at once, as engine.io does). `socket` is already on
  // strand().
  boost::asio::awaitable<void> run_websocket(WsSocket socket, Request request,
                                             std::unique_ptr<EioHandler> handler);

 private:
  enum class State : std::uint8_t { open, closed };

  std::string handshake_packet(bool polling) const;
  void open(std::unique_ptr<EioHandler> handler, Transport transport);
  // `counted`: the WebSocket connection already counted it in NetStats::frames_in.
  void on_packet(eio::Packet packet, bool counted = false);
  void schedule_ping();
  bool pong_overdue();
  void on_client_close();
  void finish_close(std::string_view reason, bool by_client);
  void close_slow();
  void wake_poll();
  std::string drain_queue();
  bool over_limit(std::size_t packets, std::size_t bytes, const eio::OutPacket& next) const;
  static void ws_push(WsConnection& conn, const eio::OutPacket& packet);
  void set_direct(std::shared_ptr<WsConnection> conn);  // the route of deliver()
  // WsConnection::Handler, on the strand.
  void on_message(WsConnection& conn, std::string_view data, bool binary) override;
  void on_oversized(WsConnection& conn, std::uint64_t size) override;
  void on_closed(WsConnection& conn) override;

  // Memory: an idle WebSocket session holds this object, its connection and the one
  // pending wait of each (the socket's readiness, the heartbeat). What only polling or an
  // upgrade needs (the GET's wake-up, the probe's deadline) is made when first used, and the
  // polling queue is a vector that holds nothing once drained: a std::deque allocated 576
  // bytes up front for every session (heaptrack, 3,000 idle websocket sessions).
  Strand strand_;
  const std::string sid_;
  std::shared_ptr<const EngineIoOptions> options_;
  std::shared_ptr<SessionTable> table_;
  NetStats* stats_;
  std::unique_ptr<EioHandler> handler_;

  State state_ = State::open;
  Transport transport_ = Transport::polling;
  bool opened_ = false;

  // Polling: packets waiting for the next GET.
  std::vector<eio::OutPacket> queue_;
  std::size_t queued_bytes_ = 0;
  bool poll_waiting_ = false;
  std::unique_ptr<StrandTimer> poll_wake_;  // made by the first GET that waits
  char close_reply_ = '6';  // what a poll pending at close receives: '1' server, '6' client

  // Heartbeat.
  void await_pong(std::uint64_t generation);  // until pong_deadline_
  StrandTimer ping_timer_;
  std::uint64_t ping_generation_ = 0;
  bool awaiting_pong_ = false;
  std::chrono::steady_clock::time_point pong_deadline_;

  // WebSocket: the active connection, and one being probed for an upgrade.
  std::shared_ptr<WsConnection> ws_;
  std::shared_ptr<WsConnection> probe_;
  std::weak_ptr<hub::Session> scope_session_;

  // deliver()'s route, shared with room strands. Frames go straight to `direct_` only when
  // no posted one is still on its way to the strand, so a room's frames stay in order
  // across the upgrade.
  std::mutex route_mu_;
  std::shared_ptr<WsConnection> direct_;
  std::shared_ptr<WsConnection> last_direct_;  // kept after close: wake_delivery's target
  std::size_t posted_ = 0;
  bool upgrading_ = false;  // probe answered, waiting for "5"
  std::unique_ptr<StrandTimer> upgrade_timer_;  // made by the first probe
};

// The sids of open sessions, and how many each peer address holds. Thread-safe.
class SessionTable {
 public:
  enum class Refusal : std::uint8_t { none, full, address_full };
  // Adds `socket`, opened from `address`, unless the table holds `max_sessions` or the
  // address `max_per_address` (0: no per-address limit) already.
  Refusal insert(const std::shared_ptr<EioSocket>& socket, const std::string& address,
                 std::size_t max_sessions, std::size_t max_per_address);
  std::shared_ptr<EioSocket> find(std::string_view sid) const;
  void erase(const std::string& sid);
  std::size_t size() const;
  std::size_t sessions_of(const std::string& address) const;
  std::vector<std::shared_ptr<EioSocket>> all() const;

 private:
  struct Entry {
    std::shared_ptr<EioSocket> socket;
    std::string address;
  };
  mutable std::mutex mu_;  // guards sessions_, per_address_, peak_
  // Keyed by a view of the session's own sid (alive while the entry holds the session), not
  // a second copy of it: 20 characters are past std::string's inline capacity, so a copy
  // cost a 32-byte allocation per session.
  std::unordered_map<std::string_view, Entry> sessions_;
  std::unordered_map<std::string, std::size_t> per_address_;
  // The most sessions open since memory was last given back (see erase()).
  std::size_t peak_ = 0;
};

// A new unguessable id (sid, Socket.IO socket id): 20 characters of base64url.
std::string random_id();

}  // namespace parley::net::engineio
