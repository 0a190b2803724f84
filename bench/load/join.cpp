// join: a room holds `history` messages and stays live (its first member never leaves); C
// clients then join it and leave again, at a fixed total rate (latency from the intended
// join time) or as fast as each can. Each join's reply must carry the room's latest
// messages (100, or all if fewer).
//
// history: C clients page through a loaded store (see `load`): each query asks for `limit`
// messages before a random seq of a random conversation, and the reply must be exactly that
// run of seqs. Closed loop (one query in flight per client) or a fixed total rate.

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <iostream>
#include <random>
#include <thread>

#include "client.hpp"
#include "common.hpp"
#include "scenarios.hpp"

namespace parley::bench {
namespace {

struct alignas(64) ThreadStats {
  Histogram latency;
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> errors{0};
};

// What a client of a request/reply scenario keeps.
struct Client {
  ConnPtr conn;
  std::unique_ptr<asio::steady_timer> timer;
  std::int64_t next_due = 0;
  std::int64_t interval = 0;  // 0: closed loop
  std::int64_t intended = 0;  // of the request in flight
  bool busy = false;
  bool leaving = false;  // join: the leave is in flight
  std::mt19937_64 rng;
  std::int64_t expect_first = 0, expect_last = 0, expect_count = 0;
};

// Seqs of the messages in a history reply: count, first, last.
struct SeqRun {
  std::int64_t count = 0, first = 0, last = 0;
};
SeqRun seq_run(std::string_view text) {
  SeqRun r;
  std::size_t at = 0;
  // Bounded by the frame's size: each step moves past one match.
  while ((at = text.find("\"seq\":", at)) != std::string_view::npos) {
    at += 6;
    const auto v = int_field(text.substr(at - 6), "\"seq\":");
    if (!v) break;
    if (r.count == 0) r.first = *v;
    r.last = *v;
    ++r.count;
  }
  return r;
}

// The shared skeleton: clients issue one request at a time, on a schedule or back to back.
class RequestScenario : public Handler {
 public:
  RequestScenario(const Common& common, std::size_t clients, double rate)
      : common_(common), pool_(common.threads), stats_(pool_.size()), rate_(rate) {
    clients_.resize(clients);
  }

 protected:
  // Issues the request of `c` (set c.intended first).
  virtual void issue(Client& c) = 0;

  void start_all(std::int64_t t0) {
    const std::size_t n = clients_.size();
    for (std::size_t k = 0; k < n; ++k) {
      Client* c = &clients_[k];
      c->interval = rate_ > 0 ? static_cast<std::int64_t>(1e9 * static_cast<double>(n) / rate_) : 0;
      c->next_due = t0 + (c->interval ? c->interval * static_cast<std::int64_t>(k) /
                                            static_cast<std::int64_t>(n)
                                      : 0);
      asio::post(c->conn->context(), [this, c] { schedule(*c); });
    }
  }

  // Called when `c`'s request (and anything after it) is complete.
  void finished(Client& c, bool good) {
    const std::int64_t now = now_ns();
    auto& st = stats_[c.conn->thread()];
    if (good) {
      if (c.intended >= w0_ && c.intended < w1_) st.latency.record(now - c.intended);
      if (now >= w0_ && now < w1_) st.done.fetch_add(1, std::memory_order_relaxed);
    } else {
      st.errors.fetch_add(1, std::memory_order_relaxed);
    }
    c.busy = false;
    schedule(c);
  }

  void schedule(Client& c) {
    if (c.busy || stop_.load(std::memory_order_relaxed) || !c.conn->is_open()) return;
    const std::int64_t now = now_ns();
    if (c.interval == 0) {
      if (now >= w1_) return;
      c.intended = now;
      c.busy = true;
      issue(c);
      return;
    }
    if (c.next_due >= w1_) return;
    if (c.next_due <= now) {
      c.intended = c.next_due;
      c.next_due += c.interval;
      c.busy = true;
      issue(c);
      return;
    }
    c.timer->expires_at(to_time_point(c.next_due));
    c.timer->async_wait([this, &c](boost::system::error_code ec) {
      if (!ec) schedule(c);
    });
  }

