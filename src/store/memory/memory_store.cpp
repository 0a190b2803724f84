#include "store/memory/memory_store.hpp"

#include <algorithm>
#include <limits>
#include <tuple>

#include "core/ids.hpp"
#include "core/time.hpp"
#include "store/detail/templates.hpp"
#include "store/detail/values.hpp"

namespace parley::store::memory {
namespace {

using Data = MemoryState::ConversationData;

boost::system::error_code err(Errc e) { return make_error_code(e); }

TimeMs or_now(TimeMs t) { return t != 0 ? t : now_ms(); }

Data* find(MemoryState& state, const ConversationId& id) {
  const auto it = state.conversations.find(id);
  return it == state.conversations.end() ? nullptr : &it->second;
}

// Requires: state.mu held.
void note_change(MemoryState& state, const ConversationId& id) {
  const std::int64_t number = ++state.last_change;
  auto [it, fresh] = state.change_of.try_emplace(id, number);
  if (!fresh) {
    state.changes.erase(it->second);
    it->second = number;
  }
  state.changes.emplace(number, id);
}

StoredMessage* message_at(Data& data, Seq seq) {
  if (seq <= data.pruned || seq > data.pruned + static_cast<Seq>(data.messages.size())) {
    return nullptr;
  }
  return &data.messages[static_cast<std::size_t>(seq - data.pruned - 1)];
}

Data make_conversation(const ConversationId& id, TimeMs now) {
  Data data;
  data.conversation.id = id;
  data.conversation.created_at = now;
  data.conversation.updated_at = now;
  return data;
}

// Participants are members too: listed ones join at `at`. A restricted conversation (a
// non-empty list) keeps no other member, whoever joined while it was open; opening it (an
// empty list) makes nobody leave. (store.hpp, ConversationStore)
void sync_participants(Data& data, const std::vector<UserId>& participants, TimeMs at) {
  if (!participants.empty()) {
    std::erase_if(data.members, [&](const auto& member) {
      return std::find(participants.begin(), participants.end(), member.first) ==
             participants.end();
    });
  }
  for (const UserId& user : participants) data.members.try_emplace(user, at);
  data.conversation.participants = participants;
}

// The words of `content` (as search_terms cuts them), for prefix matching.
std::vector<std::pair<std::size_t, std::size_t>> word_spans(std::string_view content) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  std::size_t i = 0;
  while (i < content.size()) {
    while (i < content.size() && !detail::is_word_byte(content[i])) ++i;
    const std::size_t start = i;
    while (i < content.size() && detail::is_word_byte(content[i])) ++i;
    if (i > start) spans.emplace_back(start, i - start);
  }
  return spans;
}

bool word_has_prefix(std::string_view word, std::string_view term) {
  if (word.size() < term.size()) return false;
  for (std::size_t i = 0; i < term.size(); ++i) {
    if (detail::ascii_lower(word[i]) != term[i]) return false;
  }
  return true;
}

// About 16 words around the first match, with an ellipsis where text was cut, like FTS5's
// snippet() with empty markers.
std::string make_snippet(std::string_view content,
                         const std::vector<std::pair<std::size_t, std::size_t>>& spans,
                         std::size_t first_match) {
  constexpr std::size_t kWords = 16;
  const std::size_t begin = first_match > 3 ? first_match - 3 : 0;
  const std::size_t end = std::min(spans.size(), begin + kWords);
  const std::size_t from = begin == 0 ? 0 : spans[begin].first;
  const std::size_t to =
      end == spans.size() ? content.size() : spans[end - 1].first + spans[end - 1].second;
  std::string out;
  if (begin > 0) out += "…";
  out.append(content.substr(from, to - from));
  if (end < spans.size()) out += "…";
  return out;
}

}  // namespace

MemoryDatabase::MemoryDatabase() : state_(std::make_shared<MemoryState>()) {}

Result<std::unique_ptr<Connection>> MemoryDatabase::connect() {
  return std::unique_ptr<Connection>(std::make_unique<MemoryConnection>(state_));
}

MemoryConnection::MemoryConnection(std::shared_ptr<MemoryState> state) : state_(std::move(state)) {}

// --- Messages ----------------------------------------------------------------------------

