#include "hub/join_gate.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <string>
#include <vector>

namespace parley::hub {
namespace {

// Joins past the limit wait; as slots free they start in turns over sessions, so one
// session's many joins do not hold back another session's one (issue 14, item 4: a mass
// reconnect queued every join's work ahead of other clients' sends).
TEST(JoinGate, JoinsPastTheLimitStartInTurnsOverSessions) {
  boost::asio::io_context ioc;
  auto gate = std::make_shared<JoinGate>(ioc.get_executor(), 2, std::chrono::hours(1));
  std::vector<std::string> started;
  std::vector<JoinGate::Ticket> held;
  auto join = [&](std::uint64_t session, std::string name) {
    gate->enter(session, [&, name](JoinGate::Ticket t) {
      started.push_back(name);
      held.push_back(std::move(t));
    });
  };
  join(1, "a1");
  join(1, "a2");
  join(1, "a3");
  join(1, "a4");
  join(1, "a5");
  join(2, "b1");
  EXPECT_EQ(started, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(gate->in_flight(), 2u);
  EXPECT_EQ(gate->queued(), 4u);

  // Each finished join lets the next one in, on the executor.
  auto finish_first = [&] {
    held.erase(held.begin());
    ioc.poll();
    ioc.restart();
  };
  finish_first();
  finish_first();
  finish_first();
  finish_first();
  EXPECT_EQ(started, (std::vector<std::string>{"a1", "a2", "a3", "b1", "a4", "a5"}));
  EXPECT_EQ(gate->queued(), 0u);
  held.clear();
  ioc.poll();
  EXPECT_EQ(gate->in_flight(), 0u);
}

// A session that disconnects takes its waiting joins with it; the others still start.
TEST(JoinGate, ADisconnectedSessionsWaitingJoinsNeverStart) {
  boost::asio::io_context ioc;
  auto gate = std::make_shared<JoinGate>(ioc.get_executor(), 1, std::chrono::hours(1));
  std::vector<std::string> started;
  std::vector<JoinGate::Ticket> held;
  for (auto [session, name] : {std::pair<std::uint64_t, const char*>{1, "a1"}, {1, "a2"},
                               {2, "b1"}, {1, "a3"}}) {
    gate->enter(session, [&, name = std::string(name)](JoinGate::Ticket t) {
      started.push_back(name);
      held.push_back(std::move(t));
    });
  }
  gate->forget(1);
  EXPECT_EQ(gate->queued(), 1u);
  held.clear();
  ioc.poll();
  EXPECT_EQ(started, (std::vector<std::string>{"a1", "b1"}));
}

// A join that holds its slot past max_hold is waiting on something slow (a hung database),
// not using CPU: the next join starts; its late release does not free a second slot.
TEST(JoinGate, ASlotHeldPastMaxHoldLetsTheNextJoinIn) {
  boost::asio::io_context ioc;
  auto gate = std::make_shared<JoinGate>(ioc.get_executor(), 1, std::chrono::milliseconds(50));
  std::vector<std::string> started;
  std::vector<JoinGate::Ticket> held;
  for (auto [session, name] : {std::pair<std::uint64_t, const char*>{1, "stuck"}, {2, "b1"},
                               {3, "c1"}}) {
    gate->enter(session, [&, name = std::string(name)](JoinGate::Ticket t) {
      started.push_back(name);
      held.push_back(std::move(t));
    });
  }
  EXPECT_EQ(started, (std::vector<std::string>{"stuck"}));
  ioc.run_for(std::chrono::milliseconds(80));  // the timer: "stuck" is counted out
  ioc.restart();
  EXPECT_EQ(started, (std::vector<std::string>{"stuck", "b1"}));
  EXPECT_EQ(gate->in_flight(), 1u);
  held.erase(held.begin());  // "stuck" finishes at last: no slot of its own to give back
  ioc.poll();
  ioc.restart();
  EXPECT_EQ(gate->in_flight(), 1u);
  EXPECT_EQ(started, (std::vector<std::string>{"stuck", "b1"}));
  held.clear();  // b1 finishes: c1 starts
  ioc.poll();
  EXPECT_EQ(started, (std::vector<std::string>{"stuck", "b1", "c1"}));
}

// 0: no limit, every join starts at once.
TEST(JoinGate, ZeroMeansNoLimit) {
  boost::asio::io_context ioc;
  auto gate = std::make_shared<JoinGate>(ioc.get_executor(), 0);
  std::vector<JoinGate::Ticket> held;
  for (int i = 0; i < 1000; ++i) gate->enter(1, [&](JoinGate::Ticket t) { held.push_back(t); });
  EXPECT_EQ(held.size(), 1000u);
  EXPECT_EQ(gate->queued(), 0u);
}

}  // namespace
}  // namespace parley::hub
