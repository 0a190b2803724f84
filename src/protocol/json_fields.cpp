#include "protocol/json_fields.hpp"

#include <boost/json/serialize.hpp>
#include <cmath>

namespace parley::protocol {
namespace json = boost::json;

bool all_finite(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_:
      return std::isfinite(v.get_double());
    case json::kind::array:
      for (const auto& e : v.get_array()) {
        if (!all_finite(e)) return false;
      }
      return true;
    case json::kind::object:
      for (const auto& kv : v.get_object()) {
        if (!all_finite(kv.value())) return false;
      }
      return true;
    default:
      return true;
  }
}

bool JsonFields::str(std::string_view key, std::string& out, bool required) {
  const auto* v = o_.if_contains(key);
  if (!v || v->is_null()) return !required || fail(key, "is required");
  if (!v->is_string()) return fail(key, "must be a string");
  out.assign(v->get_string().data(), v->get_string().size());
  return true;
}

bool JsonFields::id(std::string_view key, std::string& out, bool required) {
  const auto* v = o_.if_contains(key);
  if (v && (v->is_int64() || v->is_uint64())) {
    out = json::serialize(*v);
    return true;
  }
  return str(key, out, required);
}

bool JsonFields::opt_str(std::string_view key, std::optional<std::string>& out) {
  const auto* v = o_.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_string()) return fail(key, "must be a string");
  out.emplace(v->get_string().data(), v->get_string().size());
  return true;
}

bool JsonFields::integer(std::string_view key, std::optional<std::int64_t>& out, std::int64_t min) {
  out.reset();
  const auto* v = o_.if_contains(key);
  if (!v || v->is_null()) return true;
  constexpr double kExact = 9007199254740992.0;  // 2^53: larger doubles are not exact
  std::int64_t n = 0;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    n = static_cast<std::int64_t>(v->get_uint64());
  } else if (v->is_double() && v->get_double() >= -kExact && v->get_double() <= kExact &&
             v->get_double() == std::trunc(v->get_double())) {
    n = static_cast<std::int64_t>(v->get_double());
  } else {
    return fail(key, "must be an integer");
  }
  if (n < min) return fail(key, "is out of range");
  out = n;
  return true;
}

bool JsonFields::boolean(std::string_view key, bool& out) {
  const auto* v = o_.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_bool()) return fail(key, "must be a boolean");
  out = v->get_bool();
  return true;
}

bool JsonFields::object_text(std::string_view key, std::string& out) {
  const auto* v = o_.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_object()) return fail(key, "must be an object");
  if (!all_finite(*v)) return fail(key, "holds a number out of range");
  out = json::serialize(*v);
  return true;
}

bool JsonFields::opt_object_text(std::string_view key, std::optional<std::string>& out) {
  const auto* v = o_.if_contains(key);
  if (!v || v->is_null()) return true;
  std::string text;
  if (!object_text(key, text)) return false;
  out = std::move(text);
  return true;
}

bool JsonFields::fail(std::string_view key, std::string_view what) {
  why_ = std::string(key) + " " + std::string(what);
  return false;
}

}  // namespace parley::protocol
