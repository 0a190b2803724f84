#include "rest.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

namespace parley::bench {

namespace beast = boost::beast;
namespace http = beast::http;

RestClient::RestClient(boost::asio::ip::tcp::endpoint server) : server_(server) {}

std::optional<RestClient::Response> RestClient::get(const std::string& target) {
  return request(static_cast<int>(http::verb::get), target, {});
}

std::optional<RestClient::Response> RestClient::post(const std::string& target,
                                                     const std::string& json_body) {
  return request(static_cast<int>(http::verb::post), target, json_body);
}

std::optional<RestClient::Response> RestClient::request(int method, const std::string& target,
                                                        const std::string& body) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    beast::error_code ec;
    if (!stream_) {
      stream_.emplace(ioc_);
      stream_->expires_after(std::chrono::seconds(30));
      stream_->connect(server_, ec);
      if (ec) {
        stream_.reset();
        continue;
      }
    }
    stream_->expires_after(std::chrono::seconds(30));
    http::request<http::string_body> req{static_cast<http::verb>(method), target, 11};
    req.set(http::field::host, server_.address().to_string());
    req.keep_alive(true);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    http::write(*stream_, req, ec);
    if (ec) {
      stream_.reset();
      continue;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    http::read(*stream_, buffer, parser, ec);
    if (ec) {
      stream_.reset();
      continue;
    }
    auto res = parser.release();
    if (!res.keep_alive()) stream_.reset();
    return Response{static_cast<int>(res.result_int()), std::move(res.body())};
  }
  return std::nullopt;
}

}  // namespace parley::bench
