#include "hub/hub.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <limits>

#include "bus/event_codec.hpp"
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

Hub::Hub(asio::any_io_executor executor, store::Storage& storage, Options options,
         store::Appender* appender)
    : executor_(std::move(executor)),
      storage_(storage),
      options_(options),
      archive_(*this, storage, options.enforce_access),
      appender_(appender),
      sweeper_(std::make_shared<Sweeper>(executor_)),
      creations_(options.conversations_per_min / 60.0, options.conversations_per_min),
      join_gate_(std::make_shared<JoinGate>(
          executor_, options.joins_in_flight, std::chrono::milliseconds(250),
          JoinGate::Pacing{.lag_target = options.join_lag_target})),
      lull_(std::make_shared<Lull>(executor_, options.presence_lull)) {
  // A spooled message is stored at last: fan it out with its final seq (unless another
  // message under its client id was stored first: nothing new then).
  if (appender_) appender_->set_on_stored([this](const Appended& a) { apply_commit(a, [] {}); });
  sweep();
}

Hub::~Hub() { stop(); }

void Hub::stop() {
  lull_->stop();
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
  // The session's own User, shared (not copied) by the queued upsert and by Presence; the
  // upserts of a login burst are written together (Storage::upsert_user, issue 13).
  std::shared_ptr<const User> user = session->shared_user();
  storage_.upsert_user(user);
  if (presence_.connected(session, user)) broadcast_user_status(*user, true, std::nullopt);
}

void Hub::subscribe_user_status(const SessionPtr& session, protocol::WireFormat format) {
  presence_.subscribe(session, format);
}

void Hub::broadcast_user_status(const User& user, bool online, std::optional<TimeMs> last_seen,
                                bool remote) {
  if (!remote && broker_) {
    protocol::Event e;
    e.type = EventType::presence;
    e.user = user;
    e.online = online;
    e.last_seen = last_seen;
    publish(e);
  }
  // Online anywhere is online: an offline here is not news while another server has them
  // (and a remote change is not news while this server has them).
  if (!online && !remote && presence_.online_elsewhere(user.id)) return;
  if (remote && presence_.online_here(user.id)) return;
  auto targets = presence_.subscribers();
  if (targets.empty()) return;
  protocol::Event e;
  e.type = EventType::presence;
  e.user = user;
  e.online = online;
  e.last_seen = last_seen;
  // Encoded once per vocabulary among the subscribers.
  std::array<Frame, protocol::kWireFormats> frames;
  std::array<bool, protocol::kWireFormats> encoded{};
  std::uint64_t delivered = 0;
  for (auto& [s, format] : targets) {
    const auto f = static_cast<std::size_t>(format);
    if (!encoded[f]) {
      encoded[f] = true;
      auto text = protocol::encode_event(format, e);
      if (!text.empty()) frames[f] = std::make_shared<const std::string>(std::move(text));
    }
    if (!frames[f]) continue;
    deliver_lazy(s, frames[f]);
    ++delivered;
  }
  // Vocabularies that follow each change with the whole list (radio-istic's online-users,
  // broadcastOnlineUsers in websocket-server.js) get it next, encoded once per format.
  std::array<Frame, protocol::kWireFormats> lists;
  std::array<bool, protocol::kWireFormats> listed{};
  std::optional<std::vector<User>> everyone;
  for (auto& [s, format] : targets) {
    const auto f = static_cast<std::size_t>(format);
    if (!listed[f]) {
      listed[f] = true;
      if (!everyone) everyone = presence_.online_list();
      auto text = protocol::encode_online_users(format, *everyone);
      if (!text.empty()) lists[f] = std::make_shared<const std::string>(std::move(text));
    }
    if (!lists[f]) continue;
    s->deliver(lists[f]);
    ++delivered;
  }
  count_deliveries(delivered);
}

