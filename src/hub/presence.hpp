// Presence: who is online, on this server and on the others (through the bus), which
// sessions each user has here, and which sessions listen for every user's online/offline
// changes (with the vocabulary they speak). The one owner of that state: rooms and the hub
// ask it; nobody keeps a second count.
//
// Threads: thread-safe; one mutex guards everything, held only for map updates (never while
// delivering).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/model.hpp"
#include "hub/session.hpp"
#include "protocol/command.hpp"

namespace parley::hub {

class Presence {
 public:
  // A session authenticated as `user` (its Session::shared_user(): kept, not copied, while
  // it is the first connection). True when it is the user's first connection here.
  bool connected(const SessionPtr& session, std::shared_ptr<const User> user);
  // It ended (after connected()). True when it was the user's last connection here.
  bool disconnected(const SessionPtr& session, const UserId& user);

  // `session` gets every user's online/offline change, in `format`.
  void subscribe(const SessionPtr& session, protocol::WireFormat format);
  void unsubscribe(std::uint64_t session);
  // The live subscribers and their formats (dead ones are forgotten on the way).
  std::vector<std::pair<SessionPtr, protocol::WireFormat>> subscribers();

  // The live sessions of `user` on this server (any transport).
  std::vector<SessionPtr> sessions_of(const UserId& user) const;

  // Online here or on another server.
  bool is_online(const UserId& user) const;
  bool online_here(const UserId& user) const;
  bool online_elsewhere(const UserId& user) const;
  // Users with a connection here.
  std::size_t online_users() const;
  // Every user online anywhere, with what is known of them (name, avatar, role), by id.
  std::vector<User> online_list() const;

  // --- other servers (bus) ---------------------------------------------------------------
  // Another server says `user` went online or offline there. True when that changes whether
  // the user is online elsewhere (the news other servers' subscribers see).
  bool remote_status(const User& user, bool online);
  // Another server says `user` joined (or left) the room of `conversation`. True when that
  // changes whether the user is in that room elsewhere.
  bool remote_room(const ConversationId& conversation, const UserId& user, bool online);
  std::vector<UserId> remote_room_users(const ConversationId& conversation) const;
  bool remote_in_room(const ConversationId& conversation, const UserId& user) const;

 private:
  // One a user connected here: on the idle bench one a connection, so kept small. It shares
  // the first connection's User (immutable, Session::shared_user) and the map's key is a view
  // of that user's id, where it held a copy of the name, avatar, role and last_seen and the
  // key a copy of the id: the node was 200 bytes and two string blocks, now 88 and none; the
  // first session is held inline (a user has one connection as a rule) (issue 13).
  struct Local {
    std::shared_ptr<const User> user;            // what the first connection said (online_list)
    std::weak_ptr<Session> first;                // the first session still connected, or none
    std::vector<std::weak_ptr<Session>> others;  // any more
  };
  struct Remote {
    User user;
    int servers = 0;
  };
  struct Subscriber {
    std::weak_ptr<Session> session;
    protocol::WireFormat format;
  };

  mutable std::mutex mu_;  // guards every member below
  std::unordered_map<std::string_view, Local> local_;  // key: a view of Local::user->id
  std::unordered_map<UserId, Remote> remote_;
  // Per conversation: other servers where the user is a room member.
  std::unordered_map<ConversationId, std::unordered_map<UserId, int>> remote_rooms_;
  std::unordered_map<std::uint64_t, Subscriber> subscribers_;
};

}  // namespace parley::hub
