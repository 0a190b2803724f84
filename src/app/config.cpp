#include "app/config.hpp"

#include <charconv>
#include <cstdlib>
#include <string_view>

#include "core/log.hpp"

namespace parley::app {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

template <class T>
void number(const char* name, T& out) {
  if (const char* v = env(name)) {
    T parsed{};
    std::string_view s(v);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), parsed);
    if (ec == std::errc() && p == s.data() + s.size()) {
      out = parsed;
    } else {
      spdlog::warn("{}={} is not a number; using {}", name, v, out);
    }
  }
}

template <class T>
void optional_number(const char* name, std::optional<T>& out) {
  if (env(name)) {
    T parsed = out.value_or(T{});
    number(name, parsed);
    out = parsed;
  }
}

}  // namespace

Config config_from_env() {
  Config c;
  if (const char* v = env("HOST")) c.host = v;
  number("PORT", c.port);
  if (const char* v = env("DATA_DIR")) c.data_dir = v;
  if (const char* v = env("LOG_LEVEL")) c.log_level = v;
  if (const char* v = env("DATABASE_URL")) c.database_url = v;
  if (const char* v = env("REDIS_URL")) c.redis_url = v;
  if (const char* v = env("SQLITE_SYNCHRONOUS")) c.sqlite_synchronous = v;
  number("DB_CONNECT_TIMEOUT_MS", c.db_connect_timeout_ms);
  number("DB_COMMIT_TIMEOUT_MS", c.db_commit_timeout_ms);
  number("DB_STATEMENT_TIMEOUT_MS", c.db_statement_timeout_ms);
  number("MAX_FRAME_BYTES", c.max_frame_bytes);
  number("MAX_BODY_BYTES", c.max_body_bytes);
  number("MAX_CONTENT_BYTES", c.max_content_bytes);
  number("THREADS", c.threads);
  number("MAX_CONNECTIONS", c.max_connections);
  optional_number("RETENTION_KEEP_LAST", c.retention_keep_last);
  if (const char* v = env("RETENTION_MAX_AGE")) c.retention_max_age = v;
  if (const char* v = env("RETENTION_INTERVAL")) c.retention_interval = v;
  number("CHANGES_POLL_MS", c.changes_poll_ms);
  if (const char* v = env("AUTH_MODE")) c.auth_mode = v;
  if (const char* v = env("JWT_SECRET")) c.jwt_secret = v;
  if (const char* v = env("JWT_PUBLIC_KEY")) c.jwt_public_key = v;
  number("JWT_LEEWAY_S", c.jwt_leeway_s);
  if (const char* v = env("JWT_ISSUER")) c.jwt_issuer = v;
  if (const char* v = env("JWT_AUDIENCE")) c.jwt_audience = v;
  if (const char* v = env("JWT_USER_CLAIM")) c.jwt_user_claim = v;
  if (const char* v = env("ADMIN_TOKEN")) c.admin_token = v;
  if (const char* v = env("ALLOWED_ORIGINS")) c.allowed_origins = v;
  optional_number("RATE_LIMIT_PER_S", c.rate_limit_per_s);
  optional_number("RATE_LIMIT_BURST", c.rate_limit_burst);
  optional_number("REST_RATE_LIMIT_PER_S", c.rest_rate_limit_per_s);
  optional_number("REST_RATE_LIMIT_BURST", c.rest_rate_limit_burst);
  optional_number("MAX_CONNECTIONS_PER_IP", c.max_connections_per_ip);
  number("MAX_JOINED_ROOMS", c.max_joined_rooms);
  number("JOINS_IN_FLIGHT", c.joins_in_flight);
  number("JOIN_LAG_TARGET_US", c.join_lag_target_us);
  number("PRESENCE_LULL_MS", c.presence_lull_ms);
  number("SOCKETIO_MAX_SESSIONS", c.socketio_max_sessions);
  optional_number("SOCKETIO_MAX_SESSIONS_PER_IP", c.socketio_max_sessions_per_ip);
  number("SOCKETIO_HANDSHAKES_PER_S", c.socketio_handshakes_per_s);
  number("SOCKETIO_HANDSHAKE_BURST", c.socketio_handshake_burst);
  number("SOCKETIO_CONNECT_TIMEOUT_MS", c.socketio_connect_timeout_ms);
  if (const char* v = env("SOCKETIO_TOKEN_AT_CONNECT")) {
    c.socketio_token_at_connect = std::string_view(v) != "0" && std::string_view(v) != "false";
  }
  optional_number("CONVERSATIONS_PER_MIN", c.conversations_per_min);
  if (const char* v = env("CONVERSATION_CREATORS")) c.conversation_creators = v;
  number("REST_MAX_STREAMS", c.rest_max_streams);
  number("AUTH_TIMEOUT_S", c.auth_timeout_s);
  number("WS_IDLE_TIMEOUT_S", c.ws_idle_timeout_s);
  if (const char* v = env("COMPAT")) c.compat = v;
  if (const char* v = env("WEBWOZ_FRONTEND_DIR")) c.webwoz_frontend_dir = v;
  return c;
}

}  // namespace parley::app
