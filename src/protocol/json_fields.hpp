// Typed readers over the fields of one decoded JSON object, shared by the protocol codecs:
// absent (or null) is fine, present with the wrong type is an error whose text names the
// field. The readers never throw and never convert out-of-range numbers.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley::protocol {

// False when `v` holds a number Boost.JSON read as infinity (too large for a double): it
// would be written back as `Infinity`, which is not JSON, so such input is refused.
bool all_finite(const boost::json::value& v);

class JsonFields {
 public:
  JsonFields(const boost::json::object& o, std::string& why) : o_(o), why_(why) {}

  bool str(std::string_view key, std::string& out, bool required = false);
  // A string or an integer (ids are strings on the wire, but apps send numbers too).
  bool id(std::string_view key, std::string& out, bool required = false);
  bool opt_str(std::string_view key, std::optional<std::string>& out);
  // An integer >= min; a double is accepted when it holds an exact integer within ±2^53.
  bool integer(std::string_view key, std::optional<std::int64_t>& out, std::int64_t min);
  bool boolean(std::string_view key, bool& out);
  // An object, kept as its serialized text.
  bool object_text(std::string_view key, std::string& out);
  bool opt_object_text(std::string_view key, std::optional<std::string>& out);
  // Records "<key> <what>" as the reason; always false.
  bool fail(std::string_view key, std::string_view what);

 private:
  const boost::json::object& o_;
  std::string& why_;
};

}  // namespace parley::protocol
