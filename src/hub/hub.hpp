// The hub: live rooms and their members. Front ends hand it decoded Commands; it applies
// them through Storage (durable before visible) and fans events out to sessions.
//
// Threads: each room (the live fan-out group of one conversation) is owned by its own
// strand; its members, recent-message cache and presence are touched only there. Commits
// complete on the storage writer thread in seq order and are posted to the room's strand,
// so every member sees a conversation's messages in seq order. Public methods are
// thread-safe unless a Requires line says otherwise; callbacks run on arbitrary threads.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "bus/broker.hpp"
#include "core/client_rate_limiter.hpp"
#include "core/error.hpp"
#include "hub/archive.hpp"
#include "hub/join_gate.hpp"
#include "hub/lull.hpp"
#include "hub/presence.hpp"
#include "hub/sent_index.hpp"
#include "hub/session.hpp"
#include "protocol/command.hpp"
#include "protocol/command_rules.hpp"
#include "store/appender.hpp"
#include "store/storage.hpp"

namespace parley::hub {

class Room;

class Hub {
 public:
  struct Options {
    std::size_t cache_messages = 256;         // recent messages kept per live room
    // Content, meta and history limits: the one set every endpoint checks commands against
    // (protocol::check) and pages by.
    protocol::Limits limits;
    std::size_t max_joined_rooms = 1000;      // per session
    // Joins worked on at once, server-wide; more wait their turn (round robin over
    // sessions), so a mass reconnect does not queue its whole work ahead of other clients'
    // sends (JoinGate). 0: unlimited.
    std::size_t joins_in_flight = 64;
    // Paces the gate below joins_in_flight while the I/O threads' queue makes a probe wait
    // longer than this (JoinGate::Pacing). 0: a fixed limit.
    std::chrono::microseconds join_lag_target{2000};
    // How long presence frames may wait to share a write (Lull).
    std::chrono::milliseconds presence_lull{10};
    std::chrono::seconds idle_room_ttl{120};  // memberless rooms are dropped after this
    // Token mode: a conversation whose participants list is non-empty admits only those
    // users (and role "admin") to join, history, send, edit, delete, read and typing.
    bool enforce_access = false;
    // Conversations one client may create a minute (a bucket of this many, refilled over a
    // minute): by joining or sending to a new id, by REST, by the seed apps' routes. Per user
    // where access is enforced (token mode), per peer address in open mode (users name
    // themselves); admins unmetered. 0: unlimited. Each creation is a durable write: one
    // client made 10,000 in 7.3 s by joining new ids (issue 14).
    double conversations_per_min = 0;
    // Token mode: only admins (and the app's back end, with ADMIN_TOKEN) create
    // conversations; a user's join or send naming an unknown id is answered as for a
    // conversation that does not admit them (forbidden), so it tells nothing.
    bool admins_create_only = false;
  };
  struct Stats {
    std::uint64_t messages = 0;    // messages broadcast
    std::uint64_t deliveries = 0;  // frames handed to sessions
  };

  using ReplyFn = std::function<void(protocol::Reply)>;

  // `appender`: the outage spool in front of `storage` (PostgreSQL), or null to append to
  // `storage` directly. Both must outlive the hub.
  Hub(boost::asio::any_io_executor executor, store::Storage& storage, Options options,
      store::Appender* appender = nullptr);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Applies `cmd` for `session`; `reply` gets exactly one Reply (none for typing), on any
  // thread. `auth` is the front end's business (it authenticates, then set_user()s) and
  // must not reach here. Commands other than ping need an authenticated session
  // (Errc::unauthenticated otherwise).
  // Requires: called on the session's strand.
  void handle(const SessionPtr& session, protocol::WireFormat format, protocol::Command cmd,
              ReplyFn reply);

  // The session is gone: leaves every room it joined (presence offline where it was the
  // user's last connection) and records the user's last_seen.
  // Requires: called on the session's strand, once.
  void disconnect(const SessionPtr& session);

  // The session authenticated (its user is set): stores the user (fire and forget) and
  // counts the connection for the user's online status.
  // Requires: called on the session's strand, once per session.
  void authenticated(const SessionPtr& session);
  // Subscribes the session to every user's online/offline changes, encoded in `format`
  // (radio-istic's `user-status-change`): Event{presence} with an empty conversation.
  void subscribe_user_status(const SessionPtr& session,
                             protocol::WireFormat format = protocol::WireFormat::sio_messaging);
  // Whether the user has an authenticated connection to this server or, with a bus, another.
  bool is_online(const UserId& user) const { return presence_.is_online(user); }
  // Users with a connection to this server.
  std::size_t online_users() const { return presence_.online_users(); }
  // Presence: online users everywhere with what is known of them, a user's sessions here.
  const Presence& presence() const noexcept { return presence_; }

