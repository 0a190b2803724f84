// export/import through the store, on the memory backend: idempotence, round trips, --strict.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "cli/cleanup.hpp"
#include "cli/export.hpp"
#include "cli/import.hpp"
#include "cli/migrate.hpp"
#include "cli/storage_options.hpp"
#include "store/memory/memory_store.hpp"

namespace parley::cli {
namespace {

namespace json = boost::json;
using importers::Format;
const std::filesystem::path kFixtures = PARLEY_IMPORT_FIXTURES;

struct Store {
  std::shared_ptr<store::Database> db = std::make_shared<store::memory::MemoryDatabase>();
  std::unique_ptr<store::Connection> c = std::move(*db->connect());
};

std::string export_all(store::Connection& c, api::ExportFormat f,
                       std::optional<ConversationId> one = std::nullopt) {
  std::string out;
  auto r = export_store(c, one, f, [&](std::string_view s) { out.append(s); });
  EXPECT_TRUE(r) << r.error().message();
  return out;
}

std::vector<StoredMessage> messages(store::Connection& c, const ConversationId& id) {
  std::vector<StoredMessage> out;
  auto r = c.for_each_message(id, 0, [&](const StoredMessage& m) {
    out.push_back(m);
    return true;
  });
  EXPECT_TRUE(r);
  return out;
}

std::string write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("parley-" + std::to_string(::getpid()) + "-" + name);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  return path.string();
}

TEST(ImportCommand, WebwozIsIdempotent) {
  Store s;
  auto first = import_source(s.c.get(), Format::webwoz, kFixtures / "webwoz", {});
  EXPECT_FALSE(first.aborted);
  EXPECT_EQ(first.conversations_written, 2u);
  EXPECT_EQ(first.messages_written, 5u);
  const auto before = messages(*s.c, "abc12345");
  const auto conv_before = *s.c->get_conversation("abc12345");
  auto second = import_source(s.c.get(), Format::webwoz, kFixtures / "webwoz", {});
  // The second import finds both rooms as the first left them and writes nothing.
  EXPECT_EQ(second.conversations_written, 0u);
  EXPECT_EQ(second.unchanged, 2u);
  EXPECT_EQ(*s.c->count_conversations(), 2);
  EXPECT_EQ(messages(*s.c, "abc12345"), before);
  EXPECT_EQ(*s.c->get_conversation("abc12345"), conv_before);
  ASSERT_EQ(before.size(), 3u);
  EXPECT_EQ(before[0].seq, 1);
  EXPECT_EQ(before[0].created_at, *parse_rfc3339("2025-08-07T12:01:00Z"));
  EXPECT_EQ(conv_before.created_at, *parse_rfc3339("2025-08-07T12:00:00Z"));
  EXPECT_EQ(conv_before.message_count, 3);
}

TEST(ImportCommand, DryRunWritesNothing) {
  Store s;
  ImportOptions o;
  o.dry_run = true;
  auto r = import_source(s.c.get(), Format::webwoz, kFixtures / "webwoz", o);
  EXPECT_EQ(r.report.conversations, 2u);
  EXPECT_EQ(r.conversations_written, 0u);
  EXPECT_EQ(*s.c->count_conversations(), 0);
}

TEST(ImportCommand, StrictAbortsBeforeWriting) {
  Store s;
  ImportOptions o;
  o.strict = true;
  auto r = import_source(s.c.get(), Format::webwoz, kFixtures / "webwoz-bad", o);
  EXPECT_TRUE(r.aborted);
  EXPECT_GT(r.report.skipped(), 0u);
  EXPECT_EQ(*s.c->count_conversations(), 0);
  // Without --strict the good records go in.
  auto lax = import_source(s.c.get(), Format::webwoz, kFixtures / "webwoz-bad", {});
  EXPECT_FALSE(lax.aborted);
  EXPECT_EQ(*s.c->count_conversations(), 1);
  EXPECT_EQ(messages(*s.c, "good").size(), 2u);
}

TEST(ImportCommand, JsonlKeepsIdsEditsAndDeletes) {
  Store s;
  auto r = import_source(s.c.get(), Format::jsonl, kFixtures / "messages.jsonl", {});
  EXPECT_EQ(r.report.issues.size(), 0u);
  auto lobby = messages(*s.c, "lobby");
  ASSERT_EQ(lobby.size(), 3u);
  EXPECT_EQ(lobby[0].client_id, "c-1");
  EXPECT_EQ(lobby[1].edited_at, *parse_rfc3339("2026-01-02T10:05:00Z"));
  EXPECT_FALSE(lobby[1].deleted);
  EXPECT_TRUE(lobby[2].deleted);
  // The fixture is byte for byte what export writes.
  std::string fixture;
  {
    std::FILE* f = std::fopen((kFixtures / "messages.jsonl").c_str(), "rb");
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) fixture.append(buf, n);
    std::fclose(f);
  }
  EXPECT_EQ(export_all(*s.c, api::ExportFormat::jsonl), fixture);
}

