// PostgreSQL-specific behaviour: URLs, migrations, several servers on one database, dropped
// connections. The storage contract itself is tests/conformance's, run on every backend.
// Tests that need a server run when PARLEY_TEST_PG_URL is set (scripts/pg-test-cluster.sh)
// and are skipped otherwise.
#include "store/postgres/pg_store.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <thread>

#include "store/postgres/scratch_schema.hpp"
#include "store/storage.hpp"

namespace parley::store::postgres {
namespace {

std::string server_url() {
  const char* url = std::getenv("PARLEY_TEST_PG_URL");
  return url != nullptr ? url : "";
}

#define REQUIRE_SERVER()                                                    \
  do {                                                                      \
    if (server_url().empty()) GTEST_SKIP() << "PARLEY_TEST_PG_URL not set"; \
  } while (0)

// A scratch schema for one test, dropped at the end.
class Scratch {
 public:
  Scratch() : name_(scratch_schema_name("pgtest")) {
    auto url = create_scratch_schema(server_url(), name_);
    EXPECT_TRUE(url.has_value());
    if (url) url_ = *url;
  }
  ~Scratch() { (void)drop_scratch_schema(server_url(), name_); }
  const std::string& url() const { return url_; }

 private:
  std::string name_, url_;
};

NewMessage msg(std::string conv, std::string text, std::string sender = "alice",
               std::optional<std::string> client_id = std::nullopt) {
  NewMessage m;
  m.conversation = std::move(conv);
  m.sender = {std::move(sender), "Alice", "user"};
  m.content = std::move(text);
  m.client_id = std::move(client_id);
  return m;
}

class EnvGuard {
 public:
  explicit EnvGuard(const char* name) : name_(name) {
    if (const char* v = std::getenv(name)) old_ = v;
  }
  ~EnvGuard() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(PgUrl, FromEnvironment) {
  EnvGuard g1("DB_HOST"), g2("DB_PORT"), g3("DB_NAME"), g4("DB_USER"), g5("DB_PASSWORD");
  ::unsetenv("DB_HOST");
  ::unsetenv("DB_PORT");
  ::unsetenv("DB_NAME");
  ::unsetenv("DB_USER");
  ::unsetenv("DB_PASSWORD");
  EXPECT_EQ(pg_url_from_env(), "");
  ::setenv("DB_HOST", "db.internal", 1);
  EXPECT_EQ(pg_url_from_env(), "postgresql://db.internal/");
  ::setenv("DB_PORT", "6543", 1);
  ::setenv("DB_NAME", "chat app", 1);
  ::setenv("DB_USER", "parley", 1);
  ::setenv("DB_PASSWORD", "p@ss:w/rd", 1);
  EXPECT_EQ(pg_url_from_env(), "postgresql://parley:p%40ss%3Aw%2Frd@db.internal:6543/chat%20app");
  ::setenv("DB_HOST", "::1", 1);
  EXPECT_EQ(pg_url_from_env(), "postgresql://parley:p%40ss%3Aw%2Frd@[::1]:6543/chat%20app");
  ::setenv("DB_HOST", "/run/postgresql", 1);
  EXPECT_EQ(pg_url_from_env(),
            "postgresql://parley:p%40ss%3Aw%2Frd@/chat%20app?host=%2Frun%2Fpostgresql&port=6543");
  // libpq accepts every form.
  for (const char* host : {"db.internal", "::1", "/run/postgresql"}) {
    ::setenv("DB_HOST", host, 1);
    EXPECT_TRUE(PgConnInfo::parse(pg_url_from_env()).has_value()) << host;
  }
}

TEST(PgUrl, ParsesAndRedacts) {
  auto info = PgConnInfo::parse(
      "postgres://bob:secret@db.example.com:5433/chat?sslmode=require&application_name=x");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->redacted(), "host=db.example.com port=5433 dbname=chat user=bob sslmode=require");
  EXPECT_EQ(info->redacted().find("secret"), std::string::npos);
  EXPECT_EQ(PgConnInfo::parse("postgresql://h/db?no_such_parameter=1").error(),
            Errc::invalid_argument);
  EXPECT_EQ(PgConnInfo::parse("").error(), Errc::invalid_argument);
}

// Connects with the parameters PgConnection uses and returns SHOW `setting`.
std::string show(const PgConnInfo& info, const char* setting) {
  std::vector<const char*> keys, values;
  for (const auto& k : info.keywords()) keys.push_back(k.c_str());
  for (const auto& v : info.values()) values.push_back(v.c_str());
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), 1);
  EXPECT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PGresult* res = PQexec(conn, (std::string("SHOW ") + setting).c_str());
  std::string out = PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : "?";
  PQclear(res);
  PQfinish(conn);
  return out;
}

