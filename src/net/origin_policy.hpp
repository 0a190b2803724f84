// Which browser origins may use the server: ALLOWED_ORIGINS, a comma-separated list of
// origins ("https://chat.example.com") or "*". Applies to CORS on the REST API and to the
// Origin header of WebSocket upgrades. Immutable after construction: thread-safe.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace parley::net {

class OriginPolicy {
 public:
  OriginPolicy() = default;  // not configured: no CORS headers, any upgrade Origin
  explicit OriginPolicy(std::string_view list) {
    while (!list.empty()) {
      const auto comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) {
        item.remove_prefix(1);
      }
      while (!item.empty() &&
             (std::isspace(static_cast<unsigned char>(item.back())) || item.back() == '/')) {
        item.remove_suffix(1);
      }
      if (item.empty()) continue;
      configured_ = true;
      if (item == "*") {
        any_ = true;
      } else {
        origins_.push_back(lower(item));
      }
    }
  }

  bool configured() const noexcept { return configured_; }
  bool any() const noexcept { return any_; }
  // True when a request with this Origin header may proceed. A missing Origin (not a
  // browser) is allowed: the policy protects browsers' users, it does not authenticate.
  bool allows(std::string_view origin) const {
    if (!configured_ || any_ || origin.empty()) return true;
    return listed(origin);
  }
  // True when CORS headers should grant `origin` (an exact, listed origin or "*").
  bool grants(std::string_view origin) const {
    if (!configured_ || origin.empty()) return false;
    return any_ || listed(origin);
  }

 private:
  static std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
  }
  bool listed(std::string_view origin) const {
    while (!origin.empty() && origin.back() == '/') origin.remove_suffix(1);
    const std::string o = lower(origin);
    return std::find(origins_.begin(), origins_.end(), o) != origins_.end();
  }

  bool configured_ = false;
  bool any_ = false;
  std::vector<std::string> origins_;  // lower case, no trailing '/'
};

}  // namespace parley::net
