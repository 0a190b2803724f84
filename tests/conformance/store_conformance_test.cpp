// The storage conformance suite: the contract of store.hpp's interfaces (one fixture per noun),
// written once and run against every backend of backends.cpp (TEST_P over Backend). A backend
// passes when it behaves exactly like the memory reference implementation.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "backends.hpp"
#include "core/ids.hpp"
#include "core/time.hpp"
#include "store/store.hpp"

namespace parley::store::conformance {
namespace {

namespace fs = std::filesystem;

constexpr Seq kLatest = std::numeric_limits<Seq>::max();

// Unwraps a result or fails the test with the error (GoogleTest reports the exception).
template <class T>
T ok(Result<T> result) {
  if (!result) throw std::runtime_error("unexpected error: " + result.error().message());
  return std::move(*result);
}
void ok(Result<void> result) {
  if (!result) throw std::runtime_error("unexpected error: " + result.error().message());
}

template <class T>
boost::system::error_code error_of(const Result<T>& result) {
  return result ? boost::system::error_code() : result.error();
}

NewMessage message(const ConversationId& conversation, const UserId& sender,
                   const std::string& content,
                   std::optional<std::string> client_id = std::nullopt) {
  NewMessage msg;
  msg.conversation = conversation;
  msg.sender = {sender, sender + " name", "participant"};
  msg.content = content;
  msg.client_id = std::move(client_id);
  return msg;
}

std::vector<Seq> seqs(const std::vector<StoredMessage>& messages) {
  std::vector<Seq> out;
  for (const StoredMessage& msg : messages) out.push_back(msg.seq);
  return out;
}

std::vector<Seq> range(Seq first, Seq last) {
  std::vector<Seq> out;
  for (Seq s = first; s <= last; ++s) out.push_back(s);
  return out;
}

std::vector<ConversationId> ids(const ConversationPage& page) {
  std::vector<ConversationId> out;
  for (const ConversationSummary& summary : page.conversations) {
    out.push_back(summary.conversation.id);
  }
  return out;
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    scratch_ = fs::temp_directory_path() / ("parley-conformance-" + new_short_id());
    fs::create_directories(scratch_);
    auto db = GetParam().make(scratch_);
    ASSERT_TRUE(db) << db.error().message();
    db_ = *db;
    auto conn = db_->connect();
    ASSERT_TRUE(conn) << conn.error().message();
    conn_ = std::move(*conn);
  }

  void TearDown() override {
    conn_.reset();
    db_.reset();
    std::error_code ec;
    fs::remove_all(scratch_, ec);
  }

  Connection& c() { return *conn_; }

  std::vector<Appended> append(const std::vector<NewMessage>& batch) {
    return ok(c().append_batch(batch));
  }
  Appended append_one(const NewMessage& msg) { return append({msg}).at(0); }

  // `count` messages "m1".."mN" from alice.
  void fill(const ConversationId& conversation, int count) {
    std::vector<NewMessage> batch;
    for (int i = 1; i <= count; ++i) {
      batch.push_back(message(conversation, "alice", "m" + std::to_string(i)));
    }
    append(batch);
  }

  Conversation create(const ConversationId& id, TimeMs created_at = 0,
                      std::vector<UserId> participants = {}) {
    NewConversation request;
    request.id = id;
    request.title = "Title of " + id;
    request.created_at = created_at;
    request.participants = std::move(participants);
    return ok(c().create_conversation(request));
  }

  fs::path scratch_;
  std::shared_ptr<Database> db_;
  std::unique_ptr<Connection> conn_;
};

// One fixture per interface of store.hpp, so a failure names the noun whose contract broke.
// Tests of one noun still set up through the others (a read needs an append first).
class MessageStoreConformance : public StoreConformance {};
class ConversationStoreConformance : public StoreConformance {};
class ReadStateStoreConformance : public StoreConformance {};
class UserStoreConformance : public StoreConformance {};
class SearchIndexConformance : public StoreConformance {};
class ListingsConformance : public StoreConformance {};
class TemplateStoreConformance : public StoreConformance {};
// Properties of a Database as a whole (connections sharing it, concurrency).
class DatabaseConformance : public StoreConformance {};

// --- append_batch ------------------------------------------------------------------------

TEST_P(MessageStoreConformance, SeqStartsAtOneAndIsGaplessAcrossBatches) {
  fill("room", 5);
  fill("room", 3);
  EXPECT_EQ(seqs(ok(c().read_after("room", 0, 100))), range(1, 8));
  const Conversation conv = ok(c().get_conversation("room"));
  EXPECT_EQ(conv.last_seq, 8);
  EXPECT_EQ(conv.message_count, 8);
}

TEST_P(MessageStoreConformance, EmptyBatchStoresNothing) {
  EXPECT_TRUE(ok(c().append_batch({})).empty());
  EXPECT_EQ(ok(c().count_conversations()), 0);
}

TEST_P(MessageStoreConformance, AppendCreatesMissingConversation) {
  const TimeMs before = now_ms();
  append_one(message("new-room", "alice", "hi"));
  const Conversation conv = ok(c().get_conversation("new-room"));
  EXPECT_EQ(conv.id, "new-room");
  EXPECT_EQ(conv.title, "");
  EXPECT_GE(conv.created_at, before);
  EXPECT_GE(conv.updated_at, conv.created_at);
  EXPECT_TRUE(conv.is_active);
  EXPECT_TRUE(conv.participants.empty());
  EXPECT_EQ(conv.settings, "{}");
  EXPECT_EQ(conv.meta, "{}");
  EXPECT_EQ(conv.last_seq, 1);
  EXPECT_EQ(conv.message_count, 1);
}

TEST_P(MessageStoreConformance, InterleavedConversationsInOneBatch) {
  fill("b", 2);  // b already has messages: its seqs continue from 3
  const auto out =
      append({message("a", "u", "a1"), message("b", "u", "b3"), message("a", "u", "a2"),
              message("c", "u", "c1"), message("b", "u", "b4"), message("a", "u", "a3")});
  ASSERT_EQ(out.size(), 6u);
  const std::vector<std::pair<std::string, Seq>> expected = {{"a", 1}, {"b", 3}, {"a", 2},
                                                             {"c", 1}, {"b", 4}, {"a", 3}};
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_FALSE(out[i].duplicate);
    EXPECT_EQ(out[i].message.conversation, expected[i].first);
    EXPECT_EQ(out[i].message.seq, expected[i].second);
  }
  EXPECT_EQ(ok(c().get_conversation("a")).last_seq, 3);
  EXPECT_EQ(ok(c().get_conversation("b")).last_seq, 4);
  EXPECT_EQ(ok(c().get_conversation("b")).message_count, 4);
  EXPECT_EQ(ok(c().get_conversation("c")).last_seq, 1);
  const auto a = ok(c().read_after("a", 0, 10));
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].content, "a1");
  EXPECT_EQ(a[2].content, "a3");
}

TEST_P(MessageStoreConformance, AppendAssignsIdAndTimeWhenEmpty) {
  const TimeMs before = now_ms();
  const StoredMessage stored = append_one(message("room", "alice", "hi")).message;
  const TimeMs after = now_ms();
  EXPECT_EQ(stored.id.size(), 32u);
  EXPECT_GE(stored.created_at, before);
  EXPECT_LE(stored.created_at, after);
  EXPECT_FALSE(stored.edited_at);
  EXPECT_FALSE(stored.deleted);

  NewMessage given = message("room", "alice", "imported");
  given.id = "msg-given-1";
  given.created_at = 1'600'000'000'123;
  const StoredMessage kept = append_one(given).message;
  EXPECT_EQ(kept.id, "msg-given-1");
  EXPECT_EQ(kept.created_at, 1'600'000'000'123);
}

TEST_P(MessageStoreConformance, AppendKeepsEveryField) {
  NewMessage msg = message("room", "bot-7", "look at this");
  msg.sender = {"bot-7", "Helper Bot", "assistant"};
  msg.kind = "image";
  msg.meta = R"( { "url" : "https://example.test/a.png", "w": 640 } )";
  msg.client_id = "c-1";
  const Appended appended = append_one(msg);
  EXPECT_FALSE(appended.duplicate);
  const StoredMessage& stored = appended.message;
  EXPECT_EQ(stored.conversation, "room");
  EXPECT_EQ(stored.seq, 1);
  EXPECT_EQ(stored.sender, (Sender{"bot-7", "Helper Bot", "assistant"}));
  EXPECT_EQ(stored.kind, "image");
  EXPECT_EQ(stored.content, "look at this");
  EXPECT_EQ(stored.meta, R"({"url":"https://example.test/a.png","w":640})");
  EXPECT_EQ(stored.client_id, "c-1");
  EXPECT_EQ(ok(c().get_message("room", 1)), stored);
  EXPECT_EQ(ok(c().read_after("room", 0, 1)).at(0), stored);
}

TEST_P(MessageStoreConformance, AppendNormalizesDefaults) {
  NewMessage msg = message("room", "alice", "x", "");
  msg.kind = "";
  msg.meta = "";
  const StoredMessage stored = append_one(msg).message;
  EXPECT_EQ(stored.kind, "text");
  EXPECT_EQ(stored.meta, "{}");
  EXPECT_FALSE(stored.client_id);  // an empty client_id is none
  EXPECT_EQ(ok(c().get_message("room", 1)), stored);
}

TEST_P(MessageStoreConformance, ClientIdIsIdempotentAcrossBatches) {
  const Appended first = append_one(message("room", "alice", "hello", "cid-1"));
  append_one(message("room", "bob", "between"));
  const Appended again = append_one(message("room", "alice", "hello (retry)", "cid-1"));
  EXPECT_FALSE(first.duplicate);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.message, first.message);
  EXPECT_EQ(again.message.content, "hello");
  const Conversation conv = ok(c().get_conversation("room"));
  EXPECT_EQ(conv.last_seq, 2);
  EXPECT_EQ(conv.message_count, 2);
  EXPECT_EQ(ok(c().read_after("room", 0, 10)).size(), 2u);
}

