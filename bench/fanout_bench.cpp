// Hub fan-out per recipient: one committed message reaching N members of a room, encoded
// once. "Counting" sessions only count what they are handed (the hub's own cost); "posting"
// sessions post each frame to their own strand, as WsSession::deliver does, and the
// benchmark runs those handlers (the hand-off cost a real session adds before any I/O).

#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <memory>
#include <vector>

#include "hub/hub.hpp"
#include "hub/room.hpp"
#include "store/memory/memory_store.hpp"
#include "sample_message.hpp"
#include "store/storage.hpp"

namespace {

using namespace parley;
namespace asio = boost::asio;

class CountingSession final : public hub::Session {
 public:
  void deliver(const hub::Frame& frame) override {
    ++frames;
    bytes += frame->size();
  }
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
};

class PostingSession final : public hub::Session {
 public:
  explicit PostingSession(asio::io_context& ioc) : strand_(asio::make_strand(ioc)) {}
  void deliver(const hub::Frame& frame) override {
    asio::post(strand_, [self = std::static_pointer_cast<PostingSession>(shared_from_this()),
                         frame] { self->bytes += frame->size(); });
  }
  std::uint64_t bytes = 0;

 private:
  asio::strand<asio::io_context::executor_type> strand_;
};

struct Fixture {
  Fixture() {
    auto s = store::Storage::open(std::make_shared<store::memory::MemoryDatabase>(), {});
    storage = std::move(*s);
    hub = std::make_unique<hub::Hub>(ioc.get_executor(), *storage, hub::Hub::Options{});
    room = std::make_shared<hub::Room>(
        *hub, "room-17", asio::make_strand(asio::any_io_executor(ioc.get_executor())));
  }
  ~Fixture() {
    hub->stop();
    ioc.poll();
    storage->stop();
  }
  asio::io_context ioc{1};
  std::unique_ptr<store::Storage> storage;
  std::unique_ptr<hub::Hub> hub;
  std::shared_ptr<hub::Room> room;
};

template <class S>
void add_members(Fixture& f, std::vector<std::shared_ptr<S>>& sessions, std::int64_t n, auto make) {
  for (std::int64_t i = 0; i < n; ++i) {
    auto s = make();
    const User user{"user-" + std::to_string(i), "User", "user", {}, {}};
    s->set_user(user);
    // Called outside the strand: nothing else runs on it in this benchmark.
    f.room->add_member(s, user, protocol::WireFormat::native);
    sessions.push_back(std::move(s));
  }
}

void BM_FanoutCounting(benchmark::State& state) {
  Fixture f;
  std::vector<std::shared_ptr<CountingSession>> sessions;
  add_members(f, sessions, state.range(0), [] { return std::make_shared<CountingSession>(); });
  Seq seq = 0;
  for (auto _ : state) f.room->on_commit(bench::sample_message(++seq));
  state.SetItemsProcessed(state.iterations() * state.range(0));  // deliveries
  state.counters["s_per_recipient"] =
      benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_FanoutCounting)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);

void BM_FanoutPosting(benchmark::State& state) {
  Fixture f;
  std::vector<std::shared_ptr<PostingSession>> sessions;
  add_members(f, sessions, state.range(0), [&] { return std::make_shared<PostingSession>(f.ioc); });
  f.ioc.poll();
  Seq seq = 0;
  for (auto _ : state) {
    f.room->on_commit(bench::sample_message(++seq));
    f.ioc.poll();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["s_per_recipient"] =
      benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_FanoutPosting)->Arg(10)->Arg(1000);

}  // namespace
