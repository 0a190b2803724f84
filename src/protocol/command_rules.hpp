// The rules every Command obeys, whoever sends it: native frames, both Socket.IO vocabularies
// and REST build a Command and pass it through check() before the hub sees it, so a send is
// judged once (sizes, kinds, client ids, history limits) and the same way everywhere.
// Decoders only read names, shapes and types. Pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include <boost/system/error_code.hpp>

#include "protocol/command.hpp"

namespace parley::protocol {

struct Limits {
  std::size_t max_content_bytes = 64 * 1024;
  std::size_t max_meta_bytes = 16 * 1024;
  std::size_t max_history_limit = 1000;    // the largest page anyone gets
  std::size_t default_history_limit = 100;  // a join or history without a limit
};

inline constexpr std::size_t kMaxClientIdBytes = 128;

// The message kinds of PROTOCOL.md. An empty kind is "text", on every endpoint.
bool is_known_kind(std::string_view kind) noexcept;

// Checks `cmd` and normalises it: an empty kind becomes "text", a history limit is clamped
// (absent or 0: default_history_limit; above max_history_limit: that). Returns an empty
// code, or Errc::invalid_argument / Errc::too_large with `why` in words fit for the client.
[[nodiscard]] boost::system::error_code check(Command& cmd, const Limits& limits,
                                              std::string& why);

// The page size for a join or history request, as check() settles it (for callers that
// build no Command, e.g. REST listings).
std::size_t history_limit(std::optional<std::size_t> requested, const Limits& limits) noexcept;

}  // namespace parley::protocol
