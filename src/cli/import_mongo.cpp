// radio-istic's MongoDB collections (seed 002, backend-api/models/ at b5e67e5), read from a dump
// since no MongoDB server runs next to Parley:
//
//   mongodump     users.bson, conversations.bson, messages.bson (a directory, its one
//                 database subdirectory, or one of the files: its siblings are read)
//   mongoexport   users.json, conversations.json, messages.json: Extended JSON, canonical or
//                 relaxed, one document a line (mongoexport's default; not --jsonArray)
//
// BSON is read with libbson (bson_new_from_data checks each document's framing; fields are
// read with bson_iter, which checks each element's), Extended JSON with libbson's parser
// (bson_new_from_json), so both end as the same bson_t and one mapping reads them.
//
// Memory: users are held (a map id -> name, avatar, role); messages are not. A first pass over
// messages notes, per conversation, where each of its messages is (16 bytes a message: 16 MB
// for 1M); then each conversation reads its messages back with pread, sorts them by
// (createdAt, _id) and is handed over on its own.
#include <bson/bson.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cli/importers.hpp"

namespace parley::cli::importers {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// MongoDB refuses documents over 16 MiB (BSONObjMaxUserSize); mongodump writes up to
// 16 MiB + 16 KiB. Anything bigger is not a document a MongoDB server held: skipped unread.
constexpr std::size_t kMaxDocument = 16 * 1024 * 1024 + 16 * 1024;

// An owned bson_t (a unique_ptr<bson_t> would drop bson_t's alignment attribute).
class Doc {
 public:
  Doc() = default;
  explicit Doc(bson_t* b) : b_(b) {}
  Doc(Doc&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
  Doc& operator=(Doc&& o) noexcept {
    std::swap(b_, o.b_);
    return *this;
  }
  ~Doc() {
    if (b_) bson_destroy(b_);
  }
  explicit operator bool() const { return b_ != nullptr; }
  bson_t& operator*() const { return *b_; }
  bson_t* get() const { return b_; }

 private:
  bson_t* b_ = nullptr;
};

// Where a document is: byte offset and length in its file; line for Extended JSON.
struct Loc {
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
  std::uint32_t line = 0;  // 0 for BSON
};

// One collection's file, read once in order and then by Loc.
class Collection {
 public:
  Collection(fs::path path, bool bson) : path_(std::move(path)), bson_(bson) {}
  ~Collection() {
    if (fd_ >= 0) ::close(fd_);
  }
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;

  bool open(std::string& why) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st {};
    if (fd_ < 0 || ::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      why = fd_ < 0 ? std::string("cannot open: ") + std::strerror(errno) : "not a regular file";
      return false;
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
    return true;
  }
  std::string file() const { return path_.string(); }
  static std::string where(const Loc& loc) {
    return loc.line ? std::string() : "document at byte " + std::to_string(loc.offset);
  }

  // Calls fn(doc, loc) for each document in file order; unreadable documents are reported
  // and skipped, a broken frame (BSON) ends the file.
  template <class Fn>
  void scan(ParseReport& report, Fn&& fn) {
    if (bson_) {
      scan_bson(report, fn);
    } else {
      scan_json(report, fn);
    }
  }

  Doc read(const Loc& loc, std::string& why) {
    std::string buf(loc.length, '\0');
    if (!pread_all(buf.data(), loc.length, loc.offset)) {
      why = "cannot read back";
      return Doc();
    }
    return bson_ ? from_bson(buf, why) : from_json(buf, why);
  }

 private:
  bool pread_all(char* p, std::size_t n, std::uint64_t off) const {
    while (n > 0) {
      const ssize_t got = ::pread(fd_, p, n, static_cast<off_t>(off));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      p += got, n -= static_cast<std::size_t>(got), off += static_cast<std::uint64_t>(got);
    }
    return true;
  }

