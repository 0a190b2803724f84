#include "core/repeat_filter.hpp"

#include <spdlog/spdlog.h>

#include <vector>

namespace parley {

RepeatFilterSink::RepeatFilterSink(spdlog::sink_ptr out, std::chrono::seconds window)
    : out_(std::move(out)), window_(window) {}

void RepeatFilterSink::report_ended(spdlog::log_clock::time_point now,
                                    const spdlog::details::log_msg& like) {
  // A scan per second at most: a busy log holds many distinct lines in a window.
  if (now - last_scan_ < std::chrono::seconds(1) && now >= last_scan_) return;
  last_scan_ = now;
  for (auto it = seen_.begin(); it != seen_.end();) {
    if (now - it->second.first < window_) {
      ++it;
      continue;
    }
    if (it->second.held > 0) {
      const std::string text = "(the line \"" + it->first.substr(1) + "\" was repeated " +
                               std::to_string(it->second.held) + " more times)";
      spdlog::details::log_msg summary(like.logger_name, it->second.level, text);
      out_->log(summary);
    }
    it = seen_.erase(it);
  }
}

void RepeatFilterSink::sink_it_(const spdlog::details::log_msg& msg) {
  report_ended(msg.time, msg);
  std::string key(1, static_cast<char>('0' + static_cast<int>(msg.level)));
  key.append(msg.payload.data(), msg.payload.size());
  auto [it, fresh] = seen_.try_emplace(std::move(key));
  if (fresh) {
    it->second.first = msg.time;
    it->second.level = msg.level;
    out_->log(msg);
    return;
  }
  ++it->second.held;
}

void RepeatFilterSink::flush_() { out_->flush(); }

void filter_repeated_log_lines(std::chrono::seconds window) {
  auto logger = spdlog::default_logger();
  std::vector<spdlog::sink_ptr> wrapped;
  for (auto& sink : logger->sinks()) {
    wrapped.push_back(std::make_shared<RepeatFilterSink>(sink, window));
  }
  logger->sinks() = std::move(wrapped);
}

}  // namespace parley
