#include "cli/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace parley::cli {

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

std::chrono::milliseconds interval_from_env() {
  const char* v = std::getenv("PARLEY_PROGRESS_INTERVAL_MS");
  if (v && *v) {
    char* end = nullptr;
    const long long ms = std::strtoll(v, &end, 10);
    if (end && *end == '\0' && ms >= 0) return std::chrono::milliseconds(ms);
  }
  return std::chrono::milliseconds(5000);
}

std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

void install_stop_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;  // the second signal takes the default action
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() noexcept { return g_stop != 0; }

Progress::Progress(std::string label, std::string unit, std::int64_t total)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      tty_(::isatty(STDERR_FILENO) == 1),
      interval_(tty_ ? std::chrono::milliseconds(100) : interval_from_env()),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() {
  // A terminal line left half drawn would be overwritten by the next output.
  if (tty_ && printed_ && !finished_) std::fputc('\n', stderr);
}

void Progress::add(std::int64_t n) {
  count_ += n;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ >= interval_) {
    last_ = now;
    print(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  if (tty_ || printed_) print(true);
  finished_ = true;
}

void Progress::print(bool final) {
  printed_ = true;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(count_) / elapsed : 0.0;
  const bool known = total_ > 0;
  const double fraction =
      known ? std::min(1.0, static_cast<double>(count_) / static_cast<double>(total_)) : 0.0;
  std::string eta;
  if (known && !final && rate > 0) {
    eta = clock_text(static_cast<double>(std::max<std::int64_t>(0, total_ - count_)) / rate);
  }
  if (tty_) {
    char line[256];
    if (known) {
      constexpr int kWidth = 24;
      std::string bar(static_cast<std::size_t>(fraction * kWidth), '#');
      bar.resize(kWidth, '-');
      std::snprintf(line, sizeof line, "\r%s [%s] %3d%%  %lld/%lld %s  %.0f/s  %s%s\x1b[K",
                    label_.c_str(), bar.c_str(), static_cast<int>(fraction * 100),
                    static_cast<long long>(count_), static_cast<long long>(total_), unit_.c_str(),
                    rate, final ? "in " : (eta.empty() ? "" : "ETA "),
                    final ? clock_text(elapsed).c_str() : eta.c_str());
    } else {
      std::snprintf(line, sizeof line, "\r%s  %lld %s  %.0f/s%s\x1b[K", label_.c_str(),
                    static_cast<long long>(count_), unit_.c_str(), rate,
                    final ? ("  in " + clock_text(elapsed)).c_str() : "");
    }
    std::fputs(line, stderr);
    if (final) std::fputc('\n', stderr);
  } else {
    if (known) {
      std::fprintf(stderr, "%s: %lld/%lld %s (%d%%), %.0f/s%s%s\n", label_.c_str(),
                   static_cast<long long>(count_), static_cast<long long>(total_), unit_.c_str(),
                   static_cast<int>(fraction * 100), rate, eta.empty() ? "" : ", ETA ",
                   eta.c_str());
    } else {
      std::fprintf(stderr, "%s: %lld %s, %.0f/s\n", label_.c_str(), static_cast<long long>(count_),
                   unit_.c_str(), rate);
    }
  }
  std::fflush(stderr);
}

}  // namespace parley::cli
