// The rules every storage backend applies to the values it is given, in one place so that
// memory, SQLite and PostgreSQL agree byte for byte: JSON fields are validated and normalized
// with Boost.JSON, participant lists are checked and deduplicated, list cursors and search
// terms have one encoding. Header-only, pure functions; thread-safe.
#pragma once

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/model.hpp"
#include "core/time.hpp"
#include "store/store.hpp"

namespace parley::store::detail {

// Lists and searches never return more than this many rows per call.
inline constexpr std::size_t kMaxListLimit = 1000;
inline constexpr std::size_t kDefaultListLimit = 50;
inline constexpr std::size_t kDefaultSearchLimit = 20;

// A JSON object as compact text. Empty text is "{}"; anything that is not one JSON object
// (arrays, scalars, invalid JSON or invalid UTF-8) is invalid_argument.
[[nodiscard]] inline Result<std::string> normalize_json_object(std::string_view text) {
  if (text.empty()) return std::string("{}");
  boost::system::error_code ec;
  const boost::json::value value = boost::json::parse(text, ec);
  if (ec || !value.is_object()) return make_error_code(Errc::invalid_argument);
  return boost::json::serialize(value);
}

// Participants as stored: each a valid id, duplicates dropped, first occurrence kept.
[[nodiscard]] inline Result<std::vector<UserId>> normalize_participants(
    const std::vector<UserId>& participants) {
  std::vector<UserId> out;
  out.reserve(participants.size());
  for (const UserId& user : participants) {
    if (!is_valid_id(user)) return make_error_code(Errc::invalid_argument);
    if (std::find(out.begin(), out.end(), user) == out.end()) out.push_back(user);
  }
  return out;
}

// A conversation's participants, settings and meta as stored (see the two functions above);
// a member is empty when a patch leaves that field alone.
struct ConversationFields {
  std::optional<std::vector<UserId>> participants;
  std::optional<std::string> settings;
  std::optional<std::string> meta;
};

// The fields of a whole conversation (create, replace): every member is set.
[[nodiscard]] inline Result<ConversationFields> normalize_fields(
    const std::vector<UserId>& participants, std::string_view settings, std::string_view meta) {
  ConversationFields out;
  auto p = normalize_participants(participants);
  if (!p) return p.error();
  auto s = normalize_json_object(settings);
  if (!s) return s.error();
  auto m = normalize_json_object(meta);
  if (!m) return m.error();
  out.participants = std::move(*p);
  out.settings = std::move(*s);
  out.meta = std::move(*m);
  return out;
}

// The fields a patch changes: only those it carries are set.
[[nodiscard]] inline Result<ConversationFields> normalize_fields(const ConversationPatch& patch) {
  ConversationFields out;
  if (patch.participants) {
    auto p = normalize_participants(*patch.participants);
    if (!p) return p.error();
    out.participants = std::move(*p);
  }
  if (patch.settings) {
    auto s = normalize_json_object(*patch.settings);
    if (!s) return s.error();
    out.settings = std::move(*s);
  }
  if (patch.meta) {
    auto m = normalize_json_object(*patch.meta);
    if (!m) return m.error();
    out.meta = std::move(*m);
  }
  return out;
}

// A message as it will be stored, before seq, id and time are assigned: the conversation id
// is valid, `kind` defaults to "text", `meta` is a normalized JSON object and an empty
// client_id means none.
[[nodiscard]] inline Result<void> normalize_new_message(NewMessage& msg) {
  if (!is_valid_id(msg.conversation)) return make_error_code(Errc::invalid_argument);
  if (msg.kind.empty()) msg.kind = "text";
  auto meta = normalize_json_object(msg.meta);
  if (!meta) return meta.error();
  msg.meta = std::move(*meta);
  if (msg.client_id && msg.client_id->empty()) msg.client_id.reset();
  return {};
}

// A conversation list's limit: 0 means the default, and no page is longer than the maximum.
inline std::size_t list_limit(std::size_t limit, std::size_t fallback = kDefaultListLimit) {
  if (limit == 0) return fallback;
  return std::min(limit, kMaxListLimit);
}

// SQL LIMIT values are signed 64-bit.
inline std::int64_t sql_limit(std::size_t limit) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(limit, kMax));
}

// The position after the last conversation of a page: lists are ordered by
// (updated_at DESC, id DESC) and resume strictly after this pair.
struct ListCursor {
  TimeMs updated_at = std::numeric_limits<TimeMs>::max();
  ConversationId id;  // empty with the maximum time: the start
};

// "<updated_at>~<id>": opaque to clients, URL-safe ('~' is unreserved and never in an id).
inline std::string encode_list_cursor(TimeMs updated_at, std::string_view id) {
  std::string out = std::to_string(updated_at);
  out.push_back('~');
  out.append(id);
  return out;
}

// The start for an empty cursor; invalid_argument for text no page ever produced.
[[nodiscard]] inline Result<ListCursor> decode_list_cursor(std::string_view text) {
  ListCursor cursor;
  if (text.empty()) return cursor;
  const std::size_t sep = text.find('~');
  if (sep == std::string_view::npos) return make_error_code(Errc::invalid_argument);
  const char* first = text.data();
  const char* last = text.data() + sep;
  const auto [ptr, ec] = std::from_chars(first, last, cursor.updated_at);
  if (ec != std::errc() || ptr != last) return make_error_code(Errc::invalid_argument);
  cursor.id = std::string(text.substr(sep + 1));
  if (!is_valid_id(cursor.id)) return make_error_code(Errc::invalid_argument);
  return cursor;
}

// True when (updated_at, id) sorts strictly after the cursor in list order.
inline bool after_cursor(const ListCursor& cursor, TimeMs updated_at, std::string_view id) {
  if (updated_at != cursor.updated_at) return updated_at < cursor.updated_at;
  return id < std::string_view(cursor.id);
}

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// The list filter `q`: a substring of the title or the id, ignoring ASCII case. Other bytes
// compare exactly (SQLite's lower() folds ASCII only; every backend does the same).
inline bool matches_filter(std::string_view lowered_q, std::string_view title,
                           std::string_view id) {
  if (lowered_q.empty()) return true;
  return ascii_lower(title).find(lowered_q) != std::string::npos ||
         ascii_lower(id).find(lowered_q) != std::string::npos;
}

// A byte that belongs to a search word: ASCII letters and digits, and every byte of a
// multi-byte UTF-8 sequence (so words in any script stay whole).
inline bool is_word_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
}

// The words of a search as a user types it, ASCII-lowercased, in order, without repeats.
// Punctuation and operators are separators, so no input can break the query syntax.
inline std::vector<std::string> search_terms(std::string_view text) {
  std::vector<std::string> terms;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !is_word_byte(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && is_word_byte(text[i])) ++i;
    if (i > start) {
      std::string term = ascii_lower(text.substr(start, i - start));
      if (std::find(terms.begin(), terms.end(), term) == terms.end()) {
        terms.push_back(std::move(term));
      }
    }
  }
  return terms;
}

}  // namespace parley::store::detail
