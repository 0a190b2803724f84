// load: fills an SQLite store directly (no server) for the history scenario, through the same
// Connection::append_batch the server's writer uses, in big transactions. Messages go round
// robin over the conversations, as live traffic interleaves them, so a conversation's
// messages are spread over the table as they would be in production.

#include <sqlite3.h>

#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <iostream>

#include "common.hpp"
#include "scenarios.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace parley::bench {

namespace {

// Runs one statement on a short-lived handle of its own; false (and a message) on failure.
bool exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db, 10000);
    rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  }
  if (rc != SQLITE_OK)
    std::cerr << "load: " << sql.substr(0, 60) << ": " << sqlite3_errmsg(db) << "\n";
  sqlite3_close_v2(db);
  return rc == SQLITE_OK;
}

// The text of the full-text index's insert trigger, as the migrations created it.
std::string fts_insert_trigger(const std::string& path) {
  sqlite3* db = nullptr;
  std::string sql;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db,
                           "SELECT sql FROM sqlite_schema WHERE type = 'trigger'"
                           " AND name = 'messages_fts_after_insert'",
                           -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      sql = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db);
  return sql;
}

// Every connection this process opens (the store's own included) gets a big page cache: the
// (conversation, seq) index takes inserts at as many places as there are conversations.
int big_cache(sqlite3* db, char**, const sqlite3_api_routines*) {
  sqlite3_exec(db, "PRAGMA cache_size = -524288", nullptr, nullptr, nullptr);  // 512 MiB
  return SQLITE_OK;
}

}  // namespace

int run_load(const LoadOptions& opt) {
  if (opt.db.empty() || opt.conversations == 0 || opt.batch == 0) {
    std::cerr << "load: --db, --conversations and --batch are required\n";
    return 2;
  }
  sqlite3_auto_extension(reinterpret_cast<void (*)()>(big_cache));
  store::sqlite::SqliteDatabase::Options dbo;
  dbo.synchronous = opt.synchronous;
  auto db = store::sqlite::SqliteDatabase::open(opt.db, dbo);
  if (!db) {
    std::cerr << "load: cannot open " << opt.db << ": " << db.error().message() << "\n";
    return 1;
  }
  // Indexing each row through the trigger costs more than the insert itself; without it, then
  // one FTS5 'rebuild', loads several times faster and ends with the same index and schema.
  std::string trigger;
  if (opt.fts_rebuild) {
    trigger = fts_insert_trigger(opt.db);
    if (trigger.empty() || !exec(opt.db, "DROP TRIGGER messages_fts_after_insert")) {
      std::cerr << "load: cannot find the FTS insert trigger; indexing row by row\n";
      trigger.clear();
    }
  }
  auto conn = (*db)->connect();
  if (!conn) {
    std::cerr << "load: cannot connect: " << conn.error().message() << "\n";
    return 1;
  }
  const std::string lorem =
      " lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt "
      "ut labore et dolore magna aliqua";
  const TimeMs base = now_ms() - static_cast<TimeMs>(opt.messages);  // one per ms, in the past
  std::vector<NewMessage> batch;
  batch.reserve(opt.batch);
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  std::uint64_t written = 0;
  while (written < opt.messages) {
    batch.clear();
    const std::uint64_t end = std::min<std::uint64_t>(opt.messages, written + opt.batch);
    for (std::uint64_t k = written; k < end; ++k) {
      NewMessage m;
      m.conversation = opt.prefix + std::to_string(k % opt.conversations);
      const std::uint64_t user = (k / opt.conversations) % 8;
      m.sender = Sender{"u" + std::to_string(user), "User " + std::to_string(user), "user"};
      m.content = "message " + std::to_string(k);
      if (opt.content_bytes > m.content.size()) {
        m.content += lorem.substr(0, std::min(lorem.size(), opt.content_bytes - m.content.size()));
      }
      m.created_at = base + static_cast<TimeMs>(k);
      batch.push_back(std::move(m));
    }
    auto r = (*conn)->append_batch(batch);
    if (!r) {
      std::cerr << "load: append_batch failed at " << written << ": " << r.error().message()
                << "\n";
      if (!trigger.empty()) exec(opt.db, trigger);
      return 1;
    }
    written = end;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report > std::chrono::seconds(10)) {
      const double s = std::chrono::duration<double>(now - start).count();
      std::cerr << "load: " << written << " messages in " << std::round(s) << " s ("
                << std::round(static_cast<double>(written) / s) << "/s)\n";
      last_report = now;
    }
  }
  conn->reset();
  if (!trigger.empty()) {
    const auto t = std::chrono::steady_clock::now();
    if (!exec(opt.db, "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')") ||
        !exec(opt.db, trigger)) {
      std::cerr << "load: the full-text index could not be rebuilt: the store is incomplete\n";
      return 1;
    }
    std::cerr << "load: full-text index rebuilt in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count()
              << " s\n";
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  boost::json::object o;
  o["scenario"] = "load";
  o["messages"] = written;
  o["conversations"] = opt.conversations;
  o["batch"] = opt.batch;
  o["seconds"] = seconds;
  o["fts"] = trigger.empty() ? "trigger" : "rebuild";
  o["rows_per_s"] = std::llround(static_cast<double>(written) / seconds);
  o["ok"] = true;
  std::cout << "load: " << written << " messages into " << opt.conversations << " conversations in "
            << seconds << " s (" << std::round(static_cast<double>(written) / seconds)
            << " rows/s)\n";
  print_result(o);
  return 0;
}

}  // namespace parley::bench