TEST(PgUrl, DefaultsApplyAndTheUrlOverridesThem) {
  REQUIRE_SERVER();
  auto plain = PgConnInfo::parse(server_url());
  ASSERT_TRUE(plain);
  EXPECT_EQ(show(*plain, "application_name"), "parley");
  EXPECT_EQ(show(*plain, "idle_in_transaction_session_timeout"), "15s");
  const std::string sep = server_url().find('?') == std::string::npos ? "?" : "&";
  auto custom = PgConnInfo::parse(server_url() + sep +
                                  "application_name=custom&options=-cstatement_timeout%3D7000");
  ASSERT_TRUE(custom);
  EXPECT_EQ(show(*custom, "application_name"), "custom");
  EXPECT_EQ(show(*custom, "statement_timeout"), "7s");
}

TEST(PgDatabase, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: refused at once.
  auto db = PgDatabase::open("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2");
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error(), Errc::unavailable);
}

TEST(PgDatabase, MigratesOnceAndRecordsTheVersion) {
  REQUIRE_SERVER();
  Scratch scratch;
  // Several servers starting at once: the advisory lock lets one migrate.
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (PgDatabase::open(scratch.url())) ++opened;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(opened.load(), 4);
  auto info = PgConnInfo::parse(scratch.url());
  ASSERT_TRUE(info);
  auto conn = PgConnection::open(std::make_shared<const PgConnInfo>(*info));
  ASSERT_TRUE(conn);
  EXPECT_EQ((*conn)->schema_version().value(), PgDatabase::latest_schema_version());
  EXPECT_EQ((*conn)->migrate(0).value(), PgDatabase::latest_schema_version());
}

TEST(PgDatabase, MigratesAnOlderSchemaForward) {
  REQUIRE_SERVER();
  Scratch scratch;
  {
    PgDatabase::Options v1;
    v1.target_version = 1;
    auto db = PgDatabase::open(scratch.url(), v1);
    ASSERT_TRUE(db);
    // A row written by a version-1 server (no search column yet).
    PGconn* raw = PQconnectdb(scratch.url().c_str());
    ASSERT_EQ(PQstatus(raw), CONNECTION_OK);
    PGresult* res = PQexec(raw,
                           "INSERT INTO conversations (id, created_at, updated_at, last_seq, "
                           "message_count) VALUES ('old', 1, 1, 1, 1); "
                           "INSERT INTO messages (conversation, seq, id, sender_id, content, "
                           "created_at) VALUES ('old', 1, 'm1', 'alice', 'hello world', 1)");
    EXPECT_EQ(PQresultStatus(res), PGRES_COMMAND_OK) << PQerrorMessage(raw);
    PQclear(res);
    PQfinish(raw);
  }
  auto db = PgDatabase::open(scratch.url());
  ASSERT_TRUE(db);
  auto conn = (*db)->connect();
  ASSERT_TRUE(conn);
  SearchQuery query;
  query.text = "hello";
  auto hits = (*conn)->search(query);
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ(hits->front().message.content, "hello world");
  auto appended = (*conn)->append_batch(std::vector<NewMessage>{msg("old", "again")});
  ASSERT_TRUE(appended);
  EXPECT_EQ(appended->front().message.seq, 2);
}

