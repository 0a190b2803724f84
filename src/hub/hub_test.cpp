#include "hub/hub.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <thread>

#include "bus/memory_broker.hpp"
#include "core/ids.hpp"
#include "core/time.hpp"
#include "hub/change_follower.hpp"
#include "store/memory/memory_store.hpp"

namespace parley::hub {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using protocol::Command;
using protocol::Op;
using protocol::Reply;
using protocol::ReplyType;
using protocol::WireFormat;

// A session that records the native frames it is given.
class RecordingSession final : public Session {
 public:
  boost::asio::any_io_executor strand() const override { return strand_; }
  void set_strand(boost::asio::any_io_executor strand) { strand_ = std::move(strand); }
  void deliver(const Frame& frame) override {
    std::lock_guard lock(mu_);
    release_held();  // as WsConnection: an eager frame writes the lazy ones before it
    frames_.push_back(json::parse(*frame).as_object());
    cv_.notify_all();
  }
  // With set_lazy(true), lazy frames are held until end_lull (or the next eager frame), as
  // WsConnection::push_lazy holds them; otherwise delivered at once (Session's default).
  bool deliver_lazy(const Frame& frame) override {
    std::lock_guard lock(mu_);
    if (!lazy_) {
      frames_.push_back(json::parse(*frame).as_object());
      cv_.notify_all();
      return false;
    }
    held_.push_back(json::parse(*frame).as_object());
    if (lulled_) return false;
    lulled_ = true;
    return true;
  }
  void end_lull() override {
    std::lock_guard lock(mu_);
    lulled_ = false;
    ++lulls_ended_;
    release_held();
  }
  void set_lazy(bool lazy) {
    std::lock_guard lock(mu_);
    lazy_ = lazy;
  }
  std::size_t lulls_ended() {
    std::lock_guard lock(mu_);
    return lulls_ended_;
  }
  // Waits until at least `n` frames arrived; returns them all.
  std::vector<json::object> wait_frames(std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return frames_.size() >= n; });
    return frames_;
  }
  // Waits until at least `n` frames of `type` arrived.
  void wait_type(std::string_view type, std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] {
      std::size_t count = 0;
      for (const auto& f : frames_) count += f.at("type").as_string() == type;
      return count >= n;
    });
  }
  // A reply recorded into the same stream as the deliveries, under the same lock, the way a
  // transport queues a reply's bytes: the test then sees their relative order.
  void record_reply(const Reply& r) {
    json::object o;
    o["type"] = r.type == ReplyType::history ? "history" : "reply";
    json::array seqs;
    for (const auto& m : r.messages) seqs.push_back(m->seq);
    o["seqs"] = std::move(seqs);
    o["has_more"] = r.has_more;
    std::lock_guard lock(mu_);
    frames_.push_back(std::move(o));
    cv_.notify_all();
  }
  void clear() {
    std::lock_guard lock(mu_);
    frames_.clear();
  }
  std::vector<json::object> frames_of(std::string_view type) {
    std::lock_guard lock(mu_);
    std::vector<json::object> out;
    for (const auto& f : frames_) {
      if (f.at("type").as_string() == type) out.push_back(f);
    }
    return out;
  }

 private:
  boost::asio::any_io_executor strand_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<json::object> frames_;
  void release_held() {  // requires mu_
    for (auto& f : held_) frames_.push_back(std::move(f));
    held_.clear();
    cv_.notify_all();
  }
  bool lazy_ = false;
  bool lulled_ = false;
  std::size_t lulls_ended_ = 0;
  std::vector<json::object> held_;
};

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::Storage::open(db_, {});
    ASSERT_TRUE(s);
    storage_ = std::move(*s);
    hub_ = std::make_unique<Hub>(ioc_.get_executor(), *storage_, hub_options(), appender());
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    hub_->stop();
    storage_->stop();
    work_.reset();
    ioc_.stop();
    thread_.join();
  }

  virtual Hub::Options hub_options() {
    Hub::Options options;
    options.cache_messages = 8;  // small, so paging past the cache reaches storage
    return options;
  }
  // The outage spool in front of storage_, if the fixture has one (set up after storage_).
  virtual store::Appender* appender() { return nullptr; }

  std::shared_ptr<RecordingSession> connect(const std::string& user,
                                            const std::string& role = "participant",
                                            const std::string& address = "127.0.0.1") {
    auto s = std::make_shared<RecordingSession>();
    auto strand = asio::make_strand(ioc_);
    strands_.emplace(s.get(), strand);
    s->set_address(address);
    s->set_strand(strand);
    run_on(strand, [&] {
      s->set_user(User{user, user + "-name", "", role, std::nullopt});
      hub_->authenticated(s);
    });
    return s;
  }

  template <class Fn>
  void run_on(asio::strand<asio::io_context::executor_type>& strand, Fn fn) {
    std::promise<void> done;
    asio::post(strand, [&] {
      fn();
      done.set_value();
    });
    done.get_future().get();
  }

  // Sends `cmd` on the session's strand and waits for its reply.
  Reply call(const std::shared_ptr<RecordingSession>& s, Command cmd) {
    auto promise = std::make_shared<std::promise<Reply>>();
    auto future = promise->get_future();
    run_on(strands_.at(s.get()), [&] {
      hub_->handle(s, WireFormat::native, std::move(cmd),
                   [promise](Reply r) { promise->set_value(std::move(r)); });
    });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    return future.get();
  }

  Reply join(const std::shared_ptr<RecordingSession>& s, const std::string& conv,
             std::optional<Seq> since = std::nullopt, std::optional<std::size_t> limit = {}) {
    Command c;
    c.op = Op::join;
    c.conversation = conv;
    c.since = since;
    c.limit = limit;
    return call(s, std::move(c));
  }

  Reply send(const std::shared_ptr<RecordingSession>& s, const std::string& conv,
             const std::string& text, std::optional<std::string> client_id = {}) {
    Command c;
    c.op = Op::send;
    c.conversation = conv;
    c.content = text;
    c.client_id = std::move(client_id);
    return call(s, std::move(c));
  }

  void disconnect(const std::shared_ptr<RecordingSession>& s) {
    run_on(strands_.at(s.get()), [&] { hub_->disconnect(s); });
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::shared_ptr<store::memory::MemoryDatabase> db_ = std::make_shared<store::memory::MemoryDatabase>();
  std::unique_ptr<store::Storage> storage_;
  std::unique_ptr<Hub> hub_;
  std::thread thread_;
  std::map<Session*, asio::strand<asio::io_context::executor_type>> strands_;
};

