// What only the SQLite backend has: a file that outlives the process, schema migrations, the
// full-text index brought up to date after the commit (behind a watermark). The shared
// contract is tests/conformance.

#include "store/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "core/ids.hpp"
#include "core/time.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/storage.hpp"

namespace parley::store::sqlite {
namespace {

namespace fs = std::filesystem;

template <class T>
T ok(Result<T> result) {
  if (!result) throw std::runtime_error("unexpected error: " + result.error().message());
  return std::move(*result);
}
void ok(Result<void> result) {
  if (!result) throw std::runtime_error("unexpected error: " + result.error().message());
}
template <class T>
boost::system::error_code error_code_of(const Result<T>& result) {
  return result ? boost::system::error_code() : result.error();
}

NewMessage message(const ConversationId& conversation, const std::string& content) {
  NewMessage msg;
  msg.conversation = conversation;
  msg.sender = {"alice", "Alice", "participant"};
  msg.content = content;
  return msg;
}

// A plain sqlite3 handle on the test's file, to look behind the backend's back.
class RawDb {
 public:
  explicit RawDb(const fs::path& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open failed");
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // Runs SQL; the result code.
  int exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }
  // The first column of the first row, as text ("" when no row).
  std::string scalar(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("prepare failed: ") + sqlite3_errmsg(db_));
    }
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("parley-sqlite-" + new_short_id());
    fs::create_directories(dir_);
    path_ = dir_ / "parley.db";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::shared_ptr<SqliteDatabase> open(SqliteDatabase::Options options = {}) {
    return ok(SqliteDatabase::open(path_.string(), std::move(options)));
  }

  // The search watermark and the highest rowid, from a handle of its own.
  std::int64_t watermark() {
    RawDb raw(path_);
    return std::stoll(raw.scalar("SELECT indexed_rowid FROM search_index"));
  }
  std::int64_t max_rowid() {
    RawDb raw(path_);
    return std::stoll(raw.scalar("SELECT coalesce(max(rowid), 0) FROM messages"));
  }
  // FTS5's own check that the index holds exactly the indexed rows with their current
  // content (rank 1 compares it with the messages table), after catching the index up.
  void expect_index_consistent(Connection& conn) {
    while (ok(conn.index_pending(3))) {
    }
    EXPECT_EQ(watermark(), max_rowid());
    RawDb raw(path_);
    EXPECT_EQ(
        raw.exec("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"),
        SQLITE_OK);
  }
  static std::vector<Seq> hit_seqs(Connection& conn, const std::string& text,
                                   std::optional<ConversationId> conversation = std::nullopt) {
    SearchQuery query;
    query.text = text;
    query.conversation = std::move(conversation);
    std::vector<Seq> out;
    for (const SearchHit& hit : ok(conn.search(query))) out.push_back(hit.message.seq);
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
  fs::path path_;
};

TEST_F(SqliteStore, DataSurvivesClosingAndReopening) {
  {
    auto db = open();
    auto conn = ok(db->connect());
    NewConversation request;
    request.id = "kept";
    request.title = "Kept";
    request.participants = {"u1"};
    ok(conn->create_conversation(request));
    std::vector<NewMessage> batch;
    for (int i = 1; i <= 50; ++i) batch.push_back(message("kept", "persist " + std::to_string(i)));
    batch[7].client_id = "c-8";
    ok(conn->append_batch(batch));
    ok(conn->mark_read("kept", "u1", 20));
    ok(conn->upsert_user(User{"u1", "User One", "", "user", 42}));
    ok(conn->delete_message("kept", 3, std::nullopt, 7));
  }
  auto db = open();
  auto conn = ok(db->connect());
  const Conversation conv = ok(conn->get_conversation("kept"));
  EXPECT_EQ(conv.title, "Kept");
  EXPECT_EQ(conv.last_seq, 50);
  EXPECT_EQ(conv.participants, std::vector<UserId>{"u1"});
  const auto messages = ok(conn->read_after("kept", 0, 100));
  ASSERT_EQ(messages.size(), 50u);
  EXPECT_EQ(messages[0].content, "persist 1");
  EXPECT_TRUE(messages[2].deleted);
  EXPECT_EQ(ok(conn->read_seq("kept", "u1")), 20);
  EXPECT_EQ(ok(conn->get_user("u1")).name, "User One");
  // Idempotency survives the restart too.
  NewMessage retry = message("kept", "persist 8 again");
  retry.client_id = "c-8";
  const auto again = ok(conn->append_batch(std::vector<NewMessage>{retry}));
  EXPECT_TRUE(again.at(0).duplicate);
  EXPECT_EQ(again.at(0).message.seq, 8);
  EXPECT_EQ(
      ok(conn->append_batch(std::vector<NewMessage>{message("kept", "51")})).at(0).message.seq, 51);
}

TEST_F(SqliteStore, MigrationsEmbeddedInOrder) {
  const auto all = migrations();
  ASSERT_FALSE(all.empty());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, static_cast<int>(i) + 1);
    EXPECT_FALSE(all[i].sql.empty());
    EXPECT_TRUE(all[i].name.ends_with(".sql"));
  }
  EXPECT_EQ(SqliteDatabase::latest_schema_version(), static_cast<int>(all.size()));
  EXPECT_EQ(all[0].name, "001_init.sql");
}