TEST(PgConnection, SeveralServersWriteOneGaplessSequence) {
  REQUIRE_SERVER();
  Scratch scratch;
  constexpr int kServers = 3, kBatches = 40, kPerBatch = 25;
  std::vector<std::thread> servers;
  std::atomic<int> failures{0};
  for (int s = 0; s < kServers; ++s) {
    servers.emplace_back([&, s] {
      auto db = PgDatabase::open(scratch.url());  // a Database per "server"
      if (!db) return void(++failures);
      auto conn = (*db)->connect();
      if (!conn) return void(++failures);
      for (int b = 0; b < kBatches; ++b) {
        std::vector<NewMessage> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          // Two conversations in every batch, in both orders, to tempt deadlocks.
          const bool flip = (s + b + i) % 2 == 0;
          batch.push_back(msg(flip ? "shared-a" : "shared-b", "m", "u" + std::to_string(s),
                              std::to_string(b) + ":" + std::to_string(i)));
        }
        if (!(*conn)->append_batch(batch)) ++failures;
      }
    });
  }
  for (auto& t : servers) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto db = PgDatabase::open(scratch.url());
  ASSERT_TRUE(db);
  auto conn = (*db)->connect();
  ASSERT_TRUE(conn);
  std::size_t total = 0;
  for (const char* id : {"shared-a", "shared-b"}) {
    auto conv = (*conn)->get_conversation(id);
    ASSERT_TRUE(conv);
    auto all = (*conn)->read_after(id, 0, 100000);
    ASSERT_TRUE(all);
    ASSERT_EQ(static_cast<Seq>(all->size()), conv->last_seq);
    EXPECT_EQ(conv->message_count, conv->last_seq);
    for (std::size_t i = 0; i < all->size(); ++i) EXPECT_EQ((*all)[i].seq, Seq(i + 1));
    total += all->size();
  }
  EXPECT_EQ(total, std::size_t{kServers * kBatches * kPerBatch});
}

