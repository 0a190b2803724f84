// libFuzzer target: HTTP request targets as every endpoint reads them
// (net/request_target: path segments and query parameters, percent-decoded), then the
// router's longest-prefix match. Checks that neither crashes and that the router agrees
// with itself on the path with and without the query.
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/request_target.hpp"
#include "net/router.hpp"

using namespace parley::net;

namespace {

struct Dummy final : Endpoint {
  boost::asio::awaitable<std::optional<Response>> serve(HttpContext&) override {
    co_return std::nullopt;
  }
};

struct Routes {
  Dummy ws, socketio, api, health, metrics, web;
  Router router;
  Routes() {
    router.mount("/ws", &ws);
    router.mount("/socket.io/", &socketio);
    router.mount("/api/", &api);
    router.mount("/health", &health);
    router.mount("/metrics", &metrics);
    router.set_fallback(&web);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Routes routes;
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  Endpoint* e = routes.router.find(target);
  if (!e) __builtin_trap();
  // The query never changes the route.
  if (routes.router.find(target.substr(0, target.find('?'))) != e) __builtin_trap();
  auto parsed = parse_request_target(target);
  if (!parsed) return 0;
  for (const auto& key : {"token", "EIO", "transport", "sid", "limit", "before"}) {
    const auto* first = parsed->first(key);
    const auto last = parsed->last(key);
    if ((first == nullptr) != !last.has_value()) __builtin_trap();
  }
  for (const auto& [key, value] : parsed->params) {
    if (!parsed->first(key)) __builtin_trap();
  }
  return 0;
}
