// The load generator's client: a pool of threads, one io_context each, and connections
// (callbacks rather than coroutines) that connect, authenticate in open mode, and then hand
// every frame to a Handler. A connection speaks one of three wires (Mode):
//   native              Beast websocket at /ws, {"op":"auth"}; frames are native JSON frames
//   socketio/websocket  Beast websocket at /socket.io/?EIO=4&transport=websocket
//   socketio/polling    Engine.IO HTTP long-polling: one keep-alive TCP connection holds the
//                       pending GET, another carries the POSTs (as socket.io-client does)
// With Socket.IO the connection answers Engine.IO pings itself and authenticates with the
// Socket.IO CONNECT's auth payload {userId, name}; what it sends and hands to the Handler are
// Socket.IO packets (the text an Engine.IO message packet carries after its '4'), framed and
// parsed with the server's own codecs (protocol/socketio/engineio_packet).
// A connection lives on one context: its handler, sends and timers run on that thread only.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace parley::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

class Pool {
 public:
  explicit Pool(std::size_t threads);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  std::size_t size() const noexcept { return contexts_.size(); }
  asio::io_context& context(std::size_t i) { return *contexts_[i % contexts_.size()]; }
  // Runs `fn` on thread i and waits for it (bounded by `timeout`); false on timeout.
  bool run_on(std::size_t i, std::function<void()> fn,
              std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Lets the threads finish what is queued, stops them and joins. Idempotent.
  void stop();

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

enum class Protocol { native, socketio };
enum class Transport { websocket, polling };
struct Mode {
  Protocol protocol = Protocol::native;
  Transport transport = Transport::websocket;  // socketio only
  // socketio only: the CONNECT names no user, so the socket is admitted unauthenticated and
  // does not follow user status (every authenticated Socket.IO socket gets `online-users`,
  // the whole list, on each user's connect: see the idle scenario in bench/README.md).
  bool anonymous = false;
};
// "native", "socketio-websocket", "socketio-polling": for labels and RESULT lines.
std::string mode_name(const Mode& mode);

class Conn;

class Handler {
 public:
  virtual ~Handler() = default;
  // A frame after authentication. Runs on the connection's thread.
  virtual void on_frame(Conn& conn, std::string_view frame) = 0;
  // The connection failed or was closed by the server (not by close()).
  virtual void on_lost(Conn& conn, const boost::system::error_code& ec);
};

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(Pool& pool, std::size_t index, Mode mode = {});
  ~Conn();

  // Connects to `server` (from `source` when set), opens the mode's session and
  // authenticates as `user`; `done(ok)` runs on the connection's thread when the server said ok, or failed,
  // or `timeout` passed. Callable from any thread.
  void open(const tcp::endpoint& server, std::optional<asio::ip::address> source, std::string user,
            Handler* handler, std::function<void(bool)> done,
            std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Queues a native frame, or a Socket.IO packet (wrapped in an Engine.IO message packet
  // here). Requires: on the connection's thread.
  void send(std::string text);
  // Closes the socket at once. Callable from any thread.
  void close();

  bool is_open() const noexcept { return open_; }
  std::size_t queued() const noexcept { return queue_.size(); }
  asio::io_context& context() noexcept { return ctx_; }
  std::size_t thread() const noexcept { return thread_; }
  std::size_t index() const noexcept { return index_; }
  const Mode& mode() const noexcept { return mode_; }

  void* data = nullptr;  // the scenario's per-connection state

 private:
  struct Polling;

  void fail(const boost::system::error_code& ec, const char* what);
  void read();
  void write();
  void authenticated();
  // Socket.IO: one Engine.IO packet received (a WebSocket text frame or a polling record).
  void on_engineio(std::string_view text, bool polling_record);
  // Queues an Engine.IO packet as it goes on the wire.
  void send_raw(std::string packet);
  void poll_handshake();
  void poll();
  void post();

  asio::io_context& ctx_;
  const std::size_t thread_;
  const std::size_t index_;
  const Mode mode_;
  websocket::stream<tcp::socket> ws_;
  std::unique_ptr<Polling> polling_;  // socketio/polling only
  asio::steady_timer deadline_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool open_ = false;
  bool authed_ = false;
  bool closed_by_us_ = false;
  Handler* handler_ = nullptr;
  std::function<void(bool)> done_;
  std::string host_;
  std::string user_;
};

using ConnPtr = std::shared_ptr<Conn>;

// Opens every connection of `conns` with `open(i)`, at most `parallel` at a time, and waits
// (up to `timeout`); returns how many failed (timeouts included).
std::size_t open_all(const std::vector<ConnPtr>& conns,
                     const std::function<void(std::size_t, std::function<void(bool)>)>& open,
                     std::size_t parallel, std::chrono::milliseconds timeout);

// Parses "127.0.0.1:8080" or a port number.
tcp::endpoint parse_server(const std::string& host, unsigned short port);

}  // namespace parley::bench
