// Storage interfaces. A `Database` is one configured backend (SQLite file, PostgreSQL
// server, memory); a `Connection` is one session with it. Connections are blocking and not
// thread-safe: each is used by one thread at a time (the batch writer owns one, each reader
// thread owns one). `Storage` (storage.hpp) puts them behind threads so I/O threads never
// block. Only value types from core/model.hpp cross this boundary; SQL stays in backends.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/model.hpp"

namespace parley::store {

// A conversation as lists show it: with its latest message and, for a user's inbox, the
// number of messages that user has not read.
struct ConversationSummary {
  Conversation conversation;
  std::optional<StoredMessage> last_message;
  std::optional<std::int64_t> unread;  // set when the list was asked for one user
};

struct ListQuery {
  std::size_t limit = 50;
  std::string cursor;          // opaque, from the previous page's next_cursor
  std::string q;               // substring of the title or id; empty: all
  std::optional<UserId> user;  // only that user's conversations, with `unread`
};

struct ConversationPage {
  std::vector<ConversationSummary> conversations;  // newest updated_at first, then id
  std::string next_cursor;                         // empty: no more
};

struct NewConversation {
  ConversationId id;
  std::string title;
  std::vector<UserId> participants;
  std::string settings = "{}";
  std::string meta = "{}";
  TimeMs created_at = 0;  // 0: now
};

struct ConversationPatch {
  std::optional<std::string> title;
  std::optional<std::vector<UserId>> participants;
  std::optional<std::string> settings;
  std::optional<std::string> meta;
  std::optional<bool> is_active;
};

// A whole conversation saved at once (PUT, imports): its messages replace what was stored,
// numbered first_seq.. in the given order. Everything it carries commits in one transaction,
// so a conversation is stored whole or not at all.
struct WholeConversation {
  ConversationId id;
  std::string title;
  std::string settings = "{}";
  std::string meta = "{}";
  std::vector<UserId> participants;
  TimeMs created_at = 0;  // 0: keep the stored one, or now
  TimeMs updated_at = 0;  // 0: now
  std::vector<NewMessage> messages;

  // The seq of the first message (>= 1). Above 1 for a pruned conversation's export, whose
  // seqs an import keeps: nothing is stored below it, last_seq is first_seq + n - 1 and
  // message_count n, as after a prune.
  Seq first_seq = 1;
  // States the messages had where they come from, by index into `messages` (an import):
  // edited (stored as given, with edited_at), or soft-deleted as delete_message leaves a
  // message (content and meta emptied, deleted set, edited_at the deletion time, else the
  // message's created_at).
  struct MessageState {
    std::size_t index = 0;
    std::optional<TimeMs> edited_at;
    bool deleted = false;
  };
  std::vector<MessageState> states;
  // Read seqs raised as mark_read raises them (never lowered, never past last_seq), after
  // the stored ones were clamped to the new last_seq.
  std::vector<std::pair<UserId, Seq>> read_seqs;
};

// A change to a conversation that a cache of its history cannot follow from appends alone
// (ConversationStore::changes_after): `number` is that change's place in the database's
// change order.
struct ConversationChange {
  ConversationId conversation;
  std::int64_t number = 0;

  friend bool operator==(const ConversationChange&, const ConversationChange&) = default;
};

// One user's standing in a conversation, for copying a store: membership (joined_at unset
// when the user is not a member) and read state (0: never read).
struct MemberState {
  UserId user;
  std::optional<TimeMs> joined_at;
  Seq read_seq = 0;

  friend bool operator==(const MemberState&, const MemberState&) = default;
};

struct SearchQuery {
  std::string text;  // full-text query, as a user types it
  std::optional<ConversationId> conversation;
  std::size_t limit = 20;
};

struct SearchHit {
  StoredMessage message;
  std::string snippet;  // the matching part, plain text
};

// One user's membership of one conversation, as add_members records it.
struct Membership {
  ConversationId conversation;
  UserId user;
  TimeMs at = 0;  // joined_at; 0: now
};

// The storage verbs, one small interface per noun. Every backend (memory, SQLite, PostgreSQL)
// implements all of them in one `Connection`; the memory backend is the reference, and the
// conformance suite (tests/conformance) holds every backend to it, one test fixture per noun.
// Callers that need one noun take that interface (retention takes a MessageStore, the room's
// loader a ConversationStore), so what a piece of code may touch is visible in its signature.
// Every method is blocking and none is thread-safe: a connection is used by one thread at a
// time.

// A conversation's messages: the append path, pages, edits, streaming and retention.
class MessageStore {
 public:
  virtual ~MessageStore() = default;

