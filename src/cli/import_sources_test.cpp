// The seed apps' databases as `parley import` finds them: radio-istic's MongoDB dumps (BSON
// written here with libbson, Extended JSON canonical and relaxed), seed 001's SQLite tables,
// detection, hostile sources, conflicts with live messages, and verification.
#include <bson/bson.h>
#include <gtest/gtest.h>
#if PARLEY_HAVE_POSTGRES
#include <libpq-fe.h>
#endif
#include <sqlite3.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/import.hpp"
#include "cli/importers.hpp"
#include "store/memory/memory_store.hpp"

namespace parley::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using importers::Format;

struct Store {
  std::shared_ptr<store::Database> db = std::make_shared<store::memory::MemoryDatabase>();
  std::unique_ptr<store::Connection> c = std::move(*db->connect());
};

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "parley-import-src-XXXXXX").string();
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<StoredMessage> messages(store::Connection& c, const ConversationId& id) {
  std::vector<StoredMessage> out;
  auto r = c.for_each_message(id, 0, [&](const StoredMessage& m) {
    out.push_back(m);
    return true;
  });
  EXPECT_TRUE(r);
  return out;
}

std::string issues(const ImportSummary& s) {
  std::string out;
  for (const auto& i : s.report.issues) out += importers::to_string(i) + "\n";
  return out;
}

bool has_issue(const ImportSummary& s, std::string_view needle) {
  return issues(s).find(needle) != std::string::npos;
}

// --- radio-istic's collections, with the mongoose models' field names and types ----------------

constexpr TimeMs kT0 = 1717236000000;  // 2024-06-01T10:00:00Z

// ObjectIds as the app's would be: fixed hex, so the test can name them.
bson_oid_t oid(const char* hex) {
  bson_oid_t o;
  bson_oid_init_from_string(&o, hex);
  return o;
}
const char* kAmira = "65f000000000000000000001";
const char* kBilel = "65f000000000000000000002";
const char* kChams = "65f000000000000000000003";
const char* kDirect = "65f0000000000000000000c1";
const char* kGroup = "65f0000000000000000000c2";

struct Bson {
  bson_t b;
  Bson() { bson_init(&b); }
  ~Bson() { bson_destroy(&b); }
  Bson(const Bson&) = delete;
  Bson& operator=(const Bson&) = delete;
};

struct Dump {
  std::vector<std::string> users, conversations, messages;  // raw BSON documents

  static std::string raw(const bson_t& b) {
    return std::string(reinterpret_cast<const char*>(bson_get_data(&b)), b.len);
  }
  void user(const char* id, const char* first, const char* last, const char* avatar,
            const char* role) {
    Bson d;
    const auto o = oid(id);
    BSON_APPEND_OID(&d.b, "_id", &o);
    BSON_APPEND_UTF8(&d.b, "firstName", first);
    BSON_APPEND_UTF8(&d.b, "lastName", last);
    BSON_APPEND_UTF8(&d.b, "email", (std::string(first) + "@istic.tn").c_str());
    BSON_APPEND_UTF8(&d.b, "password", "$2a$10$hash");
    BSON_APPEND_UTF8(&d.b, "avatar", avatar);
    BSON_APPEND_UTF8(&d.b, "field", "GLSI");
    BSON_APPEND_INT32(&d.b, "year", 2);
    BSON_APPEND_UTF8(&d.b, "role", role);
    users.push_back(raw(d.b));
  }
  void conversation(const char* id, std::vector<const char*> participants, bool group,
                    const char* name) {
    Bson d;
    const auto o = oid(id);
    BSON_APPEND_OID(&d.b, "_id", &o);
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(&d.b, "participants", &arr);
    for (std::size_t i = 0; i < participants.size(); ++i) {
      const auto p = oid(participants[i]);
      BSON_APPEND_OID(&arr, std::to_string(i).c_str(), &p);
    }
    bson_append_array_end(&d.b, &arr);
    BSON_APPEND_BOOL(&d.b, "isGroup", group);
    if (name) BSON_APPEND_UTF8(&d.b, "groupName", name);
    bson_t counts;
    BSON_APPEND_DOCUMENT_BEGIN(&d.b, "unreadCounts", &counts);
    BSON_APPEND_INT32(&counts, participants.back(), 1);
    bson_append_document_end(&d.b, &counts);
    BSON_APPEND_DATE_TIME(&d.b, "createdAt", kT0);
    BSON_APPEND_DATE_TIME(&d.b, "updatedAt", kT0 + 60000);
    BSON_APPEND_INT32(&d.b, "__v", 0);
    conversations.push_back(raw(d.b));
  }
  void message(const char* id, const char* conv, const char* sender, const std::string& content,
               TimeMs at, std::vector<const char*> read_by = {}, const char* type = "text",
               const char* media = nullptr, bool deleted = false) {
    Bson d;
    const auto o = oid(id), c = oid(conv), s = oid(sender);
    BSON_APPEND_OID(&d.b, "_id", &o);
    BSON_APPEND_OID(&d.b, "conversation", &c);
    BSON_APPEND_OID(&d.b, "sender", &s);
    bson_append_utf8(&d.b, "content", -1, content.data(), static_cast<int>(content.size()));
    BSON_APPEND_UTF8(&d.b, "type", type);
    if (media) {
      BSON_APPEND_UTF8(&d.b, "mediaUrl", media);
      BSON_APPEND_UTF8(&d.b, "mediaType", "image/png");
    }
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(&d.b, "readBy", &arr);
    for (std::size_t i = 0; i < read_by.size(); ++i) {
      bson_t entry;
      BSON_APPEND_DOCUMENT_BEGIN(&arr, std::to_string(i).c_str(), &entry);
      const auto u = oid(read_by[i]);
      BSON_APPEND_OID(&entry, "user", &u);
      BSON_APPEND_DATE_TIME(&entry, "readAt", at + 1000);
      bson_append_document_end(&arr, &entry);
    }
    bson_append_array_end(&d.b, &arr);
    BSON_APPEND_BOOL(&d.b, "isDeleted", deleted);
    if (deleted) BSON_APPEND_DATE_TIME(&d.b, "deletedAt", at + 5000);
    BSON_APPEND_DATE_TIME(&d.b, "createdAt", at);
    BSON_APPEND_DATE_TIME(&d.b, "updatedAt", at);
    BSON_APPEND_INT32(&d.b, "__v", 0);
    messages.push_back(raw(d.b));
  }

