// Retention policies: how many messages a conversation keeps (`keep_last`) and for how long
// (`max_age`), from a global default and each conversation's `settings.keep_last` /
// `settings.max_age`. Applied through Connection::prune, by `parley cleanup` and by the
// running server (app/retention.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/time.hpp"

namespace parley::store {

struct RetentionPolicy {
  std::optional<std::int64_t> keep_last;  // all but the last N go
  std::optional<TimeMs> max_age;          // messages created before now - max_age go
  bool empty() const noexcept { return !keep_last && !max_age; }
};

// "90s", "15m", "12h", "30d", "2w", or sums like "1d12h"; nullopt when malformed.
std::optional<TimeMs> parse_duration(std::string_view text) noexcept;
// A duration as settings and the environment write it: a duration string, or a plain
// number of seconds ("3600"). nullopt when malformed.
std::optional<TimeMs> parse_duration_or_seconds(std::string_view text) noexcept;

// The rules a conversation's settings JSON states: `keep_last` (a number >= 0) and
// `max_age` (seconds >= 0, or a duration string). Anything else is ignored.
RetentionPolicy policy_from_settings(const std::string& settings_json);

// The server's rule for one conversation: each rule its settings state replaces the
// default's rule of the same name; the others stay.
RetentionPolicy effective_policy(const RetentionPolicy& defaults, const std::string& settings_json);

}  // namespace parley::store