  // Appends every message of `batch` in one transaction, in order, creating conversations
  // that do not exist yet. Each gets the next seq of its conversation. A message whose
  // (conversation, sender.id, client_id) was stored before yields the stored one with
  // duplicate = true and is not stored again. In the same transaction, each sender's read
  // seq in each conversation is raised to the last seq it was given (what one sends counts
  // as read, whichever endpoint sent it). Fails as a whole (nothing stored) or not at all.
  [[nodiscard]] virtual Result<std::vector<Appended>> append_batch(
      std::span<const NewMessage> batch) = 0;

  // Up to `limit` messages with seq > `after`, oldest first.
  [[nodiscard]] virtual Result<std::vector<StoredMessage>> read_after(
      const ConversationId& conversation, Seq after, std::size_t limit) = 0;
  // The last `limit` messages with seq < `before`, returned oldest first. `before` <= 1
  // yields none; for the latest messages pass a seq past the end (such as
  // std::numeric_limits<Seq>::max()).
  [[nodiscard]] virtual Result<std::vector<StoredMessage>> read_before(
      const ConversationId& conversation, Seq before, std::size_t limit) = 0;
  // One message; not_found if absent.
  [[nodiscard]] virtual Result<StoredMessage> get_message(const ConversationId& conversation,
                                                          Seq seq) = 0;
  // The message with this id, in whatever conversation (ids are unique across the store);
  // not_found if absent. For apps that name messages by id alone (radio-istic's REST).
  [[nodiscard]] virtual Result<StoredMessage> find_message(const MessageId& id) = 0;

  // Replaces the content of a message and stamps edited_at. With `by` set, only that sender
  // may edit (permission_denied otherwise). not_found if absent; conflict if deleted.
  [[nodiscard]] virtual Result<StoredMessage> edit_message(const ConversationId& conversation,
                                                           Seq seq, const std::string& content,
                                                           const std::optional<UserId>& by,
                                                           TimeMs at) = 0;
  // Soft-deletes: keeps the seq, empties content, sets deleted. Same `by` rule as edit.
  // Deleting a deleted message succeeds and changes nothing.
  [[nodiscard]] virtual Result<StoredMessage> delete_message(const ConversationId& conversation,
                                                             Seq seq,
                                                             const std::optional<UserId>& by,
                                                             TimeMs at) = 0;

  // Calls `fn` for each message of `conversation` with seq > after, in seq order, without
  // holding them all in memory; stops early when `fn` returns false.
  [[nodiscard]] virtual Result<void> for_each_message(
      const ConversationId& conversation, Seq after,
      const std::function<bool(const StoredMessage&)>& fn) = 0;

  // Retention: removes the oldest messages of `conversation` in one transaction: all but the
  // last `keep_last`, and (either rule may remove) the oldest run of messages created before
  // `older_than`. Always a prefix by seq: kept messages keep their seq, last_seq stays,
  // message_count drops, read state stays. With `dry_run` nothing changes. Returns how many
  // messages were (or would be) removed; not_found if the conversation is absent.
  [[nodiscard]] virtual Result<std::int64_t> prune(const ConversationId& conversation,
                                                   std::optional<std::int64_t> keep_last,
                                                   std::optional<TimeMs> older_than,
                                                   bool dry_run) = 0;
};

// Conversations as things: their fields, creation, deletion, whole replacement.
class ConversationStore {
 public:
  virtual ~ConversationStore() = default;

