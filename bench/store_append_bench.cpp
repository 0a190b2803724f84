// Appending messages to the SQLite store: one at a time through Storage (a transaction and an
// fsync each), group-committed through Storage (K senders waiting at once), straight through
// Connection::append_batch, and the ceiling: the same rows inserted by a bare sqlite3 loop
// into the same schema (migrations: the full-text index is caught up after the commit, not
// by an insert trigger) with the same pragmas (WAL, synchronous=FULL), 100 or 1,000 rows per
// transaction. BM_BareSqliteFtsTrigger puts schema 2's insert trigger back, to show what
// indexing inside the commit cost.
//
// Files go to $PARLEY_BENCH_DIR (default /tmp); fsync costs depend on that file system.

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>

#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/storage.hpp"

namespace {

using namespace parley;
namespace fs = std::filesystem;

// A fresh directory per benchmark run, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("PARLEY_BENCH_DIR");
    std::random_device rd;
    path_ = fs::path(base && *base ? base : "/tmp") /
            ("parley-store-bench-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string db() const { return (path_ / "parley.db").string(); }

 private:
  fs::path path_;
};

// The store logs every migration it applies; a benchmark opens dozens of fresh files.
[[maybe_unused]] const bool kQuiet = [] {
  spdlog::set_level(spdlog::level::warn);
  return true;
}();

const std::string kContent = "b 3 1234 987654321098 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
// The chat scenarios' shapes: 10 rooms (chat 10 x 10) and 500 (chat 500 x 2). With 500
// rooms a transaction touches 500 places in each message index and 500 conversation rows.
constexpr int kRooms = 10;
constexpr int kPairRooms = 500;

NewMessage make_message(std::uint64_t n, int rooms = kRooms) {
  NewMessage m;
  m.conversation = "room-" + std::to_string(n % static_cast<std::uint64_t>(rooms));
  m.sender = Sender{"user-" + std::to_string(n % 100), "User", "user"};
  m.content = kContent;
  m.client_id = "c-" + std::to_string(n);
  return m;
}

std::shared_ptr<store::Database> open_db(const TempDir& dir) {
  store::sqlite::SqliteDatabase::Options o;
  o.synchronous = "FULL";
  auto db = store::sqlite::SqliteDatabase::open(dir.db(), o);
  if (!db) std::abort();
  return *db;
}

// Waits for `n` completions.
class Latch {
 public:
  void add(std::size_t n) {
    std::lock_guard lock(mu_);
    left_ += n;
  }
  void done() {
    std::lock_guard lock(mu_);
    if (--left_ == 0) cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return left_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t left_ = 0;
};

void BM_StorageAppendSingle(benchmark::State& state) {
  TempDir dir;
  auto storage = std::move(*store::Storage::open(open_db(dir), {}));
  std::uint64_t n = 0;
  Latch latch;
  for (auto _ : state) {
    latch.add(1);
    storage->append(make_message(n++), [&](Result<Appended> r) {
      if (!r) std::abort();
      latch.done();
    });
    latch.wait();
  }
  storage->stop();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StorageAppendSingle)->Unit(benchmark::kMicrosecond)->UseRealTime();

// K senders each waiting for their ack: K appends queued at once, then all awaited.
void storage_append_group(benchmark::State& state, int rooms) {
  TempDir dir;
  auto storage = std::move(*store::Storage::open(open_db(dir), {}));
  const auto k = static_cast<std::size_t>(state.range(0));
  std::uint64_t n = 0;
  Latch latch;
  for (auto _ : state) {
    latch.add(k);
    for (std::size_t i = 0; i < k; ++i) {
      storage->append(make_message(n++, rooms), [&](Result<Appended> r) {
        if (!r) std::abort();
        latch.done();
      });
    }
    latch.wait();
  }
  const auto stats = storage->stats();
  storage->stop();
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["rows_per_tx"] = static_cast<double>(stats.appended) /
                                  static_cast<double>(std::max<std::uint64_t>(1, stats.batches));
}
void BM_StorageAppendGroup(benchmark::State& state) { storage_append_group(state, kRooms); }
void BM_StorageAppendGroup500Rooms(benchmark::State& state) {
  storage_append_group(state, kPairRooms);
}
BENCHMARK(BM_StorageAppendGroup500Rooms)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StorageAppendGroup)
    ->Arg(100)
    ->Arg(500)
    ->Arg(1000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void connection_append_batch(benchmark::State& state, int rooms) {
  TempDir dir;
  auto db = open_db(dir);
  auto conn = std::move(*db->connect());
  const auto k = static_cast<std::size_t>(state.range(0));
  std::uint64_t n = 0;
  std::vector<NewMessage> batch;
  for (auto _ : state) {
    state.PauseTiming();
    batch.clear();
    for (std::size_t i = 0; i < k; ++i) batch.push_back(make_message(n++, rooms));
    state.ResumeTiming();
    auto r = conn->append_batch(batch);
    if (!r) std::abort();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
void BM_ConnectionAppendBatch(benchmark::State& state) { connection_append_batch(state, kRooms); }
void BM_ConnectionAppendBatch500Rooms(benchmark::State& state) {
  connection_append_batch(state, kPairRooms);
}
BENCHMARK(BM_ConnectionAppendBatch500Rooms)
    ->Arg(1000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_ConnectionAppendBatch)
    ->Arg(100)
    ->Arg(1000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void check(int rc, sqlite3* db) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
    std::abort();
  }
}

// The ceiling: the same rows, the same schema and pragmas, no Parley code in the loop.
// `fts_trigger` adds schema version 2's insert trigger (each row indexed in the commit).
void bare_sqlite(benchmark::State& state, bool fts_trigger, int rooms = kRooms) {
  TempDir dir;
  open_db(dir);  // creates and migrates the schema
  sqlite3* db = nullptr;
  check(
      sqlite3_open_v2(dir.db().c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr),
      db);
  check(sqlite3_exec(db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                     " PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
                     " PRAGMA cache_size = -32768; PRAGMA mmap_size = 2147418112",
                     nullptr, nullptr, nullptr),
        db);
  if (fts_trigger) {
    check(sqlite3_exec(db,
                       "CREATE TRIGGER messages_fts_after_insert AFTER INSERT ON messages BEGIN"
                       " INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);"
                       " END",
                       nullptr, nullptr, nullptr),
          db);
  }
  for (int r = 0; r < rooms; ++r) {
    const std::string sql =
        "INSERT INTO conversations (id, created_at, updated_at) VALUES ('room-" +
        std::to_string(r) + "', 1, 1)";
    check(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), db);
  }
  sqlite3_stmt* insert = nullptr;
  sqlite3_stmt* bump = nullptr;
  check(sqlite3_prepare_v3(db,
                           "INSERT INTO messages (conversation, seq, id, sender_id, sender_name,"
                           " sender_role, kind, content, meta, created_at, client_id)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                           -1, SQLITE_PREPARE_PERSISTENT, &insert, nullptr),
        db);
  check(sqlite3_prepare_v3(db,
                           "UPDATE conversations SET last_seq = ?2,"
                           " message_count = message_count + ?3, updated_at = ?4 WHERE id = ?1",
                           -1, SQLITE_PREPARE_PERSISTENT, &bump, nullptr),
        db);
  const auto k = static_cast<std::size_t>(state.range(0));
  std::uint64_t n = 0;
  std::vector<std::int64_t> last(static_cast<std::size_t>(rooms), 0);
  std::vector<std::int64_t> added(static_cast<std::size_t>(rooms), 0);
  std::vector<NewMessage> batch;
  for (auto _ : state) {
    state.PauseTiming();
    batch.clear();
    for (std::size_t i = 0; i < k; ++i) batch.push_back(make_message(n++, rooms));
    state.ResumeTiming();
    check(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), db);
    const std::int64_t now = now_ms();
    for (std::size_t i = 0; i < k; ++i) {
      const NewMessage& m = batch[i];
      const auto room = (n - k + i) % static_cast<std::uint64_t>(rooms);
      ++added[room];
      const std::string id = new_message_id();
      sqlite3_bind_text(insert, 1, m.conversation.data(), static_cast<int>(m.conversation.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(insert, 2, ++last[room]);
      sqlite3_bind_text(insert, 3, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 4, m.sender.id.data(), static_cast<int>(m.sender.id.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(insert, 5, m.sender.name.data(), static_cast<int>(m.sender.name.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(insert, 6, m.sender.role.data(), static_cast<int>(m.sender.role.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(insert, 7, "text", 4, SQLITE_STATIC);
      sqlite3_bind_text(insert, 8, m.content.data(), static_cast<int>(m.content.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(insert, 9, "{}", 2, SQLITE_STATIC);
      sqlite3_bind_int64(insert, 10, now);
      sqlite3_bind_text(insert, 11, m.client_id->data(), static_cast<int>(m.client_id->size()),
                        SQLITE_STATIC);
      check(sqlite3_step(insert), db);
      sqlite3_reset(insert);
    }
    for (int r = 0; r < rooms; ++r) {
      if (added[static_cast<std::size_t>(r)] == 0) continue;
      const std::string id = "room-" + std::to_string(r);
      sqlite3_bind_text(bump, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
      sqlite3_bind_int64(bump, 2, last[static_cast<std::size_t>(r)]);
      sqlite3_bind_int64(bump, 3, added[static_cast<std::size_t>(r)]);
      added[static_cast<std::size_t>(r)] = 0;
      sqlite3_bind_int64(bump, 4, now);
      check(sqlite3_step(bump), db);
      sqlite3_reset(bump);
    }
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db);
  }
  sqlite3_finalize(insert);
  sqlite3_finalize(bump);
  sqlite3_close_v2(db);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
void BM_BareSqlite(benchmark::State& state) { bare_sqlite(state, false); }
BENCHMARK(BM_BareSqlite)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

// The ceiling for chat 500 x 2: the same loop over 500 conversations.
void BM_BareSqlite500Rooms(benchmark::State& state) { bare_sqlite(state, false, kPairRooms); }
BENCHMARK(BM_BareSqlite500Rooms)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_BareSqliteFtsTrigger(benchmark::State& state) { bare_sqlite(state, true); }
BENCHMARK(BM_BareSqliteFtsTrigger)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
