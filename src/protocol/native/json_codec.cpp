#include "protocol/native/json_codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/time.hpp"
#include "protocol/json_fields.hpp"

namespace parley::protocol::native {
namespace json = boost::json;

namespace {

struct OpName {
  std::string_view name;
  Op op;
};
constexpr OpName kOps[] = {
    {"auth", Op::auth},       {"join", Op::join},     {"leave", Op::leave}, {"send", Op::send},
    {"edit", Op::edit},       {"delete", Op::remove}, {"read", Op::read},   {"typing", Op::typing},
    {"history", Op::history}, {"ping", Op::ping},
};

// The id's form is a rule (check()), not a shape: only its presence and type are read here.
bool conversation_field(JsonFields& f, Command& c, std::string&) {
  return f.str("conversation", c.conversation, true);
}

}  // namespace

Result<Decoded> decode(std::string_view frame, json::value& ref, std::string& why) {
  ref = nullptr;
  boost::system::error_code ec;
  json::value v = json::parse(frame, ec);
  if (ec) {
    why = "malformed JSON: " + ec.message();
    return Errc::invalid_argument;
  }
  if (!v.is_object()) {
    why = "a request must be a JSON object";
    return Errc::invalid_argument;
  }
  if (!all_finite(v)) {  // it would be echoed (ref, meta) as `Infinity`, which is not JSON
    why = "a number is out of range";
    return Errc::invalid_argument;
  }
  const json::object& o = v.get_object();
  if (const auto* r = o.if_contains("ref"); r && (r->is_string() || r->is_number())) ref = *r;
  const auto* opv = o.if_contains("op");
  if (!opv || !opv->is_string()) {
    why = "op is required";
    return Errc::invalid_argument;
  }
  const std::string_view op_text = opv->get_string();
  const OpName* found = nullptr;
  for (const auto& entry : kOps) {
    if (entry.name == op_text) found = &entry;
  }
  if (!found) {
    why = "unknown op";
    return Errc::invalid_argument;
  }

  Decoded d;
  Command& c = d.command;
  c.op = found->op;
  JsonFields f(o, why);
  std::optional<std::int64_t> n;
  auto seq_field = [&](std::string_view key, bool required) -> bool {
    n.reset();
    if (!f.integer(key, n, required ? 1 : 0)) return false;
    if (required && !n) {
      why = std::string(key) + " is required";
      return false;
    }
    return true;
  };
  switch (c.op) {
    case Op::auth:
      if (!f.str("token", c.token) || !f.str("user", c.identity.id) ||
          !f.str("name", c.identity.name) || !f.str("role", c.identity.role) ||
          !f.str("avatar", c.identity.avatar)) {
        return Errc::invalid_argument;
      }
      break;
    case Op::join:
      if (!conversation_field(f, c, why) || !seq_field("since", false))
        return Errc::invalid_argument;
      c.since = n;
      if (!seq_field("limit", false)) return Errc::invalid_argument;
      if (n) c.limit = static_cast<std::size_t>(*n);
      break;
    case Op::leave:
      if (!conversation_field(f, c, why)) return Errc::invalid_argument;
      break;
    case Op::send: {
      if (!conversation_field(f, c, why) || !f.str("content", c.content, true) ||
          !f.str("kind", c.kind) || !f.object_text("meta", c.meta) ||
          !f.opt_str("client_id", c.client_id)) {
        return Errc::invalid_argument;
      }
      break;
    }
    case Op::edit:
      if (!conversation_field(f, c, why) || !seq_field("seq", true) ||
          !f.str("content", c.content, true)) {
        return Errc::invalid_argument;
      }
      c.seq = *n;
      break;
    case Op::remove:
    case Op::read:
      if (!conversation_field(f, c, why) || !seq_field("seq", c.op == Op::remove)) {
        return Errc::invalid_argument;
      }
      if (c.op == Op::read && !n) {
        why = "seq is required";
        return Errc::invalid_argument;
      }
      c.seq = *n;
      break;
    case Op::typing:
      if (!conversation_field(f, c, why) || !f.boolean("on", c.on)) return Errc::invalid_argument;
      break;
    case Op::history:
      if (!conversation_field(f, c, why) || !seq_field("before", false)) {
        return Errc::invalid_argument;
      }
      c.before = n;
      if (!seq_field("after", false)) return Errc::invalid_argument;
      c.after = n;
      if (!seq_field("limit", false)) return Errc::invalid_argument;
      if (n) c.limit = static_cast<std::size_t>(*n);
      break;
    case Op::ping:
      break;
  }
  d.ref = ref;
  return d;
}

json::object message_to_json(const StoredMessage& m) {
  json::object o;
  o.reserve(11);
  o.emplace("id", m.id);
  o.emplace("conversation", m.conversation);
  if (m.seq == 0) {
    // In the outage spool: no seq yet; a `message` event with the same id brings it.
    o.emplace("seq", nullptr);
    o.emplace("pending", true);
  } else {
    o.emplace("seq", m.seq);
  }
  json::object sender;
  sender.emplace("id", m.sender.id);
  sender.emplace("name", m.sender.name);
  sender.emplace("role", m.sender.role);
  o.emplace("sender", std::move(sender));
  o.emplace("kind", m.kind);
  o.emplace("content", m.content);
  if (m.meta.empty() || m.meta == "{}") {
    o.emplace("meta", json::object());
  } else {
    boost::system::error_code ec;
    auto meta = json::parse(m.meta, ec);
    // Stored by an older version unchecked: an infinite number would be written `Infinity`.
    const bool usable = !ec && all_finite(meta);
    o.emplace("meta", usable ? std::move(meta) : json::value(json::object()));
  }
  o.emplace("created_at", format_rfc3339(m.created_at));
  if (m.edited_at) {
    o.emplace("edited_at", format_rfc3339(*m.edited_at));
  } else {
    o.emplace("edited_at", nullptr);
  }
  o.emplace("deleted", m.deleted);
  if (m.client_id) {
    o.emplace("client_id", *m.client_id);
  } else {
    o.emplace("client_id", nullptr);
  }
  return o;
}

namespace {

json::object with_ref(std::string_view type, const json::value& ref) {
  json::object o;
  o.emplace("type", type);
  if (!ref.is_null()) o.emplace("ref", ref);
  return o;
}

}  // namespace

std::string encode_error(const json::value& ref, const boost::system::error_code& ec,
                         std::string_view message) {
  auto o = with_ref("error", ref);
  o.emplace("code", wire_code(ec));
  o.emplace("message", message);
  return json::serialize(o);
}

std::string encode_reply(const json::value& ref, const Reply& r) {
  switch (r.type) {
    case ReplyType::ok:
      return json::serialize(with_ref("ok", ref));
    case ReplyType::pong:
      return json::serialize(with_ref("pong", ref));
    case ReplyType::auth_ok: {
      auto o = with_ref("ok", ref);
      json::object user;
      user.emplace("id", r.user.id);
      user.emplace("name", r.user.name);
      user.emplace("role", r.user.role);
      o.emplace("user", std::move(user));
      return json::serialize(o);
    }
    case ReplyType::ack: {
      auto o = with_ref("ack", ref);
      o.emplace("id", r.message->id);
      if (r.pending) {
        o.emplace("seq", nullptr);
      } else {
        o.emplace("seq", r.message->seq);
      }
      o.emplace("created_at", format_rfc3339(r.message->created_at));
      if (r.duplicate) o.emplace("duplicate", true);
      if (r.pending) o.emplace("pending", true);
      return json::serialize(o);
    }
    case ReplyType::history: {
      auto o = with_ref("history", ref);
      o.emplace("conversation", r.conversation);
      json::array messages;
      messages.reserve(r.messages.size());
      for (const auto& m : r.messages) messages.emplace_back(message_to_json(*m));
      o.emplace("messages", std::move(messages));
      o.emplace("has_more", r.has_more);
      o.emplace("last_seq", r.last_seq);
      if (r.read_seq) o.emplace("read_seq", *r.read_seq);
      if (r.read_seq) {  // join: who is online in the room (an addition to PROTOCOL.md)
        json::array online;
        for (const auto& u : r.online) online.emplace_back(u);
        o.emplace("online", std::move(online));
      }
      return json::serialize(o);
    }
    case ReplyType::error:
      return encode_error(ref, r.error, r.error_message);
  }
  return {};
}

std::string encode_event(const Event& e) {
  json::object o;
  switch (e.type) {
    case EventType::message:
    case EventType::edited:
      o.emplace("type", e.type == EventType::message ? "message" : "edited");
      o.emplace("message", message_to_json(*e.message));
      break;
    case EventType::deleted:
      o.emplace("type", "deleted");
      o.emplace("conversation", e.conversation);
      o.emplace("seq", e.seq);
      break;
    case EventType::read:
      o.emplace("type", "read");
      o.emplace("conversation", e.conversation);
      o.emplace("user", e.user.id);
      o.emplace("seq", e.seq);
      break;
    case EventType::typing:
      o.emplace("type", "typing");
      o.emplace("conversation", e.conversation);
      o.emplace("user", e.user.id);
      if (!e.user.name.empty()) o.emplace("name", e.user.name);
      o.emplace("on", e.on);
      break;
    case EventType::presence:
      o.emplace("type", "presence");
      o.emplace("conversation", e.conversation);
      o.emplace("user", e.user.id);
      if (!e.user.name.empty()) o.emplace("name", e.user.name);
      o.emplace("status", e.online ? "online" : "offline");
      if (e.last_seen) o.emplace("last_seen", format_rfc3339(*e.last_seen));
      break;
    case EventType::left:
      o.emplace("type", "left");
      o.emplace("conversation", e.conversation);
      o.emplace("reason", e.reason);
      break;
  }
  return json::serialize(o);
}

}  // namespace parley::protocol::native
