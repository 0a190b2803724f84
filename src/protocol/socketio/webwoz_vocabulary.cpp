#include "protocol/socketio/webwoz_vocabulary.hpp"

#include "core/ids.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/socketio/vocabulary.hpp"

namespace parley::protocol::socketio::webwoz {
namespace json = boost::json;

namespace {

enum class Name : std::uint8_t {
  join,
  leave,
  participant_message,
  wizard_message,
  bot_message,
};

struct NameEntry {
  std::string_view name;
  Name id;
};
constexpr NameEntry kNames[] = {
    {"join", Name::join},
    {"leave", Name::leave},
    {"participant_message", Name::participant_message},
    {"wizard_message", Name::wizard_message},
    {"bot_message", Name::bot_message},
};

Result<ChatRequest> decode_named(Name id, std::string_view name, const json::array& args,
                                 std::string& why) {
  ChatRequest req;
  req.format = WireFormat::sio_woz;
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
    case Name::join: {
      if (!detail::argument(args, "room", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::join;
      if (!f.id("room", c.conversation, true)) return Errc::invalid_argument;
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
      if (!f.str("role", req.role)) return Errc::invalid_argument;
      if (req.role.empty()) req.role = "participant";
      if (req.role.size() > detail::kMaxRoleBytes) {
        why = "role is too long";
        return Errc::invalid_argument;
      }
      if (!f.str("name", c.identity.name)) return Errc::invalid_argument;
      break;
    }
    case Name::leave: {
      if (!detail::argument(args, "room", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::leave;
      if (!f.id("room", c.conversation, true)) return Errc::invalid_argument;
      break;
    }
    case Name::participant_message:
    case Name::wizard_message:
    case Name::bot_message: {
      if (!detail::argument(args, "", o, why)) return Errc::invalid_argument;
      JsonFields f(o, why);
      c.op = Op::send;
      if (!f.id("room", c.conversation, true) || !f.str("text", c.content, true) ||
          !f.opt_str("clientMsgId", c.client_id)) {
        return Errc::invalid_argument;
      }
      req.role = id == Name::participant_message ? "participant"
                 : id == Name::wizard_message    ? "wizard"
                                                 : "bot";
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
  o.reserve(6);
  // The app's senders are roles ("participant", "wizard", "bot"); a message posted by a user
  // without one shows its user id.
  o.emplace("sender", m.sender.role.empty() ? m.sender.id : m.sender.role);
  o.emplace("text", m.content);
  o.emplace("timestamp", detail::timestamp(m.created_at));
  o.emplace("room", m.conversation);
  o.emplace("seq", detail::seq_value(m.seq));  // null while in the outage spool
  o.emplace("id", m.id);
  return o;
}

std::string encode_event(const Event& e) {
  if (e.type == EventType::message && e.message) {
    return detail::event_packet("message", message(*e.message));
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
  if (r.read_seq) o.emplace("readSeq", *r.read_seq);
  return o;
}

std::string encode_reply_event(const ChatRequest&, const Reply& r) {
  if (r.type == ReplyType::history) return detail::event_packet("history", history_object(r));
  return {};
}

}  // namespace parley::protocol::socketio::webwoz
