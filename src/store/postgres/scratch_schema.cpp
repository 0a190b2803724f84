#include "store/postgres/scratch_schema.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <random>

#include "core/log.hpp"
#include "core/time.hpp"

namespace parley::store::postgres {
namespace {

struct ConnCloser {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnCloser>;

Result<void> run(const std::string& url, const std::string& sql) {
  ConnPtr conn(PQconnectdb(url.c_str()));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    spdlog::warn("postgres scratch: cannot connect: {}", conn ? PQerrorMessage(conn.get()) : "");
    return make_error_code(Errc::unavailable);
  }
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  PGresult* res = PQexec(conn.get(), sql.c_str());
  const bool ok = res != nullptr && PQresultStatus(res) == PGRES_COMMAND_OK;
  if (!ok) spdlog::warn("postgres scratch: {}: {}", sql, PQerrorMessage(conn.get()));
  PQclear(res);
  if (!ok) return make_error_code(Errc::internal);
  return {};
}

// Schema names are made here (letters, digits, underscores), but check anyway: they are
// spliced into SQL.
bool is_plain_name(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

std::string scratch_schema_name(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string name(prefix);
  name += "_" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1)) + "_" +
          std::to_string(rng() % 1000000);
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) c = '_';
  }
  return name;
}

Result<std::string> create_scratch_schema(const std::string& url, const std::string& name) {
  if (!is_plain_name(name)) return make_error_code(Errc::invalid_argument);
  if (auto ok = run(url, "DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name);
      !ok) {
    return ok.error();
  }
  // libpq URLs take parameters after '?'; key=value strings take them anywhere.
  const bool uri = url.starts_with("postgresql://") || url.starts_with("postgres://");
  if (uri) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
           name;
  }
  return url + " options='-csearch_path=" + name + "'";
}

Result<void> drop_scratch_schema(const std::string& url, const std::string& name) {
  if (!is_plain_name(name)) return make_error_code(Errc::invalid_argument);
  return run(url, "DROP SCHEMA IF EXISTS " + name + " CASCADE");
}

}  // namespace parley::store::postgres