TEST_P(MessageStoreConformance, ClientIdIsIdempotentWithinABatch) {
  const auto out =
      append({message("room", "alice", "one", "cid"), message("room", "alice", "two", "cid"),
              message("room", "alice", "three", "other")});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FALSE(out[0].duplicate);
  EXPECT_TRUE(out[1].duplicate);
  EXPECT_EQ(out[1].message, out[0].message);
  EXPECT_FALSE(out[2].duplicate);
  EXPECT_EQ(out[2].message.seq, 2);
  EXPECT_EQ(seqs(ok(c().read_after("room", 0, 10))), range(1, 2));
}

TEST_P(MessageStoreConformance, ClientIdIsPerSenderAndConversation) {
  const auto out =
      append({message("room", "alice", "a", "same"), message("room", "bob", "b", "same"),
              message("other", "alice", "c", "same")});
  for (const Appended& appended : out) EXPECT_FALSE(appended.duplicate);
  EXPECT_EQ(out[0].message.seq, 1);
  EXPECT_EQ(out[1].message.seq, 2);
  EXPECT_EQ(out[2].message.seq, 1);
  const Appended again = append_one(message("room", "bob", "b again", "same"));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.message.seq, 2);
}

TEST_P(MessageStoreConformance, DuplicateOnlyBatchChangesNothing) {
  append_one(message("room", "alice", "hello", "cid"));
  const Conversation before = ok(c().get_conversation("room"));
  const auto out = append({message("room", "alice", "hello", "cid")});
  EXPECT_TRUE(out.at(0).duplicate);
  EXPECT_EQ(ok(c().get_conversation("room")), before);
}

// The outage spool's replay of a message whose earlier attempt committed without its answer
// (a frozen database: the deadline dropped the connection mid-commit): the same id and the
// same client_id. The client_id wins over the taken id (issue 14: PostgreSQL answered
// conflict, on its UNIQUE (id), and the spool retried that record forever).
TEST_P(MessageStoreConformance, ReappendOfAStoredMessageWithItsIdAndClientIdIsADuplicate) {
  NewMessage msg = message("room", "alice", "hello", "cid");
  msg.id = "m-in-doubt";
  const Appended first = append_one(msg);
  append_one(message("room", "bob", "between"));
  const Conversation before = ok(c().get_conversation("room"));
  const auto out = append({message("room", "bob", "fresh"), msg});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].duplicate);
  EXPECT_EQ(out[0].message.seq, 3);
  EXPECT_TRUE(out[1].duplicate);
  EXPECT_EQ(out[1].message, first.message);
  EXPECT_EQ(ok(c().get_conversation("room")).message_count, before.message_count + 1);
  EXPECT_EQ(seqs(ok(c().read_after("room", 0, 10))), range(1, 3));
}

TEST_P(MessageStoreConformance, FailedBatchStoresNothing) {
  fill("room", 2);
  const Conversation before = ok(c().get_conversation("room"));

  NewMessage bad_meta = message("room", "alice", "x");
  bad_meta.meta = "[1, 2]";  // not an object
  auto result = c().append_batch(std::vector<NewMessage>{message("fresh", "alice", "first"),
                                                         message("room", "alice", "ok"), bad_meta});
  EXPECT_EQ(error_of(result), Errc::invalid_argument);

  NewMessage taken = message("room", "alice", "y");
  taken.id = ok(c().get_message("room", 1)).id;  // message ids are unique
  result = c().append_batch(std::vector<NewMessage>{message("fresh", "alice", "first"),
                                                    message("room", "alice", "ok"), taken});
  EXPECT_EQ(error_of(result), Errc::conflict);

  EXPECT_EQ(error_of(c().get_conversation("fresh")), Errc::not_found);
  EXPECT_EQ(ok(c().get_conversation("room")), before);
  EXPECT_EQ(seqs(ok(c().read_after("room", 0, 10))), range(1, 2));
  EXPECT_EQ(ok(c().count_conversations()), 1);
}

TEST_P(MessageStoreConformance, RepeatedIdInOneBatchIsConflict) {
  NewMessage a = message("room", "alice", "a");
  a.id = "dup-id";
  NewMessage b = message("other", "alice", "b");
  b.id = "dup-id";
  EXPECT_EQ(error_of(c().append_batch(std::vector<NewMessage>{a, b})), Errc::conflict);
  EXPECT_EQ(ok(c().count_conversations()), 0);
}

TEST_P(MessageStoreConformance, InvalidConversationIdIsRejected) {
  for (const std::string& id :
       std::vector<std::string>{"", "has space", "slash/no", std::string(129, 'x')}) {
    EXPECT_EQ(error_of(c().append_batch(std::vector<NewMessage>{message(id, "alice", "x")})),
              Errc::invalid_argument)
        << id;
  }
  EXPECT_EQ(ok(c().count_conversations()), 0);
}

// --- read_after / read_before / get_message ----------------------------------------------

TEST_P(MessageStoreConformance, ReadAfterPagesForward) {
  fill("room", 10);
  EXPECT_EQ(seqs(ok(c().read_after("room", 0, 3))), range(1, 3));
  EXPECT_EQ(seqs(ok(c().read_after("room", 3, 3))), range(4, 6));
  EXPECT_EQ(seqs(ok(c().read_after("room", 9, 3))), range(10, 10));
  EXPECT_TRUE(ok(c().read_after("room", 10, 3)).empty());
  EXPECT_TRUE(ok(c().read_after("room", 50, 3)).empty());
  EXPECT_EQ(seqs(ok(c().read_after("room", -5, 2))), range(1, 2));
  EXPECT_TRUE(ok(c().read_after("room", 0, 0)).empty());
  EXPECT_EQ(seqs(ok(c().read_after("room", 0, std::numeric_limits<std::size_t>::max()))),
            range(1, 10));
  EXPECT_TRUE(ok(c().read_after("nowhere", 0, 10)).empty());
  EXPECT_EQ(ok(c().read_after("room", 4, 1)).at(0).content, "m5");
}

TEST_P(MessageStoreConformance, ReadBeforePagesBackwardOldestFirst) {
  fill("room", 10);
  EXPECT_EQ(seqs(ok(c().read_before("room", kLatest, 3))), range(8, 10));
  EXPECT_EQ(seqs(ok(c().read_before("room", 8, 3))), range(5, 7));
  EXPECT_EQ(seqs(ok(c().read_before("room", 3, 5))), range(1, 2));
  EXPECT_EQ(seqs(ok(c().read_before("room", 11, 2))), range(9, 10));
  EXPECT_EQ(seqs(ok(c().read_before("room", 1000, 100))), range(1, 10));
  EXPECT_TRUE(ok(c().read_before("room", 1, 5)).empty());
  EXPECT_TRUE(ok(c().read_before("room", 0, 5)).empty());
  EXPECT_TRUE(ok(c().read_before("room", -3, 5)).empty());
  EXPECT_TRUE(ok(c().read_before("room", kLatest, 0)).empty());
  EXPECT_TRUE(ok(c().read_before("nowhere", kLatest, 5)).empty());
}

TEST_P(MessageStoreConformance, GetMessage) {
  fill("room", 3);
  EXPECT_EQ(ok(c().get_message("room", 2)).content, "m2");
  EXPECT_EQ(error_of(c().get_message("room", 0)), Errc::not_found);
  EXPECT_EQ(error_of(c().get_message("room", 4)), Errc::not_found);
  EXPECT_EQ(error_of(c().get_message("nowhere", 1)), Errc::not_found);
}

TEST_P(MessageStoreConformance, FindMessageByIdInAnyConversation) {
  fill("room", 2);
  auto other = message("other", "bob", "hello");
  other.id = "6913545869844e4b34528347";  // a Mongo ObjectId, as radio-istic's ids are
  append_one(other);
  const auto m2 = ok(c().get_message("room", 2));
  EXPECT_EQ(ok(c().find_message(m2.id)), m2);
  const auto found = ok(c().find_message("6913545869844e4b34528347"));
  EXPECT_EQ(found.conversation, "other");
  EXPECT_EQ(found.seq, 1);
  EXPECT_EQ(found.content, "hello");
  EXPECT_EQ(error_of(c().find_message("no-such-id")), Errc::not_found);
}

// --- edit / delete -----------------------------------------------------------------------

TEST_P(MessageStoreConformance, EditReplacesContentAndStampsEditedAt) {
  fill("room", 3);
  const StoredMessage before = ok(c().get_message("room", 2));
  const StoredMessage edited = ok(c().edit_message("room", 2, "fixed", UserId("alice"), 1234));
  EXPECT_EQ(edited.content, "fixed");
  EXPECT_EQ(edited.edited_at, 1234);
  EXPECT_EQ(edited.seq, 2);
  EXPECT_EQ(edited.id, before.id);
  EXPECT_EQ(edited.created_at, before.created_at);
  EXPECT_EQ(ok(c().get_message("room", 2)), edited);
  EXPECT_EQ(ok(c().get_conversation("room")).last_seq, 3);

  const TimeMs t0 = now_ms();
  const StoredMessage stamped = ok(c().edit_message("room", 3, "now", std::nullopt, 0));
  EXPECT_GE(stamped.edited_at.value_or(0), t0);  // 0: now
}

TEST_P(MessageStoreConformance, EditRules) {
  fill("room", 2);
  EXPECT_EQ(error_of(c().edit_message("room", 1, "hijack", UserId("mallory"), 1)),
            Errc::permission_denied);
  EXPECT_EQ(ok(c().get_message("room", 1)).content, "m1");
  // Without `by` (moderation, API) anyone's message may be edited.
  EXPECT_EQ(ok(c().edit_message("room", 1, "moderated", std::nullopt, 1)).content, "moderated");
  EXPECT_EQ(error_of(c().edit_message("room", 9, "x", std::nullopt, 1)), Errc::not_found);
  EXPECT_EQ(error_of(c().edit_message("nowhere", 1, "x", std::nullopt, 1)), Errc::not_found);
  ok(c().delete_message("room", 2, std::nullopt, 5));
  EXPECT_EQ(error_of(c().edit_message("room", 2, "revive", UserId("alice"), 6)), Errc::conflict);
}

