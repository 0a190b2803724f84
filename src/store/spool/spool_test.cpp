#include "store/spool/spool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <future>
#include <limits>

#include "store/memory/memory_store.hpp"

namespace parley::store::spool {
namespace {

// A memory database whose appends fail with `unavailable` while `down` is set.
struct Switch {
  std::atomic<bool> down{false};
};

class FlakyConnection final : public Connection {
 public:
  FlakyConnection(std::unique_ptr<Connection> inner, std::shared_ptr<Switch> sw)
      : in_(std::move(inner)), sw_(std::move(sw)) {}
  Result<std::vector<Appended>> append_batch(std::span<const NewMessage> b) override {
    if (sw_->down) return make_error_code(Errc::unavailable);
    return in_->append_batch(b);
  }
  Result<std::vector<StoredMessage>> read_after(const ConversationId& c, Seq a,
                                                std::size_t l) override {
    return in_->read_after(c, a, l);
  }
  Result<std::vector<StoredMessage>> read_before(const ConversationId& c, Seq b,
                                                 std::size_t l) override {
    return in_->read_before(c, b, l);
  }
  Result<StoredMessage> get_message(const ConversationId& c, Seq s) override {
    return in_->get_message(c, s);
  }
  Result<StoredMessage> find_message(const MessageId& id) override {
    return in_->find_message(id);
  }
  Result<std::vector<Template>> list_templates() override { return in_->list_templates(); }
  Result<void> replace_templates(std::span<const Template> t) override {
    return in_->replace_templates(t);
  }
  Result<bool> replace_templates_if(std::span<const Template> e,
                                    std::span<const Template> t) override {
    return in_->replace_templates_if(e, t);
  }
  Result<StoredMessage> edit_message(const ConversationId& c, Seq s, const std::string& t,
                                     const std::optional<UserId>& by, TimeMs at) override {
    return in_->edit_message(c, s, t, by, at);
  }
  Result<StoredMessage> delete_message(const ConversationId& c, Seq s,
                                       const std::optional<UserId>& by, TimeMs at) override {
    return in_->delete_message(c, s, by, at);
  }
  Result<Conversation> create_conversation(const NewConversation& c) override {
    return in_->create_conversation(c);
  }
  Result<void> ensure_conversations(std::span<const ConversationId> ids, TimeMs now) override {
    return in_->ensure_conversations(ids, now);
  }
  Result<Conversation> ensure_conversation(const ConversationId& id, TimeMs now) override {
    return in_->ensure_conversation(id, now);
  }
  Result<Conversation> get_conversation(const ConversationId& id) override {
    return in_->get_conversation(id);
  }
  Result<ConversationPage> list_conversations(const ListQuery& q) override {
    return in_->list_conversations(q);
  }
  Result<Conversation> update_conversation(const ConversationId& id, const ConversationPatch& p,
                                           TimeMs now) override {
    return in_->update_conversation(id, p, now);
  }
  Result<void> delete_conversation(const ConversationId& id) override {
    return in_->delete_conversation(id);
  }
  Result<Conversation> replace_conversation(const WholeConversation& w) override {
    return in_->replace_conversation(w);
  }
  Result<std::int64_t> last_change() override { return in_->last_change(); }
  Result<std::vector<ConversationChange>> changes_after(std::int64_t after,
                                                        std::size_t limit) override {
    return in_->changes_after(after, limit);
  }
  Result<std::int64_t> count_conversations() override { return in_->count_conversations(); }
  Result<void> add_member(const ConversationId& c, const UserId& u, TimeMs at) override {
    return in_->add_member(c, u, at);
  }
  Result<void> add_members(std::span<const Membership> members) override {
    return in_->add_members(members);
  }
  Result<Seq> mark_read(const ConversationId& c, const UserId& u, Seq s) override {
    return in_->mark_read(c, u, s);
  }
  Result<Seq> read_seq(const ConversationId& c, const UserId& u) override {
    return in_->read_seq(c, u);
  }
  Result<void> upsert_user(const User& u) override { return in_->upsert_user(u); }
  Result<void> upsert_users(std::span<const User> users) override {
    return in_->upsert_users(users);
  }
  Result<User> get_user(const UserId& id) override { return in_->get_user(id); }
  Result<void> set_last_seen(const UserId& id, TimeMs at) override {
    return in_->set_last_seen(id, at);
  }
  Result<std::vector<SearchHit>> search(const SearchQuery& q) override { return in_->search(q); }
  Result<bool> index_pending(std::size_t n) override { return in_->index_pending(n); }
  Result<void> for_each_message(const ConversationId& c, Seq after,
                                const std::function<bool(const StoredMessage&)>& fn) override {
    return in_->for_each_message(c, after, fn);
  }
  Result<void> for_each_user(const std::function<bool(const User&)>& fn) override {
    return in_->for_each_user(fn);
  }
  Result<std::vector<MemberState>> member_states(const ConversationId& c) override {
    return in_->member_states(c);
  }
  Result<std::int64_t> prune(const ConversationId& c, std::optional<std::int64_t> keep_last,
                             std::optional<TimeMs> older_than, bool dry_run) override {
    return in_->prune(c, keep_last, older_than, dry_run);
  }

