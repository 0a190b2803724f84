// DESIGN
//
// One SqliteConnection is one sqlite3 handle opened in multi-thread mode (no mutex of its
// own: store.hpp already says a connection is used by one thread at a time). Every SQL text
// is a namespace-scope literal; prepare() compiles it once per connection with
// SQLITE_PREPARE_PERSISTENT and keeps it, keyed by the literal's address, so the hot path
// never parses SQL. Every user value is bound as a parameter, text with SQLITE_STATIC (the
// bound strings outlive the statement's use, and Stmt resets and unbinds on scope exit),
// which saves copying a 1 MiB message twice.
//
// Writes that read before they write (append, edit, mark_read, ...) run in BEGIN IMMEDIATE
// transactions: the write lock is taken up front, so two connections can never both read
// last_seq and both assign the same seq, and a busy database is reported at BEGIN (after
// busy_timeout) rather than half-way through. A failed transaction is rolled back and the
// error returned; if even the rollback fails, or an I/O error hit the handle, the connection
// marks itself broken: calls answer unavailable until it has reopened the file, which it
// tries on the next call after a doubling backoff (recover()), so writes come back by
// themselves once the disk has room again or the volume is back.
//
// Errors map to Errc in one table (errc_for) and are logged with the statement's first words
// and SQLite's message, which names tables and constraints but never values: message content
// never reaches the log.

#include "store/sqlite/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cstring>
#include <limits>
#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "store/detail/templates.hpp"
#include "store/detail/values.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/wal_checkpointer.hpp"

