#include "hub/change_follower.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>
#include <utility>

#include "core/log.hpp"
#include "hub/hub.hpp"

namespace parley::hub {

namespace asio = boost::asio;

namespace {
// Changes read per query, and queries per poll: a poll after a 1M-conversation import reads
// 100,000 numbers on a reader thread and goes on at once with the rest, instead of holding
// that thread for the whole log.
constexpr std::size_t kPage = 1000;
constexpr int kPagesPerPoll = 100;
}  // namespace

struct ChangeFollower::State : std::enable_shared_from_this<ChangeFollower::State> {
  State(asio::any_io_executor ex, Hub& h, std::chrono::milliseconds i)
      : timer(std::move(ex)), hub_(h), interval(i) {}

  asio::steady_timer timer;
  Hub& hub_;
  const std::chrono::milliseconds interval;
  // On the timer's executor. `after` is handed to one poll at a time and comes back with
  // its result, so no two threads touch it at once.
  bool stopped = false;
  std::optional<std::int64_t> after;  // the highest number seen; unknown until the first poll
  std::function<void(std::size_t)> on_poll;

  struct Outcome {
    std::optional<std::int64_t> after;
    std::size_t changed = 0;
    bool more = false;  // a full last page: poll again at once
  };

  void schedule(std::chrono::milliseconds wait) {
    timer.expires_after(wait);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped) return;
      self->poll();
    });
  }

  void poll() {
    Archive::Job<Outcome> job = [self = shared_from_this(),
                                 after = after](const Archive::Stores& s) -> Result<Outcome> {
      Outcome out;
      if (!after) {
        auto last = s.conversations.last_change();
        if (!last) return last.error();
        out.after = *last;
        return out;
      }
      out.after = after;
      for (int page = 0; page < kPagesPerPoll; ++page) {
        auto changes = s.conversations.changes_after(*out.after, kPage);
        if (!changes) {
          if (out.changed > 0) return out;  // keep what was applied; the rest next time
          return changes.error();
        }
        for (const auto& change : *changes) {
          if (self->hub_.has_room(change.conversation)) {
            spdlog::info("room {}: changed in the store (change {}): reloading it",
                         change.conversation, change.number);
          }
          self->hub_.invalidate(change.conversation);
          out.after = change.number;
          ++out.changed;
        }
        out.more = changes->size() == kPage;
        if (!out.more) break;
      }
      return out;
    };
    hub_.archive().read<Outcome>(std::move(job), [self = shared_from_this()](Result<Outcome> r) {
      asio::post(self->timer.get_executor(), [self, r = std::move(r)] {
        if (self->stopped) return;
        bool more = false;
        if (r) {
          self->after = r->after;
          more = r->more;
          if (self->on_poll) self->on_poll(r->changed);
        } else {
          // The database is away (the outage path reports it): try again next time.
          spdlog::debug("change log: not read: {}", r.error().message());
        }
        self->schedule(more ? std::chrono::milliseconds(0) : self->interval);
      });
    });
  }
};

ChangeFollower::ChangeFollower(asio::any_io_executor executor, Hub& hub,
                               std::chrono::milliseconds interval)
    : state_(std::make_shared<State>(std::move(executor), hub, interval)) {}

ChangeFollower::~ChangeFollower() { stop(); }

void ChangeFollower::on_poll(std::function<void(std::size_t)> fn) {
  state_->on_poll = std::move(fn);
}

void ChangeFollower::start() {
  asio::post(state_->timer.get_executor(), [s = state_] {
    if (!s->stopped) s->poll();
  });
}

void ChangeFollower::stop() {
  asio::post(state_->timer.get_executor(), [s = state_] {
    s->stopped = true;
    s->timer.cancel();
  });
}

}  // namespace parley::hub
