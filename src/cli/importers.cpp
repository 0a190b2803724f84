#include "cli/importers.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "protocol/json_fields.hpp"
#include "protocol/webwoz.hpp"

namespace parley::cli::importers {

namespace json = boost::json;
namespace fs = std::filesystem;

std::optional<Format> parse_format(std::string_view name) noexcept {
  if (name == "webwoz") return Format::webwoz;
  if (name == "conversations-json") return Format::conversations_json;
  if (name == "jsonl") return Format::jsonl;
  if (name == "sqlite-tables") return Format::sqlite_tables;
  if (name == "sqlite") return Format::sqlite;
  if (name == "postgres") return Format::postgres;
  if (name == "mongodump") return Format::mongodump;
  if (name == "mongoexport") return Format::mongoexport;
  return std::nullopt;
}

std::string_view format_name(Format f) noexcept {
  switch (f) {
    case Format::webwoz:
      return "webwoz";
    case Format::conversations_json:
      return "conversations-json";
    case Format::jsonl:
      return "jsonl";
    case Format::sqlite_tables:
      return "sqlite-tables";
    case Format::sqlite:
      return "sqlite";
    case Format::postgres:
      return "postgres";
    case Format::mongodump:
      return "mongodump";
    case Format::mongoexport:
      return "mongoexport";
  }
  return "?";
}

std::string to_string(const Issue& issue) {
  std::string s = issue.file;
  if (issue.line != 0) s += ":" + std::to_string(issue.line);
  if (!issue.where.empty()) s += ": " + issue.where;
  s += issue.skipped ? ": skipped: " : ": warning: ";
  s += issue.message;
  return s;
}

std::size_t ParseReport::skipped() const {
  return static_cast<std::size_t>(
      std::count_if(issues.begin(), issues.end(), [](const Issue& i) { return i.skipped; }));
}

MessageId derived_message_id(std::string_view format, std::string_view conversation,
                             std::size_t index) {
  // Two FNV-1a 64 hashes with different offsets: 128 bits, stable across runs and builds.
  auto fnv = [](std::uint64_t h, std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    return h;
  };
  std::string key;
  key.append(format).push_back('\0');
  key.append(conversation).push_back('\0');
  key.append(std::to_string(index));
  const std::uint64_t a = fnv(14695981039346656037ULL, key);
  const std::uint64_t b = fnv(0x9e3779b97f4a7c15ULL, key);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[15 - i] = kHex[(a >> (4 * i)) & 15];
    out[31 - i] = kHex[(b >> (4 * i)) & 15];
  }
  return out;
}

// --- Lines of JSON values ------------------------------------------------------------------

namespace {

// A Boost.JSON parser handler that notes, for each object (and each object key) up to a
// small depth, the line it starts on, by JSON pointer. Positions come from the views the
// parser hands over, which point into the input when the text has no escapes.
class LineHandler {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  explicit LineHandler(std::string_view text) : text_(text) {}

