#include "net/ws_connection.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace parley::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class Quiet final : public WsConnection::Handler {
 public:
  void on_message(WsConnection&, std::string_view, bool) override {}
  void on_oversized(WsConnection&, std::uint64_t) override {}
  void on_closed(WsConnection&) override {}
};

// A WsConnection on the server end of a loopback TCP pair; the test holds the client end.
// Nothing runs the io_context but the test, so it decides when a write starts and completes.
class WsConnectionTest : public ::testing::Test {
 protected:
  void open(WsLimits limits, std::size_t small_buffers = 0, bool keepalive = false) {
    tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client_.open(tcp::v4());
    if (small_buffers) {
      client_.set_option(asio::socket_base::receive_buffer_size(static_cast<int>(small_buffers)));
    }
    client_.connect(acceptor.local_endpoint());
    WsSocket server(asio::make_strand(ioc_));
    acceptor.accept(server);
    if (small_buffers) {
      server.set_option(asio::socket_base::send_buffer_size(static_cast<int>(small_buffers)));
    }
    if (!keepalive) limits.idle_timeout = {};  // no keep-alive timer
    conn_ = std::make_shared<WsConnection>(std::move(server), limits, stats_, "test");
    conn_->start(std::make_shared<Quiet>());
  }
  static hub::Frame frame(std::string text) {
    return std::make_shared<const std::string>(std::move(text));
  }
  // Runs the server's io_context while the client end reads; returns the bytes that arrived
  // within 5 s (stops at `n`). The bytes can reach the client before the write's completion
  // handler has run (it is posted once the sendmsg returns): the io_context is drained after
  // the stop so the connection has seen its write complete, as a test asserting on the next
  // push expects. CI's ASan run once stopped between the two (push_lazy saw the write still
  // pending).
  std::size_t read_client(std::size_t n) {
    std::thread runner([this] { ioc_.run_for(std::chrono::seconds(10)); });
    std::size_t got = 0;
    std::vector<char> buf(64 * 1024);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (got < n && std::chrono::steady_clock::now() < deadline) {
      if (client_.available() == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      const std::size_t n_read = client_.read_some(asio::buffer(buf));
      received_.append(buf.data(), n_read);
      got += n_read;
    }
    ioc_.stop();
    runner.join();
    ioc_.restart();
    ioc_.poll();
    return got;
  }

  NetStats stats_;  // outlives the handlers the io_context still holds
  asio::io_context ioc_;
  tcp::socket client_{ioc_};
  std::shared_ptr<WsConnection> conn_;
  std::string received_;  // every byte read_client read
};

// Issue 14: a replayed outage spool reaches a room's members as batches posted back to back,
// faster than a write completes; 3,436 of them closed every member as slow, each reading
// promptly. Frames behind a write that has just started are a burst, not a slow client.
TEST_F(WsConnectionTest, ABurstBehindAWriteJustStartedIsNotSlow) {
  WsLimits limits;  // 1024 frames, stalled after 1 s
  open(limits);
  conn_->push(ws::Opcode::text, frame("first"));
  ASSERT_EQ(ioc_.poll_one(), 1u);  // the flush: the write of "first" is in flight
  std::vector<hub::Frame> burst;
  for (int i = 0; i < 3000; ++i) burst.push_back(frame("m" + std::to_string(100000 + i)));
  for (std::size_t at = 0; at < burst.size(); at += 256) {
    const std::size_t n = std::min<std::size_t>(256, burst.size() - at);
    conn_->push_batch(std::span<const hub::Frame>(burst.data() + at, n));
  }
  EXPECT_FALSE(conn_->closed_as_slow());
  // Every frame reaches the client: 2 header bytes + "first", then 3000 x (2 + 7).
  EXPECT_EQ(read_client(7 + 3000 * 9), 7u + 3000 * 9);
  EXPECT_EQ(stats_.slow_closed.load(), 0u);
}

// The rule still closes a client whose socket is not taking what was written: a write that
// stays in flight past send_stall with send_queue_frames behind it.
TEST_F(WsConnectionTest, FramesBehindAStalledWriteCloseTheConnectionAsSlow) {
  WsLimits limits;
  limits.send_stall = std::chrono::milliseconds(50);
  open(limits, 4096);  // small kernel buffers, and the client reads nothing
  conn_->push(ws::Opcode::text, frame(std::string(1024 * 1024, 'x')));
  ASSERT_EQ(ioc_.poll_one(), 1u);  // the 1 MiB write starts and cannot complete
  ioc_.poll();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ioc_.poll();
  std::vector<hub::Frame> behind(1100, frame("late"));
  conn_->push_batch(behind);
  EXPECT_TRUE(conn_->closed_as_slow());
  EXPECT_EQ(stats_.slow_closed.load(), 1u);
}

// Issue 13: an idle connection's two pending waits (the socket's readiness, the keep-alive
// timer) live in the connection's own slots, not in Asio's recycled blocks (about 310 bytes
// each, where they need 144 and 128); they stay there as the waits are re-armed after a read
// and after a keep-alive ping. When the peer goes, the waits let the connection go.
TEST_F(WsConnectionTest, AnIdleConnectionsWaitsLiveInItsSlots) {
  WsLimits limits;
  limits.idle_timeout = std::chrono::milliseconds(200);  // a ping after 100 ms quiet
  open(limits, 0, /*keepalive=*/true);
  ioc_.poll();
  EXPECT_EQ(conn_->waits_in_slots(), 2);
  // A masked ping from the client: read, answered, the read wait re-armed.
  const unsigned char ping[] = {0x89, 0x80, 1, 2, 3, 4};
  asio::write(client_, asio::buffer(ping));
  for (int i = 0; i < 100 && stats_.frames_out.load() == 0 && client_.available() < 2; ++i) {
    ioc_.run_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(conn_->waits_in_slots(), 2);
  // The keep-alive fires (a ping to the client) and is re-armed.
  ioc_.run_for(std::chrono::milliseconds(150));
  EXPECT_GE(client_.available(), 4u);  // our pong's echo and the server's ping
  EXPECT_EQ(conn_->waits_in_slots(), 2);
  std::weak_ptr<WsConnection> weak = conn_;
  conn_.reset();
  client_.close();
  for (int i = 0; i < 100 && !weak.expired(); ++i) ioc_.run_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(weak.expired());
}

// A lazy frame (presence, hub/lull.hpp) starts no write: it waits for end_lull, or rides
// with the next eager frame, in order. Presence written as it came was one sendmsg per frame
// in a join storm (server CPU x4, issue 14).
TEST_F(WsConnectionTest, ALazyFrameWaitsForTheLullOrTheNextEagerFrame) {
  open(WsLimits{});
  EXPECT_TRUE(conn_->push_lazy(frame("p1")));
  EXPECT_FALSE(conn_->push_lazy(frame("p2")));  // the lull is asked for once
  EXPECT_EQ(ioc_.poll(), 0u);                   // nothing posted: no write
  conn_->end_lull();
  EXPECT_EQ(read_client(8), 8u);  // 2 x (2 header bytes + 2)
  EXPECT_EQ(received_, "\x81\x02p1\x81\x02p2");

  EXPECT_TRUE(conn_->push_lazy(frame("p3")));
  conn_->push(ws::Opcode::text, frame("message"));  // eager: writes both, in order
  EXPECT_EQ(read_client(4 + 9), 4u + 9);
  EXPECT_EQ(received_.substr(8), "\x81\x02p3\x81\x07message");
  conn_->end_lull();         // the lull ends with nothing left: no write
  EXPECT_EQ(ioc_.poll(), 0u);
}

// Records messages; holds the connection's input after the first, as the hub holds a
// session whose join waits for a turn (hub::JoinGate).
class HoldingRecorder final : public WsConnection::Handler {
 public:
  void on_message(WsConnection& conn, std::string_view payload, bool) override {
    messages.emplace_back(payload);
    if (messages.size() == 1) conn.hold_input(true);
  }
  void on_oversized(WsConnection&, std::uint64_t) override {}
  void on_closed(WsConnection&) override {}
  std::vector<std::string> messages;
};

// A client frame, masked with the key 0 (so the payload goes as it is).
std::string masked_text(std::string_view payload) {
  std::string out{'\x81', static_cast<char>(0x80 | payload.size()), 0, 0, 0, 0};
  return out.append(payload);
}

// Issue 14, item 4: a join storm's frames were all parsed at once (6,000 at 300 x 20, ~50 ms
// on one core) ahead of an unrelated client's send. Held, a connection parses nothing more
// (the rest of a read waits as bytes) until released, and then everything, in order.
TEST_F(WsConnectionTest, HeldInputIsParsedAfterTheReleaseInOrder) {
  tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  client_.connect(acceptor.local_endpoint());
  WsSocket server(asio::make_strand(ioc_));
  acceptor.accept(server);
  WsLimits limits;
  limits.idle_timeout = {};
  conn_ = std::make_shared<WsConnection>(std::move(server), limits, stats_, "test");
  auto recorder = std::make_shared<HoldingRecorder>();
  conn_->start(recorder);
  asio::write(client_, asio::buffer(masked_text("join") + masked_text("send") +
                                    masked_text("typing")));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (recorder->messages.empty() && std::chrono::steady_clock::now() < deadline) {
    ioc_.run_for(std::chrono::milliseconds(5));
    ioc_.restart();
  }
  ioc_.run_for(std::chrono::milliseconds(50));  // held: nothing more is parsed
  ioc_.restart();
  EXPECT_EQ(recorder->messages, (std::vector<std::string>{"join"}));
  EXPECT_TRUE(conn_->input_held());
  asio::write(client_, asio::buffer(masked_text("later")));  // waits in the socket
  ioc_.run_for(std::chrono::milliseconds(20));
  ioc_.restart();
  EXPECT_EQ(recorder->messages.size(), 1u);

  conn_->hold_input(false);
  while (recorder->messages.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    ioc_.run_for(std::chrono::milliseconds(5));
    ioc_.restart();
  }
  EXPECT_EQ(recorder->messages, (std::vector<std::string>{"join", "send", "typing", "later"}));
  EXPECT_FALSE(conn_->input_held());
  conn_->hold_input(false);  // a release without a hold holds nothing
  EXPECT_FALSE(conn_->input_held());
  conn_->abort();
  ioc_.run_for(std::chrono::milliseconds(20));
}

}  // namespace
}  // namespace parley::net
