// The memory backend: a complete, non-persistent implementation of the storage interfaces,
// the reference every other backend is held to by tests/conformance. All connections of one
// MemoryDatabase share its state behind one mutex, so they may be used from different
// threads at once (each connection still by one thread at a time, as store.hpp requires).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "store/store.hpp"

namespace parley::store::memory {

// Everything a MemoryDatabase holds. Guarded by `mu`.
struct MemoryState {
  struct ConversationData {
    Conversation conversation;
    // messages[seq - pruned - 1]: seqs are gapless from pruned + 1 (prune removes a prefix).
    std::vector<StoredMessage> messages;
    Seq pruned = 0;
    // (sender id, client_id) -> seq, for idempotent sends.
    std::map<std::pair<UserId, std::string>, Seq> client_ids;
    std::map<UserId, Seq> read;        // user -> highest seq read
    std::map<UserId, TimeMs> members;  // user -> joined_at; participants are members too
  };

  std::mutex mu;  // guards everything below
  std::map<ConversationId, ConversationData> conversations;
  std::unordered_set<MessageId> message_ids;  // ids are unique across conversations
  std::map<UserId, User> users;
  // The change log (ConversationStore::changes_after): each conversation's latest change
  // number, and the numbers in order.
  std::int64_t last_change = 0;
  std::map<ConversationId, std::int64_t> change_of;
  std::map<std::int64_t, ConversationId> changes;
  // The app's defaults, as a new SQLite or PostgreSQL store has them (their migrations).
  std::vector<Template> templates = default_templates();
};

class MemoryDatabase final : public Database {
 public:
  MemoryDatabase();

  std::string_view kind() const noexcept override { return "memory"; }
  bool persistent() const noexcept override { return false; }
  [[nodiscard]] Result<std::unique_ptr<Connection>> connect() override;

 private:
  std::shared_ptr<MemoryState> state_;
};

class MemoryConnection final : public Connection {
 public:
  explicit MemoryConnection(std::shared_ptr<MemoryState> state);

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
  std::shared_ptr<MemoryState> state_;
};

}  // namespace parley::store::memory