TEST_P(MessageStoreConformance, DeleteEmptiesContentAndKeepsSeq) {
  NewMessage msg = message("room", "alice", "secret");
  msg.meta = R"({"url":"x"})";
  append({message("room", "alice", "m1"), msg, message("room", "bob", "m3")});
  const StoredMessage before = ok(c().get_message("room", 2));

  EXPECT_EQ(error_of(c().delete_message("room", 2, UserId("bob"), 10)), Errc::permission_denied);
  const StoredMessage deleted = ok(c().delete_message("room", 2, UserId("alice"), 10));
  EXPECT_TRUE(deleted.deleted);
  EXPECT_EQ(deleted.content, "");
  EXPECT_EQ(deleted.meta, "{}");
  EXPECT_EQ(deleted.seq, 2);
  EXPECT_EQ(deleted.id, before.id);
  EXPECT_EQ(deleted.sender, before.sender);
  EXPECT_EQ(deleted.edited_at, 10);
  EXPECT_EQ(ok(c().get_message("room", 2)), deleted);

  EXPECT_EQ(seqs(ok(c().read_after("room", 0, 10))), range(1, 3));
  const Conversation conv = ok(c().get_conversation("room"));
  EXPECT_EQ(conv.last_seq, 3);
  EXPECT_EQ(conv.message_count, 3);

  // Deleting again succeeds and changes nothing.
  EXPECT_EQ(ok(c().delete_message("room", 2, UserId("alice"), 99)), deleted);
  EXPECT_EQ(ok(c().delete_message("room", 2, std::nullopt, 99)), deleted);
  EXPECT_EQ(error_of(c().delete_message("room", 7, std::nullopt, 1)), Errc::not_found);
  EXPECT_EQ(error_of(c().delete_message("nowhere", 1, std::nullopt, 1)), Errc::not_found);
}

// --- conversations -----------------------------------------------------------------------

TEST_P(ConversationStoreConformance, CreateConversation) {
  NewConversation request;
  request.id = "team-1";
  request.title = "Team";
  request.participants = {"u1", "u2", "u1"};
  request.settings = R"({ "mode" : "wizard" })";
  request.meta = R"({"seed":2})";
  request.created_at = 1'700'000'000'000;
  const Conversation conv = ok(c().create_conversation(request));
  EXPECT_EQ(conv.id, "team-1");
  EXPECT_EQ(conv.title, "Team");
  EXPECT_EQ(conv.participants, (std::vector<UserId>{"u1", "u2"}));
  EXPECT_EQ(conv.settings, R"({"mode":"wizard"})");
  EXPECT_EQ(conv.meta, R"({"seed":2})");
  EXPECT_EQ(conv.created_at, 1'700'000'000'000);
  EXPECT_EQ(conv.updated_at, conv.created_at);
  EXPECT_EQ(conv.last_seq, 0);
  EXPECT_EQ(conv.message_count, 0);
  EXPECT_TRUE(conv.is_active);
  EXPECT_EQ(ok(c().get_conversation("team-1")), conv);

  EXPECT_EQ(error_of(c().create_conversation(request)), Errc::already_exists);
  EXPECT_EQ(ok(c().get_conversation("team-1")), conv);
}

TEST_P(ConversationStoreConformance, CreateConversationWithoutIdGetsOne) {
  const TimeMs before = now_ms();
  const Conversation conv = ok(c().create_conversation(NewConversation{}));
  EXPECT_TRUE(is_valid_id(conv.id));
  EXPECT_GE(conv.created_at, before);
  EXPECT_EQ(ok(c().get_conversation(conv.id)), conv);
  const Conversation other = ok(c().create_conversation(NewConversation{}));
  EXPECT_NE(other.id, conv.id);
}

TEST_P(ConversationStoreConformance, CreateConversationRejectsInvalidValues) {
  NewConversation bad_id;
  bad_id.id = "not an id";
  EXPECT_EQ(error_of(c().create_conversation(bad_id)), Errc::invalid_argument);
  NewConversation bad_settings;
  bad_settings.id = "x1";
  bad_settings.settings = "[]";
  EXPECT_EQ(error_of(c().create_conversation(bad_settings)), Errc::invalid_argument);
  NewConversation bad_meta;
  bad_meta.id = "x2";
  bad_meta.meta = "{not json";
  EXPECT_EQ(error_of(c().create_conversation(bad_meta)), Errc::invalid_argument);
  NewConversation bad_participant;
  bad_participant.id = "x3";
  bad_participant.participants = {"ok", "not ok"};
  EXPECT_EQ(error_of(c().create_conversation(bad_participant)), Errc::invalid_argument);
  EXPECT_EQ(ok(c().count_conversations()), 0);
}

TEST_P(ConversationStoreConformance, EnsureConversation) {
  const Conversation made = ok(c().ensure_conversation("lobby", 1000));
  EXPECT_EQ(made.id, "lobby");
  EXPECT_EQ(made.created_at, 1000);
  EXPECT_EQ(made.updated_at, 1000);
  EXPECT_EQ(made.last_seq, 0);
  EXPECT_EQ(ok(c().ensure_conversation("lobby", 5000)), made);
  EXPECT_EQ(ok(c().get_conversation("lobby")), made);
  EXPECT_EQ(error_of(c().ensure_conversation("bad id", 1)), Errc::invalid_argument);
  EXPECT_EQ(ok(c().count_conversations()), 1);
}

TEST_P(ConversationStoreConformance, EnsureConversationsCreatesTheMissingOnesAndKeepsTheRest) {
  const Conversation lobby = ok(c().ensure_conversation("lobby", 1000));
  append_one(message("lobby", "u1", "hello"));
  const std::vector<ConversationId> ids{"a", "lobby", "b", "a"};
  ok(c().ensure_conversations(ids, 7000));
  for (const char* id : {"a", "b"}) {
    const Conversation made = ok(c().get_conversation(id));
    EXPECT_EQ(made.created_at, 7000) << id;
    EXPECT_EQ(made.updated_at, 7000) << id;
    EXPECT_EQ(made.last_seq, 0) << id;
  }
  const Conversation kept = ok(c().get_conversation("lobby"));
  EXPECT_EQ(kept.created_at, lobby.created_at);
  EXPECT_EQ(kept.last_seq, 1);
  EXPECT_EQ(ok(c().count_conversations()), 3);
  ok(c().ensure_conversations({}, 1));
  // One bad id: none of the others is created.
  const std::vector<ConversationId> bad{"c", "bad id", "d"};
  EXPECT_EQ(error_of(c().ensure_conversations(bad, 1)), Errc::invalid_argument);
  EXPECT_EQ(error_of(c().get_conversation("c")), Errc::not_found);
  EXPECT_EQ(ok(c().count_conversations()), 3);
}

TEST_P(ConversationStoreConformance, GetMissingConversationIsNotFound) {
  EXPECT_EQ(error_of(c().get_conversation("nope")), Errc::not_found);
}

TEST_P(ConversationStoreConformance, UpdateConversationChangesOnlyGivenFields) {
  NewConversation request;
  request.id = "room";
  request.title = "Old";
  request.participants = {"u1"};
  request.settings = R"({"a":1})";
  request.meta = R"({"b":2})";
  request.created_at = 1000;
  const Conversation original = ok(c().create_conversation(request));

  ConversationPatch title;
  title.title = "New";
  Conversation conv = ok(c().update_conversation("room", title, 2000));
  EXPECT_EQ(conv.title, "New");
  EXPECT_EQ(conv.updated_at, 2000);
  EXPECT_EQ(conv.created_at, 1000);
  EXPECT_EQ(conv.participants, original.participants);
  EXPECT_EQ(conv.settings, original.settings);
  EXPECT_EQ(conv.meta, original.meta);
  EXPECT_TRUE(conv.is_active);

  ConversationPatch rest;
  rest.participants = std::vector<UserId>{"u2", "u3", "u2"};
  rest.settings = R"({ "c": [1, 2] })";
  rest.meta = "{}";
  rest.is_active = false;
  conv = ok(c().update_conversation("room", rest, 3000));
  EXPECT_EQ(conv.title, "New");
  EXPECT_EQ(conv.participants, (std::vector<UserId>{"u2", "u3"}));
  EXPECT_EQ(conv.settings, R"({"c":[1,2]})");
  EXPECT_EQ(conv.meta, "{}");
  EXPECT_FALSE(conv.is_active);
  EXPECT_EQ(conv.updated_at, 3000);
  EXPECT_EQ(ok(c().get_conversation("room")), conv);

  ConversationPatch bad;
  bad.title = "Never";
  bad.settings = "42";
  EXPECT_EQ(error_of(c().update_conversation("room", bad, 4000)), Errc::invalid_argument);
  EXPECT_EQ(ok(c().get_conversation("room")), conv);
  EXPECT_EQ(error_of(c().update_conversation("nope", title, 1)), Errc::not_found);
}

TEST_P(ConversationStoreConformance, DeleteConversationTakesEverythingWithIt) {
  create("doomed", 0, {"u1"});
  NewMessage given = message("doomed", "alice", "findme unique words", "cid");
  given.id = "reused-id";
  append({given, message("doomed", "bob", "second")});
  ok(c().add_member("doomed", "u2", 1));
  EXPECT_EQ(ok(c().mark_read("doomed", "u2", 2)), 2);
  fill("kept", 1);

  ok(c().delete_conversation("doomed"));
  EXPECT_EQ(error_of(c().get_conversation("doomed")), Errc::not_found);
  EXPECT_TRUE(ok(c().read_after("doomed", 0, 10)).empty());
  EXPECT_EQ(error_of(c().get_message("doomed", 1)), Errc::not_found);
  EXPECT_EQ(ok(c().read_seq("doomed", "u2")), 0);
  ListQuery inbox;
  inbox.user = "u2";
  EXPECT_TRUE(ok(c().list_conversations(inbox)).conversations.empty());
  inbox.user = "u1";
  EXPECT_TRUE(ok(c().list_conversations(inbox)).conversations.empty());
  SearchQuery search;
  search.text = "findme";
  EXPECT_TRUE(ok(c().search(search)).empty());
  EXPECT_EQ(ok(c().count_conversations()), 1);
  EXPECT_EQ(error_of(c().delete_conversation("doomed")), Errc::not_found);

  // The id, the message id and the client id are free again.
  const Appended again = append_one(given);
  EXPECT_FALSE(again.duplicate);
  EXPECT_EQ(again.message.seq, 1);
  EXPECT_EQ(ok(c().get_conversation("doomed")).last_seq, 1);
  EXPECT_EQ(ok(c().read_seq("doomed", "u2")), 0);
}

