// DESIGN
//
// Appends (the hot path). One append_batch costs one round trip, two while duplicates are
// about:
//   1. Only after a recent batch met a stored client_id: look the batch's client_ids up
//      among stored messages (a plain read, no lock). Resent messages are rare, so by
//      default the write goes first, and the unique index on (conversation, sender_id,
//      client_id) says when one was resent: the batch is then planned again with the
//      look-up, which stays on for the next batches.
//   2. One statement, so one transaction: an upsert of the batch's conversations that
//      creates the missing ones and advances each by its number of new messages
//      (last_seq += n, under the row lock, taken in id order), feeding, in the same
//      statement, an insert of every new message at seq = new last_seq - back, where `back`
//      is the message's distance from the end of its conversation's run in the batch.
// Every value travels as an array parameter (unnest), so 500 messages are still one
// statement. Two servers writing one conversation serialize on its row and each reserves
// its own range: one gapless sequence. The client_id look-up is optimistic either way: a
// duplicate committed by another writer after it makes the insert fail on
// messages_by_client_id, and the batch is planned again (it then sees that duplicate).
// The same retry covers deadlocks.
//
// Connections. A dropped connection is noticed before a call (the idle socket is readable)
// or during one. A call on a dropped connection reconnects once; while the server stays
// unreachable, attempts are spaced by a doubling backoff and calls in between fail at once
// with unavailable. A call that failed because the connection dropped is run again on the
// new connection when that is safe: reads, idempotent writes, and appends whose transaction
// certainly did not commit. An append that lost its connection after COMMIT was sent is "in
// doubt"; its message ids were chosen here, so after reconnecting one lookup tells whether
// it committed, and it is never stored twice.
#include "store/postgres/pg_store.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_set>

#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "store/detail/templates.hpp"
#include "store/detail/values.hpp"
#include "store/postgres/migrations.hpp"

namespace parley::store::postgres {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kMinBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{2000};
constexpr int kMaxAppendAttempts = 4;
// Migrations wait for the migration lock and may rewrite tables: no deadline.
constexpr std::chrono::milliseconds kNoDeadline{0};
// After a batch met a stored client_id, this many batches look client_ids up before writing.
constexpr int kLookupBatches = 64;
// pg_advisory_lock(kMigrationLockKey, hashtext(schema)): one migration at a time per schema.
constexpr std::int32_t kMigrationLockKey = 0x50726c79;  // "Prly"
constexpr std::size_t kExportChunk = 256;

boost::system::error_code err(Errc e) { return make_error_code(e); }

TimeMs or_now(TimeMs t) { return t != 0 ? t : now_ms(); }

// --- Values in and out -------------------------------------------------------------------

// Message content may hold any byte sequence the protocol accepts, NUL included, but
// PostgreSQL text cannot hold NUL. Content is stored with NUL as \x01 '0' and \x01 itself as
// \x01 '1'; any other text (nearly all of it) is stored as it is.
constexpr char kEscape = '\x01';

bool needs_escape(std::string_view text) {
  return text.find_first_of(std::string_view("\0\x01", 2)) != std::string_view::npos;
}

void append_stored_content(std::string& out, std::string_view content) {
  for (const char c : content) {
    if (c == '\0' || c == kEscape) {
      out.push_back(kEscape);
      out.push_back(c == '\0' ? '0' : '1');
    } else {
      out.push_back(c);
    }
  }
}

std::string stored_content(std::string_view content) {
  if (!needs_escape(content)) return std::string(content);
  std::string out;
  out.reserve(content.size() + 8);
  append_stored_content(out, content);
  return out;
}

std::string content_from_stored(std::string_view stored) {
  if (stored.find(kEscape) == std::string_view::npos) return std::string(stored);
  std::string out;
  out.reserve(stored.size());
  for (std::size_t i = 0; i < stored.size(); ++i) {
    if (stored[i] == kEscape && i + 1 < stored.size() &&
        (stored[i + 1] == '0' || stored[i + 1] == '1')) {
      out.push_back(stored[++i] == '0' ? '\0' : kEscape);
    } else {
      out.push_back(stored[i]);
    }
  }
  return out;
}

// The words of `text` as detail::search_terms cuts them (runs of ASCII letters and digits
// and of non-ASCII bytes), as (offset, length) spans.
std::vector<std::pair<std::size_t, std::size_t>> word_spans(std::string_view text) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !detail::is_word_byte(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && detail::is_word_byte(text[i])) ++i;
    if (i > start) spans.emplace_back(start, i - start);
  }
  return spans;
}

// The tsvector of a message's content: every word ASCII-lowercased with its positions, the
// lexemes in byte order. Within PostgreSQL's limits: lexemes over 2 KiB and lexemes past 1 MB
// in all are left out, positions stop at 16383, 256 of them per lexeme.
struct SearchEntry {
  std::string lexeme;
  std::vector<std::uint16_t> positions;  // ascending
};

std::vector<SearchEntry> search_entries(std::string_view content) {
  constexpr std::size_t kMaxLexeme = 2046;
  constexpr std::size_t kMaxLexemeBytes = 1000000;
  constexpr std::size_t kMaxPosition = 16383;
  constexpr std::size_t kMaxPositions = 256;
  const auto spans = word_spans(content);
  std::vector<std::pair<std::string, std::size_t>> words;  // (lexeme, position)
  words.reserve(spans.size());
  for (std::size_t w = 0; w < spans.size(); ++w) {
    if (spans[w].second > kMaxLexeme) continue;
    words.emplace_back(detail::ascii_lower(content.substr(spans[w].first, spans[w].second)),
                       std::min(w + 1, kMaxPosition));
  }
  std::sort(words.begin(), words.end());
  std::vector<SearchEntry> out;
  std::size_t lexeme_bytes = 0;
  for (std::size_t i = 0; i < words.size();) {
    lexeme_bytes += words[i].first.size();
    if (lexeme_bytes > kMaxLexemeBytes) break;
    SearchEntry entry{words[i].first, {}};
    std::size_t last = 0;
    for (; i < words.size() && words[i].first == entry.lexeme; ++i) {
      if (entry.positions.size() >= kMaxPositions || words[i].second == last) continue;
      last = words[i].second;
      entry.positions.push_back(static_cast<std::uint16_t>(last));
    }
    out.push_back(std::move(entry));
  }
  return out;
}

// As tsvector text ('hello':1,4 'world':2), for a single parameter.
std::string search_vector(std::string_view content) {
  std::string out;
  for (const SearchEntry& entry : search_entries(content)) {
    if (!out.empty()) out.push_back(' ');
    out.push_back('\'');
    out += entry.lexeme;
    out += "':";
    for (std::size_t p = 0; p < entry.positions.size(); ++p) {
      if (p > 0) out.push_back(',');
      out += std::to_string(entry.positions[p]);
    }
  }
  return out;
}

void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// A tsvector[] parameter in PostgreSQL's binary format (array_send of tsvectorsend values):
// parsing tsvector text was about a fifth of the server's work per appended message.
class SearchVectorArray {
 public:
  SearchVectorArray() {
    constexpr std::uint32_t kTsvectorOid = 3614;
    put_u32(out_, 1);  // dimensions
    put_u32(out_, 0);  // no NULLs
    put_u32(out_, kTsvectorOid);
    put_u32(out_, 0);  // length, set by finish()
    put_u32(out_, 1);  // lower bound
  }
  void add(std::string_view content) {
    const std::size_t at = out_.size();
    put_u32(out_, 0);  // element length, set below
    const auto entries = search_entries(content);
    put_u32(out_, static_cast<std::uint32_t>(entries.size()));
    for (const SearchEntry& entry : entries) {
      out_ += entry.lexeme;
      out_.push_back('\0');
      put_u16(out_, static_cast<std::uint16_t>(entry.positions.size()));
      for (const std::uint16_t pos : entry.positions) put_u16(out_, pos);  // weight D: 0
    }
    set_u32(at, static_cast<std::uint32_t>(out_.size() - at - 4));
    ++count_;
  }
  std::string finish() && {
    set_u32(12, count_);
    return std::move(out_);
  }

 private:
  void set_u32(std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
      out_[at + static_cast<std::size_t>(i)] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  }
  std::string out_;
  std::uint32_t count_ = 0;
};

// About 16 words around the first match, with an ellipsis where text was cut: the memory
// backend's snippet, so every backend shows the same.
std::string make_snippet(std::string_view content, const std::vector<std::string>& terms) {
  const auto spans = word_spans(content);
  std::size_t first_match = spans.size();
  for (std::size_t w = 0; w < spans.size() && first_match == spans.size(); ++w) {
    const std::string word = detail::ascii_lower(content.substr(spans[w].first, spans[w].second));
    for (const std::string& term : terms) {
      if (word.starts_with(term)) {
        first_match = w;
        break;
      }
    }
  }
  constexpr std::size_t kWords = 16;
  const std::size_t begin = first_match > 3 && first_match < spans.size() ? first_match - 3 : 0;
  const std::size_t end = std::min(spans.size(), begin + kWords);
  const std::size_t from = begin == 0 ? 0 : spans[begin].first;
  const std::size_t to =
      end == spans.size() ? content.size() : spans[end - 1].first + spans[end - 1].second;
  std::string out;
  if (begin > 0) out += "…";
  out.append(content.substr(from, to - from));
  if (end < spans.size()) out += "…";
  return out;
}