TEST_F(HubTest, OpsBeforeAuthAreUnauthenticated) {
  auto anon = std::make_shared<RecordingSession>();
  strands_.emplace(anon.get(), asio::make_strand(ioc_));
  auto r = join(anon, "room");
  EXPECT_EQ(r.type, ReplyType::error);
  EXPECT_EQ(r.error, Errc::unauthenticated);
}

TEST_F(HubTest, SendIsAckedThenFannedOutToEveryMemberInSeqOrder) {
  auto alice = connect("alice");
  auto bob = connect("bob");
  ASSERT_EQ(join(alice, "room").type, ReplyType::history);
  ASSERT_EQ(join(bob, "room").type, ReplyType::history);
  for (int i = 1; i <= 20; ++i) {
    auto ack = send(alice, "room", "m" + std::to_string(i));
    ASSERT_EQ(ack.type, ReplyType::ack);
    EXPECT_EQ(ack.message->seq, i);
  }
  for (auto& s : {alice, bob}) {
    s->wait_type("message", 20);
    auto msgs = s->frames_of("message");
    ASSERT_EQ(msgs.size(), 20u);
    for (std::size_t i = 0; i < msgs.size(); ++i) {
      EXPECT_EQ(msgs[i].at("message").at("seq").as_int64(), static_cast<std::int64_t>(i + 1));
    }
  }
}

TEST_F(HubTest, PrunedMessagesLeaveTheLiveRoomsCache) {
  auto alice = connect("alice");
  join(alice, "room");
  for (int i = 1; i <= 6; ++i) send(alice, "room", "m" + std::to_string(i));
  // Retention as the server runs it: prune on the writer, then tell the hub.
  std::promise<Seq> first;
  storage_->write([&](store::Connection& c) {
    auto removed = c.prune("room", 2, std::nullopt, false);
    EXPECT_TRUE(removed && *removed == 4);
    auto kept = c.read_after("room", 0, 1);
    first.set_value(kept && !kept->empty() ? kept->front().seq : 0);
  });
  const Seq first_kept = first.get_future().get();
  ASSERT_EQ(first_kept, 5);
  hub_->pruned("room", first_kept);
  auto bob = connect("bob");
  auto history = join(bob, "room");
  ASSERT_EQ(history.type, ReplyType::history);
  ASSERT_EQ(history.messages.size(), 2u);
  EXPECT_EQ(history.messages[0]->seq, 5);
  EXPECT_EQ(history.messages[1]->seq, 6);
  EXPECT_FALSE(history.has_more);
  EXPECT_EQ(send(alice, "room", "m7").message->seq, 7);
  auto carol = connect("carol");
  history = join(carol, "room", 0);
  ASSERT_EQ(history.messages.size(), 3u);
  EXPECT_EQ(history.messages[0]->seq, 5);
}

