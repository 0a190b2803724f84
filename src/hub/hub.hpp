// The hub: live rooms and their members. Front ends hand it decoded Commands; it applies
// them through Storage (durable before visible) and fans events out to sessions.
//
// Threads: each room (the live fan-out group of one conversation) is owned by its own
// strand; its members, recent-message cache and presence are touched only there. Commits
// complete on the storage writer thread in seq order and are posted to the room's strand,
// so every member sees a conversation's messages in seq order. Public methods are
// thread-safe unless a Requires line says otherwise; callbacks run on arbitrary threads.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/error.hpp"
#include "hub/session.hpp"
#include "protocol/command.hpp"
#include "store/storage.hpp"

namespace parley::hub {

class Room;

class Hub {
 public:
  struct Options {
    std::size_t cache_messages = 256;      // recent messages kept per live room
    std::size_t default_history = 100;     // join/history without limit
    std::size_t max_history = 1000;        // largest page
    std::size_t max_joined_rooms = 1000;   // per session
    std::chrono::seconds idle_room_ttl{120};  // memberless rooms are dropped after this
  };
  struct Stats {
    std::uint64_t messages = 0;    // messages broadcast
    std::uint64_t deliveries = 0;  // frames handed to sessions
  };

  using ReplyFn = std::function<void(protocol::Reply)>;

  Hub(boost::asio::any_io_executor executor, store::Storage& storage, Options options);
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

  // Records that `user` connected (upserts the user in storage). Fire and forget.
  void user_connected(const User& user);

  // Posts a message as `msg.sender` (REST, bots): committed, then broadcast to the room.
  void post_message(NewMessage msg, std::function<void(Result<Appended>)> done);
  // Edits / deletes a message (REST); `by` set: only that sender's own message.
  void edit_message(ConversationId conversation, Seq seq, std::string content,
                    std::optional<UserId> by, std::function<void(Result<StoredMessage>)> done);
  void delete_message(ConversationId conversation, Seq seq, std::optional<UserId> by,
                      std::function<void(Result<StoredMessage>)> done);
  // A conversation was replaced or deleted behind the hub's back (REST PUT/DELETE): drops
  // the room's cache so the next join reads storage.
  void invalidate(const ConversationId& conversation);

  std::size_t active_rooms() const;
  Stats stats() const noexcept;
  store::Storage& storage() noexcept { return storage_; }
  const Options& options() const noexcept { return options_; }

  // Stops the idle-room sweeper. Idempotent.
  void stop();

 private:
  friend class Room;
  std::shared_ptr<Room> room(const ConversationId& id, bool create);
  void drop_room(const std::shared_ptr<Room>& room);
  void sweep();
  void apply_commit(const Appended& appended, std::optional<std::pair<SessionPtr, ReplyFn>> ack);
  void apply_update(const StoredMessage& m, protocol::EventType type);

  boost::asio::any_io_executor executor_;
  store::Storage& storage_;
  Options options_;

  mutable std::mutex rooms_mu_;  // guards rooms_
  std::unordered_map<ConversationId, std::shared_ptr<Room>> rooms_;

  struct Sweeper;
  std::shared_ptr<Sweeper> sweeper_;

  std::atomic<std::uint64_t> messages_{0};
  std::atomic<std::uint64_t> deliveries_{0};
};

}  // namespace parley::hub