// A PostgreSQL array literal ({"a","b",NULL}) for one array parameter.
class ArrayLiteral {
 public:
  ArrayLiteral() { out_.push_back('{'); }
  void add(std::string_view text) {
    separate();
    out_.push_back('"');
    for (const char c : text) {
      if (c == '"' || c == '\\') out_.push_back('\\');
      out_.push_back(c);
    }
    out_.push_back('"');
  }
  // Message content, escaped as stored_content() does.
  void add_content(std::string_view content) {
    if (!needs_escape(content)) return add(content);
    std::string escaped;
    append_stored_content(escaped, content);
    add(std::string_view(escaped));
  }
  void add(std::int64_t value) {
    separate();
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    out_.append(buf, end);
  }
  void add(const std::optional<std::string>& text) {
    if (text) {
      add(std::string_view(*text));
    } else {
      separate();
      out_.append("NULL");
    }
  }
  void add(const std::optional<std::int64_t>& value) {
    if (value) {
      add(*value);
    } else {
      separate();
      out_.append("NULL");
    }
  }
  void add(bool value) { add(std::string_view(value ? "t" : "f")); }
  std::string finish() && {
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  void separate() {
    if (out_.size() > 1) out_.push_back(',');
  }
  std::string out_;
};

std::string id_array(const std::vector<std::string>& ids) {
  ArrayLiteral array;
  for (const std::string& id : ids) array.add(std::string_view(id));
  return std::move(array).finish();
}

std::string participants_json(const std::vector<UserId>& participants) {
  boost::json::array array;
  array.reserve(participants.size());
  for (const UserId& user : participants) array.emplace_back(user);
  return boost::json::serialize(array);
}

std::vector<UserId> parse_participants(std::string_view text) {
  std::vector<UserId> out;
  boost::system::error_code ec;
  const boost::json::value value = boost::json::parse(text, ec);
  if (ec || !value.is_array()) return out;
  for (const boost::json::value& item : value.get_array()) {
    if (item.is_string()) out.emplace_back(item.get_string());
  }
  return out;
}

std::string_view text_at(const PGresult* res, int row, int col) {
  return {PQgetvalue(res, row, col), static_cast<std::size_t>(PQgetlength(res, row, col))};
}

bool null_at(const PGresult* res, int row, int col) { return PQgetisnull(res, row, col) != 0; }

std::int64_t i64_at(const PGresult* res, int row, int col) {
  const std::string_view text = text_at(res, row, col);
  std::int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

bool bool_at(const PGresult* res, int row, int col) { return text_at(res, row, col) == "t"; }

// The columns of a message row, in the order message_at() reads them.
#define PARLEY_MSG_COLS(p)                                                                    \
  p "id, " p "conversation, " p "seq, " p "sender_id, " p "sender_name, " p "sender_role, " p \
    "kind, " p "content, " p "meta, " p "created_at, " p "edited_at, " p "deleted, " p "client_id"
constexpr int kMsgCols = 13;

StoredMessage message_at(const PGresult* res, int row, int col) {
  StoredMessage msg;
  msg.id = text_at(res, row, col + 0);
  msg.conversation = text_at(res, row, col + 1);
  msg.seq = i64_at(res, row, col + 2);
  msg.sender.id = text_at(res, row, col + 3);
  msg.sender.name = text_at(res, row, col + 4);
  msg.sender.role = text_at(res, row, col + 5);
  msg.kind = text_at(res, row, col + 6);
  msg.content = content_from_stored(text_at(res, row, col + 7));
  msg.meta = text_at(res, row, col + 8);
  msg.created_at = i64_at(res, row, col + 9);
  if (!null_at(res, row, col + 10)) msg.edited_at = i64_at(res, row, col + 10);
  msg.deleted = bool_at(res, row, col + 11);
  if (!null_at(res, row, col + 12)) msg.client_id = std::string(text_at(res, row, col + 12));
  return msg;
}

// The columns of a conversation row, in the order conversation_at() reads them.
#define PARLEY_CONV_COLS(p)                                                                   \
  p "id, " p "title, " p "created_at, " p "updated_at, " p "message_count, " p "last_seq, " p \
    "is_active, " p "participants, " p "settings, " p "meta"
constexpr int kConvCols = 10;

Conversation conversation_at(const PGresult* res, int row, int col) {
  Conversation conv;
  conv.id = text_at(res, row, col + 0);
  conv.title = text_at(res, row, col + 1);
  conv.created_at = i64_at(res, row, col + 2);
  conv.updated_at = i64_at(res, row, col + 3);
  conv.message_count = i64_at(res, row, col + 4);
  conv.last_seq = i64_at(res, row, col + 5);
  conv.is_active = bool_at(res, row, col + 6);
  conv.participants = parse_participants(text_at(res, row, col + 7));
  conv.settings = text_at(res, row, col + 8);
  conv.meta = text_at(res, row, col + 9);
  return conv;
}

#define PARLEY_ASCII_LOWER(x) \
  "translate(" x ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"

// --- Errors ------------------------------------------------------------------------------

// SQLSTATE classes and codes (PostgreSQL appendix A) to Parley's codes.
Errc errc_for_sqlstate(std::string_view state) {
  if (state.size() != 5) return Errc::internal;
  const std::string_view cls = state.substr(0, 2);
  if (state == "23505") return Errc::conflict;                      // unique_violation
  if (state == "23503") return Errc::not_found;                     // foreign_key_violation
  if (state == "40001" || state == "40P01") return Errc::conflict;  // serialization, deadlock
  if (cls == "08") return Errc::unavailable;                        // connection exception
  if (cls == "57") return Errc::unavailable;       // shutdown, cannot connect now, cancel
  if (cls == "53") return Errc::unavailable;       // insufficient resources
  if (cls == "58") return Errc::unavailable;       // system error (I/O)
  if (state == "25006") return Errc::unavailable;  // read_only_sql_transaction (standby)
  if (cls == "22" || cls == "23") return Errc::invalid_argument;  // data exception, check
  if (cls == "54") return Errc::too_large;                        // program limit exceeded
  return Errc::internal;
}

void ignore_notice(void*, const char*) {}

}  // namespace

// --- Statements --------------------------------------------------------------------------

enum class PgConnection::Stmt : int {
  kAppendDuplicates,
  kAppend,
  kInsertMessages,
  kMessageSeqs,
  kReadAfter,
  kReadBefore,
  kGetMessage,
  kFindMessage,
  kEditMessage,
  kDeleteMessage,
  kInsertConversation,
  kEnsureConversation,
  kEnsureConversationRow,
  kEnsureConversations,
  kGetConversation,
  kLockConversation,
  kListConversations,
  kListFirstConversations,
  kUpdateConversation,
  kDeleteMessagesOf,
  kDeleteConversation,
  kReplaceConversation,
  kClampReadState,
  kAddMembers,
  kRemoveOtherMembers,
  kAddMember,
  kAddMemberships,
  kCountConversations,
  kMarkRead,
  kReadSeq,
  kUpsertUser,
  kGetUser,
  kSetLastSeen,
  kSearch,
  kPrune,
  kListUsers,
  kMemberStates,
  kNoteChange,
  kLastChange,
  kChangesAfter,
  kCount,
};

namespace {

// A conversation list page, with its last message and (with a user) the unread count.
#define LIST_SQL(where) \
  "SELECT " PARLEY_CONV_COLS("c.") ", " PARLEY_MSG_COLS("m.") ", "            \
  "GREATEST(0, c.last_seq - COALESCE(r.seq, 0)) FROM conversations c "        \
  "LEFT JOIN messages m ON m.conversation = c.id AND m.seq = c.last_seq "     \
  "LEFT JOIN read_state r ON r.conversation = c.id AND r.user_id = $4 " where \
  "($5 = '' OR strpos(" PARLEY_ASCII_LOWER("c.title") ", $5) > 0 "             \
  "OR strpos(" PARLEY_ASCII_LOWER("c.id") ", $5) > 0) "                        \
  "AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM members mb "                \
  "WHERE mb.conversation = c.id AND mb.user_id = $4)) "                       \
  "ORDER BY c.updated_at DESC, c.id DESC LIMIT $1::bigint"

// Prepared once per connection as "parley_<index>", indexed by PgConnection::Stmt.
constexpr const char* kStatements[] = {
    // kAppendDuplicates
    "SELECT " PARLEY_MSG_COLS("m.") " FROM unnest($1::text[], $2::text[], $3::text[]) "
    "AS k(conversation, sender_id, client_id) JOIN messages m ON m.conversation = k.conversation "
    "AND m.sender_id = k.sender_id AND m.client_id = k.client_id WHERE m.client_id IS NOT NULL",
    // kAppend: the whole write of a batch, one statement and so one transaction. It creates
    // or advances each conversation by its number of new messages (reserving their seqs under
    // the row lock, in id order), then inserts the messages, each at last_seq - back.
    // Returns each conversation's new last_seq.
    "WITH r AS (INSERT INTO conversations AS c (id, created_at, updated_at, last_seq, "
    "message_count) SELECT id, $13::bigint, $13::bigint, n, n "
    "FROM unnest($14::text[], $15::bigint[]) AS v(id, n) ON CONFLICT (id) DO UPDATE SET "
    "last_seq = c.last_seq + EXCLUDED.last_seq, "
    "message_count = c.message_count + EXCLUDED.message_count, "
    "updated_at = GREATEST(c.updated_at, EXCLUDED.updated_at) RETURNING c.id, c.last_seq), "
    "ins AS (INSERT INTO messages (conversation, seq, id, sender_id, sender_name, sender_role, "
    "kind, content, meta, created_at, client_id, search) SELECT m.conversation, "
    "r.last_seq - m.back, m.id, m.sender_id, m.sender_name, m.sender_role, m.kind, m.content, "
    "m.meta, m.created_at, m.client_id, m.search FROM unnest($1::text[], $2::bigint[], "
    "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::json[], "
    "$10::bigint[], $11::text[], $12::tsvector[]) AS m(conversation, back, id, sender_id, "
    "sender_name, sender_role, kind, content, meta, created_at, client_id, search) "
    "JOIN r ON r.id = m.conversation RETURNING conversation, sender_id, seq), "
    // What one sends counts as read: each sender's read seq rises to its last new message.
    "rd AS (INSERT INTO read_state (conversation, user_id, seq) SELECT conversation, "
    "sender_id, max(seq) FROM ins GROUP BY conversation, sender_id "
    "ON CONFLICT (conversation, user_id) DO UPDATE SET seq = EXCLUDED.seq "
    "WHERE read_state.seq < EXCLUDED.seq) "
    "SELECT id, last_seq FROM r",
    // kInsertMessages: messages with their seqs and states given (replace_conversation)
    "INSERT INTO messages (conversation, seq, id, sender_id, sender_name, sender_role, kind, "
    "content, meta, created_at, client_id, search, edited_at, deleted) SELECT * FROM unnest("
    "$1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
    "$8::text[], $9::json[], $10::bigint[], $11::text[], $12::tsvector[], $13::bigint[], "
    "$14::boolean[])",
    // kMessageSeqs
    "SELECT id, seq FROM messages WHERE id = ANY($1::text[])",
    // kReadAfter
    "SELECT " PARLEY_MSG_COLS("") " FROM messages WHERE conversation = $1 AND seq > $2::bigint "
    "ORDER BY seq LIMIT $3::bigint",
    // kReadBefore
    "SELECT * FROM (SELECT " PARLEY_MSG_COLS("") " FROM messages WHERE conversation = $1 "
    "AND seq < $2::bigint ORDER BY seq DESC LIMIT $3::bigint) AS page ORDER BY seq",
    // kGetMessage
    "SELECT " PARLEY_MSG_COLS("") " FROM messages WHERE conversation = $1 AND seq = $2::bigint",
    // kFindMessage (UNIQUE (id): one index lookup)
    "SELECT " PARLEY_MSG_COLS("") " FROM messages WHERE id = $1",
    // kEditMessage
    "UPDATE messages SET content = $3, edited_at = $4::bigint, search = $6::tsvector "
    "WHERE conversation = $1 AND seq = $2::bigint AND NOT deleted "
    "AND ($5::text IS NULL OR sender_id = $5) "
    "RETURNING " PARLEY_MSG_COLS(""),
    // kDeleteMessage
    "UPDATE messages SET content = '', meta = '{}', deleted = TRUE, edited_at = $3::bigint, "
    "search = '' "
    "WHERE conversation = $1 AND seq = $2::bigint AND NOT deleted "
    "AND ($4::text IS NULL OR sender_id = $4) RETURNING " PARLEY_MSG_COLS(""),
    // kInsertConversation
    "WITH c AS (INSERT INTO conversations (id, title, created_at, updated_at, participants, "
    "settings, meta) VALUES ($1, $2, $3::bigint, $3::bigint, $4::json, $5::json, $6::json) "
    "ON CONFLICT (id) DO NOTHING RETURNING " PARLEY_CONV_COLS("") "), "
    "m AS (INSERT INTO members (conversation, user_id, joined_at) "
    "SELECT c.id, u, $3::bigint FROM c, unnest($7::text[]) AS u ON CONFLICT DO NOTHING) "
    "SELECT * FROM c",
    // kEnsureConversation: the new row, or the stored one (the second part's snapshot cannot
    // see the first part's insert, so exactly one row unless another writer raced us).
    "WITH ins AS (INSERT INTO conversations (id, created_at, updated_at) "
    "VALUES ($1, $2::bigint, $2::bigint) ON CONFLICT (id) DO NOTHING "
    "RETURNING " PARLEY_CONV_COLS("") ") SELECT * FROM ins UNION ALL "
    "SELECT " PARLEY_CONV_COLS("") " FROM conversations WHERE id = $1",
    // kEnsureConversationRow
    "INSERT INTO conversations (id, created_at, updated_at) VALUES ($1, $2::bigint, $2::bigint) "
    "ON CONFLICT (id) DO NOTHING",
    // kEnsureConversations: $1 the ids, $2 the time of the new ones
    "INSERT INTO conversations (id, created_at, updated_at) SELECT id, $2::bigint, $2::bigint "
    "FROM unnest($1::text[]) AS i(id) ON CONFLICT (id) DO NOTHING",
    // kGetConversation
    "SELECT " PARLEY_CONV_COLS("") " FROM conversations WHERE id = $1",
    // kLockConversation
    "SELECT " PARLEY_CONV_COLS("") " FROM conversations WHERE id = $1 FOR UPDATE",
    // kListConversations: $1 limit, $2/$3 the cursor (updated_at, id), $4 user or NULL,
    // $5 ASCII-lowercased filter or ''. The row comparison is an index range on
    // conversations_by_updated, so a page costs its own length whatever its position.
    LIST_SQL("WHERE (c.updated_at, c.id) < ($2::bigint, $3) AND "),
    // kListFirstConversations: the same from the start ($2 and $3 are bound, not used).
    LIST_SQL("WHERE $2::bigint IS NOT NULL AND $3::text IS NOT NULL AND "),
    // kUpdateConversation
    "UPDATE conversations SET title = COALESCE($2, title), "
    "participants = COALESCE($3::json, participants), settings = COALESCE($4::json, settings), "
    "meta = COALESCE($5::json, meta), is_active = COALESCE($6::boolean, is_active), "
    "updated_at = GREATEST(updated_at, $7::bigint) WHERE id = $1 "
    "RETURNING " PARLEY_CONV_COLS(""),
    // kDeleteMessagesOf
    "DELETE FROM messages WHERE conversation = $1",
    // kDeleteConversation (read_state and members go with it: ON DELETE CASCADE)
    "DELETE FROM conversations WHERE id = $1",
    // kReplaceConversation
    "UPDATE conversations SET title = $2, settings = $3::json, meta = $4::json, "
    "participants = $5::json, "
    "created_at = CASE WHEN $6::bigint <> 0 THEN $6::bigint ELSE created_at END, "
    "updated_at = $7::bigint, last_seq = $8::bigint, message_count = $9::bigint WHERE id = $1 "
    "RETURNING " PARLEY_CONV_COLS(""),
    // kClampReadState
    "UPDATE read_state SET seq = $2::bigint WHERE conversation = $1 AND seq > $2::bigint",
    // kAddMembers
    "INSERT INTO members (conversation, user_id, joined_at) "
    "SELECT $1, u, $3::bigint FROM unnest($2::text[]) AS u ON CONFLICT DO NOTHING",
    // kRemoveOtherMembers: every member not among the participants $2
    "DELETE FROM members WHERE conversation = $1 AND user_id <> ALL($2::text[])",
    // kAddMember: the number of conversations found (0 or 1)
    "WITH c AS (SELECT id FROM conversations WHERE id = $1), "
    "ins AS (INSERT INTO members (conversation, user_id, joined_at) "
    "SELECT id, $2, $3::bigint FROM c ON CONFLICT DO NOTHING) SELECT count(*) FROM c",
    // kAddMemberships: (conversation, user, joined_at) triples; absent conversations skipped
    "INSERT INTO members (conversation, user_id, joined_at) SELECT m.conversation, m.user_id, "
    "m.at FROM unnest($1::text[], $2::text[], $3::bigint[]) AS m(conversation, user_id, at) "
    "JOIN conversations c ON c.id = m.conversation ON CONFLICT DO NOTHING",
    // kCountConversations
    "SELECT count(*) FROM conversations",
    // kMarkRead: (conversations found, the raised seq or NULL, the stored seq or NULL)
    "WITH c AS (SELECT id, LEAST($3::bigint, last_seq) AS seq FROM conversations WHERE id = $1), "
    "up AS (INSERT INTO read_state (conversation, user_id, seq) SELECT id, $2, seq FROM c "
    "WHERE seq > 0 ON CONFLICT (conversation, user_id) DO UPDATE SET seq = EXCLUDED.seq "
    "WHERE read_state.seq < EXCLUDED.seq RETURNING seq) "
    "SELECT (SELECT count(*) FROM c), (SELECT seq FROM up), "
    "(SELECT r.seq FROM read_state r WHERE r.conversation = $1 AND r.user_id = $2)",
    // kReadSeq
    "SELECT seq FROM read_state WHERE conversation = $1 AND user_id = $2",
    // kUpsertUser
    "INSERT INTO users (id, name, avatar, role, last_seen) VALUES ($1, $2, $3, $4, $5::bigint) "
    "ON CONFLICT (id) DO UPDATE SET "
    "name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE users.name END, "
    "avatar = CASE WHEN EXCLUDED.avatar <> '' THEN EXCLUDED.avatar ELSE users.avatar END, "
    "role = CASE WHEN EXCLUDED.role <> '' THEN EXCLUDED.role ELSE users.role END, "
    "last_seen = COALESCE(EXCLUDED.last_seen, users.last_seen)",
    // kGetUser
    "SELECT id, name, avatar, role, last_seen FROM users WHERE id = $1",
    // kSetLastSeen
    "INSERT INTO users (id, last_seen) VALUES ($1, $2::bigint) "
    "ON CONFLICT (id) DO UPDATE SET last_seen = EXCLUDED.last_seen",
    // kSearch: $1 a tsquery ('word':* & ...), $2 conversation or NULL, $3 limit, $4 the
    // words. Best first: the most occurrences of the words (the memory backend's score),
    // then the newest.
    "SELECT " PARLEY_MSG_COLS("m.") " FROM messages m, LATERAL (SELECT COALESCE(sum("
    "cardinality(u.positions)), 0) AS score FROM unnest(m.search) AS u "
    "JOIN unnest($4::text[]) AS t(term) ON starts_with(u.lexeme, t.term)) AS s "
    "WHERE m.search @@ $1::tsquery AND NOT m.deleted "
    "AND ($2::text IS NULL OR m.conversation = $2) "
    "ORDER BY s.score DESC, m.created_at DESC, m.seq DESC, m.conversation LIMIT $3::bigint",
    // kPrune: $1 conversation, $2 keep_last or NULL, $3 older_than or NULL, $4 dry run.
    // (conversations found, messages removed or that would be). Removes messages up to a
    // seq: all but the last $2, and the oldest run created before $3.
    "WITH c AS (SELECT id, last_seq FROM conversations WHERE id = $1 FOR UPDATE), "
    "cut AS (SELECT GREATEST(CASE WHEN $2::bigint IS NULL THEN 0 ELSE c.last_seq - $2::bigint "
    "END, CASE WHEN $3::bigint IS NULL THEN 0 ELSE COALESCE((SELECT min(m.seq) - 1 FROM "
    "messages m WHERE m.conversation = $1 AND m.created_at >= $3::bigint), c.last_seq) END) "
    "AS seq FROM c), "
    "doomed AS (SELECT count(*) AS n FROM messages m, cut WHERE m.conversation = $1 "
    "AND m.seq <= cut.seq), "
    "gone AS (DELETE FROM messages m USING cut WHERE NOT $4::boolean AND m.conversation = $1 "
    "AND m.seq <= cut.seq RETURNING 1), "
    "up AS (UPDATE conversations SET message_count = GREATEST(0, message_count - "
    "(SELECT count(*) FROM gone)) WHERE id = $1 AND NOT $4::boolean), "
    // A prune that removed messages is a change (kNoteChange, after the row lock of c).
    "clock AS (UPDATE change_clock SET number = number + 1 WHERE EXISTS (SELECT 1 FROM gone) "
    "RETURNING number), "
    "noted AS (INSERT INTO conversation_changes (conversation, number) SELECT $1, number "
    "FROM clock ON CONFLICT (conversation) DO UPDATE SET number = EXCLUDED.number) "
    "SELECT (SELECT count(*) FROM c), (SELECT n FROM doomed)",
    // kListUsers: keyset pages, id > $1, at most $2 (COLLATE "C": the order SQLite uses)
    "SELECT id, name, avatar, role, last_seen FROM users WHERE id COLLATE \"C\" > $1 "
    "ORDER BY id COLLATE \"C\" LIMIT $2::bigint",
    // kMemberStates: members and read state of $1, by user
    "SELECT u.user_id, m.joined_at, r.seq FROM (SELECT user_id FROM members WHERE conversation "
    "= $1 UNION SELECT user_id FROM read_state WHERE conversation = $1) u "
    "LEFT JOIN members m ON m.conversation = $1 AND m.user_id = u.user_id "
    "LEFT JOIN read_state r ON r.conversation = $1 AND r.user_id = u.user_id "
    "ORDER BY u.user_id COLLATE \"C\"",
    // kNoteChange: numbers a change of $1 (migrations/004_changes.sql: the clock's row lock
    // is held to the commit, so numbers rise in commit order)
    "WITH clock AS (UPDATE change_clock SET number = number + 1 RETURNING number) "
    "INSERT INTO conversation_changes (conversation, number) SELECT $1, number FROM clock "
    "ON CONFLICT (conversation) DO UPDATE SET number = EXCLUDED.number",
    // kLastChange
    "SELECT number FROM change_clock",
    // kChangesAfter: $1 after, $2 limit
    "SELECT conversation, number FROM conversation_changes WHERE number > $1::bigint "
    "ORDER BY number LIMIT $2::bigint",
};

std::string statement_name(int index) { return "parley_" + std::to_string(index); }

}  // namespace

// Parameters of one statement, in text format unless added with binary(). A text value
// holding a NUL byte cannot be sent (libpq takes C strings, and PostgreSQL text cannot hold
// NUL): it makes the call fail with invalid_argument instead of being cut short.
class PgConnection::Params {
 public:
  Params() = default;
  Params& text(std::string_view value) {
    if (value.find('\0') != std::string_view::npos) bad_ = true;
    values_.emplace_back(std::string(value));
    return *this;
  }
  Params& text(std::string&& value) {
    if (value.find('\0') != std::string::npos) bad_ = true;
    values_.emplace_back(std::move(value));
    return *this;
  }
  Params& text(const std::string& value) { return text(std::string_view(value)); }
  Params& text(const char* value) { return text(std::string_view(value)); }
  Params& text(const std::optional<std::string>& value) {
    return value ? text(std::string_view(*value)) : null();
  }
  Params& i64(std::int64_t value) {
    values_.emplace_back(std::to_string(value));
    return *this;
  }
  Params& i64(const std::optional<std::int64_t>& value) { return value ? i64(*value) : null(); }
  Params& boolean(const std::optional<bool>& value) {
    if (!value) return null();
    values_.emplace_back(*value ? "t" : "f");
    return *this;
  }
  Params& null() {
    values_.emplace_back(std::nullopt);
    return *this;
  }
  // A value in PostgreSQL's binary format for its type (any bytes, NUL included).
  Params& binary(std::string&& value) {
    binary_at_.push_back(values_.size());
    values_.emplace_back(std::move(value));
    return *this;
  }