namespace parley::store::sqlite {
namespace {

boost::system::error_code err(Errc e) { return make_error_code(e); }

TimeMs or_now(TimeMs t) { return t != 0 ? t : now_ms(); }

// Reopening a connection after an I/O error: the first attempt after 100 ms, doubling
// while the error persists.
constexpr std::chrono::milliseconds kMinReopenBackoff{100};
constexpr std::chrono::milliseconds kMaxReopenBackoff{2000};

// The one translation table from SQLite result codes to Parley's.
Errc errc_for(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
    case SQLITE_NOLFS:
    case SQLITE_INTERRUPT:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Errc::unavailable;
    case SQLITE_CONSTRAINT:
      return Errc::conflict;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Errc::data_loss;
    case SQLITE_TOOBIG:
      return Errc::too_large;
    default:
      return Errc::internal;
  }
}

// The columns of a message row, in the order read_message() expects.
#define PARLEY_MESSAGE_COLUMNS                                                       \
  "m.id, m.conversation, m.seq, m.sender_id, m.sender_name, m.sender_role, m.kind, " \
  "m.content, m.meta, m.created_at, m.edited_at, m.deleted, m.client_id"
constexpr int kMessageColumns = 13;

// The columns of a conversation row, in the order read_conversation() expects.
#define PARLEY_CONVERSATION_COLUMNS                                                       \
  "c.id, c.title, c.created_at, c.updated_at, c.message_count, c.last_seq, c.is_active, " \
  "c.participants, c.settings, c.meta"
constexpr int kConversationColumns = 10;

constexpr char kBegin[] = "BEGIN IMMEDIATE";
constexpr char kCommit[] = "COMMIT";

constexpr char kCreateSchemaVersion[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)";
constexpr char kSchemaVersionExists[] =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'";
constexpr char kSchemaVersion[] = "SELECT coalesce(max(version), 0) FROM schema_version";
constexpr char kRecordMigration[] =
    "INSERT INTO schema_version (version, name, applied_at) VALUES (?1, ?2, ?3)";

constexpr char kSelectLastSeq[] = "SELECT last_seq FROM conversations WHERE id = ?1";
constexpr char kInsertConversation[] =
    "INSERT INTO conversations (id, title, created_at, updated_at, message_count, last_seq,"
    " is_active, participants, settings, meta)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
constexpr char kInsertEmptyConversation[] =
    "INSERT INTO conversations (id, created_at, updated_at) VALUES (?1, ?2, ?2)"
    " ON CONFLICT (id) DO NOTHING";
constexpr char kSelectByClientId[] =
    "SELECT " PARLEY_MESSAGE_COLUMNS
    " FROM messages m"
    " WHERE m.conversation = ?1 AND m.sender_id = ?2 AND m.client_id = ?3";
constexpr char kInsertMessage[] =
    "INSERT INTO messages (conversation, seq, id, sender_id, sender_name, sender_role, kind,"
    " content, meta, created_at, client_id, edited_at, deleted)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
// The hot path: a repeated (conversation, sender, client_id) inserts nothing (changes() is 0)
// instead of failing, so the common case needs no lookup before the insert.
constexpr char kAppendMessage[] =
    "INSERT INTO messages (conversation, seq, id, sender_id, sender_name, sender_role, kind,"
    " content, meta, created_at, client_id)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    " ON CONFLICT (conversation, sender_id, client_id) WHERE client_id IS NOT NULL DO NOTHING";
constexpr char kBumpConversation[] =
    "UPDATE conversations SET last_seq = ?2, message_count = message_count + ?3,"
    " updated_at = max(updated_at, ?4) WHERE id = ?1";

constexpr char kReadAfter[] = "SELECT " PARLEY_MESSAGE_COLUMNS
                              " FROM messages m"
                              " WHERE m.conversation = ?1 AND m.seq > ?2 ORDER BY m.seq LIMIT ?3";
constexpr char kReadBefore[] =
    "SELECT " PARLEY_MESSAGE_COLUMNS
    " FROM messages m"
    " WHERE m.conversation = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3";
constexpr char kForEach[] = "SELECT " PARLEY_MESSAGE_COLUMNS
                            " FROM messages m"
                            " WHERE m.conversation = ?1 AND m.seq > ?2 ORDER BY m.seq";
constexpr char kGetMessage[] =
    "SELECT " PARLEY_MESSAGE_COLUMNS " FROM messages m WHERE m.conversation = ?1 AND m.seq = ?2";
// messages.id is UNIQUE: one lookup in its index.
constexpr char kFindMessage[] = "SELECT " PARLEY_MESSAGE_COLUMNS " FROM messages m WHERE m.id = ?1";
constexpr char kEditMessage[] =
    "UPDATE messages SET content = ?3, edited_at = ?4 WHERE conversation = ?1 AND seq = ?2";
constexpr char kDeleteMessage[] =
    "UPDATE messages SET content = '', meta = '{}', deleted = 1, edited_at = ?3"
    " WHERE conversation = ?1 AND seq = ?2";

constexpr char kGetConversation[] =
    "SELECT " PARLEY_CONVERSATION_COLUMNS " FROM conversations c WHERE c.id = ?1";
constexpr char kUpdateConversation[] =
    "UPDATE conversations SET title = ?2, participants = ?3, settings = ?4, meta = ?5,"
    " is_active = ?6, updated_at = ?7 WHERE id = ?1";
constexpr char kDeleteConversation[] = "DELETE FROM conversations WHERE id = ?1";
constexpr char kCountConversations[] = "SELECT count(*) FROM conversations";
constexpr char kReplaceConversation[] =
    "UPDATE conversations SET title = ?2, created_at = ?3, updated_at = ?4, message_count = ?5,"
    " last_seq = ?9, participants = ?6, settings = ?7, meta = ?8 WHERE id = ?1";
constexpr char kDeleteMessages[] = "DELETE FROM messages WHERE conversation = ?1";
// Retention: the oldest run created before a time ends right before the first message at or
// after it; a prune removes every message up to a seq.
constexpr char kFirstSeqSince[] =
    "SELECT min(seq) FROM messages WHERE conversation = ?1 AND created_at >= ?2";
constexpr char kCountUpTo[] = "SELECT count(*) FROM messages WHERE conversation = ?1 AND seq <= ?2";
constexpr char kDeleteUpTo[] = "DELETE FROM messages WHERE conversation = ?1 AND seq <= ?2";
constexpr char kDropMessageCount[] =
    "UPDATE conversations SET message_count = max(0, message_count - ?2) WHERE id = ?1";
// The change log (migrations/005_changes.sql). `WHERE true` settles SQLite's parsing of an
// upsert after a SELECT.
constexpr char kNoteChange[] =
    "INSERT INTO conversation_changes (conversation, number)"
    " SELECT ?1, coalesce(max(number), 0) + 1 FROM conversation_changes WHERE true"
    " ON CONFLICT (conversation) DO UPDATE SET number = excluded.number";
constexpr char kLastChange[] = "SELECT coalesce(max(number), 0) FROM conversation_changes";
constexpr char kChangesAfter[] =
    "SELECT conversation, number FROM conversation_changes WHERE number > ?1"
    " ORDER BY number LIMIT ?2";
constexpr char kClampReadState[] =
    "UPDATE read_state SET seq = ?2 WHERE conversation = ?1 AND seq > ?2";

// Lists walk conversations_by_updated backwards from the cursor; the latest message is one
// lookup in the (conversation, seq) index. With a user, the walk starts from members_by_user
// and read_state gives the unread count, all in one statement.
constexpr char kListAll[] =
    "SELECT " PARLEY_CONVERSATION_COLUMNS ", " PARLEY_MESSAGE_COLUMNS
    " FROM conversations c"
    " LEFT JOIN messages m ON m.conversation = c.id AND m.seq = c.last_seq"
    " WHERE (c.updated_at, c.id) < (?1, ?2)"
    "  AND (?3 = '' OR instr(lower(c.title), ?3) > 0 OR instr(lower(c.id), ?3) > 0)"
    " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?4";
constexpr char kListForUser[] =
    "SELECT " PARLEY_CONVERSATION_COLUMNS ", " PARLEY_MESSAGE_COLUMNS
    ", coalesce(r.seq, 0)"
    " FROM members mb"
    " JOIN conversations c ON c.id = mb.conversation"
    " LEFT JOIN messages m ON m.conversation = c.id AND m.seq = c.last_seq"
    " LEFT JOIN read_state r ON r.conversation = c.id AND r.user_id = mb.user_id"
    " WHERE mb.user_id = ?5 AND (c.updated_at, c.id) < (?1, ?2)"
    "  AND (?3 = '' OR instr(lower(c.title), ?3) > 0 OR instr(lower(c.id), ?3) > 0)"
    " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?4";

constexpr char kConversationExists[] = "SELECT 1 FROM conversations WHERE id = ?1";
constexpr char kAddMember[] =
    "INSERT INTO members (conversation, user_id, joined_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (conversation, user_id) DO NOTHING";
constexpr char kAddMemberIfConversation[] =
    "INSERT INTO members (conversation, user_id, joined_at)"
    " SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ?1)"
    " ON CONFLICT (conversation, user_id) DO NOTHING";
constexpr char kRemoveMember[] = "DELETE FROM members WHERE conversation = ?1 AND user_id = ?2";
constexpr char kMembersOf[] = "SELECT user_id FROM members WHERE conversation = ?1";

constexpr char kReadSeq[] = "SELECT seq FROM read_state WHERE conversation = ?1 AND user_id = ?2";
constexpr char kSetReadSeq[] =
    "INSERT INTO read_state (conversation, user_id, seq) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (conversation, user_id) DO UPDATE SET seq = max(seq, excluded.seq)";

constexpr char kUpsertUser[] =
    "INSERT INTO users (id, name, avatar, role, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT (id) DO UPDATE SET"
    "  name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE name END,"
    "  avatar = CASE WHEN excluded.avatar <> '' THEN excluded.avatar ELSE avatar END,"
    "  role = CASE WHEN excluded.role <> '' THEN excluded.role ELSE role END,"
    "  last_seen = coalesce(excluded.last_seen, last_seen)";
constexpr char kGetUser[] = "SELECT id, name, avatar, role, last_seen FROM users WHERE id = ?1";
constexpr char kSetLastSeen[] =
    "INSERT INTO users (id, last_seen) VALUES (?1, ?2)"
    " ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen";

// Keyset pages of users: id > ?1, at most ?2.
constexpr char kListUsers[] =
    "SELECT id, name, avatar, role, last_seen FROM users WHERE id > ?1 ORDER BY id LIMIT ?2";
constexpr char kMemberStates[] =
    "SELECT u.user_id, m.joined_at, r.seq FROM (SELECT user_id FROM members WHERE conversation "
    "= ?1 UNION SELECT user_id FROM read_state WHERE conversation = ?1) u "
    "LEFT JOIN members m ON m.conversation = ?1 AND m.user_id = u.user_id "
    "LEFT JOIN read_state r ON r.conversation = ?1 AND r.user_id = u.user_id ORDER BY u.user_id";

constexpr char kSearch[] =
    "SELECT " PARLEY_MESSAGE_COLUMNS
    ", snippet(messages_fts, 0, '', '', '…', 16)"
    " FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid"
    " WHERE messages_fts MATCH ?1 AND m.deleted = 0 AND (?2 IS NULL OR m.conversation = ?2)"
    " ORDER BY messages_fts.rank LIMIT ?3";

// The full-text index after the commit (migrations/003_search_off_commit.sql): rows above
// the watermark are committed but not yet indexed.
constexpr char kIndexBehind[] =
    "SELECT coalesce((SELECT max(rowid) FROM messages), 0)"
    " > (SELECT indexed_rowid FROM search_index WHERE id = 1)";
constexpr char kIndexWatermark[] = "SELECT indexed_rowid FROM search_index WHERE id = 1";
// The next chunk above the watermark: its last rowid and its size.
constexpr char kIndexChunk[] =
    "SELECT max(rowid), count(*) FROM"
    " (SELECT rowid FROM messages WHERE rowid > ?1 ORDER BY rowid LIMIT ?2)";
constexpr char kIndexRows[] =
    "INSERT INTO messages_fts (rowid, content)"
    " SELECT rowid, content FROM messages WHERE rowid > ?1 AND rowid <= ?2 ORDER BY rowid";
constexpr char kSetIndexWatermark[] = "UPDATE search_index SET indexed_rowid = ?1 WHERE id = 1";
// Rows a search indexes per transaction when it finds the index behind.
constexpr std::size_t kSearchCatchUpChunk = 4096;

#undef PARLEY_MESSAGE_COLUMNS
#undef PARLEY_CONVERSATION_COLUMNS

std::string participants_json(const std::vector<UserId>& participants) {
  boost::json::array array;
  array.reserve(participants.size());
  for (const UserId& user : participants) array.emplace_back(user);
  return boost::json::serialize(array);
}

std::vector<UserId> participants_from_json(std::string_view text) {
  std::vector<UserId> out;
  boost::system::error_code ec;
  const boost::json::value value = boost::json::parse(text, ec);
  if (ec || !value.is_array()) return out;  // the column's CHECK makes this unreachable
  for (const boost::json::value& item : value.get_array()) {
    if (item.is_string()) out.emplace_back(item.get_string());
  }
  return out;
}

// An FTS5 query from a user's words: each quoted (so no word is an operator) and matched as
// a prefix, all required.
std::string fts_query(const std::vector<std::string>& terms) {
  std::string out;
  for (const std::string& term : terms) {
    if (!out.empty()) out.push_back(' ');
    out.push_back('"');
    out.append(term);  // word bytes only: never a quote
    out.append("\"*");
  }
  return out;
}

bool valid_synchronous(const std::string& value) {
  const std::string upper = [&] {
    std::string s = value;
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }();
  return upper == "FULL" || upper == "NORMAL" || upper == "EXTRA";
}

}  // namespace

// --- Statements and transactions ---------------------------------------------------------