TEST_F(SqliteStore, MigrationsRunOnAnEmptyFileAndAreRecorded) {
  open();
  RawDb raw(path_);
  const int latest = SqliteDatabase::latest_schema_version();
  EXPECT_EQ(raw.scalar("SELECT max(version) FROM schema_version"), std::to_string(latest));
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM schema_version"), std::to_string(latest));
  EXPECT_EQ(raw.scalar("SELECT name FROM schema_version WHERE version = 1"), "001_init.sql");
  EXPECT_EQ(raw.scalar("PRAGMA journal_mode"), "wal");
  for (const char* table :
       {"conversations", "messages", "read_state", "members", "users", "messages_fts"}) {
    EXPECT_EQ(
        raw.scalar(std::string("SELECT count(*) FROM sqlite_schema WHERE name = '") + table + "'"),
        "1")
        << table;
  }
}

TEST_F(SqliteStore, ReopeningDoesNotReapplyMigrations) {
  open();
  std::string before;
  {
    RawDb raw(path_);
    before = raw.scalar("SELECT group_concat(version || ':' || applied_at) FROM schema_version");
  }
  open();
  open();
  RawDb raw(path_);
  EXPECT_EQ(raw.scalar("SELECT group_concat(version || ':' || applied_at) FROM schema_version"),
            before);
}

TEST_F(SqliteStore, NewerSchemaIsRefused) {
  open();
  {
    RawDb raw(path_);
    const int newer = SqliteDatabase::latest_schema_version() + 1;
    ASSERT_EQ(raw.exec("INSERT INTO schema_version (version, name, applied_at) VALUES (" +
                       std::to_string(newer) + ", '999_future.sql', 0)"),
              SQLITE_OK);
  }
  auto db = SqliteDatabase::open(path_.string());
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error(), Errc::conflict);
}

TEST_F(SqliteStore, OlderSchemaIsMigratedWithItsData) {
  ASSERT_GE(SqliteDatabase::latest_schema_version(), 2);
  {
    SqliteDatabase::Options options;
    options.target_version = 1;
    auto db = open(options);
    auto conn = ok(db->connect());
    ok(conn->append_batch(std::vector<NewMessage>{message("old", "written before search existed"),
                                                  message("old", "another archived line")}));
    RawDb raw(path_);
    EXPECT_EQ(raw.scalar("SELECT max(version) FROM schema_version"), "1");
    EXPECT_EQ(raw.scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'messages_fts'"), "0");
  }
  auto db = open();
  RawDb raw(path_);
  EXPECT_EQ(raw.scalar("SELECT max(version) FROM schema_version"),
            std::to_string(SqliteDatabase::latest_schema_version()));
  auto conn = ok(db->connect());
  SearchQuery query;
  query.text = "archived";
  const auto hits = ok(conn->search(query));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].message.seq, 2);
  EXPECT_EQ(ok(conn->get_conversation("old")).last_seq, 2);
}

