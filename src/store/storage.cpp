#include "store/storage.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "core/process.hpp"
#include "core/time.hpp"

namespace parley::store {
namespace {

// What a job submitted after stop() runs against: every call fails with Errc::unavailable,
// so the job completes its caller with that instead of never running.
class UnavailableConnection final : public Connection {
 public:
  Result<std::vector<Appended>> append_batch(std::span<const NewMessage>) override {
    return down();
  }
  Result<std::vector<StoredMessage>> read_after(const ConversationId&, Seq, std::size_t) override {
    return down();
  }
  Result<std::vector<StoredMessage>> read_before(const ConversationId&, Seq, std::size_t) override {
    return down();
  }
  Result<StoredMessage> get_message(const ConversationId&, Seq) override { return down(); }
  Result<StoredMessage> find_message(const MessageId&) override { return down(); }
  Result<std::vector<Template>> list_templates() override { return down(); }
  Result<void> replace_templates(std::span<const Template>) override { return down(); }
  Result<bool> replace_templates_if(std::span<const Template>, std::span<const Template>) override {
    return Result<bool>(boost::system::in_place_error, down());
  }
  Result<StoredMessage> edit_message(const ConversationId&, Seq, const std::string&,
                                     const std::optional<UserId>&, TimeMs) override {
    return down();
  }
  Result<StoredMessage> delete_message(const ConversationId&, Seq, const std::optional<UserId>&,
                                       TimeMs) override {
    return down();
  }
  Result<Conversation> create_conversation(const NewConversation&) override { return down(); }
  Result<void> ensure_conversations(std::span<const ConversationId>, TimeMs) override {
    return down();
  }
  Result<Conversation> ensure_conversation(const ConversationId&, TimeMs) override {
    return down();
  }
  Result<Conversation> get_conversation(const ConversationId&) override { return down(); }
  Result<ConversationPage> list_conversations(const ListQuery&) override { return down(); }
  Result<Conversation> update_conversation(const ConversationId&, const ConversationPatch&,
                                           TimeMs) override {
    return down();
  }
  Result<void> delete_conversation(const ConversationId&) override { return down(); }
  Result<Conversation> replace_conversation(const WholeConversation&) override { return down(); }
  Result<std::int64_t> last_change() override { return down(); }
  Result<std::vector<ConversationChange>> changes_after(std::int64_t, std::size_t) override {
    return down();
  }
  Result<std::int64_t> count_conversations() override { return down(); }
  Result<void> add_member(const ConversationId&, const UserId&, TimeMs) override { return down(); }
  Result<void> add_members(std::span<const Membership>) override { return down(); }
  Result<Seq> mark_read(const ConversationId&, const UserId&, Seq) override { return down(); }
  Result<Seq> read_seq(const ConversationId&, const UserId&) override { return down(); }
  Result<void> upsert_user(const User&) override { return down(); }
  Result<void> upsert_users(std::span<const User>) override { return down(); }
  Result<User> get_user(const UserId&) override { return down(); }
  Result<void> set_last_seen(const UserId&, TimeMs) override { return down(); }
  Result<std::vector<SearchHit>> search(const SearchQuery&) override { return down(); }
  Result<bool> index_pending(std::size_t) override {
    return Result<bool>(boost::system::in_place_error, down());
  }
  Result<void> for_each_message(const ConversationId&, Seq,
                                const std::function<bool(const StoredMessage&)>&) override {
    return down();
  }
  Result<void> for_each_user(const std::function<bool(const User&)>&) override { return down(); }
  Result<std::vector<MemberState>> member_states(const ConversationId&) override { return down(); }
  Result<std::int64_t> prune(const ConversationId&, std::optional<std::int64_t>,
                             std::optional<TimeMs>, bool) override {
    return down();
  }

