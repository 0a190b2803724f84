#include "protocol/socketio/radioistic_model.hpp"

#include <cstdint>
#include <cstdio>

namespace parley::protocol::radioistic {

namespace {

// One UTF-8 sequence at `i`: its code point and length; an invalid byte counts as itself
// (Parley's decoders have already refused invalid UTF-8 before content gets here).
std::pair<char32_t, std::size_t> decode_at(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 1;
  if (i + n > s.size()) n = 1;
  if (n == 1) return {b, 1};
  char32_t cp = b & (0x7f >> n);
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  return {cp, n};
}

// The start of the UTF-8 sequence ending right before `end`.
std::size_t start_before(std::string_view s, std::size_t end) {
  std::size_t i = end - 1;
  while (i > 0 && end - i < 4 && (static_cast<unsigned char>(s[i]) & 0xc0) == 0x80) --i;
  return i;
}

// ECMAScript WhiteSpace and LineTerminator (what String.prototype.trim removes).
bool is_js_space(char32_t c) noexcept {
  switch (c) {
    case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20: case 0xa0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000: case 0xfeff:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200a;
  }
}

}  // namespace

NameParts split_name(std::string_view name) {
  const auto space = name.find(' ');
  if (space == std::string_view::npos) return {std::string(name), std::string()};
  return {std::string(name.substr(0, space)), std::string(name.substr(space + 1))};
}

std::string join_name(std::string_view first, std::string_view last) {
  std::string out(first);
  out.push_back(' ');
  out.append(last);
  return out;
}

std::optional<std::string> normalize_content(std::string& content) {
  std::size_t begin = 0;
  std::size_t end = content.size();
  while (begin < end) {
    auto [cp, n] = decode_at(content, begin);
    if (!is_js_space(cp)) break;
    begin += n;
  }
  while (end > begin) {
    const std::size_t at = start_before(content, end);
    if (!is_js_space(decode_at(content, at).first)) break;
    end = at;
  }
  content = content.substr(begin, end - begin);
  if (content.empty()) return std::string("Message content is required");
  std::size_t units = 0;  // JavaScript's length: UTF-16 code units
  for (std::size_t i = 0; i < content.size();) {
    auto [cp, n] = decode_at(content, i);
    units += cp >= 0x10000 ? 2 : 1;
    i += n;
  }
  if (units > kMaxContentUnits) return std::string("Message cannot exceed 2000 characters");
  return std::nullopt;
}

bool is_message_type(std::string_view type) noexcept {
  return type == "text" || type == "image" || type == "file" || type == "system";
}

std::string new_object_id(TimeMs now) {
  // Seconds then a random tail: new_short_id() is 16 hex digits of a 64-bit random number.
  char head[9];
  std::snprintf(head, sizeof head, "%08x", static_cast<std::uint32_t>(now / 1000));
  return std::string(head) + new_short_id();
}

}  // namespace parley::protocol::radioistic
