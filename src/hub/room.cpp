#include "hub/room.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <limits>

#include "core/log.hpp"
#include "hub/hub.hpp"
#include "protocol/event_encoder.hpp"

namespace parley::hub {

namespace asio = boost::asio;
using protocol::Event;
using protocol::EventType;
using protocol::MessagePtr;

Room::Room(Hub& hub, ConversationId id, Strand strand)
    : hub_(hub), id_(std::move(id)), strand_(std::move(strand)) {}

void Room::when_ready(std::function<void()> fn) {
  if (state_ == State::ready) {
    fn();
    return;
  }
  waiting_.push_back(std::move(fn));
  if (state_ == State::cold) start_load();
}

// Loading runs on the storage writer, after every append queued before it: a commit is
// either visible to the load or reaches on_commit() afterwards (often both: deduplicated
// by seq in on_loaded). The conversation is created here if it is new ("created on first
// join"), in one transaction with the other rooms loading at the same time
// (Storage::open_conversation: issue 14, a join storm over new rooms held an unrelated
// send's ack back by one fsynced creation per room).
void Room::start_load() {
  state_ = State::loading;
  const auto generation = generation_;
  const auto capacity = hub_.options().cache_messages;
  hub_.storage_.open_conversation(id_, [self = shared_from_this(), capacity,
                                        generation](store::Connection& c) {
    Seq last = 0;
    std::vector<StoredMessage> messages;
    std::vector<UserId> participants;
    auto conv = c.ensure_conversation(self->id_, now_ms());
    if (conv) {
      last = conv->last_seq;
      participants = conv->participants;
      auto r = c.read_before(self->id_, std::numeric_limits<Seq>::max(), capacity);
      if (r) messages = std::move(*r);
    }
    const bool ok = conv.has_value();
    if (!ok) spdlog::warn("room {}: loading failed: {}", self->id_, conv.error().message());
    asio::post(self->strand_, [self, ok, messages = std::move(messages), last,
                               participants = std::move(participants), generation]() mutable {
      self->on_loaded(ok, std::move(messages), last, std::move(participants), generation);
    });
  });
}

void Room::on_loaded(bool ok, std::vector<StoredMessage> messages, Seq last_seq,
                     std::vector<UserId> participants, std::uint64_t generation) {
  if (generation != generation_) return;  // invalidated meanwhile; a new load is under way
  if (!ok) {
    // Storage is down: stay cold (page() answers nullopt, so callers ask storage and get
    // its error) and try again on the next join.
    state_ = State::cold;
    early_.clear();
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& fn : waiting) fn();
    return;
  }
  participants_ = std::move(participants);
  participants_known_ = true;
  if (hub_.options().enforce_access) {
    // The participants may have changed (PATCH/PUT invalidated the room): members who are
    // no longer admitted leave the room, and each is told why after the last event it was
    // still owed (a join would now answer forbidden; their membership is gone from
    // storage too, so their inbox no longer lists it).
    std::vector<Member> evicted;
    for (const auto& m : members_) {
      if (!Hub::admits(participants_, m.user)) evicted.push_back(m);
    }
    for (const auto& m : evicted) {
      remove_member(m.session, false);
      m.session->forget_join(id_);
      Event e;
      e.type = EventType::left;
      e.conversation = id_;
      e.reason = protocol::kLeftNotAParticipant;
      auto text = protocol::encode_event(m.format, e);
      if (!text.empty()) m.session->deliver(std::make_shared<const std::string>(std::move(text)));
    }
  }
  const auto capacity = hub_.options().cache_messages;
  cache_.clear();
  cache_from_start_ = messages.size() < capacity;
  for (auto& m : messages) cache_.push_back(std::make_shared<const StoredMessage>(std::move(m)));
  last_seq_ = std::max(last_seq_, last_seq);
  if (!cache_.empty()) last_seq_ = std::max(last_seq_, cache_.back()->seq);
  for (const auto& m : early_) cache_append(m);
  early_.clear();
  state_ = State::ready;
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& fn : waiting) fn();
}

boost::system::error_code Room::access(const User& user) const {
  if (!participants_known_) return Errc::unavailable;
  if (!Hub::admits(participants_, user)) return Errc::permission_denied;
  return {};
}

void Room::invalidate() {
  ++generation_;
  cache_.clear();
  cache_from_start_ = false;
  early_.clear();
  read_seqs_.clear();
  last_seq_ = 0;
  participants_known_ = false;
  if (state_ == State::ready) state_ = State::cold;
  if (state_ == State::loading) {
    state_ = State::cold;
    start_load();
  }
}