  // radio-istic's state: a direct conversation and a group, read receipts, an image, a
  // soft-deleted message; messages inserted out of conversation order, as the app does.
  static Dump radio_istic() {
    Dump d;
    d.user(kAmira, "Amira", "Ben Salah", "/avatars/amira.jpg", "president");
    d.user(kBilel, "Bilel", "Trabelsi", "/avatars/default-avatar.jpg", "member");
    d.user(kChams, "Chams", "Gharbi", "/avatars/chams.png", "secretary");
    d.conversation(kDirect, {kAmira, kBilel}, false, nullptr);
    d.conversation(kGroup, {kAmira, kBilel, kChams}, true, "Bureau 2024");
    d.message("65f0000000000000000000a1", kDirect, kAmira, "Salut Bilel", kT0 + 1000,
              {kAmira, kBilel});
    d.message("65f0000000000000000000b1", kGroup, kChams, "Réunion à 18h", kT0 + 1500,
              {kChams, kAmira, kBilel});
    d.message("65f0000000000000000000a2", kDirect, kBilel, "Salut! Ça va?", kT0 + 2000,
              {kBilel, kAmira});
    d.message("65f0000000000000000000b2", kGroup, kAmira, "affiche.png", kT0 + 2500,
              {kAmira, kChams}, "image", "/uploads/affiche.png");
    d.message("65f0000000000000000000a3", kDirect, kAmira, "oops", kT0 + 3000, {kAmira}, "text",
              nullptr, true);
    d.message("65f0000000000000000000b3", kGroup, kBilel, "Présent", kT0 + 3500, {kBilel});
    return d;
  }

  void write_bson(const fs::path& dir) const {
    fs::create_directories(dir);
    auto put = [&](const char* name, const std::vector<std::string>& docs) {
      std::ofstream out(dir / (std::string(name) + ".bson"), std::ios::binary);
      for (const auto& d : docs) out << d;
    };
    put("users", users);
    put("conversations", conversations);
    put("messages", messages);
  }
  void write_json(const fs::path& dir, bool canonical) const {
    fs::create_directories(dir);
    auto put = [&](const char* name, const std::vector<std::string>& docs) {
      std::ofstream out(dir / (std::string(name) + ".json"), std::ios::binary);
      for (const auto& raw_doc : docs) {
        bson_t b;
        ASSERT_TRUE(bson_init_static(&b, reinterpret_cast<const std::uint8_t*>(raw_doc.data()),
                                     raw_doc.size()));
        std::size_t len = 0;
        char* text = canonical ? bson_as_canonical_extended_json(&b, &len)
                               : bson_as_relaxed_extended_json(&b, &len);
        out << std::string(text, len) << "\n";
        bson_free(text);
      }
    };
    put("users", users);
    put("conversations", conversations);
    put("messages", messages);
  }
};

void expect_radio_istic_imported(store::Connection& c) {
  auto direct = c.get_conversation(kDirect);
  ASSERT_TRUE(direct) << direct.error().message();
  EXPECT_EQ(direct->participants, (std::vector<UserId>{kAmira, kBilel}));
  EXPECT_EQ(direct->created_at, kT0);
  auto group = c.get_conversation(kGroup);
  ASSERT_TRUE(group);
  EXPECT_EQ(group->title, "Bureau 2024");
  EXPECT_EQ(group->participants.size(), 3u);
  const auto meta = json::parse(group->meta).as_object();
  EXPECT_EQ(meta.at("isGroup"), true);
  EXPECT_EQ(meta.at("source"), "radio-istic");

  const auto dm = messages(c, kDirect);
  ASSERT_EQ(dm.size(), 3u);
  EXPECT_EQ(dm[0].id, "65f0000000000000000000a1");  // ids clients hold are kept
  EXPECT_EQ(dm[0].sender.id, kAmira);
  EXPECT_EQ(dm[0].sender.name, "Amira Ben Salah");
  EXPECT_EQ(dm[0].sender.role, "president");
  EXPECT_EQ(dm[0].created_at, kT0 + 1000);
  EXPECT_EQ(dm[1].content, "Salut! Ça va?");
  EXPECT_TRUE(dm[2].deleted);
  EXPECT_EQ(dm[2].content, "");

  const auto gm = messages(c, kGroup);
  ASSERT_EQ(gm.size(), 3u);
  EXPECT_EQ(gm[0].content, "Réunion à 18h");
  EXPECT_EQ(gm[1].kind, "image");
  const auto media = json::parse(gm[1].meta).as_object();
  EXPECT_EQ(media.at("mediaUrl"), "/uploads/affiche.png");
  EXPECT_EQ(media.at("mediaType"), "image/png");

  // readBy -> read seqs: Bilel read the first two of the direct conversation, Chams the
  // first two of the group, Amira everything but the group's last.
  EXPECT_EQ(*c.read_seq(kDirect, kBilel), 2);
  EXPECT_EQ(*c.read_seq(kDirect, kAmira), 3);
  EXPECT_EQ(*c.read_seq(kGroup, kChams), 2);
  EXPECT_EQ(*c.read_seq(kGroup, kAmira), 2);
  EXPECT_EQ(*c.read_seq(kGroup, kBilel), 3);

  auto amira = c.get_user(kAmira);
  ASSERT_TRUE(amira);
  EXPECT_EQ(amira->name, "Amira Ben Salah");
  EXPECT_EQ(amira->avatar, "/avatars/amira.jpg");
}

TEST(ImportMongo, MongodumpBsonCarriesEverythingTheAppKnew) {
  TempDir t;
  Dump::radio_istic().write_bson(t.path / "dump" / "radio-istic");
  std::string why;
  auto found = importers::detect((t.path / "dump").string(), why);
  ASSERT_TRUE(found) << why;
  EXPECT_EQ(found->format, Format::mongodump);
  EXPECT_NE(found->description.find("radio-istic"), std::string::npos);
  Store s;
  auto r = import_source(s.c.get(), found->format, t.path / "dump", {});
  EXPECT_FALSE(r.aborted) << issues(r);
  EXPECT_EQ(r.conversations_written, 2u);
  EXPECT_EQ(r.messages_written, 6u);
  EXPECT_EQ(r.verified, 2u);
  EXPECT_TRUE(r.mismatches.empty());
  EXPECT_EQ(r.report.skipped(), 0u) << issues(r);
  expect_radio_istic_imported(*s.c);

  // Idempotent: the second import finds both conversations unchanged and writes nothing.
  const auto before = messages(*s.c, kDirect);
  auto again = import_source(s.c.get(), Format::mongodump, t.path / "dump", {});
  EXPECT_EQ(again.unchanged, 2u);
  EXPECT_EQ(again.conversations_written, 0u);
  EXPECT_EQ(messages(*s.c, kDirect), before);
}

TEST(ImportMongo, MongoexportCanonicalAndRelaxedReadAlike) {
  for (bool canonical : {true, false}) {
    TempDir t;
    Dump::radio_istic().write_json(t.path, canonical);
    std::string why;
    auto found = importers::detect((t.path / "messages.json").string(), why);
    ASSERT_TRUE(found) << why;
    EXPECT_EQ(found->format, Format::mongoexport);
    Store s;
    auto r = import_source(s.c.get(), Format::mongoexport, t.path / "messages.json", {});
    EXPECT_EQ(r.report.skipped(), 0u) << issues(r);
    EXPECT_EQ(r.messages_written, 6u);
    expect_radio_istic_imported(*s.c);
  }
}

