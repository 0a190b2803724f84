// Wall-clock time as Parley stores and sends it: milliseconds since the Unix epoch (UTC),
// formatted as RFC 3339 with milliseconds ("2026-11-22T10:30:00.123Z") on the wire.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley {

using TimeMs = std::int64_t;

// Now, in milliseconds since the epoch.
TimeMs now_ms() noexcept;

// "2026-11-22T10:30:00.123Z".
std::string format_rfc3339(TimeMs t);
// Appends the same to `out` without a temporary.
void append_rfc3339(std::string& out, TimeMs t);

// Parses RFC 3339 / ISO 8601 date-times as the seed apps wrote them: with or without
// fraction, with `Z`, a `+hh:mm` offset, or no zone at all (taken as UTC); also a space
// instead of `T`. nullopt when the text is not such a time.
std::optional<TimeMs> parse_rfc3339(std::string_view text) noexcept;

}  // namespace parley