  // already_exists if the id is taken. An empty id gets a new one.
  [[nodiscard]] virtual Result<Conversation> create_conversation(
      const NewConversation& conversation) = 0;
  // The conversation, created empty (at `now`) if it does not exist.
  [[nodiscard]] virtual Result<Conversation> ensure_conversation(const ConversationId& id,
                                                                 TimeMs now) = 0;
  // ensure_conversation for each of `ids`, in one transaction (nothing is created unless all
  // are): the empty ones at `now`, the rest left as they are. invalid_argument for a bad id.
  // Storage's writer gathers the first joins of new rooms into one call, so a join burst
  // over new rooms costs one commit, not one per room (issue 14).
  [[nodiscard]] virtual Result<void> ensure_conversations(std::span<const ConversationId> ids,
                                                          TimeMs now) = 0;
  [[nodiscard]] virtual Result<Conversation> get_conversation(const ConversationId& id) = 0;
  // Participants are members (the inbox lists a conversation to its members): setting them
  // (here or by replace_conversation) makes the listed users members, and a non-empty list,
  // which admits only them, removes every other member, whoever joined while it was open. An
  // empty list (open to all) removes nobody.
  [[nodiscard]] virtual Result<Conversation> update_conversation(const ConversationId& id,
                                                                 const ConversationPatch& patch,
                                                                 TimeMs now) = 0;
  // Removes the conversation with its messages, read state and members. not_found if absent.
  [[nodiscard]] virtual Result<void> delete_conversation(const ConversationId& id) = 0;
  // Upserts a whole conversation in one transaction (see WholeConversation): nothing of it
  // is stored unless all of it is. invalid_argument for a bad id, meta, first_seq < 1 or a
  // state's index past the messages; conflict for a message id or client id used twice (or
  // a message id another conversation holds).
  [[nodiscard]] virtual Result<Conversation> replace_conversation(
      const WholeConversation& whole) = 0;

  // The change log: replace_conversation, delete_conversation and a prune that removed
  // messages each number their change inside their own transaction. Numbers rise in commit
  // order across every connection and process on the database, so a server that remembers
  // the highest number it has seen and asks for the ones after it misses none, whoever made
  // them (`parley import`, `parley cleanup`, another server).
  // The highest number so far; 0 when nothing was ever changed.
  [[nodiscard]] virtual Result<std::int64_t> last_change() = 0;
  // The conversations changed after change `after`, lowest number first, at most `limit`. A
  // conversation changed several times is listed once, with its latest number.
  [[nodiscard]] virtual Result<std::vector<ConversationChange>> changes_after(
      std::int64_t after, std::size_t limit) = 0;
};

// A user's standing in a conversation: membership and how far they have read.
class ReadStateStore {
 public:
  virtual ~ReadStateStore() = default;

  // Records that `user` takes part in `conversation` (joined or posted); lists use it.
  [[nodiscard]] virtual Result<void> add_member(const ConversationId& conversation,
                                                const UserId& user, TimeMs at) = 0;
  // add_member for each of `members`, in one transaction; a member of a conversation that
  // does not exist is skipped (a join that lost a race with a delete). Storage's writer
  // gathers joins into one call, so a join burst costs one commit, not one per join.
  [[nodiscard]] virtual Result<void> add_members(std::span<const Membership> members) = 0;

  // Raises the user's read seq to `seq` (never lowers it, never past last_seq); returns the
  // resulting read seq. Creates nothing if the conversation is absent (not_found).
  [[nodiscard]] virtual Result<Seq> mark_read(const ConversationId& conversation,
                                              const UserId& user, Seq seq) = 0;
  // 0 when the user never read anything there.
  [[nodiscard]] virtual Result<Seq> read_seq(const ConversationId& conversation,
                                             const UserId& user) = 0;

  // Every user who is a member of `conversation` or has read state there, in user id order
  // (for copying a store). Empty if the conversation is absent.
  [[nodiscard]] virtual Result<std::vector<MemberState>> member_states(
      const ConversationId& conversation) = 0;
};

// Users: names, avatars, roles, last seen.
class UserStore {
 public:
  virtual ~UserStore() = default;

  // Inserts or updates; empty name/avatar/role keep what was stored.
  [[nodiscard]] virtual Result<void> upsert_user(const User& user) = 0;
  // upsert_user for each of `users`, in order (a later one of the same id merges into the
  // earlier), in one transaction: Storage writes a burst of logins this way, one commit
  // for the burst rather than one each (issue 13). Nothing is written when an id is invalid.
  [[nodiscard]] virtual Result<void> upsert_users(std::span<const User> users) = 0;
  [[nodiscard]] virtual Result<User> get_user(const UserId& id) = 0;
  [[nodiscard]] virtual Result<void> set_last_seen(const UserId& id, TimeMs at) = 0;
};

// Full-text search over messages.
class SearchIndex {
 public:
  virtual ~SearchIndex() = default;

  // Non-deleted messages matching the query, best match first. Finds every message
  // committed before the call (a backend that indexes after the commit catches up first).
  [[nodiscard]] virtual Result<std::vector<SearchHit>> search(const SearchQuery& query) = 0;
  // Brings the index up to date with at most `max_rows` more committed messages, in a
  // transaction of its own; returns true when more remain. Storage's writer calls it between
  // commits. SQLite indexes here (off the commit path); memory and PostgreSQL index inside
  // the append's transaction and return false.
  [[nodiscard]] virtual Result<bool> index_pending(std::size_t max_rows) = 0;
};

// Lists over the whole store: the conversation list (and a user's inbox), counts, every user.
class Listings {
 public:
  virtual ~Listings() = default;