  bool bad() const noexcept { return bad_; }
  int size() const noexcept { return static_cast<int>(values_.size()); }
  std::vector<const char*> pointers() const {
    std::vector<const char*> out;
    out.reserve(values_.size());
    for (const auto& value : values_) out.push_back(value ? value->c_str() : nullptr);
    return out;
  }
  // For PQexecPrepared: formats (1 binary, 0 text) and lengths, both empty when every value
  // is text.
  std::vector<int> formats() const {
    std::vector<int> out;
    if (binary_at_.empty()) return out;
    out.resize(values_.size(), 0);
    for (const std::size_t i : binary_at_) out[i] = 1;
    return out;
  }
  std::vector<int> lengths() const {
    std::vector<int> out;
    if (binary_at_.empty()) return out;
    out.reserve(values_.size());
    for (const auto& value : values_) out.push_back(value ? static_cast<int>(value->size()) : 0);
    return out;
  }

 private:
  std::vector<std::optional<std::string>> values_;
  std::vector<std::size_t> binary_at_;  // the indexes of binary values
  bool bad_ = false;
};

void PgConnection::ResultDeleter::operator()(pg_result* r) const noexcept { PQclear(r); }

// An explicit transaction on a connection; rolled back when left without commit().
class PgConnection::Transaction {
 public:
  explicit Transaction(PgConnection& conn) : conn_(conn) {}
  ~Transaction() {
    if (open_) conn_.rollback_if_open();
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  [[nodiscard]] Result<void> begin() {
    auto r = conn_.exec_sql("BEGIN", "begin", conn_.info_->deadlines().commit);
    if (!r) return r.error();
    open_ = true;
    return {};
  }
  [[nodiscard]] Result<void> commit() {
    open_ = false;
    auto r = conn_.exec_sql("COMMIT", "commit", conn_.info_->deadlines().commit);
    if (!r) return r.error();
    return {};
  }

 private:
  PgConnection& conn_;
  bool open_ = false;
};

// The statements on the commit path get the commit deadline (StoreConfig::db_commit_timeout):
// what the writer runs between group commits, and the look-ups of an append.
bool PgConnection::on_commit_path(Stmt stmt) noexcept {
  using S = Stmt;
  switch (stmt) {
    case S::kAppendDuplicates:
    case S::kAppend:
    case S::kMessageSeqs:
    case S::kEditMessage:
    case S::kDeleteMessage:
    case S::kEnsureConversation:
    case S::kEnsureConversationRow:
    case S::kEnsureConversations:
    case S::kAddMember:
    case S::kAddMemberships:
    case S::kMarkRead:
    case S::kUpsertUser:
    case S::kSetLastSeen:
      return true;
    default:
      return false;
  }
}
// --- PgConnInfo --------------------------------------------------------------------------

Result<PgConnInfo> PgConnInfo::parse(const std::string& url) { return parse(url, Deadlines()); }

Result<PgConnInfo> PgConnInfo::parse(const std::string& url, Deadlines deadlines) {
  if (url.empty()) return err(Errc::invalid_argument);
  char* errmsg = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &errmsg);
  if (options == nullptr) {
    spdlog::error("postgres: cannot parse the database URL: {}", errmsg ? errmsg : "?");
    PQfreemem(errmsg);
    return err(Errc::invalid_argument);
  }
  PgConnInfo info;
  info.deadlines_ = deadlines;
  // libpq counts connect_timeout in whole seconds and treats less than 2 as 2.
  const std::string connect_s =
      std::to_string(std::max<std::int64_t>(2, (deadlines.connect.count() + 999) / 1000));
  std::map<std::string, std::string> given;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && o->val[0] != '\0') given[o->keyword] = o->val;
  }
  PQconninfoFree(options);

  // Defaults first: the URL, expanded from `dbname` after them, overrides any of them.
  // Parley never leaves a transaction idle, so one that is (its server vanished behind a
  // partition) is ended by the database before its row locks stall a conversation for long.
  const std::pair<const char*, const char*> defaults[] = {
      {"options", "-c idle_in_transaction_session_timeout=15000"},
      {"connect_timeout", connect_s.c_str()},
      {"application_name", "parley"},
      {"keepalives", "1"},
      {"keepalives_idle", "15"},
      {"keepalives_interval", "5"},
      {"keepalives_count", "3"},
      {"tcp_user_timeout", "20000"},
  };
  for (const auto& [key, value] : defaults) {
    info.keywords_.emplace_back(key);
    info.values_.emplace_back(value);
  }
  info.keywords_.emplace_back("dbname");
  info.values_.push_back(url);

  std::string described;
  for (const char* key : {"host", "hostaddr", "port", "dbname", "user", "sslmode"}) {
    const auto it = given.find(key);
    if (it == given.end()) continue;
    if (!described.empty()) described.push_back(' ');
    described += std::string(key) + "=" + it->second;
  }
  info.redacted_ = described.empty() ? "(libpq defaults)" : described;
  return info;
}

