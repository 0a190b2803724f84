// The one decoder of HTTP request targets ("/api/conversations/c1/messages?limit=5"): path
// segments and query parameters, percent-decoded by Boost.URL. Every endpoint reads the
// target through it (REST routes and parameters, the WebSocket `?token=`, Engine.IO's
// EIO/transport/sid). Pure: no I/O; fuzzed by tests/fuzz/request_target_fuzz.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley::net {

struct RequestTarget {
  // Decoded path segments; a trailing empty one ("/api/conversations/") is dropped.
  std::vector<std::string> segments;
  // Decoded parameters in order; nullopt value: the key had no '=' ("?flag").
  std::vector<std::pair<std::string, std::optional<std::string>>> params;

  // The first parameter named `key` (nullptr when absent).
  const std::optional<std::string>* first(std::string_view key) const noexcept;
  // The last parameter named `key` with its value ("" for "?key"); nullopt when absent.
  std::optional<std::string> last(std::string_view key) const;
};

// nullopt when `target` is not an origin-form request target (RFC 9112 §3.2.1).
std::optional<RequestTarget> parse_request_target(std::string_view target);

}  // namespace parley::net