TEST(ImportCommand, JsonlImportKeepsTheStoredTitle) {
  Store s;
  store::NewConversation lobby;
  lobby.id = "lobby";
  lobby.title = "The Lobby";
  ASSERT_TRUE(s.c->create_conversation(lobby));
  import_source(s.c.get(), Format::jsonl, kFixtures / "messages.jsonl", {});
  EXPECT_EQ(s.c->get_conversation("lobby")->title, "The Lobby");
}

// export -> import -> export is byte-identical (jsonl), and import -> export -> import gives
// the same data, for every import format.
TEST(RoundTrip, ExportImportExportIsByteIdentical) {
  for (auto [format, path] : std::vector<std::pair<Format, std::filesystem::path>>{
           {Format::webwoz, kFixtures / "webwoz"},
           {Format::conversations_json, kFixtures / "conversations.json"},
           {Format::jsonl, kFixtures / "messages.jsonl"}}) {
    SCOPED_TRACE(std::string(importers::format_name(format)));
    Store a;
    import_source(a.c.get(), format, path, {});
    const std::string first = export_all(*a.c, api::ExportFormat::jsonl);
    ASSERT_FALSE(first.empty());
    const auto file = write_temp("roundtrip.jsonl", first);
    Store b;
    auto r = import_source(b.c.get(), Format::jsonl, file, {});
    EXPECT_TRUE(r.report.issues.empty());
    EXPECT_EQ(export_all(*b.c, api::ExportFormat::jsonl), first);
    auto ids = all_conversation_ids(*a.c);
    ASSERT_TRUE(ids);
    for (const auto& id : *ids) EXPECT_EQ(messages(*a.c, id), messages(*b.c, id)) << id;
    std::filesystem::remove(file);
  }
}

TEST(RoundTrip, PrunedConversationKeepsItsSeqs) {
  Store a;
  import_source(a.c.get(), Format::jsonl, kFixtures / "messages.jsonl", {});
  ASSERT_TRUE(a.c->prune("lobby", 2, std::nullopt, false));
  const std::string first = export_all(*a.c, api::ExportFormat::jsonl);
  const auto file = write_temp("pruned.jsonl", first);
  Store b;
  auto r = import_source(b.c.get(), Format::jsonl, file, {});
  EXPECT_TRUE(r.report.issues.empty());
  EXPECT_EQ(export_all(*b.c, api::ExportFormat::jsonl), first);
  EXPECT_EQ(messages(*b.c, "lobby"), messages(*a.c, "lobby"));
  EXPECT_EQ(b.c->get_conversation("lobby")->message_count, 2);
  EXPECT_EQ(b.c->get_conversation("lobby")->last_seq, 3);
  std::filesystem::remove(file);
}