TEST(ImportMongo, TruncatedBsonKeepsWhatIsWhole) {
  TempDir t;
  auto d = Dump::radio_istic();
  d.write_bson(t.path);
  const auto file = t.path / "messages.bson";
  const auto size = fs::file_size(file);
  fs::resize_file(file, size - 20);  // the last message loses its end
  Store s;
  auto r = import_source(s.c.get(), Format::mongodump, t.path, {});
  EXPECT_FALSE(r.aborted);
  EXPECT_TRUE(has_issue(r, "truncated")) << issues(r);
  EXPECT_TRUE(has_issue(r, "messages.bson: document at byte")) << issues(r);
  EXPECT_EQ(messages(*s.c, kDirect).size(), 3u);
  EXPECT_EQ(messages(*s.c, kGroup).size(), 2u);  // the group's last message was cut
}

TEST(ImportMongo, HostileDocumentsAreReportedNotFatal) {
  TempDir t;
  auto d = Dump::radio_istic();
  // Invalid UTF-8 in a message's content.
  d.message("65f0000000000000000000a4", kDirect, kAmira, std::string("bad \xff\xfe text"),
            kT0 + 4000);
  // A duplicate _id: the first is kept.
  d.message("65f0000000000000000000a1", kDirect, kBilel, "again", kT0 + 4100);
  // A message nested 10,000 deep in a field the mapping does not read.
  {
    // Built from the inside out: each level wraps the previous one.
    bson_t* deep = bson_new();
    BSON_APPEND_INT32(deep, "leaf", 1);
    for (int i = 1; i < 10000; ++i) {
      bson_t* outer = bson_new();
      BSON_APPEND_DOCUMENT(outer, "a", deep);
      bson_destroy(deep);
      deep = outer;
    }
    Bson m;
    const auto o = oid("65f0000000000000000000a5"), c = oid(kDirect), u = oid(kBilel);
    BSON_APPEND_OID(&m.b, "_id", &o);
    BSON_APPEND_OID(&m.b, "conversation", &c);
    BSON_APPEND_OID(&m.b, "sender", &u);
    BSON_APPEND_UTF8(&m.b, "content", "deep");
    BSON_APPEND_DATE_TIME(&m.b, "createdAt", kT0 + 4200);
    BSON_APPEND_DOCUMENT(&m.b, "extra", deep);
    d.messages.push_back(Dump::raw(m.b));
    bson_destroy(deep);
  }
  // A 100 MB message: over MongoDB's 16 MiB document limit, skipped unread.
  d.message("65f0000000000000000000a6", kDirect, kBilel, std::string(100 << 20, 'x'), kT0 + 4300);
  // A 1 MB message: a document MongoDB could hold, over Parley's 64 KiB content limit.
  d.message("65f0000000000000000000a7", kDirect, kBilel, std::string(1 << 20, 'y'), kT0 + 4400);
  d.write_bson(t.path);
  // Extended JSON: libbson will not write invalid UTF-8 (that line is added by hand), and the
  // big ones are left out.
  d.messages = {d.messages.begin(), d.messages.begin() + 6};
  d.message("65f0000000000000000000a1", kDirect, kBilel, "again", kT0 + 4100);  // line 7
  d.write_json(t.path / "json", true);
  {
    std::ofstream out(t.path / "json" / "messages.json", std::ios::app | std::ios::binary);
    std::string deep = R"({"_id":{"$oid":"65f0000000000000000000a5"},"x":)";  // line 8
    for (int i = 0; i < 10000; ++i) deep += "{\"a\":";
    deep += "1" + std::string(10000, '}') + "}\n";
    out << deep;
    out << R"({"_id":{"$oid":"65f0000000000000000000a4"},"conversation":{"$oid":")" << kDirect
        << R"("},"sender":{"$oid":")" << kAmira << R"("},"content":"bad )"
        << "\xff\xfe" << R"( text","createdAt":{"$date":"2024-06-01T10:00:04Z"}})" << "\n";
  }

  for (Format f : {Format::mongodump, Format::mongoexport}) {
    Store s;
    const fs::path src = f == Format::mongodump ? t.path : t.path / "json";
    auto r = import_source(s.c.get(), f, src, {});
    EXPECT_FALSE(r.aborted) << issues(r);
    EXPECT_TRUE(has_issue(r, "65f0000000000000000000a1 appears twice")) << issues(r);
    const auto dm = messages(*s.c, kDirect);
    EXPECT_EQ(dm[0].content, "Salut Bilel");
    if (f == Format::mongodump) {
      EXPECT_TRUE(has_issue(r, "not UTF-8")) << issues(r);
      EXPECT_TRUE(has_issue(r, "over MongoDB's 16 MiB limit")) << issues(r);
      EXPECT_TRUE(has_issue(r, "over the limit of 65536")) << issues(r);
      // BSON nesting is not followed where the mapping does not read: the deep one imports.
      ASSERT_EQ(dm.size(), 4u) << issues(r);
      EXPECT_EQ(dm[3].content, "deep");
    } else {
      // libbson's JSON parser stops at 100 levels; the invalid UTF-8 line is refused too.
      EXPECT_TRUE(has_issue(r, "messages.json:8: skipped: not Extended JSON")) << issues(r);
      EXPECT_TRUE(has_issue(r, "messages.json:9: skipped")) << issues(r);
      EXPECT_EQ(dm.size(), 3u) << issues(r);
    }
    EXPECT_TRUE(r.mismatches.empty());
  }
}

TEST(ImportMongo, ExtendedJsonNestedTenThousandDeepIsRefusedNotFatal) {
  TempDir t;
  auto d = Dump::radio_istic();
  d.write_json(t.path, false);
  std::string deep = R"({"_id":{"$oid":"65f0000000000000000000a9"},"conversation":{"$oid":")" +
                     std::string(kDirect) + R"("},"x":)";
  for (int i = 0; i < 10000; ++i) deep += "{\"a\":";
  deep += "1";
  for (int i = 0; i < 10000; ++i) deep += "}";
  deep += "}\n{\"_id\": truncated\n";
  std::ofstream(t.path / "messages.json", std::ios::app) << deep;
  Store s;
  auto r = import_source(s.c.get(), Format::mongoexport, t.path, {});
  EXPECT_FALSE(r.aborted);
  EXPECT_TRUE(has_issue(r, "messages.json:7")) << issues(r);
  EXPECT_TRUE(has_issue(r, "messages.json:8")) << issues(r);
  EXPECT_EQ(messages(*s.c, kDirect).size(), 3u);
}

// --- Live messages are never destroyed ---------------------------------------------------------

