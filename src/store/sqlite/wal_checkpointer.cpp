#include "store/sqlite/wal_checkpointer.hpp"

#include <sqlite3.h>

#include "core/log.hpp"
#include "core/process.hpp"

namespace parley::store::sqlite {

std::shared_ptr<WalCheckpointer> WalCheckpointer::start(const std::string& path) {
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  // The connection reads the file's header (journal_mode) so that it knows the database is
  // in WAL mode: a connection that has read nothing checkpoints nothing.
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK ||
      sqlite3_exec(db, "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr) != SQLITE_OK) {
    spdlog::warn("sqlite: no checkpoint thread for {}: {}", path,
                 db != nullptr ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_close_v2(db);
    return nullptr;
  }
  std::shared_ptr<WalCheckpointer> self(new WalCheckpointer(db));
  self->thread_ = std::thread([raw = self.get()] {
    name_this_thread("parley-ckpt");
    raw->run();
  });
  return self;
}

WalCheckpointer::~WalCheckpointer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  sqlite3_close_v2(db_);
}

void WalCheckpointer::attach(sqlite3* db) { sqlite3_wal_hook(db, &WalCheckpointer::on_commit, this); }

int WalCheckpointer::on_commit(void* self, sqlite3* db, const char* schema, int pages) {
  auto* c = static_cast<WalCheckpointer*>(self);
  if (pages >= kInlinePages) {
    c->inline_.fetch_add(1, std::memory_order_relaxed);
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    return SQLITE_OK;
  }
  if (pages < kPages) {
    c->requested_at_.store(0, std::memory_order_relaxed);  // the WAL restarted
    return SQLITE_OK;
  }
  if (pages - c->requested_at_.load(std::memory_order_relaxed) >= kStep &&
      !c->wanted_.exchange(true, std::memory_order_acq_rel)) {
    c->requested_at_.store(pages, std::memory_order_relaxed);
    std::lock_guard lock(c->mu_);
    c->cv_.notify_one();
  }
  return SQLITE_OK;
}

void WalCheckpointer::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || wanted_.load(std::memory_order_acquire); });
    if (stop_) return;
    lock.unlock();
    int log_pages = 0;
    int copied = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_pages, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      spdlog::warn("sqlite: checkpoint failed: {}", sqlite3_errmsg(db_));
    }
    done_.fetch_add(1, std::memory_order_relaxed);
    wanted_.store(false, std::memory_order_release);
    lock.lock();
  }
}

}  // namespace parley::store::sqlite
