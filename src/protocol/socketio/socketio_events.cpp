#include "protocol/socketio/socketio_events.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/time.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/socketio/radioistic_vocabulary.hpp"
#include "protocol/socketio/socketio_packet.hpp"
#include "protocol/socketio/vocabulary.hpp"
#include "protocol/socketio/webwoz_vocabulary.hpp"

namespace parley::protocol::socketio {
namespace json = boost::json;

using detail::event_packet;

Result<ChatRequest> decode_request(const json::array& args, std::string& why) {
  if (args.empty() || !args[0].is_string()) {
    why = "an event name is required";
    return Errc::invalid_argument;
  }
  const std::string_view name = args[0].get_string();
  if (auto r = radioistic::decode(name, args, why)) return std::move(*r);
  if (auto r = webwoz::decode(name, args, why)) return std::move(*r);
  why = "unknown event";
  return Errc::not_found;
}

std::string encode_event(WireFormat format, const Event& e) {
  switch (format) {
    case WireFormat::sio_messaging:
      return radioistic::encode_event(e);
    case WireFormat::sio_woz:
      return webwoz::encode_event(e);
    case WireFormat::native:
      return {};
  }
  return {};
}

json::object error_object(const boost::system::error_code& ec, std::string_view message) {
  json::object o;
  o.emplace("message", message);
  o.emplace("code", wire_code(ec));
  return o;
}

std::string encode_error_event(const boost::system::error_code& ec, std::string_view message) {
  return event_packet("error", error_object(ec, message));
}

std::string encode_reply_event(const ChatRequest& req, const Reply& r) {
  if (r.type == ReplyType::error) {
    json::object o = error_object(r.error, r.error_message);
    o.emplace("event", req.event);
    return event_packet("error", std::move(o));
  }
  return req.format == WireFormat::sio_woz ? webwoz::encode_reply_event(req, r)
                                           : radioistic::encode_reply_event(req, r);
}

json::value ack_payload(const ChatRequest& req, const Reply& r) {
  json::object o;
  if (r.type == ReplyType::error) {
    o.emplace("ok", false);
    o.emplace("code", wire_code(r.error));
    o.emplace("message", r.error_message);
    return o;
  }
  if (r.type == ReplyType::history) {
    o = req.format == WireFormat::sio_woz ? webwoz::history_object(r)
                                          : radioistic::history_object(r);
    o.emplace("ok", true);
    return o;
  }
  o.emplace("ok", true);
  if (r.type == ReplyType::auth_ok) {
    o.emplace("userId", r.user.id);
    o.emplace("name", r.user.name);
  } else if (r.type == ReplyType::ack && r.message) {
    o.emplace("id", r.message->id);
    o.emplace("seq", detail::seq_value(r.message->seq));
    o.emplace("timestamp", detail::timestamp(r.message->created_at));
    if (req.format == WireFormat::sio_woz) {
      o.emplace("room", r.message->conversation);
    } else {
      o.emplace("conversationId", r.message->conversation);
    }
    if (r.duplicate) o.emplace("duplicate", true);
    if (r.pending) o.emplace("pending", true);
  }
  return o;
}

std::string encode_user_status(const User& user, bool online, std::optional<TimeMs> last_seen) {
  json::object o;
  o.emplace("userId", user.id);
  o.emplace("status", online ? "online" : "offline");
  if (!online && last_seen) o.emplace("lastSeen", detail::timestamp(*last_seen));
  return event_packet("user-status", std::move(o));
}

}  // namespace parley::protocol::socketio