Result<std::vector<Appended>> MemoryConnection::append_batch(std::span<const NewMessage> batch) {
  std::vector<NewMessage> msgs(batch.begin(), batch.end());
  for (NewMessage& msg : msgs) {
    if (auto ok = detail::normalize_new_message(msg); !ok) return ok.error();
  }
  const TimeMs now = now_ms();

  std::lock_guard lock(state_->mu);
  // Plan everything without touching the state, so that a failure stores nothing.
  struct Tentative {
    Seq last_seq = 0;
    std::int64_t added = 0;
    bool exists = false;
  };
  std::map<ConversationId, Tentative> touched;
  std::map<std::tuple<ConversationId, UserId, std::string>, std::size_t> batch_client_ids;
  std::unordered_set<MessageId> batch_ids;
  std::vector<Appended> out;
  out.reserve(msgs.size());
  for (NewMessage& msg : msgs) {
    Data* data = find(*state_, msg.conversation);
    auto [tent, fresh] = touched.try_emplace(msg.conversation);
    if (fresh && data != nullptr) {
      tent->second.last_seq = data->conversation.last_seq;
      tent->second.exists = true;
    }
    if (msg.client_id) {
      if (data != nullptr) {
        const auto it = data->client_ids.find({msg.sender.id, *msg.client_id});
        if (it != data->client_ids.end()) {
          out.push_back({*message_at(*data, it->second), true});
          continue;
        }
      }
      const auto key = std::make_tuple(msg.conversation, msg.sender.id, *msg.client_id);
      if (const auto it = batch_client_ids.find(key); it != batch_client_ids.end()) {
        out.push_back({out[it->second].message, true});
        continue;
      }
      batch_client_ids.emplace(key, out.size());
    }
    if (msg.id.empty()) msg.id = new_message_id();
    if (state_->message_ids.contains(msg.id) || !batch_ids.insert(msg.id).second) {
      return err(Errc::conflict);
    }
    StoredMessage stored;
    stored.id = std::move(msg.id);
    stored.conversation = msg.conversation;
    stored.seq = ++tent->second.last_seq;
    stored.sender = std::move(msg.sender);
    stored.kind = std::move(msg.kind);
    stored.content = std::move(msg.content);
    stored.meta = std::move(msg.meta);
    stored.created_at = msg.created_at != 0 ? msg.created_at : now;
    stored.client_id = std::move(msg.client_id);
    ++tent->second.added;
    out.push_back({std::move(stored), false});
  }

  // Commit: nothing below can fail.
  for (const auto& [id, tent] : touched) {
    if (!tent.exists) state_->conversations.emplace(id, make_conversation(id, now));
  }
  for (const Appended& appended : out) {
    if (appended.duplicate) continue;
    const StoredMessage& msg = appended.message;
    Data& data = state_->conversations.at(msg.conversation);
    data.messages.push_back(msg);
    if (msg.client_id)
      data.client_ids.emplace(std::make_pair(msg.sender.id, *msg.client_id), msg.seq);
    state_->message_ids.insert(msg.id);
    Seq& read = data.read[msg.sender.id];  // what one sends counts as read
    read = std::max(read, msg.seq);
  }
  for (const auto& [id, tent] : touched) {
    if (tent.added == 0) continue;
    Conversation& conv = state_->conversations.at(id).conversation;
    conv.last_seq = tent.last_seq;
    conv.message_count += tent.added;
    conv.updated_at = std::max(conv.updated_at, now);
  }
  return out;
}

Result<std::vector<StoredMessage>> MemoryConnection::read_after(const ConversationId& conversation,
                                                                Seq after, std::size_t limit) {
  std::lock_guard lock(state_->mu);
  std::vector<StoredMessage> out;
  const Data* data = find(*state_, conversation);
  if (data == nullptr) return out;
  const Seq pruned = data->pruned;
  const auto last = pruned + static_cast<Seq>(data->messages.size());
  for (Seq seq = std::max<Seq>(after, pruned) + 1; seq <= last && out.size() < limit; ++seq) {
    out.push_back(data->messages[static_cast<std::size_t>(seq - pruned - 1)]);
  }
  return out;
}

