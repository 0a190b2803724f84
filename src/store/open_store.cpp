// open_database(): the one place that turns configuration into a backend.

#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "core/log.hpp"
#include "store/memory/memory_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"

#ifdef PARLEY_HAVE_POSTGRES
#include "store/postgres/pg_store.hpp"
#endif

namespace parley::store {
namespace {

constexpr std::string_view kMemory = "memory:";
constexpr std::string_view kDefaultSqlitePath = "data/parley.db";

bool is_postgres_url(std::string_view url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

}  // namespace

Result<std::shared_ptr<Database>> open_database(const StoreConfig& config) {
  const std::string_view url = config.database_url;
  if (url == kMemory || (url.empty() && config.sqlite_path == kMemory)) {
    spdlog::warn("store: using the memory backend; nothing survives a restart");
    return std::shared_ptr<Database>(std::make_shared<memory::MemoryDatabase>());
  }
  // PROTOCOL.md: DATABASE_URL, or the DB_HOST/DB_PORT/... variables, select PostgreSQL.
  const char* db_host = std::getenv("DB_HOST");
  const bool postgres_from_env = url.empty() && db_host != nullptr && *db_host != '\0';
  if (is_postgres_url(url) || postgres_from_env) {
#ifdef PARLEY_HAVE_POSTGRES
    return postgres::open_pg_database(config);
#else
    spdlog::error(
        "PostgreSQL support is not built into this binary; unset DATABASE_URL "
        "and DB_HOST to use SQLite");
    return make_error_code(Errc::invalid_argument);
#endif
  }
  if (!url.empty()) {
    // Only the scheme is logged: the rest may hold a password.
    spdlog::error("store: unsupported database URL scheme '{}'", url.substr(0, url.find(':')));
    return make_error_code(Errc::invalid_argument);
  }

  const std::filesystem::path path = config.sqlite_path.empty()
                                         ? std::filesystem::path(kDefaultSqlitePath)
                                         : std::filesystem::path(config.sqlite_path);
  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      spdlog::error("store: cannot create {}: {}", path.parent_path().string(), ec.message());
      return make_error_code(Errc::unavailable);
    }
  }
  sqlite::SqliteDatabase::Options options;
  options.synchronous = config.sqlite_synchronous.empty() ? "FULL" : config.sqlite_synchronous;
  options.memory_map = config.sqlite_memory_map;
  auto db = sqlite::SqliteDatabase::open(path.string(), std::move(options));
  if (!db) return db.error();
  return std::shared_ptr<Database>(std::move(*db));
}

}  // namespace parley::store
