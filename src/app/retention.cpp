#include "app/retention.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "hub/hub.hpp"

namespace parley::app {

namespace asio = boost::asio;

struct Retention::State : std::enable_shared_from_this<Retention::State> {
  State(asio::any_io_executor ex, hub::Hub& h, Options o)
      : timer(std::move(ex)), hub_(h), options(std::move(o)) {}

  asio::steady_timer timer;
  hub::Hub& hub_;  // (not `hub`: that is the namespace)
  const Options options;
  bool stopped = false;              // on the timer's executor
  std::atomic<bool> running{false};  // a pass is under way
  std::atomic<std::size_t> left{0};  // its write jobs still queued

  struct Target {
    ConversationId id;
    store::RetentionPolicy policy;
  };

  void schedule() {
    timer.expires_after(options.interval);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped) return;
      self->pass();
      self->schedule();
    });
  }

  // Lists every conversation on a reader, then queues one prune per conversation that has
  // something to remove.
  void pass() {
    if (running.exchange(true)) {
      spdlog::debug("retention: the previous pass is still running; skipping this one");
      return;
    }
    hub::Archive::Job<std::vector<Target>> list = [self = shared_from_this()](
                                                      const hub::Archive::Stores& c) {
      std::vector<Target> targets;
      store::ListQuery q;
      q.limit = 500;
      for (;;) {
        auto page = c.listings.list_conversations(q);
        if (!page) {
          spdlog::warn("retention: cannot list conversations: {}", page.error().message());
          break;
        }
        for (const auto& s : page->conversations) {
          const auto& conv = s.conversation;
          auto policy = store::effective_policy(self->options.defaults, conv.settings);
          if (policy.empty() || conv.message_count == 0) continue;
          // Nothing to remove: skipped, unless another server may have removed messages
          // that this server's live room still caches (several servers, one database).
          if (!policy.max_age && conv.message_count <= *policy.keep_last &&
              !(self->hub_.has_bus() && self->hub_.has_room(conv.id))) {
            continue;
          }
          targets.push_back({conv.id, policy});
        }
        if (page->next_cursor.empty() || page->conversations.empty()) break;
        q.cursor = page->next_cursor;
      }
      return Result<std::vector<Target>>(std::move(targets));
    };
    hub_.archive().read<std::vector<Target>>(
        std::move(list), [self = shared_from_this()](Result<std::vector<Target>> targets) {
          self->prune_all(targets ? std::move(*targets) : std::vector<Target>{});
        });
  }

  void prune_all(std::vector<Target> targets) {
    if (targets.empty()) {
      running = false;
      return;
    }
    left = targets.size();
    for (auto& t : targets) {
      std::optional<TimeMs> older_than;
      if (t.policy.max_age) older_than = now_ms() - *t.policy.max_age;
      // Archive::prune tells the live room (here and, with a bus, on every server) where
      // its history now starts.
      hub_.archive().prune(t.id, t.policy.keep_last, older_than,
                           [self = shared_from_this(), id = t.id](Result<hub::Archive::Pruned> r) {
                             if (!r && r.error() != Errc::not_found) {
                               spdlog::warn("retention: {}: {}", id, r.error().message());
                             } else if (r && r->removed > 0) {
                               spdlog::info(
                                   "retention: {}: removed {} message(s); history now starts "
                                   "at seq {}",
                                   id, r->removed, r->first_kept);
                             }
                             if (--self->left == 0) self->running = false;
                           });
    }
  }
};

Retention::Retention(asio::any_io_executor executor, hub::Hub& hub, Options options)
    : state_(std::make_shared<State>(std::move(executor), hub, std::move(options))) {}

Retention::~Retention() { stop(); }

void Retention::start() {
  asio::post(state_->timer.get_executor(), [s = state_] {
    if (!s->stopped) s->schedule();
  });
}

void Retention::stop() {
  asio::post(state_->timer.get_executor(), [s = state_] {
    s->stopped = true;
    s->timer.cancel();
  });
}

}  // namespace parley::app
