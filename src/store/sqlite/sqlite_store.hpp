// The SQLite backend: one database file in WAL mode, with the schema of migrations/*.sql.
// SqliteDatabase opens and migrates the file and hands out connections (thread-safe); each
// SqliteConnection owns one sqlite3 handle and its cached prepared statements and is used by
// one thread at a time. Many connections may read while one writes (WAL); writers take the
// write lock up front (BEGIN IMMEDIATE) and wait up to the busy timeout for each other.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>

#include "store/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace parley::store::sqlite {

class WalCheckpointer;

class SqliteDatabase final : public Database {
 public:
  struct Options {
    std::string synchronous = "FULL";  // "FULL" or "NORMAL"; see docs/storage.md
    std::chrono::milliseconds busy_timeout{5000};
    // Migrate up to this version only; 0 means every migration the binary has. Tests use it
    // to build a file of an older schema.
    int target_version = 0;
    // Read pages beyond the page cache through a memory map of the file (PRAGMA mmap_size).
    // Right for a server's random reads; off for one pass over the whole store (the CLI's
    // export, migrate, backup), whose mapped pages would all count in the process's RSS.
    bool memory_map = true;
  };

  // Opens (creating it if needed) the database at `path` and applies pending migrations,
  // each in its own transaction. Fails with conflict if the file's schema is newer than this
  // binary knows, unavailable if it cannot be opened or written, invalid_argument for an
  // unknown `synchronous`.
  [[nodiscard]] static Result<std::shared_ptr<SqliteDatabase>> open(std::string path,
                                                                    Options options);
  [[nodiscard]] static Result<std::shared_ptr<SqliteDatabase>> open(std::string path) {
    return open(std::move(path), Options{});
  }

  // The newest schema version this binary knows (the highest migration).
  static int latest_schema_version() noexcept;

  std::string_view kind() const noexcept override { return "sqlite"; }
  bool persistent() const noexcept override { return true; }
  [[nodiscard]] Result<std::unique_ptr<Connection>> connect() override;

  const std::string& path() const noexcept { return path_; }

 private:
  SqliteDatabase(std::string path, Options options);

  const std::string path_;
  const Options options_;
  // Shared by the connections; null when it could not start (see wal_checkpointer.hpp).
  std::shared_ptr<WalCheckpointer> checkpointer_;
};

class SqliteConnection final : public Connection {
 public:
  friend class SqliteDatabase;
  // Opens `path` with the pragmas of `options`; used by SqliteDatabase.
  [[nodiscard]] static Result<std::unique_ptr<SqliteConnection>> open(
      const std::string& path, const SqliteDatabase::Options& options);
  ~SqliteConnection() override;
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  // The schema version recorded in the file (0 for an empty file).
  [[nodiscard]] Result<int> schema_version();
  // Applies every migration above the file's version up to `target` (0: all), one
  // transaction each; returns the resulting version.
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
  // Indexes the committed rows above the search watermark, oldest first (see
  // migrations/003_search_off_commit.sql).
  [[nodiscard]] Result<bool> index_pending(std::size_t max_rows) override;
  // `fn` must not use this connection (its statement is still stepping).
  [[nodiscard]] Result<void> for_each_message(
      const ConversationId& conversation, Seq after,
      const std::function<bool(const StoredMessage&)>& fn) override;

  [[nodiscard]] Result<void> for_each_user(const std::function<bool(const User&)>& fn) override;
  [[nodiscard]] Result<std::vector<MemberState>> member_states(
      const ConversationId& conversation) override;

  [[nodiscard]] Result<std::int64_t> prune(const ConversationId& conversation,
                                           std::optional<std::int64_t> keep_last,
                                           std::optional<TimeMs> older_than, bool dry_run) override;

 private:
  class Stmt;
  class Transaction;

  explicit SqliteConnection(sqlite3* db);

  // The cached prepared statement for `sql` (a string literal: cached by address), reset and
  // with its bindings cleared when the returned handle goes away.
  [[nodiscard]] Result<Stmt> prepare(const char* sql);
  // Runs SQL without parameters (pragmas, BEGIN/COMMIT, migrations).
  [[nodiscard]] Result<void> exec(const char* sql, const char* what);
  // Maps the connection's last error (`rc`) to an Errc and logs it with `what`.
  boost::system::error_code fail(int rc, const char* what);

  [[nodiscard]] Result<Conversation> load_conversation(const ConversationId& id);
  // Writes the template set; inside the caller's transaction.
  [[nodiscard]] Result<void> write_templates(std::span<const Template> templates);
  // The conversation's last seq; not_found when it does not exist.
  [[nodiscard]] Result<Seq> last_seq_of(const ConversationId& id);
  [[nodiscard]] Result<void> insert_conversation(const Conversation& conversation);
  // Numbers a change of `id` in the change log. Requires: inside the changing transaction.
  [[nodiscard]] Result<void> note_change(const ConversationId& id);
  [[nodiscard]] Result<void> sync_participants(const ConversationId& id,
                                               const std::vector<UserId>& participants, TimeMs at);
  [[nodiscard]] Result<StoredMessage> change_message(const ConversationId& conversation, Seq seq,
                                                     const std::optional<UserId>& by,
                                                     const std::string* content, TimeMs at);

  // When broken_: opens a new handle on the same file and replaces db_ with it, unless a
  // transaction is open or the backoff after a failed attempt still runs. True when the
  // connection is usable.
  [[nodiscard]] bool recover();

  sqlite3* db_;
  std::shared_ptr<WalCheckpointer> checkpointer_;  // outlives db_: its WAL hook points at it
  std::unordered_map<const char*, sqlite3_stmt*> statements_;  // by SQL literal address
  // Set when a rollback failed (the transaction state is unknown) or an I/O error hit the
  // handle (a full or yanked volume: its file descriptors may be dead). Calls fail with
  // unavailable until recover() has reopened the file; attempts are spaced by a doubling
  // backoff, as PostgreSQL's reconnects are.
  bool broken_ = false;
  bool in_transaction_ = false;  // a Transaction of this connection is open
  std::string path_;
  SqliteDatabase::Options options_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
};

}  // namespace parley::store::sqlite
