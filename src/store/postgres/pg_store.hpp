// The PostgreSQL backend (libpq, no ORM), for one server or several sharing one database.
// PgDatabase migrates the schema of migrations/*.sql under an advisory lock and hands out
// connections (thread-safe); each PgConnection owns one libpq connection with its prepared
// statements and is used by one thread at a time. A connection that drops is re-established
// on the next call, with backoff; while the server is unreachable calls fail quickly with
// Errc::unavailable, which Storage and /health read as "database down".
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/store.hpp"

struct pg_conn;
struct pg_result;

namespace parley::store::postgres {

// The libpq connection parameters of one database, with Parley's defaults (connect_timeout,
// keepalives, application_name) under whatever the URL says. Immutable once built.
class PgConnInfo {
 public:
  // How long a call waits on the server (StoreConfig's db_*_timeout). A call past its
  // deadline drops the connection and fails with unavailable, as if the server had gone.
  struct Deadlines {
    std::chrono::milliseconds connect{2000};    // libpq connect_timeout, whole seconds, >= 2
    std::chrono::milliseconds commit{2000};     // writes on the commit path, BEGIN/COMMIT
    std::chrono::milliseconds statement{5000};  // everything else but migrations
  };

  // `url`: "postgresql://" or "postgres://" URL, or a libpq "key=value" string; every libpq
  // parameter (sslmode, options, target_session_attrs...) passes through. invalid_argument
  // when libpq cannot parse it.
  [[nodiscard]] static Result<PgConnInfo> parse(const std::string& url, Deadlines deadlines);
  [[nodiscard]] static Result<PgConnInfo> parse(const std::string& url);

  const Deadlines& deadlines() const noexcept { return deadlines_; }

  const std::vector<std::string>& keywords() const noexcept { return keywords_; }
  const std::vector<std::string>& values() const noexcept { return values_; }
  // The URL with any password replaced by "***", for logs.
  const std::string& redacted() const noexcept { return redacted_; }

 private:
  std::vector<std::string> keywords_, values_;
  std::string redacted_;
  Deadlines deadlines_;
};

class PgDatabase final : public Database {
 public:
  struct Options {
    // Migrate up to this version only; 0 means every migration the binary has. Tests use it
    // to build a database of an older schema.
    int target_version = 0;
    PgConnInfo::Deadlines deadlines;
  };

  // Connects to `url`, then applies pending migrations, each in its own transaction, while
  // holding an advisory lock so that servers starting together migrate once. Fails with
  // invalid_argument for a URL libpq cannot parse, unavailable if the server cannot be
  // reached, conflict if the database's schema is newer than this binary knows.
  [[nodiscard]] static Result<std::shared_ptr<PgDatabase>> open(const std::string& url,
                                                                Options options);
  [[nodiscard]] static Result<std::shared_ptr<PgDatabase>> open(const std::string& url) {
    return open(url, Options{});
  }

  // The newest schema version this binary knows (the highest migration).
  static int latest_schema_version() noexcept;

  std::string_view kind() const noexcept override { return "postgresql"; }
  bool persistent() const noexcept override { return true; }
  // unavailable if the server cannot be reached.
  [[nodiscard]] Result<std::unique_ptr<Connection>> connect() override;

  const PgConnInfo& conninfo() const noexcept { return *info_; }

 private:
  explicit PgDatabase(std::shared_ptr<const PgConnInfo> info);

  std::shared_ptr<const PgConnInfo> info_;
};

class PgConnection final : public Connection {
 public:
  // Connects and prepares every statement; unavailable if the server cannot be reached.
  [[nodiscard]] static Result<std::unique_ptr<PgConnection>> open(
      std::shared_ptr<const PgConnInfo> info);
  ~PgConnection() override;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // The schema version recorded in the database (0 when it has none).
  [[nodiscard]] Result<int> schema_version();
  // Takes the migration advisory lock, applies every migration above the database's version
  // up to `target` (0: all), one transaction each, and releases the lock; returns the
  // resulting version. conflict if the database is newer than this binary.
  [[nodiscard]] Result<int> migrate(int target);

