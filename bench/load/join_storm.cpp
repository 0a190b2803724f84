// join-storm: what a mass reconnect after a restart looks like to a client that keeps
// talking. C clients each join R rooms new to them, all at once (every join records a
// membership: one storage write per join), while a canary, already in a room of its own,
// sends one message every `canary_interval` and times each ack. The figure is the canary's
// ack latency during the storm (issue 14: with each membership its own fsynced job, a storm
// of 2,000 x 50 joins held an unrelated ack for 30.1 s); the server CPU per join says what a
// join costs. Verifies that every join got its history reply and every canary send its ack,
// and with --max-canary-p99 that the canary's ack p99 during the storm is within it. The
// canary's acks in the second before the storm are the baseline it is compared with (at rest:
// one commit, ~1.2 ms p50 on the bench VM).
// The canary has a thread of its own: it stands for a client on another machine, and on a
// pool thread shared with storm clients its acks waited behind their presence parsing (the
// bench's own CPU, not the server's).

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <iostream>
#include <mutex>
#include <thread>

#include "client.hpp"
#include "common.hpp"
#include "scenarios.hpp"

namespace parley::bench {
namespace {

class JoinStorm final : public Handler {
 public:
  JoinStorm(const Common& common, const JoinStormOptions& options)
      : common_(common),
        opt_(options),
        pool_(common.threads),
        canary_pool_(1),
        answered_(options.clients) {}

  int run() {
    if (opt_.clients == 0 || opt_.rooms == 0) return 2;
    run_ = run_id();
    const auto server = parse_server(common_.host, common_.port);
    canary_ = std::make_shared<Conn>(canary_pool_, 0);
    std::vector<ConnPtr> conns;
    for (std::size_t i = 0; i < opt_.clients; ++i) {
      conns.push_back(std::make_shared<Conn>(pool_, i));  // index i: answered_[i]
    }
    std::vector<ConnPtr> all = conns;
    all.push_back(canary_);
    const std::size_t failed = open_all(
        all,
        [&](std::size_t i, std::function<void(bool)> done) {
          const std::string user =
              i < conns.size() ? "s" + run_ + "-" + std::to_string(i) : "s" + run_ + "-canary";
          all[i]->open(server, std::nullopt, user, this, std::move(done));
        },
        128, std::chrono::seconds(60));
    if (failed) {
      std::cerr << "join-storm: " << failed << " connections failed to open\n";
      pool_.stop();
      canary_pool_.stop();
      return 1;
    }
    clients_ = std::move(conns);
    // The canary's room exists and the canary is in it before anything is timed.
    asio::post(canary_->context(), [this] {
      canary_->send(R"({"op":"join","conversation":"storm-)" + run_ + R"(-canary","limit":1})");
    });
    if (!wait_until([&] { return canary_joined_.load(); }, std::chrono::seconds(20))) {
      std::cerr << "join-storm: the canary could not join\n";
      pool_.stop();
      canary_pool_.stop();
      return 1;
    }

    const auto interval = std::chrono::duration<double>(opt_.canary_interval);
    const std::int64_t interval_ns = static_cast<std::int64_t>(opt_.canary_interval * 1e9);
    canary_timer_ = std::make_unique<asio::steady_timer>(canary_->context());
    canary_next_ = now_ns();
    asio::post(canary_->context(), [this, interval_ns] { canary_tick(interval_ns); });
    std::this_thread::sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(
        interval * 50));  // acks before the storm: the quiet baseline (rest_latency_)