  // Posts a message as `msg.sender` (REST, bots): committed, then broadcast to the room.
  void post_message(NewMessage msg, std::function<void(Result<Appended>)> done);
  // Edits / deletes a message (REST); `by` set: only that sender's own message.
  void edit_message(ConversationId conversation, Seq seq, std::string content,
                    std::optional<UserId> by, std::function<void(Result<StoredMessage>)> done);
  void delete_message(ConversationId conversation, Seq seq, std::optional<UserId> by,
                      std::function<void(Result<StoredMessage>)> done);
  // Raises `user`'s read seq in `conversation` to `seq` (never lowers it, never past the
  // last seq): stored, then the live room's members get the read event. `done` gets the
  // resulting read seq, on any thread (REST and vocabularies that mark reads by message id).
  // `message_ids`: the messages the reader named (radio-istic), carried to the read event.
  void mark_read(User user, ConversationId conversation, Seq seq,
                 std::function<void(Result<Seq>)> done, std::vector<MessageId> message_ids = {});
  // A conversation was changed behind the live room's back (by another process: the change
  // log, ChangeFollower): drops the room's cache so the next join reads storage; where
  // access is enforced the room reloads its participants at once and members no longer
  // admitted leave it. Any thread.
  void invalidate(const ConversationId& conversation);
  // This server changed a conversation in the store (REST PATCH, PUT, DELETE; Archive):
  // invalidate() here and, with a bus, on every other server, so a participants PATCH
  // evicts the members it no longer admits wherever they are connected (each server only
  // has its own sessions in its rooms). Any thread; call after the change committed.
  void changed(const ConversationId& conversation);
  // Retention removed the messages of `conversation` before seq `first_kept` (the oldest
  // message still stored; last_seq + 1 when none is left): the live room's cache drops
  // them, so joins are not served removed history. Any thread.
  void pruned(const ConversationId& conversation, Seq first_kept);
  // Whether the conversation has a live room here (one that may cache messages).
  bool has_room(const ConversationId& conversation) const;

  // One conversation created by `user` from `address` (Options::conversations_per_min): 0
  // when allowed (and counted), else the whole seconds until it is (for Retry-After). Admins
  // (role "admin") are not counted; a caller with ADMIN_TOKEN does not ask.
  long take_creation(const User& user, const std::string& address);

  // Whether `user` may see and use a conversation with these participants (an empty list
  // is an open room; role "admin" is trusted only where enforce_access is set).
  static bool admits(const std::vector<UserId>& participants, const User& user);
  static bool is_admin(const User& user) { return user.role == "admin"; }

  // What /health says about the outage spool: nullopt when there is none.
  using SpoolState = store::Appender::Backlog;
  std::optional<SpoolState> spool_state() const {
    if (!appender_) return std::nullopt;
    return appender_->backlog();
  }

  // Several servers (bus/, REDIS_URL): every event that originates here (committed messages,
  // edits, deletes, reads, typing, room presence, user status) is published on `broker`;
  // other servers' events come back through it to deliver_remote, and a lost subscription
  // makes every live room catch up from storage by seq. Call once, before serving; stop the
  // broker before the hub goes. Without a bus nothing changes.
  void attach_bus(bus::Broker& broker);
  bool has_bus() const noexcept { return broker_ != nullptr; }
  // An event published by another server: delivered to the live room (messages in seq
  // order, gaps filled from storage), or to user-status subscribers. Any thread.
  void deliver_remote(protocol::Event event);
  // The bus was lost and is back: every live room catches up from storage by seq.
  void catch_up();

  std::size_t active_rooms() const;
  Stats stats() const noexcept;
  // Stored conversations for the endpoints that do not join (REST, the apps' HTTP routes,
  // retention): the one access rule and the one pager. Endpoints reach storage only here.
  Archive& archive() noexcept { return archive_; }
  const Options& options() const noexcept { return options_; }

  // Stops the idle-room sweeper. Idempotent.
  void stop();