void Room::drop_before(Seq first_kept) {
  while (!cache_.empty() && cache_.front()->seq < first_kept) cache_.pop_front();
  // Nothing older than first_kept is stored any more: a cache that starts there starts at
  // the beginning (an emptied cache is not used while last_seq is above 0).
  if (!cache_.empty() && cache_.front()->seq == first_kept) cache_from_start_ = true;
}

void Room::cache_append(const MessagePtr& m) {
  if (!cache_.empty() && m->seq <= cache_.back()->seq) return;  // already loaded
  if (!cache_.empty() && m->seq != cache_.back()->seq + 1) {
    // A gap (another server committed in between): the cache is no longer contiguous.
    cache_.clear();
    cache_from_start_ = false;
  }
  if (cache_.empty() && m->seq != 1) cache_from_start_ = false;
  if (cache_.empty() && m->seq == 1) cache_from_start_ = true;
  cache_.push_back(m);
  while (cache_.size() > hub_.options().cache_messages) {
    cache_.pop_front();
    cache_from_start_ = false;
  }
}

bool Room::add_member(const SessionPtr& session, const User& user, protocol::WireFormat format) {
  touch();
  for (const auto& m : members_) {
    if (m.session == session) return false;
  }
  // A joiner gets what its history did not hold, nothing twice.
  while (!commits_.empty() || !acks_.empty()) flush_commits(kMaxCommitsPerBatch);
  members_.push_back(Member{session, user, format});
  if (connections_[user.id]++ == 0) {
    Event e;
    e.type = EventType::presence;
    e.conversation = id_;
    e.user = user;
    e.online = true;
    hub_.publish(e);
    if (!hub_.has_bus() || !hub_.presence().remote_in_room(id_, user.id)) fanout(e);
  }
  return true;
}

void Room::remove_member(const SessionPtr& session, bool disconnected) {
  touch();
  auto it = std::find_if(members_.begin(), members_.end(),
                         [&](const Member& m) { return m.session == session; });
  if (it == members_.end()) return;
  // The leaver still gets what was committed while it was a member.
  while (!commits_.empty() || !acks_.empty()) flush_commits(kMaxCommitsPerBatch);
  User user = it->user;
  members_.erase(it);
  if (--connections_[user.id] == 0) {
    connections_.erase(user.id);
    Event e;
    e.type = EventType::presence;
    e.conversation = id_;
    e.user = std::move(user);
    e.online = false;
    e.last_seen = now_ms();
    hub_.publish(e);
    // Still here through another server: not news.
    if (!hub_.has_bus() || !hub_.presence().remote_in_room(id_, e.user.id)) fanout(e);
  }
  (void)disconnected;
}

std::vector<UserId> Room::online_users() const {
  std::vector<UserId> users;
  users.reserve(connections_.size());
  for (const auto& [user, count] : connections_) users.push_back(user);
  if (hub_.has_bus()) {
    for (auto& user : hub_.presence().remote_room_users(id_)) {
      if (!connections_.contains(user)) users.push_back(std::move(user));
    }
  }
  std::sort(users.begin(), users.end());
  return users;
}

bool Room::idle_longer_than(std::chrono::steady_clock::duration d) const {
  return members_.empty() && waiting_.empty() && state_ != State::loading &&
         std::chrono::steady_clock::now() - last_active_ > d;
}

void Room::on_commit(const MessagePtr& m) {
  if (hub_.has_bus() && state_ == State::ready) {
    // Several servers commit into this conversation: members get every message in seq
    // order, whichever server committed it and whichever path (local writer, bus) brought
    // it first. A message past a gap waits while the gap is read from storage.
    touch();
    if (m->seq <= last_seq_) return;  // delivered already
    if (m->seq != last_seq_ + 1) {
      held_[m->seq] = m;
      fill_gap();
      return;
    }
    emit_commit(m);
    drain_held();
    return;
  }
  emit_commit(m);
}

void Room::drain_held() {
  while (!held_.empty()) {
    auto it = held_.begin();
    if (it->first <= last_seq_) {
      held_.erase(it);
    } else if (it->first == last_seq_ + 1) {
      auto m = it->second;
      held_.erase(it);
      emit_commit(m);
    } else {
      break;
    }
  }
}

void Room::fill_gap() {
  if (filling_ || state_ != State::ready) return;
  filling_ = true;
  const Seq after = last_seq_;
  hub_.storage_.read([self = shared_from_this(), after](store::Connection& c) {
    auto r = c.read_after(self->id_, after, 1000);
    const bool ok = r.has_value();
    std::vector<StoredMessage> messages;
    if (ok) messages = std::move(*r);
    asio::post(self->strand_, [self, ok, messages = std::move(messages)]() mutable {
      self->on_gap_filled(ok, std::move(messages));
    });
  });
}