TEST(PgConnection, ReconnectsAfterTheServerDropsIt) {
  REQUIRE_SERVER();
  Scratch scratch;
  // Our own application_name, so other tests' connections are left alone.
  const std::string url = scratch.url() + "&application_name=parley_reconnect_test";
  auto db = PgDatabase::open(url);
  ASSERT_TRUE(db);
  auto conn = (*db)->connect();
  ASSERT_TRUE(conn);
  ASSERT_TRUE((*conn)->append_batch(std::vector<NewMessage>{msg("r", "one")}));

  PGconn* admin = PQconnectdb(server_url().c_str());
  ASSERT_EQ(PQstatus(admin), CONNECTION_OK);
  auto terminate = [&] {
    PGresult* res = PQexec(admin,
                           "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name = 'parley_reconnect_test'");
    EXPECT_EQ(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  };
  terminate();
  // Reads, idempotent writes and appends carry on over a new connection.
  auto all = (*conn)->read_after("r", 0, 10);
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(all->size(), 1u);
  terminate();
  auto appended = (*conn)->append_batch(std::vector<NewMessage>{msg("r", "two")});
  ASSERT_TRUE(appended) << appended.error().message();
  EXPECT_EQ(appended->front().message.seq, 2);
  terminate();
  EXPECT_TRUE((*conn)->mark_read("r", "bob", 2));
  EXPECT_EQ((*conn)->read_seq("r", "bob").value(), 2);
  PQfinish(admin);
}

TEST(PgConnection, WriteInDoubtIsResolvedWithoutDuplicates) {
  REQUIRE_SERVER();
  Scratch scratch;
  const std::string url = scratch.url() + "&application_name=parley_doubt_test";
  auto db = PgDatabase::open(url);
  ASSERT_TRUE(db);
  auto conn = (*db)->connect();
  ASSERT_TRUE(conn);
  ASSERT_TRUE((*conn)->append_batch(std::vector<NewMessage>{msg("d", "one")}));

  // Another session holds the conversation row, so our write waits, in flight.
  PGconn* holder = PQconnectdb(scratch.url().c_str());
  ASSERT_EQ(PQstatus(holder), CONNECTION_OK);
  PQclear(PQexec(holder, "BEGIN"));
  PQclear(PQexec(holder, "SELECT 1 FROM conversations WHERE id = 'd' FOR UPDATE"));
  std::promise<Result<std::vector<Appended>>> done;
  std::thread writer([&] {
    done.set_value((*conn)->append_batch(std::vector<NewMessage>{msg("d", "two", "bob", "c2")}));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // The connection drops while the write is in doubt: it never committed (the row is held),
  // so it is found absent after reconnecting and written again (and waits again).
  PGconn* admin = PQconnectdb(server_url().c_str());
  PQclear(PQexec(admin,
                 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE application_name = 'parley_doubt_test'"));
  PQfinish(admin);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  PQclear(PQexec(holder, "COMMIT"));
  PQfinish(holder);
  writer.join();
  auto appended = done.get_future().get();
  ASSERT_TRUE(appended) << appended.error().message();
  EXPECT_EQ(appended->front().message.seq, 2);
  EXPECT_FALSE(appended->front().duplicate);
  auto all = (*conn)->read_after("d", 0, 10);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].content, "two");
  EXPECT_EQ((*conn)->get_conversation("d")->last_seq, 2);
}

// A TCP relay to the test server that can lose the server's next reply: it then closes
// both sides without passing it on, as a network failure right after a commit would.
class LossyRelay {
 public:
  explicit LossyRelay(int server_port) : server_port_(server_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~LossyRelay() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
    for (auto& t : pumps_) t.join();
  }
  int port() const { return port_; }
  void lose_next_reply() { lose_ = true; }
  // While frozen nothing is relayed either way and connections are accepted but not
  // served: a hung server (SIGSTOP, a frozen VM) as its clients see it.
  void freeze(bool on) { frozen_ = on; }

 private:
  void run() {
    while (!stop_) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      const int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<std::uint16_t>(server_port_));
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      pumps_.emplace_back([this, client, server] { pump(client, server); });
    }
  }
  void pump(int client, int server) {
    char buf[65536];
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    while (!stop_) {
      if (frozen_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      if (::poll(fds, 2, 100) <= 0) continue;
      if (fds[0].revents != 0) {
        const ssize_t n = ::read(client, buf, sizeof buf);
        if (n <= 0 || ::write(server, buf, static_cast<std::size_t>(n)) != n) break;
      }
      if (fds[1].revents != 0) {
        const ssize_t n = ::read(server, buf, sizeof buf);
        if (n <= 0 || lose_.exchange(false)) break;
        if (::write(client, buf, static_cast<std::size_t>(n)) != n) break;
      }
    }
    ::close(client);
    ::close(server);
  }

  int server_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false}, lose_{false}, frozen_{false};
  std::thread thread_;
  std::vector<std::thread> pumps_;  // only the accept thread adds, joined after it ends
};

TEST(PgConnection, CommittedWriteWhoseReplyWasLostIsNotStoredTwice) {
  REQUIRE_SERVER();
  Scratch scratch;
  const std::string& url = scratch.url();  // postgresql://postgres@127.0.0.1:PORT/postgres?...
  const auto colon = url.find(':', std::string("postgresql://").size());
  const auto slash = url.find('/', colon);
  ASSERT_NE(colon, std::string::npos);
  LossyRelay relay(std::stoi(url.substr(colon + 1, slash - colon - 1)));
  const std::string relayed =
      url.substr(0, colon + 1) + std::to_string(relay.port()) + url.substr(slash);
  auto db = PgDatabase::open(relayed);
  ASSERT_TRUE(db);
  auto conn = (*db)->connect();
  ASSERT_TRUE(conn);
  ASSERT_TRUE((*conn)->append_batch(std::vector<NewMessage>{msg("lost", "one")}));

  relay.lose_next_reply();
  std::vector<NewMessage> batch = {msg("lost", "two", "bob", "k2"), msg("lost", "three"),
                                   msg("lost", "two again", "bob", "k2")};
  auto appended = (*conn)->append_batch(batch);
  ASSERT_TRUE(appended) << appended.error().message();
  ASSERT_EQ(appended->size(), 3u);
  EXPECT_EQ((*appended)[0].message.seq, 2);
  EXPECT_EQ((*appended)[1].message.seq, 3);
  EXPECT_TRUE((*appended)[2].duplicate);
  EXPECT_EQ((*appended)[2].message.seq, 2);
  auto all = (*conn)->read_after("lost", 0, 10);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);  // committed once, not twice
  EXPECT_EQ((*all)[1].id, (*appended)[0].message.id);
  EXPECT_EQ((*all)[2].id, (*appended)[1].message.id);
  EXPECT_EQ((*conn)->get_conversation("lost")->last_seq, 3);
}