// --- PgDatabase --------------------------------------------------------------------------

PgDatabase::PgDatabase(std::shared_ptr<const PgConnInfo> info) : info_(std::move(info)) {}

int PgDatabase::latest_schema_version() noexcept {
  const auto all = migrations();
  return all.empty() ? 0 : all.back().version;
}

Result<std::shared_ptr<PgDatabase>> PgDatabase::open(const std::string& url, Options options) {
  auto parsed = PgConnInfo::parse(url, options.deadlines);
  if (!parsed) return parsed.error();
  auto info = std::make_shared<const PgConnInfo>(std::move(*parsed));
  auto conn = PgConnection::open(info);
  if (!conn) {
    spdlog::error("postgres: cannot connect to {}", info->redacted());
    return conn.error();
  }
  auto version = (*conn)->migrate(options.target_version);
  if (!version) return version.error();
  spdlog::info("postgres: {} at schema version {}", info->redacted(), *version);
  return std::shared_ptr<PgDatabase>(new PgDatabase(std::move(info)));
}

Result<std::unique_ptr<Connection>> PgDatabase::connect() {
  auto conn = PgConnection::open(info_);
  if (!conn) return conn.error();
  return std::unique_ptr<Connection>(std::move(*conn));
}

Result<std::shared_ptr<Database>> open_pg_database(const StoreConfig& config) {
  std::string url = config.database_url;
  if (url.empty()) url = pg_url_from_env();
  if (url.empty()) return err(Errc::invalid_argument);
  PgDatabase::Options options;
  options.deadlines.connect = config.db_connect_timeout;
  options.deadlines.commit = config.db_commit_timeout;
  options.deadlines.statement = config.db_statement_timeout;
  auto db = PgDatabase::open(url, options);
  if (!db) return db.error();
  return std::shared_ptr<Database>(std::move(*db));
}

namespace {

// RFC 3986 percent-encoding of everything but the unreserved characters.
std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

std::string pg_url_from_env() {
  const std::string host = env_or_empty("DB_HOST");
  if (host.empty()) return {};
  const std::string port = env_or_empty("DB_PORT");
  const std::string name = env_or_empty("DB_NAME");
  const std::string user = env_or_empty("DB_USER");
  const std::string password = env_or_empty("DB_PASSWORD");
  const bool socket_dir = host.front() == '/';

  std::string url = "postgresql://";
  if (!user.empty() || !password.empty()) {
    url += percent_encode(user);
    if (!password.empty()) url += ":" + percent_encode(password);
    url.push_back('@');
  }
  if (!socket_dir) {
    if (host.find(':') != std::string::npos) {
      url += "[" + host + "]";  // IPv6 literal
    } else {
      url += percent_encode(host);
    }
    if (!port.empty()) url += ":" + percent_encode(port);
  }
  url.push_back('/');
  url += percent_encode(name);
  std::string query;
  if (socket_dir) {
    query = "host=" + percent_encode(host);
    if (!port.empty()) query += "&port=" + percent_encode(port);
  }
  if (!query.empty()) url += "?" + query;
  return url;
}

// --- PgConnection: connecting ------------------------------------------------------------

PgConnection::PgConnection(std::shared_ptr<const PgConnInfo> info) : info_(std::move(info)) {}

PgConnection::~PgConnection() { disconnect(); }

Result<std::unique_ptr<PgConnection>> PgConnection::open(std::shared_ptr<const PgConnInfo> info) {
  std::unique_ptr<PgConnection> conn(new PgConnection(std::move(info)));
  if (auto ok = conn->reconnect(); !ok) return ok.error();
  return conn;
}

bool PgConnection::is_connected() const noexcept {
  return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK;
}

void PgConnection::disconnect() noexcept {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
  prepared_ = false;
}

Result<void> PgConnection::reconnect() {
  const auto now = Clock::now();
  if (now < next_attempt_) return err(Errc::unavailable);
  disconnect();
  std::vector<const char*> keywords, values;
  for (const std::string& k : info_->keywords()) keywords.push_back(k.c_str());
  for (const std::string& v : info_->values()) values.push_back(v.c_str());
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectdbParams(keywords.data(), values.data(), 1);
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    // Logged once per outage (the first failed attempt); the attempts after it at debug,
    // and "reconnected" ends it.
    const bool first = backoff_.count() == 0;
    backoff_ = std::clamp(backoff_ * 2, kMinBackoff, kMaxBackoff);
    next_attempt_ = Clock::now() + backoff_;
    std::string why = conn_ != nullptr ? PQerrorMessage(conn_) : "out of memory";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    spdlog::log(first ? spdlog::level::warn : spdlog::level::debug,
                "postgres: cannot connect to {} (retrying every {} ms at most): {}",
                info_->redacted(), kMaxBackoff.count(), why);
    disconnect();
    return err(Errc::unavailable);
  }
  PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
  // Error texts we log carry the primary message only: DETAIL ("Failing row contains ...")
  // and CONTEXT can quote the row, i.e. message content, which never goes to the logs.
  PQsetErrorVerbosity(conn_, PQERRORS_TERSE);
  if (backoff_.count() != 0 || timed_out_) {
    spdlog::info("postgres: reconnected to {}", info_->redacted());
  }
  backoff_ = std::chrono::milliseconds{0};
  timed_out_ = false;
  next_attempt_ = {};
  return {};
}

Result<void> PgConnection::ensure_connected() {
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) {
    // An idle connection learns that the server went away (restart, failover, idle
    // timeout) only by reading: look first, so such a drop costs a reconnect, not a
    // failed call.
    // A terminated backend sends an error, then closes: the first read takes the message,
    // a later one sees the end of the stream.
    bool alive = true;
    for (int i = 0; i < 4 && alive; ++i) {
      pollfd pfd{PQsocket(conn_), POLLIN, 0};
      if (::poll(&pfd, 1, 0) <= 0) break;
      alive = PQconsumeInput(conn_) == 1 && PQstatus(conn_) == CONNECTION_OK;
      if (alive) (void)PQisBusy(conn_);  // parses what arrived
    }
    if (alive) {
      while (PGnotify* n = PQnotifies(conn_)) PQfreemem(n);
      return {};
    }
    spdlog::warn("postgres: connection to {} dropped; reconnecting", info_->redacted());
    disconnect();
  }
  return reconnect();
}

Result<void> PgConnection::prepare_statements() {
  // All in one pipeline: one round trip however many statements there are.
  static_assert(std::size(kStatements) == static_cast<std::size_t>(Stmt::kCount));
  if (PQenterPipelineMode(conn_) != 1) return fail(nullptr, "prepare");
  for (std::size_t i = 0; i < std::size(kStatements); ++i) {
    const std::string name = statement_name(static_cast<int>(i));
    if (PQsendPrepare(conn_, name.c_str(), kStatements[i], 0, nullptr) != 1) {
      return fail(nullptr, "prepare");
    }
  }
  if (PQpipelineSync(conn_) != 1) return fail(nullptr, "prepare");
  const auto deadline = Clock::now() + info_->deadlines().statement;
  const auto next = [&](PgResult& out) {
    PGresult* r = nullptr;
    const bool ok = next_result(deadline, r);
    out.reset(r);
    return ok;
  };
  boost::system::error_code first;
  for (std::size_t i = 0; i < std::size(kStatements); ++i) {
    PgResult res;
    if (!next(res) || !res) return fail(nullptr, "prepare");
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK && !first) {
      spdlog::error("postgres: cannot prepare statement {}: {}", i,
                    PQresultErrorMessage(res.get()));
      first = fail(res.get(), "prepare");
    }
    for (;;) {  // the NULL that ends each statement's results
      PgResult extra;
      if (!next(extra)) return fail(nullptr, "prepare");
      if (!extra) break;
    }
  }
  PgResult sync;
  if (!next(sync) || !sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
    return fail(nullptr, "prepare");
  }
  PQexitPipelineMode(conn_);
  if (first) return first;
  prepared_ = true;
  return {};
}

void PgConnection::rollback_if_open() noexcept {
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) return;
  if (PQpipelineStatus(conn_) != PQ_PIPELINE_OFF) PQexitPipelineMode(conn_);
  if (PQtransactionStatus(conn_) == PQTRANS_IDLE) return;
  PgResult res;
  if (PQsendQuery(conn_, "ROLLBACK") == 1)
    res = await_result(info_->deadlines().commit, "rollback");
  const bool ok = res && PQresultStatus(res.get()) == PGRES_COMMAND_OK;
  if (!ok && conn_ != nullptr) {
    // The transaction state is unknown: start over on a new connection.
    spdlog::warn("postgres: rollback failed; dropping the connection");
    disconnect();
  }
}

