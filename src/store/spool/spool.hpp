// The outage spool: a decorator around Storage::append that keeps accepting messages while
// the database is unreachable.
//
// An append goes to Storage as usual. If it fails with Errc::unavailable, the message is
// written to DIR/spool.jsonl (one JSON record per line) and fdatasync'ed before its caller
// is completed with `pending = true` (no seq yet). From then on, and until the spool has
// been replayed, every append goes to the spool as well, so messages reach the database in
// the order they were acknowledged. A replay thread re-appends the spooled records through
// Storage::append in order (at start, then every `retry` while the database stays down),
// reports each stored one (`on_replayed`, which broadcasts the final seq) and then removes
// them from the file. Replays are exactly once: every message carries a client_id before its
// first attempt (a spool-made one, "spool-<id>", if the client gave none), so a record whose
// earlier attempt did commit comes back from the unique (conversation, sender, client_id)
// index as a duplicate instead of being stored twice.
//
// A failed spool write or fsync is sticky (STYLE.md §4): the spool stops accepting, its
// callers get Errc::unavailable, and healthy() turns false. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "store/appender.hpp"
#include "store/storage.hpp"

namespace parley::store::spool {

class Spool final : public Appender {
 public:
  struct Options {
    std::filesystem::path dir;  // DATA_DIR/spool
    std::chrono::milliseconds retry{1000};
  };

  // Creates the directory and reads what an earlier run left in the spool. Fails if the
  // directory or file cannot be opened.
  [[nodiscard]] static Result<std::unique_ptr<Spool>> open(Storage& storage, Options options);
  ~Spool() override;
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Appender: called (on the replay thread) for each spooled message once it is stored. Set
  // before start().
  void set_on_stored(Stored fn) override { on_replayed_ = std::move(fn); }
  Backlog backlog() const override { return Backlog{healthy(), size()}; }
  // Starts the replay thread (which replays what was left at once).
  void start();
  // Stops the replay thread; messages still spooled stay in the file for the next run.
  void stop();

  // Appends `msg` through Storage, or into the spool (see above). `done` runs on a storage
  // or spool thread.
  void append(NewMessage msg, Done done) override;

  // Records in the spool (written, not yet replayed).
  std::size_t size() const;
  // False once a spool write failed (sticky).
  bool healthy() const;

  // Parses one spool line; exposed for tests.
  [[nodiscard]] static Result<NewMessage> parse_record(std::string_view line);
  static std::string format_record(const NewMessage& msg);

 private:
  enum class State { direct, to_spool };
  struct Item {
    State state;
    NewMessage msg;
    Done done;
  };

  Spool(Storage& storage, Options options);
  void run();
  // Writes the leading to_spool items (spool thread). Returns false if nothing was ready.
  bool write_ready(std::unique_lock<std::mutex>& lock);
  // One replay pass over records_ (spool thread, lock not held). Returns true if the spool
  // is empty afterwards.
  bool replay();
  [[nodiscard]] Result<void> rewrite(std::size_t from);  // keeps records_[from..]
  // Sends the message of order_[ticket] (state direct) to the database; its outcome
  // completes it, or spools it when the database is unavailable.
  void send_direct(std::uint64_t ticket, NewMessage msg);
  void fail(boost::system::error_code ec, const char* what);

  Storage& storage_;
  Options options_;
  Stored on_replayed_;
  std::filesystem::path file_;
  int fd_ = -1;  // spool thread only (and open())

  mutable std::mutex mu_;  // guards order_, next_ticket_, engaged_, records_, failed_, stop_
  std::condition_variable cv_;
  std::map<std::uint64_t, Item> order_;  // appends not resolved yet, in arrival order
  std::uint64_t next_ticket_ = 0;
  bool engaged_ = false;          // the spool holds (or is about to hold) messages
  std::deque<NewMessage> records_;  // what the file holds, in order
  boost::system::error_code failed_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace parley::store::spool
