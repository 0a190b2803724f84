#include "api/json.hpp"

#include <boost/json/parse.hpp>

#include "protocol/json_fields.hpp"
#include "protocol/native/json_codec.hpp"

namespace parley::api {

namespace json = boost::json;

json::value parse_stored_json(const std::string& text) {
  if (text.empty() || text == "{}") return json::object();
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !protocol::all_finite(v)) return json::object();  // never written as `Infinity`
  return v;
}

json::object message_json(const StoredMessage& m) { return protocol::native::message_to_json(m); }

json::object conversation_to_json(const Conversation& c) {
  json::object o;
  o.emplace("id", c.id);
  o.emplace("title", c.title);
  o.emplace("created_at", format_rfc3339(c.created_at));
  o.emplace("updated_at", format_rfc3339(c.updated_at));
  o.emplace("message_count", c.message_count);
  o.emplace("last_seq", c.last_seq);
  o.emplace("is_active", c.is_active);
  json::array participants;
  for (const auto& p : c.participants) participants.emplace_back(p);
  o.emplace("participants", std::move(participants));
  o.emplace("settings", parse_stored_json(c.settings));
  o.emplace("meta", parse_stored_json(c.meta));
  return o;
}

json::object summary_to_json(const store::ConversationSummary& s) {
  auto o = conversation_to_json(s.conversation);
  if (s.last_message) {
    o.emplace("last_message", message_json(*s.last_message));
  } else {
    o.emplace("last_message", nullptr);
  }
  if (s.unread) o.emplace("unread", *s.unread);
  return o;
}

}  // namespace parley::api