boost::system::error_code PgConnection::fail(const pg_result* res, const char* what) {
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    dropped_ = true;
    std::string why = conn_ != nullptr ? PQerrorMessage(conn_) : "not connected";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    spdlog::warn("postgres: {}: connection lost: {}", what, why);
    disconnect();
    return err(Errc::unavailable);
  }
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  if (state == nullptr) {
    spdlog::error("postgres: {} failed: {}", what, PQerrorMessage(conn_));
    return err(Errc::internal);
  }
  const std::string_view sqlstate(state);
  const char* constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
  // Deadlocks, serialization failures, and a duplicate client_id committed by another writer
  // after our look-up pass if the transaction is planned and run again.
  const std::string_view taken =
      sqlstate == "23505" && constraint != nullptr ? std::string_view(constraint) : "";
  const bool client_id_taken = taken == "messages_by_client_id";
  // A taken message id is, in practice, the same message stored by an earlier attempt whose
  // answer was lost (ids are chosen before the first attempt: a millisecond time and 80
  // random bits): a commit in doubt when a frozen server missed the deadline, replayed by the
  // outage spool with the same id and client_id. UNIQUE (id) is checked before
  // messages_by_client_id, so it is the one that fires; planned again with the look-up, the
  // client_id answers it as a duplicate, as the other backends do. (Issue 14: answered
  // `conflict`, the spool retried that record for as long as the server ran and every send
  // after it stayed pending.) A message without a client_id stays a conflict, after
  // kMaxAppendAttempts.
  const bool id_taken = taken == "messages_id_key";
  if (client_id_taken || id_taken) lookup_batches_ = kLookupBatches;
  retryable_ = sqlstate == "40001" || sqlstate == "40P01" || client_id_taken || id_taken;
  const Errc code = errc_for_sqlstate(sqlstate);
  // Expected outcomes (a taken id, bad input) are the caller's to report; the rest is ours.
  const auto level =
      (code == Errc::conflict || code == Errc::invalid_argument || code == Errc::not_found)
          ? spdlog::level::debug
          : spdlog::level::err;
  spdlog::log(level, "postgres: {} failed ({}): {}", what, sqlstate,
              PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
  return err(code);
}

template <class F>
auto PgConnection::with_reconnect(bool retry_safe, F&& fn) -> decltype(fn()) {
  if (auto ok = ensure_connected(); !ok) return ok.error();
  dropped_ = false;
  auto result = fn();
  if (!result && dropped_ && retry_safe) {
    if (auto ok = reconnect(); !ok) return ok.error();
    dropped_ = false;
    result = fn();
  }
  return result;
}

// --- PgConnection: running statements ----------------------------------------------------

Result<PgConnection::PgResult> PgConnection::exec(Stmt stmt, const Params& params) {
  if (params.bad()) return err(Errc::invalid_argument);
  if (conn_ == nullptr) return fail(nullptr, "exec");
  if (!prepared_) {
    if (auto ok = prepare_statements(); !ok) return ok.error();
  }
  const std::string name = statement_name(static_cast<int>(stmt));
  const auto values = params.pointers();
  const auto lengths = params.lengths();
  const auto formats = params.formats();
  PgResult res;
  if (PQsendQueryPrepared(conn_, name.c_str(), params.size(), values.data(),
                          lengths.empty() ? nullptr : lengths.data(),
                          formats.empty() ? nullptr : formats.data(), 0) == 1) {
    res = await_result(
        on_commit_path(stmt) ? info_->deadlines().commit : info_->deadlines().statement,
        name.c_str());
  }
  const auto status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return fail(res.get(), name.c_str());
  return res;
}

Result<PgConnection::PgResult> PgConnection::exec_sql(const char* sql, const char* what,
                                                      std::chrono::milliseconds limit) {
  if (conn_ == nullptr) return fail(nullptr, what);
  PgResult res;
  if (PQsendQuery(conn_, sql) == 1) res = await_result(limit, what);
  const auto status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return fail(res.get(), what);
  return res;
}

// A hung server (SIGSTOPped, a frozen VM, a full disk under fsync) keeps its sockets open
// and answers nothing: without a deadline of our own a call would wait for as long as it
// lasts (issue 14: 45 s without an ack or an error). The deadline drops the connection;
// a write in flight is then in doubt and settled after reconnecting (append_batch), and
// Storage reads the unavailable as "database down", so the outage spool takes over.
bool PgConnection::next_result(Clock::time_point deadline, PGresult*& out) {
  out = nullptr;
  const bool bounded = deadline != Clock::time_point{};
  while (PQisBusy(conn_) != 0) {
    int wait_ms = -1;
    if (bounded) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      wait_ms = static_cast<int>(std::min<std::int64_t>(left, 60'000));
    }
    pollfd pfd{PQsocket(conn_), POLLIN, 0};
    if (::poll(&pfd, 1, wait_ms) < 0 && errno != EINTR) return false;
    if (PQconsumeInput(conn_) != 1) return false;
  }
  out = PQgetResult(conn_);
  return true;
}

PgConnection::PgResult PgConnection::await_result(std::chrono::milliseconds limit,
                                                  const char* what) {
  const auto deadline = limit.count() > 0 ? Clock::now() + limit : Clock::time_point{};
  PgResult kept;
  for (;;) {
    PGresult* r = nullptr;
    if (!next_result(deadline, r)) {
      if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) {
        // The deadline passed on a live socket: hung, not gone.
        if (!timed_out_) {
          spdlog::warn(
              "postgres: {}: no answer from {} within {} ms; the database counts as "
              "down until it answers again",
              what, info_->redacted(), limit.count());
        }
        timed_out_ = true;
        dropped_ = true;
        disconnect();
        // No new attempt at once: the server that just hung would take a connect_timeout.
        backoff_ = std::max(backoff_, kMinBackoff);
        next_attempt_ = Clock::now() + backoff_;
      }
      return nullptr;
    }
    if (r == nullptr) return kept;
    // Like PQexec: the last result, unless one of them was an error.
    const auto status = PQresultStatus(r);
    const bool error = status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE;
    if (kept && !error && (PQresultStatus(kept.get()) == PGRES_FATAL_ERROR)) {
      PQclear(r);
      continue;
    }
    kept.reset(r);
  }
}

// --- Schema ------------------------------------------------------------------------------

Result<int> PgConnection::schema_version() {
  return with_reconnect(true, [&] { return read_schema_version(); });
}

Result<int> PgConnection::read_schema_version() {
  auto exists = exec_sql("SELECT to_regclass('schema_version') IS NOT NULL", "schema version",
                         info_->deadlines().statement);
  if (!exists) return exists.error();
  if (!bool_at(exists->get(), 0, 0)) return 0;
  auto res = exec_sql("SELECT COALESCE(max(version), 0) FROM schema_version", "schema version",
                      info_->deadlines().statement);
  if (!res) return res.error();
  return static_cast<int>(i64_at(res->get(), 0, 0));
}

Result<int> PgConnection::migrate(int target) {
  if (auto ok = ensure_connected(); !ok) return ok.error();
  // A session lock: released by unlock below, or by the server if this connection dies.
  const std::string lock_args =
      "(" + std::to_string(kMigrationLockKey) + ", hashtext(COALESCE(current_schema(), '')))";
  const std::string lock_sql = "SELECT pg_advisory_lock" + lock_args;
  const std::string unlock_sql = "SELECT pg_advisory_unlock" + lock_args;
  if (auto r = exec_sql(lock_sql.c_str(), "migration lock", kNoDeadline); !r) return r.error();
  struct Unlock {
    PgConnection& conn;
    const std::string& sql;
    ~Unlock() {
      if (conn.is_connected()) (void)conn.exec_sql(sql.c_str(), "migration unlock", kNoDeadline);
    }
  } unlock{*this, unlock_sql};

  if (auto r = exec_sql("CREATE TABLE IF NOT EXISTS schema_version ("
                        "version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, "
                        "applied_at BIGINT NOT NULL)",
                        "schema_version table", kNoDeadline);
      !r) {
    return r.error();
  }
  // No reconnecting from here on: a new connection would not hold the lock.
  auto current = read_schema_version();
  if (!current) return current.error();
  const int latest = PgDatabase::latest_schema_version();
  if (*current > latest) {
    spdlog::error("postgres: the database is at schema version {}, newer than this server's {}",
                  *current, latest);
    return err(Errc::conflict);
  }
  int version = *current;
  for (const Migration& m : migrations()) {
    if (m.version <= version || (target != 0 && m.version > target)) continue;
    Transaction tx(*this);
    if (auto ok = tx.begin(); !ok) return ok.error();
    const std::string sql(m.sql);
    if (auto r = exec_sql(sql.c_str(), m.name.data(), kNoDeadline); !r) {
      spdlog::error("postgres: migration {} failed", m.name);
      return r.error();
    }
    Params params;
    params.i64(m.version).text(m.name).i64(now_ms());
    const auto values = params.pointers();
    PgResult res(PQexecParams(conn_,
                              "INSERT INTO schema_version (version, name, applied_at) "
                              "VALUES ($1, $2, $3)",
                              params.size(), nullptr, values.data(), nullptr, nullptr, 0));
    if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      return fail(res.get(), "schema_version insert");
    }
    if (auto ok = tx.commit(); !ok) return ok.error();
    spdlog::info("postgres: applied migration {}", m.name);
    version = m.version;
  }
  return version;
}

// --- Messages ----------------------------------------------------------------------------

struct PgConnection::BatchPlan {
  std::vector<NewMessage> msgs;  // normalized, each with an id
  TimeMs now = 0;
  // Planned by append_once; seqs set once the write succeeded (or was found committed).
  std::vector<Appended> out;
  std::vector<std::size_t> fresh;                           // out indexes of new messages
  std::vector<std::pair<std::size_t, std::size_t>> copies;  // (out index, original's index)
};

Result<std::vector<Appended>> PgConnection::append_batch(std::span<const NewMessage> batch) {
  BatchPlan plan;
  plan.msgs.assign(batch.begin(), batch.end());
  for (NewMessage& msg : plan.msgs) {
    if (auto ok = detail::normalize_new_message(msg); !ok) return ok.error();
    // Ids are chosen before the transaction, so that an in-doubt commit can be looked up.
    if (msg.id.empty()) msg.id = new_message_id();
  }
  if (plan.msgs.empty()) return std::vector<Appended>{};
  plan.now = now_ms();

  boost::system::error_code last = err(Errc::unavailable);
  for (int attempt = 0; attempt < kMaxAppendAttempts; ++attempt) {
    if (auto ok = ensure_connected(); !ok) return ok.error();
    dropped_ = false;
    retryable_ = false;
    bool in_doubt = false;
    auto r = append_once(plan, in_doubt);
    if (r) return std::move(plan.out);
    last = r.error();
    if (dropped_) {
      if (attempt > 0 && !in_doubt) return last;  // a second drop: the server is going away
      if (auto ok = reconnect(); !ok) {
        if (in_doubt) {
          spdlog::error(
              "postgres: a batch of {} messages may or may not have committed; the "
              "server is unreachable",
              plan.msgs.size());
        }
        return ok.error();
      }
      if (in_doubt) {
        auto committed = recover_in_doubt(plan);
        if (!committed) return committed.error();
        if (*committed) return std::move(plan.out);
      }
      continue;
    }
    if (!retryable_) return last;
    spdlog::debug("postgres: append batch retried after {}", last.message());
  }
  return last;
}