TEST(ImportConflicts, LiveMessagesAreLeftAloneUnlessReplaceOrMerge) {
  TempDir t;
  Dump::radio_istic().write_bson(t.path);
  for (auto mode : {OnConflict::keep, OnConflict::replace, OnConflict::merge}) {
    Store s;
    ASSERT_FALSE(import_source(s.c.get(), Format::mongodump, t.path, {}).aborted);
    // Two messages posted through Parley since the import, one before the source's last.
    NewMessage live;
    live.conversation = kDirect;
    live.sender = {kBilel, "Bilel", "member"};
    live.content = "posted live";
    live.created_at = kT0 + 2500;
    ASSERT_TRUE(s.c->append_batch(std::span<const NewMessage>(&live, 1)));
    live.content = "posted live later";
    live.created_at = kT0 + 9000;
    ASSERT_TRUE(s.c->append_batch(std::span<const NewMessage>(&live, 1)));

    ImportOptions dry;
    dry.dry_run = true;
    auto d = import_source(s.c.get(), Format::mongodump, t.path, dry);
    EXPECT_EQ(d.conflicts, 1u);
    EXPECT_EQ(d.conflicts_left, 1u);
    ASSERT_EQ(d.conflict_lines.size(), 1u);
    EXPECT_NE(d.conflict_lines[0].find("2 message(s) the source does not have"), std::string::npos);
    EXPECT_EQ(d.unchanged, 1u);  // the group

    ImportOptions o;
    o.on_conflict = mode;
    auto r = import_source(s.c.get(), Format::mongodump, t.path, o);
    const auto dm = messages(*s.c, kDirect);
    if (mode == OnConflict::keep) {
      EXPECT_EQ(r.conflicts_left, 1u);
      ASSERT_EQ(dm.size(), 5u);
      EXPECT_EQ(dm[4].content, "posted live later");
    } else if (mode == OnConflict::replace) {
      EXPECT_EQ(r.conflicts_left, 0u);
      ASSERT_EQ(dm.size(), 3u);
      EXPECT_TRUE(r.mismatches.empty());
    } else {
      ASSERT_EQ(dm.size(), 5u);
      EXPECT_EQ(dm[0].content, "Salut Bilel");
      EXPECT_EQ(dm[1].content, "Salut! Ça va?");
      EXPECT_EQ(dm[2].content, "posted live");  // by time, between the source's 2nd and 3rd
      EXPECT_TRUE(dm[3].deleted);
      EXPECT_EQ(dm[4].content, "posted live later");
      EXPECT_TRUE(r.mismatches.empty());
      // A second merge finds nothing new.
      auto again = import_source(s.c.get(), Format::mongodump, t.path, o);
      EXPECT_EQ(again.unchanged, 2u);
      EXPECT_EQ(messages(*s.c, kDirect).size(), 5u);
    }
  }
}

// The report of issue 15: a dry run of a jsonl file into a store whose `lobby` held two live
// messages said nothing, and the import replaced them.
TEST(ImportConflicts, JsonlIntoALiveLobbyIsReportedAndLeftAlone) {
  Store s;
  std::vector<NewMessage> live(2);
  for (int i = 0; i < 2; ++i) {
    live[i].conversation = "lobby";
    live[i].sender = {"u" + std::to_string(i), "", "user"};
    live[i].content = "live " + std::to_string(i);
  }
  ASSERT_TRUE(s.c->append_batch(live));
  const fs::path jsonl = fs::path(PARLEY_IMPORT_FIXTURES) / "messages.jsonl";
  ImportOptions dry;
  dry.dry_run = true;
  auto d = import_source(s.c.get(), Format::jsonl, jsonl, dry);
  ASSERT_EQ(d.conflicts_left, 1u);
  EXPECT_NE(d.conflict_lines[0].find("lobby"), std::string::npos);
  EXPECT_NE(d.conflict_lines[0].find("2 message(s) the source does not have"), std::string::npos);
  auto r = import_source(s.c.get(), Format::jsonl, jsonl, {});
  EXPECT_EQ(r.conflicts_left, 1u);
  const auto lobby = messages(*s.c, "lobby");
  ASSERT_EQ(lobby.size(), 2u);
  EXPECT_EQ(lobby[0].content, "live 0");
  EXPECT_EQ(lobby[1].content, "live 1");
}

// --- Seed 001: SQLite general_chat_messages + users --------------------------------------------

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
}

TEST(ImportSqlite, Seed001GeneralChatWithUsers) {
  TempDir t;
  const auto file = t.path / "app.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  // The tables SQLAlchemy makes from seed 001's models (User: id, username, ...), with a
  // column the mapping does not know.
  exec(db,
       "CREATE TABLE users (id INTEGER PRIMARY KEY, username VARCHAR NOT NULL, "
       "email VARCHAR, hashed_password VARCHAR);"
       "CREATE TABLE general_chat_messages (id INTEGER NOT NULL PRIMARY KEY, "
       "sender_id INTEGER NOT NULL REFERENCES users(id), content TEXT NOT NULL, "
       "created_at DATETIME NOT NULL, pinned BOOLEAN);"
       "INSERT INTO users VALUES (1, 'alice', 'a@x', 'h'), (2, 'bob', 'b@x', 'h');"
       "INSERT INTO general_chat_messages VALUES "
       "(1, 1, 'hello all', '2025-03-01 09:00:00.123456', 0),"
       "(2, 2, 'hi alice', '2025-03-01 09:00:05.000000', 0),"
       "(3, 1, X'C328', '2025-03-01 09:00:06.000000', 0),"
       "(4, 1, 'lunch?', '2025-03-01 09:01:00.000000', 1);");
  sqlite3_close(db);
  std::string why;
  auto found = importers::detect(file.string(), why);
  ASSERT_TRUE(found) << why;
  EXPECT_EQ(found->format, Format::sqlite);
  EXPECT_NE(found->description.find("seed 001"), std::string::npos) << found->description;
  Store s;
  auto r = import_source(s.c.get(), Format::sqlite, file, {});
  EXPECT_TRUE(has_issue(r, "general_chat_messages id 3")) << issues(r);  // invalid UTF-8
  EXPECT_TRUE(has_issue(r, "not imported (no place in the mapping): pinned")) << issues(r);
  const auto m = messages(*s.c, "general");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].sender.id, "1");
  EXPECT_EQ(m[0].sender.name, "alice");
  EXPECT_EQ(m[0].created_at, *parse_rfc3339("2025-03-01T09:00:00.123Z"));
  EXPECT_EQ(m[1].content, "hi alice");
  EXPECT_EQ(m[2].id, "general-4");
  EXPECT_EQ(s.c->get_user("2")->name, "bob");
  EXPECT_TRUE(r.mismatches.empty());
  EXPECT_EQ(import_source(s.c.get(), Format::sqlite, file, {}).unchanged, 1u);
}