// `parley import --replace` from another process, on the same database, while the room is
// live: the change follower reloads the room, so joins get the imported history and sends
// go on from its last seq (before it, the room kept serving its cache of the old history).
TEST_F(HubTest, AConversationReplacedByAnotherProcessIsReloadedInTheLiveRoom) {
  std::atomic<std::size_t> changed{0};
  ChangeFollower follower(ioc_.get_executor(), *hub_, std::chrono::milliseconds(10));
  follower.on_poll([&](std::size_t n) { changed += n; });
  follower.start();
  auto alice = connect("alice");
  ASSERT_EQ(join(alice, "lobby").type, ReplyType::history);
  for (int i = 1; i <= 5; ++i)
    ASSERT_EQ(send(alice, "lobby", "live " + std::to_string(i)).type, ReplyType::ack);

  // The other process: its own connection, no hub.
  auto other = db_->connect();
  ASSERT_TRUE(other);
  store::WholeConversation whole;
  whole.id = "lobby";
  whole.title = "Imported";
  for (int i = 1; i <= 3; ++i) {
    NewMessage m;
    m.conversation = "lobby";
    m.sender = {"old-app", "", "user"};
    m.content = "imported " + std::to_string(i);
    m.id = "imported-" + std::to_string(i);
    whole.messages.push_back(m);
  }
  ASSERT_TRUE((*other)->replace_conversation(whole));
  for (int i = 0; i < 500 && changed == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(changed.load(), 1u);

  auto bob = connect("bob");
  auto history = join(bob, "lobby");
  ASSERT_EQ(history.type, ReplyType::history);
  ASSERT_EQ(history.messages.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(history.messages[i]->seq, i + 1);
    EXPECT_EQ(history.messages[i]->content, "imported " + std::to_string(i + 1));
  }
  // alice, still a member, joins again and sees it too; the next send takes seq 4 and both
  // get it.
  history = join(alice, "lobby");
  ASSERT_EQ(history.messages.size(), 3u);
  EXPECT_EQ(history.messages[2]->id, "imported-3");
  auto ack = send(alice, "lobby", "after the import");
  ASSERT_EQ(ack.type, ReplyType::ack);
  EXPECT_EQ(ack.message->seq, 4);
  bob->wait_type("message", 1);
  ASSERT_EQ(bob->frames_of("message").size(), 1u);
  EXPECT_EQ(bob->frames_of("message")[0].at("message").at("seq").as_int64(), 4);
  auto carol = connect("carol");
  history = join(carol, "lobby");
  ASSERT_EQ(history.messages.size(), 4u);
  EXPECT_EQ(history.messages[3]->content, "after the import");
  follower.stop();
}

TEST_F(HubTest, RepeatedClientIdIsAckedWithTheOriginalAndNotBroadcastAgain) {
  auto alice = connect("alice");
  join(alice, "room");
  auto first = send(alice, "room", "once", "c-1");
  auto again = send(alice, "room", "once", "c-1");
  EXPECT_EQ(first.message->seq, again.message->seq);
  EXPECT_EQ(first.message->id, again.message->id);
  EXPECT_TRUE(again.duplicate);
  send(alice, "room", "marker");
  alice->wait_frames(3);  // alice on, once, marker
  EXPECT_EQ(alice->frames_of("message").size(), 2u);
}

TEST_F(HubTest, JoinSinceReturnsExactlyWhatWasMissed) {
  auto alice = connect("alice");
  join(alice, "room");
  for (int i = 0; i < 5; ++i) send(alice, "room", "x");
  auto bob = connect("bob");
  auto page = join(bob, "room", Seq{3});
  ASSERT_EQ(page.type, ReplyType::history);
  ASSERT_EQ(page.messages.size(), 2u);
  EXPECT_EQ(page.messages[0]->seq, 4);
  EXPECT_EQ(page.messages[1]->seq, 5);
  EXPECT_EQ(page.last_seq, 5);
  EXPECT_FALSE(page.has_more);
}

TEST_F(HubTest, HistoryPagesBeyondTheCacheFromStorage) {
  auto alice = connect("alice");
  join(alice, "room");
  for (int i = 0; i < 30; ++i) send(alice, "room", std::to_string(i + 1));
  // Latest 5 (cache), then everything before 10 (storage), then after 25.
  auto latest = join(alice, "room", std::nullopt, 5);
  ASSERT_EQ(latest.messages.size(), 5u);
  EXPECT_EQ(latest.messages.front()->seq, 26);
  EXPECT_TRUE(latest.has_more);
  Command before;
  before.op = Op::history;
  before.conversation = "room";
  before.before = 10;
  before.limit = 4;
  auto older = call(alice, before);
  ASSERT_EQ(older.messages.size(), 4u);
  EXPECT_EQ(older.messages.front()->seq, 6);
  EXPECT_EQ(older.messages.back()->seq, 9);
  EXPECT_TRUE(older.has_more);
  before.before = 3;
  auto oldest = call(alice, before);
  ASSERT_EQ(oldest.messages.size(), 2u);
  EXPECT_FALSE(oldest.has_more);
  Command after;
  after.op = Op::history;
  after.conversation = "room";
  after.after = 25;
  after.limit = 100;
  auto newer = call(alice, after);
  ASSERT_EQ(newer.messages.size(), 5u);
  EXPECT_EQ(newer.messages.front()->content, "26");
}

TEST_F(HubTest, PresenceOnlineOnFirstConnectionOfflineOnLast) {
  auto alice = connect("alice");
  join(alice, "room");
  auto bob1 = connect("bob");
  auto bob2 = connect("bob");
  join(bob1, "room");
  join(bob2, "room");
  disconnect(bob1);
  Command leave;
  leave.op = Op::leave;
  leave.conversation = "room";
  EXPECT_EQ(call(bob2, leave).type, ReplyType::ok);
  send(alice, "room", "marker");
  alice->wait_frames(4);  // alice on, bob on, bob off, marker
  std::vector<std::string> presence;
  for (const auto& f : alice->frames_of("presence")) {
    presence.push_back(std::string(f.at("user").as_string()) + ":" +
                       std::string(f.at("status").as_string()));
  }
  EXPECT_EQ(presence, (std::vector<std::string>{"alice:online", "bob:online", "bob:offline"}));
}

// Presence waits for the lull (one write per connection for a storm's O(members^2) presence,
// issue 14); a message does not, and takes the presence queued before it along, in order.
class HubLullTest : public HubTest {
 protected:
  Hub::Options hub_options() override {
    auto options = HubTest::hub_options();
    options.presence_lull = std::chrono::milliseconds(2000);
    return options;
  }
};

TEST_F(HubLullTest, PresenceWaitsForTheLullAndAMessageTakesItAlongInOrder) {
  auto alice = connect("alice");
  ASSERT_EQ(join(alice, "room").type, ReplyType::history);
  alice->wait_type("presence", 1);  // her own, made after the join's reply
  alice->clear();
  alice->set_lazy(true);
  auto bob = connect("bob");
  ASSERT_EQ(join(bob, "room").type, ReplyType::history);
  EXPECT_TRUE(alice->frames_of("presence").empty());  // held: the lull is 2 s
  ASSERT_EQ(send(bob, "room", "hi").type, ReplyType::ack);
  alice->wait_type("message", 1);
  std::vector<std::string> seen;  // presence and messages, in arrival order
  for (const auto& f : alice->wait_frames(2)) {
    const std::string type(f.at("type").as_string());
    if (type == "presence") seen.push_back("presence:" + std::string(f.at("user").as_string()));
    if (type == "message") seen.push_back("message");
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"presence:bob", "message"}));

  // Nothing eager follows carol's presence: the lull ends and writes it.
  auto carol = connect("carol");
  ASSERT_EQ(join(carol, "room").type, ReplyType::history);
  alice->wait_type("presence", 2);
  auto presence = alice->frames_of("presence");
  ASSERT_EQ(presence.size(), 2u);
  EXPECT_EQ(presence[1].at("user").as_string(), "carol");
  EXPECT_GE(alice->lulls_ended(), 1u);
}