// Issue 14: a SIGSTOPped cluster stalled every call for as long as it was frozen. Each call
// now has a deadline; past it the connection is dropped, the call fails with unavailable
// (so Storage reports the database down and the outage spool takes over), and the write it
// left in doubt, which the thawed server then commits, is not stored twice.
TEST(PgConnection, AHungServerFailsCallsAtTheirDeadlineAndTheInDoubtWriteIsStoredOnce) {
  REQUIRE_SERVER();
  Scratch scratch;
  const std::string& url = scratch.url();
  const auto colon = url.find(':', std::string("postgresql://").size());
  const auto slash = url.find('/', colon);
  ASSERT_NE(colon, std::string::npos);
  LossyRelay relay(std::stoi(url.substr(colon + 1, slash - colon - 1)));
  const std::string relayed =
      url.substr(0, colon + 1) + std::to_string(relay.port()) + url.substr(slash);
  PgDatabase::Options options;
  options.deadlines.commit = std::chrono::milliseconds(300);
  options.deadlines.statement = std::chrono::milliseconds(500);
  auto db = PgDatabase::open(relayed, options);
  ASSERT_TRUE(db);
  auto conn = (*db)->connect();
  ASSERT_TRUE(conn);
  ASSERT_TRUE((*conn)->append_batch(std::vector<NewMessage>{msg("hung", "one")}));

  relay.freeze(true);
  using Clock = std::chrono::steady_clock;
  const auto elapsed_ms = [](Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
  };
  auto t0 = Clock::now();
  const std::vector<NewMessage> two{msg("hung", "two", "bob", "k2")};
  auto appended = (*conn)->append_batch(two);
  ASSERT_FALSE(appended) << "an append on a hung server succeeded";
  EXPECT_EQ(appended.error(), Errc::unavailable);
  EXPECT_LT(elapsed_ms(t0), 1500) << "the commit deadline is 300 ms";
  t0 = Clock::now();
  auto read = (*conn)->read_after("hung", 0, 10);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), Errc::unavailable);
  EXPECT_LT(elapsed_ms(t0), 4000) << "the connect deadline is 2 s";

  relay.freeze(false);  // the server thaws and runs what was in flight
  t0 = Clock::now();
  Result<std::vector<Appended>> again = make_error_code(Errc::unavailable);
  while (elapsed_ms(t0) < 10000) {
    again = (*conn)->append_batch(two);  // the resend (the outage spool's replay)
    if (again) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(again) << again.error().message();
  auto all = (*conn)->read_after("hung", 0, 10);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u) << "stored once";
  EXPECT_EQ((*all)[1].client_id, std::optional<std::string>("k2"));
  EXPECT_EQ(again->at(0).message.seq, 2);
}

TEST(PgConnection, UnreachableServerFailsFastWithUnavailable) {
  REQUIRE_SERVER();
  Scratch scratch;
  // A connection whose server goes away for good: point a second PgConnInfo at a dead port
  // by opening against the live server first, then dropping and refusing reconnects.
  auto info = PgConnInfo::parse("postgresql://postgres@127.0.0.1:1/postgres");
  ASSERT_TRUE(info);
  auto conn = PgConnection::open(std::make_shared<const PgConnInfo>(*info));
  ASSERT_FALSE(conn);
  EXPECT_EQ(conn.error(), Errc::unavailable);
}