  [[nodiscard]] Result<std::vector<Appended>> append_batch(
      std::span<const NewMessage> batch) override;
  [[nodiscard]] Result<std::vector<StoredMessage>> read_after(const ConversationId& conversation,
                                                              Seq after,
                                                              std::size_t limit) override;
  [[nodiscard]] Result<std::vector<StoredMessage>> read_before(const ConversationId& conversation,
                                                               Seq before,
                                                               std::size_t limit) override;
  [[nodiscard]] Result<StoredMessage> get_message(const ConversationId& conversation,
                                                  Seq seq) override;
  [[nodiscard]] Result<StoredMessage> find_message(const MessageId& id) override;
  [[nodiscard]] Result<StoredMessage> edit_message(const ConversationId& conversation, Seq seq,
                                                   const std::string& content,
                                                   const std::optional<UserId>& by,
                                                   TimeMs at) override;
  [[nodiscard]] Result<StoredMessage> delete_message(const ConversationId& conversation, Seq seq,
                                                     const std::optional<UserId>& by,
                                                     TimeMs at) override;

  [[nodiscard]] Result<Conversation> create_conversation(
      const NewConversation& conversation) override;
  [[nodiscard]] Result<void> ensure_conversations(std::span<const ConversationId> ids,
                                                  TimeMs now) override;
  [[nodiscard]] Result<Conversation> ensure_conversation(const ConversationId& id,
                                                         TimeMs now) override;
  [[nodiscard]] Result<Conversation> get_conversation(const ConversationId& id) override;
  [[nodiscard]] Result<ConversationPage> list_conversations(const ListQuery& query) override;
  [[nodiscard]] Result<Conversation> update_conversation(const ConversationId& id,
                                                         const ConversationPatch& patch,
                                                         TimeMs now) override;
  [[nodiscard]] Result<void> delete_conversation(const ConversationId& id) override;
  [[nodiscard]] Result<Conversation> replace_conversation(const WholeConversation& whole) override;
  [[nodiscard]] Result<std::int64_t> last_change() override;
  [[nodiscard]] Result<std::vector<ConversationChange>> changes_after(std::int64_t after,
                                                                      std::size_t limit) override;
  [[nodiscard]] Result<std::int64_t> count_conversations() override;
  [[nodiscard]] Result<void> add_member(const ConversationId& conversation, const UserId& user,
                                        TimeMs at) override;
  [[nodiscard]] Result<void> add_members(std::span<const Membership> members) override;

  [[nodiscard]] Result<Seq> mark_read(const ConversationId& conversation, const UserId& user,
                                      Seq seq) override;
  [[nodiscard]] Result<Seq> read_seq(const ConversationId& conversation,
                                     const UserId& user) override;

  [[nodiscard]] Result<std::vector<Template>> list_templates() override;
  [[nodiscard]] Result<void> replace_templates(std::span<const Template> templates) override;
  [[nodiscard]] Result<bool> replace_templates_if(std::span<const Template> expected,
                                                  std::span<const Template> templates) override;
  [[nodiscard]] Result<void> upsert_user(const User& user) override;
  [[nodiscard]] Result<void> upsert_users(std::span<const User> users) override;
  [[nodiscard]] Result<User> get_user(const UserId& id) override;
  [[nodiscard]] Result<void> set_last_seen(const UserId& id, TimeMs at) override;

  [[nodiscard]] Result<std::vector<SearchHit>> search(const SearchQuery& query) override;
  // Indexed inside the append's transaction: nothing is ever pending.
  [[nodiscard]] Result<bool> index_pending(std::size_t) override { return false; }
  // Reads in pages of a few hundred rows; `fn` runs between pages and may be slow.
  [[nodiscard]] Result<void> for_each_message(
      const ConversationId& conversation, Seq after,
      const std::function<bool(const StoredMessage&)>& fn) override;
  [[nodiscard]] Result<void> for_each_user(const std::function<bool(const User&)>& fn) override;
  [[nodiscard]] Result<std::vector<MemberState>> member_states(
      const ConversationId& conversation) override;
  [[nodiscard]] Result<std::int64_t> prune(const ConversationId& conversation,
                                           std::optional<std::int64_t> keep_last,
                                           std::optional<TimeMs> older_than, bool dry_run) override;

  // True while the libpq connection is established (false after a drop, until the next
  // successful reconnect).
  bool is_connected() const noexcept;

 private:
  class Params;
  class Transaction;
  struct ResultDeleter {
    void operator()(pg_result* r) const noexcept;
  };
  using PgResult = std::unique_ptr<pg_result, ResultDeleter>;
  enum class Stmt : int;
  static bool on_commit_path(Stmt stmt) noexcept;
  struct BatchPlan;

  explicit PgConnection(std::shared_ptr<const PgConnInfo> info);

