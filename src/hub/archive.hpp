// The archive: stored conversations for the endpoints that read and change them without
// joining a room (REST, the seed apps' HTTP routes, Socket.IO's lookups, retention). It is the
// one door from those endpoints to storage, so that:
//
// - one access rule decides every read (`Hub::admits` over the stored participants, in token
//   mode, admins trusted; a hidden conversation answers exactly as a missing one: not_found);
// - one pager serves every history page, the hub's own `history` op included (`page`);
// - a change the live rooms must follow (a replaced, restricted, deleted or pruned
//   conversation) tells them itself, instead of each endpoint remembering to call the hub.
//
// Callbacks run on a storage thread (as Storage's do): callers post back to their executor.
// Thread-safe. Owned by the Hub (`Hub::archive()`); it must not outlive it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/model.hpp"
#include "store/storage.hpp"
#include "store/store.hpp"

namespace parley::hub {

class Hub;

class Archive {
 public:
  template <class T>
  using Done = std::function<void(Result<T>)>;

  // Who reads: a user whom the access rule applies to, or (nullopt) a trusted caller: open
  // mode's anonymous clients, an admin, the server itself.
  using Viewer = std::optional<User>;

  struct PageQuery {
    std::optional<Seq> after;   // messages after this seq, oldest first
    std::optional<Seq> before;  // else the last `limit` before this seq (default: the latest)
    std::size_t limit = 50;     // already clamped by protocol::history_limit
  };
  struct Page {
    Conversation conversation;  // as stored when the page was read (last_seq included)
    std::vector<StoredMessage> messages;
    bool has_more = false;  // more in the direction paged
  };

  Archive(Hub& hub, store::Storage& storage, bool enforce_access)
      : hub_(hub), storage_(storage), enforce_access_(enforce_access) {}
  Archive(const Archive&) = delete;
  Archive& operator=(const Archive&) = delete;

  // Whether the access rule applies to `viewer` (token mode, and not an admin).
  bool restricted(const Viewer& viewer) const;
  // The rule itself, for a conversation already read.
  bool may_see(const Viewer& viewer, const Conversation& conversation) const;

  // --- Reads, under the access rule ---------------------------------------------------------
  // Empty when `viewer` may see the conversation; not_found when it is missing (unless
  // `missing_ok`) or hidden.
  void check_visible(Viewer viewer, ConversationId id, bool missing_ok, Done<void> done);
  void conversation(Viewer viewer, ConversationId id, Done<Conversation> done);
  // The one pager: a page of history with the conversation it belongs to.
  void page(Viewer viewer, ConversationId id, PageQuery query, Done<Page> done);
  // The conversation list; a restricted viewer gets only their own conversations (the inbox,
  // with `unread`), and of those only the ones the rule still lets them see (a membership
  // from before an admin restricted the participants does not count). A listing by user sees
  // every membership queued before the call (a join answered before it).
  void list(Viewer viewer, store::ListQuery query, Done<store::ConversationPage> done);
  // Full-text search; a restricted viewer gets only hits in conversations they may see. Sees
  // every message committed before the call (the writer catches the index up first).
  void search(Viewer viewer, store::SearchQuery query, Done<std::vector<store::SearchHit>> done);
  // A message by id alone (radio-istic's REST), if the viewer may see its conversation.
  void find_message(Viewer viewer, MessageId id, Done<StoredMessage> done);
  // Whether two users share a conversation that `viewer` may see (presence visibility).
  void share_conversation(const User& viewer, UserId other, Done<bool> done);
  // Counts stored conversations (/health's probe: the caller bounds the wait).
  void count_conversations(Done<std::int64_t> done);

  // --- Conversations, changed; the live rooms follow ---------------------------------------
  void create(store::NewConversation conversation, Done<Conversation> done);
  void update(ConversationId id, store::ConversationPatch patch, Done<Conversation> done);
  void replace(store::WholeConversation whole, Done<Conversation> done);
  void remove(ConversationId id, Done<void> done);
  // Retention: removes the oldest messages (store.hpp, MessageStore::prune); the live room's
  // cache drops them too, here and (with a bus) on every server.
  struct Pruned {
    std::int64_t removed = 0;
    Seq first_kept = 0;  // where the conversation's history now starts
  };
  void prune(ConversationId id, std::optional<std::int64_t> keep_last,
             std::optional<TimeMs> older_than, Done<Pruned> done);

  // --- Users and templates -----------------------------------------------------------------
  // Through the writer: ordered after the user's own authentication (stored fire and
  // forget), so a client that authenticated and then asks finds itself.
  void user(UserId id, Done<User> done);
  void save_user(User user, Done<void> done);
  void templates(Done<std::vector<Template>> done);
  void replace_templates(std::vector<Template> templates, Done<void> done);

  // --- The seed apps' composite operations -------------------------------------------------
  // radio-istic's Mongo-shaped REST (a conversation with every reader's position and every
  // sender's profile, a user's unread total, a one-to-one conversation found or created in
  // one step) and WebWOz's template edits (read, change, replace, broadcast: one step) keep
  // the app's own rule: only explicit participants (its `participants`
  // query), stricter than the rule above. Each runs as one job over the stores, so each
  // answer is one consistent snapshot: `read` on a reader thread (it must not write),
  // `write` on the writer, in order with appends.
  struct Stores {
    store::MessageStore& messages;
    store::ConversationStore& conversations;
    store::ReadStateStore& read_state;
    store::UserStore& users;
    store::Listings& listings;
    store::TemplateStore& templates;
  };
  template <class T>
  using Job = std::function<Result<T>(const Stores&)>;
  template <class T>
  void read(Job<T> job, Done<T> done) {
    storage_.read([job = std::move(job), done = std::move(done)](store::Connection& c) {
      done(job(Stores{c, c, c, c, c, c}));
    });
  }
  template <class T>
  void write(Job<T> job, Done<T> done) {
    storage_.write([job = std::move(job), done = std::move(done)](store::Connection& c) {
      done(job(Stores{c, c, c, c, c, c}));
    });
  }

  // Whether the database answered its last call (health and metrics).
  bool database_up() const noexcept { return storage_.database_up(); }
  std::string_view database_kind() const noexcept { return storage_.database().kind(); }
  bool persistent() const noexcept { return storage_.database().persistent(); }
  store::Storage::Stats storage_stats() const noexcept { return storage_.stats(); }

 private:
  friend class Hub;
  // The pager without the rule, for the hub's history op (access is settled on the room).
  void read_page(ConversationId id, PageQuery query, Done<Page> done);
  static Result<Page> read_page(store::Connection& c, const ConversationId& id,
                                const PageQuery& query);

  Hub& hub_;
  store::Storage& storage_;
  const bool enforce_access_;
};

}  // namespace parley::hub