 private:
  static boost::system::error_code down() { return make_error_code(Errc::unavailable); }
};

void run_unavailable(const Storage::Job& job) {
  UnavailableConnection conn;
  job(conn);
}

}  // namespace

Result<std::unique_ptr<Storage>> Storage::open(std::shared_ptr<Database> db, Options options) {
  auto writer_conn = db->connect();
  if (!writer_conn) return writer_conn.error();
  std::vector<std::unique_ptr<Connection>> reader_conns;
  for (std::size_t i = 0; i < std::max<std::size_t>(1, options.readers); ++i) {
    auto c = db->connect();
    if (!c) return c.error();
    reader_conns.push_back(std::move(*c));
  }
  std::unique_ptr<Storage> s{new Storage(std::move(db), options)};
  s->writer_ = std::thread([self = s.get(), c = std::move(*writer_conn)]() mutable {
    name_this_thread("parley-writer");
    self->run_writer(std::move(c));
  });
  for (auto& c : reader_conns) {
    s->readers_.emplace_back([self = s.get(), conn = std::move(c)]() mutable {
      name_this_thread("parley-reader");
      self->run_reader(std::move(conn));
    });
  }
  return s;
}

Storage::Storage(std::shared_ptr<Database> db, Options options)
    : db_(std::move(db)), options_(options) {}

Storage::~Storage() { stop(); }

void Storage::append(NewMessage msg, Callback<Appended> done) {
  auto p = std::make_unique<PendingAppend>(PendingAppend{std::move(msg), std::move(done)});
  {
    std::lock_guard lock(write_mu_);
    if (!stopping_) {
      write_queue_.push_back(WriteItem{std::move(p)});
      write_cv_.notify_one();
      return;
    }
  }
  p->done(Errc::unavailable);
}

void Storage::write(Job job) {
  {
    std::lock_guard lock(write_mu_);
    if (!stopping_) {
      write_queue_.push_back(WriteItem{std::move(job)});
      write_cv_.notify_one();
      return;
    }
  }
  run_unavailable(job);
}

void Storage::add_member(ConversationId conversation, UserId user, TimeMs at) {
  std::lock_guard lock(write_mu_);
  if (stopping_) return;  // nobody waits on a membership
  write_queue_.push_back(WriteItem{
      std::make_unique<Membership>(Membership{std::move(conversation), std::move(user), at})});
  write_cv_.notify_one();
}

void Storage::upsert_user(std::shared_ptr<const User> user) {
  std::lock_guard lock(write_mu_);
  if (stopping_) return;  // nobody waits on an upsert
  write_queue_.push_back(WriteItem{std::move(user)});
  write_cv_.notify_one();
}

void Storage::open_conversation(ConversationId conversation, Job then) {
  {
    std::lock_guard lock(write_mu_);
    if (!stopping_) {
      write_queue_.push_back(
          WriteItem{std::make_unique<Opening>(Opening{std::move(conversation), std::move(then)})});
      write_cv_.notify_one();
      return;
    }
  }
  run_unavailable(then);
}

void Storage::read(Job job) {
  {
    std::lock_guard lock(read_mu_);
    if (!read_stopping_) {
      read_queue_.push_back(std::move(job));
      read_cv_.notify_one();
      return;
    }
  }
  run_unavailable(job);
}

void Storage::stop() {
  {
    std::lock_guard lock(write_mu_);
    stopping_ = true;
    write_cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(read_mu_);
    read_stopping_ = true;
    read_cv_.notify_all();
  }
  for (auto& t : readers_) {
    if (t.joinable()) t.join();
  }
  readers_.clear();
}

Storage::Stats Storage::stats() const noexcept {
  return Stats{appended_.load(std::memory_order_relaxed), batches_.load(std::memory_order_relaxed),
               write_errors_.load(std::memory_order_relaxed),
               reads_.load(std::memory_order_relaxed)};
}

// The writer drains the queue in order. A run of consecutive appends (up to max_batch) is
// one group: it is committed in one transaction, so the cost of a commit (and of its fsync)
// is shared by every sender that was waiting. Jobs run alone, between groups, so a read
// mark or an edit is never reordered with the appends around it.
void Storage::run_writer(std::unique_ptr<Connection> conn) {
  std::vector<std::unique_ptr<PendingAppend>> group;
  std::deque<WriteItem> taken;
  for (;;) {
    {
      std::unique_lock lock(write_mu_);
      const auto ready = [&] { return stopping_ || !write_queue_.empty(); };
      // Else what write_members/users/opens left goes next.
      if (members_.empty() && opens_.empty() && users_.empty()) {
        if (index_behind_ && !write_cv_.wait_for(lock, options_.index_idle, ready)) {
          // Idle for index_idle: catch the search index up (index_some stops at new work).
          lock.unlock();
          index_some(*conn, true);
          continue;
        }
        write_cv_.wait(lock, ready);
      }
      if (write_queue_.empty() && stopping_ && members_.empty() && opens_.empty() &&
          users_.empty()) {
        break;
      }
      taken.swap(write_queue_);
    }
    // Memberships wait (in members_) until the appends around them are committed: a join
    // storm must not hold a send's ack back (issue 14: 2,000 clients joining 50 rooms each
    // delayed an unrelated send by 30 s when each join was its own fsynced transaction).
    using AppendPtr = std::unique_ptr<PendingAppend>;
    while (!taken.empty()) {
      if (std::holds_alternative<AppendPtr>(taken.front())) {
        while (!taken.empty() && std::holds_alternative<AppendPtr>(taken.front()) &&
               group.size() < options_.max_batch) {
          group.push_back(std::move(std::get<AppendPtr>(taken.front())));
          taken.pop_front();
        }
        commit_group(*conn, group);
        group.clear();
      } else if (auto* queued = std::get_if<Job>(&taken.front())) {
        Job job = std::move(*queued);
        taken.pop_front();
        write_opens(*conn, true);  // a job sees the creations, joins and logins queued before it
        write_members(*conn, true);
        write_users(*conn, true);
        job(*conn);
        index_behind_ = true;  // a job may insert messages (replace_conversation)
      } else if (auto* open = std::get_if<std::unique_ptr<Opening>>(&taken.front())) {
        opens_.push_back(std::move(**open));
        taken.pop_front();
      } else if (auto* user = std::get_if<std::shared_ptr<const User>>(&taken.front())) {
        users_.push_back(std::move(*user));
        taken.pop_front();
      } else {
        members_.push_back(std::move(*std::get<std::unique_ptr<Membership>>(taken.front())));
        taken.pop_front();
      }
    }
    bool stopping;
    {
      std::lock_guard lock(write_mu_);
      stopping = stopping_;
    }
    // Openings first: a membership is recorded only in a conversation that exists.
    write_opens(*conn, stopping);
    if (opens_.empty()) write_members(*conn, stopping);
    if (opens_.empty() && members_.empty()) write_users(*conn, stopping);
    if (index_behind_ && unindexed_ > options_.index_backlog) index_some(*conn, false);
  }
}

// The full-text index is not touched by the append's transaction (that would cost the
// commit path most of its speed); it is caught up here, in transactions of its own, after
// the callers have their acks: when the writer has been idle for index_idle, in chunks until
// done or until work arrives; while it is busy, back down to index_backlog. A search catches
// up whatever is still left first, so no reader ever sees the lag.
void Storage::index_some(Connection& conn, bool idle) {
  for (;;) {
    const std::size_t chunk =
        idle ? options_.index_chunk
             : std::max(options_.index_chunk,
                        unindexed_ - std::min(unindexed_, options_.index_backlog));
    auto more = conn.index_pending(chunk);
    if (!more) {
      // Logged by the backend; tried again after the next write.
      index_behind_ = false;
      unindexed_ = 0;
      return;
    }
    unindexed_ -= std::min(unindexed_, chunk);
    if (!*more) {
      index_behind_ = false;
      unindexed_ = 0;
      return;
    }
    if (!idle) return;
    std::lock_guard lock(write_mu_);
    if (stopping_ || !write_queue_.empty()) return;  // the next open catches up the rest
  }
}

bool Storage::work_queued() {
  std::lock_guard lock(write_mu_);
  return !write_queue_.empty();
}

void Storage::write_opens(Connection& conn, bool all) {
  std::size_t done = 0;
  while (done < opens_.size()) {
    if (done == opened_) {
      // The next chunk's conversations, in one transaction (a room of a conversation that
      // exists is loaded the same way: its row is left as it is).
      const std::size_t n =
          std::min(std::max<std::size_t>(1, options_.max_opens), opens_.size() - done);
      std::vector<ConversationId> ids;
      ids.reserve(n);
      for (std::size_t i = done; i < done + n; ++i) ids.push_back(opens_[i].conversation);
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      if (auto ok = conn.ensure_conversations(ids, now_ms()); !ok) {
        // Each `then` tries its own conversation again (ensure_conversation), so one bad
        // id fails its own room only and a dead database is reported to every one.
        write_errors_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("storage: {} conversations not created together: {}", ids.size(),
                     ok.error().message());
      }
      opened_ = done + n;
    }
    Job then = std::move(opens_[done].then);
    ++done;
    then(conn);
    if (!all && done < opens_.size() && work_queued()) break;  // appends first
  }
  opens_.erase(opens_.begin(), opens_.begin() + static_cast<std::ptrdiff_t>(done));
  opened_ -= done;
}

void Storage::write_members(Connection& conn, bool all) {
  std::size_t done = 0;
  while (done < members_.size()) {
    const std::size_t n = std::min(options_.max_members, members_.size() - done);
    auto ok = conn.add_members(std::span<const Membership>(members_.data() + done, n));
    if (!ok) {
      // A join is not acknowledged by its write: the room has the member either way, and
      // the next join or post of that user records it again. Not retried here, so a dead
      // database costs one failed call per chunk, not a loop.
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("storage: {} memberships not recorded: {}", n, ok.error().message());
    }
    done += n;
    if (!all && done < members_.size()) {
      std::lock_guard lock(write_mu_);
      if (!write_queue_.empty()) break;  // appends first; the rest after them
    }
  }
  members_.erase(members_.begin(), members_.begin() + static_cast<std::ptrdiff_t>(done));
}

void Storage::write_users(Connection& conn, bool all) {
  std::size_t done = 0;
  std::vector<User> chunk;
  while (done < users_.size()) {
    const std::size_t n = std::min(std::max<std::size_t>(1, options_.max_users), users_.size() - done);
    chunk.clear();
    for (std::size_t i = done; i < done + n; ++i) chunk.push_back(*users_[i]);
    if (auto ok = conn.upsert_users(chunk); !ok) {
      // As a membership: the next login of each user stores it again; not retried here.
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("storage: {} users not stored: {}", n, ok.error().message());
    }
    done += n;
    if (!all && done < users_.size() && work_queued()) break;  // appends first
  }
  users_.erase(users_.begin(), users_.begin() + static_cast<std::ptrdiff_t>(done));
}

void Storage::commit_group(Connection& conn, std::vector<std::unique_ptr<PendingAppend>>& group) {
  std::vector<NewMessage> batch;
  batch.reserve(group.size());
  for (auto& p : group) batch.push_back(std::move(p->msg));
  auto result = conn.append_batch(batch);
  if (result && result->size() == group.size()) {
    up_.store(true, std::memory_order_relaxed);
    // "Messages committed": a repeated client_id is answered with the stored message and
    // writes nothing, so it does not count.
    appended_.fetch_add(static_cast<std::uint64_t>(std::count_if(
                            result->begin(), result->end(),
                            [](const Appended& a) { return !a.duplicate; })),
                        std::memory_order_relaxed);
    batches_.fetch_add(1, std::memory_order_relaxed);
    index_behind_ = true;
    unindexed_ += group.size();
    for (std::size_t i = 0; i < group.size(); ++i) group[i]->done(std::move((*result)[i]));
    return;
  }
  write_errors_.fetch_add(1, std::memory_order_relaxed);
  if (!result && result.error() == Errc::unavailable) up_.store(false, std::memory_order_relaxed);
  if (group.size() == 1 || (!result && result.error() == Errc::unavailable)) {
    // Alone, or the database itself is down: every caller shares the outcome (retrying each
    // message would only wait out the busy timeout once per message).
    for (auto& p : group) {
      p->done(result ? Result<Appended>(Errc::internal) : Result<Appended>(result.error()));
    }
    return;
  }
  // One bad message must not fail the others that happened to share its transaction:
  // retry each alone, so every caller gets its own outcome.
  spdlog::warn("storage: group of {} failed ({}); retrying one by one", group.size(),
               result ? "size mismatch" : result.error().message());
  for (std::size_t i = 0; i < group.size(); ++i) {
    auto one = conn.append_batch(std::span<const NewMessage>(&batch[i], 1));
    if (one && one->size() == 1) {
      if (!one->front().duplicate) appended_.fetch_add(1, std::memory_order_relaxed);
      batches_.fetch_add(1, std::memory_order_relaxed);
      index_behind_ = true;
      ++unindexed_;
      group[i]->done(std::move(one->front()));
    } else {
      group[i]->done(one ? Result<Appended>(Errc::internal) : Result<Appended>(one.error()));
    }
  }
}

void Storage::run_reader(std::unique_ptr<Connection> conn) {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(read_mu_);
      read_cv_.wait(lock, [&] { return read_stopping_ || !read_queue_.empty(); });
      if (read_queue_.empty()) break;
      job = std::move(read_queue_.front());
      read_queue_.pop_front();
    }
    reads_.fetch_add(1, std::memory_order_relaxed);
    job(*conn);
  }
}

}  // namespace parley::store
