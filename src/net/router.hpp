// Maps a request path to the endpoint that serves it. Mounted once at start, read-only
// afterwards (so thread-safe without a lock).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "net/endpoint.hpp"

namespace parley::net {

class Router {
 public:
  // `prefix` ending in '/' matches every path under it; otherwise the exact path, and the
  // path followed by '/' or '?'. The longest matching prefix wins.
  void mount(std::string prefix, Endpoint* endpoint);
  // Serves everything else (the web page and 404s).
  void set_fallback(Endpoint* endpoint) { fallback_ = endpoint; }
  Endpoint* find(std::string_view target) const noexcept;

 private:
  std::vector<std::pair<std::string, Endpoint*>> routes_;
  Endpoint* fallback_ = nullptr;
};

}  // namespace parley::net