TEST_F(HubTest, TypingReachesOthersNotTheTypist) {
  auto alice = connect("alice");
  auto bob = connect("bob");
  join(alice, "room");
  join(bob, "room");
  Command typing;
  typing.op = Op::typing;
  typing.conversation = "room";
  typing.on = true;
  run_on(strands_.at(alice.get()), [&] {
    hub_->handle(alice, WireFormat::native, typing, [](Reply) { FAIL() << "typing has no reply"; });
  });
  send(alice, "room", "marker");
  bob->wait_frames(3);  // bob on, typing, marker
  EXPECT_EQ(bob->frames_of("typing").size(), 1u);
  alice->wait_frames(2 + 1);
  EXPECT_TRUE(alice->frames_of("typing").empty());
}

TEST_F(HubTest, OnlyTheSenderMayEditAndEditsReachTheRoom) {
  auto alice = connect("alice");
  auto bob = connect("bob");
  join(alice, "room");
  join(bob, "room");
  auto ack = send(alice, "room", "draft");
  Command edit;
  edit.op = Op::edit;
  edit.conversation = "room";
  edit.seq = ack.message->seq;
  edit.content = "final";
  auto denied = call(bob, edit);
  EXPECT_EQ(denied.type, ReplyType::error);
  EXPECT_EQ(denied.error, Errc::permission_denied);
  EXPECT_EQ(call(alice, edit).type, ReplyType::ok);
  bob->wait_frames(3);  // bob on, message, edited
  auto edited = bob->frames_of("edited");
  ASSERT_EQ(edited.size(), 1u);
  EXPECT_EQ(edited[0].at("message").at("content"), "final");
  // A rejoin is served from the cache, which holds the edit.
  auto page = join(bob, "room");
  ASSERT_EQ(page.messages.size(), 1u);
  EXPECT_EQ(page.messages[0]->content, "final");
}

TEST_F(HubTest, ReadMarksAreBroadcastAndReturnedOnJoin) {
  auto alice = connect("alice");
  join(alice, "room");
  for (int i = 0; i < 3; ++i) send(alice, "room", "x");
  auto bob = connect("bob");
  join(bob, "room");
  Command read;
  read.op = Op::read;
  read.conversation = "room";
  read.seq = 2;
  EXPECT_EQ(call(bob, read).type, ReplyType::ok);
  alice->wait_frames(6);  // alice on, 3 messages, bob on, read
  ASSERT_EQ(alice->frames_of("read").size(), 1u);
  EXPECT_EQ(alice->frames_of("read")[0].at("seq"), 2);
  auto again = join(bob, "room");
  EXPECT_EQ(again.read_seq, 2);
}

// --- Per-conversation access (token mode) ---------------------------------------------------

class HubAccessTest : public HubTest {
 protected:
  Hub::Options hub_options() override {
    auto options = HubTest::hub_options();
    options.enforce_access = true;
    options.max_joined_rooms = 3;
    return options;
  }
  // Runs `fn` on the storage writer and waits.
  void on_writer(std::function<void(store::Connection&)> fn) {
    std::promise<void> done;
    storage_->write([&](store::Connection& c) {
      fn(c);
      done.set_value();
    });
    done.get_future().get();
  }
  void create(const std::string& id, std::vector<UserId> participants) {
    on_writer([&](store::Connection& c) {
      store::NewConversation nc;
      nc.id = id;
      nc.participants = std::move(participants);
      ASSERT_TRUE(c.create_conversation(nc));
    });
  }
  Reply op(const std::shared_ptr<RecordingSession>& s, Op o, const std::string& conv) {
    Command c;
    c.op = o;
    c.conversation = conv;
    c.seq = 1;
    c.content = "x";
    return call(s, std::move(c));
  }
};