Result<std::vector<StoredMessage>> MemoryConnection::read_before(const ConversationId& conversation,
                                                                 Seq before, std::size_t limit) {
  std::lock_guard lock(state_->mu);
  std::vector<StoredMessage> out;
  const Data* data = find(*state_, conversation);
  if (data == nullptr || before <= 1 || limit == 0) return out;
  const Seq pruned = data->pruned;
  const Seq last = std::min<Seq>(before - 1, pruned + static_cast<Seq>(data->messages.size()));
  const Seq first = std::max<Seq>(
      pruned + 1, limit >= static_cast<std::size_t>(last) ? 1 : last - static_cast<Seq>(limit) + 1);
  for (Seq seq = first; seq <= last; ++seq) {
    out.push_back(data->messages[static_cast<std::size_t>(seq - pruned - 1)]);
  }
  return out;
}

Result<StoredMessage> MemoryConnection::get_message(const ConversationId& conversation, Seq seq) {
  std::lock_guard lock(state_->mu);
  Data* data = find(*state_, conversation);
  const StoredMessage* msg = data ? message_at(*data, seq) : nullptr;
  if (msg == nullptr) return err(Errc::not_found);
  return *msg;
}

Result<StoredMessage> MemoryConnection::find_message(const MessageId& id) {
  std::lock_guard lock(state_->mu);
  if (!state_->message_ids.contains(id)) return err(Errc::not_found);
  for (const auto& [cid, data] : state_->conversations) {
    for (const auto& m : data.messages) {
      if (m.id == id) return m;
    }
  }
  return err(Errc::not_found);  // pruned: the id stays reserved, the message is gone
}

Result<StoredMessage> MemoryConnection::edit_message(const ConversationId& conversation, Seq seq,
                                                     const std::string& content,
                                                     const std::optional<UserId>& by, TimeMs at) {
  std::lock_guard lock(state_->mu);
  Data* data = find(*state_, conversation);
  StoredMessage* msg = data ? message_at(*data, seq) : nullptr;
  if (msg == nullptr) return err(Errc::not_found);
  if (by && *by != msg->sender.id) return err(Errc::permission_denied);
  if (msg->deleted) return err(Errc::conflict);
  msg->content = content;
  msg->edited_at = or_now(at);
  return *msg;
}

Result<StoredMessage> MemoryConnection::delete_message(const ConversationId& conversation, Seq seq,
                                                       const std::optional<UserId>& by, TimeMs at) {
  std::lock_guard lock(state_->mu);
  Data* data = find(*state_, conversation);
  StoredMessage* msg = data ? message_at(*data, seq) : nullptr;
  if (msg == nullptr) return err(Errc::not_found);
  if (by && *by != msg->sender.id) return err(Errc::permission_denied);
  if (msg->deleted) return *msg;
  msg->content.clear();
  msg->meta = "{}";
  msg->deleted = true;
  msg->edited_at = or_now(at);
  return *msg;
}

// --- Conversations -----------------------------------------------------------------------

Result<Conversation> MemoryConnection::create_conversation(const NewConversation& request) {
  const ConversationId id = request.id.empty() ? new_short_id() : request.id;
  if (!is_valid_id(id)) return err(Errc::invalid_argument);
  auto fields = detail::normalize_fields(request.participants, request.settings, request.meta);
  if (!fields) return fields.error();
  auto& [participants, settings, meta] = *fields;

  std::lock_guard lock(state_->mu);
  if (find(*state_, id) != nullptr) return err(Errc::already_exists);
  Data data = make_conversation(id, or_now(request.created_at));
  data.conversation.title = request.title;
  data.conversation.settings = std::move(*settings);
  data.conversation.meta = std::move(*meta);
  sync_participants(data, *participants, data.conversation.created_at);
  return state_->conversations.emplace(id, std::move(data)).first->second.conversation;
}

Result<Conversation> MemoryConnection::ensure_conversation(const ConversationId& id, TimeMs now) {
  if (!is_valid_id(id)) return err(Errc::invalid_argument);
  std::lock_guard lock(state_->mu);
  if (const Data* data = find(*state_, id)) return data->conversation;
  return state_->conversations.emplace(id, make_conversation(id, or_now(now)))
      .first->second.conversation;
}

Result<void> MemoryConnection::ensure_conversations(std::span<const ConversationId> ids,
                                                    TimeMs now) {
  for (const ConversationId& id : ids) {
    if (!is_valid_id(id)) return err(Errc::invalid_argument);
  }
  std::lock_guard lock(state_->mu);
  for (const ConversationId& id : ids) {
    if (find(*state_, id) == nullptr)
      state_->conversations.emplace(id, make_conversation(id, or_now(now)));
  }
  return {};
}