TEST_P(ConversationStoreConformance, CountConversations) {
  EXPECT_EQ(ok(c().count_conversations()), 0);
  create("a");
  ok(c().ensure_conversation("b", 0));
  fill("c", 1);
  EXPECT_EQ(ok(c().count_conversations()), 3);
  ok(c().delete_conversation("a"));
  EXPECT_EQ(ok(c().count_conversations()), 2);
}

TEST_P(ReadStateStoreConformance, AddMemberRequiresConversation) {
  EXPECT_EQ(error_of(c().add_member("nope", "u1", 1)), Errc::not_found);
  create("room");
  ok(c().add_member("room", "u1", 1));
  ok(c().add_member("room", "u1", 2));  // idempotent
  EXPECT_EQ(error_of(c().add_member("room", "bad user", 1)), Errc::invalid_argument);
}

// --- list_conversations ------------------------------------------------------------------

TEST_P(ListingsConformance, ListNewestUpdatedFirstThenId) {
  create("old", 1000);
  create("mid-b", 2000);
  create("mid-a", 2000);
  create("new", 3000);
  ConversationPage page = ok(c().list_conversations(ListQuery{}));
  EXPECT_EQ(ids(page), (std::vector<ConversationId>{"new", "mid-b", "mid-a", "old"}));
  EXPECT_EQ(page.next_cursor, "");

  // A new message moves a conversation to the top.
  fill("old", 1);
  page = ok(c().list_conversations(ListQuery{}));
  EXPECT_EQ(ids(page).front(), "old");
  ASSERT_TRUE(page.conversations.front().last_message);
  EXPECT_EQ(page.conversations.front().last_message->content, "m1");
  EXPECT_FALSE(page.conversations.front().unread);
  EXPECT_FALSE(page.conversations.back().last_message);
}

TEST_P(ListingsConformance, ListCursorVisitsEveryConversationOnce) {
  std::set<ConversationId> all;
  for (int i = 0; i < 23; ++i) {
    const std::string id = "conv-" + std::to_string(i);
    create(id, 1000 + (i % 7) * 10);  // many share an updated_at
    all.insert(id);
  }
  ListQuery query;
  query.limit = 5;
  std::vector<ConversationId> seen;
  std::vector<std::pair<TimeMs, ConversationId>> order;
  int pages = 0;
  for (;;) {
    const ConversationPage page = ok(c().list_conversations(query));
    ++pages;
    ASSERT_LE(page.conversations.size(), 5u);
    for (const ConversationSummary& summary : page.conversations) {
      seen.push_back(summary.conversation.id);
      order.emplace_back(summary.conversation.updated_at, summary.conversation.id);
    }
    if (page.next_cursor.empty()) break;
    ASSERT_LT(pages, 10);
    query.cursor = page.next_cursor;
  }
  EXPECT_EQ(pages, 5);
  EXPECT_EQ(seen.size(), all.size());
  EXPECT_EQ(std::set<ConversationId>(seen.begin(), seen.end()), all);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end(), std::greater<>()));
}

TEST_P(ListingsConformance, ListExactPageHasNoCursor) {
  for (int i = 0; i < 4; ++i) create("c" + std::to_string(i), 1000 + i);
  ListQuery query;
  query.limit = 4;
  EXPECT_EQ(ok(c().list_conversations(query)).next_cursor, "");
  query.limit = 2;
  const ConversationPage first = ok(c().list_conversations(query));
  ASSERT_NE(first.next_cursor, "");
  query.cursor = first.next_cursor;
  const ConversationPage second = ok(c().list_conversations(query));
  EXPECT_EQ(ids(second), (std::vector<ConversationId>{"c1", "c0"}));
  EXPECT_EQ(second.next_cursor, "");
}

TEST_P(ListingsConformance, ListRejectsForeignCursor) {
  create("a");
  ListQuery query;
  query.cursor = "garbage";
  EXPECT_EQ(error_of(c().list_conversations(query)), Errc::invalid_argument);
  query.cursor = "12x~a";
  EXPECT_EQ(error_of(c().list_conversations(query)), Errc::invalid_argument);
}

TEST_P(ListingsConformance, ListFiltersByTitleOrIdSubstring) {
  NewConversation request;
  request.id = "p1";
  request.title = "Project Apollo";
  ok(c().create_conversation(request));
  request.id = "p2";
  request.title = "apollo notes";
  ok(c().create_conversation(request));
  request.id = "room-apollo";
  request.title = "Untitled";
  ok(c().create_conversation(request));
  request.id = "p4";
  request.title = "Gemini";
  ok(c().create_conversation(request));

  ListQuery query;
  query.q = "APOLLO";
  const auto found = ids(ok(c().list_conversations(query)));
  EXPECT_EQ(std::set<ConversationId>(found.begin(), found.end()),
            (std::set<ConversationId>{"p1", "p2", "room-apollo"}));
  query.q = "gem";
  EXPECT_EQ(ids(ok(c().list_conversations(query))), (std::vector<ConversationId>{"p4"}));
  query.q = "zzz";
  EXPECT_TRUE(ok(c().list_conversations(query)).conversations.empty());
  query.q = "%";  // no wildcard meaning
  EXPECT_TRUE(ok(c().list_conversations(query)).conversations.empty());
}

TEST_P(ListingsConformance, ListForUserIsTheInbox) {
  create("by-participant", 1000, {"u1", "u2"});
  create("by-membership", 2000);
  ok(c().add_member("by-membership", "u1", 2000));
  create("not-mine", 3000, {"u2"});
  fill("by-participant", 3);
  fill("by-membership", 2);
  fill("not-mine", 1);
  EXPECT_EQ(ok(c().mark_read("by-participant", "u1", 1)), 1);
  EXPECT_EQ(ok(c().mark_read("by-membership", "u1", 2)), 2);
  ok(c().edit_message("by-participant", 3, "latest words", std::nullopt, 1));

  ListQuery query;
  query.user = "u1";
  const ConversationPage page = ok(c().list_conversations(query));
  ASSERT_EQ(page.conversations.size(), 2u);
  std::map<ConversationId, ConversationSummary> by_id;
  for (const auto& summary : page.conversations) by_id[summary.conversation.id] = summary;
  ASSERT_TRUE(by_id.contains("by-participant"));
  ASSERT_TRUE(by_id.contains("by-membership"));
  EXPECT_EQ(by_id["by-participant"].unread, 2);
  EXPECT_EQ(by_id["by-membership"].unread, 0);
  ASSERT_TRUE(by_id["by-participant"].last_message);
  EXPECT_EQ(by_id["by-participant"].last_message->seq, 3);
  EXPECT_EQ(by_id["by-participant"].last_message->content, "latest words");
  EXPECT_EQ(by_id["by-participant"].conversation, ok(c().get_conversation("by-participant")));

  query.user = "u3";
  EXPECT_TRUE(ok(c().list_conversations(query)).conversations.empty());

  // Paging and filtering work for an inbox too.
  query.user = "u1";
  query.limit = 1;
  const ConversationPage first = ok(c().list_conversations(query));
  ASSERT_EQ(first.conversations.size(), 1u);
  query.cursor = first.next_cursor;
  const ConversationPage second = ok(c().list_conversations(query));
  ASSERT_EQ(second.conversations.size(), 1u);
  EXPECT_EQ(second.next_cursor, "");
  EXPECT_NE(first.conversations[0].conversation.id, second.conversations[0].conversation.id);
  query = ListQuery{};
  query.user = "u1";
  query.q = "membership";
  EXPECT_EQ(ids(ok(c().list_conversations(query))), (std::vector<ConversationId>{"by-membership"}));
}

TEST_P(ListingsConformance, RemovedParticipantLeavesTheInbox) {
  create("private", 1000, {"u1", "u2"});
  ConversationPatch patch;
  patch.participants = std::vector<UserId>{"u1"};
  ok(c().update_conversation("private", patch, 2000));
  ListQuery query;
  query.user = "u2";
  EXPECT_TRUE(ok(c().list_conversations(query)).conversations.empty());
  query.user = "u1";
  EXPECT_EQ(ids(ok(c().list_conversations(query))), (std::vector<ConversationId>{"private"}));
}