TEST_F(HubAccessTest, OnlyParticipantsAndAdminsUseAPrivateConversation) {
  create("private", {"alice"});
  auto alice = connect("alice");
  auto bob = connect("bob");
  auto admin = connect("root", "admin");
  ASSERT_EQ(send(alice, "private", "secret").type, ReplyType::ack);  // before any join
  EXPECT_EQ(join(alice, "private").type, ReplyType::history);
  for (Op o : {Op::join, Op::send, Op::history, Op::read, Op::edit, Op::remove}) {
    auto r = op(bob, o, "private");
    EXPECT_EQ(r.type, ReplyType::error) << static_cast<int>(o);
    EXPECT_EQ(r.error, Errc::permission_denied) << static_cast<int>(o);
  }
  Command typing;
  typing.op = Op::typing;
  typing.conversation = "private";
  typing.on = true;
  run_on(strands_.at(bob.get()),
         [&] { hub_->handle(bob, WireFormat::native, typing, [](Reply) {}); });
  auto page = join(admin, "private");
  ASSERT_EQ(page.type, ReplyType::history);
  EXPECT_EQ(page.messages.size(), 1u);
  EXPECT_EQ(send(admin, "private", "from admin").type, ReplyType::ack);
  alice->wait_type("message", 1);
  EXPECT_TRUE(alice->frames_of("typing").empty());
  // Open conversations stay open.
  EXPECT_EQ(join(bob, "lobby").type, ReplyType::history);
  EXPECT_EQ(send(bob, "lobby", "hi").type, ReplyType::ack);
}

TEST_F(HubAccessTest, HistoryOfAPrivateConversationThatIsNotLiveIsChecked) {
  create("cold", {"alice"});
  auto bob = connect("bob");
  auto alice = connect("alice");
  EXPECT_EQ(op(bob, Op::history, "cold").error, Errc::permission_denied);
  EXPECT_EQ(op(alice, Op::history, "cold").type, ReplyType::history);
}

TEST_F(HubAccessTest, RemovedParticipantIsDroppedFromTheLiveRoom) {
  create("team", {"alice", "bob"});
  auto alice = connect("alice");
  auto bob = connect("bob");
  ASSERT_EQ(join(alice, "team").type, ReplyType::history);
  ASSERT_EQ(join(bob, "team").type, ReplyType::history);
  on_writer([](store::Connection& c) {
    store::ConversationPatch patch;
    patch.participants = std::vector<UserId>{"alice"};
    ASSERT_TRUE(c.update_conversation("team", patch, now_ms()));
  });
  hub_->invalidate("team");
  EXPECT_EQ(send(bob, "team", "still here?").error, Errc::permission_denied);
  ASSERT_EQ(send(alice, "team", "bob is gone").type, ReplyType::ack);
  alice->wait_type("message", 1);
  EXPECT_TRUE(bob->frames_of("message").empty());
}

TEST_F(HubAccessTest, RefusedJoinsDoNotCountTowardTheJoinedRoomsLimit) {
  for (const char* id : {"p1", "p2", "p3", "p4", "p5"}) create(id, {"alice"});
  auto bob = connect("bob");
  for (const char* id : {"p1", "p2", "p3", "p4", "p5"}) {
    EXPECT_EQ(join(bob, id).error, Errc::permission_denied) << id;
  }
  // Three refusals later bob is in no room, so three joins (the limit) still work.
  for (const char* id : {"a", "b", "c"}) EXPECT_EQ(join(bob, id).type, ReplyType::history) << id;
  auto fourth = join(bob, "d");
  EXPECT_EQ(fourth.type, ReplyType::error);
  EXPECT_EQ(fourth.error, Errc::invalid_argument);
  // A room already joined is not counted twice.
  EXPECT_EQ(join(bob, "a").type, ReplyType::history);
}

// Stands in for the outage spool (store/spool): appends go to Storage while the database is
// up; while it is down every message is taken as pending (seq 0) under a new id, without
// asking the database whether its client id is taken, as the spool cannot.
class OutageAppender final : public store::Appender {
 public:
  explicit OutageAppender(store::Storage& storage) : storage_(storage) {}
  void append(NewMessage msg, Done done) override {
    if (!down) {
      storage_.append(std::move(msg),
                      [done = std::move(done)](Result<Appended> r) { done(std::move(r), false); });
      return;
    }
    StoredMessage m;
    m.id = msg.id.empty() ? new_message_id() : msg.id;
    m.conversation = msg.conversation;
    m.sender = msg.sender;
    m.content = msg.content;
    m.created_at = now_ms();
    m.client_id = msg.client_id;
    done(Appended{std::move(m), false}, true);
  }
  void set_on_stored(Stored) override {}
  Backlog backlog() const override { return {true, 0}; }
  std::atomic<bool> down{false};

 private:
  store::Storage& storage_;
};

class HubOutageTest : public HubTest {
 protected:
  store::Appender* appender() override {
    outage_ = std::make_unique<OutageAppender>(*storage_);
    return outage_.get();
  }
  std::unique_ptr<OutageAppender> outage_;
};

