// parley-bench: the load generator. `parley-bench <scenario> --port P --server-pid PID ...`
// drives a running server over the native protocol on loopback; `load` fills an SQLite store
// for the history scenario. See bench/README.md.

#include <CLI/CLI.hpp>
#include <iostream>
#include <map>

#include "common.hpp"
#include "scenarios.hpp"

using namespace parley::bench;

namespace {

void add_common(CLI::App* cmd, Common& c) {
  cmd->add_option("--host", c.host, "Server address")->capture_default_str();
  cmd->add_option("--port", c.port, "Server port")->required();
  cmd->add_option("--server-pid", c.server_pid, "Server process, for its CPU time and RSS");
  cmd->add_option("--threads", c.threads, "Client threads")->capture_default_str();
  cmd->add_option("--duration", c.duration, "Measured seconds")->capture_default_str();
  cmd->add_option("--warmup", c.warmup, "Seconds of load before measuring")->capture_default_str();
  cmd->add_option("--label", c.label, "Name in the RESULT line");
  cmd->add_option("--protocol", c.mode.protocol, "Wire: native (/ws) or socketio (/socket.io/)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, Protocol>{{"native", Protocol::native},
                                          {"socketio", Protocol::socketio}}));
  cmd->add_option("--transport", c.mode.transport,
                  "With --protocol socketio: websocket or polling (Engine.IO long-polling)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, Transport>{{"websocket", Transport::websocket},
                                           {"polling", Transport::polling}}));
  cmd->add_option("--store-pid", c.store_pid,
                  "PostgreSQL's postmaster: its CPU is reported and added to the server's");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"parley-bench: load generator for the Parley chat server"};
  app.require_subcommand(1);
  int code = 0;

  Common common;
  ChatOptions chat;
  auto* chat_cmd = app.add_subcommand("chat", "R rooms x M members, S senders");
  add_common(chat_cmd, common);
  chat_cmd->add_option("--rooms", chat.rooms)->capture_default_str();
  chat_cmd->add_option("--members", chat.members)->capture_default_str();
  chat_cmd->add_option("--senders", chat.senders)->capture_default_str();
  chat_cmd->add_option("--window", chat.window, "Max rate: sends in flight per sender")
      ->capture_default_str();
  chat_cmd->add_option("--rate", chat.rate, "Fixed total msgs/s (0: max rate)")
      ->capture_default_str();
  chat_cmd->add_option("--max-lag", chat.max_lag, "Max rate: messages a room may run ahead")
      ->capture_default_str();
  chat_cmd->add_option("--content-bytes", chat.content_bytes)->capture_default_str();
  chat_cmd->add_flag("!--no-client-ids", chat.client_ids, "Send without client_id");
  chat_cmd->add_flag("!--no-verify", chat.verify, "Skip the REST check of the store");
  chat_cmd->callback([&] { code = run_chat(common, chat); });

  ChatOptions fan;
  fan.rooms = 1;
  fan.members = 1000;
  fan.senders = 1;
  fan.window = 8;
  fan.max_lag = 32;
  auto* fan_cmd = app.add_subcommand("fanout", "One room of 1,000 members, one sender");
  add_common(fan_cmd, common);
  fan_cmd->add_option("--members", fan.members)->capture_default_str();
  fan_cmd->add_option("--window", fan.window)->capture_default_str();
  fan_cmd->add_option("--rate", fan.rate, "Fixed msgs/s (0: max rate)")->capture_default_str();
  fan_cmd->add_option("--max-lag", fan.max_lag)->capture_default_str();
  fan_cmd->add_option("--content-bytes", fan.content_bytes)->capture_default_str();
  fan_cmd->add_flag("!--no-verify", fan.verify, "Skip the REST check of the store");
  fan_cmd->callback([&] {
    if (common.label.empty()) common.label = "fanout";
    code = run_chat(common, fan);
  });

  IdleOptions idle;
  auto* idle_cmd = app.add_subcommand("idle", "N idle connections: server RSS and ping RTT");
  add_common(idle_cmd, common);
  idle_cmd->add_option("--stages", idle.stages, "Cumulative connection counts, e.g. 10000,19000")
      ->capture_default_str();
  idle_cmd->add_option("--per-worker", idle.per_worker, "Connections per worker process")
      ->capture_default_str();
  idle_cmd->add_option("--probes", idle.probes)->capture_default_str();
  idle_cmd->add_option("--ping-rate", idle.ping_rate)->capture_default_str();
  idle_cmd->add_option("--ping-seconds", idle.ping_seconds)->capture_default_str();
  idle_cmd->add_flag("--join", idle.join, "Idle connections also join one of 100 rooms");
  idle_cmd->add_flag("--anonymous", idle.anonymous,
                     "Socket.IO: idle connections CONNECT without a user (no user-status traffic)");
  idle_cmd->callback([&] { code = run_idle(common, idle); });

  std::size_t worker_count = 0;
  std::string worker_source = "127.0.0.2", worker_prefix = "i";
  double worker_hold = 600;
  bool worker_join = false;
  auto* worker_cmd = app.add_subcommand("idle-worker", "(internal) a process of idle connections");
  worker_cmd->group("");
  add_common(worker_cmd, common);
  worker_cmd->add_option("--count", worker_count)->required();
  worker_cmd->add_option("--source", worker_source);
  worker_cmd->add_option("--prefix", worker_prefix);
  worker_cmd->add_option("--hold", worker_hold);
  worker_cmd->add_flag("--join", worker_join);
  worker_cmd->add_flag("--anonymous", common.mode.anonymous);
  worker_cmd->callback([&] {
    code = run_idle_worker(common, worker_count, worker_source, worker_hold, worker_prefix,
                           worker_join);
  });

  JoinOptions join;
  auto* join_cmd = app.add_subcommand("join", "C clients join a room holding history");
  add_common(join_cmd, common);
  join_cmd->add_option("--clients", join.clients)->capture_default_str();
  join_cmd->add_option("--rate", join.rate, "Joins/s over all clients (0: max rate)")
      ->capture_default_str();
  join_cmd->add_option("--history", join.history)->capture_default_str();
  join_cmd->callback([&] { code = run_join(common, join); });

  JoinStormOptions storm;
  auto* storm_cmd = app.add_subcommand(
      "join-storm", "C clients join R new rooms each at once; a canary times its acks");
  add_common(storm_cmd, common);
  storm_cmd->add_option("--clients", storm.clients)->capture_default_str();
  storm_cmd->add_option("--rooms", storm.rooms, "Joins per client")->capture_default_str();
  storm_cmd->add_option("--canary-interval", storm.canary_interval, "Seconds between canary sends")
      ->capture_default_str();
  storm_cmd->add_option("--timeout", storm.timeout, "Seconds for every join to be answered")
      ->capture_default_str();
  storm_cmd
      ->add_option("--max-canary-p99", storm.max_canary_p99,
                   "Fail (exit 1) when the canary's ack p99 during the storm is above this "
                   "many ms (0: not judged)")
      ->capture_default_str();
  storm_cmd->callback([&] { code = run_join_storm(common, storm); });

  HistoryOptions hist;
  auto* hist_cmd = app.add_subcommand("history", "Random history pages from a loaded store");
  add_common(hist_cmd, common);
  hist_cmd->add_option("--clients", hist.clients)->capture_default_str();
  hist_cmd->add_option("--rate", hist.rate, "Queries/s (0: closed loop)")->capture_default_str();
  hist_cmd->add_option("--conversations", hist.conversations)->capture_default_str();
  hist_cmd->add_option("--per-conversation", hist.per_conversation)->capture_default_str();
  hist_cmd->add_option("--limit", hist.limit)->capture_default_str();
  hist_cmd->add_option("--prefix", hist.prefix)->capture_default_str();
  hist_cmd->callback([&] { code = run_history(common, hist); });

  LoadOptions load;
  auto* load_cmd = app.add_subcommand("load", "Fill an SQLite store directly (for history)");
  load_cmd->add_option("--db", load.db, "SQLite file, e.g. DATA_DIR/parley.db")->required();
  load_cmd->add_option("--messages", load.messages)->capture_default_str();
  load_cmd->add_option("--conversations", load.conversations)->capture_default_str();
  load_cmd->add_option("--batch", load.batch)->capture_default_str();
  load_cmd->add_option("--content-bytes", load.content_bytes)->capture_default_str();
  load_cmd->add_option("--synchronous", load.synchronous)->capture_default_str();
  load_cmd->add_option("--prefix", load.prefix)->capture_default_str();
  load_cmd->callback([&] { code = run_load(load); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return code;
}