void Room::on_gap_filled(bool ok, std::vector<StoredMessage> messages) {
  filling_ = false;
  if (dropped_ || state_ != State::ready) return;
  const Seq before = last_seq_;
  for (auto& msg : messages) {
    if (msg.seq != last_seq_ + 1) continue;
    auto it = held_.find(msg.seq);
    MessagePtr m = it != held_.end() ? it->second : std::make_shared<const StoredMessage>(msg);
    emit_commit(m);
  }
  drain_held();
  const bool progress = last_seq_ > before;
  if (messages.size() >= 1000 && progress) {
    fill_gap();  // more to read
  } else if (!held_.empty()) {
    if (progress || ok) {
      // Storage does not have the missing seq (yet): deliver what is held in order rather
      // than stall the room.
      if (!progress) {
        spdlog::warn("room {}: seq {} missing from storage; delivering past it", id_,
                     last_seq_ + 1);
        while (!held_.empty()) {
          auto m = held_.begin()->second;
          held_.erase(held_.begin());
          if (m->seq > last_seq_) emit_commit(m);
        }
      } else {
        fill_gap();
      }
    }
  }
}

void Room::on_remote_presence(const User& user, bool online, std::optional<TimeMs> last_seen) {
  touch();
  if (connections_.contains(user.id)) return;  // online here anyway
  Event e;
  e.type = EventType::presence;
  e.conversation = id_;
  e.user = user;
  e.online = online;
  e.last_seen = last_seen;
  fanout(e);
}

void Room::emit_commit(const MessagePtr& m) {
  touch();
  last_seq_ = std::max(last_seq_, m->seq);
  // The append raised the sender's read seq to it (store.hpp): keep a cached one in step.
  if (const auto it = read_seqs_.find(m->sender.id); it != read_seqs_.end()) {
    it->second = std::max(it->second, m->seq);
  }
  if (state_ == State::ready) {
    cache_append(m);
  } else if (state_ == State::loading) {
    early_.push_back(m);
  }
  queue_commit(m);
}

void Room::on_local_commit(const MessagePtr& m, std::function<void()> ack) {
  acks_.push_back(std::move(ack));
  post_commits();
  on_commit(m);
}

void Room::queue_commit(const MessagePtr& m) {
  if (members_.empty()) return;
  commits_.push_back(m);
  post_commits();
}

void Room::post_commits() {
  if (commits_posted_) return;
  commits_posted_ = true;
  asio::post(strand_, [self = shared_from_this()] {
    self->commits_posted_ = false;
    self->flush_commits(kMaxCommitsPerBatch);
    if (!self->commits_.empty()) self->post_commits();  // the rest after others' turns
  });
}

void Room::flush_commits(std::size_t max) {
  if (commits_.empty() && acks_.empty()) return;
  DeliveryScope scope;  // each member's socket is written once for the whole batch
  auto acks = std::move(acks_);
  acks_.clear();
  for (auto& ack : acks) ack();
  std::vector<MessagePtr> commits;
  if (commits_.size() <= max) {
    commits.swap(commits_);
  } else {
    const auto end = commits_.begin() + static_cast<std::ptrdiff_t>(max);
    commits.assign(commits_.begin(), end);
    commits_.erase(commits_.begin(), end);
  }
  std::array<std::vector<Frame>, protocol::kWireFormats> frames;
  std::array<bool, protocol::kWireFormats> encoded{};
  std::uint64_t delivered = 0;
  for (const auto& m : members_) {
    const auto f = static_cast<std::size_t>(m.format);
    if (!encoded[f]) {
      encoded[f] = true;
      Event e;
      e.type = EventType::message;
      e.conversation = id_;
      for (const auto& msg : commits) {
        e.message = msg;
        auto text = protocol::encode_event(m.format, e);
        if (!text.empty()) frames[f].push_back(std::make_shared<const std::string>(std::move(text)));
      }
    }
    if (!frames[f].empty()) {
      m.session->deliver_batch(frames[f]);
      delivered += frames[f].size();
    }
  }
  hub_.count_deliveries(delivered);
}

void Room::on_pending(const MessagePtr& m) {
  touch();
  Event e;
  e.type = EventType::message;
  e.conversation = id_;
  e.message = m;
  fanout(e);
}

void Room::on_update(const MessagePtr& m, EventType type) {
  touch();
  if (!cache_.empty() && m->seq >= cache_.front()->seq && m->seq <= cache_.back()->seq) {
    cache_[static_cast<std::size_t>(m->seq - cache_.front()->seq)] = m;
  }
  for (auto& early : early_) {
    if (early->seq == m->seq) early = m;
  }
  Event e;
  e.type = type;
  e.conversation = id_;
  e.message = m;
  e.seq = m->seq;
  fanout(e);
}