// WebWOz's SQLite tables (backend/database.py's models): the templates go into the template
// store, where the wizard front end reads them, in the table's order, each (category, key)
// once as the app's dict holds it; importing again changes nothing; a template a wizard
// edited in Parley is a conflict, left alone unless --replace.
TEST(ImportSqlite, WebwozTemplatesGoIntoTheTemplateStore) {
  TempDir t;
  const auto file = t.path / "webwoz.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  exec(db,
       "CREATE TABLE conversations (id INTEGER PRIMARY KEY, room_id VARCHAR(50) NOT NULL UNIQUE,"
       " created_at DATETIME, last_updated DATETIME, message_count INTEGER, is_active BOOLEAN,"
       " extra_data TEXT);"
       "CREATE TABLE messages (id INTEGER PRIMARY KEY, room_id VARCHAR(50) NOT NULL,"
       " sender VARCHAR(20) NOT NULL, text TEXT NOT NULL, timestamp DATETIME,"
       " message_order INTEGER NOT NULL);"
       "CREATE TABLE templates (id INTEGER PRIMARY KEY, category VARCHAR(100) NOT NULL,"
       " key VARCHAR(200) NOT NULL, value TEXT NOT NULL, created_at DATETIME,"
       " updated_at DATETIME);"
       "INSERT INTO conversations (room_id, message_count) VALUES ('a1b2c3d4', 1);"
       "INSERT INTO messages (room_id, sender, text, timestamp, message_order) VALUES"
       " ('a1b2c3d4', 'participant', 'Hi', '2025-08-07 12:00:30', 1);"
       // Rows stored out of id order; id 5 repeats id 2's key (the app's dict keeps the later
       // value at the first place); id 6 has an empty key.
       "INSERT INTO templates (id, category, key, value) VALUES"
       " (3, 'Pinned', 'wait', 'One moment please'),"
       " (1, 'Phase 1', 'greeting', 'Welcome to the study'),"
       " (2, 'Phase 1', 'ask', 'What happened?'),"
       " (4, 'Phase 2', 'bye', 'Thanks!'),"
       " (5, 'Phase 1', 'ask', 'What happened exactly?'),"
       " (6, 'Phase 2', '', 'nameless');");
  const std::vector<Template> want{
      {"Phase 1", "greeting", "Welcome to the study"},
      {"Phase 1", "ask", "What happened exactly?"},
      {"Pinned", "wait", "One moment please"},
      {"Phase 2", "bye", "Thanks!"}};
  Store s;
  // A dry run says how many would come, and writes nothing.
  ImportOptions dry;
  dry.dry_run = true;
  auto d = import_source(s.c.get(), Format::sqlite, file, dry);
  EXPECT_EQ(d.templates_in_source, 4u);
  EXPECT_EQ(d.templates_planned, 4u);
  EXPECT_EQ(d.template_defaults_dropped, 4u);  // the store's untouched defaults
  EXPECT_EQ(*s.c->list_templates(), store::default_templates());

  auto r = import_source(s.c.get(), Format::sqlite, file, {});
  EXPECT_TRUE(has_issue(r, "templates id 6")) << issues(r);
  EXPECT_TRUE(has_issue(r, "key 'ask' again")) << issues(r);
  EXPECT_EQ(*s.c->list_templates(), want);
  EXPECT_EQ(r.templates_written, 4u);
  EXPECT_EQ(r.templates_verified, 4u);
  EXPECT_TRUE(r.mismatches.empty());
  EXPECT_FALSE(s.c->get_conversation("parley:webwoz-templates"));

  // Idempotent.
  auto again = import_source(s.c.get(), Format::sqlite, file, {});
  EXPECT_EQ(again.templates_unchanged, 4u);
  EXPECT_EQ(again.templates_written, 0u);
  EXPECT_EQ(*s.c->list_templates(), want);

  // A wizard edits one in Parley and adds one; the app's table gains one in Phase 1.
  auto edited = want;
  edited[0].value = "Welcome! (edited in Parley)";
  edited.push_back({"Parley", "new", "added in Parley"});
  ASSERT_TRUE(s.c->replace_templates(edited));
  exec(db, "INSERT INTO templates (id, category, key, value) VALUES (7, 'Phase 1', 'when', 'When?')");
  sqlite3_close(db);
  auto kept = import_source(s.c.get(), Format::sqlite, file, {});
  EXPECT_EQ(kept.template_conflicts_left, 1u);
  EXPECT_EQ(kept.templates_written, 1u);
  auto with_new = edited;
  with_new.insert(with_new.begin() + 2, Template{"Phase 1", "when", "When?"});
  EXPECT_EQ(*s.c->list_templates(), with_new);
  EXPECT_TRUE(kept.mismatches.empty());
  EXPECT_EQ(kept.templates_verified, 4u);  // all but the one left alone
  // --replace: the source's value.
  ImportOptions replace;
  replace.on_conflict = OnConflict::replace;
  auto replaced = import_source(s.c.get(), Format::sqlite, file, replace);
  EXPECT_EQ(replaced.template_conflicts_left, 0u);
  with_new[0] = want[0];
  EXPECT_EQ(*s.c->list_templates(), with_new);
  EXPECT_EQ(replaced.templates_verified, 5u);
}

// WebWOz's file deployment: DATA_DIR holds conversations/*.json and templates.json
// (backend/app.py). Pointed at DATA_DIR or at DATA_DIR/conversations, the import brings the
// templates into the template store in the file's order (categories and keys as json.load
// keeps them; a repeated key keeps its first place and the last value), through the same
// planning as the SQL tables: dry run, idempotence, verification.
struct WebwozDataDir {
  TempDir t;
  fs::path data = t.path / "data";
  fs::path rooms = data / "conversations";
  explicit WebwozDataDir(const std::string& templates_json) {
    fs::create_directories(rooms);
    std::ofstream(rooms / "a1b2c3d4.json")
        << R"({"room_id": "a1b2c3d4", "created_at": "2025-08-07T12:00:00+00:00",
               "last_updated": "2025-08-07T12:00:30+00:00", "message_count": 1,
               "messages": [{"sender": "participant", "text": "Hi",
                             "timestamp": "2025-08-07T12:00:30+00:00", "room": "a1b2c3d4"}]})";
    std::ofstream(data / "templates.json") << templates_json;
  }
};