TEST(PgConnection, StorageReportsDownAndRecovers) {
  REQUIRE_SERVER();
  Scratch scratch;
  const std::string url = scratch.url() + "&application_name=parley_storage_test";
  auto db = PgDatabase::open(url);
  ASSERT_TRUE(db);
  auto storage = Storage::open(*db, {});
  ASSERT_TRUE(storage);
  std::promise<Result<Appended>> first;
  (*storage)->append(msg("s", "one"), [&](Result<Appended> r) { first.set_value(std::move(r)); });
  ASSERT_TRUE(first.get_future().get());
  PGconn* admin = PQconnectdb(server_url().c_str());
  PGresult* res = PQexec(admin,
                         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = 'parley_storage_test'");
  PQclear(res);
  PQfinish(admin);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::promise<Result<Appended>> second;
  (*storage)->append(msg("s", "two"), [&](Result<Appended> r) { second.set_value(std::move(r)); });
  auto r = second.get_future().get();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->message.seq, 2);
  EXPECT_TRUE((*storage)->database_up());
}

TEST(PgConnection, ContentKeepsNulAndEscapeBytesButRejectsInvalidUtf8) {
  REQUIRE_SERVER();
  Scratch scratch;
  auto db = PgDatabase::open(scratch.url());
  ASSERT_TRUE(db);
  auto conn = (*db)->connect();
  ASSERT_TRUE(conn);
  // PostgreSQL text holds no NUL: content is escaped with \x01, which must survive too.
  const std::vector<std::string> samples = {std::string("a\0b", 3), "\x01",
                                            "\x01"
                                            "0",
                                            std::string("\x01\0\x01"
                                                        "1\0",
                                                        5),
                                            "plain"};
  std::vector<NewMessage> batch;
  for (const auto& s : samples) batch.push_back(msg("x", s));
  ASSERT_TRUE((*conn)->append_batch(batch));
  auto stored = (*conn)->read_after("x", 0, 10);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) EXPECT_EQ((*stored)[i].content, samples[i]);
  auto edited = (*conn)->edit_message("x", 5, std::string("new\0", 4), std::nullopt, 0);
  ASSERT_TRUE(edited);
  EXPECT_EQ((*conn)->get_message("x", 5)->content, std::string("new\0", 4));

  auto bad = (*conn)->append_batch(std::vector<NewMessage>{msg("x", "\xff\xfe")});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), Errc::invalid_argument);
  auto nul_name = msg("x", "hi");
  nul_name.sender.name = std::string("a\0", 2);
  auto rejected = (*conn)->append_batch(std::vector<NewMessage>{nul_name});
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error(), Errc::invalid_argument);
  // Neither left anything behind, and the connection still works.
  auto ok = (*conn)->append_batch(std::vector<NewMessage>{msg("x", "fine")});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->front().message.seq, 6);
}