 private:
  std::unique_ptr<Connection> in_;
  std::shared_ptr<Switch> sw_;
};

class FlakyDatabase final : public Database {
 public:
  explicit FlakyDatabase(std::shared_ptr<Switch> sw) : sw_(std::move(sw)) {}
  std::string_view kind() const noexcept override { return "flaky"; }
  bool persistent() const noexcept override { return true; }
  Result<std::unique_ptr<Connection>> connect() override {
    auto c = inner_.connect();
    if (!c) return c.error();
    return std::unique_ptr<Connection>(std::make_unique<FlakyConnection>(std::move(*c), sw_));
  }

 private:
  memory::MemoryDatabase inner_;
  std::shared_ptr<Switch> sw_;
};

struct Outcome {
  Result<Appended> result;
  bool pending;
};

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("parley-spool-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto s = Storage::open(std::make_shared<FlakyDatabase>(sw_), {});
    ASSERT_TRUE(s.has_value());
    storage_ = std::move(*s);
  }
  void TearDown() override {
    spool_.reset();
    storage_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open_spool() {
    auto s = Spool::open(*storage_, Spool::Options{dir_, std::chrono::milliseconds(50)});
    ASSERT_TRUE(s.has_value());
    spool_ = std::move(*s);
    spool_->set_on_stored([this](const Appended& a) {
      std::lock_guard lock(mu_);
      replayed_.push_back(a.message);
    });
    spool_->start();
  }
  Outcome send(const std::string& text, std::optional<std::string> client_id = std::nullopt) {
    NewMessage m;
    m.conversation = "room";
    m.sender = {"alice", "Alice", "user"};
    m.content = text;
    m.client_id = std::move(client_id);
    std::promise<Outcome> p;
    spool_->append(std::move(m), [&p](Result<Appended> r, bool pending) {
      p.set_value(Outcome{std::move(r), pending});
    });
    return p.get_future().get();
  }
  std::vector<StoredMessage> stored() {
    std::promise<std::vector<StoredMessage>> p;
    storage_->read([&p](Connection& c) {
      auto r = c.read_after("room", 0, 100000);
      p.set_value(r ? std::move(*r) : std::vector<StoredMessage>{});
    });
    return p.get_future().get();
  }
  bool wait_drained() {
    for (int i = 0; i < 400; ++i) {
      if (spool_->size() == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::shared_ptr<Switch> sw_ = std::make_shared<Switch>();
  std::filesystem::path dir_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Spool> spool_;
  std::mutex mu_;
  std::vector<StoredMessage> replayed_;
};

TEST_F(SpoolTest, UpDatabaseAppendsDirectlyWithAClientId) {
  open_spool();
  auto o = send("hi");
  ASSERT_TRUE(o.result.has_value());
  EXPECT_FALSE(o.pending);
  EXPECT_EQ(o.result->message.seq, 1);
  ASSERT_TRUE(o.result->message.client_id);
  EXPECT_EQ(*o.result->message.client_id, "spool-" + o.result->message.id);
  EXPECT_EQ(send("mine", "c1").result->message.client_id, "c1");
  EXPECT_EQ(spool_->size(), 0u);
}

TEST_F(SpoolTest, OutageSpoolsThenReplaysInOrderExactlyOnce) {
  open_spool();
  ASSERT_FALSE(send("before").pending);
  sw_->down = true;
  std::vector<MessageId> ids;
  for (int i = 0; i < 20; ++i) {
    auto o = send("during " + std::to_string(i));
    ASSERT_TRUE(o.result.has_value()) << o.result.error().message();
    EXPECT_TRUE(o.pending);
    EXPECT_EQ(o.result->message.seq, 0);
    ids.push_back(o.result->message.id);
  }
  EXPECT_EQ(spool_->size(), 20u);
  EXPECT_TRUE(spool_->healthy());
  sw_->down = false;
  ASSERT_TRUE(wait_drained());
  auto after = send("after");
  EXPECT_FALSE(after.pending);
  EXPECT_EQ(after.result->message.seq, 22);
  auto all = stored();
  ASSERT_EQ(all.size(), 22u);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].seq, Seq(i + 1));
  for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(all[i + 1].id, ids[i]);
  std::lock_guard lock(mu_);
  ASSERT_EQ(replayed_.size(), 20u);
  for (std::size_t i = 0; i < 20; ++i) EXPECT_EQ(replayed_[i].seq, Seq(i + 2));
  EXPECT_EQ(std::filesystem::file_size(dir_ / "spool.jsonl"), 0u);
}

TEST_F(SpoolTest, RestartDuringOutageReplaysAtStartAndTornTailIsDropped) {
  open_spool();
  sw_->down = true;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(send("m" + std::to_string(i)).pending);
  spool_.reset();  // the server stops during the outage
  {
    std::ofstream f(dir_ / "spool.jsonl", std::ios::app);
    f << R"({"id":"torn","conver)";  // a write cut short by a crash: never acknowledged
  }
  open_spool();
  EXPECT_EQ(spool_->size(), 5u);
  sw_->down = false;
  ASSERT_TRUE(wait_drained());
  auto all = stored();
  ASSERT_EQ(all.size(), 5u);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].content, "m" + std::to_string(i));
}

