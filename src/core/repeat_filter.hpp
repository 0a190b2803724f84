// A spdlog sink that lets a line through once, then holds back its exact repeats for a
// window and says how many there were when the window ends (with the next line that gets
// through). A failing disk or database otherwise writes the same error once per batch: 1,130
// identical lines in 20 s on a full disk (issue 14). Thread-safe (spdlog's base_sink mutex).
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace parley {

class RepeatFilterSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Lines go to `out` (e.g. the console sink).
  RepeatFilterSink(spdlog::sink_ptr out, std::chrono::seconds window);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  struct Seen {
    spdlog::log_clock::time_point first;  // when the window of this text opened
    std::size_t held = 0;                 // repeats held back since
    spdlog::level::level_enum level = spdlog::level::info;
  };
  // Reports the repeats of windows that have ended (sink mutex held).
  void report_ended(spdlog::log_clock::time_point now, const spdlog::details::log_msg& like);

  spdlog::sink_ptr out_;
  std::chrono::seconds window_;
  std::unordered_map<std::string, Seen> seen_;  // by level + text (sink mutex)
  spdlog::log_clock::time_point last_scan_{};
};

// Wraps every sink of the default logger in a RepeatFilterSink with `window`.
void filter_repeated_log_lines(std::chrono::seconds window);

}  // namespace parley
