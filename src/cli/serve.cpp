#include <CLI/CLI.hpp>
#include <cstdlib>
#include <memory>

#include "app/config.hpp"
#include "app/server.hpp"
#include "cli/commands.hpp"
#include "cli/import.hpp"
#include "cli/storage_options.hpp"
#include "core/log.hpp"
#include "core/repeat_filter.hpp"

namespace parley::cli {

void add_serve(CLI::App& app, Registry& registry) {
  auto config = std::make_shared<app::Config>(app::config_from_env());
  auto* serve = app.add_subcommand("serve", "Serve HTTP and WebSocket on one port");
  serve->add_option("--host", config->host, "Address to listen on (env HOST)")
      ->capture_default_str();
  serve->add_option("--port", config->port, "Port (env PORT)")->capture_default_str();
  serve->add_option("--data-dir", config->data_dir, "SQLite data directory (env DATA_DIR)")
      ->capture_default_str();
  serve->add_option("--database-url", config->database_url,
                    "PostgreSQL URL (env DATABASE_URL); SQLite when empty");
  serve->add_option("--log-level", config->log_level, "trace|debug|info|warn|error (env LOG_LEVEL)")
      ->capture_default_str();
  serve->add_option("--threads", config->threads, "I/O threads; 0 = one per core (env THREADS)");
  serve->add_option("--retention-keep-last", config->retention_keep_last,
                    "Keep only the last N messages of each conversation (env RETENTION_KEEP_LAST)");
  serve->add_option(
      "--retention-max-age", config->retention_max_age,
      "Remove messages older than this: 30d, 12h, or seconds (env RETENTION_MAX_AGE)");
  serve
      ->add_option("--retention-interval", config->retention_interval,
                   "How often retention runs; 0 = never (env RETENTION_INTERVAL)")
      ->capture_default_str();
  serve
      ->add_option("--changes-poll-ms", config->changes_poll_ms,
                   "How often live rooms check for conversations another process replaced, "
                   "deleted or pruned (parley import, cleanup); 0 = never (env CHANGES_POLL_MS)")
      ->capture_default_str();
  auto run = [config, &registry] {
    if (!set_log_level(config->log_level)) {
      spdlog::error("unknown log level {}", config->log_level);
      registry.result = 2;
      return registry.result;
    }
    // A failing disk or database repeats its error once per batch: once per 10 s is enough.
    filter_repeated_log_lines(std::chrono::seconds(10));
    // IMPORT_ON_START=SOURCE: import once before serving (import.cpp keeps the marker).
    if (const char* source = std::getenv("IMPORT_ON_START"); source && *source) {
      StorageOptions storage = storage_options_from_env();
      storage.data_dir = config->data_dir;
      storage.database_url = config->database_url;
      if (!import_on_start(source, storage)) {
        registry.result = 1;
        return registry.result;
      }
    }
    registry.result = app::run_server(*config);
    return registry.result;
  };
  serve->callback(run);
  registry.run_default = run;
}

}  // namespace parley::cli