TEST(ImportWebwozFiles, TemplatesJsonGoesIntoTheTemplateStoreInTheFilesOrder) {
  WebwozDataDir d(R"({
  "Phase 2": {"zeta": "Last one first", "alpha": "Then this"},
  "Pinned": {"wait": "One moment please 🙂"},
  "Phase 1": {"greeting": "Welcome", "ask": "What happened?", "greeting": "Welcome!"}
})");
  const std::vector<Template> want{{"Phase 2", "zeta", "Last one first"},
                                   {"Phase 2", "alpha", "Then this"},
                                   {"Pinned", "wait", "One moment please 🙂"},
                                   {"Phase 1", "greeting", "Welcome!"},
                                   {"Phase 1", "ask", "What happened?"}};
  std::string why;
  auto found = importers::detect(d.data.string(), why);
  ASSERT_TRUE(found) << why;
  EXPECT_EQ(found->format, Format::webwoz);
  EXPECT_NE(found->description.find("1 WebWOz room file(s)"), std::string::npos)
      << found->description;
  EXPECT_NE(found->description.find("templates.json"), std::string::npos) << found->description;

  Store s;
  ImportOptions dry;
  dry.dry_run = true;
  auto planned = import_source(s.c.get(), Format::webwoz, d.data, dry);
  EXPECT_EQ(planned.templates_in_source, 5u) << issues(planned);
  EXPECT_EQ(planned.templates_planned, 5u);
  EXPECT_EQ(*s.c->list_templates(), store::default_templates());

  // DATA_DIR: the rooms from its conversations/, the templates from its templates.json.
  auto r = import_source(s.c.get(), Format::webwoz, d.data, {});
  EXPECT_TRUE(r.report.issues.empty()) << issues(r);
  EXPECT_EQ(r.conversations_written, 1u);
  EXPECT_EQ(*s.c->list_templates(), want);
  EXPECT_EQ(r.templates_written, 5u);
  EXPECT_EQ(r.templates_verified, 5u);
  EXPECT_TRUE(r.mismatches.empty());

  // DATA_DIR/conversations (with a trailing slash): the parent's templates.json; nothing new.
  auto again = import_source(s.c.get(), Format::webwoz, d.rooms.string() + "/", {});
  EXPECT_TRUE(again.report.issues.empty()) << issues(again);
  EXPECT_EQ(again.unchanged, 1u);
  EXPECT_EQ(again.templates_in_source, 5u);
  EXPECT_EQ(again.templates_unchanged, 5u);
  EXPECT_EQ(again.templates_written, 0u);
  EXPECT_EQ(*s.c->list_templates(), want);

  // A wizard edits one in Parley: a conflict, left alone as for the tables.
  auto edited = want;
  edited[2].value = "Wait (edited in Parley)";
  ASSERT_TRUE(s.c->replace_templates(edited));
  auto kept = import_source(s.c.get(), Format::webwoz, d.rooms, {});
  EXPECT_EQ(kept.template_conflicts_left, 1u);
  EXPECT_EQ(*s.c->list_templates(), edited);
}

// The app's older flat style, {"key": "value"}, is category "General" (its _normalise).
TEST(ImportWebwozFiles, FlatTemplatesJsonIsCategoryGeneral) {
  WebwozDataDir d(R"({"hello": "Hello there", "bye": "Goodbye", "greeting": "Hi!"})");
  Store s;
  auto r = import_source(s.c.get(), Format::webwoz, d.rooms, {});
  EXPECT_TRUE(r.report.issues.empty()) << issues(r);
  const std::vector<Template> want{{"General", "hello", "Hello there"},
                                   {"General", "bye", "Goodbye"},
                                   {"General", "greeting", "Hi!"}};
  EXPECT_EQ(*s.c->list_templates(), want);
  EXPECT_EQ(r.templates_unchanged, 0u);
  EXPECT_EQ(r.template_defaults_dropped, 3u);  // the defaults the file does not have
  EXPECT_EQ(r.templates_verified, 3u);
  EXPECT_EQ(import_source(s.c.get(), Format::webwoz, d.rooms, {}).templates_unchanged, 3u);
}

// A templates.json the app could not load is reported with where and why, and the rooms are
// imported all the same; the stored templates stay as they were.
TEST(ImportWebwozFiles, MalformedTemplatesJsonIsReportedAndTheRoomsStillCome) {
  for (const auto& [text, where] : std::vector<std::pair<std::string, std::string>>{
           {"{\n  \"General\": {\"hi\": \"Hello\"},\n  \"Phase 1\": {\"ask\": 5}\n}",
            "templates.json:3: skipped: templates not imported: template \"Phase 1/ask\""},
           {"{\n  \"General\": {\n    \"hi\": \"Hello\",\n", "templates.json:4: skipped: templates not "
                                                             "imported: not valid JSON"},
           {"[\"hi\"]", "templates.json:1: skipped: templates not imported: templates must be a JSON "
                        "object"}}) {
    WebwozDataDir d(text);
    Store s;
    auto r = import_source(s.c.get(), Format::webwoz, d.data, {});
    EXPECT_TRUE(has_issue(r, where)) << issues(r);
    EXPECT_EQ(r.report.skipped(), 1u) << issues(r);
    EXPECT_FALSE(r.aborted);
    EXPECT_EQ(r.conversations_written, 1u);
    EXPECT_EQ(messages(*s.c, "a1b2c3d4").size(), 1u);
    EXPECT_EQ(r.templates_in_source, 0u);
    EXPECT_EQ(*s.c->list_templates(), store::default_templates());
  }
}

// --- Each conversation commits whole or not at all -----------------------------------------

// What the store holds of one conversation: the row, every message, every reader.
struct Snapshot {
  Conversation conversation;
  std::vector<StoredMessage> messages;
  std::vector<store::MemberState> members;
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};
Snapshot snapshot(store::Connection& c, const ConversationId& id) {
  Snapshot s;
  auto conv = c.get_conversation(id);
  EXPECT_TRUE(conv);
  if (conv) s.conversation = *conv;
  s.messages = messages(c, id);
  auto members = c.member_states(id);
  EXPECT_TRUE(members);
  if (members) s.members = *members;
  return s;
}

