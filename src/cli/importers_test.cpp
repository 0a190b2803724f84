#include "cli/importers.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace parley::cli::importers {
namespace {

const std::filesystem::path kFixtures = PARLEY_IMPORT_FIXTURES;

struct Collected {
  std::vector<ParsedConversation> conversations;
  ParseReport report;
};

Collected run(Format f, const std::filesystem::path& p) {
  Collected c;
  parse(
      f, p,
      [&](ParsedConversation&& pc) {
        c.conversations.push_back(std::move(pc));
        return true;
      },
      c.report);
  return c;
}

const Issue* find_issue(const ParseReport& r, std::string_view needle) {
  for (const auto& i : r.issues) {
    if (to_string(i).find(needle) != std::string::npos) return &i;
  }
  return nullptr;
}

std::string all_issues(const ParseReport& r) {
  std::string s;
  for (const auto& i : r.issues) s += to_string(i) + "\n";
  return s;
}

TEST(Importers, FormatNames) {
  EXPECT_EQ(parse_format("webwoz"), Format::webwoz);
  EXPECT_EQ(parse_format("conversations-json"), Format::conversations_json);
  EXPECT_EQ(parse_format("jsonl"), Format::jsonl);
  EXPECT_EQ(parse_format("sqlite-tables"), Format::sqlite_tables);
  EXPECT_FALSE(parse_format("xml"));
}

TEST(Importers, DerivedIdsAreStableAndDistinct) {
  EXPECT_EQ(derived_message_id("webwoz", "r", 0), derived_message_id("webwoz", "r", 0));
  EXPECT_NE(derived_message_id("webwoz", "r", 0), derived_message_id("webwoz", "r", 1));
  EXPECT_NE(derived_message_id("webwoz", "r", 0), derived_message_id("webwoz", "s", 0));
  EXPECT_EQ(derived_message_id("webwoz", "r", 0).size(), 32u);
}

TEST(Importers, JsonLineOf) {
  const std::string text = "{\n \"a\": 1,\n \"messages\": [\n  {\"x\": 1},\n  {\"y\": 2}\n ]\n}\n";
  EXPECT_EQ(json_line_of(text, "/a"), 2u);
  EXPECT_EQ(json_line_of(text, "/messages"), 3u);
  EXPECT_EQ(json_line_of(text, "/messages/0"), 4u);
  EXPECT_EQ(json_line_of(text, "/messages/1"), 5u);
  EXPECT_EQ(json_line_of(text, "/nope"), 0u);
}

TEST(Importers, Webwoz) {
  auto c = run(Format::webwoz, kFixtures / "webwoz");
  EXPECT_TRUE(c.report.issues.empty()) << all_issues(c.report);
  ASSERT_EQ(c.conversations.size(), 2u);
  const auto& a = c.conversations[0].whole;
  EXPECT_EQ(a.id, "abc12345");
  EXPECT_EQ(a.created_at, *parse_rfc3339("2025-08-07T12:00:00Z"));
  EXPECT_EQ(a.updated_at, *parse_rfc3339("2025-08-07T12:23:44Z"));
  ASSERT_EQ(a.messages.size(), 3u);
  EXPECT_EQ(a.messages[0].sender.id, "participant");
  EXPECT_EQ(a.messages[0].sender.role, "participant");
  EXPECT_EQ(a.messages[1].sender.role, "wizard");
  EXPECT_EQ(a.messages[1].created_at, *parse_rfc3339("2025-08-07T12:01:30.250Z"));
  EXPECT_EQ(a.messages[2].content, "Übersicht: ünïcödé ✓");
  EXPECT_EQ(a.messages[2].meta, "{}");
  EXPECT_EQ(a.messages[0].id, derived_message_id("webwoz", "abc12345", 0));
  EXPECT_EQ(c.conversations[1].whole.id, "room-2");
}

TEST(Importers, WebwozBadRecordsHaveFileAndLine) {
  auto c = run(Format::webwoz, kFixtures / "webwoz-bad");
  const std::string issues = all_issues(c.report);
  ASSERT_EQ(c.conversations.size(), 1u) << issues;
  EXPECT_EQ(c.conversations[0].whole.id, "good");
  ASSERT_EQ(c.conversations[0].whole.messages.size(), 2u);
  EXPECT_EQ(c.conversations[0].whole.messages[1].content, "ok 2");
  EXPECT_TRUE(find_issue(c.report, "good.json:8: skipped: conversation good message 1: no content"))
      << issues;
  EXPECT_TRUE(find_issue(c.report, "good.json:9: skipped: conversation good message 2: timestamp"))
      << issues;
  EXPECT_TRUE(find_issue(c.report,
                         "good.json:5: warning: conversation good: message_count 5 but 4 messages"))
      << issues;
  EXPECT_TRUE(find_issue(c.report, "broken.json:4: skipped: not valid JSON")) << issues;
  EXPECT_TRUE(find_issue(c.report, "badid.json:1: skipped: invalid conversation id")) << issues;
  EXPECT_TRUE(find_issue(c.report, "link.json: skipped: not a regular file")) << issues;
  EXPECT_TRUE(find_issue(c.report, "notobject.json:1: skipped")) << issues;
  EXPECT_EQ(c.report.skipped(), 6u) << issues;
}

TEST(Importers, WebwozNeedsADirectory) {
  auto c = run(Format::webwoz, kFixtures / "conversations.json");
  EXPECT_TRUE(c.report.fatal);
}

TEST(Importers, ConversationsJson) {
  auto c = run(Format::conversations_json, kFixtures / "conversations.json");
  EXPECT_TRUE(c.report.issues.empty()) << all_issues(c.report);
  ASSERT_EQ(c.conversations.size(), 2u);
  const auto& a = c.conversations[0].whole;
  EXPECT_EQ(a.id, "5f1c0d2e-aaaa-4bbb-8ccc-000000000001");
  EXPECT_EQ(a.title, "RAG: shipping policy");
  EXPECT_EQ(a.settings, R"({"model":"gpt-4o-mini","temperature":2E-1})");
  ASSERT_EQ(a.messages.size(), 3u);
  EXPECT_EQ(a.messages[0].sender.role, "user");
  EXPECT_EQ(a.messages[1].sender.role, "assistant");
  EXPECT_EQ(a.messages[1].meta, R"({"sources":["policy.pdf#p3"]})");
  // No timestamp: the previous message's.
  EXPECT_EQ(a.messages[2].created_at, a.messages[1].created_at);
  const auto& b = c.conversations[1].whole;
  EXPECT_EQ(b.id, "test-123");
  EXPECT_EQ(b.settings, "{}");
  EXPECT_EQ(b.messages[0].created_at, b.created_at);
}

TEST(Importers, ConversationsJsonBadRecords) {
  auto c = run(Format::conversations_json, kFixtures / "conversations-bad.json");
  const std::string issues = all_issues(c.report);
  ASSERT_EQ(c.conversations.size(), 1u) << issues;
  ASSERT_EQ(c.conversations[0].whole.messages.size(), 2u);
  EXPECT_TRUE(find_issue(
      c.report, "conversations-bad.json:8: skipped: conversation ok-1 message 1: no sender"))
      << issues;
  EXPECT_TRUE(find_issue(
      c.report,
      "conversations-bad.json:9: skipped: conversation ok-1 message 2: content must be a string"))
      << issues;
  EXPECT_TRUE(find_issue(c.report, ":14: skipped: invalid conversation id 'bad id with spaces'"))
      << issues;
  EXPECT_TRUE(
      find_issue(c.report, ":18: skipped: conversation no-messages: messages must be an array"))
      << issues;
  EXPECT_TRUE(
      find_issue(c.report, ":22: skipped: conversation bad-settings: settings must be an object"))
      << issues;
}

TEST(Importers, Jsonl) {
  auto c = run(Format::jsonl, kFixtures / "messages.jsonl");
  EXPECT_TRUE(c.report.issues.empty()) << all_issues(c.report);
  ASSERT_EQ(c.conversations.size(), 2u);
  const auto& lobby = c.conversations[0];
  EXPECT_FALSE(lobby.header_known);
  EXPECT_EQ(lobby.whole.id, "lobby");
  ASSERT_EQ(lobby.whole.messages.size(), 3u);
  EXPECT_EQ(lobby.whole.messages[0].id, "0190f0a1b2c3d4e5f60718293a4b5c6d");
  EXPECT_EQ(lobby.whole.messages[0].client_id, "c-1");
  EXPECT_EQ(lobby.whole.messages[0].sender.name, "Ada");
  EXPECT_EQ(lobby.whole.messages[1].meta, R"({"lang":"en"})");
  ASSERT_EQ(lobby.marks.size(), 2u);
  EXPECT_EQ(lobby.marks[0].index, 1u);
  EXPECT_FALSE(lobby.marks[0].deleted);
  EXPECT_TRUE(lobby.marks[1].deleted);
  EXPECT_EQ(lobby.whole.created_at, lobby.whole.messages[0].created_at);
  EXPECT_EQ(c.conversations[1].whole.messages[0].kind, "system");
}

TEST(Importers, JsonlBadLines) {
  auto c = run(Format::jsonl, kFixtures / "messages-bad.jsonl");
  const std::string issues = all_issues(c.report);
  ASSERT_EQ(c.conversations.size(), 2u) << issues;
  EXPECT_EQ(c.conversations[0].whole.id, "c1");
  EXPECT_EQ(c.conversations[0].whole.messages.size(), 1u);
  EXPECT_EQ(c.conversations[1].whole.id, "c2");
  EXPECT_EQ(c.conversations[1].whole.messages.size(), 1u);
  EXPECT_TRUE(find_issue(c.report, "messages-bad.jsonl:2: skipped: not valid JSON")) << issues;
  EXPECT_TRUE(find_issue(c.report, "messages-bad.jsonl:3: skipped: no created_at")) << issues;
  EXPECT_TRUE(find_issue(c.report, "messages-bad.jsonl:5: skipped: invalid conversation id"))
      << issues;
  EXPECT_TRUE(find_issue(c.report,
                         "messages-bad.jsonl:8: skipped: conversation c1 already ended at line 1"))
      << issues;
  EXPECT_TRUE(
      find_issue(c.report, "messages-bad.jsonl:7: skipped: conversation c2: seq 1 appears twice"))
      << issues;
  EXPECT_EQ(c.report.skipped(), 5u) << issues;
}

// Numbers a double cannot hold: 1e400 kept in meta would be exported as `Infinity` (not
// JSON); a timestamp of 1e300 seconds cast to milliseconds is undefined behaviour.
TEST(Importers, NumbersOutOfRangeAreRefused) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("parley-import-range-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "range.jsonl";
  {
    std::ofstream out(path);
    out << R"({"conversation":"c1","seq":1,"sender":"u","content":"ok","created_at":1700000000})"
        << "\n"
        << R"({"conversation":"c1","seq":2,"sender":"u","content":"a","created_at":1700000001,)"
        << R"("meta":{"x":[1e400]}})" << "\n"
        << R"({"conversation":"c1","seq":3,"sender":"u","content":"b","created_at":1e300})"
        << "\n"
        << R"({"conversation":"c1","seq":4,"sender":"u","content":"c","created_at":-1e999})"
        << "\n"
        << R"({"conversation":"c1","seq":5,"sender":"u","content":"d","timestamp":1e17})"
        << "\n"
        << R"({"conversation":"c1","seq":6,"sender":"u","content":"e","created_at":1700000002,)"
        << R"("meta":{"big":1.7e308}})" << "\n";
  }
  auto c = run(Format::jsonl, path);
  std::filesystem::remove_all(dir);
  const std::string issues = all_issues(c.report);
  ASSERT_EQ(c.conversations.size(), 1u) << issues;
  const auto& msgs = c.conversations[0].whole.messages;
  ASSERT_EQ(msgs.size(), 2u) << issues;
  EXPECT_EQ(msgs[0].content, "ok");
  EXPECT_EQ(msgs[1].content, "e");
  EXPECT_EQ(msgs[1].meta.find("Infinity"), std::string::npos) << msgs[1].meta;
  EXPECT_TRUE(find_issue(c.report, "range.jsonl:2: skipped: a number is out of range")) << issues;
  EXPECT_TRUE(find_issue(c.report, "range.jsonl:3: skipped: created_at is not a date")) << issues;
  EXPECT_TRUE(find_issue(c.report, "range.jsonl:4: skipped: a number is out of range")) << issues;
  EXPECT_TRUE(find_issue(c.report, "range.jsonl:5: skipped: timestamp is not a date")) << issues;
}

std::filesystem::path make_multichat_db() {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("parley-import-" + std::to_string(::getpid()) + "-" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto path = dir / "conversations.db";
  std::ifstream in(kFixtures / "multichat.sql");
  std::stringstream sql;
  sql << in.rdbuf();
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, sql.str().c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  return path;
}

TEST(Importers, SqliteTables) {
  const auto path = make_multichat_db();
  auto c = run(Format::sqlite_tables, path);
  const std::string issues = all_issues(c.report);
  ASSERT_EQ(c.conversations.size(), 2u) << issues;
  const auto& a = c.conversations[0].whole;
  EXPECT_EQ(a.id, "conv-a");
  EXPECT_EQ(a.title, "Planning");
  EXPECT_EQ(a.created_at, *parse_rfc3339("2025-05-01T09:00:00Z"));
  ASSERT_EQ(a.messages.size(), 2u);
  EXPECT_EQ(a.messages[0].id, "a1");
  EXPECT_EQ(a.messages[1].meta, R"({"model":"m1"})");
  EXPECT_EQ(a.messages[1].sender.role, "assistant");
  EXPECT_EQ(c.conversations[1].whole.title, "");
  EXPECT_TRUE(find_issue(
      c.report, "messages rowid 3: skipped: conversation conv-a: meta is not a JSON object"))
      << issues;
  EXPECT_TRUE(find_issue(c.report, "conversations id 'bad id': skipped: invalid conversation id"))
      << issues;
  EXPECT_TRUE(find_issue(c.report, "1 message(s) belong to no conversation")) << issues;
  EXPECT_TRUE(find_issue(c.report, "warning: message_count 3 but 3 messages") == nullptr) << issues;
  std::filesystem::remove_all(path.parent_path());
}

// A damaged file is refused before it is read: one found by the import fuzzer (a corrupt
// index) made the conversations scan hand two rows back in turn forever, an issue each,
// until memory ran out. Here the conversations index's page header is broken.
TEST(Importers, SqliteTablesDamagedFileIsRefused) {
  const auto path = make_multichat_db();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  std::int64_t page_size = 0, root = 0;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, nullptr);
  if (sqlite3_step(st) == SQLITE_ROW) page_size = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db,
                     "SELECT rootpage FROM sqlite_master WHERE name = "
                     "'sqlite_autoindex_conversations_1'",
                     -1, &st, nullptr);
  if (sqlite3_step(st) == SQLITE_ROW) root = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  ASSERT_GT(page_size, 0);
  ASSERT_GT(root, 1);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp((root - 1) * page_size);
    const char junk[8] = {'\x42', '\x42', '\x42', '\x42', '\x42', '\x42', '\x42', '\x42'};
    f.write(junk, sizeof junk);
    ASSERT_TRUE(f.good());
  }
  auto c = run(Format::sqlite_tables, path);
  EXPECT_TRUE(c.report.fatal);
  EXPECT_TRUE(c.conversations.empty());
  EXPECT_TRUE(find_issue(c.report, "damaged SQLite file")) << all_issues(c.report);
  std::filesystem::remove_all(path.parent_path());
}

TEST(Importers, SqliteTablesNotADatabase) {
  auto c = run(Format::sqlite_tables, kFixtures / "conversations.json");
  EXPECT_TRUE(c.report.fatal);
}

}  // namespace
}  // namespace parley::cli::importers
