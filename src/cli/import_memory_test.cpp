// `import` of a large MongoDB dump keeps a flat memory profile and reports its rate: 1M
// messages (1,000 conversations of 1,000, written interleaved as an app inserts them, so the
// reader has to regroup them) from mongodump BSON into a SQLite store, in a forked child whose
// peak RSS must stay under 96 MiB. What grows with the source is the reader's index of where
// each message is (16 bytes a message, 16 MB for 1M); a conversation's messages are held only
// while it is written. Label `memory` (scripts/run-tests.sh): PARLEY_IMPORT_MESSAGES changes
// the count; the rate goes to stdout (bench/README.md).
#include <bson/bson.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/import.hpp"
#include "cli/storage_options.hpp"
#include "core/ids.hpp"

namespace parley::cli {
namespace {

TEST(ImportMemory, MongodumpOfAMillionMessagesStaysFlat) {
  std::int64_t total = 1'000'000;
  if (const char* n = std::getenv("PARLEY_IMPORT_MESSAGES")) total = std::atoll(n);
  constexpr std::int64_t kConversations = 1000;
  const auto dir = std::filesystem::temp_directory_path() / ("parley-import-mem-" + new_short_id());
  std::filesystem::create_directories(dir / "dump");
  {
    std::ofstream conversations(dir / "dump" / "conversations.bson", std::ios::binary);
    for (std::int64_t c = 0; c < kConversations; ++c) {
      bson_t d;
      bson_init(&d);
      bson_oid_t id;
      bson_oid_init_from_string(
          &id, (std::string("65f1") + std::string(20 - std::to_string(c).size(), '0') +
                std::to_string(c))
                   .c_str());
      BSON_APPEND_OID(&d, "_id", &id);
      BSON_APPEND_BOOL(&d, "isGroup", true);
      BSON_APPEND_UTF8(&d, "groupName", ("group " + std::to_string(c)).c_str());
      BSON_APPEND_DATE_TIME(&d, "createdAt", 1'700'000'000'000);
      conversations.write(reinterpret_cast<const char*>(bson_get_data(&d)), d.len);
      bson_destroy(&d);
    }
    std::ofstream messages(dir / "dump" / "messages.bson", std::ios::binary);
    const std::string text(120, 'x');
    for (std::int64_t i = 0; i < total; ++i) {
      const std::int64_t c = i % kConversations;
      bson_t d;
      bson_init(&d);
      bson_oid_t id, conv, sender;
      bson_oid_init(&id, nullptr);  // time, process, counter: increasing, as the app makes them
      bson_oid_init_from_string(
          &conv, (std::string("65f1") + std::string(20 - std::to_string(c).size(), '0') +
                  std::to_string(c))
                     .c_str());
      bson_oid_init_from_string(&sender,
                                ("65f2000000000000000000" + std::to_string(10 + i % 7)).c_str());
      BSON_APPEND_OID(&d, "_id", &id);
      BSON_APPEND_OID(&d, "conversation", &conv);
      BSON_APPEND_OID(&d, "sender", &sender);
      BSON_APPEND_UTF8(&d, "content", (text + std::to_string(i)).c_str());
      BSON_APPEND_UTF8(&d, "type", "text");
      BSON_APPEND_DATE_TIME(&d, "createdAt", 1'700'000'000'000 + i);
      messages.write(reinterpret_cast<const char*>(bson_get_data(&d)), d.len);
      bson_destroy(&d);
    }
  }
  std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    StorageOptions o;
    o.data_dir = (dir / "store").string();
    o.sqlite_synchronous = "NORMAL";
    auto db = open_storage(o);
    if (!db) _exit(2);
    auto c = (*db)->connect();
    if (!c) _exit(3);
    ImportOptions options;
    const auto s = import_source(c->get(), importers::Format::mongodump, dir / "dump", options);
    const bool ok = !s.aborted && s.report.skipped() == 0 && s.mismatches.empty() &&
                    s.messages_written == static_cast<std::size_t>(total);
    _exit(ok ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  std::printf(
      "import mongodump: %lld messages in %lld conversations, %.1f s, %.0f messages/s "
      "(verified), child peak RSS %ld KiB\n",
      static_cast<long long>(total), static_cast<long long>(kConversations), seconds,
      static_cast<double>(total) / seconds, ru.ru_maxrss);
  EXPECT_LT(ru.ru_maxrss, 96 * 1024) << "import peaked over 96 MiB";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace parley::cli
