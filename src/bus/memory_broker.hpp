// The reference bus: servers in one process (tests) share a MemoryBus, and each server's
// MemoryBroker publishes to every broker on it, itself included, as Redis pub/sub does
// (centrifuge's MemoryBroker plays the same part). Delivery runs on the broker's own thread,
// like the Redis subscriber's, in publication order. A test can cut the subscription
// (payloads published meanwhile are lost, as with Redis) and restore it (on_resubscribed).
// Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bus/broker.hpp"

namespace parley::bus {

class MemoryBroker;

class MemoryBus {
 public:
  void publish(const std::string& payload);

 private:
  friend class MemoryBroker;
  std::mutex mu_;  // guards brokers_
  std::vector<MemoryBroker*> brokers_;
};

class MemoryBroker final : public Broker {
 public:
  explicit MemoryBroker(std::shared_ptr<MemoryBus> bus);
  ~MemoryBroker() override;

  void start(Handlers handlers) override;
  void publish(std::string payload) override;
  bool connected() const override;
  void stop() override;

  // Tests: while cut, nothing published (by anyone) reaches this broker's handlers.
  void cut();
  // Ends a cut: on_resubscribed runs (the receiver catches up from the store).
  void restore();
  // Tests: the next `n` payloads for this broker are lost without a word (no resubscribe),
  // so the receiver meets a gap in a conversation's seqs.
  void drop_next(std::size_t n);

 private:
  friend class MemoryBus;
  void enqueue(const std::string& payload);
  void run();

  std::shared_ptr<MemoryBus> bus_;
  Handlers handlers_;
  mutable std::mutex mu_;  // guards queue_, cut_, drop_, resubscribed_, stop_
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool cut_ = false;
  std::size_t drop_ = 0;
  bool resubscribed_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace parley::bus