  [[nodiscard]] virtual Result<ConversationPage> list_conversations(const ListQuery& query) = 0;
  [[nodiscard]] virtual Result<std::int64_t> count_conversations() = 0;
  // Calls `fn` for every stored user in id order (also those who never posted), without
  // holding them all in memory; stops early when `fn` returns false.
  [[nodiscard]] virtual Result<void> for_each_user(const std::function<bool(const User&)>& fn) = 0;
};

// WebWOz's message templates.
class TemplateStore {
 public:
  virtual ~TemplateStore() = default;

  // Every template, in the order they were given to the last replace_templates. A new store
  // holds the app's four defaults (category "General"), as the app creates them.
  [[nodiscard]] virtual Result<std::vector<Template>> list_templates() = 0;
  // Replaces every template at once, in one transaction, keeping the given order.
  // invalid_argument when two share (category, key), or a top-level entry's category also
  // has keyed templates.
  [[nodiscard]] virtual Result<void> replace_templates(std::span<const Template> templates) = 0;
  // replace_templates, but only while the store holds exactly `expected` (same templates, same
  // order): checked and written in one transaction that other writers wait for. false,
  // changing nothing, when it holds anything else. Another process (`parley import`) reads,
  // changes and writes the set this way without losing a wizard's edit made in between.
  [[nodiscard]] virtual Result<bool> replace_templates_if(std::span<const Template> expected,
                                                          std::span<const Template> templates) = 0;
};

// The app's four defaults (backend/database.py's load_templates creates them in an empty
// table): what a new store holds.
inline const std::vector<Template>& default_templates() {
  static const std::vector<Template> defaults{
      {"General", "greeting", "Hello! How can I help you today?"},
      {"General", "understanding", "I understand. Let me look into that for you."},
      {"General", "no_info", "I'm sorry, I don't have information about that."},
      {"General", "goodbye", "Thank you for chatting with me. Goodbye!"},
  };
  return defaults;
}

// One session with a backend: every noun at once, because one transaction (append_batch
// creating conversations and raising read state, replace_conversation) spans several.
class Connection : public MessageStore,
                   public ConversationStore,
                   public ReadStateStore,
                   public UserStore,
                   public SearchIndex,
                   public Listings,
                   public TemplateStore {};

// One configured backend; a factory of connections. Thread-safe.
class Database {
 public:
  virtual ~Database() = default;
  // "sqlite", "postgresql" or "memory", as /health reports it.
  virtual std::string_view kind() const noexcept = 0;
  // False only for the memory backend.
  virtual bool persistent() const noexcept = 0;
  // A new connection. Schema migrations have already run when open_database returned.
  [[nodiscard]] virtual Result<std::unique_ptr<Connection>> connect() = 0;
};

struct StoreConfig {
  std::string database_url;  // "postgresql://..." or "postgres://..."; empty: SQLite
  std::string sqlite_path;   // used when database_url is empty; ":memory:"-like "memory:" too
  // SQLite: "FULL" (default: survives power loss) or "NORMAL" (survives kill -9 only).
  std::string sqlite_synchronous = "FULL";
  // SQLite: read through a memory map (a server's random reads); false for the CLI's one-pass
  // data commands, which must keep a flat RSS however big the store (docs/storage.md).
  bool sqlite_memory_map = true;
  // PostgreSQL: how long a call may wait on the server before the server counts as down
  // (a hung server answers nothing, so nothing else would end the wait; docs/storage.md).
  // Connecting (libpq rounds up to whole seconds, 2 at least); a write on the commit path
  // (appends, read marks, memberships, BEGIN/COMMIT); any other statement.
  std::chrono::milliseconds db_connect_timeout{2000};
  std::chrono::milliseconds db_commit_timeout{2000};
  std::chrono::milliseconds db_statement_timeout{5000};
};

// Opens the configured backend, creating and migrating its schema. PostgreSQL when
// config.database_url is set, memory for sqlite_path "memory:", else SQLite at sqlite_path.
[[nodiscard]] Result<std::shared_ptr<Database>> open_database(const StoreConfig& config);

}  // namespace parley::store
