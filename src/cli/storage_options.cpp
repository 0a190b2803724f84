#include "cli/storage_options.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <system_error>

#include "app/config.hpp"
#include "core/log.hpp"

namespace parley::cli {

void log_to_stderr() {
  static const bool done = [] {
    auto logger = spdlog::stderr_color_mt("parley-cli");
    logger->set_level(spdlog::default_logger()->level());
    spdlog::set_default_logger(std::move(logger));
    return true;
  }();
  (void)done;
}

StorageOptions storage_options_from_env() {
  const app::Config c = app::config_from_env();
  StorageOptions o;
  o.data_dir = c.data_dir;
  o.database_url = c.database_url;
  o.sqlite_synchronous = c.sqlite_synchronous;
  return o;
}

void add_storage_options(CLI::App& cmd, StorageOptions& options) {
  cmd.add_option("--data-dir", options.data_dir,
                 "SQLite data directory, the file is DATA_DIR/parley.db (env DATA_DIR)")
      ->capture_default_str();
  cmd.add_option("--database-url", options.database_url,
                 "PostgreSQL URL (env DATABASE_URL, or DB_HOST...); SQLite when empty");
}

Result<std::shared_ptr<store::Database>> open_storage(const StorageOptions& options) {
  store::StoreConfig sc;
  sc.database_url = options.database_url;
  sc.sqlite_synchronous = options.sqlite_synchronous;
  sc.sqlite_memory_map = false;  // one pass over the store: mapped pages would all stay in RSS
  if (sc.database_url.empty()) {
    sc.sqlite_path = (std::filesystem::path(options.data_dir) / "parley.db").string();
  }
  return store::open_database(sc);
}

Result<std::shared_ptr<store::Database>> open_storage_url(std::string_view url) {
  store::StoreConfig sc;
  sc.sqlite_memory_map = false;  // migrate reads the whole store once
  if (url.starts_with("sqlite:")) {
    url.remove_prefix(7);
    if (url.starts_with("//")) url.remove_prefix(2);  // sqlite://path as well
    if (url.empty()) return make_error_code(Errc::invalid_argument);
    sc.sqlite_path = std::string(url);
    return store::open_database(sc);
  }
  if (url == "memory:") {
    sc.sqlite_path = "memory:";
    return store::open_database(sc);
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    sc.database_url = std::string(url);
    return store::open_database(sc);
  }
  spdlog::error("unsupported store URL scheme '{}' (sqlite:PATH or postgresql://...)",
                url.substr(0, url.find(':')));
  return make_error_code(Errc::invalid_argument);
}

std::unique_ptr<store::Connection> connect_or_log(
    const Result<std::shared_ptr<store::Database>>& db, std::string_view what) {
  if (!db) {
    spdlog::error("cannot open {}: {}", what, db.error().message());
    return nullptr;
  }
  auto c = (*db)->connect();
  if (!c) {
    spdlog::error("cannot connect to {}: {}", what, c.error().message());
    return nullptr;
  }
  return std::move(*c);
}

}  // namespace parley::cli
