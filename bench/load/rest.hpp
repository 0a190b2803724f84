// A blocking HTTP/1.1 client for the checks the scenarios make over REST once the load is
// over (verification pages, seeding). Keeps one keep-alive connection; not thread-safe.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <optional>
#include <string>

namespace parley::bench {

class RestClient {
 public:
  explicit RestClient(boost::asio::ip::tcp::endpoint server);
  struct Response {
    int status = 0;
    std::string body;
  };
  // GET/POST `target`; nullopt on a transport error (after one reconnect attempt).
  std::optional<Response> get(const std::string& target);
  std::optional<Response> post(const std::string& target, const std::string& json_body);

 private:
  std::optional<Response> request(int method, const std::string& target, const std::string& body);
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::endpoint server_;
  std::optional<boost::beast::tcp_stream> stream_;
};

}  // namespace parley::bench