  // Makes sure a live connection is there: a dropped one is replaced (at most one attempt,
  // and none while the backoff after a failed attempt runs). unavailable otherwise.
  [[nodiscard]] Result<void> ensure_connected();
  [[nodiscard]] Result<void> reconnect();
  // The template set (list_templates without the retry, for use inside a transaction), and
  // writing one (inside the caller's transaction).
  [[nodiscard]] Result<std::vector<Template>> read_templates();
  [[nodiscard]] Result<void> write_templates(std::span<const Template> templates);
  void disconnect() noexcept;
  // Runs `fn`; if it failed because the connection dropped and `retry_safe`, reconnects and
  // runs it once more. `fn` must leave no transaction open when it fails.
  template <class F>
  auto with_reconnect(bool retry_safe, F&& fn) -> decltype(fn());

  // Runs a prepared statement (preparing them all first on a new connection).
  [[nodiscard]] Result<PgResult> exec(Stmt stmt, const Params& params);
  // Runs SQL without parameters (transaction control, migrations); `limit` 0: no deadline.
  [[nodiscard]] Result<PgResult> exec_sql(const char* sql, const char* what,
                                          std::chrono::milliseconds limit);
  // The result of what was just sent (the last one; an error one if any), waiting on the
  // socket until `limit` has passed: then the connection is dropped (the server may be hung,
  // not gone) and the result is null with dropped_ and timed_out_ set. Null too if the
  // connection broke. `limit` 0: no deadline.
  PgResult await_result(std::chrono::milliseconds limit, const char* what);
  // One PQgetResult, waiting at most until `deadline`; false when it passed or the
  // connection broke.
  bool next_result(std::chrono::steady_clock::time_point deadline, pg_result*& out);
  [[nodiscard]] Result<void> prepare_statements();
  // schema_version() on the current connection, without reconnecting.
  [[nodiscard]] Result<int> read_schema_version();
  // Ends a failed explicit transaction, if one is open.
  void rollback_if_open() noexcept;
  // Maps a failed result (or a connection error when `res` is null) to an Errc and logs it.
  boost::system::error_code fail(const pg_result* res, const char* what);

  [[nodiscard]] Result<void> append_once(BatchPlan& plan, bool& in_doubt);
  [[nodiscard]] Result<bool> recover_in_doubt(BatchPlan& plan);
  [[nodiscard]] Result<std::vector<StoredMessage>> read_messages(Stmt stmt, const Params& params);
  [[nodiscard]] Result<Conversation> load_conversation(const ConversationId& id, bool for_update);
  [[nodiscard]] Result<StoredMessage> change_message(const ConversationId& conversation, Seq seq,
                                                     const std::optional<UserId>& by,
                                                     const std::string* content, TimeMs at);
  [[nodiscard]] Result<void> sync_participants(const ConversationId& id,
                                               const std::vector<UserId>& participants, TimeMs at);

  std::shared_ptr<const PgConnInfo> info_;
  pg_conn* conn_ = nullptr;
  // After a failed connection attempt no other is made before next_attempt_; the wait
  // doubles up to a few seconds and resets once connected.
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
  bool prepared_ = false;  // the statements are prepared on conn_
  // Set when the last failure was a dropped connection (not an SQL error).
  bool dropped_ = false;
  // Set when a call outlived its deadline (the connection was dropped for it); cleared by
  // the next successful connection. The first one of an outage is logged, not each.
  bool timed_out_ = false;
  // Set when the last failure may pass if the transaction is simply run again (deadlock,
  // serialization failure, a client_id stored by another writer meanwhile).
  bool retryable_ = false;
  // While positive, appends look their client_ids up before writing (see pg_store.cpp).
  int lookup_batches_ = 0;
};

// Opens PostgreSQL as configured: config.database_url, or when it is empty the URL that
// pg_url_from_env() builds. invalid_argument when neither names a database.
[[nodiscard]] Result<std::shared_ptr<Database>> open_pg_database(const StoreConfig& config);

// "postgresql://USER:PASSWORD@HOST:PORT/NAME" from the environment variables DB_HOST,
// DB_PORT, DB_NAME, DB_USER and DB_PASSWORD (each part percent-encoded; absent parts left to
// libpq's defaults; a DB_HOST starting with '/' is a Unix socket directory). Empty when
// DB_HOST is unset or empty.
std::string pg_url_from_env();

}  // namespace parley::store::postgres