  std::unordered_map<std::string, std::size_t> lines;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) {
    push(true);
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    stack_.pop_back();
    return true;
  }
  bool on_object_begin(json::error_code&) {
    push(false);
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    stack_.pop_back();
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (!in_string_) {
      in_string_ = true;
      value_path();
    }
    seen(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    if (!in_string_) value_path();
    in_string_ = false;
    seen(s);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (!in_key_) {
      in_key_ = true;
      stack_.back().key.clear();
      seen(s);
    }
    stack_.back().key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    Frame& top = stack_.back();
    if (!in_key_) {
      top.key.clear();
      seen(s);
    }
    in_key_ = false;
    top.key.append(s.data(), s.size());
    if (stack_.size() <= kDepth) {
      const std::size_t line = line_of(pos_);
      if (!top.first_key_seen) lines.emplace(top.path, line);
      lines.emplace(top.path + "/" + top.key, line);
    }
    top.first_key_seen = true;
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    seen(s);
    return true;
  }
  bool on_int64(std::int64_t, json::string_view s, json::error_code&) { return scalar(s); }
  bool on_uint64(std::uint64_t, json::string_view s, json::error_code&) { return scalar(s); }
  bool on_double(double, json::string_view s, json::error_code&) { return scalar(s); }
  bool on_bool(bool, json::error_code&) { return scalar({}); }
  bool on_null(json::error_code&) { return scalar({}); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  static constexpr std::size_t kDepth = 4;
  struct Frame {
    bool array = false;
    std::size_t index = 0;
    std::string key;
    bool first_key_seen = false;
    std::string path;
  };

  bool scalar(json::string_view s) {
    value_path();
    seen(s);
    return true;
  }
  std::string value_path() {
    if (stack_.empty()) return {};
    Frame& top = stack_.back();
    if (stack_.size() > kDepth) {
      if (top.array) ++top.index;
      return {};
    }
    if (top.array) return top.path + "/" + std::to_string(top.index++);
    return top.path + "/" + top.key;
  }
  void push(bool array) {
    // An object starts on the line of its first key, noted in on_key.
    std::string path = value_path();
    stack_.push_back(Frame{array, 0, {}, false, std::move(path)});
  }
  void seen(json::string_view s) {
    if (s.data() == nullptr) return;
    if (s.data() >= text_.data() && s.data() <= text_.data() + text_.size()) {
      pos_ = static_cast<std::size_t>(s.data() - text_.data());
    }
  }
  std::size_t line_of(std::size_t pos) {
    if (pos < counted_pos_) {
      counted_pos_ = 0;
      counted_line_ = 1;
    }
    counted_line_ += static_cast<std::size_t>(
        std::count(text_.begin() + static_cast<std::ptrdiff_t>(counted_pos_),
                   text_.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
    counted_pos_ = pos;
    return counted_line_;
  }

  std::string_view text_;
  std::vector<Frame> stack_;
  std::size_t pos_ = 0;
  std::size_t counted_pos_ = 0;
  std::size_t counted_line_ = 1;
  bool in_string_ = false;
  bool in_key_ = false;
};

// Lines of a JSON document's records, computed on first use (only when there is an issue).
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {}
  std::size_t of(const std::string& pointer) {
    if (!built_) {
      built_ = true;
      json::basic_parser<LineHandler> p(json::parse_options{}, text_);
      json::error_code ec;
      p.write_some(false, text_.data(), text_.size(), ec);
      lines_ = std::move(p.handler().lines);
    }
    const auto it = lines_.find(pointer);
    return it == lines_.end() ? 0 : it->second;
  }

 private:
  std::string_view text_;
  bool built_ = false;
  std::unordered_map<std::string, std::size_t> lines_;
};

std::size_t line_at(std::string_view text, std::size_t pos) {
  pos = std::min(pos, text.size());
  return 1 + static_cast<std::size_t>(
                 std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
}

// Parses a whole document; on a syntax error reports it with its line and returns null.
std::optional<json::value> parse_document(std::string_view text, const std::string& file,
                                          ParseReport& report) {
  json::stream_parser p;
  json::error_code ec;
  const std::size_t n = p.write_some(text.data(), text.size(), ec);
  if (!ec) p.finish(ec);
  if (ec) {
    report.issues.push_back({file, line_at(text, n), {}, "not valid JSON: " + ec.message(), true});
    return std::nullopt;
  }
  return p.release();
}

}  // namespace

std::size_t json_line_of(std::string_view text, std::string_view pointer) {
  Lines lines(text);
  return lines.of(std::string(pointer));
}

// --- Values ----------------------------------------------------------------------------------

namespace detail {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    const unsigned char c = p[i];
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

std::size_t max_content_bytes() {
  // The server refuses bigger messages from clients (MAX_CONTENT_BYTES, 64 KiB by default):
  // an import keeps to the same limit so every imported message can be served and edited.
  static const std::size_t limit = [] {
    const char* v = std::getenv("MAX_CONTENT_BYTES");
    char* end = nullptr;
    const unsigned long long n = v ? std::strtoull(v, &end, 10) : 0;
    return n > 0 && end && *end == '\0' ? static_cast<std::size_t>(n) : std::size_t{64 * 1024};
  }();
  return limit;
}

std::string sqlite_damage(sqlite3* db) {
  // quick_check: every page and record well formed, without matching indexes to tables
  // (integrity_check's costlier part); reads the file once.
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &raw, nullptr) != SQLITE_OK) {
    return sqlite3_errmsg(db);
  }
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
  const int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) return sqlite3_errmsg(db);
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
  const std::string result = text ? text : "";
  return result == "ok" ? std::string() : result;
}

std::optional<TimeMs> time_text(std::string_view t) {
  if (t.empty()) return std::nullopt;
  if (t.find_first_not_of("0123456789.") == std::string_view::npos) {
    char* end = nullptr;
    const std::string copy(t);
    const double d = std::strtod(copy.c_str(), &end);
    if (!(d > 0) || *end != '\0') return std::nullopt;
    const double ms = d > 1e11 ? d : d * 1000.0;
    if (ms > 253402300799999.0) return std::nullopt;
    return static_cast<TimeMs>(ms);
  }
  if (auto r = parse_rfc3339(t)) return r;
  // PostgreSQL's text form: "2024-05-01 10:00:00.123456+00" (zone without minutes).
  std::string s(t);
  if (s.size() > 3 && (s[s.size() - 3] == '+' || s[s.size() - 3] == '-') &&
      s.find(':', s.size() - 3) == std::string::npos && s.size() > 19) {
    s += ":00";
    if (auto r = parse_rfc3339(s)) return r;
  }
  return std::nullopt;
}

}  // namespace detail

using detail::valid_utf8;

namespace {

// A time as the seeds write it: RFC 3339 text, or epoch seconds / milliseconds as a number.
constexpr double kLastMs = 253402300799999.0;  // 9999-12-31T23:59:59.999Z

std::optional<TimeMs> time_value(const json::value& v) {
  if (v.is_string()) return parse_rfc3339(std::string_view(v.get_string()));
  if (v.is_int64() || v.is_uint64() || v.is_double()) {
    const double d = v.to_number<double>();
    if (!(d > 0)) return std::nullopt;  // NaN too
    const double ms = d > 1e11 ? d : d * 1000.0;
    // Past 9999-12-31 is no date (and casting a double beyond int64 is undefined).
    if (ms > kLastMs) return std::nullopt;
    return static_cast<TimeMs>(ms);
  }
  return std::nullopt;
}

// The optional time field `key`: absent or null gives nullopt with ok; a bad value fails.
bool time_field(const json::object& o, std::string_view key, std::optional<TimeMs>& out,
                std::string& why) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  out = time_value(*v);
  if (!out) {
    why = std::string(key) + " is not a date: " + json::serialize(*v);
    return false;
  }
  return true;
}