// A cached statement in use: binds parameters, steps, reads columns; resets on destruction.
class SqliteConnection::Stmt {
 public:
  Stmt(SqliteConnection& conn, sqlite3_stmt* stmt, const char* sql)
      : conn_(&conn), stmt_(stmt), sql_(sql) {}
  Stmt(Stmt&& other) noexcept
      : conn_(other.conn_),
        stmt_(std::exchange(other.stmt_, nullptr)),
        sql_(other.sql_),
        bind_rc_(other.bind_rc_) {}
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }

  Stmt& bind(int i, std::int64_t value) { return check(sqlite3_bind_int64(stmt_, i, value)); }
  Stmt& bind(int i, bool value) { return bind(i, std::int64_t{value ? 1 : 0}); }
  Stmt& bind(int i, const char* text) {
    return check(sqlite3_bind_text(stmt_, i, text, -1, SQLITE_STATIC));
  }
  // The string must outlive the statement's use: no temporaries.
  Stmt& bind(int i, const std::string& text) {
    return check(
        sqlite3_bind_text64(stmt_, i, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  Stmt& bind(int i, std::string&&) = delete;
  Stmt& bind(int i, const std::optional<std::string>& text) {
    return text ? bind(i, *text) : bind_null(i);
  }
  Stmt& bind(int i, const std::optional<std::int64_t>& value) {
    return value ? bind(i, *value) : bind_null(i);
  }
  Stmt& bind_null(int i) { return check(sqlite3_bind_null(stmt_, i)); }

  // True for a row, false when done.
  [[nodiscard]] Result<bool> step() {
    // error_code converts to bool, so Result<bool> needs the error spelled out.
    if (bind_rc_ != SQLITE_OK) {
      return Result<bool>(boost::system::in_place_error, conn_->fail(bind_rc_, sql_));
    }
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Result<bool>(boost::system::in_place_error, conn_->fail(rc, sql_));
  }
  // Steps to the end, for statements that return no rows.
  [[nodiscard]] Result<void> run() {
    auto row = step();
    if (!row) return row.error();
    return {};
  }

  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    const int size = sqlite3_column_bytes(stmt_, col);
    return data == nullptr ? std::string() : std::string(data, static_cast<std::size_t>(size));
  }
  std::optional<std::string> optional_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return text(col);
  }
  std::optional<std::int64_t> optional_int64(int col) const {
    if (is_null(col)) return std::nullopt;
    return int64(col);
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }

  SqliteConnection* conn_;
  sqlite3_stmt* stmt_;
  const char* sql_;
  int bind_rc_ = SQLITE_OK;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back on scope exit unless committed.
class SqliteConnection::Transaction {
 public:
  explicit Transaction(SqliteConnection& conn) : conn_(conn) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (open_) rollback();
  }

  [[nodiscard]] Result<void> begin() {
    auto stmt = conn_.prepare(kBegin);
    if (!stmt) return stmt.error();
    auto done = stmt->run();
    open_ = done.has_value();
    conn_.in_transaction_ = open_;
    return done;
  }
  [[nodiscard]] Result<void> commit() {
    auto stmt = conn_.prepare(kCommit);
    if (!stmt) return stmt.error();
    auto done = stmt->run();
    if (done) {
      open_ = false;
      if (conn_.backoff_.count() != 0) {
        spdlog::info("sqlite: writes work again after an I/O error");
        conn_.backoff_ = std::chrono::milliseconds{0};
      }
    }
    conn_.in_transaction_ = open_;
    return done;
  }

 private:
  void rollback() {
    open_ = false;
    conn_.in_transaction_ = false;
    // Some errors (SQLITE_FULL, IOERR, NOMEM) make SQLite roll back by itself.
    if (sqlite3_get_autocommit(conn_.db_) != 0) return;
    const int rc = sqlite3_exec(conn_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK && sqlite3_get_autocommit(conn_.db_) == 0) {
      conn_.broken_ = true;
      spdlog::error("sqlite: rollback failed ({}); connection marked broken", sqlite3_errstr(rc));
    }
  }

  SqliteConnection& conn_;
  bool open_ = false;
};

namespace {

StoredMessage read_message(const auto& stmt, int col) {
  StoredMessage msg;
  msg.id = stmt.text(col + 0);
  msg.conversation = stmt.text(col + 1);
  msg.seq = stmt.int64(col + 2);
  msg.sender.id = stmt.text(col + 3);
  msg.sender.name = stmt.text(col + 4);
  msg.sender.role = stmt.text(col + 5);
  msg.kind = stmt.text(col + 6);
  msg.content = stmt.text(col + 7);
  msg.meta = stmt.text(col + 8);
  msg.created_at = stmt.int64(col + 9);
  msg.edited_at = stmt.optional_int64(col + 10);
  msg.deleted = stmt.int64(col + 11) != 0;
  msg.client_id = stmt.optional_text(col + 12);
  return msg;
}

Conversation read_conversation(const auto& stmt, int col) {
  Conversation conv;
  conv.id = stmt.text(col + 0);
  conv.title = stmt.text(col + 1);
  conv.created_at = stmt.int64(col + 2);
  conv.updated_at = stmt.int64(col + 3);
  conv.message_count = stmt.int64(col + 4);
  conv.last_seq = stmt.int64(col + 5);
  conv.is_active = stmt.int64(col + 6) != 0;
  conv.participants = participants_from_json(stmt.text(col + 7));
  conv.settings = stmt.text(col + 8);
  conv.meta = stmt.text(col + 9);
  return conv;
}

}  // namespace

// --- SqliteDatabase ----------------------------------------------------------------------

SqliteDatabase::SqliteDatabase(std::string path, Options options)
    : path_(std::move(path)),
      options_(std::move(options)),
      checkpointer_(WalCheckpointer::start(path_)) {}

int SqliteDatabase::latest_schema_version() noexcept { return migrations().back().version; }

Result<std::shared_ptr<SqliteDatabase>> SqliteDatabase::open(std::string path, Options options) {
  if (!valid_synchronous(options.synchronous)) {
    spdlog::error("sqlite: unknown synchronous setting '{}' (FULL or NORMAL)", options.synchronous);
    return err(Errc::invalid_argument);
  }
  auto conn = SqliteConnection::open(path, options);
  if (!conn) return conn.error();
  auto version = (*conn)->migrate(options.target_version);
  if (!version) return version.error();
  spdlog::info("sqlite: opened {} (schema version {}, synchronous {})", path, *version,
               options.synchronous);
  return std::shared_ptr<SqliteDatabase>(new SqliteDatabase(std::move(path), std::move(options)));
}

Result<std::unique_ptr<Connection>> SqliteDatabase::connect() {
  auto conn = SqliteConnection::open(path_, options_);
  if (!conn) return conn.error();
  if (checkpointer_) {
    checkpointer_->attach((*conn)->db_);
    (*conn)->checkpointer_ = checkpointer_;
  }
  return std::unique_ptr<Connection>(std::move(*conn));
}

// --- SqliteConnection: setup -------------------------------------------------------------

SqliteConnection::SqliteConnection(sqlite3* db) : db_(db) {}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::open(
    const std::string& path, const SqliteDatabase::Options& options) {
  sqlite3* db = nullptr;
  const int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  std::unique_ptr<SqliteConnection> conn(new SqliteConnection(db));  // closes db on failure
  conn->path_ = path;
  conn->options_ = options;
  if (rc != SQLITE_OK) {
    spdlog::error("sqlite: cannot open {}: {}", path,
                  db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return err(errc_for(rc));
  }
  sqlite3_busy_timeout(db, static_cast<int>(options.busy_timeout.count()));

  // WAL: readers never block the writer, and a commit is one append (and one fsync) to the
  // log. The journal mode is persistent in the file; asking again is cheap.
  {
    sqlite3_stmt* stmt = nullptr;
    if (const int prc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &stmt, nullptr);
        prc != SQLITE_OK) {
      return conn->fail(prc, "PRAGMA journal_mode");
    }
    const int src = sqlite3_step(stmt);
    const std::string mode =
        src == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)) : "";
    const int frc = sqlite3_finalize(stmt);
    if (src != SQLITE_ROW) return conn->fail(frc != SQLITE_OK ? frc : src, "PRAGMA journal_mode");
    if (mode != "wal") {
      spdlog::error("sqlite: {} cannot use WAL mode (got '{}')", path, mode);
      return err(Errc::unavailable);
    }
  }
  // The value was checked against a fixed list, so choosing the literal is safe.
  std::string sync = options.synchronous;
  for (char& c : sync) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const char* sync_sql = sync == "NORMAL"  ? "PRAGMA synchronous = NORMAL"
                         : sync == "EXTRA" ? "PRAGMA synchronous = EXTRA"
                                           : "PRAGMA synchronous = FULL";
  if (auto ok = conn->exec(sync_sql, "PRAGMA synchronous"); !ok) return ok.error();
  if (auto ok = conn->exec("PRAGMA foreign_keys = ON", "PRAGMA foreign_keys"); !ok) {
    return ok.error();
  }
  if (auto ok = conn->exec("PRAGMA temp_store = MEMORY", "PRAGMA temp_store"); !ok) {
    return ok.error();
  }
  // SQLite's default page cache (2 MiB) re-reads the indexes of a few hundred busy
  // conversations from the file on every append (a pread per page, 7 % of the server's CPU
  // with 500 rooms). 32 MiB per connection, taken only as pages are used.
  if (auto ok = conn->exec("PRAGMA cache_size = -32768", "PRAGMA cache_size"); !ok) {
    return ok.error();
  }
  // Reads of pages beyond that cache (history pages of a store bigger than 32 MiB) go through
  // a memory map of the file instead of a pread and a copy each: the kernel's read path was
  // about 12 % of the server's CPU paging a 1M-message store over REST. Address space only
  // (pages come from the OS page cache, shared by the connections); SQLite caps it at its
  // compile-time SQLITE_MAX_MMAP_SIZE (2 GiB by default), past which it reads as before.
  if (options.memory_map) {
    if (auto ok = conn->exec("PRAGMA mmap_size = 2147418112", "PRAGMA mmap_size"); !ok) {
      return ok.error();
    }
  }
  return conn;
}

