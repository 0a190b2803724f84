#include "hub/lull.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <vector>

#include "hub/session.hpp"

namespace parley::hub {
namespace {

class Counting final : public Session {
 public:
  void deliver(const Frame&) override {}
  void end_lull() override { ++ended; }
  int ended = 0;
};

// Ending a lull starts a write per session: 300 at once would queue 300 flushes ahead of
// anything posted meanwhile. They end in slices, each behind what the previous one queued;
// all of them end. The next lull is longer for so many (50 us each, between 1 and 10
// intervals).
TEST(Lull, ManySessionsEndInSlicesAndTheNextLullIsLonger) {
  boost::asio::io_context ioc;
  auto lull = std::make_shared<Lull>(ioc.get_executor(), std::chrono::milliseconds(2));
  std::vector<std::shared_ptr<Counting>> sessions;
  for (int i = 0; i < 300; ++i) {
    sessions.push_back(std::make_shared<Counting>());
    lull->add(sessions.back());
  }
  EXPECT_EQ(lull->next_interval(), std::chrono::milliseconds(2));
  // Run until the first slice ended: the others wait for handlers posted behind it.
  int ended = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (ended == 0 && std::chrono::steady_clock::now() < deadline) {
    ioc.run_one_for(std::chrono::milliseconds(10));
    ended = 0;
    for (const auto& s : sessions) ended += s->ended;
  }
  EXPECT_GT(ended, 0);
  EXPECT_LT(ended, 300);
  ioc.restart();
  ioc.poll();
  ended = 0;
  for (const auto& s : sessions) ended += s->ended;
  EXPECT_EQ(ended, 300);
  for (const auto& s : sessions) EXPECT_EQ(s->ended, 1);
  EXPECT_EQ(lull->next_interval(), std::chrono::microseconds(300 * 50));

  // Few sessions: back to the interval.
  lull->add(sessions[0]);
  ioc.restart();
  ioc.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(sessions[0]->ended, 2);
  EXPECT_EQ(lull->next_interval(), std::chrono::milliseconds(2));
}

}  // namespace
}  // namespace parley::hub