bool string_field(const json::object& o, std::string_view key, std::optional<std::string>& out,
                  std::string& why) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_string()) {
    why = std::string(key) + " must be a string";
    return false;
  }
  out = std::string(v->get_string());
  return true;
}

struct MessageIn {
  NewMessage m;
  std::optional<TimeMs> edited_at;
  bool deleted = false;
  std::optional<Seq> seq;
  std::optional<std::string> conversation;
  bool has_time = false;
};

// One message in any of the JSON shapes: seed 000 {sender, text, timestamp, room}, seed 004
// {role, content, ...} and Parley's own {id, conversation, seq, sender:{id,name,role}, kind,
// content, meta, created_at, edited_at, deleted, client_id}. Fields no shape knows go to meta.
bool message_from_json(const json::value& v, MessageIn& out, std::string& why) {
  if (!v.is_object()) {
    why = "a message must be a JSON object";
    return false;
  }
  if (!protocol::all_finite(v)) {  // kept in meta, 1e400 would be exported as `Infinity`
    why = "a number is out of range";
    return false;
  }
  const auto& o = v.get_object();
  std::optional<std::string> role, content, text, kind, type, id, client_id, conversation, room;
  if (!string_field(o, "role", role, why) || !string_field(o, "content", content, why) ||
      !string_field(o, "text", text, why) || !string_field(o, "kind", kind, why) ||
      !string_field(o, "id", id, why) || !string_field(o, "client_id", client_id, why) ||
      !string_field(o, "conversation", conversation, why) || !string_field(o, "room", room, why)) {
    return false;
  }
  NewMessage& m = out.m;
  if (const auto* s = o.if_contains("sender"); s && !s->is_null()) {
    if (s->is_string()) {
      m.sender.id = std::string(s->get_string());
      m.sender.role = m.sender.id;  // seed 000: the sender is the role
    } else if (s->is_object()) {
      std::optional<std::string> sid, sname, srole;
      if (!string_field(s->get_object(), "id", sid, why) ||
          !string_field(s->get_object(), "name", sname, why) ||
          !string_field(s->get_object(), "role", srole, why)) {
        why = "sender." + why;
        return false;
      }
      m.sender.id = sid.value_or("");
      m.sender.name = sname.value_or("");
      m.sender.role = srole.value_or("");
    } else {
      why = "sender must be a string or an object";
      return false;
    }
  }
  if (role) {
    if (m.sender.role.empty()) m.sender.role = *role;
    if (m.sender.id.empty()) m.sender.id = *role;
  }
  if (m.sender.id.empty()) {
    why = "no sender or role";
    return false;
  }
  if (!content && !text) {
    why = "no content or text";
    return false;
  }
  m.content = content ? std::move(*content) : std::move(*text);
  if (m.content.size() > detail::max_content_bytes()) {
    why = "content of " + std::to_string(m.content.size()) + " bytes is over the limit of " +
          std::to_string(detail::max_content_bytes()) + " (MAX_CONTENT_BYTES)";
    return false;
  }
  if (kind) m.kind = *kind;
  if (id) {
    if (id->empty() || id->size() > 128) {
      why = "id must be 1..128 characters";
      return false;
    }
    m.id = *id;
  }
  if (client_id && !client_id->empty()) m.client_id = client_id;
  out.conversation = conversation ? conversation : room;

  std::optional<TimeMs> created, timestamp;
  if (!time_field(o, "created_at", created, why) || !time_field(o, "timestamp", timestamp, why) ||
      !time_field(o, "edited_at", out.edited_at, why)) {
    return false;
  }
  if (created || timestamp) {
    m.created_at = created ? *created : *timestamp;
    out.has_time = true;
  }
  if (const auto* d = o.if_contains("deleted"); d && !d->is_null()) {
    if (!d->is_bool()) {
      why = "deleted must be true or false";
      return false;
    }
    out.deleted = d->get_bool();
  }
  if (const auto* s = o.if_contains("seq"); s && !s->is_null()) {
    if (!s->is_int64() || s->get_int64() < 1) {
      why = "seq must be a positive integer";
      return false;
    }
    out.seq = s->get_int64();
  }

  static const std::set<std::string_view> kKnown = {
      "id",   "conversation", "seq",       "sender",    "role",    "kind",      "content", "text",
      "meta", "created_at",   "timestamp", "edited_at", "deleted", "client_id", "room"};
  json::object meta;
  if (const auto* mv = o.if_contains("meta"); mv && !mv->is_null()) {
    if (!mv->is_object()) {
      why = "meta must be an object";
      return false;
    }
    meta = mv->get_object();
  }
  for (const auto& kv : o) {
    if (!kKnown.contains(std::string_view(kv.key()))) meta[kv.key()] = kv.value();
  }
  if (!meta.empty()) m.meta = json::serialize(meta);
  return true;
}

// Reads a whole regular file, refusing symlinks (O_NOFOLLOW) and anything not regular.
bool read_file(const fs::path& path, std::string& out, std::string& why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    why = std::string("cannot open: ") + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    why = "not a regular file";
    return false;
  }
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return true;
}

std::string json_object_text(const json::value* v, std::string_view key, std::string& why,
                             bool& ok) {
  ok = true;
  if (!v || v->is_null()) return "{}";
  if (!v->is_object()) {
    why = std::string(key) + " must be an object";
    ok = false;
    return "{}";
  }
  if (!protocol::all_finite(*v)) {
    why = std::string(key) + " has a number out of range";
    ok = false;
    return "{}";
  }
  return json::serialize(*v);
}