void Hub::disconnect(const SessionPtr& session) {
  join_gate_->forget(session->id());  // its joins still waiting for a turn never start
  for (const auto& [conversation, format] : session->take_joined()) {
    if (auto r = room(conversation, false)) {
      asio::post(r->strand(), [r, session] {
        if (!r->dropped()) r->remove_member(session, true);
      });
    }
  }
  presence_.unsubscribe(session->id());
  if (!session->is_authenticated()) return;
  const User user = session->user();
  if (presence_.disconnected(session, user.id)) {
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
    case Op::send: {
      // Both create the conversation they name when it does not exist.
      const ConversationId id = cmd.conversation;
      gate_creation(session, id,
                    [this, session, format, user = session->user(), cmd = std::move(cmd),
                     reply = std::move(reply)](std::optional<Reply> refused) mutable {
                      if (refused) {
                        reply(std::move(*refused));
                      } else if (cmd.op == Op::join) {
                        join(session, format, std::move(cmd), std::move(user), std::move(reply));
                      } else {
                        handle_in_conversation(std::move(user), std::move(cmd), std::move(reply));
                      }
                    });
      return;
    }

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
  handle_in_conversation(session->user(), std::move(cmd), std::move(reply));
}

void Hub::handle_in_conversation(User user, Command cmd, ReplyFn reply) {
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

long Hub::take_creation(const User& user, const std::string& address) {
  if (!creations_.enabled() || is_admin(user)) return 0;
  // Open mode takes the user as stated: only the address stands for the client there.
  return creations_.take(options_.enforce_access ? "user:" + user.id : "ip:" + address);
}

void Hub::gate_creation(const SessionPtr& session, const ConversationId& id,
                        std::function<void(std::optional<Reply>)> then) {
  const User& user = session->user();
  // A live room's conversation exists (or is being created by whoever loaded it).
  if ((!options_.admins_create_only && !creations_.enabled()) || is_admin(user) ||
      room(id, false)) {
    then(std::nullopt);
    return;
  }
  // The decision goes back to the session's strand: a command the session sends after this
  // one either meets no room yet and is gated behind it, or comes after its continuation
  // (which creates the room) on the strand.
  auto decided = [strand = session->strand(),
                  then = std::move(then)](std::optional<Reply> refused) mutable {
    if (!strand) {
      then(std::move(refused));
      return;
    }
    asio::post(strand, [then = std::move(then), refused = std::move(refused)]() mutable {
      then(std::move(refused));
    });
  };
  storage_.write([this, id, user, address = session->address(),
                  then = std::move(decided)](store::Connection& c) mutable {
    auto conv = c.get_conversation(id);
    if (!conv && conv.error() != Errc::not_found) {
      then(std::nullopt);  // storage trouble: the join or send itself reports it
      return;
    }
    const bool missing = !conv;
    if (!missing && (!options_.enforce_access || admits(conv->participants, user))) {
      then(std::nullopt);
      return;
    }
    if (missing && options_.admins_create_only) {
      // The words of a join refused by a hidden conversation (handle_in_conversation, join).
      then(Reply::make_error(Errc::permission_denied, "not a participant of this conversation"));
      return;
    }
    if (const long wait = take_creation(user, address); wait > 0) {
      then(Reply::make_error(Errc::rate_limited, "too many conversations created; retry after " +
                                                     std::to_string(wait) + " s"));
      return;
    }
    // Created here, in its turn on the writer: the session's next commands naming it, gated
    // behind this one, find it and are not charged again.
    if (missing) (void)c.ensure_conversation(id, now_ms());
    then(std::nullopt);  // a creation, or a join that the room refuses (hidden)
  });
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
          if (r->duplicate) {
            then();  // a resend: the room has it already
          } else {
            apply_pending(*stored, std::move(then));
          }
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
      mark_read(
          std::move(user), std::move(cmd.conversation), cmd.seq,
          [reply = std::move(reply)](Result<Seq> r) {
            reply(r ? simple(ReplyType::ok) : error_reply(r.error(), "read failed"));
          },
          std::move(cmd.message_ids));
      return;
    }

    case Op::typing: {
      if (broker_) {
        protocol::Event e;
        e.type = EventType::typing;
        e.conversation = cmd.conversation;
        e.user = user;
        e.on = cmd.on;
        e.typing_text = cmd.typing_text;
        publish(e);
      }
      auto r = room(cmd.conversation, false);
      if (!r) return;
      asio::post(r->strand(), [r, user, on = cmd.on, text = std::move(cmd.typing_text)] {
        if (!r->dropped()) r->on_typing(user, on, text);
      });
      return;
    }

    case Op::history: {
      const std::size_t limit =
          protocol::history_limit(cmd.limit, options_.limits);
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


// A join answers with history, then the session becomes a member, in that order on the
// room's strand: the page is made final there (trimmed to, or completed up to, the last seq
// the room has fanned out) and handed to `reply` before add_member, so every live message
// after it is one the page does not hold. Transports queue a reply's bytes synchronously,
// as they queue deliveries, so the client sees the history, then the live ones: nothing
// lost, nothing twice, for any `since` (issue 14: an 800-behind re-join under 4 writers had
// 11 of 30 joins with repeats when the member was added before the storage read).
struct Hub::Join {
  SessionPtr session;
  protocol::WireFormat format;
  std::optional<Seq> since;
  std::size_t limit = 0;
  User user;  // captured on the session's strand, when the join was decided
  bool fresh = false;
  ReplyFn reply;
  std::optional<Reply> page;    // read from storage, to reconcile with the room
  std::optional<Seq> read_seq;  // the user's, once known
  int rounds = 0;
  JoinGate::Ticket ticket;  // its slot in the join gate, freed with the Join
};

void Hub::join(const SessionPtr& session, protocol::WireFormat format, Command cmd, User user,
               ReplyFn reply) {
  bool fresh = false;
  if (!session->note_join(cmd.conversation, format, options_.max_joined_rooms, fresh)) {
    reply(Reply::make_error(Errc::invalid_argument, "too many joined conversations"));
    return;
  }
  auto join = std::make_shared<Join>();
  join->session = session;
  join->format = format;
  join->since = cmd.since;
  join->limit = protocol::history_limit(cmd.limit, options_.limits);
  join->user = std::move(user);
  join->fresh = fresh;
  join->reply = std::move(reply);
  join_gate_->enter(
      session->id(),
      [this, join, id = std::move(cmd.conversation)](JoinGate::Ticket ticket) mutable {
        join->ticket = std::move(ticket);
        start_join(std::move(id), join);
      },
      // While this session's joins wait, what it sends after them waits unparsed.
      [weak = std::weak_ptr<Session>(session)](bool waiting) {
        if (auto s = weak.lock()) s->hold_input(waiting);
      });
}

void Hub::start_join(ConversationId id, const std::shared_ptr<Join>& join) {
  with_room(id, [this, join](Room& r) {
    r.when_ready([this, room = r.shared_from_this(), join] {
      if (options_.enforce_access) {
        if (auto ec = room->access(join->user)) {
          // A refused join does not count toward max_joined_rooms (a join of a room the
          // session was already in keeps its entry: it is still a member).
          if (join->fresh) join->session->forget_join(room->id());
          join->reply(Reply::make_error(ec, ec == Errc::permission_denied
                                                ? "not a participant of this conversation"
                                                : "join failed: storage is unavailable"));
          return;
        }
      }
      finish_join(room, join);
    });
  });
}

void Hub::finish_join(const std::shared_ptr<Room>& room, const std::shared_ptr<Join>& join) {
  const UserId& user = join->user.id;
  // 1. The user's read seq, from the room if it learned it, else from storage.
  if (!join->read_seq) {
    if (auto known = room->known_read_seq(user)) {
      join->read_seq = *known;
    } else {
      storage_.read([this, room, join](store::Connection& c) {
        auto seq = c.read_seq(room->id(), join->user.id);
        asio::post(room->strand(), [this, room, join, seq = seq ? *seq : Seq{0}, ok = !!seq] {
          if (ok) room->learn_read_seq(join->user.id, seq);
          join->read_seq = seq;
          finish_join(room, join);
        });
      });
      return;
    }
  }
  // 2. The page: from the room's cache when it covers it (consistent with what the room
  // fanned out by construction), else from storage, reconciled with the room below.
  std::optional<Reply> page = room->page(join->since, std::nullopt, join->limit);
  if (!page && join->page) {
    page = std::move(join->page);
    join->page.reset();
    // A room that could not load (storage was down) knows no seqs: its page stands as read.
    if (page->type == ReplyType::history && room->is_ready() &&
        !reconcile(*room, *page, join->since, join->limit)) {
      page.reset();  // the room moved on further than its cache reaches: read again
    }
  }
  if (!page) {
    if (++join->rounds > 8) {
      join->reply(Reply::make_error(Errc::unavailable, "join failed: the room is too busy"));
      if (join->fresh) join->session->forget_join(room->id());
      return;
    }
    read_page(room->id(), join->since, std::nullopt, join->limit,
              [this, room, join](Reply p) mutable {
                // A join creates its conversation (the room's load), so "not found" here
                // means the creation failed (a full disk): say what it is.
                if (p.type == ReplyType::error && p.error == Errc::not_found) {
                  p = error_reply(Errc::unavailable, "join failed");
                }
                asio::post(room->strand(), [this, room, join, p = std::move(p)]() mutable {
                  join->page = std::move(p);
                  finish_join(room, join);
                });
              });
    return;
  }
  if (page->type != ReplyType::history) {  // storage failed: no membership, say why
    if (join->fresh) join->session->forget_join(room->id());
    join->reply(std::move(*page));
    return;
  }
  // 3. Answer, then become a member: every message after the page is fanned out to it.
  page->read_seq = *join->read_seq;
  page->online = room->online_users();
  if (!std::binary_search(page->online.begin(), page->online.end(), user)) {
    page->online.insert(std::lower_bound(page->online.begin(), page->online.end(), user), user);
  }
  join->reply(std::move(*page));
  // Left or gone while the join was under way (its leave or disconnect found no member to
  // remove yet): answered, but not a member.
  if (!join->session->is_joined(room->id())) return;
  room->add_member(join->session, join->user, join->format);
  if (room->note_member_user(user)) storage_.add_member(room->id(), user, now_ms());
}

// A page read from storage, made to end exactly where the room's fan-out stands
// (room.last_seq()): messages past it are dropped (the room has not fanned them out yet;
// they reach the new member live), and messages the room fanned out after the storage read
// are added from its cache. False when the cache does not reach back far enough.
bool Hub::reconcile(const Room& room, Reply& page, std::optional<Seq> since, std::size_t limit) {
  const Seq fanned = room.last_seq();
  auto& msgs = page.messages;
  while (!msgs.empty() && msgs.back()->seq > fanned) {
    msgs.pop_back();
  }
  page.last_seq = fanned;
  if (page.has_more && since) return true;  // the client pages on; live ones follow fanned
  const Seq upto = !msgs.empty() ? msgs.back()->seq : since.value_or(0);
  if (upto >= fanned) return true;
  if (msgs.empty() && !since && page.has_more) return true;
  auto extra = room.page(upto, std::nullopt, static_cast<std::size_t>(fanned - upto));
  if (!extra) return false;
  for (auto& m : extra->messages) msgs.push_back(std::move(m));
  if (msgs.size() > limit) {
    if (since) {
      msgs.resize(limit);  // the rest is paged for; live ones follow fanned
    } else {
      msgs.erase(msgs.begin(), msgs.begin() + static_cast<std::ptrdiff_t>(msgs.size() - limit));
    }
    page.has_more = true;
  }
  return true;
}

void Hub::read_page(const ConversationId& id, std::optional<Seq> after, std::optional<Seq> before,
                    std::size_t limit, std::function<void(Reply)> done) {
  // The archive's pager: the one every endpoint's history page comes from.
  archive_.read_page(id, Archive::PageQuery{after, before, limit},
                     [id, done = std::move(done)](Result<Archive::Page> p) {
                       if (!p) {
                         done(error_reply(p.error(), "history failed"));
                         return;
                       }
                       Reply r = simple(ReplyType::history);
                       r.conversation = id;
                       r.last_seq = p->conversation.last_seq;
                       r.has_more = p->has_more;
                       r.messages.reserve(p->messages.size());
                       for (auto& m : p->messages) {
                         r.messages.push_back(std::make_shared<const StoredMessage>(std::move(m)));
                       }
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
  if (broker_) {
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
  if (broker_) {
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
    // With an outage spool, a resend must find what its client id already names while the
    // database cannot be asked: the stored message (its ack was lost), or the pending one.
    auto key = SentIndex::key_of(msg.conversation, msg.sender.id, msg.client_id);
    if (!key) {
      appender_->append(std::move(msg), std::move(done));
      return;
    }
    appender_->append(std::move(msg), [this, key = std::move(*key), done = std::move(done)](
                                  Result<Appended> r, bool pending) {
      if (r && pending) {
        if (auto known = sent_.find(key); known && known->id != r->message.id) {
          // Its spool record replays as a duplicate of `known` and is dropped then.
          Appended a;
          a.message = *known;
          a.duplicate = true;
          done(std::move(a), known->seq == 0);
          return;
        }
      }
      if (r) sent_.remember(key, std::make_shared<const StoredMessage>(r->message));
      done(std::move(r), pending);
    });
    return;
  }
  storage_.append(std::move(msg),
                  [done = std::move(done)](Result<Appended> r) { done(std::move(r), false); });
}

// A spooled message (the database is down): the sender gets its ack and the room sees it,
// without a seq and without entering the cache; its final seq follows from the appender's stored callback.
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
      if (r->duplicate) {
        done(*r);
      } else {
        apply_pending(r->message, [done, r] { done(*r); });
      }
      return;
    }
    if (!r->duplicate) {
      // A poster takes part in the conversation: it shows in their inbox (?user=).
      storage_.add_member(r->message.conversation, r->message.sender.id, now_ms());
    }
    apply_commit(*r, [done, r] { done(*r); });
  });
}

void Hub::mark_read(User user, ConversationId conversation, Seq seq,
                    std::function<void(Result<Seq>)> done, std::vector<MessageId> message_ids) {
  storage_.write([this, user = std::move(user), conversation = std::move(conversation), seq,
                  done = std::move(done),
                  ids = std::move(message_ids)](store::Connection& c) mutable {
    auto r = c.mark_read(conversation, user.id, seq);
    if (!r) {
      done(r.error());
      return;
    }
    const Seq read = *r;
    if (broker_) {
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
    asio::post(room_ptr->strand(),
               [room_ptr, user, read, done = std::move(done), ids = std::move(ids)]() mutable {
                 done(read);
                 if (!room_ptr->dropped()) room_ptr->on_read(user, read, std::move(ids));
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

void Hub::changed(const ConversationId& conversation) {
  invalidate(conversation);
  if (broker_) broker_->publish(bus::encode_bus_change(origin_, conversation));
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

void Hub::attach_bus(bus::Broker& broker) {
  broker_ = &broker;
  origin_ = new_short_id();
  bus::Broker::Handlers handlers;
  handlers.on_message = [this](std::string_view payload) {
    auto be = bus::decode_bus_event(payload);
    if (!be || be->origin == origin_) return;
    if (be->changed) {
      invalidate(be->event.conversation);
      return;
    }
    deliver_remote(std::move(be->event));
  };
  handlers.on_resubscribed = [this] { catch_up(); };
  broker.start(std::move(handlers));
}

void Hub::publish(const protocol::Event& e) const {
  if (broker_) broker_->publish(bus::encode_bus_event(origin_, e));
}

void Hub::deliver_remote(protocol::Event e) {
  if (e.type == EventType::presence && e.conversation.empty()) {
    if (presence_.remote_status(e.user, e.online)) {
      broadcast_user_status(e.user, e.online, e.last_seen, true);
    }
    return;
  }
  if (e.type == EventType::presence &&
      !presence_.remote_room(e.conversation, e.user.id, e.online)) {
    return;
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
        r->on_typing(e.user, e.on, e.typing_text);
        return;
      case EventType::presence:
        r->on_remote_presence(e.user, e.online, e.last_seen);
        return;
      case EventType::left:  // to one session, never published
        return;
    }
  });
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
