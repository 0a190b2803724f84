// The Socket.IO chat vocabularies on the default namespace: radio-istic's (seed 002,
// radioistic_vocabulary.hpp: join-conversation, send-message, ...) and WebWOz's (seed 000,
// webwoz_vocabulary.hpp: join, participant_message, ...). An event name tells which
// vocabulary it belongs to, and the room join records that vocabulary (WireFormat) for the
// events the room later fans out. This file dispatches to them and holds what they share
// (errors, acknowledgements).
//
// Everything here returns Socket.IO packet text for namespace "/" (what an Engine.IO message
// packet carries, without its "4"). Pure functions: no I/O, no clocks; thread-safe.
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

// The frame of `event` for the room members that joined in `format`: an EVENT packet, or
// empty when that vocabulary has no such event (the member is then skipped).
std::string encode_event(WireFormat format, const Event& event);

// A decoded chat EVENT.
struct ChatRequest {
  WireFormat format = WireFormat::sio_messaging;  // the vocabulary the event belongs to
  std::string event;                              // its name, for errors
  Command command;  // op auth: identity/token as presented; others: the hub command
  // mark-as-read naming a message by id only: the front end resolves it to a seq.
  std::optional<std::string> message_id;
  // WoZ: the role the socket speaks as (from `join`, or the *_message event name); empty in
  // the messaging vocabulary.
  std::string role;
  // join-conversation {userId} on a socket that has not authenticated: who it claims to be.
  std::optional<std::string> claimed_user;
};

// Decodes an EVENT's arguments (args[0] is the event name; an ack callback, if any, is not
// among them) into names and shapes. Errc::not_found for a name no vocabulary has;
// Errc::invalid_argument when the payload's shape is wrong; `why` says what, in words fit
// for the client. Sizes and limits are the rules' (hub::Client checks them).
[[nodiscard]] Result<ChatRequest> decode_request(const boost::json::array& args, std::string& why);

// The event the sender receives for `reply` to `request` (authenticated,
// conversation-history, history, error), or empty when the vocabulary has none.
std::string encode_reply_event(const ChatRequest& request, const Reply& reply);

// The single argument of the acknowledgement for `reply`: {ok:true, ...} or
// {ok:false, code, message}.
boost::json::value ack_payload(const ChatRequest& request, const Reply& reply);

// `error` {message, code} (both vocabularies).
std::string encode_error_event(const boost::system::error_code& ec, std::string_view message);
boost::json::object error_object(const boost::system::error_code& ec, std::string_view message);

// `user-status` {userId, status, lastSeen?} (messaging vocabulary), sent to every socket
// of that vocabulary when a user authenticates or disconnects.
std::string encode_user_status(const User& user, bool online, std::optional<TimeMs> last_seen);

// The meta key under which a messaging-vocabulary sender's avatar travels with its messages.
inline constexpr std::string_view kAvatarMetaKey = "avatar";

}  // namespace parley::protocol::socketio