// Turns one conversation object (seed 000 or seed 004 or Parley's json export) into a
// ParsedConversation. `pointer` is the JSON pointer of the object, for lines.
bool conversation_from_json(const json::object& o, const ConversationId& id, Format format,
                            const std::string& file, const std::string& pointer, Lines& lines,
                            ParsedConversation& out, ParseReport& report) {
  auto issue = [&](const std::string& ptr, std::string msg, bool skipped = true) {
    report.issues.push_back({file, lines.of(ptr), {}, std::move(msg), skipped});
  };
  if (!is_valid_id(id)) {
    issue(pointer, "invalid conversation id '" + id + "'");
    return false;
  }
  store::WholeConversation& w = out.whole;
  w.id = id;
  out.file = file;
  out.line = lines.of(pointer);
  std::string why;
  std::optional<std::string> title;
  if (!string_field(o, "title", title, why)) {
    issue(pointer + "/title", "conversation " + id + ": " + why);
    return false;
  }
  w.title = title.value_or("");
  std::optional<TimeMs> created, updated, last_updated;
  if (!time_field(o, "created_at", created, why) || !time_field(o, "updated_at", updated, why) ||
      !time_field(o, "last_updated", last_updated, why)) {
    issue(pointer, "conversation " + id + ": " + why);
    return false;
  }
  w.created_at = created.value_or(0);
  w.updated_at = updated ? *updated : last_updated.value_or(0);
  bool ok = true;
  w.settings = json_object_text(o.if_contains("settings"), "settings", why, ok);
  if (ok) w.meta = json_object_text(o.if_contains("meta"), "meta", why, ok);
  if (!ok) {
    issue(pointer, "conversation " + id + ": " + why);
    return false;
  }
  if (const auto* p = o.if_contains("participants"); p && p->is_array()) {
    for (const auto& u : p->get_array()) {
      if (u.is_string()) w.participants.emplace_back(u.get_string());
    }
  }
  const auto* msgs = o.if_contains("messages");
  if (!msgs || !msgs->is_array()) {
    issue(pointer, "conversation " + id + ": messages must be an array");
    return false;
  }
  const std::string fmt(format_name(format));
  std::set<MessageId> ids;
  TimeMs last_time = w.created_at;
  std::size_t index = 0;
  for (const auto& mv : msgs->get_array()) {
    const std::string mptr = pointer + "/messages/" + std::to_string(index);
    MessageIn in;
    if (!message_from_json(mv, in, why)) {
      issue(mptr, "conversation " + id + " message " + std::to_string(index) + ": " + why);
      ++index;
      continue;
    }
    if (in.conversation && *in.conversation != id && format == Format::webwoz) {
      issue(mptr,
            "message " + std::to_string(index) + " names room '" + *in.conversation + "' in room " +
                id + "'s file",
            false);
    }
    if (in.m.id.empty()) in.m.id = derived_message_id(fmt, id, index);
    if (!ids.insert(in.m.id).second) {
      issue(mptr, "conversation " + id + ": message id " + in.m.id + " appears twice");
      ++index;
      continue;
    }
    // Messages without a time take the previous one's (or the conversation's creation).
    if (!in.has_time) in.m.created_at = last_time;
    last_time = in.m.created_at;
    in.m.conversation = id;
    if (in.edited_at || in.deleted) {
      out.marks.push_back({w.messages.size(), in.edited_at, in.deleted});
    }
    w.messages.push_back(std::move(in.m));
    ++index;
  }
  if (const auto* n = o.if_contains("message_count");
      n && n->is_int64() && n->get_int64() != static_cast<std::int64_t>(index)) {
    issue(pointer + "/message_count",
          "conversation " + id + ": message_count " + std::to_string(n->get_int64()) + " but " +
              std::to_string(index) + " messages",
          false);
  }
  if (w.created_at == 0 && !w.messages.empty()) w.created_at = w.messages.front().created_at;
  if (w.updated_at == 0 && !w.messages.empty()) w.updated_at = w.messages.back().created_at;
  return true;
}

}  // namespace

bool detail::hand_over(ParsedConversation&& c, const Visitor& visit, ParseReport& report) {
  ++report.conversations;
  report.messages += c.whole.messages.size();
  return visit(std::move(c));
}

bool detail::conversation_from_object(const std::string& object_json, const ConversationId& id,
                                      const std::string& file, const std::string& where,
                                      ParsedConversation& out, ParseReport& report) {
  const std::size_t before = report.issues.size();
  json::error_code ec;
  json::value v = json::parse(object_json, ec);
  bool ok = !ec && v.is_object();
  if (!ok) {
    report.issues.push_back({file, 0, where, "not a JSON object: " + ec.message(), true});
  } else {
    Lines lines("");
    ok = conversation_from_json(v.get_object(), id, Format::conversations_json, file, "", lines,
                                out, report);
  }
  for (std::size_t i = before; i < report.issues.size(); ++i) {
    if (report.issues[i].where.empty()) report.issues[i].where = where;
  }
  return ok;
}

using detail::hand_over;

// --- webwoz ------------------------------------------------------------------------------------

