// `export` of a very long conversation keeps a flat memory profile: the export runs in a
// forked child whose peak RSS must stay under a fixed bound (64 MiB; 41 MiB measured for 1M
// messages, 38 of them the writing parent's pages the child starts with), however many
// messages there are. The CLI reads without a memory map: with one, every page of the file
// would count (docs/storage.md). Label `memory` (scripts/run-tests.sh, not
// `ctest -L unit`): 1M messages by default, PARLEY_EXPORT_MESSAGES to change.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/export.hpp"
#include "cli/storage_options.hpp"
#include "core/ids.hpp"

namespace parley::cli {
namespace {

long rss_kib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

TEST(ExportMemory, StaysFlatForAMillionMessages) {
  std::int64_t total = 1'000'000;
  if (const char* n = std::getenv("PARLEY_EXPORT_MESSAGES")) total = std::atoll(n);
  const auto dir = std::filesystem::temp_directory_path() / ("parley-export-mem-" + new_short_id());
  std::filesystem::create_directories(dir);
  {
    store::StoreConfig sc;
    sc.sqlite_path = (dir / "parley.db").string();
    sc.sqlite_synchronous = "NORMAL";
    auto db = store::open_database(sc);
    ASSERT_TRUE(db);
    auto c = std::move(*(*db)->connect());
    std::vector<NewMessage> batch;
    const std::string text(120, 'x');
    for (std::int64_t i = 0; i < total; i += 10'000) {
      batch.clear();
      for (std::int64_t j = i; j < std::min(total, i + 10'000); ++j) {
        NewMessage m;
        m.conversation = "big";
        m.sender = {"u" + std::to_string(j % 7), "User", "user"};
        m.content = text + std::to_string(j);
        m.created_at = 1'700'000'000'000 + j;
        batch.push_back(std::move(m));
      }
      ASSERT_TRUE(c->append_batch(batch));
    }
  }
  for (auto format : {api::ExportFormat::jsonl, api::ExportFormat::json, api::ExportFormat::csv}) {
    const long before = rss_kib();
    std::fflush(stdout);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      StorageOptions o;
      o.data_dir = dir.string();
      auto db = open_storage(o);
      if (!db) _exit(2);
      auto c = (*db)->connect();
      if (!c) _exit(3);
      std::int64_t bytes = 0;
      auto r = export_store(**c, std::nullopt, format, [&](std::string_view s) {
        bytes += static_cast<std::int64_t>(s.size());
      });
      _exit(r && bytes > total * 100 ? 0 : 4);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    rusage ru{};
    getrusage(RUSAGE_CHILDREN, &ru);  // the largest child so far
    std::printf("export %d: RSS at fork %ld KiB, child peak %ld KiB\n", static_cast<int>(format),
                before, ru.ru_maxrss);
    // The whole exporting process, SQLite page cache included, however long the export.
    EXPECT_LT(ru.ru_maxrss, 64 * 1024) << "export peaked over 64 MiB";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace parley::cli
