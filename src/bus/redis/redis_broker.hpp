// Broker over Redis pub/sub with hiredis' blocking API: one channel ("parley:events" by
// default) for every event. Two threads, two connections: the subscriber blocks in
// redisGetReply; the publisher drains a bounded queue with PUBLISH. Either reconnects with
// backoff (100 ms doubling to 5 s) when Redis goes away; a resubscription calls
// on_resubscribed. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "bus/broker.hpp"
#include "core/error.hpp"

namespace parley::bus::redis {

struct RedisConfig {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // AUTH when set
  std::string username;  // Redis 6 ACL user, with password
  int db = 0;            // unused by pub/sub (channels are server-wide), kept for URLs
  std::string channel = "parley:events";
};

// redis://[[user]:password@]host[:port][/db]; rediss:// (TLS) is refused.
[[nodiscard]] Result<RedisConfig> parse_redis_url(std::string_view url);

class RedisBroker final : public Broker {
 public:
  explicit RedisBroker(RedisConfig config, std::size_t max_queue = 65536);
  ~RedisBroker() override;

  void start(Handlers handlers) override;
  void publish(std::string payload) override;
  bool connected() const override { return sub_up_ && pub_up_; }
  void stop() override;

 private:
  struct Context;
  void run_subscriber();
  void run_publisher();
  std::unique_ptr<Context> connect(bool quiet);
  bool sleep_backoff(std::chrono::milliseconds& delay);  // false when stopping

  RedisConfig config_;
  std::size_t max_queue_;
  Handlers handlers_;

  std::mutex mu_;  // guards queue_, stop_, sub_fd_
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool stop_ = false;
  int sub_fd_ = -1;  // the subscriber's socket, shut down by stop() to unblock it

  std::atomic<bool> sub_up_{false}, pub_up_{false};
  std::atomic<std::uint64_t> dropped_{0};
  std::thread subscriber_, publisher_;
};

}  // namespace parley::bus::redis
