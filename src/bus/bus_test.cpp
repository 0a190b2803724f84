#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "bus/event_codec.hpp"
#include "bus/redis/redis_broker.hpp"

namespace parley::bus {
namespace {

TEST(BusEvent, MessageRoundTrips) {
  protocol::Event e;
  e.type = protocol::EventType::message;
  e.conversation = "room";
  auto m = std::make_shared<StoredMessage>();
  m->id = "id1";
  m->conversation = "room";
  m->seq = 7;
  m->sender = {"u", "U", "user"};
  m->content = "hi \"there\"";
  m->meta = R"({"a":1})";
  m->created_at = 123;
  m->client_id = "c1";
  e.message = m;
  auto back = decode_bus_event(encode_bus_event("srv", e));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->origin, "srv");
  EXPECT_EQ(back->event.type, protocol::EventType::message);
  ASSERT_TRUE(back->event.message);
  EXPECT_EQ(*back->event.message, *m);
}

TEST(BusEvent, PresenceAndGarbage) {
  protocol::Event e;
  e.type = protocol::EventType::presence;
  e.user = {"u", "U", "", "user", std::nullopt};
  e.online = false;
  e.last_seen = 99;
  auto back = decode_bus_event(encode_bus_event("a", e));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->event.conversation.empty());
  EXPECT_FALSE(back->event.online);
  EXPECT_EQ(back->event.last_seen, 99);
  EXPECT_EQ(back->event.user.id, "u");
  EXPECT_FALSE(decode_bus_event("not json"));
  EXPECT_FALSE(decode_bus_event(R"({"type":"message"})"));
}

TEST(BusEvent, AChangedConversationRoundTrips) {
  auto back = decode_bus_event(encode_bus_change("srv", "room"));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->changed);
  EXPECT_EQ(back->origin, "srv");
  EXPECT_EQ(back->event.conversation, "room");
  EXPECT_FALSE(decode_bus_event(R"({"origin":"srv","type":"changed"})"));
  // An event is not a change.
  protocol::Event e;
  e.type = protocol::EventType::typing;
  e.conversation = "room";
  auto typing = decode_bus_event(encode_bus_event("srv", e));
  ASSERT_TRUE(typing);
  EXPECT_FALSE(typing->changed);
}

TEST(RedisUrl, Parses) {
  auto a = redis::parse_redis_url("redis://:secret@example.com:6380/2");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "example.com");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->password, "secret");
  EXPECT_EQ(a->db, 2);
  auto b = redis::parse_redis_url("redis://localhost");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->port, 6379);
  EXPECT_FALSE(redis::parse_redis_url("rediss://x"));
  EXPECT_FALSE(redis::parse_redis_url("redis://x:notaport"));
}

// Against a real redis-server started here (skipped if it is not installed): two brokers
// see each other's payloads, and a broker reconnects after Redis restarts.
class RedisServer {
 public:
  explicit RedisServer(int port) : port_(port) { start(); }
  ~RedisServer() { kill_it(); }
  void start() {
    pid_ = fork();
    if (pid_ == 0) {
      const std::string p = std::to_string(port_);
      execlp("redis-server", "redis-server", "--port", p.c_str(), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--loglevel", "warning", static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  void kill_it() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  int port_;
  pid_t pid_ = -1;
};

struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> got;
  int resubscribed = 0;
  bool wait_for(std::size_t n, std::chrono::milliseconds t = std::chrono::seconds(10)) {
    std::unique_lock l(mu);
    return cv.wait_for(l, t, [&] { return got.size() >= n; });
  }
};

Broker::Handlers handlers(Inbox& in) {
  Broker::Handlers h;
  h.on_message = [&in](std::string_view p) {
    std::lock_guard l(in.mu);
    in.got.emplace_back(p);
    in.cv.notify_all();
  };
  h.on_resubscribed = [&in] {
    std::lock_guard l(in.mu);
    ++in.resubscribed;
  };
  return h;
}

TEST(RedisBroker, PublishesAcrossBrokersAndReconnects) {
  if (!std::filesystem::exists("/usr/bin/redis-server")) GTEST_SKIP() << "no redis-server";
  const int port = 20000 + static_cast<int>(getpid() % 20000);
  auto redis = std::make_unique<RedisServer>(port);
  redis::RedisConfig cfg;
  cfg.port = port;
  cfg.channel = "parley:test";
  Inbox in_a, in_b;
  redis::RedisBroker a(cfg), b(cfg);
  a.start(handlers(in_a));
  b.start(handlers(in_b));
  // Wait until both subscriptions are up (a publish before that is not seen).
  for (int i = 0; i < 100; ++i) {
    b.publish("probe");
    if (in_a.wait_for(1, std::chrono::milliseconds(100))) break;
  }
  ASSERT_TRUE(in_a.wait_for(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // stray probes arrive
  std::size_t base = 0;
  {
    std::lock_guard l(in_b.mu);
    base = in_b.got.size();
  }
  a.publish("from a");
  ASSERT_TRUE(in_b.wait_for(base + 1));
  {
    std::lock_guard l(in_b.mu);
    EXPECT_EQ(in_b.got.back(), "from a");
  }

  redis->kill_it();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  redis->start();
  // Publishes while away are dropped; after the reconnect they flow again.
  std::size_t before = 0;
  {
    std::lock_guard l(in_b.mu);
    before = in_b.got.size();
  }
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    a.publish("after");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard l(in_b.mu);
    seen = in_b.got.size() > before;
  }
  EXPECT_TRUE(seen);
  std::lock_guard l(in_b.mu);
  EXPECT_GE(in_b.resubscribed, 1);
}

}  // namespace
}  // namespace parley::bus
