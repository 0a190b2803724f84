// The listener and the HTTP connection loop. Each accepted connection runs as one coroutine
// on its own strand: read a request (header and body limits, timeouts), hand it to the
// endpoint the router picks, write the response, repeat while keep-alive. An endpoint may
// take the stream (WebSocket upgrade); the coroutine then becomes that session.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/error.hpp"
#include "net/router.hpp"
#include "net/stats.hpp"

namespace parley::net {

struct HttpOptions {
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::seconds header_timeout{15};  // slowloris: a request must arrive within this
  std::chrono::seconds keep_alive_timeout{60};
  std::size_t max_connections = 0;  // 0: as many as descriptors allow
  std::size_t max_connections_per_ip = 0;  // 0: no per-address limit
};

// A JSON error response `{error:{code,message}}` with the given status.
Response json_error(http::status status, std::string_view code, std::string_view message,
                    unsigned version = 11, bool keep_alive = false);

// The headers every response carries (Server, X-Content-Type-Options, and unless the
// endpoint set its own or it is an HTML page, Referrer-Policy and X-Frame-Options). The
// server adds them to what endpoints return; an endpoint that writes a response itself
// (a streamed one) calls this on its header.
void set_standard_headers(http::fields& fields);

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ioc, const Router& router, NetStats& stats,
             HttpOptions options);
  // Binds and listens; throws nothing: errors come back as values.
  [[nodiscard]] Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host,
                                                              unsigned short port);
  // Starts accepting (on the io_context's threads).
  void start();
  // Stops accepting new connections. Idempotent.
  void stop_accepting();

 private:
  boost::asio::io_context& ioc_;
  const Router& router_;
  NetStats& stats_;
  HttpOptions options_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::mutex per_ip_mu_;  // guards per_ip_
  std::unordered_map<std::string, std::size_t> per_ip_;  // open connections per peer address
};

}  // namespace parley::net