TEST_F(SqliteStore, SearchIndexStaysConsistent) {
  auto db = open();
  auto conn = ok(db->connect());
  std::vector<NewMessage> batch;
  for (int i = 0; i < 40; ++i) {
    batch.push_back(message(i % 2 ? "odd" : "even", "word" + std::to_string(i) + " common"));
  }
  ok(conn->append_batch(batch));
  ok(conn->edit_message("odd", 1, "edited text", std::nullopt, 1));
  ok(conn->delete_message("odd", 2, std::nullopt, 1));
  ok(conn->delete_conversation("even"));
  WholeConversation whole;
  whole.id = "odd";
  whole.messages = {message("odd", "replaced common")};
  ok(conn->replace_conversation(whole));
  expect_index_consistent(*conn);
  SearchQuery query;
  query.text = "common";
  EXPECT_EQ(ok(conn->search(query)).size(), 1u);
}

TEST_F(SqliteStore, AppendLeavesTheIndexBehindAndSearchCatchesUp) {
  auto db = open();
  auto writer = ok(db->connect());
  auto reader = ok(db->connect());
  ok(writer->append_batch(std::vector<NewMessage>{message("room", "first kiwi")}));
  ok(writer->index_pending(100));
  EXPECT_EQ(watermark(), max_rowid());
  // The commit itself does not index: the new row sits above the watermark...
  ok(writer->append_batch(std::vector<NewMessage>{message("room", "second kiwi")}));
  EXPECT_LT(watermark(), max_rowid());
  // ...and a search on another connection right after it finds it all the same.
  EXPECT_EQ(hit_seqs(*reader, "kiwi"), (std::vector<Seq>{1, 2}));
  EXPECT_EQ(watermark(), max_rowid());
  // Chunks: index_pending says whether more is left.
  std::vector<NewMessage> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(message("room", "melon " + std::to_string(i)));
  ok(writer->append_batch(batch));
  EXPECT_TRUE(ok(writer->index_pending(4)));
  EXPECT_TRUE(ok(writer->index_pending(4)));
  EXPECT_FALSE(ok(writer->index_pending(4)));
  EXPECT_FALSE(ok(writer->index_pending(4)));
  EXPECT_EQ(hit_seqs(*reader, "melon").size(), 10u);
  expect_index_consistent(*writer);
}

TEST_F(SqliteStore, EditDeleteAndPruneOfUnindexedRowsKeepSearchRight) {
  auto db = open();
  auto conn = ok(db->connect());
  std::vector<NewMessage> batch;
  for (int i = 1; i <= 12; ++i) batch.push_back(message("a", "apple " + std::to_string(i)));
  for (int i = 1; i <= 6; ++i) batch.push_back(message("b", "apple b" + std::to_string(i)));
  ok(conn->append_batch(batch));
  // Half indexed: rows 1..9 below the watermark, the rest above it.
  ok(conn->index_pending(9));
  ASSERT_EQ(watermark(), 9);
  // Edits and deletes on both sides of the watermark.
  ok(conn->edit_message("a", 2, "pear two", std::nullopt, 1));      // indexed
  ok(conn->edit_message("a", 11, "pear eleven", std::nullopt, 1));  // not yet
  ok(conn->delete_message("a", 3, std::nullopt, 1));                // indexed
  ok(conn->delete_message("a", 12, std::nullopt, 1));               // not yet
  // Retention across the watermark: a prefix of "a" up to seq 5.
  EXPECT_EQ(ok(conn->prune("a", 7, std::nullopt, false)), 5);
  // A whole conversation that is entirely unindexed goes.
  ok(conn->delete_conversation("b"));
  expect_index_consistent(*conn);
  EXPECT_EQ(hit_seqs(*conn, "apple", "a"), (std::vector<Seq>{6, 7, 8, 9, 10}));
  EXPECT_EQ(hit_seqs(*conn, "pear"), (std::vector<Seq>{11}));
  EXPECT_TRUE(hit_seqs(*conn, "b1").empty());
}