detail::WebwozLayout detail::webwoz_layout(const fs::path& dir) {
  const auto is = [](const fs::path& p, fs::file_type type) {
    std::error_code ec;
    const auto st = fs::symlink_status(p, ec);
    // A symlinked templates.json counts, so that read_file reports it instead of a silence.
    return !ec && (type == fs::file_type::none ? fs::exists(st) : st.type() == type);
  };
  WebwozLayout out{dir, std::nullopt};
  if (is(dir / "conversations", fs::file_type::directory)) out.rooms = dir / "conversations";
  if (is(dir / "templates.json", fs::file_type::none)) {
    out.templates = dir / "templates.json";
    return out;
  }
  // DATA_DIR/conversations: the parent's templates.json, when the parent's conversations/ is
  // this directory (not just any directory's parent).
  std::error_code ec;
  fs::path self = fs::absolute(dir, ec).lexically_normal();
  if (ec) return out;
  if (!self.has_filename()) self = self.parent_path();  // "DATA_DIR/conversations/"
  const fs::path parent = self.parent_path();
  if (is(parent / "templates.json", fs::file_type::none) &&
      fs::equivalent(parent / "conversations", dir, ec) && !ec) {
    out.templates = parent / "templates.json";
  }
  return out;
}

bool detail::webwoz_room_name(std::string_view name) {
  return name.size() > 5 && name.ends_with(".json") && !name.starts_with(".") &&
         name != "templates.json";
}

namespace {

// WebWOz's templates.json as the app's _load_templates reads it: json.load (a repeated key
// keeps its first place and the last value, in Boost.JSON as in Python's dict), then
// _normalise (protocol::webwoz::templates_from_json: a flat {"key": "value"} is category
// "General"), in the file's order. A file the app could not have loaded is skipped whole,
// with its line, and the rooms are imported all the same.
void read_webwoz_templates(const fs::path& path, const TemplateVisitor& out, ParseReport& report) {
  const std::string file = path.string();
  const auto skip = [&](std::size_t line, const std::string& why) {
    report.issues.push_back({file, line, {}, "templates not imported: " + why, true});
  };
  std::string text, why;
  if (!read_file(path, text, why)) return skip(0, why);
  auto doc = parse_document(text, file, report);
  if (!doc) {
    report.issues.back().message = "templates not imported: " + report.issues.back().message;
    return;
  }
  Lines lines(text);
  auto set = protocol::webwoz::templates_from_json(*doc, why);
  if (!set) {
    // The line of the first category that is neither a template nor an object of them.
    std::size_t line = 1;
    if (doc->is_object()) {
      for (const auto& member : doc->get_object()) {
        const auto& v = member.value();
        const bool ok = v.is_string() ||
                        (v.is_object() && std::ranges::all_of(v.get_object(), [](const auto& kv) {
                           return kv.value().is_string() && !kv.key().empty();
                         }));
        if (!ok) {
          line = lines.of("/" + std::string(member.key()));
          break;
        }
      }
    }
    return skip(line, why);
  }
  std::vector<Template> kept;
  kept.reserve(set->size());
  for (Template& t : *set) {
    if (t.category.empty()) {  // the wizard cannot address it (the SQL reader skips it too)
      report.issues.push_back({file, lines.of("/"), {},
                               "template with an empty category" +
                                   (t.key.empty() ? std::string() : " (key '" + t.key + "')") +
                                   ": skipped",
                               true});
      continue;
    }
    kept.push_back(std::move(t));
  }
  if (!kept.empty() && out) out(std::move(kept));
}

}  // namespace

void parse_webwoz_dir(const fs::path& source, const Visitor& visit, ParseReport& report,
                      const TemplateVisitor& templates) {
  std::error_code ec;
  const detail::WebwozLayout layout = detail::webwoz_layout(source);
  const fs::path& dir = layout.rooms;
  const auto st = fs::symlink_status(dir, ec);
  if (ec || !fs::is_directory(st)) {
    report.issues.push_back({dir.string(), 0, {}, "not a directory", true});
    report.fatal = true;
    return;
  }
  // Only regular files directly inside `dir` (no symlinks, no subdirectories), by name.
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& entry = *it;
    const std::string name = entry.path().filename().string();
    if (!detail::webwoz_room_name(name)) continue;
    std::error_code sec;
    if (!fs::is_regular_file(entry.symlink_status(sec)) || sec) {
      report.issues.push_back({entry.path().string(), 0, {}, "not a regular file", true});
      continue;
    }
    files.push_back(entry.path());
  }
  if (ec) {
    report.issues.push_back({dir.string(), 0, {}, "cannot list: " + ec.message(), true});
    report.fatal = true;
    return;
  }
  std::sort(files.begin(), files.end());
  std::map<ConversationId, std::string> seen;
  for (const auto& path : files) {
    const std::string file = path.string();
    std::string text, why;
    if (!read_file(path, text, why)) {
      report.issues.push_back({file, 0, {}, why, true});
      continue;
    }
    auto doc = parse_document(text, file, report);
    if (!doc) continue;
    Lines lines(text);
    if (!doc->is_object()) {
      report.issues.push_back({file, 1, {}, "a room file must hold a JSON object", true});
      continue;
    }
    const auto& o = doc->get_object();
    ConversationId id = path.stem().string();
    if (const auto* r = o.if_contains("room_id")) {
      if (!r->is_string()) {
        report.issues.push_back({file, lines.of("/room_id"), {}, "room_id must be a string", true});
        continue;
      }
      id = std::string(r->get_string());
    }
    if (auto [it, fresh] = seen.emplace(id, file); !fresh) {
      report.issues.push_back({file,
                               lines.of("/room_id"),
                               {},
                               "room " + id + " was already read from " + it->second,
                               true});
      continue;
    }
    ParsedConversation c;
    if (!conversation_from_json(o, id, Format::webwoz, file, "", lines, c, report)) continue;
    if (!hand_over(std::move(c), visit, report)) return;
  }
  if (layout.templates) read_webwoz_templates(*layout.templates, templates, report);
}

