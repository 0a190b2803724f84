// Lull: writes that may wait a few milliseconds, gathered so each socket takes them in one
// write. Presence is the case: every join tells every member of the room, so a mass
// reconnect of a 75-member room is 75 x 74 / 2 = 2,775 presence frames, ~220,000 over the
// 80 rooms of a 300 x 20 join storm. Written as they come, each was its own sendmsg once the
// join gate kept the I/O queue short: server CPU 0.4 -> 1.6-1.9 s for that storm, 29 % of it
// in send (perf). A session given a lazy frame queues it without starting a write and is
// handed here; when the lull ends, it ends for all of them (one write each, with whatever
// else they queued). An eager frame queued behind a lazy one writes both at once, in order:
// a lull delays nothing but lazy frames.
//
// How long: `interval`, or longer when many sessions waited in the last one: each ending
// costs a write per session, so a lull lasts at least kPerSession (50 us) per session the
// last one ended, up to 10 x `interval`. At 2,000 x 50 every connection had presence in every
// 10 ms lull: 200,000 writes a second for as long as the storm lasted, and pacing the join
// gate made the storm last longer (73 s, 80 s of server CPU, against 36 s and 34 s with
// 100 ms lulls there). Presence is late by at most 10 x `interval`.
//
// Ending a lull starts writes: ending 2,000 at once put ~2,000 flushes (~20 ms of sends) in
// the I/O queue at once, ahead of any send that came in meanwhile. They end in slices of
// kSlice, each posted behind the work the one before it queued.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace parley::hub {

class Session;

class Lull : public std::enable_shared_from_this<Lull> {
 public:
  Lull(boost::asio::any_io_executor executor, std::chrono::milliseconds interval);

  // `session` queued a lazy frame and starts no write until its end_lull() is called,
  // within 10 x `interval` from now (see above). Thread-safe.
  void add(const std::shared_ptr<Session>& session);
  // Ends the lull of every session now and stops the timer (the hub is stopping).
  void stop();
  // The next lull's length (for tests).
  std::chrono::microseconds next_interval() const;

 private:
  void fire();
  void end_slice();  // on strand_: the next kSlice of firing_

  static constexpr std::size_t kSlice = 128;
  static constexpr std::chrono::microseconds kPerSession{50};

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  boost::asio::steady_timer timer_;  // on strand_
  const std::chrono::milliseconds interval_;
  std::atomic<std::int64_t> next_us_;  // the next lull's length (written on strand_)
  std::vector<std::weak_ptr<Session>> firing_;  // on strand_: ending, slice by slice
  std::size_t fired_ = 0;                       // of firing_, ended
  std::mutex mu_;  // guards the three below
  std::vector<std::weak_ptr<Session>> waiting_;
  bool armed_ = false;
  bool stopped_ = false;
};

}  // namespace parley::hub