TEST_F(SqliteStore, RowidsFreedAtTheTopAreNeverLeftUnindexed) {
  auto db = open();
  auto conn = ok(db->connect());
  std::vector<NewMessage> batch;
  for (int i = 1; i <= 4; ++i) batch.push_back(message("keep", "plum " + std::to_string(i)));
  for (int i = 1; i <= 4; ++i) batch.push_back(message("drop", "plum " + std::to_string(i)));
  ok(conn->append_batch(batch));
  ok(conn->index_pending(100));
  ASSERT_EQ(watermark(), 8);
  // The highest rowids go; SQLite hands them out again to the next rows, which must land
  // above the (lowered) watermark, or they would never be indexed.
  ok(conn->delete_conversation("drop"));
  EXPECT_EQ(watermark(), 4);
  ok(conn->append_batch(std::vector<NewMessage>{message("new", "plum fresh")}));
  EXPECT_EQ(max_rowid(), 5);
  EXPECT_EQ(hit_seqs(*conn, "fresh", "new"), (std::vector<Seq>{1}));
  // The same with the top rows not indexed when they go: rows 6..8 above watermark 5.
  ok(conn->append_batch(
      std::vector<NewMessage>{message("gone", "cherry 1"), message("gone", "cherry 2")}));
  ok(conn->index_pending(100));
  ok(conn->append_batch(std::vector<NewMessage>{message("gone", "cherry 3")}));
  ok(conn->prune("gone", 0, std::nullopt, false));
  EXPECT_LE(watermark(), max_rowid());
  ok(conn->append_batch(std::vector<NewMessage>{message("later", "cherry late")}));
  EXPECT_EQ(hit_seqs(*conn, "cherry"), (std::vector<Seq>{1}));
  expect_index_consistent(*conn);
}

TEST_F(SqliteStore, RestartCatchesUpAnUnindexedTail) {
  {
    auto db = open();
    auto conn = ok(db->connect());
    std::vector<NewMessage> batch;
    for (int i = 0; i < 300; ++i) batch.push_back(message("tail", "grape " + std::to_string(i)));
    ok(conn->append_batch(batch));
  }
  // The process "crashed" with the whole tail unindexed.
  ASSERT_EQ(watermark(), 0);
  ASSERT_EQ(max_rowid(), 300);
  auto db = open();
  Storage::Options options;
  options.index_chunk = 64;  // several chunks
  auto storage = ok(Storage::open(db, options));
  // Nobody searches: the writer catches up on its own when it starts.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (watermark() < 300 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(watermark(), 300);
  // And a send through Storage is searchable right after its ack.
  std::promise<Result<Appended>> acked;
  storage->append(message("tail", "grape final"), [&](Result<Appended> r) { acked.set_value(r); });
  EXPECT_EQ(ok(acked.get_future().get()).message.seq, 301);
  std::promise<std::vector<Seq>> found;
  storage->read([&](Connection& c) { found.set_value(hit_seqs(c, "final")); });
  EXPECT_EQ(found.get_future().get(), std::vector<Seq>{301});
  storage->stop();
  auto conn = ok(db->connect());
  expect_index_consistent(*conn);
}

TEST_F(SqliteStore, ForeignKeysCascade) {
  auto db = open();
  auto conn = ok(db->connect());
  NewConversation request;
  request.id = "gone";
  request.participants = {"u1"};
  ok(conn->create_conversation(request));
  ok(conn->append_batch(std::vector<NewMessage>{message("gone", "x")}));
  ok(conn->mark_read("gone", "u1", 1));
  ok(conn->delete_conversation("gone"));
  RawDb raw(path_);
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM messages"), "0");
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM read_state"), "0");
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM members"), "0");
}

TEST_F(SqliteStore, UnknownSynchronousIsRejected) {
  SqliteDatabase::Options options;
  options.synchronous = "sometimes";
  auto db = SqliteDatabase::open(path_.string(), options);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error(), Errc::invalid_argument);
  options.synchronous = "normal";
  EXPECT_TRUE(SqliteDatabase::open(path_.string(), options));
}

TEST_F(SqliteStore, NotADatabaseIsDataLoss) {
  {
    std::ofstream file(path_);
    file << std::string(8192, 'z');
  }
  auto db = SqliteDatabase::open(path_.string());
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error(), Errc::data_loss);
}

TEST_F(SqliteStore, UnreachableFileIsUnavailable) {
  auto db = SqliteDatabase::open((dir_ / "missing-dir" / "parley.db").string());
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error(), Errc::unavailable);
}