  static Doc from_bson(const std::string& buf, std::string& why) {
    Doc d(bson_new_from_data(reinterpret_cast<const std::uint8_t*>(buf.data()), buf.size()));
    if (!d) why = "not a BSON document (bad length or terminator)";
    return d;
  }
  static Doc from_json(const std::string& buf, std::string& why) {
    bson_error_t err;
    Doc d(bson_new_from_json(reinterpret_cast<const std::uint8_t*>(buf.data()),
                             static_cast<ssize_t>(buf.size()), &err));
    if (!d) why = std::string("not Extended JSON: ") + err.message;
    return d;
  }

  template <class Fn>
  void scan_bson(ParseReport& report, Fn& fn) {
    std::uint64_t off = 0;
    while (off < size_) {
      const Loc at{off, 0, 0};
      std::uint8_t head[4];
      if (size_ - off < 5 || !pread_all(reinterpret_cast<char*>(head), 4, off)) {
        report.issues.push_back({file(), 0, where(at),
                                 "truncated: " + std::to_string(size_ - off) +
                                     " byte(s) at the end are not a whole document",
                                 true});
        return;
      }
      const std::uint32_t len = std::uint32_t(head[0]) | std::uint32_t(head[1]) << 8 |
                                std::uint32_t(head[2]) << 16 | std::uint32_t(head[3]) << 24;
      if (len < 5 || len > size_ - off) {
        // Without a valid length nothing after this point can be framed.
        report.issues.push_back({file(), 0, where(at),
                                 len < 5 ? "corrupt: a document length of " + std::to_string(len) +
                                               "; the rest of the file is not read"
                                         : "truncated: the document declares " +
                                               std::to_string(len) + " bytes, the file has " +
                                               std::to_string(size_ - off) + " left",
                                 true});
        return;
      }
      off += len;
      if (len > kMaxDocument) {
        report.issues.push_back({file(), 0, where(at),
                                 "a document of " + std::to_string(len) +
                                     " bytes, over MongoDB's 16 MiB limit: not read",
                                 true});
        continue;
      }
      const Loc loc{at.offset, len, 0};
      std::string why;
      Doc d = read(loc, why);
      if (!d) {
        report.issues.push_back({file(), 0, where(loc), why, true});
        continue;
      }
      if (!fn(*d, loc)) return;
    }
  }

