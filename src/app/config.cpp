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
  number("MAX_FRAME_BYTES", c.max_frame_bytes);
  number("MAX_BODY_BYTES", c.max_body_bytes);
  number("MAX_CONTENT_BYTES", c.max_content_bytes);
  number("THREADS", c.threads);
  number("MAX_CONNECTIONS", c.max_connections);
  return c;
}

}  // namespace parley::app