// One attempt. Sets in_doubt once the write may have reached the server.
Result<void> PgConnection::append_once(BatchPlan& plan, bool& in_doubt) {
  plan.out.clear();
  plan.fresh.clear();
  plan.copies.clear();

  // Round trip 1, only while duplicates are about: which client_ids are stored already.
  // Read without locks: a duplicate committed after this look-up (or while look-ups are
  // off) makes the write below fail on messages_by_client_id, and the batch is planned
  // again with a look-up.
  std::vector<StoredMessage> found;
  if (lookup_batches_ > 0) {
    --lookup_batches_;
    bool any_client_id = false;
    ArrayLiteral convs, senders, client_ids;
    for (const NewMessage& msg : plan.msgs) {
      if (!msg.client_id) continue;
      any_client_id = true;
      convs.add(std::string_view(msg.conversation));
      senders.add(std::string_view(msg.sender.id));
      client_ids.add(std::string_view(*msg.client_id));
    }
    if (any_client_id) {
      Params keys;
      keys.text(std::move(convs).finish())
          .text(std::move(senders).finish())
          .text(std::move(client_ids).finish());
      auto rows = read_messages(Stmt::kAppendDuplicates, keys);
      if (!rows) return rows.error();
      found = std::move(*rows);
    }
  }
  using Key = std::tuple<std::string_view, std::string_view, std::string_view>;
  std::map<Key, const StoredMessage*> stored_client_ids;
  for (const StoredMessage& msg : found) {
    stored_client_ids.emplace(Key(msg.conversation, msg.sender.id, *msg.client_id), &msg);
  }

  // Plan as the memory backend does: duplicates, then each new message's place in its
  // conversation. Seqs are known once the server has reserved them: seq = last_seq - back.
  std::map<Key, std::size_t> batch_client_ids;
  std::unordered_set<std::string_view> batch_ids;
  std::map<ConversationId, std::int64_t> added;  // new messages per conversation
  std::vector<std::size_t>& fresh = plan.fresh;
  plan.out.reserve(plan.msgs.size());
  for (const NewMessage& msg : plan.msgs) {
    if (msg.client_id) {
      const Key key(msg.conversation, msg.sender.id, *msg.client_id);
      if (const auto it = stored_client_ids.find(key); it != stored_client_ids.end()) {
        plan.out.push_back({*it->second, true});
        continue;
      }
      if (const auto it = batch_client_ids.find(key); it != batch_client_ids.end()) {
        plan.copies.emplace_back(plan.out.size(), it->second);
        plan.out.push_back({{}, true});
        continue;
      }
      batch_client_ids.emplace(key, plan.out.size());
    }
    if (!batch_ids.insert(msg.id).second) return err(Errc::conflict);
    StoredMessage stored;
    stored.id = msg.id;
    stored.conversation = msg.conversation;
    stored.seq = ++added[msg.conversation];  // ordinal within the batch, for now
    stored.sender = msg.sender;
    stored.kind = msg.kind;
    stored.content = msg.content;
    stored.meta = msg.meta;
    stored.created_at = msg.created_at != 0 ? msg.created_at : plan.now;
    stored.client_id = msg.client_id;
    fresh.push_back(plan.out.size());
    plan.out.push_back({std::move(stored), false});
  }
  if (fresh.empty()) return {};  // only duplicates: nothing to write

  ArrayLiteral a_conv, a_back, a_id, a_sender, a_name, a_role, a_kind, a_content, a_meta, a_created,
      a_client, a_ids, a_counts;
  SearchVectorArray a_search;
  for (const std::size_t i : fresh) {
    const StoredMessage& m = plan.out[i].message;
    a_conv.add(std::string_view(m.conversation));
    a_back.add(added[m.conversation] - m.seq);
    a_id.add(std::string_view(m.id));
    a_sender.add(std::string_view(m.sender.id));
    a_name.add(std::string_view(m.sender.name));
    a_role.add(std::string_view(m.sender.role));
    a_kind.add(std::string_view(m.kind));
    a_content.add_content(m.content);
    a_meta.add(std::string_view(m.meta));
    a_created.add(m.created_at);
    a_client.add(m.client_id);
    a_search.add(m.content);
  }
  for (const auto& [id, n] : added) {  // in id order: rows are locked in that order
    a_ids.add(std::string_view(id));
    a_counts.add(n);
  }
  Params write;
  write.text(std::move(a_conv).finish())
      .text(std::move(a_back).finish())
      .text(std::move(a_id).finish())
      .text(std::move(a_sender).finish())
      .text(std::move(a_name).finish())
      .text(std::move(a_role).finish())
      .text(std::move(a_kind).finish())
      .text(std::move(a_content).finish())
      .text(std::move(a_meta).finish())
      .text(std::move(a_created).finish())
      .text(std::move(a_client).finish())
      .binary(std::move(a_search).finish())
      .i64(plan.now)
      .text(std::move(a_ids).finish())
      .text(std::move(a_counts).finish());

  // Round trip 2: the write, one statement in its own transaction.
  in_doubt = !write.bad();
  auto res = exec(Stmt::kAppend, write);
  if (!res) return res.error();
  std::map<std::string_view, Seq> last_seq;
  const PGresult* r = res->get();
  for (int row = 0; row < PQntuples(r); ++row)
    last_seq.emplace(text_at(r, row, 0), i64_at(r, row, 1));
  for (const std::size_t i : fresh) {
    StoredMessage& m = plan.out[i].message;
    const auto it = last_seq.find(m.conversation);
    if (it == last_seq.end()) return err(Errc::internal);  // cannot happen: every id returns
    m.seq = it->second - (added[m.conversation] - m.seq);
  }
  for (const auto& [at, original] : plan.copies) {
    plan.out[at].message = plan.out[original].message;
  }
  return {};
}

// After the connection dropped with the write in flight: whether it committed, from the
// message ids chosen before sending. If it did, the stored seqs complete plan.out.
Result<bool> PgConnection::recover_in_doubt(BatchPlan& plan) {
  if (plan.fresh.empty()) return false;  // nothing was to be written: running again is safe
  ArrayLiteral ids;
  for (const std::size_t i : plan.fresh) ids.add(std::string_view(plan.out[i].message.id));
  Params params;
  params.text(std::move(ids).finish());
  auto res = exec(Stmt::kMessageSeqs, params);
  if (!res) return Result<bool>(boost::system::in_place_error, res.error());
  const PGresult* r = res->get();
  const auto rows = static_cast<std::size_t>(PQntuples(r));
  spdlog::warn("postgres: the connection dropped during the write of {} messages; it {}",
               plan.fresh.size(), rows > 0 ? "had committed" : "had not committed, retrying");
  if (rows == 0) return false;
  if (rows != plan.fresh.size())
    return Result<bool>(boost::system::in_place_error, err(Errc::internal));
  std::map<std::string_view, Seq> seqs;
  for (int row = 0; row < PQntuples(r); ++row) seqs.emplace(text_at(r, row, 0), i64_at(r, row, 1));
  for (const std::size_t i : plan.fresh) {
    StoredMessage& m = plan.out[i].message;
    m.seq = seqs.at(m.id);
  }
  for (const auto& [at, original] : plan.copies) {
    plan.out[at].message = plan.out[original].message;
  }
  return true;
}

Result<std::vector<StoredMessage>> PgConnection::read_messages(Stmt stmt, const Params& params) {
  auto res = exec(stmt, params);
  if (!res) return res.error();
  std::vector<StoredMessage> out;
  const int rows = PQntuples(res->get());
  out.reserve(static_cast<std::size_t>(rows));
  for (int row = 0; row < rows; ++row) out.push_back(message_at(res->get(), row, 0));
  return out;
}

Result<std::vector<StoredMessage>> PgConnection::read_after(const ConversationId& conversation,
                                                            Seq after, std::size_t limit) {
  if (limit == 0) return std::vector<StoredMessage>{};
  Params params;
  params.text(conversation).i64(std::max<Seq>(after, 0)).i64(detail::sql_limit(limit));
  return with_reconnect(true, [&] { return read_messages(Stmt::kReadAfter, params); });
}

Result<std::vector<StoredMessage>> PgConnection::read_before(const ConversationId& conversation,
                                                             Seq before, std::size_t limit) {
  if (before <= 1 || limit == 0) return std::vector<StoredMessage>{};
  Params params;
  params.text(conversation).i64(before).i64(detail::sql_limit(limit));
  return with_reconnect(true, [&] { return read_messages(Stmt::kReadBefore, params); });
}

Result<StoredMessage> PgConnection::get_message(const ConversationId& conversation, Seq seq) {
  Params params;
  params.text(conversation).i64(seq);
  return with_reconnect(true, [&]() -> Result<StoredMessage> {
    auto rows = read_messages(Stmt::kGetMessage, params);
    if (!rows) return rows.error();
    if (rows->empty()) return err(Errc::not_found);
    return std::move(rows->front());
  });
}

Result<StoredMessage> PgConnection::find_message(const MessageId& id) {
  Params params;
  params.text(id);
  return with_reconnect(true, [&]() -> Result<StoredMessage> {
    auto rows = read_messages(Stmt::kFindMessage, params);
    if (!rows) return rows.error();
    if (rows->empty()) return err(Errc::not_found);
    return std::move(rows->front());
  });
}

// Edits (content set) or soft-deletes (content null) in one statement when allowed; when it
// changed nothing, the stored row tells why, in the memory backend's order of checks.
Result<StoredMessage> PgConnection::change_message(const ConversationId& conversation, Seq seq,
                                                   const std::optional<UserId>& by,
                                                   const std::string* content, TimeMs at) {
  Params params;
  params.text(conversation).i64(seq);
  if (content != nullptr) params.text(stored_content(*content));
  params.i64(or_now(at)).text(by);
  if (content != nullptr) params.text(search_vector(*content));
  return with_reconnect(true, [&]() -> Result<StoredMessage> {
    auto changed =
        read_messages(content != nullptr ? Stmt::kEditMessage : Stmt::kDeleteMessage, params);
    if (!changed) return changed.error();
    if (!changed->empty()) return std::move(changed->front());
    Params key;
    key.text(conversation).i64(seq);
    auto rows = read_messages(Stmt::kGetMessage, key);
    if (!rows) return rows.error();
    if (rows->empty()) return err(Errc::not_found);
    StoredMessage& msg = rows->front();
    if (by && *by != msg.sender.id) return err(Errc::permission_denied);
    if (msg.deleted && content == nullptr) return std::move(msg);
    return err(Errc::conflict);  // deleted (edit), or changed under us
  });
}

Result<StoredMessage> PgConnection::edit_message(const ConversationId& conversation, Seq seq,
                                                 const std::string& content,
                                                 const std::optional<UserId>& by, TimeMs at) {
  return change_message(conversation, seq, by, &content, at);
}

Result<StoredMessage> PgConnection::delete_message(const ConversationId& conversation, Seq seq,
                                                   const std::optional<UserId>& by, TimeMs at) {
  return change_message(conversation, seq, by, nullptr, at);
}

// --- Conversations -----------------------------------------------------------------------

Result<Conversation> PgConnection::load_conversation(const ConversationId& id, bool for_update) {
  Params params;
  params.text(id);
  auto res = exec(for_update ? Stmt::kLockConversation : Stmt::kGetConversation, params);
  if (!res) return res.error();
  if (PQntuples(res->get()) == 0) return err(Errc::not_found);
  return conversation_at(res->get(), 0, 0);
}

// Participants are members too: listed ones join at `at`. A restricted conversation (a
// non-empty list) keeps no other member, whoever joined while it was open; opening it (an
// empty list) makes nobody leave. (store.hpp, ConversationStore)
Result<void> PgConnection::sync_participants(const ConversationId& id,
                                             const std::vector<UserId>& participants, TimeMs at) {
  if (participants.empty()) return {};
  Params others;
  others.text(id).text(id_array(participants));
  if (auto r = exec(Stmt::kRemoveOtherMembers, others); !r) return r.error();
  Params params;
  params.text(id).text(id_array(participants)).i64(at);
  if (auto r = exec(Stmt::kAddMembers, params); !r) return r.error();
  return {};
}

Result<Conversation> PgConnection::create_conversation(const NewConversation& request) {
  const ConversationId id = request.id.empty() ? new_short_id() : request.id;
  if (!is_valid_id(id)) return err(Errc::invalid_argument);
  auto fields = detail::normalize_fields(request.participants, request.settings, request.meta);
  if (!fields) return fields.error();
  auto& [participants, settings, meta] = *fields;
  Params params;
  params.text(id)
      .text(request.title)
      .i64(or_now(request.created_at))
      .text(participants_json(*participants))
      .text(*settings)
      .text(*meta)
      .text(id_array(*participants));
  // Not run again after a drop: had it committed, the second run would say already_exists.
  return with_reconnect(false, [&]() -> Result<Conversation> {
    auto res = exec(Stmt::kInsertConversation, params);
    if (!res) return res.error();
    if (PQntuples(res->get()) == 0) return err(Errc::already_exists);
    return conversation_at(res->get(), 0, 0);
  });
}

Result<Conversation> PgConnection::ensure_conversation(const ConversationId& id, TimeMs now) {
  if (!is_valid_id(id)) return err(Errc::invalid_argument);
  Params params;
  params.text(id).i64(or_now(now));
  return with_reconnect(true, [&]() -> Result<Conversation> {
    auto res = exec(Stmt::kEnsureConversation, params);
    if (!res) return res.error();
    if (PQntuples(res->get()) > 0) return conversation_at(res->get(), 0, 0);
    return load_conversation(id, false);  // another writer created it just now
  });
}

Result<void> PgConnection::ensure_conversations(std::span<const ConversationId> ids, TimeMs now) {
  if (ids.empty()) return {};
  ArrayLiteral array;
  for (const ConversationId& id : ids) {
    if (!is_valid_id(id)) return err(Errc::invalid_argument);
    array.add(std::string_view(id));
  }
  Params params;
  params.text(std::move(array).finish()).i64(or_now(now));
  // One statement, so one transaction; run again after a drop, as the rows it adds are the
  // same either way.
  return with_reconnect(true, [&]() -> Result<void> {
    auto res = exec(Stmt::kEnsureConversations, params);
    if (!res) return res.error();
    return {};
  });
}

