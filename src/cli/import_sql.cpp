// The SQL readers of `parley import`: one mapping per seed app's schema, written once over a
// small row source that SQLite and PostgreSQL (libpq) both provide, so a seed 003 database
// reads the same whether it is its SQLite file or its DATABASE_URL.
//
//   schema       tables (columns read)                                           conversation
//   webwoz       conversations(room_id, created_at, last_updated, is_active,     room_id
//                extra_data), messages(room_id, sender, text, timestamp,
//                message_order), templates(category, key, value)
//   seed003      conversations(id, title, created_at, updated_at, message_count), id
//                messages(id, conversation_id, role, content, timestamp, meta,
//                created_at)
//   seed004      conversations(conversation_id, title, created_at, updated_at,   conversation_id
//                messages JSON, settings JSON)
//   seed001      general_chat_messages(id, sender_id, content, created_at),      "general"
//                users(id, username | name | email)
//
// Memory: one conversation at a time (rows are fetched one by one: libpq's single-row mode,
// sqlite3_step), so a source's size does not matter, its largest conversation does.
#include <sqlite3.h>
#if PARLEY_HAVE_POSTGRES
#include <libpq-fe.h>
#endif

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cli/importers.hpp"
#include "protocol/json_fields.hpp"

namespace parley::cli::importers {

namespace json = boost::json;

namespace {

using Row = std::vector<std::optional<std::string>>;
using RowFn = std::function<bool(const Row&)>;

// Rows of a SQL database. Two lanes: a query on lane 1 may run while one on lane 0 is being
// read (PostgreSQL needs a second connection for that).
class SqlSource {
 public:
  virtual ~SqlSource() = default;
  // The table's column names; empty when there is no such table.
  virtual std::set<std::string> columns(const std::string& table) = 0;
  // Runs `sql` with $1.. bound to `params` (text); `fn` per row, false stops. False with
  // `error` when the query fails.
  virtual bool query(int lane, const std::string& sql, const std::vector<std::string>& params,
                     const RowFn& fn, std::string& error) = 0;
  // An expression giving `col` as epoch milliseconds (PostgreSQL) or as stored (SQLite:
  // text or a number, read by detail::time_text).
  virtual std::string time_expr(const std::string& col) const = 0;
  // An expression giving `col` as text.
  virtual std::string text_expr(const std::string& col) const = 0;
  // For issues: the file, or the URL without its password.
  virtual const std::string& name() const = 0;
  // How a row is named in issues ("messages rowid 7", "messages id 7").
  virtual std::string row_key() const = 0;
};

// --- SQLite ---------------------------------------------------------------------------------

class SqliteSource final : public SqlSource {
 public:
  static std::unique_ptr<SqliteSource> open(const std::string& file, std::string& why) {
    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
    std::unique_ptr<SqliteSource> s(new SqliteSource(raw, file));
    if (rc != SQLITE_OK) {
      why = std::string("cannot open: ") + sqlite3_errstr(rc);
      return nullptr;
    }
    // A file that is not a database fails here, not on the first query.
    std::string err;
    if (!s->query(
            0, "SELECT count(*) FROM sqlite_master", {}, [](const Row&) { return true; }, err)) {
      why = err;
      return nullptr;
    }
    if (auto damage = detail::sqlite_damage(raw); !damage.empty()) {
      why = "damaged SQLite file: " + damage;
      return nullptr;
    }
    return s;
  }
  ~SqliteSource() override { sqlite3_close_v2(db_); }

  std::set<std::string> columns(const std::string& table) override {
    std::set<std::string> out;
    std::string err;
    (void)query(
        0, "SELECT name FROM pragma_table_info($1)", {table},
        [&](const Row& r) {
          if (r[0]) out.insert(*r[0]);
          return true;
        },
        err);
    return out;
  }