// --- conversations-json ----------------------------------------------------------------------

void parse_conversations_json(const fs::path& path, const Visitor& visit, ParseReport& report) {
  const std::string file = path.string();
  std::string text, why;
  if (!read_file(path, text, why)) {
    report.issues.push_back({file, 0, {}, why, true});
    report.fatal = true;
    return;
  }
  auto doc = parse_document(text, file, report);
  if (!doc) {
    report.fatal = true;
    return;
  }
  Lines lines(text);
  auto one = [&](const json::value& v, const ConversationId& id, const std::string& pointer) {
    if (!v.is_object()) {
      report.issues.push_back(
          {file, lines.of(pointer), {}, "conversation " + id + " must be an object", true});
      return true;
    }
    ParsedConversation c;
    if (!conversation_from_json(v.get_object(), id, Format::conversations_json, file, pointer,
                                lines, c, report)) {
      return true;
    }
    return hand_over(std::move(c), visit, report);
  };
  auto id_of = [](const json::value& v) -> std::string {
    if (!v.is_object()) return {};
    const auto* id = v.get_object().if_contains("id");
    return id && id->is_string() ? std::string(id->get_string()) : std::string();
  };
  if (doc->is_array()) {  // Parley's json export of several conversations
    std::size_t i = 0;
    for (const auto& v : doc->get_array()) {
      if (!one(v, id_of(v), "/" + std::to_string(i++))) return;
    }
    return;
  }
  if (!doc->is_object()) {
    report.issues.push_back({file, 1, {}, "expected a JSON object of conversations", true});
    report.fatal = true;
    return;
  }
  const auto& root = doc->get_object();
  if (const auto* m = root.if_contains("messages"); m && m->is_array() && root.contains("id")) {
    one(*doc, id_of(*doc), "");  // one conversation (Parley's json export of one)
    return;
  }
  for (const auto& kv : root) {
    if (!one(kv.value(), std::string(kv.key()), "/" + std::string(kv.key()))) return;
  }
}

// --- jsonl -------------------------------------------------------------------------------------

void parse_jsonl(const fs::path& path, const Visitor& visit, ParseReport& report) {
  const std::string file = path.string();
  {
    std::error_code ec;
    if (!fs::is_regular_file(fs::symlink_status(path, ec)) &&
        !fs::is_regular_file(fs::status(path, ec))) {
      report.issues.push_back({file, 0, {}, "not a regular file", true});
      report.fatal = true;
      return;
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    report.issues.push_back({file, 0, {}, "cannot open", true});
    report.fatal = true;
    return;
  }
  struct Line {
    MessageIn msg;
    std::size_t line;
  };
  std::vector<Line> group;
  ConversationId current;
  std::map<ConversationId, std::size_t> finished;  // conversation -> line it ended on
  std::size_t group_start = 0;
  std::size_t lineno = 0;

  auto flush = [&]() -> bool {
    if (group.empty()) return true;
    std::stable_sort(group.begin(), group.end(), [](const Line& a, const Line& b) {
      return a.msg.seq.value_or(0) < b.msg.seq.value_or(0);
    });
    ParsedConversation c;
    c.header_known = false;
    c.file = file;
    c.line = group_start;
    c.whole.id = current;
    c.first_seq = std::max<Seq>(1, group.front().msg.seq.value_or(1));
    std::set<MessageId> ids;
    std::set<Seq> seqs;
    for (auto& l : group) {
      if (l.msg.seq && !seqs.insert(*l.msg.seq).second) {
        report.issues.push_back(
            {file,
             l.line,
             {},
             "conversation " + current + ": seq " + std::to_string(*l.msg.seq) + " appears twice",
             true});
        continue;
      }
      if (l.msg.m.id.empty()) l.msg.m.id = derived_message_id("jsonl", current, l.line);
      if (!ids.insert(l.msg.m.id).second) {
        report.issues.push_back(
            {file,
             l.line,
             {},
             "conversation " + current + ": message id " + l.msg.m.id + " appears twice",
             true});
        continue;
      }
      if (l.msg.edited_at || l.msg.deleted) {
        c.marks.push_back({c.whole.messages.size(), l.msg.edited_at, l.msg.deleted});
      }
      c.whole.messages.push_back(std::move(l.msg.m));
    }
    std::size_t last_line = 0;
    for (const auto& l : group) last_line = std::max(last_line, l.line);
    finished.emplace(current, last_line);
    group.clear();
    if (c.whole.messages.empty()) return true;
    TimeMs first = c.whole.messages.front().created_at, last = first;
    for (const auto& m : c.whole.messages) {
      first = std::min(first, m.created_at);
      last = std::max(last, m.created_at);
    }
    c.whole.created_at = first;
    c.whole.updated_at = last;
    return hand_over(std::move(c), visit, report);
  };

  std::string text;
  while (std::getline(in, text)) {
    ++lineno;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    json::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) {
      report.issues.push_back({file, lineno, {}, "not valid JSON: " + ec.message(), true});
      continue;
    }
    MessageIn msg;
    std::string why;
    if (!message_from_json(v, msg, why)) {
      report.issues.push_back({file, lineno, {}, why, true});
      continue;
    }
    if (!msg.conversation || !is_valid_id(*msg.conversation)) {
      report.issues.push_back({file,
                               lineno,
                               {},
                               msg.conversation
                                   ? "invalid conversation id '" + *msg.conversation + "'"
                                   : "no conversation",
                               true});
      continue;
    }
    if (!msg.has_time) {
      report.issues.push_back({file, lineno, {}, "no created_at", true});
      continue;
    }
    if (*msg.conversation != current) {
      if (!flush()) return;
      if (auto it = finished.find(*msg.conversation); it != finished.end()) {
        report.issues.push_back({file,
                                 lineno,
                                 {},
                                 "conversation " + *msg.conversation + " already ended at line " +
                                     std::to_string(it->second) + " (its lines must be together)",
                                 true});
        current.clear();
        continue;
      }
      current = *msg.conversation;
      group_start = lineno;
    }
    msg.m.conversation = current;
    group.push_back({std::move(msg), lineno});
  }
  flush();
}