// Issue 14, item 2: a message stored, its ack lost to a disconnect, resent under the same
// client_id during an outage got a pending ack under a new id that never became real, and
// the room got the message a second time. A resend is answered with what the client id
// already names, stored or pending, and nothing is fanned out again.
TEST_F(HubOutageTest, AResendDuringAnOutageIsAnsweredWithWhatItsClientIdNames) {
  auto alice = connect("alice");
  auto bob = connect("bob");
  ASSERT_EQ(join(alice, "room").type, ReplyType::history);
  ASSERT_EQ(join(bob, "room").type, ReplyType::history);
  auto stored = send(alice, "room", "hello", "c1");
  ASSERT_EQ(stored.type, ReplyType::ack);
  ASSERT_FALSE(stored.pending);
  bob->wait_type("message", 1);

  outage_->down = true;
  auto again = send(alice, "room", "hello", "c1");
  ASSERT_EQ(again.type, ReplyType::ack);
  ASSERT_TRUE(again.message);
  EXPECT_TRUE(again.duplicate);
  EXPECT_FALSE(again.pending);
  EXPECT_EQ(again.message->id, stored.message->id);
  EXPECT_EQ(again.message->seq, 1);

  auto pending = send(alice, "room", "during", "c2");
  ASSERT_EQ(pending.type, ReplyType::ack);
  ASSERT_TRUE(pending.pending);
  auto resent = send(alice, "room", "during", "c2");
  ASSERT_EQ(resent.type, ReplyType::ack);
  EXPECT_TRUE(resent.duplicate);
  EXPECT_TRUE(resent.pending);
  EXPECT_EQ(resent.message->id, pending.message->id);

  // Bob got "hello" once and "during" once (pending); before, 4 (each resend fanned out).
  bob->wait_type("message", 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(bob->frames_of("message").size(), 2u);
}

// Issue 14: one client created 10,000 conversations in 7.3 s by joining new ids, each a
// durable write. Joins and sends naming a new id now draw on a per-user budget.
class HubCreationTest : public HubAccessTest {
 protected:
  Hub::Options hub_options() override {
    auto options = HubAccessTest::hub_options();
    options.max_joined_rooms = 100;
    options.conversations_per_min = 3;
    return options;
  }
  bool exists(const std::string& id) {
    bool found = false;
    on_writer([&](store::Connection& c) { found = c.get_conversation(id).has_value(); });
    return found;
  }
};

TEST_F(HubCreationTest, JoinsAndSendsOfNewIdsDrawOnAPerUserBudget) {
  create("made", {});
  create("hidden", {"alice"});
  auto bob = connect("bob");
  EXPECT_EQ(join(bob, "made").type, ReplyType::history);  // exists: free
  EXPECT_EQ(join(bob, "n1").type, ReplyType::history);
  EXPECT_EQ(send(bob, "n2", "a send creates too").type, ReplyType::ack);
  EXPECT_EQ(join(bob, "n3").type, ReplyType::history);
  auto over = join(bob, "n4");
  EXPECT_EQ(over.error, Errc::rate_limited);
  EXPECT_NE(over.error_message.find("retry after"), std::string::npos) << over.error_message;
  EXPECT_EQ(send(bob, "n5", "x").error, Errc::rate_limited);
  EXPECT_FALSE(exists("n4"));
  EXPECT_FALSE(exists("n5"));
  // A hidden conversation is charged like a new id: once the budget is spent it answers the
  // same, so refusals tell nothing about which ids exist.
  EXPECT_EQ(join(bob, "hidden").error, Errc::rate_limited);
  // Live rooms cost nothing; other users have their own budget; admins have none.
  EXPECT_EQ(join(bob, "n1").type, ReplyType::history);
  auto carol = connect("carol");
  EXPECT_EQ(join(carol, "c1").type, ReplyType::history);
  auto root = connect("root", "admin");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(join(root, "by-admin-" + std::to_string(i)).type, ReplyType::history) << i;
  }
}

TEST_F(HubCreationTest, SendsToANewIdKeepTheirOrder) {
  auto alice = connect("alice");
  constexpr int kSends = 40;
  std::vector<std::promise<Reply>> acks(kSends);
  run_on(strands_.at(alice.get()), [&] {
    for (int i = 0; i < kSends; ++i) {
      Command c;
      c.op = Op::send;
      c.conversation = "fresh";
      c.content = "m" + std::to_string(i);
      hub_->handle(alice, WireFormat::native, std::move(c),
                   [&acks, i](Reply r) { acks[static_cast<std::size_t>(i)].set_value(r); });
    }
  });
  for (int i = 0; i < kSends; ++i) {
    auto ack = acks[static_cast<std::size_t>(i)].get_future().get();
    ASSERT_EQ(ack.type, ReplyType::ack) << i;
    EXPECT_EQ(ack.message->seq, i + 1) << i;
  }
}

class HubOpenCreationTest : public HubTest {
 protected:
  Hub::Options hub_options() override {
    auto options = HubTest::hub_options();
    options.conversations_per_min = 2;
    return options;
  }
};

// Open mode takes the user as stated: the budget is the address's.
TEST_F(HubOpenCreationTest, TheBudgetIsPerAddress) {
  auto ann = connect("ann", "participant", "10.0.0.1");
  auto ann_again_as_bea = connect("bea", "participant", "10.0.0.1");
  auto cid = connect("cid", "participant", "10.0.0.2");
  EXPECT_EQ(join(ann, "o1").type, ReplyType::history);
  EXPECT_EQ(join(ann_again_as_bea, "o2").type, ReplyType::history);
  EXPECT_EQ(join(ann_again_as_bea, "o3").error, Errc::rate_limited);
  EXPECT_EQ(join(cid, "o3").type, ReplyType::history);
}

class HubAdminsCreateTest : public HubCreationTest {
 protected:
  Hub::Options hub_options() override {
    auto options = HubCreationTest::hub_options();
    options.admins_create_only = true;
    return options;
  }
};