  bool query(int, const std::string& sql, const std::vector<std::string>& params, const RowFn& fn,
             std::string& error) override {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
      error = sqlite3_errmsg(db_);
      return false;
    }
    std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> st(raw, &sqlite3_finalize);
    for (std::size_t i = 0; i < params.size(); ++i) {
      sqlite3_bind_text(raw, static_cast<int>(i + 1), params[i].data(),
                        static_cast<int>(params[i].size()), SQLITE_TRANSIENT);
    }
    const int n = sqlite3_column_count(raw);
    Row row(static_cast<std::size_t>(n));
    int rc;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      for (int i = 0; i < n; ++i) {
        auto& cell = row[static_cast<std::size_t>(i)];
        if (sqlite3_column_type(raw, i) == SQLITE_NULL) {
          cell.reset();
        } else {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(raw, i));
          cell.emplace(p, static_cast<std::size_t>(sqlite3_column_bytes(raw, i)));
        }
      }
      if (!fn(row)) return true;
    }
    if (rc != SQLITE_DONE) {
      error = sqlite3_errmsg(db_);
      return false;
    }
    return true;
  }
  std::string time_expr(const std::string& col) const override { return col; }
  std::string text_expr(const std::string& col) const override { return col; }
  const std::string& name() const override { return file_; }
  std::string row_key() const override { return "rowid"; }

 private:
  SqliteSource(sqlite3* db, std::string file) : db_(db), file_(std::move(file)) {}
  sqlite3* db_;
  std::string file_;
};

// --- PostgreSQL -----------------------------------------------------------------------------

#if PARLEY_HAVE_POSTGRES

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;
using PgResult = std::unique_ptr<PGresult, PgResultCloser>;

