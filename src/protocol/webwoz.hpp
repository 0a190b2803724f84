// WebWOz's shapes (seed 000, tveigel/WoZChat backend/app.py at 5a94a67): its messages,
// timestamps and templates, as its Socket.IO events and HTTP routes carry them. Shared by
// the WebWOz vocabulary (Socket.IO) and the WebWOz HTTP routes (api/webwoz_routes), so
// both show a message the same way. Pure functions; thread-safe. docs/socketio.md, "WebWOz".
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/model.hpp"

namespace parley::protocol::webwoz {

// The app's utc_now(): datetime.now(timezone.utc).isoformat(timespec="seconds"),
// "2026-12-06T04:30:00+00:00" (seconds truncated, as Python does).
std::string timestamp(TimeMs t);

// Who a message is from in the app's terms: "participant", "wizard" or "bot" (the role it
// was sent as); a message from another Parley client shows its role, else its user id.
std::string sender(const StoredMessage& m);

// A stored message as the app keeps it: {sender, text, timestamp}.
boost::json::object message(const StoredMessage& m);
// ... and as its Socket.IO events carry it: {sender, text, timestamp, room}.
boost::json::object room_message(const StoredMessage& m);

// The app's TEMPLATES object, in order: {category: {key: value}}, and {name: value} for a
// top-level entry (empty key) of the older flat style.
boost::json::object templates_object(std::span<const Template> templates);

// The other way, for templates.json and the app's defaults: the app's _normalise (an
// object of strings only is the old flat style and becomes category "General"), then every
// member an object of strings (a category) or a string (a top-level entry). invalid_argument
// with `why` otherwise.
[[nodiscard]] Result<std::vector<Template>> templates_from_json(const boost::json::value& v,
                                                                std::string& why);

// json.dumps(value, indent=2, ensure_ascii=False), as the app's export writes it.
std::string pretty(const boost::json::value& v);

}  // namespace parley::protocol::webwoz
