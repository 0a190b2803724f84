// Moves SQLite's WAL checkpoints off the committing thread.
//
// By default SQLite checkpoints inside the commit that takes the WAL past 1000 pages: that
// commit copies the pages into the database file and fsyncs it before it returns, so every
// few hundred milliseconds under load one group of senders waits several milliseconds more
// for its ack (the p99 of ack latency). Here each connection's WAL hook asks a thread of
// its own, with its own connection, for a PASSIVE checkpoint, which never blocks the writer
// or the readers. Under steady load that thread never quite catches up (the writer commits
// during its fsync), and SQLite restarts the WAL from its start only after a checkpoint
// that caught up, so past kInlinePages the committing connection checkpoints itself, as
// SQLite would: by then the thread has copied nearly every page, so what is left inline is
// a few pages and a cheap fsync, four times less often than SQLite's own.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

struct sqlite3;

namespace parley::store::sqlite {

class WalCheckpointer {
 public:
  // The WAL size, in pages, at which the thread is asked for a checkpoint (SQLite's
  // default), and at which the committing connection checkpoints inline.
  static constexpr int kPages = 1000;
  static constexpr int kInlinePages = 4 * kPages;
  // Past kPages, the thread is asked again only once the WAL has grown by kStep pages since
  // the last request. Asked after every commit (as before), at a fixed 2,000 msgs/s it ran
  // ~70 checkpoints a second, each copying the same few hot pages and paying two fsyncs
  // (issue 17: 2.2 of 21 µs of server CPU per delivery).
  static constexpr int kStep = 256;

  // Opens its own connection to `path` and starts the thread; null when that fails (then
  // connections keep SQLite's own checkpoints).
  static std::shared_ptr<WalCheckpointer> start(const std::string& path);
  ~WalCheckpointer();  // stops and joins the thread
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Replaces `db`'s automatic checkpoints with a request to this thread. The caller keeps
  // this object alive as long as `db` is open.
  void attach(sqlite3* db);

  // Checkpoints run by the thread, and inline by committing connections.
  std::uint64_t checkpoints() const noexcept { return done_.load(std::memory_order_relaxed); }
  std::uint64_t inline_checkpoints() const noexcept {
    return inline_.load(std::memory_order_relaxed);
  }

 private:
  explicit WalCheckpointer(sqlite3* db) : db_(db) {}
  static int on_commit(void* self, sqlite3* db, const char* schema, int pages);
  void run();

  sqlite3* const db_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<bool> wanted_{false};
  std::atomic<int> requested_at_{0};  // the WAL's size (pages) at the last request
  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::uint64_t> inline_{0};
};

}  // namespace parley::store::sqlite
