#include "net/http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <vector>

#include "core/log.hpp"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

Response json_error(http::status status, std::string_view code, std::string_view message,
                    unsigned version, bool keep_alive) {
  boost::json::object inner;
  inner.emplace("code", code);
  inner.emplace("message", message);
  boost::json::object body;
  body.emplace("error", std::move(inner));
  Response res{status, version};
  res.set(http::field::content_type, "application/json");
  res.body() = boost::json::serialize(body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

HttpServer::HttpServer(asio::io_context& ioc, const Router& router, NetStats& stats,
                       HttpOptions options)
    : ioc_(ioc), router_(router), stats_(stats), options_(options) {}

Result<tcp::endpoint> HttpServer::listen(const std::string& host, unsigned short port) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) return ec;
  tcp::endpoint endpoint{address, port};
  auto acceptor = std::make_unique<tcp::acceptor>(asio::make_strand(ioc_));
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ec;
  auto bound = acceptor->local_endpoint(ec);
  if (ec) return ec;
  acceptor_ = std::move(acceptor);
  return bound;
}

void set_standard_headers(http::fields& fields) {
  fields.set(http::field::server, "parley");
  fields.set("X-Content-Type-Options", "nosniff");
  if (fields.find("Referrer-Policy") == fields.end()) fields.set("Referrer-Policy", "no-referrer");
  if (fields.find("X-Frame-Options") == fields.end() &&
      !fields[http::field::content_type].starts_with("text/html")) {
    fields.set("X-Frame-Options", "DENY");
  }
}

namespace {

asio::awaitable<void> run_connection(beast::tcp_stream stream, const Router& router,
                                     NetStats& stats, HttpOptions options,
                                     std::shared_ptr<void> slot) {
  beast::flat_buffer buffer;
  std::string remote;
  {
    boost::system::error_code ec;
    auto ep = stream.socket().remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string();
  }
  for (bool first = true;; first = false) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(options.max_body_bytes);
    stream.expires_after(first ? options.header_timeout : options.keep_alive_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
    (void)n;
    if (ec == http::error::body_limit) {
      auto res = json_error(
          http::status::payload_too_large, "too_large",
          "request body is larger than " + std::to_string(options.max_body_bytes) + " bytes");
      stream.expires_after(std::chrono::seconds(10));
      co_await http::async_write(stream, res, kNoThrow);
      // Lingering close: the client may still be sending the body it was refused. Close our
      // side, then read and discard briefly so it sees the 413 instead of a reset.
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream.expires_after(std::chrono::seconds(2));
      // On the heap: a local array would live in the coroutine frame of every connection
      // (WebSocket sessions included, for their whole life), 16 KiB each.
      std::vector<char> scratch(16 * 1024);
      for (std::size_t drained = 0; drained < 64 * 1024 * 1024;) {
        auto [rec, got] = co_await stream.async_read_some(asio::buffer(scratch), kNoThrow);
        if (rec) break;
        drained += got;
      }
      co_return;
    }
    if (ec == http::error::header_limit) {
      auto res = json_error(http::status::request_header_fields_too_large, "too_large",
                            "request header is too large");
      co_await http::async_write(stream, res, kNoThrow);
      break;
    }
    if (ec) {
      if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
          ec != asio::error::connection_reset && ec != asio::error::operation_aborted) {
        if (ec.category() == make_error_code(http::error::bad_target).category()) {
          auto res = json_error(http::status::bad_request, "bad_request", "malformed HTTP request");
          co_await http::async_write(stream, res, kNoThrow);
        }
        spdlog::debug("http {}: read: {}", remote, ec.message());
      }
      break;
    }
    stats.http_requests.fetch_add(1, std::memory_order_relaxed);
    Request req = parser.release();
    Endpoint* endpoint = router.find(req.target());
    std::optional<Response> res;
    HttpContext ctx{stream, buffer, req, remote, false, slot};
    stream.expires_never();
    if (endpoint) {
      try {
        res = co_await endpoint->serve(ctx);
      } catch (const std::exception& e) {
        spdlog::error("http {} {}: {}", remote, std::string(req.method_string()), e.what());
        if (ctx.stream_taken) co_return;
        res = json_error(http::status::internal_server_error, "internal", "internal error",
                         req.version(), false);
      }
    } else {
      res = json_error(http::status::not_found, "not_found", "no such route", req.version(),
                       req.keep_alive());
    }
    if (ctx.stream_taken) co_return;
    if (!res) break;
    set_standard_headers(*res);
    if (!res->has_content_length() && !res->chunked()) res->prepare_payload();
    const bool keep = res->keep_alive() && req.keep_alive();
    res->keep_alive(keep);
    stream.expires_after(std::chrono::seconds(60));
    auto [wec, wn] = co_await http::async_write(stream, *res, kNoThrow);
    (void)wn;
    if (wec || !keep) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

void HttpServer::start() {
  asio::co_spawn(
      acceptor_->get_executor(),
      [this]() -> asio::awaitable<void> {
        for (;;) {
          auto [ec, socket] = co_await acceptor_->async_accept(asio::make_strand(ioc_), kNoThrow);
          if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
          if (ec) {
            // EMFILE and friends: back off briefly instead of spinning.
            spdlog::warn("accept: {}", ec.message());
            asio::steady_timer t(acceptor_->get_executor(), std::chrono::milliseconds(50));
            co_await t.async_wait(kNoThrow);
            continue;
          }
          if (options_.max_connections &&
              stats_.connections.load() >= static_cast<std::int64_t>(options_.max_connections)) {
            socket.close();
            continue;
          }
          std::string peer;
          if (options_.max_connections_per_ip) {
            boost::system::error_code pec;
            auto ep = socket.remote_endpoint(pec);
            if (!pec) peer = ep.address().to_string();
            std::lock_guard lock(per_ip_mu_);
            auto& n = per_ip_[peer];
            if (n >= options_.max_connections_per_ip) {
              stats_.ip_refused.fetch_add(1, std::memory_order_relaxed);
              socket.close(pec);
              continue;
            }
            ++n;
          }
          socket.set_option(tcp::no_delay(true), ec);
          stats_.connections.fetch_add(1, std::memory_order_relaxed);
          stats_.connections_total.fetch_add(1, std::memory_order_relaxed);
          auto ex = socket.get_executor();
          // Counted until the connection's last user lets go: the HTTP session, or a
          // WebSocket session that took the stream over and runs on after it.
          std::shared_ptr<void> slot(nullptr, [this, &stats = stats_, peer](void*) {
            stats.connections.fetch_sub(1, std::memory_order_relaxed);
            if (options_.max_connections_per_ip) {
              std::lock_guard lock(per_ip_mu_);
              if (auto it = per_ip_.find(peer); it != per_ip_.end() && --it->second == 0) {
                per_ip_.erase(it);
              }
            }
          });
          asio::co_spawn(
              ex,
              run_connection(beast::tcp_stream(std::move(socket)), router_, stats_, options_,
                             std::move(slot)),
              [](std::exception_ptr e) {
                if (e) {
                  try {
                    std::rethrow_exception(e);
                  } catch (const std::exception& failure) {
                    spdlog::error("connection failed: {}", failure.what());
                  }
                }
              });
        }
      },
      asio::detached);
}

void HttpServer::stop_accepting() {
  if (!acceptor_) return;
  asio::post(acceptor_->get_executor(), [this] {
    boost::system::error_code ec;
    acceptor_->close(ec);
  });
}

}  // namespace parley::net