TEST_F(SqliteStore, BusyWriterTimesOutAsUnavailable) {
  SqliteDatabase::Options options;
  options.busy_timeout = std::chrono::milliseconds(50);
  auto db = open(options);
  auto conn = ok(db->connect());
  RawDb raw(path_);
  ASSERT_EQ(raw.exec("BEGIN IMMEDIATE"), SQLITE_OK);  // another writer holds the lock
  auto result = conn->append_batch(std::vector<NewMessage>{message("room", "x")});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), Errc::unavailable);
  ASSERT_EQ(raw.exec("ROLLBACK"), SQLITE_OK);
  // The connection recovers once the lock is free, and nothing of the failed batch exists.
  EXPECT_EQ(error_code_of(conn->get_conversation("room")), Errc::not_found);
  EXPECT_EQ(ok(conn->append_batch(std::vector<NewMessage>{message("room", "y")})).at(0).message.seq,
            1);
}

// A file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes every write past it fail with
// EFBIG, which SQLite reports as an I/O error: what a full or yanked volume looks like to it.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    if (getrlimit(RLIMIT_FSIZE, &old_) != 0) throw std::runtime_error("getrlimit");
    rlimit tight = old_;
    tight.rlim_cur = bytes;
    if (setrlimit(RLIMIT_FSIZE, &tight) != 0) throw std::runtime_error("setrlimit");
  }
  void lift() {
    if (lifted_) return;
    lifted_ = true;
    setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }
  ~FileSizeLimit() { lift(); }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit old_{};
  void (*old_handler_)(int) = nullptr;
  bool lifted_ = false;
};

TEST_F(SqliteStore, WritesRecoverByThemselvesAfterAnIoErrorWhileReadsGoOn) {
  auto db = open();
  auto writer = ok(db->connect());
  auto reader = ok(db->connect());
  ok(writer->append_batch(std::vector<NewMessage>{message("room", "before")}));
  const std::string big(256 * 1024, 'x');  // past the limit whatever the WAL's offset
  {
    FileSizeLimit limit(4096);
    auto failed = writer->append_batch(std::vector<NewMessage>{message("room", big)});
    ASSERT_FALSE(failed) << "the write past the file-size limit succeeded";
    EXPECT_EQ(failed.error(), Errc::unavailable);
    // Still failing while the cause lasts, and nothing was stored.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(writer->append_batch(std::vector<NewMessage>{message("room", big)}));
    // Reads go on meanwhile.
    EXPECT_EQ(ok(reader->read_after("room", 0, 10)).size(), 1u);
    limit.lift();
  }
  // The cause is gone: writes come back on the same connection, without a restart, within
  // the reopen backoff (100 ms doubling to 2 s at most).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  Result<std::vector<Appended>> again = make_error_code(Errc::unavailable);
  while (std::chrono::steady_clock::now() < deadline) {
    again = writer->append_batch(std::vector<NewMessage>{message("room", "after")});
    if (again) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(again) << "writes never recovered: " << again.error().message();
  EXPECT_EQ(again->at(0).message.seq, 2);
  EXPECT_EQ(ok(reader->read_after("room", 0, 10)).size(), 2u);
}

// Group-commit throughput of the hot path: batches of 500 messages across 50 conversations,
// synchronous=FULL. Prints the rate; asserts only correctness.
TEST_F(SqliteStore, AppendBatchThroughput) {
  auto db = open();
  auto conn = ok(db->connect());
  constexpr int kBatches = 20;
  constexpr int kPerBatch = 500;
  const std::string content(200, 'x');
  const auto start = std::chrono::steady_clock::now();
  for (int b = 0; b < kBatches; ++b) {
    std::vector<NewMessage> batch;
    batch.reserve(kPerBatch);
    for (int i = 0; i < kPerBatch; ++i) {
      NewMessage msg = message("room-" + std::to_string(i % 50), content);
      msg.client_id = std::to_string(b) + "-" + std::to_string(i);
      batch.push_back(std::move(msg));
    }
    ASSERT_EQ(ok(conn->append_batch(batch)).size(), static_cast<std::size_t>(kPerBatch));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ timing   ] %d messages in %d batches: %.3f s, %.0f messages/s, %.1f ms/batch\n",
              kBatches * kPerBatch, kBatches, seconds, kBatches * kPerBatch / seconds,
              seconds * 1000 / kBatches);
  EXPECT_EQ(ok(conn->get_conversation("room-0")).last_seq, kBatches * kPerBatch / 50);
}

}  // namespace
}  // namespace parley::store::sqlite
