#include "hub/hub.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <limits>

#include "core/log.hpp"
#include "hub/room.hpp"
#include "protocol/event_encoder.hpp"

namespace parley::hub {

namespace asio = boost::asio;
using protocol::Command;
using protocol::EventType;
using protocol::Op;
using protocol::Reply;
using protocol::ReplyType;

namespace {

Reply simple(ReplyType type) {
  Reply r;
  r.type = type;
  return r;
}

Reply error_reply(const boost::system::error_code& ec, std::string_view what) {
  std::string message(what);
  if (ec == Errc::unavailable) message += ": storage is unavailable";
  if (ec == Errc::not_found) message = "not found";
  if (ec == Errc::permission_denied) message = "only the sender may change a message";
  if (ec == Errc::conflict && what.starts_with("edit")) message = "the message was deleted";
  return Reply::make_error(ec, std::move(message));
}

}  // namespace

struct Hub::Sweeper {
  explicit Sweeper(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
  bool stopped = false;
};

Hub::Hub(asio::any_io_executor executor, store::Storage& storage, Options options)
    : executor_(std::move(executor)),
      storage_(storage),
      options_(options),
      sweeper_(std::make_shared<Sweeper>(executor_)) {
  sweep();
}

Hub::~Hub() { stop(); }

void Hub::stop() {
  asio::post(sweeper_->timer.get_executor(), [sw = sweeper_] {
    sw->stopped = true;
    sw->timer.cancel();
  });
}

std::shared_ptr<Room> Hub::room(const ConversationId& id, bool create) {
  std::lock_guard lock(rooms_mu_);
  auto it = rooms_.find(id);
  if (it != rooms_.end()) return it->second;
  if (!create) return nullptr;
  auto r = std::make_shared<Room>(*this, id, asio::make_strand(executor_));
  rooms_.emplace(id, r);
  return r;
}

void Hub::drop_room(const std::shared_ptr<Room>& r) {
  std::lock_guard lock(rooms_mu_);
  auto it = rooms_.find(r->id());
  if (it != rooms_.end() && it->second == r) rooms_.erase(it);
  r->mark_dropped();
}

void Hub::with_room(const ConversationId& id, std::function<void(Room&)> fn) {
  auto r = room(id, true);
  asio::post(r->strand(), [this, r, fn = std::move(fn)]() mutable {
    if (r->dropped()) {
      with_room(r->id(), std::move(fn));
      return;
    }
    fn(*r);
  });
}

// Memberless rooms keep their cache for idle_room_ttl (a quick rejoin is served from
// memory), then are dropped so memory follows the live rooms, not the conversations ever
// touched.
void Hub::sweep() {
  const auto period =
      std::max<std::chrono::seconds>(std::chrono::seconds(1), options_.idle_room_ttl / 4);
  sweeper_->timer.expires_after(period);
  sweeper_->timer.async_wait([this, sw = sweeper_](boost::system::error_code ec) {
    if (ec || sw->stopped) return;
    std::vector<std::shared_ptr<Room>> rooms;
    {
      std::lock_guard lock(rooms_mu_);
      rooms.reserve(rooms_.size());
      for (const auto& [id, r] : rooms_) rooms.push_back(r);
    }
    for (auto& r : rooms) {
      asio::post(r->strand(), [this, r] {
        if (!r->dropped() && r->idle_longer_than(options_.idle_room_ttl)) drop_room(r);
      });
    }
    sweep();
  });
}

std::size_t Hub::active_rooms() const {
  std::lock_guard lock(rooms_mu_);
  return rooms_.size();
}

Hub::Stats Hub::stats() const noexcept {
  return Stats{messages_.load(std::memory_order_relaxed),
               deliveries_.load(std::memory_order_relaxed)};
}

// --- Users -------------------------------------------------------------------------------

void Hub::authenticated(const SessionPtr& session) {
  const User user = session->user();
  storage_.write([user](store::Connection& c) {
    if (auto r = c.upsert_user(user); !r) {
      spdlog::warn("user {}: could not be stored: {}", user.id, r.error().message());
    }
  });
  bool first = false;
  {
    std::lock_guard lock(users_mu_);
    first = online_[user.id]++ == 0;
  }
  if (first) broadcast_user_status(user, true, std::nullopt);
}

void Hub::subscribe_user_status(const SessionPtr& session) {
  std::lock_guard lock(users_mu_);
  status_subscribers_[session->id()] = session;
}

bool Hub::is_online(const UserId& user) const {
  std::lock_guard lock(users_mu_);
  return online_.contains(user) || remote_online_.contains(user);
}

std::size_t Hub::online_users() const {
  std::lock_guard lock(users_mu_);
  return online_.size();
}

void Hub::broadcast_user_status(const User& user, bool online, std::optional<TimeMs> last_seen,
                                bool remote) {
  if (!remote && sink_) {
    protocol::Event e;
    e.type = EventType::presence;
    e.user = user;
    e.online = online;
    e.last_seen = last_seen;
    publish(e);
  }
  std::vector<SessionPtr> targets;
  {
    std::lock_guard lock(users_mu_);
    // Online anywhere is online: an offline here is not news while another server has them
    // (and a remote change is not news while this server has them).
    if (!online && !remote && remote_online_.contains(user.id)) return;
    if (remote && online_.contains(user.id)) return;
    for (auto it = status_subscribers_.begin(); it != status_subscribers_.end();) {
      if (auto s = it->second.lock()) {
        targets.push_back(std::move(s));
        ++it;
      } else {
        it = status_subscribers_.erase(it);
      }
    }
  }
  if (targets.empty()) return;
  protocol::Event e;
  e.type = EventType::presence;
  e.user = user;
  e.online = online;
  e.last_seen = last_seen;
  // Subscribers speak the messaging vocabulary (Socket.IO's user-status).
  auto text = protocol::encode_event(protocol::WireFormat::sio_messaging, e);
  if (text.empty()) return;
  auto frame = std::make_shared<const std::string>(std::move(text));
  for (auto& s : targets) s->deliver(frame);
  count_deliveries(targets.size());
}

void Hub::disconnect(const SessionPtr& session) {
  for (const auto& [conversation, format] : session->take_joined()) {
    if (auto r = room(conversation, false)) {
      asio::post(r->strand(), [r, session] {
        if (!r->dropped()) r->remove_member(session, true);
      });
    }
  }
  {
    std::lock_guard lock(users_mu_);
    status_subscribers_.erase(session->id());
  }
  if (!session->is_authenticated()) return;
  const User user = session->user();
  bool last = false;
  {
    std::lock_guard lock(users_mu_);
    auto it = online_.find(user.id);
    if (it != online_.end() && --it->second == 0) {
      online_.erase(it);
      last = true;
    }
  }
  if (last) {
    const TimeMs now = now_ms();
    storage_.write([id = user.id, now](store::Connection& c) {
      if (auto r = c.set_last_seen(id, now); !r) {
        spdlog::warn("user {}: last_seen not stored: {}", id, r.error().message());
      }
    });
    broadcast_user_status(user, false, now);
  }
}

// --- Commands ----------------------------------------------------------------------------

void Hub::handle(const SessionPtr& session, protocol::WireFormat format, Command cmd,
                 ReplyFn reply) {
  if (cmd.op == Op::ping) {
    reply(simple(ReplyType::pong));
    return;
  }
  if (cmd.op == Op::auth) {
    reply(Reply::make_error(Errc::invalid_argument, "already authenticated"));
    return;
  }
  if (!session->is_authenticated()) {
    reply(Reply::make_error(Errc::unauthenticated, "authenticate first"));
    return;
  }
  switch (cmd.op) {
    case Op::join:
      join(session, format, std::move(cmd), std::move(reply));
      return;

    case Op::leave: {
      session->forget_join(cmd.conversation);
      auto r = room(cmd.conversation, false);
      if (!r) {
        reply(simple(ReplyType::ok));
        return;
      }
      asio::post(r->strand(), [r, session, reply = std::move(reply)] {
        if (!r->dropped()) r->remove_member(session, false);
        reply(simple(ReplyType::ok));
      });
      return;
    }

    default:
      break;
  }
  User user = session->user();
  if (!options_.enforce_access || is_admin(user)) {
    apply(std::move(user), std::move(cmd), std::move(reply));
    return;
  }
  // Sends settle access on the loaded room (their order is kept: one strand, one queue);
  // the rest ask the live room, or storage when there is none.
  const bool load_room = cmd.op == Op::send;
  const ConversationId id = cmd.conversation;
  std::function<void(boost::system::error_code)> then =
      [this, user, cmd = std::move(cmd), reply = std::move(reply)](
          boost::system::error_code ec) mutable {
        if (ec) {
          if (cmd.op == Op::typing) return;  // typing has no reply
          reply(Reply::make_error(ec, ec == Errc::permission_denied
                                          ? "not a participant of this conversation"
                                          : "storage is unavailable"));
          return;
        }
        apply(std::move(user), std::move(cmd), std::move(reply));
      };
  authorize(user, id, load_room, std::move(then));
}

bool Hub::admits(const std::vector<UserId>& participants, const User& user) {
  return participants.empty() || is_admin(user) ||
         std::find(participants.begin(), participants.end(), user.id) != participants.end();
}

void Hub::authorize(const User& user, const ConversationId& id, bool load_room,
                    std::function<void(boost::system::error_code)> then) {
  if (!options_.enforce_access || is_admin(user)) {
    then({});
    return;
  }
  auto settle = [user, then](Room& r) mutable {
    r.when_ready([room = r.shared_from_this(), user = std::move(user),
                  then = std::move(then)]() mutable { then(room->access(user)); });
  };
  if (load_room) {
    with_room(id, std::move(settle));
    return;
  }
  if (auto r = room(id, false)) {
    asio::post(r->strand(), [this, r, user, id, settle = std::move(settle),
                             then = std::move(then)]() mutable {
      if (r->dropped()) {
        authorize(user, id, false, std::move(then));
        return;
      }
      settle(*r);
    });
    return;
  }
  storage_.read([id, user, then = std::move(then)](store::Connection& c) {
    auto conv = c.get_conversation(id);
    if (!conv) {
      // Unknown: an open room as far as access goes (a send would create it open).
      then(conv.error() == Errc::not_found ? boost::system::error_code() : conv.error());
      return;
    }
    then(admits(conv->participants, user) ? boost::system::error_code()
                                          : make_error_code(Errc::permission_denied));
  });
}

void Hub::apply(User user, Command cmd, ReplyFn reply) {
  switch (cmd.op) {
    case Op::send: {
      NewMessage m;
      m.conversation = std::move(cmd.conversation);
      m.sender = Sender{user.id, user.name, user.role};
      m.kind = std::move(cmd.kind);
      m.content = std::move(cmd.content);
      m.meta = std::move(cmd.meta);
      m.client_id = std::move(cmd.client_id);
      append(std::move(m), [this, reply = std::move(reply)](Result<Appended> r,
                                                             bool pending) mutable {
        if (!r) {
          reply(error_reply(r.error(), "send failed"));
          return;
        }
        // On the writer thread: one copy of the message, shared by the ack and the fan-out.
        auto stored = std::make_shared<const StoredMessage>(std::move(r->message));
        Reply ack = simple(ReplyType::ack);
        ack.message = stored;
        ack.duplicate = r->duplicate;
        ack.pending = pending;
        ack.conversation = stored->conversation;
        auto then = [reply = std::move(reply), ack = std::move(ack)]() mutable {
          reply(std::move(ack));
        };
        if (pending) {
          apply_pending(*stored, std::move(then));
        } else {
          apply_commit(std::move(stored), r->duplicate, std::move(then));
        }
      });
      return;
    }

    case Op::edit:
    case Op::remove: {
      const bool edit = cmd.op == Op::edit;
      storage_.write([this, edit, cmd = std::move(cmd), by = user.id,
                      reply = std::move(reply)](store::Connection& c) mutable {
        auto r = edit ? c.edit_message(cmd.conversation, cmd.seq, cmd.content, by, now_ms())
                      : c.delete_message(cmd.conversation, cmd.seq, by, now_ms());
        if (!r) {
          reply(error_reply(r.error(), edit ? "edit failed" : "delete failed"));
          return;
        }
        apply_update(*r, edit ? EventType::edited : EventType::deleted,
                     [reply] { reply(simple(ReplyType::ok)); });
      });
      return;
    }

    case Op::read: {
      mark_read(std::move(user), std::move(cmd.conversation), cmd.seq,
                [reply = std::move(reply)](Result<Seq> r) {
                  reply(r ? simple(ReplyType::ok) : error_reply(r.error(), "read failed"));
                });
      return;
    }

    case Op::typing: {
      if (sink_) {
        protocol::Event e;
        e.type = EventType::typing;
        e.conversation = cmd.conversation;
        e.user = user;
        e.on = cmd.on;
        publish(e);
      }
      auto r = room(cmd.conversation, false);
      if (!r) return;
      asio::post(r->strand(), [r, user, on = cmd.on] {
        if (!r->dropped()) r->on_typing(user, on);
      });
      return;
    }

    case Op::history: {
      const std::size_t limit =
          std::min(cmd.limit.value_or(options_.default_history), options_.max_history);
      auto r = room(cmd.conversation, false);
      if (!r) {
        read_page(cmd.conversation, cmd.after, cmd.before, limit, std::move(reply));
        return;
      }
      asio::post(r->strand(),
                 [this, r, cmd = std::move(cmd), limit, reply = std::move(reply)]() mutable {
                   auto page = r->page(cmd.after, cmd.before, limit);
                   if (page) {
                     reply(std::move(*page));
                     return;
                   }
                   read_page(cmd.conversation, cmd.after, cmd.before, limit, std::move(reply));
                 });
      return;
    }

    case Op::ping:
    case Op::auth:
    case Op::join:
    case Op::leave:
      return;  // handled by handle()
  }
}


void Hub::join(const SessionPtr& session, protocol::WireFormat format, Command cmd, ReplyFn reply) {
  bool fresh = false;
  if (!session->note_join(cmd.conversation, format, options_.max_joined_rooms, fresh)) {
    reply(Reply::make_error(Errc::invalid_argument, "too many joined conversations"));
    return;
  }
  const std::size_t limit =
      std::min(cmd.limit.value_or(options_.default_history), options_.max_history);
  const UserId user = session->user().id;
  User who = session->user();
  with_room(cmd.conversation, [this, session, format, since = cmd.since, limit, user, who, fresh,
                               reply = std::move(reply)](Room& r) mutable {
    r.when_ready([this, room = r.shared_from_this(), session, format, since, limit, user, who,
                  fresh, reply = std::move(reply)]() mutable {
      if (options_.enforce_access) {
        if (auto ec = room->access(who)) {
          // A refused join does not count toward max_joined_rooms (a join of a room the
          // session was already in keeps its entry: it is still a member).
          if (fresh) session->forget_join(room->id());
          reply(Reply::make_error(ec, ec == Errc::permission_denied
                                          ? "not a participant of this conversation"
                                          : "join failed: storage is unavailable"));
          return;
        }
      }
      room->add_member(session, format);
      if (room->note_member_user(user)) {
        storage_.write([id = room->id(), user](store::Connection& c) {
          (void)c.add_member(id, user, now_ms());
        });
      }
      auto finish = [this, room, user, reply = std::move(reply)](Reply page) mutable {
        if (page.type != ReplyType::history) {
          reply(std::move(page));
          return;
        }
        page.online = room->online_users();
        if (auto known = room->known_read_seq(user)) {
          page.read_seq = *known;
          reply(std::move(page));
          return;
        }
        storage_.read([room, user, page = std::move(page),
                       reply = std::move(reply)](store::Connection& c) mutable {
          auto seq = c.read_seq(room->id(), user);
          page.read_seq = seq ? *seq : 0;
          if (seq) {
            asio::post(room->strand(), [room, user, s = *seq] { room->learn_read_seq(user, s); });
          }
          reply(std::move(page));
        });
      };
      if (auto page = room->page(since, std::nullopt, limit)) {
        finish(std::move(*page));
        return;
      }
      read_page(room->id(), since, std::nullopt, limit,
                [room, finish = std::move(finish)](Reply page) mutable {
                  asio::post(room->strand(),
                             [page = std::move(page), finish = std::move(finish)]() mutable {
                               finish(std::move(page));
                             });
                });
    });
  });
}

void Hub::read_page(const ConversationId& id, std::optional<Seq> after, std::optional<Seq> before,
                    std::size_t limit, std::function<void(Reply)> done) {
  storage_.read([id, after, before, limit, done = std::move(done)](store::Connection& c) {
    auto conv = c.get_conversation(id);
    if (!conv) {
      done(error_reply(conv.error(), "history failed"));
      return;
    }
    Reply r = simple(ReplyType::history);
    r.conversation = id;
    r.last_seq = conv->last_seq;
    Result<std::vector<StoredMessage>> msgs =
        after ? c.read_after(id, *after, limit + 1)
              : c.read_before(id, before.value_or(std::numeric_limits<Seq>::max()), limit + 1);
    if (!msgs) {
      done(error_reply(msgs.error(), "history failed"));
      return;
    }
    auto& v = *msgs;
    if (v.size() > limit) {
      r.has_more = true;
      if (after) {
        v.pop_back();
      } else {
        v.erase(v.begin());
      }
    }
    r.messages.reserve(v.size());
    for (auto& m : v) r.messages.push_back(std::make_shared<const StoredMessage>(std::move(m)));
    done(std::move(r));
  });
}

// --- Commit path ---------------------------------------------------------------------------

void Hub::apply_commit(const Appended& appended, std::function<void()> then) {
  if (appended.duplicate) {
    then();
    return;
  }
  apply_commit(std::make_shared<const StoredMessage>(appended.message), false, std::move(then));
}

void Hub::apply_commit(std::shared_ptr<const StoredMessage> m, bool duplicate,
                       std::function<void()> then) {
  if (duplicate) {
    then();
    return;
  }
  messages_.fetch_add(1, std::memory_order_relaxed);
  if (sink_) {
    protocol::Event e;
    e.type = EventType::message;
    e.conversation = m->conversation;
    e.message = m;
    publish(e);
  }
  auto r = room(m->conversation, false);
  if (!r) {
    then();
    return;
  }
  asio::post(r->strand(), [r, m = std::move(m), then = std::move(then)]() mutable {
    if (r->dropped()) {
      then();
    } else {
      r->on_local_commit(m, std::move(then));
    }
  });
}

void Hub::apply_update(const StoredMessage& msg, EventType type, std::function<void()> then) {
  auto m = std::make_shared<const StoredMessage>(msg);
  if (sink_) {
    protocol::Event e;
    e.type = type;
    e.conversation = m->conversation;
    e.message = m;
    e.seq = m->seq;
    publish(e);
  }
  auto r = room(msg.conversation, false);
  if (!r) {
    then();
    return;
  }
  asio::post(r->strand(), [r, m = std::move(m), type, then = std::move(then)] {
    then();
    if (!r->dropped()) r->on_update(m, type);
  });
}

void Hub::append(NewMessage msg, std::function<void(Result<Appended>, bool pending)> done) {
  if (appender_) {
    appender_(std::move(msg), std::move(done));
    return;
  }
  storage_.append(std::move(msg),
                  [done = std::move(done)](Result<Appended> r) { done(std::move(r), false); });
}

// A spooled message (the database is down): the sender gets its ack and the room sees it,
// without a seq and without entering the cache; its final seq follows from apply_replayed.
void Hub::apply_pending(const StoredMessage& msg, std::function<void()> then) {
  auto r = room(msg.conversation, false);
  if (!r) {
    then();
    return;
  }
  auto m = std::make_shared<const StoredMessage>(msg);
  asio::post(r->strand(), [r, m = std::move(m), then = std::move(then)] {
    then();
    if (!r->dropped()) r->on_pending(m);
  });
}

void Hub::post_message(NewMessage msg, std::function<void(Result<Appended>)> done) {
  append(std::move(msg), [this, done = std::move(done)](Result<Appended> r, bool pending) {
    if (!r) {
      done(r.error());
      return;
    }
    if (pending) {  // spooled: seq 0 tells the caller (REST answers seq null, pending true)
      apply_pending(r->message, [done, r] { done(*r); });
      return;
    }
    if (!r->duplicate) {
      // A poster takes part in the conversation: it shows in their inbox (?user=).
      storage_.write([conv = r->message.conversation, user = r->message.sender.id](
                         store::Connection& c) { (void)c.add_member(conv, user, now_ms()); });
    }
    apply_commit(*r, [done, r] { done(*r); });
  });
}

void Hub::mark_read(User user, ConversationId conversation, Seq seq,
                    std::function<void(Result<Seq>)> done) {
  storage_.write([this, user = std::move(user), conversation = std::move(conversation), seq,
                  done = std::move(done)](store::Connection& c) mutable {
    auto r = c.mark_read(conversation, user.id, seq);
    if (!r) {
      done(r.error());
      return;
    }
    const Seq read = *r;
    if (sink_) {
      protocol::Event e;
      e.type = EventType::read;
      e.conversation = conversation;
      e.user = user;
      e.seq = read;
      publish(e);
    }
    auto room_ptr = room(conversation, false);
    if (!room_ptr) {
      done(read);
      return;
    }
    // The reader's answer first, then the room's read event (as for a send's ack).
    asio::post(room_ptr->strand(), [room_ptr, user, read, done = std::move(done)] {
      done(read);
      if (!room_ptr->dropped()) room_ptr->on_read(user, read);
    });
  });
}

void Hub::edit_message(ConversationId conversation, Seq seq, std::string content,
                       std::optional<UserId> by, std::function<void(Result<StoredMessage>)> done) {
  storage_.write([this, conversation = std::move(conversation), seq, content = std::move(content),
                  by = std::move(by), done = std::move(done)](store::Connection& c) {
    auto r = c.edit_message(conversation, seq, content, by, now_ms());
    if (!r) {
      done(r.error());
      return;
    }
    apply_update(*r, EventType::edited, [done, r] { done(*r); });
  });
}

void Hub::delete_message(ConversationId conversation, Seq seq, std::optional<UserId> by,
                         std::function<void(Result<StoredMessage>)> done) {
  storage_.write([this, conversation = std::move(conversation), seq, by = std::move(by),
                  done = std::move(done)](store::Connection& c) {
    auto r = c.delete_message(conversation, seq, by, now_ms());
    if (!r) {
      done(r.error());
      return;
    }
    apply_update(*r, EventType::deleted, [done, r] { done(*r); });
  });
}

void Hub::invalidate(const ConversationId& conversation) {
  if (auto r = room(conversation, false)) {
    asio::post(r->strand(), [this, r] {
      if (r->dropped()) return;
      r->invalidate();
      // Reload at once where access is enforced: members the new participants list no
      // longer admits are removed when it arrives.
      if (options_.enforce_access && !r->empty()) r->when_ready([] {});
    });
  }
}

bool Hub::has_room(const ConversationId& conversation) const {
  std::lock_guard lock(rooms_mu_);
  return rooms_.contains(conversation);
}

void Hub::pruned(const ConversationId& conversation, Seq first_kept) {
  if (auto r = room(conversation, false)) {
    asio::post(r->strand(), [r, first_kept] {
      if (!r->dropped()) r->drop_before(first_kept);
    });
  }
}

// --- Other servers (bus) ------------------------------------------------------------------

void Hub::deliver_remote(protocol::Event e) {
  if (e.type == EventType::presence && e.conversation.empty()) {
    {
      std::lock_guard lock(users_mu_);
      if (e.online) {
        ++remote_online_[e.user.id];
      } else if (auto it = remote_online_.find(e.user.id);
                 it != remote_online_.end() && --it->second <= 0) {
        remote_online_.erase(it);
      }
    }
    broadcast_user_status(e.user, e.online, e.last_seen, true);
    return;
  }
  if (e.type == EventType::presence) {
    std::lock_guard lock(users_mu_);
    auto& users = remote_rooms_[e.conversation];
    int& n = users[e.user.id];
    n += e.online ? 1 : -1;
    const bool changed = e.online ? n == 1 : n <= 0;
    if (n <= 0) users.erase(e.user.id);
    if (users.empty()) remote_rooms_.erase(e.conversation);
    if (!changed) return;
  }
  auto r = room(e.conversation, false);
  if (!r) return;  // nobody here follows it; storage has the committed part
  asio::post(r->strand(), [r, e = std::move(e)] {
    if (r->dropped()) return;
    switch (e.type) {
      case EventType::message:
        r->on_commit(e.message);
        return;
      case EventType::edited:
      case EventType::deleted:
        r->on_update(e.message, e.type);
        return;
      case EventType::read:
        r->on_read(e.user, e.seq);
        return;
      case EventType::typing:
        r->on_typing(e.user, e.on);
        return;
      case EventType::presence:
        r->on_remote_presence(e.user, e.online, e.last_seen);
        return;
    }
  });
}

std::vector<UserId> Hub::remote_room_users(const ConversationId& conversation) const {
  std::vector<UserId> users;
  std::lock_guard lock(users_mu_);
  if (auto it = remote_rooms_.find(conversation); it != remote_rooms_.end()) {
    for (const auto& [user, n] : it->second) users.push_back(user);
  }
  return users;
}

bool Hub::remote_in_room(const ConversationId& conversation, const UserId& user) const {
  std::lock_guard lock(users_mu_);
  auto it = remote_rooms_.find(conversation);
  return it != remote_rooms_.end() && it->second.contains(user);
}

void Hub::catch_up() {
  std::vector<std::shared_ptr<Room>> rooms;
  {
    std::lock_guard lock(rooms_mu_);
    for (const auto& [id, r] : rooms_) rooms.push_back(r);
  }
  for (auto& r : rooms) {
    asio::post(r->strand(), [r] {
      if (!r->dropped()) r->fill_gap();
    });
  }
}

}  // namespace parley::hub
