#include "hub/join_gate.hpp"

#include <boost/asio/post.hpp>
#include <utility>
#include <vector>

namespace parley::hub {

JoinGate::JoinGate(boost::asio::any_io_executor executor, std::size_t max_in_flight,
                   std::chrono::milliseconds max_hold)
    : executor_(std::move(executor)), max_(max_in_flight), max_hold_(max_hold), timer_(executor_) {}

JoinGate::Ticket JoinGate::ticket(std::shared_ptr<Slot> slot) {
  // The slot was counted under mu_; the ticket gives it back, unless it was counted out.
  std::weak_ptr<JoinGate> gate = weak_from_this();
  return Ticket(static_cast<void*>(nullptr), [gate, slot = std::move(slot)](void*) {
    if (slot->counted_out.exchange(true)) return;
    if (auto g = gate.lock()) g->release();
  });
}

void JoinGate::enter(std::uint64_t session, Start start) {
  if (max_ == 0) {
    start(nullptr);
    return;
  }
  std::vector<std::pair<Start, std::shared_ptr<Slot>>> later;
  std::shared_ptr<Slot> now;
  {
    std::lock_guard lock(mu_);
    auto& mine = waiting_[session];
    if (mine.empty()) turns_.push_back(session);
    mine.push_back(std::move(start));
    ++queued_;
    admit_locked(later);
    // When this session's join was let in at once (nothing waited before it), run it here,
    // as without a gate; anything else admitted goes through the executor.
    if (!later.empty() && waiting_.find(session) == waiting_.end() && later.size() == 1) {
      now = later.front().second;
      start = std::move(later.front().first);
      later.clear();
    }
    if (queued_ > 0) arm_locked();
  }
  if (now) start(ticket(std::move(now)));
  post(std::move(later));
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
  while (in_flight_ < max_ && !turns_.empty()) {
    const std::uint64_t session = turns_.front();
    turns_.pop_front();
    auto it = waiting_.find(session);
    Start next = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) {
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
  timer_.expires_after(max_hold_);
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    std::vector<std::pair<Start, std::shared_ptr<Slot>>> start;
    {
      std::lock_guard lock(self->mu_);
      self->armed_ = false;
      self->admit_locked(start);
      if (self->queued_ > 0) self->arm_locked();
    }
    self->post(std::move(start));
  });
}

void JoinGate::forget(std::uint64_t session) {
  std::deque<Start> dropped;  // destroyed outside the lock (their captures may be sessions)
  std::lock_guard lock(mu_);
  auto it = waiting_.find(session);
  if (it == waiting_.end()) return;
  queued_ -= it->second.size();
  dropped = std::move(it->second);
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

std::size_t JoinGate::queued() const {
  std::lock_guard lock(mu_);
  return queued_;
}

}  // namespace parley::hub
