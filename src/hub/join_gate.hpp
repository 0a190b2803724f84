// JoinGate: how many joins the hub works on at once, and whose go next.
//
// A join is a chain of steps (the room's load, the read seq, the history page, the presence
// fan-out), each posted to the back of the I/O threads' one FIFO queue. A mass reconnect
// queues every step of every join at once: 300 clients joining 20 rooms each put ~100-300 ms
// of work ahead of anything posted after them, so an unrelated client's send waited that
// long for its ack (join-storm canary p99 ~300-500 ms on 2 cores, issue 14 item 4), though
// its commit took a few ms. The gate keeps at most `max_in_flight` joins between their first
// step and their last, so the queue ahead of a send holds a few joins' work, not the storm's;
// the others wait here, where they cost a queue entry and no CPU. Slots are handed round
// robin over sessions (FIFO within one), so one client's 50 joins do not hold back another
// client's one.
//
// A join that holds its slot longer than `max_hold` is waiting on something slow (a hung
// database: reads wait for their statement deadline, 5 s by default), not using CPU: its slot
// is counted out and the next join starts, so joins a room can answer from memory are not
// held behind those for the deadline.
//
// A fixed limit is either too many or too few: 64 joins' steps still put ~10-20 ms of work
// ahead of a send on 2 busy cores (join-storm 300 x 20, server on one core: canary ack p50
// 13 ms, p99 44), and 8 (p50 4-5 ms, p99 21) slows a storm on a machine with cores to
// spare. So with a lag target the gate paces itself on what the queue costs everyone: while
// joins wait it ticks every `probe` on the executor; a tick that runs more than
// `lag_target` late (the time a send's first step would have waited behind queued work)
// halves the number of joins let in at once, down to one, and each tick on time lets one
// more in, up to `max_in_flight` (AIMD, as TCP paces a sender on its round trips).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace parley::hub {

struct JoinPacing {
  std::chrono::microseconds lag_target{0};  // 0: a fixed limit of max_in_flight
  std::chrono::microseconds probe{1000};
};

class JoinGate : public std::enable_shared_from_this<JoinGate> {
 public:
  // Held by a join while it runs; destroying it frees the slot (the next join starts on
  // `executor`, never inside the destructor).
  using Ticket = std::shared_ptr<void>;
  using Start = std::function<void(Ticket)>;
  // Told true when a session's joins start waiting, false when none waits any more (let in
  // or forgotten): once each, in order, under the gate's lock (it must not call the gate).
  // The hub holds the session's input meanwhile (Session::hold_input): the frames behind a
  // waiting join are parsed when it is let in, so a storm's 6,000 join frames are not all
  // parsed at once ahead of everyone's sends (~50 ms of work on one core at 300 x 20).
  using Hold = std::function<void(bool waiting)>;

  using Pacing = JoinPacing;

  // max_in_flight 0: no limit (every join starts at once, as before the gate).
  JoinGate(boost::asio::any_io_executor executor, std::size_t max_in_flight,
           std::chrono::milliseconds max_hold = std::chrono::milliseconds(250),
           Pacing pacing = {});

  // Starts `start` now (on the calling thread) when a slot is free, else later on the
  // executor, after the joins queued before it by the same session and in its round-robin
  // turn among sessions. `hold`: see Hold (the first one given while the session's joins
  // wait is the one told). Thread-safe.
  void enter(std::uint64_t session, Start start, Hold hold = {});

  // Drops the joins `session` has queued (it disconnected); they never start. Thread-safe.
  void forget(std::uint64_t session);

  std::size_t in_flight() const;
  std::size_t queued() const;
  std::size_t limit() const;  // joins let in at once now (max_in_flight unless paced down)

 private:
  struct Slot {
    std::atomic<bool> counted_out{false};  // released, or held past max_hold
    std::chrono::steady_clock::time_point since;
  };

  Ticket ticket(std::shared_ptr<Slot> slot);
  void release();
  // Requires mu_: counts out slots held past max_hold; then takes the next waiting joins
  // while slots are free (into `start`, to be posted outside the lock).
  void admit_locked(std::vector<std::pair<Start, std::shared_ptr<Slot>>>& start);
  void post(std::vector<std::pair<Start, std::shared_ptr<Slot>>> start);
  // Requires mu_: the timer, while joins wait (or, paced, while the limit is below max):
  // every `probe` when paced, else after max_hold.
  void arm_locked();
  void tick(std::chrono::steady_clock::time_point due);

  boost::asio::any_io_executor executor_;
  const std::size_t max_;
  const std::chrono::milliseconds max_hold_;
  const Pacing pacing_;
  mutable std::mutex mu_;  // guards everything below
  std::size_t limit_;  // == max_ unless paced down
  std::size_t in_flight_ = 0;
  std::size_t queued_ = 0;
  std::deque<std::shared_ptr<Slot>> slots_;  // in admission order; counted-out ones leave
  struct Waiting {
    std::deque<Start> joins;
    Hold hold;
    bool told = false;  // hold(true) was called
  };
  // Requires mu_: a session's joins no longer wait; tells its hold.
  void done_waiting_locked(Waiting& w);
  std::unordered_map<std::uint64_t, Waiting> waiting_;  // by session
  std::deque<std::uint64_t> turns_;  // sessions with queued joins, in round-robin order
  boost::asio::steady_timer timer_;
  bool armed_ = false;
};

}  // namespace parley::hub