TEST_F(SpoolTest, ReplayOfAnAlreadyStoredMessageIsNotStoredTwice) {
  open_spool();
  ASSERT_FALSE(send("x", "same").pending);
  sw_->down = true;
  // As if the first attempt's outcome had been unknown: the same client_id is spooled.
  ASSERT_TRUE(send("x", "same").pending);
  sw_->down = false;
  ASSERT_TRUE(wait_drained());
  EXPECT_EQ(stored().size(), 1u);
}

TEST(SpoolRecord, RoundTrips) {
  NewMessage m;
  m.id = "abc";
  m.conversation = "room";
  m.sender = {"u", "U \"quoted\"", "bot"};
  m.kind = "text";
  m.content = "line\nbreak";
  m.meta = R"({"a":1})";
  m.client_id = "c";
  m.created_at = 1234;
  auto line = Spool::format_record(m);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  auto back = Spool::parse_record(line.substr(0, line.size() - 1));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->id, m.id);
  EXPECT_EQ(back->sender, m.sender);
  EXPECT_EQ(back->content, m.content);
  EXPECT_EQ(back->meta, m.meta);
  EXPECT_EQ(back->client_id, m.client_id);
  EXPECT_EQ(back->created_at, m.created_at);
}

}  // namespace
}  // namespace parley::store::spool
