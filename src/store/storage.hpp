// Storage: a Database behind threads, so that network threads never block on it.
//
// One writer thread owns the write connection and runs every write in submission order.
// Appends are group-committed: the writer takes every append queued while it was busy and
// commits them in one transaction (leveldb's DBImpl::Write + BuildBatchGroup), then completes
// each caller with its own seq, or the batch's error. Reads run on a small pool of reader
// threads, each with its own connection. Callbacks run on the storage thread that did the
// work: callers post back to their own executor. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <variant>
#include <vector>

#include "store/store.hpp"

namespace parley::store {

class Storage {
 public:
  struct Options {
    std::size_t max_batch = 2048;  // appends committed in one transaction at most
    std::size_t readers = 2;       // reader threads (each one connection)
    // The full-text index is caught up after commits (Connection::index_pending): once the
    // writer has been idle for `index_idle`, in chunks of `index_chunk` until done; while it
    // is busy, back down to `index_backlog` whenever more appended messages than that wait,
    // so the lag (and a search's own catch-up) stays bounded.
    std::chrono::milliseconds index_idle{5};
    std::size_t index_chunk = 2048;
    std::size_t index_backlog = 16384;
    // Memberships written in one transaction at most: 1024 rows cost SQLite about as much
    // as one group commit of the chat benchmark (bench/README.md, join storm).
    std::size_t max_members = 1024;
    // User upserts written in one transaction at most (upsert_user).
    std::size_t max_users = 1024;
    // Conversations created in one transaction at most by open_conversation; the loads that
    // follow them run one by one, back down whenever appends are queued.
    std::size_t max_opens = 256;
  };
  struct Stats {
    std::uint64_t appended = 0;  // messages committed
    std::uint64_t batches = 0;   // append transactions committed
    std::uint64_t write_errors = 0;
    std::uint64_t reads = 0;
  };

  template <class T>
  using Callback = std::function<void(Result<T>)>;
  using Job = std::function<void(Connection&)>;

  // Connects the writer and readers; fails if the database cannot be reached.
  [[nodiscard]] static Result<std::unique_ptr<Storage>> open(std::shared_ptr<Database> db,
                                                             Options options);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // Queues `msg` for the next group commit; `done` runs on the writer thread after the
  // commit (or failure). Completions run in commit order.
  void append(NewMessage msg, Callback<Appended> done);
  // Runs `job` on the writer thread, in order with appends (edits, deletes, read marks...).
  // After jobs, as after commits, the search index is caught up (Options::index_idle).
  void write(Job job);
  // Runs `job` on a reader thread. Sees every write whose callback has run.
  void read(Job job);
  // Records that `user` takes part in `conversation` (a join). Memberships queued together
  // are written in one transaction (Connection::add_members), after the appends queued with
  // them, so a join burst costs a few commits and never holds an append back by more than
  // one of them. In order with jobs: a job sees every membership queued before it.
  void add_member(ConversationId conversation, UserId user, TimeMs at);
  // Stores `user` (Connection::upsert_user): a login. Upserts queued together are written
  // in one transaction (Connection::upsert_users), after the appends queued with them, as
  // memberships are: 19,000 idle logins were 19,000 commits of their own, each queued as a
  // job holding a copy of its User while the writer caught up (issue 13). In order with
  // jobs: a job sees every upsert queued before it.
  void upsert_user(std::shared_ptr<const User> user);
  // Runs `then` on the writer once `conversation` exists (a room's load: a conversation is
  // created on its first join). The conversations of the opens queued together are created
  // in one transaction (Connection::ensure_conversations) after the appends queued before
  // them, and each `then` runs after that commit, before any job queued after it: a burst
  // of first joins costs one commit, not one fsynced job per room, and an append waits for
  // at most one such commit or one `then` (issue 14). An append queued after an open may be
  // committed before its `then` runs (an append creates its conversation itself): `then`
  // sees it, as it sees every append queued before. If the creation failed, `then` runs
  // all the same: its own calls meet the error.
  void open_conversation(ConversationId conversation, Job then);

  // Commits what is queued, runs queued jobs, then joins every thread. Later calls fail
  // with Errc::unavailable: an append's callback gets it, a write or read job runs at once,
  // on the calling thread, over a connection whose every call fails with it (so whoever
  // waits on the job hears back). Idempotent.
  void stop();

  Database& database() noexcept { return *db_; }
  bool database_up() const noexcept { return up_.load(std::memory_order_relaxed); }
  Stats stats() const noexcept;

 private:
  struct PendingAppend {
    NewMessage msg;
    Callback<Appended> done;
  };
  struct Opening {
    ConversationId conversation;
    Job then;
  };
  // One of an append, a job, a membership or an opening. A variant of pointers and a Job: 40
  // bytes, as the queue's items were before memberships and openings joined it. A struct of
  // all four was 120, and a server whose writer is behind holds one item for every user
  // upsert queued: 19,000 idle /ws connections authenticating is 19,000 of them, +80 bytes
  // of RSS a connection on the idle bench (issue 13).
  // A user upsert is the User the session holds, shared (16 bytes, no block of its own).
  using WriteItem = std::variant<std::unique_ptr<PendingAppend>, Job,
                                 std::unique_ptr<Membership>, std::unique_ptr<Opening>,
                                 std::shared_ptr<const User>>;

  Storage(std::shared_ptr<Database> db, Options options);
  void run_writer(std::unique_ptr<Connection> conn);
  void run_reader(std::unique_ptr<Connection> conn);
  void commit_group(Connection& conn, std::vector<std::unique_ptr<PendingAppend>>& group);
  // Catches the search index up as Options describe (`idle`: nothing queued); writer only.
  void index_some(Connection& conn, bool idle);
  // Writes the memberships gathered in members_ (writer only), in chunks of
  // Options::max_members; with `all` false it stops early when appends are queued.
  void write_members(Connection& conn, bool all);
  // Creates the conversations of the openings gathered in opens_ and runs their `then`s
  // (writer only), as write_members does its memberships.
  void write_opens(Connection& conn, bool all);
  // Writes the upserts gathered in users_ (writer only), as write_members does.
  void write_users(Connection& conn, bool all);
  // Whether anything waits in write_queue_ (writer only: to back down to it).
  bool work_queued();

  std::shared_ptr<Database> db_;
  Options options_;

  std::mutex write_mu_;  // guards write_queue_ and stopping_
  std::condition_variable write_cv_;
  std::deque<WriteItem> write_queue_;
  bool stopping_ = false;

  std::mutex read_mu_;  // guards read_queue_ and read_stopping_
  std::condition_variable read_cv_;
  std::deque<Job> read_queue_;
  bool read_stopping_ = false;

  // Writer thread only: whether the search index may be behind (true at start, so a tail
  // left unindexed by an earlier process is caught up), and appends since it last was not.
  bool index_behind_ = true;
  std::size_t unindexed_ = 0;
  // Writer thread only: memberships taken from the queue, not yet written.
  std::vector<Membership> members_;
  // Writer thread only: user upserts taken from the queue, not yet written.
  std::vector<std::shared_ptr<const User>> users_;
  // Writer thread only: openings taken from the queue whose `then` has not run; the first
  // `opened_` of them have had their conversations created.
  std::vector<Opening> opens_;
  std::size_t opened_ = 0;

  std::atomic<bool> up_{true};
  std::atomic<std::uint64_t> appended_{0}, batches_{0}, write_errors_{0}, reads_{0};

  std::thread writer_;
  std::vector<std::thread> readers_;
};

}  // namespace parley::store
