#include "protocol/webwoz.hpp"

#include <boost/json/serialize.hpp>

#include "core/time.hpp"

namespace parley::protocol::webwoz {

namespace json = boost::json;

std::string timestamp(TimeMs t) {
  // "2026-12-06T04:30:00.123Z": the first 19 characters are the seconds, truncated.
  std::string out = format_rfc3339(t).substr(0, 19);
  out += "+00:00";
  return out;
}

std::string sender(const StoredMessage& m) {
  return m.sender.role.empty() ? m.sender.id : m.sender.role;
}

json::object message(const StoredMessage& m) {
  json::object o;
  o.reserve(4);
  o.emplace("sender", sender(m));
  o.emplace("text", m.content);
  o.emplace("timestamp", timestamp(m.created_at));
  return o;
}

json::object room_message(const StoredMessage& m) {
  json::object o = message(m);
  o.emplace("room", m.conversation);
  return o;
}

json::object templates_object(std::span<const Template> templates) {
  json::object out;
  for (const Template& t : templates) {
    if (t.key.empty()) {
      out[t.category] = t.value;
      continue;
    }
    json::value& category = out[t.category];
    if (!category.is_object()) category = json::object();
    category.get_object()[t.key] = t.value;
  }
  return out;
}

Result<std::vector<Template>> templates_from_json(const json::value& v, std::string& why) {
  if (!v.is_object()) {
    why = "templates must be a JSON object";
    return make_error_code(Errc::invalid_argument);
  }
  const json::object& o = v.get_object();
  std::vector<Template> out;
  bool flat = !o.empty();
  for (const auto& member : o) flat = flat && member.value().is_string();
  if (flat) {  // the old flat style: {"key": "value", ...} is category "General"
    for (const auto& kv : o) {
      out.push_back(
          Template{"General", std::string(kv.key()), std::string(kv.value().get_string())});
    }
    return out;
  }
  for (const auto& member : o) {
    const std::string_view name = member.key();
    const json::value& value = member.value();
    if (value.is_string()) {
      out.push_back(Template{std::string(name), "", std::string(value.get_string())});
      continue;
    }
    if (!value.is_object()) {
      why = "template category \"" + std::string(name) + "\" must be an object of strings";
      return make_error_code(Errc::invalid_argument);
    }
    for (const auto& item : value.get_object()) {
      const std::string_view key = item.key();
      const json::value& text = item.value();
      if (!text.is_string() || key.empty()) {
        why = "template \"" + std::string(name) + "/" + std::string(key) + "\" must be a string";
        return make_error_code(Errc::invalid_argument);
      }
      out.push_back(Template{std::string(name), std::string(key), std::string(text.get_string())});
    }
  }
  return out;
}

namespace {

void pretty_into(std::string& out, const json::value& v, int depth) {
  const auto newline = [&](int d) {
    out += '\n';
    out.append(static_cast<std::size_t>(d) * 2, ' ');
  };
  if (v.is_object()) {
    const auto& o = v.get_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    bool first = true;
    for (const auto& member : o) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      out += json::serialize(json::value(member.key()));
      out += ": ";
      pretty_into(out, member.value(), depth + 1);
    }
    newline(depth);
    out += '}';
  } else if (v.is_array()) {
    const auto& a = v.get_array();
    if (a.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    bool first = true;
    for (const auto& value : a) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      pretty_into(out, value, depth + 1);
    }
    newline(depth);
    out += ']';
  } else {
    out += json::serialize(v);
  }
}

}  // namespace

std::string pretty(const json::value& v) {
  std::string out;
  pretty_into(out, v, 0);
  return out;
}

}  // namespace parley::protocol::webwoz
