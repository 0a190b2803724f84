// Serves the built-in web page (assets compiled into the binary) for GET requests that no
// API route takes; everything else is a JSON 404. With WebWOz's front ends served
// (`webwoz`), `/` redirects to /wizard as the app does and the page is at /parley instead.
#pragma once

#include "net/endpoint.hpp"

namespace parley::app {

class WebEndpoint final : public net::Endpoint {
 public:
  explicit WebEndpoint(bool webwoz = false) : webwoz_(webwoz) {}
  boost::asio::awaitable<std::optional<net::Response>> serve(net::HttpContext& ctx) override;

 private:
  bool webwoz_;
};

}  // namespace parley::app