  template <class Fn>
  void scan_json(ParseReport& report, Fn& fn) {
    // Lines are read in 64 KiB chunks; a line longer than kMaxDocument is skipped unread.
    std::vector<char> chunk(64 * 1024);
    std::string line;
    std::uint64_t off = 0, start = 0;
    std::uint32_t lineno = 1;
    bool too_long = false;
    auto finish = [&]() -> bool {
      const Loc loc{start, static_cast<std::uint32_t>(line.size()), lineno};
      bool go = true;
      if (too_long) {
        report.issues.push_back(
            {file(), lineno, {}, "a line over MongoDB's 16 MiB document limit: not read", true});
      } else if (line.find_first_not_of(" \t\r") != std::string::npos) {
        if (line.starts_with("[")) {
          report.issues.push_back(
              {file(),
               lineno,
               {},
               "a JSON array: export with mongoexport's default of one document a line (no "
               "--jsonArray)",
               true});
          return false;
        }
        std::string why;
        Doc d = from_json(line, why);
        if (!d) {
          report.issues.push_back({file(), lineno, {}, why, true});
        } else {
          go = fn(*d, loc);
        }
      }
      line.clear();
      too_long = false;
      ++lineno;
      return go;
    };
    while (true) {
      const ssize_t n = ::pread(fd_, chunk.data(), chunk.size(), static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      for (ssize_t i = 0; i < n; ++i) {
        const char ch = chunk[static_cast<std::size_t>(i)];
        ++off;
        if (ch == '\n') {
          if (!finish()) return;
          start = off;
        } else if (!too_long) {
          line.push_back(ch);
          if (line.size() > kMaxDocument) {
            too_long = true;
            line.clear();
            line.shrink_to_fit();
          }
        }
      }
    }
    if (!line.empty() || too_long) (void)finish();
  }

  fs::path path_;
  bool bson_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// --- Fields ---------------------------------------------------------------------------------

// An ObjectId (or a string holding one, or any string id) as text; empty if absent or not one.
std::string id_of(const bson_iter_t& it) {
  if (BSON_ITER_HOLDS_OID(&it)) {
    char hex[25];
    bson_oid_to_string(bson_iter_oid(&it), hex);
    return hex;
  }
  if (BSON_ITER_HOLDS_UTF8(&it)) {
    std::uint32_t len = 0;
    const char* s = bson_iter_utf8(&it, &len);
    std::string v(s, len);
    return is_valid_id(v) ? v : std::string();
  }
  return {};
}

// What the mapping reads of one document, gathered in one pass over its top-level fields.
struct Fields {
  // bson_iter_t wants 128-byte alignment, an attribute a template argument drops (UBSan in
  // the fuzz target): alignas on a wrapper is part of the type and survives std::map.
  struct alignas(128) Iter {
    bson_iter_t it;
  };
  std::map<std::string, Iter, std::less<>> at;
  bool corrupt = false;
  std::set<std::string> unknown;

  Fields(const bson_t& doc, const std::set<std::string_view>& known) {
    bson_iter_t it;
    if (!bson_iter_init(&it, &doc)) {
      corrupt = true;
      return;
    }
    while (bson_iter_next(&it)) {
      const std::string_view key = bson_iter_key(&it);
      if (known.contains(key)) {
        at.emplace(std::string(key), Iter{it});
      } else {
        unknown.emplace(key);
      }
    }
    // bson_iter_next stops on a broken element too, and says so in err_off.
    if (it.err_off != 0) corrupt = true;
  }
  const bson_iter_t* get(std::string_view key) const {
    const auto i = at.find(key);
    return i == at.end() ? nullptr : &i->second.it;
  }
  std::string id(std::string_view key) const {
    const auto* it = get(key);
    return it ? id_of(*it) : std::string();
  }
  // A string field: nullopt if absent or null; `bad` if present but not valid UTF-8 text.
  std::optional<std::string> text(std::string_view key, bool& bad) const {
    const auto* it = get(key);
    if (!it || BSON_ITER_HOLDS_NULL(it)) return std::nullopt;
    if (!BSON_ITER_HOLDS_UTF8(it)) {
      bad = true;
      return std::nullopt;
    }
    std::uint32_t len = 0;
    const char* s = bson_iter_utf8(it, &len);
    if (!bson_utf8_validate(s, len, false)) {
      bad = true;
      return std::nullopt;
    }
    return std::string(s, len);
  }
  std::optional<TimeMs> time(std::string_view key) const {
    const auto* it = get(key);
    if (!it) return std::nullopt;
    if (BSON_ITER_HOLDS_DATE_TIME(it)) {
      const std::int64_t ms = bson_iter_date_time(it);
      return ms > 0 ? std::optional<TimeMs>(ms) : std::nullopt;
    }
    if (BSON_ITER_HOLDS_UTF8(it)) {
      std::uint32_t len = 0;
      const char* s = bson_iter_utf8(it, &len);
      return detail::time_text(std::string_view(s, len));
    }
    return std::nullopt;
  }
  bool flag(std::string_view key) const {
    const auto* it = get(key);
    return it && BSON_ITER_HOLDS_BOOL(it) && bson_iter_bool(it);
  }
};

// Users: name ("firstName lastName"), avatar, role.
const std::set<std::string_view> kUserFields = {"_id", "firstName", "lastName", "avatar", "role"};
const std::set<std::string_view> kConversationFields = {
    "_id",         "participants",         "isGroup",      "groupName", "groupAvatar",
    "lastMessage", "lastMessageTimestamp", "unreadCounts", "createdAt", "updatedAt",
    "__v"};
const std::set<std::string_view> kMessageFields = {
    "_id",    "conversation", "sender",    "content",   "type",      "mediaUrl", "mediaType",
    "readBy", "isDeleted",    "deletedAt", "createdAt", "updatedAt", "__v"};
// The users collection has many more fields (email, password hash, field, year...): those are
// not Parley's to keep and are not reported.

struct Source {
  Format format;
  fs::path dir;
  std::string ext;  // ".bson" or ".json"
  fs::path file(const char* collection) const { return dir / (std::string(collection) + ext); }
};

// The directory holding the collections: SOURCE, SOURCE's directory when it is a file, or
// SOURCE's one subdirectory that holds messages (mongodump writes dump/<database>/).
std::optional<Source> locate(Format format, const fs::path& source, std::string& why) {
  const std::string ext = format == Format::mongodump ? ".bson" : ".json";
  std::error_code ec;
  fs::path dir = source;
  if (fs::is_regular_file(source, ec)) dir = source.parent_path();
  if (dir.empty()) dir = ".";
  auto has = [&](const fs::path& d) { return fs::is_regular_file(d / ("messages" + ext), ec); };
  if (has(dir)) return Source{format, dir, ext};
  std::vector<fs::path> found;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && has(it->path())) found.push_back(it->path());
  }
  if (found.size() == 1) return Source{format, found.front(), ext};
  why = found.empty() ? "no messages" + ext + " in " + dir.string() + " (nor in a database folder)"
                      : "several databases in " + dir.string() + ": name one folder";
  return std::nullopt;
}

class MongoReader {
 public:
  MongoReader(Source src, const Visitor& visit, ParseReport& report)
      : src_(std::move(src)), visit_(visit), report_(report) {}