Result<Conversation> PgConnection::get_conversation(const ConversationId& id) {
  return with_reconnect(true, [&] { return load_conversation(id, false); });
}

Result<ConversationPage> PgConnection::list_conversations(const ListQuery& query) {
  auto cursor = detail::decode_list_cursor(query.cursor);
  if (!cursor) return cursor.error();
  const std::size_t limit = detail::list_limit(query.limit);
  Params params;
  params.i64(detail::sql_limit(limit + 1))
      .i64(cursor->updated_at)
      .text(cursor->id)
      .text(query.user)
      .text(detail::ascii_lower(query.q));
  return with_reconnect(true, [&]() -> Result<ConversationPage> {
    auto res =
        exec(cursor->id.empty() ? Stmt::kListFirstConversations : Stmt::kListConversations, params);
    if (!res) return res.error();
    const PGresult* r = res->get();
    const int rows = PQntuples(r);
    ConversationPage page;
    for (int row = 0; row < rows && static_cast<std::size_t>(row) < limit; ++row) {
      ConversationSummary summary;
      summary.conversation = conversation_at(r, row, 0);
      if (!null_at(r, row, kConvCols)) summary.last_message = message_at(r, row, kConvCols);
      if (query.user) summary.unread = i64_at(r, row, kConvCols + kMsgCols);
      page.conversations.push_back(std::move(summary));
    }
    if (static_cast<std::size_t>(rows) > limit) {
      const Conversation& last = page.conversations.back().conversation;
      page.next_cursor = detail::encode_list_cursor(last.updated_at, last.id);
    }
    return page;
  });
}

Result<Conversation> PgConnection::update_conversation(const ConversationId& id,
                                                       const ConversationPatch& patch, TimeMs now) {
  auto fields = detail::normalize_fields(patch);
  if (!fields) return fields.error();
  auto& [participants, settings, meta] = *fields;
  const TimeMs at = or_now(now);
  Params params;
  params.text(id).text(patch.title);
  if (participants) {
    params.text(participants_json(*participants));
  } else {
    params.null();
  }
  params.text(settings).text(meta).boolean(patch.is_active).i64(at);

  return with_reconnect(true, [&]() -> Result<Conversation> {
    if (!participants) {
      auto res = exec(Stmt::kUpdateConversation, params);
      if (!res) return res.error();
      if (PQntuples(res->get()) == 0) return err(Errc::not_found);
      return conversation_at(res->get(), 0, 0);
    }
    // Members follow the participant list: one transaction, the row locked first.
    Transaction tx(*this);
    if (auto ok = tx.begin(); !ok) return ok.error();
    auto old = load_conversation(id, true);
    if (!old) return old.error();
    auto res = exec(Stmt::kUpdateConversation, params);
    if (!res) return res.error();
    if (PQntuples(res->get()) == 0) return err(Errc::not_found);
    if (auto ok = sync_participants(id, *participants, at); !ok) {
      return ok.error();
    }
    // A change: other servers' live rooms reload who they admit (ChangeFollower).
    Params key;
    key.text(id);
    if (auto r = exec(Stmt::kNoteChange, key); !r) return r.error();
    if (auto ok = tx.commit(); !ok) return ok.error();
    return conversation_at(res->get(), 0, 0);
  });
}

Result<void> PgConnection::delete_conversation(const ConversationId& id) {
  Params params;
  params.text(id);
  // Not run again after a drop: had it committed, the second run would say not_found.
  return with_reconnect(false, [&]() -> Result<void> {
    // Lock the row first, so that a concurrent append commits before we delete its
    // messages (or after, into a new conversation).
    Transaction tx(*this);
    if (auto ok = tx.begin(); !ok) return ok.error();
    if (auto old = load_conversation(id, true); !old) return old.error();
    if (auto r = exec(Stmt::kDeleteMessagesOf, params); !r) return r.error();
    if (auto r = exec(Stmt::kDeleteConversation, params); !r) return r.error();
    if (auto r = exec(Stmt::kNoteChange, params); !r) return r.error();
    return tx.commit();
  });
}

Result<Conversation> PgConnection::replace_conversation(const WholeConversation& whole) {
  if (!is_valid_id(whole.id) || whole.first_seq < 1) return err(Errc::invalid_argument);
  // The states the messages had in their source, by index: stored with them.
  std::vector<const WholeConversation::MessageState*> states(whole.messages.size(), nullptr);
  for (const auto& state : whole.states) {
    if (state.index >= whole.messages.size()) return err(Errc::invalid_argument);
    states[state.index] = &state;
  }
  auto fields = detail::normalize_fields(whole.participants, whole.settings, whole.meta);
  if (!fields) return fields.error();
  auto& [participants, settings, meta] = *fields;
  const TimeMs now = now_ms();

  ArrayLiteral a_conv, a_seq, a_id, a_sender, a_name, a_role, a_kind, a_content, a_meta, a_created,
      a_client, a_edited, a_deleted;
  SearchVectorArray a_search;
  std::set<std::pair<UserId, std::string>> client_ids;
  std::unordered_set<MessageId> ids;
  Seq seq = whole.first_seq - 1;
  for (std::size_t i = 0; i < whole.messages.size(); ++i) {
    NewMessage msg = whole.messages[i];
    msg.conversation = whole.id;
    if (auto ok = detail::normalize_new_message(msg); !ok) return ok.error();
    if (msg.id.empty()) msg.id = new_message_id();
    if (!ids.insert(msg.id).second) return err(Errc::conflict);
    if (msg.client_id && !client_ids.emplace(msg.sender.id, *msg.client_id).second) {
      return err(Errc::conflict);
    }
    const TimeMs created_at = msg.created_at != 0 ? msg.created_at : now;
    // A soft-deleted message is stored as delete_message leaves one.
    const bool deleted = states[i] != nullptr && states[i]->deleted;
    std::optional<std::int64_t> edited_at;
    if (states[i] != nullptr) {
      edited_at = deleted ? states[i]->edited_at.value_or(created_at) : states[i]->edited_at;
    }
    if (deleted) {
      msg.content.clear();
      msg.meta = "{}";
    }
    a_conv.add(std::string_view(whole.id));
    a_seq.add(++seq);
    a_id.add(std::string_view(msg.id));
    a_sender.add(std::string_view(msg.sender.id));
    a_name.add(std::string_view(msg.sender.name));
    a_role.add(std::string_view(msg.sender.role));
    a_kind.add(std::string_view(msg.kind));
    a_content.add_content(msg.content);
    a_meta.add(std::string_view(msg.meta));
    a_created.add(created_at);
    a_client.add(msg.client_id);
    a_search.add(msg.content);
    a_edited.add(edited_at);
    a_deleted.add(deleted);
  }
  const Seq last_seq = seq;
  const auto count = static_cast<std::int64_t>(whole.messages.size());
  Params insert;
  insert.text(std::move(a_conv).finish())
      .text(std::move(a_seq).finish())
      .text(std::move(a_id).finish())
      .text(std::move(a_sender).finish())
      .text(std::move(a_name).finish())
      .text(std::move(a_role).finish())
      .text(std::move(a_kind).finish())
      .text(std::move(a_content).finish())
      .text(std::move(a_meta).finish())
      .text(std::move(a_created).finish())
      .text(std::move(a_client).finish())
      .binary(std::move(a_search).finish())
      .text(std::move(a_edited).finish())
      .text(std::move(a_deleted).finish());
  Params key, ensure, update, clamp;
  key.text(whole.id);
  ensure.text(whole.id).i64(whole.created_at != 0 ? whole.created_at : now);
  update.text(whole.id)
      .text(whole.title)
      .text(*settings)
      .text(*meta)
      .text(participants_json(*participants))
      .i64(whole.created_at)
      .i64(whole.updated_at != 0 ? whole.updated_at : now)
      .i64(last_seq)
      .i64(count);
  clamp.text(whole.id).i64(last_seq);
  // Read seqs raised as mark_read raises them (kMarkRead clamps to the new last_seq).
  std::vector<Params> reads;
  for (const auto& [user, read] : whole.read_seqs) {
    if (std::min(read, last_seq) <= 0) continue;
    reads.emplace_back();
    reads.back().text(whole.id).text(user).i64(read);
  }

  return with_reconnect(true, [&]() -> Result<Conversation> {
    Transaction tx(*this);
    if (auto ok = tx.begin(); !ok) return ok.error();
    if (auto r = exec(Stmt::kEnsureConversationRow, ensure); !r) return r.error();
    auto old = load_conversation(whole.id, true);
    if (!old) return old.error();
    if (auto r = exec(Stmt::kDeleteMessagesOf, key); !r) return r.error();
    if (count > 0) {
      // A message id taken by another conversation fails here with conflict.
      if (auto r = exec(Stmt::kInsertMessages, insert); !r) return r.error();
    }
    auto res = exec(Stmt::kReplaceConversation, update);
    if (!res) return res.error();
    if (PQntuples(res->get()) == 0) return err(Errc::internal);
    if (auto ok = sync_participants(whole.id, *participants, now); !ok) {
      return ok.error();
    }
    if (auto r = exec(Stmt::kClampReadState, clamp); !r) return r.error();
    for (const Params& read : reads) {
      if (auto r = exec(Stmt::kMarkRead, read); !r) return r.error();
    }
    if (auto r = exec(Stmt::kNoteChange, key); !r) return r.error();
    if (auto ok = tx.commit(); !ok) return ok.error();
    return conversation_at(res->get(), 0, 0);
  });
}

Result<std::int64_t> PgConnection::last_change() {
  return with_reconnect(true, [&]() -> Result<std::int64_t> {
    auto res = exec(Stmt::kLastChange, Params{});
    if (!res) return res.error();
    if (PQntuples(res->get()) == 0) return err(Errc::internal);
    return i64_at(res->get(), 0, 0);
  });
}

Result<std::vector<ConversationChange>> PgConnection::changes_after(std::int64_t after,
                                                                    std::size_t limit) {
  Params params;
  params.i64(after).i64(static_cast<std::int64_t>(
      std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max())));
  return with_reconnect(true, [&]() -> Result<std::vector<ConversationChange>> {
    auto res = exec(Stmt::kChangesAfter, params);
    if (!res) return res.error();
    const PGresult* r = res->get();
    std::vector<ConversationChange> out;
    out.reserve(static_cast<std::size_t>(PQntuples(r)));
    for (int i = 0; i < PQntuples(r); ++i) {
      out.push_back({std::string(text_at(r, i, 0)), i64_at(r, i, 1)});
    }
    return out;
  });
}

Result<std::int64_t> PgConnection::count_conversations() {
  return with_reconnect(true, [&]() -> Result<std::int64_t> {
    auto res = exec(Stmt::kCountConversations, Params{});
    if (!res) return res.error();
    return i64_at(res->get(), 0, 0);
  });
}

Result<void> PgConnection::add_member(const ConversationId& conversation, const UserId& user,
                                      TimeMs at) {
  if (!is_valid_id(user)) return err(Errc::invalid_argument);
  Params params;
  params.text(conversation).text(user).i64(or_now(at));
  return with_reconnect(true, [&]() -> Result<void> {
    auto res = exec(Stmt::kAddMember, params);
    if (!res) return res.error();
    if (i64_at(res->get(), 0, 0) == 0) return err(Errc::not_found);
    return {};
  });
}

Result<void> PgConnection::add_members(std::span<const Membership> members) {
  if (members.empty()) return {};
  const TimeMs now = now_ms();
  ArrayLiteral convs, users, ats;
  // One row per (conversation, user), the first: which of two rows of one INSERT ... ON
  // CONFLICT DO NOTHING is kept depends on the plan.
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (const Membership& m : members) {
    if (!is_valid_id(m.user)) return err(Errc::invalid_argument);
    if (!seen.emplace(m.conversation, m.user).second) continue;
    convs.add(std::string_view(m.conversation));
    users.add(std::string_view(m.user));
    ats.add(m.at != 0 ? m.at : now);
  }
  Params params;
  params.text(std::move(convs).finish())
      .text(std::move(users).finish())
      .text(std::move(ats).finish());
  return with_reconnect(true, [&]() -> Result<void> {
    auto res = exec(Stmt::kAddMemberships, params);
    if (!res) return res.error();
    return {};
  });
}

