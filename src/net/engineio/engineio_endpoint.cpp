#include "net/engineio/engineio_endpoint.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "core/log.hpp"
#include "net/request_target.hpp"

namespace parley::net::engineio {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;

namespace {

Response make_response(const Request& req, http::status status, std::string body,
                       std::string_view content_type) {
  Response res{status, req.version()};
  res.set(http::field::content_type, content_type);
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

Response error_response(const Request& req, eio::ErrorCode code) {
  return make_response(req, http::status::bad_request, eio::error_body(code), "application/json");
}

Response outcome_response(const Request& req, const PollOutcome& o, bool post) {
  if (o.status != 200) return error_response(req, o.error);
  return make_response(req, http::status::ok, o.body,
                       post ? "text/html" : "text/plain; charset=UTF-8");
}

struct Query {
  std::optional<std::string> eio, transport, sid, token;
};

bool parse_query(std::string_view target, Query& q) {
  auto parsed = parse_request_target(target);
  if (!parsed) return false;
  auto first = [&parsed](std::string_view key) -> std::optional<std::string> {
    const auto* value = parsed->first(key);
    if (!value) return std::nullopt;
    return value->value_or(std::string());
  };
  q.eio = first("EIO");
  q.transport = first("transport");
  q.sid = first("sid");
  q.token = first("token");
  return true;
}

}  // namespace

EngineIoEndpoint::EngineIoEndpoint(asio::io_context::executor_type executor, HandlerFactory factory,
                                   EngineIoOptions options, NetStats* stats)
    : executor_(std::move(executor)),
      factory_(std::move(factory)),
      options_(std::make_shared<const EngineIoOptions>(std::move(options))),
      stats_(stats),
      table_(std::make_shared<SessionTable>()),
      handshakes_(options_->handshakes_per_s, options_->handshake_burst) {}

EngineIoEndpoint::~EngineIoEndpoint() { close_all(); }

void EngineIoEndpoint::close_all() {
  for (auto& s : table_->all()) s->post_close("server shutting down");
}

void EngineIoEndpoint::post_to_all(const std::shared_ptr<const std::string>& data) {
  for (auto& s : table_->all()) s->post_send(data);
}

std::size_t EngineIoEndpoint::sessions() const { return table_->size(); }

std::variant<std::shared_ptr<EioSocket>, Response> EngineIoEndpoint::make_session(
    const Request& req, const std::string& address) {
  auto refuse = [&](http::status status, long retry_after) {
    Response res = make_response(req, status, eio::error_body(eio::ErrorCode::forbidden),
                                 "application/json");
    if (retry_after > 0) res.set(http::field::retry_after, std::to_string(retry_after));
    return res;
  };
  if (const long wait = handshakes_.take(address); wait > 0) {
    if (stats_) stats_->handshakes_refused.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("engine.io: handshake from {} refused: over {}/s", address,
                  options_->handshakes_per_s);
    return refuse(http::status::too_many_requests, wait);
  }
  auto s = std::make_shared<EioSocket>(asio::make_strand(executor_), random_id(), options_, table_,
                                       stats_);
  switch (table_->insert(s, address, options_->max_sessions, options_->max_sessions_per_address)) {
    case SessionTable::Refusal::none:
      return s;
    case SessionTable::Refusal::address_full:
      if (stats_) stats_->handshakes_refused.fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("engine.io: handshake from {} refused: {} sessions open", address,
                    options_->max_sessions_per_address);
      return refuse(http::status::too_many_requests, 1);
    case SessionTable::Refusal::full:
      break;
  }
  return refuse(http::status::service_unavailable, 0);
}

void EngineIoEndpoint::add_cors(const Request& req, Response& res) const {
  const auto origin = req[http::field::origin];
  if (!options_->origins.grants(origin)) return;
  res.set(http::field::access_control_allow_origin, origin);
  res.set(http::field::access_control_allow_credentials, "true");
  res.set(http::field::vary, "Origin");
}

asio::awaitable<std::optional<Response>> EngineIoEndpoint::serve(HttpContext& ctx) {
  const Request& req = ctx.request;
  Query q;
  if (!parse_query(req.target(), q)) co_return error_response(req, eio::ErrorCode::bad_request);

  if (req.method() == http::verb::options) {
    Response res = make_response(req, http::status::no_content, {}, "text/plain");
    add_cors(req, res);
    res.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
    if (auto h = req[http::field::access_control_request_headers]; !h.empty()) {
      res.set(http::field::access_control_allow_headers, h);
    }
    res.set(http::field::access_control_max_age, "86400");
    co_return res;
  }

  std::optional<Response> res;
  if (!options_->origins.allows(req[http::field::origin])) {
    res = make_response(req, http::status::forbidden, eio::error_body(eio::ErrorCode::forbidden),
                        "application/json");
  } else if (q.eio != "4") {
    res = error_response(req, eio::ErrorCode::unsupported_protocol_version);
  } else if (q.transport != "polling" && q.transport != "websocket") {
    res = error_response(req, eio::ErrorCode::unknown_transport);
  } else if (q.transport == "websocket") {
    HandshakeInfo info;
    info.remote_address = ctx.remote_address;
    info.origin = std::string(req[http::field::origin]);
    info.token = q.token.value_or(std::string());
    if (auto h = req[http::field::authorization]; info.token.empty() && h.starts_with("Bearer ")) {
      info.token = std::string(h.substr(7));
    }
    res = co_await serve_websocket(ctx, q.sid.value_or(std::string()), std::move(info));
    if (!res) co_return std::nullopt;
  } else if (!q.sid) {
    // A polling handshake.
    if (req.method() != http::verb::get) {
      res = error_response(req, eio::ErrorCode::bad_handshake_method);
    } else if (auto made = make_session(req, ctx.remote_address);
               std::holds_alternative<Response>(made)) {
      res = std::move(std::get<Response>(made));
    } else {
      auto s = std::move(std::get<std::shared_ptr<EioSocket>>(made));
      HandshakeInfo info;
      info.remote_address = ctx.remote_address;
      info.origin = std::string(req[http::field::origin]);
      info.token = q.token.value_or(std::string());
      if (auto h = req[http::field::authorization];
          info.token.empty() && h.starts_with("Bearer ")) {
        info.token = std::string(h.substr(7));
      }
      auto outcome = co_await asio::co_spawn(s->strand(), s->open_polling(factory_(info)),
                                             asio::use_awaitable);
      res = outcome_response(req, outcome, false);
    }
  } else if (auto s = table_->find(*q.sid); !s) {
    res = error_response(req, eio::ErrorCode::unknown_sid);
  } else if (req.method() == http::verb::get) {
    auto outcome = co_await asio::co_spawn(s->strand(), s->poll(), asio::use_awaitable);
    res = outcome_response(req, outcome, false);
  } else if (req.method() == http::verb::post) {
    auto outcome = co_await asio::co_spawn(s->strand(), s->post(std::move(ctx.request.body())),
                                           asio::use_awaitable);
    res = outcome_response(req, outcome, true);
  } else {
    res = error_response(req, eio::ErrorCode::bad_request);
  }
  add_cors(req, *res);
  co_return res;
}

asio::awaitable<std::optional<Response>> EngineIoEndpoint::serve_websocket(HttpContext& ctx,
                                                                           std::string_view sid,
                                                                           HandshakeInfo info) {
  const Request& req = ctx.request;
  if (!websocket::is_upgrade(req)) co_return error_response(req, eio::ErrorCode::bad_request);

  std::shared_ptr<EioSocket> s;
  if (!sid.empty()) {
    s = table_->find(sid);
    if (!s) co_return error_response(req, eio::ErrorCode::unknown_sid);
  } else {
    auto made = make_session(req, ctx.remote_address);
    if (auto* refused = std::get_if<Response>(&made)) co_return std::move(*refused);
    s = std::move(std::get<std::shared_ptr<EioSocket>>(made));
  }

  // Move the connection onto the session's strand, so the WebSocket, its timers and the
  // session state share one strand (the HTTP connection's strand then has nothing left).
  boost::system::error_code ec;
  WsSocket socket = adopt_socket(ctx.stream.socket(), s->strand(), ec);
  if (ec) {
    spdlog::warn("engine.io: cannot take the connection: {}", ec.message());
    if (sid.empty()) s->post_close("internal error");
    co_return error_response(req, eio::ErrorCode::bad_request);
  }
  ctx.stream_taken = true;
  std::unique_ptr<EioHandler> handler = sid.empty() ? factory_(info) : nullptr;
  co_await asio::co_spawn(
      s->strand(), s->run_websocket(std::move(socket), std::move(ctx.request), std::move(handler)),
      asio::use_awaitable);
  co_return std::nullopt;
}

}  // namespace parley::net::engineio