Result<SqliteConnection::Stmt> SqliteConnection::prepare(const char* sql) {
  if (!recover()) return err(Errc::unavailable);
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return fail(rc, sql);
    it = statements_.emplace(sql, stmt).first;
  }
  return Stmt(*this, it->second, sql);
}

Result<void> SqliteConnection::exec(const char* sql, const char* what) {
  if (!recover()) return err(Errc::unavailable);
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail(rc, what);
  return {};
}

boost::system::error_code SqliteConnection::fail(int rc, const char* what) {
  const Errc errc = errc_for(rc);
  if ((rc & 0xff) == SQLITE_IOERR && !broken_) {
    // The handle may hold dead descriptors (a yanked volume) or half-written state: from
    // here on it is only reopened, never trusted (recover()), after a backoff that doubles
    // while reopened handles keep failing and resets at the next commit.
    broken_ = true;
    backoff_ = std::clamp(backoff_ * 2, kMinReopenBackoff, kMaxReopenBackoff);
    next_attempt_ = std::chrono::steady_clock::now() + backoff_;
  }
  // SQLite's messages name tables and constraints, never bound values.
  const std::string_view statement(what);
  const auto level = errc == Errc::conflict ? spdlog::level::warn : spdlog::level::err;
  spdlog::log(level, "sqlite: {}: {} (code {}, {})", statement.substr(0, 60), sqlite3_errmsg(db_),
              rc, sqlite3_errstr(rc));
  return err(errc);
}

bool SqliteConnection::recover() {
  if (!broken_) return true;
  using Clock = std::chrono::steady_clock;
  if (in_transaction_ || Clock::now() < next_attempt_) return false;
  auto fresh = SqliteConnection::open(path_, options_);
  if (!fresh) {
    // Logged once per failure run (open() logs the cause too).
    if (backoff_.count() == 0) {
      spdlog::warn("sqlite: cannot reopen {}; retrying every {} ms at most", path_,
                   kMaxReopenBackoff.count());
    }
    backoff_ = std::clamp(backoff_ * 2, kMinReopenBackoff, kMaxReopenBackoff);
    next_attempt_ = Clock::now() + backoff_;
    return false;
  }
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  statements_.clear();
  sqlite3_close_v2(db_);
  db_ = std::exchange((*fresh)->db_, nullptr);
  if (checkpointer_) checkpointer_->attach(db_);
  broken_ = false;
  spdlog::debug("sqlite: reopened {} after an I/O error", path_);
  return true;
}

Result<int> SqliteConnection::schema_version() {
  {
    auto exists = prepare(kSchemaVersionExists);
    if (!exists) return exists.error();
    auto row = exists->step();
    if (!row) return row.error();
    if (!*row || exists->int64(0) == 0) return 0;
  }
  auto stmt = prepare(kSchemaVersion);
  if (!stmt) return stmt.error();
  auto row = stmt->step();
  if (!row) return row.error();
  return *row ? static_cast<int>(stmt->int64(0)) : 0;
}

Result<int> SqliteConnection::migrate(int target) {
  const int latest = SqliteDatabase::latest_schema_version();
  if (target <= 0 || target > latest) target = latest;
  auto current = schema_version();
  if (!current) return current.error();
  if (*current > latest) {
    spdlog::error(
        "sqlite: the database has schema version {} but this binary knows only up to {}; "
        "refusing to open it (upgrade Parley)",
        *current, latest);
    return err(Errc::conflict);
  }
  if (*current == 0) {
    if (auto ok = exec(kCreateSchemaVersion, "CREATE TABLE schema_version"); !ok) {
      return ok.error();
    }
  }
  for (const Migration& migration : migrations()) {
    if (migration.version > target) break;
    if (migration.version <= *current) continue;
    Transaction tx(*this);
    if (auto ok = tx.begin(); !ok) return ok.error();
    // Another process may have migrated while we waited for the write lock.
    auto now_version = schema_version();
    if (!now_version) return now_version.error();
    if (*now_version >= migration.version) {
      *current = *now_version;
      continue;
    }
    // The migration text is ours (embedded at build time), never user input.
    const std::string sql(migration.sql);
    if (auto ok = exec(sql.c_str(), migration.name.data()); !ok) return ok.error();
    {
      auto stmt = prepare(kRecordMigration);
      if (!stmt) return stmt.error();
      const std::string name(migration.name);
      stmt->bind(1, std::int64_t{migration.version}).bind(2, name).bind(3, now_ms());
      if (auto ok = stmt->run(); !ok) return ok.error();
    }
    if (auto ok = tx.commit(); !ok) return ok.error();
    spdlog::info("sqlite: applied migration {}", migration.name);
    *current = migration.version;
  }
  return *current;
}

// --- Messages ----------------------------------------------------------------------------

Result<std::vector<Appended>> SqliteConnection::append_batch(std::span<const NewMessage> batch) {
  std::vector<Appended> out;
  if (batch.empty()) return out;
  out.reserve(batch.size());
  const TimeMs now = now_ms();

  struct Touched {
    Seq last_seq = 0;
    std::int64_t added = 0;
  };
  std::unordered_map<ConversationId, Touched> touched;
  // (conversation, sender, client_id) -> index into `out`, for repeats within the batch.
  std::map<std::tuple<std::string_view, std::string_view, std::string_view>, std::size_t>
      batch_client_ids;
  // (conversation, sender) -> the last seq it sent in this batch: what one sends is read.
  struct Sent {
    const NewMessage* last;  // in `batch`, which outlives the statements binding it
    Seq seq;
  };
  std::map<std::pair<std::string_view, std::string_view>, Sent> sent;

  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return ok.error();
  for (const NewMessage& msg : batch) {
    if (!is_valid_id(msg.conversation)) return err(Errc::invalid_argument);
    auto meta = detail::normalize_json_object(msg.meta);
    if (!meta) return meta.error();
    std::optional<std::string> client_id;
    if (msg.client_id && !msg.client_id->empty()) client_id = msg.client_id;

    // The conversation's last seq, read once per batch; the row is created if missing.
    auto [it, fresh] = touched.try_emplace(msg.conversation);
    if (fresh) {
      auto select = prepare(kSelectLastSeq);
      if (!select) return select.error();
      select->bind(1, msg.conversation);
      auto row = select->step();
      if (!row) return row.error();
      if (*row) {
        it->second.last_seq = select->int64(0);
      } else {
        auto insert = prepare(kInsertEmptyConversation);
        if (!insert) return insert.error();
        insert->bind(1, msg.conversation).bind(2, now);
        if (auto ok = insert->run(); !ok) return ok.error();
      }
    }

    const auto key =
        std::make_tuple(std::string_view(msg.conversation), std::string_view(msg.sender.id),
                        client_id ? std::string_view(*msg.client_id) : "");
    if (client_id) {
      if (const auto dup = batch_client_ids.find(key); dup != batch_client_ids.end()) {
        out.push_back({out[dup->second].message, true});
        continue;
      }
    }

    StoredMessage stored;
    stored.id = msg.id.empty() ? new_message_id() : msg.id;
    stored.conversation = msg.conversation;
    stored.seq = it->second.last_seq + 1;
    stored.sender = msg.sender;
    stored.kind = msg.kind.empty() ? "text" : msg.kind;
    stored.content = msg.content;
    stored.meta = std::move(*meta);
    stored.created_at = msg.created_at != 0 ? msg.created_at : now;
    stored.client_id = std::move(client_id);
    {
      auto insert = prepare(kAppendMessage);
      if (!insert) return insert.error();
      insert->bind(1, stored.conversation)
          .bind(2, stored.seq)
          .bind(3, stored.id)
          .bind(4, stored.sender.id)
          .bind(5, stored.sender.name)
          .bind(6, stored.sender.role)
          .bind(7, stored.kind)
          .bind(8, stored.content)
          .bind(9, stored.meta)
          .bind(10, stored.created_at)
          .bind(11, stored.client_id);
      if (auto ok = insert->run(); !ok) return ok.error();
    }
    if (stored.client_id) {
      if (sqlite3_changes(db_) == 0) {
        // Stored by an earlier batch: return that message; this one takes no seq.
        auto select = prepare(kSelectByClientId);
        if (!select) return select.error();
        select->bind(1, stored.conversation).bind(2, stored.sender.id).bind(3, *stored.client_id);
        auto row = select->step();
        if (!row) return row.error();
        if (!*row) return err(Errc::internal);  // the unique index just said it exists
        out.push_back({read_message(*select, 0), true});
        continue;
      }
      batch_client_ids.emplace(key, out.size());
    }
    it->second.last_seq = stored.seq;
    ++it->second.added;
    sent[{std::string_view(msg.conversation), std::string_view(msg.sender.id)}] = {&msg,
                                                                                   stored.seq};
    out.push_back({std::move(stored), false});
  }
  // One upsert per (conversation, sender) of the batch: in the chat benchmark's batches of
  // ~1000 messages from ~1000 senders that is one more row write per message, measured in
  // bench/README.md (store_append_bench).
  for (const auto& [key, last] : sent) {
    auto mark = prepare(kSetReadSeq);
    if (!mark) return mark.error();
    mark->bind(1, last.last->conversation).bind(2, last.last->sender.id).bind(3, last.seq);
    if (auto ok = mark->run(); !ok) return ok.error();
  }

  for (const auto& [id, conv] : touched) {
    if (conv.added == 0) continue;
    auto update = prepare(kBumpConversation);
    if (!update) return update.error();
    update->bind(1, id).bind(2, conv.last_seq).bind(3, conv.added).bind(4, now);
    if (auto ok = update->run(); !ok) return ok.error();
  }
  if (auto ok = tx.commit(); !ok) return ok.error();
  return out;
}

