// Readers of the formats `parley import` understands. Pure: they read files and hand over
// whole conversations; writing them is the command's job (import.cpp).
//
//   webwoz              a directory of per-room JSON files (seed 000):
//                       {room_id, created_at, last_updated, message_count,
//                        messages:[{sender, text, timestamp, room}]}, and the app's
//                       templates.json beside them (detail::webwoz_layout)
//   conversations-json  one JSON file (seed 004): {conversation_id: {title, created_at,
//                       updated_at, messages:[{role, content, ...}], settings}}; also an array
//                       of conversations with "id", or one conversation (Parley's json export)
//   jsonl               Parley's jsonl export: one message per line with its conversation
//   sqlite-tables       a SQLite file with seed 003's `conversations` and `messages` tables
//   sqlite              a SQLite file in any seed's schema: seed 001's general_chat_messages +
//                       users, WebWOz's or seed 003's tables, seed 004's table (import_sql.cpp)
//   postgres            a PostgreSQL URL holding WebWOz's, seed 003's or seed 004's tables
//   mongodump           radio-istic's collections as `mongodump` BSON (import_mongo.cpp)
//   mongoexport         the same as `mongoexport` Extended JSON, one document a line
//
// Message ids are kept when the source has them, else derived from the source position
// (format, conversation, index), so importing the same source twice yields the same ids.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.hpp"
#include "store/store.hpp"

struct sqlite3;

