#include "net/router.hpp"

#include <algorithm>

namespace parley::net {

void Router::mount(std::string prefix, Endpoint* endpoint) {
  routes_.emplace_back(std::move(prefix), endpoint);
  std::stable_sort(routes_.begin(), routes_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

Endpoint* Router::find(std::string_view target) const noexcept {
  const std::string_view path = target.substr(0, target.find('?'));
  for (const auto& [prefix, endpoint] : routes_) {
    if (prefix.ends_with('/')) {
      if (path.starts_with(prefix) ||
          path == std::string_view(prefix).substr(0, prefix.size() - 1)) {
        return endpoint;
      }
    } else if (path == prefix || (path.starts_with(prefix) && path[prefix.size()] == '/')) {
      return endpoint;
    }
  }
  return fallback_;
}

}  // namespace parley::net
