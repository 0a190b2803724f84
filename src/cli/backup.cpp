// `parley backup PATH` and `parley restore PATH`: a whole SQLite store copied with SQLite's
// online backup API (consistent while a server writes to it: one read transaction over the
// WAL), written as PATH.part and renamed when complete. For PostgreSQL both print the
// pg_dump / pg_restore command to use instead.
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "cli/commands.hpp"
#include "cli/storage_options.hpp"
#include "core/log.hpp"

namespace parley::cli {

namespace fs = std::filesystem;

namespace {

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

Db open_db(const std::string& path, int flags, std::string& why) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    why = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return nullptr;
  }
  sqlite3_busy_timeout(raw, 10'000);
  return db;
}

bool exec(sqlite3* db, const char* sql, std::string& why) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    why = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return false;
  }
  return true;
}

// The first column of the first row of `sql` as text; nullopt on error (why says it).
std::optional<std::string> scalar(sqlite3* db, const char* sql, std::string& why) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
    why = sqlite3_errmsg(db);
    return std::nullopt;
  }
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
  const int rc = sqlite3_step(raw);
  if (rc == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(raw, 0);
    return std::string(text ? reinterpret_cast<const char*>(text) : "");
  }
  if (rc == SQLITE_DONE) return std::string();
  why = sqlite3_errmsg(db);
  return std::nullopt;
}

// Copies every page of `from` into `to` in one step: one read transaction on the source, so
// the copy is a consistent snapshot even while another process commits. Retries while the
// destination (or a source checkpoint) is busy.
bool copy_pages(sqlite3* from, sqlite3* to, std::string& why) {
  sqlite3_backup* b = sqlite3_backup_init(to, "main", from, "main");
  if (!b) {
    why = sqlite3_errmsg(to);
    return false;
  }
  int rc = SQLITE_OK;
  for (int attempt = 0; attempt < 600; ++attempt) {
    rc = sqlite3_backup_step(b, -1);
    if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    why = sqlite3_errmsg(to);
    if (why.empty() || why == "not an error") why = sqlite3_errstr(rc);
    return false;
  }
  return true;
}

// "N conversation(s), M message(s)" of a Parley SQLite file; nullopt if it is not one.
std::optional<std::string> describe(sqlite3* db, std::string& why) {
  auto conversations = scalar(db, "SELECT count(*) FROM conversations", why);
  if (!conversations) return std::nullopt;
  auto messages = scalar(db, "SELECT count(*) FROM messages", why);
  if (!messages) return std::nullopt;
  return *conversations + " conversation(s), " + *messages + " message(s)";
}