namespace parley::cli::importers {

enum class Format {
  webwoz,
  conversations_json,
  jsonl,
  sqlite_tables,
  sqlite,
  postgres,
  mongodump,
  mongoexport
};

std::optional<Format> parse_format(std::string_view name) noexcept;
std::string_view format_name(Format f) noexcept;

// A problem in the source. `skipped`: the record (a message, or a whole conversation) was
// left out; otherwise a warning about data imported anyway.
struct Issue {
  std::string file;
  std::size_t line = 0;  // 1-based; 0 when the source has no lines (sqlite-tables)
  std::string where;     // e.g. "messages rowid 7" for sqlite-tables
  std::string message;
  bool skipped = true;
};
std::string to_string(const Issue& issue);

// A state a message had in the source (WholeConversation::MessageState when stored).
struct MessageMark {
  std::size_t index = 0;  // into whole.messages
  std::optional<TimeMs> edited_at;
  bool deleted = false;
};

struct ParsedConversation {
  store::WholeConversation whole;
  // False when the source says nothing about the conversation itself (jsonl): the command
  // keeps the stored title, settings, meta and participants.
  bool header_known = true;
  // The seq of the first message: above 1 for the jsonl export of a pruned conversation,
  // whose seqs the import keeps (WholeConversation::first_seq).
  Seq first_seq = 1;
  std::vector<MessageMark> marks;
  // Users the source knows by name or avatar (radio-istic's users): upserted with the
  // conversation.
  std::vector<User> users;
  // Read state: each user's read seq as a 1-based index into whole.messages (radio-istic's
  // readBy); raised, never lowered.
  std::vector<std::pair<UserId, Seq>> reads;
  std::string file;
  std::size_t line = 0;  // where the conversation starts
};

struct ParseReport {
  std::vector<Issue> issues;
  std::size_t conversations = 0;  // handed to the visitor
  std::size_t messages = 0;
  bool fatal = false;  // the source could not be read at all
  std::size_t skipped() const;
};

// Called per conversation, in source order; returns false to stop reading.
using Visitor = std::function<bool(ParsedConversation&&)>;
// Called once with WebWOz's templates (its `templates` table, or its templates.json), in the
// app's order, each (category, key) once, after the conversations; not called when the
// source has none or they could not be read (an issue then).
using TemplateVisitor = std::function<void(std::vector<Template>&&)>;

void parse(Format format, const std::filesystem::path& path, const Visitor& visit,
           ParseReport& report, const TemplateVisitor& templates = {});

void parse_webwoz_dir(const std::filesystem::path& dir, const Visitor& visit, ParseReport& report,
                      const TemplateVisitor& templates = {});
void parse_conversations_json(const std::filesystem::path& file, const Visitor& visit,
                              ParseReport& report);
void parse_jsonl(const std::filesystem::path& file, const Visitor& visit, ParseReport& report);
void parse_sqlite_tables(const std::filesystem::path& file, const Visitor& visit,
                         ParseReport& report);
// `source` is a SQLite file path or a PostgreSQL URL (import_sql.cpp).
void parse_sql(Format format, const std::string& source, const Visitor& visit, ParseReport& report,
               const TemplateVisitor& templates = {});
// A mongodump directory or .bson file, or a mongoexport directory or .json file
// (import_mongo.cpp).
void parse_mongo(Format format, const std::filesystem::path& source, const Visitor& visit,
                 ParseReport& report);

// What `parley import SOURCE` found: the format, and a sentence for the operator (which
// app's schema, which tables or collections). nullopt with `why` when nothing fits.
struct Detected {
  Format format;
  std::string description;
};
std::optional<Detected> detect(const std::string& source, std::string& why);

// The PostgreSQL connection of a seed app: SOURCE itself when it is a postgres:// or
// postgresql:// URL; for "env:FILE", the app's environment file's DATABASE_URL (seeds 000,
// 003), else its DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD (seed 004).
std::optional<std::string> postgres_url(const std::string& source);

// A stable 32-hex message id for a message the source gives no id.
MessageId derived_message_id(std::string_view format, std::string_view conversation,
                             std::size_t index);

// 1-based line of the JSON value at `pointer` ("/messages/3") in `text`, or of the first key
// of that object; 0 if not found. Uses Boost.JSON's parser, not a hand scan.
std::size_t json_line_of(std::string_view text, std::string_view pointer);

namespace detail {
// Shared by the readers (importers.cpp, import_sql.cpp, import_mongo.cpp).
bool valid_utf8(std::string_view s);
// Counts the conversation in `report` and hands it to `visit`.
bool hand_over(ParsedConversation&& c, const Visitor& visit, ParseReport& report);
// A time as text (RFC 3339, "YYYY-MM-DD HH:MM:SS[.ffffff][+00]") or epoch seconds or
// milliseconds as digits.
std::optional<TimeMs> time_text(std::string_view text);
// Seed 004's conversation object (title, created_at, updated_at, messages, settings) as
// PostgreSQL holds it in one row: issues name `where` (no lines).
bool conversation_from_object(const std::string& object_json, const ConversationId& id,
                              const std::string& file, const std::string& where,
                              ParsedConversation& out, ParseReport& report);
// The largest message content an import accepts (MAX_CONTENT_BYTES, as the server).
std::size_t max_content_bytes();
// Empty when SQLite's quick_check finds the open database sound, else what it found first.
// A damaged file can make a scan loop: a 3.5 KB one found by the import fuzzer handed two
// conversation rows back in turn forever, each an issue, until memory ran out.
std::string sqlite_damage(sqlite3* db);
// Which app's schema a SQL source or a Mongo dump holds, for the report before writing;
// `ok` false with the reason when none.
std::string describe_sql(Format format, const std::string& source, bool& ok);
std::string describe_mongo(Format format, const std::filesystem::path& source, bool& ok);
// Where WebWOz's file deployment keeps its data (backend/app.py): DATA_DIR holds the room
// files in conversations/ and the templates in templates.json. The operator may name
// DATA_DIR (the rooms are then read from its conversations/ when it has one) or
// DATA_DIR/conversations (templates.json is then its parent's).
struct WebwozLayout {
  std::filesystem::path rooms;
  std::optional<std::filesystem::path> templates;  // absent: the directory has none
};
WebwozLayout webwoz_layout(const std::filesystem::path& dir);
// A room file's name: NAME.json, not hidden, not the app's templates.json (room ids are
// uuid4().hex[:8], so no room is called "templates").
bool webwoz_room_name(std::string_view filename);
}  // namespace detail

}  // namespace parley::cli::importers