 private:
  friend class Room;
  std::shared_ptr<Room> room(const ConversationId& id, bool create);
  void drop_room(const std::shared_ptr<Room>& room);
  void sweep();
  // Runs `fn` on the room's strand, creating the room if needed (retried on a fresh room
  // if the sweeper dropped this one meanwhile).
  void with_room(const ConversationId& id, std::function<void(Room&)> fn);
  // After a commit (on the writer thread): runs `then` (the ack), then fans the message out.
  void apply_commit(const Appended& appended, std::function<void()> then);
  // The same with the message already shared (the ack holds the same copy).
  void apply_commit(std::shared_ptr<const StoredMessage> m, bool duplicate,
                    std::function<void()> then);
  void apply_update(const StoredMessage& m, protocol::EventType type, std::function<void()> then);
  void append(NewMessage msg, std::function<void(Result<Appended>, bool pending)> done);
  void apply_pending(const StoredMessage& m, std::function<void()> then);
  void read_page(const ConversationId& id, std::optional<Seq> after, std::optional<Seq> before,
                 std::size_t limit, std::function<void(protocol::Reply)> done);
  void join(const SessionPtr& session, protocol::WireFormat format, protocol::Command cmd,
            User user, ReplyFn reply);
  // A join or send naming a conversation with no live room here may create it: the creation
  // rules (Options::admins_create_only, conversations_per_min) are applied first. `then`
  // gets a refusal (an error Reply) or nullopt to go on, on the session's strand (where the
  // session's later commands come from, so they stay behind it). The look-up, and the
  // creation of an admitted new id, run on the storage writer, in order: commands gated
  // behind it find the conversation and are not charged again. One that exists but does not
  // admit the user costs a creation too: refused joins of hidden ids and creations of new
  // ones answer alike. Requires: on the session's strand (reads its user).
  void gate_creation(const SessionPtr& session, const ConversationId& id,
                     std::function<void(std::optional<protocol::Reply>)> then);
  // handle() for send, edit, delete, read, typing and history, once past the gate.
  void handle_in_conversation(User user, protocol::Command cmd, ReplyFn reply);
  struct Join;
  // The join once the gate let it in: the room, then finish_join.
  void start_join(ConversationId id, const std::shared_ptr<Join>& join);
  // Requires: on the room's strand.
  void finish_join(const std::shared_ptr<Room>& room, const std::shared_ptr<Join>& join);
  static bool reconcile(const Room& room, protocol::Reply& page, std::optional<Seq> since,
                        std::size_t limit);
  // Applies a conversation command (send, edit, delete, read, typing, history) as `user`,
  // once access is settled. Runs on any thread.
  void apply(User user, protocol::Command cmd, ReplyFn reply);
  // Calls `then` with an empty code when `user` may use conversation `id`, else
  // Errc::permission_denied (or Errc::unavailable when the participants cannot be read).
  // `load_room`: settle it on the (created, loaded) room, so calls from one session stay in
  // order; else ask the live room if there is one, storage if not.
  void authorize(const User& user, const ConversationId& id, bool load_room,
                 std::function<void(boost::system::error_code)> then);
  // Queues a frame that may wait for the lull (presence) on `session`.
  void deliver_lazy(const SessionPtr& session, const Frame& frame) {
    if (session->deliver_lazy(frame)) lull_->add(session);
  }
  void count_deliveries(std::uint64_t n) noexcept {
    deliveries_.fetch_add(n, std::memory_order_relaxed);
  }

  void broadcast_user_status(const User& user, bool online, std::optional<TimeMs> last_seen,
                             bool remote = false);
  void publish(const protocol::Event& e) const;

  boost::asio::any_io_executor executor_;
  store::Storage& storage_;  // the hub's own writes; rooms load and fill gaps through it
  Options options_;
  Archive archive_;
  store::Appender* appender_ = nullptr;  // the outage spool, if any
  bus::Broker* broker_ = nullptr;
  std::string origin_;  // this server's id on the bus (its own events come back: skipped)
  std::function<SpoolState()> spool_state_;

  mutable std::mutex rooms_mu_;  // guards rooms_
  std::unordered_map<ConversationId, std::shared_ptr<Room>> rooms_;

  Presence presence_;  // who is online, here and elsewhere; status subscribers
  SentIndex sent_;     // recent client ids, for resends during an outage (with a spool)

  struct Sweeper;
  std::shared_ptr<Sweeper> sweeper_;

  ClientRateLimiter creations_;  // Options::conversations_per_min
  std::shared_ptr<JoinGate> join_gate_;  // Options::joins_in_flight
  std::shared_ptr<Lull> lull_;           // Options::presence_lull
  std::atomic<std::uint64_t> messages_{0};
  std::atomic<std::uint64_t> deliveries_{0};
};

}  // namespace parley::hub
