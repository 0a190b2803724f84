// JSON views of the model for the REST API (the same message shape as the native protocol).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/model.hpp"
#include "store/store.hpp"

namespace parley::api {

boost::json::object conversation_to_json(const Conversation& c);
boost::json::object summary_to_json(const store::ConversationSummary& s);
boost::json::object message_json(const StoredMessage& m);
// Parses serialized JSON text stored in the model (meta, settings); {} when unparsable or
// holding a number out of double range.
boost::json::value parse_stored_json(const std::string& text);

}  // namespace parley::api
