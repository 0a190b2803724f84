#include "store/storage.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <memory>
#include <latch>
#include <optional>

#include "store/memory/memory_store.hpp"

namespace parley::store {
namespace {

std::unique_ptr<Storage> open_memory(Storage::Options opts = {}) {
  auto s = Storage::open(std::make_shared<memory::MemoryDatabase>(), opts);
  EXPECT_TRUE(s.has_value());
  return std::move(*s);
}

// Holds the writer inside a job until the returned promise is set, so that everything queued
// meanwhile is taken in one drain. Returns once the writer is inside the job: a writer slow to
// wake (ASan) could otherwise take the first of what the test queues into the job's drain.
std::promise<void> hold_writer(Storage& storage) {
  std::promise<void> release;
  auto released = release.get_future().share();
  auto entered = std::make_shared<std::promise<void>>();
  auto inside = entered->get_future();
  storage.write([released, entered](Connection&) {
    entered->set_value();
    released.wait();
  });
  inside.get();
  return release;
}

NewMessage msg(std::string conv, std::string text, std::string sender = "alice") {
  NewMessage m;
  m.conversation = std::move(conv);
  m.sender = {std::move(sender), "", "user"};
  m.content = std::move(text);
  return m;
}

TEST(Storage, ConcurrentAppendsGetGaplessSeqsInCompletionOrder) {
  auto storage = open_memory();
  constexpr int kThreads = 4, kPerThread = 500;
  std::mutex mu;
  std::vector<Seq> completed;  // in completion order
  std::latch done{kThreads * kPerThread};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        storage->append(msg("room", std::to_string(t) + ":" + std::to_string(i)),
                        [&](Result<Appended> r) {
                          ASSERT_TRUE(r.has_value());
                          std::lock_guard lock(mu);
                          completed.push_back(r->message.seq);
                          done.count_down();
                        });
      }
    });
  }
  for (auto& th : threads) th.join();
  done.wait();
  ASSERT_EQ(completed.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (std::size_t i = 0; i < completed.size(); ++i) EXPECT_EQ(completed[i], Seq(i + 1));
  const auto stats = storage->stats();
  EXPECT_EQ(stats.appended, static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_LE(stats.batches, stats.appended);
}

TEST(Storage, WritesRunInOrderWithAppends) {
  auto storage = open_memory();
  std::promise<Seq> read_mark;
  storage->append(msg("room", "one"), [](Result<Appended> r) { ASSERT_TRUE(r); });
  storage->append(msg("room", "two"), [](Result<Appended> r) { ASSERT_TRUE(r); });
  storage->write([&](Connection& c) {
    auto r = c.mark_read("room", "bob", 2);
    read_mark.set_value(r ? *r : -1);
  });
  EXPECT_EQ(read_mark.get_future().get(), 2);
}

TEST(Storage, ReadsSeeCompletedWrites) {
  auto storage = open_memory();
  std::promise<void> appended;
  storage->append(msg("room", "hello"), [&](Result<Appended> r) {
    ASSERT_TRUE(r);
    appended.set_value();
  });
  appended.get_future().get();
  std::promise<std::size_t> count;
  storage->read([&](Connection& c) {
    auto r = c.read_after("room", 0, 100);
    count.set_value(r ? r->size() : 0);
  });
  EXPECT_EQ(count.get_future().get(), 1u);
}

TEST(Storage, StopCommitsWhatIsQueued) {
  auto db = std::make_shared<memory::MemoryDatabase>();
  std::atomic<int> acked{0};
  {
    auto s = Storage::open(db, {});
    ASSERT_TRUE(s);
    for (int i = 0; i < 1000; ++i) {
      (*s)->append(msg("room", "m"), [&](Result<Appended> r) {
        if (r) ++acked;
      });
    }
    (*s)->stop();
  }
  EXPECT_EQ(acked.load(), 1000);
  auto conn = db->connect();
  ASSERT_TRUE(conn);
  auto conv = (*conn)->get_conversation("room");
  ASSERT_TRUE(conv);
  EXPECT_EQ(conv->last_seq, 1000);
}

TEST(Storage, AppendAfterStopFailsUnavailable) {
  auto storage = open_memory();
  storage->stop();
  std::optional<Result<Appended>> got;
  storage->append(msg("room", "late"), [&](Result<Appended> r) { got = std::move(r); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error(), Errc::unavailable);
}

// storage.hpp promises that a write or read after stop fails with unavailable: a REST call
// awaiting the job must hear back, not wait forever.
TEST(Storage, WriteAndReadAfterStopFailUnavailable) {
  auto storage = open_memory();
  storage->stop();
  std::optional<boost::system::error_code> wrote, read;
  storage->write([&](Connection& c) {
    auto r = c.mark_read("room", "bob", 1);
    wrote = r ? boost::system::error_code() : r.error();
  });
  storage->read([&](Connection& c) {
    auto r = c.read_after("room", 0, 10);
    read = r ? boost::system::error_code() : r.error();
  });
  ASSERT_TRUE(wrote.has_value()) << "the write job never ran";
  ASSERT_TRUE(read.has_value()) << "the read job never ran";
  EXPECT_EQ(*wrote, Errc::unavailable);
  EXPECT_EQ(*read, Errc::unavailable);
}

TEST(Storage, MembershipsAreWrittenBeforeTheJobsQueuedAfterThem) {
  auto storage = open_memory();
  std::promise<void> created;
  storage->append(msg("room", "hello"), [&](Result<Appended> r) {
    ASSERT_TRUE(r);
    created.set_value();
  });
  created.get_future().get();
  for (int i = 0; i < 3000; ++i) storage->add_member("room", "u" + std::to_string(i), 1000 + i);
  storage->add_member("nowhere", "u1", 1);  // skipped, harms nobody
  std::promise<std::size_t> members;
  storage->write([&](Connection& c) {
    auto r = c.member_states("room");
    members.set_value(r ? r->size() : 0);
  });
  // 3000 joined, plus alice whose message marked it read.
  EXPECT_EQ(members.get_future().get(), 3001u);
}

TEST(Storage, AppendsQueuedBehindAJoinBurstAreCommittedFirst) {
  auto storage = open_memory();
  std::promise<void> created;
  storage->append(msg("room", "hello"), [&](Result<Appended> r) {
    ASSERT_TRUE(r);
    created.set_value();
  });
  created.get_future().get();
  // The burst and the append are taken in one drain.
  auto release = hold_writer(*storage);
  for (int i = 0; i < 5000; ++i) storage->add_member("room", "u" + std::to_string(i), 1);
  std::promise<std::size_t> members_at_ack;
  storage->append(msg("room", "canary"), [&](Result<Appended> r) {
    ASSERT_TRUE(r);
    // Still on the writer thread: no membership of the burst is written yet.
    auto conn = storage->database().connect();
    auto states = (*conn)->member_states("room");
    members_at_ack.set_value(states ? states->size() : 0);
  });
  release.set_value();
  EXPECT_EQ(members_at_ack.get_future().get(), 1u);  // alice's read state only
}

// Issue 13: a login burst (19,000 idle connections) queues one upsert per login; they are
// written together after the appends queued with them, and a job queued after them (a
// disconnect's last_seen) sees them.
TEST(Storage, UserUpsertsQueuedTogetherAreWrittenAfterTheAppendsAndBeforeLaterJobs) {
  auto storage = open_memory();
  auto release = hold_writer(*storage);  // the burst and the append are taken in one drain
  constexpr int kUsers = 3000;
  for (int i = 0; i < kUsers; ++i) {
    const std::string id = "u" + std::to_string(i);
    storage->upsert_user(std::make_shared<const User>(User{id, "name " + id, "", "user", {}}));
  }
  std::promise<bool> stored_at_ack;
  storage->append(msg("room", "canary"), [&](Result<Appended> r) {
    ASSERT_TRUE(r);
    // On the writer thread: the append was committed before any upsert of the burst.
    auto conn = storage->database().connect();
    stored_at_ack.set_value((*conn)->get_user("u0").has_value());
  });
  std::promise<std::optional<User>> seen;
  storage->write([&](Connection& c) {
    (void)c.set_last_seen("u2999", 42);
    auto first = c.get_user("u0");
    auto last = c.get_user("u2999");
    seen.set_value(first && last ? std::optional<User>(*last) : std::nullopt);
  });
  release.set_value();
  EXPECT_FALSE(stored_at_ack.get_future().get());
  EXPECT_EQ(seen.get_future().get(), (User{"u2999", "name u2999", "", "user", 42}));
}

// Room loads (issue 14): a join storm over new rooms queues one opening per room.
TEST(Storage, OpeningsQueuedTogetherAreCreatedTogetherAfterTheAppendsQueuedWithThem) {
  auto storage = open_memory();
  // The openings and the append are taken in one drain.
  auto release = hold_writer(*storage);
  constexpr int kRooms = 300;
  std::vector<std::int64_t> seen(kRooms, -1);  // conversations each `then` saw; writer only
  std::vector<bool> exists(kRooms, false);
  for (int i = 0; i < kRooms; ++i) {
    const std::string id = "r" + std::to_string(i);
    storage->open_conversation(id, [&, i, id](Connection& c) {
      exists[static_cast<std::size_t>(i)] = c.get_conversation(id).has_value();
      auto n = c.count_conversations();
      seen[static_cast<std::size_t>(i)] = n ? *n : -1;
    });
  }
  std::promise<std::int64_t> conversations_at_ack;
  storage->append(msg("canary", "hello"), [&](Result<Appended> r) {
    ASSERT_TRUE(r);
    // On the writer thread: the append was committed before any opening's creation.
    auto conn = storage->database().connect();
    auto n = (*conn)->count_conversations();
    conversations_at_ack.set_value(n ? *n : -1);
  });
  // A job queued after the openings runs after every `then`.
  std::promise<bool> after;
  storage->write(
      [&](Connection&) { after.set_value(std::count(seen.begin(), seen.end(), -1) == 0); });
  release.set_value();
  EXPECT_EQ(conversations_at_ack.get_future().get(), 1);  // the canary's own
  EXPECT_TRUE(after.get_future().get());
  for (int i = 0; i < kRooms; ++i) {
    EXPECT_TRUE(exists[static_cast<std::size_t>(i)]) << i;
    // The first chunk (Options::max_opens, 256) was created before its first `then` ran.
    EXPECT_GE(seen[static_cast<std::size_t>(i)], i < 256 ? 257 : kRooms + 1) << i;
  }
}

TEST(Storage, AnOpeningAfterStopRunsOverAnUnavailableConnection) {
  auto storage = open_memory();
  storage->stop();
  std::optional<boost::system::error_code> got;
  storage->open_conversation("room", [&](Connection& c) {
    auto r = c.ensure_conversation("room", 1);
    got = r ? boost::system::error_code() : r.error();
  });
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, Errc::unavailable);
}

}  // namespace
}  // namespace parley::store
