#include "hub/join_gate.hpp"

#include <boost/asio/post.hpp>
#include <utility>

namespace parley::hub {

JoinGate::JoinGate(boost::asio::any_io_executor executor, std::size_t max_in_flight)
    : executor_(std::move(executor)), max_(max_in_flight) {}

JoinGate::Ticket JoinGate::ticket() {
  // The slot was counted under mu_ by the caller; the ticket only gives it back.
  std::weak_ptr<JoinGate> gate = weak_from_this();
  return Ticket(static_cast<void*>(nullptr), [gate](void*) {
    if (auto g = gate.lock()) g->release();
  });
}

void JoinGate::enter(std::uint64_t session, Start start) {
  {
    std::lock_guard lock(mu_);
    if (max_ != 0 && in_flight_ >= max_) {
      auto& mine = waiting_[session];
      if (mine.empty()) turns_.push_back(session);
      mine.push_back(std::move(start));
      ++queued_;
      return;
    }
    ++in_flight_;
  }
  start(ticket());
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
  Start next;
  {
    std::lock_guard lock(mu_);
    --in_flight_;
    if (turns_.empty()) return;
    const std::uint64_t session = turns_.front();
    turns_.pop_front();
    auto it = waiting_.find(session);
    next = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) {
      waiting_.erase(it);
    } else {
      turns_.push_back(session);  // its next join waits for the other sessions' turns
    }
    --queued_;
    ++in_flight_;
  }
  // Never inside the releasing join's last step (a room's strand, a storage callback).
  boost::asio::post(executor_, [next = std::move(next), t = ticket()]() mutable {
    next(std::move(t));
  });
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