// Restricting a conversation (a non-empty participants list) removes every other member,
// whoever joined while it was open; opening it again makes nobody leave. (Issue 14: a user
// who had joined while it was open kept it in her inbox, with its newest message and an
// unread count, after an admin restricted it to two others.)
TEST_P(ListingsConformance, RestrictingParticipantsRemovesEveryOtherMember) {
  create("room", 1000);
  ok(c().add_member("room", "u1", 1100));
  ok(c().add_member("room", "u3", 1200));
  fill("room", 2);
  const auto inbox = [&](const UserId& user) {
    ListQuery query;
    query.user = user;
    return ids(ok(c().list_conversations(query)));
  };
  const auto members = [&] {
    std::vector<UserId> out;
    for (const MemberState& m : ok(c().member_states("room"))) {
      if (m.joined_at) out.push_back(m.user);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  const std::vector<ConversationId> listed{"room"};
  const std::vector<ConversationId> none;
  ASSERT_EQ(inbox("u3"), listed);

  ConversationPatch patch;
  patch.participants = std::vector<UserId>{"u1", "u2"};
  ok(c().update_conversation("room", patch, 2000));
  EXPECT_EQ(inbox("u3"), none);
  EXPECT_EQ(inbox("u1"), listed);
  EXPECT_EQ(inbox("u2"), listed);
  EXPECT_EQ(members(), (std::vector<UserId>{"u1", "u2"}));

  // Opened again: nobody leaves, nobody comes back.
  patch.participants = std::vector<UserId>{};
  ok(c().update_conversation("room", patch, 3000));
  EXPECT_EQ(members(), (std::vector<UserId>{"u1", "u2"}));
  EXPECT_EQ(inbox("u3"), none);

  // A whole replacement (REST PUT) restricts the same way.
  ok(c().add_member("room", "u4", 3100));
  WholeConversation whole;
  whole.id = "room";
  whole.participants = {"u2"};
  ok(c().replace_conversation(whole));
  EXPECT_EQ(members(), (std::vector<UserId>{"u2"}));
  EXPECT_EQ(inbox("u4"), none);
  EXPECT_EQ(inbox("u1"), none);
}

// --- read state --------------------------------------------------------------------------

TEST_P(ReadStateStoreConformance, MarkReadNeverLowersAndClampsToLastSeq) {
  fill("room", 5);
  EXPECT_EQ(ok(c().read_seq("room", "u1")), 0);
  EXPECT_EQ(ok(c().mark_read("room", "u1", 3)), 3);
  EXPECT_EQ(ok(c().mark_read("room", "u1", 2)), 3);
  EXPECT_EQ(ok(c().read_seq("room", "u1")), 3);
  EXPECT_EQ(ok(c().mark_read("room", "u1", 99)), 5);
  EXPECT_EQ(ok(c().read_seq("room", "u1")), 5);
  EXPECT_EQ(ok(c().mark_read("room", "u1", -1)), 5);
  EXPECT_EQ(ok(c().read_seq("room", "u2")), 0);
  EXPECT_EQ(ok(c().mark_read("room", "u2", 0)), 0);
  fill("room", 2);
  EXPECT_EQ(ok(c().mark_read("room", "u1", 7)), 7);
  EXPECT_EQ(error_of(c().mark_read("nowhere", "u1", 1)), Errc::not_found);
  EXPECT_EQ(ok(c().read_seq("nowhere", "u1")), 0);
  EXPECT_EQ(error_of(c().get_conversation("nowhere")), Errc::not_found);
}

TEST_P(ReadStateStoreConformance, SendingMarksTheConversationReadForItsSender) {
  append({message("room", "alice", "a1"), message("room", "bob", "b1"),
          message("room", "alice", "a2"), message("other", "alice", "elsewhere"),
          message("room", "bob", "b2")});
  EXPECT_EQ(ok(c().read_seq("room", "alice")), 3);
  EXPECT_EQ(ok(c().read_seq("room", "bob")), 4);
  EXPECT_EQ(ok(c().read_seq("other", "alice")), 1);
  EXPECT_EQ(ok(c().read_seq("room", "carol")), 0);

  // Never lowered: a read mark past one's own message stays, and a resend (duplicate) of an
  // older message changes nothing.
  EXPECT_EQ(ok(c().mark_read("room", "bob", 4)), 4);
  append({message("room", "carol", "c1", "cid-1")});
  EXPECT_EQ(ok(c().mark_read("room", "alice", 5)), 5);
  EXPECT_EQ(ok(c().read_seq("room", "carol")), 5);
  fill("room", 1);  // seq 6, from alice
  EXPECT_TRUE(append({message("room", "carol", "c1", "cid-1")}).at(0).duplicate);
  EXPECT_EQ(ok(c().read_seq("room", "carol")), 5);
  EXPECT_EQ(ok(c().read_seq("room", "alice")), 6);

  // The inbox counts only what others sent after one's last read or sent message.
  ok(c().add_member("room", "alice", 1));
  ok(c().add_member("room", "carol", 1));
  ListQuery query;
  query.user = "alice";
  ASSERT_EQ(ok(c().list_conversations(query)).conversations.size(), 1u);
  EXPECT_EQ(ok(c().list_conversations(query)).conversations[0].unread, 0);
  query.user = "carol";
  EXPECT_EQ(ok(c().list_conversations(query)).conversations.at(0).unread, 1);
}

// --- memberships -------------------------------------------------------------------------

TEST_P(ReadStateStoreConformance, AddMembersRecordsEachAndSkipsMissingConversations) {
  create("one", 1000);
  create("two", 2000);
  const std::vector<Membership> members{{"one", "u1", 10},
                                        {"two", "u1", 20},
                                        {"gone", "u1", 30},
                                        {"one", "u2", 40},
                                        {"one", "u1", 50}};  // a repeat keeps the first joined_at
  ok(c().add_members(members));
  EXPECT_EQ(ok(c().member_states("one")), (std::vector<MemberState>{{"u1", 10, 0}, {"u2", 40, 0}}));
  EXPECT_EQ(ok(c().member_states("two")), (std::vector<MemberState>{{"u1", 20, 0}}));
  EXPECT_EQ(error_of(c().get_conversation("gone")), Errc::not_found);
  ok(c().add_members({}));
  const std::vector<Membership> bad{{"one", "u3", 1}, {"one", "bad user", 1}};
  EXPECT_EQ(error_of(c().add_members(bad)), Errc::invalid_argument);
  EXPECT_EQ(ok(c().member_states("one")).size(), 2u);  // all or nothing
}

// --- users -------------------------------------------------------------------------------

TEST_P(UserStoreConformance, UpsertUserKeepsStoredFieldsWhenEmpty) {
  EXPECT_EQ(error_of(c().get_user("ada")), Errc::not_found);
  ok(c().upsert_user(User{"ada", "Ada", "https://img.test/ada.png", "wizard", std::nullopt}));
  EXPECT_EQ(ok(c().get_user("ada")),
            (User{"ada", "Ada", "https://img.test/ada.png", "wizard", std::nullopt}));
  ok(c().upsert_user(User{"ada", "", "", "", std::nullopt}));
  EXPECT_EQ(ok(c().get_user("ada")),
            (User{"ada", "Ada", "https://img.test/ada.png", "wizard", std::nullopt}));
  ok(c().upsert_user(User{"ada", "Ada L.", "", "participant", 5000}));
  EXPECT_EQ(ok(c().get_user("ada")),
            (User{"ada", "Ada L.", "https://img.test/ada.png", "participant", 5000}));
  ok(c().upsert_user(User{"ada", "", "", "", std::nullopt}));
  EXPECT_EQ(ok(c().get_user("ada")).last_seen, 5000);
  EXPECT_EQ(error_of(c().upsert_user(User{"", "x", "", "", std::nullopt})), Errc::invalid_argument);
}

// Issue 13: Storage writes a burst of logins in one call. In order, a later upsert of the
// same id merging into the earlier; all or nothing when an id is bad.
TEST_P(UserStoreConformance, UpsertUsersInOrderAllOrNothing) {
  ok(c().upsert_users({}));
  const std::vector<User> burst{{"ada", "Ada", "a.png", "wizard", std::nullopt},
                                {"bob", "Bob", "", "user", 7},
                                {"ada", "Ada L.", "", "", std::nullopt}};
  ok(c().upsert_users(burst));
  EXPECT_EQ(ok(c().get_user("ada")), (User{"ada", "Ada L.", "a.png", "wizard", std::nullopt}));
  EXPECT_EQ(ok(c().get_user("bob")), (User{"bob", "Bob", "", "user", 7}));
  const std::vector<User> bad{{"cy", "Cy", "", "user", std::nullopt},
                              {"bad user", "x", "", "", std::nullopt}};
  EXPECT_EQ(error_of(c().upsert_users(bad)), Errc::invalid_argument);
  EXPECT_EQ(error_of(c().get_user("cy")), Errc::not_found);
}

TEST_P(UserStoreConformance, SetLastSeen) {
  ok(c().upsert_user(User{"bob", "Bob", "", "user", std::nullopt}));
  ok(c().set_last_seen("bob", 1234));
  EXPECT_EQ(ok(c().get_user("bob")), (User{"bob", "Bob", "", "user", 1234}));
  ok(c().set_last_seen("bob", 1000));  // the latest call wins
  EXPECT_EQ(ok(c().get_user("bob")).last_seen, 1000);
  // A user seen before ever being saved gets a bare record.
  ok(c().set_last_seen("ghost", 77));
  EXPECT_EQ(ok(c().get_user("ghost")), (User{"ghost", "", "", "", 77}));
}

// --- whole-store listings (migrate) --------------------------------------------------------

TEST_P(ListingsConformance, ForEachUserListsEveryUserInIdOrder) {
  ok(c().upsert_user(User{"bob", "Bob", "", "user", std::nullopt}));
  ok(c().set_last_seen("ghost", 77));  // never saved otherwise
  ok(c().upsert_user(User{"Ada", "Ada", "a.png", "wizard", 5}));
  std::vector<User> seen;
  ok(c().for_each_user([&](const User& u) {
    seen.push_back(u);
    return true;
  }));
  EXPECT_EQ(seen, (std::vector<User>{{"Ada", "Ada", "a.png", "wizard", 5},
                                     {"bob", "Bob", "", "user", std::nullopt},
                                     {"ghost", "", "", "", 77}}));
  int calls = 0;
  ok(c().for_each_user([&](const User&) { return ++calls < 2; }));
  EXPECT_EQ(calls, 2);  // stopped when told
}

TEST_P(ReadStateStoreConformance, MemberStatesJoinMembersAndReadState) {
  fill("room", 5);
  ok(c().add_member("room", "u2", 1000));
  ok(c().add_member("room", "u1", 2000));
  ok(c().mark_read("room", "u1", 3));
  ok(c().mark_read("room", "u3", 4));  // read state without membership
  // alice sent the five messages: what one sends counts as read.
  EXPECT_EQ(
      ok(c().member_states("room")),
      (std::vector<store::MemberState>{
          {"alice", std::nullopt, 5}, {"u1", 2000, 3}, {"u2", 1000, 0}, {"u3", std::nullopt, 4}}));
  EXPECT_TRUE(ok(c().member_states("nowhere")).empty());
}

// --- search ------------------------------------------------------------------------------

TEST_P(SearchIndexConformance, SearchFindsWords) {
  append({message("r1", "alice", "Hello world, how are you?"), message("r1", "bob", "hello there"),
          message("r2", "carol", "goodbye world"), message("r2", "dave", "nothing relevant")});
  SearchQuery query;
  query.text = "hello";
  auto hits = ok(c().search(query));
  ASSERT_EQ(hits.size(), 2u);
  for (const SearchHit& hit : hits) {
    EXPECT_EQ(hit.message.conversation, "r1");
    std::string lower = hit.snippet;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_NE(lower.find("hello"), std::string::npos) << hit.snippet;
  }
  EXPECT_EQ(ok(c().get_message(hits[0].message.conversation, hits[0].message.seq)),
            hits[0].message);

  query.text = "WORLD hello";  // every word, any case, any order
  hits = ok(c().search(query));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].message.seq, 1);

  query.text = "world";
  EXPECT_EQ(ok(c().search(query)).size(), 2u);
  query.conversation = "r2";
  hits = ok(c().search(query));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].message.content, "goodbye world");

  query = SearchQuery{};
  query.text = "good";  // words match by prefix, as typed
  EXPECT_EQ(ok(c().search(query)).size(), 1u);
  query.text = "absent";
  EXPECT_TRUE(ok(c().search(query)).empty());
  query.text = "   ";
  EXPECT_TRUE(ok(c().search(query)).empty());
  query.text = "\"hello\" AND (world OR NOT* -x";  // operators are just words
  EXPECT_TRUE(c().search(query).has_value());
  query.text = "hello";
  query.limit = 1;
  EXPECT_EQ(ok(c().search(query)).size(), 1u);
}

