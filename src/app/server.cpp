#include "app/server.hpp"

#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <thread>

#include "api/rest_endpoint.hpp"
#include "app/web_endpoint.hpp"
#include "core/log.hpp"
#include "hub/authenticator.hpp"
#include "hub/hub.hpp"
#include "net/http_server.hpp"
#include "net/router.hpp"
#include "net/ws_session.hpp"
#include "store/storage.hpp"
#include "store/store.hpp"

namespace parley::app {

namespace asio = boost::asio;

std::size_t raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  return static_cast<std::size_t>(rl.rlim_cur);
}

int run_server(const Config& config) {
  const std::size_t fds = raise_fd_limit();
  // A few descriptors go to the database, the listener and logs; the rest can be clients.
  spdlog::info("open-files limit {}: room for about {} connections", fds, fds > 64 ? fds - 64 : 0);

  store::StoreConfig sc;
  sc.database_url = config.database_url;
  sc.sqlite_synchronous = config.sqlite_synchronous;
  if (sc.database_url.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(config.data_dir, ec);
    if (ec) {
      spdlog::critical("cannot create data directory {}: {}", config.data_dir, ec.message());
      return 1;
    }
    sc.sqlite_path = (std::filesystem::path(config.data_dir) / "parley.db").string();
  }
  auto db = store::open_database(sc);
  if (!db) {
    spdlog::critical("cannot open storage: {}", db.error().message());
    return 1;
  }
  spdlog::info("storage: {}{}", (*db)->kind(),
               sc.database_url.empty() ? " at " + sc.sqlite_path : std::string());
  auto storage = store::Storage::open(*db, {});
  if (!storage) {
    spdlog::critical("cannot connect to storage: {}", storage.error().message());
    return 1;
  }

  const std::size_t threads =
      config.threads ? config.threads : std::max(1u, std::thread::hardware_concurrency());
  asio::io_context ioc(static_cast<int>(threads));

  hub::Hub hub(ioc.get_executor(), **storage, hub::Hub::Options{});
  hub::OpenAuthenticator auth;
  net::NetStats stats;

  net::WsOptions ws_options;
  ws_options.max_frame_bytes = config.max_frame_bytes;
  ws_options.limits.max_content_bytes = config.max_content_bytes;
  net::WsEndpoint ws(hub, auth, stats, ws_options);
  api::RestEndpoint rest(hub, stats, api::RestOptions{config.max_content_bytes, PARLEY_VERSION});
  WebEndpoint web;

  net::Router router;
  router.mount("/ws", &ws);
  router.mount("/api/", &rest);
  router.mount("/health", &rest);
  router.mount("/metrics", &rest);
  router.set_fallback(&web);

  net::HttpOptions http_options;
  http_options.max_body_bytes = config.max_body_bytes;
  http_options.max_connections = config.max_connections;
  net::HttpServer server(ioc, router, stats, http_options);
  auto bound = server.listen(config.host, config.port);
  if (!bound) {
    spdlog::critical("cannot listen on {}:{}: {}", config.host, config.port,
                     bound.error().message());
    return 1;
  }
  server.start();
  spdlog::info("parley {} listening on http://{}:{} ({} threads)", PARLEY_VERSION,
               bound->address().to_string(), bound->port(), threads);

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int signo) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", signo);
    server.stop_accepting();
    ws.close_all();
    hub.stop();
    // Give sessions a moment to flush their close frames, then commit what is queued and
    // stop the loop.
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer t(ioc);
          for (int i = 0; i < 30 && ws.sessions() > 0; ++i) {
            t.expires_after(std::chrono::milliseconds(100));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
          }
          (*storage)->stop();
          ioc.stop();
        },
        asio::detached);
  });

  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  (*storage)->stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace parley::app