Result<Conversation> MemoryConnection::get_conversation(const ConversationId& id) {
  std::lock_guard lock(state_->mu);
  const Data* data = find(*state_, id);
  if (data == nullptr) return err(Errc::not_found);
  return data->conversation;
}

Result<ConversationPage> MemoryConnection::list_conversations(const ListQuery& query) {
  auto cursor = detail::decode_list_cursor(query.cursor);
  if (!cursor) return cursor.error();
  const std::size_t limit = detail::list_limit(query.limit);
  const std::string q = detail::ascii_lower(query.q);

  std::lock_guard lock(state_->mu);
  std::vector<const Data*> hits;
  for (const auto& [id, data] : state_->conversations) {
    const Conversation& conv = data.conversation;
    if (query.user && !data.members.contains(*query.user)) continue;
    if (!detail::matches_filter(q, conv.title, conv.id)) continue;
    if (!detail::after_cursor(*cursor, conv.updated_at, conv.id)) continue;
    hits.push_back(&data);
  }
  std::sort(hits.begin(), hits.end(), [](const Data* a, const Data* b) {
    return std::tie(a->conversation.updated_at, a->conversation.id) >
           std::tie(b->conversation.updated_at, b->conversation.id);
  });

  ConversationPage page;
  for (std::size_t i = 0; i < hits.size() && i < limit; ++i) {
    const Data& data = *hits[i];
    ConversationSummary summary;
    summary.conversation = data.conversation;
    if (!data.messages.empty()) summary.last_message = data.messages.back();
    if (query.user) {
      const auto it = data.read.find(*query.user);
      const Seq read = it == data.read.end() ? 0 : it->second;
      summary.unread = std::max<Seq>(0, data.conversation.last_seq - read);
    }
    page.conversations.push_back(std::move(summary));
  }
  if (hits.size() > limit) {
    const Conversation& last = page.conversations.back().conversation;
    page.next_cursor = detail::encode_list_cursor(last.updated_at, last.id);
  }
  return page;
}

Result<Conversation> MemoryConnection::update_conversation(const ConversationId& id,
                                                           const ConversationPatch& patch,
                                                           TimeMs now) {
  auto fields = detail::normalize_fields(patch);
  if (!fields) return fields.error();
  auto& [participants, settings, meta] = *fields;
  const TimeMs at = or_now(now);

  std::lock_guard lock(state_->mu);
  Data* data = find(*state_, id);
  if (data == nullptr) return err(Errc::not_found);
  Conversation& conv = data->conversation;
  if (patch.title) conv.title = *patch.title;
  if (participants) {
    sync_participants(*data, *participants, at);
    note_change(*state_, id);  // other processes' rooms reload who they admit
  }
  if (settings) conv.settings = std::move(*settings);
  if (meta) conv.meta = std::move(*meta);
  if (patch.is_active) conv.is_active = *patch.is_active;
  conv.updated_at = std::max(conv.updated_at, at);
  return conv;
}

Result<void> MemoryConnection::delete_conversation(const ConversationId& id) {
  std::lock_guard lock(state_->mu);
  const auto it = state_->conversations.find(id);
  if (it == state_->conversations.end()) return err(Errc::not_found);
  for (const StoredMessage& msg : it->second.messages) state_->message_ids.erase(msg.id);
  state_->conversations.erase(it);
  note_change(*state_, id);
  return {};
}