TEST_P(SearchIndexConformance, SearchSkipsDeletedAndFollowsEdits) {
  append({message("room", "alice", "the quick brown fox"), message("room", "alice", "a lazy dog")});
  ok(c().delete_message("room", 1, std::nullopt, 1));
  ok(c().edit_message("room", 2, "a sleepy cat", std::nullopt, 1));
  SearchQuery query;
  for (const std::string gone : {"quick", "fox", "lazy", "dog"}) {
    query.text = gone;
    EXPECT_TRUE(ok(c().search(query)).empty()) << gone;
  }
  query.text = "sleepy";
  const auto hits = ok(c().search(query));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].message.seq, 2);
}

// --- for_each_message --------------------------------------------------------------------

TEST_P(MessageStoreConformance, ForEachMessageInOrderWithEarlyStop) {
  std::vector<NewMessage> batch;
  for (int i = 1; i <= 600; ++i) batch.push_back(message("big", "alice", std::to_string(i)));
  append(batch);
  fill("other", 3);

  std::vector<Seq> visited;
  ok(c().for_each_message("big", 100, [&](const StoredMessage& msg) {
    EXPECT_EQ(msg.conversation, "big");
    EXPECT_EQ(msg.content, std::to_string(msg.seq));
    visited.push_back(msg.seq);
    return true;
  }));
  EXPECT_EQ(visited, range(101, 600));

  int calls = 0;
  ok(c().for_each_message("big", 0, [&](const StoredMessage&) { return ++calls < 10; }));
  EXPECT_EQ(calls, 10);

  calls = 0;
  ok(c().for_each_message("nowhere", 0, [&](const StoredMessage&) { return ++calls > 0; }));
  ok(c().for_each_message("big", 600, [&](const StoredMessage&) { return ++calls > 0; }));
  EXPECT_EQ(calls, 0);
}

// --- replace_conversation ----------------------------------------------------------------

TEST_P(ConversationStoreConformance, ReplaceConversationReplacesItsMessages) {
  create("saved", 1000, {"u1"});
  append({message("saved", "alice", "oldword one"), message("saved", "alice", "old two", "cid")});
  fill("saved", 3);
  EXPECT_EQ(ok(c().mark_read("saved", "u1", 5)), 5);
  const MessageId old_id = ok(c().get_message("saved", 1)).id;

  WholeConversation whole;
  whole.id = "saved";
  whole.title = "Saved session";
  whole.settings = R"({"x": true})";
  whole.meta = R"({"source":"import"})";
  whole.participants = {"u1", "u9"};
  whole.updated_at = 9000;
  for (int i = 1; i <= 3; ++i) {
    NewMessage msg =
        message("ignored", i % 2 ? "participant" : "wizard", "new " + std::to_string(i));
    msg.created_at = 5000 + i;
    whole.messages.push_back(msg);
  }
  whole.messages[1].client_id = "cid";  // free again: the old messages are gone
  const Conversation conv = ok(c().replace_conversation(whole));
  EXPECT_EQ(conv.title, "Saved session");
  EXPECT_EQ(conv.created_at, 1000);  // 0: kept
  EXPECT_EQ(conv.updated_at, 9000);
  EXPECT_EQ(conv.last_seq, 3);
  EXPECT_EQ(conv.message_count, 3);
  EXPECT_EQ(conv.settings, R"({"x":true})");
  EXPECT_EQ(conv.meta, R"({"source":"import"})");
  EXPECT_EQ(conv.participants, (std::vector<UserId>{"u1", "u9"}));
  EXPECT_EQ(ok(c().get_conversation("saved")), conv);

  const auto messages = ok(c().read_after("saved", 0, 100));
  ASSERT_EQ(messages.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(messages[i].seq, i + 1);
    EXPECT_EQ(messages[i].conversation, "saved");
    EXPECT_EQ(messages[i].content, "new " + std::to_string(i + 1));
    EXPECT_EQ(messages[i].created_at, 5001 + i);
  }
  EXPECT_EQ(messages[1].client_id, "cid");
  for (const auto& msg : messages) EXPECT_NE(msg.id, old_id);
  EXPECT_EQ(ok(c().read_seq("saved", "u1")), 3);  // clamped to the new last_seq

  SearchQuery search;
  search.text = "oldword";
  EXPECT_TRUE(ok(c().search(search)).empty());
  ListQuery inbox;
  inbox.user = "u9";
  EXPECT_EQ(ids(ok(c().list_conversations(inbox))), (std::vector<ConversationId>{"saved"}));

  // Appends continue after the replaced history.
  EXPECT_EQ(append_one(message("saved", "alice", "after")).message.seq, 4);
}

TEST_P(ConversationStoreConformance, ReplaceConversationCreatesWhenAbsent) {
  WholeConversation whole;
  whole.id = "imported";
  whole.title = "From the old app";
  whole.created_at = 1234;
  NewMessage msg = message("imported", "user", "hi");
  msg.id = "legacy-1";
  whole.messages.push_back(msg);
  const TimeMs before = now_ms();
  const Conversation conv = ok(c().replace_conversation(whole));
  EXPECT_EQ(conv.created_at, 1234);
  EXPECT_GE(conv.updated_at, before);  // 0: now
  EXPECT_TRUE(conv.is_active);
  EXPECT_EQ(conv.last_seq, 1);
  const StoredMessage stored = ok(c().get_message("imported", 1));
  EXPECT_EQ(stored.id, "legacy-1");
  EXPECT_GE(stored.created_at, before);  // 0: now

  // Replacing with its own message ids again is fine; an empty list empties it.
  EXPECT_EQ(ok(c().replace_conversation(whole)).last_seq, 1);
  whole.messages.clear();
  const Conversation empty = ok(c().replace_conversation(whole));
  EXPECT_EQ(empty.last_seq, 0);
  EXPECT_EQ(empty.message_count, 0);
  EXPECT_TRUE(ok(c().read_after("imported", 0, 10)).empty());
}

// An import's conversation in one call: seqs from first_seq (a pruned export), edited and
// deleted states, read seqs. Stored as prune, edit_message, delete_message and mark_read
// would have left it.
TEST_P(ConversationStoreConformance, ReplaceConversationCarriesSeqsStatesAndReadSeqs) {
  create("imp", 1000);
  fill("imp", 2);
  EXPECT_EQ(ok(c().mark_read("imp", "u1", 2)), 2);
  WholeConversation whole;
  whole.id = "imp";
  whole.first_seq = 5;
  for (int i = 1; i <= 4; ++i) {
    NewMessage msg = message("imp", "alice", "text " + std::to_string(i));
    msg.meta = R"({"k":1})";
    msg.created_at = 7000 + i;
    whole.messages.push_back(msg);
  }
  whole.states = {{1, 9000, false}, {2, 9500, true}, {3, std::nullopt, true}};
  whole.read_seqs = {{"u1", 6}, {"u2", 100}, {"u3", 0}};
  const Conversation conv = ok(c().replace_conversation(whole));
  EXPECT_EQ(conv.last_seq, 8);
  EXPECT_EQ(conv.message_count, 4);
  const auto messages = ok(c().read_after("imp", 0, 10));
  EXPECT_EQ(seqs(messages), range(5, 8));
  EXPECT_EQ(messages[0].content, "text 1");
  EXPECT_EQ(messages[0].edited_at, std::nullopt);
  EXPECT_FALSE(messages[0].deleted);
  EXPECT_EQ(messages[1].content, "text 2");
  EXPECT_EQ(messages[1].edited_at, 9000);
  EXPECT_FALSE(messages[1].deleted);
  EXPECT_TRUE(messages[2].deleted);
  EXPECT_EQ(messages[2].content, "");
  EXPECT_EQ(messages[2].meta, "{}");
  EXPECT_EQ(messages[2].edited_at, 9500);
  EXPECT_TRUE(messages[3].deleted);
  EXPECT_EQ(messages[3].edited_at, 7004);       // no time given: its created_at
  EXPECT_EQ(ok(c().read_seq("imp", "u1")), 6);  // clamped to 2 by the replace, raised to 6
  EXPECT_EQ(ok(c().read_seq("imp", "u2")), 8);  // never past last_seq
  EXPECT_EQ(ok(c().read_seq("imp", "u3")), 0);
  SearchQuery search;
  search.text = "text";
  ok(c().index_pending(1000));
  EXPECT_EQ(ok(c().search(search)).size(), 2u);  // deleted messages are not found
  EXPECT_EQ(append_one(message("imp", "bob", "next")).message.seq, 9);

  // Bad states and seqs are refused, and change nothing.
  whole.first_seq = 0;
  EXPECT_EQ(error_of(c().replace_conversation(whole)), Errc::invalid_argument);
  whole.first_seq = 1;
  whole.states = {{4, std::nullopt, true}};
  EXPECT_EQ(error_of(c().replace_conversation(whole)), Errc::invalid_argument);
  EXPECT_EQ(ok(c().get_conversation("imp")).last_seq, 9);
}

TEST_P(ConversationStoreConformance, FailedReplaceChangesNothing) {
  create("keep", 1000);
  fill("keep", 2);
  const Conversation before = ok(c().get_conversation("keep"));
  WholeConversation whole;
  whole.id = "keep";
  whole.title = "Changed";
  whole.messages = {message("keep", "alice", "a", "same"), message("keep", "alice", "b", "same")};
  EXPECT_EQ(error_of(c().replace_conversation(whole)), Errc::conflict);
  whole.messages = {message("keep", "alice", "a")};
  whole.messages[0].meta = "nope";
  EXPECT_EQ(error_of(c().replace_conversation(whole)), Errc::invalid_argument);
  fill("other", 1);
  whole.messages = {message("keep", "alice", "a")};
  whole.messages[0].id = ok(c().get_message("other", 1)).id;  // another conversation's id
  EXPECT_EQ(error_of(c().replace_conversation(whole)), Errc::conflict);
  whole.id = "bad id";
  EXPECT_EQ(error_of(c().replace_conversation(whole)), Errc::invalid_argument);

  EXPECT_EQ(ok(c().get_conversation("keep")), before);
  EXPECT_EQ(seqs(ok(c().read_after("keep", 0, 10))), range(1, 2));
}

