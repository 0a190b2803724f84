#include "hub/join_gate.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <utility>
#include <vector>

namespace parley::hub {

JoinGate::JoinGate(boost::asio::any_io_executor executor, std::size_t max_in_flight,
                   std::chrono::milliseconds max_hold, Pacing pacing)
    : executor_(std::move(executor)),
      max_(max_in_flight),
      max_hold_(max_hold),
      pacing_(pacing),
      limit_(max_in_flight),
      timer_(executor_) {}

JoinGate::Ticket JoinGate::ticket(std::shared_ptr<Slot> slot) {
  // The slot was counted under mu_; the ticket gives it back, unless it was counted out.
  std::weak_ptr<JoinGate> gate = weak_from_this();
  return Ticket(static_cast<void*>(nullptr), [gate, slot = std::move(slot)](void*) {
    if (slot->counted_out.exchange(true)) return;
    if (auto g = gate.lock()) g->release();
  });
}

void JoinGate::enter(std::uint64_t session, Start start, Hold hold) {
  if (max_ == 0) {
    start(nullptr);
    return;
  }
  std::vector<std::pair<Start, std::shared_ptr<Slot>>> later;
  std::shared_ptr<Slot> now;
  {
    std::lock_guard lock(mu_);
    auto& mine = waiting_[session];
    if (mine.joins.empty()) {
      turns_.push_back(session);
      mine.hold = std::move(hold);
    }
    mine.joins.push_back(std::move(start));
    ++queued_;
    admit_locked(later);
    // When this session's join was let in at once (nothing waited before it), run it here,
    // as without a gate; anything else admitted goes through the executor.
    auto it = waiting_.find(session);
    if (!later.empty() && it == waiting_.end() && later.size() == 1) {
      now = later.front().second;
      start = std::move(later.front().first);
      later.clear();
    } else if (it != waiting_.end() && !it->second.told && it->second.hold) {
      it->second.told = true;
      it->second.hold(true);
    }
    if (queued_ > 0) arm_locked();
  }
  if (now) start(ticket(std::move(now)));
  post(std::move(later));
}

void JoinGate::done_waiting_locked(Waiting& w) {
  if (w.told) w.hold(false);
}

void JoinGate::admit_locked(std::vector<std::pair<Start, std::shared_ptr<Slot>>>& start) {
  const auto now = std::chrono::steady_clock::now();
  while (!slots_.empty()) {
    auto& front = slots_.front();
    if (front->counted_out.load()) {
      slots_.pop_front();  // released already
    } else if (now - front->since >= max_hold_) {
      if (!front->counted_out.exchange(true)) --in_flight_;  // waiting on something slow
      slots_.pop_front();
    } else {
      break;
    }
  }
  while (in_flight_ < limit_ && !turns_.empty()) {
    const std::uint64_t session = turns_.front();
    turns_.pop_front();
    auto it = waiting_.find(session);
    Start next = std::move(it->second.joins.front());
    it->second.joins.pop_front();
    if (it->second.joins.empty()) {
      done_waiting_locked(it->second);
      waiting_.erase(it);
    } else {
      turns_.push_back(session);  // its next join waits for the other sessions' turns
    }
    --queued_;
    ++in_flight_;
    auto slot = std::make_shared<Slot>();
    slot->since = now;
    slots_.push_back(slot);
    start.emplace_back(std::move(next), std::move(slot));
  }
}

void JoinGate::post(std::vector<std::pair<Start, std::shared_ptr<Slot>>> start) {
  // Never inside the releasing join's last step (a room's strand, a storage callback).
  for (auto& [next, slot] : start) {
    boost::asio::post(executor_, [next = std::move(next), t = ticket(std::move(slot))]() mutable {
      next(std::move(t));
    });
  }
}

void JoinGate::arm_locked() {
  if (armed_) return;
  armed_ = true;
  const bool paced = pacing_.lag_target.count() > 0;
  const auto due = std::chrono::steady_clock::now() +
                   (paced ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                pacing_.probe)
                          : std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                max_hold_));
  timer_.expires_at(due);
  timer_.async_wait([weak = weak_from_this(), due](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->tick(due);
  });
}

void JoinGate::tick(std::chrono::steady_clock::time_point due) {
  std::vector<std::pair<Start, std::shared_ptr<Slot>>> start;
  {
    std::lock_guard lock(mu_);
    armed_ = false;
    const bool paced = pacing_.lag_target.count() > 0;
    if (paced) {
      // How long this tick waited behind the queue: what a send's first step waits now.
      const auto late = std::chrono::steady_clock::now() - due;
      if (late > pacing_.lag_target) {
        limit_ = std::max<std::size_t>(1, limit_ / 2);
      } else if (limit_ < max_) {
        ++limit_;
      }
    }
    admit_locked(start);
    if (queued_ > 0 || (paced && limit_ < max_)) arm_locked();
  }
  post(std::move(start));
}

void JoinGate::forget(std::uint64_t session) {
  std::deque<Start> dropped;  // destroyed outside the lock (their captures may be sessions)
  std::lock_guard lock(mu_);
  auto it = waiting_.find(session);
  if (it == waiting_.end()) return;
  queued_ -= it->second.joins.size();
  dropped = std::move(it->second.joins);
  done_waiting_locked(it->second);
  waiting_.erase(it);
  std::erase(turns_, session);
}

void JoinGate::release() {
  std::vector<std::pair<Start, std::shared_ptr<Slot>>> start;
  {
    std::lock_guard lock(mu_);
    --in_flight_;
    admit_locked(start);
  }
  post(std::move(start));
}

std::size_t JoinGate::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

std::size_t JoinGate::limit() const {
  std::lock_guard lock(mu_);
  return limit_;
}

std::size_t JoinGate::queued() const {
  std::lock_guard lock(mu_);
  return queued_;
}

}  // namespace parley::hub
