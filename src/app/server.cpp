#include "app/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "api/rest_endpoint.hpp"
#include "api/webwoz_routes.hpp"
#include "app/retention.hpp"
#include "app/web_endpoint.hpp"
#include "app/webwoz_pages.hpp"
#include "core/log.hpp"
#include "core/process.hpp"
#include "hub/authenticator.hpp"
#include "hub/change_follower.hpp"
#include "hub/hub.hpp"
#include "api/radioistic_routes.hpp"
#include "hub/jwt_authenticator.hpp"
#include "net/http_server.hpp"
#include "net/router.hpp"
#include "net/ws_session.hpp"
#include "net/engineio/socketio_endpoint.hpp"
#include "bus/event_codec.hpp"
#include "bus/redis/redis_broker.hpp"
#include "core/ids.hpp"
#include "store/retention.hpp"
#include "store/spool/spool.hpp"
#include "store/storage.hpp"
#include "store/store.hpp"

namespace parley::app {

namespace asio = boost::asio;

namespace {

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

}  // namespace

int run_server(const Config& config) {
  // Who may connect, decided before anything listens.
  const bool token_mode = config.token_mode();
  if (!token_mode && config.auth_mode != "open") {
    spdlog::critical("AUTH_MODE must be open or token, not {}", config.auth_mode);
    return 1;
  }
  if (!config.compat.empty() && config.compat != "webwoz") {
    spdlog::critical("COMPAT must be webwoz or unset, not {}", config.compat);
    return 1;
  }
  if (config.webwoz() && token_mode) {
    // WebWOz has no login: its front ends send no token, and its routes (conversations,
    // templates) are open to whoever reaches them. Parley will not pretend otherwise.
    spdlog::critical("COMPAT=webwoz / WEBWOZ_FRONTEND_DIR need AUTH_MODE=open: WebWOz's front "
                     "ends have no login (docs/socketio.md, \"WebWOz\")");
    return 1;
  }
  std::unique_ptr<hub::Authenticator> auth;
  if (token_mode) {
    hub::JwtOptions jo;
    jo.secret = config.jwt_secret;
    jo.public_key = config.jwt_public_key;
    jo.leeway = std::chrono::seconds(config.jwt_leeway_s);
    jo.issuer = config.jwt_issuer;
    jo.audience = config.jwt_audience;
    jo.user_claim = config.jwt_user_claim;
    std::string why;
    auto jwt = hub::JwtAuthenticator::create(jo, why);
    if (!jwt) {
      spdlog::critical("AUTH_MODE=token: {}", why);
      return 1;
    }
    if (!config.jwt_secret.empty() && config.jwt_secret.size() < 32) {
      spdlog::warn("JWT_SECRET is shorter than 32 bytes: HS256 keys should be at least 256 bits");
    }
    if (!config.admin_token.empty() && config.admin_token.size() < 16) {
      spdlog::warn("ADMIN_TOKEN is shorter than 16 characters");
    }
    auth = std::move(*jwt);
  } else {
    auth = std::make_unique<hub::OpenAuthenticator>();
    if (!is_loopback(config.host)) {
      spdlog::warn(
          "*** AUTH_MODE=open on {}: anyone who can reach this address can claim any user id "
          "and read and write every conversation. Set AUTH_MODE=token (docs/security.md). ***",
          config.host);
    }
  }
  const double rate = config.rate_limit_per_s.value_or(token_mode ? 50.0 : 0.0);
  const double burst = config.rate_limit_burst.value_or(token_mode ? 200.0 : rate);
  const double rest_rate = config.rest_rate_limit_per_s.value_or(token_mode ? 20.0 : 0.0);
  const double rest_burst = config.rest_rate_limit_burst.value_or(token_mode ? 100.0 : rest_rate);
  const std::size_t per_ip = config.max_connections_per_ip.value_or(token_mode ? 256 : 0);
  spdlog::info("auth mode {}; rate limit {}/s burst {}; REST rate limit {}/s burst {} per client; "
               "max connections per IP {}; allowed origins {}",
               config.auth_mode, rate, burst, rest_rate, rest_burst, per_ip,
               config.allowed_origins.empty() ? "(any; no CORS)" : config.allowed_origins);

  // Retention: checked before anything starts, so a typo fails at once.
  Retention::Options retention_options;
  retention_options.defaults.keep_last = config.retention_keep_last;
  if (config.retention_keep_last && *config.retention_keep_last < 0) {
    spdlog::critical("RETENTION_KEEP_LAST must be 0 or more");
    return 1;
  }
  if (!config.retention_max_age.empty()) {
    const auto max_age = store::parse_duration_or_seconds(config.retention_max_age);
    retention_options.defaults.max_age = max_age;
    if (!max_age) {
      spdlog::critical("RETENTION_MAX_AGE={}: expected a duration like 30d, 12h, 90m or seconds",
                       config.retention_max_age);
      return 1;
    }
  }
  const auto retention_interval = store::parse_duration_or_seconds(config.retention_interval);
  if (!retention_interval) {
    spdlog::critical("RETENTION_INTERVAL={}: expected a duration like 1h, 10m, 30s or seconds",
                     config.retention_interval);
    return 1;
  }
  retention_options.interval = std::chrono::milliseconds(*retention_interval);

  const std::size_t fds = raise_fd_limit();
  // A few descriptors go to the database, the listener and logs; the rest can be clients.
  spdlog::info("open-files limit {}: room for about {} connections", fds, fds > 64 ? fds - 64 : 0);

  store::StoreConfig sc;
  sc.database_url = config.database_url;
  sc.sqlite_synchronous = config.sqlite_synchronous;
  sc.db_connect_timeout = std::chrono::milliseconds(config.db_connect_timeout_ms);
  sc.db_commit_timeout = std::chrono::milliseconds(config.db_commit_timeout_ms);
  sc.db_statement_timeout = std::chrono::milliseconds(config.db_statement_timeout_ms);
  if (sc.database_url.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(config.data_dir, ec);
    if (ec) {
      spdlog::critical("cannot create data directory {}: {}", config.data_dir, ec.message());
      return 1;
    }
    sc.sqlite_path = (std::filesystem::path(config.data_dir) / "parley.db").string();
  }
  // A database server may be down when we start (a restart during an outage): wait for it,
  // so that what the outage spool holds is replayed as soon as it is back.
  const bool remote_db = !sc.database_url.empty() || std::getenv("DB_HOST") != nullptr;
  auto db = store::open_database(sc);
  for (int attempt = 1; !db && remote_db && db.error() == Errc::unavailable; ++attempt) {
    spdlog::warn("cannot reach the database ({}); retrying (attempt {})", db.error().message(),
                 attempt);
    std::this_thread::sleep_for(std::chrono::seconds(std::min(attempt, 5)));
    db = store::open_database(sc);
  }
  if (!db) {
    spdlog::critical("cannot open storage: {}", db.error().message());
    return 1;
  }
  spdlog::info("storage: {}{}", (*db)->kind(),
               sc.database_url.empty() ? " at " + sc.sqlite_path : std::string());
  auto storage = store::Storage::open(*db, {});
  for (int attempt = 1; !storage && remote_db && storage.error() == Errc::unavailable;
       ++attempt) {
    std::this_thread::sleep_for(std::chrono::seconds(std::min(attempt, 5)));
    storage = store::Storage::open(*db, {});
  }
  if (!storage) {
    spdlog::critical("cannot connect to storage: {}", storage.error().message());
    return 1;
  }

  const std::size_t threads =
      config.threads ? config.threads : std::max(1u, std::thread::hardware_concurrency());
  asio::io_context ioc(static_cast<int>(threads));

  // One set of limits for every endpoint: commands are checked against it (protocol::check)
  // and pages sized by it, whoever sends them.
  protocol::Limits limits;
  limits.max_content_bytes = config.max_content_bytes;
  hub::Hub::Options hub_options;
  hub_options.limits = limits;
  hub_options.max_joined_rooms = config.max_joined_rooms;
  hub_options.joins_in_flight = config.joins_in_flight;
  hub_options.join_lag_target = std::chrono::microseconds(config.join_lag_target_us);
  hub_options.presence_lull = std::chrono::milliseconds(config.presence_lull_ms);
  hub_options.enforce_access = token_mode;
  // Creations by joins and sends of new ids, REST and the seed apps' routes: one budget.
  hub_options.conversations_per_min =
      config.conversations_per_min.value_or(token_mode ? 60.0 : 0.0);
  if (config.conversation_creators != "anyone" && config.conversation_creators != "admins") {
    spdlog::critical("CONVERSATION_CREATORS must be anyone or admins");
    return 1;
  }
  hub_options.admins_create_only = token_mode && config.conversation_creators == "admins";

  // The outage spool (docs/storage.md, "Outages"): a database server can go away while we
  // run; sends then go to DATA_DIR/spool, fsynced, and are replayed when it returns. SQLite
  // lives on this disk already, so it has none.
  std::unique_ptr<store::spool::Spool> spool;
  if ((*db)->kind() == "postgresql") {
    auto opened = store::spool::Spool::open(
        **storage, {std::filesystem::path(config.data_dir) / "spool", std::chrono::seconds(1)});
    if (!opened) {
      spdlog::critical("cannot open the outage spool in {}/spool: {}", config.data_dir,
                       opened.error().message());
      return 1;
    }
    spool = std::move(*opened);
  }

  hub::Hub hub(ioc.get_executor(), **storage, hub_options, spool.get());
  if (spool) spool->start();  // replays what an earlier run left, through the hub

  // What other processes change in the store (parley import, parley cleanup, other servers):
  // live rooms reload the conversations replaced, deleted or pruned behind their back.
  hub::ChangeFollower changes(ioc.get_executor(), hub,
                              std::chrono::milliseconds(config.changes_poll_ms));
  if (config.changes_poll_ms > 0) {
    changes.start();
    spdlog::info("store changes by other processes followed every {} ms", config.changes_poll_ms);
  }

  Retention retention(ioc.get_executor(), hub, retention_options);
  if (retention_options.interval.count() > 0) {
    retention.start();
    spdlog::info("retention every {} ms: default keep_last {}, max_age {}; per-conversation "
                 "settings.keep_last / settings.max_age",
                 retention_options.interval.count(),
                 config.retention_keep_last ? std::to_string(*config.retention_keep_last)
                                            : std::string("none"),
                 config.retention_max_age.empty() ? std::string("none")
                                                  : config.retention_max_age);
  }

  // Several servers (REDIS_URL): every event that originates here is published; other
  // servers' events are delivered to the local rooms. A lost subscription catches up from
  // storage by seq when it is back. Without REDIS_URL the hub has no sink: nothing changes.
  std::unique_ptr<bus::Broker> broker;
  if (!config.redis_url.empty()) {
    auto rc = bus::redis::parse_redis_url(config.redis_url);
    if (!rc) {
      spdlog::critical("REDIS_URL must be redis://[[user]:password@]host[:port][/db]");
      return 1;
    }
    broker = std::make_unique<bus::redis::RedisBroker>(*rc);
    hub.attach_bus(*broker);
    spdlog::info("bus: redis {}:{}", rc->host, rc->port);
  }
  net::NetStats stats;
  const net::OriginPolicy origins(config.allowed_origins);

  net::WsOptions ws_options;
  ws_options.max_frame_bytes = config.max_frame_bytes;
  ws_options.limits = limits;
  ws_options.rate_per_s = rate;
  ws_options.rate_burst = burst;
  ws_options.auth_timeout = std::chrono::seconds(config.auth_timeout_s);
  ws_options.idle_timeout = std::chrono::seconds(std::max<std::size_t>(2, config.ws_idle_timeout_s));
  ws_options.origins = origins;
  net::WsEndpoint ws(hub, *auth, stats, ws_options);
  net::engineio::SocketIoOptions sio_options;
  sio_options.limits = limits;
  sio_options.rate_per_s = rate;
  sio_options.rate_burst = burst;
  sio_options.engine.origins = origins;
  sio_options.token_at_connect = config.socketio_token_at_connect;
  sio_options.engine.max_sessions = config.socketio_max_sessions;
  sio_options.engine.max_sessions_per_address =
      config.socketio_max_sessions_per_ip.value_or(token_mode ? 256 : 1024);
  sio_options.engine.handshakes_per_s = config.socketio_handshakes_per_s;
  sio_options.engine.handshake_burst =
      std::max(config.socketio_handshake_burst, config.socketio_handshakes_per_s);
  // Socket.IO's own default is 45 s; a real client sends its CONNECT right after the
  // handshake, and every session waiting for one holds a slot of its address's limit.
  sio_options.engine.connect_timeout =
      std::chrono::milliseconds(std::max<std::size_t>(1000, config.socketio_connect_timeout_ms));
  spdlog::info("socket.io: {} sessions per IP, {} handshakes/s per IP (burst {}), connect "
               "timeout {} ms",
               sio_options.engine.max_sessions_per_address, sio_options.engine.handshakes_per_s,
               sio_options.engine.handshake_burst, sio_options.engine.connect_timeout.count());
  net::engineio::SocketIoEndpoint socketio(ioc.get_executor(), hub, *auth, stats, sio_options);
  api::RestOptions rest_options;
  rest_options.max_content_bytes = config.max_content_bytes;
  rest_options.version = PARLEY_VERSION;
  rest_options.auth = auth.get();
  rest_options.admin_token = config.admin_token;
  rest_options.origins = origins;
  rest_options.rate_per_s = rest_rate;
  rest_options.rate_burst = rest_burst;
  rest_options.max_streams = std::max<std::size_t>(1, config.rest_max_streams);
  rest_options.admins_create_only = hub_options.admins_create_only;
  api::RestEndpoint rest(hub, stats, rest_options);
  api::RadioisticEndpoint radioistic(hub, rest_options);
  WebEndpoint web(!config.webwoz_frontend_dir.empty());

  // WebWOz (docs/socketio.md): its routes take /api/ and /health, Parley's API stays at
  // /api/v1/; its front ends are served from WEBWOZ_FRONTEND_DIR.
  api::WebWozOptions webwoz_options;
  webwoz_options.frontend_dir = config.webwoz_frontend_dir;
  webwoz_options.data_dir = config.data_dir;
  webwoz_options.database_url_configured = !config.database_url.empty();
  webwoz_options.broadcast_templates = [&socketio](std::string templates_json) {
    socketio.emit_to_all("templates", templates_json);
  };
  api::WebWozEndpoint webwoz(hub, rest, webwoz_options);
  WebWozPages webwoz_pages(config.webwoz_frontend_dir);

  net::Router router;
  router.mount("/ws", &ws);
  router.mount("/socket.io/", &socketio);
  router.mount("/api/v1/", &rest);
  router.mount("/api/chat/", &radioistic);  // radio-istic's chat routes (docs/socketio.md)
  router.mount("/metrics", &rest);
  if (config.webwoz()) {
    router.mount("/api/", &webwoz);
    router.mount("/health", &webwoz);
    router.mount("/wizard", &webwoz_pages);
    router.mount("/chat/", &webwoz_pages);
    router.mount("/static/", &webwoz_pages);
    spdlog::info("WebWOz: its HTTP routes at /api/ and /health, Parley's API at /api/v1/; "
                 "front ends {}",
                 config.webwoz_frontend_dir.empty()
                     ? std::string("not served (WEBWOZ_FRONTEND_DIR unset)")
                     : "from " + config.webwoz_frontend_dir + " at /wizard and /chat/<room>, "
                       "Parley's page at /parley");
  } else {
    router.mount("/api/", &rest);
    router.mount("/health", &rest);
  }
  router.set_fallback(&web);

  net::HttpOptions http_options;
  http_options.max_body_bytes = config.max_body_bytes;
  http_options.max_connections = config.max_connections;
  http_options.max_connections_per_ip = per_ip;
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
    socketio.close_all();
    hub.stop();
    changes.stop();
    retention.stop();
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
          if (broker) broker->stop();
          if (spool) spool->stop();
          (*storage)->stop();
          ioc.stop();
        },
        asio::detached);
  });

  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < threads; ++i) {
    pool.emplace_back([&ioc] {
      name_this_thread("parley-io");  // the main thread, the first I/O thread, stays "parley"
      ioc.run();
    });
  }
  ioc.run();
  for (auto& t : pool) t.join();
  if (broker) broker->stop();
  if (spool) spool->stop();
  (*storage)->stop();
  spdlog::info("stopped");
  // Everything acknowledged is committed (the writer has stopped) and the spool is fsynced.
  // Exit here rather than unwind: handlers still queued on the stopped io_context hold
  // sessions whose destructors would reach endpoints already destroyed above them.
  spdlog::shutdown();
  std::fflush(nullptr);
  std::_Exit(0);
  return 0;
}

}  // namespace parley::app