Result<std::vector<StoredMessage>> SqliteConnection::read_after(const ConversationId& conversation,
                                                                Seq after, std::size_t limit) {
  std::vector<StoredMessage> out;
  if (limit == 0) return out;
  auto stmt = prepare(kReadAfter);
  if (!stmt) return stmt.error();
  stmt->bind(1, conversation).bind(2, after).bind(3, detail::sql_limit(limit));
  for (;;) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(read_message(*stmt, 0));
  }
  return out;
}

Result<std::vector<StoredMessage>> SqliteConnection::read_before(const ConversationId& conversation,
                                                                 Seq before, std::size_t limit) {
  std::vector<StoredMessage> out;
  if (limit == 0 || before <= 1) return out;
  auto stmt = prepare(kReadBefore);
  if (!stmt) return stmt.error();
  stmt->bind(1, conversation).bind(2, before).bind(3, detail::sql_limit(limit));
  for (;;) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(read_message(*stmt, 0));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<StoredMessage> SqliteConnection::get_message(const ConversationId& conversation, Seq seq) {
  auto stmt = prepare(kGetMessage);
  if (!stmt) return stmt.error();
  stmt->bind(1, conversation).bind(2, seq);
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) return err(Errc::not_found);
  return read_message(*stmt, 0);
}

Result<StoredMessage> SqliteConnection::find_message(const MessageId& id) {
  auto stmt = prepare(kFindMessage);
  if (!stmt) return stmt.error();
  stmt->bind(1, id);
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) return err(Errc::not_found);
  return read_message(*stmt, 0);
}

// Edit (content set) or soft-delete (content null), with the `by` rule, in one transaction.
Result<StoredMessage> SqliteConnection::change_message(const ConversationId& conversation, Seq seq,
                                                       const std::optional<UserId>& by,
                                                       const std::string* content, TimeMs at) {
  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return ok.error();
  auto msg = get_message(conversation, seq);
  if (!msg) return msg.error();
  if (by && *by != msg->sender.id) return err(Errc::permission_denied);
  if (msg->deleted) {
    if (content != nullptr) return err(Errc::conflict);
    return msg;  // deleting twice changes nothing
  }
  const TimeMs when = or_now(at);
  auto stmt = prepare(content != nullptr ? kEditMessage : kDeleteMessage);
  if (!stmt) return stmt.error();
  stmt->bind(1, conversation).bind(2, seq);
  if (content != nullptr) {
    stmt->bind(3, *content).bind(4, when);
  } else {
    stmt->bind(3, when);
  }
  if (auto ok = stmt->run(); !ok) return ok.error();
  if (auto ok = tx.commit(); !ok) return ok.error();
  if (content != nullptr) {
    msg->content = *content;
  } else {
    msg->content.clear();
    msg->meta = "{}";
    msg->deleted = true;
  }
  msg->edited_at = when;
  return msg;
}

Result<StoredMessage> SqliteConnection::edit_message(const ConversationId& conversation, Seq seq,
                                                     const std::string& content,
                                                     const std::optional<UserId>& by, TimeMs at) {
  return change_message(conversation, seq, by, &content, at);
}

Result<StoredMessage> SqliteConnection::delete_message(const ConversationId& conversation, Seq seq,
                                                       const std::optional<UserId>& by, TimeMs at) {
  return change_message(conversation, seq, by, nullptr, at);
}

// --- Conversations -----------------------------------------------------------------------

Result<Conversation> SqliteConnection::load_conversation(const ConversationId& id) {
  auto stmt = prepare(kGetConversation);
  if (!stmt) return stmt.error();
  stmt->bind(1, id);
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) return err(Errc::not_found);
  return read_conversation(*stmt, 0);
}

Result<void> SqliteConnection::insert_conversation(const Conversation& conv) {
  auto stmt = prepare(kInsertConversation);
  if (!stmt) return stmt.error();
  const std::string participants = participants_json(conv.participants);
  stmt->bind(1, conv.id)
      .bind(2, conv.title)
      .bind(3, conv.created_at)
      .bind(4, conv.updated_at)
      .bind(5, conv.message_count)
      .bind(6, conv.last_seq)
      .bind(7, conv.is_active)
      .bind(8, participants)
      .bind(9, conv.settings)
      .bind(10, conv.meta);
  return stmt->run();
}