// A failure injected into the store (a SQLite trigger that aborts the statement, as a full
// disk or a refused row would) at each step of writing a conversation: its messages, the
// soft delete of one of them, its read state. Each time the conversation is left exactly as
// the previous import stored it, and the import reports it and goes on. Before, the import
// wrote the messages in one transaction and the deletes and read seqs in others: a failure
// after the first left the deleted message's text readable and the read state lost.
TEST(ImportWhole, AStoreFailureAtAnyStepLeavesTheConversationAsItWas) {
  TempDir t;
  const auto v1 = t.path / "v1";
  Dump::radio_istic().write_bson(v1);
  // The app changed since: a message edited in place, one more message read by both.
  Dump changed = Dump::radio_istic();
  changed.messages.clear();
  changed.message("65f0000000000000000000a1", kDirect, kAmira, "Salut Bilel (edited)", kT0 + 1000,
                  {kAmira, kBilel});
  changed.message("65f0000000000000000000b1", kGroup, kChams, "Réunion à 18h", kT0 + 1500,
                  {kChams, kAmira, kBilel});
  changed.message("65f0000000000000000000a2", kDirect, kBilel, "Salut! Ça va?", kT0 + 2000,
                  {kBilel, kAmira});
  changed.message("65f0000000000000000000b2", kGroup, kAmira, "affiche.png", kT0 + 2500,
                  {kAmira, kChams}, "image", "/uploads/affiche.png");
  changed.message("65f0000000000000000000a3", kDirect, kAmira, "oops", kT0 + 3000, {kAmira}, "text",
                  nullptr, true);
  changed.message("65f0000000000000000000b3", kGroup, kBilel, "Présent", kT0 + 3500, {kBilel});
  changed.message("65f0000000000000000000a4", kDirect, kBilel, "À demain", kT0 + 4000,
                  {kBilel, kAmira});
  const auto v2 = t.path / "v2";
  changed.write_bson(v2);

  const auto db_path = t.path / "parley.db";
  store::StoreConfig config;
  config.sqlite_path = db_path.string();
  auto db = store::open_database(config);
  ASSERT_TRUE(db) << db.error().message();
  auto conn = (*db)->connect();
  ASSERT_TRUE(conn);
  store::Connection& c = **conn;
  ASSERT_EQ(import_source(&c, Format::mongodump, v1, {}).conversations_written, 2u);
  const Snapshot before = snapshot(c, kDirect);
  ASSERT_EQ(before.messages.size(), 3u);
  ASSERT_TRUE(before.messages[2].deleted);

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &raw), SQLITE_OK);
  const std::vector<std::pair<std::string, std::string>> faults = {
      {"a message of the conversation",
       "CREATE TRIGGER fault BEFORE INSERT ON messages WHEN NEW.id = '65f0000000000000000000a4' "
       "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"},
      {"the soft delete (stored with the message)",
       "CREATE TRIGGER fault BEFORE INSERT ON messages WHEN NEW.deleted = 1 "
       "BEGIN SELECT RAISE(ABORT, 'injected fault'); END;"
       "CREATE TRIGGER fault_update BEFORE UPDATE OF deleted ON messages WHEN NEW.deleted = 1 "
       "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"},
      {"the read state",
       "CREATE TRIGGER fault BEFORE INSERT ON read_state "
       "BEGIN SELECT RAISE(ABORT, 'injected fault'); END;"
       "CREATE TRIGGER fault_update BEFORE UPDATE ON read_state "
       "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"},
  };
  for (const auto& [step, sql] : faults) {
    SCOPED_TRACE(step);
    exec(raw, sql.c_str());
    auto r = import_source(&c, Format::mongodump, v2, {});
    EXPECT_GE(r.store_failures, 1u) << issues(r);
    EXPECT_TRUE(has_issue(r, std::string("conversation ") + kDirect + " not stored")) << issues(r);
    EXPECT_EQ(snapshot(c, kDirect), before);
    exec(raw, "DROP TRIGGER IF EXISTS fault; DROP TRIGGER IF EXISTS fault_update");
  }
  sqlite3_close(raw);

  // Without the fault the same import stores it whole, and verifies it.
  auto r = import_source(&c, Format::mongodump, v2, {});
  EXPECT_EQ(r.store_failures, 0u) << issues(r);
  EXPECT_TRUE(r.mismatches.empty());
  const auto dm = messages(c, kDirect);
  ASSERT_EQ(dm.size(), 4u);
  EXPECT_EQ(dm[0].content, "Salut Bilel (edited)");
  EXPECT_TRUE(dm[2].deleted);
  EXPECT_EQ(dm[2].content, "");
  EXPECT_EQ(*c.read_seq(kDirect, kBilel), 4);
}

TEST(ImportDetect, SaysWhatItCannotRead) {
  TempDir t;
  std::ofstream(t.path / "notes.txt") << "hello";
  std::string why;
  EXPECT_FALSE(importers::detect((t.path / "notes.txt").string(), why));
  EXPECT_NE(why.find("not SQLite, BSON or JSON"), std::string::npos);
  EXPECT_FALSE(importers::detect((t.path / "absent").string(), why));
  EXPECT_NE(why.find("no such file"), std::string::npos);
}

TEST(ImportDetect, EnvFileGivesThePostgresConnection) {
  TempDir t;
  std::ofstream(t.path / ".env") << "# seed 004\nexport DB_HOST=db.example\nDB_PORT=5433\n"
                                    "DB_NAME=ragdb\nDB_USER=raguser\nDB_PASSWORD=\"s3'cret\"\n";
  auto url = importers::postgres_url("env:" + (t.path / ".env").string());
  ASSERT_TRUE(url);
  EXPECT_EQ(*url,
            "host='db.example' port='5433' dbname='ragdb' user='raguser' password='s3\\'cret'");
  std::ofstream(t.path / "app.env") << "DATABASE_URL=postgres://u:p@h:5432/multichat\n";
  EXPECT_EQ(importers::postgres_url("env:" + (t.path / "app.env").string()),
            "postgres://u:p@h:5432/multichat");
  EXPECT_EQ(importers::postgres_url("postgresql://x@y/z"), "postgresql://x@y/z");
  EXPECT_FALSE(importers::postgres_url("mysql://x"));
}

#if PARLEY_HAVE_POSTGRES
// --- PostgreSQL: the seeds' own DDL in a throwaway database (scripts/pg-test-cluster.sh) -------

namespace pg {

struct Conn {
  PGconn* c = nullptr;
  explicit Conn(const std::string& url) : c(PQconnectdb(url.c_str())) {}
  ~Conn() { PQfinish(c); }
  bool ok() const { return PQstatus(c) == CONNECTION_OK; }
  void exec(const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    const auto st = PQresultStatus(r);
    EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) << PQerrorMessage(c) << sql;
    PQclear(r);
  }
};

// A fresh database on the test cluster; its URL.
std::optional<std::string> fresh_database(const std::string& name) {
  const char* base = std::getenv("PARLEY_TEST_PG_URL");
  if (!base || !*base) return std::nullopt;
  Conn admin(base);
  if (!admin.ok()) return std::nullopt;
  admin.exec("DROP DATABASE IF EXISTS " + name);
  admin.exec("CREATE DATABASE " + name);
  std::string url(base);
  const auto slash = url.rfind('/');
  return url.substr(0, slash + 1) + name;
}

}  // namespace pg

