#include "store/retention.hpp"

#include <boost/json.hpp>
#include <charconv>

namespace parley::store {

namespace json = boost::json;

std::optional<TimeMs> parse_duration(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  TimeMs total = 0;
  while (!text.empty()) {
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || n < 0 || p == text.data() + text.size()) return std::nullopt;
    text.remove_prefix(static_cast<std::size_t>(p - text.data()));
    TimeMs unit = 0;
    switch (text.front()) {
      case 's':
        unit = 1000;
        break;
      case 'm':
        unit = 60'000;
        break;
      case 'h':
        unit = 3'600'000;
        break;
      case 'd':
        unit = 86'400'000;
        break;
      case 'w':
        unit = 7 * 86'400'000LL;
        break;
      default:
        return std::nullopt;
    }
    text.remove_prefix(1);
    if (n > (std::int64_t{1} << 50) / unit) return std::nullopt;
    total += n * unit;
    if (total > (std::int64_t{1} << 50)) return std::nullopt;
  }
  return total;
}

std::optional<TimeMs> parse_duration_or_seconds(std::string_view text) noexcept {
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (!text.empty() && ec == std::errc() && p == text.data() + text.size()) {
    if (n < 0 || n > (std::int64_t{1} << 40)) return std::nullopt;
    return n * 1000;
  }
  return parse_duration(text);
}

RetentionPolicy policy_from_settings(const std::string& settings_json) {
  RetentionPolicy p;
  boost::system::error_code ec;
  const json::value v = json::parse(settings_json, ec);
  if (ec || !v.is_object()) return p;
  const auto& o = v.get_object();
  if (const auto* k = o.if_contains("keep_last")) {
    if (k->is_int64() && k->get_int64() >= 0) p.keep_last = k->get_int64();
    if (k->is_uint64()) p.keep_last = static_cast<std::int64_t>(k->get_uint64() >> 1);
  }
  if (const auto* a = o.if_contains("max_age")) {
    if (a->is_int64() && a->get_int64() >= 0 && a->get_int64() <= (std::int64_t{1} << 40)) {
      p.max_age = a->get_int64() * 1000;  // seconds
    }
    if (a->is_string()) p.max_age = parse_duration(std::string_view(a->get_string()));
  }
  return p;
}

RetentionPolicy effective_policy(const RetentionPolicy& defaults,
                                 const std::string& settings_json) {
  RetentionPolicy p = defaults;
  const RetentionPolicy own = policy_from_settings(settings_json);
  if (own.keep_last) p.keep_last = own.keep_last;
  if (own.max_age) p.max_age = own.max_age;
  return p;
}

}  // namespace parley::store
