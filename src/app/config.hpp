// Server configuration: defaults, overridden by environment variables, overridden by
// command-line flags (the CLI applies those). See README.md's configuration table.
#pragma once

#include <cstddef>
#include <string>

namespace parley::app {

struct Config {
  std::string host = "127.0.0.1";             // HOST
  unsigned short port = 8080;                 // PORT
  std::string data_dir = "./data";            // DATA_DIR: SQLite file and spool live here
  std::string log_level = "info";             // LOG_LEVEL
  std::string redis_url;                      // REDIS_URL: several servers share events
  std::string database_url;                   // DATABASE_URL (or DB_HOST...): PostgreSQL
  std::string sqlite_synchronous = "FULL";    // SQLITE_SYNCHRONOUS: FULL or NORMAL
  std::size_t max_frame_bytes = 1024 * 1024;  // MAX_FRAME_BYTES
  std::size_t max_body_bytes = 1024 * 1024;   // MAX_BODY_BYTES
  std::size_t max_content_bytes = 64 * 1024;  // MAX_CONTENT_BYTES
  std::size_t threads = 0;                    // THREADS: 0 = one per core
  std::size_t max_connections = 0;            // MAX_CONNECTIONS: 0 = as descriptors allow
};

// Defaults overridden by the environment. Unparsable numbers keep the default (and log).
Config config_from_env();

}  // namespace parley::app
