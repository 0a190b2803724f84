#include "net/request_target.hpp"

#include <boost/url/parse.hpp>

namespace parley::net {

const std::optional<std::string>* RequestTarget::first(std::string_view key) const noexcept {
  for (const auto& [k, v] : params) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::optional<std::string> RequestTarget::last(std::string_view key) const {
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    if (it->first == key) return it->second.value_or(std::string());
  }
  return std::nullopt;
}

std::optional<RequestTarget> parse_request_target(std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return std::nullopt;
  RequestTarget t;
  for (auto seg : url->segments()) t.segments.emplace_back(seg);
  if (!t.segments.empty() && t.segments.back().empty()) t.segments.pop_back();
  for (auto p : url->params()) {
    t.params.emplace_back(p.key, p.has_value ? std::optional<std::string>(p.value) : std::nullopt);
  }
  return t;
}

}  // namespace parley::net
