// What every Socket.IO chat vocabulary shares: how an event's argument object is read, how an
// EVENT packet is written, and the interface each app's vocabulary implements
// (radioistic_vocabulary.hpp, webwoz_vocabulary.hpp). A vocabulary maps names and shapes
// only: it builds a Command and reads Replies and Events; the rules (sizes, kinds, limits)
// live once in protocol/command_rules.hpp and the behaviour in the hub.
// Pure functions: no I/O, no clocks; thread-safe.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "protocol/command.hpp"

namespace parley::protocol::socketio {

struct ChatRequest;

namespace detail {

inline constexpr std::size_t kMaxRoleBytes = 64;
inline constexpr std::size_t kMaxNameBytes = 256;

// The argument object of an event. A bare string (or number) is taken as `string_key`
// (apps emit `socket.emit('join-conversation', id)` as often as the object form).
bool argument(const boost::json::array& args, std::string_view string_key,
              boost::json::object& out, std::string& why);
// Whether `id` is a valid conversation id; `why` names `key` when not.
bool valid_conversation(const std::string& id, std::string_view key, std::string& why);
// EVENT [name, arg] on namespace "/", as Engine.IO message text without its "4".
std::string event_packet(std::string_view name, boost::json::value arg);
std::string timestamp(TimeMs t);
// A message in the outage spool has no seq yet (0): sent as null, like the native protocol.
boost::json::value seq_value(Seq seq);
// The avatar a sender's message carries in its meta (kAvatarMetaKey), or null.
boost::json::value meta_avatar(const StoredMessage& m);

}  // namespace detail
}  // namespace parley::protocol::socketio
