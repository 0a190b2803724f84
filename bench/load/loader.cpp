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
  // The store indexes full text after the commit (docs/storage.md): catch the index up here,
  // in big chunks, so the server starts with nothing left to index.
  const auto t = std::chrono::steady_clock::now();
  for (;;) {
    auto more = (*conn)->index_pending(1'000'000);
    if (!more) {
      std::cerr << "load: the full-text index could not be caught up: " << more.error().message()
                << "\n";
      return 1;
    }
    if (!*more) break;
  }
  conn->reset();
  std::cerr << "load: full-text index caught up in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count()
            << " s\n";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  boost::json::object o;
  o["scenario"] = "load";
  o["messages"] = written;
  o["conversations"] = opt.conversations;
  o["batch"] = opt.batch;
  o["seconds"] = seconds;
  o["rows_per_s"] = std::llround(static_cast<double>(written) / seconds);
  o["ok"] = true;
  std::cout << "load: " << written << " messages into " << opt.conversations << " conversations in "
            << seconds << " s (" << std::round(static_cast<double>(written) / seconds)
            << " rows/s)\n";
  print_result(o);
  return 0;
}

}  // namespace parley::bench
