// Shared pieces of parley-bench: clocks, a log-linear latency histogram, the server's CPU time
// and RSS from /proc, the descriptor limit, and the one-line result every scenario prints.
// Nothing here is thread-safe unless said so: each client thread owns its own Histogram and
// the main thread merges them once the threads are quiet.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/process.hpp"

namespace parley::bench {

// CLOCK_MONOTONIC in nanoseconds: comparable across the processes of one machine.
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
inline std::chrono::steady_clock::time_point to_time_point(std::int64_t ns) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}
constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kMilli = 1'000'000;

// Log-linear histogram of nanosecond values: exact below 128 ns, then 64 buckets per power of
// two (1.6 % relative precision), up to about 73 minutes (larger values are clamped).
class Histogram {
 public:
  Histogram();
  void record(std::int64_t ns);
  void merge(const Histogram& other);
  std::uint64_t count() const noexcept { return total_; }
  // The value at percentile `p` (0..100): the middle of the bucket holding it; 0 when empty.
  std::int64_t percentile(double p) const;
  std::int64_t max() const noexcept { return max_; }

 private:
  static std::size_t index(std::uint64_t v);
  static std::int64_t value_at(std::size_t index);
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::int64_t max_ = 0;
};

// Latency figures in milliseconds, for a result line.
boost::json::object latency_json(const Histogram& h);
std::string latency_text(const Histogram& h);

// user+system CPU seconds of a whole process (every thread, dead ones included), from
// /proc/PID/stat; nullopt if the process is gone.
std::optional<double> process_cpu_seconds(pid_t pid);
// CPU seconds of a process tree as PostgreSQL's cluster is one: the process (its reaped
// children included: cutime + cstime) and each living child. nullopt if the process is gone.
std::optional<double> process_tree_cpu_seconds(pid_t pid);
// VmRSS of a process in KiB, from /proc/PID/status.
std::optional<std::int64_t> process_rss_kib(pid_t pid);
// user+system CPU seconds of this process (getrusage).
double self_cpu_seconds();
// raise_fd_limit() comes from core/process.hpp.

// user+system CPU seconds of each live thread of a process, summed by thread name
// (/proc/PID/task/*/comm and stat): the server names its threads parley-io, parley-writer...
std::map<std::string, double> thread_cpu_seconds(pid_t pid);

// Server CPU over a window: take() at the start, then seconds() at the end.
class CpuWindow {
 public:
  explicit CpuWindow(pid_t pid) : pid_(pid) {}
  void start();
  // CPU seconds since start(), or -1 when no pid was given or it could not be read.
  double seconds() const;
  // The same by thread name (threads that ended during the window are not in it).
  std::map<std::string, double> by_thread() const;
  double client_seconds() const { return self_cpu_seconds() - self_start_; }

 private:
  pid_t pid_;
  double start_ = -1;
  std::map<std::string, double> threads_start_;
  double self_start_ = 0;
};

// Prints `RESULT {json}` on stdout (run.sh collects these lines) after a human summary.
void print_result(const boost::json::object& result);

// A random run id, so that rooms and users of one run never collide with an earlier run's.
std::string run_id();

// Small helpers to pull fields out of the server's JSON frames without parsing them whole.
// They look for `"key":` and return the value that follows; nullopt when absent.
std::optional<std::int64_t> int_field(std::string_view text, std::string_view quoted_key_colon,
                                      std::size_t from = 0);
std::optional<std::string_view> str_field(std::string_view text,
                                          std::string_view quoted_key_colon_quote,
                                          std::size_t from = 0);
// The value of "type" if the frame starts with {"type":"...".
std::string_view frame_type(std::string_view text);

// Sleeps in steps until `pred` holds or `timeout` passes; returns pred().
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(10));

}  // namespace parley::bench

#include <thread>

namespace parley::bench {
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout, std::chrono::milliseconds step) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(step);
  }
  return true;
}
}  // namespace parley::bench