// --- sqlite-tables -----------------------------------------------------------------------------

namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtCloser {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtCloser>;

Stmt prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return nullptr;
  return Stmt(s);
}

std::set<std::string> columns(sqlite3* db, const std::string& table) {
  std::set<std::string> out;
  auto s = prepare(db, "PRAGMA table_info(" + table + ")");
  while (s && sqlite3_step(s.get()) == SQLITE_ROW) {
    out.emplace(reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 1)));
  }
  return out;
}

std::optional<std::string> text_col(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

// A time column: text (RFC 3339 or "YYYY-MM-DD HH:MM:SS") or epoch seconds/milliseconds.
std::optional<TimeMs> time_col(sqlite3_stmt* s, int i, bool& bad) {
  bad = false;
  switch (sqlite3_column_type(s, i)) {
    case SQLITE_NULL:
      return std::nullopt;
    case SQLITE_INTEGER:
    case SQLITE_FLOAT: {
      const double d = sqlite3_column_double(s, i);
      if (d <= 0) break;
      return static_cast<TimeMs>(d > 1e11 ? d : d * 1000.0);
    }
    default:
      if (auto t = parse_rfc3339(text_col(s, i).value_or(""))) return t;
  }
  bad = true;
  return std::nullopt;
}

}  // namespace

