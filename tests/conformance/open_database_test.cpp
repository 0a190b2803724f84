// open_database(): how configuration picks a backend.

#include <gtest/gtest.h>

#include <filesystem>
#include <system_error>

#include "core/ids.hpp"
#include "store/store.hpp"

namespace parley::store {
namespace {

namespace fs = std::filesystem;

class OpenDatabase : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = fs::temp_directory_path() / ("parley-open-" + new_short_id());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(scratch_, ec);
  }
  fs::path scratch_;
};

TEST_F(OpenDatabase, MemoryPath) {
  StoreConfig config;
  config.sqlite_path = "memory:";
  auto db = open_database(config);
  ASSERT_TRUE(db);
  EXPECT_EQ((*db)->kind(), "memory");
  EXPECT_FALSE((*db)->persistent());
  EXPECT_TRUE((*db)->connect());
}

TEST_F(OpenDatabase, SqliteCreatesParentFolders) {
  StoreConfig config;
  config.sqlite_path = (scratch_ / "a" / "b" / "parley.db").string();
  auto db = open_database(config);
  ASSERT_TRUE(db) << db.error().message();
  EXPECT_EQ((*db)->kind(), "sqlite");
  EXPECT_TRUE((*db)->persistent());
  EXPECT_TRUE(fs::exists(scratch_ / "a" / "b" / "parley.db"));
}

TEST_F(OpenDatabase, SqliteSynchronousIsChecked) {
  StoreConfig config;
  config.sqlite_path = (scratch_ / "parley.db").string();
  config.sqlite_synchronous = "NORMAL";
  EXPECT_TRUE(open_database(config));
  config.sqlite_synchronous = "OFF; DROP TABLE messages";
  auto db = open_database(config);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error(), Errc::invalid_argument);
}

TEST_F(OpenDatabase, SqliteFailsWhereNoFileCanBeMade) {
  fs::create_directories(scratch_);
  {
    std::FILE* file = std::fopen((scratch_ / "plain-file").c_str(), "w");
    ASSERT_NE(file, nullptr);
    std::fclose(file);
  }
  StoreConfig config;
  config.sqlite_path = (scratch_ / "plain-file" / "parley.db").string();  // parent is a file
  auto db = open_database(config);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error(), Errc::unavailable);
}

TEST_F(OpenDatabase, UnknownUrlSchemeIsRejected) {
  StoreConfig config;
  config.database_url = "mysql://user:secret@host/db";
  auto db = open_database(config);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error(), Errc::invalid_argument);
}

#ifndef PARLEY_HAVE_POSTGRES
TEST_F(OpenDatabase, PostgresUrlWithoutPostgresSupport) {
  for (const char* url : {"postgresql://u:p@127.0.0.1/db", "postgres://127.0.0.1/db"}) {
    StoreConfig config;
    config.database_url = url;
    auto db = open_database(config);
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error(), Errc::invalid_argument) << url;
  }
}
#endif

}  // namespace
}  // namespace parley::store
