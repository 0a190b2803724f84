// The scenarios of parley-bench. Each runs against a server that is already listening, prints
// a human summary and one `RESULT {json}` line, and returns the process exit code: 0 when it
// completed (and verified, where it verifies) with no error, 1 otherwise.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "client.hpp"

namespace parley::bench {

struct Common {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;
  pid_t server_pid = 0;     // for server CPU and RSS; 0: not measured
  std::size_t threads = 2;  // client threads
  double duration = 10;     // measured window, seconds
  double warmup = 2;        // seconds of load before the window opens
  std::string label;        // name in the RESULT line (defaults to the scenario)
  Mode mode;                // the wire every connection speaks
  // PostgreSQL's postmaster when it is the store: its CPU (and its children's) is reported
  // beside the server's, and added to it in the "with store" figures. 0: none.
  pid_t store_pid = 0;
};

struct ChatOptions {
  std::size_t rooms = 10;
  std::size_t members = 10;  // connections per room, one user each
  std::size_t senders = 10;  // spread over the rooms; sender k is a member of room k % rooms
  std::size_t window = 16;   // max rate: sends in flight per sender
  double rate = 0;           // > 0: fixed total rate in msgs/s (latency from the intended time)
  std::size_t max_lag = 64;  // max rate: a room may run this many messages ahead of delivery
  std::size_t content_bytes = 64;
  bool client_ids = true;  // send a client_id with every message (idempotent sends)
  bool verify = true;      // check the store over REST at the end
};
int run_chat(const Common& common, const ChatOptions& options);

struct IdleOptions {
  std::string stages = "10000";   // cumulative connection counts, e.g. "10000,19000"
  std::size_t per_worker = 9000;  // connections per worker process (each its own 127.0.0.x)
  std::size_t probes = 20;        // connections of this process that ping
  double ping_rate = 200;         // pings per second over all probes
  double ping_seconds = 5;
  bool join = false;  // idle connections also join one of 100 rooms
  // Socket.IO: the idle connections CONNECT without naming a user (the probes still do).
  bool anonymous = false;
};
int run_idle(const Common& common, const IdleOptions& options);
// The child process of `idle`: opens `count` connections from `source`, prints READY, holds
// them until its stdin closes (or `hold` seconds pass).
int run_idle_worker(const Common& common, std::size_t count, const std::string& source, double hold,
                    const std::string& prefix, bool join);

struct JoinOptions {
  std::size_t clients = 50;
  double rate = 1000;         // joins per second over all clients; 0: as fast as each client can
  std::size_t history = 100;  // messages in the room before the storm
};
int run_join(const Common& common, const JoinOptions& options);

struct JoinStormOptions {
  std::size_t clients = 2000;  // each joins `rooms` rooms new to it, all at once
  std::size_t rooms = 50;
  double canary_interval = 0.02;  // seconds between the canary's sends
  double timeout = 120;           // seconds for every join to be answered
  double max_canary_p99 = 0;      // ms; when above 0, a canary ack p99 above it fails the run
};
int run_join_storm(const Common& common, const JoinStormOptions& options);

struct HistoryOptions {
  std::size_t clients = 8;
  double rate = 0;  // queries per second; 0: closed loop, one query in flight per client
  std::size_t conversations = 10000;  // as loaded: h0 .. h{n-1}
  std::size_t per_conversation = 1000;
  std::size_t limit = 50;
  std::string prefix = "h";
};
int run_history(const Common& common, const HistoryOptions& options);

struct LoadOptions {
  std::string db;  // SQLite file (created and migrated if absent)
  std::uint64_t messages = 1'000'000;
  std::size_t conversations = 10000;
  std::size_t batch = 100000;
  std::size_t content_bytes = 80;
  std::string synchronous = "NORMAL";
  std::string prefix = "h";
};
int run_load(const LoadOptions& options);

}  // namespace parley::bench