Result<Conversation> MemoryConnection::replace_conversation(const WholeConversation& whole) {
  if (!is_valid_id(whole.id) || whole.first_seq < 1) return err(Errc::invalid_argument);
  for (const auto& state : whole.states) {
    if (state.index >= whole.messages.size()) return err(Errc::invalid_argument);
  }
  auto fields = detail::normalize_fields(whole.participants, whole.settings, whole.meta);
  if (!fields) return fields.error();
  auto& [participants, settings, meta] = *fields;
  const TimeMs now = now_ms();

  std::vector<StoredMessage> messages;
  messages.reserve(whole.messages.size());
  std::map<std::pair<UserId, std::string>, Seq> client_ids;
  std::unordered_set<MessageId> ids;
  for (const NewMessage& given : whole.messages) {
    NewMessage msg = given;
    msg.conversation = whole.id;
    if (auto ok = detail::normalize_new_message(msg); !ok) return ok.error();
    StoredMessage stored;
    stored.id = msg.id.empty() ? new_message_id() : std::move(msg.id);
    stored.conversation = whole.id;
    stored.seq = whole.first_seq + static_cast<Seq>(messages.size());
    stored.sender = std::move(msg.sender);
    stored.kind = std::move(msg.kind);
    stored.content = std::move(msg.content);
    stored.meta = std::move(msg.meta);
    stored.created_at = msg.created_at != 0 ? msg.created_at : now;
    stored.client_id = std::move(msg.client_id);
    if (!ids.insert(stored.id).second) return err(Errc::conflict);
    if (stored.client_id &&
        !client_ids.emplace(std::make_pair(stored.sender.id, *stored.client_id), stored.seq)
             .second) {
      return err(Errc::conflict);
    }
    messages.push_back(std::move(stored));
  }
  for (const auto& state : whole.states) {
    StoredMessage& m = messages[state.index];
    if (state.deleted) {
      m.content.clear();
      m.meta = "{}";
      m.deleted = true;
      m.edited_at = state.edited_at.value_or(m.created_at);
    } else if (state.edited_at) {
      m.edited_at = *state.edited_at;
    }
  }

  std::lock_guard lock(state_->mu);
  Data* existing = find(*state_, whole.id);
  std::unordered_set<MessageId> replaced;  // ids this replacement frees
  if (existing != nullptr) {
    for (const StoredMessage& msg : existing->messages) replaced.insert(msg.id);
  }
  for (const MessageId& id : ids) {
    if (state_->message_ids.contains(id) && !replaced.contains(id)) return err(Errc::conflict);
  }
  if (existing == nullptr) {
    const TimeMs created = whole.created_at != 0 ? whole.created_at : now;
    existing = &state_->conversations.emplace(whole.id, make_conversation(whole.id, created))
                    .first->second;
  }
  Data& data = *existing;
  for (const StoredMessage& msg : data.messages) state_->message_ids.erase(msg.id);
  Conversation& conv = data.conversation;
  if (whole.created_at != 0) conv.created_at = whole.created_at;
  conv.updated_at = whole.updated_at != 0 ? whole.updated_at : now;
  conv.title = whole.title;
  conv.settings = std::move(*settings);
  conv.meta = std::move(*meta);
  sync_participants(data, *participants, now);
  conv.last_seq = whole.first_seq - 1 + static_cast<Seq>(messages.size());
  conv.message_count = static_cast<std::int64_t>(messages.size());
  for (auto& [user, seq] : data.read) seq = std::min(seq, conv.last_seq);
  for (const auto& [user, seq] : whole.read_seqs) {
    const Seq read = std::min(seq, conv.last_seq);
    if (read <= 0) continue;
    Seq& stored = data.read[user];
    stored = std::max(stored, read);
  }
  state_->message_ids.insert(ids.begin(), ids.end());
  data.messages = std::move(messages);
  data.pruned = whole.first_seq - 1;
  data.client_ids = std::move(client_ids);
  note_change(*state_, whole.id);
  return conv;
}

Result<std::int64_t> MemoryConnection::last_change() {
  std::lock_guard lock(state_->mu);
  return state_->last_change;
}

Result<std::vector<ConversationChange>> MemoryConnection::changes_after(std::int64_t after,
                                                                        std::size_t limit) {
  std::lock_guard lock(state_->mu);
  std::vector<ConversationChange> out;
  for (auto it = state_->changes.upper_bound(after);
       it != state_->changes.end() && out.size() < limit; ++it) {
    out.push_back({it->second, it->first});
  }
  return out;
}

Result<std::int64_t> MemoryConnection::count_conversations() {
  std::lock_guard lock(state_->mu);
  return static_cast<std::int64_t>(state_->conversations.size());
}

Result<void> MemoryConnection::add_member(const ConversationId& conversation, const UserId& user,
                                          TimeMs at) {
  if (!is_valid_id(user)) return err(Errc::invalid_argument);
  std::lock_guard lock(state_->mu);
  Data* data = find(*state_, conversation);
  if (data == nullptr) return err(Errc::not_found);
  data->members.try_emplace(user, or_now(at));
  return {};
}

