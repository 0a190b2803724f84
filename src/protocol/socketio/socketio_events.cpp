#include "protocol/socketio/socketio_events.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/time.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/socketio/socketio_packet.hpp"

namespace parley::protocol::socketio {
namespace json = boost::json;

namespace {

constexpr std::size_t kMaxRoleBytes = 64;
constexpr std::size_t kMaxNameBytes = 256;

enum class Name : std::uint8_t {
  // messaging (seed 002)
  authenticate,
  join_conversation,
  leave_conversation,
  send_message,
  mark_as_read,
  typing,
  stop_typing,
  edit_message,
  delete_message,
  get_history,
  // Wizard-of-Oz (seed 000)
  join,
  leave,
  participant_message,
  wizard_message,
  bot_message,
};

struct NameEntry {
  std::string_view name;
  Name id;
  WireFormat format;
};
constexpr NameEntry kNames[] = {
    {"authenticate", Name::authenticate, WireFormat::sio_messaging},
    {"join-conversation", Name::join_conversation, WireFormat::sio_messaging},
    {"leave-conversation", Name::leave_conversation, WireFormat::sio_messaging},
    {"send-message", Name::send_message, WireFormat::sio_messaging},
    {"mark-as-read", Name::mark_as_read, WireFormat::sio_messaging},
    {"typing", Name::typing, WireFormat::sio_messaging},
    {"stop-typing", Name::stop_typing, WireFormat::sio_messaging},
    {"edit-message", Name::edit_message, WireFormat::sio_messaging},
    {"delete-message", Name::delete_message, WireFormat::sio_messaging},
    {"get-history", Name::get_history, WireFormat::sio_messaging},
    {"join", Name::join, WireFormat::sio_woz},
    {"leave", Name::leave, WireFormat::sio_woz},
    {"participant_message", Name::participant_message, WireFormat::sio_woz},
    {"wizard_message", Name::wizard_message, WireFormat::sio_woz},
    {"bot_message", Name::bot_message, WireFormat::sio_woz},
};

bool valid_conversation(const std::string& id, std::string_view key, std::string& why) {
  if (is_valid_id(id)) return true;
  why = std::string(key) + " must be 1-128 characters of letters, digits and -_.:@";
  return false;
}

// The argument object of an event. A bare string is taken as `string_key` (apps emit
// `socket.emit('join-conversation', id)` as often as the object form).
bool argument(const json::array& args, std::string_view string_key, json::object& out,
              std::string& why) {
  if (args.size() < 2 || args[1].is_null()) {
    why = "the event needs an object argument";
    return false;
  }
  if (args[1].is_object()) {
    out = args[1].get_object();
    return true;
  }
  if (!string_key.empty() && (args[1].is_string() || args[1].is_int64() || args[1].is_uint64())) {
    out.emplace(string_key, args[1]);
    return true;
  }
  why = "the event argument must be an object";
  return false;
}

std::string timestamp(TimeMs t) { return format_rfc3339(t); }

std::string sender_role(const StoredMessage& m) {
  return m.sender.role.empty() ? m.sender.id : m.sender.role;
}

json::value meta_avatar(const StoredMessage& m) {
  if (m.meta.empty() || m.meta == "{}") return nullptr;
  boost::system::error_code ec;
  json::value meta = json::parse(m.meta, ec);
  if (ec || !meta.is_object()) return nullptr;
  if (const auto* a = meta.get_object().if_contains(kAvatarMetaKey); a && a->is_string()) {
    return *a;
  }
  return nullptr;
}

std::string event_packet(std::string_view name, json::value arg) {
  json::array args;
  args.reserve(2);
  args.emplace_back(name);
  args.emplace_back(std::move(arg));
  return socketio::encode_event("/", args);
}

json::array message_list(WireFormat format, const Reply& r) {
  json::array messages;
  messages.reserve(r.messages.size());
  for (const auto& m : r.messages) {
    messages.emplace_back(format == WireFormat::sio_woz ? woz_message(*m) : messaging_message(*m));
  }
  return messages;
}

json::object history_object(const ChatRequest& req, const Reply& r) {
  json::object o;
  if (req.format == WireFormat::sio_woz) {
    o.emplace("room", r.conversation);
  } else {
    o.emplace("conversationId", r.conversation);
  }
  o.emplace("messages", message_list(req.format, r));
  o.emplace("hasMore", r.has_more);
  o.emplace("lastSeq", r.last_seq);
  if (r.read_seq) o.emplace("readSeq", *r.read_seq);
  return o;
}

}  // namespace

// A message in the outage spool has no seq yet (0): sent as null, like the native protocol.
static json::value seq_value(Seq seq) { return seq == 0 ? json::value(nullptr) : json::value(seq); }

json::object messaging_message(const StoredMessage& m) {
  json::object o;
  o.reserve(16);
  o.emplace("id", m.id);
  o.emplace("conversationId", m.conversation);
  o.emplace("seq", seq_value(m.seq));  // null while in the outage spool
  o.emplace("content", m.content);
  o.emplace("senderId", m.sender.id);
  o.emplace("senderName", m.sender.name);
  o.emplace("senderAvatar", meta_avatar(m));
  o.emplace("senderRole", m.sender.role);
  o.emplace("timestamp", timestamp(m.created_at));
  o.emplace("type", m.kind);
  o.emplace("readBy", json::array());
  o.emplace("edited", m.edited_at.has_value());
  if (m.edited_at) o.emplace("editedAt", timestamp(*m.edited_at));
  o.emplace("deleted", m.deleted);
  if (m.client_id) o.emplace("clientMsgId", *m.client_id);
  return o;
}

json::object woz_message(const StoredMessage& m) {
  json::object o;
  o.reserve(6);
  o.emplace("sender", sender_role(m));
  o.emplace("text", m.content);
  o.emplace("timestamp", timestamp(m.created_at));
  o.emplace("room", m.conversation);
  o.emplace("seq", seq_value(m.seq));  // null while in the outage spool
  o.emplace("id", m.id);
  return o;
}

std::string encode_event(WireFormat format, const Event& e) {
  if (format == WireFormat::sio_woz) {
    if (e.type == EventType::message && e.message)
      return event_packet("message", woz_message(*e.message));
    return {};
  }
  if (format != WireFormat::sio_messaging) return {};
  switch (e.type) {
    case EventType::message:
      if (!e.message) return {};
      return event_packet("new-message", messaging_message(*e.message));
    case EventType::edited:
      if (!e.message) return {};
      return event_packet("message-edited", messaging_message(*e.message));
    case EventType::deleted: {
      json::object o;
      o.emplace("conversationId", e.conversation);
      o.emplace("seq", e.seq);
      return event_packet("message-deleted", std::move(o));
    }
    case EventType::read: {
      json::object o;
      o.emplace("conversationId", e.conversation);
      o.emplace("userId", e.user.id);
      o.emplace("seq", e.seq);
      return event_packet("message-read", std::move(o));
    }
    case EventType::typing: {
      json::object o;
      o.emplace("conversationId", e.conversation);
      o.emplace("userId", e.user.id);
      if (!e.user.name.empty()) o.emplace("userName", e.user.name);
      o.emplace("isTyping", e.on);
      return event_packet("user-typing", std::move(o));
    }
    case EventType::presence: {
      json::object o;
      o.emplace("userId", e.user.id);
      o.emplace("status", e.online ? "online" : "offline");
      if (!e.online && e.last_seen) o.emplace("lastSeen", timestamp(*e.last_seen));
      // Room presence names its conversation; the server-wide status (hub
      // subscribe_user_status) has none, as seed 002's io.emit('user-status') had none.
      if (!e.conversation.empty()) o.emplace("conversationId", e.conversation);
      return event_packet("user-status", std::move(o));
    }
  }
  return {};
}

Result<ChatRequest> decode_request(const json::array& args, const native::Limits& limits,
                                   std::string& why) {
  if (args.empty() || !args[0].is_string()) {
    why = "an event name is required";
    return Errc::invalid_argument;
  }
  const std::string_view name = args[0].get_string();
  const NameEntry* entry = nullptr;
  for (const auto& e : kNames) {
    if (e.name == name) entry = &e;
  }
  if (!entry) {
    why = "unknown event";
    return Errc::not_found;
  }

  ChatRequest req;
  req.format = entry->format;
  req.event.assign(name);
  Command& c = req.command;
  json::object o;
  std::optional<std::int64_t> n;

  auto content_limit = [&](const std::string& content, std::string_view key) -> bool {
    if (content.size() <= limits.max_content_bytes) return true;
    why =
        std::string(key) + " is larger than " + std::to_string(limits.max_content_bytes) + " bytes";
    return false;
  };
  auto limit_field = [&](JsonFields& f) -> bool {
    if (!f.integer("limit", n, 0)) return false;
    if (n) {
      c.limit = *n == 0
                    ? limits.default_history_limit
                    : std::min<std::size_t>(static_cast<std::size_t>(*n), limits.max_history_limit);
    }
    return true;
  };

  switch (entry->id) {
    case Name::authenticate: {
      if (!argument(args, "userId", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::auth;
      if (!f.id("userId", c.identity.id) || !f.str("name", c.identity.name) ||
          !f.str("avatar", c.identity.avatar) || !f.str("token", c.token) ||
          !f.str("role", c.identity.role)) {
        return Errc::invalid_argument;
      }
      if (c.identity.id.empty()) (void)f.id("id", c.identity.id);
      if (c.identity.id.empty() && c.token.empty()) {
        why = "userId or token is required";
        return Errc::invalid_argument;
      }
      if (!c.identity.id.empty() && !is_valid_id(c.identity.id)) {
        why = "userId must be 1-128 characters of letters, digits and -_.:@";
        return Errc::invalid_argument;
      }
      if (c.identity.name.size() > kMaxNameBytes || c.identity.avatar.size() > 2048 ||
          c.identity.role.size() > kMaxRoleBytes) {
        why = "name, avatar or role is too long";
        return Errc::invalid_argument;
      }
      break;
    }
    case Name::join_conversation:
    case Name::join: {
      const bool woz = entry->id == Name::join;
      const std::string_view key = woz ? "room" : "conversationId";
      if (!argument(args, key, o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::join;
      if (!f.id(key, c.conversation, true) || !valid_conversation(c.conversation, key, why)) {
        return Errc::invalid_argument;
      }
      if (!f.integer("since", n, 0)) return Errc::invalid_argument;
      c.since = n;
      if (!limit_field(f)) return Errc::invalid_argument;
      std::string claimed;
      if (!f.id("userId", claimed)) return Errc::invalid_argument;
      if (!claimed.empty()) {
        if (!is_valid_id(claimed)) {
          why = "userId must be 1-128 characters of letters, digits and -_.:@";
          return Errc::invalid_argument;
        }
        req.claimed_user = std::move(claimed);
      }
      if (woz) {
        if (!f.str("role", req.role)) return Errc::invalid_argument;
        if (req.role.empty()) req.role = "participant";
        if (req.role.size() > kMaxRoleBytes) {
          why = "role is too long";
          return Errc::invalid_argument;
        }
        if (!f.str("name", c.identity.name)) return Errc::invalid_argument;
      }
      break;
    }
    case Name::leave_conversation:
    case Name::leave: {
      const std::string_view key = entry->id == Name::leave ? "room" : "conversationId";
      if (!argument(args, key, o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::leave;
      if (!f.id(key, c.conversation, true) || !valid_conversation(c.conversation, key, why)) {
        return Errc::invalid_argument;
      }
      break;
    }
    case Name::send_message: {
      if (!argument(args, "", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::send;
      if (!f.id("conversationId", c.conversation, true) ||
          !valid_conversation(c.conversation, "conversationId", why) ||
          !f.str("content", c.content, true) || !f.str("type", c.kind) ||
          !f.object_text("meta", c.meta) || !f.opt_str("clientMsgId", c.client_id)) {
        return Errc::invalid_argument;
      }
      if (c.kind.empty()) c.kind = "text";
      if (c.kind != "text" && c.kind != "image" && c.kind != "file" && c.kind != "system") {
        why = "type must be text, image, file or system";
        return Errc::invalid_argument;
      }
      if (c.client_id && c.client_id->size() > 128) {
        why = "clientMsgId is longer than 128 bytes";
        return Errc::invalid_argument;
      }
      if (!content_limit(c.content, "content")) return Errc::too_large;
      if (c.meta.size() > limits.max_meta_bytes) {
        why = "meta is larger than " + std::to_string(limits.max_meta_bytes) + " bytes";
        return Errc::too_large;
      }
      break;
    }
    case Name::participant_message:
    case Name::wizard_message:
    case Name::bot_message: {
      if (!argument(args, "", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::send;
      if (!f.id("room", c.conversation, true) || !valid_conversation(c.conversation, "room", why) ||
          !f.str("text", c.content, true) || !f.opt_str("clientMsgId", c.client_id)) {
        return Errc::invalid_argument;
      }
      if (c.client_id && c.client_id->size() > 128) {
        why = "clientMsgId is longer than 128 bytes";
        return Errc::invalid_argument;
      }
      if (!content_limit(c.content, "text")) return Errc::too_large;
      req.role = entry->id == Name::participant_message ? "participant"
                 : entry->id == Name::wizard_message    ? "wizard"
                                                        : "bot";
      break;
    }
    case Name::mark_as_read: {
      if (!argument(args, "", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::read;
      if (!f.id("conversationId", c.conversation, true) ||
          !valid_conversation(c.conversation, "conversationId", why) || !f.integer("seq", n, 1)) {
        return Errc::invalid_argument;
      }
      if (n) {
        c.seq = *n;
      } else {
        std::string id;
        if (!f.id("messageId", id)) return Errc::invalid_argument;
        if (id.empty()) {
          why = "seq or messageId is required";
          return Errc::invalid_argument;
        }
        req.message_id = std::move(id);
      }
      break;
    }
    case Name::typing:
    case Name::stop_typing: {
      if (!argument(args, "conversationId", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::typing;
      c.on = entry->id == Name::typing;
      if (!f.id("conversationId", c.conversation, true) ||
          !valid_conversation(c.conversation, "conversationId", why) ||
          !f.boolean("isTyping", c.on)) {
        return Errc::invalid_argument;
      }
      break;
    }
    case Name::edit_message:
    case Name::delete_message: {
      if (!argument(args, "", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = entry->id == Name::edit_message ? Op::edit : Op::remove;
      if (!f.id("conversationId", c.conversation, true) ||
          !valid_conversation(c.conversation, "conversationId", why) || !f.integer("seq", n, 1)) {
        return Errc::invalid_argument;
      }
      if (!n) {
        why = "seq is required";
        return Errc::invalid_argument;
      }
      c.seq = *n;
      if (c.op == Op::edit) {
        if (!f.str("content", c.content, true)) return Errc::invalid_argument;
        if (!content_limit(c.content, "content")) return Errc::too_large;
      }
      break;
    }
    case Name::get_history: {
      if (!argument(args, "conversationId", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::history;
      if (!f.id("conversationId", c.conversation, true) ||
          !valid_conversation(c.conversation, "conversationId", why)) {
        return Errc::invalid_argument;
      }
      if (!f.integer("before", n, 0)) return Errc::invalid_argument;
      c.before = n;
      if (!f.integer("after", n, 0)) return Errc::invalid_argument;
      c.after = n;
      if (!limit_field(f)) return Errc::invalid_argument;
      break;
    }
  }
  return req;
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
  switch (r.type) {
    case ReplyType::error: {
      json::object o = error_object(r.error, r.error_message);
      o.emplace("event", req.event);
      return event_packet("error", std::move(o));
    }
    case ReplyType::auth_ok: {
      if (req.format != WireFormat::sio_messaging) return {};
      json::object o;
      o.emplace("userId", r.user.id);
      o.emplace("name", r.user.name);
      return event_packet("authenticated", std::move(o));
    }
    case ReplyType::history:
      return event_packet(req.format == WireFormat::sio_woz ? "history" : "conversation-history",
                          history_object(req, r));
    case ReplyType::ok:
    case ReplyType::ack:
    case ReplyType::pong:
      return {};
  }
  return {};
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
    o = history_object(req, r);
    o.emplace("ok", true);
    return o;
  }
  o.emplace("ok", true);
  if (r.type == ReplyType::auth_ok) {
    o.emplace("userId", r.user.id);
    o.emplace("name", r.user.name);
  } else if (r.type == ReplyType::ack && r.message) {
    o.emplace("id", r.message->id);
    o.emplace("seq", seq_value(r.message->seq));
    o.emplace("timestamp", timestamp(r.message->created_at));
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
  if (!online && last_seen) o.emplace("lastSeen", timestamp(*last_seen));
  return event_packet("user-status", std::move(o));
}

}  // namespace parley::protocol::socketio
