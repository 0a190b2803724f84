// libFuzzer target: the import readers (cli/importers), fed through a file as
// `parley import` reads them. The first byte picks the format (mod 4): 0 webwoz (the rest is
// one room file in a directory), 1 conversations-json, 2 jsonl, 3 sqlite-tables (the rest is
// a SQLite database file). Checks: nothing crashes, every conversation handed over has a
// valid id, and the reader's counts agree with what it handed over.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/importers.hpp"
#include "core/ids.hpp"

namespace fs = std::filesystem;
using namespace parley;
using namespace parley::cli;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "parley-import-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) __builtin_trap();
    path = tmpl;
    fs::create_directory(path / "webwoz");
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static TempDir dir;
  if (size == 0) return 0;
  const auto format = static_cast<importers::Format>(data[0] % 4);
  fs::path file, source;
  switch (format) {
    case importers::Format::webwoz:
      file = dir.path / "webwoz" / "room-1.json";
      source = dir.path / "webwoz";
      break;
    case importers::Format::conversations_json:
      file = source = dir.path / "conversations.json";
      break;
    case importers::Format::jsonl:
      file = source = dir.path / "messages.jsonl";
      break;
    case importers::Format::sqlite_tables:
      file = source = dir.path / "chat.db";
      break;
    default:  // the SQL and Mongo sources: import_mongo_fuzz.cpp, import_sources_test.cpp
      return 0;
  }
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data) + 1, static_cast<std::streamsize>(size - 1));
    if (!out) __builtin_trap();
  }
  importers::ParseReport report;
  std::size_t conversations = 0, messages = 0;
  importers::parse(
      format, source,
      [&](importers::ParsedConversation&& c) {
        if (!is_valid_id(c.whole.id)) __builtin_trap();
        for (const auto& mark : c.marks) {
          if (mark.index >= c.whole.messages.size()) __builtin_trap();
        }
        ++conversations;
        messages += c.whole.messages.size();
        return true;
      },
      report);
  if (report.conversations != conversations || report.messages != messages) __builtin_trap();
  for (const auto& issue : report.issues) (void)importers::to_string(issue);
  if (format == importers::Format::sqlite_tables) {
    std::error_code ec;  // SQLite may leave a journal behind
    fs::remove(dir.path / "chat.db-journal", ec);
  }
  return 0;
}