// Participants are members too: listed ones join at `at`. A restricted conversation (a
// non-empty list) keeps no other member, whoever joined while it was open; opening it (an
// empty list) makes nobody leave. (store.hpp, ConversationStore)
Result<void> SqliteConnection::sync_participants(const ConversationId& id,
                                                 const std::vector<UserId>& participants,
                                                 TimeMs at) {
  if (!participants.empty()) {
    std::vector<UserId> others;
    {
      auto stmt = prepare(kMembersOf);
      if (!stmt) return stmt.error();
      stmt->bind(1, id);
      for (;;) {
        auto row = stmt->step();
        if (!row) return row.error();
        if (!*row) break;
        UserId user(stmt->text(0));
        if (std::find(participants.begin(), participants.end(), user) == participants.end()) {
          others.push_back(std::move(user));
        }
      }
    }
    for (const UserId& other : others) {
      auto stmt = prepare(kRemoveMember);
      if (!stmt) return stmt.error();
      stmt->bind(1, id).bind(2, other);
      if (auto ok = stmt->run(); !ok) return ok.error();
    }
  }
  for (const UserId& user : participants) {
    auto stmt = prepare(kAddMember);
    if (!stmt) return stmt.error();
    stmt->bind(1, id).bind(2, user).bind(3, at);
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  return {};
}

Result<Conversation> SqliteConnection::create_conversation(const NewConversation& request) {
  Conversation conv;
  conv.id = request.id.empty() ? new_short_id() : request.id;
  if (!is_valid_id(conv.id)) return err(Errc::invalid_argument);
  auto fields = detail::normalize_fields(request.participants, request.settings, request.meta);
  if (!fields) return fields.error();
  auto& [participants, settings, meta] = *fields;
  conv.title = request.title;
  conv.created_at = or_now(request.created_at);
  conv.updated_at = conv.created_at;
  conv.participants = std::move(*participants);
  conv.settings = std::move(*settings);
  conv.meta = std::move(*meta);

  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return ok.error();
  {
    auto exists = prepare(kConversationExists);
    if (!exists) return exists.error();
    exists->bind(1, conv.id);
    auto row = exists->step();
    if (!row) return row.error();
    if (*row) return err(Errc::already_exists);
  }
  if (auto ok = insert_conversation(conv); !ok) return ok.error();
  if (auto ok = sync_participants(conv.id, conv.participants, conv.created_at); !ok) {
    return ok.error();
  }
  if (auto ok = tx.commit(); !ok) return ok.error();
  return conv;
}

Result<Conversation> SqliteConnection::ensure_conversation(const ConversationId& id, TimeMs now) {
  if (!is_valid_id(id)) return err(Errc::invalid_argument);
  // Usually it exists: answer with a read, without taking the write lock.
  if (auto conv = load_conversation(id); conv || conv.error() != Errc::not_found) return conv;
  {
    auto stmt = prepare(kInsertEmptyConversation);
    if (!stmt) return stmt.error();
    stmt->bind(1, id).bind(2, or_now(now));
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  return load_conversation(id);
}

Result<void> SqliteConnection::ensure_conversations(std::span<const ConversationId> ids,
                                                    TimeMs now) {
  if (ids.empty()) return {};
  for (const ConversationId& id : ids) {
    if (!is_valid_id(id)) return err(Errc::invalid_argument);
  }
  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return ok.error();
  for (const ConversationId& id : ids) {
    auto stmt = prepare(kInsertEmptyConversation);
    if (!stmt) return stmt.error();
    stmt->bind(1, id).bind(2, or_now(now));
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  return tx.commit();
}

Result<Conversation> SqliteConnection::get_conversation(const ConversationId& id) {
  return load_conversation(id);
}

Result<ConversationPage> SqliteConnection::list_conversations(const ListQuery& query) {
  auto cursor = detail::decode_list_cursor(query.cursor);
  if (!cursor) return cursor.error();
  const std::size_t limit = detail::list_limit(query.limit);
  const std::string q = detail::ascii_lower(query.q);

  auto stmt = prepare(query.user ? kListForUser : kListAll);
  if (!stmt) return stmt.error();
  stmt->bind(1, cursor->updated_at)
      .bind(2, cursor->id)
      .bind(3, q)
      .bind(4, detail::sql_limit(limit + 1));
  if (query.user) stmt->bind(5, *query.user);

  ConversationPage page;
  bool more = false;
  for (;;) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    if (page.conversations.size() == limit) {
      more = true;
      break;
    }
    ConversationSummary summary;
    summary.conversation = read_conversation(*stmt, 0);
    if (!stmt->is_null(kConversationColumns)) {
      summary.last_message = read_message(*stmt, kConversationColumns);
    }
    if (query.user) {
      const Seq read = stmt->int64(kConversationColumns + kMessageColumns);
      summary.unread = std::max<Seq>(0, summary.conversation.last_seq - read);
    }
    page.conversations.push_back(std::move(summary));
  }
  if (more) {
    const Conversation& last = page.conversations.back().conversation;
    page.next_cursor = detail::encode_list_cursor(last.updated_at, last.id);
  }
  return page;
}

Result<Conversation> SqliteConnection::update_conversation(const ConversationId& id,
                                                           const ConversationPatch& patch,
                                                           TimeMs now) {
  auto fields = detail::normalize_fields(patch);
  if (!fields) return fields.error();
  auto& [participants, settings, meta] = *fields;
  const TimeMs at = or_now(now);

  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return ok.error();
  auto conv = load_conversation(id);
  if (!conv) return conv.error();
  if (patch.title) conv->title = *patch.title;
  if (participants) {
    if (auto ok = sync_participants(id, *participants, at); !ok) {
      return ok.error();
    }
    // A change: other processes' live rooms reload who they admit (ChangeFollower).
    if (auto ok = note_change(id); !ok) return ok.error();
    conv->participants = std::move(*participants);
  }
  if (settings) conv->settings = std::move(*settings);
  if (meta) conv->meta = std::move(*meta);
  if (patch.is_active) conv->is_active = *patch.is_active;
  conv->updated_at = std::max(conv->updated_at, at);
  {
    auto stmt = prepare(kUpdateConversation);
    if (!stmt) return stmt.error();
    const std::string participants_text = participants_json(conv->participants);
    stmt->bind(1, id)
        .bind(2, conv->title)
        .bind(3, participants_text)
        .bind(4, conv->settings)
        .bind(5, conv->meta)
        .bind(6, conv->is_active)
        .bind(7, conv->updated_at);
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  if (auto ok = tx.commit(); !ok) return ok.error();
  return conv;
}

Result<void> SqliteConnection::delete_conversation(const ConversationId& id) {
  // One statement: foreign keys cascade to messages (and through the triggers, their search
  // index), read_state and members.
  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return ok.error();
  {
    auto stmt = prepare(kDeleteConversation);
    if (!stmt) return stmt.error();
    stmt->bind(1, id);
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  if (sqlite3_changes(db_) == 0) return err(Errc::not_found);
  if (auto ok = note_change(id); !ok) return ok.error();
  return tx.commit();
}

Result<void> SqliteConnection::note_change(const ConversationId& id) {
  auto stmt = prepare(kNoteChange);
  if (!stmt) return stmt.error();
  stmt->bind(1, id);
  return stmt->run();
}

Result<std::int64_t> SqliteConnection::last_change() {
  auto stmt = prepare(kLastChange);
  if (!stmt) return stmt.error();
  auto row = stmt->step();
  if (!row) return row.error();
  return *row ? stmt->int64(0) : 0;
}

Result<std::vector<ConversationChange>> SqliteConnection::changes_after(std::int64_t after,
                                                                        std::size_t limit) {
  auto stmt = prepare(kChangesAfter);
  if (!stmt) return stmt.error();
  stmt->bind(1, after).bind(
      2, static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<int>::max())));
  std::vector<ConversationChange> out;
  for (;;) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) return out;
    out.push_back({stmt->text(0), stmt->int64(1)});
  }
}

