// Lull: writes that may wait a few milliseconds, gathered so each socket takes them in one
// write. Presence is the case: every join tells every member of the room, so a mass
// reconnect of a 75-member room is 75 x 74 / 2 = 2,775 presence frames, ~220,000 over the
// 80 rooms of a 300 x 20 join storm. Written as they come, each was its own sendmsg once the
// join gate kept the I/O queue short: server CPU 0.4 -> 1.6-1.9 s for that storm, 29 % of it
// in send (perf). A session given a lazy frame queues it without starting a write and is
// handed here; every `interval` the lull ends for all of them at once (one write each, with
// whatever else they queued). An eager frame queued behind a lazy one writes both at once,
// in order: a lull delays nothing but lazy frames, by at most `interval`.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

namespace parley::hub {

class Session;

class Lull : public std::enable_shared_from_this<Lull> {
 public:
  Lull(boost::asio::any_io_executor executor, std::chrono::milliseconds interval);

  // `session` queued a lazy frame and starts no write until its end_lull() is called,
  // within `interval` from now. Thread-safe.
  void add(const std::shared_ptr<Session>& session);
  // Ends the lull of every session now and stops the timer (the hub is stopping).
  void stop();

 private:
  void fire();

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  boost::asio::steady_timer timer_;  // on strand_
  const std::chrono::milliseconds interval_;
  std::mutex mu_;  // guards the three below
  std::vector<std::weak_ptr<Session>> waiting_;
  bool armed_ = false;
  bool stopped_ = false;
};

}  // namespace parley::hub