class PgSource final : public SqlSource {
 public:
  static std::unique_ptr<PgSource> open(const std::string& url, const std::string& shown,
                                        std::string& why) {
    std::unique_ptr<PgSource> s(new PgSource);
    s->name_ = shown.starts_with("env:") ? shown : redact(url);
    for (auto& c : s->conns_) {
      c.reset(PQconnectdb(url.c_str()));
      if (!c || PQstatus(c.get()) != CONNECTION_OK) {
        why = std::string("cannot connect: ") + (c ? PQerrorMessage(c.get()) : "out of memory");
        while (!why.empty() && why.back() == '\n') why.pop_back();
        return nullptr;
      }
      // Read-only, and one snapshot per connection: rows added while the import reads do not
      // make a conversation half-read.
      PgResult r(PQexec(c.get(),
                        "SET default_transaction_read_only = on; SET client_encoding = 'UTF8'; "
                        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        why = PQerrorMessage(c.get());
        return nullptr;
      }
    }
    return s;
  }

  std::set<std::string> columns(const std::string& table) override {
    std::set<std::string> out;
    std::string err;
    (void)query(
        0,
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND "
        "table_schema = current_schema()",
        {table},
        [&](const Row& r) {
          if (r[0]) out.insert(*r[0]);
          return true;
        },
        err);
    return out;
  }

  bool query(int lane, const std::string& sql, const std::vector<std::string>& params,
             const RowFn& fn, std::string& error) override {
    PGconn* c = conns_[static_cast<std::size_t>(lane)].get();
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    if (!PQsendQueryParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                           nullptr, nullptr, 0) ||
        !PQsetSingleRowMode(c)) {
      error = PQerrorMessage(c);
      return false;
    }
    bool ok = true, more = true;
    Row row;
    while (PgResult r{PQgetResult(c)}) {
      const auto status = PQresultStatus(r.get());
      if (status == PGRES_SINGLE_TUPLE && more) {
        const int n = PQnfields(r.get());
        row.assign(static_cast<std::size_t>(n), std::nullopt);
        for (int i = 0; i < n; ++i) {
          if (!PQgetisnull(r.get(), 0, i)) {
            row[static_cast<std::size_t>(i)].emplace(
                PQgetvalue(r.get(), 0, i), static_cast<std::size_t>(PQgetlength(r.get(), 0, i)));
          }
        }
        // Stopping early still drains the results: the connection serves the next query.
        more = fn(row);
      } else if (status != PGRES_SINGLE_TUPLE && status != PGRES_TUPLES_OK &&
                 status != PGRES_COMMAND_OK) {
        error = PQresultErrorMessage(r.get());
        while (!error.empty() && error.back() == '\n') error.pop_back();
        ok = false;
      }
    }
    if (!ok) {
      // A failed statement aborts the snapshot's transaction: start a new one.
      PgResult r(PQexec(c, "ROLLBACK; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    }
    return ok;
  }
  std::string time_expr(const std::string& col) const override {
    return "(extract(epoch from " + col + ") * 1000)::bigint";
  }
  std::string text_expr(const std::string& col) const override { return col + "::text"; }
  const std::string& name() const override { return name_; }
  std::string row_key() const override { return "id"; }

 private:
  static std::string redact(const std::string& url) {
    // postgresql://user:secret@host/db -> postgresql://user:***@host/db
    const auto scheme = url.find("://");
    const auto at = url.find('@');
    if (scheme == std::string::npos || at == std::string::npos) return url;
    const auto colon = url.find(':', scheme + 3);
    if (colon == std::string::npos || colon > at) return url;
    return url.substr(0, colon + 1) + "***" + url.substr(at);
  }
  PgConn conns_[2];
  std::string name_;
};

#endif  // PARLEY_HAVE_POSTGRES

// --- Schemas ------------------------------------------------------------------------------

enum class Schema { none, webwoz, seed003, seed004, seed001 };

struct Tables {
  std::set<std::string> conversations, messages, templates, general, users;
};

Schema schema_of(const Tables& t) {
  if (!t.general.empty()) return Schema::seed001;
  if (t.conversations.contains("room_id") && t.messages.contains("room_id")) return Schema::webwoz;
  if (t.conversations.contains("conversation_id") && t.conversations.contains("messages")) {
    return Schema::seed004;
  }
  if (t.conversations.contains("id") && t.messages.contains("conversation_id")) {
    return Schema::seed003;
  }
  return Schema::none;
}

const char* schema_name(Schema s) {
  switch (s) {
    case Schema::webwoz:
      return "WebWOz (seed 000: conversations, messages, templates)";
    case Schema::seed003:
      return "Multichat (seed 003: conversations, messages)";
    case Schema::seed004:
      return "RAG app (seed 004: conversations with messages JSON)";
    case Schema::seed001:
      return "general chat (seed 001: general_chat_messages, users)";
    case Schema::none:
      break;
  }
  return "no known schema";
}

Tables read_tables(SqlSource& src) {
  return {src.columns("conversations"), src.columns("messages"), src.columns("templates"),
          src.columns("general_chat_messages"), src.columns("users")};
}

// A column list: `name` when the table has it, else NULL (older versions of a schema).
std::string col(const std::set<std::string>& cols, const std::string& name,
                const std::function<std::string(const std::string&)>& wrap = {}) {
  if (!cols.contains(name)) return "NULL";
  const std::string quoted = "\"" + name + "\"";
  return wrap ? wrap(quoted) : quoted;
}

// Columns the mapping does not read are reported once (they are not imported).
void report_unexpected(SqlSource& src, const std::string& table, const std::set<std::string>& have,
                       const std::set<std::string>& known, ParseReport& report) {
  std::string extra;
  for (const auto& c : have) {
    if (!known.contains(c)) extra += (extra.empty() ? "" : ", ") + c;
  }
  if (!extra.empty()) {
    report.issues.push_back({src.name(), 0, table,
                             "column(s) not imported (no place in the mapping): " + extra, false});
  }
}

struct Reader {
  SqlSource& src;
  const Visitor& visit;
  ParseReport& report;
  const std::string fmt;
  const TemplateVisitor& templates_out;

  void issue(const std::string& where, std::string msg, bool skipped = true) {
    report.issues.push_back({src.name(), 0, where, std::move(msg), skipped});
  }
  void fatal(const std::string& where, std::string msg) {
    issue(where, std::move(msg));
    report.fatal = true;
  }

  // Common checks of one message; false (reported) skips it.
  bool check_text(const std::string& where, const std::string& conv, const std::string& sender,
                  const std::string& content) {
    if (!detail::valid_utf8(sender) || !detail::valid_utf8(content)) {
      issue(where, "conversation " + conv + ": text is not UTF-8");
      return false;
    }
    if (content.size() > detail::max_content_bytes()) {
      issue(where, "conversation " + conv + ": content of " + std::to_string(content.size()) +
                       " bytes is over the limit of " +
                       std::to_string(detail::max_content_bytes()) + " (MAX_CONTENT_BYTES)");
      return false;
    }
    return true;
  }

  void finish_times(store::WholeConversation& w) {
    if (w.created_at == 0 && !w.messages.empty()) w.created_at = w.messages.front().created_at;
    if (w.updated_at == 0 && !w.messages.empty()) w.updated_at = w.messages.back().created_at;
  }

  // Conversations whose messages name no conversation row.
  void orphans(const std::string& sql) {
    std::string err;
    (void)src.query(
        0, sql, {},
        [&](const Row& r) {
          if (r[0] && *r[0] != "0") {
            issue("messages", *r[0] + " message(s) belong to no conversation");
          }
          return true;
        },
        err);
  }

  void webwoz(const Tables& t) {
    report_unexpected(
        src, "conversations", t.conversations,
        {"id", "room_id", "created_at", "last_updated", "message_count", "is_active", "extra_data"},
        report);
    report_unexpected(src, "messages", t.messages,
                      {"id", "room_id", "sender", "text", "timestamp", "message_order"}, report);
    for (const char* c : {"sender", "text"}) {
      if (!t.messages.contains(c)) return fatal("messages", std::string("no ") + c + " column");
    }
    orphans(
        "SELECT count(*) FROM messages WHERE room_id NOT IN (SELECT room_id FROM conversations)");
    const auto tm = [&](const std::string& c) { return src.time_expr(c); };
    const std::string conv_sql =
        "SELECT room_id, " + col(t.conversations, "created_at", tm) + ", " +
        col(t.conversations, "last_updated", tm) + ", " +
        col(t.conversations, "is_active", [&](const std::string& c) { return src.text_expr(c); }) +
        ", " + col(t.conversations, "extra_data") + ", " + col(t.conversations, "message_count") +
        " FROM conversations ORDER BY " + (t.conversations.contains("id") ? "id" : "room_id");
    const std::string order = t.messages.contains("message_order") ? "message_order, " : "";
    const std::string msg_sql =
        "SELECT " + col(t.messages, "id") + ", sender, text, " + col(t.messages, "timestamp", tm) +
        ", " + col(t.messages, "message_order") + " FROM messages WHERE room_id = $1 ORDER BY " +
        order + (t.messages.contains("id") ? "id" : "1");
    std::string err;
    const bool ok = src.query(
        0, conv_sql, {},
        [&](const Row& r) {
          const std::string id = r[0].value_or("");
          const std::string where = "conversations room_id '" + id + "'";
          if (!is_valid_id(id)) {
            issue(where, "invalid conversation id");
            return true;
          }
          ParsedConversation c;
          c.file = src.name();
          c.whole.id = id;
          c.whole.created_at = detail::time_text(r[1].value_or("")).value_or(0);
          c.whole.updated_at = detail::time_text(r[2].value_or("")).value_or(0);
          json::object meta;
          meta["source"] = "webwoz";
          if (r[3]) meta["is_active"] = *r[3] == "true" || *r[3] == "1" || *r[3] == "t";
          if (r[4] && !r[4]->empty()) {
            json::error_code ec;
            auto v = json::parse(*r[4], ec);
            if (!ec && protocol::all_finite(v)) {
              meta["extra_data"] = std::move(v);
            } else if (detail::valid_utf8(*r[4])) {
              meta["extra_data"] = *r[4];
            } else {
              issue(where, "extra_data is not UTF-8: left out", false);
            }
          }
          c.whole.meta = json::serialize(meta);
          std::size_t index = 0;
          std::string merr;
          TimeMs last = c.whole.created_at;
          const bool mok = src.query(
              1, msg_sql, {id},
              [&](const Row& m) {
                const std::string mwhere = "messages " + src.row_key() + " " + m[0].value_or("?");
                const std::size_t i = index++;
                if (!m[1] || m[1]->empty() || !m[2]) {
                  issue(mwhere, "conversation " + id + ": no sender or text");
                  return true;
                }
                if (!check_text(mwhere, id, *m[1], *m[2])) return true;
                NewMessage nm;
                nm.conversation = id;
                nm.sender = {*m[1], "", *m[1]};  // WebWOz's sender is the role
                nm.content = *m[2];
                // The id the JSON files' import gives the same message: importing a room from
                // its file and then from the database changes nothing.
                nm.id = derived_message_id("webwoz", id, i);
                nm.created_at = detail::time_text(m[3].value_or("")).value_or(last);
                last = nm.created_at;
                c.whole.messages.push_back(std::move(nm));
                return true;
              },
              merr);
          if (!mok) {
            issue(where, "messages not readable: " + merr);
            return true;
          }
          if (r[5] && *r[5] != std::to_string(index)) {
            issue(where, "message_count " + *r[5] + " but " + std::to_string(index) + " messages",
                  false);
          }
          finish_times(c.whole);
          return detail::hand_over(std::move(c), visit, report);
        },
        err);
    if (!ok) return fatal("conversations", "not readable: " + err);
    if (!t.templates.empty()) templates(t);
  }

  // WebWOz's templates, handed to `templates_out` in the app's order (its load_templates
  // reads the rows in insertion order: `id`) for the command to write into Parley's template
  // store, where the wizard front end reads them (the `templates` event, /api/templates) as
  // {category: {key: value}}: the key is the template's id there, so it is kept as it is.
  void templates(const Tables& t) {
    if (!t.templates.contains("key") || !t.templates.contains("value")) {
      issue("templates", "no key or value column: templates not imported");
      return;
    }
    report_unexpected(src, "templates", t.templates,
                      {"id", "category", "key", "value", "created_at", "updated_at"}, report);
    std::vector<Template> all;
    std::map<std::pair<std::string, std::string>, std::size_t> at;  // (category, key) -> index
    std::string err;
    const bool ok = src.query(
        0,
        "SELECT " + col(t.templates, "category") + ", \"key\", \"value\", " +
            col(t.templates, "id") + " FROM templates ORDER BY " +
            (t.templates.contains("id") ? "id" : "2"),
        {},
        [&](const Row& r) {
          const std::string where = "templates id " + r[3].value_or("?");
          // The model's default category (backend/database.py: default='General').
          Template tpl{r[0].value_or("General"), r[1].value_or(""), r[2].value_or("")};
          if (!r[1] || !r[2] || !detail::valid_utf8(tpl.category) ||
              !detail::valid_utf8(tpl.key) || !detail::valid_utf8(tpl.value)) {
            issue(where, "no key or value, or not UTF-8");
            return true;
          }
          if (tpl.category.empty() || tpl.key.empty()) {
            issue(where, "empty category or key: the wizard cannot address it");
            return true;
          }
          // The app reads the rows into a dict: a later row of the same (category, key)
          // overwrites the value where the first one stands.
          const auto [it, fresh] = at.try_emplace({tpl.category, tpl.key}, all.size());
          if (!fresh) {
            issue(where, "category '" + tpl.category + "' key '" + tpl.key +
                             "' again: its value replaces the earlier one's, as the app reads it",
                  false);
            all[it->second].value = std::move(tpl.value);
            return true;
          }
          all.push_back(std::move(tpl));
          return true;
        },
        err);
    if (!ok) return issue("templates", "not readable: " + err);
    if (templates_out) templates_out(std::move(all));
  }

  void seed003(const Tables& t) {
    report_unexpected(src, "conversations", t.conversations,
                      {"id", "title", "created_at", "updated_at", "message_count"}, report);
    report_unexpected(
        src, "messages", t.messages,
        {"id", "conversation_id", "role", "content", "timestamp", "meta", "created_at"}, report);
    for (const char* c : {"role", "content"}) {
      if (!t.messages.contains(c)) return fatal("messages", std::string("no ") + c + " column");
    }
    orphans(
        "SELECT count(*) FROM messages WHERE conversation_id IS NULL OR conversation_id NOT IN "
        "(SELECT id FROM conversations)");
    const auto tm = [&](const std::string& c) { return src.time_expr(c); };
    const auto tx = [&](const std::string& c) { return src.text_expr(c); };
    const std::string conv_sql =
        "SELECT id, " + col(t.conversations, "title") + ", " +
        col(t.conversations, "created_at", tm) + ", " + col(t.conversations, "updated_at", tm) +
        ", " + col(t.conversations, "message_count") + " FROM conversations ORDER BY id";
    // Seed 003's ids are text; the order of insertion is the order of the conversation.
    std::string order;
    if (src.row_key() == "rowid") {
      order = "rowid";
    } else {
      for (const char* c : {"timestamp", "created_at", "id"}) {
        if (t.messages.contains(c))
          order += (order.empty() ? "\"" : ", \"") + std::string(c) + "\"";
      }
      if (order.empty()) order = "1";
    }
    const std::string msg_sql =
        "SELECT " + col(t.messages, "id") + ", role, content, " + col(t.messages, "timestamp", tm) +
        ", " + col(t.messages, "meta", tx) + ", " + col(t.messages, "created_at", tm) +
        " FROM messages WHERE conversation_id = $1 ORDER BY " + order;
    std::string err;
    const bool ok = src.query(
        0, conv_sql, {},
        [&](const Row& r) {
          const std::string id = r[0].value_or("");
          const std::string where = "conversations id '" + id + "'";
          if (!is_valid_id(id)) {
            issue(where, "invalid conversation id");
            return true;
          }
          ParsedConversation c;
          c.file = src.name();
          c.whole.id = id;
          c.whole.title = r[1].value_or("");
          if (!detail::valid_utf8(c.whole.title)) {
            issue(where, "title is not UTF-8");
            return true;
          }
          c.whole.created_at = detail::time_text(r[2].value_or("")).value_or(0);
          c.whole.updated_at = detail::time_text(r[3].value_or("")).value_or(0);
          std::set<MessageId> ids;
          std::size_t index = 0;
          TimeMs last = c.whole.created_at;
          std::string merr;
          const bool mok = src.query(
              1, msg_sql, {id},
              [&](const Row& m) {
                const std::string mwhere = "messages id " + m[0].value_or("?");
                const std::size_t i = index++;
                if (!m[1] || m[1]->empty() || !m[2]) {
                  issue(mwhere, "conversation " + id + ": no role or content");
                  return true;
                }
                if (!check_text(mwhere, id, *m[1], *m[2])) return true;
                NewMessage nm;
                nm.conversation = id;
                nm.sender = {*m[1], "", *m[1]};
                nm.content = *m[2];
                const auto& sid = m[0];
                nm.id = sid && !sid->empty() && sid->size() <= 128 && detail::valid_utf8(*sid)
                            ? *sid
                            : derived_message_id("sqlite-tables", id, i);
                if (!ids.insert(nm.id).second) {
                  issue(mwhere, "conversation " + id + ": message id " + nm.id + " appears twice");
                  return true;
                }
                auto at = detail::time_text(m[3].value_or(""));
                if (!at) at = detail::time_text(m[5].value_or(""));
                nm.created_at = at.value_or(last);
                last = nm.created_at;
                if (m[4] && !m[4]->empty() && *m[4] != "null") {
                  json::error_code ec;
                  auto v = json::parse(*m[4], ec);
                  if (ec || !v.is_object() || !protocol::all_finite(v)) {
                    issue(mwhere, "conversation " + id + ": meta is not a JSON object");
                    return true;
                  }
                  nm.meta = json::serialize(v);
                }
                c.whole.messages.push_back(std::move(nm));
                return true;
              },
              merr);
          if (!mok) {
            issue(where, "messages not readable: " + merr);
            return true;
          }
          if (r[4] && *r[4] != std::to_string(index)) {
            issue(where, "message_count " + *r[4] + " but " + std::to_string(index) + " messages",
                  false);
          }
          finish_times(c.whole);
          return detail::hand_over(std::move(c), visit, report);
        },
        err);
    if (!ok) fatal("conversations", "not readable: " + err);
  }

  void seed004(const Tables& t) {
    report_unexpected(
        src, "conversations", t.conversations,
        {"conversation_id", "title", "created_at", "updated_at", "messages", "settings"}, report);
    const auto tm = [&](const std::string& c) { return src.time_expr(c); };
    const auto tx = [&](const std::string& c) { return src.text_expr(c); };
    const std::string sql =
        "SELECT conversation_id, " + col(t.conversations, "title") + ", " +
        col(t.conversations, "created_at", tm) + ", " + col(t.conversations, "updated_at", tm) +
        ", " + src.text_expr("messages") + ", " + col(t.conversations, "settings", tx) +
        " FROM conversations ORDER BY " +
        (t.conversations.contains("created_at") ? "created_at, " : "") + "conversation_id";
    std::string err;
    const bool ok = src.query(
        0, sql, {},
        [&](const Row& r) {
          const std::string id = r[0].value_or("");
          const std::string where = "conversations conversation_id '" + id + "'";
          if (!is_valid_id(id)) {
            issue(where, "invalid conversation id");
            return true;
          }
          // One row holds the whole conversation in the shape of seed 004's JSON file: read
          // it with the same code.
          json::object o;
          if (r[1]) o["title"] = detail::valid_utf8(*r[1]) ? *r[1] : std::string();
          if (auto at = detail::time_text(r[2].value_or(""))) o["created_at"] = *at;
          if (auto at = detail::time_text(r[3].value_or(""))) o["updated_at"] = *at;
          for (auto [key, cell] : {std::pair{"messages", &r[4]}, std::pair{"settings", &r[5]}}) {
            if (!*cell) continue;
            json::error_code ec;
            auto v = json::parse(**cell, ec);
            if (ec) {
              issue(where, std::string(key) + " is not JSON: " + ec.message());
              return true;
            }
            o[key] = std::move(v);
          }
          const std::string text = json::serialize(o);
          ParsedConversation c;
          if (!detail::conversation_from_object(text, id, src.name(), where, c, report)) {
            return true;
          }
          return detail::hand_over(std::move(c), visit, report);
        },
        err);
    if (!ok) fatal("conversations", "not readable: " + err);
  }

  void seed001(const Tables& t) {
    report_unexpected(src, "general_chat_messages", t.general,
                      {"id", "sender_id", "content", "created_at"}, report);
    for (const char* c : {"id", "sender_id", "content"}) {
      if (!t.general.contains(c)) {
        return fatal("general_chat_messages", std::string("no ") + c + " column");
      }
    }
    // The app shows `sender.username`; other user tables name people otherwise.
    std::string name_col = "NULL";
    for (const char* c : {"username", "name", "display_name", "email"}) {
      if (t.users.contains(c)) {
        name_col = std::string("u.\"") + c + "\"";
        break;
      }
    }
    const std::string join =
        t.users.contains("id") ? " LEFT JOIN users u ON u.id = g.sender_id" : "";
    if (join.empty()) name_col = "NULL";
    const std::string sql =
        "SELECT g.id, " + src.text_expr("g.sender_id") + ", g.content, " +
        (t.general.contains("created_at") ? src.time_expr("g.created_at") : std::string("NULL")) +
        ", " + name_col + " FROM general_chat_messages g" + join + " ORDER BY g.id";
    ParsedConversation c;
    c.file = src.name();
    c.whole.id = "general";
    c.whole.title = "General chat";
    c.whole.meta = R"({"source":"general_chat_messages"})";
    std::map<UserId, User> users;
    TimeMs last = 0;
    std::string err;
    const bool ok = src.query(
        0, sql, {},
        [&](const Row& r) {
          const std::string mwhere = "general_chat_messages id " + r[0].value_or("?");
          if (!r[1] || !r[2]) {
            issue(mwhere, "no sender_id or content");
            return true;
          }
          if (!check_text(mwhere, "general", *r[1], *r[2])) return true;
          NewMessage nm;
          nm.conversation = "general";
          nm.sender.id = *r[1];
          nm.sender.role = "user";
          if (r[4] && detail::valid_utf8(*r[4])) {
            nm.sender.name = *r[4];
            users.emplace(nm.sender.id, User{nm.sender.id, *r[4], "", "user", std::nullopt});
          }
          nm.content = *r[2];
          nm.id = "general-" + r[0].value_or("");
          nm.created_at = detail::time_text(r[3].value_or("")).value_or(last);
          last = nm.created_at;
          c.whole.messages.push_back(std::move(nm));
          return true;
        },
        err);
    if (!ok) return fatal("general_chat_messages", "not readable: " + err);
    for (auto& [id, u] : users) c.users.push_back(std::move(u));
    finish_times(c.whole);
    (void)detail::hand_over(std::move(c), visit, report);
  }
};

std::unique_ptr<SqlSource> open_source(Format format, const std::string& source, std::string& why) {
  if (format == Format::postgres) {
    auto url = postgres_url(source);
    if (!url) {
      why =
          "not a PostgreSQL URL (postgres://, postgresql://), nor env:FILE with DATABASE_URL or "
          "DB_*";
      return nullptr;
    }
#if PARLEY_HAVE_POSTGRES
    return PgSource::open(*url, source, why);
#else
    why = "this parley was built without PostgreSQL (PARLEY_WITH_POSTGRES=OFF)";
    return nullptr;
#endif
  }
  return SqliteSource::open(source, why);
}

}  // namespace

std::optional<std::string> postgres_url(const std::string& source) {
  if (source.starts_with("postgres://") || source.starts_with("postgresql://")) return source;
  if (!source.starts_with("env:")) return std::nullopt;
  // The app's environment file (.env): KEY=VALUE lines, `export ` and quotes allowed. Read
  // from a file, not from parley's own environment, whose DATABASE_URL and DB_* name
  // Parley's store.
  std::ifstream in(source.substr(4));
  if (!in) return std::nullopt;
  std::map<std::string, std::string> env;
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("export ")) line.erase(0, 7);
    const auto eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
    if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') && value.back() == value[0]) {
      value = value.substr(1, value.size() - 2);
    }
    env[key] = value;
  }
  if (auto u = env.find("DATABASE_URL"); u != env.end() && postgres_url(u->second)) {
    return u->second;
  }
  if (!env.contains("DB_HOST")) return std::nullopt;
  // Seed 004: postgresql://{DB_USER}:{DB_PASSWORD}@{DB_HOST}:{DB_PORT}/{DB_NAME}, given to
  // libpq in its keyword form, which needs no URL escaping of the password.
  auto get = [&](const char* k, const char* dflt) {
    const auto it = env.find(k);
    return it == env.end() || it->second.empty() ? std::string(dflt) : it->second;
  };
  auto quote = [](const std::string& v) {
    std::string q = "'";
    for (char ch : v) {
      if (ch == '\'' || ch == '\\') q += '\\';
      q += ch;
    }
    return q + "'";
  };
  return "host=" + quote(get("DB_HOST", "localhost")) + " port=" + quote(get("DB_PORT", "5432")) +
         " dbname=" + quote(get("DB_NAME", "postgres")) +
         " user=" + quote(get("DB_USER", "postgres")) +
         " password=" + quote(get("DB_PASSWORD", ""));
}

