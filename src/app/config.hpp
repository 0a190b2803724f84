// Server configuration: defaults, overridden by environment variables, overridden by
// command-line flags (the CLI applies those). See README.md's configuration table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
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
  // PostgreSQL deadlines (docs/storage.md, "A hung database"), in milliseconds.
  std::size_t db_connect_timeout_ms = 2000;    // DB_CONNECT_TIMEOUT_MS (whole seconds, >= 2)
  std::size_t db_commit_timeout_ms = 2000;     // DB_COMMIT_TIMEOUT_MS: writes, BEGIN/COMMIT
  std::size_t db_statement_timeout_ms = 5000;  // DB_STATEMENT_TIMEOUT_MS: reads and the rest
  std::size_t max_frame_bytes = 1024 * 1024;  // MAX_FRAME_BYTES
  std::size_t max_body_bytes = 1024 * 1024;   // MAX_BODY_BYTES
  std::size_t max_content_bytes = 64 * 1024;  // MAX_CONTENT_BYTES
  std::size_t threads = 0;                    // THREADS: 0 = one per core
  std::size_t max_connections = 0;            // MAX_CONNECTIONS: 0 = as descriptors allow
  // Retention (docs/cli.md): defaults for every conversation; a conversation's
  // settings.keep_last / settings.max_age replace the rule of the same name.
  std::optional<std::int64_t> retention_keep_last;  // RETENTION_KEEP_LAST
  std::string retention_max_age;          // RETENTION_MAX_AGE: 30d, 12h or seconds
  std::string retention_interval = "1h";  // RETENTION_INTERVAL: how often; 0 = never
  // How often the server reads the store's change log, so that live rooms follow what
  // another process (parley import, parley cleanup, another server) replaced, deleted or
  // pruned (docs/cli.md); 0 = never.
  std::size_t changes_poll_ms = 1000;  // CHANGES_POLL_MS

  // Security (docs/security.md). Unset optionals take the mode's default in resolve().
  std::string auth_mode = "open";              // AUTH_MODE: open | token
  std::string jwt_secret;                      // JWT_SECRET: HS256 key
  std::string jwt_public_key;                  // JWT_PUBLIC_KEY: PEM text or path (RS256/ES256)
  std::size_t jwt_leeway_s = 30;               // JWT_LEEWAY_S: clock skew on exp/nbf
  std::string jwt_issuer;                      // JWT_ISSUER: required `iss` when set
  std::string jwt_audience;                    // JWT_AUDIENCE: required `aud` when set
  std::string jwt_user_claim;                  // JWT_USER_CLAIM: claim naming the user (sub, else id)
  std::string admin_token;                     // ADMIN_TOKEN: REST bearer with admin rights
  std::string allowed_origins;                 // ALLOWED_ORIGINS: comma list or *
  std::optional<double> rate_limit_per_s;      // RATE_LIMIT_PER_S: token 50, open 0 (off)
  std::optional<double> rate_limit_burst;      // RATE_LIMIT_BURST: token 200, open 0
  std::optional<double> rest_rate_limit_per_s;  // REST_RATE_LIMIT_PER_S: token 20, open 0 (off)
  std::optional<double> rest_rate_limit_burst;  // REST_RATE_LIMIT_BURST: token 100, open = rate
  std::optional<std::size_t> max_connections_per_ip;  // MAX_CONNECTIONS_PER_IP: token 256, open 0
  std::size_t max_joined_rooms = 1000;         // MAX_JOINED_ROOMS: per connection
  std::size_t joins_in_flight = 64;            // JOINS_IN_FLIGHT: joins worked on at once (JoinGate)
  std::size_t join_lag_target_us = 2000;       // JOIN_LAG_TARGET_US: fewer joins at once while the queue is slower (0: off)
  std::size_t presence_lull_ms = 10;           // PRESENCE_LULL_MS: presence frames wait this long to share a write (Lull)
  std::size_t socketio_max_sessions = 100'000;  // SOCKETIO_MAX_SESSIONS: in all
  // Socket.IO (Engine.IO) sessions per peer address: token 256, open 1024; 0: no limit.
  std::optional<std::size_t> socketio_max_sessions_per_ip;  // SOCKETIO_MAX_SESSIONS_PER_IP
  double socketio_handshakes_per_s = 20;      // SOCKETIO_HANDSHAKES_PER_S per address; 0: off
  double socketio_handshake_burst = 200;      // SOCKETIO_HANDSHAKE_BURST
  std::size_t socketio_connect_timeout_ms = 10000;  // SOCKETIO_CONNECT_TIMEOUT_MS
  bool socketio_token_at_connect = true;  // SOCKETIO_TOKEN_AT_CONNECT (token mode): 1 | 0
  // Conversations one client (a user; the address in open mode) may create a minute, by
  // REST POST: token 60, open 0 (off).
  std::optional<double> conversations_per_min;  // CONVERSATIONS_PER_MIN
  std::string conversation_creators = "anyone";  // CONVERSATION_CREATORS: anyone | admins
  std::size_t rest_max_streams = 8;  // REST_MAX_STREAMS: exports/whole GETs served at once
  std::size_t auth_timeout_s = 10;             // AUTH_TIMEOUT_S: token mode, to authenticate
  std::size_t ws_idle_timeout_s = 120;         // WS_IDLE_TIMEOUT_S: ping after half, close after

  // Seed apps (docs/socketio.md). COMPAT=webwoz: WebWOz's HTTP routes (its shapes at
  // /api/conversations...), Parley's own API at /api/v1/. WEBWOZ_FRONTEND_DIR: WebWOz's two
  // built front ends served from there (implies COMPAT=webwoz); Parley's page moves to
  // /parley and `/` redirects to /wizard.
  std::string compat;               // COMPAT: "" or "webwoz"
  std::string webwoz_frontend_dir;  // WEBWOZ_FRONTEND_DIR

  bool token_mode() const noexcept { return auth_mode == "token"; }
  bool webwoz() const noexcept { return compat == "webwoz" || !webwoz_frontend_dir.empty(); }
};

// Defaults overridden by the environment. Unparsable numbers keep the default (and log).
Config config_from_env();

}  // namespace parley::app
