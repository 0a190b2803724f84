// Serves the built-in web page (assets compiled into the binary) for GET requests that no
// API route takes; everything else is a JSON 404.
#pragma once

#include "net/endpoint.hpp"

namespace parley::app {

class WebEndpoint final : public net::Endpoint {
 public:
  boost::asio::awaitable<std::optional<net::Response>> serve(net::HttpContext& ctx) override;
};

}  // namespace parley::app