  void run() {
    read_users();
    Collection messages(src_.file("messages"), src_.ext == ".bson");
    std::string why;
    if (!messages.open(why)) {
      report_.issues.push_back({messages.file(), 0, {}, why, true});
      report_.fatal = true;
      return;
    }
    index_messages(messages);
    Collection conversations(src_.file("conversations"), src_.ext == ".bson");
    std::error_code ec;
    if (fs::exists(src_.file("conversations"), ec)) {
      if (!conversations.open(why)) {
        report_.issues.push_back({conversations.file(), 0, {}, why, true});
        report_.fatal = true;
        return;
      }
      if (!read_conversations(conversations, messages)) return;
    } else {
      report_.issues.push_back(
          {conversations.file(),
           0,
           {},
           "absent: conversations are made from messages alone (no participants, no group names)",
           false});
    }
    // Messages of conversations the conversations collection does not hold.
    for (auto& [conv, locs] : by_conversation_) {
      if (stopped_) return;
      if (has_conversations_) {
        report_.issues.push_back({messages.file(), locs.front().line,
                                  Collection::where(locs.front()),
                                  std::to_string(locs.size()) + " message(s) of conversation " +
                                      conv + ", which conversations does not hold",
                                  true});
        continue;
      }
      ParsedConversation c;
      c.header_known = false;
      c.whole.id = conv;
      c.file = messages.file();
      c.line = locs.front().line;
      if (!fill_messages(c, messages, locs)) continue;
      if (!detail::hand_over(std::move(c), visit_, report_)) return;
    }
  }

 private:
  void note_unknown(const std::string& file, const std::set<std::string>& unknown,
                    std::set<std::string>& noted) {
    std::string fresh;
    for (const auto& k : unknown) {
      if (noted.insert(k).second) fresh += (fresh.empty() ? "" : ", ") + k;
    }
    if (!fresh.empty()) {
      report_.issues.push_back(
          {file, 0, {}, "field(s) not imported (no place in the mapping): " + fresh, false});
    }
  }

