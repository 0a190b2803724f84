// Appending messages to the PostgreSQL store, next to store_append_bench.cpp's SQLite ones:
// group-committed through Storage (K senders waiting at once), straight through
// Connection::append_batch, and the ceiling: the same rows in the same schema (migrations,
// every index, the tsvector column) written by a bare libpq pipeline, one prepared INSERT per
// row plus one UPDATE per conversation, BEGIN ... COMMIT and one sync per transaction (one
// round trip). Each benchmark takes (rows per transaction, rooms): 10 rooms as in the
// 10 × 10 chat scenario, 500 as in the two-member one.
//
// Registered only when PARLEY_BENCH_PG_URL names a server (e.g. the URL printed by
// scripts/pg-test-cluster.sh start DIR); every run uses a scratch schema there, dropped
// afterwards.

#include <benchmark/benchmark.h>
#include <libpq-fe.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/postgres/scratch_schema.hpp"
#include "store/storage.hpp"

namespace {

using namespace parley;
namespace pg = parley::store::postgres;

// The content of store_append_bench.cpp's rows.
const std::string kContent = "b 3 1234 987654321098 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

const char* pg_url() {
  const char* url = std::getenv("PARLEY_BENCH_PG_URL");
  return url != nullptr && *url != '\0' ? url : nullptr;
}

NewMessage make_message(std::uint64_t n, std::int64_t rooms) {
  NewMessage m;
  const auto room = static_cast<std::int64_t>(n) % rooms;
  m.conversation = "room-" + std::to_string(room);
  // Two senders per room, as in the two-member scenario (ten rooms: ten senders each).
  m.sender = Sender{"user-" + std::to_string(room * 2 + static_cast<std::int64_t>(n / rooms) % 2),
                    "User", "user"};
  m.content = kContent;
  m.client_id = "c-" + std::to_string(n);
  return m;
}

// A migrated scratch schema for one benchmark run, dropped afterwards.
class Scratch {
 public:
  Scratch() : name_(pg::scratch_schema_name("bench")) {
    spdlog::set_level(spdlog::level::warn);
    auto url = pg::create_scratch_schema(pg_url(), name_);
    if (!url) std::abort();
    url_ = *url;
    auto db = pg::PgDatabase::open(url_);
    if (!db) std::abort();
    db_ = *db;
  }
  ~Scratch() {
    db_.reset();
    (void)pg::drop_scratch_schema(pg_url(), name_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  const std::string& url() const { return url_; }
  std::shared_ptr<store::Database> db() const { return db_; }

 private:
  std::string name_, url_;
  std::shared_ptr<store::Database> db_;
};

class Latch {
 public:
  void add(std::size_t n) {
    std::lock_guard lock(mu_);
    left_ += n;
  }
  void done() {
    std::lock_guard lock(mu_);
    if (--left_ == 0) cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return left_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t left_ = 0;
};

// K senders each waiting for their ack: K appends queued at once, then all awaited.
void BM_PgStorageAppendGroup(benchmark::State& state) {
  Scratch scratch;
  auto storage = std::move(*store::Storage::open(scratch.db(), {}));
  const auto k = static_cast<std::size_t>(state.range(0));
  const std::int64_t rooms = state.range(1);
  std::uint64_t n = 0;
  Latch latch;
  for (auto _ : state) {
    latch.add(k);
    for (std::size_t i = 0; i < k; ++i) {
      storage->append(make_message(n++, rooms), [&](Result<Appended> r) {
        if (!r) std::abort();
        latch.done();
      });
    }
    latch.wait();
  }
  const auto stats = storage->stats();
  storage->stop();
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["rows_per_tx"] = static_cast<double>(stats.appended) /
                                  static_cast<double>(std::max<std::uint64_t>(1, stats.batches));
}

void BM_PgConnectionAppendBatch(benchmark::State& state) {
  Scratch scratch;
  auto conn = std::move(*scratch.db()->connect());
  const auto k = static_cast<std::size_t>(state.range(0));
  const std::int64_t rooms = state.range(1);
  std::uint64_t n = 0;
  std::vector<NewMessage> batch;
  for (auto _ : state) {
    state.PauseTiming();
    batch.clear();
    for (std::size_t i = 0; i < k; ++i) batch.push_back(make_message(n++, rooms));
    state.ResumeTiming();
    auto r = conn->append_batch(batch);
    if (!r) std::abort();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

PGresult* must(PGconn* conn, PGresult* res) {
  const auto status = res != nullptr ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_PIPELINE_SYNC) {
    std::fprintf(stderr, "postgres: %s\n", PQerrorMessage(conn));
    std::abort();
  }
  return res;
}

// The ceiling: the same rows, schema and server settings, no Parley code in the loop.
void BM_BarePgPipeline(benchmark::State& state) {
  Scratch scratch;
  PGconn* conn = PQconnectdb(scratch.url().c_str());
  if (PQstatus(conn) != CONNECTION_OK) std::abort();
  const auto k = static_cast<std::size_t>(state.range(0));
  const std::int64_t rooms = state.range(1);
  for (std::int64_t r = 0; r < rooms; ++r) {
    const std::string sql =
        "INSERT INTO conversations (id, created_at, updated_at) VALUES ('room-" +
        std::to_string(r) + "', 1, 1)";
    PQclear(must(conn, PQexec(conn, sql.c_str())));
  }
  // The stored search vector of kContent, as the store writes it (computed once).
  const char* content_param[] = {kContent.c_str()};
  PGresult* vec = must(conn, PQexecParams(conn, "SELECT to_tsvector('simple', $1)::text", 1,
                                          nullptr, content_param, nullptr, nullptr, 0));
  const std::string search = PQgetvalue(vec, 0, 0);
  PQclear(vec);
  PQclear(must(conn, PQprepare(conn, "ins",
                               "INSERT INTO messages (conversation, seq, id, sender_id, "
                               "sender_name, sender_role, kind, content, meta, created_at, "
                               "client_id, search) VALUES ($1, $2::bigint, $3, $4, $5, $6, $7, "
                               "$8, $9::json, $10::bigint, $11, $12::tsvector)",
                               0, nullptr)));
  PQclear(must(conn, PQprepare(conn, "bump",
                               "UPDATE conversations SET last_seq = $2::bigint, message_count = "
                               "message_count + $3::bigint, updated_at = $4::bigint WHERE id = $1",
                               0, nullptr)));
  if (PQenterPipelineMode(conn) != 1) std::abort();
  std::vector<std::int64_t> last(static_cast<std::size_t>(rooms), 0);
  std::vector<std::int64_t> added(static_cast<std::size_t>(rooms), 0);
  std::uint64_t n = 0;
  std::vector<NewMessage> batch;
  std::vector<std::string> ids;
  for (auto _ : state) {
    state.PauseTiming();
    batch.clear();
    for (std::size_t i = 0; i < k; ++i) batch.push_back(make_message(n++, rooms));
    state.ResumeTiming();
    const std::string now = std::to_string(now_ms());
    int sent = 0;
    if (PQsendQueryParams(conn, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) != 1) {
      std::abort();
    }
    ++sent;
    std::fill(added.begin(), added.end(), 0);
    ids.clear();
    for (std::size_t i = 0; i < k; ++i) {
      const NewMessage& m = batch[i];
      const auto room = static_cast<std::size_t>((n - k + i) % static_cast<std::uint64_t>(rooms));
      ++added[room];
      const std::string seq = std::to_string(++last[room]);
      ids.push_back(new_message_id());
      const char* values[] = {m.conversation.c_str(),
                              seq.c_str(),
                              ids.back().c_str(),
                              m.sender.id.c_str(),
                              m.sender.name.c_str(),
                              m.sender.role.c_str(),
                              "text",
                              m.content.c_str(),
                              "{}",
                              now.c_str(),
                              m.client_id->c_str(),
                              search.c_str()};
      if (PQsendQueryPrepared(conn, "ins", 12, values, nullptr, nullptr, 0) != 1) std::abort();
      ++sent;
    }
    for (std::int64_t r = 0; r < rooms; ++r) {
      const auto ri = static_cast<std::size_t>(r);
      if (added[ri] == 0) continue;
      const std::string id = "room-" + std::to_string(r);
      const std::string seq = std::to_string(last[ri]);
      const std::string count = std::to_string(added[ri]);
      const char* values[] = {id.c_str(), seq.c_str(), count.c_str(), now.c_str()};
      if (PQsendQueryPrepared(conn, "bump", 4, values, nullptr, nullptr, 0) != 1) std::abort();
      ++sent;
    }
    if (PQsendQueryParams(conn, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0) != 1) {
      std::abort();
    }
    ++sent;
    if (PQpipelineSync(conn) != 1) std::abort();
    for (int i = 0; i < sent; ++i) {
      PQclear(must(conn, PQgetResult(conn)));
      if (PQgetResult(conn) != nullptr) std::abort();  // the end of this query's results
    }
    PQclear(must(conn, PQgetResult(conn)));  // the sync
  }
  PQexitPipelineMode(conn);
  PQfinish(conn);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void add_args(benchmark::internal::Benchmark* b, std::initializer_list<std::int64_t> rows) {
  for (const std::int64_t rooms : {10, 500}) {
    for (const std::int64_t k : rows) b->Args({k, rooms});
  }
  b->ArgNames({"rows", "rooms"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

[[maybe_unused]] const bool kRegistered = [] {
  if (pg_url() == nullptr) return false;
  add_args(benchmark::RegisterBenchmark("BM_PgStorageAppendGroup", BM_PgStorageAppendGroup),
           {100, 500, 1000});
  add_args(benchmark::RegisterBenchmark("BM_PgConnectionAppendBatch", BM_PgConnectionAppendBatch),
           {100, 1000});
  add_args(benchmark::RegisterBenchmark("BM_BarePgPipeline", BM_BarePgPipeline), {100, 1000});
  return true;
}();

}  // namespace