// --- the change log ----------------------------------------------------------------------

// The conversations of changes_after, in the order given.
std::vector<ConversationId> changed(const std::vector<ConversationChange>& changes) {
  std::vector<ConversationId> out;
  for (const auto& change : changes) out.push_back(change.conversation);
  return out;
}

TEST_P(ConversationStoreConformance, ReplaceDeleteAndPruneAreNumberedInTheChangeLog) {
  EXPECT_EQ(ok(c().last_change()), 0);
  // Appends, creations, edits and updates of other fields than the participants are not
  // changes: a cache follows them itself.
  fill("a", 3);
  create("b", 1000);
  ok(c().edit_message("a", 1, "edited", std::nullopt, 5000));
  ConversationPatch patch;
  patch.title = "B";
  ok(c().update_conversation("b", patch, 5000));
  EXPECT_EQ(ok(c().last_change()), 0);
  EXPECT_TRUE(ok(c().changes_after(0, 10)).empty());

  WholeConversation whole;
  whole.id = "b";
  whole.messages = {message("b", "alice", "x")};
  ok(c().replace_conversation(whole));
  const std::int64_t first = ok(c().last_change());
  EXPECT_GT(first, 0);
  EXPECT_EQ(ok(c().changes_after(0, 10)), (std::vector<ConversationChange>{{"b", first}}));
  EXPECT_TRUE(ok(c().changes_after(first, 10)).empty());

  // A failed replace, a dry run and a prune that removes nothing change nothing.
  whole.messages = {message("b", "alice", "x", "same"), message("b", "alice", "y", "same")};
  EXPECT_EQ(error_of(c().replace_conversation(whole)), Errc::conflict);
  EXPECT_EQ(ok(c().prune("a", 1, std::nullopt, true)), 2);
  EXPECT_EQ(ok(c().prune("a", 5, std::nullopt, false)), 0);
  EXPECT_EQ(ok(c().last_change()), first);

  EXPECT_EQ(ok(c().prune("a", 1, std::nullopt, false)), 2);
  const std::int64_t pruned = ok(c().last_change());
  EXPECT_GT(pruned, first);
  ok(c().delete_conversation("b"));
  const std::int64_t deleted = ok(c().last_change());
  EXPECT_GT(deleted, pruned);
  // b is listed once, with its latest number, after a.
  EXPECT_EQ(ok(c().changes_after(0, 10)),
            (std::vector<ConversationChange>{{"a", pruned}, {"b", deleted}}));
  EXPECT_EQ(changed(ok(c().changes_after(0, 1))), std::vector<ConversationId>{"a"});
  EXPECT_EQ(changed(ok(c().changes_after(pruned, 10))), std::vector<ConversationId>{"b"});
  // A missing conversation's delete is no change.
  EXPECT_EQ(error_of(c().delete_conversation("b")), Errc::not_found);
  EXPECT_EQ(ok(c().last_change()), deleted);
}

// Issue 14, item 8: restricting the participants evicts members from live rooms, and each
// server has only its own members; another server (or a PATCH whose bus event was lost
// while Redis was away) learns of it from the change log.
TEST_P(ConversationStoreConformance, AParticipantsUpdateIsNumberedInTheChangeLog) {
  create("p", 1000);
  ConversationPatch title;
  title.title = "P";
  ok(c().update_conversation("p", title, 2000));
  EXPECT_EQ(ok(c().last_change()), 0);
  ConversationPatch restrict;
  restrict.participants = std::vector<UserId>{"alice"};
  ok(c().update_conversation("p", restrict, 3000));
  const std::int64_t restricted = ok(c().last_change());
  EXPECT_GT(restricted, 0);
  EXPECT_EQ(ok(c().changes_after(0, 10)), (std::vector<ConversationChange>{{"p", restricted}}));
  // A missing conversation's update is no change.
  EXPECT_EQ(error_of(c().update_conversation("nope", restrict, 3000)), Errc::not_found);
  EXPECT_EQ(ok(c().last_change()), restricted);
}

// What a server's poller relies on: whatever it has seen, no change numbered at or below it
// commits later, however many connections change conversations at once.
TEST_P(DatabaseConformance, ChangeNumbersRiseInCommitOrderAcrossConnections) {
  constexpr int kWriters = 3;
  constexpr int kRounds = 30;
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  std::atomic<int> running{kWriters};
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      auto conn = db_->connect();
      for (int r = 0; conn && r < kRounds; ++r) {
        WholeConversation whole;
        whole.id = "c" + std::to_string(t) + "-" + std::to_string(r % 4);
        whole.messages = {message(whole.id, "alice", "round " + std::to_string(r))};
        if (!(*conn)->replace_conversation(whole)) ++failures;
      }
      if (!conn) ++failures;
      --running;
    });
  }
  // The poller: what it saw last of each conversation.
  auto poller = ok(db_->connect());
  std::map<ConversationId, std::int64_t> seen;
  std::int64_t after = 0;
  auto poll = [&] {
    for (const auto& change : ok(poller->changes_after(after, 1000))) {
      EXPECT_GT(change.number, after);
      after = change.number;
      seen[change.conversation] = change.number;
    }
  };
  while (running > 0) poll();
  for (auto& w : writers) w.join();
  poll();
  EXPECT_EQ(failures.load(), 0);
  std::map<ConversationId, std::int64_t> final_numbers;
  for (const auto& change : ok(c().changes_after(0, 1000))) {
    final_numbers[change.conversation] = change.number;
  }
  EXPECT_EQ(final_numbers.size(), static_cast<std::size_t>(kWriters * 4));
  EXPECT_EQ(seen, final_numbers);
  EXPECT_EQ(ok(c().last_change()), after);
}

// --- content ------------------------------------------------------------------------------

TEST_P(MessageStoreConformance, UnicodeRoundTripsByteForByte) {
  const std::vector<std::string> samples = {
      "👋🏽 hi 👨‍👩‍👧‍👦 🇯🇵",  // emoji, skin tone, ZWJ family, flag
      "你好，世界。日本語のテキスト。한국어",            // CJK
      "e\xCC\x81 vs \xC3\xA9 and a\xCC\x8A\xCC\x81",     // combining marks vs precomposed
      "مرحبا بالعالم עברית",                             // right to left
      "zero\u200Bwidth\u200Dspace and tab\tnewline\nend",
      std::string("nul\0inside", 10),
  };
  std::vector<NewMessage> batch;
  for (const std::string& text : samples) {
    NewMessage msg = message("unicode", "ユーザー", text);
    msg.sender.name = "Zoë 🎉";
    msg.meta = R"({"note":"ünïcödé ✓"})";
    batch.push_back(msg);
  }
  append(batch);
  const auto stored = ok(c().read_after("unicode", 0, 100));
  ASSERT_EQ(stored.size(), samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    EXPECT_EQ(stored[i].content, samples[i]) << i;
    EXPECT_EQ(stored[i].content.size(), samples[i].size()) << i;
    EXPECT_EQ(stored[i].sender.id, "ユーザー");
    EXPECT_EQ(stored[i].sender.name, "Zoë 🎉");
    EXPECT_EQ(stored[i].meta, R"({"note":"ünïcödé ✓"})");
  }
  const auto page = ok(c().list_conversations(ListQuery{}));
  ASSERT_EQ(page.conversations.size(), 1u);
  EXPECT_EQ(page.conversations[0].last_message->content, samples.back());

  NewConversation request;
  request.id = "titled";
  request.title = "Café ☕ 会議";
  ok(c().create_conversation(request));
  EXPECT_EQ(ok(c().get_conversation("titled")).title, "Café ☕ 会議");
  ok(c().edit_message("unicode", 1, samples[1], std::nullopt, 1));
  EXPECT_EQ(ok(c().get_message("unicode", 1)).content, samples[1]);
}

TEST_P(MessageStoreConformance, OneMebibyteContentRoundTrips) {
  std::string content;
  content.reserve(1 << 20);
  const std::string pattern = "0123456789abcdef—ü😀 ";  // 1-, 2-, 3- and 4-byte sequences
  while (content.size() + pattern.size() <= (1u << 20)) content += pattern;
  content.append((1u << 20) - content.size(), 'x');
  ASSERT_EQ(content.size(), 1u << 20);
  const StoredMessage stored = append_one(message("big", "alice", content)).message;
  EXPECT_TRUE(stored.content == content);
  const StoredMessage read = ok(c().get_message("big", 1));
  EXPECT_EQ(read.content.size(), content.size());
  EXPECT_TRUE(read.content == content);
}

// --- connections ---------------------------------------------------------------------------

TEST_P(DatabaseConformance, ConnectionsShareOneDatabase) {
  auto other = ok(db_->connect());
  fill("shared", 2);
  EXPECT_EQ(seqs(ok(other->read_after("shared", 0, 10))), range(1, 2));
  ASSERT_TRUE(other->append_batch(std::vector<NewMessage>{message("shared", "bob", "x")}));
  EXPECT_EQ(ok(c().get_conversation("shared")).last_seq, 3);
}

