// Token buckets per client (REST calls, Engine.IO handshakes, conversations created): one per
// key (a user id when the caller authenticated, else the peer address), shared by every
// connection and thread. A bucket that has refilled completely is forgotten, so memory
// follows the clients active within the last burst/rate seconds; past `max_clients` keys, new
// clients are let through unmetered rather than refused (a flood of distinct addresses is not
// this limit's job).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/token_bucket.hpp"

namespace parley {

class ClientRateLimiter {
 public:
  using Clock = TokenBucket::Clock;

  // rate 0: disabled (every call allowed).
  ClientRateLimiter(double rate_per_s, double burst, std::size_t max_clients = 100000);

  bool enabled() const noexcept { return rate_ > 0; }
  // Takes a token from `key`'s bucket: 0 when allowed, else the whole seconds (at least 1)
  // after which a call will be (for Retry-After).
  long take(const std::string& key, Clock::time_point now = Clock::now());
  std::size_t clients() const;

 private:
  void sweep(Clock::time_point now);  // mu_ held

  double rate_;
  double burst_;
  std::size_t max_clients_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, TokenBucket> buckets_;
  Clock::time_point last_sweep_{};
};

}  // namespace parley