  void read_users() {
    std::error_code ec;
    if (!fs::exists(src_.file("users"), ec)) {
      report_.issues.push_back({src_.file("users").string(),
                                0,
                                {},
                                "absent: senders are imported without names or avatars",
                                false});
      return;
    }
    Collection users(src_.file("users"), src_.ext == ".bson");
    std::string why;
    if (!users.open(why)) {
      report_.issues.push_back({users.file(), 0, {}, why, true});
      return;
    }
    users.scan(report_, [&](const bson_t& doc, const Loc& loc) {
      Fields f(doc, kUserFields);
      User u;
      u.id = f.id("_id");
      bool bad = false;
      const auto first = f.text("firstName", bad), last = f.text("lastName", bad);
      const auto avatar = f.text("avatar", bad), role = f.text("role", bad);
      if (f.corrupt || u.id.empty() || bad) {
        report_.issues.push_back({users.file(), loc.line, Collection::where(loc),
                                  f.corrupt      ? "a corrupt document"
                                  : u.id.empty() ? "no _id"
                                                 : "a name, avatar or role is not UTF-8 text",
                                  true});
        return true;
      }
      u.name = first.value_or("");
      if (last && !last->empty()) u.name += (u.name.empty() ? "" : " ") + *last;
      u.avatar = avatar.value_or("");
      u.role = role.value_or("");
      if (!users_.emplace(u.id, u).second) {
        report_.issues.push_back({users.file(), loc.line, Collection::where(loc),
                                  "user " + u.id + " appears twice: the first is kept", true});
      }
      return true;
    });
  }

  void index_messages(Collection& messages) {
    std::set<std::string> noted;
    messages.scan(report_, [&](const bson_t& doc, const Loc& loc) {
      Fields f(doc, kMessageFields);
      note_unknown(messages.file(), f.unknown, noted);
      const std::string conv = f.id("conversation");
      if (f.corrupt || conv.empty()) {
        report_.issues.push_back({messages.file(), loc.line, Collection::where(loc),
                                  f.corrupt ? "a corrupt document" : "no conversation id", true});
        return true;
      }
      by_conversation_[conv].push_back(loc);
      return true;
    });
  }

