// Progress of long data commands (import, export --out, migrate, cleanup) on stderr, and a
// clean stop on Ctrl-C.
//
// On a terminal, one line redrawn at most ten times a second:
//   migrate [########------------]  40%  4000/10000 messages  2500/s  ETA 0:02
// Otherwise (a pipe, a file, CI logs) a plain line every PARLEY_PROGRESS_INTERVAL_MS
// (default 5000; 0: after every step):
//   migrate: 4000/10000 messages (40%), 2500/s, ETA 2 s
// Without a known total there is no bar, percentage or ETA.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace parley::cli {

class Progress {
 public:
  // `unit`: what is counted ("messages", "conversations"); `total` 0 when unknown.
  Progress(std::string label, std::string unit, std::int64_t total);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void add(std::int64_t n);  // prints when a line is due
  // The last line (on a terminal, ends the redrawn one). Idempotent.
  void finish();
  std::int64_t count() const noexcept { return count_; }

 private:
  void print(bool final);

  std::string label_;
  std::string unit_;
  std::int64_t total_;
  std::int64_t count_ = 0;
  bool tty_;
  bool finished_ = false;
  bool printed_ = false;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

// SIGINT and SIGTERM: the first sets the flag long loops check between transactions; the
// handler is then reset, so a second Ctrl-C ends the process at once.
void install_stop_handler();
bool stop_requested() noexcept;
// The exit status of a command stopped by a signal (128 + SIGINT).
inline constexpr int kStoppedExit = 130;

}  // namespace parley::cli
