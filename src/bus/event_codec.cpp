#include "bus/event_codec.hpp"

#include <boost/json.hpp>
#include <memory>

namespace parley::bus {

namespace json = boost::json;
using protocol::Event;
using protocol::EventType;

namespace {

const char* type_name(EventType t) {
  switch (t) {
    case EventType::message: return "message";
    case EventType::edited: return "edited";
    case EventType::deleted: return "deleted";
    case EventType::read: return "read";
    case EventType::typing: return "typing";
    case EventType::presence: return "presence";
    case EventType::left:  // to one session: never published
      return "left";
  }
  return "";
}

std::optional<EventType> type_of(std::string_view s) {
  for (auto t : {EventType::message, EventType::edited, EventType::deleted, EventType::read,
                 EventType::typing, EventType::presence}) {
    if (s == type_name(t)) return t;
  }
  return std::nullopt;
}

std::string str(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                  : std::string();
}

std::int64_t num(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_int64() ? it->value().as_int64() : 0;
}

bool flag(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_bool() && it->value().as_bool();
}

constexpr std::string_view kChanged = "changed";

}  // namespace

std::string encode_bus_change(std::string_view origin, std::string_view conversation) {
  json::object o;
  o.emplace("origin", origin);
  o.emplace("type", kChanged);
  o.emplace("conversation", conversation);
  return json::serialize(o);
}

std::string encode_bus_event(std::string_view origin, const Event& e) {
  json::object o;
  o.emplace("origin", origin);
  o.emplace("type", type_name(e.type));
  o.emplace("conversation", e.conversation);
  if (e.message) {
    const auto& m = *e.message;
    json::object mo;
    mo.emplace("id", m.id);
    mo.emplace("conversation", m.conversation);
    mo.emplace("seq", m.seq);
    mo.emplace("sender_id", m.sender.id);
    mo.emplace("sender_name", m.sender.name);
    mo.emplace("sender_role", m.sender.role);
    mo.emplace("kind", m.kind);
    mo.emplace("content", m.content);
    mo.emplace("meta", m.meta);
    mo.emplace("created_at", m.created_at);
    if (m.edited_at) mo.emplace("edited_at", *m.edited_at);
    mo.emplace("deleted", m.deleted);
    if (m.client_id) mo.emplace("client_id", *m.client_id);
    o.emplace("message", std::move(mo));
  }
  json::object u;
  u.emplace("id", e.user.id);
  u.emplace("name", e.user.name);
  u.emplace("avatar", e.user.avatar);
  u.emplace("role", e.user.role);
  o.emplace("user", std::move(u));
  o.emplace("seq", e.seq);
  o.emplace("on", e.on);
  if (e.typing_text) o.emplace("typing_text", *e.typing_text);
  o.emplace("online", e.online);
  if (e.last_seen) o.emplace("last_seen", *e.last_seen);
  return json::serialize(o);
}

std::optional<BusEvent> decode_bus_event(std::string_view payload) {
  boost::system::error_code ec;
  auto v = json::parse(payload, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  if (str(o, "type") == kChanged) {
    BusEvent b;
    b.origin = str(o, "origin");
    b.changed = true;
    b.event.conversation = str(o, "conversation");
    if (b.event.conversation.empty()) return std::nullopt;
    return b;
  }
  auto type = type_of(str(o, "type"));
  if (!type) return std::nullopt;
  BusEvent b;
  b.origin = str(o, "origin");
  b.event.type = *type;
  b.event.conversation = str(o, "conversation");
  if (auto it = o.find("message"); it != o.end() && it->value().is_object()) {
    const auto& mo = it->value().as_object();
    auto m = std::make_shared<StoredMessage>();
    m->id = str(mo, "id");
    m->conversation = str(mo, "conversation");
    m->seq = num(mo, "seq");
    m->sender = Sender{str(mo, "sender_id"), str(mo, "sender_name"), str(mo, "sender_role")};
    m->kind = str(mo, "kind");
    m->content = str(mo, "content");
    m->meta = str(mo, "meta");
    m->created_at = num(mo, "created_at");
    if (mo.contains("edited_at")) m->edited_at = num(mo, "edited_at");
    m->deleted = flag(mo, "deleted");
    if (mo.contains("client_id")) m->client_id = str(mo, "client_id");
    b.event.message = std::move(m);
  }
  if (auto it = o.find("user"); it != o.end() && it->value().is_object()) {
    const auto& u = it->value().as_object();
    b.event.user.id = str(u, "id");
    b.event.user.name = str(u, "name");
    b.event.user.avatar = str(u, "avatar");
    b.event.user.role = str(u, "role");
  }
  b.event.seq = num(o, "seq");
  b.event.on = flag(o, "on");
  if (auto it = o.find("typing_text"); it != o.end() && it->value().is_string()) {
    b.event.typing_text = std::string(it->value().get_string());
  }
  b.event.online = flag(o, "online");
  if (o.contains("last_seen")) b.event.last_seen = num(o, "last_seen");
  if ((b.event.type == EventType::message || b.event.type == EventType::edited ||
       b.event.type == EventType::deleted) &&
      !b.event.message) {
    return std::nullopt;
  }
  return b;
}

}  // namespace parley::bus