TEST(RoundTrip, JsonExportImportsAsConversationsJson) {
  Store a;
  import_source(a.c.get(), Format::conversations_json, kFixtures / "conversations.json", {});
  import_source(a.c.get(), Format::jsonl, kFixtures / "messages.jsonl", {});
  const std::string first = export_all(*a.c, api::ExportFormat::json);
  const auto file = write_temp("roundtrip.json", first);
  Store b;
  auto r = import_source(b.c.get(), Format::conversations_json, file, {});
  EXPECT_TRUE(r.report.issues.empty());
  EXPECT_EQ(export_all(*b.c, api::ExportFormat::json), first);
  for (const auto& id : *all_conversation_ids(*a.c)) {
    EXPECT_EQ(messages(*a.c, id), messages(*b.c, id)) << id;
    EXPECT_EQ(*a.c->get_conversation(id), *b.c->get_conversation(id)) << id;
  }
  // One conversation's json export imports too.
  const std::string one = export_all(*a.c, api::ExportFormat::json, "lobby");
  const auto one_file = write_temp("one.json", one);
  Store c;
  EXPECT_EQ(
      import_source(c.c.get(), Format::conversations_json, one_file, {}).conversations_written, 1u);
  EXPECT_EQ(messages(*c.c, "lobby"), messages(*a.c, "lobby"));
  std::filesystem::remove(file);
  std::filesystem::remove(one_file);
}

TEST(Export, AllConversationsInIdOrder) {
  Store s;
  import_source(s.c.get(), Format::webwoz, kFixtures / "webwoz", {});
  import_source(s.c.get(), Format::conversations_json, kFixtures / "conversations.json", {});
  const std::string csv = export_all(*s.c, api::ExportFormat::csv);
  std::size_t headers = 0;
  for (std::size_t p = 0; (p = csv.find("conversation,seq,id,", p)) != std::string::npos; ++p)
    ++headers;
  EXPECT_EQ(headers, 1u);
  EXPECT_EQ(csv.find("5f1c0d2e"), csv.find("\r\n") + 2);  // ids sorted: digits first
  const auto arr = json::parse(export_all(*s.c, api::ExportFormat::json));
  ASSERT_TRUE(arr.is_array());
  ASSERT_EQ(arr.as_array().size(), 4u);
  EXPECT_EQ(arr.as_array()[0].at("id"), "5f1c0d2e-aaaa-4bbb-8ccc-000000000001");
  EXPECT_EQ(arr.as_array()[1].at("id"), "abc12345");
  EXPECT_EQ(arr.as_array()[3].at("id"), "test-123");
  const std::string md = export_all(*s.c, api::ExportFormat::markdown);
  EXPECT_NE(md.find("# RAG: shipping policy"), std::string::npos);
  EXPECT_NE(md.find("- Conversation: `room-2`"), std::string::npos);
}