Result<void> MemoryConnection::add_members(std::span<const Membership> members) {
  for (const Membership& m : members) {
    if (!is_valid_id(m.user)) return err(Errc::invalid_argument);
  }
  std::lock_guard lock(state_->mu);
  for (const Membership& m : members) {
    if (Data* data = find(*state_, m.conversation)) data->members.try_emplace(m.user, or_now(m.at));
  }
  return {};
}

// --- Read state --------------------------------------------------------------------------

Result<Seq> MemoryConnection::mark_read(const ConversationId& conversation, const UserId& user,
                                        Seq seq) {
  std::lock_guard lock(state_->mu);
  Data* data = find(*state_, conversation);
  if (data == nullptr) return err(Errc::not_found);
  const auto it = data->read.find(user);
  const Seq old = it == data->read.end() ? 0 : it->second;
  const Seq now_read = std::max(old, std::min(seq, data->conversation.last_seq));
  if (now_read > old) data->read[user] = now_read;
  return now_read;
}

Result<Seq> MemoryConnection::read_seq(const ConversationId& conversation, const UserId& user) {
  std::lock_guard lock(state_->mu);
  const Data* data = find(*state_, conversation);
  if (data == nullptr) return Seq{0};
  const auto it = data->read.find(user);
  return it == data->read.end() ? Seq{0} : it->second;
}

// --- Templates (WebWOz) -------------------------------------------------------------------

Result<std::vector<Template>> MemoryConnection::list_templates() {
  std::lock_guard lock(state_->mu);
  return state_->templates;
}

Result<void> MemoryConnection::replace_templates(std::span<const Template> templates) {
  if (!detail::valid_templates(templates)) return err(Errc::invalid_argument);
  std::lock_guard lock(state_->mu);
  state_->templates.assign(templates.begin(), templates.end());
  return {};
}

Result<bool> MemoryConnection::replace_templates_if(std::span<const Template> expected,
                                                    std::span<const Template> templates) {
  if (!detail::valid_templates(templates))
    return Result<bool>(boost::system::in_place_error, err(Errc::invalid_argument));
  std::lock_guard lock(state_->mu);
  if (!std::ranges::equal(state_->templates, expected)) return false;
  state_->templates.assign(templates.begin(), templates.end());
  return true;
}

// --- Users -------------------------------------------------------------------------------

Result<void> MemoryConnection::upsert_user(const User& user) {
  return upsert_users(std::span<const User>(&user, 1));
}

Result<void> MemoryConnection::upsert_users(std::span<const User> users) {
  for (const User& user : users) {
    if (!is_valid_id(user.id)) return err(Errc::invalid_argument);
  }
  std::lock_guard lock(state_->mu);  // one lock: all of them at once, as one transaction
  for (const User& user : users) {
    auto [it, fresh] = state_->users.try_emplace(user.id, user);
    if (fresh) continue;
    User& stored = it->second;
    if (!user.name.empty()) stored.name = user.name;
    if (!user.avatar.empty()) stored.avatar = user.avatar;
    if (!user.role.empty()) stored.role = user.role;
    if (user.last_seen) stored.last_seen = user.last_seen;
  }
  return {};
}

Result<User> MemoryConnection::get_user(const UserId& id) {
  std::lock_guard lock(state_->mu);
  const auto it = state_->users.find(id);
  if (it == state_->users.end()) return err(Errc::not_found);
  return it->second;
}

Result<void> MemoryConnection::set_last_seen(const UserId& id, TimeMs at) {
  if (!is_valid_id(id)) return err(Errc::invalid_argument);
  std::lock_guard lock(state_->mu);
  User& user = state_->users[id];
  user.id = id;
  user.last_seen = at;
  return {};
}

Result<void> MemoryConnection::for_each_user(const std::function<bool(const User&)>& fn) {
  std::vector<User> users;
  {
    std::lock_guard lock(state_->mu);
    users.reserve(state_->users.size());
    for (const auto& [id, user] : state_->users) users.push_back(user);
  }
  for (const auto& user : users) {
    if (!fn(user)) break;
  }
  return {};
}

Result<std::vector<MemberState>> MemoryConnection::member_states(
    const ConversationId& conversation) {
  std::lock_guard lock(state_->mu);
  std::vector<MemberState> out;
  const Data* data = find(*state_, conversation);
  if (data == nullptr) return out;
  std::map<UserId, MemberState> by_user;
  for (const auto& [user, at] : data->members) {
    by_user[user].joined_at = at;
  }
  for (const auto& [user, seq] : data->read) by_user[user].read_seq = seq;
  for (auto& [user, m] : by_user) {
    m.user = user;
    out.push_back(std::move(m));
  }
  return out;
}

