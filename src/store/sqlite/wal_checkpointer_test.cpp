// Replacing SQLite's in-commit checkpoints (wal_checkpointer.hpp) must not stop them: while
// the writer keeps its connection open and committing, pages reach the database file and
// the WAL is restarted instead of growing with every commit (it grew to 126 MB in this test
// when the hook replaced SQLite's checkpoints with nothing that worked).

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_store.hpp"
#include <sqlite3.h>

#include "store/sqlite/wal_checkpointer.hpp"

namespace parley::store::sqlite {
namespace {

namespace fs = std::filesystem;

TEST(WalCheckpointer, CheckpointsWhileTheWriterCommits) {
  const fs::path dir = fs::temp_directory_path() /
                       ("parley-wal-" + std::to_string(::getpid()) + "-" +
                        std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  fs::create_directories(dir);
  const fs::path path = dir / "parley.db";
  {
    auto db = SqliteDatabase::open(path.string());
    ASSERT_TRUE(db);
    auto conn = (*db)->connect();
    ASSERT_TRUE(conn);
    const auto before = fs::file_size(path);
    // About 16 MB of WAL: several checkpoints' worth.
    const std::string content(2000, 'x');
    for (int tx = 0; tx < 160; ++tx) {
      std::vector<NewMessage> batch;
      for (int i = 0; i < 100; ++i) {
        NewMessage msg;
        msg.conversation = "c" + std::to_string(i % 7);
        msg.sender = {"alice", "Alice", "participant"};
        msg.content = content + std::to_string(tx * 100 + i);
        batch.push_back(std::move(msg));
      }
      ASSERT_TRUE((*conn)->append_batch(batch));
    }
    // The checkpoint thread copies the WAL into the database file meanwhile; give the last
    // request a moment.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (fs::file_size(path) < before + 8 * 1024 * 1024 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_GE(fs::file_size(path), before + 8 * 1024 * 1024)
        << "the database file did not grow while the connection was open: no checkpoint ran";
    // The WAL was restarted from its start rather than growing with every commit.
    // The file keeps its high-water mark: about kInlinePages pages, more when an inline
    // checkpoint found the thread's under way (it then retries at the next commit), far
    // from the ~40 MB this test writes.
    EXPECT_LT(fs::file_size(path.string() + "-wal"), 3u * WalCheckpointer::kInlinePages * 4096u);
    auto rows = (*conn)->read_after("c0", 0, 5000);
    ASSERT_TRUE(rows);
    EXPECT_EQ(rows->size(), 2400u);  // 15 of every 100 messages
  }
  fs::remove_all(dir);
}

// Past kPages the thread is asked once per kStep new pages, not after every commit: while a
// reader holds an old snapshot the WAL cannot restart, and the old hook asked for a
// checkpoint (two fsyncs) after each of these 300 commits.
TEST(WalCheckpointer, AsksOncePerStepNotPerCommit) {
  const fs::path dir = fs::temp_directory_path() /
                       ("parley-walstep-" + std::to_string(::getpid()) + "-" +
                        std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  fs::create_directories(dir);
  const std::string path = (dir / "step.db").string();
  sqlite3* db = nullptr;
  sqlite3* reader = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA journal_mode = WAL; CREATE TABLE t(x)", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  {
    auto checkpointer = WalCheckpointer::start(path);
    ASSERT_TRUE(checkpointer);
    checkpointer->attach(db);
    // A reader's snapshot from the start keeps every later frame in the WAL.
    ASSERT_EQ(sqlite3_open(path.c_str(), &reader), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM t", nullptr, nullptr, nullptr),
              SQLITE_OK);
    // ~1,100 pages in one commit: past kPages.
    ASSERT_EQ(sqlite3_exec(db, "INSERT INTO t VALUES (zeroblob(4500000))", nullptr, nullptr,
                           nullptr),
              SQLITE_OK);
    for (int i = 0; i < 300; ++i) {
      ASSERT_EQ(sqlite3_exec(db, "INSERT INTO t VALUES (1)", nullptr, nullptr, nullptr),
                SQLITE_OK);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the thread keeps up
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // 300 commits of one or two pages each: at most 600 / kStep + 1 requests.
    EXPECT_GE(checkpointer->checkpoints(), 1u);
    EXPECT_LE(checkpointer->checkpoints(), 600u / WalCheckpointer::kStep + 1);
    sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(reader);
    sqlite3_close(db);  // before the checkpointer it was attached to
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace parley::store::sqlite