TEST_F(HubAdminsCreateTest, OnlyAdminsCreateAndAnUnknownIdAnswersAsAHiddenOne) {
  create("hidden", {"alice"});
  auto bob = connect("bob");
  auto unknown = join(bob, "nowhere");
  auto hidden = join(bob, "hidden");
  EXPECT_EQ(unknown.error, Errc::permission_denied);
  EXPECT_EQ(hidden.error, Errc::permission_denied);
  EXPECT_EQ(unknown.error_message, hidden.error_message);
  EXPECT_EQ(send(bob, "nowhere", "x").error, Errc::permission_denied);
  EXPECT_FALSE(exists("nowhere"));
  auto root = connect("root", "admin");
  EXPECT_EQ(join(root, "by-admin").type, ReplyType::history);
  EXPECT_EQ(join(bob, "by-admin").type, ReplyType::history);  // open, made by an admin
}

// Issue 14: a reader re-joining far behind a busy room (past the cache, so the page comes from
// storage) got live messages before its history and repeats of what the history held. Now the
// history comes first and the live ones continue it: nothing lost, nothing twice.
TEST_F(HubTest, RejoinFarBehindABusyRoomGetsHistoryThenLiveNothingTwice) {
  auto reader = connect("reader");
  std::vector<std::shared_ptr<RecordingSession>> writers;
  for (int i = 0; i < 4; ++i) {
    writers.push_back(connect("w" + std::to_string(i)));
    ASSERT_EQ(join(writers.back(), "busy").type, ReplyType::history);
  }
  for (int i = 0; i < 60; ++i) send(writers[0], "busy", "seed");
  std::atomic<bool> stop{false};
  std::vector<std::thread> senders;
  for (auto& w : writers) {
    senders.emplace_back([&, w] {
      for (int i = 0; i < 400 && !stop.load(); ++i) send(w, "busy", "live");
    });
  }
  for (int round = 0; round < 10; ++round) {
    reader->clear();
    // 40+ behind: past the 8-message cache, so the page is read from storage while the
    // writers keep committing.
    Seq last = 0;
    {
      std::promise<Seq> p;
      storage_->read([&](store::Connection& c) {
        auto conv = c.get_conversation("busy");
        p.set_value(conv ? conv->last_seq : 0);
      });
      last = p.get_future().get();
    }
    const Seq since = last > 40 ? last - 40 : 0;
    auto promise = std::make_shared<std::promise<void>>();
    run_on(strands_.at(reader.get()), [&] {
      Command c;
      c.op = Op::join;
      c.conversation = "busy";
      c.since = since;
      c.limit = 1000;
      hub_->handle(reader, WireFormat::native, std::move(c), [r = reader, promise](Reply reply) {
        r->record_reply(reply);
        promise->set_value();
      });
    });
    promise->get_future().wait();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // live ones arrive
    auto frames = reader->wait_frames(1);
    // The first frame about this room's messages is the history; then seqs only grow by one.
    std::vector<Seq> seen;
    bool history_seen = false;
    for (const auto& f : frames) {
      const auto type = f.at("type").as_string();
      if (type == "history") {
        ASSERT_FALSE(history_seen);
        history_seen = true;
        for (const auto& v : f.at("seqs").as_array()) seen.push_back(v.as_int64());
        ASSERT_FALSE(f.at("has_more").as_bool());
      } else if (type == "message") {
        ASSERT_TRUE(history_seen) << "round " << round << ": a live message before the history";
        seen.push_back(f.at("message").at("seq").as_int64());
      }
    }
    ASSERT_TRUE(history_seen);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.front(), since + 1) << "round " << round;
    for (std::size_t i = 1; i < seen.size(); ++i) {
      ASSERT_EQ(seen[i], seen[i - 1] + 1) << "round " << round << " at " << i;
    }
    Command leave;
    leave.op = Op::leave;
    leave.conversation = "busy";
    call(reader, std::move(leave));
  }
  stop = true;
  for (auto& t : senders) t.join();
}

// Two servers on one bus and one database (the MemoryBroker stands in for Redis): members on
// one server get the other's messages in seq order, and a gap (a lost payload, a lost
// subscription) is filled from storage.
class TwoHubsTest : public ::testing::Test {
 protected:
  struct Server {
    std::unique_ptr<store::Storage> storage;
    std::unique_ptr<bus::MemoryBroker> broker;
    std::unique_ptr<Hub> hub;
  };
  void SetUp() override {
    for (auto& s : servers_) {
      auto st = store::Storage::open(db_, {});
      ASSERT_TRUE(st);
      s.storage = std::move(*st);
      s.broker = std::make_unique<bus::MemoryBroker>(bus_);
      s.hub = std::make_unique<Hub>(ioc_.get_executor(), *s.storage, hub_options());
      s.hub->attach_bus(*s.broker);
    }
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    for (auto& s : servers_) {
      s.broker->stop();
      s.hub->stop();
      s.storage->stop();
    }
    work_.reset();
    ioc_.stop();
    thread_.join();
  }

  virtual Hub::Options hub_options() {
    Hub::Options options;
    options.cache_messages = 8;
    return options;
  }