    CpuWindow cpu(common_.server_pid);
    cpu.start();
    storm_start_ = now_ns();
    storm_started_.store(true);
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      Conn* c = clients_[i].get();
      asio::post(c->context(), [this, c, i] {
        for (std::size_t r = 0; r < opt_.rooms; ++r) {
          // Client i joins rooms i.., so rooms have members from many clients and every
          // client's set is new to it.
          c->send(R"({"op":"join","conversation":"storm-)" + run_ + "-" +
                  std::to_string((i + r) % (opt_.rooms * 4)) + R"(","limit":1})");
        }
      });
    }
    const std::uint64_t expected = static_cast<std::uint64_t>(opt_.clients) * opt_.rooms;
    // A client the server closed (as slow: presence it could not read in time) gets no more
    // answers: its unanswered joins are abandoned, counted as errors, and not waited for.
    const bool all_joined = wait_until(
        [&] { return joined_.load() + join_errors_.load() + abandoned_.load() >= expected; },
                   std::chrono::milliseconds(static_cast<std::int64_t>(opt_.timeout * 1000)),
                   std::chrono::milliseconds(5));
    const std::int64_t storm_end = now_ns();
    storm_end_.store(storm_end);
    const double server_cpu = cpu.seconds();
    const double storm_s = static_cast<double>(storm_end - storm_start_) / 1e9;
    // A few more canary sends after the storm, then stop and wait for the acks in flight.
    std::this_thread::sleep_for(
        std::chrono::duration_cast<std::chrono::milliseconds>(interval * 5));
    canary_stop_.store(true);
    const bool acked = wait_until([&] { return canary_acks_.load() >= canary_sent_.load(); },
                                  std::chrono::seconds(30));
    for (auto& c : clients_) c->close();
    canary_->close();
    pool_.run_on(0, [] {});
    pool_.stop();
    canary_pool_.stop();

    Histogram during, all_acks, rest;
    {
      std::lock_guard lock(mu_);
      during = storm_latency_;
      all_acks = canary_latency_;
      rest = rest_latency_;
    }
    const std::uint64_t errors = join_errors_.load() + canary_errors_.load() + lost_.load() +
                                 abandoned_.load() + (all_joined ? 0 : 1) + (acked ? 0 : 1);
    const double p99_ms = static_cast<double>(during.percentile(99)) / 1e6;
    const bool slow = opt_.max_canary_p99 > 0 && p99_ms > opt_.max_canary_p99;
    const bool ok = errors == 0 && during.count() > 0 && !slow;
    boost::json::object o;
    o["scenario"] = common_.label.empty() ? "join-storm" : common_.label;
    o["clients"] = opt_.clients;
    o["rooms_per_client"] = opt_.rooms;
    o["joins"] = joined_.load();
    o["joins_abandoned"] = abandoned_.load();
    o["storm_s"] = std::round(storm_s * 1000) / 1000;
    o["joins_per_s"] = std::llround(static_cast<double>(joined_.load()) / storm_s);
    o["canary_interval_ms"] = opt_.canary_interval * 1000;
    o["canary_acks_during_storm"] = during.count();
    o["canary_ack_latency"] = latency_json(during);
    o["canary_ack_latency_all"] = latency_json(all_acks);
    o["canary_ack_latency_rest"] = latency_json(rest);
    o["errors"] = errors;
    if (opt_.max_canary_p99 > 0) o["max_canary_p99_ms"] = opt_.max_canary_p99;
    o["server_cpu_s"] = server_cpu;
    if (server_cpu >= 0 && joined_.load() > 0) {
      o["server_cpu_us_per_join"] =
          std::round(server_cpu * 1e6 / static_cast<double>(joined_.load()) * 10) / 10;
    }
    o["ok"] = ok;
    std::cout << "join-storm: " << opt_.clients << " clients x " << opt_.rooms << " joins, "
              << joined_.load() << " joined in " << storm_s << " s (" << o["joins_per_s"]
              << " joins/s)\n  canary ack during the storm " << latency_text(during)
              << "\n  canary ack at rest before it  " << latency_text(rest)
              << "\n  server CPU " << server_cpu << " s; errors " << errors << "\n";
    if (slow) {
      std::cerr << "join-storm: the canary's ack p99 during the storm, " << p99_ms
                << " ms, is above --max-canary-p99 " << opt_.max_canary_p99 << " ms\n";
    }
    print_result(o);
    return ok ? 0 : 1;
  }

  void on_frame(Conn& conn, std::string_view text) override {
    const auto type = frame_type(text);
    if (&conn == canary_.get()) {
      if (type == "history") {
        canary_joined_.store(true);
      } else if (type == "ack") {
        const auto ref = int_field(text, "\"ref\":");
        const std::int64_t now = now_ns();
        if (ref) {
          const std::int64_t sent = *ref;  // the send's time, echoed back
          std::lock_guard lock(mu_);
          canary_latency_.record(now - sent);
          const std::int64_t end = storm_end_.load();
          if (storm_started_.load() && sent >= storm_start_ && (end == 0 || sent <= end)) {
            storm_latency_.record(now - sent);
          } else if (!storm_started_.load()) {
            rest_latency_.record(now - sent);
          }
        }
        canary_acks_.fetch_add(1);
      } else if (type == "error") {
        std::cerr << "join-storm canary: " << text << "\n";
        canary_errors_.fetch_add(1);
        canary_acks_.fetch_add(1);
      }
      return;
    }
    if (type == "history") {
      joined_.fetch_add(1, std::memory_order_relaxed);
      answered_[conn.index()].fetch_add(1, std::memory_order_relaxed);
    } else if (type == "error") {
      static std::atomic<int> logged{0};
      if (logged.fetch_add(1) < 3) std::cerr << "join-storm: " << text << "\n";
      join_errors_.fetch_add(1, std::memory_order_relaxed);
      answered_[conn.index()].fetch_add(1, std::memory_order_relaxed);
    }
  }

  void on_lost(Conn& conn, const boost::system::error_code& ec) override {
    Handler::on_lost(conn, ec);
    lost_.fetch_add(1);
    // On the connection's thread, after its last frame: what it was not answered never will be.
    if (&conn != canary_.get()) {
      const std::uint64_t answered = answered_[conn.index()].load(std::memory_order_relaxed);
      if (answered < opt_.rooms) abandoned_.fetch_add(opt_.rooms - answered);
    }
  }

 private:
  // On the canary's thread: one send per interval, on schedule (a late tick sends at once,
  // so a stalled server shows as latency, not as fewer samples).
  void canary_tick(std::int64_t interval_ns) {
    if (canary_stop_.load() || !canary_->is_open()) return;
    const std::int64_t now = now_ns();
    canary_->send(R"({"op":"send","conversation":"storm-)" + run_ +
                  R"(-canary","content":"canary","ref":)" + std::to_string(now) + "}");
    canary_sent_.fetch_add(1);
    canary_next_ += interval_ns;
    if (canary_next_ < now) canary_next_ = now;
    canary_timer_->expires_at(to_time_point(canary_next_));
    canary_timer_->async_wait([this, interval_ns](boost::system::error_code ec) {
      if (!ec) canary_tick(interval_ns);
    });
  }

  const Common& common_;
  JoinStormOptions opt_;
  Pool pool_;
  Pool canary_pool_;  // the canary's own thread
  std::string run_;
  ConnPtr canary_;
  std::vector<ConnPtr> clients_;
  std::unique_ptr<asio::steady_timer> canary_timer_;
  std::int64_t canary_next_ = 0;  // canary thread only
  std::int64_t storm_start_ = 0;  // written before storm_started_ is set
  std::atomic<bool> storm_started_{false}, canary_joined_{false}, canary_stop_{false};
  std::atomic<std::int64_t> storm_end_{0};
  std::atomic<std::uint64_t> joined_{0}, join_errors_{0}, canary_sent_{0}, canary_acks_{0},
      canary_errors_{0}, lost_{0}, abandoned_{0};
  std::vector<std::atomic<std::uint64_t>> answered_;  // joins answered, by client index
  std::mutex mu_;  // guards the two histograms
  Histogram canary_latency_, storm_latency_, rest_latency_;
};

}  // namespace

int run_join_storm(const Common& common, const JoinStormOptions& options) {
  JoinStorm scenario(common, options);
  return scenario.run();
}

}  // namespace parley::bench
