// libFuzzer target: the Socket.IO packet decoder. Checks that decoding never crashes and that
// a decoded packet re-encodes to text that decodes to the same header and payload.
#include <algorithm>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/socketio/socketio_packet.hpp"

namespace sio = parley::protocol::socketio;
namespace json = boost::json;

namespace {

// Structural equality; doubles compare approximately (Boost.JSON 1.81 does not always parse
// a long number to the nearest double, so text -> double -> text can move the last digit).
bool same(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == b.kind() && !a.is_double()) return a == b;
    const double x = a.to_number<double>(), y = b.to_number<double>();
    return x == y || std::fabs(x - y) <= 1e-12 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto &x = a.get_array(), &y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!same(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto &x = a.get_object(), &y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& kv : x) {
      const auto* other = y.if_contains(kv.key());
      if (!other || !same(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto p = sio::decode(text, why);
  if (!p) return 0;
  p->attachments.assign(p->attachment_count, std::string("\x01\x02", 2));
  const std::string encoded = sio::encode(*p);
  auto q = sio::decode(encoded, why);
  if (!q || q->type != p->type || q->nsp != p->nsp || q->id != p->id ||
      q->has_data != p->has_data || q->attachment_count != p->attachment_count ||
      !same(q->data, p->data)) {
    __builtin_trap();
  }
  return 0;
}
