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

class JoinGate : public std::enable_shared_from_this<JoinGate> {
 public:
  // Held by a join while it runs; destroying it frees the slot (the next join starts on
  // `executor`, never inside the destructor).
  using Ticket = std::shared_ptr<void>;
  using Start = std::function<void(Ticket)>;

  // max_in_flight 0: no limit (every join starts at once, as before the gate).
  JoinGate(boost::asio::any_io_executor executor, std::size_t max_in_flight,
           std::chrono::milliseconds max_hold = std::chrono::milliseconds(250));

  // Starts `start` now (on the calling thread) when a slot is free, else later on the
  // executor, after the joins queued before it by the same session and in its round-robin
  // turn among sessions. Thread-safe.
  void enter(std::uint64_t session, Start start);

  // Drops the joins `session` has queued (it disconnected); they never start. Thread-safe.
  void forget(std::uint64_t session);

  std::size_t in_flight() const;
  std::size_t queued() const;

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
  void arm_locked();  // requires mu_: the max_hold timer, while joins wait

  boost::asio::any_io_executor executor_;
  const std::size_t max_;
  const std::chrono::milliseconds max_hold_;
  mutable std::mutex mu_;  // guards everything below
  std::size_t in_flight_ = 0;
  std::size_t queued_ = 0;
  std::deque<std::shared_ptr<Slot>> slots_;  // in admission order; counted-out ones leave
  std::unordered_map<std::uint64_t, std::deque<Start>> waiting_;  // by session
  std::deque<std::uint64_t> turns_;  // sessions with queued joins, in round-robin order
  boost::asio::steady_timer timer_;
  bool armed_ = false;
};

}  // namespace parley::hub
