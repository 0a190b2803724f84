// An HTTP endpoint mounted under a path prefix of the one Parley port: the native
// WebSocket (/ws), Socket.IO (/socket.io/), the REST API (/api/, /health, /metrics) and the
// web page (/). The HTTP session reads a request (header limit, body limit, timeouts) and
// hands it to the endpoint whose prefix matches.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <optional>
#include <string>

namespace parley::net {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// What an endpoint sees of one request.
struct HttpContext {
  boost::beast::tcp_stream& stream;   // the connection; an upgrade may move it out
  boost::beast::flat_buffer& buffer;  // bytes read past the request (hand to the websocket)
  Request& request;
  std::string remote_address;  // peer IP, for logs and per-IP limits
  bool stream_taken = false;   // set by an endpoint that moved `stream` out
  // The connection's place in the server's counts (open connections, per-IP limit): given
  // back when the last copy goes. An endpoint that takes the stream and outlives serve()
  // keeps a copy for as long as it uses the connection.
  std::shared_ptr<void> slot;
};

class Endpoint {
 public:
  virtual ~Endpoint() = default;
  // Serves ctx.request. Returns the response to write, or nullopt after taking the stream
  // (ctx.stream_taken = true), e.g. for a WebSocket upgrade: the HTTP session then ends.
  // Runs on the connection's strand; may suspend (long-polling).
  virtual boost::asio::awaitable<std::optional<Response>> serve(HttpContext& ctx) = 0;
};

}  // namespace parley::net