TEST(Export, CsvNeutralisesFormulasInEveryTextCell) {
  Store s;
  std::string lines;
  const char* contents[] = {"=cmd|' /C calc'!A0", "=HYPERLINK(\\\"http://x\\\")", "+1+2", "-3",
                            "@SUM(A1)", "\\tTAB", "\\rCR", "plain", "a-b=c"};
  int seq = 0;
  for (const char* c : contents) {
    ++seq;
    lines += R"c({"conversation":"csv","seq":)c" + std::to_string(seq) +
             R"c(,"sender":{"id":"u1","name":"=evil()","role":"user"},"kind":"text","content":")c" +
             c + R"c(","created_at":"2026-01-02T10:00:00.000Z"})c" + "\n";
  }
  const auto file = write_temp("formulas.jsonl", lines);
  import_source(s.c.get(), Format::jsonl, file, {});
  std::filesystem::remove(file);
  const std::string csv = export_all(*s.c, api::ExportFormat::csv, ConversationId("csv"));
  EXPECT_NE(csv.find(R"c(,"'=cmd|' /C calc'!A0",)c"), std::string::npos) << csv;
  EXPECT_NE(csv.find(R"c(,"'=HYPERLINK(""http://x"")",)c"), std::string::npos) << csv;
  EXPECT_NE(csv.find(R"c(,"'+1+2",)c"), std::string::npos);
  EXPECT_NE(csv.find(R"c(,"'-3",)c"), std::string::npos);
  EXPECT_NE(csv.find(R"c(,"'@SUM(A1)",)c"), std::string::npos);
  EXPECT_NE(csv.find(",\"'\tTAB\","), std::string::npos);
  EXPECT_NE(csv.find(",\"'\rCR\","), std::string::npos);
  EXPECT_NE(csv.find(",plain,"), std::string::npos);
  EXPECT_NE(csv.find(",a-b=c,"), std::string::npos);  // only a leading sign is a formula
  EXPECT_NE(csv.find(R"c(,u1,"'=evil()",user,)c"), std::string::npos);  // sender names too
  // No cell starts with a formula character once unquoted.
  for (const std::string bad : {",=", ",+", ",-", ",@", ",\"=", ",\"+", ",\"-", ",\"@"}) {
    EXPECT_EQ(csv.find(bad), std::string::npos) << bad;
  }
}

TEST(Export, UnknownConversation) {
  Store s;
  auto r =
      export_store(*s.c, ConversationId("nope"), api::ExportFormat::json, [](std::string_view) {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::not_found);
}

TEST(Cleanup, Durations) {
  EXPECT_EQ(parse_duration("90s"), 90'000);
  EXPECT_EQ(parse_duration("15m"), 900'000);
  EXPECT_EQ(parse_duration("1d12h"), 36 * 3'600'000LL);
  EXPECT_EQ(parse_duration("2w"), 14 * 86'400'000LL);
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("10"));
  EXPECT_FALSE(parse_duration("d"));
  EXPECT_FALSE(parse_duration("5y"));
  EXPECT_FALSE(parse_duration("-5d"));
}

TEST(Retention, ServerPolicyFromDefaultsAndSettings) {
  EXPECT_EQ(store::parse_duration_or_seconds("3600"), 3'600'000);
  EXPECT_EQ(store::parse_duration_or_seconds("1h"), 3'600'000);
  EXPECT_EQ(store::parse_duration_or_seconds("0"), 0);
  EXPECT_FALSE(store::parse_duration_or_seconds("-1"));
  EXPECT_FALSE(store::parse_duration_or_seconds("soon"));
  store::RetentionPolicy defaults;
  defaults.keep_last = 100;
  // A setting replaces the default's rule of the same name, also to keep more.
  auto p = store::effective_policy(defaults, R"({"keep_last": 500})");
  EXPECT_EQ(p.keep_last, 500);
  EXPECT_FALSE(p.max_age);
  p = store::effective_policy(defaults, R"({"max_age": "2d", "theme": "dark"})");
  EXPECT_EQ(p.keep_last, 100);
  EXPECT_EQ(p.max_age, 2 * 86'400'000LL);
  p = store::effective_policy(defaults, R"({"max_age": 60, "keep_last": -3})");
  EXPECT_EQ(p.keep_last, 100);  // a negative count is ignored
  EXPECT_EQ(p.max_age, 60'000);
  EXPECT_TRUE(store::effective_policy({}, "{}").empty());
  EXPECT_TRUE(store::effective_policy({}, "not json").empty());
}

TEST(Cleanup, KeepLastAndOlderThanAndSettings) {
  Store s;
  import_source(s.c.get(), Format::webwoz, kFixtures / "webwoz", {});  // 3 + 2 messages
  CleanupOptions dry;
  dry.keep_last = 1;
  dry.dry_run = true;
  auto d = cleanup(*s.c, dry, now_ms());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->messages, 3);
  EXPECT_EQ(s.c->get_conversation("abc12345")->message_count, 3);

  CleanupOptions one;
  one.keep_last = 1;
  one.conversation = "abc12345";
  ASSERT_TRUE(cleanup(*s.c, one, now_ms()));
  auto left = messages(*s.c, "abc12345");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].seq, 3);
  EXPECT_EQ(messages(*s.c, "room-2").size(), 2u);

  // room-2's messages are from 2025-08-08 09:00:01 and 09:05:00.
  CleanupOptions old;
  old.older_than = 60'000;  // a minute
  auto r = cleanup(*s.c, old, *parse_rfc3339("2025-08-08T09:05:30Z"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->messages, 2);  // abc12345's last message and room-2's first
  EXPECT_EQ(messages(*s.c, "room-2").size(), 1u);

  store::ConversationPatch patch;
  patch.settings = R"({"keep_last": 0})";
  ASSERT_TRUE(s.c->update_conversation("room-2", patch, now_ms()));
  CleanupOptions by_settings;
  by_settings.from_settings = true;
  auto b = cleanup(*s.c, by_settings, now_ms());
  ASSERT_TRUE(b);
  EXPECT_EQ(b->messages, 1);
  EXPECT_TRUE(messages(*s.c, "room-2").empty());
  EXPECT_EQ(s.c->get_conversation("room-2")->last_seq, 2);

  CleanupOptions missing;
  missing.keep_last = 1;
  missing.conversation = "nope";
  EXPECT_FALSE(cleanup(*s.c, missing, now_ms()));
}

TEST(Migrate, MemoryToSqliteToMemoryIsIdentical) {
  Store a;
  import_source(a.c.get(), Format::webwoz, kFixtures / "webwoz", {});
  import_source(a.c.get(), Format::conversations_json, kFixtures / "conversations.json", {});
  import_source(a.c.get(), Format::jsonl, kFixtures / "messages.jsonl", {});
  ASSERT_TRUE(a.c->prune("abc12345", 2, std::nullopt, false));  // seqs start at 2 now
  ASSERT_TRUE(a.c->mark_read("lobby", "u2", 2));
  ASSERT_TRUE(a.c->upsert_user({"u1", "Ada", "https://a/ada.png", "user", 1234}));
  store::ConversationPatch inactive;
  inactive.is_active = false;
  ASSERT_TRUE(a.c->update_conversation("support", inactive, 0));

  const auto dir =
      std::filesystem::temp_directory_path() / ("parley-migrate-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto sdb = open_storage_url("sqlite:" + (dir / "copy.db").string());
  ASSERT_TRUE(sdb);
  auto sc = std::move(*(*sdb)->connect());
  auto s1 = migrate(*a.c, *sc, false);
  ASSERT_TRUE(s1) << s1.error().message();
  EXPECT_TRUE(s1->mismatches.empty()) << s1->mismatches.front();
  EXPECT_EQ(s1->copied, 6);
  EXPECT_EQ(sc->read_seq("lobby", "u2").value(), 2);
  EXPECT_EQ(sc->get_user("u1")->avatar, "https://a/ada.png");
  EXPECT_EQ(messages(*sc, "abc12345").front().seq, 2);
  EXPECT_EQ(sc->get_conversation("abc12345")->message_count, 2);
  EXPECT_FALSE(sc->get_conversation("support")->is_active);

  // Run again: everything is already there (a resumed run skips it).
  auto again = migrate(*a.c, *sc, false);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->skipped, 6);
  EXPECT_EQ(again->copied, 0);

  Store b;
  auto s2 = migrate(*sc, *b.c, false);
  ASSERT_TRUE(s2);
  EXPECT_TRUE(s2->mismatches.empty());
  for (const auto& id : *all_conversation_ids(*a.c)) {
    EXPECT_EQ(*conversation_checksum(*a.c, id), *conversation_checksum(*b.c, id)) << id;
    EXPECT_EQ(messages(*a.c, id), messages(*b.c, id)) << id;
  }
  EXPECT_EQ(export_all(*a.c, api::ExportFormat::jsonl), export_all(*b.c, api::ExportFormat::jsonl));
  sc.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace parley::cli