bool fsync_path(const fs::path& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// The PostgreSQL the options name, for a printed command: the URL without its password
// (pg_dump takes PGPASSWORD), or one built from DB_HOST, DB_PORT, DB_NAME, DB_USER.
std::string postgres_target(const StorageOptions& options, bool& has_password) {
  has_password = false;
  std::string url = options.database_url;
  if (url.empty()) {
    auto env = [](const char* name, const char* fallback) {
      const char* v = std::getenv(name);
      return std::string(v && *v ? v : fallback);
    };
    url = "postgresql://" + env("DB_USER", "parley") + "@" + env("DB_HOST", "localhost") + ":" +
          env("DB_PORT", "5432") + "/" + env("DB_NAME", "parley");
    has_password = std::getenv("DB_PASSWORD") != nullptr;
    return url;
  }
  const auto scheme_end = url.find("://");
  const auto at = url.find('@', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (scheme_end != std::string::npos && at != std::string::npos) {
    const auto colon = url.find(':', scheme_end + 3);
    if (colon != std::string::npos && colon < at) {
      url.erase(colon, at - colon);
      has_password = true;
    }
  }
  return url;
}

bool is_postgres(const StorageOptions& options) {
  const char* host = std::getenv("DB_HOST");
  return !options.database_url.empty() || (host && *host);
}

std::string sqlite_store_path(const StorageOptions& options) {
  return (fs::path(options.data_dir) / "parley.db").string();
}

struct BackupArgs {
  StorageOptions storage = storage_options_from_env();
  std::string path;
  bool force = false;
};

int run_backup(const BackupArgs& args) {
  log_to_stderr();
  if (is_postgres(args.storage)) {
    bool password = false;
    const std::string url = postgres_target(args.storage, password);
    std::printf(
        "PostgreSQL: back it up with pg_dump (consistent while the server runs):\n\n"
        "  %spg_dump --format=custom --file='%s' '%s'\n\n"
        "and restore into an empty database with pg_restore (see `parley restore`).\n",
        password ? "PGPASSWORD=... " : "", args.path.c_str(), url.c_str());
    return 0;
  }
  const std::string source = sqlite_store_path(args.storage);
  std::error_code ec;
  if (!fs::is_regular_file(source, ec)) {
    spdlog::error("no SQLite store at {} (--data-dir, DATA_DIR)", source);
    return 1;
  }
  const fs::path target(args.path);
  if (fs::exists(target, ec) && !args.force) {
    spdlog::error("{} exists; choose another path or pass --force to replace it", args.path);
    return 1;
  }
  const fs::path part = target.string() + ".part";
  fs::remove(part, ec);
  std::string why;
  Db from = open_db(source, SQLITE_OPEN_READWRITE, why);
  if (!from) {
    spdlog::error("cannot open {}: {}", source, why);
    return 1;
  }
  Db to = open_db(part.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, why);
  if (!to) {
    spdlog::error("cannot create {}: {}", part.string(), why);
    return 1;
  }
  const auto started = std::chrono::steady_clock::now();
  bool ok = copy_pages(from.get(), to.get(), why);
  from.reset();
  // A backup is one self-contained file: rollback journal, not WAL.
  if (ok) ok = exec(to.get(), "PRAGMA journal_mode=DELETE", why);
  std::optional<std::string> check;
  if (ok) check = scalar(to.get(), "PRAGMA quick_check", why);
  if (ok && (!check || *check != "ok")) {
    ok = false;
    if (check) why = "quick_check: " + *check;
  }
  std::optional<std::string> what;
  if (ok) what = describe(to.get(), why);
  to.reset();
  if (!ok || !what) {
    spdlog::error("backup failed: {}", why);
    fs::remove(part, ec);
    return 1;
  }
  if (!fsync_path(part, false)) spdlog::warn("fsync {} failed", part.string());
  fs::rename(part, target, ec);
  if (ec) {
    spdlog::error("cannot rename {} to {}: {}", part.string(), args.path, ec.message());
    return 1;
  }
  fsync_path(target.has_parent_path() ? target.parent_path() : fs::path("."), true);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  std::printf("backed up %s to %s (%llu bytes, %lld ms)\n", what->c_str(), args.path.c_str(),
              static_cast<unsigned long long>(fs::file_size(target, ec)),
              static_cast<long long>(ms));
  return 0;
}

int run_restore(const BackupArgs& args) {
  log_to_stderr();
  if (is_postgres(args.storage)) {
    bool password = false;
    const std::string url = postgres_target(args.storage, password);
    std::printf(
        "PostgreSQL: restore a pg_dump archive with pg_restore into an empty database, "
        "the server stopped:\n\n"
        "  %spg_restore --no-owner --dbname='%s' '%s'\n",
        password ? "PGPASSWORD=... " : "", url.c_str(), args.path.c_str());
    return 0;
  }
  std::string why;
  std::error_code ec;
  if (!fs::is_regular_file(args.path, ec)) {
    spdlog::error("{} is not a file", args.path);
    return 1;
  }
  Db from = open_db(args.path, SQLITE_OPEN_READONLY, why);
  std::optional<std::string> check;
  if (from) check = scalar(from.get(), "PRAGMA quick_check", why);
  std::optional<std::string> what;
  if (check && *check == "ok") what = describe(from.get(), why);
  if (!what) {
    spdlog::error("{} is not a Parley SQLite backup: {}", args.path,
                  check && *check != "ok" ? "quick_check: " + *check : why);
    return 1;
  }
  const std::string target = sqlite_store_path(args.storage);
  fs::create_directories(args.storage.data_dir, ec);
  if (ec) {
    spdlog::error("cannot create {}: {}", args.storage.data_dir, ec.message());
    return 1;
  }
  Db to = open_db(target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, why);
  if (!to) {
    spdlog::error("cannot open {}: {}", target, why);
    return 1;
  }
  // Not empty: anything in a table of Parley's schema.
  auto used = scalar(to.get(),
                     "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'conversations') "
                     "AND (EXISTS (SELECT 1 FROM conversations) OR EXISTS (SELECT 1 FROM users) "
                     "OR EXISTS (SELECT 1 FROM messages))",
                     why);
  if (!used) {
    // The tables may be absent (a fresh file): empty, unless it has other tables.
    auto tables = scalar(to.get(), "SELECT count(*) FROM sqlite_master WHERE type = 'table'", why);
    used = tables && *tables == "0" ? std::optional<std::string>("0") : std::nullopt;
  }
  if (!used || *used != "0") {
    if (!args.force) {
      spdlog::error(
          "the store at {} is not empty; stop its server and pass --force to replace "
          "everything in it",
          target);
      return 1;
    }
    spdlog::warn("--force: replacing the store at {}", target);
  }
  if (!copy_pages(from.get(), to.get(), why)) {
    spdlog::error("restore failed: {}", why);
    return 1;
  }
  to.reset();
  from.reset();
  // Opening it as a server would brings the schema up to date (a backup of an older
  // version) and puts it back into WAL mode.
  auto db = open_storage(args.storage);
  if (!db) {
    spdlog::error("the restored store does not open: {}", db.error().message());
    return 1;
  }
  std::printf("restored %s from %s into %s\n", what->c_str(), args.path.c_str(), target.c_str());
  return 0;
}

}  // namespace

void add_backup_commands(CLI::App& app, Registry& registry) {
  auto backup = std::make_shared<BackupArgs>();
  auto* cmd =
      app.add_subcommand("backup",
                         "Copy the SQLite store to a file, safe while the server runs (PostgreSQL: "
                         "prints the pg_dump command)");
  add_storage_options(*cmd, backup->storage);
  cmd->add_option("path", backup->path, "The backup file to write")->required();
  cmd->add_flag("--force", backup->force, "Replace PATH if it exists");
  cmd->callback([backup, &registry] { registry.result = run_backup(*backup); });

  auto restore = std::make_shared<BackupArgs>();
  cmd = app.add_subcommand(
      "restore",
      "Restore a backup into an empty (or, with --force, any) stopped SQLite store "
      "(PostgreSQL: prints the pg_restore command)");
  add_storage_options(*cmd, restore->storage);
  cmd->add_option("path", restore->path, "The backup file to read")->required();
  cmd->add_flag("--force", restore->force, "Replace a store that is not empty");
  cmd->callback([restore, &registry] { registry.result = run_restore(*restore); });
}

}  // namespace parley::cli