TEST_P(DatabaseConformance, ConcurrentWritersGetDistinctGaplessSeqs) {
  constexpr int kThreads = 3;
  constexpr int kBatches = 20;
  constexpr int kPerBatch = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto conn = db_->connect();
      if (!conn) {
        ++failures;
        return;
      }
      for (int b = 0; b < kBatches; ++b) {
        std::vector<NewMessage> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          batch.push_back(message("busy", "w" + std::to_string(t), "x",
                                  std::to_string(b) + "-" + std::to_string(i)));
        }
        if (!(*conn)->append_batch(batch)) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  constexpr Seq kTotal = kThreads * kBatches * kPerBatch;
  EXPECT_EQ(seqs(ok(c().read_after("busy", 0, 10'000))), range(1, kTotal));
  EXPECT_EQ(ok(c().get_conversation("busy")).message_count, kTotal);
}

// --- prune (retention) -------------------------------------------------------------------

// `count` messages from alice, message i created at base + i seconds.
void fill_timed(Connection& c, const ConversationId& conversation, int count, TimeMs base) {
  std::vector<NewMessage> batch;
  for (int i = 1; i <= count; ++i) {
    NewMessage msg =
        message(conversation, "alice", "m" + std::to_string(i), "cid-" + std::to_string(i));
    msg.created_at = base + i * 1000;
    batch.push_back(msg);
  }
  ok(c.append_batch(batch));
}

TEST_P(MessageStoreConformance, PruneKeepLastRemovesTheOldestAndKeepsSeqs) {
  fill_timed(c(), "room", 10, 1'000'000);
  ok(c().mark_read("room", "bob", 7));
  EXPECT_EQ(ok(c().prune("room", 4, std::nullopt, true)), 6);  // dry run
  EXPECT_EQ(ok(c().get_conversation("room")).message_count, 10);
  EXPECT_EQ(ok(c().prune("room", 4, std::nullopt, false)), 6);
  EXPECT_EQ(seqs(ok(c().read_after("room", 0, 100))), range(7, 10));
  EXPECT_EQ(seqs(ok(c().read_before("room", kLatest, 100))), range(7, 10));
  EXPECT_EQ(seqs(ok(c().read_before("room", 9, 5))), range(7, 8));
  EXPECT_EQ(error_of(c().get_message("room", 6)), Errc::not_found);
  EXPECT_EQ(ok(c().get_message("room", 7)).content, "m7");
  const Conversation conv = ok(c().get_conversation("room"));
  EXPECT_EQ(conv.last_seq, 10);
  EXPECT_EQ(conv.message_count, 4);
  EXPECT_EQ(ok(c().read_seq("room", "bob")), 7);
  // Appends go on from last_seq; pruning again with the same rule removes only the excess.
  fill("room", 1);
  EXPECT_EQ(ok(c().get_message("room", 11)).content, "m1");
  EXPECT_EQ(ok(c().prune("room", 4, std::nullopt, false)), 1);
  EXPECT_EQ(ok(c().prune("room", 4, std::nullopt, false)), 0);
  EXPECT_EQ(seqs(ok(c().read_after("room", 0, 100))), range(8, 11));
  std::vector<Seq> streamed;
  ok(c().for_each_message("room", 0, [&](const StoredMessage& m) {
    streamed.push_back(m.seq);
    return true;
  }));
  EXPECT_EQ(streamed, range(8, 11));
}

TEST_P(MessageStoreConformance, PruneOlderThanRemovesTheOldestRun) {
  fill_timed(c(), "room", 6, 1'000'000);  // created at 1'001'000 .. 1'006'000
  EXPECT_EQ(ok(c().prune("room", std::nullopt, 1'003'500, false)), 3);
  EXPECT_EQ(seqs(ok(c().read_after("room", 0, 100))), range(4, 6));
  // Both rules: whichever removes more.
  EXPECT_EQ(ok(c().prune("room", 1, 1'004'500, true)), 2);
  EXPECT_EQ(ok(c().prune("room", 2, 1'004'500, false)), 1);
  EXPECT_EQ(seqs(ok(c().read_after("room", 0, 100))), range(5, 6));
  // Everything older: the conversation stays, empty, with its last_seq.
  EXPECT_EQ(ok(c().prune("room", std::nullopt, 9'000'000, false)), 2);
  const Conversation conv = ok(c().get_conversation("room"));
  EXPECT_EQ(conv.message_count, 0);
  EXPECT_EQ(conv.last_seq, 6);
  EXPECT_TRUE(ok(c().read_before("room", kLatest, 10)).empty());
  EXPECT_EQ(append_one(message("room", "alice", "after")).message.seq, 7);
}

TEST_P(MessageStoreConformance, PruneRules) {
  EXPECT_EQ(error_of(c().prune("nowhere", 1, std::nullopt, false)), Errc::not_found);
  fill("room", 3);
  EXPECT_EQ(error_of(c().prune("room", -1, std::nullopt, false)), Errc::invalid_argument);
  EXPECT_EQ(ok(c().prune("room", std::nullopt, std::nullopt, false)), 0);
  EXPECT_EQ(ok(c().prune("room", 5, std::nullopt, false)), 0);
  EXPECT_EQ(ok(c().prune("room", 0, std::nullopt, false)), 3);
  // Removed messages leave search.
  EXPECT_TRUE(ok(c().search({"m1", "room", 10})).empty());
}

TEST_P(MessageStoreConformance, ReplaceAfterPruneNumbersFromOne) {
  fill("room", 5);
  ok(c().prune("room", 2, std::nullopt, false));
  WholeConversation whole;
  whole.id = "room";
  whole.messages = {message("room", "alice", "a"), message("room", "alice", "b")};
  ok(c().replace_conversation(whole));
  EXPECT_EQ(seqs(ok(c().read_after("room", 0, 100))), range(1, 2));
}

// --- Templates (WebWOz) -------------------------------------------------------------------

TEST_P(TemplateStoreConformance, NewStoreHoldsTheWebWozDefaultTemplates) {
  const std::vector<Template> defaults{
      {"General", "greeting", "Hello! How can I help you today?"},
      {"General", "understanding", "I understand. Let me look into that for you."},
      {"General", "no_info", "I'm sorry, I don't have information about that."},
      {"General", "goodbye", "Thank you for chatting with me. Goodbye!"},
  };
  EXPECT_EQ(ok(c().list_templates()), defaults);
}

TEST_P(TemplateStoreConformance, ReplacedTemplatesComeBackInOrderWithBothKeyStyles) {
  const std::vector<Template> set{
      {"Phase 2", "b", "second phase"},
      {"flat", "", "a top-level string, the app's older style"},
      {"Phase 1", "z", "**markdown**\n\"quotes\" Ã© ð"},
      {"Phase 1", "a", ""},
  };
  ok(c().replace_templates(set));
  EXPECT_EQ(ok(c().list_templates()), set);
  // Committed: another connection sees it.
  auto other = ok(db_->connect());
  EXPECT_EQ(ok(other->list_templates()), set);
  // And an empty set stays empty (the defaults are not put back).
  ok(c().replace_templates({}));
  EXPECT_TRUE(ok(other->list_templates()).empty());
}

TEST_P(TemplateStoreConformance, InvalidTemplateSetsAreRefusedAndChangeNothing) {
  const auto before = ok(c().list_templates());
  const std::vector<std::vector<Template>> bad{
      {{"General", "k", "1"}, {"General", "k", "2"}},  // the same key twice
      {{"flat", "", "1"}, {"flat", "", "2"}},          // the same top-level name twice
      {{"mixed", "", "1"}, {"mixed", "k", "2"}},       // top-level and a category at once
      {{"", "k", "1"}},                                // no category
  };
  for (const auto& set : bad) {
    EXPECT_EQ(error_of(c().replace_templates(set)), Errc::invalid_argument);
    EXPECT_EQ(ok(c().list_templates()), before);
  }
}

TEST_P(TemplateStoreConformance, ConditionalReplaceWritesOnlyOverTheExpectedSet) {
  const auto defaults = ok(c().list_templates());
  EXPECT_EQ(defaults, store::default_templates());
  const std::vector<Template> mine{{"General", "greeting", "Hi!"}, {"Pinned", "p", "pinned"}};
  EXPECT_TRUE(ok(c().replace_templates_if(defaults, mine)));
  auto other = ok(db_->connect());
  EXPECT_EQ(ok(other->list_templates()), mine);
  // Stale: the set read before is no longer there; nothing changes.
  const std::vector<Template> theirs{{"General", "greeting", "Hello"}};
  EXPECT_FALSE(ok(other->replace_templates_if(defaults, theirs)));
  EXPECT_EQ(ok(c().list_templates()), mine);
  // The same templates in another order are another set.
  EXPECT_FALSE(ok(other->replace_templates_if({{mine[1], mine[0]}}, theirs)));
  EXPECT_EQ(ok(c().list_templates()), mine);
  // Invalid sets are refused before anything is compared.
  EXPECT_EQ(error_of(c().replace_templates_if(mine, {{{"", "k", "v"}}})), Errc::invalid_argument);
  EXPECT_EQ(ok(c().list_templates()), mine);
}

TEST_P(TemplateStoreConformance, ConditionalReplacesFromTwoConnectionsLoseNoEdit) {
  // Two writers each add 10 templates by read, add, replace_templates_if, again on false: a
  // check and write that another writer could come between would lose some of them.
  constexpr int kEach = 10;
  auto writer = [this](std::string name, std::string& failure) {
    auto conn = db_->connect();
    if (!conn) return void(failure = "connect: " + conn.error().message());
    for (int i = 0; i < kEach; ++i) {
      for (int attempt = 0;; ++attempt) {
        if (attempt == 1000) return void(failure = name + ": 1000 attempts");
        auto set = (*conn)->list_templates();
        if (!set) continue;  // busy: try again
        auto next = *set;
        next.push_back({name, std::to_string(i), "v"});
        auto done = (*conn)->replace_templates_if(*set, next);
        if (done && *done) break;
      }
    }
  };
  std::string fa, fb;
  std::thread a(writer, "a", std::ref(fa));
  std::thread b(writer, "b", std::ref(fb));
  a.join();
  b.join();
  ASSERT_EQ(fa, "");
  ASSERT_EQ(fb, "");
  const auto set = ok(c().list_templates());
  EXPECT_EQ(set.size(), store::default_templates().size() + 2 * kEach);
  for (const char* name : {"a", "b"}) {
    for (int i = 0; i < kEach; ++i) {
      EXPECT_TRUE(std::ranges::count(set, Template{name, std::to_string(i), "v"}) == 1)
          << name << i;
    }
  }
}

std::string backend_name(const ::testing::TestParamInfo<Backend>& param_info) {
  return param_info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Backends, MessageStoreConformance, ::testing::ValuesIn(all_backends()),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, ConversationStoreConformance,
                         ::testing::ValuesIn(all_backends()), backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, ReadStateStoreConformance, ::testing::ValuesIn(all_backends()),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, UserStoreConformance, ::testing::ValuesIn(all_backends()),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, SearchIndexConformance, ::testing::ValuesIn(all_backends()),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, ListingsConformance, ::testing::ValuesIn(all_backends()),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, TemplateStoreConformance, ::testing::ValuesIn(all_backends()),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, DatabaseConformance, ::testing::ValuesIn(all_backends()),
                         backend_name);

}  // namespace
}  // namespace parley::store::conformance
