#include "hub/lull.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <utility>

#include "hub/session.hpp"

namespace parley::hub {

Lull::Lull(boost::asio::any_io_executor executor, std::chrono::milliseconds interval)
    : strand_(boost::asio::make_strand(std::move(executor))),
      timer_(strand_),
      interval_(interval),
      next_us_(std::chrono::microseconds(interval).count()) {}

void Lull::add(const std::shared_ptr<Session>& session) {
  bool stopped = false;
  {
    std::lock_guard lock(mu_);
    stopped = stopped_;
    if (!stopped) {
      waiting_.push_back(session);
      if (armed_) return;
      armed_ = true;
    }
  }
  if (stopped) {  // written at once: nobody would end the lull later
    session->end_lull();
    return;
  }
  boost::asio::post(strand_, [self = shared_from_this()] {
    self->timer_.expires_after(self->next_interval());
    self->timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->fire();
    });
  });
}

void Lull::fire() {
  std::vector<std::weak_ptr<Session>> due;
  {
    std::lock_guard lock(mu_);
    due.swap(waiting_);
    armed_ = false;
  }
  if (fired_ < firing_.size()) {  // still ending the last lull's (a stop, or a slow queue)
    firing_.insert(firing_.end(), due.begin(), due.end());
    return;
  }
  // The next lull lasts long enough that ending it costs at most one write per session per
  // kPerSession (see the header), and at least `interval`.
  const auto next = std::clamp<std::chrono::microseconds>(
      kPerSession * static_cast<long>(due.size()), interval_, interval_ * 10);
  next_us_.store(next.count(), std::memory_order_relaxed);
  firing_ = std::move(due);
  fired_ = 0;
  end_slice();
}

void Lull::end_slice() {
  const std::size_t end = std::min(firing_.size(), fired_ + kSlice);
  for (; fired_ < end; ++fired_) {
    if (auto s = firing_[fired_].lock()) s->end_lull();
  }
  if (fired_ < firing_.size()) {
    boost::asio::post(strand_, [self = shared_from_this()] { self->end_slice(); });
  } else {
    firing_ = {};
    fired_ = 0;
  }
}

std::chrono::microseconds Lull::next_interval() const {
  return std::chrono::microseconds(next_us_.load(std::memory_order_relaxed));
}

void Lull::stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  boost::asio::post(strand_, [self = shared_from_this()] {
    self->timer_.cancel();
    self->fire();
    // Stopping: the rest at once, not behind queued work the server may not run.
    for (; self->fired_ < self->firing_.size(); ++self->fired_) {
      if (auto s = self->firing_[self->fired_].lock()) s->end_lull();
    }
  });
}

}  // namespace parley::hub
