#include "hub/lull.hpp"

#include <boost/asio/post.hpp>
#include <utility>

#include "hub/session.hpp"

namespace parley::hub {

Lull::Lull(boost::asio::any_io_executor executor, std::chrono::milliseconds interval)
    : strand_(boost::asio::make_strand(std::move(executor))), timer_(strand_), interval_(interval) {}

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
    self->timer_.expires_after(self->interval_);
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
  for (const auto& w : due) {
    if (auto s = w.lock()) s->end_lull();
  }
}

void Lull::stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  boost::asio::post(strand_, [self = shared_from_this()] {
    self->timer_.cancel();
    self->fire();
  });
}

}  // namespace parley::hub
