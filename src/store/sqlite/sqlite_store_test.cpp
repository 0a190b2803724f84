// What only the SQLite backend has: a file that outlives the process, schema migrations, the
// full-text index kept in step by triggers. The shared contract is tests/conformance.

#include "store/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "core/ids.hpp"
#include "core/time.hpp"
#include "store/sqlite/migrations.hpp"

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
  RawDb raw(path_);
  // FTS5 reports a mismatch between the index and the messages table as an error.
  EXPECT_EQ(raw.exec("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"),
            SQLITE_OK);
  SearchQuery query;
  query.text = "common";
  EXPECT_EQ(ok(conn->search(query)).size(), 1u);
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