// --- Read state --------------------------------------------------------------------------

Result<Seq> PgConnection::mark_read(const ConversationId& conversation, const UserId& user,
                                    Seq seq) {
  Params params;
  params.text(conversation).text(user).i64(seq);
  return with_reconnect(true, [&]() -> Result<Seq> {
    auto res = exec(Stmt::kMarkRead, params);
    if (!res) return res.error();
    const PGresult* r = res->get();
    if (i64_at(r, 0, 0) == 0) return err(Errc::not_found);
    if (!null_at(r, 0, 1)) return i64_at(r, 0, 1);  // raised
    if (!null_at(r, 0, 2)) return i64_at(r, 0, 2);  // already at least that high
    return Seq{0};
  });
}

Result<Seq> PgConnection::read_seq(const ConversationId& conversation, const UserId& user) {
  Params params;
  params.text(conversation).text(user);
  return with_reconnect(true, [&]() -> Result<Seq> {
    auto res = exec(Stmt::kReadSeq, params);
    if (!res) return res.error();
    if (PQntuples(res->get()) == 0) return Seq{0};
    return i64_at(res->get(), 0, 0);
  });
}

// --- Templates (WebWOz) -------------------------------------------------------------------
// Not prepared statements: a template set is read when a wizard joins and rewritten when
// someone edits it by hand, a few times a minute at most.

Result<std::vector<Template>> PgConnection::list_templates() {
  return with_reconnect(true, [&] { return read_templates(); });
}

Result<std::vector<Template>> PgConnection::read_templates() {
  auto res = exec_sql("SELECT category, key, value FROM templates ORDER BY position",
                      "list_templates", info_->deadlines().statement);
  if (!res) return res.error();
  const PGresult* r = res->get();
  std::vector<Template> out;
  out.reserve(static_cast<std::size_t>(PQntuples(r)));
  for (int i = 0; i < PQntuples(r); ++i) {
    out.push_back(Template{std::string(text_at(r, i, 0)), std::string(text_at(r, i, 1)),
                           std::string(text_at(r, i, 2))});
  }
  return out;
}

Result<void> PgConnection::replace_templates(std::span<const Template> templates) {
  if (!detail::valid_templates(templates)) return err(Errc::invalid_argument);
  // Safe to run again after a drop: the whole set is replaced either way.
  return with_reconnect(true, [&]() -> Result<void> {
    Transaction tx(*this);
    if (auto ok = tx.begin(); !ok) return ok.error();
    if (auto r = write_templates(templates); !r) return r.error();
    return tx.commit();
  });
}

Result<bool> PgConnection::replace_templates_if(std::span<const Template> expected,
                                                std::span<const Template> templates) {
  if (!detail::valid_templates(templates)) {
    return Result<bool>(boost::system::in_place_error, err(Errc::invalid_argument));
  }
  // Not Result<bool> inside: with_reconnect returns its own errors as the lambda's type, and
  // an error_code converts to bool.
  enum class Outcome { written, stale };
  // Run again after a drop that lost a commit, it finds the new set and says stale: the
  // caller reads again and finds its change made.
  auto r = with_reconnect(true, [&]() -> Result<Outcome> {
    Transaction tx(*this);
    if (auto ok = tx.begin(); !ok) return ok.error();
    // SHARE ROW EXCLUSIVE conflicts with itself and with the ROW EXCLUSIVE lock of
    // replace_templates' DELETE: no other writer between the check and the write (reads,
    // ACCESS SHARE, go on).
    if (auto locked = exec_sql("LOCK TABLE templates IN SHARE ROW EXCLUSIVE MODE",
                               "replace_templates_if lock", info_->deadlines().commit);
        !locked) {
      return locked.error();
    }
    auto now = read_templates();
    if (!now) return now.error();
    if (!std::ranges::equal(*now, expected)) return Outcome::stale;
    if (auto written = write_templates(templates); !written) return written.error();
    if (auto ok = tx.commit(); !ok) return ok.error();
    return Outcome::written;
  });
  if (!r) return Result<bool>(boost::system::in_place_error, r.error());
  return *r == Outcome::written;
}

Result<void> PgConnection::write_templates(std::span<const Template> templates) {
  if (auto r = exec_sql("DELETE FROM templates", "replace_templates", info_->deadlines().commit);
      !r) {
    return r.error();
  }
  std::int64_t position = 0;
  for (const Template& t : templates) {
    const std::string pos = std::to_string(++position);
    const char* values[4] = {pos.c_str(), t.category.c_str(), t.key.c_str(), t.value.c_str()};
    const int lengths[4] = {static_cast<int>(pos.size()), static_cast<int>(t.category.size()),
                            static_cast<int>(t.key.size()), static_cast<int>(t.value.size())};
    const int formats[4] = {0, 0, 0, 0};
    PgResult res(PQexecParams(conn_,
                              "INSERT INTO templates (position, category, key, value) "
                              "VALUES ($1::bigint, $2, $3, $4)",
                              4, nullptr, values, lengths, formats, 0));
    if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      return fail(res.get(), "replace_templates insert");
    }
  }
  return {};
}

// --- Users -------------------------------------------------------------------------------

Result<void> PgConnection::upsert_user(const User& user) {
  if (!is_valid_id(user.id)) return err(Errc::invalid_argument);
  Params params;
  params.text(user.id).text(user.name).text(user.avatar).text(user.role).i64(user.last_seen);
  return with_reconnect(true, [&]() -> Result<void> {
    if (auto r = exec(Stmt::kUpsertUser, params); !r) return r.error();
    return {};
  });
}

Result<void> PgConnection::upsert_users(std::span<const User> users) {
  if (users.empty()) return {};
  for (const User& user : users) {
    if (!is_valid_id(user.id)) return err(Errc::invalid_argument);
  }
  // Safe to run again after a drop: each upsert merges, so the rows end the same either way.
  return with_reconnect(true, [&]() -> Result<void> {
    Transaction tx(*this);
    if (auto ok = tx.begin(); !ok) return ok.error();
    for (const User& user : users) {
      Params params;
      params.text(user.id).text(user.name).text(user.avatar).text(user.role).i64(user.last_seen);
      if (auto r = exec(Stmt::kUpsertUser, params); !r) return r.error();
    }
    return tx.commit();
  });
}

Result<User> PgConnection::get_user(const UserId& id) {
  Params params;
  params.text(id);
  return with_reconnect(true, [&]() -> Result<User> {
    auto res = exec(Stmt::kGetUser, params);
    if (!res) return res.error();
    const PGresult* r = res->get();
    if (PQntuples(r) == 0) return err(Errc::not_found);
    User user;
    user.id = text_at(r, 0, 0);
    user.name = text_at(r, 0, 1);
    user.avatar = text_at(r, 0, 2);
    user.role = text_at(r, 0, 3);
    if (!null_at(r, 0, 4)) user.last_seen = i64_at(r, 0, 4);
    return user;
  });
}

Result<void> PgConnection::set_last_seen(const UserId& id, TimeMs at) {
  if (!is_valid_id(id)) return err(Errc::invalid_argument);
  Params params;
  params.text(id).i64(at);
  return with_reconnect(true, [&]() -> Result<void> {
    if (auto r = exec(Stmt::kSetLastSeen, params); !r) return r.error();
    return {};
  });
}

// --- Search and export -------------------------------------------------------------------

Result<std::vector<SearchHit>> PgConnection::search(const SearchQuery& query) {
  const std::vector<std::string> terms = detail::search_terms(query.text);
  std::vector<SearchHit> out;
  if (terms.empty()) return out;
  // Every word as a quoted prefix: 'word':* & ... Words hold only lowercase letters, digits
  // and non-ASCII bytes (search_terms), so no input can change the query's syntax; the text
  // is cast to tsquery as it is, without a dictionary, like the stored vectors.
  std::string tsquery;
  ArrayLiteral words;
  for (const std::string& term : terms) {
    if (!tsquery.empty()) tsquery += " & ";
    tsquery += "'" + term + "':*";
    words.add(std::string_view(term));
  }
  Params params;
  params.text(tsquery)
      .text(query.conversation)
      .i64(detail::sql_limit(detail::list_limit(query.limit, detail::kDefaultSearchLimit)))
      .text(std::move(words).finish());
  return with_reconnect(true, [&]() -> Result<std::vector<SearchHit>> {
    auto rows = read_messages(Stmt::kSearch, params);
    if (!rows) return rows.error();
    std::vector<SearchHit> hits;
    hits.reserve(rows->size());
    for (StoredMessage& msg : *rows) {
      std::string snippet = make_snippet(msg.content, terms);
      hits.push_back({std::move(msg), std::move(snippet)});
    }
    return hits;
  });
}

// --- Retention ---------------------------------------------------------------------------

Result<std::int64_t> PgConnection::prune(const ConversationId& conversation,
                                         std::optional<std::int64_t> keep_last,
                                         std::optional<TimeMs> older_than, bool dry_run) {
  if (keep_last && *keep_last < 0) return err(Errc::invalid_argument);
  Params params;
  params.text(conversation).i64(keep_last).i64(older_than).boolean(dry_run);
  // One statement: safe to run again after a drop (a second run removes nothing more).
  return with_reconnect(true, [&]() -> Result<std::int64_t> {
    auto res = exec(Stmt::kPrune, params);
    if (!res) return res.error();
    if (i64_at(res->get(), 0, 0) == 0) return err(Errc::not_found);
    return i64_at(res->get(), 0, 1);
  });
}

Result<void> PgConnection::for_each_user(const std::function<bool(const User&)>& fn) {
  constexpr std::int64_t kPage = 1000;
  std::string after;
  for (;;) {
    Params params;
    params.text(after).i64(kPage);
    auto page = with_reconnect(true, [&]() -> Result<std::vector<User>> {
      auto res = exec(Stmt::kListUsers, params);
      if (!res) return res.error();
      const PGresult* r = res->get();
      std::vector<User> users;
      users.reserve(static_cast<std::size_t>(PQntuples(r)));
      for (int i = 0; i < PQntuples(r); ++i) {
        User user;
        user.id = text_at(r, i, 0);
        user.name = text_at(r, i, 1);
        user.avatar = text_at(r, i, 2);
        user.role = text_at(r, i, 3);
        if (!null_at(r, i, 4)) user.last_seen = i64_at(r, i, 4);
        users.push_back(std::move(user));
      }
      return users;
    });
    if (!page) return page.error();
    for (const auto& user : *page) {
      if (!fn(user)) return {};
    }
    if (static_cast<std::int64_t>(page->size()) < kPage) return {};
    after = page->back().id;
  }
}

Result<std::vector<MemberState>> PgConnection::member_states(const ConversationId& conversation) {
  Params params;
  params.text(conversation);
  return with_reconnect(true, [&]() -> Result<std::vector<MemberState>> {
    auto res = exec(Stmt::kMemberStates, params);
    if (!res) return res.error();
    const PGresult* r = res->get();
    std::vector<MemberState> out;
    out.reserve(static_cast<std::size_t>(PQntuples(r)));
    for (int i = 0; i < PQntuples(r); ++i) {
      MemberState m;
      m.user = text_at(r, i, 0);
      if (!null_at(r, i, 1)) m.joined_at = i64_at(r, i, 1);
      if (!null_at(r, i, 2)) m.read_seq = i64_at(r, i, 2);
      out.push_back(std::move(m));
    }
    return out;
  });
}

Result<void> PgConnection::for_each_message(const ConversationId& conversation, Seq after,
                                            const std::function<bool(const StoredMessage&)>& fn) {
  for (;;) {
    auto chunk = read_after(conversation, after, kExportChunk);
    if (!chunk) return chunk.error();
    for (const StoredMessage& msg : *chunk) {
      if (!fn(msg)) return {};
      after = msg.seq;
    }
    if (chunk->size() < kExportChunk) return {};
  }
}

}  // namespace parley::store::postgres
