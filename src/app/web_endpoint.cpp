#include "app/web_endpoint.hpp"

#include "net/http_server.hpp"
#include "web/assets.hpp"

namespace parley::app {

namespace http = boost::beast::http;

boost::asio::awaitable<std::optional<net::Response>> WebEndpoint::serve(net::HttpContext& ctx) {
  const auto& req = ctx.request;
  if (req.method() == http::verb::get || req.method() == http::verb::head) {
    std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (const auto* asset = web::find_asset(path)) {
      net::Response res{http::status::ok, req.version()};
      res.keep_alive(req.keep_alive());
      res.set(http::field::cache_control, "no-cache");
      if (!asset->etag.empty()) {
        res.set(http::field::etag, asset->etag);
        if (web::etag_matches(req[http::field::if_none_match], asset->etag)) {
          res.result(http::status::not_modified);
          co_return res;
        }
      }
      res.set(http::field::content_type, asset->content_type);
      res.set("X-Frame-Options", "DENY");
      res.set("Referrer-Policy", "no-referrer");
      res.set("Content-Security-Policy",
              "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
              "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
      if (req.method() == http::verb::get) res.body() = std::string(asset->body);
      res.prepare_payload();
      if (req.method() == http::verb::head) res.content_length(asset->body.size());
      co_return res;
    }
  }
  co_return net::json_error(http::status::not_found, "not_found", "no such route", req.version(),
                            req.keep_alive());
}

}  // namespace parley::app
