// A client's presence in the hub, whatever its transport: the native WebSocket session and
// the Socket.IO socket both derive from `Session`. The hub delivers room events to it as
// encoded frames; the session queues and writes them on its own strand.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/model.hpp"
#include "protocol/command.hpp"

namespace parley::hub {

// An encoded event, shared by every recipient of one fan-out (encoded once per format).
using Frame = std::shared_ptr<const std::string>;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session();
  virtual ~Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  std::uint64_t id() const noexcept { return id_; }

  // Queues `frame` for the client. Thread-safe and non-blocking; called by room strands.
  // A session whose queue is over its limit closes itself (slow consumer).
  virtual void deliver(const Frame& frame) = 0;
  // Starts writing what was queued while a DeliveryScope deferred it (see below).
  virtual void wake() {}
  // Queues `frame` for a write that may wait as long as a lull lasts (presence: see
  // hub/lull.hpp, PRESENCE_LULL_MS, up to 10x it in a mass reconnect); returns true when the session started no write for it and must be handed
  // to the lull, which calls end_lull(). A session without lazy writes delivers at once and
  // returns false. Thread-safe, like deliver.
  virtual bool deliver_lazy(const Frame& frame) {
    deliver(frame);
    return false;
  }
  // Writes what deliver_lazy queued (and anything queued since). Thread-safe.
  virtual void end_lull() {}
  // The hub holds (true) the client's input while its joins wait for a turn and releases it
  // (false) after, in that order, once each (hub::JoinGate): a transport that can stops
  // parsing what the client sends meanwhile (net::WsConnection::hold_input). Thread-safe.
  virtual void hold_input(bool held) { (void)held; }

  // Queues several frames in order; a session that writes them in one go overrides it.
  virtual void deliver_batch(std::span<const Frame> frames) {
    for (const auto& f : frames) deliver(f);
  }

  // The authenticated user; empty id before authentication.
  // Requires: read and written only on the session's strand (the hub reads it in
  // Hub::handle, which the session calls on its strand). A re-auth replaces it (set_user);
  // a reference from user() lasts until then.
  const User& user() const noexcept { return user_ ? *user_ : nobody(); }
  // The same, shared: the user is immutable, so Presence and a queued upsert keep this one
  // instead of copies of their own (issue 13: Presence's copy of the name, avatar and role
  // and the map key's copy of the id were 144 bytes and two string blocks a connection).
  const std::shared_ptr<const User>& shared_user() const noexcept { return user_; }
  void set_user(User user) { user_ = std::make_shared<const User>(std::move(user)); }
  bool is_authenticated() const noexcept { return user_ && !user_->id.empty(); }
  // The peer's address (for per-address limits in open mode, where users name themselves);
  // empty when unknown. Set by the transport before the session reaches the hub; read-only
  // after, so any thread may read it.
  const std::string& address() const noexcept { return address_; }
  void set_address(std::string address) { address_ = std::move(address); }
  // The strand the session's calls into the hub come from (Hub::handle continues there when
  // it must keep a session's commands in order); empty: the hub continues where it is. Fixed
  // before the session reaches the hub, so any thread may ask. Virtual, made on demand from
  // the transport's own typed strand: a stored any_io_executor was 56 bytes on every idle
  // connection for a value only room creation reads (issue 13).
  virtual boost::asio::any_io_executor strand() const { return {}; }

  // Rooms this session joined (or is joining), with the wire format it joined them in.
  // Thread-safe: the hub records a join on the session's strand and forgets a refused one on
  // the room's strand.
  // Records `conversation`; false when it is new and the session is in `max` rooms already.
  // `fresh` says whether it was not recorded before.
  bool note_join(const ConversationId& conversation, protocol::WireFormat format, std::size_t max,
                 bool& fresh);
  void forget_join(const ConversationId& conversation);
  // Whether the session is still in (or joining) `conversation`: false once it left or
  // disconnected. Thread-safe.
  bool is_joined(const ConversationId& conversation);
  // Every room recorded, forgotten at once (disconnect).
  std::unordered_map<ConversationId, protocol::WireFormat> take_joined();

 private:
  static const User& nobody() noexcept;

  static std::atomic<std::uint64_t> next_id_;
  const std::uint64_t id_;
  std::shared_ptr<const User> user_;  // null before authentication
  std::string address_;
  std::mutex joined_mu_;
  std::unordered_map<ConversationId, protocol::WireFormat> joined_;
};

using SessionPtr = std::shared_ptr<Session>;

// While one is alive on a thread, a session given frames defers starting its write until
// the scope ends, so that everything a batch of commits produces (the senders' acks and the
// fan-out) reaches each socket in one write. Scopes nest; only the outermost one wakes.
class DeliveryScope {
 public:
  DeliveryScope() : outer_(current_) {
    if (!outer_) current_ = this;
  }
  ~DeliveryScope() {
    if (outer_ || current_ != this) return;
    current_ = nullptr;
    for (const auto& s : deferred_) s->wake();
  }
  DeliveryScope(const DeliveryScope&) = delete;
  DeliveryScope& operator=(const DeliveryScope&) = delete;

  // For sessions: true when a scope on this thread took `session`, to wake it at its end.
  static bool defer(SessionPtr session) {
    if (!current_) return false;
    current_->deferred_.push_back(std::move(session));
    return true;
  }

 private:
  static thread_local DeliveryScope* current_;
  DeliveryScope* const outer_;
  std::vector<SessionPtr> deferred_;
};

}  // namespace parley::hub