Result<Conversation> SqliteConnection::replace_conversation(const WholeConversation& whole) {
  if (!is_valid_id(whole.id) || whole.first_seq < 1) return err(Errc::invalid_argument);
  // The states the messages had in their source, by index: stored with them.
  std::vector<const WholeConversation::MessageState*> states(whole.messages.size(), nullptr);
  for (const auto& state : whole.states) {
    if (state.index >= whole.messages.size()) return err(Errc::invalid_argument);
    states[state.index] = &state;
  }
  auto fields = detail::normalize_fields(whole.participants, whole.settings, whole.meta);
  if (!fields) return fields.error();
  auto& [participants, settings, meta] = *fields;
  std::vector<std::string> message_meta;
  message_meta.reserve(whole.messages.size());
  for (const NewMessage& msg : whole.messages) {
    auto normalized = detail::normalize_json_object(msg.meta);
    if (!normalized) return normalized.error();
    message_meta.push_back(std::move(*normalized));
  }
  const TimeMs now = now_ms();

  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return ok.error();
  auto existing = load_conversation(whole.id);
  if (!existing && existing.error() != Errc::not_found) return existing.error();

  Conversation conv;
  conv.id = whole.id;
  conv.title = whole.title;
  conv.created_at = whole.created_at != 0 ? whole.created_at
                    : existing            ? existing->created_at
                                          : now;
  conv.updated_at = whole.updated_at != 0 ? whole.updated_at : now;
  conv.message_count = static_cast<std::int64_t>(whole.messages.size());
  conv.last_seq = whole.first_seq - 1 + conv.message_count;
  conv.is_active = existing ? existing->is_active : true;
  conv.participants = std::move(*participants);
  conv.settings = std::move(*settings);
  conv.meta = std::move(*meta);

  if (existing) {
    {
      auto stmt = prepare(kDeleteMessages);
      if (!stmt) return stmt.error();
      stmt->bind(1, conv.id);
      if (auto ok = stmt->run(); !ok) return ok.error();
    }
    auto stmt = prepare(kReplaceConversation);
    if (!stmt) return stmt.error();
    const std::string participants_text = participants_json(conv.participants);
    stmt->bind(1, conv.id)
        .bind(2, conv.title)
        .bind(3, conv.created_at)
        .bind(4, conv.updated_at)
        .bind(5, conv.last_seq)
        .bind(6, participants_text)
        .bind(7, conv.settings)
        .bind(8, conv.meta)
        .bind(9, conv.last_seq);
    if (auto ok = stmt->run(); !ok) return ok.error();
  } else if (auto ok = insert_conversation(conv); !ok) {
    return ok.error();
  }

  static const std::string kEmpty;
  static const std::string kEmptyObject = "{}";
  Seq seq = whole.first_seq - 1;
  for (std::size_t i = 0; i < whole.messages.size(); ++i) {
    const NewMessage& msg = whole.messages[i];
    const MessageId id = msg.id.empty() ? new_message_id() : msg.id;
    const std::string kind = msg.kind.empty() ? "text" : msg.kind;
    std::optional<std::string> client_id;
    if (msg.client_id && !msg.client_id->empty()) client_id = msg.client_id;
    const TimeMs created_at = msg.created_at != 0 ? msg.created_at : now;
    // A soft-deleted message is stored as delete_message leaves one.
    const bool deleted = states[i] != nullptr && states[i]->deleted;
    std::optional<std::int64_t> edited_at;
    if (states[i] != nullptr) {
      edited_at = deleted ? states[i]->edited_at.value_or(created_at) : states[i]->edited_at;
    }
    auto stmt = prepare(kInsertMessage);
    if (!stmt) return stmt.error();
    stmt->bind(1, conv.id)
        .bind(2, ++seq)
        .bind(3, id)
        .bind(4, msg.sender.id)
        .bind(5, msg.sender.name)
        .bind(6, msg.sender.role)
        .bind(7, kind)
        .bind(8, deleted ? kEmpty : msg.content)
        .bind(9, deleted ? kEmptyObject : message_meta[i])
        .bind(10, created_at)
        .bind(11, client_id)
        .bind(12, edited_at)
        .bind(13, deleted);
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  {
    auto stmt = prepare(kClampReadState);
    if (!stmt) return stmt.error();
    stmt->bind(1, conv.id).bind(2, conv.last_seq);
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  for (const auto& [user, read] : whole.read_seqs) {
    const Seq raised = std::min(read, conv.last_seq);
    if (raised <= 0) continue;
    auto stmt = prepare(kSetReadSeq);
    if (!stmt) return stmt.error();
    stmt->bind(1, conv.id).bind(2, user).bind(3, raised);
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  if (auto ok = sync_participants(conv.id, conv.participants, now); !ok) {
    return ok.error();
  }
  if (auto ok = note_change(conv.id); !ok) return ok.error();
  if (auto ok = tx.commit(); !ok) return ok.error();
  return conv;
}

Result<std::int64_t> SqliteConnection::count_conversations() {
  auto stmt = prepare(kCountConversations);
  if (!stmt) return stmt.error();
  auto row = stmt->step();
  if (!row) return row.error();
  return *row ? stmt->int64(0) : 0;
}

Result<void> SqliteConnection::add_member(const ConversationId& conversation, const UserId& user,
                                          TimeMs at) {
  if (!is_valid_id(user)) return err(Errc::invalid_argument);
  {
    auto exists = prepare(kConversationExists);
    if (!exists) return exists.error();
    exists->bind(1, conversation);
    auto row = exists->step();
    if (!row) return row.error();
    if (!*row) return err(Errc::not_found);
  }
  auto stmt = prepare(kAddMember);
  if (!stmt) return stmt.error();
  stmt->bind(1, conversation).bind(2, user).bind(3, or_now(at));
  return stmt->run();
}

Result<void> SqliteConnection::add_members(std::span<const Membership> members) {
  if (members.empty()) return {};
  for (const Membership& m : members) {
    if (!is_valid_id(m.user)) return err(Errc::invalid_argument);
  }
  const TimeMs now = now_ms();
  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return ok.error();
  for (const Membership& m : members) {
    auto stmt = prepare(kAddMemberIfConversation);
    if (!stmt) return stmt.error();
    stmt->bind(1, m.conversation).bind(2, m.user).bind(3, m.at != 0 ? m.at : now);
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  return tx.commit();
}

Result<Seq> SqliteConnection::last_seq_of(const ConversationId& id) {
  auto stmt = prepare(kSelectLastSeq);
  if (!stmt) return stmt.error();
  stmt->bind(1, id);
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) return err(Errc::not_found);
  return stmt->int64(0);
}

// --- Read state --------------------------------------------------------------------------

Result<Seq> SqliteConnection::mark_read(const ConversationId& conversation, const UserId& user,
                                        Seq seq) {
  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return ok.error();
  auto last = last_seq_of(conversation);
  if (!last) return last.error();
  const Seq last_seq = *last;
  auto old = read_seq(conversation, user);
  if (!old) return old.error();
  const Seq now_read = std::max(*old, std::min(seq, last_seq));
  if (now_read > *old) {
    auto stmt = prepare(kSetReadSeq);
    if (!stmt) return stmt.error();
    stmt->bind(1, conversation).bind(2, user).bind(3, now_read);
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  if (auto ok = tx.commit(); !ok) return ok.error();
  return now_read;
}

Result<Seq> SqliteConnection::read_seq(const ConversationId& conversation, const UserId& user) {
  auto stmt = prepare(kReadSeq);
  if (!stmt) return stmt.error();
  stmt->bind(1, conversation).bind(2, user);
  auto row = stmt->step();
  if (!row) return row.error();
  return *row ? stmt->int64(0) : Seq{0};
}

// --- Templates (WebWOz) -------------------------------------------------------------------

Result<std::vector<Template>> SqliteConnection::list_templates() {
  auto stmt = prepare("SELECT category, key, value FROM templates ORDER BY position");
  if (!stmt) return stmt.error();
  std::vector<Template> out;
  for (;;) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(Template{stmt->text(0), stmt->text(1), stmt->text(2)});
  }
  return out;
}

Result<void> SqliteConnection::replace_templates(std::span<const Template> templates) {
  if (!detail::valid_templates(templates)) return err(Errc::invalid_argument);
  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return ok.error();
  if (auto ok = write_templates(templates); !ok) return ok.error();
  return tx.commit();
}

Result<bool> SqliteConnection::replace_templates_if(std::span<const Template> expected,
                                                    std::span<const Template> templates) {
  if (!detail::valid_templates(templates))
    return Result<bool>(boost::system::in_place_error, err(Errc::invalid_argument));
  // BEGIN IMMEDIATE: no other writer between the check and the write.
  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return Result<bool>(boost::system::in_place_error, ok.error());
  auto now = list_templates();
  if (!now) return Result<bool>(boost::system::in_place_error, now.error());
  if (!std::ranges::equal(*now, expected)) return false;
  if (auto ok = write_templates(templates); !ok)
    return Result<bool>(boost::system::in_place_error, ok.error());
  if (auto ok = tx.commit(); !ok) return Result<bool>(boost::system::in_place_error, ok.error());
  return true;
}

Result<void> SqliteConnection::write_templates(std::span<const Template> templates) {
  {
    auto stmt = prepare("DELETE FROM templates");
    if (!stmt) return stmt.error();
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  std::int64_t position = 0;
  for (const Template& t : templates) {
    auto stmt =
        prepare("INSERT INTO templates (position, category, key, value) VALUES (?, ?, ?, ?)");
    if (!stmt) return stmt.error();
    stmt->bind(1, ++position).bind(2, t.category).bind(3, t.key).bind(4, t.value);
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  return {};
}

// --- Users -------------------------------------------------------------------------------

Result<void> SqliteConnection::upsert_user(const User& user) {
  if (!is_valid_id(user.id)) return err(Errc::invalid_argument);
  auto stmt = prepare(kUpsertUser);
  if (!stmt) return stmt.error();
  stmt->bind(1, user.id)
      .bind(2, user.name)
      .bind(3, user.avatar)
      .bind(4, user.role)
      .bind(5, user.last_seen);
  return stmt->run();
}

Result<void> SqliteConnection::upsert_users(std::span<const User> users) {
  if (users.empty()) return {};
  for (const User& user : users) {
    if (!is_valid_id(user.id)) return err(Errc::invalid_argument);
  }
  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return ok.error();
  for (const User& user : users) {
    if (auto ok = upsert_user(user); !ok) return ok.error();
  }
  return tx.commit();
}

Result<User> SqliteConnection::get_user(const UserId& id) {
  auto stmt = prepare(kGetUser);
  if (!stmt) return stmt.error();
  stmt->bind(1, id);
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) return err(Errc::not_found);
  User user;
  user.id = stmt->text(0);
  user.name = stmt->text(1);
  user.avatar = stmt->text(2);
  user.role = stmt->text(3);
  user.last_seen = stmt->optional_int64(4);
  return user;
}

Result<void> SqliteConnection::set_last_seen(const UserId& id, TimeMs at) {
  if (!is_valid_id(id)) return err(Errc::invalid_argument);
  auto stmt = prepare(kSetLastSeen);
  if (!stmt) return stmt.error();
  stmt->bind(1, id).bind(2, at);
  return stmt->run();
}

Result<void> SqliteConnection::for_each_user(const std::function<bool(const User&)>& fn) {
  constexpr std::int64_t kPage = 1000;
  std::string after;
  for (;;) {
    std::vector<User> page;
    {
      auto stmt = prepare(kListUsers);
      if (!stmt) return stmt.error();
      stmt->bind(1, after).bind(2, kPage);
      for (;;) {
        auto row = stmt->step();
        if (!row) return row.error();
        if (!*row) break;
        User user;
        user.id = stmt->text(0);
        user.name = stmt->text(1);
        user.avatar = stmt->text(2);
        user.role = stmt->text(3);
        user.last_seen = stmt->optional_int64(4);
        page.push_back(std::move(user));
      }
    }
    for (const auto& user : page) {
      if (!fn(user)) return {};
    }
    if (static_cast<std::int64_t>(page.size()) < kPage) return {};
    after = page.back().id;
  }
}

Result<std::vector<MemberState>> SqliteConnection::member_states(
    const ConversationId& conversation) {
  auto stmt = prepare(kMemberStates);
  if (!stmt) return stmt.error();
  stmt->bind(1, conversation);
  std::vector<MemberState> out;
  for (;;) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) return out;
    MemberState m;
    m.user = stmt->text(0);
    m.joined_at = stmt->optional_int64(1);
    m.read_seq = stmt->optional_int64(2).value_or(0);
    out.push_back(std::move(m));
  }
}

// --- Search and export -------------------------------------------------------------------

Result<bool> SqliteConnection::index_pending(std::size_t max_rows) {
  if (max_rows == 0) return false;
  {
    // Caught up (the common case): no write lock taken.
    auto behind = prepare(kIndexBehind);
    if (!behind) return Result<bool>(boost::system::in_place_error, behind.error());
    auto row = behind->step();
    if (!row) return row;
    if (!*row || behind->int64(0) == 0) return false;
  }
  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return Result<bool>(boost::system::in_place_error, ok.error());
  std::int64_t watermark = 0;
  {
    auto stmt = prepare(kIndexWatermark);
    if (!stmt) return Result<bool>(boost::system::in_place_error, stmt.error());
    auto row = stmt->step();
    if (!row) return row;
    if (!*row) return Result<bool>(boost::system::in_place_error, err(Errc::data_loss));
    watermark = stmt->int64(0);
  }
  std::int64_t last = 0;
  std::int64_t count = 0;
  {
    auto stmt = prepare(kIndexChunk);
    if (!stmt) return Result<bool>(boost::system::in_place_error, stmt.error());
    stmt->bind(1, watermark).bind(2, detail::sql_limit(max_rows));
    auto row = stmt->step();
    if (!row) return row;
    if (*row && !stmt->is_null(0)) {
      last = stmt->int64(0);
      count = stmt->int64(1);
    }
  }
  if (count == 0) return false;  // another connection caught up meanwhile
  {
    auto stmt = prepare(kIndexRows);
    if (!stmt) return Result<bool>(boost::system::in_place_error, stmt.error());
    stmt->bind(1, watermark).bind(2, last);
    if (auto ok = stmt->run(); !ok) return Result<bool>(boost::system::in_place_error, ok.error());
  }
  {
    auto stmt = prepare(kSetIndexWatermark);
    if (!stmt) return Result<bool>(boost::system::in_place_error, stmt.error());
    stmt->bind(1, last);
    if (auto ok = stmt->run(); !ok) return Result<bool>(boost::system::in_place_error, ok.error());
  }
  if (auto ok = tx.commit(); !ok) return Result<bool>(boost::system::in_place_error, ok.error());
  return static_cast<std::size_t>(count) == max_rows;
}

Result<std::vector<SearchHit>> SqliteConnection::search(const SearchQuery& query) {
  std::vector<SearchHit> out;
  const std::vector<std::string> terms = detail::search_terms(query.text);
  if (terms.empty()) return out;
  // Read-your-writes: index what is committed but not indexed yet. Storage's writer
  // normally has (it catches up after commits, and the REST search asks it first), so this
  // is one read that finds nothing to do.
  for (;;) {
    auto more = index_pending(kSearchCatchUpChunk);
    if (!more) return more.error();
    if (!*more) break;
  }
  const std::string match = fts_query(terms);
  const std::size_t limit = detail::list_limit(query.limit, detail::kDefaultSearchLimit);
  auto stmt = prepare(kSearch);
  if (!stmt) return stmt.error();
  stmt->bind(1, match).bind(2, query.conversation).bind(3, detail::sql_limit(limit));
  for (;;) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back({read_message(*stmt, 0), stmt->text(kMessageColumns)});
  }
  return out;
}

Result<void> SqliteConnection::for_each_message(
    const ConversationId& conversation, Seq after,
    const std::function<bool(const StoredMessage&)>& fn) {
  auto stmt = prepare(kForEach);
  if (!stmt) return stmt.error();
  stmt->bind(1, conversation).bind(2, after);
  for (;;) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row || !fn(read_message(*stmt, 0))) return {};
  }
}

