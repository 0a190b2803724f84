// Durable append throughput on PostgreSQL through Storage (group commit), as the server
// drives it: R rooms of two members, a window of in-flight appends, every append acked only
// after its commit. A timing program, not a test; docs/storage.md has the command and figures.
//
//   parley_pg_append_timing URL [messages=200000] [rooms=500] [window=2000] [bytes=100]
//                           [client_ids=1] [max_batch=Storage's default]
//
// URL is a server (scripts/pg-test-cluster.sh url DIR); the run uses a scratch schema there
// and drops it afterwards.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "core/log.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/postgres/scratch_schema.hpp"
#include "store/storage.hpp"

using namespace parley;
using namespace parley::store;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URL [messages] [rooms] [window] [bytes]\n", argv[0]);
    return 2;
  }
  const std::string url = argv[1];
  const long messages = argc > 2 ? std::atol(argv[2]) : 200000;
  const long rooms = argc > 3 ? std::atol(argv[3]) : 500;
  const long window = argc > 4 ? std::atol(argv[4]) : 2000;
  const long bytes = argc > 5 ? std::atol(argv[5]) : 100;
  const bool client_ids = argc > 6 ? std::atol(argv[6]) != 0 : true;
  Storage::Options options;
  if (argc > 7) options.max_batch = static_cast<std::size_t>(std::atol(argv[7]));
  const bool keep = std::getenv("PARLEY_TIMING_KEEP") != nullptr;
  spdlog::set_level(spdlog::level::warn);

  const std::string schema = postgres::scratch_schema_name("timing");
  auto scratch = postgres::create_scratch_schema(url, schema);
  if (!scratch) return std::fprintf(stderr, "cannot create a scratch schema\n"), 1;
  int rc = 0;
  {
    auto db = postgres::PgDatabase::open(*scratch);
    if (!db) return std::fprintf(stderr, "cannot open: %s\n", db.error().message().c_str()), 1;
    auto storage = Storage::open(*db, options);
    if (!storage) return 1;

    std::mutex mu;
    std::condition_variable cv;
    long in_flight = 0, acked = 0, failed = 0;
    const std::string content(static_cast<std::size_t>(bytes), 'x');
    const auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < messages; ++i) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return in_flight < window; });
        ++in_flight;
      }
      NewMessage m;
      const long room = i % rooms;
      m.conversation = "room-" + std::to_string(room);
      m.sender = {"user-" + std::to_string(room * 2 + (i / rooms) % 2), "User", "user"};
      m.content = content;
      if (client_ids) m.client_id = "c" + std::to_string(i);
      (*storage)->append(std::move(m), [&](Result<Appended> r) {
        std::lock_guard lock(mu);
        --in_flight;
        if (r) {
          ++acked;
        } else {
          ++failed;
        }
        cv.notify_all();
      });
    }
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight == 0; });
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto stats = (*storage)->stats();
    std::printf("messages %ld  rooms %ld  window %ld  bytes %ld  client_ids %d  max_batch %zu\n",
                messages, rooms, window, bytes, client_ids ? 1 : 0, options.max_batch);
    std::printf(
        "acked %ld  failed %ld  in %.2f s  =>  %.0f durable msgs/s  (%llu transactions, "
        "%.0f msgs each)\n",
        acked, failed, seconds, static_cast<double>(acked) / seconds,
        static_cast<unsigned long long>(stats.batches),
        stats.batches ? static_cast<double>(stats.appended) / static_cast<double>(stats.batches)
                      : 0.0);
    rc = failed == 0 ? 0 : 1;
  }
  if (keep) {
    std::printf("kept schema %s\n", schema.c_str());
  } else {
    (void)postgres::drop_scratch_schema(url, schema);
  }
  return rc;
}