  std::shared_ptr<RecordingSession> connect(int server, const std::string& user) {
    auto s = std::make_shared<RecordingSession>();
    auto strand = asio::make_strand(ioc_);
    strands_.emplace(s.get(), strand);
    hubs_[s.get()] = servers_[server].hub.get();
    run_on(strand, [&] {
      s->set_user(User{user, user, "", "user", std::nullopt});
      servers_[server].hub->authenticated(s);
    });
    return s;
  }
  template <class Fn>
  void run_on(asio::strand<asio::io_context::executor_type>& strand, Fn fn) {
    std::promise<void> done;
    asio::post(strand, [&] {
      fn();
      done.set_value();
    });
    done.get_future().get();
  }
  Reply call(const std::shared_ptr<RecordingSession>& s, Command cmd) {
    auto promise = std::make_shared<std::promise<Reply>>();
    auto future = promise->get_future();
    run_on(strands_.at(s.get()), [&] {
      hubs_.at(s.get())->handle(s, WireFormat::native, std::move(cmd),
                                [promise](Reply r) { promise->set_value(std::move(r)); });
    });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    return future.get();
  }
  void join(const std::shared_ptr<RecordingSession>& s, const std::string& conv) {
    Command c;
    c.op = Op::join;
    c.conversation = conv;
    ASSERT_EQ(call(s, std::move(c)).type, ReplyType::history);
  }
  Seq send(const std::shared_ptr<RecordingSession>& s, const std::string& conv) {
    Command c;
    c.op = Op::send;
    c.conversation = conv;
    c.content = "m";
    auto r = call(s, std::move(c));
    EXPECT_EQ(r.type, ReplyType::ack);
    return r.message ? r.message->seq : 0;
  }
  static std::vector<Seq> seqs(const std::shared_ptr<RecordingSession>& s) {
    std::vector<Seq> out;
    for (const auto& f : s->frames_of("message")) out.push_back(f.at("message").at("seq").as_int64());
    return out;
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::shared_ptr<store::memory::MemoryDatabase> db_ =
      std::make_shared<store::memory::MemoryDatabase>();
  std::shared_ptr<bus::MemoryBus> bus_ = std::make_shared<bus::MemoryBus>();
  std::array<Server, 2> servers_;
  std::thread thread_;
  std::map<Session*, asio::strand<asio::io_context::executor_type>> strands_;
  std::map<Session*, Hub*> hubs_;
};

TEST_F(TwoHubsTest, MessagesCrossServersInSeqOrder) {
  auto alice = connect(0, "alice");
  auto bob = connect(1, "bob");
  join(alice, "room");
  join(bob, "room");
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(send(alice, "room"), i);
  bob->wait_type("message", 5);
  EXPECT_EQ(seqs(bob), (std::vector<Seq>{1, 2, 3, 4, 5}));
  // Presence crosses too, on its own: bob's status travels from server 1 by the bus while
  // alice's messages travel the other way, so neither waits for the other.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!servers_[0].hub->is_online("bob") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(servers_[0].hub->is_online("bob"));
}

TEST_F(TwoHubsTest, ALostPayloadIsFilledFromStorageInOrder) {
  auto alice = connect(0, "alice");
  auto bob = connect(1, "bob");
  join(alice, "room");
  join(bob, "room");
  EXPECT_EQ(send(alice, "room"), 1);
  bob->wait_type("message", 1);
  servers_[1].broker->drop_next(2);  // seq 2 and 3 never reach server 1 by the bus
  EXPECT_EQ(send(alice, "room"), 2);
  EXPECT_EQ(send(alice, "room"), 3);
  EXPECT_EQ(send(alice, "room"), 4);  // past the gap: held, the gap read from storage
  bob->wait_type("message", 4);
  EXPECT_EQ(seqs(bob), (std::vector<Seq>{1, 2, 3, 4}));
}

TEST_F(TwoHubsTest, ALostSubscriptionCatchesUpWhenItIsBack) {
  auto alice = connect(0, "alice");
  auto bob = connect(1, "bob");
  join(alice, "room");
  join(bob, "room");
  servers_[1].broker->cut();
  for (int i = 0; i < 3; ++i) send(alice, "room");
  servers_[1].broker->restore();  // on_resubscribed: every live room reads what it missed
  bob->wait_type("message", 3);
  EXPECT_EQ(seqs(bob), (std::vector<Seq>{1, 2, 3}));
  EXPECT_EQ(send(alice, "room"), 4);
  bob->wait_type("message", 4);
  EXPECT_EQ(seqs(bob), (std::vector<Seq>{1, 2, 3, 4}));
}

// Issue 14, item 8 with several servers: each server has only its own sessions in its live
// rooms, so restricting the participants on one server must reach the rooms of the others.
// Before, the PATCH evicted only the members connected to the server that received it:
// alice, on the other server, stayed in the room and kept getting its messages.
class TwoHubsAccessTest : public TwoHubsTest {
 protected:
  Hub::Options hub_options() override {
    auto options = TwoHubsTest::hub_options();
    options.enforce_access = true;
    return options;
  }
};

TEST_F(TwoHubsAccessTest, RestrictingParticipantsOnOneServerEvictsMembersOnEveryServer) {
  auto bob = connect(0, "bob");
  auto alice = connect(1, "alice");
  join(bob, "room");
  join(alice, "room");
  EXPECT_EQ(send(bob, "room"), 1);
  alice->wait_type("message", 1);

  std::promise<Result<Conversation>> patched;
  store::ConversationPatch patch;
  patch.participants = std::vector<UserId>{"bob"};
  servers_[0].hub->archive().update("room", patch, [&](Result<Conversation> r) {
    patched.set_value(std::move(r));
  });
  ASSERT_TRUE(patched.get_future().get());

  alice->wait_type("left", 1);
  auto left = alice->frames_of("left");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].at("reason").as_string(), "not_a_participant");
  EXPECT_EQ(send(bob, "room"), 2);
  bob->wait_type("message", 2);
  // Server 1 gets seq 2 by the bus too; give it the time a delivery takes.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(seqs(alice), (std::vector<Seq>{1}));
}

}  // namespace
}  // namespace parley::hub