void parse_sqlite_tables(const fs::path& path, const Visitor& visit, ParseReport& report) {
  const std::string file = path.string();
  std::error_code fec;
  if (!fs::is_regular_file(fs::status(path, fec))) {
    report.issues.push_back({file, 0, {}, "not a regular file", true});
    report.fatal = true;
    return;
  }
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    report.issues.push_back({file, 0, {}, std::string("cannot open: ") + sqlite3_errstr(rc), true});
    report.fatal = true;
    return;
  }
  if (const auto damage = detail::sqlite_damage(db.get()); !damage.empty()) {
    report.issues.push_back({file, 0, {}, "damaged SQLite file: " + damage, true});
    report.fatal = true;
    return;
  }
  const auto conv_cols = columns(db.get(), "conversations");
  const auto msg_cols = columns(db.get(), "messages");
  for (const char* c : {"id"}) {
    if (!conv_cols.contains(c)) {
      report.issues.push_back(
          {file, 0, {}, "no conversations table with an id column (seed 003 schema)", true});
      report.fatal = true;
      return;
    }
  }
  for (const char* c : {"conversation_id", "role", "content"}) {
    if (!msg_cols.contains(c)) {
      report.issues.push_back(
          {file,
           0,
           {},
           std::string("the messages table has no ") + c + " column (seed 003 schema)",
           true});
      report.fatal = true;
      return;
    }
  }
  auto col = [](const std::set<std::string>& cols, const char* name) {
    return cols.contains(name) ? std::string(name) : std::string("NULL");
  };
  auto convs = prepare(
      db.get(), "SELECT id, " + col(conv_cols, "title") + ", " + col(conv_cols, "created_at") +
                    ", " + col(conv_cols, "updated_at") + ", " + col(conv_cols, "message_count") +
                    " FROM conversations ORDER BY id");
  auto msgs = prepare(db.get(), "SELECT rowid, " + col(msg_cols, "id") + ", role, content, " +
                                    col(msg_cols, "timestamp") + ", " + col(msg_cols, "meta") +
                                    ", " + col(msg_cols, "created_at") +
                                    " FROM messages WHERE conversation_id = ?1 ORDER BY rowid");
  if (!convs || !msgs) {
    report.issues.push_back(
        {file, 0, {}, std::string("cannot read: ") + sqlite3_errmsg(db.get()), true});
    report.fatal = true;
    return;
  }
  if (auto orphans = prepare(db.get(),
                             "SELECT count(*) FROM messages WHERE conversation_id IS NULL OR "
                             "conversation_id NOT IN (SELECT id FROM conversations)");
      orphans && sqlite3_step(orphans.get()) == SQLITE_ROW &&
      sqlite3_column_int64(orphans.get(), 0) > 0) {
    report.issues.push_back({file, 0, "messages",
                             std::to_string(sqlite3_column_int64(orphans.get(), 0)) +
                                 " message(s) belong to no conversation",
                             true});
  }
  const std::string fmt(format_name(Format::sqlite_tables));
  while (sqlite3_step(convs.get()) == SQLITE_ROW) {
    const auto id = text_col(convs.get(), 0).value_or("");
    const std::string where = "conversations id '" + id + "'";
    if (!is_valid_id(id)) {
      report.issues.push_back({file, 0, where, "invalid conversation id", true});
      continue;
    }
    ParsedConversation c;
    c.file = file;
    c.whole.id = id;
    c.whole.title = text_col(convs.get(), 1).value_or("");
    if (!valid_utf8(c.whole.title)) {
      report.issues.push_back({file, 0, where, "title is not UTF-8", true});
      continue;
    }
    bool bad = false;
    c.whole.created_at = time_col(convs.get(), 2, bad).value_or(0);
    if (bad) report.issues.push_back({file, 0, where, "created_at is not a date", false});
    c.whole.updated_at = time_col(convs.get(), 3, bad).value_or(0);
    if (bad) report.issues.push_back({file, 0, where, "updated_at is not a date", false});

    sqlite3_reset(msgs.get());
    sqlite3_bind_text(msgs.get(), 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    std::set<MessageId> ids;
    TimeMs last_time = c.whole.created_at;
    std::size_t index = 0;
    int step;
    while ((step = sqlite3_step(msgs.get())) == SQLITE_ROW) {
      const std::string mwhere =
          "messages rowid " + std::to_string(sqlite3_column_int64(msgs.get(), 0));
      auto skip = [&](std::string why) {
        report.issues.push_back({file, 0, mwhere, "conversation " + id + ": " + why, true});
      };
      NewMessage m;
      m.conversation = id;
      auto role = text_col(msgs.get(), 2);
      auto content = text_col(msgs.get(), 3);
      ++index;
      if (!role || role->empty()) {
        skip("no role");
        continue;
      }
      if (!content) {
        skip("no content");
        continue;
      }
      if (!valid_utf8(*role) || !valid_utf8(*content)) {
        skip("text is not UTF-8");
        continue;
      }
      if (content->size() > detail::max_content_bytes()) {
        skip("content of " + std::to_string(content->size()) + " bytes is over the limit of " +
             std::to_string(detail::max_content_bytes()) + " (MAX_CONTENT_BYTES)");
        continue;
      }
      m.sender.id = *role;
      m.sender.role = *role;
      m.content = std::move(*content);
      auto source_id = text_col(msgs.get(), 1);
      if (source_id && !source_id->empty() && source_id->size() <= 128 && valid_utf8(*source_id)) {
        m.id = *source_id;
      } else {
        m.id = derived_message_id(fmt, id, index - 1);
      }
      if (!ids.insert(m.id).second) {
        skip("message id " + m.id + " appears twice");
        continue;
      }
      auto t = time_col(msgs.get(), 4, bad);
      if (bad) {
        skip("timestamp is not a date");
        continue;
      }
      if (!t) t = time_col(msgs.get(), 6, bad);
      m.created_at = t.value_or(last_time);
      last_time = m.created_at;
      if (auto meta = text_col(msgs.get(), 5); meta && !meta->empty() && *meta != "null") {
        json::error_code ec;
        auto v = json::parse(*meta, ec);
        if (ec || !v.is_object() || !protocol::all_finite(v)) {
          skip("meta is not a JSON object of finite numbers");
          continue;
        }
        m.meta = json::serialize(v);
      }
      c.whole.messages.push_back(std::move(m));
    }
    if (step != SQLITE_DONE) {
      report.issues.push_back(
          {file, 0, where, std::string("read failed: ") + sqlite3_errmsg(db.get()), true});
      continue;
    }
    if (sqlite3_column_type(convs.get(), 4) == SQLITE_INTEGER &&
        sqlite3_column_int64(convs.get(), 4) != static_cast<std::int64_t>(index)) {
      report.issues.push_back({file, 0, where,
                               "message_count " +
                                   std::to_string(sqlite3_column_int64(convs.get(), 4)) + " but " +
                                   std::to_string(index) + " messages",
                               false});
    }
    if (c.whole.created_at == 0 && !c.whole.messages.empty())
      c.whole.created_at = c.whole.messages.front().created_at;
    if (c.whole.updated_at == 0 && !c.whole.messages.empty())
      c.whole.updated_at = c.whole.messages.back().created_at;
    if (!hand_over(std::move(c), visit, report)) return;
  }
}

void parse(Format format, const fs::path& path, const Visitor& visit, ParseReport& report,
           const TemplateVisitor& templates) {
  switch (format) {
    case Format::webwoz:
      return parse_webwoz_dir(path, visit, report, templates);
    case Format::conversations_json:
      return parse_conversations_json(path, visit, report);
    case Format::jsonl:
      return parse_jsonl(path, visit, report);
    case Format::sqlite_tables:
      return parse_sqlite_tables(path, visit, report);
    case Format::sqlite:
    case Format::postgres:
      return parse_sql(format, path.string(), visit, report, templates);
    case Format::mongodump:
    case Format::mongoexport:
      return parse_mongo(format, path, visit, report);
  }
}

}  // namespace parley::cli::importers
