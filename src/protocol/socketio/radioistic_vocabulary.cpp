#include "protocol/socketio/radioistic_vocabulary.hpp"

#include "core/ids.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/socketio/radioistic_model.hpp"
#include "protocol/socketio/vocabulary.hpp"

namespace parley::protocol::socketio::radioistic {
namespace json = boost::json;
namespace model = protocol::radioistic;

namespace {

enum class Name : std::uint8_t {
  join_conversation,
  leave_conversation,
  send_message,
  typing_start,
  typing_stop,
  mark_as_read,
  get_online_users,
  // Parley's additions (the app never emits them; they change nothing it sees)
  authenticate,
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
    {"join-conversation", Name::join_conversation},
    {"leave-conversation", Name::leave_conversation},
    {"send-message", Name::send_message},
    {"typing-start", Name::typing_start},
    {"typing-stop", Name::typing_stop},
    {"mark-as-read", Name::mark_as_read},
    {"get-online-users", Name::get_online_users},
    {"authenticate", Name::authenticate},
    {"typing", Name::typing},
    {"stop-typing", Name::stop_typing},
    {"edit-message", Name::edit_message},
    {"delete-message", Name::delete_message},
    {"get-history", Name::get_history},
};

// recipientId: a user id, or absent / "" / null (the front end sends "" when it finds none,
// components/chat/chat-conversation.tsx:283), which the app treats as no recipient.
bool recipient_field(JsonFields& f, ChatRequest& req) {
  std::string recipient;
  if (!f.id("recipientId", recipient)) return false;
  if (!recipient.empty() && is_valid_id(recipient)) req.recipient = std::move(recipient);
  return true;
}

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
      // websocket-server.js:162 {conversationId, recipientId, message, tempId}; Parley's own
      // {content, clientMsgId, type, meta} too.
      if (!detail::argument(args, "", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::send;
      std::optional<std::string> text, content, temp_id;
      if (!f.id("conversationId", c.conversation, true) || !f.opt_str("message", text) ||
          !f.opt_str("content", content) || !f.str("type", c.kind) ||
          !f.object_text("meta", c.meta) || !f.opt_str("tempId", temp_id) ||
          !f.opt_str("clientMsgId", c.client_id) || !recipient_field(f, req)) {
        return Errc::invalid_argument;
      }
      if (!text && !content) {
        why = "message (or content) is required";
        return Errc::invalid_argument;
      }
      c.content = text ? std::move(*text) : std::move(*content);
      // The tempId names the send: it is the message's client id (a resend is not stored
      // twice) and comes back in message-sent, receive-message and message-error.
      if (temp_id && !c.client_id) c.client_id = temp_id;
      req.temp_id = temp_id ? temp_id : c.client_id;
      break;
    }
    case Name::typing_start:
    case Name::typing_stop: {
      if (!detail::argument(args, "conversationId", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::typing;
      c.on = id == Name::typing_start;
      if (!f.id("conversationId", c.conversation, true) || !recipient_field(f, req)) {
        return Errc::invalid_argument;
      }
      break;
    }
    case Name::get_online_users:
      c.op = Op::ping;  // answered by the transport from presence (online-users)
      break;
    case Name::mark_as_read: {
      // websocket-server.js:283 {conversationId, messageIds}; Parley's {seq} or {messageId}.
      if (!detail::argument(args, "", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::read;
      if (!f.id("conversationId", c.conversation, true) || !f.integer("seq", n, 1)) {
        return Errc::invalid_argument;
      }
      if (const auto* ids = o.if_contains("messageIds"); ids && !ids->is_null()) {
        if (!ids->is_array() || ids->get_array().size() > 1000) {
          why = "messageIds must be an array of at most 1000 message ids";
          return Errc::invalid_argument;
        }
        for (const auto& v : ids->get_array()) {
          if (!v.is_string() || !is_valid_id(v.get_string())) {
            why = "messageIds must be message ids";
            return Errc::invalid_argument;
          }
          req.message_ids.emplace_back(v.get_string());
        }
        break;
      }
      if (n) {
        c.seq = *n;
      } else {
        std::string message_id;
        if (!f.id("messageId", message_id)) return Errc::invalid_argument;
        if (message_id.empty()) {
          why = "messageIds, seq or messageId is required";
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

namespace {

// websocket-server.js's message (lines 120-130, 195-206): its avatar is the sender's at the
// time of sending (kept in the message's meta), else the app's default avatar. Parley adds
// seq (for join-conversation {since}), edited/deleted, and the client id.
json::object app_message(const StoredMessage& m, std::string_view status, bool with_temp_id) {
  json::object o;
  o.reserve(14);
  o.emplace("id", m.id);
  o.emplace("conversationId", m.conversation);
  o.emplace("content", m.content);
  o.emplace("senderId", m.sender.id);
  o.emplace("senderName", m.sender.name);
  json::value avatar = detail::meta_avatar(m);
  if (avatar.is_null()) avatar = json::string(model::kDefaultAvatar);
  o.emplace("senderAvatar", std::move(avatar));
  o.emplace("timestamp", detail::timestamp(m.created_at));
  o.emplace("status", status);
  o.emplace("type", m.kind);
  if (with_temp_id && m.client_id) o.emplace("tempId", *m.client_id);
  o.emplace("seq", detail::seq_value(m.seq));  // null while in the outage spool
  o.emplace("senderRole", m.sender.role);
  if (m.edited_at && !m.deleted) o.emplace("editedAt", detail::timestamp(*m.edited_at));
  if (m.deleted) o.emplace("deleted", true);
  return o;
}

json::object history(const Reply& r, const UserId& reader) {
  json::object o;
  o.emplace("conversationId", r.conversation);
  json::array messages;
  messages.reserve(r.messages.size());
  // Line 127: `read` when the reader is in readBy (their own socket-sent messages are, and
  // what they had read), else `delivered`. Deleted messages are left out (line 115).
  const Seq read = r.read_seq.value_or(0);
  for (const auto& m : r.messages) {
    if (m->deleted) continue;
    const bool seen = m->seq <= read || (!reader.empty() && m->sender.id == reader);
    messages.emplace_back(app_message(*m, seen ? "read" : "delivered", false));
  }
  o.emplace("messages", std::move(messages));
  o.emplace("hasMore", r.has_more);
  o.emplace("lastSeq", r.last_seq);
  if (r.read_seq) o.emplace("readSeq", *r.read_seq);
  return o;
}

}  // namespace

json::object message(const StoredMessage& m) { return app_message(m, "sent", true); }

json::object user_info(const User& user) {
  json::object o;
  o.emplace("id", user.id);
  o.emplace("name", user.name);
  auto parts = model::split_name(user.name);
  o.emplace("firstName", std::move(parts.first));
  o.emplace("lastName", std::move(parts.last));
  o.emplace("avatar", user.avatar.empty() ? std::string(model::kDefaultAvatar) : user.avatar);
  return o;
}

std::string encode_online_users(const std::vector<User>& users) {
  json::array list;
  list.reserve(users.size());
  for (const auto& u : users) list.emplace_back(user_info(u));
  return detail::event_packet("online-users", std::move(list));
}

std::string encode_notification(const StoredMessage& m, const User& sender) {
  json::object o;
  o.emplace("conversationId", m.conversation);
  o.emplace("message", message(m));
  o.emplace("sender", user_info(sender));
  return detail::event_packet("new-message-notification", std::move(o));
}

// Lines 243-277: typing-start carries the typist's name, typing-stop does not.
std::string encode_typing(const ConversationId& conversation, const User& user, bool on) {
  json::object o;
  o.emplace("conversationId", conversation);
  o.emplace("userId", user.id);
  if (on) o.emplace("userName", user.name);
  o.emplace("isTyping", on);
  return detail::event_packet("user-typing", std::move(o));
}

std::string encode_event(const Event& e) {
  switch (e.type) {
    case EventType::message:
      // Line 212: io.to(conversationId).emit('receive-message', formattedMessage)
      if (!e.message) return {};
      return detail::event_packet("receive-message", message(*e.message));
    case EventType::edited:  // Parley's addition
      if (!e.message) return {};
      return detail::event_packet("message-edited", message(*e.message));
    case EventType::deleted: {  // Parley's addition
      json::object o;
      o.emplace("conversationId", e.conversation);
      o.emplace("seq", e.seq);
      if (e.message) o.emplace("id", e.message->id);
      return detail::event_packet("message-deleted", std::move(o));
    }
    case EventType::read: {
      // Lines 298-303 (to the others in the room: event_encoder's echoes_to_actor).
      json::object o;
      o.emplace("conversationId", e.conversation);
      json::array ids;
      for (const auto& id : e.message_ids) ids.emplace_back(id);
      o.emplace("messageIds", std::move(ids));
      o.emplace("readBy", e.user.id);
      o.emplace("seq", e.seq);
      return detail::event_packet("messages-read", std::move(o));
    }
    case EventType::typing:
      return encode_typing(e.conversation, e.user, e.on);
    case EventType::presence: {
      // The app has no room presence; its user status is server-wide (lines 82-86, 340-344).
      if (!e.conversation.empty()) return {};
      json::object o;
      o.emplace("userId", e.user.id);
      o.emplace("status", e.online ? "online" : "offline");
      if (e.online) {
        o.emplace("userInfo", user_info(e.user));
      } else {
        o.emplace("lastSeen", detail::timestamp(e.last_seen.value_or(0)));
      }
      return detail::event_packet("user-status-change", std::move(o));
    }
    case EventType::left: {
      // The app's own words for a conversation one is not part of (its join refusal), with
      // the conversation named (Parley's addition): the client stops showing it live.
      json::object o;
      o.emplace("message", "You are not part of this conversation");
      o.emplace("conversationId", e.conversation);
      return detail::event_packet("error", std::move(o));
    }
  }
  return {};
}

json::object history_object(const Reply& r) { return history(r, {}); }

std::string encode_error(const ChatRequest& req, const Reply& r) {
  if (r.type != ReplyType::error) return {};
  const Op op = req.command.op;
  if ((op == Op::join || op == Op::send) && r.error == Errc::permission_denied) {
    json::object o;
    o.emplace("message", "You are not part of this conversation");
    return detail::event_packet("error", std::move(o));
  }
  // The app's clients always send a tempId; failures of authentication and rate are not the
  // message's and keep the shared `error`.
  if (op == Op::send && req.temp_id && r.error != Errc::unauthenticated &&
      r.error != Errc::rate_limited) {
    json::object o;
    o.emplace("tempId", *req.temp_id);
    o.emplace("message", "Failed to send message");
    o.emplace("error", r.error_message);
    return detail::event_packet("message-error", std::move(o));
  }
  return {};
}

std::string encode_reply_event(const ChatRequest& req, const Reply& r) {
  switch (r.type) {
    case ReplyType::auth_ok: {
      json::object o;
      o.emplace("userId", r.user.id);
      o.emplace("name", r.user.name);
      return detail::event_packet("authenticated", std::move(o));
    }
    case ReplyType::history:
      return detail::event_packet("conversation-history", history(r, req.actor));
    case ReplyType::ack:
      // Line 209: socket.emit('message-sent', formattedMessage) with its tempId.
      if (!r.message) return {};
      return detail::event_packet("message-sent", message(*r.message));
    default:
      return {};
  }
}

}  // namespace parley::protocol::socketio::radioistic
