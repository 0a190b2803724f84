// WebWOz's Socket.IO vocabulary (seed 000, tveigel/WoZChat backend/app.py at 5a94a67): what
// its participant and wizard front ends emit, mapped onto Commands, and what they listen
// for, encoded from Replies and room Events. Names and shapes only (vocabulary.hpp); the
// contract, event by event, is docs/socketio.md "WebWOz".
//
//   join {room, type}          -> join (all history); the joiner gets one new_message per
//                                 stored message (encode_reply_events), a wizard then
//                                 templates and bot_status_changed (the transport sends
//                                 those: encode_templates, encode_bot_status)
//   leave {room}               -> leave
//   participant_typing {room, text} -> typing with its text; the others get
//                                 participant_is_typing {text, room}
//   participant_message {room, text} -> send as "participant"; the room gets new_message
//   wizard_response {room, text}     -> send as "wizard"; the room gets new_message (the
//                                 app at HEAD forgot the participant: Parley does not)
// `room` defaults to "default_room" as the app's data.get("room", "default_room").
// Parley's extensions, invisible to the app's clients: acknowledgements, join {since,
// limit}, clientMsgId, and the older names wizard_message / bot_message.
// Pure functions: no I/O, no clocks; thread-safe.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "protocol/command.hpp"
#include "protocol/socketio/socketio_events.hpp"

namespace parley::protocol::socketio::webwoz {

// The request for event `name`, or nullopt when `name` is not one of this vocabulary's.
// ChatRequest::role is the role the socket speaks as: the join's `type` ("participant",
// "wizard"; "unknown" when absent, as the app logs it), or the sending event's.
std::optional<Result<ChatRequest>> decode(std::string_view name, const boost::json::array& args,
                                          std::string& why);

// A room event for members that joined in this vocabulary; empty when it has none.
std::string encode_event(const Event& event);

// The events the sender gets for `reply`, in order (a join's history: one new_message per
// message); empty when none.
std::vector<std::string> encode_reply_events(const ChatRequest& request, const Reply& reply);
// The same as one packet, when there is at most one (errors; see encode_reply_events).
std::string encode_reply_event(const ChatRequest& request, const Reply& reply);

// Whether a join's joiner is a wizard (the app then sends templates and the bot status).
bool is_wizard_join(const ChatRequest& request);
// `templates` {category: {key: value}}.
std::string encode_templates(std::span<const Template> templates);
// `bot_status_changed` as the app sends it to a joining wizard when it has no bot.
std::string encode_bot_status(const ConversationId& room);

// A message as the app shows it: {sender, text, timestamp, room}.
boost::json::object message(const StoredMessage& m);

// A history reply's object (for the acknowledgement): {room, messages, hasMore, lastSeq}.
boost::json::object history_object(const Reply& reply);

}  // namespace parley::protocol::socketio::webwoz