  bool read_conversations(Collection& conversations, Collection& messages) {
    has_conversations_ = true;
    std::set<std::string> noted, seen;
    conversations.scan(report_, [&](const bson_t& doc, const Loc& loc) {
      Fields f(doc, kConversationFields);
      note_unknown(conversations.file(), f.unknown, noted);
      const std::string id = f.id("_id");
      auto skip = [&](std::string why) {
        report_.issues.push_back(
            {conversations.file(), loc.line, Collection::where(loc), std::move(why), true});
        return true;
      };
      if (f.corrupt) return skip("a corrupt document");
      if (id.empty()) return skip("no _id");
      if (!seen.insert(id).second) return skip("conversation " + id + " appears twice");
      ParsedConversation c;
      c.file = conversations.file();
      c.line = loc.line;
      store::WholeConversation& w = c.whole;
      w.id = id;
      bool bad = false;
      const auto group_name = f.text("groupName", bad);
      const auto group_avatar = f.text("groupAvatar", bad);
      if (bad) return skip("conversation " + id + ": groupName or groupAvatar is not UTF-8 text");
      const bool is_group = f.flag("isGroup");
      w.title = is_group ? group_name.value_or("") : std::string();
      w.created_at = f.time("createdAt").value_or(0);
      w.updated_at = f.time("updatedAt").value_or(0);
      json::object meta{{"source", "radio-istic"}, {"isGroup", is_group}};
      if (group_avatar) meta["groupAvatar"] = *group_avatar;
      if (group_name && !is_group) meta["groupName"] = *group_name;
      if (auto lm = f.id("lastMessage"); !lm.empty()) meta["lastMessage"] = lm;
      if (auto t = f.time("lastMessageTimestamp")) meta["lastMessageTimestamp"] = *t;
      if (const auto* it = f.get("participants"); it && BSON_ITER_HOLDS_ARRAY(it)) {
        bson_iter_t child;
        if (bson_iter_recurse(it, &child)) {
          while (bson_iter_next(&child)) {
            if (auto p = id_of(child); !p.empty()) w.participants.push_back(p);
          }
        }
      }
      if (const auto* it = f.get("unreadCounts"); it && BSON_ITER_HOLDS_DOCUMENT(it)) {
        // Kept as the app had it; Parley's own unread counts come from the read seqs.
        json::object counts;
        bson_iter_t child;
        if (bson_iter_recurse(it, &child)) {
          while (bson_iter_next(&child)) {
            const char* k = bson_iter_key(&child);
            if (BSON_ITER_HOLDS_NUMBER(&child) && bson_utf8_validate(k, std::strlen(k), false)) {
              counts[k] = bson_iter_as_int64(&child);
            }
          }
        }
        meta["unreadCounts"] = std::move(counts);
      }
      w.meta = json::serialize(meta);
      const auto found = by_conversation_.find(id);
      if (found != by_conversation_.end()) {
        const bool ok = fill_messages(c, messages, found->second);
        by_conversation_.erase(found);
        if (!ok) return true;
      }
      if (w.created_at == 0 && !w.messages.empty()) w.created_at = w.messages.front().created_at;
      if (w.updated_at == 0 && !w.messages.empty()) w.updated_at = w.messages.back().created_at;
      for (const auto& p : w.participants) add_user(c, p);
      if (!detail::hand_over(std::move(c), visit_, report_)) {
        stopped_ = true;
        return false;
      }
      return true;
    });
    return !stopped_;
  }

  void add_user(ParsedConversation& c, const UserId& id) {
    const auto u = users_.find(id);
    if (u == users_.end()) return;
    if (std::none_of(c.users.begin(), c.users.end(), [&](const User& x) { return x.id == id; })) {
      c.users.push_back(u->second);
    }
  }

