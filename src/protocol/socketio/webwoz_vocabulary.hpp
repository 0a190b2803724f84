// WebWOz's Socket.IO vocabulary (seed 000, tveigel/WoZChat backend/app.py): what its
// participant and wizard front ends emit, mapped onto Commands, and what they listen for,
// encoded from Replies and room Events. Names and shapes only (vocabulary.hpp).
// Pure functions: no I/O, no clocks; thread-safe.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "protocol/command.hpp"
#include "protocol/socketio/socketio_events.hpp"

namespace parley::protocol::socketio::webwoz {

// The request for event `name`, or nullopt when `name` is not one of this vocabulary's.
std::optional<Result<ChatRequest>> decode(std::string_view name, const boost::json::array& args,
                                          std::string& why);

// A room event for members that joined in this vocabulary; empty when it has none.
std::string encode_event(const Event& event);

// The event the sender gets for `reply`, or empty.
std::string encode_reply_event(const ChatRequest& request, const Reply& reply);

// A message as the app shows it.
boost::json::object message(const StoredMessage& m);

// A history reply's object (for the acknowledgement).
boost::json::object history_object(const Reply& reply);

}  // namespace parley::protocol::socketio::webwoz