  bool open_clients(const std::string& user_prefix) {
    const auto server = parse_server(common_.host, common_.port);
    std::vector<ConnPtr> conns;
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      clients_[i].conn = std::make_shared<Conn>(pool_, i + 1);
      clients_[i].conn->data = &clients_[i];
      clients_[i].timer = std::make_unique<asio::steady_timer>(clients_[i].conn->context());
      clients_[i].rng.seed(0x9e3779b97f4a7c15ULL * (i + 1));
      conns.push_back(clients_[i].conn);
    }
    const std::size_t failed = open_all(
        conns,
        [&](std::size_t i, std::function<void(bool)> done) {
          conns[i]->open(server, std::nullopt, user_prefix + std::to_string(i), this,
                         std::move(done));
        },
        128, std::chrono::seconds(60));
    if (failed) std::cerr << failed << " connections failed to open\n";
    return failed == 0;
  }

  // Runs the window; fills the figures. Returns false if the clients never went quiet.
  struct Figures {
    std::uint64_t done = 0, errors = 0;
    double window_s = 0, server_cpu = -1, client_cpu = 0;
    Histogram latency;
    bool quiet = false;
  };
  Figures measure() {
    Figures f;
    const std::int64_t t0 = now_ns() + 20 * kMilli;
    w0_ = t0 + static_cast<std::int64_t>(common_.warmup * 1e9);
    w1_ = w0_ + static_cast<std::int64_t>(common_.duration * 1e9);
    start_all(t0);
    CpuWindow cpu(common_.server_pid);
    std::this_thread::sleep_until(to_time_point(w0_));
    cpu.start();
    std::this_thread::sleep_until(to_time_point(w1_));
    f.server_cpu = cpu.seconds();
    f.client_cpu = cpu.client_seconds();
    f.window_s = static_cast<double>(w1_ - w0_) / 1e9;
    stop_.store(true);
    f.quiet = wait_until(
        [&] {
          bool any = false;
          for (std::size_t t = 0; t < pool_.size(); ++t) {
            pool_.run_on(t, [&] {
              for (auto& c : clients_) {
                if (c.conn->thread() == t && c.busy && c.conn->is_open()) any = true;
              }
            });
          }
          return !any;
        },
        std::chrono::seconds(30), std::chrono::milliseconds(50));
    for (auto& c : clients_) c.conn->close();
    pool_.run_on(0, [] {});
    pool_.stop();
    for (auto& st : stats_) {
      f.latency.merge(st.latency);
      f.done += st.done.load();
      f.errors += st.errors.load();
    }
    f.errors += lost_.load();
    return f;
  }

  void on_lost(Conn& conn, const boost::system::error_code& ec) override {
    Handler::on_lost(conn, ec);
    lost_.fetch_add(1);
  }

  const Common& common_;
  Pool pool_;
  std::vector<ThreadStats> stats_;
  std::vector<Client> clients_;
  double rate_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> lost_{0};
  std::int64_t w0_ = 0, w1_ = 0;
};

class JoinScenario final : public RequestScenario {
 public:
  JoinScenario(const Common& common, const JoinOptions& options)
      : RequestScenario(common, options.clients, options.rate), opt_(options) {}