TEST(ImportPostgres, WebwozTablesWithTemplates) {
  auto url = pg::fresh_database("parley_import_webwoz");
  if (!url) GTEST_SKIP() << "PARLEY_TEST_PG_URL is not set (scripts/pg-test-cluster.sh)";
  {
    pg::Conn c(*url);
    // backend/database.py's models as SQLAlchemy creates them on PostgreSQL.
    c.exec(
        "CREATE TABLE conversations (id SERIAL PRIMARY KEY, room_id VARCHAR(50) NOT NULL UNIQUE,"
        " created_at TIMESTAMP WITH TIME ZONE, last_updated TIMESTAMP WITH TIME ZONE,"
        " message_count INTEGER, is_active BOOLEAN, extra_data TEXT);"
        "CREATE TABLE messages (id SERIAL PRIMARY KEY, room_id VARCHAR(50) NOT NULL,"
        " sender VARCHAR(20) NOT NULL, text TEXT NOT NULL, timestamp TIMESTAMP WITH TIME ZONE,"
        " message_order INTEGER NOT NULL);"
        "CREATE INDEX idx_room_message_order ON messages (room_id, message_order);"
        "CREATE TABLE templates (id SERIAL PRIMARY KEY, category VARCHAR(100) NOT NULL,"
        " key VARCHAR(200) NOT NULL, value TEXT NOT NULL, created_at TIMESTAMP WITH TIME ZONE,"
        " updated_at TIMESTAMP WITH TIME ZONE);"
        "INSERT INTO conversations (room_id, created_at, last_updated, message_count, is_active,"
        " extra_data) VALUES ('a1b2c3d4', '2025-08-07 12:00:00+00', '2025-08-07 12:05:00+00', 3,"
        " true, '{\"study\":\"pilot\"}');"
        // Inserted out of order: message_order decides.
        "INSERT INTO messages (room_id, sender, text, timestamp, message_order) VALUES"
        " ('a1b2c3d4', 'wizard', 'Hello, how can I help?', '2025-08-07 12:01:00+00', 2),"
        " ('a1b2c3d4', 'participant', 'Hi', '2025-08-07 12:00:30+00', 1),"
        " ('a1b2c3d4', 'participant', 'Book a table', '2025-08-07 12:02:00+00', 3),"
        " ('zz999999', 'participant', 'orphan', '2025-08-07 12:02:00+00', 1);"
        "INSERT INTO templates (category, key, value) VALUES ('Greetings', 'hello', 'Hello!'),"
        " ('Greetings', 'bye', 'Goodbye'), ('Booking', 'confirm', 'Your table is booked');");
  }
  std::string why;
  auto found = importers::detect(*url, why);
  ASSERT_TRUE(found) << why;
  EXPECT_EQ(found->format, Format::postgres);
  EXPECT_NE(found->description.find("WebWOz"), std::string::npos);
  Store s;
  auto r = import_source(s.c.get(), Format::postgres, *url, {});
  EXPECT_FALSE(r.aborted) << issues(r);
  EXPECT_TRUE(has_issue(r, "1 message(s) belong to no conversation")) << issues(r);
  const auto m = messages(*s.c, "a1b2c3d4");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].content, "Hi");
  EXPECT_EQ(m[0].sender.role, "participant");
  EXPECT_EQ(m[1].sender.id, "wizard");
  EXPECT_EQ(m[0].created_at, *parse_rfc3339("2025-08-07T12:00:30Z"));
  // The same ids as the room's JSON file would give: file then database changes nothing.
  EXPECT_EQ(m[0].id, importers::derived_message_id("webwoz", "a1b2c3d4", 0));
  const auto conv = *s.c->get_conversation("a1b2c3d4");
  EXPECT_EQ(json::parse(conv.meta).at("extra_data").at("study"), "pilot");
  // The templates are in the template store, in the table's order, no longer in a reserved
  // conversation.
  const std::vector<Template> want{
      {"Greetings", "hello", "Hello!"},
      {"Greetings", "bye", "Goodbye"},
      {"Booking", "confirm", "Your table is booked"}};
  EXPECT_EQ(*s.c->list_templates(), want);
  EXPECT_EQ(s.c->get_conversation("parley:webwoz-templates").error(), Errc::not_found);
  EXPECT_EQ(r.templates_verified, 3u);
  EXPECT_TRUE(r.mismatches.empty());
  const auto again = import_source(s.c.get(), Format::postgres, *url, {});
  EXPECT_EQ(again.unchanged, 1u);
  EXPECT_EQ(again.templates_unchanged, 3u);
  EXPECT_EQ(again.templates_written, 0u);
}

TEST(ImportPostgres, Seed003And004TablesFromTheSeedsDdl) {
  auto url3 = pg::fresh_database("parley_import_seed003");
  if (!url3) GTEST_SKIP() << "PARLEY_TEST_PG_URL is not set (scripts/pg-test-cluster.sh)";
  {
    pg::Conn c(*url3);
    // Seed 003's DDL, verbatim.
    c.exec(
        "CREATE TABLE conversations (id VARCHAR(255) PRIMARY KEY, title TEXT,"
        " created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,"
        " updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, message_count INTEGER DEFAULT 0);"
        "CREATE TABLE messages (id VARCHAR(255) PRIMARY KEY,"
        " conversation_id VARCHAR(255) REFERENCES conversations(id), role VARCHAR(50) NOT NULL,"
        " content TEXT NOT NULL, timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP, meta JSONB,"
        " created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);"
        "INSERT INTO conversations VALUES ('conv-1', 'Trip ideas', '2025-01-02 10:00:00',"
        " '2025-01-02 10:05:00', 2);"
        "INSERT INTO messages VALUES ('m-2', 'conv-1', 'assistant', 'Try Tozeur',"
        " '2025-01-02 10:00:05', '{\"model\":\"gpt\"}', '2025-01-02 10:00:05'),"
        " ('m-1', 'conv-1', 'user', 'Where to go?', '2025-01-02 10:00:00', NULL,"
        " '2025-01-02 10:00:00');");
  }
  Store s;
  auto r = import_source(s.c.get(), Format::postgres, *url3, {});
  EXPECT_EQ(r.report.skipped(), 0u) << issues(r);
  const auto m = messages(*s.c, "conv-1");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].id, "m-1");
  EXPECT_EQ(m[1].sender.role, "assistant");
  EXPECT_EQ(json::parse(m[1].meta).at("model"), "gpt");
  EXPECT_EQ(s.c->get_conversation("conv-1")->title, "Trip ideas");

  auto url4 = pg::fresh_database("parley_import_seed004");
  {
    pg::Conn c(*url4);
    // Seed 004's DDL, verbatim.
    c.exec(
        "CREATE TABLE conversations (conversation_id VARCHAR(255) PRIMARY KEY,"
        " title VARCHAR(500) NOT NULL, created_at TIMESTAMP NOT NULL,"
        " updated_at TIMESTAMP NOT NULL, messages JSON NOT NULL, settings JSON);"
        "CREATE INDEX idx_conversations_updated_at ON conversations(updated_at DESC);"
        "INSERT INTO conversations VALUES ('rag-1', 'Contract questions', '2025-02-01 08:00:00',"
        " '2025-02-01 08:10:00', '[{\"role\":\"user\",\"content\":\"What is clause 4?\","
        "\"timestamp\":\"2025-02-01T08:00:00\"},{\"role\":\"assistant\",\"content\":\"It is the"
        " liability clause.\",\"timestamp\":\"2025-02-01T08:00:04\",\"sources\":[\"c.pdf\"]}]',"
        " '{\"top_k\":5,\"model\":\"mistral\"}'),"
        " ('rag-2', 'Empty', '2025-02-02 08:00:00', '2025-02-02 08:00:00', '[]', NULL);");
  }
  Store s4;
  std::string why;
  auto found = importers::detect(*url4, why);
  ASSERT_TRUE(found) << why;
  EXPECT_NE(found->description.find("seed 004"), std::string::npos);
  auto r4 = import_source(s4.c.get(), Format::postgres, *url4, {});
  EXPECT_EQ(r4.report.skipped(), 0u) << issues(r4);
  EXPECT_EQ(r4.conversations_written, 2u);
  const auto conv = *s4.c->get_conversation("rag-1");
  EXPECT_EQ(conv.title, "Contract questions");
  EXPECT_EQ(json::parse(conv.settings).at("top_k"), 5);
  const auto m4 = messages(*s4.c, "rag-1");
  ASSERT_EQ(m4.size(), 2u);
  EXPECT_EQ(m4[1].sender.role, "assistant");
  EXPECT_EQ(json::parse(m4[1].meta).at("sources").at(0), "c.pdf");
}

#endif  // PARLEY_HAVE_POSTGRES

}  // namespace
}  // namespace parley::cli
