// A token bucket: `rate` tokens a second, at most `burst` saved up. One per client (the
// rate of events a connection may send) or per key (REST); not thread-safe. A rate of 0
// disables it.
#pragma once

#include <algorithm>
#include <chrono>

namespace parley {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket() = default;
  TokenBucket(double rate, double burst)
      : rate_(rate), burst_(std::max(burst, rate > 0 ? 1.0 : 0.0)), tokens_(burst_) {}

  bool enabled() const noexcept { return rate_ > 0; }
  // Seconds until take() can succeed again (0 when it can now), as of the last take().
  double seconds_until_token() const noexcept {
    return !enabled() || tokens_ >= 1.0 ? 0.0 : (1.0 - tokens_) / rate_;
  }
  // True when the bucket has refilled completely by `now` (nothing to remember about it).
  bool full_at(Clock::time_point now) const noexcept {
    return !enabled() ||
           tokens_ + std::chrono::duration<double>(now - last_).count() * rate_ >= burst_;
  }
  // Takes one token; false when the bucket is empty (the caller refuses the message).
  bool take(Clock::time_point now = Clock::now()) noexcept {
    if (!enabled()) return true;
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(burst_, tokens_ + std::max(0.0, elapsed) * rate_);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  double rate_ = 0;
  double burst_ = 0;
  double tokens_ = 0;
  Clock::time_point last_ = Clock::now();
};

}  // namespace parley