// --- Search and export -------------------------------------------------------------------

Result<std::vector<SearchHit>> MemoryConnection::search(const SearchQuery& query) {
  const std::vector<std::string> terms = detail::search_terms(query.text);
  std::vector<SearchHit> out;
  if (terms.empty()) return out;
  const std::size_t limit = detail::list_limit(query.limit, detail::kDefaultSearchLimit);

  struct Scored {
    std::size_t score;
    SearchHit hit;
  };
  std::vector<Scored> scored;
  std::lock_guard lock(state_->mu);
  for (const auto& [id, data] : state_->conversations) {
    if (query.conversation && *query.conversation != id) continue;
    for (const StoredMessage& msg : data.messages) {
      if (msg.deleted) continue;
      const auto spans = word_spans(msg.content);
      std::size_t score = 0;
      std::size_t first_match = spans.size();
      bool all = true;
      for (const std::string& term : terms) {
        bool found = false;
        for (std::size_t w = 0; w < spans.size(); ++w) {
          const std::string_view word =
              std::string_view(msg.content).substr(spans[w].first, spans[w].second);
          if (word_has_prefix(word, term)) {
            found = true;
            ++score;
            first_match = std::min(first_match, w);
          }
        }
        all = all && found;
      }
      if (!all) continue;
      scored.push_back({score, {msg, make_snippet(msg.content, spans, first_match)}});
    }
  }
  std::stable_sort(scored.begin(), scored.end(), [](const Scored& a, const Scored& b) {
    return std::tie(a.score, a.hit.message.created_at, a.hit.message.seq) >
           std::tie(b.score, b.hit.message.created_at, b.hit.message.seq);
  });
  for (std::size_t i = 0; i < scored.size() && i < limit; ++i) {
    out.push_back(std::move(scored[i].hit));
  }
  return out;
}

Result<void> MemoryConnection::for_each_message(
    const ConversationId& conversation, Seq after,
    const std::function<bool(const StoredMessage&)>& fn) {
  // Copies a chunk at a time and calls `fn` without the lock, so `fn` may be slow or use
  // another connection of this database.
  constexpr std::size_t kChunk = 256;
  for (;;) {
    auto chunk = read_after(conversation, after, kChunk);
    if (!chunk) return chunk.error();
    for (const StoredMessage& msg : *chunk) {
      if (!fn(msg)) return {};
      after = msg.seq;
    }
    if (chunk->size() < kChunk) return {};
  }
}

// --- Retention ---------------------------------------------------------------------------

Result<std::int64_t> MemoryConnection::prune(const ConversationId& conversation,
                                             std::optional<std::int64_t> keep_last,
                                             std::optional<TimeMs> older_than, bool dry_run) {
  if (keep_last && *keep_last < 0) return err(Errc::invalid_argument);
  std::lock_guard lock(state_->mu);
  Data* data = find(*state_, conversation);
  if (data == nullptr) return err(Errc::not_found);
  const auto size = static_cast<std::int64_t>(data->messages.size());
  std::int64_t remove = 0;
  if (keep_last) remove = std::max<std::int64_t>(remove, size - *keep_last);
  if (older_than) {
    std::int64_t old = 0;  // the oldest run created before `older_than`
    while (old < size && data->messages[static_cast<std::size_t>(old)].created_at < *older_than) {
      ++old;
    }
    remove = std::max(remove, old);
  }
  if (remove <= 0 || dry_run) return std::max<std::int64_t>(remove, 0);
  const Seq cut = data->pruned + remove;  // messages with seq <= cut go
  for (std::int64_t i = 0; i < remove; ++i) {
    state_->message_ids.erase(data->messages[static_cast<std::size_t>(i)].id);
  }
  data->messages.erase(data->messages.begin(), data->messages.begin() + remove);
  data->pruned = cut;
  std::erase_if(data->client_ids, [cut](const auto& kv) { return kv.second <= cut; });
  data->conversation.message_count -= remove;
  note_change(*state_, conversation);
  return remove;
}

}  // namespace parley::store::memory