namespace {
// Which schema `source` holds, or an error; shared by parse_sql and detect.
Schema probe(Format format, const std::string& source, std::unique_ptr<SqlSource>& src,
             Tables& tables, std::string& why) {
  src = open_source(format, source, why);
  if (!src) return Schema::none;
  tables = read_tables(*src);
  const Schema s = schema_of(tables);
  if (s == Schema::none) {
    why = "no table of a known schema (conversations + messages, or general_chat_messages)";
  }
  return s;
}
}  // namespace

void parse_sql(Format format, const std::string& source, const Visitor& visit,
               ParseReport& report, const TemplateVisitor& templates) {
  std::unique_ptr<SqlSource> src;
  Tables tables;
  std::string why;
  const Schema schema = probe(format, source, src, tables, why);
  const std::string name = src ? src->name() : format == Format::postgres ? "postgres" : source;
  if (schema == Schema::none) {
    report.issues.push_back({name, 0, {}, why, true});
    report.fatal = true;
    return;
  }
  Reader r{*src, visit, report, std::string(format_name(format)), templates};
  switch (schema) {
    case Schema::webwoz:
      return r.webwoz(tables);
    case Schema::seed003:
      return r.seed003(tables);
    case Schema::seed004:
      return r.seed004(tables);
    case Schema::seed001:
      return r.seed001(tables);
    case Schema::none:
      break;
  }
}

std::string detail::describe_sql(Format format, const std::string& source, bool& ok) {
  std::unique_ptr<SqlSource> src;
  Tables tables;
  std::string why;
  const Schema schema = probe(format, source, src, tables, why);
  ok = schema != Schema::none;
  return ok ? schema_name(schema) : why;
}

}  // namespace parley::cli::importers
