// The storage options every data command shares with `serve` (--data-dir, --database-url,
// DATA_DIR, DATABASE_URL, DB_*), and store URLs for `migrate` (sqlite:PATH, postgresql://...).
#pragma once

#include <CLI/App.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "store/store.hpp"

namespace parley::cli {

struct StorageOptions {
  std::string data_dir = "./data";  // SQLite at DATA_DIR/parley.db
  std::string database_url;         // PostgreSQL when set (or DB_HOST...)
  std::string sqlite_synchronous = "FULL";
};

// Data commands write data to stdout: logs go to stderr.
void log_to_stderr();

// Defaults overridden by the environment, as serve reads them.
StorageOptions storage_options_from_env();
void add_storage_options(CLI::App& cmd, StorageOptions& options);

// Opens the store a server with the same options would use.
[[nodiscard]] Result<std::shared_ptr<store::Database>> open_storage(const StorageOptions& options);
// Opens "sqlite:PATH", "postgresql://..." / "postgres://...", or "memory:".
[[nodiscard]] Result<std::shared_ptr<store::Database>> open_storage_url(std::string_view url);

// A connection or a logged error (nullptr).
std::unique_ptr<store::Connection> connect_or_log(
    const Result<std::shared_ptr<store::Database>>& db, std::string_view what);

}  // namespace parley::cli