// Appends send each message's search vector in binary, edits as tsvector text: both must
// store the same vector, at PostgreSQL's limits too (lexemes over 2 KiB, 256 positions per
// lexeme, positions up to 16383).
TEST(PgConnection, AppendAndEditStoreTheSameSearchVector) {
  REQUIRE_SERVER();
  Scratch scratch;
  auto db = PgDatabase::open(scratch.url());
  ASSERT_TRUE(db);
  auto conn = (*db)->connect();
  ASSERT_TRUE(conn);
  std::string repeated, many_words;
  for (int i = 0; i < 300; ++i) repeated += "rep other ";
  for (int i = 0; i < 17000; ++i) many_words += "w" + std::to_string(i % 40) + " ";
  const std::vector<std::string> samples = {
      "Hello hello HELLO, w\xc3\xb6rld! \xc3\xbcn\xc3\xaf"
      "code 123 a-b_c",
      "",
      "...",
      std::string(3000, 'a') + " short",
      repeated,
      many_words,
  };
  std::vector<NewMessage> batch;
  for (const auto& text : samples) batch.push_back(msg("appended", text));
  ASSERT_TRUE((*conn)->append_batch(batch));
  for (std::size_t i = 0; i < samples.size(); ++i) {
    ASSERT_TRUE((*conn)->append_batch(std::vector<NewMessage>{msg("edited", "placeholder")}));
    ASSERT_TRUE((*conn)->edit_message("edited", static_cast<Seq>(i + 1), samples[i], std::nullopt,
                                      0));
  }
  PGconn* raw = PQconnectdb(scratch.url().c_str());
  ASSERT_EQ(PQstatus(raw), CONNECTION_OK);
  PGresult* res = PQexec(raw,
                         "SELECT a.search::text, e.search::text, length(a.search) "
                         "FROM messages a JOIN messages e ON e.seq = a.seq "
                         "WHERE a.conversation = 'appended' AND e.conversation = 'edited' "
                         "ORDER BY a.seq");
  ASSERT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << PQerrorMessage(raw);
  ASSERT_EQ(PQntuples(res), static_cast<int>(samples.size()));
  for (int row = 0; row < PQntuples(res); ++row) {
    EXPECT_STREQ(PQgetvalue(res, row, 0), PQgetvalue(res, row, 1)) << "sample " << row;
  }
  // The first sample's words, lowercased, with their positions.
  EXPECT_STREQ(PQgetvalue(res, 0, 0),
               "'123':6 'a':7 'b':8 'c':9 'hello':1,2,3 'w\xc3\xb6rld':4 "
               "'\xc3\xbcn\xc3\xaf"
               "code':5");
  EXPECT_STREQ(PQgetvalue(res, 1, 2), "0");
  EXPECT_STREQ(PQgetvalue(res, 3, 2), "1");  // the 3,000-byte word is left out
  PQclear(res);
  PQfinish(raw);
  // Search finds what the binary vectors hold.
  SearchQuery query;
  query.text = "rep";
  query.conversation = "appended";
  auto hits = (*conn)->search(query);
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ(hits->front().message.seq, 5);
}

// A real outage: the server crashes (pg_ctl stop -m immediate) under a Storage and comes
// back on the same port. Opt-in, because it stops the server every other test uses: set
// PARLEY_TEST_PG_OUTAGE_DIR to the DIR given to scripts/pg-test-cluster.sh.
TEST(PgOutage, UnavailableQuicklyWhileDownThenRecovers) {
  REQUIRE_SERVER();
  const char* dir = std::getenv("PARLEY_TEST_PG_OUTAGE_DIR");
  if (dir == nullptr) GTEST_SKIP() << "PARLEY_TEST_PG_OUTAGE_DIR not set";
  const std::string script = std::string(PARLEY_SOURCE_DIR) + "/scripts/pg-test-cluster.sh";
  Scratch scratch;
  auto db = PgDatabase::open(scratch.url());
  ASSERT_TRUE(db);
  auto storage = Storage::open(*db, {});
  ASSERT_TRUE(storage);
  auto append = [&](std::string text) {
    std::promise<Result<Appended>> done;
    (*storage)->append(msg("outage", std::move(text), "alice", text),
                       [&](Result<Appended> r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  };
  ASSERT_TRUE(append("before"));

  ASSERT_EQ(std::system((script + " kill " + dir).c_str()), 0);
  for (int i = 0; i < 20; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto r = append("during " + std::to_string(i));
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), Errc::unavailable);
    EXPECT_LT(took, std::chrono::seconds(1));
  }
  EXPECT_FALSE((*storage)->database_up());
  std::promise<Result<std::vector<StoredMessage>>> read;
  (*storage)->read([&](Connection& c) { read.set_value(c.read_after("outage", 0, 10)); });
  auto during = read.get_future().get();
  ASSERT_FALSE(during);
  EXPECT_EQ(during.error(), Errc::unavailable);

  ASSERT_EQ(std::system((script + " start " + dir + " >/dev/null").c_str()), 0);
  Result<Appended> after = make_error_code(Errc::unavailable);
  for (int i = 0; i < 50 && !after; ++i) {  // the backoff is at most 2 s
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = append("after");
  }
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_EQ(after->message.seq, 2);  // nothing stored while down, no gap
  EXPECT_TRUE((*storage)->database_up());
}

}  // namespace
}  // namespace parley::store::postgres
