// idle: many connections that authenticate and then sit there. A process may hold at most
// 20,000 descriptors here, so the connections come from worker processes (this binary, run
// as `idle-worker`), each binding its own loopback source address 127.0.0.x. This process
// keeps a few probe connections that ping at a fixed rate while the others idle, and reads
// the server's RSS from /proc before and after each stage.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

#include "client.hpp"
#include "common.hpp"
#include "protocol/socketio/socketio_packet.hpp"
#include "scenarios.hpp"
#include "sio_vocabulary.hpp"

namespace parley::bench {
namespace {

// Socket.IO: the ack of the join (ack id 0), or of a probe's ping (ack id = its send time).
std::optional<std::uint64_t> sio_ack_id(std::string_view packet) {
  std::string why;
  auto p = protocol::socketio::decode(packet, why);
  if (!p || p->type != protocol::socketio::PacketType::ack || !p->id) return std::nullopt;
  return p->id;
}

// A probe's ping: over Socket.IO an event with an acknowledgement (the messaging
// vocabulary's leave of a room it never joined: acked, nothing else happens), whose ack id
// carries the send time.
std::string ping_frame(const Mode& mode, std::int64_t at) {
  if (mode.protocol == Protocol::native) {
    return R"({"op":"ping","ref":)" + std::to_string(at) + "}";
  }
  boost::json::object payload;
  payload[sio::kRoomField] = "idle-probe";
  return protocol::socketio::encode_event(
      "/", boost::json::array{sio::kLeave, std::move(payload)}, static_cast<std::uint64_t>(at));
}

std::string join_frame(const Mode& mode, const std::string& room) {
  if (mode.protocol == Protocol::native) {
    return R"({"op":"join","conversation":")" + room + R"(","limit":1})";
  }
  boost::json::object payload;
  payload[sio::kRoomField] = room;
  payload["limit"] = 1;
  return protocol::socketio::encode_event(
      "/", boost::json::array{sio::kJoin, std::move(payload)}, sio::kJoinAckId);
}

class QuietHandler final : public Handler {
 public:
  void on_frame(Conn& conn, std::string_view text) override {
    if (conn.mode().protocol == Protocol::socketio) {
      if (sio_ack_id(text) == sio::kJoinAckId) joined.fetch_add(1);
      return;
    }
    if (frame_type(text) == "history") joined.fetch_add(1);
  }
  void on_lost(Conn& conn, const boost::system::error_code& ec) override {
    Handler::on_lost(conn, ec);
    lost.fetch_add(1);
  }
  std::atomic<std::size_t> joined{0};
  std::atomic<std::size_t> lost{0};
};

class ProbeHandler final : public Handler {
 public:
  void on_frame(Conn& conn, std::string_view text) override {
    std::optional<std::int64_t> at;
    if (conn.mode().protocol == Protocol::socketio) {
      if (auto id = sio_ack_id(text)) at = static_cast<std::int64_t>(*id);
    } else if (frame_type(text) == "pong") {
      at = int_field(text, "\"ref\":");
    }
    if (!at) return;
    rtt.record(now_ns() - *at);  // every probe lives on the pool's one thread
    pongs.fetch_add(1);
  }
  void on_lost(Conn& conn, const boost::system::error_code& ec) override {
    Handler::on_lost(conn, ec);
    lost.fetch_add(1);
  }
  Histogram rtt;
  std::atomic<std::uint64_t> pongs{0};
  std::atomic<std::size_t> lost{0};
};

struct Worker {
  pid_t pid = -1;
  int to_child = -1;    // its stdin; closing it tells the worker to let go
  int from_child = -1;  // its stdout: one READY line
  std::size_t count = 0;
  std::size_t opened = 0;
};

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  return std::string(buf, static_cast<std::size_t>(n));
}

std::optional<Worker> spawn(const std::string& exe, const Common& common, std::size_t count,
                            const std::string& source, const std::string& prefix, bool join,
                            bool anonymous) {
  int in_pipe[2], out_pipe[2];
  if (pipe(in_pipe) != 0) return std::nullopt;
  if (pipe(out_pipe) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return std::nullopt;
  }
  std::vector<std::string> args = {exe,        "idle-worker",
                                   "--host",   common.host,
                                   "--port",   std::to_string(common.port),
                                   "--count",  std::to_string(count),
                                   "--source", source,
                                   "--prefix", prefix,
                                   "--hold",   "900"};
  if (join) args.push_back("--join");
  if (anonymous) args.push_back("--anonymous");
  if (common.mode.protocol == Protocol::socketio) {
    args.insert(args.end(), {"--protocol", "socketio", "--transport",
                             common.mode.transport == Transport::polling ? "polling" : "websocket"});
  }
  const pid_t pid = fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    close(in_pipe[0]);
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(out_pipe[1]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  Worker w;
  w.pid = pid;
  w.to_child = in_pipe[1];
  w.from_child = out_pipe[0];
  w.count = count;
  return w;
}

// Reads the worker's READY line ("READY <opened> <failed>"); false on timeout or EOF.
bool await_ready(Worker& w, std::chrono::milliseconds timeout) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (line.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{w.from_child, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    const ssize_t n = read(w.from_child, buf, sizeof buf);
    if (n <= 0) return false;
    line.append(buf, static_cast<std::size_t>(n));
  }
  std::istringstream in(line);
  std::string word;
  std::size_t failed = 0;
  in >> word >> w.opened >> failed;
  return word == "READY";
}

void release(std::vector<Worker>& workers) {
  for (auto& w : workers) {
    if (w.to_child >= 0) close(w.to_child);
    w.to_child = -1;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (auto& w : workers) {
    if (w.pid <= 0) continue;
    int status = 0;
    while (waitpid(w.pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(w.pid, SIGKILL);  // our own child, by its pid
        waitpid(w.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (w.from_child >= 0) close(w.from_child);
    w.pid = -1;
  }
}

}  // namespace

int run_idle_worker(const Common& common, std::size_t count, const std::string& source, double hold,
                    const std::string& prefix, bool join) {
  raise_fd_limit();
  Pool pool(1);
  QuietHandler handler;
  std::vector<ConnPtr> conns;
  for (std::size_t i = 0; i < count; ++i) {
    conns.push_back(std::make_shared<Conn>(pool, i, common.mode));
  }
  const auto server = parse_server(common.host, common.port);
  const auto src = asio::ip::make_address(source);
  const std::size_t failed = open_all(
      conns,
      [&](std::size_t i, std::function<void(bool)> done) {
        conns[i]->open(server, src, prefix + "-" + source + "-" + std::to_string(i), &handler,
                       std::move(done), std::chrono::seconds(60));
      },
      128, std::chrono::seconds(300));
  if (join) {
    for (std::size_t i = 0; i < count; ++i) {
      asio::post(conns[i]->context(), [&conns, &prefix, &common, i] {
        conns[i]->send(join_frame(common.mode, "idle-" + prefix + "-" + std::to_string(i % 100)));
      });
    }
    wait_until([&] { return handler.joined.load() + failed >= count; }, std::chrono::seconds(120));
  }
  std::cout << "READY " << (count - failed) << " " << failed << std::endl;
  // Hold until the parent closes our stdin (or `hold` seconds pass).
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(hold * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{0, POLLIN, 0};
    if (poll(&p, 1, 1000) > 0) {
      char buf[64];
      if (read(0, buf, sizeof buf) <= 0) break;
    }
  }
  for (auto& c : conns) c->close();
  pool.run_on(0, [] {});
  pool.stop();
  return 0;
}

int run_idle(const Common& common, const IdleOptions& opt) {
  if (common.server_pid <= 0) {
    std::cerr << "idle: --server-pid is required (the RSS is the figure)\n";
    return 2;
  }
  raise_fd_limit();
  const std::string exe = self_exe();
  const std::string prefix = "i" + run_id();
  std::vector<std::size_t> stages;
  {
    std::istringstream in(opt.stages);
    std::string part;
    while (std::getline(in, part, ',')) {
      if (!part.empty()) stages.push_back(std::stoul(part));
    }
  }
  if (stages.empty()) {
    std::cerr << "idle: no stages\n";
    return 2;
  }

  Pool pool(1);
  ProbeHandler probe_handler;
  std::vector<ConnPtr> probes;
  for (std::size_t i = 0; i < opt.probes; ++i) {
    probes.push_back(std::make_shared<Conn>(pool, i, common.mode));
  }
  const auto server = parse_server(common.host, common.port);
  const std::size_t probe_failed = open_all(
      probes,
      [&](std::size_t i, std::function<void(bool)> done) {
        probes[i]->open(server, std::nullopt, prefix + "-probe-" + std::to_string(i),
                        &probe_handler, std::move(done));
      },
      32, std::chrono::seconds(30));
  if (probe_failed) {
    std::cerr << "idle: probes failed to connect\n";
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::int64_t base_kib = process_rss_kib(common.server_pid).value_or(0);

  std::vector<Worker> workers;
  boost::json::array stage_results;
  std::size_t connected = 0;
  bool ok = true;
  std::string problem;
  int source_index = 2;
  std::int64_t last_kib = base_kib;
  std::size_t last_connected = 0;
  for (const std::size_t stage : stages) {
    if (stage <= connected) continue;
    const std::size_t need = stage - connected;
    const std::size_t nworkers = (need + opt.per_worker - 1) / opt.per_worker;
    const auto t_start = std::chrono::steady_clock::now();
    std::vector<std::size_t> new_workers;
    for (std::size_t k = 0; k < nworkers; ++k) {
      const std::size_t count = need / nworkers + (k < need % nworkers ? 1 : 0);
      const std::string source = "127.0.0." + std::to_string(source_index++);
      auto w = spawn(exe, common, count, source, prefix, opt.join, opt.anonymous);
      if (!w) {
        problem = "could not start a worker process";
        ok = false;
        break;
      }
      workers.push_back(*w);
      new_workers.push_back(workers.size() - 1);
    }
    std::size_t opened = 0;
    for (std::size_t wi : new_workers) {
      if (!await_ready(workers[wi], std::chrono::seconds(400))) {
        problem = "a worker did not report ready";
        ok = false;
      }
      opened += workers[wi].opened;
    }
    connected += opened;
    const double connect_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    if (opened < need) {
      ok = false;
      if (problem.empty()) {
        problem = std::to_string(need - opened) + " connections failed to open";
      }
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));  // let the server settle
    const std::int64_t rss_kib = process_rss_kib(common.server_pid).value_or(0);

    // Ping while idle: fixed rate over the probes, RTT from the intended send time.
    Histogram rtt;
    CpuWindow cpu(common.server_pid);
    cpu.start();
    const std::uint64_t pongs0 = probe_handler.pongs.load();
    const std::int64_t interval = static_cast<std::int64_t>(1e9 / std::max(1.0, opt.ping_rate));
    const std::int64_t start = now_ns();
    const auto total = static_cast<std::uint64_t>(opt.ping_seconds * std::max(1.0, opt.ping_rate));
    auto timer = std::make_shared<asio::steady_timer>(pool.context(0));
    auto sent = std::make_shared<std::uint64_t>(0);
    auto fire = std::make_shared<std::function<void()>>();
    *fire = [&, timer, sent, start, interval, total, weak = std::weak_ptr(fire)] {
      const std::int64_t now = now_ns();
      while (*sent < total && start + static_cast<std::int64_t>(*sent) * interval <= now) {
        const std::int64_t intended = start + static_cast<std::int64_t>(*sent) * interval;
        probes[*sent % probes.size()]->send(ping_frame(common.mode, intended));
        ++*sent;
      }
      if (*sent >= total) return;
      timer->expires_at(to_time_point(start + static_cast<std::int64_t>(*sent) * interval));
      timer->async_wait([weak](boost::system::error_code ec) {
        if (auto f = weak.lock(); f && !ec) (*f)();
      });
    };
    asio::post(pool.context(0), [fire] { (*fire)(); });
    wait_until([&] { return probe_handler.pongs.load() - pongs0 >= total; },
               std::chrono::milliseconds(static_cast<long>(opt.ping_seconds * 1000) + 10000));
    const double cpu_s = cpu.seconds();
    pool.run_on(0, [&] {
      rtt = probe_handler.rtt;
      probe_handler.rtt = Histogram();
      timer->cancel();
      *fire = nullptr;  // breaks the function's hold on its timer
    });
    if (rtt.count() < total) {
      ok = false;
      if (problem.empty()) problem = "pings went unanswered";
    }
    const std::size_t lost = probe_handler.lost.load();
    if (lost) {
      ok = false;
      if (problem.empty()) problem = "probe connections were lost";
    }

    boost::json::object s;
    s["connections"] = connected;
    s["connect_s"] = connect_s;
    s["server_rss_kib"] = rss_kib;
    s["server_base_rss_kib"] = base_kib;
    const double per_conn = connected ? static_cast<double>(rss_kib - base_kib) * 1024.0 /
                                            static_cast<double>(connected)
                                      : 0;
    s["rss_per_connection_bytes"] = std::llround(per_conn);
    if (connected > last_connected && last_connected > 0) {
      s["rss_per_added_connection_bytes"] =
          std::llround(static_cast<double>(rss_kib - last_kib) * 1024.0 /
                       static_cast<double>(connected - last_connected));
    }
    s["ping"] = latency_json(rtt);
    s["server_cpu_s_while_idle"] = cpu_s;
    s["idle_seconds"] = opt.ping_seconds;
    stage_results.push_back(s);
    std::cout << "idle: " << connected << " connections (opened in " << connect_s
              << " s): server RSS " << rss_kib << " KiB (base " << base_kib
              << ") = " << std::round(per_conn) << " bytes/connection; ping " << latency_text(rtt)
              << "; server CPU " << cpu_s << " s over " << opt.ping_seconds << " s\n";
    last_kib = rss_kib;
    last_connected = connected;
    if (!ok) break;
  }
  release(workers);
  for (auto& c : probes) c->close();
  pool.run_on(0, [] {});
  pool.stop();

  boost::json::object o;
  o["scenario"] = common.label.empty() ? "idle" : common.label;
  o["join"] = opt.join;
  o["anonymous"] = opt.anonymous;
  o["stages"] = stage_results;
  o["workers"] = workers.size();
  o["ok"] = ok;
  if (!problem.empty()) o["problem"] = problem;
  if (!problem.empty()) std::cout << "idle: " << problem << "\n";
  print_result(o);
  return ok ? 0 : 1;
}

}  // namespace parley::bench
