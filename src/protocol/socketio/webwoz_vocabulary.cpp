#include "protocol/socketio/webwoz_vocabulary.hpp"

#include <limits>

#include "core/ids.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/socketio/vocabulary.hpp"
#include "protocol/webwoz.hpp"

namespace parley::protocol::socketio::webwoz {
namespace json = boost::json;

namespace {

// data.get("room", "default_room")
constexpr std::string_view kDefaultRoom = "default_room";

enum class Name : std::uint8_t {
  join,
  leave,
  participant_typing,
  participant_message,
  wizard_response,
  wizard_message,  // Parley's earlier name for wizard_response
  bot_message,
};

struct NameEntry {
  std::string_view name;
  Name id;
};
constexpr NameEntry kNames[] = {
    {"join", Name::join},
    {"leave", Name::leave},
    {"participant_typing", Name::participant_typing},
    {"participant_message", Name::participant_message},
    {"wizard_response", Name::wizard_response},
    {"wizard_message", Name::wizard_message},
    {"bot_message", Name::bot_message},
};

bool room_field(JsonFields& f, Command& c) {
  if (!f.id("room", c.conversation)) return false;
  if (c.conversation.empty()) c.conversation = kDefaultRoom;
  return true;
}

Result<ChatRequest> decode_named(Name id, std::string_view name, const json::array& args,
                                 std::string& why) {
  ChatRequest req;
  req.format = WireFormat::sio_woz;
  req.event.assign(name);
  Command& c = req.command;
  json::object o;
  std::optional<std::int64_t> n;

  switch (id) {
    case Name::join: {
      if (!detail::argument(args, "room", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::join;
      if (!room_field(f, c)) return Errc::invalid_argument;
      // The app sends the whole history; the rules clamp it to the largest page.
      c.limit = std::numeric_limits<std::size_t>::max();
      if (!f.integer("since", n, 0)) return Errc::invalid_argument;
      c.since = n;
      if (!f.integer("limit", n, 0)) return Errc::invalid_argument;
      if (n) c.limit = static_cast<std::size_t>(*n);
      std::string claimed;
      if (!f.id("userId", claimed)) return Errc::invalid_argument;
      if (!claimed.empty()) {
        if (!is_valid_id(claimed)) {
          why = "userId must be 1-128 characters of letters, digits and -_.:@";
          return Errc::invalid_argument;
        }
        req.claimed_user = std::move(claimed);
      }
      // The app's `type`; `role` was Parley's earlier name for it.
      if (!f.str("type", req.role)) return Errc::invalid_argument;
      if (req.role.empty() && !f.str("role", req.role)) return Errc::invalid_argument;
      if (req.role.empty()) req.role = "unknown";
      if (req.role.size() > detail::kMaxRoleBytes) {
        why = "type is too long";
        return Errc::invalid_argument;
      }
      if (!f.str("name", c.identity.name)) return Errc::invalid_argument;
      break;
    }
    case Name::leave: {
      if (!detail::argument(args, "room", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::leave;
      if (!room_field(f, c)) return Errc::invalid_argument;
      break;
    }
    case Name::participant_typing: {
      if (!detail::argument(args, "", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::typing;
      std::string text;
      if (!room_field(f, c) || !f.str("text", text)) return Errc::invalid_argument;
      c.on = !text.empty();
      c.typing_text = std::move(text);
      req.role = "participant";
      break;
    }
    case Name::participant_message:
    case Name::wizard_response:
    case Name::wizard_message:
    case Name::bot_message: {
      if (!detail::argument(args, "", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::send;
      if (!room_field(f, c) || !f.str("text", c.content, true) ||
          !f.opt_str("clientMsgId", c.client_id)) {
        return Errc::invalid_argument;
      }
      req.role = id == Name::participant_message ? "participant"
                 : id == Name::bot_message       ? "bot"
                                                 : "wizard";
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

json::object message(const StoredMessage& m) { return protocol::webwoz::room_message(m); }

std::string encode_event(const Event& e) {
  if (e.type == EventType::message && e.message) {
    return detail::event_packet("new_message", message(*e.message));
  }
  // Only typing that carries its text (participant_typing); a plain indicator from another
  // client has nothing to show in the wizard's live preview.
  if (e.type == EventType::typing && e.typing_text) {
    json::object o;
    o.emplace("text", *e.typing_text);
    o.emplace("room", e.conversation);
    return detail::event_packet("participant_is_typing", std::move(o));
  }
  return {};
}

json::object history_object(const Reply& r) {
  json::object o;
  o.emplace("room", r.conversation);
  json::array messages;
  messages.reserve(r.messages.size());
  for (const auto& m : r.messages) messages.emplace_back(message(*m));
  o.emplace("messages", std::move(messages));
  o.emplace("hasMore", r.has_more);
  o.emplace("lastSeq", r.last_seq);
  return o;
}

std::vector<std::string> encode_reply_events(const ChatRequest&, const Reply& r) {
  std::vector<std::string> out;
  if (r.type != ReplyType::history) return out;
  // on_join: `for msg in rooms[room]: emit("new_message", {**msg, "room": room})`.
  out.reserve(r.messages.size());
  for (const auto& m : r.messages) out.push_back(detail::event_packet("new_message", message(*m)));
  return out;
}

std::string encode_reply_event(const ChatRequest& req, const Reply& r) {
  auto events = webwoz::encode_reply_events(req, r);
  return events.size() == 1 ? std::move(events.front()) : std::string();
}

bool is_wizard_join(const ChatRequest& req) {
  return req.format == WireFormat::sio_woz && req.command.op == Op::join && req.role == "wizard";
}

std::string encode_templates(std::span<const Template> templates) {
  return detail::event_packet("templates", protocol::webwoz::templates_object(templates));
}

std::string encode_bot_status(const ConversationId& room) {
  json::object o;
  o.emplace("room", room);
  o.emplace("active", false);
  o.emplace("available", false);
  o.emplace("progress", "Bot service unavailable");
  return detail::event_packet("bot_status_changed", std::move(o));
}

}  // namespace parley::protocol::socketio::webwoz