void Room::on_read(const User& user, Seq seq, std::vector<MessageId> message_ids) {
  touch();
  learn_read_seq(user.id, seq);
  Event e;
  e.type = EventType::read;
  e.conversation = id_;
  e.user = user;
  e.seq = seq;
  e.message_ids = std::move(message_ids);
  fanout(e);
}

void Room::on_typing(const User& user, bool on, const std::optional<std::string>& text) {
  Event e;
  e.type = EventType::typing;
  e.conversation = id_;
  e.user = user;
  e.on = on;
  e.typing_text = text;
  fanout(e, &user.id);
}

std::optional<Seq> Room::known_read_seq(const UserId& user) const {
  auto it = read_seqs_.find(user);
  if (it == read_seqs_.end()) return std::nullopt;
  return it->second;
}

void Room::learn_read_seq(const UserId& user, Seq seq) {
  auto& known = read_seqs_[user];
  known = std::max(known, seq);
}

std::optional<protocol::Reply> Room::page(std::optional<Seq> after, std::optional<Seq> before,
                                          std::size_t limit) const {
  if (state_ != State::ready) return std::nullopt;
  protocol::Reply r;
  r.type = protocol::ReplyType::history;
  r.conversation = id_;
  r.last_seq = last_seq_;
  if (cache_.empty()) {
    // Nothing cached: correct only if the conversation has no messages at all.
    if (last_seq_ != 0) return std::nullopt;
    return r;
  }
  if (cache_.back()->seq != last_seq_) return std::nullopt;  // behind: let storage answer
  const Seq first = cache_.front()->seq;
  const Seq last = cache_.back()->seq;
  auto index_of = [&](Seq s) { return static_cast<std::size_t>(s - first); };
  if (after) {
    // Messages seq > after: covered if after + 1 >= first (or nothing older exists).
    if (*after + 1 < first && !cache_from_start_) return std::nullopt;
    const Seq from = std::max(*after + 1, first);
    if (from > last) return r;
    const std::size_t begin = index_of(from);
    const std::size_t end = begin + std::min(limit, cache_.size() - begin);  // no overflow
    r.messages.assign(cache_.begin() + static_cast<std::ptrdiff_t>(begin),
                      cache_.begin() + static_cast<std::ptrdiff_t>(end));
    r.has_more = end < cache_.size();
    return r;
  }
  // The `limit` messages before `before` (or the latest).
  const Seq upto = before ? std::min(*before - 1, last) : last;  // last seq included
  if (upto < first) {
    if (cache_from_start_) return r;  // nothing that old exists
    return std::nullopt;
  }
  const std::size_t end = index_of(upto) + 1;
  const std::size_t begin = end > limit ? end - limit : 0;
  if (begin == 0 && !cache_from_start_ && end - begin < limit) return std::nullopt;
  r.messages.assign(cache_.begin() + static_cast<std::ptrdiff_t>(begin),
                    cache_.begin() + static_cast<std::ptrdiff_t>(end));
  // Older messages exist if the page does not start at the cache's first message, or if
  // it does and the cache does not reach back to the conversation's beginning.
  r.has_more = begin > 0 || !cache_from_start_;
  if (begin == 0 && cache_from_start_) r.has_more = false;
  return r;
}

void Room::fanout(const Event& event, const UserId* skip_user) {
  while (!commits_.empty() || !acks_.empty()) flush_commits(kMaxCommitsPerBatch);
  if (members_.empty()) return;
  std::array<Frame, protocol::kWireFormats> frames;
  std::array<bool, protocol::kWireFormats> encoded{};
  std::uint64_t delivered = 0;
  for (const auto& m : members_) {
    if (skip_user && m.user.id == *skip_user) continue;
    if (m.user.id == event.user.id && !protocol::echoes_to_actor(m.format, event)) continue;
    const auto f = static_cast<std::size_t>(m.format);
    if (!encoded[f]) {
      encoded[f] = true;
      auto text = protocol::encode_event(m.format, event);
      if (!text.empty()) frames[f] = std::make_shared<const std::string>(std::move(text));
    }
    if (frames[f]) {
      // Presence may wait a few ms to share a write (a join storm is O(members^2) of it).
      if (event.type == EventType::presence) {
        hub_.deliver_lazy(m.session, frames[f]);
      } else {
        m.session->deliver(frames[f]);
      }
      ++delivered;
    }
  }
  hub_.count_deliveries(delivered);
}

}  // namespace parley::hub