  int run() {
    const std::string run = run_id();
    room_ = "join-" + run;
    expected_ = static_cast<std::int64_t>(std::min<std::size_t>(opt_.history, 100));
    // The room's first member: fills it and stays, so the room stays live.
    owner_ = std::make_shared<Conn>(pool_, 0);
    const auto server = parse_server(common_.host, common_.port);
    const std::size_t owner_failed = open_all(
        {owner_},
        [&](std::size_t, std::function<void(bool)> done) {
          owner_->open(server, std::nullopt, "j" + run + "-owner", this, std::move(done));
        },
        1, std::chrono::seconds(20));
    if (owner_failed || !open_clients("j" + run + "-")) {
      pool_.stop();
      return 1;
    }
    asio::post(owner_->context(), [this] {
      owner_->send(R"({"op":"join","conversation":")" + room_ + R"(","limit":1})");
      for (std::size_t i = 0; i < opt_.history; ++i) {
        owner_->send(R"({"op":"send","conversation":")" + room_ + R"(","content":"history )" +
                     std::to_string(i) + R"(","ref":)" + std::to_string(i) + "}");
      }
    });
    if (!wait_until([&] { return owner_acks_.load() >= opt_.history; }, std::chrono::seconds(60))) {
      std::cerr << "join: the room was not filled\n";
      pool_.stop();
      return 1;
    }
    Figures f = measure();
    const bool ok = f.errors == 0 && f.quiet && f.done > 0;
    boost::json::object o;
    o["scenario"] = common_.label.empty() ? "join" : common_.label;
    o["clients"] = opt_.clients;
    o["rate"] = opt_.rate;
    o["history"] = opt_.history;
    o["window_s"] = f.window_s;
    o["joins_per_s"] = std::llround(static_cast<double>(f.done) / f.window_s);
    o["latency"] = latency_json(f.latency);
    o["errors"] = f.errors;
    o["server_cpu_s"] = f.server_cpu;
    if (f.server_cpu >= 0 && f.done > 0) {
      o["server_cpu_us_per_join"] =
          std::round(f.server_cpu * 1e6 / static_cast<double>(f.done) * 10) / 10;
    }
    o["client_cpu_s"] = f.client_cpu;
    o["ok"] = ok;
    std::cout << "join: " << opt_.clients << " clients, "
              << (opt_.rate > 0 ? std::to_string(opt_.rate) + " joins/s" : "max rate") << ", "
              << opt_.history << " messages of history\n  " << o["joins_per_s"]
              << " joins/s; join->history " << latency_text(f.latency) << "\n  server CPU "
              << f.server_cpu << " s; errors " << f.errors << "\n";
    print_result(o);
    return ok ? 0 : 1;
  }

  void on_frame(Conn& conn, std::string_view text) override {
    const auto type = frame_type(text);
    if (&conn == owner_.get()) {
      if (type == "ack") owner_acks_.fetch_add(1);
      if (type == "error") std::cerr << "join owner: " << text << "\n";
      return;
    }
    auto& c = *static_cast<Client*>(conn.data);
    if (type == "history" && c.busy && !c.leaving) {
      const SeqRun r = seq_run(text);
      const auto last = int_field(text, "\"last_seq\":");
      const bool good = r.count == expected_ && last &&
                        *last == static_cast<std::int64_t>(opt_.history) && r.last == *last;
      if (!good) {
        static std::atomic<int> logged{0};
        if (logged.fetch_add(1) < 3) {
          std::cerr << "join: history of " << r.count << " messages, last " << r.last << "\n";
        }
        stats_[conn.thread()].errors.fetch_add(1, std::memory_order_relaxed);
      }
      // The latency is join -> history; the leave that follows is not timed.
      const std::int64_t now = now_ns();
      if (good && c.intended >= w0_ && c.intended < w1_) {
        stats_[conn.thread()].latency.record(now - c.intended);
      }
      if (good && now >= w0_ && now < w1_) {
        stats_[conn.thread()].done.fetch_add(1, std::memory_order_relaxed);
      }
      c.leaving = true;
      conn.send(R"({"op":"leave","conversation":")" + room_ + R"("})");
    } else if (type == "ok" && c.leaving) {
      c.leaving = false;
      c.busy = false;
      schedule(c);
    } else if (type == "error") {
      static std::atomic<int> logged{0};
      if (logged.fetch_add(1) < 3) std::cerr << "join: " << text << "\n";
      c.leaving = false;
      finished(c, false);
    }
  }

 protected:
  void issue(Client& c) override {
    c.conn->send(R"({"op":"join","conversation":")" + room_ + R"("})");
  }

 private:
  JoinOptions opt_;
  std::string room_;
  std::int64_t expected_ = 0;
  ConnPtr owner_;
  std::atomic<std::size_t> owner_acks_{0};
};