Result<std::int64_t> SqliteConnection::prune(const ConversationId& conversation,
                                             std::optional<std::int64_t> keep_last,
                                             std::optional<TimeMs> older_than, bool dry_run) {
  if (keep_last && *keep_last < 0) return err(Errc::invalid_argument);
  Transaction tx(*this);
  if (auto ok = tx.begin(); !ok) return ok.error();
  auto last = last_seq_of(conversation);
  if (!last) return last.error();
  const Seq last_seq = *last;
  // Stored seqs run gapless up to last_seq, so "all but the last N" is "seq <= last_seq - N".
  Seq cut = 0;
  if (keep_last) cut = std::max<Seq>(cut, last_seq - *keep_last);
  if (older_than) {
    auto stmt = prepare(kFirstSeqSince);
    if (!stmt) return stmt.error();
    stmt->bind(1, conversation).bind(2, std::int64_t{*older_than});
    auto row = stmt->step();
    if (!row) return row.error();
    cut = std::max<Seq>(cut, (*row && !stmt->is_null(0)) ? stmt->int64(0) - 1 : last_seq);
  }
  if (cut <= 0) return std::int64_t{0};
  std::int64_t count = 0;
  {
    auto stmt = prepare(kCountUpTo);
    if (!stmt) return stmt.error();
    stmt->bind(1, conversation).bind(2, std::int64_t{cut});
    auto row = stmt->step();
    if (!row) return row.error();
    count = *row ? stmt->int64(0) : 0;
  }
  if (dry_run || count == 0) return count;
  {
    auto stmt = prepare(kDeleteUpTo);
    if (!stmt) return stmt.error();
    stmt->bind(1, conversation).bind(2, std::int64_t{cut});
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  {
    auto stmt = prepare(kDropMessageCount);
    if (!stmt) return stmt.error();
    stmt->bind(1, conversation).bind(2, count);
    if (auto ok = stmt->run(); !ok) return ok.error();
  }
  if (auto ok = note_change(conversation); !ok) return ok.error();
  if (auto ok = tx.commit(); !ok) return ok.error();
  return count;
}

}  // namespace parley::store::sqlite
