#include "core/client_rate_limiter.hpp"

#include <cmath>

namespace parley {

ClientRateLimiter::ClientRateLimiter(double rate_per_s, double burst, std::size_t max_clients)
    : rate_(rate_per_s), burst_(burst), max_clients_(max_clients) {}

void ClientRateLimiter::sweep(Clock::time_point now) {
  last_sweep_ = now;
  std::erase_if(buckets_, [now](const auto& kv) { return kv.second.full_at(now); });
}

long ClientRateLimiter::take(const std::string& key, Clock::time_point now) {
  if (!enabled()) return 0;
  std::lock_guard lock(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    // Forget refilled buckets now and then (at most once a second) and when the table is full.
    if (buckets_.size() >= max_clients_ || now - last_sweep_ >= std::chrono::seconds(1)) {
      sweep(now);
    }
    if (buckets_.size() >= max_clients_) return 0;
    it = buckets_.emplace(key, TokenBucket(rate_, burst_)).first;
    it->second.take(now);  // a fresh bucket is full: this always succeeds
    return 0;
  }
  if (it->second.take(now)) return 0;
  return std::max(1L, static_cast<long>(std::ceil(it->second.seconds_until_token())));
}

std::size_t ClientRateLimiter::clients() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

}  // namespace parley
