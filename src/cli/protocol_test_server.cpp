// The compliance mode: the settings the suites' READMEs give for their reference servers
// (pingInterval 300, pingTimeout 200, maxPayload 1000000, connectTimeout 1000, CORS "*"),
// with Engine.IO's echo at /engine.io/ and Socket.IO's reference app at /socket.io/. Only
// the apps differ from the product; transports, sessions and codecs are the same code.

#include "cli/protocol_test_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "core/log.hpp"
#include "net/engineio/engineio_endpoint.hpp"
#include "net/engineio/socketio_server.hpp"
#include "net/engineio/test_apps.hpp"
#include "net/http_server.hpp"
#include "net/router.hpp"
#include "net/stats.hpp"

namespace parley::cli {

namespace asio = boost::asio;
using namespace std::chrono_literals;

int run_protocol_test_server(int port) {
  if (port <= 0 || port > 65535) {
    spdlog::critical("invalid port {}", port);
    return 2;
  }
  asio::io_context ioc(1);

  net::engineio::EngineIoOptions options;
  options.ping_interval = 300ms;
  options.ping_timeout = 200ms;
  options.max_payload = 1'000'000;
  options.connect_timeout = 1000ms;
  options.origins = net::OriginPolicy("*");

  net::NetStats stats;
  net::engineio::EngineIoEndpoint engine_io(ioc.get_executor(), net::engineio::echo_handlers(),
                                            options, &stats);
  net::engineio::EngineIoEndpoint socket_io(
      ioc.get_executor(),
      net::engineio::socketio_handlers(net::engineio::compliance_app(), options.connect_timeout),
      options, &stats);

  net::Router router;
  router.mount("/engine.io/", &engine_io);
  router.mount("/socket.io/", &socket_io);

  net::HttpOptions http;
  // Bodies up to twice maxPayload reach the endpoint, which answers the Engine.IO 400.
  http.max_body_bytes = 2 * options.max_payload;
  // The suites connect to "localhost", which Node may resolve to either address.
  std::vector<std::unique_ptr<net::HttpServer>> servers;
  for (const char* host : {"127.0.0.1", "::1"}) {
    auto server = std::make_unique<net::HttpServer>(ioc, router, stats, http);
    auto bound = server->listen(host, static_cast<unsigned short>(port));
    if (!bound) {
      if (servers.empty()) {
        spdlog::critical("cannot listen on {}:{}: {}", host, port, bound.error().message());
        return 1;
      }
      spdlog::warn("cannot listen on [{}]:{}: {}", host, port, bound.error().message());
      continue;
    }
    server->start();
    servers.push_back(std::move(server));
  }
  spdlog::info(
      "protocol test server on http://localhost:{} (/engine.io/ echo, /socket.io/ "
      "reference app)",
      port);

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    for (auto& s : servers) s->stop_accepting();
    engine_io.close_all();
    socket_io.close_all();
    ioc.stop();
  });
  ioc.run();
  return 0;
}

}  // namespace parley::cli
