#include "protocol/socketio/radioistic_vocabulary.hpp"

#include "core/ids.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/socketio/vocabulary.hpp"

namespace parley::protocol::socketio::radioistic {
namespace json = boost::json;

namespace {

enum class Name : std::uint8_t {
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
};

struct NameEntry {
  std::string_view name;
  Name id;
};
constexpr NameEntry kNames[] = {
    {"authenticate", Name::authenticate},
    {"join-conversation", Name::join_conversation},
    {"leave-conversation", Name::leave_conversation},
    {"send-message", Name::send_message},
    {"mark-as-read", Name::mark_as_read},
    {"typing", Name::typing},
    {"stop-typing", Name::stop_typing},
    {"edit-message", Name::edit_message},
    {"delete-message", Name::delete_message},
    {"get-history", Name::get_history},
};

Result<ChatRequest> decode_named(Name id, std::string_view name, const json::array& args,
                                 std::string& why) {
  ChatRequest req;
  req.format = WireFormat::sio_messaging;
  req.event.assign(name);
  Command& c = req.command;
  json::object o;
  std::optional<std::int64_t> n;
  auto limit_field = [&](JsonFields& f) -> bool {
    if (!f.integer("limit", n, 0)) return false;
    if (n) c.limit = static_cast<std::size_t>(*n);
    return true;
  };

  switch (id) {
    case Name::authenticate: {
      if (!detail::argument(args, "userId", o, why)) return Errc::invalid_argument;
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
      if (c.identity.name.size() > detail::kMaxNameBytes || c.identity.avatar.size() > 2048 ||
          c.identity.role.size() > detail::kMaxRoleBytes) {
        why = "name, avatar or role is too long";
        return Errc::invalid_argument;
      }
      break;
    }
    case Name::join_conversation: {
      if (!detail::argument(args, "conversationId", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::join;
      if (!f.id("conversationId", c.conversation, true)) return Errc::invalid_argument;
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
      break;
    }
    case Name::leave_conversation: {
      if (!detail::argument(args, "conversationId", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::leave;
      if (!f.id("conversationId", c.conversation, true)) return Errc::invalid_argument;
      break;
    }
    case Name::send_message: {
      if (!detail::argument(args, "", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::send;
      if (!f.id("conversationId", c.conversation, true) || !f.str("content", c.content, true) ||
          !f.str("type", c.kind) || !f.object_text("meta", c.meta) ||
          !f.opt_str("clientMsgId", c.client_id)) {
        return Errc::invalid_argument;
      }
      break;
    }
    case Name::mark_as_read: {
      if (!detail::argument(args, "", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::read;
      if (!f.id("conversationId", c.conversation, true) || !f.integer("seq", n, 1)) {
        return Errc::invalid_argument;
      }
      if (n) {
        c.seq = *n;
      } else {
        std::string message_id;
        if (!f.id("messageId", message_id)) return Errc::invalid_argument;
        if (message_id.empty()) {
          why = "seq or messageId is required";
          return Errc::invalid_argument;
        }
        req.message_id = std::move(message_id);
      }
      break;
    }
    case Name::typing:
    case Name::stop_typing: {
      if (!detail::argument(args, "conversationId", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::typing;
      c.on = id == Name::typing;
      if (!f.id("conversationId", c.conversation, true) || !f.boolean("isTyping", c.on)) {
        return Errc::invalid_argument;
      }
      break;
    }
    case Name::edit_message:
    case Name::delete_message: {
      if (!detail::argument(args, "", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = id == Name::edit_message ? Op::edit : Op::remove;
      if (!f.id("conversationId", c.conversation, true) || !f.integer("seq", n, 1)) {
        return Errc::invalid_argument;
      }
      if (!n) {
        why = "seq is required";
        return Errc::invalid_argument;
      }
      c.seq = *n;
      if (c.op == Op::edit && !f.str("content", c.content, true)) return Errc::invalid_argument;
      break;
    }
    case Name::get_history: {
      if (!detail::argument(args, "conversationId", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::history;
      if (!f.id("conversationId", c.conversation, true)) return Errc::invalid_argument;
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

}  // namespace

std::optional<Result<ChatRequest>> decode(std::string_view name, const json::array& args,
                                          std::string& why) {
  for (const auto& e : kNames) {
    if (e.name == name) return decode_named(e.id, name, args, why);
  }
  return std::nullopt;
}

json::object message(const StoredMessage& m) {
  json::object o;
  o.reserve(16);
  o.emplace("id", m.id);
  o.emplace("conversationId", m.conversation);
  o.emplace("seq", detail::seq_value(m.seq));  // null while in the outage spool
  o.emplace("content", m.content);
  o.emplace("senderId", m.sender.id);
  o.emplace("senderName", m.sender.name);
  o.emplace("senderAvatar", detail::meta_avatar(m));
  o.emplace("senderRole", m.sender.role);
  o.emplace("timestamp", detail::timestamp(m.created_at));
  o.emplace("type", m.kind);
  o.emplace("readBy", json::array());
  o.emplace("edited", m.edited_at.has_value());
  if (m.edited_at) o.emplace("editedAt", detail::timestamp(*m.edited_at));
  o.emplace("deleted", m.deleted);
  if (m.client_id) o.emplace("clientMsgId", *m.client_id);
  return o;
}

std::string encode_event(const Event& e) {
  switch (e.type) {
    case EventType::message:
      if (!e.message) return {};
      return detail::event_packet("new-message", message(*e.message));
    case EventType::edited:
      if (!e.message) return {};
      return detail::event_packet("message-edited", message(*e.message));
    case EventType::deleted: {
      json::object o;
      o.emplace("conversationId", e.conversation);
      o.emplace("seq", e.seq);
      return detail::event_packet("message-deleted", std::move(o));
    }
    case EventType::read: {
      json::object o;
      o.emplace("conversationId", e.conversation);
      o.emplace("userId", e.user.id);
      o.emplace("seq", e.seq);
      return detail::event_packet("message-read", std::move(o));
    }
    case EventType::typing: {
      json::object o;
      o.emplace("conversationId", e.conversation);
      o.emplace("userId", e.user.id);
      if (!e.user.name.empty()) o.emplace("userName", e.user.name);
      o.emplace("isTyping", e.on);
      return detail::event_packet("user-typing", std::move(o));
    }
    case EventType::presence: {
      json::object o;
      o.emplace("userId", e.user.id);
      o.emplace("status", e.online ? "online" : "offline");
      if (!e.online && e.last_seen) o.emplace("lastSeen", detail::timestamp(*e.last_seen));
      // Room presence names its conversation; the server-wide status (hub
      // subscribe_user_status) has none, as seed 002's io.emit('user-status') had none.
      if (!e.conversation.empty()) o.emplace("conversationId", e.conversation);
      return detail::event_packet("user-status", std::move(o));
    }
  }
  return {};
}

json::object history_object(const Reply& r) {
  json::object o;
  o.emplace("conversationId", r.conversation);
  json::array messages;
  messages.reserve(r.messages.size());
  for (const auto& m : r.messages) messages.emplace_back(message(*m));
  o.emplace("messages", std::move(messages));
  o.emplace("hasMore", r.has_more);
  o.emplace("lastSeq", r.last_seq);
  if (r.read_seq) o.emplace("readSeq", *r.read_seq);
  return o;
}

std::string encode_reply_event(const ChatRequest&, const Reply& r) {
  switch (r.type) {
    case ReplyType::auth_ok: {
      json::object o;
      o.emplace("userId", r.user.id);
      o.emplace("name", r.user.name);
      return detail::event_packet("authenticated", std::move(o));
    }
    case ReplyType::history:
      return detail::event_packet("conversation-history", history_object(r));
    default:
      return {};
  }
}

}  // namespace parley::protocol::socketio::radioistic