  // Reads back the conversation's messages; false (reported) when none could be.
  bool fill_messages(ParsedConversation& c, Collection& messages, const std::vector<Loc>& locs) {
    struct Item {
      NewMessage m;
      bool deleted = false;
      std::optional<TimeMs> deleted_at;
      std::vector<UserId> readers;
      Loc loc;
    };
    std::vector<Item> items;
    items.reserve(locs.size());
    std::set<MessageId> ids;
    const std::string& conv = c.whole.id;
    for (const Loc& loc : locs) {
      auto skip = [&](std::string why) {
        report_.issues.push_back({messages.file(), loc.line, Collection::where(loc),
                                  "conversation " + conv + ": " + std::move(why), true});
      };
      std::string why;
      Doc d = messages.read(loc, why);
      if (!d) {
        skip(why);
        continue;
      }
      Fields f(*d, kMessageFields);
      Item item;
      item.loc = loc;
      NewMessage& m = item.m;
      m.conversation = conv;
      m.id = f.id("_id");
      m.sender.id = f.id("sender");
      bool bad = false;
      auto content = f.text("content", bad);
      auto type = f.text("type", bad);
      auto media_url = f.text("mediaUrl", bad);
      auto media_type = f.text("mediaType", bad);
      if (bad) {
        skip("content, type, mediaUrl or mediaType is not UTF-8 text");
        continue;
      }
      if (m.id.empty()) {
        skip("no _id");
        continue;
      }
      if (m.sender.id.empty()) {
        skip("message " + m.id + ": no sender");
        continue;
      }
      if (!content) {
        skip("message " + m.id + ": no content");
        continue;
      }
      if (content->size() > detail::max_content_bytes()) {
        skip("message " + m.id + ": content of " + std::to_string(content->size()) +
             " bytes is over the limit of " + std::to_string(detail::max_content_bytes()) +
             " (MAX_CONTENT_BYTES)");
        continue;
      }
      if (!ids.insert(m.id).second) {
        skip("message " + m.id + " appears twice: the first is kept");
        continue;
      }
      m.content = std::move(*content);
      json::object meta;
      const std::string kind = type.value_or("text");
      if (kind == "text" || kind == "image" || kind == "file" || kind == "system") {
        m.kind = kind;
      } else {
        m.kind = "text";
        meta["type"] = kind;
      }
      if (media_url) meta["mediaUrl"] = *media_url;
      if (media_type) meta["mediaType"] = *media_type;
      if (!meta.empty()) m.meta = json::serialize(meta);
      const auto created = f.time("createdAt");
      if (!created) {
        skip("message " + m.id + ": no createdAt date");
        continue;
      }
      m.created_at = *created;
      if (const auto u = users_.find(m.sender.id); u != users_.end()) {
        m.sender.name = u->second.name;
        m.sender.role = u->second.role;
      }
      item.deleted = f.flag("isDeleted");
      item.deleted_at = f.time("deletedAt");
      if (const auto* it = f.get("readBy"); it && BSON_ITER_HOLDS_ARRAY(it)) {
        bson_iter_t entry;
        if (bson_iter_recurse(it, &entry)) {
          while (bson_iter_next(&entry)) {
            bson_iter_t user;
            if (BSON_ITER_HOLDS_DOCUMENT(&entry) && bson_iter_recurse(&entry, &user) &&
                bson_iter_find(&user, "user")) {
              if (auto r = id_of(user); !r.empty()) item.readers.push_back(r);
            }
          }
        }
      }
      items.push_back(std::move(item));
    }
    if (items.empty() && !locs.empty()) return true;  // reported per message; keep the header
    // The app lists a conversation's messages by createdAt; ObjectIds (time + counter) break
    // ties in insertion order.
    std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      return a.m.created_at != b.m.created_at ? a.m.created_at < b.m.created_at : a.m.id < b.m.id;
    });
    std::map<UserId, Seq> read;
    for (std::size_t i = 0; i < items.size(); ++i) {
      Item& item = items[i];
      if (item.deleted) c.marks.push_back({i, item.deleted_at.value_or(item.m.created_at), true});
      for (const auto& r : item.readers) {
        // readBy lists who read that message: a user's read seq is the last message they read.
        Seq& s = read[r];
        s = std::max<Seq>(s, static_cast<Seq>(i + 1));
      }
      add_user(c, item.m.sender.id);
      c.whole.messages.push_back(std::move(item.m));
    }
    for (auto& [user, seq] : read) c.reads.emplace_back(user, seq);
    return true;
  }

  Source src_;
  const Visitor& visit_;
  ParseReport& report_;
  std::unordered_map<UserId, User> users_;
  std::map<ConversationId, std::vector<Loc>> by_conversation_;
  bool has_conversations_ = false;
  bool stopped_ = false;
};

}  // namespace

void parse_mongo(Format format, const fs::path& source, const Visitor& visit, ParseReport& report) {
  std::string why;
  auto src = locate(format, source, why);
  if (!src) {
    report.issues.push_back({source.string(), 0, {}, why, true});
    report.fatal = true;
    return;
  }
  MongoReader(std::move(*src), visit, report).run();
}

std::string detail::describe_mongo(Format format, const fs::path& source, bool& ok) {
  std::string why;
  auto src = locate(format, source, why);
  ok = src.has_value();
  if (!ok) return why;
  std::string have;
  for (const char* c : {"users", "conversations", "messages"}) {
    std::error_code ec;
    if (fs::exists(src->file(c), ec)) have += (have.empty() ? "" : ", ") + std::string(c);
  }
  return "radio-istic (seed 002: " + have + " in " + src->dir.string() + ")";
}

}  // namespace parley::cli::importers
