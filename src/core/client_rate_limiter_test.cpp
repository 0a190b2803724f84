#include "core/client_rate_limiter.hpp"

#include <gtest/gtest.h>

namespace parley {
namespace {

using namespace std::chrono_literals;

TEST(ClientRateLimiter, BurstThenRateWithRetryAfter) {
  ClientRateLimiter limiter(2.0, 5.0);
  const auto t0 = ClientRateLimiter::Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter.take("u:ann", t0), 0) << i;
  EXPECT_EQ(limiter.take("u:ann", t0), 1);  // empty: a token every 0.5 s
  EXPECT_EQ(limiter.take("u:bob", t0), 0);  // another client has its own bucket
  EXPECT_EQ(limiter.take("u:ann", t0 + 600ms), 0);
  EXPECT_EQ(limiter.take("u:ann", t0 + 600ms), 1);
}

TEST(ClientRateLimiter, RetryAfterCoversTheWait) {
  ClientRateLimiter limiter(0.1, 1.0);  // a token every 10 s
  const auto t0 = ClientRateLimiter::Clock::now();
  EXPECT_EQ(limiter.take("ip:1.2.3.4", t0), 0);
  EXPECT_EQ(limiter.take("ip:1.2.3.4", t0), 10);
  EXPECT_EQ(limiter.take("ip:1.2.3.4", t0 + 4s), 6);
  EXPECT_EQ(limiter.take("ip:1.2.3.4", t0 + 11s), 0);
}

TEST(ClientRateLimiter, DisabledAllowsEverything) {
  ClientRateLimiter limiter(0, 0);
  EXPECT_FALSE(limiter.enabled());
  const auto t0 = ClientRateLimiter::Clock::now();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(limiter.take("x", t0), 0);
  EXPECT_EQ(limiter.clients(), 0u);
}

TEST(ClientRateLimiter, RefilledClientsAreForgotten) {
  ClientRateLimiter limiter(10.0, 10.0, 3);
  const auto t0 = ClientRateLimiter::Clock::now();
  for (const char* k : {"a", "b", "c"}) EXPECT_EQ(limiter.take(k, t0), 0);
  EXPECT_EQ(limiter.clients(), 3u);
  // Full table, nobody refilled yet: a new client passes unmetered, nothing is stored.
  EXPECT_EQ(limiter.take("d", t0), 0);
  EXPECT_EQ(limiter.clients(), 3u);
  // Two seconds on every bucket is full again: the sweep forgets them.
  EXPECT_EQ(limiter.take("e", t0 + 2s), 0);
  EXPECT_EQ(limiter.clients(), 1u);
}

}  // namespace
}  // namespace parley
