#include "protocol/native/json_codec.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parser.hpp>
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

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A basic_parser handler that builds nothing: it finds where the first top-level member named
// `key` has its key end in `frame`, and stops the parse there. The parser hands a key that
// needs no unescaping as a view into the frame (one buffer, parsed at once); a key written
// with escapes ("r\u0065f") is not in the frame, and then nothing is found.
class MemberFinder {
 public:
  using error_code = boost::system::error_code;
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  MemberFinder(std::string_view frame, std::string_view key) : frame_(frame), key_(key) {}
  // Offset just past the closing quote of the key, or npos.
  std::size_t found() const noexcept { return found_; }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return ++depth_, true; }
  bool on_object_end(std::size_t, error_code&) { return --depth_, true; }
  bool on_array_begin(error_code&) { return ++depth_, true; }
  bool on_array_end(std::size_t, error_code&) { return --depth_, true; }
  bool on_key_part(json::string_view s, std::size_t, error_code&) {
    parts_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, error_code& ec) {
    if (depth_ == 1) {
      const bool whole = parts_.empty();
      parts_.append(s.data(), s.size());
      if (parts_ == key_) {
        const bool in_frame =
            s.data() >= frame_.data() && s.data() + s.size() < frame_.data() + frame_.size();
        if (whole && in_frame) {
          found_ = static_cast<std::size_t>(s.data() - frame_.data()) + s.size() + 1;
        }
        ec = json::error::extra_data;  // done: stop the parse here
        return false;
      }
    }
    parts_.clear();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, error_code&) { return true; }
  bool on_number_part(json::string_view, error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, error_code&) { return true; }
  bool on_double(double, json::string_view, error_code&) { return true; }
  bool on_bool(bool, error_code&) { return true; }
  bool on_null(error_code&) { return true; }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }

 private:
  std::string_view frame_;
  std::string_view key_;
  std::string parts_;
  int depth_ = 0;
  std::size_t found_ = std::string_view::npos;
};

// The text of the value of the first top-level member `key` of `frame` (a JSON object that
// json::parse accepted), as written; empty when it cannot be located (an escaped key).
std::string member_text(std::string_view frame, std::string_view key) {
  json::basic_parser<MemberFinder> finder(json::parse_options(), frame, key);
  boost::system::error_code ec;
  finder.write_some(false, frame.data(), frame.size(), ec);
  std::size_t at = finder.handler().found();
  if (at == std::string_view::npos) return {};
  while (at < frame.size() && is_json_space(frame[at])) ++at;
  if (at == frame.size() || frame[at] != ':') return {};
  ++at;
  while (at < frame.size() && is_json_space(frame[at])) ++at;
  // json::parser's write_some stops after one complete value (and the spaces after it).
  ec.clear();
  json::parser value;
  const std::size_t n = value.write_some(frame.data() + at, frame.size() - at, ec);
  if (ec) return {};
  std::string_view text = frame.substr(at, n);
  while (!text.empty() && is_json_space(text.back())) text.remove_suffix(1);
  return std::string(text);
}

// A request's ref as the client wrote it (docs/protocol.md: "byte for byte"). Serializing the
// parsed value gives exactly that for true/false, an integer other than 0 (which may have
// been -0) and a string when the frame has no escape at all, so only the rest (a number read
// as a double: 123456789012345678901234567890 came back as 1.2345678901234568E29; an object,
// an array, escapes) is looked up in the frame, by a second pass that stops at the ref.
std::string ref_text(std::string_view frame, const json::value& ref) {
  std::string text = json::serialize(ref);
  const bool exact = ref.is_bool() || ((ref.is_int64() || ref.is_uint64()) && text != "0") ||
                     (ref.is_string() && frame.find('\\') == std::string_view::npos);
  if (exact) return text;
  std::string raw = member_text(frame, "ref");
  if (raw.empty()) return text;
  // The frame's text of the value json::parse kept (the last of repeated keys), or the
  // serialized value.
  boost::system::error_code ec;
  const json::value back = json::parse(raw, ec);
  return !ec && back == ref ? raw : text;
}

}  // namespace

Result<Decoded> decode(std::string_view frame, std::string& ref, std::string& why) {
  ref.clear();
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
  if (const auto* r = o.if_contains("ref"); r && !r->is_null()) ref = ref_text(frame, *r);
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

// One reply: {"type": type, "ref": the request's ref as written, then `body`'s members}.
std::string reply(std::string_view type, std::string_view ref, const json::object& body = {}) {
  const std::string rest = json::serialize(body);
  std::string out;
  out.reserve(16 + type.size() + ref.size() + rest.size());
  out += R"({"type":")";
  out += type;  // one of ours: plain ASCII
  out += '"';
  if (!ref.empty()) {
    out += R"(,"ref":)";
    out += ref;
  }
  if (body.empty()) {
    out += '}';
  } else {
    out += ',';
    out.append(rest, 1);
  }
  return out;
}

}  // namespace

std::string encode_error(std::string_view ref, const boost::system::error_code& ec,
                         std::string_view message) {
  json::object o;
  o.emplace("code", wire_code(ec));
  o.emplace("message", message);
  return reply("error", ref, o);
}

std::string encode_reply(std::string_view ref, const Reply& r) {
  switch (r.type) {
    case ReplyType::ok:
      return reply("ok", ref);
    case ReplyType::pong:
      return reply("pong", ref);
    case ReplyType::auth_ok: {
      json::object o;
      json::object user;
      user.emplace("id", r.user.id);
      user.emplace("name", r.user.name);
      user.emplace("role", r.user.role);
      o.emplace("user", std::move(user));
      return reply("ok", ref, o);
    }
    case ReplyType::ack: {
      json::object o;
      o.emplace("id", r.message->id);
      if (r.pending) {
        o.emplace("seq", nullptr);
      } else {
        o.emplace("seq", r.message->seq);
      }
      o.emplace("created_at", format_rfc3339(r.message->created_at));
      if (r.duplicate) o.emplace("duplicate", true);
      if (r.pending) o.emplace("pending", true);
      return reply("ack", ref, o);
    }
    case ReplyType::history: {
      json::object o;
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
      return reply("history", ref, o);
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