class HistoryScenario final : public RequestScenario {
 public:
  HistoryScenario(const Common& common, const HistoryOptions& options)
      : RequestScenario(common, options.clients, options.rate), opt_(options) {}

  int run() {
    if (opt_.conversations == 0 || opt_.per_conversation == 0 || opt_.limit == 0) return 2;
    if (!open_clients("q" + run_id() + "-")) {
      pool_.stop();
      return 1;
    }
    Figures f = measure();
    const bool ok = f.errors == 0 && f.quiet && f.done > 0;
    boost::json::object o;
    o["scenario"] = common_.label.empty() ? "history" : common_.label;
    o["clients"] = opt_.clients;
    o["rate"] = opt_.rate;
    o["conversations"] = opt_.conversations;
    o["per_conversation"] = opt_.per_conversation;
    o["limit"] = opt_.limit;
    o["window_s"] = f.window_s;
    o["queries_per_s"] = std::llround(static_cast<double>(f.done) / f.window_s);
    o["latency"] = latency_json(f.latency);
    o["errors"] = f.errors;
    o["server_cpu_s"] = f.server_cpu;
    if (f.server_cpu >= 0 && f.done > 0) {
      o["server_cpu_us_per_query"] =
          std::round(f.server_cpu * 1e6 / static_cast<double>(f.done) * 10) / 10;
    }
    o["client_cpu_s"] = f.client_cpu;
    o["ok"] = ok;
    std::cout << "history: " << opt_.clients << " clients, "
              << (opt_.rate > 0 ? std::to_string(opt_.rate) + " queries/s" : "closed loop")
              << ", pages of " << opt_.limit << " from " << opt_.conversations << " x "
              << opt_.per_conversation << " messages\n  " << o["queries_per_s"] << " queries/s; "
              << latency_text(f.latency) << "\n  server CPU " << f.server_cpu << " s; errors "
              << f.errors << "\n";
    print_result(o);
    return ok ? 0 : 1;
  }

  void on_frame(Conn& conn, std::string_view text) override {
    auto& c = *static_cast<Client*>(conn.data);
    const auto type = frame_type(text);
    if (type == "history" && c.busy) {
      const SeqRun r = seq_run(text);
      const bool good =
          r.count == c.expect_count && r.first == c.expect_first && r.last == c.expect_last;
      if (!good) {
        static std::atomic<int> logged{0};
        if (logged.fetch_add(1) < 3) {
          std::cerr << "history: got " << r.count << " messages " << r.first << ".." << r.last
                    << ", expected " << c.expect_count << " " << c.expect_first << ".."
                    << c.expect_last << "\n";
        }
      }
      finished(c, good);
    } else if (type == "error") {
      static std::atomic<int> logged{0};
      if (logged.fetch_add(1) < 3) std::cerr << "history: " << text << "\n";
      finished(c, false);
    }
  }

 protected:
  void issue(Client& c) override {
    std::uniform_int_distribution<std::size_t> conv(0, opt_.conversations - 1);
    std::uniform_int_distribution<std::int64_t> before(
        2, static_cast<std::int64_t>(opt_.per_conversation) + 1);
    const std::size_t k = conv(c.rng);
    const std::int64_t b = before(c.rng);
    c.expect_count = std::min<std::int64_t>(static_cast<std::int64_t>(opt_.limit), b - 1);
    c.expect_last = b - 1;
    c.expect_first = b - c.expect_count;
    c.conn->send(R"({"op":"history","conversation":")" + opt_.prefix + std::to_string(k) +
                 R"(","before":)" + std::to_string(b) + R"(,"limit":)" +
                 std::to_string(opt_.limit) + "}");
  }

 private:
  HistoryOptions opt_;
};

}  // namespace

int run_join(const Common& common, const JoinOptions& options) {
  JoinScenario scenario(common, options);
  return scenario.run();
}

int run_history(const Common& common, const HistoryOptions& options) {
  HistoryScenario scenario(common, options);
  return scenario.run();
}

}  // namespace parley::bench
